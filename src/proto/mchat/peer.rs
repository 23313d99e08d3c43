//! One participant of a serverless multicast chat: presence, per-sender ordering and loss
//! repair, sans-IO. Datagrams and the clock come in; datagrams to multicast, events for the
//! user and the next deadline come out of every call.
//!
//! Loss repair follows the SRM/NORM idea: a receiver that sees a gap waits a short random time,
//! then multicasts a repair request (NACK); a receiver that hears someone else's request for the
//! same data holds its own back. The sender answers from a bounded history, to the whole group.
//!
//! Every peer on the wire may be hostile, so everything it can grow has a limit: the senders we
//! track ([`MAX_SENDERS`]), how far ahead of delivery a sender's datagrams are kept
//! ([`RECEIVE_WINDOW`]) and how many bytes all senders' held datagrams take ([`MAX_HELD_BYTES`]);
//! a sender id belongs to the address it was first heard from. Requests for repairs are paid for
//! by what their sender sent us, and repairs by the requests that ask for them (a
//! [`TokenBucket`]), so that no datagram makes us send much more than it was.

use super::seal::{GroupKey, Signer, PUBLIC_KEY_LEN};
pub use crate::proto::trust::Trust;
use crate::proto::trust::Pins;
use super::wire::{as_repair, direct_text_room, MAGIC, text_room, truncate_utf8, Body, Datagram, DecodeError, Opened, MAX_NACK};
use crate::proto::{Jitter, Now, TokenBucket};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First announcement after a message, and how many follow at growing intervals (x4).
const TAIL_ANNOUNCE: Duration = Duration::from_millis(30);
const TAIL_ANNOUNCEMENTS: u32 = 4;
/// Messages before the first one heard from a new peer that are asked for.
const JOIN_BACKFILL: u32 = 32;
/// Senders tracked at once; a group this size is far past a chat's. Newcomers beyond it are
/// ignored (and counted) until someone leaves.
pub const MAX_SENDERS: usize = 256;
/// Sequence numbers past a sender's next undelivered one that are kept or asked for: as many
/// as a sender keeps for repairs. A datagram further ahead moves the window: what was still
/// incomplete behind it is given up, so delivery always goes on.
pub const RECEIVE_WINDOW: u64 = 4096;
/// Bytes of text held for one sender, and for all together, while earlier datagrams are
/// missing. A datagram that can be delivered at once is never refused for them.
pub const MAX_HELD_PER_SENDER: usize = 2 << 20;
pub const MAX_HELD_BYTES: usize = 32 << 20;
/// Sequence numbers asked for, all senders together.
pub const MAX_MISSING: usize = 16 * 1024;
/// Sender ids whose replay windows are kept (longer than the senders themselves, so that a
/// departed participant's datagrams cannot be played again), and the width of each window in
/// datagram counters.
pub const MAX_REPLAY_IDS: usize = 2 * MAX_SENDERS;
/// A sealed or signed datagram from an id we have no window for must carry a time within this
/// much of ours: older ones are replays of a past session.
const FRESH_FIRST_CONTACT_MS: i64 = 10 * 60 * 1000;
/// A sequence number is resent at most once in this long, however many ask: requests from
/// several receivers for one loss come together, and a retry (15 ms on) is answered again.
const REPAIR_HOLD: Duration = Duration::from_millis(5);
/// Repair requests about a sender are paid for by what it sends: each byte heard from it buys
/// this many bytes of requests, on top of a small allowance for a newcomer's backfill. A forged
/// announcement claiming missing data so buys a few requests, not a storm.
const NACK_CREDIT_PER_BYTE_HEARD: u64 = 4;
const NACK_ALLOWANCE: u64 = 256;
const MAX_NACK_CREDIT: u64 = 64 * 1024;
/// Repairs: a trickle we always allow (for repairs of long messages, whose datagrams are much
/// larger than a request for them), and how many bytes of repair each byte of a request that
/// asks us buys.
const REPAIR_BYTES_PER_SECOND: f64 = 128.0 * 1024.0;
const REPAIR_CREDIT_PER_REQUEST_BYTE: f64 = 4.0;
const MAX_REPAIR_CREDIT: f64 = 256.0 * 1024.0;

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub id: u64,
    pub nick: String,
    pub announce_every: Duration,
    /// A peer not heard from for this long has left.
    pub expire_after: Duration,
    /// A gap younger than this may still be reordering, not loss.
    pub reorder_wait: Duration,
    /// Then a receiver waits a random time up to this before asking for a repair.
    pub nack_delay: Duration,
    /// How long to wait for a repair before asking again.
    pub nack_retry: Duration,
    /// Give up on missing data after this long and go on without it.
    pub give_up_after: Duration,
    /// Datagrams kept for answering repair requests.
    pub history: usize,
    /// The group's key: everything we send is sealed with it, and only datagrams sealed with
    /// it are shown. None: nothing is sealed (and sealed datagrams are counted, unread).
    pub key: Option<Arc<GroupKey>>,
    /// Our signing key: everything we send is signed with it.
    pub signer: Option<Arc<Signer>>,
    /// Nicknames already pinned to a key (the first key seen for a nickname is pinned).
    pub pins: HashMap<String, [u8; PUBLIC_KEY_LEN]>,
}

impl PeerConfig {
    pub fn new(id: u64, nick: &str) -> PeerConfig {
        PeerConfig {
            id,
            nick: nick.to_string(),
            announce_every: Duration::from_secs(2),
            expire_after: Duration::from_millis(7_000),
            reorder_wait: Duration::from_millis(3),
            nack_delay: Duration::from_millis(5),
            nack_retry: Duration::from_millis(15),
            give_up_after: Duration::from_secs(5),
            history: 4096,
            key: None,
            signer: None,
            pins: HashMap::new(),
        }
    }
}

/// One participant as the member list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// As shown: an impostor's is marked.
    pub nick: String,
    pub trust: Trust,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `nick` is the name to show (an impostor's is marked, see [`Trust::shown`]). `private`:
    /// sent to us alone.
    Message { sender: u64, nick: String, text: String, unix_ms: u64, trust: Trust, private: bool },
    /// A datagram without our header: the report's tool, or any plain UTF-8 sender.
    Plain { from: SocketAddr, text: String },
    Joined { sender: u64, nick: String, trust: Trust },
    Left { sender: u64, nick: String, timed_out: bool },
    /// Data from this sender could not be repaired in time; `count` messages were skipped.
    Lost { sender: u64, nick: String, count: u32 },
    /// Everyone we hear (and we), sorted by nickname, after any change.
    Members { members: Vec<Member> },
    /// The first key seen for this nickname: keep it, and pass it in [`PeerConfig::pins`]
    /// next time.
    Pinned { nick: String, key: [u8; PUBLIC_KEY_LEN] },
}

#[derive(Debug, Default)]
pub struct Output {
    /// Datagrams to send to the group.
    pub send: Vec<Vec<u8>>,
    /// Datagrams to send to one participant's address (private messages, their requests and
    /// repairs).
    pub direct: Vec<(SocketAddr, Vec<u8>)>,
    pub events: Vec<Event>,
}

/// What the receive path dropped, for the network check and the stats.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub garbage: u64,
    pub duplicates: u64,
    pub nacks_sent: u64,
    pub repairs_sent: u64,
    pub lost: u64,
    /// Datagrams with a known sender id from another address than the one it was first heard
    /// from.
    pub spoofed: u64,
    /// Datagrams dropped by a limit: too many senders, too far ahead, too many bytes held.
    pub over_limit: u64,
    /// Repairs and repair requests held back by their byte budgets.
    pub budget_refused: u64,
    /// Sealed datagrams that do not open with our key: another passphrase, or altered.
    pub unopened: u64,
    /// Datagrams that were not sealed, in a group that has a passphrase.
    pub unsealed: u64,
    /// Datagrams whose counter was seen before, or first contact from a past session.
    pub replayed: u64,
    /// Datagrams under a nickname pinned to another key.
    pub impostors: u64,
    /// Private datagrams addressed to another participant.
    pub misdirected: u64,
}

