import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The connection bar: who we are, which relay, which room, and connect/disconnect.
ToolBar {
    id: bar
    required property var room

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 8
        anchors.rightMargin: 8
        spacing: 6

        Label { text: qsTr("Nickname") }
        TextField {
            id: nickField
            enabled: bar.room.state === "offline"
            text: bar.room.nick
            Layout.preferredWidth: 120
            maximumLength: 30
            selectByMouse: true
            Accessible.name: qsTr("Nickname")
            onEditingFinished: bar.room.nick = text
        }
        Label { text: qsTr("Server") }
        TextField {
            id: serverField
            enabled: bar.room.state === "offline"
            text: bar.room.server
            Layout.preferredWidth: 150
            selectByMouse: true
            Accessible.name: qsTr("Server address")
            onEditingFinished: bar.room.server = text
        }
        Label { text: qsTr("Room") }
        TextField {
            id: channelField
            enabled: bar.room.state === "offline"
            text: bar.room.channel
            Layout.preferredWidth: 100
            selectByMouse: true
            Accessible.name: qsTr("Room")
            onEditingFinished: bar.room.channel = text
        }
        Button {
            readonly property bool offline: bar.room.state === "offline"
            text: offline ? qsTr("Connect") : qsTr("Disconnect")
            onClicked: {
                if (offline) {
                    bar.room.nick = nickField.text
                    bar.room.server = serverField.text
                    bar.room.channel = channelField.text
                    bar.room.connectToServer()
                } else {
                    bar.room.disconnectFromServer()
                }
            }
        }
        Item { Layout.fillWidth: true }
        Label {
            visible: bar.room.hosting
            text: qsTr("Hosting the relay")
            color: "#2e7d32"
        }
    }
}
