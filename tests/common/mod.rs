//! Helpers shared by the integration tests: a relay on a free loopback port, a plain blocking
//! IRC connection for poking the server by hand, and a unicast client whose events land in a
//! channel.
#![allow(dead_code)]

use crossbeam_channel::{unbounded, Receiver};
use lanmeet::app::chat::{ChatEvent, ChatSession, ChatSettings};
use lanmeet::net::tls::{self, KnownServers, Link, LinkReader};
use lanmeet::net::unicast::{Status, UnicastEvent};
use lanmeet::server::tls::RelayTls;
use std::path::{Path, PathBuf};
use lanmeet::proto::irc::client::Event;
use lanmeet::proto::irc::server::ServerConfig;
use lanmeet::proto::irc::Message;
use lanmeet::server::{self, RelayConfig, RelayHandle};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use lanmeet::net::multicast::{self, MulticastConfig, MulticastEvent, MulticastHandle};
use lanmeet::proto::mchat;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn relay(irc: ServerConfig) -> RelayHandle {
    relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), irc, 4 << 20)
}

/// True when the relay tests run over TLS (`LANMEET_TEST_TLS=1`, as `scripts/test` runs them a
/// second time): the relays they start take TLS only, and their clients speak it.
pub fn over_tls() -> bool {
    std::env::var_os("LANMEET_TEST_TLS").is_some_and(|v| v == "1")
}

/// The certificate of this test process's TLS relays, and the pins of its clients.
fn test_tls() -> &'static (RelayTls, KnownServers) {
    static TLS: std::sync::OnceLock<(RelayTls, KnownServers)> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let dir = scratch("test-tls");
        (certificate(&dir, "relay"), KnownServers::new(dir.join("known_servers")))
    })
}

pub fn relay_at(listen: SocketAddr, irc: ServerConfig, max_send_queue: usize) -> RelayHandle {
    let _ = env_logger::builder().is_test(true).try_init();
    let config = if over_tls() {
        RelayConfig { listen: None, listen_tls: Some((listen, test_tls().0.config.clone())), irc, max_send_queue, history: None }
    } else {
        RelayConfig { listen: Some(listen), listen_tls: None, irc, max_send_queue, history: None }
    };
    server::spawn(config).expect("relay starts")
}

/// A relay that takes IRC over TLS only, with the certificate `tls`.
pub fn tls_relay_at(listen: SocketAddr, tls: &RelayTls) -> RelayHandle {
    tls_relay_with(listen, tls, None)
}

/// The same, keeping its history in the SQLite file `history`.
#[allow(dead_code)]
pub fn tls_relay_keeping(listen: SocketAddr, tls: &RelayTls, history: &Path) -> RelayHandle {
    tls_relay_with(listen, tls, Some(server::history::HistoryConfig::at(history.to_path_buf())))
}

fn tls_relay_with(listen: SocketAddr, tls: &RelayTls, history: Option<server::history::HistoryConfig>) -> RelayHandle {
    let _ = env_logger::builder().is_test(true).try_init();
    server::spawn(RelayConfig { listen: None, listen_tls: Some((listen, tls.config.clone())), irc: open_config(), max_send_queue: 4 << 20, history }).expect("relay starts")
}

/// A new self-signed certificate, kept in `dir` as NAME.pem and NAME-key.pem.
pub fn certificate(dir: &Path, name: &str) -> RelayTls {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    lanmeet::server::tls::load(&cert, &key).expect("the certificate loads")
}

/// An empty folder of this test process's own.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lanmeet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Flood control off, as in benchmarks; everything else at defaults.
pub fn open_config() -> ServerConfig {
    ServerConfig { flood: None, max_connections_per_ip: None, ..ServerConfig::default() }
}

/// A connected socket as the tests' relays take it: as it is, or with TLS over it.
pub fn link(stream: TcpStream, addr: SocketAddr) -> Link {
    if over_tls() {
        tls::handshake(stream, &addr.to_string(), &test_tls().1, PATIENCE).expect("TLS handshake").0
    } else {
        Link::Plain(stream)
    }
}

