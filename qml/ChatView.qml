import QtQuick
import QtQuick.Controls

// The room's lines: messages with sender and time, our own set apart on the right,
// notices and errors as quiet centred lines. Lines from one sender a moment apart share one
// header. Follows new lines while at the bottom; scrolled up, a button counts what came.
// Right-click a message to copy it, copy a link in it, or mention its sender.
ListView {
    id: list
    required property var room
    property bool follow: true
    property int unseen: 0
    property real lastContentY: 0

    // Asks the input box to start a message to this nick.
    signal mention(string nick)

    model: room
    clip: true
    spacing: 4
    topMargin: 8
    bottomMargin: 8
    boundsBehavior: Flickable.StopAtBounds
    ScrollBar.vertical: ScrollBar {
        onPressedChanged: if (!pressed) list.follow = list.atYEnd
    }
    Accessible.name: qsTr("Chat")

    function toEnd() {
        follow = true
        unseen = 0
        positionViewAtEnd()
    }

    onUnseenChanged: if (unseen > 0) room.viewShows("new messages button: " + unseen)
    onMovementEnded: follow = atYEnd
    // Moved up (wheel, scroll bar, keys, drag): stop following. Nothing else moves the view
    // up, since lines are only ever added below.
    onContentYChanged: {
        if (contentHeight > height && contentY < lastContentY - 1 && !atYEnd)
            follow = false
        lastContentY = contentY
    }
    onAtYEndChanged: if (atYEnd) { follow = true; unseen = 0 }
    onCountChanged: {
        if (follow)
            positionViewAtEnd()
        else
            unseen++
    }
    // Delegates get their heights after the count changes: stay at the end as they grow.
    onContentHeightChanged: if (follow && !atYEnd) positionViewAtEnd()
    onHeightChanged: if (follow && !atYEnd) positionViewAtEnd()

    Connections {
        target: list.room
        function onLineAdded(own) {
            if (own)
                list.toEnd()
        }
    }

    Button {
        id: newLines
        objectName: "newLines"
        visible: list.unseen > 0
        anchors.horizontalCenter: parent.horizontalCenter
        anchors.bottom: parent.bottom
        anchors.bottomMargin: 10
        text: qsTr("↓ %n new message(s)", "", list.unseen)
        onClicked: list.toEnd()
    }

    // One hidden editor to put whole messages on the clipboard.
    TextEdit {
        id: clipboard
        visible: false
        textFormat: TextEdit.PlainText
        function put(text) {
            clipboard.text = text
            clipboard.selectAll()
            clipboard.copy()
        }
    }

    Menu {
        id: lineMenu
        property string text
        property string selected
        property string link
        property string sender
        PlainMenuItem {
            text: lineMenu.selected.length > 0 ? qsTr("Copy selection") : qsTr("Copy message")
            onTriggered: clipboard.put(lineMenu.selected.length > 0 ? lineMenu.selected : lineMenu.text)
        }
        PlainMenuItem {
            visible: lineMenu.link.length > 0
            height: visible ? implicitHeight : 0
            text: qsTr("Copy link")
            onTriggered: clipboard.put(lineMenu.link)
        }
        PlainMenuItem {
            visible: lineMenu.sender.length > 0
            height: visible ? implicitHeight : 0
            text: qsTr("Mention %1").arg(lineMenu.sender)
            onTriggered: list.mention(lineMenu.sender)
        }
    }

    delegate: Item {
        id: line
        required property string kind
        required property string sender
        required property string text
        required property string rich
        required property string time
        required property bool pending
        required property bool continues
        readonly property bool own: kind === "own"
        readonly property bool chat: kind === "message" || kind === "own" || kind === "action" || kind === "notice"

        width: ListView.view.width
        height: chat ? bubble.height : notice.height

        Label {
            id: notice
            visible: !line.chat
            width: parent.width - 32
            x: 16
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            textFormat: Text.PlainText
            text: line.time + "  " + line.text
            color: line.kind === "error" ? (palette.base.hslLightness < 0.5 ? "#ff8a80" : "#b0281a") : palette.text
            opacity: line.kind === "error" ? 1.0 : 0.75
            font.pixelSize: 12
        }

        Rectangle {
            id: bubble
            visible: line.chat
            readonly property real maxWidth: line.width * 0.75
            readonly property bool dark: palette.base.hslLightness < 0.5
            width: Math.min(maxWidth, Math.max(head.visible ? head.implicitWidth : 0, body.implicitWidth) + 20)
            height: (head.visible ? head.height + 2 : 0) + body.height + (line.continues ? 8 : 14)
            x: line.own ? line.width - width - 12 : 12
            radius: 8
            // Tints of the palette's base: the palette's text on them keeps its contrast, in a
            // light and in a dark scheme.
            color: line.own ? Qt.tint(palette.base, dark ? "#402f7fd0" : "#302f7fd0")
                 : line.kind === "notice" ? Qt.tint(palette.base, dark ? "#40d0a020" : "#30d0a020")
                 : Qt.tint(palette.base, dark ? "#22ffffff" : "#1a000000")
            border.color: Qt.tint(palette.base, dark ? "#40ffffff" : "#26000000")
            opacity: line.pending ? 0.6 : 1.0

            Label {
                id: head
                visible: !line.continues
                x: 10
                y: 6
                width: bubble.width - 20
                textFormat: Text.PlainText
                elide: Text.ElideRight
                color: palette.text
                font.bold: true
                font.pixelSize: 12
                text: (line.own ? qsTr("You") : line.sender) + "   " + (line.pending ? qsTr("sending…") : line.time)
            }
            TextEdit {
                id: body
                x: 10
                y: head.visible ? head.y + head.height + 2 : 4
                width: Math.min(implicitWidth, bubble.maxWidth - 20)
                readOnly: true
                selectByMouse: true
                wrapMode: TextEdit.Wrap
                textFormat: TextEdit.RichText
                color: palette.text
                selectionColor: palette.highlight
                selectedTextColor: palette.highlightedText
                font.italic: line.kind === "action"
                text: line.rich

                onLinkActivated: (link) => {
                    list.room.linkOpened(link)
                    Qt.openUrlExternally(link)
                }

                HoverHandler {
                    cursorShape: body.hoveredLink.length > 0 ? Qt.PointingHandCursor : Qt.IBeamCursor
                }
            }
            TapHandler {
                acceptedButtons: Qt.RightButton
                onTapped: (point) => {
                    const at = body.mapFromItem(bubble, point.position.x, point.position.y)
                    lineMenu.text = line.kind === "action" ? line.sender + " " + line.text : line.text
                    lineMenu.selected = body.selectedText
                    lineMenu.link = body.linkAt(at.x, at.y)
                    lineMenu.sender = line.own ? "" : line.sender
                    lineMenu.popup()
                }
            }
        }
    }
}
