use cxx_qt_build::{CxxQtBuilder, QmlModule};

fn main() {
    CxxQtBuilder::new_qml_module(
        QmlModule::new("org.lanmeet")
            .qml_file("qml/Main.qml")
            .qml_file("qml/ChatView.qml")
            .qml_file("qml/MemberList.qml")
            .qml_file("qml/Settings.qml")
            .qml_file("qml/ConferenceView.qml")
            .qml_file("qml/VideoTileView.qml"),
    )
    .qt_module("Quick")
    .files(["src/ui/chat_room.rs", "src/ui/conference_room.rs"])
    .build();
}
