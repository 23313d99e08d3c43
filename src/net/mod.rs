//! Blocking network I/O threads. Each thread owns its socket and a protocol state from
//! `crate::proto`; it speaks to the rest of the program through channels and callbacks carrying
//! plain Rust values.

pub mod multicast;
pub mod rtp;
pub mod unicast;