/// A hand-driven IRC connection (over TLS when the tests run so).
pub struct Raw {
    /// The socket, for its options.
    pub stream: TcpStream,
    writer: Link,
    reader: BufReader<LinkReader>,
    pub nick: String,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        let link = link(stream.try_clone().unwrap(), addr);
        Raw::over(stream, link)
    }

    /// As `connect`, over TLS whatever the test run, trusting what `known` pins.
    pub fn connect_tls(addr: SocketAddr, known: &KnownServers) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        let link = tls::handshake(stream.try_clone().unwrap(), &addr.to_string(), known, PATIENCE).expect("TLS handshake").0;
        Raw::over(stream, link)
    }

    fn over(stream: TcpStream, link: Link) -> Raw {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let reader = BufReader::new(link.reader().unwrap());
        Raw { stream, writer: link, reader, nick: String::new() }
    }

    /// Connect, register and join `channel`; returns once the join is confirmed.
    pub fn join(addr: SocketAddr, nick: &str, channel: &str) -> Raw {
        Raw::connect(addr).register(nick, channel)
    }

    /// Registers as `nick` and joins `channel`; returns once the join is confirmed.
    pub fn register(mut self, nick: &str, channel: &str) -> Raw {
        self.nick = nick.to_string();
        self.send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN {channel}"));
        self.expect(|m| m.command == "366");
        self
    }

    pub fn send(&mut self, lines: &str) {
        let mut bytes = lines.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes();
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes).expect("write");
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// The next message, or None on close or time-out.
    pub fn next(&mut self) -> Option<Message> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(Message::parse(line.trim_end_matches(['\r', '\n'])).expect("server sends valid lines")),
        }
    }

    /// Read until a message matches; panics with what was seen otherwise.
    pub fn expect(&mut self, wanted: impl Fn(&Message) -> bool) -> Message {
        let mut seen = Vec::new();
        while let Some(m) = self.next() {
            if wanted(&m) {
                return m;
            }
            seen.push(m.to_line());
        }
        panic!("{}: expected message not seen; got {seen:#?}", self.nick);
    }

    /// True once the server has closed the connection (reading everything up to the close).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.stream.set_read_timeout(Some(limit)).unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A unicast chat session (the program's own client stack) with its events in a channel.
pub struct Peer {
    pub session: Option<ChatSession>,
    pub events: Receiver<ChatEvent>,
}

impl Peer {
    /// Plain-text IRC, or TLS when the tests run so.
    pub fn start(server: &str, nick: &str, host_if_missing: bool) -> Peer {
        Peer::start_with(server, nick, host_if_missing, over_tls().then(|| test_tls().1.clone()))
    }

    /// IRC over TLS, with certificates pinned in `known`.
    pub fn start_tls(server: &str, nick: &str, known: KnownServers) -> Peer {
        Peer::start_with(server, nick, false, Some(known))
    }

    pub fn start_with(server: &str, nick: &str, host_if_missing: bool, tls: Option<KnownServers>) -> Peer {
        Peer::start_settings(ChatSettings {
            server: server.to_string(),
            nick: nick.to_string(),
            channel: "#lobby".into(),
            also: Vec::new(),
            password: None,
            host_if_missing,
            host_for_network: false,
            tls,
            seen_until: Default::default(),
        })
    }

    pub fn start_settings(settings: ChatSettings) -> Peer {
        let (tx, events) = unbounded();
        let session = ChatSession::start(settings, move |e| {
            let _ = tx.send(e);
        })
        .expect("session starts");
        Peer { session: Some(session), events }
    }

    pub fn say(&self, text: &str) {
        self.session.as_ref().unwrap().say(text);
    }

    /// Wait for a chat event that `pick` accepts; panics after `PATIENCE`.
    pub fn wait_for<T>(&self, what: &str, pick: impl Fn(&Event) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        while let Ok(event) = self.events.recv_deadline(deadline) {
            if let ChatEvent::Unicast(UnicastEvent::Chat(chat)) = &event {
                if let Some(t) = pick(chat) {
                    return t;
                }
            }
        }
        panic!("timed out waiting for {what}");
    }

    /// Wait for any session event that `pick` accepts.
    pub fn wait_any<T>(&self, what: &str, pick: impl Fn(&ChatEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        while let Ok(event) = self.events.recv_deadline(deadline) {
            if let Some(t) = pick(&event) {
                return t;
            }
        }
        panic!("timed out waiting for {what}");
    }

    pub fn wait_status(&self, what: &str, accept: impl Fn(&Status) -> bool) {
        self.wait_any(what, |e| match e {
            ChatEvent::Unicast(UnicastEvent::Status(s)) if accept(s) => Some(()),
            _ => None,
        })
    }

    pub fn joined(&self) {
        self.wait_for("join", |e| matches!(e, Event::Joined { .. }).then_some(()));
    }

    /// Collect `count` messages from others, as (sender, text).
    pub fn messages(&self, count: usize) -> Vec<(String, String)> {
        let mut got = Vec::new();
        while got.len() < count {
            got.push(self.wait_for("message", |e| match e {
                Event::Message { from, text, .. } => Some((from.clone(), text.clone())),
                _ => None,
            }));
        }
        got
    }
}

/// A multicast group and port no other test uses (the port is free for UDP right now).
pub fn group(last_octet: u8) -> SocketAddrV4 {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    SocketAddrV4::new(Ipv4Addr::new(239, 255, 42, last_octet), port)
}

/// Multicast on loopback only: IP_MULTICAST_IF 127.0.0.1 and TTL 0.
pub fn loopback(group: SocketAddrV4, nick: &str, drop_incoming: f64) -> MulticastConfig {
    MulticastConfig { interface: Ipv4Addr::LOCALHOST, ttl: 0, drop_incoming, ..MulticastConfig::new(group, nick) }
}

/// A multicast chat member (the program's own stack) with its events in a channel.
pub struct Member {
    pub handle: Option<MulticastHandle>,
    pub events: Receiver<MulticastEvent>,
}

impl Member {

