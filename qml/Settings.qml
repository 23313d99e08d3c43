import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The connection bar: the mode (relay server or multicast without a server), who we are,
// where to connect, and connect/disconnect. Ctrl+M switches the mode.
ToolBar {
    id: bar
    required property var room
    contentHeight: controls.implicitHeight
    readonly property bool multicast: room.mode === "multicast"
    readonly property bool offline: room.state === "offline"
    readonly property Tones tones: Tones { dark: bar.palette.window.hslLightness < 0.5 }

    Shortcut {
        sequence: "Ctrl+M"
        onActivated: bar.room.switchMode(bar.multicast ? "unicast" : "multicast")
    }

    Shortcut {
        sequence: "Ctrl+D"
        onActivated: bar.connectOrLeave()
    }

    /// Asked before leaving drops others from the relay this window hosts.
    signal leaveWouldDrop(int others)
    // The search of kept messages is asked for.
    signal searchWanted()

    /// Connect (or join) with what the fields say, or leave: the main button's action.
    function connectOrLeave() {
        const others = bar.room.hostedOthers()
        if (!bar.offline && others > 0) {
            bar.leaveWouldDrop(others)
        } else if (bar.offline) {
            bar.room.nick = nickField.text
            bar.room.server = serverField.text
            bar.room.channel = channelField.text
            bar.room.group = groupField.text
            bar.room.connectToServer()
        } else {
            bar.room.disconnectFromServer()
        }
    }

    // The controls wrap onto a second row in a narrow window, each label with its field.
    Flow {
        id: controls
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.leftMargin: 8
        anchors.rightMargin: 8
        spacing: 6

        ComboBox {
            id: modeBox
            objectName: "modeBox"
            model: [qsTr("Relay server"), qsTr("Multicast (no server)")]
            currentIndex: bar.multicast ? 1 : 0
            width: 170
            Accessible.name: qsTr("Chat mode")
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Ctrl+M switches between the relay server and multicast")
            onActivated: (index) => bar.room.switchMode(index === 1 ? "multicast" : "unicast")
        }
        RowLayout {
            spacing: 6
            Label { text: qsTr("Nickname") }
            TextField {
                id: nickField
                objectName: "nickField"
                // On a relay the nickname changes while connected too (Enter asks the server).
                enabled: bar.offline || !bar.multicast
                text: bar.room.nick
                Layout.preferredWidth: 100
                maximumLength: 30
                selectByMouse: true
                Accessible.name: qsTr("Nickname")
                onEditingFinished: if (bar.offline) bar.room.nick = text
                onAccepted: {
                    if (bar.offline)
                        bar.connectOrLeave()
                    else if (text.trim().length > 0)
                        bar.room.send("/nick " + text.trim())
                }
            }
        }
        RowLayout {
            spacing: 6
            visible: !bar.multicast
            Label { text: qsTr("Server") }
            TextField {
                id: serverField
                objectName: "serverField"
                enabled: bar.offline
                text: bar.room.server
                Layout.preferredWidth: 140
                selectByMouse: true
                Accessible.name: qsTr("Server address")
                onEditingFinished: bar.room.server = text
                onAccepted: if (bar.offline) bar.connectOrLeave()
            }
        }
        RowLayout {
            spacing: 6
            visible: !bar.multicast
            Label { text: qsTr("Room") }
            TextField {
                id: channelField
                objectName: "roomField"
                enabled: bar.offline
                text: bar.room.channel
                Layout.preferredWidth: 90
                selectByMouse: true
                Accessible.name: qsTr("Room")
                onEditingFinished: bar.room.channel = text
                onAccepted: if (bar.offline) bar.connectOrLeave()
            }
        }
        RowLayout {
            spacing: 6
            visible: bar.multicast
            Label { text: qsTr("Group") }
            TextField {
                id: groupField
                objectName: "groupField"
                enabled: bar.offline
                text: bar.room.group
                Layout.preferredWidth: 140
                selectByMouse: true
                Accessible.name: qsTr("Multicast group and port")
                onEditingFinished: bar.room.group = text
            }
        }
        PlainComboBox {
            id: interfaceBox
            objectName: "interfaceBox"
            visible: bar.multicast
            enabled: bar.offline
            model: [qsTr("Default interface")].concat(bar.room.interfaces)
            // Entries read "name address"; the room keeps the address (or nothing: default).
            currentIndex: Math.max(0, bar.room.interfaces.findIndex(
                entry => bar.room.interface.length > 0
                         && (entry === bar.room.interface || entry.endsWith(" " + bar.room.interface))) + 1)
            width: 140
            Accessible.name: qsTr("Network interface")
            onActivated: (index) => {
                bar.room.interface = index === 0 ? "" : currentText
                // Loopback keeps everything on this host: TTL 0 says so.
                if (/ 127\./.test(currentText))
                    bar.room.ttl = 0
            }
        }
        RowLayout {
            spacing: 6
            visible: bar.multicast
            Label { text: qsTr("TTL") }
            SpinBox {
                objectName: "ttlBox"
                enabled: bar.offline
                from: 0
                to: 255
                value: bar.room.ttl // qmllint disable type
                Layout.preferredWidth: 90
                Accessible.name: qsTr("Multicast TTL: 1 stays on the LAN")
                onValueModified: bar.room.ttl = value
            }
        }
        TextField {
            objectName: "passphraseField"
            // On multicast it keys the group chat and the call; with a relay (which has TLS)
            // only the call.
            enabled: !bar.multicast || (bar.offline && !bar.room.plain)
            echoMode: TextInput.Password
            placeholderText: bar.multicast ? qsTr("Passphrase") : qsTr("Call passphrase")
            text: bar.room.passphrase
            width: 130
            Accessible.name: qsTr("Group passphrase: only those who type the same one read the group; empty: not encrypted")
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Only those who type the same passphrase read the group and the call. Empty: not encrypted.")
            onTextEdited: bar.room.passphrase = text
            onAccepted: if (bar.multicast) bar.connectOrLeave()
        }
        CheckBox {
            objectName: "plainBox"
            visible: bar.multicast
            enabled: bar.offline
            text: qsTr("Plain text")
            checked: bar.room.plain
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Send bare text that the old multicast chat tool can read (no repair of lost messages)")
            onToggled: bar.room.plain = checked
        }
        CheckBox {
            objectName: "hostForNetwork"
            visible: !bar.multicast && bar.offline
            text: qsTr("Others may join")
            checked: bar.room.hostForNetwork // qmllint disable type
            ToolTip.visible: hovered
            ToolTip.text: qsTr("When no server answers at this computer's address, this window hosts the room. Checked: others on the network join it, over TLS. Unchecked: only this computer can.")
            onToggled: bar.room.hostForNetwork = checked
        }
        Button {
            objectName: "connectButton"
            text: bar.offline ? (bar.multicast ? qsTr("Join") : qsTr("Connect"))
                              : (bar.multicast ? qsTr("Leave") : qsTr("Disconnect"))
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Ctrl+D")
            onClicked: bar.connectOrLeave()
        }
        Button {
            objectName: "searchButton"
            text: qsTr("Search")
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Search kept messages (Ctrl+F)")
            onClicked: bar.searchWanted()
        }
        Button {
            objectName: "checkNetwork"
            visible: bar.multicast
            text: qsTr("Check network")
            onClicked: {
                bar.room.checkNetwork()
                checkPopup.open()
            }
        }
        // Where others join the room this window hosts, and a way to pass it on.
        RowLayout {
            objectName: "hostingInfo"
            visible: bar.room.hosting
            spacing: 4
            height: modeBox.height
            Label {
                objectName: "joinAtLabel"
                readonly property string joinAt: bar.room.joinAt // qmllint disable type
                text: joinAt.length > 0 ? qsTr("Hosting: others join at %1").arg(joinAt)
                      : bar.room.hostShared ? qsTr("Hosting for the network, but this computer has no network address yet") // qmllint disable type
                      : qsTr("Hosting for this computer only")
                textFormat: Text.PlainText
                color: bar.tones.good
            }
            Button {
                objectName: "copyJoinAt"
                visible: bar.room.joinAt.length > 0 // qmllint disable type
                text: qsTr("Copy")
                flat: true
                Accessible.name: qsTr("Copy the address others join at")
                onClicked: {
                    joinAtCopy.text = bar.room.joinAt.split(", ")[0] // qmllint disable type
                    joinAtCopy.selectAll()
                    joinAtCopy.copy()
                    bar.room.viewShows("copied " + joinAtCopy.text)
                }
            }
        }
    }

    // A hidden editor to put the address on the clipboard.
    TextEdit {
        id: joinAtCopy
        visible: false
    }

    Popup {
        id: checkPopup
        x: bar.width - width - 8
        y: bar.height
        width: 460
        padding: 12
        ColumnLayout {
            anchors.fill: parent
            Label {
                font.bold: true
                text: qsTr("Network check")
            }
            Label {
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                textFormat: Text.PlainText
                text: bar.room.networkCheck
            }
            Button {
                Layout.alignment: Qt.AlignRight
                text: qsTr("Close")
                onClicked: checkPopup.close()
            }
        }
    }
}
