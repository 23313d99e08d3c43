//! The terminal front end: `lanmeet chat` reads lines from standard input and prints what the
//! room says, one line each, in this format (documented in README.md):
//!
//! ```text
//! [12:00:01] <alice> text        a message (our own ones too, once the server confirmed them)
//! [12:00:01] * alice waves       an action (/me)
//! [12:00:01] -alice- text        a notice
//! -!- bob joined #lobby          a notice about the room or the connection
//! ```
//!
//! Errors go to standard error. On end of input it delivers everything typed, then leaves.

use super::chat::{ChatEvent, ChatSession, ChatSettings};
use super::i18n::tr;
use super::lines::{self, Line, LineKind};
use super::multicast_chat::{MulticastChat, MulticastConfig};
use crate::net::multicast::MulticastEvent;
use crate::net::unicast::{Status, UnicastEvent};
use crate::proto::irc::client::Event;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long `chat` keeps trying to deliver queued messages after its input ends.
const FLUSH_PATIENCE: Duration = Duration::from_secs(20);

fn clock(unix_ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(unix_ms) {
        chrono::LocalResult::Single(t) => t.format("%H:%M:%S").to_string(),
        _ => "--:--:--".into(),
    }
}

/// The lines printed for an event, and whether each belongs on standard error: the
/// connection's status here, everything else as `lines` shows it.
pub fn describe(event: &ChatEvent, own_nick: &str) -> Vec<(String, bool)> {
    if let Some(status) = describe_status(event) {
        return status.into_iter().collect();
    }
    lines::lines(event, own_nick).iter().filter_map(format_line).collect()
}

/// The connection's status as printed (Some(None) for a status not worth a line), or None for
/// other events.
fn describe_status(event: &ChatEvent) -> Option<Option<(String, bool)>> {
    if let ChatEvent::Unicast(UnicastEvent::Status(status)) = event {
        return Some(match status {
            Status::Connecting { server } => Some((format!("-!- connecting to {server}"), false)),
            Status::Connected { server, tls: None } => Some((format!("-!- connected to {server} (plain text, not encrypted)"), false)),
            Status::Connected { server, tls: Some(seen) } => {
                let trust = if seen.first_use { "pinned now, on first use" } else { "as pinned" };
                Some((format!("-!- connected to {server} over TLS, certificate SHA-256 {} ({trust})", seen.fingerprint), false))
            }
            Status::Reconnecting { in_ms, error } => {
                Some((format!("-!- {error}; reconnecting in {:.1} s", *in_ms as f64 / 1000.0), true))
            }
            Status::Failed { error } => Some((format!("-!- {error}; check the server address"), true)),
            Status::Stopped { undelivered: 0 } => None,
            Status::Stopped { undelivered } => Some((format!("-!- {undelivered} message(s) could not be delivered"), true)),
        });
    }
    None
}

/// A line as the terminal prints it; our own lines only once the relay confirmed them.
pub fn format_line(line: &Line) -> Option<(String, bool)> {
    let time = clock(line.unix_ms);
    let sender = &line.sender;
    // A private message says so: ours with whom it went to.
    let text = match (&line.with, line.kind) {
        (None, _) => line.text.clone(),
        (Some(to), LineKind::Own) => format!("→ {to}: {}", line.text),
        (Some(_), _) => tr("(private) {0}", &[&line.text]),
    };
    Some(match line.kind {
        _ if line.pending => return None,
        LineKind::Message | LineKind::Own => (format!("[{time}] <{sender}> {text}"), false),
        LineKind::Action => (format!("[{time}] * {sender} {text}"), false),
        LineKind::Notice => (format!("[{time}] -{sender}- {text}"), false),
        LineKind::Info => (format!("-!- {text}"), false),
        LineKind::Error => (format!("-!- {text}"), true),
    })
}

