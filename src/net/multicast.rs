//! The multicast chat socket thread: joins the group (socket2 for the multicast options), owns
//! the `proto::mchat` peer, and sleeps in mio until a datagram, a command or the protocol's
//! next deadline. Commands arrive on a bounded channel (never dropped; a mio waker rouses the
//! thread); events leave through a callback.
//!
//! For tests, a receive-side fault injector drops a share of incoming datagrams (this kernel
//! has no netem).

use super::identity::KnownPeers;
use crate::proto::mchat::seal::{fingerprint, GroupKey, Signer};
use crate::proto::mchat::{self, Peer, PeerConfig};
use super::now;
use crate::proto::Jitter;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);
const DIRECT: Token = Token(2);

#[derive(Debug, Clone)]
pub struct MulticastConfig {
    pub group: SocketAddrV4,
    /// Address of the interface to use; 0.0.0.0 lets the kernel choose.
    pub interface: Ipv4Addr,
    pub ttl: u32,
    pub nick: String,
    /// Send bare UTF-8 text, which the report's tool can display (no ordering or repair).
    pub plain: bool,
    /// Share of incoming datagrams to drop on purpose (tests and benchmarks only).
    pub drop_incoming: f64,
    /// The group's key, from its passphrase: everything is sealed with it and only what opens
    /// with it is shown. None: not encrypted.
    pub key: Option<Arc<GroupKey>>,
    /// Our signing key (`MulticastConfig::new` makes one for the session; the front ends use
    /// the installation's, see `net::identity`).
    pub signer: Option<Arc<Signer>>,
    /// Where nicknames are pinned to keys; None keeps the pins for this session only.
    pub known_peers: Option<KnownPeers>,
}

impl MulticastConfig {
    pub fn new(group: SocketAddrV4, nick: &str) -> MulticastConfig {
        MulticastConfig {
            group,
            interface: Ipv4Addr::UNSPECIFIED,
            ttl: 1,
            nick: nick.to_string(),
            plain: false,
            drop_incoming: 0.0,
            key: None,
            signer: Some(Arc::new(Signer::generate())),
            known_peers: None,
        }
    }

    /// Seal the group with the key from `passphrase` (an empty one: not encrypted). Takes a
    /// noticeable fraction of a second: Argon2id is slow on purpose.
    pub fn set_passphrase(&mut self, passphrase: &str) {
        self.key = (!passphrase.is_empty()).then(|| Arc::new(GroupKey::from_passphrase(passphrase, self.group)));
    }
}

