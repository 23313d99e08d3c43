//! One participant of a serverless multicast chat: presence, per-sender ordering and loss
//! repair, sans-IO. Datagrams and the clock come in; datagrams to multicast, events for the
//! user and the next deadline come out of every call.
//!
//! Loss repair follows the SRM/NORM idea: a receiver that sees a gap waits a short random time,
//! then multicasts a repair request (NACK); a receiver that hears someone else's request for the
//! same data holds its own back. The sender answers from a bounded history, to the whole group.

use super::wire::{text_room, truncate_utf8, Body, Datagram, DecodeError, MAX_NACK};
use crate::proto::{Jitter, Now};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// First announcement after a message, and how many follow at growing intervals (x4).
const TAIL_ANNOUNCE: Duration = Duration::from_millis(30);
const TAIL_ANNOUNCEMENTS: u32 = 4;
/// Messages before the first one heard from a new peer that are asked for.
const JOIN_BACKFILL: u32 = 32;

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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Message { sender: u64, nick: String, text: String, unix_ms: u64 },
    /// A datagram without our header: the report's tool, or any plain UTF-8 sender.
    Plain { from: SocketAddr, text: String },
    Joined { sender: u64, nick: String },
    Left { sender: u64, nick: String, timed_out: bool },
    /// Data from this sender could not be repaired in time; `count` messages were skipped.
    Lost { sender: u64, nick: String, count: u32 },
    /// Everyone we hear, by nickname, after any change.
    Members { nicks: Vec<String> },
}

#[derive(Debug, Default)]
pub struct Output {
    /// Datagrams to send to the group.
    pub send: Vec<Vec<u8>>,
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
}

#[derive(Debug)]
struct Fragment {
    index: u8,
    count: u8,
    text: Vec<u8>,
    unix_ms: u64,
}

#[derive(Debug)]
struct Sender {
    nick: String,
    last_heard: Instant,
    /// Next sequence number to deliver.
    next: u32,
    /// Received, not yet delivered, by sequence number.
    waiting: BTreeMap<u32, Fragment>,
    /// Missing sequence numbers and when to ask for them.
    missing: BTreeMap<u32, Missing>,
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
    history: VecDeque<(u32, Vec<u8>)>,
    senders: HashMap<u64, Sender>,
    next_announce: Option<Instant>,
    /// Quick announcements still due after the last message.
    tail_announcements: u32,
    /// Sequence numbers repaired a moment ago, and when: several receivers asking at once get
    /// one answer.
    repaired: HashMap<u32, Instant>,
    rng: Jitter,
    counters: Counters,
}

