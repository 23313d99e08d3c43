//! What a chat event shows: one line of the conversation, the same for the terminal and the
//! window. The terminal prints it (`terminal::format_line`), the window makes it a row.
//! Connection status (connecting, reconnecting) is not a line: each front end shows it its way.

use super::chat::ChatEvent;
use super::archive::Said;
use super::i18n::tr;
use crate::net::multicast::MulticastEvent;
use crate::net::unicast::UnicastEvent;
use crate::proto::irc::client::{Event, LocalId};
use crate::proto::mchat;
use crate::proto::mchat::peer::Trust;
use crate::proto::mchat::seal::fingerprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Message,
    /// Something we said.
    Own,
    /// `/me` text.
    Action,
    Notice,
    /// About the room or the connection.
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    /// Who said it; empty for info and error lines.
    pub sender: String,
    pub text: String,
    pub unix_ms: i64,
    /// Ours, and not yet confirmed by the relay.
    pub pending: bool,
    /// For our own messages: the pending line a confirmation completes.
    pub local_id: Option<LocalId>,
    /// A private message: the other person of the conversation (its sender, or for ours its
    /// recipient). None for the room's or group's lines.
    pub with: Option<String>,
}

impl Line {
    pub fn said(kind: LineKind, sender: &str, text: &str, unix_ms: i64) -> Line {
        Line { kind, sender: sender.to_string(), text: text.to_string(), unix_ms, pending: false, local_id: None, with: None }
    }

    pub fn info(text: String) -> Line {
        Line { kind: LineKind::Info, sender: String::new(), text, unix_ms: now_ms(), pending: false, local_id: None, with: None }
    }

