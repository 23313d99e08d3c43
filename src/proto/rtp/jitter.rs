//! An adaptive jitter buffer for one audio source (fixed-duration frames, such as 20 ms Opus),
//! sans-IO: packets go in with their arrival time, and the player takes one frame out each
//! time it needs one (every frame period, or sooner while it waits for a late frame).
//!
//! - It waits until `target` frames are buffered before it starts playing.
//! - The target follows the measured interarrival jitter (RFC 3550 A.8), between `min_frames`
//!   and `max_frames`: whole frames for three times the jitter, less the `headroom` that the
//!   playout clock keeps on its own; a packet that comes after its turn raises it at once.
//! - When more than the target stays buffered for a while, one frame is dropped, so the delay
//!   shrinks again once the network is calm (and a sender whose clock runs fast does not grow
//!   the buffer without bound).
//! - A missing frame with later ones present is lost: the next packet's forward error correction
//!   stands in for it, or concealment. With nothing buffered at all (a late burst, or a sender
//!   whose clock runs slow) the buffer conceals without skipping, so the frame can still come
//!   (`waiting`: a player may bridge less than a frame and ask again). After `rebuffer_after`
//!   such pops in a row it starts over, buffering to the target again.

use super::packet::SequenceExtender;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The frame as it was sent.
    Frame(Vec<u8>),
    /// The frame was lost; decode this (the next) packet's redundancy in its place.
    Redundancy(Vec<u8>),
    /// The frame is missing: conceal (packet loss concealment).
    Conceal,
    /// Nothing is playing (not started, or the source fell silent): play silence.
    Silence,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// Length of one frame.
    pub frame: Duration,
    /// RTP timestamp units per frame (960 for 20 ms at 48 kHz).
    pub frame_ticks: u32,
    pub min_frames: usize,
    pub max_frames: usize,
    /// Empty pops in a row before the buffer starts over.
    pub rebuffer_after: usize,
    /// Pops in a row above the target before one frame is dropped.
    pub shrink_after: usize,
    /// Jitter the player absorbs without a whole frame of buffer: the time between a packet's
    /// arrival and its turn that the playout clock keeps anyway (its start-up guard and a
    /// mixing step finer than a frame).
    pub headroom: Duration,
}

