//! The receiving side of the audio as a plain struct, time as an argument: the voices heard
//! (RTP and RTCP in), one jitter buffer and Opus decoder each, their playout and the mix
//! (`tick(now)` gives the next 5 ms of sound), and what they add up to in statistics and
//! receiver reports. The thread around it (`audio_receive.rs`) owns the sockets and the speaker.
//!
//! Each voice's decoded samples wait in a short queue, so that playout starts a talk spurt
//! within 5 ms (plus a small guard) of its packet's arrival rather than at the next 20 ms
//! boundary of the mix; the jitter buffer still works in whole frames. A frame that is late but
//! may still come is waited for 5 ms at a time, and the delay those waits add is given back in
//! a pause once the network has been calm for a while.

use super::audio::AudioTap;
use super::gone_after_bye;
use super::stats::{percentile, AudioPeer, Histogram};
use crate::media::audio::{self, OpusDecoder, FRAME, OPUS_PAYLOAD_TYPE, SAMPLE_RATE};
use crate::proto::rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::proto::rtp::packet;
use crate::proto::mchat::seal::fingerprint;
use crate::proto::rtp::rtcp::{self, ReceptionStats, Rtcp};
use crossbeam_channel::Sender;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub(super) const FRAME_TIME: Duration = Duration::from_millis(20);
/// The mixer's step: 5 ms of samples.
pub const MIX_BLOCK: usize = FRAME / 4;
pub const MIX_TIME: Duration = Duration::from_millis(5);
/// The least time from a talk spurt's newest packet to the start of its playout, so that the
/// packets after it may come a little late and still make their turn.
const GUARD: Duration = Duration::from_millis(2);
/// What the guard and the 5 ms step leave between arrival and turn on average: jitter up to a
/// third of it needs no whole frame of buffer.
const HEADROOM: Duration = Duration::from_micros(4500);
/// A level above this (dBFS, over a 20 ms frame) counts as speaking.
const SPEAKING_DB: f32 = -45.0;
/// A frame below this level is a pause: 5 ms of it can go unheard.
const QUIET_DB: f32 = -60.0;
/// Time without a late packet after which the delay it added is given back.
const CALM: Duration = Duration::from_secs(2);
/// A voice not heard (RTP or RTCP) for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(5);
/// Voices followed at once: each has a jitter buffer and a decoder. Newcomers beyond it are
/// ignored until one leaves.
pub const MAX_AUDIO_SOURCES: usize = 16;

pub struct MixerConfig {
    pub own_ssrc: u32,
    /// The mixer's start, and the wall clock (since the Unix epoch) at that moment: latencies
    /// are measured against the senders' clocks from their reports.
    pub start: Instant,
    pub start_wall: Duration,
    /// Copies of played frames (tests and benchmarks); a frame is dropped when it is full.
    pub tap: Option<Sender<AudioTap>>,
    /// The call name signatures are bound to (see `ConferenceConfig::name_scope`).
    pub scope: String,
}

struct Remote {
    /// The host it speaks from: RTP and RTCP for it from elsewhere are dropped.
    host: IpAddr,
    /// When it (or someone in its name) said goodbye.
    bye_at: Option<Instant>,
    nick: String,
    cname: String,
    /// The fingerprint of the key its name is signed with; when the signature was last
    /// checked, and what it was.
    key: Option<String>,
    name_checked: Option<Instant>,
    name_seen: Option<Vec<u8>>,
    buffer: JitterBuffer,
    decoder: Option<OpusDecoder>,
    reception: ReceptionStats,
    clock: Option<(u64, u32)>,
    /// Capture-to-playout of the frames played in this interval, in ms.
    latencies: Vec<f64>,
    last_heard: Instant,
    /// When the newest RTP packet came.
    last_packet: Instant,
    /// Decoded samples not yet mixed.
    pcm: VecDeque<f32>,
    /// A talk spurt is playing (the jitter buffer gave frames).
    playing: bool,
    /// Time bridged while waiting for late packets, in this interval.
    waited: Duration,
    /// Delay those waits added and pauses have not yet given back, and when the last was.
    added: Duration,
    last_wait: Option<Instant>,
    packets: u64,
    recovered: u64,
    concealed: u64,
    /// Loudest frame of the interval (mean square).
    level: f32,
    /// When a frame was last loud enough to count as speech.
    loud_at: Option<Instant>,
    /// Its last source description said its microphone is muted.
    muted: bool,
}

