//! The relay server's state machine: registered users, channels and what each line a
//! connection sends means. The event loop in `crate::server` feeds it connections, lines and
//! clock ticks; every call returns the [`Action`]s to carry out, so none can be forgotten.
//! It owns no socket, no thread and no clock.

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
    msgid_prefix: String,
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
    fn line_for(&mut self, caps: Caps, msgid_prefix: &str) -> Arc<[u8]> {
        let variant = caps.variant();
        if let Some(line) = &self.variants[variant] {
            return line.clone();
        }
        let mut message = self.message.clone();
        if !caps.message_tags {
            message.tags.clear();
        } else {
            message.tags.retain(|(k, _)| k.starts_with('+'));
            message.tags.insert(0, ("msgid".into(), Some(format!("{msgid_prefix}-{}", self.msgid))));
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
    /// `seed` makes message ids unique across restarts (the caller passes the start time).
    pub fn new(config: ServerConfig, now: Now, seed: u64) -> Server {
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
            next_msgid: 0,
            next_batch: 0,
            next_instance: 0,
            msgid_prefix: format!("{seed:x}"),
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
            "ISON" => {
                let online: Vec<&str> = message
                    .params
                    .iter()
                    .flat_map(|p| p.split(' '))
                    .filter(|n| self.nicks.contains_key(&fold(n)))
                    .collect();
                self.numeric(conn, "303", &[&online.join(" ")], out);
            }
            "USERHOST" => {
                let replies: Vec<String> = message
                    .params
                    .iter()
                    .filter_map(|n| self.nicks.get(&fold(n)).and_then(|id| self.clients.get(id)))
                    .map(|c| format!("{}={}{}@{}", c.nick(), if c.away.is_some() { '-' } else { '+' }, c.user.as_deref().unwrap_or("~u"), c.ip))
                    .collect();
                self.numeric(conn, "302", &[&replies.join(" ")], out);
            }
            _ => self.numeric(conn, "421", &[command, "Unknown command"], out),
        }
    }

    fn cap(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(sub) = message.param(0).map(str::to_ascii_uppercase) else {
            self.numeric(conn, "461", &["CAP", "Not enough parameters"], out);
            return;
        };
        let nick = self.clients[&conn].nick().to_string();
        match sub.as_str() {
            "LS" | "LIST" => {
                let list = if sub == "LS" { self.offered_caps().join(" ") } else { self.clients[&conn].caps.names() };
                let client = self.clients.get_mut(&conn).expect("caller checked");
                if sub == "LS" && !client.registered {
                    client.negotiating_caps = true;
                }
                self.send(conn, self.server_msg("CAP", &[&nick, &sub, &list]), out);
            }
            "REQ" => {
                let request = message.param(1).unwrap_or("");
                // The answer echoes the request: one too long for a line is refused whole.
                let fits = self.server_msg("CAP", &[&nick, "ACK", request]).to_line().len() + 2 <= MAX_LINE;
                let client = self.clients.get_mut(&conn).expect("caller checked");
                if !client.registered {
                    client.negotiating_caps = true;
                }
                let mut caps = client.caps;
                let history = self.config.history;
                let all_known = request.split(' ').filter(|c| !c.is_empty()).all(|c| match c.strip_prefix('-') {
                    Some(name) => caps.set(name, false),
                    None => (history || c != "draft/chathistory") && caps.set(c, true),
                });
                let verdict = if all_known && fits {
                    client.caps = caps;
                    "ACK"
                } else {
                    "NAK"
                };
                let mut reply = self.server_msg("CAP", &[&nick, verdict, request]);
                fit_line(&mut reply);
                self.send(conn, reply, out);
            }
            "END" => {
                if let Some(client) = self.clients.get_mut(&conn) {
                    client.negotiating_caps = false;
                }
                self.try_register(conn, now, out);
            }
            _ => self.numeric(conn, "410", &[&sub, "Invalid CAP command"], out),
        }
    }

    fn pass(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let client = self.clients.get_mut(&conn).expect("caller checked");
        if client.registered {
            self.numeric(conn, "462", &["You may not reregister"], out);
        } else if let Some(password) = message.param(0) {
            client.password = Some(password.to_string());
        } else {
            self.numeric(conn, "461", &["PASS", "Not enough parameters"], out);
        }
    }

    fn nick(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(wanted) = message.param(0).filter(|n| !n.is_empty()) else {
            self.numeric(conn, "431", &["No nickname given"], out);
            return;
        };
        if !valid_nick(wanted) {
            self.numeric(conn, "432", &[wanted, "Erroneous nickname"], out);
            return;
        }
        let key = fold(wanted);
        if let Some(&holder) = self.nicks.get(&key) {
            if holder != conn {
                self.numeric(conn, "433", &[wanted, "Nickname is already in use"], out);
                return;
            }
        }
        let client = self.clients.get_mut(&conn).expect("caller checked");
        let old = client.nick.replace(wanted.to_string());
        if let Some(old) = &old {
            self.nicks.remove(&fold(old));
        }
        self.nicks.insert(key, conn);
        if client.registered && old.as_deref().is_some_and(|o| fold(o) != fold(wanted)) {
            let (user, host, realname) = (client.user.clone().unwrap_or_default(), client.ip.to_string(), client.realname.clone());
            self.remember(old.as_deref().unwrap_or_default(), user, host, realname, now);
        }
        let client = self.clients.get_mut(&conn).expect("caller checked");
        if client.registered {
            let old = old.unwrap_or_default();
            let source = format!("{}!{}@{}", old, client.user.as_deref().unwrap_or("~u"), client.ip);
            let change = Message::new("NICK", &[wanted]).with_source(source);
            let mut recipients = self.neighbours(conn);
            recipients.push(conn);
            self.broadcast(&recipients, change, now, out);
        } else {
            self.try_register(conn, now, out);
        }
    }

    fn user(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let client = self.clients.get_mut(&conn).expect("caller checked");
        if client.registered {
            self.numeric(conn, "462", &["You may not reregister"], out);
            return;
        }
        if message.params.len() < 4 || message.params[0].is_empty() {
            self.numeric(conn, "461", &["USER", "Not enough parameters"], out);
            return;
        }
        let user: String = message.params[0].chars().filter(|c| !"@!*?".contains(*c)).take(10).collect();
        client.user = Some(format!("~{user}"));
        client.realname = message.params[3][..floor_char_boundary(&message.params[3], REALNAME_LEN)].to_string();
        self.try_register(conn, now, out);
    }

    fn try_register(&mut self, conn: ConnId, now: Now, out: &mut Vec<Action>) {
        let Some(client) = self.clients.get_mut(&conn) else { return };
        if client.registered || client.negotiating_caps || client.nick.is_none() || client.user.is_none() {
            return;
        }
        if let Some(password) = &self.config.password {
            if client.password.as_ref() != Some(password) {
                self.numeric(conn, "464", &["Password incorrect"], out);
                self.kill(conn, "Bad password", now, out);
                return;
            }
        }
        client.registered = true;
        let prefix = client.prefix();
        let name = self.config.name.clone();
        let welcome = format!("Welcome to the {} network, {}", self.config.network, prefix);
        self.numeric(conn, "001", &[&welcome], out);
        self.numeric(conn, "002", &[&format!("Your host is {name}, running lanmeet-{}", env!("CARGO_PKG_VERSION"))], out);
        self.numeric(conn, "003", &[&format!("This server was created {}", self.created)], out);
        self.numeric(conn, "004", &[&name, concat!("lanmeet-", env!("CARGO_PKG_VERSION")), "i", "biklmnostv", "bklov"], out);
        let isupport = [
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".into(),
            "CHANMODES=b,k,l,imnst".into(),
            "PREFIX=(ov)@+".into(),
            format!("MODES={MODES_PER_COMMAND}"),
            format!("MAXLIST=b:{MAX_BANS}"),
            format!("KEYLEN={}", channel::KEY_LEN),
            format!("NICKLEN={NICK_LEN}"),
            format!("CHANNELLEN={CHANNEL_LEN}"),
            "TOPICLEN=390".into(),
            format!("AWAYLEN={AWAYLEN}"),
            format!("KICKLEN={KICKLEN}"),
            format!("NETWORK={}", self.config.network),
            format!("TARGMAX=PRIVMSG:4,NOTICE:4,NAMES:{MAX_NAMES_TARGETS},KICK:4,JOIN:,PART:"),
            format!("CHANLIMIT=#:{MAX_CHANNELS_PER_CLIENT}"),
            "ELIST=MNU".into(),
            "UTF8ONLY".into(),
        ];
        let history = [format!("CHATHISTORY={}", history::MAX_LIMIT), "MSGREFTYPES=timestamp,msgid".into()];
        let isupport: Vec<String> = isupport.into_iter().chain(history.into_iter().filter(|_| self.config.history)).collect();
        // At most 13 tokens in one 005 line.
        for chunk in isupport.chunks(12) {
            let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
            params.push("are supported by this server");
            self.numeric(conn, "005", &params, out);
        }
        self.lusers(conn, out);
        self.motd(conn, out);
    }

    fn join(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(list) = message.param(0) else {
            self.numeric(conn, "461", &["JOIN", "Not enough parameters"], out);
            return;
        };
        if list == "0" {
            let joined = self.clients[&conn].channels.clone();
            for key in joined {
                let name = self.channels[&key].name.clone();
                self.leave_channel(conn, &key, Message::new("PART", &[&name]), now, out);
            }
            return;
        }
        let mut keys = message.param(1).unwrap_or("").split(',');
        for name in list.split(',').filter(|n| !n.is_empty()) {
            let given_key = keys.next().filter(|k| !k.is_empty());
            if !valid_channel(name) {
                self.numeric(conn, "476", &[name, "Bad Channel Mask"], out);
                continue;
            }
            let key = fold(name);
            let client = self.clients.get_mut(&conn).expect("caller checked");
            if client.channels.contains(&key) {
                continue;
            }
            if client.channels.len() >= MAX_CHANNELS_PER_CLIENT {
                self.numeric(conn, "405", &[name, "You have joined too many channels"], out);
                break;
            }
            let prefix = client.prefix();
            let invitation = self.channels.get(&key).and_then(|c| client.invites.iter().find(|(k, made, _)| *k == key && *made == c.instance));
            let (invited, by_operator) = (invitation.is_some(), invitation.is_some_and(|i| i.2));
            if let Some(channel) = self.channels.get(&key).filter(|_| !by_operator) {
                let refusal = if channel.banned(&prefix) {
                    Some(("474", "Cannot join channel (+b: you are banned)"))
                } else if channel.flags.invite_only && !invited {
                    Some(("473", "Cannot join channel (+i: by invitation only)"))
                } else if channel.key.is_some() && channel.key.as_deref() != given_key {
                    Some(("475", "Cannot join channel (+k: wrong or missing key)"))
                } else if channel.limit.is_some_and(|limit| channel.members.len() >= limit) {
                    Some(("471", "Cannot join channel (+l: the channel is full)"))
                } else {
                    None
                };
                if let Some((code, text)) = refusal {
                    let shown = channel.name.clone();
                    self.numeric(conn, code, &[&shown, text], out);
                    continue;
                }
            }
            let client = self.clients.get_mut(&conn).expect("caller checked");
            client.invites.retain(|(k, _, _)| k != &key);
            client.channels.push(key.clone());
            let away = client.away.clone();
            let instance = self.next_instance + 1;
            let channel = self.channels.entry(key.clone()).or_insert_with(|| Channel::new(name, conn, now.unix_millis() / 1000, instance));
            if channel.instance == instance {
                self.next_instance = instance;
            }
            let channel = self.channels.get_mut(&key).expect("just made");
            channel.members.push(conn);
            let name = channel.name.clone();
            let members = channel.members.clone();
            self.broadcast(&members, Message::new("JOIN", &[&name]).with_source(prefix.clone()), now, out);
            if let Some(away) = away {
                let notified: Vec<ConnId> = members.iter().copied().filter(|&m| m != conn && self.clients[&m].caps.away_notify).collect();
                self.broadcast(&notified, Message::new("AWAY", &[&away]).with_source(prefix), now, out);
            }
            self.send_topic(conn, &key, false, out);
            self.send_names(conn, &key, out);
        }
    }

    fn part(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(list) = message.param(0) else {
            self.numeric(conn, "461", &["PART", "Not enough parameters"], out);
            return;
        };
        let reason = message.param(1);
        for name in list.split(',').filter(|n| !n.is_empty()) {
            let key = fold(name);
            let Some(channel) = self.channels.get(&key) else {
                self.numeric(conn, "403", &[name, "No such channel"], out);
                continue;
            };
            if !channel.members.contains(&conn) {
                self.numeric(conn, "442", &[name, "You're not on that channel"], out);
                continue;
            }
            let name = channel.name.clone();
            let part = match reason {
                Some(r) => Message::new("PART", &[&name, r]),
                None => Message::new("PART", &[&name]),
            };
            self.leave_channel(conn, &key, part, now, out);
        }
    }

    /// Tell the channel (the leaver included) and drop the member; an empty channel goes.
    fn leave_channel(&mut self, conn: ConnId, key: &str, message: Message, now: Now, out: &mut Vec<Action>) {
        let prefix = self.clients[&conn].prefix();
        let members = self.channels[key].members.clone();
        self.broadcast(&members, message.with_source(prefix), now, out);
        self.drop_membership(conn, key);
    }

    fn drop_membership(&mut self, conn: ConnId, key: &str) {
        if let Some(channel) = self.channels.get_mut(key) {
            channel.members.retain(|&m| m != conn);
            channel.operators.retain(|&m| m != conn);
            channel.voiced.retain(|&m| m != conn);
            if channel.members.is_empty() {
                self.channels.remove(key);
            }
        }
        if let Some(client) = self.clients.get_mut(&conn) {
            client.channels.retain(|c| c != key);
        }
    }

    fn privmsg(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let notice = message.command == "NOTICE";
        let Some(targets) = message.param(0).filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric(conn, "411", &[&format!("No recipient given ({})", message.command)], out);
            }
            return;
        };
        let Some(text) = message.param(1).filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric(conn, "412", &["No text to send"], out);
            }
            return;
        };
        let client = self.clients.get_mut(&conn).expect("caller checked");
        client.last_spoke = now.mono;
        let echo = client.caps.echo_message;
        let prefix = client.prefix();
        for target in targets.split(',').filter(|t| !t.is_empty()).take(4) {
            let key = fold(target);
            let mut recipients: Vec<ConnId> = if target.starts_with('#') {
                match self.channels.get(&key) {
                    Some(channel) => {
                        if let Some(why) = channel.refuses_speech(conn, &prefix) {
                            if !notice {
                                self.numeric(conn, "404", &[target, why], out);
                            }
                            continue;
                        }
                        channel.members.iter().copied().filter(|&m| m != conn).collect()
                    }
                    None => {
                        if !notice {
                            self.numeric(conn, "403", &[target, "No such channel"], out);
                        }
                        continue;
                    }
                }
            } else {
                match self.nicks.get(&key) {
                    Some(&to) => {
                        if let Some(away) = self.clients[&to].away.clone().filter(|_| !notice) {
                            let nick = self.clients[&to].nick().to_string();
                            self.numeric(conn, "301", &[&nick, &away], out);
                        }
                        vec![to]
                    }
                    None => {
                        if !notice {
                            self.numeric(conn, "401", &[target, "No such nick/channel"], out);
                        }
                        continue;
                    }
                }
            };
            if echo && !recipients.contains(&conn) {
                recipients.push(conn);
            }
            let mut relayed = Message::new(message.command.clone(), &[target, text]).with_source(prefix.clone());
            relayed.tags = message.tags.iter().filter(|(k, _)| k.starts_with('+')).cloned().collect();
            // Only rooms keep history: private talk is keyed by nicknames, which change hands.
            let line = (self.config.history && target.starts_with('#')).then(|| relayed.to_line());
            self.broadcast(&recipients, relayed, now, out);
            if let Some(line) = line {
                let conversation = key;
                let msgid = format!("{}-{}", self.msgid_prefix, self.next_msgid);
                out.push(Action::Store(Stored { target: conversation, msgid, unix_ms: now.unix_millis(), line }));
            }
        }
    }

    fn names(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        match message.param(0) {
            Some(list) => {
                let mut asked = Vec::new();
                for name in list.split(',').filter(|n| !n.is_empty()) {
                    let key = fold(name);
                    if asked.contains(&key) {
                        continue;
                    }
                    if asked.len() == MAX_NAMES_TARGETS {
                        self.numeric(conn, "407", &[name, "Too many targets"], out);
                        break;
                    }
                    asked.push(key.clone());
                    if self.channels.get(&key).is_some_and(|c| !c.flags.secret || c.members.contains(&conn)) {
                        self.send_names(conn, &key, out);
                    } else {
                        self.numeric(conn, "366", &[name, "End of /NAMES list"], out);
                    }
                }
            }
            None => self.numeric(conn, "366", &["*", "End of /NAMES list"], out),
        }
    }

    fn send_names(&mut self, conn: ConnId, key: &str, out: &mut Vec<Action>) {
        let channel = &self.channels[key];
        let all = self.clients[&conn].caps.multi_prefix;
        let mut entries = Vec::with_capacity(channel.members.len());
        for member in &channel.members {
            entries.push(format!("{}{}", channel.prefixes(*member, all), self.clients[member].nick()));
        }
        let symbol = if channel.flags.secret { "@" } else { "=" };
        let name = channel.name.clone();
        let budget = MAX_LINE - 2 - self.config.name.len() - NICK_LEN - name.len() - 16;
        let mut line = String::new();
        for entry in entries {
            if !line.is_empty() && line.len() + 1 + entry.len() > budget {
                self.numeric(conn, "353", &[symbol, &name, &line], out);
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&entry);
        }
        if !line.is_empty() {
            self.numeric(conn, "353", &[symbol, &name, &line], out);
        }
        self.numeric(conn, "366", &[&name, "End of /NAMES list"], out);
    }

    fn topic(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(name) = message.param(0) else {
            self.numeric(conn, "461", &["TOPIC", "Not enough parameters"], out);
            return;
        };
        let key = fold(name);
        let Some(channel) = self.channels.get_mut(&key) else {
            self.numeric(conn, "403", &[name, "No such channel"], out);
            return;
        };
        if !channel.members.contains(&conn) {
            self.numeric(conn, "442", &[name, "You're not on that channel"], out);
            return;
        }
        match message.param(1) {
            None => self.send_topic(conn, &key, true, out),
            Some(_) if channel.flags.topic_lock && !channel.is_op(conn) => {
                let name = channel.name.clone();
                self.numeric(conn, "482", &[&name, "You're not channel operator (+t: only operators set the topic)"], out);
            }
            Some(text) => {
                let text: String = text.chars().scan(0, |n, c| { *n += c.len_utf8(); (*n <= 390).then_some(c) }).collect();
                let setter = self.clients[&conn].nick().to_string();
                let prefix = self.clients[&conn].prefix();
                channel.topic = if text.is_empty() { None } else { Some((text.clone(), setter, now.unix_millis() / 1000)) };
                let name = channel.name.clone();
                let members = channel.members.clone();
                self.broadcast(&members, Message::new("TOPIC", &[&name, &text]).with_source(prefix), now, out);
            }
        }
    }

    fn send_topic(&mut self, conn: ConnId, key: &str, say_when_unset: bool, out: &mut Vec<Action>) {
        let channel = &self.channels[key];
        let name = channel.name.clone();
        match channel.topic.clone() {
            Some((text, setter, when)) => {
                self.numeric(conn, "332", &[&name, &text], out);
                self.numeric(conn, "333", &[&name, &setter, &when.to_string()], out);
            }
            None if say_when_unset => self.numeric(conn, "331", &[&name, "No topic is set"], out),
            None => {}
        }
    }

    fn who(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let mask = message.param(0).unwrap_or("*").to_string();
        let key = fold(&mask);
        let mut rows = Vec::new();
        let all = self.clients[&conn].caps.multi_prefix;
        if let Some(channel) = self.channels.get(&key) {
            if !channel.flags.secret || channel.members.contains(&conn) {
                for member in &channel.members {
                    rows.push((channel.name.clone(), *member, channel.prefixes(*member, all)));
                }
            }
        } else if let Some(&id) = self.nicks.get(&key) {
            rows.push(("*".to_string(), id, ""));
        }
        for (channel, id, op) in rows {
            let c = &self.clients[&id];
            let here = if c.away.is_some() { 'G' } else { 'H' };
            let params = [
                channel.as_str(),
                c.user.as_deref().unwrap_or("~u"),
                &c.ip.to_string(),
                &self.config.name,
                c.nick(),
                &format!("{here}{op}"),
                &format!("0 {}", c.realname),
            ]
            .map(str::to_string);
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, "352", &refs, out);
        }
        self.numeric(conn, "315", &[&mask, "End of /WHO list"], out);
    }

    fn mode(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(target) = message.param(0) else {
            self.numeric(conn, "461", &["MODE", "Not enough parameters"], out);
            return;
        };
        let key = fold(target);
        if !target.starts_with('#') {
            if self.nicks.get(&key) == Some(&conn) {
                self.numeric(conn, "221", &["+i"], out);
            } else {
                self.numeric(conn, "502", &["Can't change mode for other users"], out);
            }
            return;
        }
        let Some(channel) = self.channels.get(&key) else {
            self.numeric(conn, "403", &[target, "No such channel"], out);
            return;
        };
        let name = channel.name.clone();
        if channel.flags.secret && !channel.members.contains(&conn) {
            self.numeric(conn, "403", &[target, "No such channel"], out);
            return;
        }
        let Some(changes) = message.param(1) else {
            let mut params = vec![name.clone()];
            params.extend(channel.mode_string(channel.members.contains(&conn)));
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, "324", &refs, out);
            self.numeric(conn, "329", &[&name, &channel.created_unix.to_string()], out);
            return;
        };
        let is_op = channel.is_op(conn);
        let setter = self.clients[&conn].nick().to_string();
        let mut args = message.params.iter().skip(2).map(String::as_str);
        let mut adding = true;
        let mut with_parameter = 0;
        let mut listed_bans = false;
        let mut refused = false;
        // What changed, as the MODE line to the channel will say it.
        let mut applied: Vec<(bool, char, Option<String>)> = Vec::new();
        let mut replies: Vec<(&str, Vec<String>)> = Vec::new();
        for letter in changes.chars() {
            let channel = self.channels.get_mut(&key).expect("looked up above");
            match letter {
                '+' => adding = true,
                '-' => adding = false,
                'b' | 'o' | 'v' | 'k' | 'l' if with_parameter == MODES_PER_COMMAND => break,
                'b' => {
                    let Some(mask) = args.next() else {
                        if !listed_bans {
                            listed_bans = true;
                            for ban in &channel.bans {
                                replies.push(("367", vec![name.clone(), ban.mask.clone(), ban.setter.clone(), ban.set_unix.to_string()]));
                            }
                            replies.push(("368", vec![name.clone(), "End of channel ban list".into()]));
                        }
                        continue;
                    };
                    with_parameter += 1;
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    let Some(mask) = normalize_mask(mask) else {
                        replies.push(("696", vec![name.clone(), "b".into(), mask.into(), "Invalid ban mask".into()]));
                        continue;
                    };
                    let present = channel.bans.iter().position(|b| b.mask == mask);
                    match (adding, present) {
                        (true, None) if channel.bans.len() >= MAX_BANS => {
                            replies.push(("478", vec![name.clone(), "b".into(), "Channel ban list is full".into()]));
                        }
                        (true, None) => {
                            channel.bans.push(Ban { mask: mask.clone(), setter: setter.clone(), set_unix: now.unix_millis() / 1000 });
                            applied.push((true, 'b', Some(mask)));
                        }
                        (false, Some(at)) => {
                            channel.bans.remove(at);
                            applied.push((false, 'b', Some(mask)));
                        }
                        _ => {}
                    }
                }
                'o' | 'v' => {
                    let Some(nick) = args.next() else { continue };
                    with_parameter += 1;
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    let Some(&member) = self.nicks.get(&fold(nick)) else {
                        replies.push(("401", vec![nick.into(), "No such nick/channel".into()]));
                        continue;
                    };
                    if !channel.members.contains(&member) {
                        replies.push(("441", vec![nick.into(), name.clone(), "They aren't on that channel".into()]));
                        continue;
                    }
                    let list = if letter == 'o' { &mut channel.operators } else { &mut channel.voiced };
                    let has = list.contains(&member);
                    if adding && !has {
                        list.push(member);
                    } else if !adding && has {
                        list.retain(|&m| m != member);
                    } else {
                        continue;
                    }
                    applied.push((adding, letter, Some(self.clients[&member].nick().to_string())));
                }
                'k' => {
                    let given = args.next();
                    if adding && given.is_none() {
                        continue;
                    }
                    with_parameter += 1;
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    if adding {
                        let given = given.expect("checked above");
                        if !valid_key(given) {
                            replies.push(("525", vec![name.clone(), "Key is not well-formed".into()]));
                            continue;
                        }
                        channel.key = Some(given.to_string());
                        applied.push((true, 'k', Some(given.to_string())));
                    } else if channel.key.take().is_some() {
                        applied.push((false, 'k', Some("*".into())));
                    }
                }
                'l' => {
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    if adding {
                        let Some(given) = args.next() else { continue };
                        with_parameter += 1;
                        match given.parse::<usize>() {
                            Ok(limit) if (1..=channel::MAX_LIMIT).contains(&limit) => {
                                channel.limit = Some(limit);
                                applied.push((true, 'l', Some(limit.to_string())));
                            }
                            _ => replies.push(("696", vec![name.clone(), "l".into(), given.into(), "The limit must be a number from 1 to 100000".into()])),
                        }
                    } else if channel.limit.take().is_some() {
                        applied.push((false, 'l', None));
                    }
                }
                letter => match channel.flags.get_mut(letter) {
                    Some(_) if !is_op => refused = true,
                    Some(flag) => {
                        if *flag != adding {
                            *flag = adding;
                            applied.push((adding, letter, None));
                        }
                    }
                    None => replies.push(("472", vec![letter.to_string(), "is unknown mode char to me".into()])),
                },
            }
        }
        if refused {
            replies.push(("482", vec![name.clone(), "You're not channel operator".into()]));
        }
        for (code, params) in replies {
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, code, &refs, out);
        }
        if applied.is_empty() {
            return;
        }
        let mut letters = String::new();
        let mut sign = None;
        let mut params = vec![name];
        let mut values = Vec::new();
        for (adding, letter, value) in applied {
            if sign != Some(adding) {
                letters.push(if adding { '+' } else { '-' });
                sign = Some(adding);
            }
            letters.push(letter);
            values.extend(value);
        }
        params.push(letters);
        params.extend(values);
        let refs: Vec<&str> = params.iter().map(String::as_str).collect();
        let prefix = self.clients[&conn].prefix();
        let members = self.channels[&key].members.clone();
        self.broadcast(&members, Message::new("MODE", &refs).with_source(prefix), now, out);
    }

    fn kick(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let (Some(name), Some(nicks)) = (message.param(0), message.param(1)) else {
            self.numeric(conn, "461", &["KICK", "Not enough parameters"], out);
            return;
        };
        let key = fold(name);
        let Some(channel) = self.channels.get(&key) else {
            self.numeric(conn, "403", &[name, "No such channel"], out);
            return;
        };
        let name = channel.name.clone();
        if !channel.members.contains(&conn) {
            self.numeric(conn, "442", &[&name, "You're not on that channel"], out);
            return;
        }
        if !channel.is_op(conn) {
            self.numeric(conn, "482", &[&name, "You're not channel operator"], out);
            return;
        }
        let kicker = self.clients[&conn].nick().to_string();
        let reason = message.param(2).filter(|r| !r.is_empty()).unwrap_or(&kicker);
        let reason = reason[..floor_char_boundary(reason, KICKLEN)].to_string();
        for nick in nicks.split(',').filter(|n| !n.is_empty()).take(4) {
            let target = self.nicks.get(&fold(nick)).copied().filter(|t| self.channels.get(&key).is_some_and(|c| c.members.contains(t)));
            let Some(target) = target else {
                self.numeric(conn, "441", &[nick, &name, "They aren't on that channel"], out);
                continue;
            };
            let shown = self.clients[&target].nick().to_string();
            let prefix = self.clients[&conn].prefix();
            let members = self.channels[&key].members.clone();
            self.broadcast(&members, Message::new("KICK", &[&name, &shown, &reason]).with_source(prefix), now, out);
            self.drop_membership(target, &key);
        }
    }

    fn invite(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let (Some(nick), Some(name)) = (message.param(0), message.param(1)) else {
            if message.params.is_empty() {
                // The channels we are invited to.
                let invites: Vec<String> = self.clients[&conn]
                    .invites
                    .iter()
                    .filter_map(|(k, made, _)| self.channels.get(k).filter(|c| c.instance == *made))
                    .map(|c| c.name.clone())
                    .collect();
                for name in invites {
                    self.numeric(conn, "336", &[&name], out);
                }
                self.numeric(conn, "337", &["End of /INVITE list"], out);
            } else {
                self.numeric(conn, "461", &["INVITE", "Not enough parameters"], out);
            }
            return;
        };
        let Some(&target) = self.nicks.get(&fold(nick)) else {
            self.numeric(conn, "401", &[nick, "No such nick/channel"], out);
            return;
        };
        let key = fold(name);
        // An invitation is to a room that exists, from one of its members, for someone else.
        let Some(channel) = self.channels.get(&key) else {
            self.numeric(conn, "403", &[name, "No such channel"], out);
            return;
        };
        let name = channel.name.clone();
        let made = channel.instance;
        let by_operator = channel.is_op(conn);
        let notify: Vec<ConnId>;
        {
            if !channel.members.contains(&conn) {
                self.numeric(conn, "442", &[&name, "You're not on that channel"], out);
                return;
            }
            if channel.flags.invite_only && !channel.is_op(conn) {
                self.numeric(conn, "482", &[&name, "You're not channel operator"], out);
                return;
            }
            if channel.members.contains(&target) {
                let shown = self.clients[&target].nick().to_string();
                self.numeric(conn, "443", &[&shown, &name, "is already on channel"], out);
                return;
            }
            notify = channel.members.iter().copied().filter(|&m| m != conn && self.clients[&m].caps.invite_notify).collect();
        }
        let mut notify = notify;
        let invited = self.clients.get_mut(&target).expect("nicks index clients");
        invited.invites.retain(|(k, _, _)| k != &key);
        invited.invites.push_back((key, made, by_operator));
        if invited.invites.len() > MAX_INVITES {
            invited.invites.pop_front();
        }
        let shown = invited.nick().to_string();
        let away = invited.away.clone();
        self.numeric(conn, "341", &[&shown, &name], out);
        if let Some(away) = away {
            self.numeric(conn, "301", &[&shown, &away], out);
        }
        let line = Message::new("INVITE", &[&shown, &name]).with_source(self.clients[&conn].prefix());
        notify.push(target);
        self.broadcast(&notify, line, now, out);
    }

    fn list(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        // Targets are channel names, masks (`*` and `?`), `!mask` to leave out, and `>N`, `<N`
        // on the number of members (ELIST=MNU).
        let (mut names, mut masks, mut not_masks) = (Vec::new(), Vec::new(), Vec::new());
        let (mut more_than, mut fewer_than) = (None, None);
        for target in message.param(0).unwrap_or("").split(',').filter(|t| !t.is_empty()).take(16) {
            if let Some(n) = target.strip_prefix('>') {
                more_than = n.parse::<usize>().ok();
            } else if let Some(n) = target.strip_prefix('<') {
                fewer_than = n.parse::<usize>().ok();
            } else if let Some(mask) = target.strip_prefix('!') {
                not_masks.push(fold(mask));
            } else if target.contains(['*', '?']) {
                masks.push(fold(target));
            } else {
                names.push(fold(target));
            }
        }
        let mut rows: Vec<(String, usize, String)> = self
            .channels
            .iter()
            .filter(|(key, c)| {
                (!c.flags.secret || c.members.contains(&conn))
                    && (names.is_empty() || names.contains(key))
                    && (masks.is_empty() || masks.iter().any(|m| mask_matches(m, key)))
                    && !not_masks.iter().any(|m| mask_matches(m, key))
                    && more_than.is_none_or(|n| c.members.len() > n)
                    && fewer_than.is_none_or(|n| c.members.len() < n)
            })
            .map(|(_, c)| (c.name.clone(), c.members.len(), c.topic.as_ref().map(|t| t.0.clone()).unwrap_or_default()))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.numeric(conn, "321", &["Channel", "Users  Name"], out);
        for (name, count, topic) in rows {
            self.numeric(conn, "322", &[&name, &count.to_string(), &topic], out);
        }
        self.numeric(conn, "323", &["End of /LIST"], out);
    }

    fn whois(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        // WHOIS [server] nick: the nick is the last parameter.
        let Some(nick) = message.params.last().and_then(|p| p.split(',').next()).filter(|n| !n.is_empty()) else {
            self.numeric(conn, "431", &["No nickname given"], out);
            return;
        };
        let nick = nick.to_string();
        let Some(&id) = self.nicks.get(&fold(&nick)) else {
            self.numeric(conn, "401", &[&nick, "No such nick/channel"], out);
            self.numeric(conn, "318", &[&nick, "End of /WHOIS list"], out);
            return;
        };
        let c = &self.clients[&id];
        let shown = c.nick().to_string();
        let (user, host, realname) = (c.user.clone().unwrap_or_default(), c.ip.to_string(), c.realname.clone());
        let away = c.away.clone();
        let idle = now.mono.saturating_duration_since(c.last_spoke).as_secs().to_string();
        let signon = c.signon_unix.to_string();
        let channels: Vec<String> = c
            .channels
            .iter()
            .filter_map(|k| self.channels.get(k))
            .filter(|ch| !ch.flags.secret || ch.members.contains(&conn))
            .map(|ch| format!("{}{}", ch.prefixes(id, false), ch.name))
            .collect();
        self.numeric(conn, "311", &[&shown, &user, &host, "*", &realname], out);
        // As many channels to a line as fit.
        for chunk in channels.chunks(10) {
            self.numeric(conn, "319", &[&shown, &chunk.join(" ")], out);
        }
        let server = self.config.name.clone();
        self.numeric(conn, "312", &[&shown, &server, "lanmeet relay"], out);
        if let Some(away) = away {
            self.numeric(conn, "301", &[&shown, &away], out);
        }
        self.numeric(conn, "317", &[&shown, &idle, &signon, "seconds idle, signon time"], out);
        self.numeric(conn, "318", &[&shown, "End of /WHOIS list"], out);
    }

    fn whowas(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let Some(nick) = message.param(0).filter(|n| !n.is_empty()) else {
            self.numeric(conn, "431", &["No nickname given"], out);
            return;
        };
        let wanted = message.param(1).and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(WHOWAS_REPLIES).min(WHOWAS_REPLIES);
        let key = fold(nick);
        let rows: Vec<(String, String, String, String, i64)> = self
            .whowas
            .iter()
            .rev()
            .filter(|w| w.key == key)
            .take(wanted)
            .map(|w| (w.nick.clone(), w.user.clone(), w.host.clone(), w.realname.clone(), w.gone_unix))
            .collect();
        if rows.is_empty() {
            self.numeric(conn, "406", &[nick, "There was no such nickname"], out);
        }
        let server = self.config.name.clone();
        for (shown, user, host, realname, gone) in rows {
            self.numeric(conn, "314", &[&shown, &user, &host, "*", &realname], out);
            let when = chrono::DateTime::from_timestamp(gone, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
            self.numeric(conn, "312", &[&shown, &server, &when], out);
        }
        self.numeric(conn, "369", &[nick, "End of WHOWAS"], out);
    }

    fn away(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let text = message.param(0).filter(|t| !t.is_empty()).map(|t| t[..floor_char_boundary(t, AWAYLEN)].to_string());
        let client = self.clients.get_mut(&conn).expect("caller checked");
        let changed = client.away != text;
        client.away = text.clone();
        let prefix = client.prefix();
        match &text {
            Some(_) => self.numeric(conn, "306", &["You have been marked as being away"], out),
            None => self.numeric(conn, "305", &["You are no longer marked as being away"], out),
        }
        if changed {
            let line = match &text {
                Some(text) => Message::new("AWAY", &[text]),
                None => Message::new("AWAY", &[]),
            };
            let notified: Vec<ConnId> = self.neighbours(conn).into_iter().filter(|m| self.clients[m].caps.away_notify).collect();
            self.broadcast(&notified, line.with_source(prefix), now, out);
        }
    }

    fn info(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        for line in [
            concat!("lanmeet ", env!("CARGO_PKG_VERSION"), ": a chat relay for the local network"),
            "IRC (RFC 1459, RFC 2812) with IRCv3 capabilities, over TLS or plain TCP",
        ] {
            self.numeric(conn, "371", &[line], out);
        }
        self.numeric(conn, "374", &["End of /INFO list"], out);
    }

    /// Keep who had `nick` for WHOWAS.
    fn remember(&mut self, nick: &str, user: String, host: String, realname: String, now: Now) {
        self.whowas.push_back(WhoWas { key: fold(nick), nick: nick.to_string(), user, host, realname, gone_unix: now.unix_millis() / 1000 });
        if self.whowas.len() > WHOWAS_KEPT {
            self.whowas.pop_front();
        }
    }

    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <ref> <limit>` and `BETWEEN <target>
    /// <ref> <ref> <limit>`: a channel's history, for its members, to a client that negotiated
    /// `batch` and `draft/chathistory`.
    fn chathistory(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let fail = |server: &Server, code: &str, context: &[&str], text: &str, out: &mut Vec<Action>| {
            let mut params = vec!["CHATHISTORY", code];
            params.extend_from_slice(context);
            params.push(text);
            let mut reply = server.server_msg("FAIL", &params);
            fit_line(&mut reply);
            server.send(conn, reply, out);
        };
        if !self.config.history {
            self.numeric(conn, "421", &["CHATHISTORY", "Unknown command"], out);
            return;
        }
        let sub = message.param(0).unwrap_or("").to_ascii_uppercase();
        let (Some(target), Some(first)) = (message.param(1), message.param(2)) else {
            fail(self, "INVALID_PARAMS", &[&sub], "Not enough parameters", out);
            return;
        };
        let reference = |text: &str| parse_reference(text);
        let (query, limit) = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" => {
                let (Some(r), Some(limit)) = (reference(first), message.param(3).and_then(|l| l.parse::<usize>().ok())) else {
                    fail(self, "INVALID_PARAMS", &[&sub], "Expected a reference (*, timestamp= or msgid=) and a limit", out);
                    return;
                };
                if r == Reference::Unbounded && sub != "LATEST" {
                    fail(self, "INVALID_PARAMS", &[&sub], "Only LATEST takes *", out);
                    return;
                }
                let query = match sub.as_str() {
                    "LATEST" => Query::Latest(r),
                    "BEFORE" => Query::Before(r),
                    "AFTER" => Query::After(r),
                    _ => Query::Around(r),
                };
                (query, limit)
            }
            "BETWEEN" => {
                let parsed = (reference(first), message.param(3).and_then(reference), message.param(4).and_then(|l| l.parse::<usize>().ok()));
                let (Some(a), Some(b), Some(limit)) = parsed else {
                    fail(self, "INVALID_PARAMS", &[&sub], "Expected two references and a limit", out);
                    return;
                };
                if a == Reference::Unbounded || b == Reference::Unbounded {
                    fail(self, "INVALID_PARAMS", &[&sub], "BETWEEN takes no *", out);
                    return;
                }
                (Query::Between(a, b), limit)
            }
            _ => {
                fail(self, "UNKNOWN_COMMAND", &[&sub], "Unknown subcommand", out);
                return;
            }
        };
        let caps = self.clients[&conn].caps;
        if !(caps.batch && caps.chathistory) {
            fail(self, "INVALID_PARAMS", &[&sub], "Ask for the batch and draft/chathistory capabilities first", out);
            return;
        }
        let conversation = fold(target);
        if !target.starts_with('#') || !self.channels.get(&conversation).is_some_and(|c| c.members.contains(&conn)) {
            fail(self, "INVALID_TARGET", &[&sub, target], "Only the history of a channel you are in is kept", out);
            return;
        }
        let limit = limit.clamp(1, history::MAX_LIMIT);
        out.push(Action::History(history::Request { conn, target: conversation, shown: target.to_string(), query, limit }));
    }

    /// The store's answer to a `CHATHISTORY` request: the messages as a `chathistory` batch
    /// (for a client with `batch`), each with its time and msgid where the client asked for
    /// them.
    pub fn history(&mut self, reply: history::Reply) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(client) = self.clients.get(&reply.conn) else { return out };
        let caps = client.caps;
        self.next_batch += 1;
        let batch = format!("h{}", self.next_batch);
        if caps.batch {
            self.send(reply.conn, self.server_msg("BATCH", &[&format!("+{batch}"), "chathistory", &reply.shown]), &mut out);
        }
        for stored in reply.messages {
            let Ok(mut message) = Message::parse(&stored.line) else { continue };
            if !caps.message_tags {
                message.tags.clear();
            } else {
                message.tags.insert(0, ("msgid".into(), Some(stored.msgid)));
            }
            if caps.server_time {
                message.tags.insert(0, ("time".into(), Some(format_server_time(stored.unix_ms))));
            }
            if caps.batch {
                message.tags.insert(0, ("batch".into(), Some(batch.clone())));
            }
            self.send(reply.conn, message, &mut out);
        }
        if caps.batch {
            self.send(reply.conn, self.server_msg("BATCH", &[&format!("-{batch}")]), &mut out);
        }
        // Under flood control the answer is paid for as other long replies are.
        if self.config.flood.is_some() {
            let bytes: usize = out.iter().map(|a| if let Action::Send(_, b) = a { b.len() } else { 0 }).sum();
            if let Some(client) = self.clients.get_mut(&reply.conn) {
                client.tokens -= (bytes / REPLY_BYTES_PER_TOKEN) as f64;
            }
        }
        out
    }

    /// The capabilities offered in `CAP LS`.
    fn offered_caps(&self) -> Vec<&'static str> {
        CAPABILITIES.iter().copied().filter(|c| self.config.history || *c != "draft/chathistory").collect()
    }

    fn motd(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        if self.config.motd.is_empty() {
            self.numeric(conn, "422", &["MOTD File is missing"], out);
            return;
        }
        self.numeric(conn, "375", &[&format!("- {} Message of the day - ", self.config.name)], out);
        for line in self.config.motd.clone() {
            self.numeric(conn, "372", &[&format!("- {line}")], out);
        }
        self.numeric(conn, "376", &["End of /MOTD command."], out);
    }

    fn lusers(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let users = self.clients.values().filter(|c| c.registered).count();
        let unknown = self.clients.len() - users;
        self.numeric(conn, "251", &[&format!("There are {users} users and 0 invisible on 1 servers")], out);
        self.numeric(conn, "252", &["0", "operator(s) online"], out);
        self.numeric(conn, "253", &[&unknown.to_string(), "unknown connection(s)"], out);
        self.numeric(conn, "254", &[&self.channels.len().to_string(), "channels formed"], out);
        self.numeric(conn, "255", &[&format!("I have {users} clients and 0 servers")], out);
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
        self.next_msgid += 1;
        let mut broadcast =
            Broadcast { message, unix_ms: now.unix_millis(), msgid: self.next_msgid, variants: Default::default() };
        out.reserve(recipients.len());
        for &to in recipients {
            if let Some(client) = self.clients.get(&to) {
                out.push(Action::Send(to, broadcast.line_for(client.caps, &self.msgid_prefix)));
            }
        }
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