/// The size of the state that other peers' datagrams make us keep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub senders: usize,
    /// Sequence numbers we are asking for.
    pub missing: usize,
    /// Datagrams kept until the ones before them arrive, and their bytes of text.
    pub waiting: usize,
    pub bytes: usize,
}

#[derive(Debug)]
struct Fragment {
    index: u8,
    count: u8,
    text: Vec<u8>,
    unix_ms: u64,
    arrived: Instant,
}

/// Sequence numbers are u32 on the wire and u64 here, so that "one past the last" of a sender
/// near the end of the u32 space needs no wrapping.
type Seq = u64;

#[derive(Debug)]
struct Sender {
    /// The name to show.
    nick: String,
    trust: Trust,
    /// Where its datagrams come from; others using its id are dropped. Private messages and
    /// their repairs go here.
    addr: SocketAddr,
    last_heard: Instant,
    /// Bytes of repair requests about this sender we may still send.
    nack_credit: u64,
    /// What it says to the group, and what it says to us alone: each in its own sequence.
    group: Stream,
    direct: Stream,
}

/// The two sequences a sender keeps toward us: to the group, and to us alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Group,
    Direct,
}

/// One sequence of a sender's messages as we receive it: ordering, loss and repair.
#[derive(Debug, Default)]
struct Stream {
    /// Next sequence number to deliver; `None` until we know where to start.
    next: Option<Seq>,
    /// Received, not yet delivered, by sequence number, all within the receive window.
    waiting: BTreeMap<Seq, Fragment>,
    /// Missing sequence numbers and when to ask for them, all within the receive window.
    missing: BTreeMap<Seq, Missing>,
    /// Bytes of text in `waiting`.
    held: usize,
    /// Highest sequence number a gap was looked for up to: an announcement looks only past it,
    /// so a repeated one costs nothing.
    noted: Option<Seq>,
    /// Where the next repair request starts: requests take turns over what is missing, so
    /// that gaps no repair comes for cannot crowd out the others.
    ask_from: Seq,
    /// No timer of this stream (a request, giving up on a gap or on a held message) is due
    /// before this; timers only ever start later. `handle_timeout` skips the stream until then.
    wake: Option<Instant>,
}

impl Sender {
    fn stream(&mut self, way: Way) -> &mut Stream {
        match way {
            Way::Group => &mut self.group,
            Way::Direct => &mut self.direct,
        }
    }

    /// Bytes of text held of both streams.
    fn held(&self) -> usize {
        self.group.held + self.direct.held
    }

    fn missing(&self) -> usize {
        self.group.missing.len() + self.direct.missing.len()
    }
}

impl Stream {
    /// Take a held fragment out, keeping the byte counts (its own and `total`) right.
    fn take(&mut self, seq: Seq, total: &mut usize) -> Option<Fragment> {
        let fragment = self.waiting.remove(&seq)?;
        self.held -= fragment.text.len();
        *total -= fragment.text.len();
        Some(fragment)
    }

    /// Make `wake` no later than `at`.
    fn wake_by(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }
}

/// Our private messages to one participant: their own sequence, the history that repairs
/// them, and the announcements that follow them.
#[derive(Debug)]
struct Outgoing {
    next_seq: u32,
    history: VecDeque<(u32, Vec<u8>)>,
    tail_announcements: u32,
    announce_at: Option<Instant>,
    /// When the latest private message went: announcements go on for a while after it.
    last_said: Instant,
}

/// How long after our latest private message to someone we keep announcing it to them (every
/// `announce_every`, after the quick ones), so that one lost during a longer outage is seen.
const DIRECT_ANNOUNCE_FOR: Duration = Duration::from_secs(30);

/// Counters of datagrams already taken from one sender id (RFC 4303 §3.4.3 style): the
/// highest, and a bitmap of the [`REPLAY_WINDOW`] below it. A repair carries its message's
/// counter, so a repair of what arrived is a replay and one of what was lost is not.
#[derive(Debug)]
pub struct ReplayWindow {
    top: Option<u32>,
    bits: Box<[u64]>,
}

/// Counters a window spans: more than a sender's repair history holds datagrams, with room for
/// the announcements and requests among them.
pub const REPLAY_WINDOW: u32 = 16 * 1024;

impl Default for ReplayWindow {
    fn default() -> ReplayWindow {
        ReplayWindow { top: None, bits: vec![0u64; REPLAY_WINDOW as usize / 64].into_boxed_slice() }
    }
}

impl ReplayWindow {
    fn bit(&mut self, counter: u32) -> (&mut u64, u64) {
        let at = (counter % REPLAY_WINDOW) as usize;
        (&mut self.bits[at / 64], 1u64 << (at % 64))
    }

    /// True if the counter is past every one seen.
    pub fn newest(&self, counter: u32) -> bool {
        self.top.is_none_or(|top| counter > top)
    }

    /// True if the counter is new and not too old (nothing is marked).
    pub fn fresh(&self, counter: u32) -> bool {
        match self.top {
            Some(top) if counter <= top => {
                let at = (counter % REPLAY_WINDOW) as usize;
                top - counter < REPLAY_WINDOW && self.bits[at / 64] & (1u64 << (at % 64)) == 0
            }
            _ => true,
        }
    }

    /// True, and the counter marked, if it is new and not too old.
    pub fn accept(&mut self, counter: u32) -> bool {
        match self.top {
            Some(top) if counter <= top => {
                if top - counter >= REPLAY_WINDOW {
                    return false;
                }
                let (word, mask) = self.bit(counter);
                if *word & mask != 0 {
                    return false;
                }
                *word |= mask;
            }
            Some(top) => {
                if counter - top >= REPLAY_WINDOW {
                    self.bits.fill(0);
                } else {
                    for c in top + 1..counter {
                        let (word, mask) = self.bit(c);
                        *word &= !mask;
                    }
                }
                self.top = Some(counter);
                let (word, mask) = self.bit(counter);
                *word |= mask;
            }
            None => {
                self.top = Some(counter);
                let (word, mask) = self.bit(counter);
                *word |= mask;
            }
        }
        true
    }
}

#[derive(Debug)]
struct Replay {
    /// The key this id first signed with (None: its datagrams are sealed but not signed).
    key: Option<[u8; PUBLIC_KEY_LEN]>,
    window: ReplayWindow,
    last_used: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    since: Instant,
    ask_at: Instant,
}

#[derive(Debug)]
pub struct Peer {
    config: PeerConfig,
    next_seq: u32,
    /// The next datagram's counter (the nonce of its seal): never used twice.
    next_counter: u32,
    /// Counters seen per sender id, and the key each id first signed with.
    replay: HashMap<u64, Replay>,
    /// Nicknames and their keys (from `PeerConfig::pins`, and those pinned since).
    pins: Pins,
    history: VecDeque<(u32, Vec<u8>)>,
    /// Our private messages, by recipient id. Only we add to it (one entry per participant we
    /// wrote to), so a peer cannot grow it.
    direct_out: HashMap<u64, Outgoing>,
    /// Where the private messages of senders no longer followed had got to (at most
    /// [`MAX_REPLAY_IDS`]).
    direct_resume: HashMap<u64, (Seq, Instant)>,
    senders: HashMap<u64, Sender>,
    next_announce: Option<Instant>,
    /// Quick announcements still due after the last message.
    tail_announcements: u32,
    /// Sequence numbers repaired a moment ago, and when: several receivers asking at once get
    /// one answer.
    repaired: HashMap<u32, Instant>,
    /// The same for private messages, by recipient and sequence number.
    repaired_direct: HashMap<(u64, u32), Instant>,
    /// Bytes of text in all senders' `waiting` maps.
    held_bytes: usize,
    /// Entries in all senders' `missing` maps (kept here so that a datagram costs no pass over
    /// every sender).
    missing_total: usize,
    /// Bytes of repairs we may send.
    repair_budget: TokenBucket,
    rng: Jitter,
    counters: Counters,
}

