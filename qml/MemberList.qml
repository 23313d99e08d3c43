import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Who is in the room; operators first, marked with @, voiced members with +. Our own name is shown in bold. On
// multicast each name has its key's fingerprint beneath, for two people to compare; an
// impostor (a name pinned to another key) is shown in red.
Pane {
    id: pane
    property var members: []
    property var keys: []
    property string ownNick: ""
    padding: 0

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        Label {
            Layout.fillWidth: true
            padding: 8
            font.bold: true
            text: qsTr("Members (%1)").arg(pane.members.length)
        }

        ListView {
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: pane.members
            readonly property string ownNick: pane.ownNick
            readonly property var keys: pane.keys
            Accessible.name: qsTr("Members")
            ScrollBar.vertical: ScrollBar { }
            delegate: PlainItemDelegate {
                id: row
                required property string modelData
                required property int index
                readonly property var list: ListView.view
                readonly property string name: modelData.replace(/^[@+%~&]+/, "")
                readonly property string key: list.keys[index] ?? ""
                readonly property bool impostor: key.startsWith("!")
                width: ListView.view.width
                text: (modelData.startsWith("@") ? "@ " : modelData.startsWith("+") ? "+ " : "") + name
                      + (key.length > 0 ? "\n" + key.replace(/^!/, "") : "")
                font.bold: name === list.ownNick
                palette.text: impostor ? "#c62828" : list.palette.text
                ToolTip.visible: hovered && key.length > 0
                ToolTip.text: impostor ? qsTr("Not the key this name was first seen with: someone else is using it")
                                       : qsTr("Key fingerprint: compare it with the person's own")
            }
        }
    }
}