impl Remote {
    fn new(host: IpAddr, now: Instant) -> Remote {
        Remote {
            host,
            bye_at: None,
            nick: String::new(),
            cname: String::new(),
            key: None,
            name_checked: None,
            name_seen: None,
            // It is asked again every 5 ms while it waits for a late frame: 40 asks are 200 ms.
            buffer: JitterBuffer::new(JitterConfig { headroom: HEADROOM, rebuffer_after: 40, ..JitterConfig::opus_20ms() }),
            decoder: None,
            reception: ReceptionStats::default(),
            clock: None,
            latencies: Vec::new(),
            last_heard: now,
            last_packet: now,
            pcm: VecDeque::with_capacity(2 * FRAME),
            playing: false,
            waited: Duration::ZERO,
            added: Duration::ZERO,
            last_wait: None,
            packets: 0,
            recovered: 0,
            concealed: 0,
            level: 0.0,
            loud_at: None,
            muted: false,
        }
    }

    /// A talk spurt that has not started yet waits for the guard after its newest packet, so
    /// that the next one may be a little late.
    fn ready(&self, now: Instant) -> bool {
        let guard = GUARD.max(self.buffer.jitter() * 3).min(FRAME_TIME);
        self.playing || !self.pcm.is_empty() || now >= self.last_packet + guard
    }
}

fn decibels(level: f32) -> f32 {
    10.0 * level.max(1e-12).log10()
}

pub struct Mixer {
    config: MixerConfig,
    remotes: HashMap<u32, Remote>,
    mix: [f32; MIX_BLOCK],
    frame: [f32; FRAME],
    /// Every frame's mouth-to-ear latency since the start.
    all_latencies: Histogram,
}

impl Mixer {
    pub fn new(config: MixerConfig) -> Mixer {
        Mixer { config, remotes: HashMap::new(), mix: [0.0; MIX_BLOCK], frame: [0.0; FRAME], all_latencies: Histogram::new() }
    }

