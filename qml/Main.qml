import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Window
import org.lanmeet

ApplicationWindow {
    id: window
    width: 1140
    height: 620
    minimumWidth: 640
    minimumHeight: 380
    visible: true
    // Unread messages count in the title while the window is in the background.
    title: (window.unread > 0 ? "(" + window.unread + ") " : "")
           + (window.room.mode === "multicast" ? qsTr("lanmeet — multicast %1").arg(window.room.group)
                                               : qsTr("lanmeet — %1").arg(window.room.channel))
    property int unread: 0
    // The other person of the private conversation shown, or empty for the room or group.
    // The person of the private conversation shown; empty for a room or the group.
    readonly property string shownConversation: (window.room.conversations[window.room.currentConversation] ?? "").split("\t")[0] // qmllint disable type
    readonly property string talkingWith: shownConversation.startsWith("#") ? "" : shownConversation
    // The language chosen in the window, else the system's (Qt loads qml_LANG.qm from i18n/).
    Binding {
        target: Qt
        property: "uiLanguage"
        value: window.room.language.length > 0 ? window.room.language : Qt.locale().name // qmllint disable type
    }

    onActiveChanged: {
        window.room.viewShows(window.active ? "active" : "in the background")
        if (window.active)
            window.unread = 0
    }

    // A message while the window is in the background: counted in the title, the taskbar
    // entry asks for attention, and (as the person chose) a desktop notification says who
    // and what.
    function attend(sender: string, text: string, alone: bool, mention: bool) {
        if (window.active)
            return
        window.unread++
        window.alert(0)
        window.room.viewShows("unread: " + window.unread)
        const level = window.room.notify
        if (level === "all" || (level === "mentions" && (alone || mention))) {
            const summary = alone ? qsTr("%1 (private)").arg(sender) : mention ? qsTr("%1 mentioned you").arg(sender) : sender
            window.desktop.notify(summary, text)
        }
    }

    readonly property ChatRoom room: ChatRoom {
        onMessageArrived: (sender, text, alone, mention) => window.attend(sender, text, alone, mention)
    }
    // The desktop's colour scheme, followed while the window is open: in the dark one every
    // colour of the palette is ours; in the light one, the platform's, with a darker
    // placeholder text for contrast.
    readonly property Desktop desktop: Desktop {
        // A click on the tray icon brings the window forward.
        onTrayActivated: {
            window.room.viewShows("tray icon clicked")
            window.show()
            window.raise()
            window.requestActivate()
        }
    }
    onUnreadChanged: window.desktop.trayUnread(window.unread)
    readonly property bool dark: window.desktop.dark
    readonly property Tones tones: Tones { dark: window.dark }
    SystemPalette { id: system }
    SystemPalette { id: systemDisabled; colorGroup: SystemPalette.Disabled }
    palette.window: window.dark ? "#202226" : system.window
    palette.windowText: window.dark ? "#e6e6e6" : system.windowText
    palette.base: window.dark ? "#16171a" : system.base
    palette.alternateBase: window.dark ? "#26282d" : system.alternateBase
    palette.text: window.dark ? "#e6e6e6" : system.text
    palette.button: window.dark ? "#2c2f34" : system.button
    palette.buttonText: window.dark ? "#e6e6e6" : system.buttonText
    palette.highlight: window.dark ? "#2f6fc0" : system.highlight
    palette.highlightedText: window.dark ? "#ffffff" : system.highlightedText
    palette.light: window.dark ? "#3a3d43" : system.light
    palette.midlight: window.dark ? "#33363b" : system.midlight
    palette.mid: window.dark ? "#2a2c31" : system.mid
    palette.dark: window.dark ? "#101113" : system.dark
    palette.shadow: window.dark ? "#000000" : system.shadow
    palette.link: window.dark ? "#8ab4f8" : "#0b57d0"
    palette.linkVisited: window.dark ? "#c58af9" : "#7b1fa2"
    palette.placeholderText: window.dark ? "#9a9ea6" : "#666a70"
    palette.toolTipBase: window.dark ? "#2c2f34" : "#ffffdc"
    palette.toolTipText: window.dark ? "#e6e6e6" : "#000000"
    palette.disabled.windowText: window.dark ? "#7a7d83" : systemDisabled.windowText
    palette.disabled.text: window.dark ? "#7a7d83" : systemDisabled.text
    palette.disabled.buttonText: window.dark ? "#7a7d83" : systemDisabled.buttonText
    onDarkChanged: window.room.viewShows("scheme: " + (window.dark ? "dark" : "light"))
    // What happens in the call shows in the chat.
    readonly property ConferenceRoom conference: ConferenceRoom {
        onCallEvent: (text) => window.room.note(text)
        // The window gave the call room; after it, it goes back to its size.
        onActiveChanged: {
            if (!window.conference.active && window.heightBeforeCall > 0) {
                window.height = window.heightBeforeCall
                window.heightBeforeCall = 0
            }
        }
    }
    /// The window's height before a call made it taller (0: it did not).
    property int heightBeforeCall: 0

    Component.onCompleted: {
        // Where the window was last time, as far as this screen has room for it.
        const place = window.room.rememberedPlace().split(",").map(Number)
        if (place.length === 4 && place.every(Number.isFinite)) {
            window.width = Math.max(window.minimumWidth, Math.min(place[2], Screen.desktopAvailableWidth))
            window.height = Math.max(window.minimumHeight, Math.min(place[3], Screen.desktopAvailableHeight))
            window.x = Math.max(0, Math.min(place[0], Screen.desktopAvailableWidth - window.width))
            window.y = Math.max(0, Math.min(place[1], Screen.desktopAvailableHeight - window.height))
        }
        window.room.connectToServer()
        // What was typed but not sent when the window last closed.
        input.text = window.room.takeDraft()
        input.cursorPosition = input.length
        input.forceActiveFocus()
    }

    header: Settings {
        room: window.room
        onLeaveWouldDrop: (others) => hostWarning.ask(false, others)
        onSearchWanted: searchPanel.open()
    }

    RoomBrowser {
        id: roomBrowser
        room: window.room
        parent: Overlay.overlay
        anchors.centerIn: parent
        width: Math.min(520, window.width - 40)
        onClosed: input.forceActiveFocus()
    }

    Shortcut {
        sequence: "Ctrl+Q"
        onActivated: window.close()
    }

    // The first picture on the screen, for the log (the start-up benchmark waits for it).
    property bool drawn: false
    Connections {
        target: window
        enabled: !window.drawn
        function onFrameSwapped() {
            window.drawn = true
            window.room.viewShows("first frame")
        }
    }

    Shortcut {
        sequence: "Ctrl+F"
        onActivated: searchPanel.open()
    }



    // Where the keyboard is, for the log (tests walk the window with Tab).
    onActiveFocusItemChanged: {
        const item = window.activeFocusItem
        if (item === null)
            return
        const at = item.mapToItem(null, 0, 0)
        window.room.viewShows("focus: " + (item.objectName.length > 0 ? item.objectName : String(item).split("(")[0])
                              + " " + [Math.round(at.x), Math.round(at.y), Math.round(item.width), Math.round(item.height)].join(","))
    }

    // A ring around what has the keyboard, when it got there by the keyboard (Tab, Shift+Tab);
    // the style's own is a faint line. Above everything, it takes no clicks.
    Rectangle {
        id: focusRing
        objectName: "focusRing"
        parent: Overlay.overlay
        readonly property Item target: window.activeFocusItem
        // Set when Tab moves the keyboard, cleared when a click does; kept when the window
        // comes back to the front or a popup closes.
        property bool byKeyboard: false
        onTargetChanged: {
            const item = focusRing.target
            if (item === null || item === window.contentItem) {
                focusRing.byKeyboard = false
                return
            }
            // Menus and dialogs show their own current item.
            for (let up = item.parent; up !== null; up = up.parent) {
                if (up === Overlay.overlay) {
                    focusRing.byKeyboard = false
                    return
                }
            }
            // Items other than controls know no reason: Tab is what reaches them.
            const reason = item.focusReason
            if (reason === undefined)
                focusRing.byKeyboard = item.activeFocusOnTab
            else if (reason === Qt.TabFocusReason || reason === Qt.BacktabFocusReason)
                focusRing.byKeyboard = true
            else if (reason === Qt.MouseFocusReason || reason === Qt.OtherFocusReason || reason === Qt.ShortcutFocusReason)
                focusRing.byKeyboard = false
        }
        readonly property rect place: {
            const item = focusRing.target
            if (item === null)
                return Qt.rect(0, 0, 0, 0)
            // Read for the binding: the ring follows a control that moves or resizes.
            const size = [item.x, item.y, item.width, item.height, window.width, window.height]
            const at = item.mapToItem(null, 0, 0)
            return Qt.rect(at.x, at.y, size[2], size[3])
        }
        visible: byKeyboard && place.width > 0
        // Outside the control, but inside the window.
        x: Math.max(0, place.x - 3)
        y: Math.max(0, place.y - 3)
        width: Math.min(window.width, place.x + place.width + 3) - x
        height: Math.min(window.height, place.y + place.height + 3) - y
        z: 1000
        radius: 4
        color: "transparent"
        border.width: 3
        border.color: window.palette.highlight
    }

    // Closing the window that hosts the room drops everyone in it: ask first.
    property bool closeConfirmed: false
    onClosing: (close) => {
        const others = window.room.hostedOthers()
        if (others > 0 && !window.closeConfirmed) {
            close.accepted = false
            hostWarning.ask(true, others)
            return
        }
        // Its size without the room a call took.
        const height = window.heightBeforeCall > 0 ? window.heightBeforeCall : window.height
        window.room.rememberPlace(window.x, window.y, window.width, height)
        window.room.keepUnsent(input.text)
    }

    Dialog {
        id: hostWarning
        objectName: "hostWarning"
        property bool closing: false
        property int others: 0
        parent: Overlay.overlay
        anchors.centerIn: parent
        width: Math.min(460, window.width - 40)
        modal: true
        focus: true
        title: closing ? qsTr("Close and stop hosting the room?") : qsTr("Disconnect and stop hosting the room?")

        function ask(closing: bool, others: int) {
            hostWarning.closing = closing
            hostWarning.others = others
            window.room.viewShows("host warning: " + others + (closing ? " (closing)" : " (disconnecting)"))
            hostWarning.open()
            stayButton.forceActiveFocus()
        }

        Label {
            width: parent.width
            wrapMode: Text.Wrap
            text: qsTr("This window hosts the relay: everyone else on it will be dropped (%n connection(s)), and its rooms stay closed until someone hosts or starts a relay again.", "", hostWarning.others)
        }
        footer: RowLayout {
            spacing: 8
            Item { Layout.fillWidth: true }
            Button {
                id: stayButton
                text: hostWarning.closing ? qsTr("Keep open") : qsTr("Stay connected")
                Layout.bottomMargin: 12
                onClicked: hostWarning.reject()
            }
            Button {
                objectName: "leaveAnyway"
                text: hostWarning.closing ? qsTr("Close anyway") : qsTr("Disconnect anyway")
                Layout.rightMargin: 12
                Layout.bottomMargin: 12
                onClicked: hostWarning.accept()
            }
        }
        onAccepted: {
            window.room.viewShows("host warning: " + (hostWarning.closing ? "closing" : "disconnecting") + " anyway")
            if (hostWarning.closing) {
                window.closeConfirmed = true
                window.close()
            } else {
                window.room.disconnectFromServer()
            }
        }
        onRejected: {
            window.room.viewShows("host warning: stayed")
            input.forceActiveFocus()
        }
    }

    SplitView {
        anchors.fill: parent
        orientation: Qt.Vertical

        ConferenceView {
            visible: window.conference.active
            SplitView.preferredHeight: window.height * 0.6
            SplitView.minimumHeight: 200
            conference: window.conference
            onLaidOut: (places) => window.room.viewShows("tiles: " + places)
        }

    SplitView {
        SplitView.fillHeight: true
        // A call leaves the chat room for a few lines at least.
        SplitView.minimumHeight: 160

        ConversationList {
            visible: window.room.conversations.length > 1 // qmllint disable type
            SplitView.preferredWidth: 170
            SplitView.minimumWidth: 110
            room: window.room
        }

        ColumnLayout {
            SplitView.fillWidth: true
            spacing: 0

            // The room's topic and modes; an operator (or anyone, without +t) double-clicks
            // the topic to change it.
            Rectangle {
                id: topicBar
                Layout.fillWidth: true
                visible: window.room.mode !== "multicast" && window.room.state === "online"
                implicitHeight: topicRow.implicitHeight + 8
                color: palette.alternateBase
                readonly property string modes: window.room.modes // qmllint disable type
                readonly property bool mayEdit: modes.indexOf("t") < 0 || memberList.operator

                RowLayout {
                    id: topicRow
                    anchors.fill: parent
                    anchors.leftMargin: 8
                    anchors.rightMargin: 8
                    spacing: 8
                    Label {
                        id: topicLabel
                        objectName: "topicLabel"
                        Layout.fillWidth: true
                        visible: !topicEditor.visible
                        text: window.room.topic.length > 0 ? window.room.topic
                              : topicBar.mayEdit ? qsTr("No topic — double-click to set one") : qsTr("No topic")
                        textFormat: Text.PlainText
                        elide: Text.ElideRight
                        font.italic: true
                        color: window.room.topic.length > 0 ? palette.text : palette.placeholderText
                        TapHandler {
                            onDoubleTapped: topicBar.edit()
                        }
                    }
                    TextField {
                        id: topicEditor
                        objectName: "topicEditor"
                        Layout.fillWidth: true
                        visible: false
                        placeholderText: qsTr("The room's topic — Enter sets it, Escape cancels")
                        Accessible.name: qsTr("Topic")
                        onAccepted: {
                            window.room.send("/topic " + text)
                            visible = false
                            input.forceActiveFocus()
                        }
                        Keys.onEscapePressed: {
                            visible = false
                            input.forceActiveFocus()
                        }
                    }
                    ToolButton {
                        objectName: "roomsButton"
                        text: qsTr("Rooms…")
                        font.pixelSize: 12
                        topPadding: 0
                        bottomPadding: 0
                        Layout.preferredHeight: topicLabel.implicitHeight + 4
                        ToolTip.visible: hovered
                        ToolTip.text: qsTr("The server's rooms: go to one, or create one")
                        onClicked: roomBrowser.ask()
                    }
                    Label {
                        objectName: "modesLabel"
                        visible: topicBar.modes.length > 0
                        text: topicBar.describe(topicBar.modes)
                        color: palette.placeholderText
                        ToolTip.visible: modesArea.containsMouse
                        ToolTip.text: qsTr("The room's modes: %1").arg(topicBar.modes)
                        MouseArea {
                            id: modesArea
                            anchors.fill: parent
                            hoverEnabled: true
                        }
                    }
                }

                function edit() {
                    if (!mayEdit)
                        return
                    topicEditor.text = window.room.topic
                    topicEditor.visible = true
                    topicEditor.forceActiveFocus()
                    topicEditor.selectAll()
                }

                // "+klmnt key 30" in words.
                function describe(modes: string): string {
                    const letters = modes.split(" ")[0]
                    const values = modes.split(" ")
                    let text = ""
                    if (letters.indexOf("m") >= 0) text += " · " + qsTr("moderated")
                    if (letters.indexOf("t") >= 0) text += " · " + qsTr("topic locked")
                    if (letters.indexOf("i") >= 0) text += " · " + qsTr("invitation only")
                    if (letters.indexOf("k") >= 0) text += " · " + qsTr("key needed")
                    if (letters.indexOf("l") >= 0) text += " · " + qsTr("limited to %1").arg(values[values.length - 1])
                    if (letters.indexOf("s") >= 0) text += " · " + qsTr("secret")
                    return text.length > 0 ? text.substring(3) : qsTr("open room")
                }
            }

            ChatView {
                id: chatView
                Layout.fillWidth: true
                Layout.fillHeight: true
                room: window.room
                onMention: (nick) => {
                    input.insert(0, nick + ": ")
                    input.cursorPosition = input.length
                    input.forceActiveFocus()
                }

                SearchPanel {
                    id: searchPanel
                    parent: chatView
                    room: window.room
                    x: Math.max(8, chatView.width - width - 16)
                    y: 8
                    width: Math.min(480, chatView.width - 16)
                    onPicked: (number) => {
                        if (chatView.reach(number))
                            searchPanel.close()
                    }
                    onClosed: input.forceActiveFocus()
                }
            }

            Rectangle {
                Layout.fillWidth: true
                implicitHeight: 1
                color: palette.mid
            }

            RowLayout {
                Layout.fillWidth: true
                Layout.margins: 8
                spacing: 8

                ScrollView {
                    Layout.fillWidth: true
                    Layout.preferredHeight: Math.min(Math.max(input.implicitHeight, 40), 120)

                    TextArea {
                        id: input
                        objectName: "messageInput"
                        placeholderText: window.room.state !== "online"
                            ? qsTr("Type here; messages are kept and sent once connected")
                            : window.talkingWith.length > 0
                              ? qsTr("Message %1 privately — Enter sends, Shift+Enter starts a new line").arg(window.talkingWith)
                            : window.room.mode === "multicast"
                              ? qsTr("Message the group — Enter sends, Shift+Enter starts a new line")
                              : qsTr("Message %1 — Enter sends, Shift+Enter starts a new line").arg(window.room.channel)
                        wrapMode: TextEdit.Wrap
                        textFormat: TextEdit.PlainText
                        Accessible.name: qsTr("Message")
                        // Tab moves on (to Send when there is text, else the next control); it
                        // types no tab character.
                        Keys.onTabPressed: input.nextItemInFocusChain(true).forceActiveFocus(Qt.TabFocusReason)
                        Keys.onBacktabPressed: input.nextItemInFocusChain(false).forceActiveFocus(Qt.BacktabFocusReason)
                        Keys.onReturnPressed: (event) => send(event)
                        Keys.onEnterPressed: (event) => send(event)

                        function send(event) {
                            if (event.modifiers & Qt.ShiftModifier) {
                                event.accepted = false
                                return
                            }
                            window.sendInput()
                        }
                    }
                }

                Button {
                    id: sendButton
                    objectName: "sendButton"
                    text: qsTr("Send")
                    enabled: input.text.trim().length > 0
                    Layout.alignment: Qt.AlignBottom
                    onClicked: window.sendInput()
                }
            }
        }

        MemberList {
            id: memberList
            SplitView.preferredWidth: 190
            SplitView.minimumWidth: 120
            members: window.room.members
            keys: window.room.memberKeys
            away: window.room.awayMembers // qmllint disable type
            relay: window.room.mode !== "multicast"
            privateTalk: window.room.mode !== "multicast" || !window.room.plain
            ownNick: window.room.nick
            onCommand: (text) => window.room.send(text)
            onEditTopic: topicBar.edit()
            onTalkPrivately: (nick) => {
                window.room.openPrivate(nick)
                input.forceActiveFocus()
            }
        }
    }
    }

    footer: ToolBar {
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 8
            spacing: 8

            Rectangle {
                width: 10
                height: 10
                radius: 5
                color: window.room.state === "online" ? "#2e9d4b" : window.room.state === "offline" ? "#9a9a9a" : "#d9a400"
                Accessible.ignored: true
            }
            Item {
                // A lock, closed when the conversation is encrypted, drawn (no icon font needed).
                width: 12
                height: 14
                visible: securityLabel.visible
                Accessible.ignored: true
                Rectangle {
                    x: securityLabel.safe ? 2 : 5
                    y: securityLabel.safe ? 0 : -3
                    width: 8
                    height: 10
                    radius: 4
                    color: "transparent"
                    border.width: 2
                    border.color: securityLabel.color
                }
                Rectangle {
                    y: 6
                    width: 12
                    height: 8
                    radius: 2
                    color: securityLabel.color
                }
            }
            Label {
                // How the conversation travels, where people can see it.
                id: securityLabel
                objectName: "securityLabel"
                readonly property string security: window.room.security
                readonly property bool safe: security === "tls" || security === "sealed"
                visible: security.length > 0
                text: (security === "tls" ? qsTr("Encrypted (TLS)")
                      : security === "sealed" ? qsTr("Encrypted (passphrase)")
                      : qsTr("Not encrypted"))
                color: safe ? window.tones.good : window.tones.warn
                font.bold: true
                ToolTip.visible: securityArea.containsMouse
                ToolTip.text: security === "tls"
                    ? qsTr("The relay's certificate, pinned on first use: %1").arg(window.room.fingerprint)
                    : security === "sealed"
                    ? qsTr("Only those with the group's passphrase can read this conversation. Your key: %1").arg(window.room.fingerprint)
                    : security === "signed"
                    ? qsTr("Anyone on the network can read this conversation. Type a passphrase to encrypt it. Names are signed: someone using a name first seen here with another key is shown as an impostor (your key: %1).").arg(window.room.fingerprint)
                    : qsTr("Anyone on the network can read this conversation")
                MouseArea {
                    id: securityArea
                    anchors.fill: parent
                    hoverEnabled: true
                }
            }
            Label {
                objectName: "unopenedLabel"
                visible: window.room.unopened > 0 && window.room.mode === "multicast" // qmllint disable type
                text: qsTr("%n message(s) could not be opened (wrong passphrase?)", "", window.room.unopened) // qmllint disable type
                color: window.tones.warn
            }
            Label {
                id: statusLine
                objectName: "statusLine"
                Layout.fillWidth: true
                text: window.room.status
                textFormat: Text.PlainText
                elide: Text.ElideRight
            }
            Button {
                objectName: "retryNow"
                visible: window.room.state === "reconnecting" && window.room.mode !== "multicast"
                text: qsTr("Retry now")
                flat: true
                onClicked: window.room.retryNow()
            }
            Label {
                // Why a conference could not start, or that it ended.
                visible: !window.conference.active && window.conference.status.length > 0
                Layout.maximumWidth: window.width / 3
                text: window.conference.status
                textFormat: Text.PlainText
                elide: Text.ElideRight
            }
            PlainComboBox {
                objectName: "languageChooser"
                implicitContentWidthPolicy: ComboBox.WidestText
                textRole: "label"
                valueRole: "id"
                // Each language named in itself.
                model: [
                    { id: "", label: qsTr("System language") },
                    { id: "en", label: "English" },
                    { id: "zh_CN", label: "简体中文" }
                ]
                currentIndex: Math.max(0, indexOfValue(window.room.language)) // qmllint disable type
                Accessible.name: qsTr("Language")
                onActivated: window.room.chooseLanguage(currentValue)
            }
            PlainComboBox {
                objectName: "notifyChooser"
                implicitContentWidthPolicy: ComboBox.WidestText
                textRole: "label"
                valueRole: "id"
                model: [
                    { id: "mentions", label: qsTr("Notify: mentions, private") },
                    { id: "all", label: qsTr("Notify: every message") },
                    { id: "none", label: qsTr("Notify: never") }
                ]
                currentIndex: Math.max(0, indexOfValue(window.room.notify)) // qmllint disable type
                Accessible.name: qsTr("Desktop notifications")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Which messages show a desktop notification while the window is in the background")
                onActivated: window.room.chooseNotify(currentValue)
            }
            Label {
                visible: window.room.state === "online"
                text: qsTr("%n member(s)", "", window.room.members.length)
                rightPadding: 8
            }
            Button {
                objectName: "conferenceButton"
                text: window.conference.active ? qsTr("Leave video conference") : qsTr("Start video conference")
                highlighted: !window.conference.active
                // Leaving the call is red, unlike Disconnect and Leave (the chat).
                palette.button: window.conference.active ? "#c0392b" : window.palette.button
                palette.buttonText: window.conference.active ? "white" : window.palette.buttonText
                onClicked: window.toggleConference()
            }
        }
    }

    function toggleConference() {
        if (window.conference.active) {
            window.conference.leave()
            return
        }
        window.conference.nick = window.room.nick
        window.conference.interface = window.room.interface
        window.conference.ttl = window.room.ttl // qmllint disable type
        // The call is encrypted with the passphrase of the multicast chat, where one is typed.
        window.conference.passphrase = window.room.plain ? "" : window.room.passphrase
        window.conference.start()
        // Room for the tiles above the chat, as far as the screen allows.
        const taller = Math.min(900, Screen.desktopAvailableHeight - 40)
        if (window.conference.active && taller > window.height) {
            window.heightBeforeCall = window.height
            window.height = taller
        }
    }

    function sendInput() {
        if (input.text.trim().length === 0)
            return
        if (window.room.send(input.text)) {
            input.clear()
            chatView.toEnd()
        }
    }
}
