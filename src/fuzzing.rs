//! What the fuzz targets in `fuzz/` run, and what `tests/fuzz_inputs.rs` runs again on
//! every kept input. Each function reads its input as a script of steps (bytes, datagrams,
//! lines and clock advances from peers that may be hostile), drives the real sans-IO state
//! machines with it, and panics when a property breaks:
//!
//! - replies are well-formed lines or datagrams, whatever came in;
//! - what a peer can make us keep stays under its limit;
//! - no input makes us send much more than it was (amplification);
//! - an honest peer's messages still arrive, once each and in order, among forged ones.
//!
//! Scripts are plain bytes, so a corpus is easy to write by hand and to keep.

use crate::proto::irc::client::{Client, ClientConfig, Event as ClientEvent, MAX_MEMBERS};
use crate::proto::irc::framing::{Frame, LineReader};
use crate::proto::irc::message::{split_utf8, Message, MAX_LINE, MAX_TAGS};
use crate::proto::irc::history::{self, Stored};
use crate::proto::irc::server::{Action, Server, ServerConfig};
use crate::proto::mchat::peer::{Event as PeerEvent, Peer, PeerConfig, MAX_HELD_BYTES, MAX_MISSING, MAX_SENDERS};
use crate::proto::mchat::wire::{Body, Datagram, MAX_DATAGRAM};
use crate::net::srtp::{Srtp, SrtpKey, MASTER_LEN};
use crate::proto::mchat::seal::{GroupKey, Signer};
use crate::proto::rtp::h264::{Depacketizer, Output as H264Output, MAX_ACCESS_UNIT};
use crate::proto::rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::proto::rtp::session::{self, SessionConfig, VideoSession, MAX_SOURCES};
use crate::proto::rtp::{packet, rtcp, sdp};
use crate::proto::Now;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fuzz target: it takes one input and panics when a property breaks.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `fuzz/fuzz_targets/` and the corpus folders name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("irc_line", irc_line),
    ("irc_server", irc_server),
    ("irc_client", irc_client),
    ("mchat_datagram", mchat_datagram),
    ("mchat_peer", mchat_peer),
    ("mchat_sealed", mchat_sealed),
    ("rtp", rtp),
    ("video_session", video_session),
    ("rtcp", rtcp_packets),
    ("sdp", sdp_description),
    ("jitter", jitter),
    ("srtp", srtp),
];

