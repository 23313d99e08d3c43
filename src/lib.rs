//! lanmeet: chat and conference on a local network.
//!
//! # Layout
//! - [`proto`]: wire formats and protocol state machines, sans-IO: IRC (client and server),
//!   multicast chat, RTP/RTCP, H.264 packetization, SDP, the audio jitter buffer.
//! - [`server`]: the relay daemon, a mio event loop around `proto::irc::server`.
//! - [`net`]: the I/O threads of the client side: the relay connection, the multicast chat
//!   socket, the sockets of an RTP session.
//! - [`media`]: pictures, the test pattern, the camera, codecs, sound devices, echo control.
//! - [`app`]: sessions and their events as plain Rust types (relay and multicast chat, the
//!   conference in `app/conference/`: video send and receive, audio send and receive, the
//!   mixer, device states, statistics), the one mapping from chat events to shown lines, the
//!   terminal front end.
//! - [`ui`]: the cxx-qt bridge between `app` and the QML views in `qml/`, one QObject a file:
//!   the chat room, the conference room (a list model of tiles) and the video tile.
//! - [`fuzzing`]: the properties the fuzz targets in `fuzz/` and `tests/fuzz_inputs.rs` check.
//!
//! Dependencies point downward only: `ui -> app -> net/server/media -> proto`. Without the
//! default features `app` and `window` the library is `proto`, `server`, `net` and `fuzzing`.

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
