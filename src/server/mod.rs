//! The relay daemon: one mio event loop around [`crate::proto::irc::server::Server`]. The loop
//! owns the sockets, reads bytes into line framers, hands whole lines to the protocol state and
//! writes what it answers. It holds no protocol knowledge of its own.
//!
//! Each connection has a bounded send queue: a client that stops reading is cut off when its
//! queue is full, so nobody else waits for it.
//!
//! It listens for IRC over TLS (rustls), for plain-text IRC, or both; `tls.rs` keeps its
//! certificate.

pub mod history;
pub mod tls;

use crate::proto::irc::framing::LineReader;
use crate::proto::irc::message::{MAX_LINE, MAX_TAGS};
use crate::proto::irc::history::Reply;
use crate::proto::irc::server::{Action, ConnId, Server, ServerConfig};
use history::{HistoryConfig, HistoryStore};
use crossbeam_channel::Receiver;
use crate::net;
use crate::proto::IdMap;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::{ServerConfig as TlsConfig, ServerConnection};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const TLS_LISTENER: Token = Token(2);
const FIRST_CONN: u64 = 3;
/// Bytes read from one connection before the others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// Longest time between two protocol ticks.
const TICK: Duration = Duration::from_millis(500);
/// Out of file descriptors: wait this long before accepting again. The listener is
/// edge-triggered, so the loop must come back to it on its own.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where to take plain-text IRC, if anywhere.
    pub listen: Option<SocketAddr>,
    /// Where to take IRC over TLS, if anywhere, and with what certificate.
    pub listen_tls: Option<(SocketAddr, Arc<TlsConfig>)>,
    pub irc: ServerConfig,
    /// Bytes a connection may have waiting to be written before it is cut off.
    pub max_send_queue: usize,
    /// Where to keep the channels' messages, if anywhere.
    pub history: Option<HistoryConfig>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 6667))),
            listen_tls: None,
            irc: ServerConfig::default(),
            max_send_queue: 4 << 20,
            history: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum RelayError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("event loop failed: {0}")]
    Io(#[from] io::Error),
    #[error("the relay was given nowhere to listen")]
    NowhereToListen,
    #[error("{0}")]
    History(String),
}

/// A running relay. Dropping it stops the relay and waits for its thread.
pub struct RelayHandle {
    plain: Option<SocketAddr>,
    tls: Option<SocketAddr>,
    /// Open connections, as of the event loop's last round.
    connected: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RelayHandle {
    /// Where it takes plain-text IRC, or else IRC over TLS.
    pub fn local_addr(&self) -> SocketAddr {
        self.plain.or(self.tls).expect("listening somewhere")
    }

    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
    }

