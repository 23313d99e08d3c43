import QtQuick
import QtQuick.Controls

// A list row whose text is always plain text. Names in lists come from peers and devices, and a
// Text left at its default (AutoText) renders anything that looks like markup as HTML: a peer
// could restyle or fake rows, or make the window fetch an image from a URL or a local path.
ItemDelegate {
    id: row
    contentItem: Label {
        text: row.text
        font: row.font
        color: row.highlighted ? row.palette.highlightedText : row.palette.text
        textFormat: Text.PlainText
        elide: Text.ElideRight
        verticalAlignment: Text.AlignVCenter
    }
}
