import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.lanmeet

// The video conference: a grid of tiles (self-view first) and the call's controls.
Pane {
    id: view

    required property ConferenceRoom conference

    padding: 6

    /// Device ids and their names as chooser items, with the special ids named in the user's
    /// language.
    function soundChoices(ids, names) {
        const special = { "default": qsTr("System default"), "test": qsTr("Test voice"), "null": qsTr("No speaker") }
        return ids.map((id, i) => ({ id: id, label: special[id] !== undefined ? special[id] : names[i] }))
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        GridLayout {
            id: grid
            Layout.fillWidth: true
            Layout.fillHeight: true
            columns: Math.max(1, Math.ceil(Math.sqrt(tiles.count)))
            rowSpacing: 6
            columnSpacing: 6

            Repeater {
                id: tiles
                model: view.conference

                VideoTileView {
                    // The delegate's scope reaches the view's id: qmllint of Qt 6.4 cannot tell
                    // (it would need `pragma ComponentBehavior: Bound`, which came in 6.5).
                    room: view.conference // qmllint disable unqualified
                    onVolumeMoved: (percent) => view.conference.setVolume(key, percent)
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    Layout.minimumWidth: 120
                    Layout.minimumHeight: 90
                }
            }
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: 8

            Label {
                text: qsTr("Microphone")
            }
            PlainComboBox {
                id: micBox
                objectName: "micChooser"
                Layout.preferredWidth: 170
                textRole: "label"
                valueRole: "id"
                model: view.soundChoices(view.conference.mics, view.conference.micNames)
                Component.onCompleted: currentIndex = Math.max(0, indexOfValue(view.conference.mic))
                onActivated: view.conference.chooseSound(currentValue, view.conference.speaker)
            }
            Label {
                text: qsTr("Speaker")
            }
            PlainComboBox {
                id: speakerBox
                objectName: "speakerChooser"
                Layout.preferredWidth: 170
                textRole: "label"
                valueRole: "id"
                model: view.soundChoices(view.conference.speakers, view.conference.speakerNames)
                Component.onCompleted: currentIndex = Math.max(0, indexOfValue(view.conference.speaker))
                onActivated: view.conference.chooseSound(view.conference.mic, currentValue)
            }
            Button {
                objectName: "muteButton"
                checkable: true
                checked: view.conference.muted
                text: view.conference.muted ? qsTr("Unmute") : qsTr("Mute")
                enabled: !pushToTalk.checked
                onToggled: view.conference.setMicMuted(checked)
            }
            CheckBox {
                id: pushToTalk
                text: qsTr("Push to talk")
                onToggled: view.conference.setMicMuted(checked)
            }
            Button {
                visible: pushToTalk.checked
                text: qsTr("Hold to talk")
                onPressedChanged: view.conference.setMicMuted(!pressed)
            }

            Item {
                Layout.fillWidth: true
            }
            Label {
                objectName: "callSecurity"
                text: view.conference.encrypted ? qsTr("Call encrypted (passphrase)") : qsTr("Call not encrypted")
                color: view.conference.encrypted ? "#2e7d32" : "#b35c00"
                font.bold: true
                ToolTip.visible: callSecurityArea.containsMouse
                ToolTip.text: view.conference.encrypted
                    ? qsTr("Only those with the passphrase see and hear the call")
                    : qsTr("Anyone on the network can watch and hear the call; type a passphrase beside the group to encrypt it")
                MouseArea {
                    id: callSecurityArea
                    anchors.fill: parent
                    hoverEnabled: true
                }
            }
            Label {
                visible: view.conference.unopened > 0 // qmllint disable type
                text: qsTr("%n packet(s) could not be opened (wrong passphrase?)", "", view.conference.unopened) // qmllint disable type
                color: "#b35c00"
            }
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: 8

            Label {
                text: qsTr("Camera")
            }
            PlainComboBox {
                id: cameraBox
                objectName: "cameraChooser"
                Layout.preferredWidth: 220
                textRole: "label"
                valueRole: "id"
                model: {
                    const names = view.conference.cameraNames
                    const items = view.conference.cameras.map((id, i) => ({ id: id, label: id === "test" ? qsTr("Test pattern") : names[i] + " (" + id + ")" }))
                    items.push({ id: "off", label: qsTr("Camera off") })
                    return items
                }
                Component.onCompleted: currentIndex = Math.max(0, indexOfValue(view.conference.camera))
                onActivated: view.conference.chooseCamera(currentValue)
                onPressedChanged: if (pressed) view.conference.refreshCameras()
            }

            Label {
                text: qsTr("Size")
            }
            ComboBox {
                id: sizeBox
                model: ["640x480", "1280x720", "320x240"]
                Component.onCompleted: currentIndex = Math.max(0, find(view.conference.size))
                onActivated: view.conference.chooseSize(currentText)
            }

            Label {
                objectName: "conferenceStatus"
                Layout.fillWidth: true
                text: view.conference.audioStatus.length > 0 ? view.conference.audioStatus : view.conference.status
                textFormat: Text.PlainText
                elide: Text.ElideRight
            }

            Button {
                objectName: "leaveConference"
                text: qsTr("Leave")
                icon.name: "call-stop"
                onClicked: view.conference.leave()
            }
        }
    }
}
