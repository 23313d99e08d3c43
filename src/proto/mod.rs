//! Wire formats and protocol state machines, sans-IO: no sockets, threads, Qt or clock reads.
//! Time comes in as an argument ([`Now`]); bytes come in, bytes and events go out.

pub mod irc;
pub mod mchat;
pub mod rtp;
pub mod trust;

use std::time::{Duration, Instant, SystemTime};

/// The moment an input happens: a monotonic instant for deadlines and the wall clock for
/// timestamps shown to people. The I/O threads read both clocks once (`net::now`) and pass
/// them in; nothing in `proto` reads a clock.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

impl Now {
    /// `since` after `start` on a made-up clock whose wall time starts at a fixed date
    /// (2027-01-15): simulations, tests and fuzzing move time without reading the machine's.
    pub fn simulated(start: Instant, since: Duration) -> Now {
        Now { mono: start + since, wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + since }
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

/// A token bucket: `rate` tokens a second, holding at most `burst`, plus credit that requests
/// pay in (up to a cap). Limits what others can make us send: repairs, requests, replies.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    updated: Option<Instant>,
}

impl TokenBucket {
    /// Starts full.
    pub fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket { tokens: burst, rate, burst, updated: None }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(then) = self.updated {
            let earned = now.saturating_duration_since(then).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + earned).min(self.burst.max(self.tokens));
        }
        self.updated = Some(now);
    }

    /// Add `amount`, holding no more than `cap` (or the burst, if larger).
    pub fn credit(&mut self, amount: f64, cap: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + amount).min(cap.max(self.burst));
    }

    /// Take `amount` if the bucket holds it.
    pub fn take(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens < amount {
            return false;
        }
        self.tokens -= amount;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_token_bucket_refills_at_its_rate_and_holds_credit_up_to_its_cap() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0);
        assert!((0..5).all(|_| bucket.take(1.0, start)));
        assert!(!bucket.take(1.0, start));
        assert!(bucket.take(1.0, start + Duration::from_millis(100)));
        assert!(!bucket.take(1.0, start + Duration::from_millis(100)));
        // Long idle time fills it to the burst, no further.
        let later = start + Duration::from_secs(60);
        assert!(bucket.take(5.0, later) && !bucket.take(1.0, later));
        bucket.credit(100.0, 20.0, later);
        assert!(bucket.take(20.0, later) && !bucket.take(1.0, later));
    }
}