#[derive(Debug, Error)]
pub enum MulticastError {
    #[error("{0} is not a multicast address (use 224.0.0.0 to 239.255.255.255)")]
    NotMulticast(Ipv4Addr),
    #[error("cannot open a UDP socket: {0}")]
    Socket(io::Error),
    #[error("cannot bind port {port}: {source}")]
    Bind { port: u16, source: io::Error },
    #[error("cannot join {group} on interface {interface}: {source}; choose the interface of your LAN")]
    Join { group: Ipv4Addr, interface: Ipv4Addr, source: io::Error },
    #[error("cannot use interface {interface} for sending: {source}")]
    Interface { interface: Ipv4Addr, source: io::Error },
    #[error("cannot start the network thread: {0}")]
    Thread(io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MulticastEvent {
    /// The group is joined; `id` is our random sender id. `sealed` names the group key (a
    /// short hash, to compare) when the group has a passphrase; `fingerprint` is our own key's.
    Joined { group: SocketAddrV4, interface: Ipv4Addr, id: u64, sealed: Option<String>, fingerprint: Option<String> },
    /// More sealed datagrams arrived that do not open with our key: `total` so far (at most
    /// once a second). `tell` is set when the count reached a new power of two, so that a line
    /// about it is written now and then, not every second.
    Unopened { total: u64, tell: bool },
    Chat(mchat::Event),
    /// A send failed (for example: no route for multicast on this interface).
    Error(String),
    Stopped { counters: mchat::peer::Counters },
}

enum Command {
    Say(String),
    /// Private text to the participant shown under this nickname.
    SayTo(String, String),
    Quit,
}

pub struct MulticastHandle {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl MulticastHandle {
    /// Send text to the group (never dropped; waits only if a thousand lines are queued).
    pub fn say(&self, text: &str) {
        self.command(Command::Say(text.to_string()));
    }

    /// As `say`, never waiting: false (and nothing queued) when a thousand lines are waiting or
    /// the thread has ended.
    pub fn try_say(&self, text: &str) -> bool {
        self.try_command(Command::Say(text.to_string()))
    }

    /// Send text to the participant shown as `nick` alone, never waiting (as `try_say`). If no
    /// one of that name is in the group when it goes out, an `Error` event says so.
    pub fn try_say_to(&self, nick: &str, text: &str) -> bool {
        self.try_command(Command::SayTo(nick.to_string(), text.to_string()))
    }

    /// As `try_say_to`, waiting while a thousand lines are queued.
    pub fn say_to(&self, nick: &str, text: &str) {
        self.command(Command::SayTo(nick.to_string(), text.to_string()));
    }

    /// A command for the thread, waiting while a thousand are queued.
    fn command(&self, command: Command) {
        if self.commands.send(command).is_ok() {
            let _ = self.waker.wake();
        }
    }

    fn try_command(&self, command: Command) -> bool {
        let queued = self.commands.try_send(command).is_ok();
        if queued {
            let _ = self.waker.wake();
        }
        queued
    }

    /// Say goodbye, leave the group and wait for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// As `stop`, without waiting: the thread says goodbye and ends on its own (at once: it
    /// wakes for the request); its last event is `Stopped`. It is not joined.
    pub fn leave(mut self) {
        let _ = self.commands.send(Command::Quit);
        let _ = self.waker.wake();
        drop(self.thread.take());
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.commands.send(Command::Quit);
            let _ = self.waker.wake();
            let _ = thread.join();
        }
    }
}

impl Drop for MulticastHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Open the socket, join the group and start the thread. Set-up errors come back here, in words.
pub fn spawn<F>(config: MulticastConfig, sink: F) -> Result<MulticastHandle, MulticastError>
where
    F: FnMut(MulticastEvent) + Send + 'static,
{
    let socket = open_group_socket(config.group, config.interface, config.ttl)?;
    let mut socket = UdpSocket::from_std(socket.into());
    let mut direct = UdpSocket::from_std(open_direct_socket(config.interface, config.ttl)?.into());
    let poll = Poll::new().map_err(MulticastError::Socket)?;
    poll.registry().register(&mut socket, SOCKET, Interest::READABLE).map_err(MulticastError::Socket)?;
    poll.registry().register(&mut direct, DIRECT, Interest::READABLE).map_err(MulticastError::Socket)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(MulticastError::Socket)?);
    let (commands, receiver) = bounded(1024);
    let id = random_id();
    let thread = std::thread::Builder::new()
        .name("multicast".into())
        .spawn(move || {
            let mut peer_config = PeerConfig::new(id, &config.nick);
            peer_config.key = config.key.clone().filter(|_| !config.plain);
            peer_config.signer = config.signer.clone();
            let mut warning = None;
            // A group with a passphrase keeps its own pins: a name first claimed on an open
            // group, where anyone can claim it, does not count there.
            let known_peers = config.known_peers.as_ref().map(|known| match &peer_config.key {
                Some(key) => KnownPeers::new(known.path().with_file_name(format!("known_peers-{}", key.id()))),
                None => known.clone(),
            });
            if let Some(known) = &known_peers {
                match known.load() {
                    Ok(pins) => peer_config.pins = pins,
                    Err(e) => warning = Some(format!("cannot read the pinned keys in {}: {e}", known.path().display())),
                }
            }
            if let Some(signer) = &config.signer {
                match peer_config.pins.get(&config.nick) {
                    Some(pinned) if *pinned != signer.public() => {
                        warning = Some(format!("the nickname {} is pinned here to another key ({}): whoever met it before sees you as an impostor; choose another nickname", config.nick, fingerprint(pinned)));
                    }
                    Some(_) => {}
                    None => {
                        peer_config.pins.insert(config.nick.clone(), signer.public());
                        if let Some(known) = &known_peers {
                            let _ = known.pin(&config.nick, &signer.public());
                        }
                    }
                }
            }
            let peer = Peer::new(peer_config);
            let config = MulticastConfig { known_peers, ..config };
            let rng = Jitter::new(id ^ 0x9e37_79b9_7f4a_7c15);
            let mut worker = Worker { config, socket, direct, poll, commands: receiver, peer, sink, rng, recent_plain: Default::default(), unopened: (0, Instant::now()) };
            if let Some(warning) = warning {
                (worker.sink)(MulticastEvent::Error(warning));
            }
            worker.run()
        })
        .map_err(MulticastError::Thread)?;
    Ok(MulticastHandle { commands, waker, thread: Some(thread) })
}

/// A non-blocking UDP socket bound to `group`, joined on `interface`, sending there with `ttl`
/// and looping its own datagrams back (other programs on this host are members too).
pub fn open_group_socket(group: SocketAddrV4, interface: Ipv4Addr, ttl: u32) -> Result<Socket, MulticastError> {
    let port = group.port();
    let group = *group.ip();
    if !group.is_multicast() {
        return Err(MulticastError::NotMulticast(group));
    }
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(MulticastError::Socket)?;
    socket.set_reuse_address(true).map_err(MulticastError::Socket)?;
    socket.set_reuse_port(true).map_err(MulticastError::Socket)?;
    socket.set_nonblocking(true).map_err(MulticastError::Socket)?;
    // Bound to the group address, the socket gets this group's datagrams and nothing else
    // that arrives at the port.
    socket
        .bind(&SocketAddr::from((group, port)).into())
        .map_err(|source| MulticastError::Bind { port, source })?;
    socket
        .join_multicast_v4(&group, &interface)
        .map_err(|source| MulticastError::Join { group, interface, source })?;
    socket.set_multicast_if_v4(&interface).map_err(|source| MulticastError::Interface { interface, source })?;
    socket.set_multicast_ttl_v4(ttl).map_err(MulticastError::Socket)?;
    socket.set_multicast_loop_v4(true).map_err(MulticastError::Socket)?;
    Ok(socket)
}

/// The socket everything we send goes out of, to the group or to one participant, and where
/// private datagrams to us arrive: a port of its own, so that each participant on a host has
/// an address (they all share the group's port). Others learn it as the source of our
/// datagrams.
fn open_direct_socket(interface: Ipv4Addr, ttl: u32) -> Result<Socket, MulticastError> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(MulticastError::Socket)?;
    socket.set_nonblocking(true).map_err(MulticastError::Socket)?;
    socket.bind(&SocketAddr::from((interface, 0)).into()).map_err(|source| MulticastError::Bind { port: 0, source })?;
    socket.set_multicast_if_v4(&interface).map_err(|source| MulticastError::Interface { interface, source })?;
    socket.set_multicast_ttl_v4(ttl).map_err(MulticastError::Socket)?;
    socket.set_multicast_loop_v4(true).map_err(MulticastError::Socket)?;
    Ok(socket)
}

