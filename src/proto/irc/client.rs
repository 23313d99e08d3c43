//! The chat client's state machine: registration with capability negotiation, nickname
//! collisions, the room's member list, and the outgoing queue that keeps every typed message
//! until it is known to be delivered. The caller owns the connection: it passes in received
//! lines and the clock, and writes out the lines each call returns.

use super::message::{split_utf8, Message, MAX_LINE};
use super::names::{fold, valid_nick, NICK_LEN};
use super::parse_server_time;
use crate::proto::Now;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WANTED_CAPS: &[&str] = &["away-notify", "batch", "draft/chathistory", "echo-message", "message-tags", "multi-prefix", "server-time"];
/// What a user may type after `/`, with what it does (`/help` shows this).
pub const COMMANDS: &[(&str, &str)] = &[
    ("/me TEXT", "an action: * you TEXT"),
    ("/msg NICK TEXT", "a private message to NICK"),
    ("/nick NAME", "change your nickname"),
    ("/join #ROOM [KEY]", "go to another room, staying in this one"),
    ("/part [#ROOM] [REASON]", "leave this room (or #ROOM)"),
    ("/topic [TEXT]", "show the room's topic, or set it"),
    ("/away [TEXT]", "mark yourself away; without text, back"),
    ("/whois NICK", "who someone is and where"),
    ("/list [FILTER]", "the server's rooms (>5: more than five people)"),
    ("/invite NICK", "invite someone to this room"),
    ("/kick NICK [REASON]", "(operators) send someone out of the room"),
    ("/ban NICK, /unban NICK", "(operators) keep someone out, or let them back"),
    ("/op, /deop, /voice, /devoice NICK", "(operators) give or take operator status or voice"),
    ("/mode MODES [ARGS]", "(operators) +m moderated, +t topic lock, +k KEY, +l LIMIT, +i invite only, +s secret"),
    ("/quote LINE", "send a raw IRC line"),
    ("/help", "this list"),
];
/// Messages asked of the server's history on first joining, and after a reconnect.
pub const HISTORY_ON_JOIN: usize = 50;
pub const HISTORY_ON_RECONNECT: usize = 100;
/// Message ids remembered to drop what arrives twice (live and in history).
const SEEN_IDS: usize = 1024;
/// History batches open at once, and lines one may hold.
const MAX_BATCHES: usize = 4;
const MAX_BATCH_LINES: usize = 200;
/// Messages written but not yet echoed, at most.
const MAX_IN_FLIGHT: usize = 8;
/// Silence after which the client asks the server whether it is still there.
const IDLE_PING: Duration = Duration::from_secs(60);
/// Time the server has to answer that PING before the connection counts as dead.
const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of text per message however long the names around it are.
const MIN_TEXT_BUDGET: usize = 64;
/// Bytes of a quit reason we send.
const MAX_QUIT_REASON: usize = 300;
/// Members of one room we keep track of; a server claiming more is not believed further.
pub const MAX_MEMBERS: usize = 10_000;
/// Rooms we are in at once.
pub const MAX_ROOMS: usize = 20;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub nick: String,
    pub user: String,
    pub realname: String,
    pub password: Option<String>,
    /// The room we talk in: what is typed goes there, and commands are about it.
    pub channel: String,
    /// The room's key (`+k`), given with `/join #room KEY`, kept for rejoining.
    pub key: Option<String>,
    /// The other rooms we are in (or join on connecting), with their keys.
    pub also: Vec<(String, Option<String>)>,
    /// The time of the newest message already kept of a room (folded name): on joining it the
    /// first time, the server is asked for what came after, not for its latest.
    pub seen_until: HashMap<String, i64>,
}

impl ClientConfig {
    pub fn new(nick: &str, channel: &str) -> ClientConfig {
        let user: String = nick.chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
        ClientConfig {
            nick: nick.to_string(),
            user: if user.is_empty() { "lanmeet".into() } else { user },
            realname: nick.to_string(),
            password: None,
            channel: channel.to_string(),
            key: None,
            also: Vec::new(),
            seen_until: HashMap::new(),
        }
    }
}

/// Local number of a message the user typed, to follow it until delivery.
pub type LocalId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Registered { nick: String },
    /// We are in the room, and talk there now; queued messages are on their way.
    Joined { channel: String },
    /// We talk in this room again, one we were in already (`/join`, or leaving the one we
    /// talked in).
    Switched { channel: String },
    /// We left a room (or were sent out, or refused on rejoining it).
    Parted { channel: String },
    /// We are in another room too (joined on connecting): we do not talk there until we go
    /// back to it (`/join`).
    Entered { channel: String },
    /// A message from someone else (or from us, seen from another connection).
    Message { from: String, target: String, text: String, unix_ms: i64, notice: bool, action: bool },
    /// A piece of what the user typed, now queued.
    Queued { id: LocalId, target: String, text: String },
    /// The server confirmed it relayed our message (echo-message), or it was written to a server
    /// without echo-message.
    Delivered { id: LocalId, target: String, text: String, unix_ms: i64 },
    MemberJoined { channel: String, nick: String },
    MemberLeft { channel: String, nick: String, reason: String },
    NickChanged { old: String, new: String },
    /// The whole member list of a channel after any change, operators marked with `@` and
    /// voiced members with `+`; `away` names those marked away.
    Members { channel: String, nicks: Vec<String>, away: Vec<String> },
    /// The room's modes as the server says them (`+mnt`, with `k` and `l` values).
    Modes { channel: String, modes: String },
    Topic { channel: String, text: String },
    /// Something from the server a person should read: errors in words, the message of the day.
    Info { text: String, error: bool },
    /// A room of the server's list (`/list`): its name, members, topic.
    RoomListed { name: String, members: u32, topic: String },
    /// The end of the server's list of rooms.
    RoomsListed,
    /// The server stopped answering; the caller should drop the connection and reconnect.
    Dead,
    /// Messages from the server's history, oldest first: the latest ones on first joining, or
    /// those missed while away (`missed`) after a reconnect. None was shown before.
    History { channel: String, lines: Vec<HistoryLine>, missed: bool },
}

