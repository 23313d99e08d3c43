pragma ComponentBehavior: Bound

import QtQuick
import QtQuick.Controls

// A chooser whose entries are shown as plain text (device and interface names are chosen by
// drivers and users, not by us). The closed box already shows plain text; its popup rows are
// what the default delegate would render as HTML.
ComboBox {
    id: box
    delegate: PlainItemDelegate {
        required property var modelData
        required property int index
        width: ListView.view.width
        text: box.textRole.length > 0 ? modelData[box.textRole] : modelData
        highlighted: box.highlightedIndex === index
        hoverEnabled: box.hoverEnabled
    }
}
