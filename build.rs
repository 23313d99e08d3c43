use cxx_qt_build::{CxxQtBuilder, QmlModule};

fn main() {
    CxxQtBuilder::new_qml_module(
        QmlModule::new("org.lanmeet")
            .qml_file("qml/Main.qml")
            .qml_file("qml/ChatView.qml")
            .qml_file("qml/MemberList.qml")
            .qml_file("qml/Settings.qml"),
    )
    .files(["src/ui/chat_room.rs"])
    .build();
}