    /// Open connections (registered or not), as of the event loop's last round.
    pub fn connections(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// Block until the relay stops on its own (it only does on an I/O error).
    pub fn wait(mut self) -> Result<(), RelayError> {
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(io::Error::other("relay thread panicked"))).map_err(RelayError::Io),
            None => Ok(()),
        }
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Bind and start the relay on its own thread.
pub fn spawn(mut config: RelayConfig) -> Result<RelayHandle, RelayError> {
    raise_descriptor_limit();
    if config.listen.is_none() && config.listen_tls.is_none() {
        return Err(RelayError::NowhereToListen);
    }
    let poll = Poll::new()?;
    let bind = |addr: SocketAddr, token: Token| -> Result<(TcpListener, SocketAddr), RelayError> {
        let mut listener = TcpListener::bind(addr).map_err(|source| RelayError::Bind { addr, source })?;
        poll.registry().register(&mut listener, token, Interest::READABLE)?;
        let bound = listener.local_addr()?;
        Ok((listener, bound))
    };
    let plain = config.listen.map(|addr| bind(addr, LISTENER)).transpose()?;
    let tls = match &config.listen_tls {
        Some((addr, tls)) => Some((bind(*addr, TLS_LISTENER)?, tls.clone())),
        None => None,
    };
    let (plain_addr, tls_addr) = (plain.as_ref().map(|(_, a)| *a), tls.as_ref().map(|((_, a), _)| *a));
    let listeners = Listeners { plain: plain.map(|(l, _)| l), tls: tls.map(|((l, _), config)| (l, config)) };
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let history = match &config.history {
        Some(history) => {
            let (replies, answers) = crossbeam_channel::unbounded();
            let store = HistoryStore::open(history, replies, waker.clone()).map_err(RelayError::History)?;
            log::info!("keeping history in {} for {} days", history.path.display(), history.retention.as_secs() / 86_400);
            Some((store, answers))
        }
        None => None,
    };
    config.irc.history = history.is_some();
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let connected = Arc::new(AtomicUsize::new(0));
    let counted = connected.clone();
    let thread = std::thread::Builder::new().name("relay".into()).spawn(move || {
        let result = EventLoop::new(poll, listeners, config, history).run(&thread_stop, &counted);
        if let Err(e) = &result {
            log::error!("relay stopped: {e}");
        }
        result
    })?;
    for (addr, kind) in [(plain_addr, "plain-text IRC"), (tls_addr, "IRC over TLS")] {
        if let Some(addr) = addr {
            log::info!("relay listening on {addr} ({kind})");
        }
    }
    Ok(RelayHandle { plain: plain_addr, tls: tls_addr, connected, stop, waker, thread: Some(thread) })
}

struct Listeners {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, Arc<TlsConfig>)>,
}

struct Connection {
    stream: TcpStream,
    /// The TLS session of a connection that came to the TLS port.
    tls: Option<Box<ServerConnection>>,
    reader: LineReader,
    queue: VecDeque<Arc<[u8]>>,
    /// Bytes of the queue's front already written.
    written: usize,
    queued_bytes: usize,
    wants_write: bool,
}

struct EventLoop {
    poll: Poll,
    listeners: Listeners,
    connections: IdMap<Connection>,
    server: Server,
    next_id: u64,
    max_send_queue: usize,
    read_buffer: Vec<u8>,
    /// Where queued lines are gathered into one write.
    write_buffer: Vec<u8>,
    /// Connections with bytes to write after this round of events.
    dirty: Vec<ConnId>,
    /// Connections whose readable data was not all read in the last round.
    unfinished_reads: Vec<ConnId>,
    /// Accepting paused (descriptors ran out) until then.
    accept_paused_until: Option<Instant>,
    /// The message store and its answers.
    history: Option<(HistoryStore, Receiver<Reply>)>,
}

impl EventLoop {
    fn new(poll: Poll, listeners: Listeners, config: RelayConfig, history: Option<(HistoryStore, Receiver<Reply>)>) -> EventLoop {
        let now = net::now();
        // Ids above every kept one (a clock set back must not repeat them). Message times come
        // from ids, so after a clock set back they stay at the last one until the clock is
        // past it again.
        let first_msgid = history.as_ref().map_or(0, |(store, _)| store.last_id()) + 1;
        let ahead = crate::proto::irc::history::msgid_time(first_msgid) - now.unix_millis();
        if ahead > 60_000 {
            log::warn!("history: the last kept message is {} s in the future; the clock was set back, and new messages carry its time until it is passed", ahead / 1000);
        }
        EventLoop {
            poll,
            listeners,
            connections: IdMap::default(),
            server: Server::new(config.irc, now, first_msgid),
            next_id: FIRST_CONN,
            max_send_queue: config.max_send_queue,
            read_buffer: vec![0; 64 * 1024],
            write_buffer: Vec::with_capacity(WRITE_BATCH),
            dirty: Vec::new(),
            unfinished_reads: Vec::new(),
            accept_paused_until: None,
            history,
        }
    }

