import QtQuick
import QtQuick.Controls

// A menu entry whose text is always plain text: menus name people, and a name that looks like
// markup must show as typed, never styled or fetching anything (see PlainItemDelegate).
// A hidden entry takes no room and no keyboard.
MenuItem {
    id: entry
    height: visible ? implicitHeight : 0
    enabled: visible
    contentItem: Label {
        text: entry.text
        font: entry.font
        color: entry.highlighted ? entry.palette.highlightedText : entry.palette.text
        textFormat: Text.PlainText
        elide: Text.ElideRight
        verticalAlignment: Text.AlignVCenter
    }
}
