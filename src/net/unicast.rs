//! The unicast chat connection: one thread that owns the IRC client state and the TCP stream,
//! plus a reader thread per connection that turns the stream into lines. Commands arrive on a
//! bounded channel (policy: never drop; `say` waits while a thousand lines are queued, `try_say`
//! refuses the text instead and the caller keeps it); events leave through a callback.
//! The connection is re-opened with backoff when it breaks, and every typed message is kept until
//! the server confirms it.

use crate::proto::irc::client::{Client, ClientConfig, Event, Output};
use crate::proto::irc::framing::{Frame, LineReader};
use crate::proto::irc::message::{MAX_LINE, MAX_TAGS};
use super::now;
use super::tls::{self, KnownServers, Link, LinkReader, Seen};
use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Waits between reconnection attempts; the last one repeats.
const BACKOFF: &[Duration] = &[
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct UnicastConfig {
    /// `host:port`
    pub server: String,
    pub client: ClientConfig,
    /// TLS, trusting the certificates pinned here (the first one a server shows is pinned);
    /// None for plain text.
    pub tls: Option<KnownServers>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting { server: String },
    /// Connected; over TLS, with what was seen of the server's certificate.
    Connected { server: SocketAddr, tls: Option<Seen> },
    Reconnecting { in_ms: u64, error: String },
    /// The server's name does not resolve and never did in this session: a typing mistake
    /// more likely than an outage, so no retrying (`Stopped` follows).
    Failed { error: String },
    /// The thread ended. `undelivered` messages could not be sent.
    Stopped { undelivered: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnicastEvent {
    Status(Status),
    Chat(Event),
}

enum Command {
    Say(String),
    /// Deliver what is queued (waiting at most this long), then leave.
    Finish(Duration),
    /// Waiting to reconnect: try now.
    RetryNow,
    Quit,
}

/// Lines from the reader thread. Bounded, never dropped: the reader waits.
enum Incoming {
    Frames(Vec<Frame>),
    Closed(String),
}

pub struct UnicastHandle {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl UnicastHandle {
    /// Queue text for the room. Never dropped; waits while a thousand lines are queued.
    pub fn say(&self, text: &str) {
        let _ = self.commands.send(Command::Say(text.to_string()));
    }

    /// As `say`, never waiting: false (and nothing queued) when a thousand lines are waiting or
    /// the connection thread has ended.
    pub fn try_say(&self, text: &str) -> bool {
        self.commands.try_send(Command::Say(text.to_string())).is_ok()
    }

    /// Deliver everything typed so far (up to `patience`), say goodbye and wait for the thread.
    /// While waiting to reconnect, try at once.
    pub fn retry_now(&self) {
        let _ = self.commands.try_send(Command::RetryNow);
    }

    pub fn finish(mut self, patience: Duration) {
        let _ = self.commands.send(Command::Finish(patience));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// As `finish`, without waiting: the thread delivers, says goodbye and ends on its own,
    /// within `patience` plus one connect and one write timeout. Its last event is
    /// `Status::Stopped`. (It is not joined: nobody needs to wait for it, and a window must not.)
    /// If a thousand lines are still queued the thread is stuck; it then sends what it can
    /// once it wakes and leaves without waiting for the rest.
    pub fn leave(mut self, patience: Duration) {
        let _ = self.commands.try_send(Command::Finish(patience));
        drop(self.thread.take());
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.commands.send(Command::Quit);
            let _ = thread.join();
        }
    }
}

impl Drop for UnicastHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn spawn<F>(mut config: UnicastConfig, sink: F) -> io::Result<UnicastHandle>
where
    F: FnMut(UnicastEvent) + Send + 'static,
{
    config.server = with_default_port(&config.server, config.tls.is_some());
    let (commands, receiver) = bounded(1024);
    let thread = std::thread::Builder::new()
        .name("irc-client".into())
        .spawn(move || Worker { config: config.clone(), client: Client::new(config.client), commands: receiver, sink, finish_by: None }.run())?;
    Ok(UnicastHandle { commands, thread: Some(thread) })
}

struct Worker<F> {
    config: UnicastConfig,
    client: Client,
    commands: Receiver<Command>,
    sink: F,
    finish_by: Option<Instant>,
}

enum Outcome {
    Quit,
    Lost(String),
}

impl<F: FnMut(UnicastEvent)> Worker<F> {
    fn run(mut self) {
        let mut attempt = 0usize;
        let mut ever_resolved = false;
        loop {
            (self.sink)(UnicastEvent::Status(Status::Connecting { server: self.config.server.clone() }));
            let addrs = match resolve(&self.config.server) {
                Ok(addrs) => {
                    ever_resolved = true;
                    Ok(addrs)
                }
                Err(error) if !ever_resolved => {
                    (self.sink)(UnicastEvent::Status(Status::Failed { error }));
                    break;
                }
                Err(error) => Err(error),
            };
            let link = addrs.and_then(|addrs| connect(&self.config.server, addrs)).and_then(|socket| match &self.config.tls {
                Some(known) => tls::handshake(socket, &self.config.server, known, CONNECT_TIMEOUT).map(|(link, seen)| (link, Some(seen))),
                None => Ok((Link::Plain(socket), None)),
            });
            let error = match link {
                Ok((link, seen)) => {
                    let outcome = self.converse(link, seen, &mut attempt);
                    self.client.disconnected();
                    match outcome {
                        Outcome::Quit => break,
                        Outcome::Lost(reason) => reason,
                    }
                }
                Err(e) => e,
            };
            if self.finish_due() {
                break;
            }
            let wait = BACKOFF[attempt.min(BACKOFF.len() - 1)];
            attempt += 1;
            (self.sink)(UnicastEvent::Status(Status::Reconnecting { in_ms: wait.as_millis() as u64, error }));
            if !self.wait_offline(wait) {
                break;
            }
        }
        (self.sink)(UnicastEvent::Status(Status::Stopped { undelivered: self.client.undelivered() }));
    }

    fn finish_due(&self) -> bool {
        self.finish_by.is_some_and(|t| Instant::now() >= t || self.client.undelivered() == 0)
    }

    /// Between connections: keep taking what the user types. False when asked to stop.
    fn wait_offline(&mut self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let left = match self.finish_by {
                Some(t) => left.min(t.saturating_duration_since(Instant::now())),
                None => left,
            };
            match self.commands.recv_timeout(left) {
                Ok(Command::Say(text)) => {
                    let out = self.client.say(&text, now());
                    self.emit(out.events);
                }
                Ok(Command::Finish(patience)) => self.finish_by = Some(Instant::now() + patience),
                Ok(Command::RetryNow) => return true,
                Err(RecvTimeoutError::Disconnected) if self.finish_by.is_some() => self.commands = crossbeam_channel::never(),
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => return !self.finish_due(),
            }
        }
    }

    fn emit(&mut self, events: Vec<Event>) {
        for event in events {
            (self.sink)(UnicastEvent::Chat(event));
        }
    }

    /// Talk over one connection until it ends.
    fn converse(&mut self, link: Link, seen: Option<Seen>, attempt: &mut usize) -> Outcome {
        let peer = link.socket().peer_addr().ok();
        let _ = link.socket().set_nodelay(true);
        let _ = link.socket().set_write_timeout(Some(WRITE_TIMEOUT));
        let (incoming_tx, incoming) = bounded(256);
        let reader = match link.reader() {
            Ok(read_half) => std::thread::Builder::new().name("irc-reader".into()).spawn(move || read_lines(read_half, incoming_tx)),
            Err(e) => return Outcome::Lost(format!("cannot read from the connection: {e}")),
        };
        let Ok(reader) = reader else { return Outcome::Lost("cannot start the reader thread".into()) };
        let mut conversation = Conversation { stream: link, reader: Some(reader) };
        if let Some(peer) = peer {
            (self.sink)(UnicastEvent::Status(Status::Connected { server: peer, tls: seen }));
        }
        let out = self.client.connected(now());
        if let Err(e) = self.deliver(&mut conversation.stream, out) {
            return Outcome::Lost(e);
        }
        loop {
            if self.client.is_joined() {
                *attempt = 0;
            }
            if let Some(deadline) = self.finish_by {
                if self.client.undelivered() == 0 || Instant::now() >= deadline {
                    let out = self.client.quit("Leaving");
                    let _ = self.deliver(&mut conversation.stream, out);
                    return Outcome::Quit;
                }
            }
            let deadline = [self.client.next_deadline(), self.finish_by].into_iter().flatten().min();
            let timeout = deadline.map_or(Duration::from_secs(60), |d| d.saturating_duration_since(Instant::now()));
            let out = select! {
                recv(self.commands) -> command => match command {
                    Ok(Command::Say(text)) => self.client.say(&text, now()),
                    Ok(Command::Finish(patience)) => {
                        self.finish_by = Some(Instant::now() + patience);
                        Output::default()
                    }
                    Ok(Command::RetryNow) => Output::default(),
                    // Asked to finish and then left alone: no more commands will come.
                    Err(_) if self.finish_by.is_some() => {
                        self.commands = crossbeam_channel::never();
                        Output::default()
                    }
                    Ok(Command::Quit) | Err(_) => {
                        let out = self.client.quit("Leaving");
                        let _ = self.deliver(&mut conversation.stream, out);
                        return Outcome::Quit;
                    }
                },
                recv(incoming) -> message => match message {
                    Ok(Incoming::Frames(frames)) => {
                        let lines = frames.iter().filter_map(|frame| match frame {
                            Frame::Line(line) => Some(&line[..]),
                            _ => None,
                        });
                        self.client.receive_lines(lines, now())
                    }
                    Ok(Incoming::Closed(reason)) => return Outcome::Lost(reason),
                    Err(_) => return Outcome::Lost("the connection reader stopped".into()),
                },
                default(timeout) => self.client.tick(now()),
            };
            let dead = out.events.contains(&Event::Dead);
            if let Err(e) = self.deliver(&mut conversation.stream, out) {
                return Outcome::Lost(e);
            }
            if dead {
                return Outcome::Lost("the server stopped answering".into());
            }
        }
    }

    /// Write the lines, then pass on the events (so "delivered" never precedes the write).
    fn deliver(&mut self, stream: &mut Link, out: Output) -> Result<(), String> {
        if !out.send.is_empty() {
            let mut bytes = Vec::new();
            for line in &out.send {
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
            if let Err(e) = stream.send(&bytes) {
                return Err(format!("write failed: {e}"));
            }
        }
        self.emit(out.events);
        Ok(())
    }
}

/// Closes the stream (which ends the reader thread) and joins the reader.
struct Conversation {
    stream: Link,
    reader: Option<JoinHandle<()>>,
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.stream.shutdown();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn read_lines(mut stream: LinkReader, incoming: Sender<Incoming>) {
    let mut reader = LineReader::new(MAX_LINE + MAX_TAGS);
    let mut buffer = vec![0u8; 16 * 1024];
    let reason = loop {
        match stream.read(&mut buffer) {
            Ok(0) if reader.mid_line() => break "the server closed the connection in the middle of a line".to_string(),
            Ok(0) => break "the server closed the connection".to_string(),
            Ok(n) => {
                let frames = reader.push(&buffer[..n]);
                if !frames.is_empty() && incoming.send(Incoming::Frames(frames)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break format!("connection lost: {e}"),
        }
    };
    let _ = incoming.send(Incoming::Closed(reason));
}

/// IRC's port where the address names none: 6697 over TLS (RFC 7194), 6667 in plain text.
pub fn with_default_port(server: &str, tls: bool) -> String {
    let server = server.trim();
    let port = if tls { 6697 } else { 6667 };
    if server.parse::<SocketAddr>().is_ok() {
        return server.to_string();
    }
    if server.parse::<std::net::Ipv6Addr>().is_ok() {
        return format!("[{server}]:{port}");
    }
    if (server.starts_with('[') && server.ends_with(']')) || !server.contains(':') {
        return format!("{server}:{port}");
    }
    server.to_string()
}

fn resolve(server: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = server.to_socket_addrs().map_err(|e| format!("cannot resolve {server}: {e}"))?.collect();
    if addrs.is_empty() {
        return Err(format!("{server} has no address"));
    }
    Ok(addrs)
}

fn connect(server: &str, addrs: Vec<SocketAddr>) -> Result<TcpStream, String> {
    let mut last = format!("{server} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("cannot connect to {addr}: {}", describe(&e)),
        }
    }
    Err(last)
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "nothing is listening there".into(),
        io::ErrorKind::TimedOut => "no answer".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_port_gets_irc_s() {
        for (typed, tls, wanted) in [
            ("lan-server", true, "lan-server:6697"),
            (" 192.168.1.5 ", false, "192.168.1.5:6667"),
            ("192.168.1.5:7000", true, "192.168.1.5:7000"),
            ("::1", true, "[::1]:6697"),
            ("[fe80::1]", false, "[fe80::1]:6667"),
            ("[::1]:6697", false, "[::1]:6697"),
            ("host.lan:6697", false, "host.lan:6697"),
        ] {
            assert_eq!(with_default_port(typed, tls), wanted, "{typed}");
        }
    }

    fn statuses(server: &str) -> (UnicastHandle, crossbeam_channel::Receiver<(Instant, Status)>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let config = UnicastConfig { server: server.into(), client: ClientConfig::new("t", "#t"), tls: None };
        let handle = spawn(config, move |event| {
            if let UnicastEvent::Status(status) = event {
                let _ = tx.send((Instant::now(), status));
            }
        })
        .unwrap();
        (handle, rx)
    }

    /// A name that cannot resolve (here one the resolver refuses before asking anyone) is a
    /// mistake to show, not a reason to retry for ever.
    #[test]
    fn a_server_name_that_never_resolved_is_an_error_not_a_retry_loop() {
        let (_handle, events) = statuses("bad\0name");
        let seen: Vec<Status> = events.iter().take(3).map(|(_, s)| s).collect();
        assert!(matches!(&seen[0], Status::Connecting { .. }), "{seen:?}");
        assert!(matches!(&seen[1], Status::Failed { error } if error.starts_with("cannot resolve")), "{seen:?}");
        assert!(matches!(&seen[2], Status::Stopped { .. }), "{seen:?}");
    }

    /// Waiting 4 s to reconnect to a port where nobody listens, "retry now" tries at once.
    #[test]
    fn retry_now_cuts_the_wait_short() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let (handle, events) = statuses(&addr.to_string());
        let wait = loop {
            match events.recv_timeout(Duration::from_secs(30)).expect("the worker goes on") {
                (at, Status::Reconnecting { in_ms, .. }) if in_ms >= 4000 => break (at, Duration::from_millis(in_ms)),
                _ => {}
            }
        };
        handle.retry_now();
        let (again, _) = events.iter().find(|(_, s)| matches!(s, Status::Connecting { .. })).unwrap();
        assert!(again - wait.0 < wait.1, "tried again after {:?} of a {:?} wait", again - wait.0, wait.1);
    }
}