/// A script: steps read one after another from the input; it ends where the input ends.
struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte().unwrap_or(0), self.byte().unwrap_or(0)])
    }

    fn u32(&mut self) -> u32 {
        (u32::from(self.u16()) << 16) | u32::from(self.u16())
    }

    /// A length byte and that many bytes (fewer where the input ends).
    fn chunk(&mut self) -> &'a [u8] {
        let len = usize::from(self.byte().unwrap_or(0));
        self.take(len)
    }

    /// Two length bytes and that many bytes: for datagrams and long lines.
    fn long_chunk(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.take(len)
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// A clock that starts at a fixed wall time and moves only when the script says so.
struct Clock {
    start: Instant,
    now: Instant,
}

impl Clock {
    fn new() -> Clock {
        let start = Instant::now();
        Clock { start, now: start }
    }

    fn now(&self) -> Now {
        Now::simulated(self.start, self.now - self.start)
    }
}

/// Checks one IRC line as it goes on the wire: CR LF at the end and nowhere else, no NUL,
/// UTF-8, within the length limits, and parseable.
fn check_wire_line(line: &[u8]) {
    let body = line.strip_suffix(b"\r\n").unwrap_or_else(|| panic!("line without CR LF: {line:?}"));
    assert!(!body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "forbidden byte inside a line: {line:?}");
    let text = std::str::from_utf8(body).unwrap_or_else(|_| panic!("line is not UTF-8: {line:?}"));
    let untagged = match text.strip_prefix('@') {
        Some(tagged) => {
            let (tags, rest) = tagged.split_once(' ').expect("tags end with a space");
            assert!(tags.len() + 2 <= MAX_TAGS, "tag section of {} bytes", tags.len() + 2);
            rest
        }
        None => text,
    };
    assert!(untagged.len() + 2 <= MAX_LINE, "line of {} bytes: {untagged:?}", untagged.len() + 2);
    Message::parse(text).unwrap_or_else(|e| panic!("we sent a line we cannot parse ({e}): {text:?}"));
}

/// Parsing and writing one IRC line, splitting text, and framing a byte stream.
pub fn irc_line(data: &[u8]) {
    if let Ok(line) = std::str::from_utf8(data) {
        if let Ok(message) = Message::parse(line) {
            // What we parsed, written again, reads back the same.
            let again = Message::parse(&message.to_line()).expect("a written message parses");
            assert_eq!(again, message);
        }
        let max = usize::from(data.first().copied().unwrap_or(0)).max(4);
        let pieces = split_utf8(line, max);
        assert_eq!(pieces.concat(), line, "pieces put together give the text back");
        assert!(pieces.iter().all(|p| p.len() <= max && (line.is_empty() || !p.is_empty())));
    }
    // Framing does not depend on how the stream was cut into reads.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let mut whole = LineReader::new(64);
    let mut pieces = LineReader::new(64);
    let mut frames = pieces.push(&data[..cut]);
    frames.extend(pieces.push(&data[cut..]));
    assert_eq!(whole.push(data), frames);
    assert!(whole.pending() <= 64 + 1);
    for frame in frames {
        if let Frame::Line(line) = frame {
            assert!(line.len() <= 64 && !line.contains(&b'\n'));
        }
    }
}

const CONNECTIONS: usize = 4;

/// The relay's state machine fed whole sessions of up to four connections: connects, bytes,
/// disconnects and time passing, in any order.
///
/// Step byte: low 2 bits the kind (connect, bytes, disconnect, time), next 2 bits the connection.
pub fn irc_server(data: &[u8]) {
    let mut script = Script(data);
    let mut clock = Clock::new();
    let mut server = Server::new(ServerConfig { history: true, ..ServerConfig::default() }, clock.now(), 1);
    // The kept messages, as a store keeps them (the oldest dropped beyond a bound).
    let mut kept: VecDeque<Stored> = VecDeque::new();
    let mut readers: Vec<Option<LineReader>> = (0..CONNECTIONS).map(|_| None).collect();
    let mut opened = 0usize;
    let mut received = 0usize;
    let mut sent = 0usize;
    while let Some(step) = script.byte() {
        let conn = usize::from(step >> 2) % CONNECTIONS;
        let id = conn as u64;
        let actions = match step & 3 {
            0 => {
                if readers[conn].is_some() {
                    continue;
                }
                readers[conn] = Some(LineReader::new(MAX_LINE + MAX_TAGS));
                opened += 1;
                let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (conn % 2) as u8));
                server.connected(id, ip, clock.now())
            }
            1 => {
                let bytes = script.long_chunk();
                let Some(reader) = readers[conn].as_mut() else { continue };
                received += bytes.len();
                let mut actions = Vec::new();
                for frame in reader.push(bytes) {
                    actions.extend(server.frame(id, frame, clock.now()));
                }
                actions
            }
            2 => {
                if readers[conn].take().is_none() {
                    continue;
                }
                server.disconnected(id, "gone", clock.now())
            }
            _ => {
                let step = script.byte().unwrap_or(0);
                let ms = if step == 255 { 200_000 } else { u64::from(step) * 50 };
                clock.now += Duration::from_millis(ms);
                server.tick(clock.now())
            }
        };
        let mut actions: VecDeque<Action> = actions.into();
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Store(message) => {
                    kept.push_back(message);
                    if kept.len() > 2000 {
                        kept.pop_front();
                    }
                }
                Action::History(request) => {
                    let rows: Vec<Stored> = kept.iter().filter(|m| m.target == request.target).cloned().collect();
                    let messages = history::select(&rows, &request.query, request.limit);
                    assert!(messages.len() <= request.limit, "{} messages for a limit of {}", messages.len(), request.limit);
                    actions.extend(server.history(history::Reply { conn: request.conn, shown: request.shown, messages }));
                }
                Action::Send(to, bytes) => {
                    let to = to as usize;
                    assert!(to < CONNECTIONS && readers[to].is_some(), "sent to connection {to}, which is not open");
                    sent += bytes.len();
                    for line in bytes.split_inclusive(|&b| b == b'\n') {
                        check_wire_line(line);
                    }
                }
                Action::Close(to) => {
                    let to = to as usize;
                    assert!(readers[to].take().is_some(), "closed connection {to}, which is not open");
                }
            }
        }
        assert!(server.client_count() <= readers.iter().flatten().count());
        // Welcome, MOTD, pings and joins cost a few KiB per connection; beyond that, every
        // byte a client sends makes at most a small multiple go out, to everyone together.
        assert!(sent <= 64 * received + 16 * 1024 * opened.max(1), "sent {sent} bytes for {received} received");
    }
}

