<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>ChatView</name>
    <message>
        <source>Chat</source>
        <translation>聊天</translation>
    </message>
    <message numerus="yes">
        <source>↓ %n new message(s)</source>
        <translation>
            <numerusform>↓ %n 条新消息</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>Copy %n message(s)</source>
        <translation>
            <numerusform>复制 %n 条消息</numerusform>
        </translation>
    </message>
    <message>
        <source>Copy selection</source>
        <translation>复制所选内容</translation>
    </message>
    <message>
        <source>Copy message</source>
        <translation>复制消息</translation>
    </message>
    <message>
        <source>Copy link</source>
        <translation>复制链接</translation>
    </message>
    <message>
        <source>Mention %1</source>
        <translation>提及 %1</translation>
    </message>
    <message>
        <source>Send again</source>
        <translation>再次发送</translation>
    </message>
    <message>
        <source>You</source>
        <translation>你</translation>
    </message>
    <message>
        <source>sending…</source>
        <translation>发送中…</translation>
    </message>
</context>
<context>
    <name>ConferenceView</name>
    <message>
        <source>System default</source>
        <translation>系统默认</translation>
    </message>
    <message>
        <source>Test voice</source>
        <translation>测试声音</translation>
    </message>
    <message>
        <source>No speaker</source>
        <translation>无扬声器</translation>
    </message>
    <message>
        <source>Microphone</source>
        <translation>麦克风</translation>
    </message>
    <message>
        <source>Speaker</source>
        <translation>扬声器</translation>
    </message>
    <message>
        <source>Unmute</source>
        <translation>取消静音</translation>
    </message>
    <message>
        <source>Mute</source>
        <translation>静音</translation>
    </message>
    <message>
        <source>Ctrl+Shift+M; while muted, hold Ctrl+Space to talk</source>
        <translation>Ctrl+Shift+M；静音时按住 Ctrl+空格 说话</translation>
    </message>
    <message>
        <source>Push to talk</source>
        <translation>按键说话</translation>
    </message>
    <message>
        <source>Hold to talk</source>
        <translation>按住说话</translation>
    </message>
    <message>
        <source>Call encrypted (passphrase)</source>
        <translation>通话已加密（口令）</translation>
    </message>
    <message>
        <source>Call not encrypted</source>
        <translation>通话未加密</translation>
    </message>
    <message>
        <source>Only those with the passphrase see and hear the call</source>
        <translation>只有知道口令的人才能看到和听到这次通话</translation>
    </message>
    <message>
        <source>Anyone on the network can watch and hear the call; type a passphrase beside the group to encrypt it</source>
        <translation>网络上的任何人都能看到和听到这次通话；在组地址旁输入口令即可加密</translation>
    </message>
    <message numerus="yes">
        <source>%n packet(s) could not be opened (wrong passphrase?)</source>
        <translation>
            <numerusform>%n 个数据包无法打开（口令不对？）</numerusform>
        </translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>摄像头</translation>
    </message>
    <message>
        <source>Test pattern</source>
        <translation>测试图案</translation>
    </message>
    <message>
        <source>Camera off</source>
        <translation>关闭摄像头</translation>
    </message>
    <message>
        <source>Ctrl+Shift+O turns the camera off and on</source>
        <translation>Ctrl+Shift+O 关闭或打开摄像头</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>尺寸</translation>
    </message>
</context>
<context>
    <name>ConversationList</name>
    <message>
        <source>Conversations</source>
        <translation>会话</translation>
    </message>
    <message>
        <source>Group %1</source>
        <translation>组 %1</translation>
    </message>
    <message numerus="yes">
        <source>%n unread</source>
        <translation>
            <numerusform>%n 条未读</numerusform>
        </translation>
    </message>
    <message>
        <source>Close the conversation with %1</source>
        <translation>关闭与 %1 的会话</translation>
    </message>
    <message>
        <source>Close; its messages stay kept</source>
        <translation>关闭；消息仍然保存</translation>
    </message>
    <message>
        <source>Leave %1</source>
        <translation>离开 %1</translation>
    </message>
    <message>
        <source>Leave the room; its messages stay kept</source>
        <translation>离开聊天室；消息仍然保存</translation>
    </message>
