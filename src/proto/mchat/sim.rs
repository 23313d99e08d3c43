//! Many peers on a simulated network with loss, duplication, reordering and delay, driven by
//! the earliest deadline: no sockets, no sleeping, seconds of traffic in milliseconds.

use super::peer::{Event, Peer, PeerConfig, Trust};
use super::seal::{GroupKey, Signer};
use super::wire::{Body, Datagram};
use crate::proto::{Jitter, Now};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Net {
    loss: f64,
    duplicate: f64,
    delay: Duration,
    jitter: Duration,
}

struct Sim {
    net: Net,
    rng: Jitter,
    start: Instant,
    now: Instant,
    peers: Vec<Option<Peer>>,
    /// (delivery time, tie-breaker) -> (to, from, bytes)
    in_flight: BTreeMap<(Instant, u64), (usize, usize, Vec<u8>)>,
    counter: u64,
    events: Vec<Vec<Event>>,
    sent_datagrams: usize,
    /// Every datagram sent to the group, by whom.
    sent: Vec<(usize, Vec<u8>)>,
    /// Every datagram sent to one peer: by whom, to whom.
    sent_direct: Vec<(usize, usize, Vec<u8>)>,
}

/// Peer `i`'s address: where its datagrams come from, and where private ones to it go.
fn address(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20000 + i as u16))
}

impl Sim {
    fn new(count: usize, net: Net, seed: u64) -> Sim {
        Sim::configured(count, net, seed, |_, _| {})
    }

    fn configured(count: usize, net: Net, seed: u64, configure: impl Fn(usize, &mut PeerConfig)) -> Sim {
        let start = Instant::now();
        let mut sim = Sim {
            net,
            rng: Jitter::new(seed),
            start,
            now: start,
            peers: Vec::new(),
            in_flight: BTreeMap::new(),
            counter: 0,
            events: vec![Vec::new(); count],
            sent_datagrams: 0,
            sent: Vec::new(),
            sent_direct: Vec::new(),
        };
        for i in 0..count {
            let mut config = PeerConfig::new(1000 + i as u64, &format!("peer{i}"));
            configure(i, &mut config);
            sim.peers.push(Some(Peer::new(config)));
        }
        for i in 0..count {
            let now = sim.clock();
            let out = sim.peers[i].as_mut().unwrap().start(now);
            sim.emit(i, out);
        }
        sim
    }

    fn clock(&self) -> Now {
        Now::simulated(self.start, self.now - self.start)
    }

    fn emit(&mut self, from: usize, out: super::Output) {
        self.events[from].extend(out.events);
        for bytes in out.send {
            self.sent_datagrams += 1;
            self.sent.push((from, bytes.clone()));
            for to in 0..self.peers.len() {
                if to != from && self.peers[to].is_some() {
                    self.travel(from, to, &bytes);
                }
            }
        }
        for (addr, bytes) in out.direct {
            self.sent_datagrams += 1;
            let to = (0..self.peers.len()).find(|&i| address(i) == addr).expect("sent to a peer's address");
            self.sent_direct.push((from, to, bytes.clone()));
            self.travel(from, to, &bytes);
        }
    }

    /// One datagram on its way, lost, duplicated and delayed as the network does.
    fn travel(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let copies = if self.rng.chance(self.net.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            if self.rng.chance(self.net.loss) {
                continue;
            }
            let at = self.now + self.net.delay + self.rng.below(self.net.jitter);
            self.counter += 1;
            self.in_flight.insert((at, self.counter), (to, from, bytes.to_vec()));
        }
    }