    pub fn error(text: String) -> Line {
        Line { kind: LineKind::Error, ..Line::info(text) }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The lines an event shows: one for most, none for some, and for the relay's history its
/// messages with a separator beneath them.
pub fn lines(event: &ChatEvent, own_nick: &str) -> Vec<Line> {
    if let ChatEvent::Unicast(UnicastEvent::Chat(Event::History { lines, missed, .. })) = event {
        if lines.is_empty() {
            return Vec::new();
        }
        let mut shown: Vec<Line> = kept(event, own_nick).iter().map(kept_line).collect();
        let count = lines.len();
        shown.push(Line::info(if *missed && count >= crate::proto::irc::client::HISTORY_ON_RECONNECT {
            // As many as were asked for: there may be more, further back.
            tr("── the latest {0} message(s) you missed, above; earlier ones stay on the server ──", &[&count])
        } else if *missed {
            tr("── {0} message(s) you missed, above ──", &[&count])
        } else {
            tr("── {0} earlier message(s), above ──", &[&count])
        }));
        return shown;
    }
    line(event, own_nick).into_iter().collect()
}

/// The line an event shows, if any. `own_nick` names our own messages.
pub fn line(event: &ChatEvent, own_nick: &str) -> Option<Line> {
    match event {
        ChatEvent::HostingRelay(hosted) => Some(Line::info(hosted.describe())),
        ChatEvent::Unicast(UnicastEvent::Status(_)) => None,
        ChatEvent::Unicast(UnicastEvent::Chat(chat)) => relay_line(chat, own_nick),
        ChatEvent::Multicast(event) => multicast_line(event),
    }
}

fn relay_line(event: &Event, own_nick: &str) -> Option<Line> {
    Some(match event {
        Event::Message { from, target, text, unix_ms, notice, action } => incoming(talk_kind(false, *action, *notice), from, !target.starts_with('#'), text, *unix_ms),
        Event::Queued { id, target, text } => Line { pending: true, local_id: Some(*id), ..own_line(own_nick, target, text, now_ms()) },
        Event::Delivered { id, target, text, unix_ms } => Line { local_id: Some(*id), ..own_line(own_nick, target, text, *unix_ms) },
        Event::Modes { .. } | Event::Switched { .. } | Event::Parted { .. } => return None,
        Event::Registered { nick } => Line::info(tr("Registered as {0}", &[nick])),
        Event::Joined { channel } | Event::Entered { channel } => Line::info(tr("You joined {0}", &[channel])),
        Event::MemberJoined { channel, nick } => Line::info(tr("{0} joined {1}", &[nick, channel])),
        Event::MemberLeft { channel, nick, reason } if reason.is_empty() => Line::info(tr("{0} left {1}", &[nick, channel])),
        Event::MemberLeft { channel, nick, reason } => Line::info(tr("{0} left {1} ({2})", &[nick, channel, reason])),
        Event::NickChanged { old, new } => Line::info(tr("{0} is now known as {1}", &[old, new])),
        Event::Topic { channel, text } => Line::info(tr("Topic of {0}: {1}", &[channel, text])),
        Event::Info { text, error: false } => Line::info(text.clone()),
        Event::Info { text, error: true } => Line::error(text.clone()),
        Event::RoomListed { name, members, topic } if topic.is_empty() => Line::info(format!("{name} ({members})")),
        Event::RoomListed { name, members, topic } => Line::info(format!("{name} ({members}): {topic}")),
        Event::Members { .. } | Event::Dead | Event::History { .. } | Event::RoomsListed => return None,
    })
}

/// The kind of a message: an action or a notice as such, else ours or someone else's.
fn talk_kind(own: bool, action: bool, notice: bool) -> LineKind {
    match (own, action, notice) {
        (_, true, _) => LineKind::Action,
        (_, _, true) => LineKind::Notice,
        (true, _, _) => LineKind::Own,
        _ => LineKind::Message,
    }
}

/// The text of a CTCP ACTION (`/me`), if `text` is one.
fn action_text(text: &str) -> Option<&str> {
    text.strip_prefix("\x01ACTION ").map(|a| a.trim_end_matches('\x01'))
}

/// Someone else's message, to the room or to us alone.
fn incoming(kind: LineKind, from: &str, private: bool, text: &str, unix_ms: i64) -> Line {
    Line { with: private.then(|| from.to_string()), ..Line::said(kind, from, text, unix_ms) }
}

/// The messages an event brings, as kept on this computer (`archive`): what others said,
/// what the relay confirmed of ours, and the relay's history. Our own multicast lines are
/// kept where they are sent (no echo comes back).
pub fn kept(event: &ChatEvent, own_nick: &str) -> Vec<Said> {
    let talk = |kind, conversation: &str, private, sender: &str, text: &str, unix_ms| Said {
        conversation: conversation.to_string(),
        private,
        kind,
        sender: sender.to_string(),
        text: text.to_string(),
        unix_ms,
    };
    let ours = |target: &str, text: &str, unix_ms| match action_text(text) {
        Some(action) => talk(LineKind::Action, target, !target.starts_with('#'), own_nick, action, unix_ms),
        None => talk(LineKind::Own, target, !target.starts_with('#'), own_nick, text, unix_ms),
    };
    match event {
        ChatEvent::Unicast(UnicastEvent::Chat(chat)) => match chat {
            Event::Message { from, target, text, unix_ms, notice, action } => {
                let private = !target.starts_with('#');
                vec![talk(talk_kind(false, *action, *notice), if private { from } else { target }, private, from, text, *unix_ms)]
            }
            Event::Delivered { target, text, unix_ms, .. } => vec![ours(target, text, *unix_ms)],
            Event::History { channel, lines, .. } => lines
                .iter()
                .map(|h| talk(talk_kind(h.own, h.action, h.notice), channel, false, if h.own { own_nick } else { &h.from }, &h.text, h.unix_ms))
                .collect(),
            _ => Vec::new(),
        },
        ChatEvent::Multicast(MulticastEvent::Chat(mchat::Event::Message { nick, text, unix_ms, private, .. })) => {
            vec![talk(LineKind::Message, if *private { nick } else { "" }, *private, nick, text, *unix_ms as i64)]
        }
        _ => Vec::new(),
    }
}

/// A kept message as it shows.
pub fn kept_line(said: &Said) -> Line {
    Line { with: said.private.then(|| said.conversation.clone()), ..Line::said(said.kind, &said.sender, &said.text, said.unix_ms) }
}

/// Something we said: to the room, to one person (`/msg`), or an action (`/me`).
fn own_line(own_nick: &str, target: &str, text: &str, unix_ms: i64) -> Line {
    let with = (!target.starts_with('#')).then(|| target.to_string());
    if let Some(action) = action_text(text) {
        return Line { with, ..Line::said(LineKind::Action, own_nick, action, unix_ms) };
    }
    Line { with, ..Line::said(LineKind::Own, own_nick, text, unix_ms) }
}

fn multicast_line(event: &MulticastEvent) -> Option<Line> {
    use mchat::Event as M;
    Some(match event {
        MulticastEvent::Joined { group, interface, sealed, fingerprint, .. } => {
            let sealed = match sealed {
                Some(id) => tr("encrypted with the group's passphrase (key {0})", &[id]),
                None => tr("not encrypted", &[]),
            };
            let own = fingerprint.as_ref().map(|f| tr("; your key {0}", &[f])).unwrap_or_default();
            Line::info(tr("Joined multicast group {0} on interface {1}, {2}{3}", &[group, interface, &sealed, &own]))
        }
        MulticastEvent::Unopened { tell: false, .. } => return None,
        MulticastEvent::Unopened { total, .. } => Line::error(tr("{0} datagram(s) could not be opened: sent with another passphrase (wrong passphrase?) or altered", &[total])),
        MulticastEvent::Error(text) => Line::error(text.clone()),
        MulticastEvent::Stopped { .. } => return None,
        MulticastEvent::Chat(chat) => match chat {
            M::Message { nick, text, unix_ms, private, .. } => incoming(LineKind::Message, nick, *private, text, *unix_ms as i64),
            M::Plain { from, text } => Line::said(LineKind::Message, &from.to_string(), text, now_ms()),
            M::Joined { nick, trust: Trust::Impostor(key), .. } => {
                let whose = key.as_ref().map(|k| tr(" (their key {0})", &[&fingerprint(k)])).unwrap_or_else(|| tr(" (unsigned)", &[]));
                Line::error(tr("{0}: someone is using a nickname pinned to another key{1}; they are not who the name says", &[nick, &whose]))
            }
            M::Joined { nick, trust, .. } => match trust.fingerprint() {
                Some(f) => Line::info(tr("{0} joined (key {1})", &[nick, &f])),
                None => Line::info(tr("{0} joined (unsigned)", &[nick])),
            },
            M::Left { nick, timed_out: false, .. } => Line::info(tr("{0} left", &[nick])),
            M::Left { nick, timed_out: true, .. } => Line::info(tr("{0} left (not heard from)", &[nick])),
            M::Lost { nick, count, .. } => Line::error(tr("{0} message(s) from {1} could not be recovered", &[count, nick])),
            M::Members { .. } | M::Pinned { .. } => return None,
        },
    })
}

/// Our own line as it would be typed to send it again: a private message with /msg, an action
/// with /me, text that starts with "/" with "//". None for other people's lines.
pub fn typed_again(line: &Line, own_nick: &str) -> Option<String> {
    match line.kind {
        LineKind::Own => Some(match &line.with {
            Some(to) => format!("/msg {to} {}", line.text),
            None if line.text.starts_with('/') => format!("/{}", line.text),
            None => line.text.clone(),
        }),
        LineKind::Action if line.sender == own_nick && line.with.is_none() => Some(format!("/me {}", line.text)),
        _ => None,
    }
}

/// A message from someone else as it arrives (not from history): what a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    pub sender: String,
    pub text: String,
    /// Sent to us alone.
    pub private: bool,
    /// It names us.
    pub mention: bool,
}

/// What asks for the person's attention in `event`: a message from someone else, live.
pub fn attention(event: &ChatEvent, own_nick: &str) -> Option<Attention> {
    let (sender, text, private) = match event {
        ChatEvent::Unicast(UnicastEvent::Chat(Event::Message { from, target, text, .. })) => (from, text, !target.starts_with('#')),
        ChatEvent::Multicast(MulticastEvent::Chat(mchat::Event::Message { nick, text, private, .. })) => (nick, text, *private),
        _ => return None,
    };
    if sender.to_lowercase() == own_nick.to_lowercase() {
        return None;
    }
    Some(Attention { sender: sender.clone(), text: text.clone(), private, mention: mentions(text, own_nick) })
}

/// Whether `text` names `nick`: as a word (any case), or anywhere for a name in a script
/// written without spaces (Chinese, Japanese).
pub fn mentions(text: &str, nick: &str) -> bool {
    let nick = nick.trim();
    if nick.is_empty() {
        return false;
    }
    let (text, nick) = (text.to_lowercase(), nick.to_lowercase());
    let spaceless = |c: char| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}');
    if nick.chars().any(spaceless) {
        return text.contains(&nick);
    }
    let word = |c: char| c.is_alphanumeric() || "_-[]\\`^{}|".contains(c);
    text.match_indices(&nick).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + nick.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Lines from one sender this close together show under one header.
const GROUP_WITHIN_MS: i64 = 5 * 60 * 1000;

/// Whether `line` continues `previous` under its header: the same kind of talk (a message,
/// our own, a notice) from the same sender, within five minutes.
pub fn continues(previous: &Line, line: &Line) -> bool {
    let talk = matches!(line.kind, LineKind::Message | LineKind::Own | LineKind::Notice);
    talk && previous.kind == line.kind
        && previous.sender == line.sender
        && (0..GROUP_WITHIN_MS).contains(&(line.unix_ms - previous.unix_ms))
}

/// Text as Qt rich text that shows exactly what was typed (markup escaped, spaces and line
/// breaks kept), with web addresses as links.
pub fn rich_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("<span style=\"white-space: pre-wrap\">");
    let mut rest = text;
    while let Some(at) = find_link(rest) {
        escape_into(&rest[..at.0], &mut out);
        let link = &rest[at.0..at.1];
        out.push_str("<a href=\"");
        escape_into(link, &mut out);
        out.push_str("\">");
        escape_into(link, &mut out);
        out.push_str("</a>");
        rest = &rest[at.1..];
    }
    escape_into(rest, &mut out);
    out.push_str("</span>");
    out
}