/// The client's state machine fed what a server (a hostile one too) may send, between what
/// the user types, reconnections and time passing.
///
/// Step byte, modulo 5: the kind (bytes, text typed, time, reconnect, quit).
pub fn irc_client(data: &[u8]) {
    let mut script = Script(data);
    let mut clock = Clock::new();
    let mut client = Client::new(ClientConfig::new("me", "#lobby"));
    let mut out = client.connected(clock.now());
    loop {
        for line in &out.send {
            let mut wire = line.clone().into_bytes();
            wire.extend_from_slice(b"\r\n");
            check_wire_line(&wire);
        }
        for event in &out.events {
            if let ClientEvent::Members { nicks, .. } = event {
                assert!(nicks.len() <= MAX_MEMBERS, "{} members kept", nicks.len());
            }
        }
        let Some(step) = script.byte() else { break };
        out = match step % 5 {
            0 => client.receive(script.long_chunk(), clock.now()),
            1 => client.say(&String::from_utf8_lossy(script.long_chunk()), clock.now()),
            2 => {
                clock.now += Duration::from_millis(u64::from(script.byte().unwrap_or(0)) * 1000);
                client.tick(clock.now())
            }
            3 => {
                client.disconnected();
                client.connected(clock.now())
            }
            _ => client.quit(&String::from_utf8_lossy(script.chunk())),
        };
    }
}

/// Decoding a multicast chat datagram; what decodes encodes back to the same bytes' meaning.
pub fn mchat_datagram(data: &[u8]) {
    if let Ok(datagram) = Datagram::decode(data) {
        assert!(data.len() <= MAX_DATAGRAM);
        let bytes = datagram.encode();
        assert_eq!(Datagram::decode(&bytes).as_ref(), Ok(&datagram));
    }
    // With a key: a datagram that opens is at most what was sent, and seals back to one that
    // opens to the same.
    let key = GroupKey::from_bytes(&[7; 32]);
    if let Ok(opened) = Datagram::decode_with(data, Some(&key)) {
        let again = opened.datagram.encode_with(Some(&key), None);
        assert_eq!(Datagram::decode_with(&again, Some(&key)).map(|o| o.datagram).as_ref(), Ok(&opened.datagram));
    }
}

/// Time a clock advance of the multicast script may take at most: long enough to expire a
/// peer or give up on a gap.
const MAX_STEP: Duration = Duration::from_millis(1020);

/// A victim and an honest peer on a lossless link, and a forger who sends the victim anything
/// from other addresses: raw bytes, or well-formed datagrams with chosen ids, sequence numbers,
/// fragments and repair requests, the honest peer's and the victim's ids included.
///
/// The victim's state stays within its limits, it sends little for what it hears, and every
/// message the honest peer says reaches it once, in order.
///
/// Step byte: low 3 bits the kind (raw bytes, forged datagram, honest message, honest message
/// lost once, time), the rest picks the forger's address.
pub fn mchat_peer(data: &[u8]) {
    mchat_group(data, false);
}

/// As `mchat_peer`, in a group with a passphrase: the forger knows it (an insider), signs with
/// keys of its own, and sends sealed datagrams, plain ones, and replays of what it heard.
pub fn mchat_sealed(data: &[u8]) {
    mchat_group(data, true);
}

