//! lanmeet: chat and conference on a local network.
//!
//! # Layout
//! - [`proto`]: wire formats and protocol state machines, sans-IO (IRC today).
//! - [`server`]: the relay daemon, a mio event loop around `proto::irc::server`.
//! - [`net`]: blocking I/O threads for the client side (the unicast connection).
//! - [`app`]: sessions and their events as plain Rust types; the terminal front end.
//! - [`ui`]: the cxx-qt bridge between `app` and the QML views in `qml/`.
//!
//! Dependencies point downward only: `ui -> app -> net/server -> proto`.

#[cfg(feature = "app")]
pub mod app;
pub mod fuzzing;
#[cfg(feature = "app")]
pub mod media;
pub mod net;
pub mod proto;
pub mod server;
#[cfg(feature = "window")]
pub mod ui;
