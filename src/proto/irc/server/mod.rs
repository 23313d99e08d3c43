//! The relay server's state machine: registered users, channels and what each line a
//! connection sends means. The event loop in `crate::server` feeds it connections, lines and
//! clock ticks; every call returns the [`Action`]s to carry out, so none can be forgotten.
//! It owns no socket, no thread and no clock.
//!
//! This file holds the state and the way a line reaches its command; the commands live by
//! family: [`registration`], [`messaging`], [`channels`], [`modes`], [`queries`] and
//! [`chathistory`].

mod channels;
mod chathistory;
mod messaging;
mod modes;
mod queries;
mod registration;

use super::channel::{self, mask_matches, normalize_mask, valid_key, Ban, Channel, MAX_BANS, MODES_PER_COMMAND};
use super::framing::Frame;
use super::history::{self, parse_reference, Query, Reference, Stored};
use super::message::{Message, ParseError, MAX_LINE};
use super::names::{fold, valid_channel, valid_nick, CHANNEL_LEN, NICK_LEN};
use super::{format_server_time, CAPABILITIES};
use crate::proto::{IdMap, Now};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type ConnId = u64;

/// Channels one client may be in at once (ISUPPORT `CHANLIMIT`).
pub const MAX_CHANNELS_PER_CLIENT: usize = 50;
/// Distinct channels one NAMES may ask about (ISUPPORT `TARGMAX`).
pub const MAX_NAMES_TARGETS: usize = 4;
/// Bytes of a realname kept (WHO shows it).
const REALNAME_LEN: usize = 100;
/// Bytes of an away message, a kick reason (ISUPPORT `AWAYLEN`, `KICKLEN`).
const AWAYLEN: usize = 300;
const KICKLEN: usize = 300;
/// Channels one client may hold invitations to; the oldest lapses first.
const MAX_INVITES: usize = 64;
/// Nicknames WHOWAS remembers, and entries one WHOWAS gives at most.
const WHOWAS_KEPT: usize = 512;
const WHOWAS_REPLIES: usize = 10;
/// Under flood control, each this many bytes of reply to a client's own command cost it one
/// more line: a command that makes the server say a lot (NAMES of a big room) is paid for.
const REPLY_BYTES_PER_TOKEN: usize = 1024;

/// What the event loop must do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue these bytes (one or more whole lines) for the connection.
    Send(ConnId, Arc<[u8]>),
    /// Flush what is queued, then close. The server has already forgotten the connection.
    Close(ConnId),
    /// Keep this relayed message (only where the server keeps history).
    Store(Stored),
    /// Look this up in the kept messages and hand the answer to [`Server::history`].
    History(history::Request),
}

/// Per-connection flood control: a token bucket. Lines beyond it wait; too many waiting lines
/// close the connection ("Excess Flood").
#[derive(Debug, Clone)]
pub struct FloodLimit {
    pub burst: u32,
    pub lines_per_second: f64,
    pub max_waiting: usize,
}

impl Default for FloodLimit {
    fn default() -> Self {
        FloodLimit { burst: 20, lines_per_second: 4.0, max_waiting: 200 }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub name: String,
    pub network: String,
    pub motd: Vec<String>,
    pub password: Option<String>,
    /// Idle time after which the server sends PING.
    pub ping_interval: Duration,
    /// Time allowed for the PONG, and for registration after connecting.
    pub ping_timeout: Duration,
    pub flood: Option<FloodLimit>,
    pub max_connections_per_ip: Option<usize>,
    /// Whether messages are kept and `draft/chathistory` offered: the event loop then carries
    /// out `Action::Store` and `Action::History`.
    pub history: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "lanmeet.local".into(),
            network: "lanmeet".into(),
            motd: vec!["Welcome to lanmeet. The room is #lobby.".into()],
            password: None,
            ping_interval: Duration::from_secs(90),
            ping_timeout: Duration::from_secs(60),
            flood: Some(FloodLimit::default()),
            max_connections_per_ip: Some(32),
            history: false,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    away_notify: bool,
    batch: bool,
    chathistory: bool,
    echo_message: bool,
    invite_notify: bool,
    message_tags: bool,
    multi_prefix: bool,
    server_time: bool,
}

impl Caps {
    fn set(&mut self, name: &str, on: bool) -> bool {
        match name {
            "away-notify" => self.away_notify = on,
            "batch" => self.batch = on,
            "draft/chathistory" => self.chathistory = on,
            "echo-message" => self.echo_message = on,
            "invite-notify" => self.invite_notify = on,
            "message-tags" => self.message_tags = on,
            "multi-prefix" => self.multi_prefix = on,
            "server-time" => self.server_time = on,
            _ => return false,
        }
        true
    }