    /// Run until `until`, handling every delivery and timeout in time order.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next_delivery = self.in_flight.keys().next().map(|k| k.0);
            let next_timeout = self.peers.iter().flatten().filter_map(Peer::poll_timeout).min();
            let next = [next_delivery, next_timeout].into_iter().flatten().min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            if next_delivery == Some(next) {
                let key = *self.in_flight.keys().next().unwrap();
                let (to, from, bytes) = self.in_flight.remove(&key).unwrap();
                let now = self.clock();
                if let Some(peer) = self.peers[to].as_mut() {
                    let out = peer.receive(&bytes, address(from), now);
                    self.emit(to, out);
                }
            } else {
                for i in 0..self.peers.len() {
                    let now = self.clock();
                    let Some(peer) = self.peers[i].as_mut() else { continue };
                    if peer.poll_timeout().is_some_and(|t| t <= self.now) {
                        let out = peer.handle_timeout(now);
                        self.emit(i, out);
                    }
                }
            }
        }
    }

    fn say(&mut self, i: usize, text: &str) {
        let now = self.clock();
        let out = self.peers[i].as_mut().unwrap().say(text, now);
        self.emit(i, out);
    }

    fn say_to(&mut self, i: usize, to: usize, text: &str) {
        let now = self.clock();
        let id = self.peers[to].as_ref().unwrap().id();
        let out = self.peers[i].as_mut().unwrap().say_to(id, text, now).expect("a participant heard");
        self.emit(i, out);
    }

    /// What peer `i` was told, to the group or privately.
    fn told(&self, i: usize, private: bool) -> Vec<(String, String)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Message { nick, text, private: p, .. } if *p == private => Some((nick.clone(), text.clone())),
                _ => None,
            })
            .collect()
    }

    fn messages(&self, i: usize) -> Vec<(String, String)> {
        self.told(i, false)
    }
}

fn all_delivered_in_order(loss: f64, peers: usize, messages: usize, seed: u64) -> Sim {
    let net = Net { loss, duplicate: 0.05, delay: Duration::from_millis(1), jitter: Duration::from_millis(4) };
    let mut sim = Sim::new(peers, net, seed);
    let long = "长".repeat(1000); // three datagrams
    for k in 0..messages {
        for i in 0..peers {
            let text = if k == messages / 2 { format!("{i}:{k}:{long}") } else { format!("{i}:{k}") };
            sim.say(i, &text);
        }
        let until = sim.now + Duration::from_millis(7);
        sim.run_until(until);
    }
    // Tail loss shows only through announcements: give them time.
    let until = sim.now + Duration::from_secs(6);
    sim.run_until(until);
    for receiver in 0..peers {
        let got = sim.messages(receiver);
        for sender in (0..peers).filter(|&s| s != receiver) {
            let from: Vec<&String> = got.iter().filter(|(n, _)| *n == format!("peer{sender}")).map(|(_, t)| t).collect();
            let want: Vec<String> = (0..messages)
                .map(|k| if k == messages / 2 { format!("{sender}:{k}:{long}") } else { format!("{sender}:{k}") })
                .collect();
            if from.len() != want.len() {
                let missing: Vec<&String> = want.iter().filter(|w| !from.contains(w)).collect();
                let lost: Vec<&Event> = sim.events[receiver].iter().filter(|e| matches!(e, Event::Lost { .. } | Event::Joined { .. } | Event::Left { .. })).collect();
                panic!("loss {loss} seed {seed}: peer{receiver} from peer{sender}: missing {missing:?}; {lost:?}");
            }
            assert!(from.iter().zip(&want).all(|(a, b)| *a == b), "loss {loss}: order");
        }
        assert!(sim.events[receiver].iter().all(|e| !matches!(e, Event::Lost { .. })));
    }
    sim
}

#[test]
fn everything_arrives_once_in_order_without_loss() {
    let sim = all_delivered_in_order(0.0, 4, 50, 7);
    for i in 0..4 {
        assert_eq!(sim.peers[i].as_ref().unwrap().counters().nacks_sent, 0);
    }
}

#[test]
fn everything_arrives_once_in_order_at_10_percent_loss() {
    for seed in 11..21 {
        all_delivered_in_order(0.10, 5, 60, seed);
    }
}

#[test]
fn everything_arrives_once_in_order_at_30_percent_loss() {
    for seed in 23..33 {
        all_delivered_in_order(0.30, 6, 30, seed);
    }
    let sim = all_delivered_in_order(0.30, 8, 40, 23);
    let nacks: u64 = sim.peers.iter().flatten().map(|p| p.counters().nacks_sent).sum();
    let repairs: u64 = sim.peers.iter().flatten().map(|p| p.counters().repairs_sent).sum();
    assert!(nacks > 0 && repairs > 0);
}

