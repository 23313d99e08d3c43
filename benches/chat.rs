//! Chat relay load: C clients join one room, S of them send M messages each as fast as the
//! socket takes them, and every other client must receive every message. Runs the same load
//! against `lanmeet serve` in plain text and over TLS, and against Debian's ngIRCd (penalties
//! off, plain text) in one run, and prints deliveries per second, latency percentiles, losses
//! and the ratios.
//!
//! `cargo bench --bench chat -- [CLIENTS SENDERS MESSAGES]...` (default: 50 10 1000 500 20 200)
//! Traffic goes to 127.0.0.1 only.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use lanmeet::net::tls::{self, KnownServers, Link};
use rustls::ClientConnection;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// A run gives up when no message arrives for this long (what is missing then counts as lost).
const STALL: Duration = Duration::from_secs(20);

struct Scenario {
    clients: usize,
    senders: usize,
    messages: usize,
}

struct Outcome {
    /// CPU seconds the server process used for this run (user + system).
    server_cpu: f64,
    deliveries: usize,
    expected: usize,
    seconds: f64,
    latencies_us: Vec<u32>,
    /// Messages in the server's history after the run, where it keeps history.
    kept: Option<usize>,
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
    child: Child,
    port: u16,
    _dir: Option<PathBuf>,
    /// Clients speak TLS to it, pinning its certificate in this file.
    tls: Option<KnownServers>,
    /// The database it keeps history in.
    history: Option<PathBuf>,
}

/// A client's connection: plain, or TLS (the session shared by its writer and its reader).
enum Conn {
    Plain(TcpStream),
    Tls(TcpStream, Arc<Mutex<ClientConnection>>),
}

impl Conn {
    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) | Conn::Tls(s, _) => s,
        }
    }

    /// Writes all of `bytes`, waiting while the socket (which may be non-blocking) is full.
    fn send(&self, bytes: &[u8]) {
        match self {
            Conn::Plain(socket) => {
                let mut socket = socket;
                let mut rest = bytes;
                while !rest.is_empty() {
                    match socket.write(rest) {
                        Ok(n) => rest = &rest[n..],
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(20)),
                        Err(e) => panic!("send: {e}"),
                    }
                }
            }
            Conn::Tls(socket, session) => {
                session.lock().unwrap().writer().write_all(bytes).expect("TLS buffer");
                tls_flush(socket, session);
            }
        }
    }
}

