//! Chat relay load: C clients join one room, S of them send M messages each as fast as the
//! socket takes them, and every other client must receive every message. Runs the same load
//! against `lanmeet serve` and against Debian's ngIRCd (penalties off) in one run, and prints
//! deliveries per second, latency percentiles, losses and the ratios.
//!
//! `cargo bench --bench chat -- [CLIENTS SENDERS MESSAGES]...` (default: 50 10 1000 500 20 200)
//! Traffic goes to 127.0.0.1 only.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A run gives up when no message arrives for this long (what is missing then counts as lost).
const STALL: Duration = Duration::from_secs(20);

struct Scenario {
    clients: usize,
    senders: usize,
    messages: usize,
}

struct Outcome {
    deliveries: usize,
    expected: usize,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.deliveries as f64 / self.seconds
    }
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    _dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server on {port} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_lanmeet() -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--no-flood-limit", "--max-per-ip", "0"])
        .stdout(Stdio::null())
        .spawn()
        .expect("lanmeet serve starts");
    wait_for(port);
    Server { name: "lanmeet", child, port, _dir: None }
}

fn start_ngircd() -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("lanmeet-bench-ngircd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("ngircd.conf");
    std::fs::write(
        &config,
        format!(
            "[Global]\nName = irc.bench.test\nInfo = bench\nListen = 127.0.0.1\nPorts = {port}\n\
             PidFile = {}\n[Limits]\nMaxConnectionsIP = 0\nMaxNickLength = 30\nMaxPenaltyTime = 0\n\
             [Options]\nPAM = no\nIdent = no\nDNS = no\n",
            dir.join("pid").display()
        ),
    )
    .unwrap();
    let child = Command::new("ngircd")
        .args(["--nodaemon", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ngircd is installed (scripts/bench installs it)");
    wait_for(port);
    Server { name: "ngircd", child, port, _dir: Some(dir) }
}

fn register(port: u16, nick: &str) -> (TcpStream, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(STALL)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    write!(stream, "NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #bench\r\n").unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("{nick}: connection closed while joining");
        }
        if line.starts_with("PING") {
            write!(stream, "PONG{}\r\n", &line[4..].trim_end()).unwrap();
        }
        let mut words = line.split(' ');
        let _source = words.next();
        if words.next() == Some("366") {
            return (stream, reader);
        }
    }
}

fn run(server: &Server, scenario: &Scenario) -> Outcome {
    let Scenario { clients, senders, messages } = *scenario;
    let connections: Vec<_> = (0..clients).map(|i| register(server.port, &format!("b{i}"))).collect();
    let expected_each: Vec<usize> =
        (0..clients).map(|i| if i < senders { (senders - 1) * messages } else { senders * messages }).collect();
    let expected: usize = expected_each.iter().sum();
    let start = Instant::now();
    let delivered = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Barrier::new(clients + senders));
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (i, (stream, mut reader)) in connections.into_iter().enumerate() {
        if i < senders {
            let mut out = stream.try_clone().unwrap();
            let go = go.clone();
            writers.push(std::thread::spawn(move || {
                go.wait();
                let mut batch = String::with_capacity(64 * 1024);
                for seq in 0..messages {
                    let sent = start.elapsed().as_micros();
                    batch.push_str(&format!("PRIVMSG #bench :{i} {seq} {sent} lorem ipsum dolor sit amet 你好\r\n"));
                    if batch.len() > 1200 || seq + 1 == messages {
                        out.write_all(batch.as_bytes()).expect("send");
                        batch.clear();
                    }
                }
            }));
        }
        let want = expected_each[i];
        let delivered = delivered.clone();
        let go = go.clone();
        readers.push(std::thread::spawn(move || {
            let mut stream = stream;
            let mut latencies = Vec::with_capacity(want);
            let mut line = String::new();
            go.wait();
            while latencies.len() < want {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.starts_with("PING") {
                    let _ = write!(stream, "PONG{}\r\n", &line[4..].trim_end());
                    continue;
                }
                let Some(text) = line.split_once(" PRIVMSG #bench :").map(|(_, t)| t) else { continue };
                let sent: u128 = text.split(' ').nth(2).and_then(|t| t.parse().ok()).unwrap_or(0);
                let now = start.elapsed().as_micros();
                latencies.push(now.saturating_sub(sent).min(u32::MAX as u128) as u32);
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            (latencies, start.elapsed())
        }));
    }
    for w in writers {
        w.join().unwrap();
    }
    let mut latencies_us = Vec::with_capacity(expected);
    let mut last = Duration::ZERO;
    for r in readers {
        let (l, done) = r.join().unwrap();
        latencies_us.extend(l);
        last = last.max(done);
    }
    latencies_us.sort_unstable();
    Outcome { deliveries: delivered.load(Ordering::Relaxed), expected, seconds: last.as_secs_f64(), latencies_us }
}

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let numbers = if numbers.len() >= 3 { numbers } else { vec![50, 10, 1000, 500, 20, 200] };
    let scenarios: Vec<Scenario> = numbers
        .chunks_exact(3)
        .map(|c| Scenario { clients: c[0], senders: c[1], messages: c[2] })
        .collect();
    println!("chat relay load on 127.0.0.1: C clients in one room, S send M messages each");
    println!(
        "{:<18} {:<8} {:>14} {:>9} {:>9} {:>8}",
        "C/S/M", "server", "deliveries/s", "p50 ms", "p99 ms", "lost"
    );
    for scenario in &scenarios {
        let label = format!("{}/{}/{}", scenario.clients, scenario.senders, scenario.messages);
        let mut results = Vec::new();
        for start in [start_lanmeet as fn() -> Server, start_ngircd] {
            let server = start();
            let outcome = run(&server, scenario);
            println!(
                "{:<18} {:<8} {:>14.0} {:>9.2} {:>9.2} {:>8}",
                label,
                server.name,
                outcome.rate(),
                outcome.percentile(0.5),
                outcome.percentile(0.99),
                outcome.expected - outcome.deliveries
            );
            results.push(outcome);
        }
        let (ours, theirs) = (&results[0], &results[1]);
        println!(
            "{:<18} ratio    rate x{:.2} (target >= 2), p99 x{:.2} (target <= 1), lost {} (target 0)",
            label,
            ours.rate() / theirs.rate(),
            ours.percentile(0.99) / theirs.percentile(0.99),
            ours.expected - ours.deliveries
        );
    }
}
