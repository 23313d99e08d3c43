//! Serverless multicast chat (docs/PROTOCOL.md): the datagram format and the per-participant
//! state machine with presence and loss repair. No sockets, no clock reads.

pub mod peer;
pub mod seal;
pub mod wire;

pub use peer::{Event, Output, Peer, PeerConfig};

#[cfg(test)]
mod sim;
