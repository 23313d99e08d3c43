//! The receiving side of an RTP video session (RFC 3550) on a multicast group, sans-IO: every
//! source's protocol state (the host it speaks from, reassembly of its H.264 access units,
//! reception statistics, its last sender report, keyframe requests, goodbye and expiry).
//! Datagrams and the time come in; access units to decode, RTCP to send and events come out,
//! with the next deadline. Decoding, showing pictures and lip sync are the caller's.
//!
//! Every peer on the wire may lie, so the sources followed are capped ([`MAX_SOURCES`]): a
//! source that sends media takes the place of one that only ever sent reports. A source belongs
//! to the host it was first heard from; a goodbye (BYE) counts only from that host, and only
//! if its RTP stops too. Keyframe requests (RTCP PLI) are paced per source and in all.

use super::h264::{Depacketizer, Output as H264Output};
use super::packet::{self, SequenceExtender};
use super::rtcp::{self, ReceptionStats, Rtcp};
use crate::proto::mchat::seal::{Signer, PUBLIC_KEY_LEN};
use crate::proto::trust::{Pins, Trust};
use crate::proto::TokenBucket;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sources followed at once.
pub const MAX_SOURCES: usize = 16;
/// A source not heard from (RTP or RTCP) this long has left.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(5);
/// A goodbye (RTCP BYE) counts once this long has passed since it and since the source's last
/// RTP: fresh media beats a goodbye that someone else may have sent in its name.
pub const BYE_GRACE: Duration = Duration::from_millis(300);
/// Keyframe requests: at most one per source in this long, repeated this often while the
/// picture stays broken, and this many a second for all sources together (RFC 4585 §3.4).
const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(250);
const PLI_REPEAT: Duration = Duration::from_millis(500);
const KEYFRAME_REQUESTS_PER_SECOND: f64 = 8.0;
/// Packets held back waiting for a missing one before it counts as lost.
const REORDER_WINDOW: usize = 8;

/// True when [`BYE_GRACE`] has passed since a source's goodbye (`bye_at`) and its last RTP.
pub fn gone_after_bye(bye_at: Option<Instant>, last_rtp: Instant, now: Instant) -> bool {
    bye_at.is_some_and(|bye| now >= bye.max(last_rtp) + BYE_GRACE)
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our own source: our packets looped back are not a participant.
    pub own_ssrc: u32,
    pub payload_type: u8,
    /// RTP timestamp units a second.
    pub clock_rate: u32,
    /// The session's start: arrival times for the jitter estimate count from it.
    pub start: Instant,
    /// The wall clock at `start`, Unix time: a name signature must be this recent.
    pub start_unix: Duration,
    /// Our key, to sign our name in our reports; names pinned to keys before.
    pub signer: Option<Arc<Signer>>,
    /// What a name signature is bound to besides the source: the call (its group and port,
    /// and its key's id when it is encrypted), so that one is not taken for another.
    pub scope: String,
    pub pins: HashMap<String, [u8; PUBLIC_KEY_LEN]>,
}

/// A name signature older (or newer) than this is not believed: it may be a recording of an
/// earlier call played back.
pub const NAME_SIGNATURE_AGE: Duration = Duration::from_secs(10 * 60);
/// A source's name signature is checked at most this often (each check is an Ed25519
/// verification, which a peer could otherwise ask for in every SDES chunk).
const NAME_CHECK_INTERVAL: Duration = Duration::from_millis(500);

impl SessionConfig {
    pub fn new(own_ssrc: u32, payload_type: u8, clock_rate: u32, start: Instant, start_unix: Duration) -> SessionConfig {
        SessionConfig { own_ssrc, payload_type, clock_rate, start, start_unix, signer: None, scope: String::new(), pins: HashMap::new() }
    }

