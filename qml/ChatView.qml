import QtQuick
import QtQuick.Controls

// The room's lines: messages with sender and time, our own set apart on the right,
// notices and errors as quiet centred lines. Lines from one sender a moment apart share one
// header. Follows new lines while at the bottom; scrolled up, a button counts what came.
// Right-click a message to copy it, copy a link in it, mention its sender, or send one's own
// again. Click a message, then Shift+click another: the messages between are selected, and
// Ctrl+C (or the menu) copies them as a transcript; Escape clears the selection.
ListView {
    id: list
    required property var room
    property bool follow: true
    property int unseen: 0
    property real lastContentY: 0
    // The messages selected across bubbles: rows from selectFrom to selectTo, or none (-1);
    // selectAnchor is where a Shift+click range starts.
    property int selectAnchor: -1
    property int selectFrom: -1
    property int selectTo: -1
    readonly property int selected: selectFrom < 0 ? 0 : selectTo - selectFrom + 1
    readonly property Tones tones: Tones { dark: list.palette.base.hslLightness < 0.5 }

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
    onCountChanged: if (follow) positionViewAtEnd()
    // Delegates get their heights after the count changes: stay at the end as they grow.
    onContentHeightChanged: if (follow && !atYEnd) positionViewAtEnd()
    onHeightChanged: if (follow && !atYEnd) positionViewAtEnd()

    // Shows the kept message with this number (found by search), framed; false if it is gone.
    function reach(number: real): bool {
        clearSelection()
        const row = room.reachMessage(number)
        if (row < 0)
            return false
        follow = false
        positionViewAtIndex(row, ListView.Center)
        selectAnchor = row
        selectFrom = row
        selectTo = row
        room.viewShows("reached row " + row + " of " + count)
        return true
    }

    function clearSelection() {
        selectAnchor = -1
        selectFrom = -1
        selectTo = -1
    }

    function select(row: int, extend: bool) {
        if (extend && selectAnchor >= 0) {
            selectFrom = Math.min(selectAnchor, row)
            selectTo = Math.max(selectAnchor, row)
            room.viewShows("selected messages " + selectFrom + ".." + selectTo)
            forceActiveFocus()
        } else {
            selectAnchor = row
            selectFrom = -1
            selectTo = -1
        }
    }

    function copySelected() {
        clipboard.put(room.transcript(selectFrom, selectTo))
        room.viewShows("copied " + selected + " messages")
    }

    // With messages selected, the list or a message has the keyboard: Ctrl+C copies them,
    // Escape lets go.
    Keys.onPressed: (event) => list.selectionKey(event)
    function selectionKey(event) {
        if (event.key === Qt.Key_C && (event.modifiers & Qt.ControlModifier) && list.selected > 1) {
            list.copySelected()
            event.accepted = true
        } else if (event.key === Qt.Key_Escape && list.selected > 0) {
            list.clearSelection()
            event.accepted = true
        }
    }

    Connections {
        target: list.room
        // Another conversation, or the chat emptied: the rows selected are gone.
        function onModelReset() {
            list.clearSelection()
        }
        // A new line below (kept lines taken in above are not new).
        function onLineAdded(own) {
            if (own)
                list.toEnd()
            else if (!list.follow)
                list.unseen++
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
        // Our own message, as it is sent again.
        property string again
        PlainMenuItem {
            visible: list.selected > 1
            text: qsTr("Copy %n message(s)", "", list.selected)
            onTriggered: list.copySelected()
        }
        PlainMenuItem {
            text: lineMenu.selected.length > 0 ? qsTr("Copy selection") : qsTr("Copy message")
            onTriggered: clipboard.put(lineMenu.selected.length > 0 ? lineMenu.selected : lineMenu.text)
        }
        PlainMenuItem {
            visible: lineMenu.link.length > 0
            text: qsTr("Copy link")
            onTriggered: clipboard.put(lineMenu.link)
        }
        PlainMenuItem {
            visible: lineMenu.sender.length > 0
            text: qsTr("Mention %1").arg(lineMenu.sender)
            onTriggered: list.mention(lineMenu.sender)
        }
        PlainMenuItem {
            visible: lineMenu.again.length > 0
            text: qsTr("Send again")
            onTriggered: list.room.send(lineMenu.again)
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
        required property int index
        required property bool mention
        readonly property var view: ListView.view
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
            color: line.kind === "error" ? line.view.tones.bad : palette.text
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
                 : line.mention ? Qt.tint(palette.base, dark ? "#38e0a030" : "#38ffc040")
                 : line.kind === "notice" ? Qt.tint(palette.base, dark ? "#40d0a020" : "#30d0a020")
                 : Qt.tint(palette.base, dark ? "#22ffffff" : "#1a000000")
            readonly property bool picked: line.index >= line.view.selectFrom && line.index <= line.view.selectTo
            // Selected: the highlight colour; naming us: an amber frame.
            border.color: picked ? palette.highlight : line.mention ? (dark ? "#e0a030" : "#c07800") : Qt.tint(palette.base, dark ? "#40ffffff" : "#26000000")
            border.width: picked || line.mention ? 2 : 1
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
                Keys.onPressed: (event) => line.view.selectionKey(event)
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
                    lineMenu.again = list.room.typedAgain(line.index)
                    lineMenu.popup()
                }
            }
            // On top of the text, so that it sees clicks the text takes too: a click marks
            // where a selection of messages starts, Shift+click selects up to it.
            Item {
                anchors.fill: parent
                // Only watches (a link under the click still opens).
                PointHandler {
                    acceptedButtons: Qt.LeftButton
                    acceptedModifiers: Qt.NoModifier
                    onActiveChanged: if (active) line.view.select(line.index, false)
                }
                TapHandler {
                    acceptedButtons: Qt.LeftButton
                    acceptedModifiers: Qt.ShiftModifier
                    gesturePolicy: TapHandler.DragThreshold
                    onTapped: {
                        body.deselect()
                        line.view.select(line.index, true)
                    }
                }
            }
        }
    }
}