#[test]
fn presence_join_leave_and_expiry() {
    let net = Net { loss: 0.0, duplicate: 0.0, delay: Duration::from_millis(1), jitter: Duration::ZERO };
    let mut sim = Sim::new(3, net, 5);
    let until = sim.now + Duration::from_millis(100);
    sim.run_until(until);
    let joined: Vec<&Event> = sim.events[0].iter().filter(|e| matches!(e, Event::Joined { .. })).collect();
    assert_eq!(joined.len(), 2, "{:?}", sim.events[0]);
    // peer1 says goodbye; peer2 just goes silent.
    let now = sim.clock();
    let out = sim.peers[1].as_mut().unwrap().stop(now);
    sim.emit(1, out);
    sim.peers[1] = None;
    sim.peers[2] = None;
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    assert!(sim.events[0].iter().any(|e| matches!(e, Event::Left { nick, timed_out: false, .. } if nick == "peer1")));
    assert!(!sim.events[0].iter().any(|e| matches!(e, Event::Left { nick, .. } if nick == "peer2")));
    let until = sim.now + Duration::from_secs(8);
    sim.run_until(until);
    assert!(sim.events[0].iter().any(|e| matches!(e, Event::Left { nick, timed_out: true, .. } if nick == "peer2")));
    let last_members = sim.events[0].iter().rev().find_map(|e| match e {
        Event::Members { members } => Some(members.iter().map(|m| m.nick.clone()).collect::<Vec<_>>()),
        _ => None,
    });
    assert_eq!(last_members, Some(vec!["peer0".to_string()]));
}

#[test]
fn garbage_and_plain_text_are_told_apart() {
    let net = Net { loss: 0.0, duplicate: 0.0, delay: Duration::ZERO, jitter: Duration::ZERO };
    let mut sim = Sim::new(1, net, 3);
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let now = sim.clock();
    let peer = sim.peers[0].as_mut().unwrap();
    let out = peer.receive("你好 from the report's tool".as_bytes(), from, now);
    assert_eq!(out.events, [Event::Plain { from, text: "你好 from the report's tool".into() }]);
    for garbage in [&b"\xff\xfe\x00"[..], b"LMC\x01\x01", b"LMC\x07whatever", &[0u8; 1500]] {
        assert!(peer.receive(garbage, from, now).events.is_empty());
    }
    assert_eq!(peer.counters().garbage, 4);
}

#[test]
fn a_burst_of_lost_tail_is_repaired_through_announcements() {
    let net = Net { loss: 0.0, duplicate: 0.0, delay: Duration::from_millis(1), jitter: Duration::ZERO };
    let mut sim = Sim::new(2, net, 9);
    sim.say(0, "first");
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    // Three messages vanish entirely on the way.
    let now = sim.clock();
    let out = sim.peers[0].as_mut().unwrap().say("a\nb\nc", now);
    assert_eq!(out.send.len(), 3);
    let until = sim.now + Duration::from_secs(3);
    sim.run_until(until);
    let got: Vec<String> = sim.messages(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, ["first", "a", "b", "c"]);
}

fn sealed(passphrase_id: u8) -> Arc<GroupKey> {
    Arc::new(GroupKey::from_bytes(&[passphrase_id; 32]))
}

#[test]
fn a_sealed_group_repairs_loss_and_an_outsider_reads_nothing() {
    let net = Net { loss: 0.1, duplicate: 0.05, delay: Duration::from_millis(1), jitter: Duration::from_millis(4) };
    let mut sim = Sim::configured(4, net, 21, |i, config| {
        config.key = Some(sealed(if i == 3 { 2 } else { 1 }));
        config.signer = Some(Arc::new(Signer::generate()));
    });
    for m in 0..30 {
        sim.say(m % 3, &format!("秘密 {m}"));
        let until = sim.now + Duration::from_millis(7);
        sim.run_until(until);
    }
    let until = sim.now + Duration::from_secs(6);
    sim.run_until(until);
    for receiver in 0..3 {
        for sender in (0..3).filter(|&s| s != receiver) {
            let got: Vec<String> = sim.messages(receiver).into_iter().filter(|(n, _)| *n == format!("peer{sender}")).map(|(_, t)| t).collect();
            let want: Vec<String> = (0..30).filter(|m| m % 3 == sender).map(|m| format!("秘密 {m}")).collect();
            assert_eq!(got, want, "peer{receiver} from peer{sender}: {:?}", sim.peers[receiver].as_ref().unwrap().counters());
        }
    }
    // The outsider with another passphrase saw nothing, and counted what it could not open.
    assert!(sim.events[3].iter().all(|e| !matches!(e, Event::Message { .. } | Event::Joined { .. })));
    let counters = sim.peers[3].as_ref().unwrap().counters();
    assert!(counters.unopened > 30, "{counters:?}");
    assert_eq!(counters.received, 0);
    // Nothing on the wire carries the text or a nickname.
    for (_, bytes) in &sim.sent {
        let wire = String::from_utf8_lossy(bytes);
        assert!(!wire.contains("秘密") && !wire.contains("peer"), "{wire}");
    }
}