</context>
<context>
    <name>Main</name>
    <message>
        <source>Rooms…</source>
        <translation>房间…</translation>
    </message>
    <message>
        <source>The server&apos;s rooms: go to one, or create one</source>
        <translation>服务器上的房间：进入一个，或创建一个</translation>
    </message>
    <message>
        <source>Message %1 privately — Enter sends, Shift+Enter starts a new line</source>
        <translation>私聊 %1 — 按 Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>lanmeet — multicast %1</source>
        <translation>lanmeet — 组播 %1</translation>
    </message>
    <message>
        <source>lanmeet — %1</source>
        <translation>lanmeet — %1</translation>
    </message>
    <message>
        <source>%1 (private)</source>
        <translation>%1（私聊）</translation>
    </message>
    <message>
        <source>%1 mentioned you</source>
        <translation>%1 提到了你</translation>
    </message>
    <message>
        <source>Close and stop hosting the room?</source>
        <translation>关闭并停止主持这个聊天室？</translation>
    </message>
    <message>
        <source>Disconnect and stop hosting the room?</source>
        <translation>断开并停止主持这个聊天室？</translation>
    </message>
    <message numerus="yes">
        <source>This window hosts the relay: everyone else on it will be dropped (%n connection(s)), and its rooms stay closed until someone hosts or starts a relay again.</source>
        <translation>
            <numerusform>这个窗口在主持中继：其他所有人都会掉线（%n 个连接），聊天室会一直关闭，直到有人重新主持或启动中继。</numerusform>
        </translation>
    </message>
    <message>
        <source>Keep open</source>
        <translation>保持打开</translation>
    </message>
    <message>
        <source>Stay connected</source>
        <translation>保持连接</translation>
    </message>
    <message>
        <source>Close anyway</source>
        <translation>仍然关闭</translation>
    </message>
    <message>
        <source>Disconnect anyway</source>
        <translation>仍然断开</translation>
    </message>
    <message>
        <source>No topic — double-click to set one</source>
        <translation>没有主题 — 双击设置</translation>
    </message>
    <message>
        <source>No topic</source>
        <translation>没有主题</translation>
    </message>
    <message>
        <source>The room&apos;s topic — Enter sets it, Escape cancels</source>
        <translation>聊天室主题 — Enter 确定，Esc 取消</translation>
    </message>
    <message>
        <source>Topic</source>
        <translation>主题</translation>
    </message>
    <message>
        <source>The room&apos;s modes: %1</source>
        <translation>聊天室模式：%1</translation>
    </message>
    <message>
        <source>moderated</source>
        <translation>受管制</translation>
    </message>
    <message>
        <source>topic locked</source>
        <translation>主题已锁定</translation>
    </message>
    <message>
        <source>invitation only</source>
        <translation>仅限邀请</translation>
    </message>
    <message>
        <source>key needed</source>
        <translation>需要密钥</translation>
    </message>
    <message>
        <source>limited to %1</source>
        <translation>限 %1 人</translation>
    </message>
    <message>
        <source>secret</source>
        <translation>秘密</translation>
    </message>
    <message>
        <source>open room</source>
        <translation>开放聊天室</translation>
    </message>
    <message>
        <source>Type here; messages are kept and sent once connected</source>
        <translation>在这里输入；消息会保留，连上后发送</translation>
    </message>
    <message>
        <source>Message the group — Enter sends, Shift+Enter starts a new line</source>
        <translation>发消息到组 — Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>Message %1 — Enter sends, Shift+Enter starts a new line</source>
        <translation>发消息到 %1 — Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>Message</source>
        <translation>消息</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Encrypted (TLS)</source>
        <translation>已加密（TLS）</translation>
    </message>
    <message>
        <source>Encrypted (passphrase)</source>
        <translation>已加密（口令）</translation>
    </message>
    <message>
        <source>Not encrypted</source>
        <translation>未加密</translation>
    </message>
    <message>
        <source>The relay&apos;s certificate, pinned on first use: %1</source>
        <translation>中继服务器的证书，首次使用时已记住：%1</translation>
    </message>
    <message>
        <source>Only those with the group&apos;s passphrase can read this conversation. Your key: %1</source>
        <translation>只有知道组口令的人才能读到这段对话。你的密钥：%1</translation>
    </message>
    <message>
        <source>Anyone on the network can read this conversation. Type a passphrase to encrypt it. Names are signed: someone using a name first seen here with another key is shown as an impostor (your key: %1).</source>
        <translation>网络上的任何人都能读到这段对话。输入口令即可加密。昵称带有签名：有人用另一把密钥冒用此处先出现的昵称时，会被标为冒名者（你的密钥：%1）。</translation>
    </message>
    <message>
        <source>Anyone on the network can read this conversation</source>
        <translation>网络上的任何人都能读到这段对话</translation>
    </message>
    <message numerus="yes">
        <source>%n message(s) could not be opened (wrong passphrase?)</source>
        <translation>
            <numerusform>%n 条消息无法打开（口令不对？）</numerusform>
        </translation>
    </message>
    <message>
        <source>Retry now</source>
        <translation>立即重试</translation>
    </message>
    <message>
        <source>System language</source>
        <translation>系统语言</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>Notify: mentions, private</source>
        <translation>通知：提及和私聊</translation>
    </message>
    <message>
        <source>Notify: every message</source>
        <translation>通知：每条消息</translation>
    </message>
    <message>
        <source>Notify: never</source>
        <translation>通知：从不</translation>
    </message>
    <message>
        <source>Desktop notifications</source>
        <translation>桌面通知</translation>
    </message>
    <message>
        <source>Which messages show a desktop notification while the window is in the background</source>
        <translation>窗口在后台时，哪些消息显示桌面通知</translation>
    </message>
    <message numerus="yes">
        <source>%n member(s)</source>
        <translation>
            <numerusform>%n 位成员</numerusform>
        </translation>
    </message>
    <message>
        <source>Leave video conference</source>
        <translation>离开视频会议</translation>
    </message>
    <message>
        <source>Start video conference</source>
        <translation>开始视频会议</translation>
    </message>