    fn run(mut self, stop: &AtomicBool, connected: &AtomicUsize) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            connected.store(self.connections.len(), Ordering::Relaxed);
            let store_due = self.history.as_ref().and_then(|(store, _)| store.deadline());
            let wake_at = [self.accept_paused_until, store_due].into_iter().flatten().fold(next_tick, Instant::min);
            let timeout = if self.unfinished_reads.is_empty() {
                wake_at.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            for id in std::mem::take(&mut self.unfinished_reads) {
                self.read(id);
            }
            if self.accept_paused_until.is_some_and(|t| Instant::now() >= t) {
                self.accept_paused_until = None;
                self.accept(false)?;
                self.accept(true)?;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER | TLS_LISTENER if self.accept_paused_until.is_none() => self.accept(event.token() == TLS_LISTENER)?,
                    LISTENER | TLS_LISTENER => {}
                    WAKER => self.answer_history(),
                    Token(id) => {
                        let id = id as ConnId;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(id);
                        }
                        if event.is_writable() {
                            self.dirty.push(id);
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                let actions = self.server.tick(net::now());
                self.apply(actions);
                let deadline = self.server.next_deadline().unwrap_or(now + TICK);
                next_tick = deadline.clamp(now + Duration::from_millis(10), now + TICK);
            }
            if let Some((store, _)) = &mut self.history {
                if store.deadline().is_some_and(|due| now >= due) {
                    store.flush();
                }
            }
            self.flush_dirty();
        }
    }

