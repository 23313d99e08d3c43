fn main() {
    #[cfg(feature = "window")]
    window();
}

#[cfg(feature = "window")]
fn window() {
    use cxx_qt_build::{CxxQtBuilder, QmlModule};
    CxxQtBuilder::new_qml_module(
        QmlModule::new("org.lanmeet")
            .qml_file("qml/Main.qml")
            .qml_file("qml/ChatView.qml")
            .qml_file("qml/MemberList.qml")
            .qml_file("qml/Settings.qml")
            .qml_file("qml/ConferenceView.qml")
            .qml_file("qml/VideoTileView.qml")
            .qml_file("qml/PlainItemDelegate.qml")
            .qml_file("qml/PlainMenuItem.qml")
            .qml_file("qml/PlainComboBox.qml")
            .qml_file("qml/Tones.qml"),
    )
    .qt_module("Quick")
    // We export no C++ headers. The default (the whole crate as an include root) makes cargo
    // watch the crate's directory tree, target/ included, so that every build ran this script
    // and rebuilt the library again.
    .crate_include_root(None)
    .files(["src/ui/chat_room.rs", "src/ui/conference_room.rs", "src/ui/desktop.rs", "src/ui/video_tile.rs"])
    .build();
}