impl Peer {
    pub fn new(mut config: PeerConfig) -> Peer {
        let rng = Jitter::new(config.id);
        let pins = Pins::new(std::mem::take(&mut config.pins));
        Peer {
            config,
            next_seq: 1,
            next_counter: 1,
            replay: HashMap::new(),
            pins,
            history: VecDeque::new(),
            direct_out: HashMap::new(),
            direct_resume: HashMap::new(),
            senders: HashMap::new(),
            next_announce: None,
            tail_announcements: 0,
            repaired: HashMap::new(),
            repaired_direct: HashMap::new(),
            held_bytes: 0,
            missing_total: 0,
            repair_budget: TokenBucket::new(REPAIR_BYTES_PER_SECOND, REPAIR_BYTES_PER_SECOND),
            rng,
            counters: Counters::default(),
        }
    }

    pub fn id(&self) -> u64 {
        self.config.id
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// How much peer-controlled state this peer holds now.
    pub fn held(&self) -> Held {
        Held {
            senders: self.senders.len(),
            missing: {
                debug_assert_eq!(self.missing_total, self.senders.values().map(Sender::missing).sum::<usize>());
                self.missing_total
            },
            waiting: self.senders.values().map(|s| s.group.waiting.len() + s.direct.waiting.len()).sum(),
            bytes: self.held_bytes,
        }
    }

    /// Our next datagram, encoded (sealed and signed as configured); None once the counters
    /// are used up (after 4 billion datagrams), when nothing more may be sealed.
    fn make(&mut self, seq: u32, now: Now, body: Body) -> Option<Vec<u8>> {
        let counter = self.next_counter;
        self.next_counter = self.next_counter.checked_add(1)?;
        let datagram = Datagram { counter, ..self.header(seq, now, body) };
        Some(datagram.encode_with(self.config.key.as_deref(), self.config.signer.as_deref()))
    }

    fn header(&self, seq: u32, now: Now, body: Body) -> Datagram {
        Datagram {
            counter: 0,
            sender: self.config.id,
            seq,
            unix_ms: now.unix_millis().max(0) as u64,
            nick: self.config.nick.clone(),
            body,
        }
    }

    /// Join the group: say hello at once.
    pub fn start(&mut self, now: Now) -> Output {
        let mut out = Output::default();
        self.announce(now, &mut out);
        out
    }

    /// Leave the group politely.
    pub fn stop(&mut self, now: Now) -> Output {
        let seq = self.next_seq - 1;
        Output { send: self.make(seq, now, Body::Goodbye).into_iter().collect(), ..Output::default() }
    }

    fn announce(&mut self, now: Now, out: &mut Output) {
        let seq = self.next_seq - 1;
        out.send.extend(self.make(seq, now, Body::Announce));
        let wait = announce_wait(&mut self.tail_announcements, self.config.announce_every);
        self.next_announce = Some(now.mono + wait);
    }

    /// Send text to the group: one message per line, long lines cut into fragments.
    pub fn say(&mut self, text: &str, now: Now) -> Output {
        let mut out = Output::default();
        for (index, count, piece) in fragments(text, text_room(&self.config.nick)) {
            let seq = self.next_seq;
            self.next_seq += 1;
            let Some(bytes) = self.make(seq, now, Body::Message { index, count, text: piece.into_bytes() }) else { break };
            self.remember(seq, bytes.clone());
            out.send.push(bytes);
        }
        if !out.send.is_empty() {
            self.tail_announcements = TAIL_ANNOUNCEMENTS;
            let soon = now.mono + TAIL_ANNOUNCE;
            self.next_announce = Some(self.next_announce.map_or(soon, |t| t.min(soon)));
        }
        out
    }

    /// The participant shown as `nick` (the one heard from most lately, should two share it).
    pub fn member_id(&self, nick: &str) -> Option<u64> {
        self.senders.iter().filter(|(_, s)| s.nick == nick).max_by_key(|(_, s)| s.last_heard).map(|(&id, _)| id)
    }

    /// Send text to participant `to` alone, at the address its datagrams come from, in our own
    /// sequence for it (ordered and repaired as the group's is). None: no such participant.
    pub fn say_to(&mut self, to: u64, text: &str, now: Now) -> Option<Output> {
        let addr = self.senders.get(&to)?.addr;
        let mut out = Output::default();
        for (index, count, piece) in fragments(text, direct_text_room(&self.config.nick)) {
            let outgoing = self.direct_out.entry(to).or_insert_with(|| Outgoing { next_seq: 1, history: VecDeque::new(), tail_announcements: 0, announce_at: None, last_said: now.mono });
            let Some(seq) = outgoing.next_seq.checked_add(1).map(|next| std::mem::replace(&mut outgoing.next_seq, next)) else { break };
            let Some(bytes) = self.make(seq, now, Body::Direct { to, index, count, text: piece.into_bytes() }) else { break };
            let outgoing = self.direct_out.get_mut(&to).expect("made above");
            keep(&mut outgoing.history, seq, bytes.clone(), self.config.history);
            out.direct.push((addr, bytes));
        }
        if let Some(outgoing) = self.direct_out.get_mut(&to).filter(|_| !out.direct.is_empty()) {
            outgoing.tail_announcements = TAIL_ANNOUNCEMENTS;
            outgoing.last_said = now.mono;
            let soon = now.mono + TAIL_ANNOUNCE;
            outgoing.announce_at = Some(outgoing.announce_at.map_or(soon, |t| t.min(soon)));
        }
        Some(out)
    }

    /// Answer a repair request from the history, to the whole group.
    fn repair(&mut self, seq: u32, now: Now, out: &mut Output) {
        if self.repaired.get(&seq).is_some_and(|at| now.mono < *at + REPAIR_HOLD) {
            return;
        }
        let Some(bytes) = kept(&self.history, seq) else { return };
        let Some(repair) = self.repair_of(bytes.clone(), now) else { return };
        out.send.push(repair);
        self.repaired.insert(seq, now.mono);
    }

    /// Answer a request of `to` for our private messages to it, to it alone.
    fn repair_direct(&mut self, to: u64, seq: u32, now: Now, out: &mut Output) {
        if self.repaired_direct.get(&(to, seq)).is_some_and(|at| now.mono < *at + REPAIR_HOLD) {
            return;
        }
        let Some(addr) = self.senders.get(&to).map(|s| s.addr) else { return };
        let Some(bytes) = self.direct_out.get(&to).and_then(|o| kept(&o.history, seq)) else { return };
        let Some(repair) = self.repair_of(bytes.clone(), now) else { return };
        out.direct.push((addr, repair));
        self.repaired_direct.insert((to, seq), now.mono);
    }

    /// A kept datagram as its repair, if the budget allows: the stored bytes as they are (a
    /// sealed datagram is never sealed again under its nonce), but for the kind.
    fn repair_of(&mut self, mut bytes: Vec<u8>, now: Now) -> Option<Vec<u8>> {
        if !self.repair_budget.take(bytes.len() as f64, now.mono) {
            self.counters.budget_refused += 1;
            return None;
        }
        as_repair(&mut bytes);
        self.counters.repairs_sent += 1;
        Some(bytes)
    }

    fn remember(&mut self, seq: u32, bytes: Vec<u8>) {
        keep(&mut self.history, seq, bytes, self.config.history);
    }

    /// One datagram that came to our own address (not the group's): only private datagrams
    /// are taken there, so that nobody can show the group's talk (or plain text) to us alone.
    pub fn receive_direct(&mut self, bytes: &[u8], from: SocketAddr, now: Now) -> Output {
        let private = bytes.len() > 4 && bytes[..3] == MAGIC[..] && (6..=9).contains(&bytes[4]);
        if !private {
            self.counters.misdirected += 1;
            return Output::default();
        }
        self.receive(bytes, from, now)
    }

    /// One datagram from the group.
    pub fn receive(&mut self, bytes: &[u8], from: SocketAddr, now: Now) -> Output {
        let mut out = Output::default();
        let opened = match Datagram::decode_with(bytes, self.config.key.as_deref()) {
            Ok(d) => d,
            Err(DecodeError::NotOurs) if self.config.key.is_some() => {
                self.counters.unsealed += 1;
                return out;
            }
            Err(DecodeError::Sealed | DecodeError::Unopened) => {
                self.counters.unopened += 1;
                return out;
            }
            Err(DecodeError::NotOurs) => {
                match std::str::from_utf8(bytes) {
                    Ok(text) if !text.trim().is_empty() && !text.contains('\0') => {
                        self.counters.received += 1;
                        out.events.push(Event::Plain { from, text: text.trim_end_matches(['\r', '\n']).to_string() });
                    }
                    _ => self.counters.garbage += 1,
                }
                return out;
            }
            Err(_) => {
                self.counters.garbage += 1;
                return out;
            }
        };
        let Opened { datagram, sealed, signer } = opened;
        if datagram.sender == self.config.id {
            return out; // our own, looped back
        }
        let me = self.config.id;
        if let Body::Direct { to, .. } | Body::DirectRepair { to, .. } | Body::DirectAnnounce { to } | Body::DirectNack { target: to, .. } = &datagram.body {
            if *to != me {
                // Someone else's private datagram, sent here by mistake or on purpose.
                self.counters.misdirected += 1;
                return out;
            }
        }
        if self.config.key.is_some() && !sealed {
            self.counters.unsealed += 1;
            return out;
        }
        let sender_id = datagram.sender;
        if !self.senders.contains_key(&sender_id) && self.senders.len() >= MAX_SENDERS {
            self.counters.over_limit += 1;
            if self.counters.over_limit.is_power_of_two() {
                log::warn!("multicast chat: {MAX_SENDERS} senders already; ignoring {from} ({} datagrams so far)", self.counters.over_limit);
            }
            return out;
        }
        let authenticated = sealed || signer.is_some();
        if authenticated {
            // Authenticated: the id belongs to the key it first signed with, and each counter
            // counts once, from wherever it comes (a participant may change address). The
            // counter is marked once the datagram is taken (below), so that one refused for a
            // limit can still come as a repair.
            if !self.fresh(&datagram, signer, now) {
                return out;
            }
            // A participant may change address; only its newest datagram moves it (an old one
            // played again from elsewhere would take its private messages there).
            let newest = self.replay.get(&sender_id).is_some_and(|r| r.window.newest(datagram.counter));
            if let Some(sender) = self.senders.get_mut(&sender_id).filter(|_| newest) {
                sender.addr = from;
            }
        } else if self.replay.get(&sender_id).is_some_and(|r| r.key.is_some()) || self.senders.get(&sender_id).is_some_and(|sender| sender.addr != from) {
            // Anyone can write any id: an unsigned datagram under an id that signs is not its
            // sender's, and otherwise the id belongs to the address it was first heard from.
            self.counters.spoofed += 1;
            return out;
        }
        let counter = datagram.counter;
        self.counters.received += 1;
        let claimed = truncate_utf8(&datagram.nick, 64).to_string();
        // Only what a participant says of itself pins its name, not requests or goodbyes.
        let may_pin = matches!(datagram.body, Body::Announce | Body::Message { .. } | Body::Repair { .. } | Body::DirectAnnounce { .. } | Body::Direct { .. } | Body::DirectRepair { .. });
        let trust = self.trust(&claimed, signer, may_pin, &mut out);
        let nick = trust.shown(&claimed);
        let seq = Seq::from(datagram.seq);
        let mut members_changed = false;
        let mut refused = false;
        let unix_ms = datagram.unix_ms;
        let way = if matches!(datagram.body, Body::Direct { .. } | Body::DirectRepair { .. } | Body::DirectAnnounce { .. }) { Way::Direct } else { Way::Group };
        let heard = |peer: &mut Peer, out: &mut Output| peer.heard(sender_id, from, bytes.len(), &nick, trust, now, out);
        match datagram.body {
            Body::Goodbye => {
                if let Some(sender) = self.forget(sender_id) {
                    out.events.push(Event::Left { sender: sender_id, nick: sender.nick, timed_out: false });
                    members_changed = true;
                }
            }
            Body::Nack { target, seqs } => {
                members_changed |= heard(self, &mut out);
                if target == me {
                    self.credit_repairs(bytes.len(), now);
                    for seq in seqs {
                        self.repair(seq, now, &mut out);
                    }
                } else if let Some(sender) = self.senders.get_mut(&target) {
                    // Someone asked already: hold our own request back (suppression).
                    for seq in seqs {
                        if let Some(m) = sender.group.missing.get_mut(&Seq::from(seq)) {
                            m.ask_at = m.ask_at.max(now.mono + self.config.nack_retry);
                        }
                    }
                }
            }
            Body::DirectNack { seqs, .. } => {
                members_changed |= heard(self, &mut out);
                self.credit_repairs(bytes.len(), now);
                for seq in seqs {
                    self.repair_direct(sender_id, seq, now, &mut out);
                }
            }
            Body::Announce | Body::DirectAnnounce { .. } => {
                members_changed |= heard(self, &mut out);
                self.begin(sender_id, way, seq + 1);
                self.note_latest(sender_id, way, seq, now);
            }
            Body::Message { index, count, text } | Body::Repair { index, count, text } | Body::Direct { index, count, text, .. } | Body::DirectRepair { index, count, text, .. } => {
                members_changed |= heard(self, &mut out);
                // The decoder checked that `index <= seq`.
                self.begin(sender_id, way, seq - Seq::from(index));
                // Refused for a limit, it is asked for again, and its counter stays open.
                refused = self.hold(sender_id, way, seq, Fragment { index, count, text, unix_ms, arrived: now.mono }, now, &mut out);
                self.deliver(sender_id, way, now, &mut out);
            }
        }
        if authenticated && !refused {
            if let Some(replay) = self.replay.get_mut(&sender_id) {
                replay.window.accept(counter);
                replay.last_used = now.mono;
            }
        }
        if members_changed {
            self.emit_members(&mut out);
        }
        out
    }

    /// A request that asks us for repairs pays for them: a few times its own size.
    fn credit_repairs(&mut self, request: usize, now: Now) {
        let credit = request as f64 * REPAIR_CREDIT_PER_REQUEST_BYTE;
        self.repair_budget.credit(credit, MAX_REPAIR_CREDIT, now.mono);
    }

    /// Where delivery of a stream we have not heard begins, given the first sequence number
    /// heard of it. Of the group's, a few earlier ones are asked for too, since they may have
    /// been lost on the way (the sender's hello included); a late joiner sees them as recent
    /// history. Private messages to us are all wanted: from the first.
    fn begin(&mut self, id: u64, way: Way, first: Seq) {
        if let Some(sender) = self.senders.get_mut(&id) {
            let start = match way {
                Way::Group => first.saturating_sub(Seq::from(JOIN_BACKFILL)).max(1),
                Way::Direct => 1,
            };
            sender.stream(way).next.get_or_insert(start);
        }
    }

    /// Stop following a sender. Where its private messages to us had got to is remembered,
    /// so that if it is heard again (after a silence) none is delivered twice.
    fn forget(&mut self, id: u64) -> Option<Sender> {
        let sender = self.senders.remove(&id)?;
        self.held_bytes -= sender.held();
        self.missing_total -= sender.missing();
        // Only a stream that delivered something is worth remembering; the oldest makes room.
        if let Some(next) = sender.direct.next.filter(|&next| next > 1) {
            if self.direct_resume.len() >= MAX_REPLAY_IDS {
                let oldest = self.direct_resume.iter().min_by_key(|(_, (_, at))| *at).map(|(&id, _)| id);
                oldest.map(|id| self.direct_resume.remove(&id));
            }
            self.direct_resume.insert(id, (next, sender.last_heard));
        }
        Some(sender)
    }

    /// Keep a fragment until the ones before it are here, within the window and the byte limit.
    /// True when it was refused for the byte limit (and will be asked for again).
    fn hold(&mut self, id: u64, way: Way, seq: Seq, fragment: Fragment, now: Now, out: &mut Output) -> bool {
        let Some(sender) = self.senders.get_mut(&id) else { return false };
        let stream = sender.stream(way);
        let Some(next) = stream.next else { return false };
        if seq < next || stream.waiting.contains_key(&seq) {
            self.counters.duplicates += 1;
            return false;
        }
        if seq >= next + RECEIVE_WINDOW {
            // This far ahead, what is still missing behind the window is given up, and what is
            // held there is delivered or dropped.
            let floor = seq + 1 - RECEIVE_WINDOW;
            let given_up = stream.missing.range(..floor).count();
            stream.missing = stream.missing.split_off(&floor);
            self.missing_total -= given_up;
            self.counters.over_limit += 1;
            self.deliver_from(id, way, floor, given_up, now, out);
        }
        let Some(sender) = self.senders.get_mut(&id) else { return false };
        let size = fragment.text.len();
        let over = sender.held() + size > MAX_HELD_PER_SENDER || self.held_bytes + size > MAX_HELD_BYTES;
        let stream = sender.stream(way);
        if Some(seq) != stream.next && over {
            // Too much held already: asked for again later.
            self.counters.over_limit += 1;
            if self.missing_total < MAX_MISSING {
                let retry = now.mono + self.config.nack_retry;
                if let std::collections::btree_map::Entry::Vacant(entry) = stream.missing.entry(seq) {
                    entry.insert(Missing { since: now.mono, ask_at: retry });
                    self.missing_total += 1;
                }
                stream.wake_by(retry);
            } else if stream.noted.is_some_and(|noted| noted >= seq) {
                // No room to ask for it now: the next announcement looks for it again.
                stream.noted = seq.checked_sub(1);
            }
            return true;
        }
        if stream.missing.remove(&seq).is_some() {
            self.missing_total -= 1;
        }
        stream.held += size;
        self.held_bytes += size;
        stream.waiting.insert(seq, fragment);
        if seq > 0 {
            self.note_latest(id, way, seq - 1, now);
        }
        false
    }

    /// Mark a peer as heard, creating its state on first contact. True when the member list
    /// changed.
    #[allow(clippy::too_many_arguments)]
    fn heard(&mut self, id: u64, addr: SocketAddr, size: usize, nick: &str, trust: Trust, now: Now, out: &mut Output) -> bool {
        let mut changed = false;
        let resume = &mut self.direct_resume;
        let sender = self.senders.entry(id).or_insert_with(|| {
            changed = true;
            let direct = Stream { next: resume.remove(&id).map(|(next, _)| next), ..Stream::default() };
            Sender { nick: nick.to_string(), trust, addr, last_heard: now.mono, nack_credit: NACK_ALLOWANCE, group: Stream::default(), direct }
        });
        sender.last_heard = now.mono;
        sender.nack_credit = (sender.nack_credit + size as u64 * NACK_CREDIT_PER_BYTE_HEARD).min(MAX_NACK_CREDIT);
        if sender.nick != nick || sender.trust != trust {
            sender.nick = nick.to_string();
            sender.trust = trust;
            changed = true;
        }
        if changed {
            out.events.push(Event::Joined { sender: id, nick: nick.to_string(), trust });
        }
        changed
    }

    /// Everything up to `latest` of this stream should be here: schedule requests for gaps
    /// within the receive window (a lying announcement can claim no more than that).
    fn note_latest(&mut self, id: u64, way: Way, latest: Seq, now: Now) {
        let delay = self.config.reorder_wait + self.rng.below(self.config.nack_delay);
        let mut room = MAX_MISSING.saturating_sub(self.missing_total);
        let Some(sender) = self.senders.get_mut(&id) else { return };
        let stream = sender.stream(way);
        let Some(next) = stream.next else { return };
        let last = latest.min(next + RECEIVE_WINDOW - 1);
        let first = stream.noted.map_or(next, |noted| next.max(noted + 1));
        for seq in first..=last {
            if room == 0 {
                break;
            }
            stream.noted = Some(seq);
            if !stream.waiting.contains_key(&seq) && !stream.missing.contains_key(&seq) {
                stream.missing.insert(seq, Missing { since: now.mono, ask_at: now.mono + delay });
                stream.wake_by(now.mono + delay);
                room -= 1;
                self.missing_total += 1;
            }
        }
    }

    /// Hand out every complete message at the front of this stream's queue. A message whose
    /// first fragment has waited `give_up_after` for the rest is dropped, so that one
    /// incomplete message cannot hold up everything after it.
    fn deliver(&mut self, id: u64, way: Way, now: Now, out: &mut Output) {
        self.deliver_from(id, way, 0, 0, now, out);
    }

    /// [`Self::deliver`], giving up at once on what is incomplete below `floor`, and reporting
    /// `given_up` sequence numbers already abandoned as lost with the rest.
    fn deliver_from(&mut self, id: u64, way: Way, floor: Seq, given_up: usize, now: Now, out: &mut Output) {
        let give_up = self.config.give_up_after;
        let Some(sender) = self.senders.get_mut(&id) else { return };
        let (nick, trust) = (sender.nick.clone(), sender.trust);
        let stream = sender.stream(way);
        let Some(mut next) = stream.next else { return };
        let mut dropped = u32::try_from(given_up).unwrap_or(u32::MAX);
        loop {
            let Some(first) = stream.waiting.get(&next) else {
                // Nothing is expected any more before the next datagram held: the gap was given
                // up on (or left behind by the window).
                match stream.waiting.keys().next() {
                    Some(&held) if stream.missing.range(next..held).next().is_none() => {
                        next = held;
                        continue;
                    }
                    _ => {
                        next = next.max(floor);
                        break;
                    }
                }
            };
            if first.index != 0 {
                // The start of this message was given up on: drop the orphan fragment.
                stream.take(next, &mut self.held_bytes);
                next += 1;
                continue;
            }
            let count = Seq::from(first.count);
            if !(next..next + count).all(|s| stream.waiting.contains_key(&s)) {
                if now.mono < first.arrived + give_up && next >= floor {
                    break;
                }
                for s in next..next + count {
                    if stream.missing.remove(&s).is_some() {
                        self.missing_total -= 1;
                    }
                    stream.take(s, &mut self.held_bytes);
                }
                next += count;
                dropped += 1;
                continue;
            }
            let mut bytes = Vec::new();
            let mut unix_ms = 0;
            for s in next..next + count {
                let fragment = stream.take(s, &mut self.held_bytes).expect("checked above");
                unix_ms = fragment.unix_ms;
                bytes.extend_from_slice(&fragment.text);
            }
            next += count;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            out.events.push(Event::Message { sender: id, nick: nick.clone(), text, unix_ms, trust, private: way == Way::Direct });
        }
        stream.next = Some(next);
        if let Some(head) = stream.waiting.get(&next) {
            let at = head.arrived + give_up;
            stream.wake_by(at);
        }
        if dropped > 0 {
            self.counters.lost += u64::from(dropped);
            out.events.push(Event::Lost { sender: id, nick, count: dropped });
        }
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_announce;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for sender in self.senders.values() {
            consider(sender.last_heard + self.config.expire_after);
            for wake in [sender.group.wake, sender.direct.wake].into_iter().flatten() {
                consider(wake);
            }
        }
        for at in self.direct_out.values().filter_map(|o| o.announce_at) {
            consider(at);
        }
        next
    }

    pub fn handle_timeout(&mut self, now: Now) -> Output {
        let mut out = Output::default();
        if self.next_announce.is_some_and(|t| now.mono >= t) {
            self.announce(now, &mut out);
        }
        self.announce_direct(now, &mut out);
        self.repaired.retain(|_, at| now.mono < *at + REPAIR_HOLD);
        self.repaired_direct.retain(|_, at| now.mono < *at + REPAIR_HOLD);
        // Peers gone silent.
        let expired: Vec<u64> = self
            .senders
            .iter()
            .filter(|(_, s)| now.mono >= s.last_heard + self.config.expire_after)
            .map(|(&id, _)| id)
            .collect();
        for id in &expired {
            let sender = self.forget(*id).expect("listed above");
            out.events.push(Event::Left { sender: *id, nick: sender.nick, timed_out: true });
        }
        if !expired.is_empty() {
            self.emit_members(&mut out);
        }
        // Requests for what is missing; give up on what is too old.
        let ids: Vec<u64> = self.senders.keys().copied().collect();
        for id in ids {
            for way in [Way::Group, Way::Direct] {
                self.ask_again(id, way, now, &mut out);
            }
        }
        out
    }

    /// The announcements that follow our private messages, to their recipients: after a
    /// message, soon and then less often, so that a lost last message is seen.
    fn announce_direct(&mut self, now: Now, out: &mut Output) {
        let due: Vec<u64> = self.direct_out.iter().filter(|(_, o)| o.announce_at.is_some_and(|t| now.mono >= t)).map(|(&id, _)| id).collect();
        for to in due {
            let addr = self.senders.get(&to).map(|s| s.addr);
            let outgoing = self.direct_out.get_mut(&to).expect("listed above");
            let next = now.mono + announce_wait(&mut outgoing.tail_announcements, self.config.announce_every);
            outgoing.announce_at = (addr.is_some() && next < outgoing.last_said + DIRECT_ANNOUNCE_FOR).then_some(next);
            let latest = outgoing.next_seq - 1;
            let Some(addr) = addr else { continue };
            if let Some(bytes) = self.make(latest, now, Body::DirectAnnounce { to }) {
                out.direct.push((addr, bytes));
            }
        }
    }

    /// One stream's timers: give up on what is too old, ask for what is due (the first
    /// MAX_NACK in one request; the rest due now wait for the next round with them), and find
    /// the next timer.
    fn ask_again(&mut self, id: u64, way: Way, now: Now, out: &mut Output) {
        let give_up = self.config.give_up_after;
        let again = now.mono + self.config.nack_retry + self.rng.below(self.config.nack_delay);
        let sender = self.senders.get_mut(&id).expect("a sender we follow");
        let nick = &sender.nick;
        let stream = match way {
            Way::Group => &mut sender.group,
            Way::Direct => &mut sender.direct,
        };
        if stream.wake.is_none_or(|wake| now.mono < wake) {
            return;
        }
        let Some(mut next) = stream.next else { return };
        let mut abandoned = 0usize;
        let mut last_abandoned = next;
        let (mut ask, mut wrapped) = (Vec::new(), Vec::new());
        let mut wake: Option<Instant> = None;
        let ask_from = stream.ask_from;
        stream.missing.retain(|&seq, m| {
            if now.mono >= m.since + give_up {
                abandoned += 1;
                last_abandoned = last_abandoned.max(seq);
                return false;
            }
            if m.ask_at <= now.mono {
                let turn = if seq >= ask_from { &mut ask } else { &mut wrapped };
                if turn.len() < MAX_NACK {
                    turn.push(seq);
                }
                m.ask_at = again;
            }
            let due = m.ask_at.min(m.since + give_up);
            wake = Some(wake.map_or(due, |w| w.min(due)));
            true
        });
        self.missing_total -= abandoned;
        if abandoned > 0 {
            // Skip past whatever can no longer be completed, up to what is still expected.
            let held = stream.waiting.keys().next().copied().unwrap_or(Seq::MAX);
            let expected = stream.missing.keys().next().copied().unwrap_or(Seq::MAX);
            next = next.max(held.min(expected).min(last_abandoned + 1));
            stream.next = Some(next);
            self.counters.lost += abandoned as u64;
            out.events.push(Event::Lost { sender: id, nick: nick.clone(), count: abandoned as u32 });
        }
        ask.extend(wrapped);
        ask.truncate(MAX_NACK);
        if let Some(&last) = ask.last() {
            stream.ask_from = last + 1;
        }
        let ask: Vec<u32> = ask.into_iter().map(|seq| seq as u32).collect();
        if !ask.is_empty() {
            let latest = self.next_seq - 1;
            let body = match way {
                Way::Group => Body::Nack { target: id, seqs: ask },
                Way::Direct => Body::DirectNack { target: id, seqs: ask },
            };
            if let Some(nack) = self.make(latest, now, body) {
                let sender = self.senders.get_mut(&id).expect("a sender we follow");
                if let Some(left) = sender.nack_credit.checked_sub(nack.len() as u64) {
                    sender.nack_credit = left;
                    match way {
                        Way::Group => out.send.push(nack),
                        Way::Direct => out.direct.push((sender.addr, nack)),
                    }
                    self.counters.nacks_sent += 1;
                } else {
                    self.counters.budget_refused += 1;
                }
            }
        }
        self.deliver(id, way, now, out);
        if let Some(sender) = self.senders.get_mut(&id) {
            // Delivery only removes what was missing, so `wake` is still no later than any
            // timer; the held message at the head has one too.
            let stream = sender.stream(way);
            stream.wake = wake;
            if let Some(head) = stream.next.and_then(|n| stream.waiting.get(&n)) {
                let at = head.arrived + give_up;
                stream.wake_by(at);
            }
        }
    }

    fn emit_members(&self, out: &mut Output) {
        let mut members: Vec<Member> = self.senders.values().map(|s| Member { nick: s.nick.clone(), trust: s.trust }).collect();
        let own = self.config.signer.as_ref().map_or(Trust::Unsigned, |signer| Trust::Signed(signer.public()));
        members.push(Member { nick: self.config.nick.clone(), trust: own });
        members.sort_by(|a, b| a.nick.cmp(&b.nick));
        out.events.push(Event::Members { members });
    }

    /// Who a datagram claiming `nick` comes from: the first key seen for a nickname is pinned.
    fn trust(&mut self, nick: &str, signer: Option<[u8; PUBLIC_KEY_LEN]>, may_pin: bool, out: &mut Output) -> Trust {
        let (trust, pinned) = self.pins.judge(nick, signer, may_pin);
        if let (true, Trust::Signed(key)) = (pinned, trust) {
            out.events.push(Event::Pinned { nick: nick.to_string(), key });
        }
        if matches!(trust, Trust::Impostor(_)) {
            self.counters.impostors += 1;
        }
        trust
    }

    /// An authenticated datagram's counter: new (then it is marked), or a replay. An id is
    /// bound to the first key it signed with; another key under it counts as spoofed.
    fn fresh(&mut self, datagram: &Datagram, signer: Option<[u8; PUBLIC_KEY_LEN]>, now: Now) -> bool {
        let known = self.replay.contains_key(&datagram.sender);
        if !known && matches!(datagram.body, Body::Goodbye | Body::Nack { .. } | Body::DirectNack { .. }) {
            // Nothing to say goodbye to or ask on behalf of: no state for it.
            return false;
        }
        if !known {
            let age = now.unix_millis() - datagram.unix_ms.min(i64::MAX as u64) as i64;
            if age.abs() > FRESH_FIRST_CONTACT_MS {
                self.counters.replayed += 1;
                return false;
            }
            if self.replay.len() >= MAX_REPLAY_IDS {
                // Forget the id heard from longest ago (its sender is long gone: at most
                // MAX_SENDERS are followed at once).
                if let Some((&oldest, _)) = self.replay.iter().filter(|(id, _)| !self.senders.contains_key(id)).min_by_key(|(_, r)| r.last_used) {
                    self.replay.remove(&oldest);
                } else {
                    self.counters.over_limit += 1;
                    return false;
                }
            }
        }
        let entry = self.replay.entry(datagram.sender).or_insert_with(|| Replay { key: signer, window: ReplayWindow::default(), last_used: now.mono });
        if entry.key != signer {
            self.counters.spoofed += 1;
            return false;
        }
        if !entry.window.fresh(datagram.counter) {
            self.counters.replayed += 1;
            return false;
        }
        true
    }
}

/// Text as message fragments of at most `room` bytes: one message per line, a long line cut at
/// character boundaries, and a line longer than 255 fragments (about 290 KB) sent as several
/// messages. Each fragment as (index, count, text).
fn fragments(text: &str, room: usize) -> Vec<(u8, u8, String)> {
    let mut out = Vec::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.trim().is_empty() {
            continue;
        }
        let pieces = crate::proto::irc::message::split_utf8(line, room);
        for chunk in pieces.chunks(255) {
            for (index, piece) in chunk.iter().enumerate() {
                out.push((index as u8, chunk.len() as u8, piece.to_string()));
            }
        }
    }
    out
}

