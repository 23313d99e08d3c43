//! Lip sync: a participant's pictures wait as long as their sound trails them, so that both show
//! together. The delay follows the medians of one reporting interval (the picture's
//! capture-to-decode, the sound's capture-to-playout) and ignores changes under 5 ms so that the
//! picture does not jitter. Time is an argument: `now` comes from the receiving thread.

use super::percentile;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most a picture is held back, and the most pictures held (a second of them): a stuck or
/// lying clock must not eat memory.
pub(super) const MAX_SYNC: Duration = Duration::from_millis(300);
pub(super) const MAX_HELD: usize = 30;
/// Changes of the wanted delay smaller than this are left alone.
const STEADY: Duration = Duration::from_millis(5);

/// A decoded picture waiting for its moment.
pub(super) struct Held<T> {
    pub(super) due: Instant,
    pub(super) timestamp: u32,
    pub(super) picture: T,
}

/// One participant's pictures on their way to the screen.
pub(super) struct LipSync<T> {
    /// Capture-to-decode latencies of this interval (ms), and the median of the last one: how
    /// far the picture runs ahead of the sound before it is held back.
    decoded: Vec<f64>,
    decoded_p50: Option<f64>,
    delay: Duration,
    held: VecDeque<Held<T>>,
}

impl<T> LipSync<T> {
    pub(super) fn new() -> LipSync<T> {
        LipSync { decoded: Vec::new(), decoded_p50: None, delay: Duration::ZERO, held: VecDeque::new() }
    }

    /// How long a picture waits now.
    pub(super) fn delay(&self) -> Duration {
        self.delay
    }

    /// A picture decoded at `now`, `latency_ms` after its capture when the sender's clock is
    /// known. Returns what to show at once: the picture itself when nothing waits, or the
    /// oldest held one when too many are held.
    pub(super) fn decoded(&mut self, timestamp: u32, picture: T, latency_ms: Option<f64>, now: Instant) -> Option<(u32, T)> {
        if let Some(ms) = latency_ms {
            self.decoded.push(ms);
        }
        if self.delay.is_zero() && self.held.is_empty() {
            return Some((timestamp, picture));
        }
        self.held.push_back(Held { due: now + self.delay, timestamp, picture });
        if self.held.len() > MAX_HELD {
            return self.held.pop_front().map(|h| (h.timestamp, h.picture));
        }
        None
    }

    /// The held pictures whose moment has come, oldest first.
    pub(super) fn due(&mut self, now: Instant) -> Vec<(u32, T)> {
        let mut out = Vec::new();
        while self.held.front().is_some_and(|h| h.due <= now) {
            let held = self.held.pop_front().expect("checked");
            out.push((held.timestamp, held.picture));
        }
        out
    }

    /// When the next held picture is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.held.front().map(|h| h.due)
    }

    /// The end of a reporting interval: the delay follows the sound's median mouth-to-ear
    /// latency of the interval (`voice_ms`, when the participant is heard), against the
    /// picture's median capture-to-decode.
    pub(super) fn follow(&mut self, voice_ms: Option<f64>) {
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.sort_by(f64::total_cmp);
        self.decoded_p50 = percentile(&decoded, 50.0).or(self.decoded_p50);
        let wanted = match (voice_ms, self.decoded_p50) {
            (Some(sound), Some(picture)) => Duration::from_secs_f64(((sound - picture) / 1000.0).clamp(0.0, MAX_SYNC.as_secs_f64())),
            _ => Duration::ZERO,
        };
        if wanted.abs_diff(self.delay) >= STEADY || wanted.is_zero() {
            self.delay = wanted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_picture_waits_as_long_as_the_sound_trails_it_and_small_changes_are_left_alone() {
        // (sound's median ms, picture's median ms, delay before, delay after)
        let table = [
            (Some(80.0), Some(30.0), ms(0), ms(50)),
            (Some(80.0), Some(30.0), ms(47), ms(47)), // 3 ms off: left alone
            (Some(80.0), Some(30.0), ms(44), ms(50)),
            (Some(32.0), Some(30.0), ms(0), ms(0)),  // 2 ms: not worth holding pictures for
            (Some(20.0), Some(30.0), ms(50), ms(0)), // the sound is ahead: no wait
            (None, Some(30.0), ms(50), ms(0)),       // nobody heard: no wait
            (Some(900.0), Some(30.0), ms(0), MAX_SYNC),
        ];
        for (voice, picture, before, after) in table {
            let mut sync = LipSync::<()>::new();
            sync.delay = before;
            if let Some(picture) = picture {
                sync.decoded(0, (), Some(picture), Instant::now());
            }
            sync.follow(voice);
            assert_eq!(sync.delay(), after, "sound {voice:?} ms, picture {picture:?} ms, from {before:?}");
        }
    }

    #[test]
    fn held_pictures_show_in_order_at_their_moment_and_never_more_than_a_second_of_them() {
        let start = Instant::now();
        let mut sync = LipSync::new();
        // No delay: shown at once.
        assert_eq!(sync.decoded(1, "one", None, start), Some((1, "one")));
        sync.delay = ms(100);
        assert_eq!(sync.decoded(2, "two", None, start), None);
        assert_eq!(sync.decoded(3, "three", None, start + ms(33)), None);
        assert_eq!(sync.next_due(), Some(start + ms(100)));
        assert!(sync.due(start + ms(99)).is_empty());
        assert_eq!(sync.due(start + ms(100)), vec![(2, "two")]);
        assert_eq!(sync.due(start + ms(200)), vec![(3, "three")]);
        assert_eq!(sync.next_due(), None);
        // A clock that never lets them go: the oldest goes out once a second's worth waits.
        for n in 0..MAX_HELD as u32 {
            assert_eq!(sync.decoded(10 + n, "held", None, start), None);
        }
        assert_eq!(sync.decoded(99, "newest", None, start), Some((10, "held")));
    }
}
