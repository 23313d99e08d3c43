//! `Desktop`, what the window learns from the desktop it runs on: for now whether the person
//! prefers a dark colour scheme (`app::desktop`), followed while the window is open.

use crate::app::desktop::{self, Scheme};
use core::pin::Pin;
use cxx_qt::Threading;

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
    }

    impl cxx_qt::Initialize for Desktop {}
    impl cxx_qt::Threading for Desktop {}
}

impl qobject::Desktop {
    pub fn notify(&self, summary: &cxx_qt_lib::QString, body: &cxx_qt_lib::QString) {
        desktop::notify(&summary.to_string(), &body.to_string());
    }
}

#[derive(Default)]
pub struct DesktopRust {
    dark: bool,
}

impl cxx_qt::Initialize for qobject::Desktop {
    fn initialize(mut self: Pin<&mut Self>) {
        let qt_thread = self.qt_thread();
        let first = desktop::follow_scheme(move |scheme| {
            let _ = qt_thread.queue(move |desktop| desktop.set_dark(scheme == Scheme::Dark));
        });
        self.as_mut().set_dark(first == Scheme::Dark);
    }
}
