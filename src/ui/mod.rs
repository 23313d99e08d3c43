//! The cxx-qt bridge: QObjects that turn `app` events into QML properties, signals and list
//! models, and QML calls into `app` commands. Nothing else lives here.

pub mod chat_room;
pub mod conference_room;
pub mod desktop;
pub mod video_tile;

use cxx_qt_lib::{QGuiApplication, QQmlApplicationEngine, QUrl};

/// Open the window and run Qt's event loop until it closes.
pub fn run_window() -> i32 {
    if std::env::var_os("QT_QUICK_CONTROLS_STYLE").is_none() {
        // Fusion follows the platform palette and looks the same on every desktop.
        std::env::set_var("QT_QUICK_CONTROLS_STYLE", "Fusion");
    }
    let mut app = QGuiApplication::new();
    let mut engine = QQmlApplicationEngine::new();
    if let Some(engine) = engine.as_mut() {
        engine.load(&QUrl::from("qrc:/qt/qml/org/lanmeet/qml/Main.qml"));
    }
    match app.as_mut() {
        Some(app) => app.exec(),
        None => 1,
    }
}