    /// Our name's signature, as of `now`, for our SDES.
    pub fn sign_name(&self, cname: &str, nick: &str, now: Instant) -> Option<Vec<u8>> {
        let unix = (self.start_unix + now.saturating_duration_since(self.start)).as_secs();
        self.signer.as_ref().map(|signer| rtcp::sign_name(signer, &self.scope, self.own_ssrc, cname, nick, unix))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A source sent its first packet, or its name changed.
    Participant { ssrc: u32, nick: String },
    /// A whole access unit (Annex B) to decode.
    AccessUnit { ssrc: u32, timestamp: u32, data: Vec<u8>, keyframe: bool },
    /// Packets of a source never came; the frames they carried are gone.
    Lost { ssrc: u32, packets: u64 },
    /// The source's note (its camera state) changed: what it showed before is stale.
    NoteChanged { ssrc: u32, note: String },
    /// The source left (goodbye, or silence); `lost` packets of it never arrived.
    Left { ssrc: u32, nick: String, lost: i64 },
    /// Someone asked us for a keyframe.
    KeyframeWanted,
    /// The first key seen for this name: keep it, and pass it in [`SessionConfig::pins`] next
    /// time.
    Pinned { nick: String, key: [u8; PUBLIC_KEY_LEN] },
}

#[derive(Debug, Default)]
pub struct Output {
    /// Compound RTCP packets to send to the group.
    pub rtcp: Vec<Vec<u8>>,
    pub events: Vec<Event>,
}

/// What is known of one source, for statistics and the picture's timing.
#[derive(Debug)]
pub struct Source {
    /// The host it speaks from: RTP and RTCP for it from elsewhere are dropped.
    host: IpAddr,
    bye_at: Option<Instant>,
    last_rtp: Instant,
    last_heard: Instant,
    /// It has sent RTP, not only reports.
    sent_media: bool,
    announced: bool,
    /// The last name and signature judged, when, and whether it pinned a name.
    name_seen: Option<(Option<String>, Option<Vec<u8>>)>,
    name_checked: Option<Instant>,
    pinned: bool,
    /// The name to show (an impostor's is marked, see [`Trust::shown`]).
    pub nick: String,
    pub trust: Trust,
    pub note: String,
    depacketizer: Depacketizer,
    extender: SequenceExtender,
    pub stats: ReceptionStats,
    /// The last sender report: its NTP time and the RTP timestamp of the same instant.
    pub clock: Option<(u64, u32)>,
    /// While the picture is broken (until a frame decodes): when to ask for a keyframe again.
    ask_again: Option<Instant>,
    last_pli: Option<Instant>,
    /// Since the last `take_counts`.
    pub counts: Counts,
}

/// Per-source counters of an interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub octets: u64,
    pub keyframe_requests: u64,
}

impl Source {
    fn new(host: IpAddr, now: Instant) -> Source {
        Source {
            host,
            bye_at: None,
            last_rtp: now,
            last_heard: now,
            sent_media: false,
            announced: false,
            name_seen: None,
            name_checked: None,
            pinned: false,
            nick: String::new(),
            trust: Trust::Unsigned,
            note: String::new(),
            depacketizer: Depacketizer::new(REORDER_WINDOW),
            extender: SequenceExtender::default(),
            stats: ReceptionStats::default(),
            clock: None,
            ask_again: None,
            last_pli: None,
            counts: Counts::default(),
        }
    }

    fn gone(&self, now: Instant) -> bool {
        now >= self.last_heard + SOURCE_TIMEOUT || gone_after_bye(self.bye_at, self.last_rtp, now)
    }
}

#[derive(Debug)]
pub struct VideoSession {
    config: SessionConfig,
    pins: Pins,
    sources: HashMap<u32, Source>,
    keyframe_budget: TokenBucket,
    /// Datagrams of new sources refused because [`MAX_SOURCES`] are followed already.
    pub refused: u64,
}

impl VideoSession {
    pub fn new(mut config: SessionConfig) -> VideoSession {
        let pins = Pins::new(std::mem::take(&mut config.pins));
        VideoSession {
            config,
            pins,
            sources: HashMap::new(),
            keyframe_budget: TokenBucket::new(KEYFRAME_REQUESTS_PER_SECOND, KEYFRAME_REQUESTS_PER_SECOND),
            refused: 0,
        }
    }

    pub fn sources(&self) -> impl Iterator<Item = (u32, &Source)> {
        self.sources.iter().map(|(&ssrc, source)| (ssrc, source))
    }

    pub fn source(&self, ssrc: u32) -> Option<&Source> {
        self.sources.get(&ssrc)
    }

    /// The counters of every source since the last call, which start again from zero.
    pub fn take_counts(&mut self) -> Vec<(u32, Counts)> {
        self.sources.iter_mut().map(|(&ssrc, s)| (ssrc, std::mem::take(&mut s.counts))).collect()
    }