fn mchat_group(data: &[u8], sealed: bool) {
    let mut script = Script(data);
    let mut clock = Clock::new();
    let honest_addr: SocketAddr = "10.0.0.2:5000".parse().expect("address");
    let victim_addr: SocketAddr = "10.0.0.1:5000".parse().expect("address");
    // Gaps are given up on after a second rather than five: the same logic, five times fewer
    // timer rounds to run per input.
    let key = sealed.then(|| Arc::new(GroupKey::from_bytes(&[7; 32])));
    let config = |id: u64, nick| PeerConfig {
        give_up_after: Duration::from_secs(1),
        key: key.clone(),
        signer: sealed.then(|| Arc::new(Signer::from_seed(&[id as u8; 32]))),
        ..PeerConfig::new(id, nick)
    };
    // The forger's keys, one per sender id it uses (made once: signing keys take time).
    let mut forger_keys: HashMap<u64, Signer> = HashMap::new();
    let mut net = Pair {
        sent_by_honest: Vec::new(),
        victim: Peer::new(config(1, "victim")),
        honest: Peer::new(config(2, "honest")),
        said: 0,
        heard: Vec::new(),
        said_private: 0,
        heard_private: Vec::new(),
        victim_sent: 0,
        to_victim: 0,
        honest_addr,
        victim_addr,
    };
    let out = net.victim.start(clock.now());
    net.after_victim(out, &clock);
    let out = net.honest.start(clock.now());
    net.after_honest(out, &clock, false);
    while let Some(step) = script.byte() {
        let forger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, step >> 3)), 5000);
        match step & 7 {
            0 => {
                let bytes = script.long_chunk();
                net.to_victim += bytes.len();
                let out = net.victim.receive(bytes, forger, clock.now());
                net.after_victim(out, &clock);
            }
            1 | 2 => {
                let mut datagram = forged(&mut script);
                let bytes = if sealed && step & 7 == 1 {
                    datagram.unix_ms = clock.now().unix_millis() as u64;
                    datagram.counter = script.u16().into();
                    let id = datagram.sender;
                    let signer = forger_keys.entry(id).or_insert_with(|| Signer::from_seed(&[(id as u8) ^ 0x80; 32]));
                    datagram.encode_with(key.as_deref(), Some(signer))
                } else if sealed && !net.sent_by_honest.is_empty() {
                    // A replay of something the honest peer sent.
                    let pick = usize::from(script.u16()) % net.sent_by_honest.len();
                    net.sent_by_honest[pick].clone()
                } else {
                    datagram.encode()
                };
                net.to_victim += bytes.len();
                let out = net.victim.receive(&bytes, forger, clock.now());
                net.after_victim(out, &clock);
            }
            3 | 4 if step & 8 != 0 => {
                // A private message to the victim.
                let text = format!("p{}", net.said_private + 1);
                if let Some(out) = net.honest.say_to(1, &text, clock.now()) {
                    net.said_private += 1;
                    net.after_honest(out, &clock, step & 7 == 4);
                }
            }
            3 | 4 => {
                net.said += 1;
                let out = net.honest.say(&format!("m{}", net.said), clock.now());
                net.after_honest(out, &clock, step & 7 == 4);
            }
            _ => {
                let ms = u64::from(script.byte().unwrap_or(0)) * 4;
                net.run_until(clock.now + Duration::from_millis(ms), &mut clock);
            }
        }
        let held = net.victim.held();
        assert!(held.senders <= MAX_SENDERS && held.missing <= MAX_MISSING && held.bytes <= MAX_HELD_BYTES, "{held:?}");
        // Its own announcements (a few per second) aside, the victim sends at most a small
        // multiple of what it hears.
        let elapsed = (clock.now - clock.start).as_secs() as usize + 1;
        assert!(net.victim_sent <= 8 * net.to_victim + 2048 * elapsed, "sent {} for {} heard", net.victim_sent, net.to_victim);
    }
    // The forger stops; the honest peer's messages must all come through, and soon.
    for _ in 0..40 {
        if net.heard.len() >= net.said && net.heard_private.len() >= net.said_private {
            break;
        }
        net.run_until(clock.now + Duration::from_millis(100), &mut clock);
    }
    let expected: Vec<String> = (1..=net.said).map(|i| format!("m{i}")).collect();
    assert_eq!(net.heard, expected, "the honest peer's messages, as the victim showed them");
    let expected: Vec<String> = (1..=net.said_private).map(|i| format!("p{i}")).collect();
    assert_eq!(net.heard_private, expected, "the honest peer's private messages");
}

