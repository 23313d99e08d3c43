import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The conversations: the room (or group) first, then the other rooms we are in and private
// conversations, each with how many messages came unread. A click (or Enter) shows one; ×
// closes a private one, or leaves a room; its messages stay kept and come back when it is
// opened again.
Pane {
    id: pane
    required property var room
    padding: 0

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        Label {
            Layout.fillWidth: true
            padding: 8
            font.bold: true
            text: qsTr("Conversations")
        }

        ListView {
            id: list
            objectName: "conversationList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            readonly property var room: pane.room
            model: pane.room.conversations // qmllint disable type
            currentIndex: pane.room.currentConversation // qmllint disable type
            activeFocusOnTab: true
            keyNavigationEnabled: true
            Accessible.name: qsTr("Conversations")
            Keys.onReturnPressed: room.showConversation(currentIndex)
            Keys.onEnterPressed: room.showConversation(currentIndex)
            ScrollBar.vertical: ScrollBar { }

            delegate: PlainItemDelegate {
                id: row
                required property string modelData
                required property int index
                readonly property var view: ListView.view
                readonly property string peer: modelData.split("\t")[0]
                readonly property int unread: Number(modelData.split("\t")[1])
                readonly property bool isRoom: peer.length === 0 || peer.startsWith("#")
                readonly property string title: peer.length > 0 ? peer
                                              : view.room.mode === "multicast" ? qsTr("Group %1").arg(view.room.group)
                                              : view.room.channel
                objectName: "conversationRow"
                width: ListView.view.width
                rightPadding: closeButton.visible ? closeButton.width + 4 : 8
                highlighted: index === view.room.currentConversation
                font.bold: unread > 0
                text: (isRoom ? "# " : "✉ ") + title.replace(/^#/, "") + (unread > 0 ? "  (" + unread + ")" : "")
                Accessible.name: title + (unread > 0 ? ", " + qsTr("%n unread", "", unread) : "")
                onClicked: view.room.showConversation(index)

                ToolButton {
                    id: closeButton
                    visible: row.index > 0
                    anchors.right: parent.right
                    anchors.verticalCenter: parent.verticalCenter
                    text: "×"
                    focusPolicy: Qt.NoFocus
                    Accessible.name: row.isRoom ? qsTr("Leave %1").arg(row.peer) : qsTr("Close the conversation with %1").arg(row.peer)
                    ToolTip.visible: hovered
                    ToolTip.text: row.isRoom ? qsTr("Leave the room; its messages stay kept") : qsTr("Close; its messages stay kept")
                    onClicked: row.view.room.closeConversation(row.index)
                }
            }
        }
    }
}