    /// The state of a source, made on first contact, or None when the datagram is not to be
    /// believed: another host than the source's, or too many sources followed already.
    fn source_mut(&mut self, ssrc: u32, from: SocketAddr, media: bool, now: Instant, out: &mut Output) -> Option<&mut Source> {
        let known = self.sources.contains_key(&ssrc);
        if !known && media && self.sources.len() >= MAX_SOURCES {
            let silent = self.sources.iter().filter(|(_, s)| !s.sent_media).min_by_key(|(_, s)| s.last_heard).map(|(&ssrc, _)| ssrc);
            if let Some(silent) = silent {
                self.forget(silent, out);
            }
        }
        if !known && self.sources.len() >= MAX_SOURCES {
            self.refused += 1;
            if self.refused.is_power_of_two() {
                log::warn!("video: {MAX_SOURCES} sources already; ignoring {ssrc:08x} from {from} ({} datagrams so far)", self.refused);
            }
            return None;
        }
        let source = self.sources.entry(ssrc).or_insert_with(|| Source::new(from.ip(), now));
        if source.host != from.ip() {
            log::debug!("video: {ssrc:08x} belongs to {}, not {from}", source.host);
            return None;
        }
        Some(source)
    }

    /// One datagram from the RTP port.
    pub fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr, now: Instant) -> Output {
        let mut out = Output::default();
        let Ok(packet) = packet::parse(bytes) else {
            log::debug!("dropped a datagram that is not RTP ({} bytes)", bytes.len());
            return out;
        };
        let header = packet.header.clone();
        if header.ssrc == self.config.own_ssrc || header.payload_type != self.config.payload_type {
            return out;
        }
        let ssrc = header.ssrc;
        let arrival = self.rtp_time(now);
        let Some(source) = self.source_mut(ssrc, from, true, now, &mut out) else { return out };
        source.last_heard = now;
        source.last_rtp = now;
        source.sent_media = true;
        let sequence = source.extender.extend(header.sequence);
        source.stats.packet(sequence, header.timestamp, arrival);
        source.counts.packets += 1;
        source.counts.octets += packet.payload.len() as u64;
        if !source.announced {
            source.announced = true;
            out.events.push(Event::Participant { ssrc, nick: source.nick.clone() });
        }
        for output in source.depacketizer.push(header, packet.payload) {
            match output {
                H264Output::Frame { timestamp, data, keyframe } => out.events.push(Event::AccessUnit { ssrc, timestamp, data, keyframe }),
                H264Output::Lost { packets } => out.events.push(Event::Lost { ssrc, packets }),
                H264Output::NeedKeyframe => self.ask_keyframe(ssrc, now, &mut out),
            }
        }
        out
    }

    /// One datagram from the RTCP port.
    pub fn on_rtcp(&mut self, bytes: &[u8], from: SocketAddr, now: Instant) -> Output {
        let mut out = Output::default();
        let packets = match rtcp::parse(bytes) {
            Ok(packets) => packets,
            Err(e) => {
                log::debug!("dropped a bad RTCP datagram: {e}");
                return out;
            }
        };
        let own = self.config.own_ssrc;
        let since_start = now.saturating_duration_since(self.config.start);
        for packet in packets {
            match packet {
                Rtcp::SenderReport { ssrc, ntp, rtp_timestamp, .. } if ssrc != own => {
                    let Some(source) = self.source_mut(ssrc, from, false, now, &mut out) else { continue };
                    source.last_heard = now;
                    source.clock = Some((ntp, rtp_timestamp));
                    source.stats.sender_report(ntp, since_start);
                }
                Rtcp::SourceDescription { ssrc, cname, name, note, signed } if ssrc != own => {
                    if self.source_mut(ssrc, from, false, now, &mut out).is_none() {
                        continue;
                    }
                    // Who the name belongs to: a signature of it, made within the last minutes.
                    // A source's signature is checked when its name or signature changes, at
                    // most once per NAME_CHECK_INTERVAL; only a source that sends media pins a
                    // name, and one name at that.
                    let wall = (self.config.start_unix + since_start).as_secs();
                    let Some(source) = self.sources.get_mut(&ssrc) else { continue };
                    let seen = (name.clone(), signed.clone());
                    let judged = match name.as_ref() {
                        Some(_) if source.name_seen.as_ref() == Some(&seen) => None,
                        Some(_) if source.name_checked.is_some_and(|at| now < at + NAME_CHECK_INTERVAL) => None,
                        Some(name) => {
                            source.name_checked = Some(now);
                            source.name_seen = Some(seen);
                            let signer = signed
                                .as_ref()
                                .and_then(|value| rtcp::verified_name(value, &self.config.scope, ssrc, &cname, name))
                                .filter(|(_, at)| at.abs_diff(wall) <= NAME_SIGNATURE_AGE.as_secs())
                                .map(|(key, _)| key);
                            let may_pin = source.sent_media && !source.pinned;
                            let (trust, pinned) = self.pins.judge(name, signer, may_pin);
                            if let (true, Trust::Signed(key)) = (pinned, trust) {
                                source.pinned = true;
                                out.events.push(Event::Pinned { nick: name.clone(), key });
                            }
                            Some((trust.shown(name), trust))
                        }
                        None => None,
                    };
                    source.last_heard = now;
                    if let Some(note) = note {
                        if note != source.note {
                            if !source.note.is_empty() {
                                out.events.push(Event::NoteChanged { ssrc, note: note.clone() });
                            }
                            source.note = note;
                        }
                    }
                    if let Some((shown, trust)) = judged.filter(|(shown, trust)| *shown != source.nick || *trust != source.trust) {
                        source.nick = shown.clone();
                        source.trust = trust;
                        source.announced = true;
                        out.events.push(Event::Participant { ssrc, nick: shown });
                    }
                }
                Rtcp::Bye { sources } => {
                    // Only from the source's own host, and only if its RTP stops.
                    for ssrc in sources {
                        if let Some(source) = self.sources.get_mut(&ssrc).filter(|s| s.host == from.ip()) {
                            source.bye_at.get_or_insert(now);
                        }
                    }
                }
                Rtcp::PictureLoss { media, .. } if media == own => out.events.push(Event::KeyframeWanted),
                _ => {}
            }
        }
        out
    }

    /// A decoder could not use what a source sent: ask for a keyframe.
    pub fn decode_failed(&mut self, ssrc: u32, now: Instant) -> Output {
        let mut out = Output::default();
        self.ask_keyframe(ssrc, now, &mut out);
        out
    }

    /// A source's picture decoded: it is no longer waiting for a keyframe.
    pub fn decoded(&mut self, ssrc: u32) {
        if let Some(source) = self.sources.get_mut(&ssrc) {
            source.ask_again = None;
        }
    }

    /// Send a PLI now unless one went out for this source very recently or the session's
    /// budget is spent; either way the request is repeated while the picture stays broken.
    fn ask_keyframe(&mut self, ssrc: u32, now: Instant, out: &mut Output) {
        let Some(source) = self.sources.get_mut(&ssrc) else { return };
        if let Some(last) = source.last_pli.filter(|&t| now < t + KEYFRAME_MIN_INTERVAL) {
            source.ask_again = Some(last + KEYFRAME_MIN_INTERVAL);
            return;
        }
        if !self.keyframe_budget.take(1.0, now) {
            // When the budget has a request again.
            source.ask_again = Some(now + Duration::from_secs_f64(1.0 / KEYFRAME_REQUESTS_PER_SECOND));
            return;
        }
        source.ask_again = Some(now + PLI_REPEAT);
        source.last_pli = Some(now);
        source.counts.keyframe_requests += 1;
        out.rtcp.push(rtcp::write(&[Rtcp::PictureLoss { sender: self.config.own_ssrc, media: ssrc }]));
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sources
            .values()
            .flat_map(|s| {
                let repeat = s.ask_again;
                let bye = s.bye_at.map(|t| t.max(s.last_rtp) + BYE_GRACE);
                [Some(s.last_heard + SOURCE_TIMEOUT), repeat, bye]
            })
            .flatten()
            .min()
    }

    /// Repeat keyframe requests for broken pictures; forget sources that left.
    pub fn handle_timeout(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        // The source that asked least lately goes first: when the budget runs short, every
        // broken picture still gets its turn.
        let mut waiting: Vec<(Option<Instant>, u32)> = self
            .sources
            .iter()
            .filter(|(_, s)| s.ask_again.is_some_and(|t| now >= t))
            .map(|(&ssrc, s)| (s.last_pli, ssrc))
            .collect();
        waiting.sort();
        for (_, ssrc) in waiting {
            self.ask_keyframe(ssrc, now, &mut out);
        }
        let gone: Vec<u32> = self.sources.iter().filter(|(_, s)| s.gone(now)).map(|(&ssrc, _)| ssrc).collect();
        for ssrc in gone {
            self.forget(ssrc, &mut out);
        }
        out
    }

    /// Our receiver report on every source that sent media, with our name (RFC 3550 §6.4.2).
    pub fn receiver_report(&mut self, nick: &str, cname: &str, now: Instant) -> Vec<u8> {
        let since_start = now.saturating_duration_since(self.config.start);
        // Sources heard since the last report (the counts start again after it).
        let reports = self.sources.iter_mut().filter(|(_, s)| s.counts.packets > 0).map(|(&ssrc, s)| s.stats.report(ssrc, since_start)).collect();
        let own = self.config.own_ssrc;
        rtcp::write(&[
            Rtcp::ReceiverReport { ssrc: own, reports },
            Rtcp::SourceDescription { ssrc: own, cname: cname.to_string(), name: Some(nick.to_string()), note: None, signed: self.config.sign_name(cname, nick, now) },
        ])
    }

    fn forget(&mut self, ssrc: u32, out: &mut Output) {
        if let Some(source) = self.sources.remove(&ssrc) {
            out.events.push(Event::Left { ssrc, nick: source.nick, lost: source.stats.lost() });
        }
    }

    fn rtp_time(&self, at: Instant) -> u32 {
        let elapsed = at.saturating_duration_since(self.config.start);
        (elapsed.as_secs_f64() * f64::from(self.config.clock_rate)) as u64 as u32
    }
}