/// How long until the next announcement: after a message, soon and then less often (using up
/// one of `tail` quick ones), so that a receiver that lost the last messages learns of them
/// within a few hundred milliseconds; else every `every`.
fn announce_wait(tail: &mut u32, every: Duration) -> Duration {
    match *tail {
        0 => every,
        left => {
            *tail -= 1;
            (TAIL_ANNOUNCE * 4u32.pow(TAIL_ANNOUNCEMENTS - left)).min(every)
        }
    }
}

/// Adds a datagram to a history kept in order, of at most `most`.
fn keep(history: &mut VecDeque<(u32, Vec<u8>)>, seq: u32, bytes: Vec<u8>, most: usize) {
    history.push_back((seq, bytes));
    while history.len() > most {
        history.pop_front();
    }
}

/// The datagram kept under sequence number `seq` in a history kept in order.
fn kept(history: &VecDeque<(u32, Vec<u8>)>, seq: u32) -> Option<&Vec<u8>> {
    let &(front, _) = history.front()?;
    seq.checked_sub(front).and_then(|i| history.get(i as usize)).map(|(_, bytes)| bytes)
}

/// What a hostile peer can make of us: each case bounded, honest traffic still delivered.
#[cfg(test)]
mod hostile {
    use super::*;

    struct Victim {
        peer: Peer,
        start: Instant,
        now: Instant,
        received: usize,
        sent: usize,
        events: Vec<Event>,
    }

