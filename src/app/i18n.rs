//! The lines the chat itself writes (joins, topics, the connection's status), in the window's
//! language: English, or Simplified Chinese. The window's own texts go through Qt's `qsTr`
//! (translations/); these are made in Rust, so their translations live here. The terminal
//! client stays in English (it never sets a language).
//!
//! A text is an English template with numbered places, `{0} joined {1}`; its translation puts
//! the same places where the language wants them.

use std::sync::atomic::{AtomicU8, Ordering};

const ENGLISH: u8 = 0;
const CHINESE: u8 = 1;

static LANGUAGE: AtomicU8 = AtomicU8::new(ENGLISH);

/// The language for lines made from now on: "zh_CN" (or any "zh"), else English. Empty: the
/// system's (`LC_ALL`, `LC_MESSAGES`, `LANG`, as Qt reads them).
pub fn set_language(code: &str) {
    let code = if code.is_empty() { system_language() } else { code.to_string() };
    let language = if code.starts_with("zh") { CHINESE } else { ENGLISH };
    LANGUAGE.store(language, Ordering::Relaxed);
}

fn system_language() -> String {
    ["LC_ALL", "LC_MESSAGES", "LANG"].iter().filter_map(|name| std::env::var(name).ok()).find(|v| !v.is_empty()).unwrap_or_default()
}

/// `template` in the current language, its places `{0}`, `{1}`... filled with `args` (once:
/// a `{1}` inside an argument stays as it is).
pub fn tr(template: &'static str, args: &[&dyn std::fmt::Display]) -> String {
    let text = match LANGUAGE.load(Ordering::Relaxed) {
        CHINESE => chinese(template).unwrap_or(template),
        _ => template,
    };
    fill(text, args)
}