/// A sender and a receiver on a simulated network (loss, delay, reordering), driven by the
/// earliest deadline: no sockets, no sleeping.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_or_foreign_name_signature_is_not_believed() {
        let now = Instant::now();
        let signer = Signer::generate();
        let unix = 1_800_000_000;
        let mut config = SessionConfig::new(1, 96, 90_000, now, Duration::from_secs(unix));
        config.scope = "239.1.2.3:5004".into();
        config.pins.insert("alice".into(), signer.public());
        let mut session = VideoSession::new(config);
        let from: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let sdes = |at: u64, scope: &str| {
            let signed = rtcp::sign_name(&signer, scope, 9, "9@x", "alice", at);
            rtcp::write(&[Rtcp::SourceDescription { ssrc: 9, cname: "9@x".into(), name: Some("alice".into()), note: None, signed: Some(signed) }])
        };
        let names = |out: Output| out.events.into_iter().filter_map(|e| if let Event::Participant { nick, .. } = e { Some(nick) } else { None }).collect::<Vec<_>>();
        let second = Duration::from_secs(1);
        // An hour old: a recording played back.
        assert_eq!(names(session.on_rtcp(&sdes(unix - 3600, "239.1.2.3:5004"), from, now)), ["impostor of alice"]);
        // Signed for another call.
        assert_eq!(names(session.on_rtcp(&sdes(unix + 1, "239.1.2.3:6004"), from, now + second)), Vec::<String>::new());
        assert_eq!(session.source(9).unwrap().nick, "impostor of alice");
        // Fresh, for this call.
        assert_eq!(names(session.on_rtcp(&sdes(unix + 2, "239.1.2.3:5004"), from, now + 2 * second)), ["alice"]);
        // Checked at most once per NAME_CHECK_INTERVAL, however many chunks come.
        let stale = sdes(unix - 3600, "239.1.2.3:5004");
        assert_eq!(names(session.on_rtcp(&stale, from, now + 2 * second + NAME_CHECK_INTERVAL / 2)), Vec::<String>::new());
    }
    use crate::proto::rtp::h264::synthetic::access_unit;
    use crate::proto::rtp::h264::Packetizer;
    use crate::proto::rtp::packet::Header;
    use crate::proto::Jitter;
    use std::collections::BTreeMap;

    const SENDER: u32 = 0x5e4d;
    const FRAME: Duration = Duration::from_millis(33);

    fn at(host: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, host], 5004))
    }

    /// A camera at 30 fps: a keyframe first and when asked for, delta frames between.
    struct Camera {
        ssrc: u32,
        host: SocketAddr,
        sequence: u16,
        frame: u32,
        keyframe_due: bool,
        keyframes: u32,
        /// Ignores keyframe requests (an encoder that limits keyframes).
        deaf: bool,
    }

    impl Camera {
        fn new(ssrc: u32, host: SocketAddr) -> Camera {
            Camera { ssrc, host, sequence: 100, frame: 0, keyframe_due: true, keyframes: 0, deaf: false }
        }

        /// The packets of the next frame.
        fn frame(&mut self) -> Vec<Vec<u8>> {
            let au = if std::mem::take(&mut self.keyframe_due) {
                self.keyframes += 1;
                access_unit(&[(7, 12), (8, 4), (5, 3000)])
            } else {
                access_unit(&[(1, 600)])
            };
            self.frame += 1;
            let payloads = Packetizer { max_payload: 1160 }.packetize(&au);
            let count = payloads.len();
            payloads
                .iter()
                .enumerate()
                .map(|(i, payload)| {
                    self.sequence = self.sequence.wrapping_add(1);
                    let header = Header { marker: i + 1 == count, payload_type: 96, sequence: self.sequence, timestamp: self.frame * 3000, ssrc: self.ssrc, ..Default::default() };
                    header.write(payload)
                })
                .collect()
        }

        fn hears(&mut self, rtcp_bytes: &[u8]) {
            for packet in rtcp::parse(rtcp_bytes).unwrap() {
                if !self.deaf && matches!(packet, Rtcp::PictureLoss { media, .. } if media == self.ssrc) {
                    self.keyframe_due = true;
                }
            }
        }
    }

    struct Sim {
        now: Instant,
        session: VideoSession,
        rng: Jitter,
        loss: f64,
        jitter: Duration,
        /// (arrival, tie-breaker) -> (from, RTP datagram)
        in_flight: BTreeMap<(Instant, u64), (SocketAddr, Vec<u8>)>,
        counter: u64,
        events: Vec<(Instant, Event)>,
        plis: Vec<Instant>,
    }

    impl Sim {
        fn new(loss: f64, jitter: Duration, seed: u64) -> Sim {
            let now = Instant::now();
            let config = SessionConfig::new(1, 96, 90_000, now, Duration::from_secs(1_800_000_000));
            let session = VideoSession::new(config);
            Sim { now, session, rng: Jitter::new(seed), loss, jitter, in_flight: BTreeMap::new(), counter: 0, events: Vec::new(), plis: Vec::new() }
        }

        fn send(&mut self, from: SocketAddr, datagrams: Vec<Vec<u8>>) {
            for bytes in datagrams {
                if self.rng.chance(self.loss) {
                    continue;
                }
                let arrival = self.now + Duration::from_millis(2) + self.rng.below(self.jitter);
                self.counter += 1;
                self.in_flight.insert((arrival, self.counter), (from, bytes));
            }
        }

        fn take(&mut self, out: Output, cameras: &mut [&mut Camera]) {
            for bytes in out.rtcp {
                self.plis.push(self.now);
                for camera in cameras.iter_mut() {
                    camera.hears(&bytes);
                }
            }
            self.events.extend(out.events.into_iter().map(|e| (self.now, e)));
        }

        /// Runs until `end`: cameras send a frame every 33 ms while `sending`, datagrams
        /// arrive, timers run.
        fn run(&mut self, end: Instant, cameras: &mut [&mut Camera], sending: bool) {
            let mut next_frame = self.now;
            loop {
                let arrival = self.in_flight.keys().next().map(|&(t, _)| t);
                let frame = sending.then_some(next_frame);
                let timer = self.session.poll_timeout();
                let Some(next) = [arrival, frame, timer].into_iter().flatten().min().filter(|&t| t <= end) else { break };
                self.now = self.now.max(next);
                if frame == Some(next) {
                    for i in 0..cameras.len() {
                        let (host, packets) = (cameras[i].host, cameras[i].frame());
                        self.send(host, packets);
                    }
                    next_frame += FRAME;
                } else if arrival == Some(next) {
                    let (_, (from, bytes)) = self.in_flight.pop_first().expect("arrival");
                    let out = self.session.on_rtp(&bytes, from, self.now);
                    // The caller decodes: a whole access unit always decodes here.
                    for event in &out.events {
                        if let Event::AccessUnit { ssrc, .. } = event {
                            self.session.decoded(*ssrc);
                        }
                    }
                    self.take(out, cameras);
                } else {
                    let out = self.session.handle_timeout(self.now);
                    self.take(out, cameras);
                }
            }
            self.now = end;
        }

        fn frames(&self, ssrc: u32) -> usize {
            self.events.iter().filter(|(_, e)| matches!(e, Event::AccessUnit { ssrc: s, .. } if *s == ssrc)).count()
        }

        fn left(&self) -> Vec<(Instant, u32)> {
            self.events.iter().filter_map(|(t, e)| match e { Event::Left { ssrc, .. } => Some((*t, *ssrc)), _ => None }).collect()
        }
    }

    #[test]
    fn loss_and_jitter_cost_frames_and_paced_keyframe_requests_bring_the_picture_back() {
        let mut sim = Sim::new(0.05, Duration::from_millis(20), 7);
        let mut camera = Camera::new(SENDER, at(2));
        let start = sim.now;
        sim.run(start + Duration::from_secs(10), &mut [&mut camera], true);
        let frames = sim.frames(SENDER);
        let lost = sim.events.iter().filter(|(_, e)| matches!(e, Event::Lost { .. })).count();
        // 300 frames were sent; loss breaks the picture until the next keyframe, which comes
        // within a request's repeat of the loss.
        assert!(lost > 0, "5 % loss lost nothing");
        assert!(frames > 100 && frames < 300, "{frames} frames decoded of 300");
        // While the picture is broken the receiver keeps asking: never a stretch of more than
        // a request's repeat without either a picture or a request.
        let mut moments: Vec<Instant> = sim.events.iter().filter(|(_, e)| matches!(e, Event::AccessUnit { .. })).map(|(t, _)| *t).collect();
        moments.extend(&sim.plis);
        moments.sort();
        let longest = moments.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(longest <= PLI_REPEAT + 3 * FRAME, "nothing happened for {longest:?}");
        assert!(camera.keyframes > 1, "the camera was never asked for a keyframe again");
        // Requests are paced: never two within 250 ms, never more than 8 in a second.
        for pair in sim.plis.windows(2) {
            assert!(pair[1] - pair[0] >= KEYFRAME_MIN_INTERVAL, "{:?} between requests", pair[1] - pair[0]);
        }
        for (i, &t) in sim.plis.iter().enumerate() {
            assert!(sim.plis[i..].iter().take_while(|&&u| u < t + Duration::from_secs(1)).count() <= 8);
        }
        // The reception statistics saw the loss too.
        let lost_packets = sim.session.source(SENDER).unwrap().stats.lost();
        assert!(lost_packets > 0);
    }

    #[test]
    fn a_late_joiner_asks_for_a_keyframe_and_keeps_asking_until_it_comes() {
        let mut sim = Sim::new(0.0, Duration::ZERO, 1);
        let mut camera = Camera::new(SENDER, at(2));
        // The first keyframe went by before we joined, and the camera ignores requests for a
        // while (an encoder that limits keyframes).
        camera.keyframe_due = false;
        camera.deaf = true;
        let start = sim.now;
        sim.run(start + Duration::from_secs(2), &mut [&mut camera], true);
        assert_eq!(sim.frames(SENDER), 0);
        // Asked at once, then again every 500 ms.
        let asked: Vec<Duration> = sim.plis.iter().map(|&t| t - start).collect();
        assert!(asked[0] < Duration::from_millis(100), "{asked:?}");
        assert!((4..=5).contains(&asked.len()), "{asked:?}");
        // Now the camera listens: one request later, pictures flow.
        camera.deaf = false;
        sim.run(start + Duration::from_secs(4), &mut [&mut camera], true);
        assert!(sim.frames(SENDER) > 50, "{} frames", sim.frames(SENDER));
        assert_eq!(camera.keyframes, 1);
    }

    #[test]
    fn many_broken_pictures_share_the_request_budget_without_busy_waiting() {
        let mut sim = Sim::new(0.0, Duration::ZERO, 11);
        // Six late joiners whose keyframes never come: 12 requests a second wanted, 8 allowed.
        let mut cameras: Vec<Camera> = (0..6).map(|i| Camera { keyframe_due: false, deaf: true, ..Camera::new(SENDER + i, at(2 + i as u8)) }).collect();
        let start = sim.now;
        let mut refs: Vec<&mut Camera> = cameras.iter_mut().collect();
        sim.run(start + Duration::from_secs(5), &mut refs, true);
        // Every camera is asked, none more often than every 250 ms, all within the budget.
        for camera in &cameras {
            let asked = sim.session.source(camera.ssrc).unwrap().last_pli;
            assert!(asked.is_some_and(|t| t > start + Duration::from_secs(4)), "{:08x} not asked lately", camera.ssrc);
        }
        assert!(sim.plis.len() <= 8 + 5 * 8, "{} requests in 5 s", sim.plis.len());
        assert!(sim.plis.len() >= 5 * 8 - 2, "{} requests in 5 s: the budget is there to be used", sim.plis.len());
        // After its timers ran, the session has nothing due until later.
        let out = sim.session.handle_timeout(sim.now);
        sim.take(out, &mut []);
        assert!(sim.session.poll_timeout().is_some_and(|t| t > sim.now));
    }

    #[test]
    fn a_sender_that_vanishes_leaves_after_the_timeout_and_a_goodbye_counts_only_from_its_host() {
        let mut sim = Sim::new(0.0, Duration::ZERO, 3);
        let mut camera = Camera::new(SENDER, at(2));
        let mut other = Camera::new(0x0bbe, at(3));
        let start = sim.now;
        sim.run(start + Duration::from_secs(1), &mut [&mut camera, &mut other], true);
        // A BYE for SENDER from another host is ignored. One for `other` from its own host
        // counts only once no RTP follows it for 300 ms: while it sends, the BYE loses.
        let out = sim.session.on_rtcp(&rtcp::write(&[Rtcp::Bye { sources: vec![SENDER] }]), at(3), sim.now);
        assert!(out.events.is_empty());
        let out = sim.session.on_rtcp(&rtcp::write(&[Rtcp::Bye { sources: vec![0x0bbe] }]), at(3), sim.now);
        assert!(out.events.is_empty());
        sim.run(start + Duration::from_secs(2), &mut [&mut camera, &mut other], true);
        assert!(sim.left().is_empty(), "{:?}", sim.left());
        // Both stop: `other` leaves 300 ms after its last packet, SENDER after 5 s of silence.
        let stopped = sim.now;
        sim.run(stopped + Duration::from_secs(8), &mut [], false);
        let left: Vec<(Duration, u32)> = sim.left().into_iter().map(|(t, s)| (t - stopped, s)).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert_eq!(left[0].1, 0x0bbe);
        assert!(left[0].0 <= BYE_GRACE && left[0].0 >= BYE_GRACE - FRAME, "{left:?}");
        assert_eq!(left[1].1, SENDER);
        assert!(left[1].0 >= SOURCE_TIMEOUT - Duration::from_millis(40) && left[1].0 <= SOURCE_TIMEOUT, "{left:?}");
        assert_eq!(sim.session.sources().count(), 0);
    }

    #[test]
    fn a_colliding_ssrc_from_another_host_cannot_break_the_picture() {
        let mut sim = Sim::new(0.0, Duration::from_millis(5), 5);
        let mut camera = Camera::new(SENDER, at(2));
        let mut impostor = Camera::new(SENDER, at(66));
        impostor.sequence = 40_000;
        let start = sim.now;
        sim.run(start + Duration::from_millis(500), &mut [&mut camera], true);
        let (before, sent_before) = (sim.frames(SENDER), camera.frame);
        sim.run(start + Duration::from_secs(3), &mut [&mut camera, &mut impostor], true);
        // Every frame of the real camera still decodes, in order; nothing was lost.
        assert!(impostor.frame > 70);
        assert_eq!(sim.frames(SENDER) - before, (camera.frame - sent_before) as usize);
        assert!(!sim.events.iter().any(|(_, e)| matches!(e, Event::Lost { .. })));
        let timestamps: Vec<u32> = sim.events.iter().filter_map(|(_, e)| match e { Event::AccessUnit { timestamp, .. } => Some(*timestamp), _ => None }).collect();
        assert!(timestamps.windows(2).all(|w| w[1] == w[0] + 3000), "{timestamps:?}");
    }

    #[test]
    fn a_camera_takes_the_place_of_a_source_that_only_sent_reports() {
        let mut sim = Sim::new(0.0, Duration::ZERO, 9);
        for i in 0..MAX_SOURCES as u32 {
            let report = rtcp::write(&[Rtcp::SenderReport { ssrc: 1000 + i, ntp: 1, rtp_timestamp: 0, packets: 0, octets: 0, reports: vec![] }]);
            let out = sim.session.on_rtcp(&report, at(40), sim.now);
            assert!(out.events.is_empty());
            sim.now += Duration::from_millis(1);
        }
        // Another report-only source is refused; a camera is not.
        let report = rtcp::write(&[Rtcp::SenderReport { ssrc: 2000, ntp: 1, rtp_timestamp: 0, packets: 0, octets: 0, reports: vec![] }]);
        sim.session.on_rtcp(&report, at(40), sim.now);
        assert!(sim.session.source(2000).is_none());
        let mut camera = Camera::new(SENDER, at(2));
        let start = sim.now;
        sim.run(start + Duration::from_millis(300), &mut [&mut camera], true);
        assert!(sim.frames(SENDER) > 5);
        assert_eq!(sim.session.sources().count(), MAX_SOURCES);
        assert!(sim.session.source(1000).is_none(), "the oldest report-only source made room");
    }
}