    fn names(&self) -> String {
        let names: Vec<&str> = CAPABILITIES.iter().copied().filter(|name| self.has(name)).collect();
        names.join(" ")
    }

    fn has(&self, name: &str) -> bool {
        match name {
            "away-notify" => self.away_notify,
            "batch" => self.batch,
            "draft/chathistory" => self.chathistory,
            "echo-message" => self.echo_message,
            "invite-notify" => self.invite_notify,
            "message-tags" => self.message_tags,
            "multi-prefix" => self.multi_prefix,
            "server-time" => self.server_time,
            _ => false,
        }
    }

    /// Index into the per-variant cache of a broadcast line.
    fn variant(&self) -> usize {
        usize::from(self.server_time) | (usize::from(self.message_tags) << 1)
    }
}

#[derive(Debug)]
struct Client {
    ip: IpAddr,
    nick: Option<String>,
    user: Option<String>,
    realname: String,
    password: Option<String>,
    registered: bool,
    negotiating_caps: bool,
    caps: Caps,
    /// Folded names of the channels joined, in join order.
    channels: Vec<String>,
    connected_at: Instant,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    tokens: f64,
    refilled_at: Instant,
    waiting: VecDeque<Vec<u8>>,
    away: Option<String>,
    signon_unix: i64,
    /// When it last said something (WHOIS shows the idle time).
    last_spoke: Instant,
    /// Invitations, the oldest first: the channel (folded), when that channel was made (an
    /// invitation lapses with it), and whether an operator sent it (then it also lets past the
    /// key, the limit and bans; any invitation lets past invite-only).
    invites: VecDeque<(String, u64, bool)>,
}

impl Client {
    fn nick(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    fn prefix(&self) -> String {
        format!("{}!{}@{}", self.nick(), self.user.as_deref().unwrap_or("~u"), self.ip)
    }
}

/// Who had a nickname: what WHOWAS answers.
#[derive(Debug)]
struct WhoWas {
    key: String,
    nick: String,
    user: String,
    host: String,
    realname: String,
    gone_unix: i64,
}

#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    clients: IdMap<Client>,
    nicks: HashMap<String, ConnId>,
    channels: HashMap<String, Channel>,
    per_ip: HashMap<IpAddr, usize>,
    whowas: VecDeque<WhoWas>,
    next_msgid: u64,
    next_batch: u64,
    next_instance: u64,
    created: String,
}

/// One line to many recipients: built once per combination of capabilities, shared by all.
struct Broadcast {
    message: Message,
    unix_ms: i64,
    msgid: u64,
    variants: [Option<Arc<[u8]>>; 4],
}

impl Broadcast {
    /// The line as a recipient with these capabilities gets it. Tags are written only for
    /// recipients that asked for them, and each variant only once.
    fn line_for(&mut self, caps: Caps) -> Arc<[u8]> {
        let variant = caps.variant();
        if let Some(line) = &self.variants[variant] {
            return line.clone();
        }
        let mut message = self.message.clone();
        if !caps.message_tags {
            message.tags.clear();
        } else {
            message.tags.retain(|(k, _)| k.starts_with('+'));
            message.tags.insert(0, ("msgid".into(), Some(history::msgid(self.msgid))));
        }
        if caps.server_time {
            message.tags.insert(0, ("time".into(), Some(format_server_time(self.unix_ms))));
        }
        let line: Arc<[u8]> = message.to_wire().into();
        self.variants[variant] = Some(line.clone());
        line
    }
}

impl Server {
    /// Message ids count up from `first_msgid` (see [`history::next_msgid`]): the caller picks
    /// one above every id it has kept.
    pub fn new(config: ServerConfig, now: Now, first_msgid: u64) -> Server {
        let created = chrono::DateTime::from_timestamp_millis(now.unix_millis())
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        Server {
            config,
            clients: IdMap::default(),
            nicks: HashMap::new(),
            channels: HashMap::new(),
            per_ip: HashMap::new(),
            whowas: VecDeque::new(),
            next_msgid: first_msgid.saturating_sub(1),
            next_batch: 0,
            next_instance: 0,
            created,
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// A new connection arrived.
    pub fn connected(&mut self, conn: ConnId, ip: IpAddr, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        let count = self.per_ip.entry(ip).or_insert(0);
        if let Some(limit) = self.config.max_connections_per_ip {
            if *count >= limit {
                let line = Message::new("ERROR", &["Closing Link: too many connections from your address"]);
                out.push(Action::Send(conn, line.to_wire().into()));
                out.push(Action::Close(conn));
                return out;
            }
        }
        *count += 1;
        let tokens = self.config.flood.as_ref().map(|f| f64::from(f.burst)).unwrap_or(0.0);
        self.clients.insert(
            conn,
            Client {
                ip,
                nick: None,
                user: None,
                realname: String::new(),
                password: None,
                registered: false,
                negotiating_caps: false,
                caps: Caps::default(),
                channels: Vec::new(),
                connected_at: now.mono,
                last_heard: now.mono,
                ping_sent: None,
                tokens,
                refilled_at: now.mono,
                waiting: VecDeque::new(),
                away: None,
                signon_unix: now.unix_millis() / 1000,
                last_spoke: now.mono,
                invites: VecDeque::new(),
            },
        );
        out
    }

    /// The connection went away on its own (EOF, reset, or its send queue overflowed).
    pub fn disconnected(&mut self, conn: ConnId, reason: &str, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        self.remove_client(conn, reason, now, &mut out);
        out
    }

    /// One frame from the connection's stream.
    pub fn frame(&mut self, conn: ConnId, frame: Frame, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(client) = self.clients.get_mut(&conn) else { return out };
        client.last_heard = now.mono;
        client.ping_sent = None;
        let line = match frame {
            Frame::TooLong => {
                self.numeric(conn, "417", &["Input line was too long"], &mut out);
                return out;
            }
            Frame::Line(line) => line,
        };
        if let Some(flood) = &self.config.flood {
            refill(client, flood, now.mono);
            if client.tokens < 1.0 || !client.waiting.is_empty() {
                if client.waiting.len() >= flood.max_waiting {
                    self.kill(conn, "Excess Flood", now, &mut out);
                } else {
                    client.waiting.push_back(line);
                }
                return out;
            }
            client.tokens -= 1.0;
        }
        self.paid_line(conn, &line, now, &mut out);
        out
    }

    /// Handle a line and, under flood control, charge the client for a long reply.
    fn paid_line(&mut self, conn: ConnId, line: &[u8], now: Now, out: &mut Vec<Action>) {
        let start = out.len();
        self.line(conn, line, now, out);
        if self.config.flood.is_none() {
            return;
        }
        let replied: usize = out[start..]
            .iter()
            .map(|action| match action {
                Action::Send(to, bytes) if *to == conn => bytes.len(),
                _ => 0,
            })
            .sum();
        if let Some(client) = self.clients.get_mut(&conn) {
            client.tokens -= (replied / REPLY_BYTES_PER_TOKEN) as f64;
        }
    }

    /// Time passed: ping idle connections, drop dead ones, run lines held back by flood control.
    pub fn tick(&mut self, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        let mut ping = Vec::new();
        let mut dead = Vec::new();
        let mut ready = Vec::new();
        for (&conn, client) in &mut self.clients {
            if !client.registered && now.mono >= client.connected_at + self.config.ping_timeout {
                dead.push((conn, "Registration timeout"));
            } else if let Some(sent) = client.ping_sent {
                if now.mono >= sent + self.config.ping_timeout {
                    dead.push((conn, "Ping timeout"));
                }
            } else if now.mono >= client.last_heard + self.config.ping_interval {
                client.ping_sent = Some(now.mono);
                ping.push(conn);
            }
            if let Some(flood) = &self.config.flood {
                if !client.waiting.is_empty() {
                    refill(client, flood, now.mono);
                    ready.push(conn);
                }
            }
        }
        let ping_line: Arc<[u8]> = Message::new("PING", &[&self.config.name]).to_wire().into();
        for conn in ping {
            out.push(Action::Send(conn, ping_line.clone()));
        }
        for (conn, reason) in dead {
            self.kill(conn, reason, now, &mut out);
        }
        for conn in ready {
            loop {
                let Some(client) = self.clients.get_mut(&conn) else { break };
                if client.tokens < 1.0 {
                    break;
                }
                let Some(line) = client.waiting.pop_front() else { break };
                client.tokens -= 1.0;
                self.paid_line(conn, &line, now, &mut out);
            }
        }
        out
    }

    /// When `tick` next has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let flood_step = self
            .config
            .flood
            .as_ref()
            .map(|f| Duration::from_secs_f64(1.0 / f.lines_per_second.max(0.001)));
        self.clients
            .values()
            .map(|c| {
                let timeout = if !c.registered {
                    c.connected_at + self.config.ping_timeout
                } else if let Some(sent) = c.ping_sent {
                    sent + self.config.ping_timeout
                } else {
                    c.last_heard + self.config.ping_interval
                };
                match flood_step {
                    Some(step) if !c.waiting.is_empty() => timeout.min(c.refilled_at + step),
                    _ => timeout,
                }
            })
            .min()
    }

    fn line(&mut self, conn: ConnId, bytes: &[u8], now: Now, out: &mut Vec<Action>) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.send(conn, self.server_msg("FAIL", &["*", "INVALID_UTF8", "Message rejected: it is not valid UTF-8"]), out);
            return;
        };
        let untagged = if text.starts_with('@') { text.split_once(' ').map_or("", |(_, r)| r) } else { text };
        if untagged.len() + 2 > MAX_LINE {
            self.numeric(conn, "417", &["Input line was too long"], out);
            return;
        }
        let message = match Message::parse(text) {
            Ok(m) => m,
            Err(ParseError::Empty) => return,
            Err(e) => {
                let reason = format!("Message could not be parsed: {e}");
                self.send(conn, self.server_msg("FAIL", &["*", "INVALID_MESSAGE", &reason]), out);
                return;
            }
        };
        let registered = self.clients.get(&conn).is_some_and(|c| c.registered);
        let command = message.command.as_str();
        match command {
            "CAP" => self.cap(conn, &message, now, out),
            "PASS" => self.pass(conn, &message, out),
            "NICK" => self.nick(conn, &message, now, out),
            "USER" => self.user(conn, &message, now, out),
            "PING" => {
                let token = message.param(0).unwrap_or("");
                let pong = self.server_msg("PONG", &[&self.config.name, token]);
                self.send(conn, pong, out);
            }
            "PONG" => {}
            "QUIT" => {
                let reason = message.param(0).unwrap_or("Client Quit").to_string();
                let quit = format!("Quit: {reason}");
                self.kill(conn, &quit, now, out);
            }
            _ if !registered => {
                if KNOWN.contains(&command) {
                    self.numeric(conn, "451", &["You have not registered"], out);
                } else {
                    self.numeric(conn, "421", &[command, "Unknown command"], out);
                }
            }
            "JOIN" => self.join(conn, &message, now, out),
            "PART" => self.part(conn, &message, now, out),
            "PRIVMSG" | "NOTICE" => self.privmsg(conn, &message, now, out),
            "NAMES" => self.names(conn, &message, out),
            "TOPIC" => self.topic(conn, &message, now, out),
            "WHO" => self.who(conn, &message, out),
            "MODE" => self.mode(conn, &message, now, out),
            "KICK" => self.kick(conn, &message, now, out),
            "INVITE" => self.invite(conn, &message, now, out),
            "LIST" => self.list(conn, &message, out),
            "WHOIS" => self.whois(conn, &message, now, out),
            "WHOWAS" => self.whowas(conn, &message, out),
            "AWAY" => self.away(conn, &message, now, out),
            "INFO" => self.info(conn, out),
            "CHATHISTORY" => self.chathistory(conn, &message, out),
            "MOTD" => self.motd(conn, out),
            "LUSERS" => self.lusers(conn, out),
            "ISON" => self.ison(conn, &message, out),
            "USERHOST" => self.userhost(conn, &message, out),
            _ => self.numeric(conn, "421", &[command, "Unknown command"], out),
        }
    }