/// A message from the server's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub from: String,
    pub text: String,
    pub unix_ms: i64,
    pub notice: bool,
    pub action: bool,
    /// Sent by us (from this or another connection).
    pub own: bool,
}

/// What one input produced: lines to write (without CR LF) and events for the user.
#[derive(Debug, Default)]
pub struct Output {
    pub send: Vec<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone)]
struct Outgoing {
    id: LocalId,
    target: String,
    text: String,
}

#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    nick: String,
    nick_attempt: u32,
    registered: bool,
    joined: bool,
    echo_message: bool,
    /// `multi-prefix`: member entries carry every status (`@+`), not only the highest.
    multi_prefix: bool,
    /// Rooms `/join` asked for (and their keys), not yet let in: each becomes one of ours when
    /// the server lets us in; a refusal leaves us where we are.
    wanted: Vec<(String, Option<String>)>,
    /// The room of the latest `/join` (folded): we talk there once let in, unless we went to
    /// another room meanwhile.
    switch_to: Option<String>,
    /// The room we talked in is gone (left, kicked, or refused on rejoining) and no other was
    /// there to talk in: the next room we are let into is where we talk.
    lost_current: bool,
    /// Our room's modes were asked for (MODE) and the answer (324) has not come; changes
    /// meanwhile ask once more when it comes, not once each.
    modes_asked: Option<bool>,
    offered_caps: Vec<String>,
    /// Typed, not yet written to the current connection.
    outbox: VecDeque<Outgoing>,
    /// Written, waiting for the server's echo.
    in_flight: VecDeque<Outgoing>,
    next_id: LocalId,
    /// Per joined channel (folded name): folded nick -> the entry as shown, with its prefix.
    members: HashMap<String, HashMap<String, String>>,
    /// 353 lines of a channel we are in, until its 366.
    names_in_progress: HashMap<String, Vec<String>>,
    /// The member list changed since it was last handed out.
    members_changed: bool,
    last_heard: Option<Instant>,
    ping_sent: Option<Instant>,
    /// The server keeps history and we may ask for it (`draft/chathistory` with `batch`).
    history_caps: (bool, bool),
    /// The id of the newest message seen of each room we are in (folded name), to ask for
    /// what came after it.
    last_msgid: HashMap<String, String>,
    seen_ids: VecDeque<String>,
    /// Open history batches: reference -> (target, lines so far).
    batches: HashMap<String, (String, Vec<HistoryLine>)>,
    /// Rooms (folded) whose history asked for is what was missed (a reconnect), not the
    /// first look.
    asked_missed: std::collections::HashSet<String>,
    /// Folded nicks of our rooms' members who are away.
    away: std::collections::HashSet<String>,
    /// The modes of each room we are in (folded), to hand out again when we go back to it.
    modes: HashMap<String, String>,
}

impl Client {
    pub fn new(mut config: ClientConfig) -> Client {
        config.also.truncate(MAX_ROOMS - 1);
        Client {
            nick: config.nick.clone(),
            config,
            nick_attempt: 0,
            registered: false,
            joined: false,
            echo_message: false,
            multi_prefix: false,
            wanted: Vec::new(),
            switch_to: None,
            lost_current: false,
            modes_asked: None,
            offered_caps: Vec::new(),
            outbox: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_id: 1,
            members: HashMap::new(),
            names_in_progress: HashMap::new(),
            members_changed: false,
            last_heard: None,
            ping_sent: None,
            history_caps: (false, false),
            last_msgid: HashMap::new(),
            seen_ids: VecDeque::new(),
            batches: HashMap::new(),
            asked_missed: std::collections::HashSet::new(),
            away: std::collections::HashSet::new(),
            modes: HashMap::new(),
        }
    }

    pub fn nick(&self) -> &str {
        &self.nick
    }

    pub fn channel(&self) -> &str {
        &self.config.channel
    }

    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The rooms we are in or want to be in: the one we talk in first.
    pub fn rooms(&self) -> Vec<String> {
        std::iter::once(self.config.channel.clone()).chain(self.config.also.iter().map(|(room, _)| room.clone())).collect()
    }

    /// Whether we are in this room now.
    fn inside(&self, room: &str) -> bool {
        self.members.contains_key(&fold(room))
    }

    /// Messages typed but not yet known to be delivered.
    pub fn undelivered(&self) -> usize {
        self.outbox.len() + self.in_flight.len()
    }

    /// A new connection is open: start registration.
    pub fn connected(&mut self, now: Now) -> Output {
        self.registered = false;
        self.joined = false;
        self.echo_message = false;
        self.multi_prefix = false;
        self.wanted.clear();
        self.switch_to = None;
        self.lost_current = false;
        self.modes_asked = None;
        self.offered_caps.clear();
        self.members.clear();
        self.names_in_progress.clear();
        self.batches.clear();
        self.away.clear();
        self.modes.clear();
        self.history_caps = (false, false);
        self.last_heard = Some(now.mono);
        self.ping_sent = None;
        let mut out = Output::default();
        out.send.push("CAP LS 302".into());
        if let Some(password) = &self.config.password {
            out.send.push(Message::new("PASS", &[password]).to_line());
        }
        out.send.push(Message::new("NICK", &[&self.nick]).to_line());
        out.send.push(Message::new("USER", &[&self.config.user, "0", "*", &self.config.realname]).to_line());
        out
    }