</context>
<context>
    <name>MemberList</name>
    <message>
        <source>Talk privately</source>
        <translation>私聊</translation>
    </message>
    <message>
        <source>Members (%1)</source>
        <translation>成员（%1）</translation>
    </message>
    <message>
        <source>Who is %1?</source>
        <translation>%1 是谁？</translation>
    </message>
    <message>
        <source>Take voice</source>
        <translation>收回发言权</translation>
    </message>
    <message>
        <source>Give voice</source>
        <translation>给予发言权</translation>
    </message>
    <message>
        <source>Remove operator status</source>
        <translation>取消管理员</translation>
    </message>
    <message>
        <source>Make operator</source>
        <translation>设为管理员</translation>
    </message>
    <message>
        <source>Kick %1 out of the room</source>
        <translation>把 %1 踢出聊天室</translation>
    </message>
    <message>
        <source>Set the room&apos;s topic…</source>
        <translation>设置聊天室主题…</translation>
    </message>
    <message>
        <source>Ban %1</source>
        <translation>封禁 %1</translation>
    </message>
    <message>
        <source>banned</source>
        <translation>已封禁</translation>
    </message>
    <message>
        <source>Members</source>
        <translation>成员</translation>
    </message>
    <message>
        <source>(away)</source>
        <translation>（离开）</translation>
    </message>
    <message>
        <source>operator</source>
        <translation>管理员</translation>
    </message>
    <message>
        <source>voiced</source>
        <translation>有发言权</translation>
    </message>
    <message>
        <source>away</source>
        <translation>离开</translation>
    </message>
