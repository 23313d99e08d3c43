//! `Desktop`, what the window learns from and tells the desktop it runs on: whether the person
//! prefers a dark colour scheme (`app::desktop`), followed while the window is open;
//! notifications; and the tray icon (`app::tray`).

use crate::app::desktop::{self, Scheme};
use crate::app::tray::Tray;
use core::pin::Pin;
use cxx_qt::{CxxQtType, Threading};

#[cxx_qt::bridge]
pub mod qobject {
    extern "RustQt" {
        #[qobject]
        #[qml_element]
        /// The desktop prefers a dark colour scheme.
        #[qproperty(bool, dark)]
        type Desktop = super::DesktopRust;
    }

    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
    }

    extern "RustQt" {
        /// A desktop notification: `summary` over `body`.
        #[qinvokable]
        fn notify(self: &Desktop, summary: &QString, body: &QString);

        /// How many messages wait unread: the tray icon asks for attention while any do.
        #[qinvokable]
        #[cxx_name = "trayUnread"]
        fn tray_unread(self: &Desktop, count: i32);

        /// The person clicked the tray icon.
        #[qsignal]
        #[cxx_name = "trayActivated"]
        fn tray_activated(self: Pin<&mut Desktop>);
    }

    impl cxx_qt::Initialize for Desktop {}
    impl cxx_qt::Threading for Desktop {}
}

impl qobject::Desktop {
    pub fn notify(&self, summary: &cxx_qt_lib::QString, body: &cxx_qt_lib::QString) {
        desktop::notify(&summary.to_string(), &body.to_string());
    }

    pub fn tray_unread(&self, count: i32) {
        if let Some(tray) = &self.tray {
            tray.set_unread(count.max(0) as u32);
        }
    }
}

#[derive(Default)]
pub struct DesktopRust {
    dark: bool,
    tray: Option<Tray>,
}

impl cxx_qt::Initialize for qobject::Desktop {
    fn initialize(mut self: Pin<&mut Self>) {
        let qt_thread = self.qt_thread();
        let first = desktop::follow_scheme(move |scheme| {
            let _ = qt_thread.queue(move |desktop| desktop.set_dark(scheme == Scheme::Dark));
        });
        self.as_mut().set_dark(first == Scheme::Dark);
        // The tray icon, from a thread of its own: the bus may be slow to answer.
        let qt_thread = self.qt_thread();
        let _ = std::thread::Builder::new().name("tray".into()).spawn(move || {
            let clicks = qt_thread.clone();
            let shown = Tray::show(move || {
                let _ = clicks.queue(|desktop| desktop.tray_activated());
            });
            match shown {
                Ok(tray) => {
                    let _ = qt_thread.queue(move |mut desktop| desktop.as_mut().rust_mut().tray = Some(tray));
                }
                Err(e) => log::info!("tray: no icon: {e}"),
            }
        });
    }
}