    /// Takes the connections waiting at the plain-text or the TLS port.
    fn accept(&mut self, tls: bool) -> io::Result<()> {
        loop {
            let (accepted, tls_config) = match (tls, &self.listeners) {
                (false, Listeners { plain: Some(listener), .. }) => (listener.accept(), None),
                (true, Listeners { tls: Some((listener, config)), .. }) => (listener.accept(), Some(config.clone())),
                _ => return Ok(()),
            };
            match accepted {
                Ok((mut stream, peer)) => {
                    let session = match tls_config.as_ref().map(|config| ServerConnection::new(config.clone())).transpose() {
                        Ok(session) => session.map(Box::new),
                        Err(e) => {
                            log::warn!("cannot start TLS for {peer}: {e}");
                            continue;
                        }
                    };
                    let id = self.next_id;
                    self.next_id += 1;
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = self.poll.registry().register(&mut stream, Token(id as usize), Interest::READABLE) {
                        log::warn!("cannot watch connection from {peer}: {e}");
                        continue;
                    }
                    log::debug!("connection {id} from {peer}");
                    self.connections.insert(
                        id,
                        Connection {
                            stream,
                            tls: session,
                            reader: LineReader::new(MAX_LINE + MAX_TAGS),
                            queue: VecDeque::new(),
                            written: 0,
                            queued_bytes: 0,
                            wants_write: false,
                        },
                    );
                    let actions = self.server.connected(id, peer.ip(), net::now());
                    self.apply(actions);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if is_out_of_descriptors(&e) => {
                    // Those waiting stay in the backlog; everyone connected goes on being served.
                    log::warn!("accept: {e}; accepting again in {} ms ({} connections open)", ACCEPT_PAUSE.as_millis(), self.connections.len());
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return Ok(());
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted) => {
                    log::debug!("accept: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read(&mut self, id: ConnId) {
        let mut frames = Vec::new();
        let mut closed = None;
        {
            let Some(conn) = self.connections.get_mut(&id) else { return };
            let mut budget = READ_BUDGET;
            loop {
                if budget == 0 {
                    // Others get their turn; this connection is read again next round.
                    self.unfinished_reads.push(id);
                    break;
                }
                let read = match conn.tls.as_mut() {
                    Some(tls) => read_tls(&mut conn.stream, tls, &mut self.read_buffer),
                    None => conn.stream.read(&mut self.read_buffer).map(|n| (n, n)),
                };
                match read {
                    Ok((0, _)) => {
                        closed = Some(if conn.reader.mid_line() {
                            "Connection closed in the middle of a message"
                        } else {
                            "Connection closed"
                        });
                        break;
                    }
                    Ok((raw, n)) => {
                        budget = budget.saturating_sub(raw);
                        conn.reader.push_into(&self.read_buffer[..n], &mut frames)
                    }
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                        log::debug!("connection {id}: {e}");
                        closed = Some("TLS error");
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        closed = Some("Connection reset");
                        break;
                    }
                }
            }
        }
        // A TLS session may owe the client handshake or alert records.
        if let Some(conn) = self.connections.get_mut(&id) {
            // Or lines queued while the handshake went on, now that it is over.
            let owed = conn.tls.as_ref().is_some_and(|tls| tls.wants_write() || (!tls.is_handshaking() && !conn.queue.is_empty()));
            if owed && !conn.wants_write {
                conn.wants_write = true;
                self.dirty.push(id);
            }
        }
        let now = net::now();
        for frame in frames {
            if !self.connections.contains_key(&id) {
                return;
            }
            let actions = self.server.frame(id, frame, now);
            self.apply(actions);
        }
        if let Some(reason) = closed {
            if self.connections.contains_key(&id) {
                self.drop_connection(id);
                let actions = self.server.disconnected(id, reason, net::now());
                self.apply(actions);
            }
        }
    }

    /// Hands the store's answers to the protocol.
    fn answer_history(&mut self) {
        let replies: Vec<Reply> = match &self.history {
            Some((_, answers)) => answers.try_iter().collect(),
            None => return,
        };
        for reply in replies {
            let actions = self.server.history(reply);
            self.apply(actions);
        }
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Store(message) => {
                    if let Some((store, _)) = &mut self.history {
                        store.store(message);
                    }
                }
                Action::History(request) => {
                    if let Some((store, _)) = &mut self.history {
                        store.query(request);
                    }
                }
                Action::Send(id, bytes) => {
                    let Some(conn) = self.connections.get_mut(&id) else { continue };
                    conn.queued_bytes += bytes.len();
                    conn.queue.push_back(bytes);
                    // Before judging the client slow, let the kernel take what it will.
                    if conn.queued_bytes > self.max_send_queue && write_queue(conn, &mut self.write_buffer).is_err() {
                        conn.queued_bytes = usize::MAX;
                    }
                    if conn.queued_bytes > self.max_send_queue {
                        log::info!("connection {id}: send queue full, cutting it off");
                        self.drop_connection(id);
                        let actions = self.server.disconnected(id, "SendQ exceeded", net::now());
                        self.apply(actions);
                    } else if !conn.wants_write {
                        conn.wants_write = true;
                        self.dirty.push(id);
                    }
                }
                Action::Close(id) => {
                    if let Some(mut conn) = self.connections.remove(&id) {
                        let _ = write_queue(&mut conn, &mut self.write_buffer);
                        let _ = self.poll.registry().deregister(&mut conn.stream);
                        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                    }
                }
            }
        }
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for id in dirty {
            let Some(conn) = self.connections.get_mut(&id) else { continue };
            match write_queue(conn, &mut self.write_buffer) {
                Ok(true) => {
                    conn.wants_write = false;
                    let _ = self.poll.registry().reregister(&mut conn.stream, Token(id as usize), Interest::READABLE);
                }
                Ok(false) => {
                    let _ = self.poll.registry().reregister(
                        &mut conn.stream,
                        Token(id as usize),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                }
                Err(_) => {
                    self.drop_connection(id);
                    let actions = self.server.disconnected(id, "Write error", net::now());
                    self.apply(actions);
                }
            }
        }
    }

    fn drop_connection(&mut self, id: ConnId) {
        if let Some(mut conn) = self.connections.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }
}

/// Reads what came on a TLS connection: `(raw, plain)`, the bytes taken from the socket (0 at
/// its end) and the plain text left at the start of `buffer`. A TLS error is `InvalidData`.
fn read_tls(stream: &mut TcpStream, tls: &mut ServerConnection, buffer: &mut [u8]) -> io::Result<(usize, usize)> {
    // Plain text already decrypted goes first (a record can hold more than the buffer).
    match tls.reader().read(buffer) {
        Ok(0) => return Ok((0, 0)),
        Ok(n) => return Ok((n, n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    let raw = tls.read_tls(stream)?;
    let state = tls.process_new_packets().map_err(|e| {
        // Tell the client why, as far as the socket takes it.
        let _ = tls.write_tls(stream);
        io::Error::new(io::ErrorKind::InvalidData, e)
    })?;
    if raw == 0 {
        return Ok((0, 0));
    }
    let plain = match tls.reader().read(buffer) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    // A TLS goodbye is the end of the connection.
    if state.peer_has_closed() && plain == 0 {
        return Ok((0, 0));
    }
    Ok((raw.max(1), plain))
}

/// Bytes of queued lines gathered into one write: a few large writes cost the kernel far less
/// than many small pieces (in one writev or not).
const WRITE_BATCH: usize = 64 * 1024;

/// Write as much of the queue as the socket takes. True when nothing is left to write for now.
fn write_queue(conn: &mut Connection, scratch: &mut Vec<u8>) -> io::Result<bool> {
    if conn.tls.is_some() {
        return write_queue_tls(conn);
    }
    while let Some(front) = conn.queue.front() {
        let result = if conn.queue.len() == 1 {
            conn.stream.write(&front[conn.written..])
        } else {
            scratch.clear();
            scratch.extend_from_slice(&front[conn.written..]);
            for chunk in conn.queue.iter().skip(1) {
                if scratch.len() + chunk.len() > WRITE_BATCH {
                    break;
                }
                scratch.extend_from_slice(chunk);
            }
            conn.stream.write(scratch)
        };
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut n) => {
                conn.queued_bytes -= n;
                while n > 0 {
                    let front_left = conn.queue[0].len() - conn.written;
                    if n >= front_left {
                        n -= front_left;
                        conn.queue.pop_front();
                        conn.written = 0;
                    } else {
                        conn.written += n;
                        n = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Plaintext handed to rustls at once: one TLS record of the largest size. Lines queued for a
/// client go out together, a record and a write for many lines rather than for each.
const TLS_BATCH: usize = 16 * 1024;

/// As `write_queue` through TLS: the records rustls holds go first, then up to [`TLS_BATCH`]
/// bytes of queued lines at a time (at least one line), so that rustls never holds more than
/// that beyond what the send-queue limit counts. While the handshake is under way the queue
/// waits; the client's next records wake us.
fn write_queue_tls(conn: &mut Connection) -> io::Result<bool> {
    let tls = conn.tls.as_mut().expect("a TLS connection");
    loop {
        while tls.wants_write() {
            match tls.write_tls(&mut conn.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if tls.is_handshaking() {
            return Ok(true);
        }
        if conn.queue.is_empty() {
            return Ok(true);
        }
        let mut batch = Vec::with_capacity(TLS_BATCH);
        while let Some(chunk) = conn.queue.front() {
            let part = &chunk[conn.written..];
            if !batch.is_empty() && batch.len() + part.len() > TLS_BATCH {
                break;
            }
            batch.extend_from_slice(part);
            conn.queued_bytes -= part.len();
            conn.written = 0;
            conn.queue.pop_front();
        }
        tls.writer().write_all(&batch)?;
    }
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Descriptors a relay asks for: a client each, and room to spare.
const WANTED_DESCRIPTORS: libc::rlim_t = 65_536;

/// A relay holds a descriptor per client: lift the soft limit (often 1024) towards the hard one.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let target = WANTED_DESCRIPTORS.min(limit.rlim_max);
        if limit.rlim_cur >= target {
            return;
        }
        let wanted = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            log::debug!("descriptor limit raised from {} to {target}", limit.rlim_cur);
        }
    }
}