    pub fn join(config: MulticastConfig) -> Member {
        let (tx, events) = unbounded();
        let handle = multicast::spawn(config, move |e| {
            let _ = tx.send(e);
        })
        .expect("joins the group on loopback");
        Member { handle: Some(handle), events }
    }

    pub fn say(&self, text: &str) {
        self.handle.as_ref().unwrap().say(text);
    }

    pub fn say_to(&self, nick: &str, text: &str) {
        self.handle.as_ref().unwrap().say_to(nick, text);
    }

    pub fn wait<T>(&self, what: &str, pick: impl Fn(&mchat::Event) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        while let Ok(event) = self.events.recv_deadline(deadline) {
            if let MulticastEvent::Chat(chat) = &event {
                if let Some(t) = pick(chat) {
                    return t;
                }
            }
        }
        panic!("timed out waiting for {what}");
    }

    pub fn messages(&self, count: usize) -> Vec<(String, String)> {
        (0..count)
            .map(|_| {
                self.wait("a message", |e| match e {
                    mchat::Event::Message { nick, text, .. } => Some((nick.clone(), text.clone())),
                    _ => None,
                })
            })
            .collect()
    }
}


/// A group for a conference: its RTP port and the RTCP port after it are both free now.
pub fn video_group(last_octet: u8) -> SocketAddrV4 {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port < u16::MAX && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return SocketAddrV4::new(Ipv4Addr::new(239, 255, 43, last_octet), port);
        }
    }
}

/// A `lanmeet` process whose standard output lines are collected as they come.
pub struct Process {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Write lines to its standard input.
    pub fn type_lines(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("standard input still open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    pub fn printed(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// `lanmeet ARGS`, with a data folder of its own (its keys and pins).
    pub fn start(args: &[&str]) -> Process {
        Process::start_with(args, &[])
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Process {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let child = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
            .args(args)
            .env("LANMEET_DATA_DIR", scratch(&format!("process-{n}")))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lanmeet starts");
        Process::collect(child)
    }

    /// Collect the standard output (and standard error, where piped) of a child, line by line.
    pub fn collect(mut child: Child) -> Process {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: Vec<Box<dyn std::io::Read + Send>> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for stream in streams {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Process { stdin: child.stdin.take(), child, lines }
    }

    pub fn wait_for_line(&self, what: &str, pick: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| pick(l)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "never printed {what} (peak {:.0} MiB, {:?} CPU); printed:\n{}",
                self.peak_mib(),
                self.cpu(),
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Peak resident memory in MiB.
    pub fn peak_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap();
        kib / 1024.0
    }

    /// CPU time used so far, user and system.
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process killed when the test ends, however it ends.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something takes connections at 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server another ngIRCd links to: its name, port and the passwords each side gives.
pub struct Link2 {
    pub name: String,
    pub port: u16,
    /// Whether this server makes the connection (the other only accepts it).
    pub connect: bool,
    pub my_password: String,
    pub peer_password: String,
}

/// Debian's ngIRCd named `name` on 127.0.0.1:`port` (plain text), linked to `links`.
pub fn ngircd(name: &str, port: u16, links: &[Link2]) -> Daemon {
    let dir = scratch(&format!("ngircd-{name}"));
    let config = dir.join("ngircd.conf");
    let mut text = format!(
        "[Global]\nName = {name}\nInfo = lanmeet test\nListen = 127.0.0.1\nPorts = {port}\nPidFile = {pid}\n\
         [Limits]\nMaxConnectionsIP = 0\nMaxNickLength = 30\nMaxPenaltyTime = 0\nConnectRetry = 5\n\
         [Options]\nPAM = no\nIdent = no\nDNS = no\n",
        pid = dir.join("pid").display()
    );
    for link in links {
        text.push_str(&format!(
            "[Server]\nName = {}\nHost = 127.0.0.1\n{}MyPassword = {}\nPeerPassword = {}\n",
            link.name,
            if link.connect { format!("Port = {}\n", link.port) } else { String::new() },
            link.my_password,
            link.peer_password
        ));
    }
    std::fs::write(&config, text).unwrap();
    let child = Command::new("ngircd")
        .args(["--nodaemon", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ngircd is installed (scripts/test installs it)");
    let daemon = Daemon(child);
    wait_for_port(port);
    daemon
}

/// Two ngIRCd servers linked on loopback, the first connecting to the second; their ports.
pub fn linked_ngircds() -> (Daemon, Daemon, u16, u16) {
    let (a, b) = (free_port(), free_port());
    let second = ngircd("irc2.lanmeet.test", b, &[Link2 { name: "irc1.lanmeet.test".into(), port: a, connect: false, my_password: "two2one".into(), peer_password: "one2two".into() }]);
    let first = ngircd("irc1.lanmeet.test", a, &[Link2 { name: "irc2.lanmeet.test".into(), port: b, connect: true, my_password: "one2two".into(), peer_password: "two2one".into() }]);
    (first, second, a, b)
}
