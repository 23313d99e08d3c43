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