/// A well-formed datagram with fields the script chooses.
fn forged(script: &mut Script) -> Datagram {
    let pick = script.byte().unwrap_or(0);
    let sender = match pick & 3 {
        0 => 1,
        1 => 2,
        _ => u64::from(script.byte().unwrap_or(0)) + 3,
    };
    let seq = if pick & 4 == 0 { u32::from(script.byte().unwrap_or(0)) } else { script.u32() };
    // The victim (1), the honest peer (2), or someone else.
    let whom = if pick & 0x80 == 0 { 1 } else { 2 + (pick as u64 & 1) };
    let body = match (pick >> 3) % 9 {
        0 => Body::Announce,
        1 => Body::Goodbye,
        kind @ (2 | 5) => {
            let count = usize::from(script.byte().unwrap_or(0) % 130);
            let seqs = (0..count).map(|_| script.u16().into()).collect();
            if kind == 2 {
                Body::Nack { target: whom, seqs }
            } else {
                Body::DirectNack { target: whom, seqs }
            }
        }
        6 => Body::DirectAnnounce { to: whom },
        kind => {
            let index = script.byte().unwrap_or(0);
            let count = script.byte().unwrap_or(1);
            let text = script.chunk().to_vec();
            match kind {
                3 => Body::Message { index, count, text },
                4 => Body::Repair { index, count, text },
                7 => Body::Direct { to: whom, index, count, text },
                _ => Body::DirectRepair { to: whom, index, count, text },
            }
        }
    };
    Datagram { counter: 0, sender, seq, unix_ms: 0, nick: format!("n{sender}"), body }
}

/// The victim and the honest peer, and what passed between them.
struct Pair {
    /// What the honest peer sent (its first 256 datagrams), for replays.
    sent_by_honest: Vec<Vec<u8>>,
    victim: Peer,
    honest: Peer,
    said: usize,
    /// Texts of the honest peer's messages, as the victim delivered them.
    heard: Vec<String>,
    /// The same of its private messages to the victim.
    said_private: usize,
    heard_private: Vec<String>,
    victim_sent: usize,
    to_victim: usize,
    honest_addr: SocketAddr,
    victim_addr: SocketAddr,
}

impl Pair {
    fn note(&mut self, events: Vec<PeerEvent>) {
        for event in events {
            match event {
                PeerEvent::Message { sender: 2, text, private: false, .. } => self.heard.push(text),
                PeerEvent::Message { sender: 2, text, private: true, .. } => self.heard_private.push(text),
                PeerEvent::Lost { sender: 2, count, .. } => panic!("the victim gave up on {count} honest messages; victim {:?} honest {:?}", self.victim.counters(), self.honest.counters()),
                PeerEvent::Left { sender: 2, .. } => panic!("the victim lost sight of the honest peer"),
                _ => {}
            }
        }
    }

    /// Hands what the victim sent to the honest peer, and the answers back, until all is quiet.
    fn after_victim(&mut self, out: crate::proto::mchat::Output, clock: &Clock) {
        self.note(out.events);
        let honest = self.honest_addr;
        // To the group, or to the honest peer's address; what goes to a forger's is only counted.
        let sent = out.send.into_iter().map(|bytes| (true, bytes)).chain(out.direct.into_iter().map(|(to, bytes)| (to == honest, bytes)));
        for (reaches_honest, bytes) in sent {
            self.victim_sent += bytes.len();
            if reaches_honest {
                let answer = self.honest.receive(&bytes, self.victim_addr, clock.now());
                self.after_honest(answer, clock, false);
            }
        }
    }