/// Lines as text, one a line as `format_line` prints them, those still being sent too.
pub fn transcript(lines: &[Line]) -> String {
    lines
        .iter()
        .filter_map(|line| format_line(&Line { pending: false, ..line.clone() }))
        .map(|(text, _)| text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Longest piece of one input line taken at once.
const MAX_INPUT_CHUNK: usize = 64 * 1024;

/// Remove an incomplete UTF-8 character from the end of `bytes` and return it.
fn split_off_partial_char(bytes: &mut Vec<u8>) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => bytes.split_off(e.valid_up_to()),
        _ => Vec::new(),
    }
}

/// `lanmeet chat --multicast`: the same terminal client without a server.
pub fn run_multicast_chat(config: MulticastConfig) -> ExitCode {
    let nick = config.nick.clone();
    let own = nick.clone();
    let handle = MulticastChat::start(config, move |event| {
        if let ChatEvent::Multicast(MulticastEvent::Stopped { counters }) = &event {
            log::info!("multicast counters: {counters:?}");
        }
        print_line(describe(&event, &own));
    });
    let handle = match handle {
        Ok(h) => h,
        Err(e) => {
            eprintln!("lanmeet chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    for_each_input_line(|text| {
        // `/msg NICK text` goes to that participant alone.
        let private = text.strip_prefix("/msg ").and_then(|rest| rest.trim_start().split_once(' ')).filter(|(_, said)| !said.trim().is_empty());
        let line = Line::said(LineKind::Own, &nick, text, lines::now_ms());
        let line = match private {
            Some((to, said)) => {
                handle.say_to(to, said);
                Line { with: Some(to.to_string()), text: said.to_string(), ..line }
            }
            None => {
                handle.say(text);
                line
            }
        };
        // Our own lines are not looped back to us: print them as sent.
        print_line(format_line(&line));
    });
    // Stay a moment so that peers can ask for repairs of the last lines.
    std::thread::sleep(Duration::from_millis(1500));
    handle.stop();
    ExitCode::SUCCESS
}

/// Text as it may reach a terminal: what peers send is untrusted, so control characters (a
/// newline that would forge a line of ours, escape sequences that retitle or clear the terminal)
/// and the invisible marks that reorder text are shown escaped, and one event stays one line.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn print_line(lines: impl IntoIterator<Item = (String, bool)>) {
    for (line, to_stderr) in lines {
        let line = printable(&line);
        if to_stderr {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

pub fn run_chat(settings: ChatSettings) -> ExitCode {
    let undelivered = Arc::new(AtomicUsize::new(0));
    let seen = undelivered.clone();
    let mut nick = settings.nick.clone();
    let session = ChatSession::start(settings, move |event| {
        match &event {
            ChatEvent::Unicast(UnicastEvent::Chat(Event::Registered { nick: n })) => nick = n.clone(),
            ChatEvent::Unicast(UnicastEvent::Chat(Event::NickChanged { old, new })) if *old == nick => nick = new.clone(),
            ChatEvent::Unicast(UnicastEvent::Status(Status::Stopped { undelivered })) => {
                seen.store(*undelivered, Ordering::SeqCst)
            }
            _ => {}
        }
        print_line(describe(&event, &nick));
    });
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lanmeet chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    for_each_input_line(|text| session.say(text));
    session.finish(FLUSH_PATIENCE);
    if undelivered.load(Ordering::SeqCst) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Read standard input line by line (a line without end is taken in pieces) and hand each to
/// `on_line`, without its line ending. Bytes that are not UTF-8 are replaced, with a warning.
fn for_each_input_line(mut on_line: impl FnMut(&str)) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        // A line without end (say, from a binary file) is sent in pieces rather than held whole.
        match (&mut input).take(MAX_INPUT_CHUNK as u64).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => break,
            Ok(_) => {
                let complete = line.last() == Some(&b'\n') || line.len() < MAX_INPUT_CHUNK;
                let carry = if complete { Vec::new() } else { split_off_partial_char(&mut line) };
                let line_number = number + 1;
                if complete {
                    number += 1;
                }
                let text = match std::str::from_utf8(&line) {
                    Ok(text) => text.to_string(),
                    Err(_) => {
                        eprintln!("lanmeet chat: input line {line_number} is not valid UTF-8; sending it with replacement characters");
                        String::from_utf8_lossy(&line).into_owned()
                    }
                };
                on_line(text.trim_end_matches(['\r', '\n']));
                line = carry;
            }
            Err(e) => {
                eprintln!("lanmeet chat: cannot read standard input: {e}");
                break;
            }
        }
    }
}

/// `lanmeet conference --headless`: a conference peer without a window. Prints one JSON object
/// a line on standard output: `{"type":"stats",...}` every second, `{"type":"participant",...}`,
/// `{"type":"left",...}`, `{"type":"camera",...}`, `{"type":"error",...}`, and at the end
/// `{"type":"summary",...}`. Runs for `duration`, or until interrupted (SIGINT or SIGTERM).
pub fn run_conference(config: super::conference::ConferenceConfig, duration: Option<Duration>) -> ExitCode {
    use super::conference::{self, ConferenceEvent};
    use serde_json::{json, Value};
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    }) {
        log::warn!("cannot catch interrupts, the conference ends only after its duration: {e}");
    }
    let with_type = |kind: &str, value: Value| {
        let mut value = value;
        if let Value::Object(map) = &mut value {
            map.insert("type".into(), Value::String(kind.into()));
        }
        value
    };
    let sink: conference::Sink = Arc::new(move |event| {
        let line = match event {
            ConferenceEvent::Stats(stats) => with_type("stats", serde_json::to_value(stats).unwrap_or_default()),
            ConferenceEvent::Stopped(summary) => with_type("summary", serde_json::to_value(summary).unwrap_or_default()),
            ConferenceEvent::Participant { ssrc, nick } => json!({"type": "participant", "ssrc": ssrc, "nick": nick}),
            ConferenceEvent::Left { ssrc, nick } => json!({"type": "left", "ssrc": ssrc, "nick": nick}),
            ConferenceEvent::Camera(state) => json!({"type": "camera", "state": state.describe(conference::DeviceKind::Camera)}),
            ConferenceEvent::Error(text) => json!({"type": "error", "message": text}),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    });
    let handle = match conference::spawn(config, sink) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("lanmeet conference: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = match duration {
        Some(duration) => stop_rx.recv_timeout(duration).ok(),
        None => stop_rx.recv().ok(),
    };
    handle.stop();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::printable;
    use crate::app::lines::{Line, LineKind};

    #[test]
    fn a_transcript_names_each_sender_and_keeps_lines_being_sent() {
        let mut own = Line::said(LineKind::Own, "我", "第二行\nsecond line", 0);
        own.pending = true;
        let lines = [
            Line::said(LineKind::Message, "ann", "hello", 0),
            own,
            Line::said(LineKind::Action, "ann", "waves", 0),
            Line::info("You joined #lobby".into()),
        ];
        let text = super::transcript(&lines);
        let shown: Vec<&str> = text.lines().map(|l| l.split_once("] ").map_or(l, |(_, rest)| rest)).collect();
        assert_eq!(shown, ["<ann> hello", "<我> 第二行", "second line", "* ann waves", "-!- You joined #lobby"]);
    }

    #[test]
    fn untrusted_text_cannot_forge_lines_or_drive_the_terminal() {
        let rows = [
            ("你好 plain text stays", "你好 plain text stays"),
            ("hi\n-!- honest left", "hi\\n-!- honest left"),
            ("a\r\x1b]0;owned\x07b", "a\\r\\x1b]0;owned\\x07b"),
            ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
            ("tab\there", "tab\\there"),
            ("\u{9b}31m C1", "\\x9b31m C1"),
            ("\u{202e}txt.exe", "\\u{202e}txt.exe"),
        ];
        for (input, shown) in rows {
            assert_eq!(printable(input), shown, "{input:?}");
            assert!(!printable(input).chars().any(char::is_control));
        }
    }
}