</context>
<context>
    <name>RoomBrowser</name>
    <message>
        <source>Rooms on %1</source>
        <translation>%1 上的房间</translation>
    </message>
    <message>
        <source>No rooms listed yet</source>
        <translation>还没有列出房间</translation>
    </message>
    <message>
        <source>Rooms</source>
        <translation>房间</translation>
    </message>
    <message numerus="yes">
        <source>%n member(s)</source>
        <translation>
            <numerusform>%n 位成员</numerusform>
        </translation>
    </message>
    <message>
        <source>New room, e.g. #study</source>
        <translation>新房间，例如 #study</translation>
    </message>
    <message>
        <source>Name of a room to create or join</source>
        <translation>要创建或加入的房间名</translation>
    </message>
    <message>
        <source>Create and join</source>
        <translation>创建并加入</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <source>Join</source>
        <translation>加入</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>SearchPanel</name>
    <message>
        <source>Search kept messages</source>
        <translation>搜索保存的消息</translation>
    </message>
    <message>
        <source>Nothing found</source>
        <translation>没有找到</translation>
    </message>
    <message numerus="yes">
        <source>%n message(s) found</source>
        <translation>
            <numerusform>找到 %n 条消息</numerusform>
        </translation>
    </message>
    <message>
        <source>Kept on this computer only</source>
        <translation>只保存在这台电脑上</translation>
    </message>
    <message>
        <source>Clear history…</source>
        <translation>清除历史记录…</translation>
    </message>
    <message>
        <source>Clear the kept messages?</source>
        <translation>清除保存的消息？</translation>
    </message>
    <message>
        <source>Every message of group %1 kept on this computer will be deleted, and the chat emptied. Others keep their own copies.</source>
        <translation>这台电脑上保存的组 %1 的所有消息都将被删除，聊天窗口也会清空。其他人保留他们自己的副本。</translation>
    </message>
    <message>
        <source>Every message of %1 kept on this computer will be deleted, and the chat emptied. Others and the server keep their own copies.</source>
        <translation>这台电脑上保存的 %1 的所有消息都将被删除，聊天窗口也会清空。其他人和服务器保留他们自己的副本。</translation>
    </message>
    <message>
        <source>Keep them</source>
        <translation>保留</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message>
        <source>Search</source>
        <translation>搜索</translation>
    </message>
    <message>
        <source>Search kept messages (Ctrl+F)</source>
        <translation>搜索保存的消息（Ctrl+F）</translation>
    </message>
    <message>
        <source>Relay server</source>
        <translation>中继服务器</translation>
    </message>
    <message>
        <source>Multicast (no server)</source>
        <translation>组播（无服务器）</translation>
    </message>
    <message>
        <source>Chat mode</source>
        <translation>聊天模式</translation>
    </message>
    <message>
        <source>Ctrl+M switches between the relay server and multicast</source>
        <translation>Ctrl+M 在中继服务器和组播之间切换</translation>
    </message>
    <message>
        <source>Nickname</source>
        <translation>昵称</translation>
    </message>
    <message>
        <source>Server</source>
        <translation>服务器</translation>
    </message>
    <message>
        <source>Server address</source>
        <translation>服务器地址</translation>
    </message>
    <message>
        <source>Room</source>
        <translation>聊天室</translation>
    </message>
    <message>
        <source>Group</source>
        <translation>组</translation>
    </message>
    <message>
        <source>Multicast group and port</source>
        <translation>组播地址和端口</translation>
    </message>
    <message>
        <source>Default interface</source>
        <translation>默认网卡</translation>
    </message>
    <message>
        <source>Network interface</source>
        <translation>网卡</translation>
    </message>
    <message>
        <source>TTL</source>
        <translation>TTL</translation>
    </message>
    <message>
        <source>Multicast TTL: 1 stays on the LAN</source>
        <translation>组播 TTL：1 表示只在局域网内</translation>
    </message>
    <message>
        <source>Passphrase</source>
        <translation>口令</translation>
    </message>
    <message>
        <source>Call passphrase</source>
        <translation>通话口令</translation>
    </message>
    <message>
        <source>Group passphrase: only those who type the same one read the group; empty: not encrypted</source>
        <translation>组口令：只有输入相同口令的人才能读到组内消息；留空：不加密</translation>
    </message>
    <message>
        <source>Only those who type the same passphrase read the group and the call. Empty: not encrypted.</source>
        <translation>只有输入相同口令的人才能读到组内消息、参加通话。留空：不加密。</translation>
    </message>
    <message>
        <source>Plain text</source>
        <translation>纯文本</translation>
    </message>
    <message>
        <source>Send bare text that the old multicast chat tool can read (no repair of lost messages)</source>
        <translation>发送旧组播聊天工具能读的纯文本（丢失的消息不会补发）</translation>
    </message>
    <message>
        <source>Others may join</source>
        <translation>允许别人加入</translation>
    </message>
    <message>
        <source>When no server answers at this computer&apos;s address, this window hosts the room. Checked: others on the network join it, over TLS. Unchecked: only this computer can.</source>
        <translation>当这台电脑的地址上没有服务器应答时，由这个窗口主持聊天室。勾选：网络上的其他人可以通过 TLS 加入。不勾选：只有这台电脑可以。</translation>
    </message>
    <message>
        <source>Join</source>
        <translation>加入</translation>
    </message>
    <message>
        <source>Connect</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>Leave</source>
        <translation>离开</translation>
    </message>
    <message>
        <source>Disconnect</source>
        <translation>断开</translation>
    </message>
    <message>
        <source>Ctrl+D</source>
        <translation>Ctrl+D</translation>
    </message>
    <message>
        <source>Check network</source>
        <translation>检查网络</translation>
    </message>
    <message>
        <source>Hosting: others join at %1</source>
        <translation>正在主持：别人从 %1 加入</translation>
    </message>
    <message>
        <source>Hosting for the network, but this computer has no network address yet</source>
        <translation>正在为网络主持，但这台电脑还没有网络地址</translation>
    </message>
    <message>
        <source>Hosting for this computer only</source>
        <translation>只为这台电脑主持</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Copy the address others join at</source>
        <translation>复制别人加入用的地址</translation>
    </message>
    <message>
        <source>Network check</source>
        <translation>网络检查</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>VideoTileView</name>
    <message>
        <source>Starting camera…</source>
        <translation>正在启动摄像头…</translation>
    </message>
    <message>
        <source>Waiting for video…</source>
        <translation>正在等待视频…</translation>
    </message>
    <message>
        <source>%1 (you)</source>
        <translation>%1（你）</translation>
    </message>
    <message>
        <source>%1 fps</source>
        <translation>%1 帧/秒</translation>
    </message>
    <message>
        <source>voice %1 ms</source>
        <translation>声音 %1 毫秒</translation>
    </message>
    <message>
        <source>fps: pictures a second. Voice: how long their voice takes from their microphone to your speaker; over 150 ms a conversation starts to suffer.</source>
        <translation>帧/秒：每秒的画面数。声音：对方的声音从其麦克风到你的扬声器所需的时间；超过 150 毫秒，对话就开始受影响。</translation>
    </message>
    <message>
        <source>audio delay over 150 ms</source>
        <translation>声音延迟超过 150 毫秒</translation>
    </message>
    <message>
        <source>%1&apos;s microphone is muted</source>
        <translation>%1 的麦克风已静音</translation>
    </message>
    <message>
        <source>muted</source>
        <translation>已静音</translation>
    </message>
    <message>
        <source>Volume %1 %</source>
        <translation>音量 %1 %</translation>
    </message>
    <message>
        <source>Volume of %1</source>
        <translation>%1 的音量</translation>
    </message>
    <message>
        <source>%1 %</source>
        <translation>%1 %</translation>
    </message>
    <message>
        <source>stalled</source>
        <translation>卡住了</translation>
    </message>
</context>
</TS>
