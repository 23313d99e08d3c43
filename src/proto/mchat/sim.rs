//! Many peers on a simulated network with loss, duplication, reordering and delay, driven by
//! the earliest deadline: no sockets, no sleeping, seconds of traffic in milliseconds.

use super::peer::{Event, Peer, PeerConfig, Trust};
use super::seal::{GroupKey, Signer};
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
    /// (delivery time, tie-breaker) -> (to, bytes)
    in_flight: BTreeMap<(Instant, u64), (usize, Vec<u8>)>,
    counter: u64,
    events: Vec<Vec<Event>>,
    sent_datagrams: usize,
    /// Every datagram sent, by whom.
    sent: Vec<(usize, Vec<u8>)>,
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
                if to == from || self.peers[to].is_none() {
                    continue;
                }
                let copies = if self.rng.chance(self.net.duplicate) { 2 } else { 1 };
                for _ in 0..copies {
                    if self.rng.chance(self.net.loss) {
                        continue;
                    }
                    let at = self.now + self.net.delay + self.rng.below(self.net.jitter);
                    self.counter += 1;
                    self.in_flight.insert((at, self.counter), (to, bytes.clone()));
                }
            }
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
                let (to, bytes) = self.in_flight.remove(&key).unwrap();
                let from: SocketAddr = "127.0.0.1:23333".parse().unwrap();
                let now = self.clock();
                if let Some(peer) = self.peers[to].as_mut() {
                    let out = peer.receive(&bytes, from, now);
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

    fn messages(&self, i: usize) -> Vec<(String, String)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Message { nick, text, .. } => Some((nick.clone(), text.clone())),
                _ => None,
            })
            .collect()
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
