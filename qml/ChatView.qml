import QtQuick
import QtQuick.Controls

// The room's lines: messages with sender and time, our own set apart on the right,
// notices and errors as quiet centred lines. Follows new lines unless scrolled up.
ListView {
    id: list
    required property var room
    property bool follow: true

    model: room
    clip: true
    spacing: 4
    topMargin: 8
    bottomMargin: 8
    boundsBehavior: Flickable.StopAtBounds
    ScrollBar.vertical: ScrollBar { }
    Accessible.name: qsTr("Chat")

    onMovementEnded: follow = atYEnd
    onCountChanged: if (follow) positionViewAtEnd()
    onHeightChanged: if (follow) positionViewAtEnd()

    Connections {
        target: list.room
        function onLineAdded(own) {
            if (own)
                list.follow = true
        }
    }

    delegate: Item {
        id: line
        required property string kind
        required property string sender
        required property string text
        required property string time
        required property bool pending
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
            color: line.kind === "error" ? "#c0392b" : palette.placeholderText
            font.pixelSize: 12
        }

        Rectangle {
            id: bubble
            visible: line.chat
            readonly property real maxWidth: line.width * 0.75
            width: Math.min(maxWidth, Math.max(head.implicitWidth, body.implicitWidth) + 20)
            height: head.height + body.height + 14
            x: line.own ? line.width - width - 12 : 12
            radius: 8
            color: line.own ? "#d7ebff" : line.kind === "notice" ? "#f4eedc" : "#eeeeee"
            opacity: line.pending ? 0.6 : 1.0

            Label {
                id: head
                x: 10
                y: 6
                width: bubble.width - 20
                textFormat: Text.PlainText
                elide: Text.ElideRight
                color: "#555555"
                font.bold: true
                font.pixelSize: 12
                text: (line.own ? qsTr("You") : line.sender) + "   " + (line.pending ? qsTr("sending…") : line.time)
            }
            TextEdit {
                id: body
                x: 10
                anchors.top: head.bottom
                anchors.topMargin: 2
                width: Math.min(implicitWidth, bubble.maxWidth - 20)
                readOnly: true
                selectByMouse: true
                wrapMode: TextEdit.Wrap
                textFormat: TextEdit.PlainText
                color: "#111111"
                font.italic: line.kind === "action"
                text: line.kind === "action" ? line.sender + " " + line.text : line.text
            }
        }
    }
}