/// Sends what the TLS session holds, waiting while the socket is full (without holding the
/// session, so that its reader goes on).
fn tls_flush(socket: &TcpStream, session: &Mutex<ClientConnection>) {
    let mut socket = socket;
    loop {
        let mut session = session.lock().unwrap();
        if !session.wants_write() {
            return;
        }
        match session.write_tls(&mut socket) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                drop(session);
                std::thread::sleep(Duration::from_micros(20));
            }
            Err(e) => panic!("TLS send: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum());
    ticks / 100.0
}

/// Each server runs on core 0 and the load generator (started by scripts/bench) on core 1, so
/// the figures compare what one core of server can relay rather than how the two programs
/// share the machine with the generator.
/// (scripts/bench asks for it only where there are two cores: the generator itself, pinned to
/// one, sees only that one.)
fn server_command(program: &str) -> Command {
    if std::env::var_os("LANMEET_BENCH_PIN").is_some() {
        let mut command = Command::new("taskset");
        command.args(["-c", "0", program]);
        command
    } else {
        Command::new(program)
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

/// `lanmeet serve` in plain text, keeping history (as it does by default) or not.
fn start_lanmeet_with(history: bool) -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("lanmeet-bench-plain-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = server_command(env!("CARGO_BIN_EXE_lanmeet"));
    command.args(["serve", "--no-tls", "--plain-listen", &format!("127.0.0.1:{port}"), "--no-flood-limit", "--max-per-ip", "0"]);
    if !history {
        command.arg("--no-history");
    }
    let child = command.env("LANMEET_DATA_DIR", &dir).stdout(Stdio::null()).spawn().expect("lanmeet serve starts");
    wait_for(port);
    let history = history.then(|| dir.join("history.sqlite3"));
    Server { child, port, _dir: Some(dir), tls: None, history }
}

fn start_lanmeet() -> Server {
    start_lanmeet_with(true)
}

fn start_lanmeet_without_history() -> Server {
    start_lanmeet_with(false)
}

fn start_lanmeet_tls() -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("lanmeet-bench-tls-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = server_command(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--no-flood-limit", "--max-per-ip", "0"])
        .env("LANMEET_DATA_DIR", &dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("lanmeet serve starts");
    wait_for(port);
    let known = KnownServers::new(dir.join("known_servers"));
    Server { child, port, history: Some(dir.join("history.sqlite3")), _dir: Some(dir), tls: Some(known) }
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
    let child = server_command("ngircd")
        .args(["--nodaemon", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ngircd is installed (scripts/bench installs it)");
    wait_for(port);
    Server { child, port, _dir: Some(dir), tls: None, history: None }
}

/// A client in the room: its connection, and what it read past the end of the names list.
fn register(server: &Server, nick: &str) -> (Conn, Vec<u8>) {
    let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(STALL)).unwrap();
    let (conn, reader): (Conn, Box<dyn std::io::Read>) = match &server.tls {
        None => (Conn::Plain(stream.try_clone().unwrap()), Box::new(stream)),
        Some(known) => {
            let (link, _) = tls::handshake(stream, &format!("127.0.0.1:{}", server.port), known, STALL).expect("TLS handshake");
            let reader = link.reader().unwrap();
            let Link::Tls { socket, session } = link else { unreachable!("a TLS link") };
            (Conn::Tls(socket, session), Box::new(reader))
        }
    };
    let mut reader = BufReader::new(reader);
    conn.send(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #bench\r\n").as_bytes());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("{nick}: connection closed while joining");
        }
        if line.starts_with("PING") {
            conn.send(format!("PONG{}\r\n", &line[4..].trim_end()).as_bytes());
        }
        let mut words = line.split(' ');
        let _source = words.next();
        if words.next() == Some("366") {
            return (conn, reader.buffer().to_vec());
        }
    }
}

fn run(server: &Server, scenario: &Scenario) -> Outcome {
    let Scenario { clients, senders, messages } = *scenario;
    let connections: Vec<_> = (0..clients).map(|i| register(server, &format!("b{i}"))).collect();
    let expected_each: Vec<usize> =
        (0..clients).map(|i| if i < senders { (senders - 1) * messages } else { senders * messages }).collect();
    let expected: usize = expected_each.iter().sum();
    let cpu_before = cpu_seconds(server.child.id());
    let start = Instant::now();
    let delivered = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Barrier::new(READER_THREADS + senders));
    let mut writers = Vec::new();
    let mut groups: Vec<Vec<Reading>> = (0..READER_THREADS).map(|_| Vec::new()).collect();
    let connections: Vec<(Arc<Conn>, Vec<u8>)> = connections.into_iter().map(|(c, p)| (Arc::new(c), p)).collect();
    for (i, (conn, pending)) in connections.into_iter().enumerate() {
        if i < senders {
            let out = conn.clone();
            let go = go.clone();
            writers.push(std::thread::spawn(move || {
                go.wait();
                let mut batch = String::with_capacity(64 * 1024);
                for seq in 0..messages {
                    let sent = start.elapsed().as_micros();
                    batch.push_str(&format!("PRIVMSG #bench :{i} {seq} {sent} lorem ipsum dolor sit amet 你好\r\n"));
                    if batch.len() > 1200 || seq + 1 == messages {
                        out.send(batch.as_bytes());
                        batch.clear();
                    }
                }
            }));
        }
        conn.socket().set_nonblocking(true).unwrap();
        groups[i % READER_THREADS].push(Reading {
            stream: mio::net::TcpStream::from_std(conn.socket().try_clone().unwrap()),
            conn,
            pending,
            want: expected_each[i],
            got: 0,
        });
    }
    let readers: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let go = go.clone();
            let delivered = delivered.clone();
            std::thread::spawn(move || read_group(group, start, &go, &delivered))
        })
        .collect();
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
    // The server's CPU counts until its history holds every message, so that storing later
    // is no cheaper than storing at once.
    let kept = server.history.as_ref().map(|db| wait_until_kept(db, senders * messages));
    let server_cpu = cpu_seconds(server.child.id()) - cpu_before;
    Outcome { server_cpu, deliveries: delivered.load(Ordering::Relaxed), expected, seconds: last.as_secs_f64(), latencies_us, kept }
}