#[test]
fn replayed_tampered_and_unsealed_datagrams_are_dropped_and_counted() {
    let net = Net { loss: 0.0, duplicate: 0.0, delay: Duration::from_millis(1), jitter: Duration::ZERO };
    let mut sim = Sim::configured(2, net, 5, |_, config| {
        config.key = Some(sealed(1));
        config.signer = Some(Arc::new(Signer::generate()));
    });
    sim.say(0, "once");
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    assert_eq!(sim.messages(1), [("peer0".to_string(), "once".to_string())]);
    let from: SocketAddr = "127.0.0.1:23333".parse().unwrap();
    let theirs: Vec<Vec<u8>> = sim.sent.iter().filter(|(by, _)| *by == 0).map(|(_, b)| b.clone()).collect();
    let now = sim.clock();
    let victim = sim.peers[1].as_mut().unwrap();
    let before = victim.counters();
    for bytes in &theirs {
        assert!(victim.receive(bytes, from, now).events.is_empty(), "a replay shows nothing");
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x40;
        assert!(victim.receive(&tampered, from, now).events.is_empty());
        assert!(victim.receive(&bytes[..bytes.len() - 3], from, now).events.is_empty());
    }
    assert!(victim.receive("plain text from the report's tool".as_bytes(), from, now).events.is_empty());
    let after = victim.counters();
    assert_eq!(after.replayed - before.replayed, theirs.len() as u64);
    assert_eq!(after.unopened - before.unopened, 2 * theirs.len() as u64);
    assert_eq!(after.unsealed - before.unsealed, 1);
    // After a goodbye, the sender's old announcements do not bring it back.
    let now = sim.clock();
    let out = sim.peers[0].as_mut().unwrap().stop(now);
    sim.emit(0, out);
    sim.peers[0] = None;
    let until = sim.now + Duration::from_millis(20);
    sim.run_until(until);
    let now = sim.clock();
    let victim = sim.peers[1].as_mut().unwrap();
    for bytes in &theirs {
        assert!(victim.receive(bytes, from, now).events.is_empty());
    }
    assert_eq!(victim.held().senders, 0);
}

#[test]
fn an_impostor_under_a_pinned_nickname_is_shown_as_one() {
    let net = Net { loss: 0.0, duplicate: 0.0, delay: Duration::from_millis(1), jitter: Duration::ZERO };
    let alice = Arc::new(Signer::generate());
    let mut sim = Sim::configured(3, net, 8, |i, config| {
        config.signer = Some(if i == 0 { alice.clone() } else { Arc::new(Signer::generate()) });
        if i == 2 {
            config.nick = "peer0".into(); // the impostor
        }
    });
    // Everyone hears the real peer0's hello first, and pins its key.
    sim.say(0, "I am alice");
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    sim.say(2, "I am alice too");
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    let got = sim.messages(1);
    assert_eq!(got[0], ("peer0".to_string(), "I am alice".to_string()));
    assert_eq!(got[1], ("impostor of peer0".to_string(), "I am alice too".to_string()));
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::Pinned { nick, key } if nick == "peer0" && *key == alice.public())));
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::Message { trust: Trust::Impostor(Some(_)), .. })));
    assert!(sim.peers[1].as_ref().unwrap().counters().impostors > 0);
    // A pin kept from before counts the same: the first key here is the pinned one's impostor.
    let mut pinned = PeerConfig::new(1003, "late");
    pinned.pins.insert("peer0".into(), alice.public());
    let mut late = Peer::new(pinned);
    let from: SocketAddr = "127.0.0.1:23333".parse().unwrap();
    let impostor_said = sim.sent.iter().filter(|(by, _)| *by == 2).map(|(_, b)| b.clone()).collect::<Vec<_>>();
    let now = sim.clock();
    let shown: Vec<Event> = impostor_said.iter().flat_map(|b| late.receive(b, from, now).events).collect();
    assert!(shown.iter().any(|e| matches!(e, Event::Joined { nick, .. } if nick == "impostor of peer0")), "{shown:?}");
    assert!(!shown.iter().any(|e| matches!(e, Event::Joined { nick, .. } if nick == "peer0")));
}

