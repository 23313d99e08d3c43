import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Who is in the room; operators first, marked with @, voiced members with +. Our own name is
// shown in bold, members who are away greyed. On multicast each name has its key's fingerprint
// beneath, for two people to compare; an impostor (a name pinned to another key) is shown in
// red. On a relay, a double-click (or Enter) on a name opens a private conversation with it, and
// right-click (or the Menu key) offers what we may do to it: an operator gives voice, makes
// operators, kicks and bans.
Pane {
    id: pane
    property var members: []
    property var keys: []
    property var away: []
    property string ownNick: ""
    /// Whether names offer the relay's actions.
    property bool relay: false
    /// Whether a member can be talked to privately (not in a plain-text group).
    property bool privateTalk: relay
    readonly property bool operator: members.indexOf("@" + ownNick) >= 0 || members.indexOf("@+" + ownNick) >= 0
    /// A typed command to carry out ("/kick bob").
    signal command(string text)
    /// The operator asked to change the room's topic.
    signal editTopic()
    /// A private conversation with this member is asked for.
    signal talkPrivately(string nick)
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
            id: memberView
            objectName: "memberList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: pane.members
            // Tab reaches the list (its current name takes the keys); Up and Down choose a
            // name, the Menu key (or Shift+F10) opens its actions.
            activeFocusOnTab: true
            currentIndex: 0
            readonly property string ownNick: pane.ownNick
            readonly property var keys: pane.keys
            readonly property var away: pane.away
            readonly property bool relay: pane.relay
            readonly property bool privateTalk: pane.privateTalk
            readonly property Tones tones: Tones { dark: memberView.palette.base.hslLightness < 0.5 }
            function talk(name) {
                pane.talkPrivately(name)
            }
            function openMenu(item, name, voiced, op) {
                actions.name = name
                actions.voiced = voiced
                actions.op = op
                actions.popup(item, item.width / 3, item.height / 2)
            }

            // What we may do to a member: one menu for the list, filled in for the name.
            Menu {
                id: actions
                objectName: "memberMenu"
                property string name: ""
                property bool voiced: false
                property bool op: false
                PlainMenuItem {
                    text: qsTr("Talk privately")
                    onTriggered: pane.talkPrivately(actions.name)
                }
                PlainMenuItem {
                    text: qsTr("Who is %1?").arg(actions.name)
                    onTriggered: pane.command("/whois " + actions.name)
                }
                PlainMenuItem {
                    visible: pane.operator
                    text: actions.voiced ? qsTr("Take voice") : qsTr("Give voice")
                    onTriggered: pane.command((actions.voiced ? "/devoice " : "/voice ") + actions.name)
                }
                PlainMenuItem {
                    visible: pane.operator
                    text: actions.op ? qsTr("Remove operator status") : qsTr("Make operator")
                    onTriggered: pane.command((actions.op ? "/deop " : "/op ") + actions.name)
                }
                PlainMenuItem {
                    visible: pane.operator
                    text: qsTr("Kick %1 out of the room").arg(actions.name)
                    onTriggered: pane.command("/kick " + actions.name)
                }
                PlainMenuItem {
                    visible: pane.operator
                    text: qsTr("Set the room's topic…")
                    onTriggered: pane.editTopic()
                }
                PlainMenuItem {
                    visible: pane.operator
                    text: qsTr("Ban %1").arg(actions.name)
                    onTriggered: {
                        pane.command("/ban " + actions.name)
                        pane.command("/kick " + actions.name + " " + qsTr("banned"))
                    }
                }
            }
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
                readonly property bool isAway: list.away.indexOf(name) >= 0
                readonly property bool voiced: /^@?\+/.test(modelData)
                readonly property bool op: modelData.startsWith("@")
                width: ListView.view.width
                objectName: "memberRow"
                highlighted: ListView.isCurrentItem && list.activeFocus
                text: (op ? "@ " : voiced ? "+ " : "") + name
                      + (isAway ? "  " + qsTr("(away)") : "")
                      + (key.length > 0 ? "\n" + key.replace(/^!/, "") : "")
                font.bold: name === list.ownNick
                opacity: isAway ? 0.55 : 1.0
                palette.text: impostor ? list.tones.bad : list.palette.text
                Accessible.name: name + (op ? " " + qsTr("operator") : voiced ? " " + qsTr("voiced") : "") + (isAway ? " " + qsTr("away") : "")

                function openMenu() {
                    if (list.relay && name !== list.ownNick)
                        list.openMenu(row, name, voiced, op)
                }
                TapHandler {
                    acceptedButtons: Qt.RightButton
                    onTapped: row.openMenu()
                }
                TapHandler {
                    onDoubleTapped: if (row.list.privateTalk && row.name !== row.list.ownNick) row.list.talk(row.name)
                }
                Keys.onReturnPressed: if (row.list.privateTalk && row.name !== row.list.ownNick) row.list.talk(row.name)
                Keys.onPressed: (event) => {
                    if (event.key === Qt.Key_Menu || (event.key === Qt.Key_F10 && (event.modifiers & Qt.ShiftModifier))) {
                        row.openMenu()
                        event.accepted = true
                    }
                }
            }
        }
    }
}
