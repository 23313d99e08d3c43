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
            .qml_file("qml/Tones.qml")
            .qml_file("qml/SearchPanel.qml")
            .qml_file("qml/ConversationList.qml")
            .qml_file("qml/RoomBrowser.qml"),
    )
    .qt_module("Quick")
    // We export no C++ headers. The default (the whole crate as an include root) makes cargo
    // watch the crate's directory tree, target/ included, so that every build ran this script
    // and rebuilt the library again.
    .crate_include_root(None)
    .files(["src/ui/chat_room.rs", "src/ui/conference_room.rs", "src/ui/desktop.rs", "src/ui/video_tile.rs"])
    .qrc(translations())
    .build();
}

/// The window's translations: each `translations/lanmeet_LANG.ts` compiled with Qt's lrelease
/// into `qml_LANG.qm` in `i18n/` beside Main.qml, where QQmlApplicationEngine finds the one for
/// the user's language. Gives the resource file that lists them.
#[cfg(feature = "window")]
fn translations() -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("i18n");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let lrelease = Path::new("/usr/lib/qt6/bin/lrelease");
    println!("cargo::rerun-if-changed=translations");
    let mut files = String::new();
    let mut sources: Vec<PathBuf> = std::fs::read_dir("translations").expect("translations/").filter_map(|e| e.ok().map(|e| e.path())).collect();
    sources.sort();
    for source in sources {
        let Some(lang) = source.file_stem().and_then(|s| s.to_str()).and_then(|s| s.strip_prefix("lanmeet_")) else { continue };
        println!("cargo::rerun-if-changed={}", source.display());
        let qm = out.join(format!("qml_{lang}.qm"));
        let status = std::process::Command::new(lrelease)
            .arg("-silent")
            .arg(&source)
            .arg("-qm")
            .arg(&qm)
            .status()
            .expect("lrelease from Debian's qt6-l10n-tools (scripts/setup installs it)");
        assert!(status.success(), "lrelease failed on {}", source.display());
        files.push_str(&format!("<file alias=\"qml_{lang}.qm\">{}</file>", qm.display()));
    }
    let qrc = out.join("i18n.qrc");
    let text = format!("<RCC><qresource prefix=\"/qt/qml/org/lanmeet/qml/i18n\">{files}</qresource></RCC>\n");
    std::fs::write(&qrc, text).expect("OUT_DIR is writable");
    qrc
}