fn fill(template: &str, args: &[&dyn std::fmt::Display]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let place = after.find('}').and_then(|close| after[..close].parse::<usize>().ok().map(|n| (n, close)));
        match place.and_then(|(n, close)| args.get(n).map(|arg| (arg, close))) {
            Some((arg, close)) => {
                out.push_str(&arg.to_string());
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn chinese(template: &str) -> Option<&'static str> {
    Some(match template {
        "── {0} message(s) you missed, above ──" => "── 以上是你错过的 {0} 条消息 ──",
        "── the latest {0} message(s) you missed, above; earlier ones stay on the server ──" => "── 以上是你错过的最近 {0} 条消息；更早的仍在服务器上 ──",
        "── {0} earlier message(s), above ──" => "── 以上是之前的 {0} 条消息 ──",
        "(private) {0}" => "（私聊）{0}",
        "{0} unread message(s)" => "{0} 条未读消息",
        "No unread messages" => "没有未读消息",
        "── {0} more kept message(s) between, not shown ──" => "── 中间还有 {0} 条保存的消息未显示 ──",
        "Messages are not kept on this computer: {0}" => "消息未保存在这台电脑上：{0}",
        "Messages kept of {0} cleared" => "已清除 {0} 的保存消息",
        "Private conversations need the lanmeet protocol; in plain-text mode everything said reaches the whole group" => "私聊需要 lanmeet 协议；纯文本模式下说的话整个组都能收到",
        "{0} is not in the group now; your text is still in the box" => "{0} 现在不在组里；你的文字还在输入框里",
        "Registered as {0}" => "已登记为 {0}",
        "You joined {0}" => "你加入了 {0}",
        "{0} joined {1}" => "{0} 加入了 {1}",
        "{0} left {1}" => "{0} 离开了 {1}",
        "{0} left {1} ({2})" => "{0} 离开了 {1}（{2}）",
        "{0} is now known as {1}" => "{0} 改名为 {1}",
        "Topic of {0}: {1}" => "{0} 的主题：{1}",
        "encrypted with the group's passphrase (key {0})" => "已用组口令加密（密钥 {0}）",
        "not encrypted" => "未加密",
        "; your key {0}" => "；你的密钥 {0}",
        "Joined multicast group {0} on interface {1}, {2}{3}" => "已加入组播组 {0}，网卡 {1}，{2}{3}",
        "{0} datagram(s) could not be opened: sent with another passphrase (wrong passphrase?) or altered" => "{0} 个数据报无法打开：用别的口令发送（口令不对？）或被改动过",
        "{0}: someone is using a nickname pinned to another key{1}; they are not who the name says" => "{0}：有人在用一个属于另一把密钥的昵称{1}；此人不是这个名字的主人",
        " (their key {0})" => "（对方密钥 {0}）",
        " (unsigned)" => "（无签名）",
        "{0} joined (key {1})" => "{0} 加入了（密钥 {1}）",
        "{0} joined (unsigned)" => "{0} 加入了（无签名）",
        "{0} left" => "{0} 离开了",
        "{0} left (not heard from)" => "{0} 离开了（失去联系）",
        "{0} message(s) from {1} could not be recovered" => "{1} 的 {0} 条消息无法找回",
        "No server answered, so this program hosts one on {0}" => "没有服务器应答，所以本程序在 {0} 主持了一个",
        "{0}; others on the network join at {1}" => "{0}；网络上的其他人从 {1} 加入",
        "{0}; it takes connections from the network, but this computer has no network address yet" => "{0}；它接受来自网络的连接，但这台电脑还没有网络地址",
        "{0}; only this computer can reach it" => "{0}；只有这台电脑能连上",
        "Disconnected" => "已断开",
        "Connecting to {0}…" => "正在连接 {0}…",
        "Connected to {0} (not encrypted), joining…" => "已连接 {0}（未加密），正在加入…",
        "Connected to {0} over TLS ({1} {2}), joining…" => "已通过 TLS 连接 {0}（{1} {2}），正在加入…",
        "certificate pinned on first use" => "证书首次使用时已记住",
        "certificate as pinned" => "证书与记住的一致",
        "Lost the connection ({0}); what you type is kept and sent on reconnect" => "连接断了（{0}）；你输入的内容会保留，重新连上后发送",
        "{0} — reconnecting in {1} s" => "{0} — {1} 秒后重新连接",
        "{0}: check the server address, then connect again" => "{0}：请检查服务器地址，然后重新连接",
        "Stopped; {0} message(s) were not delivered" => "已停止；{0} 条消息没有送达",
        "In {0} on {1}{2}" => "在 {1} 的 {0}{2}",
        " (hosted here)" => "（由本机主持）",
        " in plain-text mode" => "，纯文本模式",
        "Multicast chat on {0}, interface {1}{2}; no server" => "组播聊天 {0}，网卡 {1}{2}；无服务器",
        "Not connected: press Connect first; your text is still in the box" => "未连接：请先点“连接”；你的文字还在输入框里",
        "The text could not be queued (too much is waiting, or the connection stopped); it is still in the box" => "文字无法排队发送（等待的太多，或连接已停止）；它还在输入框里",
        "You joined the video conference on {0}; waiting for others" => "你加入了 {0} 上的视频会议；正在等待其他人",
        "{0} joined the video conference" => "{0} 加入了视频会议",
        "{0} left the video conference; you are alone in it, waiting for others" => "{0} 离开了视频会议；只剩你一人，正在等待其他人",
        "{0} left the video conference" => "{0} 离开了视频会议",
        "You left the video conference" => "你离开了视频会议",
        "In the video conference on {0}" => "在 {0} 上的视频会议中",
        "Cannot start the video conference: {0}" => "无法开始视频会议：{0}",
        "Left the video conference" => "已离开视频会议",
        "The camera is not answering; try again in a moment" => "摄像头没有响应；请稍后再试",
        "{0}. The call goes on; choose another camera or the test pattern." => "{0}。通话继续；请选择别的摄像头或测试图案。",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_filled_once_in_either_language() {
        assert_eq!(fill("{0} joined {1}", &[&"{1}", &"#lobby"]), "{1} joined #lobby");
        assert_eq!(fill("{1} 的 {0} 条", &[&3, &"ann"]), "ann 的 3 条");
        assert_eq!(fill("a {x} b {7} c {", &[&1]), "a {x} b {7} c {");
        assert_eq!(chinese("In {0} on {1}{2}").map(|t| fill(t, &[&"#lobby", &"host:6697", &""])).as_deref(), Some("在 host:6697 的 #lobby"));
    }

    #[test]
    fn every_text_of_the_window_has_a_chinese_translation() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let ts = std::fs::read_to_string(root.join("translations/lanmeet_zh_CN.ts")).unwrap();
        let mut count = 0;
        for entry in std::fs::read_dir(root.join("qml")).unwrap() {
            let path = entry.unwrap().path();
            let qml = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let context = ts.split("<context>").find(|c| c.contains(&format!("<name>{name}</name>"))).unwrap_or_default();
            for (at, _) in qml.match_indices("qsTr(\"") {
                let rest = &qml[at + 6..];
                let mut end = 0;
                while let Some(quote) = rest[end..].find('"') {
                    end += quote;
                    if !rest[..end].ends_with('\\') {
                        break;
                    }
                    end += 1;
                }
                let source = rest[..end].replace("\\\"", "\"").replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;");
                let message = context.split("<message").find(|m| m.contains(&format!("<source>{source}</source>")));
                let translated = message.and_then(|m| m.split("<translation>").nth(1)).is_some_and(|t| t.trim_start().starts_with(|c: char| c != '<') || t.contains("<numerusform>") && !t.contains("<numerusform></numerusform>"));
                assert!(translated, "{name}.qml: no Chinese for {source:?}");
                count += 1;
            }
        }
        assert!(count >= 140, "only {count} texts found");
    }

    #[test]
    fn every_text_the_code_asks_for_has_a_translation() {
        // The sources that call `tr`: each literal template among them is translated.
        let sources = [
            include_str!("lines.rs"),
            include_str!("chat.rs"),
            include_str!("terminal.rs"),
            include_str!("tray.rs"),
            include_str!("../ui/chat_room.rs"),
            include_str!("../ui/chat_kept.rs"),
            include_str!("../ui/chat_conversations.rs"),
            include_str!("../ui/conference_room.rs"),
        ];
        let places = |text: &str| (0..10).map(|n| format!("{{{n}}}")).filter(|p| text.contains(p.as_str())).collect::<Vec<_>>();
        let mut count = 0;
        for source in sources {
            // `tr("...` as a call of its own (not the end of `push_str("`).
            let calls = source.match_indices("tr(\"").filter(|(at, _)| !source[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            for (at, _) in calls {
                let call = &source[at + 4..];
                let template = &call[..call.find("\",").or_else(|| call.find("\")")).unwrap()];
                let template = template.replace("\\\"", "\"");
                let chinese = chinese(&template).unwrap_or_else(|| panic!("no Chinese for {template:?}"));
                assert_eq!(places(&template), places(chinese), "{template:?} / {chinese:?}");
                count += 1;
            }
        }
        assert!(count >= 40, "only {count} texts found");
    }
}
