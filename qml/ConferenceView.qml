import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.lanmeet

// The video conference: a grid of tiles (self-view first) and the call's controls.
Pane {
    id: view

    required property ConferenceRoom conference

    /// Where the tiles are, in window coordinates: "grid N [x,y,w,h]..." or "spotlight N ...".
    signal laidOut(string places)

    padding: 6

    readonly property Tones tones: Tones { dark: view.palette.window.hslLightness < 0.5 }

    Shortcut {
        sequence: "Ctrl+Shift+M"
        enabled: view.visible
        onActivated: view.conference.setMicMuted(!view.conference.muted)
    }
    // The camera off and on again: the last one used, else a real camera, else the test
    // pattern (listed first).
    property string lastCamera: ""
    readonly property string cameraInUse: view.conference.camera
    onCameraInUseChanged: if (view.cameraInUse !== "off") view.lastCamera = view.cameraInUse
    Component.onCompleted: if (view.cameraInUse !== "off") view.lastCamera = view.cameraInUse
    Shortcut {
        sequence: "Ctrl+Shift+O"
        enabled: view.visible
        onActivated: {
            const cameras = view.conference.cameras
            const back = view.lastCamera.length > 0 ? view.lastCamera : (cameras[1] ?? cameras[0] ?? "test")
            view.conference.chooseCamera(view.conference.camera === "off" ? back : "off")
            cameraBox.currentIndex = Math.max(0, cameraBox.indexOfValue(view.conference.camera))
        }
    }
    // Push to talk: while muted, hold Ctrl+Space to be heard. The keys' release comes to the
    // catcher, which holds the keyboard while they are down and gives it back after.
    Shortcut {
        sequence: "Ctrl+Space"
        enabled: view.visible && view.conference.muted
        autoRepeat: false
        onActivated: talkCatcher.hold()
    }
    Item {
        id: talkCatcher
        property Item before: null
        property bool talking: false
        function hold() {
            talkCatcher.before = view.Window.activeFocusItem
            talkCatcher.forceActiveFocus()
            // Without the keyboard (a dialog holds it) the release would never come here.
            if (!talkCatcher.activeFocus)
                return
            talkCatcher.talking = true
            view.conference.setMicMuted(false)
        }
        function release() {
            if (!talkCatcher.talking)
                return
            talkCatcher.talking = false
            view.conference.setMicMuted(true)
            if (talkCatcher.before !== null)
                talkCatcher.before.forceActiveFocus()
        }
        Keys.onPressed: (event) => { event.accepted = true }
        Keys.onReleased: (event) => {
            event.accepted = true
            if (!event.isAutoRepeat && (event.key === Qt.Key_Space || event.key === Qt.Key_Control))
                talkCatcher.release()
        }
        // The window lost the keyboard with the keys down: the release never comes.
        onActiveFocusChanged: if (!activeFocus) talkCatcher.release()
    }

    /// Device ids and their names as chooser items, with the special ids named in the user's
    /// language.
    function soundChoices(ids, names) {
        const special = { "default": qsTr("System default"), "test": qsTr("Test voice"), "null": qsTr("No speaker") }
        return ids.map((id, i) => ({ id: id, label: special[id] !== undefined ? special[id] : names[i] }))
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        // The tiles, as large as the space allows at the pictures' aspect ratio, the last row
        // centred. Double-click a tile to enlarge it above the others; again (or Escape) to
        // go back to the grid.
        Item {
            id: stage
            objectName: "stage"
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.minimumHeight: 90

            /// The key of the enlarged tile, or empty.
            property string spotlight: ""
            readonly property int gap: 6
            readonly property real aspect: {
                const parts = view.conference.size.split("x")
                return parts.length === 2 && Number(parts[1]) > 0 ? Number(parts[0]) / Number(parts[1]) : 4 / 3
            }
            readonly property var places: stage.arrange(tiles.count, stage.width, stage.height, stage.spotlight, stage.aspect)

            Keys.onEscapePressed: stage.spotlight = ""

            Timer {
                id: spotlightCheck
                interval: 0
                onTriggered: {
                    let present = false
                    for (let i = 0; i < tiles.count; i++)
                        present = present || (tiles.itemAt(i) as VideoTileView)?.key === stage.spotlight
                    if (!present)
                        stage.spotlight = ""
                }
            }

            /// `count` tiles in the box (x, y, w, h): the column count that makes them largest,
            /// the block centred and its last row too.
            function grid(count: int, x: real, y: real, w: real, h: real): var {
                let best = { columns: 1, width: 0 }
                for (let columns = 1; columns <= count; columns++) {
                    const rows = Math.ceil(count / columns)
                    const width = Math.min((w - (columns - 1) * gap) / columns, ((h - (rows - 1) * gap) / rows) * aspect)
                    if (width > best.width)
                        best = { columns: columns, width: width }
                }
                const tileW = Math.floor(Math.max(best.width, 1))
                const tileH = Math.floor(tileW / aspect)
                const rows = Math.ceil(count / best.columns)
                const top = y + (h - rows * tileH - (rows - 1) * gap) / 2
                const out = []
                for (let i = 0; i < count; i++) {
                    const row = Math.floor(i / best.columns)
                    const inRow = row === rows - 1 ? count - row * best.columns : best.columns
                    const left = x + (w - inRow * tileW - (inRow - 1) * gap) / 2
                    out.push({ x: Math.round(left + (i % best.columns) * (tileW + gap)), y: Math.round(top + row * (tileH + gap)), width: tileW, height: tileH })
                }
                return out
            }

            function arrange(count: int, w: real, h: real, spotlight: string, aspect: real): var {
                let chosen = -1
                for (let i = 0; i < count; i++) {
                    const tile = tiles.itemAt(i) as VideoTileView
                    if (tile !== null && spotlight.length > 0 && tile.key === spotlight)
                        chosen = i
                }
                if (chosen < 0 || count < 2)
                    return grid(count, 0, 0, w, h)
                // The enlarged one above, the others in a strip below.
                const strip = Math.min(h * 0.25, 180)
                const big = grid(1, 0, 0, w, h - strip - gap)
                const small = grid(count - 1, 0, h - strip, w, strip)
                return small.slice(0, chosen).concat(big).concat(small.slice(chosen))
            }

            onPlacesChanged: {
                const origin = stage.mapToItem(null, 0, 0)
                const boxes = stage.places.map(p => "[" + [Math.round(origin.x + p.x), Math.round(origin.y + p.y), p.width, p.height].join(",") + "]")
                view.laidOut((stage.spotlight.length > 0 && tiles.count > 1 ? "spotlight " : "grid ") + boxes.length + " " + boxes.join(" "))
            }

            Repeater {
                id: tiles
                model: view.conference
                // Someone came or went (the tiles are made again): look after the change
                // whether the enlarged one is still there.
                onCountChanged: spotlightCheck.restart()

                VideoTileView {
                    id: tileDelegate
                    required property int index
                    readonly property var place: stage.places[index] ?? { x: 0, y: 0, width: 0, height: 0 } // qmllint disable unqualified
                    x: place.x
                    y: place.y
                    width: place.width
                    height: place.height
                    // The delegate's scope reaches the view's id: qmllint of Qt 6.4 cannot tell
                    // (it would need `pragma ComponentBehavior: Bound`, which came in 6.5).
                    room: view.conference // qmllint disable unqualified
                    onVolumeMoved: (percent) => view.conference.setVolume(key, percent) // qmllint disable unqualified
                    TapHandler {
                        onDoubleTapped: {
                            stage.spotlight = stage.spotlight === tileDelegate.key ? "" : tileDelegate.key // qmllint disable unqualified
                            stage.forceActiveFocus()
                        }
                    }
                }
            }
        }

        // The sound controls wrap onto a second row in a narrow window.
        Flow {
            Layout.fillWidth: true
            spacing: 8

            Row {
                spacing: 8
                Label {
                    text: qsTr("Microphone")
                    anchors.verticalCenter: parent.verticalCenter
                }
                PlainComboBox {
                    id: micBox
                    objectName: "micChooser"
                    width: 170
                    textRole: "label"
                    valueRole: "id"
                    model: view.soundChoices(view.conference.mics, view.conference.micNames)
                    Component.onCompleted: currentIndex = Math.max(0, indexOfValue(view.conference.mic))
                    onActivated: view.conference.chooseSound(currentValue, view.conference.speaker)
                }
            }
            Row {
                spacing: 8
                Label {
                    text: qsTr("Speaker")
                    anchors.verticalCenter: parent.verticalCenter
                }
                PlainComboBox {
                    id: speakerBox
                    objectName: "speakerChooser"
                    width: 170
                    textRole: "label"
                    valueRole: "id"
                    model: view.soundChoices(view.conference.speakers, view.conference.speakerNames)
                    Component.onCompleted: currentIndex = Math.max(0, indexOfValue(view.conference.speaker))
                    onActivated: view.conference.chooseSound(view.conference.mic, currentValue)
                }
            }
            Button {
                objectName: "muteButton"
                checkable: true
                checked: view.conference.muted
                text: view.conference.muted ? qsTr("Unmute") : qsTr("Mute")
                enabled: !pushToTalk.checked
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Ctrl+Shift+M; while muted, hold Ctrl+Space to talk")
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
            Label {
                objectName: "callSecurity"
                height: micBox.height
                verticalAlignment: Text.AlignVCenter
                text: view.conference.encrypted ? qsTr("Call encrypted (passphrase)") : qsTr("Call not encrypted")
                color: view.conference.encrypted ? view.tones.good : view.tones.warn
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
                height: micBox.height
                verticalAlignment: Text.AlignVCenter
                visible: view.conference.unopened > 0 // qmllint disable type
                text: qsTr("%n packet(s) could not be opened (wrong passphrase?)", "", view.conference.unopened) // qmllint disable type
                color: view.tones.warn
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
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Ctrl+Shift+O turns the camera off and on")
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
        }
    }
}
