//! Wire formats and protocol state machines, sans-IO: no sockets, threads, Qt or clock reads.
//! Time comes in as an argument ([`Now`]); bytes come in, bytes and events go out.

pub mod irc;
pub mod mchat;
pub mod rtp;

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

/// A hasher for map keys that are already unique small integers (connection numbers): the
/// number itself is the hash. Relaying a line to every member looks up each one.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by connection number.
pub type IdMap<V> = std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A small xorshift generator for jitter and test fault injection: fast, seedable, and of no
/// use for anything secret.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() % 1_000_000) as f64 / 1_000_000.0 < p
    }

    /// A duration in `[0, limit)`.
    pub fn below(&mut self, limit: std::time::Duration) -> std::time::Duration {
        std::time::Duration::from_nanos(self.next_u64() % (limit.as_nanos() as u64).max(1))
    }
}
