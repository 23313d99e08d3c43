//! IRC (RFC 1459, RFC 2812, IRCv3): message syntax, line framing, and the server and client
//! state machines. Nothing here touches a socket or reads a clock.

pub mod channel;
pub mod client;
pub mod framing;
pub mod history;
pub mod message;
pub mod names;
pub mod server;
#[cfg(test)]
mod tests;

pub use message::{Message, ParseError};

/// The capabilities the relay offers (IRCv3); `draft/chathistory` only where it keeps history.
pub const CAPABILITIES: &[&str] = &["away-notify", "batch", "draft/chathistory", "echo-message", "invite-notify", "message-tags", "multi-prefix", "server-time"];

/// Formats a Unix time in milliseconds as IRCv3 `server-time` (RFC 3339, UTC, milliseconds).
pub fn format_server_time(unix_ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(unix_ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Parses an IRCv3 `server-time` value back into Unix milliseconds.
pub fn parse_server_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}
