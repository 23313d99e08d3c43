import QtQuick

// Colours that carry a meaning (safe, warning, failure) in tones with at least WCAG AA
// contrast (4.5:1) on the window's background, in the light and in the dark scheme.
QtObject {
    required property bool dark
    readonly property color good: dark ? "#7fd08a" : "#1e6b2a"
    readonly property color warn: dark ? "#ffb74d" : "#8f4a00"
    readonly property color bad: dark ? "#ff8a80" : "#b0281a"
}
