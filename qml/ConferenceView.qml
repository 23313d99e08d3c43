import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.lanmeet

// The video conference: a grid of tiles (self-view first) and the call's controls.
Pane {
    id: view

    required property ConferenceRoom conference

    padding: 6

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
                text: qsTr("Camera")
            }
            ComboBox {
                id: cameraBox
                objectName: "cameraChooser"
                Layout.preferredWidth: 220
                textRole: "label"
                valueRole: "id"
                model: {
                    const items = view.conference.cameras.map(line => {
                        const parts = line.split("\t")
                        return { id: parts[0], label: parts[0] === "test" ? qsTr("Test pattern") : parts[1] + " (" + parts[0] + ")" }
                    })
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
                text: view.conference.status
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