    /// One datagram from the RTP port.
    pub fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr, now: Instant) {
        let Ok(packet) = packet::parse(bytes) else { return };
        let header = packet.header;
        if header.ssrc == self.config.own_ssrc || header.payload_type != OPUS_PAYLOAD_TYPE {
            return;
        }
        if !self.remotes.contains_key(&header.ssrc) && self.remotes.len() >= MAX_AUDIO_SOURCES {
            log::debug!("audio: {MAX_AUDIO_SOURCES} voices already; ignoring {:08x} from {from}", header.ssrc);
            return;
        }
        let remote = self.remotes.entry(header.ssrc).or_insert_with(|| Remote::new(from.ip(), now));
        if remote.host != from.ip() {
            return;
        }
        remote.last_heard = now;
        remote.last_packet = now;
        remote.packets += 1;
        let since_start = now.saturating_duration_since(self.config.start);
        let sequence = remote.buffer.push(header.sequence, header.timestamp, packet.payload, since_start);
        let arrival = (since_start.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u32;
        remote.reception.packet(sequence, header.timestamp, arrival);
    }

    /// One datagram from the RTCP port: sender clocks, names, goodbyes.
    pub fn on_rtcp(&mut self, bytes: &[u8], from: SocketAddr, now: Instant) {
        let Ok(packets) = rtcp::parse(bytes) else { return };
        let own = self.config.own_ssrc;
        for packet in packets {
            match packet {
                Rtcp::SenderReport { ssrc, ntp, rtp_timestamp, .. } if ssrc != own => {
                    // A voice muted from the start sends reports and no audio: known from its
                    // reports, its note (muted) shows.
                    if !self.remotes.contains_key(&ssrc) && self.remotes.len() < MAX_AUDIO_SOURCES {
                        self.remotes.insert(ssrc, Remote::new(from.ip(), now));
                    }
                    if let Some(remote) = self.remotes.get_mut(&ssrc).filter(|r| r.host == from.ip()) {
                        remote.clock = Some((ntp, rtp_timestamp));
                        remote.reception.sender_report(ntp, now.saturating_duration_since(self.config.start));
                        remote.last_heard = now;
                    }
                }
                Rtcp::SourceDescription { ssrc, cname, name, note, signed } if ssrc != own => {
                    if let Some(remote) = self.remotes.get_mut(&ssrc).filter(|r| r.host == from.ip()) {
                        remote.muted = note.as_deref() == Some(super::audio::MUTED_NOTE);
                        let nick = name.unwrap_or_default();
                        // Which key speaks under this name: checked when the signature changes,
                        // at most twice a second (as the video's), so that a voice is put with
                        // a picture only when both have the same key.
                        let changed = remote.name_seen != signed || remote.nick != nick || remote.cname != cname;
                        if changed && remote.name_checked.is_none_or(|at| now >= at + Duration::from_millis(500)) {
                            remote.name_checked = Some(now);
                            let wall = (self.config.start_wall + now.saturating_duration_since(self.config.start)).as_secs();
                            remote.key = signed
                                .as_ref()
                                .and_then(|value| rtcp::verified_name(value, &self.config.scope, ssrc, &cname, &nick))
                                .filter(|(_, at)| at.abs_diff(wall) <= crate::proto::rtp::session::NAME_SIGNATURE_AGE.as_secs())
                                .map(|(key, _)| fingerprint(&key));
                            remote.name_seen = signed;
                            remote.cname = cname;
                            remote.nick = nick;
                        }
                    }
                }
                Rtcp::Bye { sources } => {
                    // Only from the voice's own host, and only if its RTP stops.
                    for ssrc in sources {
                        if let Some(remote) = self.remotes.get_mut(&ssrc).filter(|r| r.host == from.ip()) {
                            remote.bye_at.get_or_insert(now);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The next 5 ms of sound: every voice's next samples at its volume (percent by CNAME;
    /// 100 where none is set), mixed and limited. A voice whose queue runs short takes the next
    /// frame from its jitter buffer and decodes it.
    pub fn tick(&mut self, now: Instant, volumes: &HashMap<String, u32>) -> &[f32; MIX_BLOCK] {
        self.mix.fill(0.0);
        // Voices that said goodbye and then fell silent, and voices not heard for a while.
        self.remotes.retain(|_, r| !gone_after_bye(r.bye_at, r.last_packet, now) && now.saturating_duration_since(r.last_heard) < FORGET_AFTER);
        let wall = (self.config.start_wall + now.saturating_duration_since(self.config.start)).as_secs_f64();
        for (&ssrc, remote) in self.remotes.iter_mut() {
            if !remote.ready(now) {
                continue;
            }
            while remote.pcm.len() < MIX_BLOCK {
                if !Self::play_next(remote, ssrc, now, wall, &mut self.frame, &mut self.all_latencies, &self.config.tap) {
                    break;
                }
            }
            let gain = volumes.get(&remote.cname).map_or(1.0, |v| *v as f32 / 100.0);
            let n = remote.pcm.len().min(MIX_BLOCK);
            let (front, back) = remote.pcm.as_slices();
            let first = front.len().min(n);
            audio::mix_into(&mut self.mix[..first], &front[..first], gain);
            audio::mix_into(&mut self.mix[first..n], &back[..n - first], gain);
            remote.pcm.drain(..n);
        }
        audio::limit(&mut self.mix);
        &self.mix
    }

    /// Decodes the voice's next frame (or 5 ms of waiting for a late one) onto its queue; false
    /// when its jitter buffer has nothing to play.
    fn play_next(remote: &mut Remote, ssrc: u32, now: Instant, wall: f64, frame: &mut [f32; FRAME], histogram: &mut Histogram, tap: &Option<Sender<AudioTap>>) -> bool {
        let playout = remote.buffer.pop();
        if matches!(playout, Playout::Silence) {
            remote.playing = false;
            return false;
        }
        remote.playing = true;
        let timestamp = remote.buffer.last_timestamp();
        // Mouth to ear, less the devices: from the capture of the frame's first sample (the
        // sender's report maps its timestamp to the sender's clock) to its playout, after the
        // samples still queued before it.
        if let Some(captured) = timestamp.and_then(|ts| rtcp::captured_at(remote.clock, ts, SAMPLE_RATE)) {
            let plays = wall + remote.pcm.len() as f64 / f64::from(SAMPLE_RATE);
            let ms = (plays - captured) * 1000.0;
            histogram.record(ms);
            if remote.latencies.len() < 100 {
                remote.latencies.push(ms);
            }
        }
        let decoder = match remote.decoder.as_mut() {
            Some(decoder) => decoder,
            None => match OpusDecoder::new() {
                Ok(decoder) => remote.decoder.insert(decoder),
                Err(_) => return false,
            },
        };
        // A frame that is late but may still come is waited for one mix step at a time, so
        // that the wait costs only as much delay as the packet was late.
        let waiting = matches!(playout, Playout::Conceal) && remote.buffer.waiting();
        let length = if waiting { MIX_BLOCK } else { FRAME };
        let frame = &mut frame[..length];
        let result = match &playout {
            Playout::Frame(packet) => decoder.decode(packet, frame.try_into().expect("a whole frame")),
            Playout::Redundancy(next) => {
                remote.recovered += 1;
                decoder.recover(next, frame.try_into().expect("a whole frame"))
            }
            Playout::Conceal if waiting => {
                remote.waited += MIX_TIME;
                remote.added += MIX_TIME;
                remote.last_wait = Some(now);
                decoder.conceal(frame)
            }
            Playout::Conceal => {
                remote.concealed += 1;
                decoder.conceal(frame)
            }
            Playout::Silence => Ok(()),
        };
        if result.is_err() {
            // A packet the decoder refuses: conceal instead.
            let _ = decoder.conceal(frame);
            remote.concealed += 1;
        }
        let level = audio::energy(frame);
        remote.level = remote.level.max(level);
        if decibels(level) > SPEAKING_DB {
            remote.loud_at = Some(now);
        }
        if let (Some(tap), Some(timestamp)) = (tap, timestamp) {
            let _ = tap.try_send(AudioTap::Played { ssrc, cname: remote.cname.clone(), timestamp, samples: frame.to_vec() });
        }
        remote.pcm.extend(frame.iter());
        // Once the network has been calm for a while, give the delay that waiting added back,
        // 5 ms at a time, in pauses where the cut cannot be heard.
        let calm = remote.last_wait.is_none_or(|t| now.duration_since(t) > CALM);
        if !waiting && calm && remote.added >= MIX_TIME && decibels(level) < QUIET_DB {
            remote.pcm.truncate(remote.pcm.len() - MIX_BLOCK);
            remote.added -= MIX_TIME;
        }
        true
    }

    /// Each voice's figures of the interval since the last call, which starts the next one.
    pub fn take_interval(&mut self, now: Instant) -> Vec<AudioPeer> {
        let mut peers: Vec<AudioPeer> = self
            .remotes
            .iter_mut()
            .map(|(&ssrc, r)| {
                let mut latencies = std::mem::take(&mut r.latencies);
                latencies.sort_by(f64::total_cmp);
                let queued = r.pcm.len() as f64 / f64::from(SAMPLE_RATE);
                let level_db = if r.level > 0.0 { f64::from(decibels(r.level)).max(-90.0) } else { -90.0 };
                let peer = AudioPeer {
                    ssrc,
                    nick: r.nick.clone(),
                    cname: r.cname.clone(),
                    key: r.key.clone(),
                    packets: r.packets,
                    lost: r.reception.lost(),
                    recovered: r.recovered,
                    concealed: r.concealed,
                    waited_ms: r.waited.as_millis() as u64,
                    jitter_ms: (r.buffer.jitter().as_secs_f64() * 10_000.0).round() / 10.0,
                    buffer_ms: ((r.buffer.delay().as_secs_f64() + queued) * 10_000.0).round() / 10.0,
                    latency_ms_p50: percentile(&latencies, 50.0),
                    latency_ms_p95: percentile(&latencies, 95.0),
                    level_db: (level_db * 10.0).round() / 10.0,
                    // Heard within the last half second: pauses between words do not blink.
                    speaking: r.loud_at.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_millis(500)),
                    muted: r.muted,
                };
                (r.packets, r.recovered, r.concealed, r.level, r.waited) = (0, 0, 0, 0.0, Duration::ZERO);
                peer
            })
            .collect();
        peers.sort_by(|a, b| a.nick.cmp(&b.nick).then(a.ssrc.cmp(&b.ssrc)));
        peers
    }

    /// The reception report blocks of every voice (RFC 3550 §6.4.1).
    pub fn reception_reports(&mut self, now: Instant) -> Vec<rtcp::ReportBlock> {
        let since = now.saturating_duration_since(self.config.start);
        self.remotes.iter_mut().map(|(&ssrc, r)| r.reception.report(ssrc, since)).collect()
    }

    /// Mouth-to-ear latency of every frame played since the start, at percentile `p`.
    pub fn latency_percentile(&self, p: f64) -> Option<f64> {
        self.all_latencies.percentile(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::audio::OpusEncoder;
    use crate::proto::rtp::packet::Header;
    use crate::proto::rtp::rtcp::Rtcp;
    use crossbeam_channel::{bounded, Receiver};

    const VOICE: u32 = 0x5eed;

    /// A voice sending to a mixer on a clock the test moves: packet `n` carries the `n`th 20 ms
    /// of a tone (or of silence), and every 5 ms step of the mixer is recorded with what it
    /// started to play.
    struct Call {
        mixer: Mixer,
        start: Instant,
        encoder: OpusEncoder,
        played: Receiver<AudioTap>,
        /// When each frame (by sequence number) began to play, in ms.
        started: HashMap<u64, u64>,
    }

    impl Call {
        fn new() -> Call {
            let (tap, played) = bounded(10_000);
            let start = Instant::now();
            let mixer = Mixer::new(MixerConfig { own_ssrc: 1, start, start_wall: Duration::from_secs(1_700_000_000), tap: Some(tap), scope: String::new() });
            Call { mixer, start, encoder: OpusEncoder::new(32_000, 0).unwrap(), played, started: HashMap::new() }
        }

        fn at(&self, ms: u64) -> Instant {
            self.start + Duration::from_millis(ms)
        }

        fn packet(&mut self, sequence: u16, ms: u64, loud: bool) {
            let mut frame = [0.0f32; FRAME];
            if loud {
                for (i, sample) in frame.iter_mut().enumerate() {
                    let n = u64::from(sequence) * FRAME as u64 + i as u64;
                    *sample = 0.3 * (2.0 * std::f32::consts::PI * 440.0 * n as f32 / SAMPLE_RATE as f32).sin();
                }
            }
            let payload = self.encoder.encode(&frame).unwrap();
            let header = Header { payload_type: OPUS_PAYLOAD_TYPE, sequence, timestamp: u32::from(sequence) * FRAME as u32, ssrc: VOICE, ..Header::default() };
            self.mixer.on_rtp(&header.write(&payload), "127.0.0.1:5000".parse().unwrap(), self.at(ms));
        }

        fn tick(&mut self, ms: u64) {
            self.mixer.tick(self.at(ms), &HashMap::new());
            while let Ok(AudioTap::Played { timestamp, .. }) = self.played.try_recv() {
                self.started.insert(u64::from(timestamp) / FRAME as u64, ms);
            }
        }

        /// Packets as `(sequence, arrival ms, loud)`, and mixer steps every 5 ms from 0 to
        /// `until` ms; a packet arriving at a step's moment comes before it.
        fn run(&mut self, packets: &[(u16, u64, bool)], until: u64) {
            let mut packets = packets.iter().peekable();
            for ms in (0..=until).step_by(5) {
                while let Some(&&(sequence, at, loud)) = packets.peek() {
                    if at > ms {
                        break;
                    }
                    self.packet(sequence, at, loud);
                    packets.next();
                }
                self.tick(ms);
            }
        }

        /// Arrival to start of playout of frame `sequence`, in ms.
        fn delay(&self, sequence: u64, arrived: u64) -> Option<u64> {
            self.started.get(&sequence).map(|&at| at - arrived)
        }
    }

    /// Steady packets every 20 ms from `first` ms, with frame `late` (if any) `by` ms late.
    fn steady(count: u16, first: u64, late: Option<(u16, u64)>, loud: impl Fn(u16) -> bool) -> Vec<(u16, u64, bool)> {
        let mut packets: Vec<(u16, u64, bool)> = (0..count)
            .map(|n| {
                let extra = late.filter(|(l, _)| *l == n).map_or(0, |(_, by)| by);
                (n, first + 20 * u64::from(n) + extra, loud(n))
            })
            .collect();
        packets.sort_by_key(|p| p.1);
        packets
    }

    #[test]
    fn a_talk_spurt_starts_at_the_first_step_after_its_guard() {
        // (first packet arrives at ms, the step its frame starts to play at)
        let table = [(10, 15), (11, 15), (12, 15), (13, 15), (14, 20), (0, 5), (3, 5), (4, 10)];
        for (arrival, expected) in table {
            let mut call = Call::new();
            call.run(&steady(3, arrival, None, |_| true), arrival + 60);
            assert_eq!(call.started.get(&0), Some(&expected), "a first packet at {arrival} ms");
            // Once playing, each frame plays as soon as the one before it is used up.
            assert_eq!(call.started.get(&1), Some(&(expected + 20)), "the second frame of a spurt starting at {arrival} ms");
        }
    }

    #[test]
    fn a_late_frame_is_waited_for_five_ms_at_a_time_and_plays_instead_of_being_concealed() {
        // Frame 3 is due to play at 75 ms (it arrives at 70 when on time).
        // (how late frame 3 is in ms, the delay it adds to every later frame in ms)
        let table = [(0, 0), (3, 0), (5, 0), (8, 5), (12, 10), (15, 10)];
        for (late, added) in table {
            let mut call = Call::new();
            let packets = steady(10, 10, Some((3, late)), |_| true);
            // Up to frame 9's turn: a voice that stops is waited for too, before it falls silent.
            call.run(&packets, 210);
            let stats = call.mixer.take_interval(call.at(210));
            assert_eq!(stats.len(), 1);
            assert_eq!(stats[0].concealed, 0, "frame 3 {late} ms late is played, not concealed");
            assert_eq!(stats[0].waited_ms, added, "waited for frame 3 {late} ms late");
            assert!(call.started.contains_key(&3), "frame 3 {late} ms late is played");
            for n in [1u16, 2] {
                assert_eq!(call.delay(u64::from(n), 10 + 20 * u64::from(n)), Some(5), "frame {n}, before the late one");
            }
            for n in [5u16, 9] {
                assert_eq!(call.delay(u64::from(n), 10 + 20 * u64::from(n)), Some(5 + added), "frame {n}, after frame 3 came {late} ms late");
            }
        }
    }

    #[test]
    fn the_delay_a_wait_added_is_given_back_in_a_pause_once_the_network_is_calm() {
        // Frame 3 comes 12 ms late (10 ms added). From frame `quiet_from` on the voice is
        // silent; the delay goes back 5 ms a frame once 2 s have passed since the wait.
        // (first silent frame, frame to look at, its delay from arrival to playout in ms)
        let table: [(u16, u16, u64); 10] = [
            (1000, 50, 15),   // loud all along: the added delay stays
            (20, 50, 15),     // silent, but not yet calm (1 s after the wait)
            (20, 103, 15),    // frame 103 plays at 2085 ms, the first after 2 s of calm...
            (20, 104, 10),    // ...and is played 5 ms shorter, so the next starts 5 ms earlier
            (20, 105, 5),     // ...and the one after has all of it back
            (20, 140, 5),     // and it stays given back
            (130, 129, 15),   // calm but loud: nothing is cut from speech
            (130, 132, 15),   // the codec's look-ahead and ringing carry the tone two frames on...
            (130, 133, 10),   // ...the pause after them gives the delay back
            (130, 134, 5),
        ];
        for (quiet_from, frame, expected) in table {
            let mut call = Call::new();
            let packets = steady(150, 10, Some((3, 12)), |n| n < quiet_from);
            call.run(&packets, 3100);
            assert_eq!(call.delay(u64::from(frame), 10 + 20 * u64::from(frame)), Some(expected), "frame {frame}, silent from frame {quiet_from}");
        }
    }

    #[test]
    fn a_voice_is_forgotten_after_its_goodbye_only_from_its_host_or_after_5_s_of_silence() {
        let mut call = Call::new();
        let bye = rtcp::write(&[Rtcp::Bye { sources: vec![VOICE] }]);
        let voices = |call: &mut Call, ms: u64| {
            call.tick(ms);
            call.mixer.take_interval(call.at(ms)).len()
        };
        call.packet(0, 0, true);
        // A goodbye in its name from another host counts for nothing.
        call.mixer.on_rtcp(&bye, "127.0.0.9:5001".parse().unwrap(), call.at(10));
        assert_eq!(voices(&mut call, 4000), 1);
        // Not heard for 5 s: forgotten.
        assert_eq!(voices(&mut call, 5000), 0);
        // Back, then a goodbye from its own host: gone once its packets stop too.
        call.packet(1, 6000, true);
        call.mixer.on_rtcp(&bye, "127.0.0.1:5001".parse().unwrap(), call.at(6000));
        assert_eq!(voices(&mut call, 6000), 1);
        assert_eq!(voices(&mut call, 8000), 0);
    }

    #[test]
    fn a_voice_from_another_host_or_beyond_the_limit_is_not_heard() {
        let mut call = Call::new();
        let at = call.at(0);
        let packet = |ssrc: u32, sequence: u16| Header { payload_type: OPUS_PAYLOAD_TYPE, sequence, ssrc, ..Header::default() }.write(&[0xf8, 0xff, 0xfe]);
        for ssrc in 0..MAX_AUDIO_SOURCES as u32 + 5 {
            call.mixer.on_rtp(&packet(100 + ssrc, 0), "127.0.0.2:5000".parse().unwrap(), at);
        }
        // The same SSRC from another host: dropped.
        call.mixer.on_rtp(&packet(100, 1), "127.0.0.3:5000".parse().unwrap(), at);
        let stats = call.mixer.take_interval(at);
        assert_eq!(stats.len(), MAX_AUDIO_SOURCES);
        assert!(stats.iter().all(|p| p.packets == 1), "{stats:?}");
    }
}
