//! The tray icon, where the desktop has a tray: the StatusNotifierItem protocol on the session
//! D-Bus, which KDE Plasma, Xfce, LXQt, Cinnamon and GNOME with the AppIndicator extension
//! host. The icon asks for attention while messages wait unread, its tooltip says how many,
//! and a click brings the window forward. Without a StatusNotifierWatcher on the bus there is
//! no tray, and no icon (the log says so).

use super::i18n::tr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use zbus::zvariant::OwnedObjectPath;

const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
pub const ITEM: &str = "org.kde.StatusNotifierItem";
pub const ITEM_PATH: &str = "/StatusNotifierItem";

/// The icon as the tray reads it.
struct Item {
    unread: Arc<AtomicU32>,
    activated: Box<dyn Fn() + Send + Sync>,
}

/// "NeedsAttention" while messages wait unread, else "Active".
fn status(unread: u32) -> &'static str {
    if unread > 0 {
        "NeedsAttention"
    } else {
        "Active"
    }
}

fn tool_tip_text(unread: u32) -> String {
    if unread > 0 {
        tr("{0} unread message(s)", &[&unread])
    } else {
        tr("No unread messages", &[])
    }
}

#[zbus::interface(name = "org.kde.StatusNotifierItem")]
impl Item {
    #[zbus(property)]
    fn category(&self) -> &str {
        "Communications"
    }

    #[zbus(property)]
    fn id(&self) -> &str {
        "lanmeet"
    }

    #[zbus(property)]
    fn title(&self) -> &str {
        "lanmeet"
    }

    #[zbus(property)]
    fn status(&self) -> &str {
        status(self.unread.load(Ordering::SeqCst))
    }

    /// Icons of the freedesktop icon theme, which every desktop with a tray has.
    #[zbus(property)]
    fn icon_name(&self) -> &str {
        "internet-chat"
    }

    #[zbus(property)]
    fn attention_icon_name(&self) -> &str {
        "mail-unread"
    }

    /// (icon name, icon pixmaps, title, text).
    #[zbus(property)]
    fn tool_tip(&self) -> (String, Vec<(i32, i32, Vec<u8>)>, String, String) {
        (String::new(), Vec::new(), "lanmeet".into(), tool_tip_text(self.unread.load(Ordering::SeqCst)))
    }

    #[zbus(property)]
    fn item_is_menu(&self) -> bool {
        false
    }

    /// No menu of its own: a click brings the window.
    #[zbus(property)]
    fn menu(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from("/NO_DBUSMENU").expect("a valid object path")
    }

    fn activate(&self, _x: i32, _y: i32) {
        (self.activated)();
    }

    fn secondary_activate(&self, _x: i32, _y: i32) {
        (self.activated)();
    }

    fn context_menu(&self, _x: i32, _y: i32) {
        (self.activated)();
    }

    fn scroll(&self, _delta: i32, _orientation: &str) {}
}

/// The icon in the tray; dropped, it leaves.
pub struct Tray {
    connection: zbus::blocking::Connection,
    unread: Arc<AtomicU32>,
}

impl Tray {
    /// Puts the icon in the desktop's tray, if it has one; `activated` runs (on a D-Bus
    /// thread) when the person clicks it. Talks to the bus: call it off the window's thread.
    pub fn show(activated: impl Fn() + Send + Sync + 'static) -> Result<Tray, String> {
        let unread = Arc::new(AtomicU32::new(0));
        let name = format!("{ITEM}-{}-1", std::process::id());
        let item = Item { unread: unread.clone(), activated: Box::new(activated) };
        let connection = zbus::blocking::connection::Builder::session()
            .and_then(|b| b.name(name.as_str()))
            .and_then(|b| b.serve_at(ITEM_PATH, item))
            .and_then(|b| b.build())
            .map_err(|e| format!("no session bus ({e})"))?;
        connection
            .call_method(Some(WATCHER), WATCHER_PATH, Some(WATCHER), "RegisterStatusNotifierItem", &(name.as_str(),))
            .map_err(|e| format!("the desktop has no tray ({e})"))?;
        log::info!("tray: icon shown as {name}");
        Ok(Tray { connection, unread })
    }

    /// How many messages wait unread: the icon asks for attention while any do.
    pub fn set_unread(&self, count: u32) {
        if self.unread.swap(count, Ordering::SeqCst) == count {
            return;
        }
        log::info!("tray: {}", status(count));
        let everyone = None::<zbus::names::BusName<'_>>;
        let told = self
            .connection
            .emit_signal(everyone.clone(), ITEM_PATH, ITEM, "NewStatus", &(status(count),))
            .and_then(|_| self.connection.emit_signal(everyone, ITEM_PATH, ITEM, "NewToolTip", &()));
        if let Err(e) = told {
            log::info!("tray: not told ({e})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_asks_for_attention_only_while_messages_wait() {
        assert_eq!(status(0), "Active");
        assert_eq!(status(3), "NeedsAttention");
        assert!(tool_tip_text(3).contains('3'));
    }
}
