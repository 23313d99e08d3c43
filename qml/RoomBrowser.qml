import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The relay's rooms, the fullest first, with their topics: pick one (double-click, or Enter)
// to go there, or name a new one to create it. Typing /list opens it too.
Dialog {
    id: browser
    required property var room
    readonly property var rooms: room.rooms // qmllint disable type

    objectName: "roomBrowser"
    modal: true
    focus: true
    title: qsTr("Rooms on %1").arg(room.server)

    // Asks the relay for its rooms and shows them as they come.
    function ask() {
        room.send("/list")
        open()
    }

    function go(name: string) {
        let target = name.trim()
        if (target.length === 0)
            return
        if (!target.startsWith("#"))
            target = "#" + target
        browser.room.send("/join " + target)
        close()
    }

    onOpened: {
        browser.room.viewShows("room browser opened")
        newRoom.forceActiveFocus()
    }
    onRoomsChanged: {
        if (rooms.length === 0)
            return
        browser.room.viewShows("room browser: " + rooms.length + " rooms")
        // A /list typed in the chat shows here.
        if (!browser.opened)
            open()
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        Label {
            visible: list.count === 0
            text: qsTr("No rooms listed yet")
            color: palette.placeholderText
        }

        ListView {
            id: list
            objectName: "roomList"
            Layout.fillWidth: true
            Layout.preferredHeight: Math.min(contentHeight, 260)
            Layout.minimumWidth: 360
            visible: count > 0
            clip: true
            model: browser.rooms
            activeFocusOnTab: true
            keyNavigationEnabled: true
            Accessible.name: qsTr("Rooms")
            ScrollBar.vertical: ScrollBar { }
            Keys.onReturnPressed: if (currentIndex >= 0) browser.go(browser.rooms[currentIndex].split("\t")[0])
            Keys.onEnterPressed: if (currentIndex >= 0) browser.go(browser.rooms[currentIndex].split("\t")[0])

            function pick(name: string) {
                browser.go(name)
            }

            delegate: ItemDelegate {
                id: entry
                required property string modelData
                required property int index
                readonly property var view: ListView.view
                readonly property var parts: modelData.split("\t")
                objectName: "roomRow"
                width: ListView.view.width
                highlighted: ListView.isCurrentItem
                Accessible.name: parts[0] + ", " + qsTr("%n member(s)", "", Number(parts[1])) + (parts[2].length > 0 ? ", " + parts[2] : "")
                contentItem: Column {
                    spacing: 2
                    Label {
                        width: parent.width
                        textFormat: Text.PlainText
                        elide: Text.ElideRight
                        font.bold: true
                        text: entry.parts[0] + "  ·  " + qsTr("%n member(s)", "", Number(entry.parts[1]))
                    }
                    Label {
                        width: parent.width
                        visible: entry.parts[2].length > 0
                        textFormat: Text.PlainText
                        elide: Text.ElideRight
                        color: palette.placeholderText
                        text: entry.parts[2]
                    }
                }
                onDoubleClicked: entry.view.pick(entry.parts[0])
                onClicked: entry.view.currentIndex = entry.index
            }
        }

        RowLayout {
            spacing: 6
            TextField {
                id: newRoom
                objectName: "newRoomField"
                Layout.fillWidth: true
                placeholderText: qsTr("New room, e.g. #study")
                Accessible.name: qsTr("Name of a room to create or join")
                onAccepted: browser.go(text)
            }
            Button {
                objectName: "createRoom"
                text: qsTr("Create and join")
                enabled: newRoom.text.trim().length > 0
                onClicked: browser.go(newRoom.text)
            }
        }
    }

    footer: RowLayout {
        spacing: 8
        Button {
            text: qsTr("Refresh")
            Layout.leftMargin: 12
            Layout.bottomMargin: 12
            onClicked: browser.room.send("/list")
        }
        Item { Layout.fillWidth: true }
        Button {
            objectName: "joinRoom"
            text: qsTr("Join")
            enabled: list.currentIndex >= 0 && list.count > 0
            Layout.bottomMargin: 12
            onClicked: browser.go(browser.rooms[list.currentIndex].split("\t")[0])
        }
        Button {
            text: qsTr("Close")
            Layout.rightMargin: 12
            Layout.bottomMargin: 12
            onClicked: browser.close()
        }
    }
}
