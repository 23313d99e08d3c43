//! What a conference reports: per-interval statistics, totals at the end, and the percentile
//! and histogram they are computed with.

use super::device::{self, DeviceState};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SentStats {
    pub frames: u64,
    pub keyframes: u64,
    pub packets: u64,
    pub kbps: f64,
    /// Keyframe requests (PLI) received in this interval.
    pub keyframe_requests: u64,
    #[serde(serialize_with = "device::camera_words")]
    pub camera: DeviceState,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PeerStats {
    pub ssrc: u32,
    /// As shown: an impostor's is marked.
    pub nick: String,
    /// The fingerprint of the key its name is signed with; whether that name is pinned to
    /// another key.
    pub key: Option<String>,
    pub impostor: bool,
    /// Pictures decoded in this interval.
    pub frames: u64,
    pub fps: f64,
    pub kbps: f64,
    pub packets: u64,
    /// Packets lost since the start.
    pub lost: i64,
    pub decode_errors: u64,
    pub keyframe_requests: u64,
    /// Capture-to-display latency in this interval (needs one sender report first).
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    pub stalled: bool,
    /// What the sender says of its camera ("camera off", "camera lost: ...").
    pub note: String,
    /// How much later their sound plays than their picture shows (negative: earlier), from
    /// the two latencies; lip sync holds within 80 ms.
    pub av_offset_ms: Option<f64>,
    /// How long their pictures are held back to show with their sound.
    pub sync_delay_ms: u64,
}

/// One report a second.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Seconds since the start.
    pub t: f64,
    pub nick: String,
    pub ssrc: u32,
    pub sent: SentStats,
    pub peers: Vec<PeerStats>,
    /// Audio sent and heard in the last second.
    pub audio: Option<AudioStats>,
    /// The video is SRTP (the conference has a passphrase).
    pub encrypted: bool,
    /// Video packets since the start that did not open with our key (another passphrase, or
    /// altered), and replays dropped.
    pub unopened: u64,
    pub replayed: u64,
}

/// Totals at the end of a conference.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub seconds: f64,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub frames_lost: u64,
    pub packets_lost: i64,
    pub decode_errors: u64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
}

/// The `p`th percentile (0 to 100) of sorted values, to two decimals; None for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some((sorted[rank.min(sorted.len() - 1)] * 100.0).round() / 100.0)
}

/// Counts of latencies in half-millisecond bins up to a second, for percentiles over a whole
/// call in constant memory.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    bins: Vec<u64>,
    count: u64,
}

impl Histogram {
    const BIN_MS: f64 = 0.5;

    pub(crate) fn new() -> Histogram {
        Histogram { bins: vec![0; 2000], count: 0 }
    }

    pub(crate) fn record(&mut self, ms: f64) {
        let bin = ((ms.max(0.0) / Self::BIN_MS) as usize).min(self.bins.len() - 1);
        self.bins[bin] += 1;
        self.count += 1;
    }

    /// The upper edge of the bin that holds the `p`th percentile (0 to 100).
    pub(crate) fn percentile(&self, p: f64) -> Option<f64> {
        let rank = ((p / 100.0 * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some((i + 1) as f64 * Self::BIN_MS);
            }
        }
        None
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AudioPeer {
    pub ssrc: u32,
    pub nick: String,
    pub cname: String,
    /// The fingerprint of the key its name is signed with.
    pub key: Option<String>,
    pub packets: u64,
    /// Packets lost since the start.
    pub lost: i64,
    /// Frames rebuilt from the next packet's redundancy, and concealed, in this interval.
    pub recovered: u64,
    pub concealed: u64,
    /// Milliseconds bridged (by concealment, 5 ms at a time) while waiting for a late packet,
    /// in this interval; each adds as much to the delay from then on, until the buffer shrinks.
    pub waited_ms: u64,
    pub jitter_ms: f64,
    pub buffer_ms: f64,
    /// Mouth-to-ear without the devices' buffers (median of the interval): from the capture of
    /// a frame's first sample, mapped through the sender's reports, to its playout. It holds
    /// the packetisation (20 ms), the network and the jitter buffer.
    pub latency_ms_p50: Option<f64>,
    /// The 95th percentile of the same, over the interval's frames.
    pub latency_ms_p95: Option<f64>,
    /// The loudest 20 ms of the interval, in dB below full scale.
    pub level_db: f64,
    pub speaking: bool,
    /// Its microphone is muted (its source description says so).
    pub muted: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AudioStats {
    #[serde(serialize_with = "device::microphone_words")]
    pub mic: DeviceState,
    #[serde(serialize_with = "device::speaker_words")]
    pub speaker: DeviceState,
    pub muted: bool,
    pub packets: u64,
    pub kbps: f64,
    pub peers: Vec<AudioPeer>,
    /// Audio packets since the start that did not open with our key, and replays dropped.
    pub unopened: u64,
    pub replayed: u64,
    /// Mouth-to-ear (as `AudioPeer::latency_ms_p50`) over every frame of every participant
    /// since the start: median and 95th percentile.
    pub latency_ms_p50_all: Option<f64>,
    pub latency_ms_p95_all: Option<f64>,
}

impl AudioStats {
    /// The participant whose CNAME is `cname`.
    /// The voice of the participant whose CNAME is `cname` and whose name is signed with
    /// `key` (when the picture's is: an impostor's voice under that CNAME is not theirs).
    pub fn peer(&self, cname: &str, key: Option<&str>) -> Option<&AudioPeer> {
        self.peers.iter().find(|p| p.cname == cname && (key.is_none() || p.key.as_deref() == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_gives_percentiles_to_half_a_millisecond() {
        let mut histogram = Histogram::new();
        assert_eq!(histogram.percentile(50.0), None);
        // 90 frames at 25.2 ms, 10 at 45.7 ms, one beyond the last bin.
        (0..90).for_each(|_| histogram.record(25.2));
        (0..10).for_each(|_| histogram.record(45.7));
        histogram.record(5000.0);
        assert_eq!(histogram.percentile(50.0), Some(25.5));
        assert_eq!(histogram.percentile(89.0), Some(25.5));
        assert_eq!(histogram.percentile(90.0), Some(46.0));
        assert_eq!(histogram.percentile(95.0), Some(46.0));
        assert_eq!(histogram.percentile(100.0), Some(1000.0));
    }
}
