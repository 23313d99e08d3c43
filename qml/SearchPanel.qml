import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Search the messages kept on this computer: type words (Chinese or English, any part of a
// word), then pick a result (click, or Down and Enter) to see it in the chat. "Clear history"
// forgets every kept message of this server or group, after asking.
Popup {
    id: panel
    required property var room
    property bool searched: false

    // A result was picked: the chat shows the kept message with this number.
    signal picked(real number)

    padding: 10
    focus: true
    closePolicy: Popup.CloseOnEscape | Popup.CloseOnPressOutsideParent

    onOpened: {
        room.viewShows("search opened")
        field.forceActiveFocus()
        field.selectAll()
    }

    function run() {
        results.clear()
        const text = field.text.trim()
        panel.searched = text.length > 0
        if (!panel.searched)
            return
        for (const entry of room.searchHistory(text)) {
            const parts = entry.split("\t")
            results.append({ number: Number(parts[0]), when: parts[1], who: parts[2], said: parts.slice(3).join(" ") })
        }
        resultList.currentIndex = -1
    }

    ListModel { id: results }

    Timer {
        id: typing
        interval: 250
        onTriggered: panel.run()
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        TextField {
            id: field
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: qsTr("Search kept messages")
            Accessible.name: qsTr("Search kept messages")
            onTextEdited: typing.restart()
            onAccepted: {
                typing.stop()
                panel.run()
                if (results.count > 0) {
                    resultList.currentIndex = 0
                    resultList.forceActiveFocus()
                }
            }
            Keys.onDownPressed: {
                if (results.count > 0) {
                    resultList.currentIndex = 0
                    resultList.forceActiveFocus()
                }
            }
        }

        Label {
            objectName: "searchCount"
            visible: panel.searched
            text: results.count === 0 ? qsTr("Nothing found") : qsTr("%n message(s) found", "", results.count)
            color: palette.placeholderText
        }

        ListView {
            id: resultList
            objectName: "searchResults"
            Layout.fillWidth: true
            Layout.preferredHeight: Math.min(contentHeight, 300)
            visible: results.count > 0
            clip: true
            model: results
            keyNavigationEnabled: true
            ScrollBar.vertical: ScrollBar {}
            Keys.onReturnPressed: if (currentIndex >= 0) choose(results.get(currentIndex).number)
            Keys.onEnterPressed: if (currentIndex >= 0) choose(results.get(currentIndex).number)

            function choose(number: real) {
                panel.picked(number)
            }

            delegate: ItemDelegate {
                id: result
                required property real number
                required property string when
                required property string who
                required property string said
                required property int index
                readonly property var view: ListView.view
                width: ListView.view.width
                highlighted: ListView.isCurrentItem
                Accessible.name: who + " " + when + ": " + said
                contentItem: Column {
                    spacing: 2
                    Label {
                        width: parent.width
                        text: result.who + "  ·  " + result.when
                        textFormat: Text.PlainText
                        elide: Text.ElideRight
                        font.bold: true
                        font.pixelSize: 12
                    }
                    Label {
                        width: parent.width
                        text: result.said
                        textFormat: Text.PlainText
                        wrapMode: Text.Wrap
                        maximumLineCount: 2
                        elide: Text.ElideRight
                    }
                }
                onClicked: result.view.choose(result.number)
            }
        }

        RowLayout {
            Label {
                Layout.fillWidth: true
                text: qsTr("Kept on this computer only")
                color: palette.placeholderText
                font.pixelSize: 12
                elide: Text.ElideRight
            }
            Button {
                objectName: "clearHistory"
                text: qsTr("Clear history…")
                flat: true
                onClicked: {
                    panel.close()
                    confirm.open()
                }
            }
        }
    }

    Dialog {
        id: confirm
        objectName: "clearConfirm"
        parent: Overlay.overlay
        anchors.centerIn: parent
        width: Math.min(440, parent.width - 40)
        modal: true
        focus: true
        title: qsTr("Clear the kept messages?")
        onOpened: {
            panel.room.viewShows("clear history: asked")
            keepButton.forceActiveFocus()
        }

        Label {
            width: parent.width
            wrapMode: Text.Wrap
            text: panel.room.mode === "multicast" // qmllint disable type
                  ? qsTr("Every message of group %1 kept on this computer will be deleted, and the chat emptied. Others keep their own copies.").arg(panel.room.keptPlace())
                  : qsTr("Every message of %1 kept on this computer will be deleted, and the chat emptied. Others and the server keep their own copies.").arg(panel.room.keptPlace())
        }
        footer: RowLayout {
            spacing: 8
            Item { Layout.fillWidth: true }
            Button {
                id: keepButton
                text: qsTr("Keep them")
                Layout.bottomMargin: 12
                onClicked: confirm.reject()
            }
            Button {
                objectName: "clearAnyway"
                text: qsTr("Delete")
                Layout.rightMargin: 12
                Layout.bottomMargin: 12
                onClicked: confirm.accept()
            }
        }
        onAccepted: panel.room.clearHistory()
    }
}