/// The first web address in `text`: its byte range. It ends at white space, at characters
/// that cannot be in one, or before punctuation that ends a sentence.
fn find_link(text: &str) -> Option<(usize, usize)> {
    let start = ["https://", "http://"].iter().filter_map(|scheme| {
        text.match_indices(scheme).map(|(i, _)| i).find(|&i| i == 0 || !text[..i].ends_with(|c: char| c.is_alphanumeric()))
    }).min()?;
    let tail = &text[start..];
    let mut end = tail.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '，' | '。' | '、' | '！' | '？' | '」' | '）')).unwrap_or(tail.len());
    while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')', '\'', ']']) {
        end -= 1;
    }
    let scheme = if tail.starts_with("https://") { 8 } else { 7 };
    (end > scheme).then_some((start, start + end))
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_one_sender_group_under_one_header() {
        let at = |kind, sender: &str, ms| Line::said(kind, sender, "x", ms);
        let first = at(LineKind::Message, "李雷", 1_000);
        assert!(continues(&first, &at(LineKind::Message, "李雷", 61_000)));
        assert!(!continues(&first, &at(LineKind::Message, "bob", 2_000)), "another sender");
        assert!(!continues(&first, &at(LineKind::Message, "李雷", 1_000 + GROUP_WITHIN_MS)), "five minutes later");
        assert!(!continues(&first, &at(LineKind::Action, "李雷", 2_000)), "an action stands alone");
        assert!(!continues(&at(LineKind::Info, "", 1_000), &at(LineKind::Info, "", 2_000)));
        assert!(continues(&at(LineKind::Own, "me", 1_000), &at(LineKind::Own, "me", 1_500)));
    }

    #[test]
    fn messages_are_kept_as_said_and_show_again_as_they_showed() {
        let relay = |event| ChatEvent::Unicast(UnicastEvent::Chat(event));
        let events = [
            relay(Event::Message { from: "李雷".into(), target: "#lobby".into(), text: "大家好".into(), unix_ms: 1, notice: false, action: false }),
            relay(Event::Message { from: "李雷".into(), target: "me".into(), text: "just you".into(), unix_ms: 2, notice: false, action: false }),
            relay(Event::Message { from: "bot".into(), target: "#lobby".into(), text: "build passed".into(), unix_ms: 3, notice: true, action: false }),
            relay(Event::Delivered { id: 1, target: "#lobby".into(), text: "\x01ACTION waves\x01".into(), unix_ms: 4 }),
            relay(Event::Delivered { id: 2, target: "李雷".into(), text: "see you".into(), unix_ms: 5 }),
            ChatEvent::Multicast(MulticastEvent::Chat(mchat::Event::Message { sender: 9, nick: "韩梅梅".into(), text: "组播".into(), unix_ms: 6, trust: Trust::Unsigned, private: false })),
            ChatEvent::Multicast(MulticastEvent::Chat(mchat::Event::Message { sender: 9, nick: "韩梅梅".into(), text: "只给你".into(), unix_ms: 7, trust: Trust::Unsigned, private: true })),
        ];
        for event in &events {
            let kept = kept(event, "me");
            assert_eq!(kept.len(), 1, "{event:?}");
            // Kept, then shown again: as it showed live.
            let live = lines(event, "me").pop().expect("shows a line");
            let again = kept_line(&kept[0]);
            assert_eq!((again.kind, &again.sender, &again.text, again.unix_ms, &again.with), (live.kind, &live.sender, &live.text, live.unix_ms, &live.with), "{event:?}");
        }
        let all: Vec<Said> = events.iter().flat_map(|e| kept(e, "me")).collect();
        let of = |i: usize| (all[i].conversation.as_str(), all[i].private, all[i].kind, all[i].sender.as_str(), all[i].text.as_str());
        assert_eq!(of(0), ("#lobby", false, LineKind::Message, "李雷", "大家好"));
        assert_eq!(of(1), ("李雷", true, LineKind::Message, "李雷", "just you"), "a private message is kept under its sender, its text bare");
        assert_eq!(of(2), ("#lobby", false, LineKind::Notice, "bot", "build passed"));
        assert_eq!(of(3), ("#lobby", false, LineKind::Action, "me", "waves"));
        assert_eq!(of(4), ("李雷", true, LineKind::Own, "me", "see you"));
        assert_eq!(of(5), ("", false, LineKind::Message, "韩梅梅", "组播"));
        assert_eq!(of(6), ("韩梅梅", true, LineKind::Message, "韩梅梅", "只给你"), "a private multicast message is kept under its sender");
        // Joins, topics and the rest are not kept.
        assert!(kept(&relay(Event::Topic { channel: "#lobby".into(), text: "t".into() }), "me").is_empty());
    }

    #[test]
    fn our_own_lines_are_typed_again_as_they_were_sent() {
        let own = |text: &str| Line::said(LineKind::Own, "me", text, 0);
        assert_eq!(typed_again(&own("hello"), "me").as_deref(), Some("hello"));
        let private = own_line("me", "bob", "私聊: text", 0);
        assert_eq!(typed_again(&private, "me").as_deref(), Some("/msg bob 私聊: text"));
        assert_eq!(private.with.as_deref(), Some("bob"));
        // Typed as it shows, it was said to the room.
        assert_eq!(typed_again(&own("→ bob: hi"), "me").as_deref(), Some("→ bob: hi"));
        assert_eq!(typed_again(&own("/not a command"), "me").as_deref(), Some("//not a command"));
        assert_eq!(typed_again(&Line::said(LineKind::Action, "me", "waves", 0), "me").as_deref(), Some("/me waves"));
        assert_eq!(typed_again(&Line::said(LineKind::Action, "bob", "waves", 0), "me"), None);
        assert_eq!(typed_again(&Line::said(LineKind::Message, "bob", "hi", 0), "me"), None);
    }

    #[test]
    fn a_mention_is_the_name_as_a_word_or_anywhere_in_chinese() {
        assert!(mentions("ann: are you there?", "Ann"));
        assert!(mentions("thanks, ANN", "ann"));
        assert!(!mentions("annual report", "ann"));
        assert!(!mentions("joanna", "ann"));
        assert!(!mentions("ann_2 said", "ann"));
        assert!(mentions("窗口你好", "窗口"));
        assert!(!mentions("窗户", "窗口"));
        assert!(mentions("merci zoë!", "Zoë"));
        assert!(!mentions("zoëlla", "zoë"));
        assert!(!mentions("anything", " "));
    }

    #[test]
    fn only_live_messages_from_others_ask_for_attention() {
        let message = |from: &str, target: &str, text: &str| {
            ChatEvent::Unicast(UnicastEvent::Chat(Event::Message {
                from: from.into(),
                target: target.into(),
                text: text.into(),
                unix_ms: 0,
                notice: false,
                action: false,
            }))
        };
        let got = attention(&message("bob", "#lobby", "hi me"), "Me").unwrap();
        assert_eq!(got, Attention { sender: "bob".into(), text: "hi me".into(), private: false, mention: true });
        assert!(attention(&message("bob", "me", "psst"), "me").unwrap().private);
        assert_eq!(attention(&message("ME", "#lobby", "my own"), "me"), None);
        let joined = ChatEvent::Unicast(UnicastEvent::Chat(Event::Joined { channel: "#lobby".into() }));
        assert_eq!(attention(&joined, "me"), None);
    }

    #[test]
    fn rich_text_shows_what_was_typed_and_links_addresses() {
        assert_eq!(rich_text("<b>&</b>  two"), "<span style=\"white-space: pre-wrap\">&lt;b&gt;&amp;&lt;/b&gt;  two</span>");
        let linked = rich_text("see https://example.org/a?b=1&c=2. 以及 http://例子.测试/页，好");
        assert!(linked.contains("<a href=\"https://example.org/a?b=1&amp;c=2\">https://example.org/a?b=1&amp;c=2</a>. 以及 "), "{linked}");
        assert!(linked.contains("<a href=\"http://例子.测试/页\">http://例子.测试/页</a>，好"), "{linked}");
        assert!(!rich_text("xhttps://a.b nothttp://").contains("<a"), "only whole addresses");
        assert!(!rich_text("https://").contains("<a"));
        assert_eq!(find_link("(see https://a.b/c)"), Some((5, 18)));
    }
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn each_event_shows_one_line_or_none() {
        let relay = |e: Event| ChatEvent::Unicast(UnicastEvent::Chat(e));
        let message = relay(Event::Message { from: "李".into(), target: "#lobby".into(), text: "你好".into(), unix_ms: 5, notice: false, action: true });
        assert_eq!(line(&message, "me"), Some(Line::said(LineKind::Action, "李", "你好", 5)));
        let queued = line(&relay(Event::Queued { id: 3, target: "#lobby".into(), text: "hi".into() }), "me").unwrap();
        assert_eq!((queued.kind, queued.sender.as_str(), queued.pending, queued.local_id), (LineKind::Own, "me", true, Some(3)));
        let delivered = line(&relay(Event::Delivered { id: 3, target: "#lobby".into(), text: "hi".into(), unix_ms: 9 }), "me").unwrap();
        assert_eq!((delivered.pending, delivered.local_id, delivered.unix_ms), (false, Some(3), 9));
        let left = relay(Event::MemberLeft { channel: "#c".into(), nick: "bob".into(), reason: "Quit: bye".into() });
        assert_eq!(line(&left, "me").unwrap().text, "bob left #c (Quit: bye)");
        assert_eq!(line(&relay(Event::Info { text: "no".into(), error: true }), "me").unwrap().kind, LineKind::Error);
        assert_eq!(line(&relay(Event::Members { channel: "#c".into(), nicks: vec![], away: vec![] }), "me"), None);
        let group = SocketAddrV4::new(Ipv4Addr::new(239, 0, 0, 222), 23333);
        let joined = ChatEvent::Multicast(MulticastEvent::Joined { group, interface: Ipv4Addr::LOCALHOST, id: 1, sealed: None, fingerprint: None });
        assert_eq!(line(&joined, "me").unwrap().text, "Joined multicast group 239.0.0.222:23333 on interface 127.0.0.1, not encrypted");
        let sealed = ChatEvent::Multicast(MulticastEvent::Joined { group, interface: Ipv4Addr::LOCALHOST, id: 1, sealed: Some("ab12cd34".into()), fingerprint: Some("1234 5678 9abc def0".into()) });
        assert!(line(&sealed, "me").unwrap().text.ends_with("encrypted with the group's passphrase (key ab12cd34); your key 1234 5678 9abc def0"));
        let impostor = ChatEvent::Multicast(MulticastEvent::Chat(mchat::Event::Joined { sender: 2, nick: "impostor of 李".into(), trust: Trust::Impostor(None) }));
        let impostor = line(&impostor, "me").unwrap();
        assert_eq!(impostor.kind, LineKind::Error);
        assert!(impostor.text.starts_with("impostor of 李: someone is using"));
        let lost = ChatEvent::Multicast(MulticastEvent::Chat(mchat::Event::Lost { sender: 1, nick: "张".into(), count: 2 }));
        let lost = line(&lost, "me").unwrap();
        assert_eq!((lost.kind, lost.text.as_str()), (LineKind::Error, "2 message(s) from 张 could not be recovered"));
    }
}
