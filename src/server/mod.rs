//! The relay daemon: one mio event loop around [`crate::proto::irc::server::Server`]. The loop
//! owns the sockets, reads bytes into line framers, hands whole lines to the protocol state and
//! writes what it answers. It holds no protocol knowledge of its own.
//!
//! Each connection has a bounded send queue: a client that stops reading is cut off when its
//! queue is full, so nobody else waits for it.

use crate::proto::irc::framing::LineReader;
use crate::proto::irc::message::{MAX_LINE, MAX_TAGS};
use crate::proto::irc::server::{Action, ConnId, Server, ServerConfig};
use crate::net;
use crate::proto::IdMap;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: u64 = 2;
/// Bytes read from one connection before the others get their turn.
const READ_BUDGET: usize = 64 * 1024;
/// Longest time between two protocol ticks.
const TICK: Duration = Duration::from_millis(500);
/// Out of file descriptors: wait this long before accepting again. The listener is
/// edge-triggered, so the loop must come back to it on its own.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: SocketAddr,
    pub irc: ServerConfig,
    /// Bytes a connection may have waiting to be written before it is cut off.
    pub max_send_queue: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 6667)),
            irc: ServerConfig::default(),
            max_send_queue: 4 << 20,
        }
    }
}

#[derive(Debug, Error)]
pub enum RelayError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("event loop failed: {0}")]
    Io(#[from] io::Error),
}

/// A running relay. Dropping it stops the relay and waits for its thread.
pub struct RelayHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RelayHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
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
pub fn spawn(config: RelayConfig) -> Result<RelayHandle, RelayError> {
    raise_descriptor_limit();
    let mut listener = TcpListener::bind(config.listen).map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr()?;
    let poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new().name("relay".into()).spawn(move || {
        let result = EventLoop::new(poll, listener, config).run(&thread_stop);
        if let Err(e) = &result {
            log::error!("relay stopped: {e}");
        }
        result
    })?;
    log::info!("relay listening on {addr}");
    Ok(RelayHandle { addr, stop, waker, thread: Some(thread) })
}

struct Connection {
    stream: TcpStream,
    reader: LineReader,
    queue: VecDeque<Arc<[u8]>>,
    /// Bytes of the queue's front already written.
    written: usize,
    queued_bytes: usize,
    wants_write: bool,
}

struct EventLoop {
    poll: Poll,
    listener: TcpListener,
    connections: IdMap<Connection>,
    server: Server,
    next_id: u64,
    max_send_queue: usize,
    read_buffer: Vec<u8>,
    /// Connections with bytes to write after this round of events.
    dirty: Vec<ConnId>,
    /// Connections whose readable data was not all read in the last round.
    unfinished_reads: Vec<ConnId>,
    /// Accepting paused (descriptors ran out) until then.
    accept_paused_until: Option<Instant>,
}

impl EventLoop {
    fn new(poll: Poll, listener: TcpListener, config: RelayConfig) -> EventLoop {
        let now = net::now();
        let seed = now.unix_millis() as u64;
        EventLoop {
            poll,
            listener,
            connections: IdMap::default(),
            server: Server::new(config.irc, now, seed),
            next_id: FIRST_CONN,
            max_send_queue: config.max_send_queue,
            read_buffer: vec![0; 64 * 1024],
            dirty: Vec::new(),
            unfinished_reads: Vec::new(),
            accept_paused_until: None,
        }
    }

    fn run(mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wake_at = self.accept_paused_until.map_or(next_tick, |t| t.min(next_tick));
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
                self.accept()?;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER if self.accept_paused_until.is_none() => self.accept()?,
                    LISTENER => {}
                    WAKER => {}
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
            self.flush_dirty();
        }
    }

    fn accept(&mut self) -> io::Result<()> {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
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
                match conn.stream.read(&mut self.read_buffer) {
                    Ok(0) => {
                        closed = Some(if conn.reader.mid_line() {
                            "Connection closed in the middle of a message"
                        } else {
                            "Connection closed"
                        });
                        break;
                    }
                    Ok(n) => {
                        budget = budget.saturating_sub(n);
                        conn.reader.push_into(&self.read_buffer[..n], &mut frames)
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

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(id, bytes) => {
                    let Some(conn) = self.connections.get_mut(&id) else { continue };
                    conn.queued_bytes += bytes.len();
                    conn.queue.push_back(bytes);
                    // Before judging the client slow, let the kernel take what it will.
                    if conn.queued_bytes > self.max_send_queue && write_queue(conn).is_err() {
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
                        let _ = write_queue(&mut conn);
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
            match write_queue(conn) {
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

/// Write as much of the queue as the socket takes. True when the queue is empty.
fn write_queue(conn: &mut Connection) -> io::Result<bool> {
    while !conn.queue.is_empty() {
        let mut slices = Vec::with_capacity(conn.queue.len().min(64));
        for (i, chunk) in conn.queue.iter().take(64).enumerate() {
            slices.push(IoSlice::new(if i == 0 { &chunk[conn.written..] } else { chunk }));
        }
        match conn.stream.write_vectored(&slices) {
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