/// Messages in a server's history database once it holds `sent` of them, or what it holds
/// after a wait of [`STALL`].
fn wait_until_kept(db: &std::path::Path, sent: usize) -> usize {
    let deadline = Instant::now() + STALL;
    loop {
        let kept = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0)))
            .map_or(0, |n| n as usize);
        if kept >= sent || Instant::now() > deadline {
            return kept;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Threads that read all clients' sockets (through epoll), so that the load generator spends
/// its share of the two cores on reading, not on switching between hundreds of threads.
const READER_THREADS: usize = 2;
/// Runs per server and scenario; the median is reported.
const REPEATS: usize = 7;

struct Reading {
    stream: mio::net::TcpStream,
    conn: Arc<Conn>,
    pending: Vec<u8>,
    want: usize,
    got: usize,
}

/// Read every connection of the group until each has its messages or the run stalls.
fn read_group(mut group: Vec<Reading>, start: Instant, go: &Barrier, delivered: &AtomicUsize) -> (Vec<u32>, Duration) {
    use mio::{Events, Interest, Poll, Token};
    use std::io::Read;
    let mut poll = Poll::new().unwrap();
    for (i, r) in group.iter_mut().enumerate() {
        poll.registry().register(&mut r.stream, Token(i), Interest::READABLE).unwrap();
    }
    let mut latencies = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut open = group.iter().filter(|r| r.want > 0).count();
    go.wait();
    let mut last_progress = Instant::now();
    // Lines already read while joining count too.
    let mut ready: Vec<usize> = (0..group.len()).collect();
    while open > 0 && last_progress.elapsed() < STALL {
        for i in ready.drain(..) {
            let r = &mut group[i];
            match &*r.conn {
                Conn::Plain(_) => loop {
                    match r.stream.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => r.pending.extend_from_slice(&buffer[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                },
                Conn::Tls(_, session) => {
                    let mut session = session.lock().unwrap();
                    loop {
                        match session.read_tls(&mut r.stream) {
                            Ok(0) => break,
                            Ok(_) => {
                                session.process_new_packets().expect("TLS records");
                                loop {
                                    match session.reader().read(&mut buffer) {
                                        Ok(0) => break,
                                        Ok(n) => r.pending.extend_from_slice(&buffer[..n]),
                                        Err(_) => break,
                                    }
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(_) => break,
                        }
                    }
                }
            }
            let before = r.got;
            let mut consumed = 0;
            while let Some(end) = memchr::memchr(b'\n', &r.pending[consumed..]) {
                let line = &r.pending[consumed..consumed + end];
                consumed += end + 1;
                if let Some(sent) = bench_timestamp(line) {
                    let now = start.elapsed().as_micros();
                    latencies.push(now.saturating_sub(sent).min(u32::MAX as u128) as u32);
                    r.got += 1;
                } else if line.starts_with(b"PING") {
                    let mut pong = b"PONG".to_vec();
                    pong.extend_from_slice(&line[4..]);
                    pong.push(b'\n');
                    r.conn.send(&pong);
                }
            }
            r.pending.drain(..consumed);
            if r.got > before {
                delivered.fetch_add(r.got - before, Ordering::Relaxed);
                last_progress = Instant::now();
                if r.got >= r.want && before < r.want {
                    open -= 1;
                }
            }
        }
        if open == 0 {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(200))).unwrap();
        ready.extend(events.iter().map(|e| e.token().0));
    }
    (latencies, start.elapsed())
}

/// The send time (µs since the run started) carried by a benchmark message, if it is one.
fn bench_timestamp(line: &[u8]) -> Option<u128> {
    const MARK: &[u8] = b" PRIVMSG #bench :";
    thread_local!(static FINDER: memchr::memmem::Finder<'static> = memchr::memmem::Finder::new(MARK));
    let at = FINDER.with(|f| f.find(line))?;
    let text = &line[at + MARK.len()..];
    let field = text.split(|&b| b == b' ').nth(2)?;
    field.iter().try_fold(0u128, |n, &d| d.is_ascii_digit().then(|| n * 10 + u128::from(d - b'0')))
}

/// The time a client takes to fetch the last 10,000 messages of a room through CHATHISTORY,
/// 100 at a time (the most one request returns), from `lanmeet serve` keeping history.
fn history_fetch() -> (Duration, usize) {
    const COUNT: usize = 10_000;
    let server = start_lanmeet();
    let connect = |nick: &str, caps: &str| -> (TcpStream, BufReader<TcpStream>) {
        let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream.set_read_timeout(Some(STALL)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        writer.write_all(format!("{caps}NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END\r\nJOIN #archive\r\n").as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while !line.contains(" 366 ") {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "closed while joining");
        }
        (writer, reader)
    };
    let (mut writer, mut writer_reader) = connect("writer", "");
    let mut batch = String::new();
    for i in 0..COUNT {
        batch.push_str(&format!("PRIVMSG #archive :message {i} of the archive\r\n"));
        if batch.len() > 32 * 1024 {
            writer.write_all(batch.as_bytes()).unwrap();
            batch.clear();
        }
    }
    batch.push_str("PING :written\r\n");
    writer.write_all(batch.as_bytes()).unwrap();
    let mut line = String::new();
    while !line.contains("PONG") {
        line.clear();
        assert!(writer_reader.read_line(&mut line).unwrap() > 0);
    }
    let (mut reader_out, mut reader) = connect("reader", "CAP REQ :batch draft/chathistory message-tags\r\n");
    let started = Instant::now();
    let mut fetched = 0;
    let mut request = "CHATHISTORY LATEST #archive * 100".to_string();
    loop {
        reader_out.write_all(format!("{request}\r\n").as_bytes()).unwrap();
        let (mut oldest, mut page) = (None, 0);
        loop {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "closed while fetching");
            if line.contains(" PRIVMSG ") {
                page += 1;
                if oldest.is_none() {
                    oldest = line.split(';').chain(line.split(' ')).find_map(|t| t.strip_prefix("msgid=").map(|id| id.split([' ', ';']).next().unwrap_or("").to_string()));
                }
            } else if line.contains(" BATCH -") {
                break;
            }
        }
        fetched += page;
        match oldest {
            Some(id) if page > 0 => request = format!("CHATHISTORY BEFORE #archive msgid={id} 100"),
            _ => break,
        }
    }
    (started.elapsed(), fetched)
}

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let numbers = if numbers.len() >= 3 { numbers } else { vec![50, 10, 1000, 500, 20, 200] };
    let scenarios: Vec<Scenario> = numbers
        .chunks_exact(3)
        .map(|c| Scenario { clients: c[0], senders: c[1], messages: c[2] })
        .collect();
    println!("chat relay load on 127.0.0.1: C clients in one room, S send M messages each");
    println!("lanmeet and lanmeet+TLS keep history in SQLite (their default); lanmeet-hist keeps none");
    if std::env::var_os("LANMEET_BENCH_PIN").is_some() {
        println!("servers pinned to core 0, load generator to core 1");
    }
    println!(
        "{:<18} {:<12} {:>14} {:>9} {:>9} {:>8} {:>12}",
        "C/S/M", "server", "deliveries/s", "p50 ms", "p99 ms", "lost", "CPU us/dlv"
    );
    for scenario in &scenarios {
        let label = format!("{}/{}/{}", scenario.clients, scenario.senders, scenario.messages);
        // Alternate the servers and keep each one's median run: the two cores are shared
        // with the load generator, so single runs vary.
        let mut runs: [Vec<Outcome>; 4] = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..REPEATS {
            for (which, start) in [start_lanmeet as fn() -> Server, start_lanmeet_tls, start_ngircd, start_lanmeet_without_history].into_iter().enumerate() {
                let server = start();
                runs[which].push(run(&server, scenario));
            }
        }
        let mut results = Vec::new();
        for (which, mut outcomes) in runs.into_iter().enumerate() {
            outcomes.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            let outcome = outcomes.swap_remove(outcomes.len() / 2);
            println!(
                "{:<18} {:<12} {:>14.0} {:>9.2} {:>9.2} {:>8} {:>12.3}",
                label,
                ["lanmeet", "lanmeet+TLS", "ngircd", "lanmeet-hist"][which],
                outcome.rate(),
                outcome.percentile(0.5),
                outcome.percentile(0.99),
                outcome.expected - outcome.deliveries,
                outcome.server_cpu * 1e6 / outcome.deliveries.max(1) as f64
            );
            results.push(outcome);
        }
        let (ours, tls, theirs, bare) = (&results[0], &results[1], &results[2], &results[3]);
        println!(
            "{:<18} history  rate x{:.2} of the relay without history, server CPU per delivery x{:.2}, kept {} of {} messages (TLS {})",
            label,
            ours.rate() / bare.rate(),
            (ours.server_cpu / ours.deliveries.max(1) as f64) / (bare.server_cpu / bare.deliveries.max(1) as f64),
            ours.kept.unwrap_or(0),
            scenario.senders * scenario.messages,
            tls.kept.unwrap_or(0)
        );
        println!(
            "{:<18} TLS      rate x{:.2} of plain, x{:.2} of ngIRCd in plain text (target >= 2), server CPU per delivery x{:.2} of plain",
            label,
            tls.rate() / ours.rate(),
            tls.rate() / theirs.rate(),
            (tls.server_cpu / tls.deliveries.max(1) as f64) / (ours.server_cpu / ours.deliveries.max(1) as f64)
        );
        println!(
            "{:<18} ratio    rate x{:.2} (target >= 2), p99 x{:.2} (target <= 1), lost {} (target 0), server CPU per delivery x{:.2}",
            label,
            ours.rate() / theirs.rate(),
            ours.percentile(0.99) / theirs.percentile(0.99),
            ours.expected - ours.deliveries,
            (ours.server_cpu / ours.deliveries.max(1) as f64) / (theirs.server_cpu / theirs.deliveries.max(1) as f64)
        );
    }
    let (took, fetched) = history_fetch();
    println!("history: {fetched} messages fetched in pages of 100 in {:.0} ms ({:.2} ms a page)", took.as_secs_f64() * 1000.0, took.as_secs_f64() * 1000.0 / (fetched as f64 / 100.0).max(1.0));
}