impl JitterConfig {
    /// 20 ms frames at 48 kHz, 1 to 10 frames (20 to 200 ms) of buffer, no headroom.
    pub fn opus_20ms() -> JitterConfig {
        JitterConfig {
            frame: Duration::from_millis(20),
            frame_ticks: 960,
            min_frames: 1,
            max_frames: 10,
            rebuffer_after: 10,
            shrink_after: 15,
            headroom: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    /// Frames replaced by the next packet's redundancy.
    pub recovered: u64,
    pub concealed: u64,
    /// Packets that came after their turn.
    pub late: u64,
    pub duplicates: u64,
    /// Frames dropped to shrink the delay.
    pub dropped: u64,
    /// Times the buffer ran dry and started over.
    pub rebuffers: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    extender: SequenceExtender,
    packets: BTreeMap<u64, Vec<u8>>,
    /// Sequence number of the next frame to play; None while buffering.
    next: Option<u64>,
    /// Highest sequence number ever played or skipped: anything at or below is late.
    played_up_to: Option<u64>,
    target: usize,
    /// Interarrival jitter in timestamp units (RFC 3550 A.8), as a float.
    jitter: f64,
    last_transit: Option<i64>,
    empty_pops: usize,
    above_target_pops: usize,
    /// Sequence number and timestamp of the first packet: the timestamps of the others follow.
    reference: Option<(u64, u32)>,
    /// The frame the last pop played (or stood in for).
    last_popped: Option<u64>,
    pub stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(config: JitterConfig) -> JitterBuffer {
        JitterBuffer {
            config,
            extender: SequenceExtender::default(),
            packets: BTreeMap::new(),
            next: None,
            played_up_to: None,
            target: config.min_frames.max(1),
            jitter: 0.0,
            last_transit: None,
            empty_pops: 0,
            above_target_pops: 0,
            reference: None,
            last_popped: None,
            stats: JitterStats::default(),
        }
    }

    /// A packet arrived at `now` (any monotonic clock) with RTP sequence number `sequence` and
    /// timestamp `timestamp`. Returns the sequence number extended to 64 bits (wraps counted).
    pub fn push(&mut self, sequence: u16, timestamp: u32, payload: &[u8], now: Duration) -> u64 {
        let sequence = self.extender.extend(sequence);
        self.accept(sequence, timestamp, payload, now);
        sequence
    }

    fn accept(&mut self, sequence: u64, timestamp: u32, payload: &[u8], now: Duration) {
        self.stats.received += 1;
        self.reference.get_or_insert((sequence, timestamp));
        // Interarrival jitter, in timestamp units.
        let ticks_per_second = f64::from(self.config.frame_ticks) / self.config.frame.as_secs_f64();
        let arrival = (now.as_secs_f64() * ticks_per_second).round() as i64;
        let transit = arrival - i64::from(timestamp);
        if let Some(previous) = self.last_transit.replace(transit) {
            let d = (transit - previous).abs() as f64;
            // Ignore the jumps of a new talk spurt or a restarted sender.
            if d < ticks_per_second {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        if self.played_up_to.is_some_and(|p| sequence <= p) {
            self.stats.late += 1;
            // It missed its turn: play later from now on.
            self.target = (self.target + 1).min(self.config.max_frames);
            return;
        }
        if self.packets.insert(sequence, payload.to_vec()).is_some() {
            self.stats.duplicates += 1;
            self.stats.received -= 1;
            return;
        }
        // Room for at most twice the largest delay; beyond that the oldest go.
        while self.packets.len() > 2 * self.config.max_frames {
            let first = *self.packets.keys().next().expect("not empty");
            self.packets.remove(&first);
            self.stats.dropped += 1;
            self.played_up_to = Some(self.played_up_to.map_or(first, |p| p.max(first)));
            if self.next.is_some_and(|n| n <= first) {
                self.next = Some(first + 1);
            }
        }
        self.adapt_target();
    }

    /// Frames to hold: about three times the jitter (less the headroom), plus the frame being
    /// played.
    fn wanted(&self) -> usize {
        let headroom = self.config.headroom.as_secs_f64() / self.config.frame.as_secs_f64();
        let jitter_frames = 3.0 * self.jitter / f64::from(self.config.frame_ticks) - headroom;
        // A tenth of a frame of slack, so that clock rounding does not cost a whole frame.
        let extra = (jitter_frames - 0.1).ceil().max(0.0) as usize;
        (extra + 1).clamp(self.config.min_frames.max(1), self.config.max_frames)
    }

    fn adapt_target(&mut self) {
        // Up at once; down only slowly, in `pop`.
        self.target = self.target.max(self.wanted());
    }

    /// The frame to play now; call once per frame period.
    pub fn pop(&mut self) -> Playout {
        self.last_popped = None;
        let Some(next) = self.next else {
            if self.packets.len() >= self.target {
                self.next = self.packets.keys().next().copied();
                self.empty_pops = 0;
                return self.pop();
            }
            return Playout::Silence;
        };
        if self.packets.is_empty() {
            self.empty_pops += 1;
            if self.empty_pops > self.config.rebuffer_after {
                self.next = None;
                self.stats.rebuffers += 1;
                return Playout::Silence;
            }
            // Stretch: the frame may still come.
            self.stats.concealed += 1;
            return Playout::Conceal;
        }
        self.empty_pops = 0;
        // Shrink when the buffer has held more than it needs for a while: one frame at a time.
        let wanted = self.wanted();
        if self.depth_frames() > wanted {
            self.above_target_pops += 1;
        } else {
            self.above_target_pops = 0;
        }
        let mut next = next;
        if self.above_target_pops >= self.config.shrink_after {
            self.above_target_pops = 0;
            self.target = wanted.max(self.target.saturating_sub(1));
            if self.packets.remove(&next).is_some() {
                self.stats.dropped += 1;
            }
            self.played_up_to = Some(next);
            next += 1;
        }
        self.next = Some(next + 1);
        self.played_up_to = Some(next);
        self.last_popped = Some(next);
        if let Some(payload) = self.packets.remove(&next) {
            self.stats.played += 1;
            return Playout::Frame(payload);
        }
        if let Some(following) = self.packets.get(&(next + 1)) {
            self.stats.recovered += 1;
            return Playout::Redundancy(following.clone());
        }
        self.stats.concealed += 1;
        Playout::Conceal
    }

    /// The last `pop` stood in for a frame that has not come yet and may still: the player may
    /// bridge a shorter time than a frame and ask again.
    pub fn waiting(&self) -> bool {
        self.next.is_some() && self.last_popped.is_none()
    }

    /// RTP timestamp of the frame the last `pop` played, recovered or concealed in its turn
    /// (None for silence and for a stretch that waits for a late frame).
    pub fn last_timestamp(&self) -> Option<u32> {
        let (sequence, timestamp) = self.reference?;
        let popped = self.last_popped?;
        let frames = popped.wrapping_sub(sequence) as u32;
        Some(timestamp.wrapping_add(frames.wrapping_mul(self.config.frame_ticks)))
    }

    /// Packets held.
    pub fn held(&self) -> usize {
        self.packets.len()
    }

    /// Frames buffered from the next one to play to the newest.
    pub fn depth_frames(&self) -> usize {
        match (self.next, self.packets.keys().next_back()) {
            (Some(next), Some(&last)) if last >= next => (last - next + 1) as usize,
            (None, _) => self.packets.len(),
            _ => 0,
        }
    }

    /// How long a frame that arrives now waits before it plays.
    pub fn delay(&self) -> Duration {
        self.config.frame * self.depth_frames() as u32
    }

    pub fn target_frames(&self) -> usize {
        self.target
    }

    /// Interarrival jitter (RFC 3550) as a duration.
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter * self.config.frame.as_secs_f64() / f64::from(self.config.frame_ticks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Jitter as Rng;

    fn payload(seq: u64) -> Vec<u8> {
        vec![(seq % 251) as u8; 3]
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feed packets `seqs` (arriving at the given milliseconds) and pop once per 20 ms from
    /// `start_ms`; returns what played.
    fn run(arrivals: &[(u64, u64)], pops: usize, start_ms: u64) -> (Vec<Playout>, JitterBuffer) {
        let mut buffer = JitterBuffer::new(JitterConfig::opus_20ms());
        let mut arrivals = arrivals.to_vec();
        arrivals.sort_by_key(|a| a.1);
        let mut out = Vec::new();
        let mut i = 0;
        for k in 0..pops {
            let now = start_ms + 20 * k as u64;
            while i < arrivals.len() && arrivals[i].1 <= now {
                let seq = arrivals[i].0;
                buffer.push(seq as u16, (seq * 960) as u32, &payload(seq), ms(arrivals[i].1));
                i += 1;
            }
            out.push(buffer.pop());
        }
        (out, buffer)
    }

    #[test]
    fn steady_stream_plays_every_frame_in_order() {
        let arrivals: Vec<(u64, u64)> = (0..50).map(|s| (s, 20 * s)).collect();
        let (out, buffer) = run(&arrivals, 50, 1);
        let frames: Vec<Vec<u8>> = out.iter().filter_map(|p| if let Playout::Frame(f) = p { Some(f.clone()) } else { None }).collect();
        assert_eq!(frames, (0..50).map(payload).collect::<Vec<_>>());
        assert_eq!(buffer.stats.concealed, 0);
        assert_eq!(buffer.target_frames(), 1);
    }

    #[test]
    fn a_late_frame_is_waited_for_while_a_lost_one_is_not() {
        let mut buffer = JitterBuffer::new(JitterConfig::opus_20ms());
        for s in 0..3u64 {
            buffer.push(s as u16, (s * 960) as u32, &payload(s), ms(20 * s));
            assert_eq!(buffer.pop(), Playout::Frame(payload(s)));
            assert!(!buffer.waiting());
        }
        // Frame 3 is late: nothing to play, and it may still come.
        assert_eq!(buffer.pop(), Playout::Conceal);
        assert!(buffer.waiting());
        assert_eq!(buffer.pop(), Playout::Conceal);
        assert!(buffer.waiting());
        buffer.push(3, 3 * 960, &payload(3), ms(66));
        assert_eq!(buffer.pop(), Playout::Frame(payload(3)));
        assert!(!buffer.waiting());
        // Frame 4 is lost (5 is here): its turn is concealed and not waited for.
        buffer.push(5, 5 * 960, &payload(5), ms(100));
        buffer.push(6, 6 * 960, &payload(6), ms(120));
        assert_eq!(buffer.pop(), Playout::Redundancy(payload(5)));
        assert!(!buffer.waiting());
        assert_eq!(buffer.stats.late, 0);
    }

    #[test]
    fn table_of_gaps() {
        // (packets that arrive, what plays for sequence 0..6)
        use Playout::*;
        let cases: Vec<(Vec<u64>, Vec<Playout>)> = vec![
            // One lost: the next packet's redundancy stands in.
            (vec![0, 1, 3, 4, 5, 6], vec![Frame(payload(0)), Frame(payload(1)), Redundancy(payload(3)), Frame(payload(3)), Frame(payload(4)), Frame(payload(5))]),
            // Two lost: concealment, then redundancy.
            (vec![0, 1, 4, 5, 6, 7], vec![Frame(payload(0)), Frame(payload(1)), Conceal, Redundancy(payload(4)), Frame(payload(4)), Frame(payload(5))]),
        ];
        for (seqs, expected) in cases {
            // Everything arrives up front, spaced less than a frame apart.
            let arrivals: Vec<(u64, u64)> = seqs.iter().map(|&s| (s, s)).collect();
            let (out, _) = run(&arrivals, expected.len(), 10);
            assert_eq!(out, expected, "{seqs:?}");
        }
    }

    #[test]
    fn reordering_within_the_buffer_costs_nothing_and_duplicates_are_dropped() {
        let mut buffer = JitterBuffer::new(JitterConfig::opus_20ms());
        for (i, seq) in [1u64, 0, 3, 2, 2, 5, 4, 4].iter().enumerate() {
            buffer.push(*seq as u16, (*seq * 960) as u32, &payload(*seq), ms(i as u64));
        }
        let mut stamps = Vec::new();
        let frames: Vec<Playout> = (0..6)
            .map(|_| {
                let frame = buffer.pop();
                stamps.push(buffer.last_timestamp());
                frame
            })
            .collect();
        assert_eq!(frames, (0..6).map(|s| Playout::Frame(payload(s))).collect::<Vec<_>>());
        // Timestamps follow the sequence from the first packet that arrived (1, at 960).
        assert_eq!(stamps, (0..6u32).map(|s| Some(s * 960)).collect::<Vec<_>>());
        assert_eq!(buffer.stats.duplicates, 2);
        assert_eq!(buffer.stats.received, 6);
    }

    #[test]
    fn a_late_packet_is_dropped_and_raises_the_target() {
        let mut buffer = JitterBuffer::new(JitterConfig::opus_20ms());
        buffer.push(0, 0, &payload(0), ms(0));
        buffer.push(2, 1920, &payload(2), ms(1));
        assert_eq!(buffer.pop(), Playout::Frame(payload(0)));
        assert_eq!(buffer.pop(), Playout::Redundancy(payload(2)));
        let before = buffer.target_frames();
        buffer.push(1, 960, &payload(1), ms(45));
        assert_eq!(buffer.stats.late, 1);
        assert_eq!(buffer.target_frames(), before + 1);
        assert_eq!(buffer.pop(), Playout::Frame(payload(2)));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let arrivals: Vec<(u64, u64)> = (65_530..65_545).map(|s| (s, 20 * (s - 65_530))).collect();
        let (out, buffer) = run(&arrivals, 15, 1);
        assert!(out.iter().all(|p| matches!(p, Playout::Frame(_))), "{out:?}");
        assert_eq!(buffer.stats.played, 15);
    }

    /// Simulated talk: packets every 20 ms with random network delay; the playout clock pops
    /// every 20 ms, its rate scaled by `drift` against the sender's.
    fn simulate(seed: u64, seconds: u64, delay: impl Fn(&mut Rng, u64) -> Option<u64>, drift: f64) -> JitterBuffer {
        let mut rng = Rng::new(seed);
        let frames = seconds * 50;
        let mut arrivals: Vec<(u64, u64)> = (0..frames).filter_map(|s| delay(&mut rng, s).map(|d| (s, 20 * s + d))).collect();
        arrivals.sort_by_key(|a| a.1);
        let mut buffer = JitterBuffer::new(JitterConfig::opus_20ms());
        let mut i = 0;
        let mut max_depth = 0;
        let pops = (frames as f64 / drift) as u64;
        for k in 0..pops {
            let now = (20.0 * k as f64 * drift) as u64 + 5;
            while i < arrivals.len() && arrivals[i].1 <= now {
                let s = arrivals[i].0;
                buffer.push(s as u16, (s * 960) as u32, &payload(s), ms(arrivals[i].1));
                i += 1;
            }
            buffer.pop();
            max_depth = max_depth.max(buffer.depth_frames());
            assert!(max_depth <= 2 * JitterConfig::opus_20ms().max_frames, "depth {max_depth}");
        }
        buffer
    }

    #[test]
    fn jitter_grows_the_buffer_and_calm_shrinks_it() {
        let mut buffer = simulate(7, 20, |rng, _| Some(rng.next_u64() % 60), 1.0);
        let jittery_target = buffer.target_frames();
        assert!(jittery_target >= 3, "target {jittery_target} frames under 0-60 ms of jitter");
        assert!(buffer.stats.concealed * 100 < buffer.stats.played, "{:?}", buffer.stats);
        // Then a calm network: 20 more seconds with 1 ms of jitter.
        let mut rng = Rng::new(9);
        for s in 1000..2000u64 {
            let now = ms(20 * s + rng.next_u64() % 2);
            buffer.push(s as u16, (s * 960) as u32, &payload(s), now);
            buffer.pop();
        }
        assert!(buffer.target_frames() < jittery_target, "target stayed at {}", buffer.target_frames());
        assert!(buffer.depth_frames() <= 3, "depth {}", buffer.depth_frames());
    }

    #[test]
    fn headroom_absorbs_small_jitter_without_a_whole_frame() {
        // Packets 0-3 ms late at random: about 1 ms of jitter, three times which is under the
        // headroom of 4.5 ms but would take a second frame without it.
        let run = |headroom: Duration| {
            let mut buffer = JitterBuffer::new(JitterConfig { headroom, ..JitterConfig::opus_20ms() });
            let mut rng = Rng::new(3);
            let mut targets = Vec::new();
            for s in 0..500u64 {
                buffer.push(s as u16, (s * 960) as u32, &payload(s), ms(20 * s + rng.next_u64() % 4));
                buffer.pop();
                targets.push(buffer.target_frames());
            }
            (targets.into_iter().max().unwrap(), buffer.jitter())
        };
        let (without, jitter) = run(Duration::ZERO);
        assert!(jitter > Duration::from_micros(500) && jitter < Duration::from_micros(1500), "{jitter:?}");
        assert_eq!(without, 2);
        assert_eq!(run(Duration::from_micros(4500)).0, 1);
    }

    #[test]
    fn loss_and_bursts_are_concealed_and_counted() {
        for seed in 1..6 {
            // 10 % random loss plus a 200 ms burst every 5 s.
            let buffer = simulate(seed, 20, |rng, s| (!rng.chance(0.10) && s % 250 >= 10).then_some(rng.next_u64() % 10), 1.0);
            let stats = buffer.stats;
            let lost = 1000 - stats.received;
            assert!(stats.recovered + stats.concealed >= lost * 9 / 10, "{stats:?}");
            assert!(stats.played >= stats.received * 95 / 100, "{stats:?}");
        }
    }

    #[test]
    fn clock_drift_either_way_stays_bounded() {
        for drift in [0.99, 1.01] {
            let buffer = simulate(3, 60, |rng, _| Some(rng.next_u64() % 5), drift);
            let stats = buffer.stats;
            // 1 % of 3000 frames is 30: a fast sender costs dropped frames, a slow one stretches.
            assert!(stats.dropped <= 60 && stats.concealed <= 80, "drift {drift}: {stats:?}");
            assert!(buffer.depth_frames() <= 4, "drift {drift}: depth {}", buffer.depth_frames());
        }
    }
}