    impl Victim {
        fn new() -> Victim {
            let start = Instant::now();
            let mut peer = Peer::new(PeerConfig::new(1, "victim"));
            let now = Now::simulated(start, Duration::ZERO);
            let _ = peer.start(now);
            Victim { peer, start, now: start, received: 0, sent: 0, events: Vec::new() }
        }

        fn clock(&self) -> Now {
            Now::simulated(self.start, self.now - self.start)
        }

        fn take(&mut self, out: Output) {
            // What we send on our own schedule (announces) is not the attacker's doing.
            self.sent += out.send.iter().chain(out.direct.iter().map(|(_, d)| d)).filter(|d| !matches!(Datagram::decode(d).map(|d| d.body), Ok(Body::Announce))).map(Vec::len).sum::<usize>();
            self.events.extend(out.events);
        }

        fn hear(&mut self, datagram: &Datagram, from: &str) {
            let bytes = datagram.encode();
            self.received += bytes.len();
            let now = self.clock();
            let out = self.peer.receive(&bytes, from.parse().unwrap(), now);
            self.take(out);
        }

        /// Let time pass, handling every deadline on the way; how many there were.
        fn wait(&mut self, span: Duration) -> usize {
            let until = self.now + span;
            let mut wakeups = 0;
            while let Some(at) = self.peer.poll_timeout().filter(|&t| t <= until) {
                self.now = self.now.max(at);
                let now = self.clock();
                let out = self.peer.handle_timeout(now);
                self.take(out);
                wakeups += 1;
            }
            self.now = until;
            wakeups
        }

