//! The relay keeps what is said in SQLite: it survives a restart, comes back through IRCv3
//! chathistory, and a client that joins late or reconnects sees it once, above a separator.

mod common;

use common::{open_config, scratch, Peer, Process, Raw};
use lanmeet::proto::irc::client::Event;
use lanmeet::server::history::HistoryConfig;
use lanmeet::server::{self, RelayConfig, RelayHandle};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

fn relay_keeping(path: &Path, at: SocketAddr) -> RelayHandle {
    server::spawn(RelayConfig {
        listen: Some(at),
        listen_tls: None,
        irc: open_config(),
        max_send_queue: 4 << 20,
        history: Some(HistoryConfig::at(path.to_path_buf())),
    })
    .expect("relay starts")
}

fn history_of(peer: &Peer) -> (Vec<(String, String)>, bool) {
    peer.wait_for("history", |e| match e {
        Event::History { lines, missed, .. } => Some((lines.iter().map(|l| (l.from.clone(), l.text.clone())).collect(), *missed)),
        _ => None,
    })
}

#[test]
fn what_was_said_survives_a_restart_and_greets_whoever_joins() {
    let dir = scratch("history-restart");
    let db = dir.join("history.sqlite3");
    let relay = relay_keeping(&db, SocketAddr::from(([127, 0, 0, 1], 0)));
    let at = relay.local_addr();
    let alice = Peer::start_with(&at.to_string(), "alice", false, None);
    alice.joined();
    let mut bob = Raw::join(at, "bob", "#lobby");
    alice.say("before the restart 重启前");
    bob.expect(|m| m.command == "PRIVMSG");
    bob.send("PRIVMSG alice :just between us");
    alice.messages(1);
    drop(alice);
    drop(bob);
    drop(relay);
    assert!(db.exists(), "the history is on disk");

    let relay = relay_keeping(&db, at);
    let carol = Peer::start_with(&at.to_string(), "carol", false, None);
    let (lines, missed) = history_of(&carol);
    assert_eq!(lines, [("alice".to_string(), "before the restart 重启前".to_string())], "the room's, not the private message");
    assert!(!missed);
    // The terminal client shows it too, above a separator.
    let terminal = Process::start(&["chat", "--server", &at.to_string(), "--plain", "--nick", "dave"]);
    terminal.wait_for_line("the kept message", |l| l.contains("<alice> before the restart 重启前"));
    terminal.wait_for_line("the separator", |l| l.contains("1 earlier message(s), above"));
    drop(relay);
}

#[test]
fn a_reconnecting_client_gets_exactly_what_it_missed() {
    let dir = scratch("history-missed");
    let db = dir.join("history.sqlite3");
    let at = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let relay = relay_keeping(&db, at);
    let watcher = Peer::start_with(&at.to_string(), "watcher", false, None);
    watcher.joined();
    assert_eq!(history_of(&watcher), (Vec::new(), false), "a new room has nothing to show");
    let mut talker = Raw::join(at, "talker", "#lobby");
    talker.send("PRIVMSG #lobby :seen live");
    assert_eq!(watcher.messages(1), [("talker".to_string(), "seen live".to_string())]);
    // The relay goes away and comes back; meanwhile nothing is said, then two lines are.
    drop(talker);
    drop(relay);
    let relay = relay_keeping(&db, at);
    let mut talker = Raw::join(at, "talker", "#lobby");
    for text in ["said while you were gone", "and this too"] {
        talker.send(&format!("PRIVMSG #lobby :{text}"));
    }
    talker.send("PING :written");
    talker.expect(|m| m.command == "PONG");
    // The watcher reconnects on its own (its backoff is short) and asks for what came after
    // the last line it saw.
    let (lines, missed) = history_of(&watcher);
    let texts: Vec<&str> = lines.iter().map(|(_, t)| t.as_str()).collect();
    assert!(missed);
    // Its rejoin may come before the two lines (then they arrive live and history is empty)
    // or after; either way each shows exactly once.
    let mut seen: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    while seen.len() < 2 {
        seen.push(watcher.messages(1).remove(0).1);
    }
    assert_eq!(seen, ["said while you were gone", "and this too"]);
    std::thread::sleep(Duration::from_millis(300));
    let extra: Vec<String> = watcher
        .events
        .try_iter()
        .filter_map(|e| match e {
            lanmeet::app::chat::ChatEvent::Unicast(lanmeet::net::unicast::UnicastEvent::Chat(Event::Message { text, .. })) => Some(text),
            _ => None,
        })
        .collect();
    assert!(extra.is_empty(), "shown twice: {extra:?}");
    drop(relay);
}

#[test]
fn ten_thousand_messages_come_back_in_pages() {
    let dir = scratch("history-pages");
    let relay = relay_keeping(&dir.join("history.sqlite3"), SocketAddr::from(([127, 0, 0, 1], 0)));
    let at = relay.local_addr();
    let mut writer = Raw::join(at, "writer", "#archive");
    const COUNT: usize = 10_000;
    for i in 0..COUNT {
        writer.send(&format!("PRIVMSG #archive :message {i} 消息"));
    }
    writer.send("PING :all-sent");
    writer.expect(|m| m.command == "PONG");
    let mut reader = Raw::connect(at);
    reader.nick = "reader".into();
    reader.send("CAP REQ :batch draft/chathistory server-time message-tags\r\nNICK reader\r\nUSER reader 0 * :reader\r\nCAP END\r\nJOIN #archive");
    reader.expect(|m| m.command == "366");
    let started = std::time::Instant::now();
    let mut texts: Vec<String> = Vec::new();
    let mut request = "CHATHISTORY LATEST #archive * 100".to_string();
    loop {
        reader.send(&request);
        reader.expect(|m| m.command == "BATCH" && m.params[0].starts_with('+'));
        let mut page = Vec::new();
        loop {
            let m = reader.expect(|m| m.command == "PRIVMSG" || m.command == "BATCH");
            if m.command == "BATCH" {
                break;
            }
            page.push((m.tag("msgid").unwrap().to_string(), m.params[1].clone()));
        }
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 100);
        request = format!("CHATHISTORY BEFORE #archive msgid={} 100", page[0].0);
        let mut older: Vec<String> = page.into_iter().map(|(_, t)| t).collect();
        older.append(&mut texts);
        texts = older;
    }
    let expected: Vec<String> = (0..COUNT).map(|i| format!("message {i} 消息")).collect();
    assert_eq!(texts, expected, "every message once, in order");
    println!("10,000 messages in 100 pages: {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
    drop(relay);
}