    /// Registered clients that share a channel with `conn`, each once, `conn` excluded.
    fn neighbours(&self, conn: ConnId) -> Vec<ConnId> {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        if let Some(client) = self.clients.get(&conn) {
            for key in &client.channels {
                for &member in &self.channels[key].members {
                    if member != conn && seen.insert(member) {
                        found.push(member);
                    }
                }
            }
        }
        found
    }

    /// Close a connection on the server's initiative.
    fn kill(&mut self, conn: ConnId, reason: &str, now: Now, out: &mut Vec<Action>) {
        if !self.clients.contains_key(&conn) {
            return;
        }
        let error = Message::new("ERROR", &[&format!("Closing Link: {reason}")]);
        self.send(conn, error, out);
        self.remove_client(conn, reason, now, out);
        out.push(Action::Close(conn));
    }

    fn remove_client(&mut self, conn: ConnId, reason: &str, now: Now, out: &mut Vec<Action>) {
        let Some(client) = self.clients.get(&conn) else { return };
        if client.registered {
            let quit = Message::new("QUIT", &[reason]).with_source(client.prefix());
            let neighbours = self.neighbours(conn);
            self.broadcast(&neighbours, quit, now, out);
        }
        let client = self.clients.remove(&conn).expect("checked above");
        if client.registered {
            if let Some(nick) = &client.nick {
                self.remember(nick, client.user.clone().unwrap_or_default(), client.ip.to_string(), client.realname.clone(), now);
            }
        }
        for key in &client.channels {
            self.drop_membership(conn, key);
        }
        if let Some(nick) = &client.nick {
            if self.nicks.get(&fold(nick)) == Some(&conn) {
                self.nicks.remove(&fold(nick));
            }
        }
        if let Some(count) = self.per_ip.get_mut(&client.ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&client.ip);
            }
        }
    }

    fn broadcast(&mut self, recipients: &[ConnId], message: Message, now: Now, out: &mut Vec<Action>) {
        self.next_msgid = history::next_msgid(self.next_msgid, now.unix_millis());
        let unix_ms = history::msgid_time(self.next_msgid);
        let mut broadcast = Broadcast { message, unix_ms, msgid: self.next_msgid, variants: Default::default() };
        out.reserve(recipients.len());
        for &to in recipients {
            if let Some(client) = self.clients.get(&to) {
                out.push(Action::Send(to, broadcast.line_for(client.caps)));
            }
        }
    }

    /// `words` joined by spaces into as few lines as fit a numeric reply whose other
    /// parameters are `beside`.
    fn pack_words(&self, words: &[String], beside: &[&str]) -> Vec<String> {
        let fixed = self.config.name.len() + NICK_LEN + beside.iter().map(|p| p.len() + 1).sum::<usize>() + 16;
        let budget = MAX_LINE.saturating_sub(fixed);
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in words {
            if !line.is_empty() && line.len() + 1 + word.len() > budget {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    fn server_msg(&self, command: &str, params: &[&str]) -> Message {
        Message::new(command, params).with_source(self.config.name.clone())
    }

    /// A numeric reply, cut to fit one line: parameters that echo what a client sent (an
    /// unknown command, a refused name) can be long.
    fn numeric(&self, conn: ConnId, code: &str, params: &[&str], out: &mut Vec<Action>) {
        let nick = self.clients.get(&conn).map_or("*", |c| c.nick());
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(nick);
        all.extend_from_slice(params);
        let mut message = self.server_msg(code, &all);
        fit_line(&mut message);
        self.send(conn, message, out);
    }

    fn send(&self, conn: ConnId, message: Message, out: &mut Vec<Action>) {
        out.push(Action::Send(conn, message.to_wire().into()));
    }
}

/// Commands a registered client may send; before registration they get 451, others 421.
const KNOWN: &[&str] = &[
    "JOIN", "PART", "PRIVMSG", "NOTICE", "NAMES", "TOPIC", "WHO", "MODE", "MOTD", "LUSERS", "ISON", "USERHOST", "KICK",
    "INVITE", "LIST", "WHOIS", "WHOWAS", "AWAY", "INFO", "CHATHISTORY",
];

/// Shorten the longest parameters until the line fits in [`MAX_LINE`] bytes with its CR LF.
fn fit_line(message: &mut Message) {
    loop {
        let over = (message.to_line().len() + 2).saturating_sub(MAX_LINE);
        if over == 0 {
            return;
        }
        let Some(longest) = message.params.iter_mut().max_by_key(|p| p.len()) else { return };
        if longest.is_empty() {
            return;
        }
        let keep = floor_char_boundary(longest, longest.len().saturating_sub(over));
        longest.truncate(keep);
    }
}

/// The largest char boundary of `text` at or below `max`.
fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

fn refill(client: &mut Client, flood: &FloodLimit, now: Instant) {
    let elapsed = now.saturating_duration_since(client.refilled_at).as_secs_f64();
    client.tokens = (client.tokens + elapsed * flood.lines_per_second).min(f64::from(flood.burst));
    client.refilled_at = now;
}