/// A random 64-bit id (sender ids, RTP SSRCs).
pub fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

struct Worker<F> {
    config: MulticastConfig,
    /// Bound to the group: what is sent to it arrives here.
    socket: UdpSocket,
    /// Everything we send leaves here; private datagrams to us arrive here.
    direct: UdpSocket,
    poll: Poll,
    commands: Receiver<Command>,
    peer: Peer,
    sink: F,
    rng: Jitter,
    /// Plain-text datagrams we sent a moment ago: their looped-back copies are not shown again.
    recent_plain: std::collections::VecDeque<(Instant, Vec<u8>)>,
    /// Unopened datagrams last reported, and when.
    unopened: (u64, Instant),
}

impl<F: FnMut(MulticastEvent)> Worker<F> {
    fn run(mut self) {
        (self.sink)(MulticastEvent::Joined {
            group: self.config.group,
            interface: self.config.interface,
            id: self.peer.id(),
            sealed: self.config.key.as_ref().filter(|_| !self.config.plain).map(|k| k.id().to_string()),
            fingerprint: self.config.signer.as_ref().filter(|_| !self.config.plain).map(|s| fingerprint(&s.public())),
        });
        let out = self.peer.start(now());
        self.emit(out);
        let mut events = Events::with_capacity(64);
        let mut buffer = vec![0u8; 65536];
        'outer: loop {
            let timeout = self.peer.poll_timeout().map(|t| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout.or(Some(Duration::from_secs(1)))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    (self.sink)(MulticastEvent::Error(format!("network wait failed: {e}")));
                    break;
                }
            }
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Say(text)) => self.say(&text),
                    Ok(Command::SayTo(nick, text)) => self.say_to(&nick, &text),
                    Ok(Command::Quit) | Err(TryRecvError::Disconnected) => break 'outer,
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.receive_all(false, &mut buffer);
            self.receive_all(true, &mut buffer);
            if self.peer.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                let out = self.peer.handle_timeout(now());
                self.emit(out);
            }
        }
        let out = self.peer.stop(now());
        self.emit(out);
        let _ = self.socket.leave_multicast_v4(self.config.group.ip(), &self.config.interface);
        (self.sink)(MulticastEvent::Stopped { counters: self.peer.counters() });
    }

    /// Everything waiting on one of the sockets.
    fn receive_all(&mut self, direct: bool, buffer: &mut [u8]) {
        loop {
            let socket = if direct { &self.direct } else { &self.socket };
            match socket.recv_from(buffer) {
                Ok((n, from)) => {
                    if self.inject_loss() || self.own_plain_echo(&buffer[..n]) {
                        continue;
                    }
                    let out = if direct { self.peer.receive_direct(&buffer[..n], from, now()) } else { self.peer.receive(&buffer[..n], from, now()) };
                    self.emit(out);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    (self.sink)(MulticastEvent::Error(format!("receive failed: {e}")));
                    break;
                }
            }
        }
    }

    fn say_to(&mut self, nick: &str, text: &str) {
        if self.config.plain {
            return (self.sink)(MulticastEvent::Error(format!("not sent to {nick}: private messages need the lanmeet protocol, and this group is in plain-text mode")));
        }
        match self.peer.member_id(nick).and_then(|id| self.peer.say_to(id, text, now())) {
            Some(out) => self.emit(out),
            None => (self.sink)(MulticastEvent::Error(format!("not sent: {nick} is not in the group now"))),
        }
    }

    fn say(&mut self, text: &str) {
        if self.config.plain {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.send(line.as_bytes());
                self.recent_plain.push_back((Instant::now(), line.as_bytes().to_vec()));
            }
            return;
        }
        let out = self.peer.say(text, now());
        self.emit(out);
    }

    fn emit(&mut self, out: mchat::Output) {
        // Plain mode speaks only bare text, which is all the report's tool can show: no
        // presence, repair requests or goodbyes of ours go out.
        if !self.config.plain {
            for datagram in out.send {
                self.send(&datagram);
            }
            for (to, datagram) in out.direct {
                self.send_to(&datagram, to);
            }
        }
        for event in out.events {
            if let (mchat::Event::Pinned { nick, key }, Some(known)) = (&event, &self.config.known_peers) {
                if let Err(e) = known.pin(nick, key) {
                    log::warn!("cannot keep the key of {nick} in {}: {e}", known.path().display());
                }
            }
            (self.sink)(MulticastEvent::Chat(event));
        }
        // What did not open is told at most once a second.
        let unopened = self.peer.counters().unopened;
        if unopened != self.unopened.0 && self.unopened.1.elapsed() >= Duration::from_secs(1) {
            let tell = unopened.ilog2() > self.unopened.0.checked_ilog2().unwrap_or(0) || self.unopened.0 == 0;
            self.unopened = (unopened, Instant::now());
            (self.sink)(MulticastEvent::Unopened { total: unopened, tell });
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.send_to(bytes, SocketAddr::V4(self.config.group));
    }

    fn send_to(&mut self, bytes: &[u8], to: SocketAddr) {
        // A chat datagram is waited for rather than dropped while the send buffer is full.
        let socket = &self.direct;
        if let Err(e) = super::send_patiently(|| socket.send_to(bytes, to), Duration::from_millis(1), u32::MAX) {
            (self.sink)(MulticastEvent::Error(format!("cannot send to {to}: {e}")));
        }
    }

    fn own_plain_echo(&mut self, bytes: &[u8]) -> bool {
        let now = Instant::now();
        self.recent_plain.retain(|(at, _)| now.duration_since(*at) < Duration::from_secs(2));
        match self.recent_plain.iter().position(|(_, sent)| sent == bytes) {
            Some(i) => {
                self.recent_plain.remove(i);
                true
            }
            None => false,
        }
    }

    fn inject_loss(&mut self) -> bool {
        self.rng.chance(self.config.drop_incoming)
    }
}

