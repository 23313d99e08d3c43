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

    impl cxx_qt::Initialize for Desktop {}
    impl cxx_qt::Threading for Desktop {}
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