    /// The connection is gone. Whatever was written but not confirmed goes back to the front of
    /// the queue, to be sent again on the next connection.
    pub fn disconnected(&mut self) {
        while let Some(message) = self.in_flight.pop_back() {
            self.outbox.push_front(message);
        }
        self.registered = false;
        self.joined = false;
        self.last_heard = None;
        self.ping_sent = None;
    }

    /// The user typed `text` for the room. Each line becomes one message; a line too long for
    /// IRC is cut at UTF-8 boundaries. Nothing is dropped: it waits for a connection if need be.
    pub fn say(&mut self, text: &str, now: Now) -> Output {
        let mut out = Output::default();
        // `/command`; `//text` is text that starts with a slash.
        if let Some(command) = text.strip_prefix('/').filter(|c| !c.starts_with('/')) {
            let first = command.split('\n').next().unwrap_or("").trim_end_matches('\r');
            self.command(first, now, &mut out);
            return out;
        }
        let text = text.strip_prefix('/').unwrap_or(text);
        let target = self.config.channel.clone();
        self.queue(&target, text, now, &mut out);
        out
    }

    /// Queues `text` for `target`, a message per line and per piece that fits a line.
    fn queue(&mut self, target: &str, text: &str, now: Now, out: &mut Output) {
        let target = target.to_string();
        let budget = self.text_budget(&target);
        for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            if line.trim().is_empty() {
                continue;
            }
            for piece in split_utf8(line, budget) {
                let id = self.next_id;
                self.next_id += 1;
                out.events.push(Event::Queued { id, target: target.clone(), text: piece.to_string() });
                self.outbox.push_back(Outgoing { id, target: target.clone(), text: piece.to_string() });
            }
        }
        self.flush(now, out);
    }

    /// A typed `/command` (without its slash).
    fn command(&mut self, line: &str, now: Now, out: &mut Output) {
        let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        let name = name.to_ascii_lowercase();
        let channel = self.config.channel.clone();
        let words: Vec<&str> = rest.split_whitespace().collect();
        let info = |out: &mut Output, text: String, error: bool| out.events.push(Event::Info { text, error });
        if !self.registered && !matches!(name.as_str(), "me" | "msg" | "help") {
            info(out, format!("Not connected yet: /{name} needs the connection; try again once connected"), true);
            return;
        }
        let send = |out: &mut Output, params: &[&str], command: &str| out.send.push(Message::new(command, params).to_line());
        match (name.as_str(), words.as_slice()) {
            ("help", _) => {
                let list: Vec<String> = COMMANDS.iter().map(|(c, what)| format!("{c}: {what}")).collect();
                info(out, format!("Commands: {}", list.join("; ")), false);
            }
            ("me", _) if !rest.is_empty() => {
                let action = format!("\x01ACTION {rest}\x01");
                self.queue(&channel, &action, now, out);
            }
            ("msg", [nick, ..]) if words.len() > 1 && (valid_nick(nick) || super::names::valid_channel(nick)) => {
                let text = rest[nick.len()..].trim_start().to_string();
                self.queue(nick, &text, now, out);
            }
            ("nick", [nick]) if valid_nick(nick) => {
                self.config.nick = nick.to_string();
                send(out, &[nick], "NICK");
            }
            ("join", [room, key @ ..]) if super::names::valid_channel(room) && key.len() <= 1 => {
                if fold(room) == fold(&channel) && self.joined {
                    return;
                }
                if self.inside(room) {
                    // Already in it: talk there now.
                    self.talk_in(room, out);
                } else if self.config.also.len() + self.wanted.len() + 1 >= MAX_ROOMS {
                    info(out, format!("Cannot join {room}: you are in {MAX_ROOMS} rooms already; leave one first (/part)"), true);
                } else {
                    // A key given now, or the one kept for a room we are to be in.
                    let kept = self.config.also.iter().find(|(r, _)| fold(r) == fold(room)).and_then(|(_, k)| k.clone());
                    let key = key.first().map(|k| k.to_string()).or(kept);
                    let mut params = vec![*room];
                    params.extend(key.as_deref());
                    send(out, &params, "JOIN");
                    self.wanted.retain(|(r, _)| fold(r) != fold(room));
                    self.wanted.push((room.to_string(), key));
                    self.switch_to = Some(fold(room));
                }
            }
            ("part", [room, ..]) if room.starts_with('#') => {
                let reason = rest[room.len()..].trim_start();
                send(out, &[room, if reason.is_empty() { "Leaving" } else { reason }], "PART");
            }
            ("part", _) => send(out, &[&channel, if rest.is_empty() { "Leaving" } else { rest }], "PART"),
            ("topic", []) => send(out, &[&channel], "TOPIC"),
            ("topic", _) => send(out, &[&channel, rest], "TOPIC"),
            ("away", []) => send(out, &[], "AWAY"),
            ("away", _) => send(out, &[rest], "AWAY"),
            ("whois", [nick]) => send(out, &[nick], "WHOIS"),
            ("list", []) => send(out, &[], "LIST"),
            ("list", [filter]) => send(out, &[filter], "LIST"),
            ("invite", [nick]) => send(out, &[nick, &channel], "INVITE"),
            ("kick", [nick, ..]) => {
                let reason = rest[nick.len()..].trim_start();
                let reason = if reason.is_empty() { self.nick.clone() } else { reason.to_string() };
                send(out, &[&channel, nick, &reason], "KICK");
            }
            ("ban" | "unban", [nick]) => {
                let sign = if name == "ban" { "+b" } else { "-b" };
                send(out, &[&channel, sign, nick], "MODE");
            }
            ("op" | "deop" | "voice" | "devoice", [nick]) => {
                let change = match name.as_str() {
                    "op" => "+o",
                    "deop" => "-o",
                    "voice" => "+v",
                    _ => "-v",
                };
                send(out, &[&channel, change, nick], "MODE");
            }
            ("mode", [first, ..]) => {
                let mut params: Vec<&str> = Vec::new();
                if !first.starts_with('#') {
                    params.push(&channel);
                }
                params.extend(words.iter().copied());
                send(out, &params, "MODE");
            }
            ("quote", _) if !rest.is_empty() => match Message::parse(rest) {
                Ok(message) => out.send.push(message.to_line()),
                Err(e) => info(out, format!("/quote: not an IRC line ({e})"), true),
            },
            _ => {
                let usage = COMMANDS.iter().find(|(c, _)| c.trim_start_matches('/').split([' ', ',']).next() == Some(name.as_str()));
                match usage {
                    Some((c, _)) => info(out, format!("Usage: {c}"), true),
                    None => info(out, format!("Unknown command /{name}; /help lists them (//text sends text that starts with a slash)"), true),
                }
            }
        }
    }

    /// Leave politely.
    pub fn quit(&mut self, reason: &str) -> Output {
        // One line, short enough for any server to relay with our prefix.
        let reason: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let reason = split_utf8(&reason, MAX_QUIT_REASON)[0];
        Output { send: vec![Message::new("QUIT", &[reason]).to_line()], events: Vec::new() }
    }

    /// Room for text in one PRIVMSG: the server relays it with our full source prefix, whose
    /// host part we cannot know, so assume the longest.
    fn text_budget(&self, target: &str) -> usize {
        let prefix = 1 + NICK_LEN.max(self.nick.len()) + 1 + 11 + 1 + 63 + 1;
        let command = "PRIVMSG ".len() + target.len() + 2;
        // A server may hand us a nick or target so long that nothing fits: send a little anyway
        // (the server cuts what does not fit) rather than nothing.
        (MAX_LINE - 2).saturating_sub(prefix + command).max(MIN_TEXT_BUDGET)
    }

    fn flush(&mut self, now: Now, out: &mut Output) {
        if !self.joined {
            return;
        }
        // With echo-message, echoes pace the sending: a paste of many lines never piles up
        // in the server's flood-control queue.
        while self.in_flight.len() < MAX_IN_FLIGHT || !self.echo_message {
            let Some(message) = self.outbox.pop_front() else { break };
            out.send.push(Message::new("PRIVMSG", &[&message.target, &message.text]).to_line());
            if self.echo_message {
                self.in_flight.push_back(message);
            } else {
                out.events.push(Event::Delivered { id: message.id, target: message.target, text: message.text, unix_ms: now.unix_millis() });
            }
        }
    }

    /// Time passed with nothing received: probe the server, and give up on it when silent.
    pub fn tick(&mut self, now: Now) -> Output {
        let mut out = Output::default();
        let Some(last) = self.last_heard else { return out };
        match self.ping_sent {
            Some(sent) if now.mono >= sent + PING_TIMEOUT => out.events.push(Event::Dead),
            None if now.mono >= last + IDLE_PING => {
                self.ping_sent = Some(now.mono);
                out.send.push("PING :lanmeet".into());
            }
            _ => {}
        }
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let last = self.last_heard?;
        Some(match self.ping_sent {
            Some(sent) => sent + PING_TIMEOUT,
            None => last + IDLE_PING,
        })
    }

    /// One line from the server (without CR LF). Bytes that are not UTF-8 are shown with
    /// replacement characters rather than dropped.
    pub fn receive(&mut self, bytes: &[u8], now: Now) -> Output {
        self.receive_lines([bytes], now)
    }

    /// Lines that arrived together. The member list, if they changed it, is handed out once at
    /// the end, so a burst of joins costs one list, not one per join.
    pub fn receive_lines<'a>(&mut self, lines: impl IntoIterator<Item = &'a [u8]>, now: Now) -> Output {
        let mut out = Output::default();
        self.last_heard = Some(now.mono);
        self.ping_sent = None;
        for bytes in lines {
            let text = String::from_utf8_lossy(bytes);
            if let Ok(message) = Message::parse(&text) {
                self.handle(message, now, &mut out);
            }
        }
        if std::mem::take(&mut self.members_changed) {
            self.emit_members(&mut out);
        }
        out
    }

    fn is_me(&self, nick: &str) -> bool {
        fold(nick) == fold(&self.nick)
    }

    fn handle(&mut self, message: Message, now: Now, out: &mut Output) {
        let from = message.source_nick().unwrap_or("").to_string();
        let last = message.params.last().cloned().unwrap_or_default();
        match message.command.as_str() {
            "PING" => out.send.push(Message::new("PONG", &[message.param(0).unwrap_or("")]).to_line()),
            "CAP" => self.cap(&message, out),
            "001" => {
                self.registered = true;
                if let Some(nick) = message.param(0) {
                    self.nick = nick.to_string();
                }
                out.events.push(Event::Registered { nick: self.nick.clone() });
                let rooms = std::iter::once((&self.config.channel, &self.config.key)).chain(self.config.also.iter().map(|(room, key)| (room, key)));
                for (room, key) in rooms {
                    let mut join = vec![room.as_str()];
                    join.extend(key.as_deref());
                    out.send.push(Message::new("JOIN", &join).to_line());
                }
            }
            "433" | "432" | "437" if !self.registered => {
                let reason = if message.command == "433" { "is taken" } else { "is not accepted by this server" };
                let next = self.next_nick(message.command == "433");
                out.events.push(Event::Info {
                    text: format!("Nickname {} {reason}; trying {next}", self.nick),
                    error: false,
                });
                self.nick = next;
                out.send.push(Message::new("NICK", &[&self.nick]).to_line());
            }
            "JOIN" => {
                let channel = message.param(0).unwrap_or("").to_string();
                let key = fold(&channel);
                if self.is_me(&from) {
                    if self.inside(&channel) {
                        return;
                    }
                    if let Some(at) = self.wanted.iter().position(|(room, _)| fold(room) == key) {
                        let (room, room_key) = self.wanted.remove(at);
                        self.config.also.retain(|(r, _)| fold(r) != key);
                        if self.switch_to.as_deref() == Some(key.as_str()) || self.lost_current {
                            // In: the room we were in stays one of ours (unless it is gone),
                            // and we talk here.
                            self.switch_to = None;
                            let old = std::mem::replace(&mut self.config.channel, room);
                            let old_key = std::mem::replace(&mut self.config.key, room_key);
                            if fold(&old) != key && !self.lost_current {
                                self.config.also.push((old, old_key));
                            }
                            self.lost_current = false;
                        } else {
                            // We went elsewhere meanwhile: one more room of ours.
                            self.config.also.push((room, room_key));
                        }
                    } else if key != fold(&self.config.channel) && !self.config.also.iter().any(|(r, _)| fold(r) == key) {
                        // A room we no longer want (a /join overtaken by another): leave it.
                        out.send.push(Message::new("PART", &[&channel, "Leaving"]).to_line());
                        return;
                    }
                    self.members.insert(key.clone(), HashMap::new());
                    if self.history_caps == (true, true) {
                        // What was said before: the latest, or since the last one seen.
                        let (reference, limit) = match (self.last_msgid.get(&key), self.config.seen_until.get(&key)) {
                            (Some(id), _) => (format!("msgid={id}"), HISTORY_ON_RECONNECT),
                            (None, Some(ms)) => (format!("timestamp={}", super::format_server_time(*ms)), HISTORY_ON_RECONNECT),
                            (None, None) => ("*".to_string(), HISTORY_ON_JOIN),
                        };
                        if reference == "*" {
                            self.asked_missed.remove(&key);
                        } else {
                            self.asked_missed.insert(key.clone());
                        }
                        out.send.push(Message::new("CHATHISTORY", &["LATEST", &channel, &reference, &limit.to_string()]).to_line());
                    }
                    // The room's modes, and who is away.
                    out.send.push(Message::new("MODE", &[&channel]).to_line());
                    out.send.push(Message::new("WHO", &[&channel]).to_line());
                    if key == fold(&self.config.channel) {
                        self.joined = true;
                        out.events.push(Event::Joined { channel });
                        self.flush(now, out);
                    } else if self.lost_current {
                        // The room we talked in is gone: talk here.
                        self.talk_in(&channel, out);
                        self.flush(now, out);
                    } else {
                        out.events.push(Event::Entered { channel });
                    }
                } else if let Some(list) = self.members.get_mut(&key) {
                    let folded = fold(&from);
                    if list.len() < MAX_MEMBERS && !list.contains_key(&folded) {
                        list.insert(folded, from.clone());
                        out.events.push(Event::MemberJoined { channel: channel.clone(), nick: from });
                        self.members_changed = true;
                    }
                }
            }
            "PART" | "KICK" => {
                let channel = message.param(0).unwrap_or("").to_string();
                let (who, reason) = if message.command == "KICK" {
                    (message.param(1).unwrap_or("").to_string(), format!("kicked: {}", message.param(2).unwrap_or("")))
                } else {
                    (from.clone(), message.param(1).unwrap_or("").to_string())
                };
                let key = fold(&channel);
                if self.is_me(&who) {
                    self.members.remove(&key);
                    self.last_msgid.remove(&key);
                    self.config.also.retain(|(r, _)| fold(r) != key);
                    out.events.push(Event::Info { text: format!("You left {channel}: {reason}"), error: false });
                    out.events.push(Event::Parted { channel: channel.clone() });
                    if key == fold(&self.config.channel) {
                        self.lose_current(out);
                    }
                } else if let Some(list) = self.members.get_mut(&key) {
                    if list.remove(&fold(&who)).is_some() {
                        out.events.push(Event::MemberLeft { channel: channel.clone(), nick: who, reason });
                        self.members_changed = true;
                    }
                }
            }
            "QUIT" => {
                let folded = fold(&from);
                let rooms = self.rooms();
                for room in rooms {
                    if self.members.get_mut(&fold(&room)).is_some_and(|list| list.remove(&folded).is_some()) {
                        out.events.push(Event::MemberLeft { channel: room, nick: from.clone(), reason: last.clone() });
                        self.members_changed = true;
                    }
                }
            }
            "NICK" => {
                let new = message.param(0).unwrap_or("").to_string();
                if self.is_me(&from) {
                    self.nick = new.clone();
                }
                let (old_key, new_key) = (fold(&from), fold(&new));
                for list in self.members.values_mut() {
                    if let Some(entry) = list.remove(&old_key) {
                        let prefix = &entry[..entry.len() - strip_prefix(&entry).len()];
                        list.insert(new_key.clone(), format!("{prefix}{new}"));
                        self.members_changed = true;
                    }
                }
                out.events.push(Event::NickChanged { old: from, new });
            }
            "353" => {
                if let (Some(channel), Some(names)) = (message.params.get(2), message.params.get(3)) {
                    // Only for rooms we are in, and no more than a room can hold.
                    let key = fold(channel);
                    if self.members.contains_key(&key) {
                        let list = self.names_in_progress.entry(key).or_default();
                        let room = MAX_MEMBERS.saturating_sub(list.len());
                        list.extend(names.split(' ').filter(|n| !n.is_empty()).take(room).map(str::to_string));
                    }
                }
            }
            "366" => {
                let channel = message.param(1).unwrap_or("").to_string();
                let key = fold(&channel);
                if let Some(list) = self.names_in_progress.remove(&key) {
                    if self.members.contains_key(&key) {
                        let entries = list.into_iter().map(|entry| (fold(strip_prefix(&entry)), entry)).collect();
                        self.members.insert(key, entries);
                        self.members_changed = true;
                    }
                }
            }
            "332" | "TOPIC" => {
                let channel = message.param(if message.command == "332" { 1 } else { 0 }).unwrap_or("").to_string();
                out.events.push(Event::Topic { channel, text: last });
            }
            "MODE" => {
                // A room's modes changed: say so, show changed statuses in the member list,
                // and ask for the room's modes again (once, however many changes come).
                let channel = message.param(0).unwrap_or("").to_string();
                if self.members.contains_key(&fold(&channel)) && message.params.len() > 1 {
                    let change = message.params[1..].join(" ");
                    out.events.push(Event::Info { text: format!("{from} sets mode {change} on {channel}"), error: false });
                    if self.apply_statuses(&channel, &message.params[1..]) {
                        out.send.push(Message::new("NAMES", &[&channel]).to_line());
                    }
                    let room_modes = message.params[1].contains(['i', 'k', 'l', 'm', 'n', 's', 't']);
                    if room_modes && fold(&channel) != fold(&self.config.channel) {
                        // Another room of ours: what it shows when we talk there again.
                        out.send.push(Message::new("MODE", &[&channel]).to_line());
                    } else if room_modes {
                        match self.modes_asked {
                            None => {
                                self.modes_asked = Some(false);
                                out.send.push(Message::new("MODE", &[&channel]).to_line());
                            }
                            Some(_) => self.modes_asked = Some(true),
                        }
                    }
                }
            }
            "INVITE" if message.param(0).is_some_and(|nick| self.is_me(nick)) => {
                let channel = message.param(1).unwrap_or("");
                out.events.push(Event::Info { text: format!("{from} invites you to {channel}"), error: false });
            }
            "324" if message.param(1).is_some_and(|c| self.inside(c)) => {
                let channel = message.params[1].clone();
                let current = fold(&channel) == fold(&self.config.channel);
                if current && self.modes_asked.take() == Some(true) {
                    self.modes_asked = Some(false);
                    out.send.push(Message::new("MODE", &[&channel]).to_line());
                }
                // The room's key, as members see it: what we rejoin with.
                let letters = message.param(2).unwrap_or("");
                let mut values = message.params.iter().skip(3);
                for letter in letters.chars().filter(|c| matches!(c, 'k' | 'l')) {
                    let value = values.next();
                    if letter == 'k' {
                        if let Some(key) = value.filter(|k| *k != "*") {
                            self.set_key(&channel, Some(key.clone()));
                        }
                    }
                }
                let modes = message.params[2..].join(" ");
                self.modes.insert(fold(&channel), modes.clone());
                if current {
                    out.events.push(Event::Modes { channel, modes });
                }
            }
            "352" if message.param(1).is_some_and(|c| self.inside(c)) => {
                let nick = fold(message.param(5).unwrap_or(""));
                let gone = message.param(6).is_some_and(|f| f.starts_with('G'));
                if self.set_away(&nick, gone) {
                    self.members_changed = true;
                }
            }
            "AWAY" => {
                if self.set_away(&fold(&from), message.param(0).is_some()) {
                    self.members_changed = true;
                }
            }
            "311" => {
                let (nick, user, host, name) = (message.param(1).unwrap_or(""), message.param(2).unwrap_or(""), message.param(3).unwrap_or(""), &last);
                out.events.push(Event::Info { text: format!("{nick} is {user}@{host} ({name})"), error: false });
            }
            "319" => out.events.push(Event::Info { text: format!("{} is in {last}", message.param(1).unwrap_or("")), error: false }),
            "317" => {
                let nick = message.param(1).unwrap_or("");
                let idle: u64 = message.param(2).and_then(|s| s.parse().ok()).unwrap_or(0);
                out.events.push(Event::Info { text: format!("{nick} has been idle {} min {} s", idle / 60, idle % 60), error: false });
            }
            "322" => {
                let name = message.param(1).unwrap_or("").to_string();
                let members = message.param(2).and_then(|c| c.parse().ok()).unwrap_or(0);
                let topic = if message.params.len() > 3 { last } else { String::new() };
                out.events.push(Event::RoomListed { name, members, topic });
            }
            "323" => out.events.push(Event::RoomsListed),
            "341" => out.events.push(Event::Info { text: format!("Invited {} to {}", message.param(1).unwrap_or(""), message.param(2).unwrap_or("")), error: false }),
            "305" | "306" => out.events.push(Event::Info { text: last, error: false }),
            "301" => {
                let nick = message.param(1).unwrap_or("");
                out.events.push(Event::Info { text: format!("{nick} is away: {last}"), error: false });
            }
            "BATCH" => {
                let reference = message.param(0).unwrap_or("");
                if let Some(id) = reference.strip_prefix('+') {
                    if message.param(1) == Some("chathistory") && self.batches.len() < MAX_BATCHES {
                        self.batches.insert(id.to_string(), (message.param(2).unwrap_or("").to_string(), Vec::new()));
                    }
                } else if let Some((target, lines)) = reference.strip_prefix('-').and_then(|id| self.batches.remove(id)) {
                    if self.inside(&target) {
                        let missed = self.asked_missed.contains(&fold(&target));
                        out.events.push(Event::History { channel: target, lines, missed });
                    }
                }
            }
            "PRIVMSG" | "NOTICE" => self.chat(message, from, now, out),
            "ERROR" => out.events.push(Event::Info { text: last, error: true }),
            "372" => out.events.push(Event::Info { text: last, error: false }),
            "FAIL" => out.events.push(Event::Info { text: last, error: true }),
            "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477"
                if message.param(1).is_some_and(|c| self.wanted.iter().any(|(room, _)| fold(room) == fold(c))) =>
            {
                // Refused: we stay in the room we are in.
                let refused = fold(message.param(1).unwrap_or(""));
                let at = self.wanted.iter().position(|(room, _)| fold(room) == refused).expect("checked above");
                let (room, _) = self.wanted.remove(at);
                if self.switch_to.as_deref() == Some(refused.as_str()) {
                    self.switch_to = None;
                }
                let staying = if self.joined { format!("; you are still in {}", self.config.channel) } else { String::new() };
                out.events.push(Event::Info { text: format!("Cannot join {room}: {last}{staying}"), error: true });
            }
            "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477"
                if message.param(1).is_some_and(|c| !self.inside(c) && self.rooms().iter().any(|room| fold(room) == fold(c))) =>
            {
                // A room of ours refused us on rejoining (banned, the key changed meanwhile):
                // it is no longer ours.
                let room = message.params[1].clone();
                out.events.push(Event::Info { text: format!("Cannot rejoin {room}: {last}"), error: true });
                out.events.push(Event::Parted { channel: room.clone() });
                if fold(&room) == fold(&self.config.channel) {
                    self.lose_current(out);
                } else {
                    self.config.also.retain(|(r, _)| fold(r) != fold(&room));
                }
            }
            "401" | "403" | "404" if message.params.len() > 2 => {
                // A message refused (no such nick, a moderated room, a ban) will never be
                // echoed: it stops waiting, so that what follows it goes out.
                let target = fold(&message.params[1]);
                if let Some(at) = self.in_flight.iter().position(|m| fold(&m.target) == target) {
                    self.in_flight.remove(at);
                    self.flush(now, out);
                }
                out.events.push(Event::Info { text: format!("{}: {last}", message.params[1]), error: true });
            }
            code if code.len() == 3 && (code.starts_with('4') || code.starts_with('5')) => {
                let subject = if message.params.len() > 2 { format!("{}: ", message.params[1]) } else { String::new() };
                out.events.push(Event::Info { text: format!("{subject}{last}"), error: true });
            }
            _ => {}
        }
    }

    fn next_nick(&mut self, taken: bool) -> String {
        self.nick_attempt += 1;
        let base = if taken && valid_nick(&self.config.nick) {
            self.config.nick.clone()
        } else {
            // The server refused the name itself: many accept ASCII only.
            let ascii: String = self.config.nick.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            if ascii.is_empty() || ascii.starts_with(|c: char| c.is_ascii_digit()) {
                "guest".to_string()
            } else {
                ascii
            }
        };
        let suffix = if taken || self.nick_attempt > 1 { format!("_{}", self.nick_attempt) } else { String::new() };
        let mut nick: String = base.chars().take(9usize.saturating_sub(suffix.len()).max(1)).collect();
        nick.push_str(&suffix);
        nick
    }

    fn cap(&mut self, message: &Message, out: &mut Output) {
        let sub = message.param(1).unwrap_or("").to_ascii_uppercase();
        match sub.as_str() {
            "LS" => {
                let more = message.params.len() > 3 && message.param(2) == Some("*");
                self.offered_caps
                    .extend(message.params.last().into_iter().flat_map(|l| l.split(' ')).map(|c| {
                        c.split('=').next().unwrap_or(c).to_string()
                    }));
                if !more {
                    let request: Vec<&str> =
                        WANTED_CAPS.iter().copied().filter(|c| self.offered_caps.iter().any(|o| o == c)).collect();
                    if request.is_empty() {
                        out.send.push("CAP END".into());
                    } else {
                        out.send.push(Message::new("CAP", &["REQ", &request.join(" ")]).to_line());
                    }
                }
            }
            "ACK" => {
                for cap in message.params.last().into_iter().flat_map(|l| l.split(' ')) {
                    let (name, on) = match cap.strip_prefix('-') {
                        Some(name) => (name, false),
                        None => (cap, true),
                    };
                    match name {
                        "echo-message" => self.echo_message = on,
                        "multi-prefix" => self.multi_prefix = on,
                        "batch" => self.history_caps.0 = on,
                        "draft/chathistory" => self.history_caps.1 = on,
                        _ => {}
                    }
                }
                if !self.registered {
                    out.send.push("CAP END".into());
                }
            }
            "NAK" if !self.registered => out.send.push("CAP END".into()),
            _ => {}
        }
    }

    fn chat(&mut self, message: Message, from: String, now: Now, out: &mut Output) {
        let target = message.param(0).unwrap_or("").to_string();
        let mut text = message.param(1).unwrap_or("").to_string();
        let unix_ms = message.tag("time").and_then(parse_server_time).unwrap_or_else(|| now.unix_millis());
        let notice = message.command == "NOTICE";
        if message.source.as_deref().is_none_or(|s| !s.contains('!')) {
            // From the server itself.
            out.events.push(Event::Info { text, error: false });
            return;
        }
        let ours = self.inside(&target);
        if target.starts_with('#') && !ours && message.tag("batch").is_none() {
            // To a room we are not in: not ours to show.
            return;
        }
        if let Some(id) = message.tag("msgid") {
            if self.seen_ids.iter().any(|seen| seen == id) {
                // Already shown: live, then again in history (or the other way round).
                return;
            }
            self.seen_ids.push_back(id.to_string());
            if self.seen_ids.len() > SEEN_IDS {
                self.seen_ids.pop_front();
            }
            if ours {
                self.last_msgid.insert(fold(&target), id.to_string());
            }
        }
        let own = self.is_me(&from);
        if let Some((_, lines)) = message.tag("batch").and_then(|id| self.batches.get_mut(id)) {
            let (text, action) = match text.strip_prefix("\x01ACTION ") {
                Some(act) => (act.strip_suffix('\x01').unwrap_or(act).to_string(), true),
                None => (text, false),
            };
            if lines.len() < MAX_BATCH_LINES && !text.starts_with('\x01') {
                lines.push(HistoryLine { from, text, unix_ms, notice, action, own });
            }
            return;
        }
        if self.echo_message && self.is_me(&from) && !notice {
            if let Some(pos) = self.in_flight.iter().position(|m| m.text == text && fold(&m.target) == fold(&target)) {
                let sent = self.in_flight.remove(pos).expect("position is valid");
                out.events.push(Event::Delivered { id: sent.id, target: sent.target, text: sent.text, unix_ms });
                self.flush(now, out);
                return;
            }
        }
        let mut action = false;
        if let Some(ctcp) = text.strip_prefix('\x01') {
            let ctcp = ctcp.strip_suffix('\x01').unwrap_or(ctcp);
            if let Some(act) = ctcp.strip_prefix("ACTION ") {
                action = true;
                text = act.to_string();
            } else {
                if !notice && ctcp.eq_ignore_ascii_case("VERSION") {
                    let reply = format!("\x01VERSION lanmeet {}\x01", env!("CARGO_PKG_VERSION"));
                    out.send.push(Message::new("NOTICE", &[&from, &reply]).to_line());
                }
                return;
            }
        }
        out.events.push(Event::Message { from, target, text, unix_ms, notice, action });
    }

    fn emit_members(&self, out: &mut Output) {
        let channel = &self.config.channel;
        if let Some(list) = self.members.get(&fold(channel)) {
            let mut nicks: Vec<(&String, &String)> = list.iter().collect();
            nicks.sort_by_key(|(folded, entry)| (!entry.starts_with('@'), !entry.starts_with('+'), *folded));
            let away = nicks.iter().filter(|(folded, _)| self.away.contains(*folded)).map(|(_, entry)| strip_prefix(entry).to_string()).collect();
            let nicks = nicks.into_iter().map(|(_, entry)| entry.clone()).collect();
            out.events.push(Event::Members { channel: channel.to_string(), nicks, away });
        }
    }

    /// Applies `+o`, `-v` and the like of a MODE line to the member list, and a new key of our
    /// room to what we rejoin with. True when the list must be asked for again: a status
    /// taken away where entries show only the highest one (the member may hold another, not
    /// shown), or a mode we do not know (another server's: we cannot tell its parameters).
    fn apply_statuses(&mut self, channel: &str, modes: &[String]) -> bool {
        let Some(list) = self.members.get_mut(&fold(channel)) else { return false };
        let mut new_key = None;
        let mut values = modes[1..].iter();
        let mut adding = true;
        let mut ask = false;
        for letter in modes[0].chars() {
            match letter {
                '+' | '-' => adding = letter == '+',
                'o' | 'v' => {
                    let Some(nick) = values.next() else { break };
                    let Some(entry) = list.get_mut(&fold(nick)) else { continue };
                    let name = strip_prefix(entry).to_string();
                    let had = &entry[..entry.len() - name.len()];
                    let (mut op, mut voice) = (had.contains('@'), had.contains('+'));
                    if !adding && !self.multi_prefix {
                        ask = true;
                    }
                    if letter == 'o' { op = adding } else { voice = adding }
                    let prefix = match (op, voice, self.multi_prefix) {
                        (true, true, true) => "@+",
                        (true, _, _) => "@",
                        (false, true, _) => "+",
                        (false, false, _) => "",
                    };
                    *entry = format!("{prefix}{name}");
                    self.members_changed = true;
                }
                'k' => new_key = Some(values.next().filter(|_| adding).cloned()),
                // Modes with a value: a ban mask, a limit (when set).
                'b' => {
                    values.next();
                }
                'l' if adding => {
                    values.next();
                }
                'l' | 'i' | 'm' | 'n' | 's' | 't' => {}
                _ => {
                    ask = true;
                    break;
                }
            }
        }
        if let Some(key) = new_key {
            self.set_key(channel, key);
        }
        ask
    }

    /// What we rejoin room `channel` with.
    fn set_key(&mut self, channel: &str, key: Option<String>) {
        let folded = fold(channel);
        if folded == fold(&self.config.channel) {
            self.config.key = key;
        } else if let Some((_, kept)) = self.config.also.iter_mut().find(|(r, _)| fold(r) == folded) {
            *kept = key;
        }
    }

    /// Talk in `room`, one of the rooms we are in: what is typed goes there, and its members,
    /// modes and topic are handed out.
    fn talk_in(&mut self, room: &str, out: &mut Output) {
        let folded = fold(room);
        let Some(at) = self.config.also.iter().position(|(r, _)| fold(r) == folded) else { return };
        let (room, key) = self.config.also.remove(at);
        let old = std::mem::replace(&mut self.config.channel, room.clone());
        let old_key = std::mem::replace(&mut self.config.key, key);
        if fold(&old) != folded && !self.lost_current {
            self.config.also.insert(0, (old, old_key));
        }
        self.lost_current = false;
        self.switch_to = None;
        self.joined = true;
        self.modes_asked = None;
        out.events.push(Event::Switched { channel: room.clone() });
        if let Some(modes) = self.modes.get(&folded) {
            out.events.push(Event::Modes { channel: room, modes: modes.clone() });
        }
        self.emit_members(out);
    }

    /// The room we talked in is gone: talk in another room we are in, if any; else in the next
    /// one we are let into.
    fn lose_current(&mut self, out: &mut Output) {
        match self.config.also.iter().find(|(r, _)| self.inside(r)).map(|(r, _)| r.clone()) {
            Some(next) => {
                self.lost_current = true;
                self.talk_in(&next, out);
            }
            None => {
                self.joined = false;
                self.lost_current = true;
            }
        }
    }

    /// Marks a member of our rooms away or back; true if that changed anything.
    fn set_away(&mut self, folded: &str, away: bool) -> bool {
        let member = self.members.values().any(|list| list.contains_key(folded));
        if !member {
            return false;
        }
        if away {
            self.away.len() < MAX_MEMBERS && self.away.insert(folded.to_string())
        } else {
            self.away.remove(folded)
        }
    }
}

fn strip_prefix(entry: &str) -> &str {
    entry.trim_start_matches(['@', '+', '%', '~', '&'])
}