/// An interface given by name (`eth0`) or IPv4 address, as the address to use.
pub fn resolve_interface(name_or_addr: &str) -> Result<Ipv4Addr, String> {
    if let Ok(addr) = name_or_addr.parse::<Ipv4Addr>() {
        return Ok(addr);
    }
    let interfaces = if_addrs::get_if_addrs().map_err(|e| format!("cannot list network interfaces: {e}"))?;
    let mut names = Vec::new();
    for interface in interfaces {
        if let std::net::IpAddr::V4(addr) = interface.ip() {
            if interface.name == name_or_addr {
                return Ok(addr);
            }
            names.push(format!("{} ({addr})", interface.name));
        }
    }
    Err(format!("no interface {name_or_addr} with an IPv4 address; there are: {}", names.join(", ")))
}

/// IPv4 interfaces of this host, as (name, address), for the interface chooser.
pub fn interfaces() -> Vec<(String, Ipv4Addr)> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(addr) => Some((i.name, addr)),
            _ => None,
        })
        .collect()
}

/// The network check: which interface and address are used, whether the group can be joined,
/// and whether a datagram sent to the group comes back to this host. Takes up to a second.
/// The probe has a version byte no peer accepts, so other peers count it and show nothing.
pub fn self_test(config: &MulticastConfig) -> String {
    let mut report = Vec::new();
    let listed: Vec<String> = interfaces().iter().map(|(n, a)| format!("{n} {a}")).collect();
    report.push(format!("Interfaces: {}", listed.join(", ")));
    if config.interface.is_unspecified() {
        report.push("Interface: chosen by the system (default route)".to_string());
    } else {
        report.push(format!("Interface: {}", config.interface));
    }
    report.push(format!("Group: {} (TTL {})", config.group, config.ttl));
    let socket = match open_group_socket(config.group, config.interface, config.ttl) {
        Ok(s) => s,
        Err(e) => {
            report.push(format!("Joining the group failed: {e}"));
            return report.join("\n");
        }
    };
    report.push("Joined the group: yes".to_string());
    let socket: std::net::UdpSocket = socket.into();
    let _ = socket.set_nonblocking(false);
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let probe = format!("LMC\0network check {}", random_id()).into_bytes();
    if let Err(e) = socket.send_to(&probe, SocketAddr::V4(config.group)) {
        report.push(format!("Sending to the group failed: {e}; choose the interface of your LAN"));
        return report.join("\n");
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buffer = vec![0u8; 2048];
    let mut came_back = false;
    while Instant::now() < deadline {
        if let Ok((n, _)) = socket.recv_from(&mut buffer) {
            if buffer[..n] == probe[..] {
                came_back = true;
                break;
            }
        }
    }
    report.push(if came_back {
        "Loopback self-test: passed (a datagram sent to the group came back)".to_string()
    } else {
        "Loopback self-test: failed (nothing came back in 1 s); check the interface and firewall".to_string()
    });
    let _ = socket.leave_multicast_v4(config.group.ip(), &config.interface);
    report.join("\n")
}