/// Private messages among group talk: each reaches its recipient alone, once, in order, with
/// loss repaired; nobody else receives a datagram of it.
fn private_delivered_in_order(loss: f64, seed: u64, sealed_with: Option<u8>) -> Sim {
    let net = Net { loss, duplicate: 0.05, delay: Duration::from_millis(1), jitter: Duration::from_millis(4) };
    let mut sim = Sim::configured(3, net, seed, |_, config| {
        config.key = sealed_with.map(sealed);
        config.signer = Some(Arc::new(Signer::generate()));
    });
    // Everyone has heard everyone (a lost hello is announced again within 2 s).
    let until = sim.now + Duration::from_millis(4500);
    sim.run_until(until);
    let long = "悄".repeat(1000); // three datagrams
    let mut want = Vec::new();
    for k in 0..40 {
        let text = if k == 20 { format!("私 {k} {long}") } else { format!("私 {k}") };
        sim.say_to(0, 1, &text);
        want.push(("peer0".to_string(), text));
        sim.say(2, &format!("group {k}"));
        let until = sim.now + Duration::from_millis(7);
        sim.run_until(until);
    }
    let until = sim.now + Duration::from_secs(6);
    sim.run_until(until);
    assert_eq!(sim.told(1, true), want, "loss {loss} seed {seed}: {:?}", sim.peers[1].as_ref().unwrap().counters());
    assert_eq!(sim.messages(1).len(), 40, "the group's talk too");
    assert!(sim.told(2, true).is_empty() && sim.told(0, true).is_empty());
    assert!(sim.events[1].iter().all(|e| !matches!(e, Event::Lost { .. })));
    // Nothing of it went to the group, nor to anyone but peer0 and peer1.
    for (_, bytes) in &sim.sent {
        assert!(!String::from_utf8_lossy(bytes).contains('私'));
    }
    assert!(sim.sent_direct.iter().all(|(from, to, _)| (*from, *to) == (0, 1) || (*from, *to) == (1, 0)));
    sim
}

#[test]
fn private_messages_reach_their_recipient_alone_in_order() {
    let sim = private_delivered_in_order(0.0, 3, None);
    assert!(sim.sent_direct.iter().any(|(_, _, bytes)| String::from_utf8_lossy(bytes).contains("私 7")), "plain on the wire, to peer1 alone");
    assert_eq!(sim.peers[1].as_ref().unwrap().counters().nacks_sent, 0);
}

#[test]
fn private_messages_are_repaired_at_20_percent_loss() {
    for seed in 40..46 {
        let sim = private_delivered_in_order(0.20, seed, None);
        let asked = sim.sent_direct.iter().filter(|(from, to, bytes)| (*from, *to) == (1, 0) && bytes[4] == 9).count();
        let repaired = sim.sent_direct.iter().filter(|(from, to, bytes)| (*from, *to) == (0, 1) && bytes[4] == 7).count();
        assert!(asked > 0 && repaired > 0, "seed {seed}: {asked} requests, {repaired} repairs");
    }
}

#[test]
fn private_messages_in_a_sealed_group_are_sealed() {
    let sim = private_delivered_in_order(0.10, 50, Some(1));
    assert!(!sim.sent_direct.is_empty());
    for (_, _, bytes) in &sim.sent_direct {
        let wire = String::from_utf8_lossy(bytes);
        assert!(!wire.contains('私') && !wire.contains("peer"), "{wire}");
    }
}

