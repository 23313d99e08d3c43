//! The relay server's state machine: registered users, channels and what each line a
//! connection sends means. The event loop in `crate::server` feeds it connections, lines and
//! clock ticks; every call returns the [`Action`]s to carry out, so none can be forgotten.
//! It owns no socket, no thread and no clock.

use super::framing::Frame;
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
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    echo_message: bool,
    message_tags: bool,
    multi_prefix: bool,
    server_time: bool,
}

impl Caps {
    fn set(&mut self, name: &str, on: bool) -> bool {
        match name {
            "echo-message" => self.echo_message = on,
            "message-tags" => self.message_tags = on,
            "multi-prefix" => self.multi_prefix = on,
            "server-time" => self.server_time = on,
            _ => return false,
        }
        true
    }

    fn names(&self) -> String {
        let on = [self.echo_message, self.message_tags, self.multi_prefix, self.server_time];
        let names: Vec<&str> = CAPABILITIES.iter().zip(on).filter(|(_, o)| *o).map(|(n, _)| *n).collect();
        names.join(" ")
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
}

impl Client {
    fn nick(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    fn prefix(&self) -> String {
        format!("{}!{}@{}", self.nick(), self.user.as_deref().unwrap_or("~u"), self.ip)
    }
}

#[derive(Debug)]
struct Channel {
    name: String,
    members: Vec<ConnId>,
    operators: Vec<ConnId>,
    topic: Option<(String, String, i64)>,
    created_unix: i64,
}

#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    clients: IdMap<Client>,
    nicks: HashMap<String, ConnId>,
    channels: HashMap<String, Channel>,
    per_ip: HashMap<IpAddr, usize>,
    next_msgid: u64,
    msgid_prefix: String,
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
            next_msgid: 0,
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
            "MODE" => self.mode(conn, &message, out),
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
                    .map(|c| format!("{}=+{}@{}", c.nick(), c.user.as_deref().unwrap_or("~u"), c.ip))
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
                let list = if sub == "LS" { CAPABILITIES.join(" ") } else { self.clients[&conn].caps.names() };
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
                let all_known = request.split(' ').filter(|c| !c.is_empty()).all(|c| match c.strip_prefix('-') {
                    Some(name) => caps.set(name, false),
                    None => caps.set(c, true),
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
        let user: String = message.params[0].chars().filter(|c| !"@!".contains(*c)).take(10).collect();
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
        self.numeric(conn, "004", &[&name, concat!("lanmeet-", env!("CARGO_PKG_VERSION")), "i", "bno"], out);
        let isupport = [
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".into(),
            "CHANMODES=b,,,n".into(),
            "PREFIX=(o)@".into(),
            format!("NICKLEN={NICK_LEN}"),
            format!("CHANNELLEN={CHANNEL_LEN}"),
            "TOPICLEN=390".into(),
            format!("NETWORK={}", self.config.network),
            format!("TARGMAX=PRIVMSG:4,NOTICE:4,NAMES:{MAX_NAMES_TARGETS},JOIN:,PART:"),
            format!("CHANLIMIT=#:{MAX_CHANNELS_PER_CLIENT}"),
            "UTF8ONLY".into(),
        ];
        let mut params: Vec<&str> = isupport.iter().map(String::as_str).collect();
        params.push("are supported by this server");
        self.numeric(conn, "005", &params, out);
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
        for name in list.split(',').filter(|n| !n.is_empty()) {
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
            client.channels.push(key.clone());
            let prefix = client.prefix();
            let channel = self.channels.entry(key.clone()).or_insert_with(|| Channel {
                name: name.to_string(),
                members: Vec::new(),
                operators: vec![conn],
                topic: None,
                created_unix: now.unix_millis() / 1000,
            });
            channel.members.push(conn);
            let name = channel.name.clone();
            let members = channel.members.clone();
            self.broadcast(&members, Message::new("JOIN", &[&name]).with_source(prefix), now, out);
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
        let client = &self.clients[&conn];
        let echo = client.caps.echo_message;
        let prefix = client.prefix();
        for target in targets.split(',').filter(|t| !t.is_empty()).take(4) {
            let key = fold(target);
            let mut recipients: Vec<ConnId> = if target.starts_with('#') {
                match self.channels.get(&key) {
                    Some(channel) if channel.members.contains(&conn) => {
                        channel.members.iter().copied().filter(|&m| m != conn).collect()
                    }
                    Some(_) => {
                        if !notice {
                            self.numeric(conn, "404", &[target, "Cannot send to channel (you are not in it)"], out);
                        }
                        continue;
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
                    Some(&to) => vec![to],
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
            self.broadcast(&recipients, relayed, now, out);
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
                    if self.channels.contains_key(&key) {
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
        let mut entries = Vec::with_capacity(channel.members.len());
        for member in &channel.members {
            let nick = self.clients[member].nick();
            if channel.operators.contains(member) {
                entries.push(format!("@{nick}"));
            } else {
                entries.push(nick.to_string());
            }
        }
        let name = channel.name.clone();
        let budget = MAX_LINE - 2 - self.config.name.len() - NICK_LEN - name.len() - 16;
        let mut line = String::new();
        for entry in entries {
            if !line.is_empty() && line.len() + 1 + entry.len() > budget {
                self.numeric(conn, "353", &["=", &name, &line], out);
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&entry);
        }
        if !line.is_empty() {
            self.numeric(conn, "353", &["=", &name, &line], out);
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
        if let Some(channel) = self.channels.get(&key) {
            for member in &channel.members {
                let op = if channel.operators.contains(member) { "@" } else { "" };
                rows.push((channel.name.clone(), *member, op));
            }
        } else if let Some(&id) = self.nicks.get(&key) {
            rows.push(("*".to_string(), id, ""));
        }
        for (channel, id, op) in rows {
            let c = &self.clients[&id];
            let params = [
                channel.as_str(),
                c.user.as_deref().unwrap_or("~u"),
                &c.ip.to_string(),
                &self.config.name,
                c.nick(),
                &format!("H{op}"),
                &format!("0 {}", c.realname),
            ]
            .map(str::to_string);
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, "352", &refs, out);
        }
        self.numeric(conn, "315", &[&mask, "End of /WHO list"], out);
    }

    fn mode(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let Some(target) = message.param(0) else {
            self.numeric(conn, "461", &["MODE", "Not enough parameters"], out);
            return;
        };
        let key = fold(target);
        if target.starts_with('#') {
            let Some(channel) = self.channels.get(&key) else {
                self.numeric(conn, "403", &[target, "No such channel"], out);
                return;
            };
            let name = channel.name.clone();
            let created = channel.created_unix.to_string();
            let is_op = channel.operators.contains(&conn);
            match message.param(1) {
                None => {
                    self.numeric(conn, "324", &[&name, "+n"], out);
                    self.numeric(conn, "329", &[&name, &created], out);
                }
                Some(m) if m.trim_start_matches('+') == "b" => {
                    self.numeric(conn, "368", &[&name, "End of channel ban list"], out)
                }
                Some(_) if !is_op => self.numeric(conn, "482", &[&name, "You're not channel operator"], out),
                Some(m) => self.numeric(conn, "472", &[m, "is unknown mode char to me"], out),
            }
        } else if self.nicks.get(&key) == Some(&conn) {
            self.numeric(conn, "221", &["+i"], out);
        } else {
            self.numeric(conn, "502", &["Can't change mode for other users"], out);
        }
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
    "JOIN", "PART", "PRIVMSG", "NOTICE", "NAMES", "TOPIC", "WHO", "MODE", "MOTD", "LUSERS", "ISON", "USERHOST",
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