impl Peer {
    pub fn new(config: PeerConfig) -> Peer {
        let rng = Jitter::new(config.id);
        Peer {
            config,
            next_seq: 1,
            history: VecDeque::new(),
            senders: HashMap::new(),
            next_announce: None,
            tail_announcements: 0,
            repaired: HashMap::new(),
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

    fn header(&self, seq: u32, now: Now, body: Body) -> Datagram {
        Datagram {
            flags: 0,
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
        Output { send: vec![self.header(seq, now, Body::Goodbye).encode()], events: Vec::new() }
    }

    fn announce(&mut self, now: Now, out: &mut Output) {
        let seq = self.next_seq - 1;
        out.send.push(self.header(seq, now, Body::Announce).encode());
        // After a message, announce again soon and then less often, so that a receiver that
        // lost the last messages learns of them within a few hundred milliseconds.
        let wait = match self.tail_announcements {
            0 => self.config.announce_every,
            left => {
                self.tail_announcements -= 1;
                TAIL_ANNOUNCE * 4u32.pow(TAIL_ANNOUNCEMENTS - left)
            }
        };
        self.next_announce = Some(now.mono + wait.min(self.config.announce_every));
    }

    /// Send text to the group: one message per line, long lines cut into fragments.
    pub fn say(&mut self, text: &str, now: Now) -> Output {
        let mut out = Output::default();
        let room = text_room(&self.config.nick);
        for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            if line.trim().is_empty() {
                continue;
            }
            let pieces = crate::proto::irc::message::split_utf8(line, room);
            // A message longer than 255 fragments (about 290 KB) is sent as several messages.
            for chunk in pieces.chunks(255) {
                let count = chunk.len() as u8;
                for (index, piece) in chunk.iter().enumerate() {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    let body = Body::Message { index: index as u8, count, text: piece.as_bytes().to_vec() };
                    let bytes = self.header(seq, now, body).encode();
                    self.remember(seq, bytes.clone());
                    out.send.push(bytes);
                }
            }
        }
        if !out.send.is_empty() {
            self.tail_announcements = TAIL_ANNOUNCEMENTS;
            let soon = now.mono + TAIL_ANNOUNCE;
            self.next_announce = Some(self.next_announce.map_or(soon, |t| t.min(soon)));
        }
        out
    }

    /// Answer a repair request from the history, to the whole group.
    fn repair(&mut self, seq: u32, now: Now, out: &mut Output) {
        if self.repaired.get(&seq).is_some_and(|at| now.mono < *at + self.config.nack_delay) {
            return;
        }
        let Some(&(front, _)) = self.history.front() else { return };
        let Some((_, bytes)) = seq.checked_sub(front).and_then(|i| self.history.get(i as usize)) else { return };
        let mut repair = Datagram::decode(bytes).expect("our own encoding");
        if let Body::Message { index, count, text } = repair.body {
            repair.body = Body::Repair { index, count, text };
        }
        out.send.push(repair.encode());
        self.repaired.insert(seq, now.mono);
        self.counters.repairs_sent += 1;
    }

    fn remember(&mut self, seq: u32, bytes: Vec<u8>) {
        self.history.push_back((seq, bytes));
        while self.history.len() > self.config.history {
            self.history.pop_front();
        }
    }

    /// One datagram from the group.
    pub fn receive(&mut self, bytes: &[u8], from: SocketAddr, now: Now) -> Output {
        let mut out = Output::default();
        let datagram = match Datagram::decode(bytes) {
            Ok(d) => d,
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
        if datagram.sender == self.config.id {
            return out; // our own, looped back
        }
        self.counters.received += 1;
        let sender_id = datagram.sender;
        let nick = truncate_utf8(&datagram.nick, 64).to_string();
        match datagram.body {
            Body::Goodbye => {
                if let Some(sender) = self.senders.remove(&sender_id) {
                    out.events.push(Event::Left { sender: sender_id, nick: sender.nick, timed_out: false });
                    self.emit_members(&mut out);
                }
                return out;
            }
            Body::Nack { target, seqs } => {
                self.heard(sender_id, &nick, None, now, &mut out);
                if target == self.config.id {
                    for seq in seqs {
                        self.repair(seq, now, &mut out);
                    }
                } else if let Some(sender) = self.senders.get_mut(&target) {
                    // Someone asked already: hold our own request back (suppression).
                    for seq in seqs {
                        if let Some(m) = sender.missing.get_mut(&seq) {
                            m.ask_at = m.ask_at.max(now.mono + self.config.nack_retry);
                        }
                    }
                }
                return out;
            }
            Body::Announce => {
                let first = (datagram.seq + 1).saturating_sub(JOIN_BACKFILL).max(1);
                self.heard(sender_id, &nick, Some(first), now, &mut out);
                self.note_latest(sender_id, datagram.seq, now);
            }
            Body::Message { index, count, text } | Body::Repair { index, count, text } => {
                // On first contact, earlier messages may have been lost on the way (the
                // sender's hello included): ask for a few, which a late joiner sees as recent
                // history.
                let first = (datagram.seq - u32::from(index)).saturating_sub(JOIN_BACKFILL).max(1);
                self.heard(sender_id, &nick, Some(first), now, &mut out);
                let sender = self.senders.get_mut(&sender_id).expect("heard() inserted it");
                if datagram.seq < sender.next || sender.waiting.contains_key(&datagram.seq) {
                    self.counters.duplicates += 1;
                    return out;
                }
                sender.missing.remove(&datagram.seq);
                sender.waiting.insert(datagram.seq, Fragment { index, count, text, unix_ms: datagram.unix_ms });
                if datagram.seq > 0 {
                    self.note_latest(sender_id, datagram.seq - 1, now);
                }
                self.deliver(sender_id, &mut out);
            }
        }
        out
    }

    /// Mark a peer as heard, creating its state on first contact. `start` is where delivery
    /// begins for a peer we have not heard before.
    fn heard(&mut self, id: u64, nick: &str, start: Option<u32>, now: Now, out: &mut Output) {
        let mut changed = false;
        let sender = self.senders.entry(id).or_insert_with(|| {
            changed = true;
            Sender {
                nick: nick.to_string(),
                last_heard: now.mono,
                next: start.unwrap_or(u32::MAX),
                waiting: BTreeMap::new(),
                missing: BTreeMap::new(),
            }
        });
        sender.last_heard = now.mono;
        if sender.next == u32::MAX {
            if let Some(start) = start {
                sender.next = start;
            }
        }
        if sender.nick != nick {
            sender.nick = nick.to_string();
            changed = true;
        }
        if changed {
            out.events.push(Event::Joined { sender: id, nick: nick.to_string() });
            self.emit_members(out);
        }
    }

    /// Everything up to `latest` from this sender should be here: schedule requests for gaps.
    fn note_latest(&mut self, id: u64, latest: u32, now: Now) {
        let delay = self.config.reorder_wait + self.rng.below(self.config.nack_delay);
        let Some(sender) = self.senders.get_mut(&id) else { return };
        if sender.next == u32::MAX {
            return;
        }
        let mut seq = sender.next;
        // Bound the work a lying announcement can cause.
        let last = latest.min(sender.next.saturating_add(4 * MAX_NACK as u32));
        while seq <= last {
            if !sender.waiting.contains_key(&seq) {
                sender.missing.entry(seq).or_insert(Missing { since: now.mono, ask_at: now.mono + delay });
            }
            seq += 1;
        }
    }

    fn deliver(&mut self, id: u64, out: &mut Output) {
        let Some(sender) = self.senders.get_mut(&id) else { return };
        loop {
            let Some(first) = sender.waiting.get(&sender.next) else { break };
            if first.index != 0 {
                // The start of this message was given up on: drop the orphan fragment.
                sender.waiting.remove(&sender.next);
                sender.next += 1;
                continue;
            }
            let count = u32::from(first.count);
            if !(0..count).all(|i| sender.waiting.contains_key(&(sender.next + i))) {
                break;
            }
            let mut bytes = Vec::new();
            let mut unix_ms = 0;
            for i in 0..count {
                let fragment = sender.waiting.remove(&(sender.next + i)).expect("checked above");
                unix_ms = fragment.unix_ms;
                bytes.extend_from_slice(&fragment.text);
            }
            sender.next += count;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            out.events.push(Event::Message { sender: id, nick: sender.nick.clone(), text, unix_ms });
        }
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_announce;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for sender in self.senders.values() {
            consider(sender.last_heard + self.config.expire_after);
            for m in sender.missing.values() {
                consider(m.ask_at.min(m.since + self.config.give_up_after));
            }
        }
        next
    }

    pub fn handle_timeout(&mut self, now: Now) -> Output {
        let mut out = Output::default();
        if self.next_announce.is_some_and(|t| now.mono >= t) {
            self.announce(now, &mut out);
        }
        self.repaired.retain(|_, at| now.mono < *at + self.config.nack_delay);
        // Peers gone silent.
        let expired: Vec<u64> = self
            .senders
            .iter()
            .filter(|(_, s)| now.mono >= s.last_heard + self.config.expire_after)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            let sender = self.senders.remove(&id).expect("listed above");
            out.events.push(Event::Left { sender: id, nick: sender.nick, timed_out: true });
            self.emit_members(&mut out);
        }
        // Requests for what is missing; give up on what is too old.
        let ids: Vec<u64> = self.senders.keys().copied().collect();
        for id in ids {
            let retry = self.config.nack_retry + self.rng.below(self.config.nack_delay);
            let give_up = self.config.give_up_after;
            let sender = self.senders.get_mut(&id).expect("listed above");
            let mut ask = Vec::new();
            let mut abandoned = 0;
            let stale: Vec<u32> = sender.missing.iter().filter(|(_, m)| now.mono >= m.since + give_up).map(|(&s, _)| s).collect();
            for seq in stale {
                sender.missing.remove(&seq);
                abandoned += 1;
                if seq == sender.next {
                    sender.next += 1;
                }
            }
            if abandoned > 0 {
                // Skip past whatever can no longer be completed.
                while sender.next < sender.waiting.keys().next().copied().unwrap_or(sender.next)
                    && !sender.missing.contains_key(&sender.next)
                {
                    sender.next += 1;
                }
                self.counters.lost += abandoned;
                out.events.push(Event::Lost { sender: id, nick: sender.nick.clone(), count: abandoned as u32 });
            }
            for (&seq, m) in sender.missing.iter_mut() {
                if m.ask_at <= now.mono && ask.len() < MAX_NACK {
                    ask.push(seq);
                    m.ask_at = now.mono + retry;
                }
            }
            if !ask.is_empty() {
                let latest = self.next_seq - 1;
                let nack = self.header(latest, now, Body::Nack { target: id, seqs: ask });
                out.send.push(nack.encode());
                self.counters.nacks_sent += 1;
            }
            if abandoned > 0 {
                self.deliver(id, &mut out);
            }
        }
        out
    }

    fn emit_members(&self, out: &mut Output) {
        let mut nicks: Vec<String> = self.senders.values().map(|s| s.nick.clone()).collect();
        nicks.push(self.config.nick.clone());
        nicks.sort();
        out.events.push(Event::Members { nicks });
    }
}