#[test]
fn someone_elses_private_datagrams_are_refused() {
    let net = Net { loss: 0.0, duplicate: 0.0, delay: Duration::from_millis(1), jitter: Duration::ZERO };
    let mut sim = Sim::new(3, net, 13);
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    sim.say_to(0, 1, "for peer1");
    let until = sim.now + Duration::from_millis(50);
    sim.run_until(until);
    assert_eq!(sim.told(1, true), [("peer0".to_string(), "for peer1".to_string())]);
    // peer2 gets hold of the datagram (a copy on the wire): not addressed to it, not shown.
    let copy = sim.sent_direct.iter().find(|(from, _, b)| *from == 0 && b[4] == 6).unwrap().2.clone();
    let now = sim.clock();
    let peer2 = sim.peers[2].as_mut().unwrap();
    assert!(peer2.receive(&copy, address(0), now).events.is_empty());
    assert_eq!(peer2.counters().misdirected, 1);
    // Asking peer0 for its private messages yields only one's own: peer2 has none, and a
    // request under peer1's id from peer2's address is not peer1's.
    let peer2_id = peer2.id();
    let peer1_id = sim.peers[1].as_ref().unwrap().id();
    let peer0_id = sim.peers[0].as_ref().unwrap().id();
    let peer0 = sim.peers[0].as_mut().unwrap();
    for (id, from) in [(peer2_id, address(2)), (peer1_id, address(2))] {
        let nack = Datagram { sender: id, counter: 900, seq: 0, unix_ms: 0, nick: "x".into(), body: Body::DirectNack { target: peer0_id, seqs: vec![1] } };
        let out = peer0.receive(&nack.encode(), from, now);
        assert!(out.direct.is_empty() && out.send.is_empty(), "{id}: {out:?}");
    }
    assert_eq!(peer0.counters().repairs_sent, 0);
}

#[test]
fn an_old_datagram_played_from_elsewhere_does_not_move_a_participant() {
    let now = Now::simulated(Instant::now(), Duration::ZERO);
    let signed = |id, nick| PeerConfig { signer: Some(Arc::new(Signer::generate())), ..PeerConfig::new(id, nick) };
    let mut ann = Peer::new(signed(1, "ann"));
    let mut bob = Peer::new(signed(2, "bob"));
    // Bob's first datagrams, which ann (joining later) never heard.
    let mut said: Vec<Vec<u8>> = bob.start(now).send;
    said.extend(bob.say("one\ntwo", now).send);
    let (home, elsewhere) = (address(1), address(9));
    ann.receive(said.last().unwrap(), home, now);
    // An earlier one, never seen by ann so not a replay to her, played from another address.
    ann.receive(&said[0], elsewhere, now);
    assert_eq!(ann.counters().replayed, 0, "a counter not seen before is taken");
    let out = ann.say_to(2, "still to bob", now).expect("bob is known");
    assert!(out.direct.iter().all(|(to, _)| *to == home), "{:?}", out.direct.iter().map(|(to, _)| to).collect::<Vec<_>>());
    // A newer one from a new address moves bob there (he changed address).
    let newer = bob.say("three", now).send;
    ann.receive(&newer[0], elsewhere, now);
    let out = ann.say_to(2, "bob moved", now).unwrap();
    assert!(out.direct.iter().all(|(to, _)| *to == elsewhere));
}

#[test]
fn only_private_datagrams_are_taken_at_our_own_address() {
    let now = Now::simulated(Instant::now(), Duration::ZERO);
    let mut ann = Peer::new(PeerConfig::new(1, "ann"));
    let mut bob = Peer::new(PeerConfig::new(2, "bob"));
    let hello = bob.start(now).send;
    ann.receive(&hello[0], address(2), now);
    // The group's talk, and plain text, sent to ann alone: not shown.
    let group = bob.say("to the group", now).send;
    assert!(ann.receive_direct(&group[0], address(2), now).events.is_empty());
    assert!(ann.receive_direct("plain text".as_bytes(), address(2), now).events.is_empty());
    assert_eq!(ann.counters().misdirected, 2);
    // A private message is.
    bob.receive(&ann.start(now).send[0], address(1), now);
    let private = bob.say_to(1, "just you", now).unwrap().direct;
    let shown = ann.receive_direct(&private[0].1, address(2), now).events;
    assert!(shown.iter().any(|e| matches!(e, Event::Message { text, private: true, .. } if text == "just you")), "{shown:?}");
}
