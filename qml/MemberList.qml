import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Who is in the room; operators first, marked with @. Our own name is shown in bold.
Pane {
    id: pane
    property var members: []
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
            Accessible.name: qsTr("Members")
            ScrollBar.vertical: ScrollBar { }
            delegate: PlainItemDelegate {
                required property string modelData
                readonly property var list: ListView.view
                readonly property string name: modelData.replace(/^[@+]/, "")
                width: ListView.view.width
                text: (modelData.startsWith("@") ? "@ " : "") + name
                font.bold: name === list.ownNick
            }
        }
    }
}