    fn after_honest(&mut self, out: crate::proto::mchat::Output, clock: &Clock, lose_first: bool) {
        let victim = self.victim_addr;
        let sent = out.send.into_iter().chain(out.direct.into_iter().filter(|(to, _)| *to == victim).map(|(_, bytes)| bytes));
        for (i, bytes) in sent.enumerate() {
            if self.sent_by_honest.len() < 256 {
                self.sent_by_honest.push(bytes.clone());
            }
            if lose_first && i == 0 {
                continue;
            }
            self.to_victim += bytes.len();
            let answer = self.victim.receive(&bytes, self.honest_addr, clock.now());
            self.after_victim(answer, clock);
        }
    }

    /// Runs both peers' timers in order up to `end`.
    fn run_until(&mut self, end: Instant, clock: &mut Clock) {
        loop {
            let next = [self.victim.poll_timeout(), self.honest.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next.filter(|&t| t <= end) else { break };
            clock.now = clock.now.max(next).min(clock.now + MAX_STEP);
            let out = self.victim.handle_timeout(clock.now());
            self.after_victim(out, clock);
            let out = self.honest.handle_timeout(clock.now());
            self.after_honest(out, clock, false);
        }
        clock.now = clock.now.max(end);
    }
}

/// RTP packets from one forger into the H.264 depacketizer: raw packets, or headers with
/// chosen sequence numbers, timestamps and markers around payloads of any NAL type.
///
/// Step byte: bit 0 raw or built, the rest the sequence step.
pub fn rtp(data: &[u8]) {
    let mut script = Script(data);
    let mut depacketizer = Depacketizer::new(64);
    let mut sequence = 0u16;
    let mut timestamp = 0u32;
    while let Some(step) = script.byte() {
        let bytes = if step & 1 == 0 {
            script.long_chunk().to_vec()
        } else {
            sequence = sequence.wrapping_add(u16::from(step >> 1)).wrapping_sub(8);
            let flags = script.byte().unwrap_or(0);
            if flags & 1 != 0 {
                timestamp = timestamp.wrapping_add(3000);
            }
            let header = packet::Header { marker: flags & 2 != 0, payload_type: 96, sequence, timestamp, ssrc: 7, ..Default::default() };
            header.write(script.long_chunk())
        };
        let Ok(packet) = packet::parse(&bytes) else { continue };
        let written = packet.header.write(packet.payload);
        let again = packet::parse(&written).expect("a written packet parses");
        assert_eq!((&again.header, again.payload), (&packet.header, packet.payload));
        for output in depacketizer.push(packet.header.clone(), packet.payload) {
            if let H264Output::Frame { data, .. } = output {
                assert!(data.len() <= MAX_ACCESS_UNIT);
            }
        }
        assert!(depacketizer.held() <= MAX_ACCESS_UNIT + 64 * 65536, "{} bytes held", depacketizer.held());
    }
}

/// The video session fed RTP and RTCP from eight hosts with time passing: whatever comes, it
/// follows at most [`MAX_SOURCES`] sources, and its keyframe requests keep to their budget.
///
/// Step byte: bits 0-1 the kind (RTP, RTCP, built RTP, time), bits 2-4 the host.
pub fn video_session(data: &[u8]) {
    let mut script = Script(data);
    let mut clock = Clock::new();
    let mut session = VideoSession::new(SessionConfig::new(1, 96, 90_000, clock.now, Duration::from_secs(1_800_000_000)));
    let mut requests = 0usize;
    let mut sequence = 0u16;
    while let Some(step) = script.byte() {
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, (step >> 2) & 7)), 5004);
        let out = match step & 3 {
            0 => session.on_rtp(script.long_chunk(), from, clock.now),
            1 => session.on_rtcp(script.long_chunk(), from, clock.now),
            2 => {
                let pick = script.byte().unwrap_or(0);
                sequence = sequence.wrapping_add(u16::from(pick & 15)).wrapping_sub(2);
                let header = packet::Header { marker: pick & 16 != 0, payload_type: 96, sequence, timestamp: u32::from(pick >> 5) * 3000, ssrc: u32::from(step >> 5), ..Default::default() };
                session.on_rtp(&header.write(script.chunk()), from, clock.now)
            }
            _ => {
                clock.now += Duration::from_millis(u64::from(script.byte().unwrap_or(0)) * 8);
                session.handle_timeout(clock.now)
            }
        };
        for bytes in &out.rtcp {
            assert!(rtcp::parse(bytes).is_ok_and(|p| matches!(p[..], [rtcp::Rtcp::PictureLoss { .. }])));
        }
        requests += out.rtcp.len();
        for event in &out.events {
            if let session::Event::AccessUnit { data, .. } = event {
                assert!(data.len() <= MAX_ACCESS_UNIT);
            }
        }
        assert!(session.sources().count() <= MAX_SOURCES);
        // Eight requests a second at most, after a burst of eight.
        let seconds = (clock.now - clock.start).as_secs_f64();
        assert!(requests as f64 <= 8.0 + 8.0 * seconds + 1.0, "{requests} keyframe requests in {seconds} s");
    }
}

