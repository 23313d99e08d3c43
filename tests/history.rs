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
        history: Some(HistoryConfig { path: path.to_path_buf(), retention: Duration::from_secs(30 * 86_400) }),
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
