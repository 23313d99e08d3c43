//! Wire formats and protocol state machines, sans-IO: no sockets, threads, Qt or clock reads.
//! Time comes in as an argument ([`Now`]); bytes come in, bytes and events go out.

pub mod irc;

use std::time::{Instant, SystemTime};

/// The moment an input happens: a monotonic instant for deadlines and the wall clock for
/// timestamps shown to people. Callers read both clocks once and pass them in.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn read() -> Now {
        Now { mono: Instant::now(), wall: SystemTime::now() }
    }

    pub fn unix_millis(&self) -> i64 {
        match self.wall.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(_) => 0,
        }
    }
}
