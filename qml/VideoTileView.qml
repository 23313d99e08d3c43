import QtQuick
import QtQuick.Controls
import org.lanmeet

// One participant: the live picture, the name, the frame rate, and a marker when the picture
// stops or the camera is off.
Rectangle {
    id: tileView

    /// The conference the tile belongs to: its pictures come from there.
    property ConferenceRoom room
    required property string key
    required property string nick
    required property bool own
    required property real fps
    required property bool stalled
    required property string note
    /// Show the picture mirrored (the self-view of a real camera, as people expect of a mirror).
    required property bool mirror
    required property bool speaking
    /// Mouth-to-ear of their audio in ms, or below 0 when not known yet.
    required property real audioLatency
    required property int volume
    /// Their microphone is muted.
    required property bool muted

    signal volumeMoved(int percent)

    color: "#16181c"
    radius: 6
    clip: true
    border.width: tileView.speaking ? 3 : 0
    border.color: "#2e9d4b"

    // The linter cannot follow a type that cxx-qt derives from QQuickPaintedItem, so it does
    // not see the Item properties below.
    // qmllint disable property type unqualified
    VideoTile {
        id: tile
        objectName: "videoTile"
        anchors.fill: parent
        room: tileView.room
        key: tileView.key
        transform: Scale {
            origin.x: tile.width / 2
            xScale: tileView.mirror ? -1 : 1
        }
    }
    // qmllint enable property type unqualified

    // Pictures arrive on other threads; look for a newer one at the display's pace.
    Timer {
        interval: 16
        repeat: true
        running: tileView.visible
        onTriggered: tile.refresh()
    }

    Label {
        anchors.centerIn: parent
        width: parent.width - 24
        horizontalAlignment: Text.AlignHCenter
        wrapMode: Text.Wrap
        visible: !tile.live || tileView.note.length > 0
        color: "#d0d4da"
        textFormat: Text.PlainText
        text: tileView.note.length > 0 ? tileView.note
             : tileView.own ? qsTr("Starting camera…") : qsTr("Waiting for video…")
    }

    Rectangle {
        id: captionBox
        anchors.left: parent.left
        anchors.bottom: parent.bottom
        anchors.margins: 8
        radius: 4
        color: "#a0000000"
        width: caption.implicitWidth + 12
        height: caption.implicitHeight + 6

        Label {
            id: caption
            anchors.centerIn: parent
            color: "white"
            textFormat: Text.PlainText
            text: (tileView.own ? qsTr("%1 (you)").arg(tileView.nick) : tileView.nick)
                  + "  ·  " + qsTr("%1 fps").arg(Math.round(tileView.fps))
                  + (tileView.audioLatency >= 0 ? "  ·  " + qsTr("voice %1 ms").arg(Math.round(tileView.audioLatency)) : "")
        }
        HoverHandler {
            id: captionHover
        }
        ToolTip.visible: captionHover.hovered
        ToolTip.text: qsTr("fps: pictures a second. Voice: how long their voice takes from their microphone to your speaker; over 150 ms a conversation starts to suffer.")
    }

    // Over 150 ms mouth to ear (ITU-T G.114) conversation starts to suffer: say so.
    Rectangle {
        anchors.left: parent.left
        anchors.top: parent.top
        anchors.margins: 8
        radius: 4
        visible: tileView.audioLatency > 150
        color: "#d9a400"
        width: slowLabel.implicitWidth + 12
        height: slowLabel.implicitHeight + 6

        Label {
            id: slowLabel
            anchors.centerIn: parent
            text: qsTr("audio delay over 150 ms")
        }
    }

    // A muted microphone: a struck-through microphone drawn beside the name.
    Rectangle {
        objectName: "mutedBadge"
        anchors.left: parent.left
        anchors.bottom: parent.bottom
        anchors.leftMargin: 8
        anchors.bottomMargin: captionBox.height + 12
        visible: tileView.muted
        radius: 4
        color: "#c0392b"
        width: mutedRow.implicitWidth + 12
        height: mutedRow.implicitHeight + 6
        Accessible.name: qsTr("%1's microphone is muted").arg(tileView.nick)

        Row {
            id: mutedRow
            anchors.centerIn: parent
            spacing: 4
            Item {
                width: 10
                height: 14
                anchors.verticalCenter: parent.verticalCenter
                Rectangle { x: 2; width: 6; height: 9; radius: 3; color: "white" }
                Rectangle { x: 4; y: 10; width: 2; height: 4; color: "white" }
                Rectangle {
                    x: -1
                    y: 6
                    width: 14
                    height: 2
                    rotation: -45
                    color: "white"
                }
            }
            Label {
                color: "white"
                text: qsTr("muted")
            }
        }
    }

    HoverHandler {
        id: hover
    }

    // The volume of this participant, on hover.
    Rectangle {
        anchors.right: parent.right
        anchors.bottom: volumeSlider.top
        anchors.rightMargin: 8
        visible: volumeSlider.visible
        radius: 4
        color: "#a0000000"
        width: volumeLabel.implicitWidth + 12
        height: volumeLabel.implicitHeight + 6
        Label {
            id: volumeLabel
            anchors.centerIn: parent
            color: "white"
            text: qsTr("Volume %1 %").arg(Math.round(volumeSlider.value))
        }
    }

    Slider {
        id: volumeSlider
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        anchors.margins: 8
        width: Math.min(160, parent.width / 2)
        visible: !tileView.own && (hover.hovered || pressed)
        from: 0
        to: 200
        stepSize: 5
        value: tileView.volume
        Accessible.name: qsTr("Volume of %1").arg(tileView.nick)
        ToolTip.visible: pressed
        ToolTip.text: qsTr("%1 %").arg(Math.round(value))
        onMoved: tileView.volumeMoved(Math.round(value))
    }

    Rectangle {
        anchors.right: parent.right
        anchors.top: parent.top
        anchors.margins: 8
        radius: 4
        visible: tileView.stalled && tileView.note.length === 0
        color: "#c0392b"
        width: stalledLabel.implicitWidth + 12
        height: stalledLabel.implicitHeight + 6

        Label {
            id: stalledLabel
            anchors.centerIn: parent
            color: "white"
            text: qsTr("stalled")
        }
    }
}