        fn messages(&self) -> Vec<&str> {
            self.events.iter().filter_map(|e| match e { Event::Message { text, .. } => Some(text.as_str()), _ => None }).collect()
        }
    }

    fn datagram(sender: u64, seq: u32, body: Body) -> Datagram {
        Datagram { counter: 0, sender, seq, unix_ms: 1, nick: format!("n{sender}"), body }
    }

    fn message(sender: u64, seq: u32, text: &str) -> Datagram {
        datagram(sender, seq, Body::Message { index: 0, count: 1, text: text.as_bytes().to_vec() })
    }

    #[test]
    fn the_replay_window_takes_each_counter_once_within_its_span() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(100));
        assert!(!w.accept(100));
        assert!(w.accept(99), "an earlier counter not yet seen (a backfill, a repair)");
        assert!(!w.accept(99));
        let top = 100 + REPLAY_WINDOW;
        assert!(w.accept(top));
        assert!(!w.accept(100), "fell out of the window");
        assert!(!w.accept(top - REPLAY_WINDOW));
        assert!(w.accept(top - REPLAY_WINDOW + 1));
        assert!(w.accept(top + 5));
        assert!(w.accept(top + 1), "skipped counters stay open");
        assert!(!w.accept(top + 5));
        assert!(w.accept(u32::MAX));
        assert!(!w.accept(u32::MAX));
    }

    const HONEST: &str = "10.0.0.2:23333";
    const ATTACKER: &str = "10.0.0.66:23333";

    #[test]
    fn a_forged_gap_is_asked_for_in_rounds_and_repeating_it_adds_nothing() {
        let mut v = Victim::new();
        v.hear(&message(7, 1, "first"), ATTACKER);
        v.hear(&datagram(7, 1 + RECEIVE_WINDOW as u32, Body::Announce), ATTACKER);
        let held = v.peer.held();
        assert_eq!(held.missing as u64, RECEIVE_WINDOW);
        // The same announcement again changes nothing (and looks at no entry again).
        for _ in 0..100 {
            v.hear(&datagram(7, 1 + RECEIVE_WINDOW as u32, Body::Announce), ATTACKER);
        }
        assert_eq!(v.peer.held(), held);
        // Thousands of missing entries wake the peer once a round (every 15-20 ms), not once
        // per entry: each wake-up walks all of them.
        let wakeups = v.wait(Duration::from_secs(2));
        assert!(wakeups <= 2000 / 15 + 5, "{wakeups} wake-ups in 2 s");
        // The gap was given up on after five seconds (the sender itself is still known).
        v.wait(Duration::from_millis(3_100));
        assert_eq!(v.peer.held().missing, 0);
        assert_eq!(v.peer.held().senders, 1);
        assert!(v.events.iter().any(|e| matches!(e, Event::Lost { sender: 7, .. })));
    }

    #[test]
    fn announcements_at_the_end_of_the_sequence_space_stay_bounded() {
        let mut v = Victim::new();
        v.hear(&datagram(7, 0xFFFF_FFFE, Body::Announce), ATTACKER);
        v.hear(&datagram(7, 0xFFFF_FFFF, Body::Announce), ATTACKER);
        v.hear(&message(7, 0xFFFF_FFFF, "at the very end"), ATTACKER);
        assert!(v.peer.held().missing as u64 <= RECEIVE_WINDOW, "{:?}", v.peer.held());
        // An honest sender beside it is heard at once.
        v.hear(&message(8, 1, "honest"), HONEST);
        assert_eq!(v.messages(), ["honest"]);
        // What the first announcement claimed is given up on in time, and the last message
        // the sequence space has is delivered after it.
        v.wait(Duration::from_secs(6));
        assert_eq!(v.messages(), ["honest", "at the very end"]);
        assert_eq!(v.peer.held(), Held { senders: 2, ..Held::default() });
    }

    #[test]
    fn fake_senders_are_capped_and_expire_in_one_member_list() {
        let mut v = Victim::new();
        for id in 100..10_100u64 {
            v.hear(&datagram(id, 0, Body::Announce), ATTACKER);
        }
        assert_eq!(v.peer.held().senders, MAX_SENDERS);
        assert_eq!(v.peer.counters().over_limit, 10_000 - MAX_SENDERS as u64);
        // Each newcomer brought one member list at most.
        let lists = v.events.iter().filter(|e| matches!(e, Event::Members { .. })).count();
        assert_eq!(lists, MAX_SENDERS);
        v.events.clear();
        v.wait(Duration::from_secs(8));
        let lists = v.events.iter().filter(|e| matches!(e, Event::Members { .. })).count();
        assert_eq!(lists, 1, "expiring them all at once lists the members once");
        assert_eq!(v.peer.held().senders, 0);
        // Room again for an honest newcomer.
        v.hear(&message(5, 1, "hello again"), HONEST);
        assert_eq!(v.messages(), ["hello again"]);
    }

    #[test]
    fn a_forged_announcement_buys_few_repair_requests() {
        let mut v = Victim::new();
        v.hear(&datagram(7, 5_000, Body::Announce), ATTACKER);
        v.wait(Duration::from_millis(500));
        v.hear(&datagram(7, 4_000_000, Body::Announce), ATTACKER);
        v.wait(Duration::from_secs(8));
        let ratio = v.sent as f64 / v.received as f64;
        println!("forged announcements: {} bytes in, {} bytes of requests out (x{ratio:.1})", v.received, v.sent);
        assert!(ratio <= (NACK_CREDIT_PER_BYTE_HEARD + NACK_ALLOWANCE.div_ceil(v.received as u64)) as f64, "x{ratio:.1}");
        assert!(v.peer.counters().nacks_sent >= 1, "the first gap is still asked for");
    }

    #[test]
    fn a_flood_of_repair_requests_gets_a_few_times_its_size() {
        let mut v = Victim::new();
        let now = v.clock();
        // Our history: 200 long messages of 1,100 bytes.
        let _ = v.peer.say(&vec!["长".repeat(360); 200].join("\n"), now);
        let seqs: Vec<u32> = (1..=MAX_NACK as u32).collect();
        for _ in 0..2_000 {
            v.hear(&datagram(9, 0, Body::Nack { target: 1, seqs: seqs.clone() }), ATTACKER);
            v.wait(Duration::from_millis(1));
        }
        let ratio = v.sent as f64 / v.received as f64;
        println!("repair requests every 1 ms for 2 s: {} bytes in, {} bytes of repairs out (x{ratio:.2})", v.received, v.sent);
        // What the requests paid for, plus the trickle for everyone: two seconds and the burst.
        let allowed = REPAIR_CREDIT_PER_REQUEST_BYTE * v.received as f64 + 3.0 * REPAIR_BYTES_PER_SECOND;
        assert!(v.sent as f64 <= allowed, "x{ratio:.2}");
        assert!(ratio <= REPAIR_CREDIT_PER_REQUEST_BYTE + 0.5, "x{ratio:.2}");
        assert!(v.peer.counters().repairs_sent > 0);
    }

    #[test]
    fn an_incomplete_message_holds_up_nothing_for_long_and_holds_little() {
        let mut v = Victim::new();
        let first = datagram(7, 1, Body::Message { index: 0, count: 255, text: vec![b'x'; 1000] });
        v.hear(&first, HONEST);
        let filler = "y".repeat(1000);
        let mut most_held = Held::default();
        for seq in 300..20_000u32 {
            v.hear(&message(7, seq, &filler), HONEST);
            let held = v.peer.held();
            most_held.waiting = most_held.waiting.max(held.waiting);
            most_held.bytes = most_held.bytes.max(held.bytes);
            most_held.missing = most_held.missing.max(held.missing);
        }
        assert!(most_held.waiting as u64 <= RECEIVE_WINDOW && most_held.missing as u64 <= RECEIVE_WINDOW, "{most_held:?}");
        assert!(most_held.bytes <= MAX_HELD_PER_SENDER + 1000, "{most_held:?}");
        // The window moving past the gap delivered what was held behind it.
        assert!(v.messages().len() >= 2_000, "{}", v.messages().len());
        // After the give-up time nothing is held or asked for, and what comes next arrives.
        v.wait(Duration::from_secs(6));
        assert_eq!(v.peer.held(), Held { senders: 1, ..Held::default() });
        // What the sender says next arrives (after what it is still owed is given up).
        v.hear(&message(7, 20_000, "and then"), HONEST);
        v.wait(Duration::from_secs(6));
        assert_eq!(v.messages().last(), Some(&"and then"));
        assert!(v.events.iter().any(|e| matches!(e, Event::Lost { .. })));
    }

    #[test]
    fn an_incomplete_message_is_given_up_after_a_while() {
        let mut v = Victim::new();
        v.hear(&datagram(7, 1, Body::Message { index: 0, count: 3, text: b"start".to_vec() }), HONEST);
        v.hear(&message(7, 4, "next"), HONEST);
        v.wait(Duration::from_secs(6));
        assert_eq!(v.messages(), ["next"]);
        assert!(v.events.iter().any(|e| matches!(e, Event::Lost { .. })));
        assert_eq!(v.peer.held(), Held { senders: 1, ..Held::default() });
    }

    #[test]
    fn a_spoofed_sender_id_cannot_hide_or_reorder_the_honest_sender() {
        let mut v = Victim::new();
        v.hear(&message(7, 1, "one"), HONEST);
        // The attacker takes the honest sender's id for the next sequence numbers and says goodbye.
        v.hear(&message(7, 2, "forged"), ATTACKER);
        v.hear(&datagram(7, 2, Body::Goodbye), ATTACKER);
        v.hear(&message(7, 2, "two"), HONEST);
        v.hear(&message(7, 3, "three"), HONEST);
        assert_eq!(v.messages(), ["one", "two", "three"]);
        assert_eq!(v.peer.counters().spoofed, 2);
    }

    use proptest::prelude::*;

    /// One input of a hostile session: a datagram (well-formed or raw bytes) from one of three
    /// addresses after some milliseconds.
    fn arb_input() -> impl Strategy<Value = (Vec<u8>, u8, u16)> {
        let body = prop_oneof![
            (any::<u8>(), 1u8.., prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(i, c, text)| Body::Message { index: i % c, count: c, text }),
            Just(Body::Announce),
            Just(Body::Goodbye),
            (0u64..4, prop::collection::vec(any::<u32>(), 0..20)).prop_map(|(target, seqs)| Body::Nack { target, seqs }),
        ];
        // Sequence numbers near both ends of the space; far jumps are the unit tests' part (a
        // full receive window of requests makes each simulated millisecond slow).
        let seq = prop_oneof![4 => 0u32..50, 1 => (u32::MAX - 40)..=u32::MAX];
        let structured = (0u64..6, seq, body, "\\PC{0,8}")
            .prop_filter("index within seq", |(_, seq, body, _)| !matches!(body, Body::Message { index, .. } if u32::from(*index) > *seq))
            .prop_map(|(sender, seq, body, nick)| Datagram { counter: 0, sender, seq, unix_ms: 1, nick, body }.encode());
        let raw = prop::collection::vec(any::<u8>(), 0..64);
        (prop_oneof![4 => structured, 1 => raw], 0u8..3, prop_oneof![8 => 0u16..20, 1 => 0u16..1500])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
        /// Whatever arrives, in whatever order and timing: no panic, bounded state, and what we
        /// send stays a small multiple of what came in (plus our own announcements).
        #[test]
        fn any_session_stays_bounded(inputs in prop::collection::vec(arb_input(), 1..40)) {
            let mut v = Victim::new();
            let addresses = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"];
            for (bytes, from, wait) in inputs {
                v.received += bytes.len();
                let now = v.clock();
                let out = v.peer.receive(&bytes, addresses[from as usize].parse().unwrap(), now);
                v.take(out);
                v.wait(Duration::from_millis(u64::from(wait)));
                let held = v.peer.held();
                prop_assert!(held.senders <= MAX_SENDERS);
                prop_assert!(held.bytes <= MAX_HELD_BYTES);
                prop_assert!(held.missing as u64 <= held.senders as u64 * RECEIVE_WINDOW);
            }
            v.wait(Duration::from_secs(10));
            prop_assert_eq!(v.peer.held().missing, 0);
            prop_assert!(v.sent as u64 <= NACK_CREDIT_PER_BYTE_HEARD * v.received as u64 + NACK_ALLOWANCE * 6 + 64 * 1024);
        }
    }
}
