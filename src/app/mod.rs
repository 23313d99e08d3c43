//! Sessions as the user sees them, in plain Rust types: what can be asked of a chat and what it
//! reports back. Both front ends, the Qt window (`crate::ui`) and the terminal commands, sit on
//! top of this layer; it knows nothing of Qt.

pub mod archive;
pub mod chat;
pub mod conference;
pub mod desktop;
pub mod i18n;
pub mod lines;
pub mod multicast_chat;
pub mod settings;
pub mod terminal;
pub mod tray;

/// Cuts `text` to at most `most` bytes, at a character boundary. Whether it was cut.
pub fn cut_at_char(text: &mut String, most: usize) -> bool {
    if text.len() <= most {
        return false;
    }
    let mut end = most;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}