/// Parsing a compound RTCP packet; what parses is written back, and from then on writing and
/// parsing change nothing. (The first round may: packets of types we do not know are not
/// written, and text that was not UTF-8 comes back with replacement characters, cut to fit.)
pub fn rtcp_packets(data: &[u8]) {
    if let Ok(packets) = rtcp::parse(data) {
        let once = rtcp::parse(&rtcp::write(&packets)).expect("what we write parses");
        assert!(once.len() <= packets.len());
        let twice = rtcp::parse(&rtcp::write(&once)).expect("what we write parses");
        assert_eq!(twice, once);
    }
}

/// The SDP of a session named by anyone (a nickname): one field per line, whatever the name.
pub fn sdp_description(data: &[u8]) {
    let mut script = Script(data);
    let name = String::from_utf8_lossy(script.long_chunk()).into_owned();
    let audio = script.u16();
    let session = sdp::Session {
        name: name.clone(),
        origin: Ipv4Addr::new(127, 0, 0, 1),
        group: Ipv4Addr::new(239, 1, 2, 3),
        ttl: u32::from(script.byte().unwrap_or(0)),
        video_port: script.u16(),
        audio_port: (audio != 0).then_some(audio),
        payload_type: script.byte().unwrap_or(96) & 0x7f,
        session_id: u64::from(script.u32()),
        crypto: None,
        parameter_sets: None,
    };
    // Any key text, read last so that earlier inputs keep their meaning; then any parameter
    // sets.
    let key = script.chunk();
    let (sps, pps) = (script.chunk().to_vec(), script.chunk().to_vec());
    let parameter_sets = (!sps.is_empty()).then_some((sps, pps));
    let session = sdp::Session { crypto: (!key.is_empty()).then(|| String::from_utf8_lossy(key).into_owned()), parameter_sets, ..session };
    let text = sdp::describe(&session);
    let body = text.strip_suffix("\r\n").expect("ends with CR LF");
    let mut names = 0;
    for line in body.split("\r\n") {
        let bytes = line.as_bytes();
        assert!(bytes.len() >= 2 && bytes[0].is_ascii_lowercase() && bytes[1] == b'=', "not an SDP field: {line:?}");
        assert!(!line.contains(['\r', '\n', '\0']), "forbidden byte in {line:?}");
        names += usize::from(line.starts_with("s="));
    }
    assert_eq!(names, 1, "one session name line");
}

