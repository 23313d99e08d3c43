//! `VideoTile`, the QML item that paints the newest picture of one participant from the board
//! of its conference room. It copies no pixels: the QImage wraps the decoded RGB buffer.

use crate::app::conference;
use crate::ui::conference_room::qobject::ConferenceRoom;
use core::pin::Pin;
use cxx_qt::CxxQtType;
use cxx_qt_lib::{QImage, QImageFormat, QRect, QString};
use std::sync::Arc;

#[cxx_qt::bridge(namespace = "lanmeet::conference")]
pub mod qobject {
    #[namespace = ""]
    unsafe extern "C++Qt" {
        include!(<QtQuick/QQuickPaintedItem>);
        #[qobject]
        #[namespace = ""]
        type QQuickPaintedItem;
    }

    unsafe extern "C++" {
        include!("lanmeet/src/ui/conference_room.cxxqt.h");
        type ConferenceRoom = crate::ui::conference_room::qobject::ConferenceRoom;
    }

    #[namespace = ""]
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("cxx-qt-lib/qsizef.h");
        type QSizeF = cxx_qt_lib::QSizeF;
        include!("cxx-qt-lib/qpainter.h");
        type QPainter = cxx_qt_lib::QPainter;
    }

    unsafe extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[base = QQuickPaintedItem]
        /// The conference whose pictures the tile shows.
        #[qproperty(*mut ConferenceRoom, room)]
        /// The tile's key (the participant's SSRC as text).
        #[qproperty(QString, key)]
        /// True while there is a picture to show.
        #[qproperty(bool, live)]
        type VideoTile = super::VideoTileRust;

        #[qinvokable]
        #[cxx_override]
        unsafe fn paint(self: Pin<&mut VideoTile>, painter: *mut QPainter);

        /// Repaint if a newer picture has arrived; QML calls this on every frame tick.
        #[qinvokable]
        fn refresh(self: Pin<&mut VideoTile>);

        #[inherit]
        fn size(self: &VideoTile) -> QSizeF;

        #[inherit]
        fn update(self: Pin<&mut VideoTile>);
    }

    impl cxx_qt::Constructor<()> for VideoTile {}
}

impl cxx_qt::Initialize for qobject::VideoTile {
    fn initialize(self: Pin<&mut Self>) {}
}

pub struct VideoTileRust {
    room: *mut ConferenceRoom,
    key: QString,
    live: bool,
    serial: u64,
}

impl Default for VideoTileRust {
    fn default() -> Self {
        VideoTileRust { room: std::ptr::null_mut(), key: QString::default(), live: false, serial: 0 }
    }
}

/// Frees the reference a QImage held on a picture's pixels.
extern "C" fn release_pixels(info: *mut cxx_qt_lib::c_void) {
    // Safety: `info` is the pointer `Arc::into_raw` gave in `paint`, released exactly once by
    // QImage when its last copy goes.
    unsafe { drop(Arc::from_raw(info as *const Vec<u8>)) };
}

impl qobject::VideoTile {
    fn picture(&self) -> Option<conference::Picture> {
        let key: u32 = self.key().to_string().parse().ok()?;
        // Safety: QML sets `room` to the conference whose model made this tile; the tile is a
        // delegate of that model and goes before it.
        let room = unsafe { self.room().as_ref() }?;
        room.board()?.get(key)
    }

    pub fn refresh(mut self: Pin<&mut Self>) {
        let picture = self.picture();
        let serial = picture.as_ref().map_or(0, |p| p.serial);
        if serial != self.serial {
            self.as_mut().rust_mut().serial = serial;
            self.as_mut().update();
        }
        if picture.is_some() != self.live {
            self.as_mut().set_live(picture.is_some());
        }
    }

    /// # Safety
    /// `painter` is the painter Qt passes to `QQuickPaintedItem::paint`, valid for the call.
    pub unsafe fn paint(self: Pin<&mut Self>, painter: *mut qobject::QPainter) {
        let Some(painter) = (unsafe { painter.as_mut() }) else { return };
        let mut painter = unsafe { Pin::new_unchecked(painter) };
        let Some(picture) = self.picture() else { return };
        let size = self.size();
        let (w, h) = (picture.width as f64, picture.height as f64);
        if w == 0.0 || h == 0.0 {
            return;
        }
        // Fit the picture in the tile, keeping its shape.
        let scale = (size.width() / w).min(size.height() / h);
        let (dw, dh) = (w * scale, h * scale);
        let target = QRect::new(((size.width() - dw) / 2.0) as i32, ((size.height() - dh) / 2.0) as i32, dw as i32, dh as i32);
        let pixels = Arc::into_raw(picture.rgb.clone());
        // Safety: the buffer holds width * height * 3 bytes and lives until `release_pixels`.
        let image = unsafe {
            QImage::from_raw_parts((*pixels).as_ptr(), picture.width as i32, picture.height as i32, QImageFormat::Format_RGB888, release_pixels, pixels as *mut cxx_qt_lib::c_void)
        };
        painter.as_mut().draw_image(&target, &image);
    }
}
