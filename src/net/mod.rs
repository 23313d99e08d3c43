//! Blocking network I/O threads. Each thread owns its socket and a protocol state from
//! `crate::proto`; it speaks to the rest of the program through channels and callbacks carrying
//! plain Rust values.

pub mod identity;
pub mod multicast;
pub mod rtp;
pub mod srtp;
pub mod tls;
pub mod unicast;

use crate::proto::Now;
use std::io;
use std::time::{Duration, Instant, SystemTime};

/// Both clocks, read once for one input to a protocol state (the relay's loop reads it here
/// too).
pub fn now() -> Now {
    Now { mono: Instant::now(), wall: SystemTime::now() }
}

/// Sends one datagram with `send`, waiting `pause` whenever the socket's buffer is full (a burst
/// such as a keyframe), at most `tries` times; an interrupted call is retried at once.
pub(crate) fn send_patiently(mut send: impl FnMut() -> io::Result<usize>, pause: Duration, tries: u32) -> io::Result<()> {
    let mut waited = 0;
    loop {
        match send() {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && waited < tries => {
                waited += 1;
                std::thread::sleep(pause);
            }
            Err(e) => return Err(e),
        }
    }
}