/// The audio jitter buffer fed packets with any sequence numbers, timestamps and arrival times,
/// and asked for frames in between.
///
/// Step byte: bit 0 push or pop, the rest the sequence step for a push.
pub fn jitter(data: &[u8]) {
    let mut script = Script(data);
    let config = JitterConfig::opus_20ms();
    let mut buffer = JitterBuffer::new(config);
    let mut now = Duration::ZERO;
    let mut sequence = 0u16;
    while let Some(step) = script.byte() {
        if step & 1 == 0 {
            sequence = sequence.wrapping_add(u16::from(step >> 1)).wrapping_sub(16);
            now += Duration::from_millis(u64::from(script.byte().unwrap_or(0)));
            let timestamp = script.u32();
            buffer.push(sequence, timestamp, script.chunk(), now);
        } else if let Playout::Frame(payload) | Playout::Redundancy(payload) = buffer.pop() {
            assert!(payload.len() <= 255);
        }
        let target = buffer.target_frames();
        assert!((config.min_frames..=config.max_frames).contains(&target), "target {target}");
        assert!(buffer.held() <= 2 * config.max_frames, "{} packets held", buffer.held());
    }
}

/// Anything opened as SRTP and SRTCP is refused cleanly, or opened to a shorter packet; an RTP
/// or RTCP packet protected opens back to itself. The contexts live across inputs, as they do
/// in a call; each round trip uses an SSRC of its own, and the sending context is made anew
/// every 500 round trips (it follows at most `MAX_SENDING` sources), so that inputs do not
/// meet in a context's rollover counter or replay window.
pub fn srtp(data: &[u8]) {
    struct Contexts {
        key: SrtpKey,
        stranger: Srtp,
        outbound: Srtp,
        inbound: Srtp,
        next_ssrc: u32,
    }
    impl Contexts {
        fn fresh_ssrc(&mut self) {
            self.next_ssrc = self.next_ssrc.wrapping_add(1);
            if self.next_ssrc % 500 == 0 {
                self.outbound = Srtp::outbound(&self.key).expect("a context");
            }
        }
    }
    thread_local! {
        static CONTEXTS: std::cell::RefCell<Option<Contexts>> = const { std::cell::RefCell::new(None) };
    }
    CONTEXTS.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        let c = contexts.get_or_insert_with(|| {
            let key = SrtpKey::from_bytes([9; MASTER_LEN]);
            let stranger = Srtp::inbound(&SrtpKey::from_bytes([8; MASTER_LEN])).expect("a context");
            let outbound = Srtp::outbound(&key).expect("a context");
            let inbound = Srtp::inbound(&key).expect("a context");
            Contexts { key, stranger, outbound, inbound, next_ssrc: 0 }
        });
        for rtcp in [false, true] {
            let mut packet = data.to_vec();
            let opened = if rtcp { c.stranger.unprotect_rtcp(&mut packet) } else { c.stranger.unprotect_rtp(&mut packet) };
            if opened.is_ok() {
                assert!(packet.len() < data.len());
            }
        }
        if packet::parse(data).is_ok() && data.len() <= 1500 {
            c.fresh_ssrc();
            let mut original = data.to_vec();
            original[8..12].copy_from_slice(&c.next_ssrc.to_be_bytes());
            let mut packet = original.clone();
            if c.outbound.protect_rtp(&mut packet).is_ok() {
                c.inbound.unprotect_rtp(&mut packet).expect("our own packet opens");
                assert_eq!(packet, original);
            }
            c.inbound.forget(c.next_ssrc);
        }
        // SRTCP round trips too, and a sender report it carries leaves a hint behind.
        if data.len() >= 8 && data.len() <= 1500 && data[0] >> 6 == 2 {
            c.fresh_ssrc();
            let mut original = data.to_vec();
            original[4..8].copy_from_slice(&c.next_ssrc.to_be_bytes());
            let mut packet = original.clone();
            if c.outbound.protect_rtcp(&mut packet).is_ok() {
                c.inbound.unprotect_rtcp(&mut packet).expect("our own report opens");
                assert_eq!(packet, original);
            }
            c.inbound.forget(c.next_ssrc);
        }
        // The raw input, as if someone with the key had sent it.
        for rtcp in [false, true] {
            let mut packet = data.to_vec();
            let opened = if rtcp { c.inbound.unprotect_rtcp(&mut packet) } else { c.inbound.unprotect_rtp(&mut packet) };
            if opened.is_ok() {
                assert!(packet.len() < data.len());
            }
        }
    });
}
