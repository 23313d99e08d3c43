//! Multicast chat on loopback (IP_MULTICAST_IF 127.0.0.1, TTL 0): latency between 2 and 8
//! peers without loss, and delivery and latency at 10 % and 30 % loss injected on the receive
//! side, for lanmeet's protocol and for the report's approach (bare datagrams, nothing repaired)
//! in the same run. With loss, lanmeet's tail latency is the repair delay. The cost of the
//! envelope in the same run: neither signed nor sealed, signed (the default without a
//! passphrase), and signed and sealed with a passphrase; and the time to stretch a passphrase
//! into the group's key.
//!
//! `cargo bench --bench multicast` (scripts/bench multicast)

use crossbeam_channel::{unbounded, Receiver};
use lanmeet::net::multicast::{self, MulticastConfig, MulticastEvent, MulticastHandle};
use lanmeet::proto::mchat::Event;
use lanmeet::proto::mchat::seal::GroupKey;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: usize = 200;
const SPACING: Duration = Duration::from_millis(5);

struct Result {
    delivered: usize,
    expected: usize,
    latencies_us: Vec<u64>,
}

impl Result {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

fn group(n: u8) -> SocketAddrV4 {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    SocketAddrV4::new(Ipv4Addr::new(239, 255, 43, n), port)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The report's bare datagrams.
    Plain,
    Unsigned,
    Signed,
    Sealed,
}

fn run(group: SocketAddrV4, peers: usize, loss: f64, mode: Mode) -> Result {
    let key = Arc::new(GroupKey::from_passphrase("bench passphrase", group));
    let start = Instant::now();
    let mut members: Vec<(MulticastHandle, Receiver<(Duration, Event)>)> = Vec::new();
    for i in 0..peers {
        let (tx, rx) = unbounded();
        let mut config = MulticastConfig {
            interface: Ipv4Addr::LOCALHOST,
            ttl: 0,
            plain: mode == Mode::Plain,
            drop_incoming: loss,
            ..MulticastConfig::new(group, &format!("p{i}"))
        };
        match mode {
            Mode::Unsigned => config.signer = None,
            Mode::Sealed => config.key = Some(key.clone()),
            Mode::Plain | Mode::Signed => {}
        }
        let handle = multicast::spawn(config, move |e| {
            if let MulticastEvent::Chat(chat) = e {
                let _ = tx.send((start.elapsed(), chat));
            }
        })
        .expect("joins on loopback");
        members.push((handle, rx));
    }
    // Let presence settle before measuring.
    std::thread::sleep(Duration::from_millis(300));
    for seq in 0..MESSAGES {
        for (i, (handle, _)) in members.iter().enumerate() {
            handle.say(&format!("{i} {seq} {}", start.elapsed().as_micros()));
        }
        std::thread::sleep(SPACING);
    }
    // Time for repairs, including tail loss found through announcements.
    std::thread::sleep(Duration::from_millis(2500));
    let expected = peers * (peers - 1) * MESSAGES;
    let mut latencies_us = Vec::with_capacity(expected);
    for (handle, events) in members {
        drop(handle);
        for (at, event) in events.try_iter() {
            let text = match event {
                Event::Message { text, .. } | Event::Plain { text, .. } => text,
                _ => continue,
            };
            let sent: u64 = text.split(' ').nth(2).and_then(|t| t.parse().ok()).unwrap_or(0);
            latencies_us.push((at.as_micros() as u64).saturating_sub(sent));
        }
    }
    latencies_us.sort_unstable();
    Result { delivered: latencies_us.len(), expected, latencies_us }
}

fn main() {
    println!("multicast chat on loopback: {MESSAGES} messages per peer, one every {} ms", SPACING.as_millis());
    println!("{:<28} {:>6} {:>10} {:>9} {:>9} {:>9}", "case", "peers", "delivered", "p50 ms", "p99 ms", "max ms");
    let mut n = 1;
    let mut row = |label: &str, peers: usize, loss: f64, mode: Mode| {
        n += 1;
        let r = run(group(n), peers, loss, mode);
        println!(
            "{:<28} {:>6} {:>9.1}% {:>9.2} {:>9.2} {:>9.2}",
            label,
            peers,
            100.0 * r.delivered as f64 / r.expected as f64,
            r.percentile(0.5),
            r.percentile(0.99),
            r.latencies_us.last().map_or(f64::NAN, |&m| m as f64 / 1000.0)
        );
    };
    row("lanmeet, no loss", 2, 0.0, Mode::Signed);
    row("lanmeet, no loss", 8, 0.0, Mode::Signed);
    row("lanmeet unsigned, no loss", 8, 0.0, Mode::Unsigned);
    row("lanmeet sealed, no loss", 8, 0.0, Mode::Sealed);
    row("report (plain), no loss", 8, 0.0, Mode::Plain);
    row("lanmeet, 10% loss", 4, 0.10, Mode::Signed);
    row("lanmeet sealed, 10% loss", 4, 0.10, Mode::Sealed);
    row("report (plain), 10% loss", 4, 0.10, Mode::Plain);
    row("lanmeet, 30% loss", 4, 0.30, Mode::Signed);
    row("lanmeet sealed, 30% loss", 4, 0.30, Mode::Sealed);
    row("report (plain), 30% loss", 4, 0.30, Mode::Plain);
    let g = group(99);
    let runs = 10;
    let started = Instant::now();
    for i in 0..runs {
        std::hint::black_box(GroupKey::from_passphrase(&format!("passphrase {i}"), g));
    }
    println!("key from a passphrase (Argon2id, 19 MiB, 2 passes): {:.1} ms", started.elapsed().as_secs_f64() * 1000.0 / runs as f64);
}
