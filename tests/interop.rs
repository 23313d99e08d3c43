//! Interoperability with IRC software that no lanmeet code wrote: our client stack through
//! Debian's ngIRCd, and Debian's WeeChat (headless) on our relay.

mod common;

use common::{certificate, free_port, open_config, relay, scratch, tls_relay_at, Daemon, Peer, Raw, PATIENCE};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start_ngircd(port: u16) -> Daemon {
    common::ngircd("irc.interop.test", port, &[])
}

#[test]
fn our_client_chats_through_ngircd() {
    let port = free_port();
    let _ngircd = start_ngircd(port);
    let addr = format!("127.0.0.1:{port}");
    let alice = Peer::start(&addr, "alice", false);
    alice.joined();
    let bob = Peer::start(&addr, "bob", false);
    bob.joined();
    alice.say("你好 ngIRCd\nsecond line");
    assert_eq!(
        bob.messages(2),
        [("alice".to_string(), "你好 ngIRCd".to_string()), ("alice".to_string(), "second line".to_string())]
    );
    let long = "字".repeat(300);
    bob.say(&long);
    let pieces = alice.messages(3);
    assert_eq!(pieces.iter().map(|(_, t)| t.as_str()).collect::<String>(), long, "long text cut and rejoined");
}

/// Debian's WeeChat without a terminal, its home in `dir`, running `script`.
fn weechat(dir: &std::path::Path, script: &str) -> Daemon {
    let child = Command::new("weechat-headless")
        .arg("--dir")
        .arg(dir)
        .args(["-r", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weechat-headless is installed (scripts/test installs it)");
    Daemon(child)
}

#[test]
fn weechat_chats_on_our_relay() {
    let relay = relay(open_config());
    let addr = relay.local_addr();
    let mut watcher = Raw::join(addr, "watcher", "#lobby");
    let dir = scratch("weechat");
    let script = format!(
        "/set logger.file.flush_delay 0; /set irc.server_default.autojoin \"#lobby\"; /server add lm 127.0.0.1/{} -notls -nicks=weeuser; \
         /connect lm; /wait 2 /msg -server lm #lobby hello from weechat 你好",
        addr.port()
    );
    let _weechat = weechat(&dir, &script);
    watcher.expect(|m| m.command == "JOIN" && m.source_nick() == Some("weeuser"));
    let m = watcher.expect(|m| m.command == "PRIVMSG");
    assert_eq!(m.source_nick(), Some("weeuser"));
    assert_eq!(m.param(1), Some("hello from weechat 你好"));
    watcher.send("PRIVMSG #lobby :reply 回复 to weechat");
    let log = dir.join("logs").join("irc.lm.#lobby.weechatlog");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().any(|l| l.ends_with("watcher\treply 回复 to weechat")) {
            break;
        }
        assert!(Instant::now() < deadline, "weechat never showed the reply; its log:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn weechat_chats_on_our_relay_over_tls_with_a_pinned_fingerprint() {
    let dir = scratch("weechat-tls");
    let tls = certificate(&dir, "relay");
    let relay = tls_relay_at(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &tls);
    let addr = relay.tls_addr().unwrap();
    let pinned = Peer::start_tls(&addr.to_string(), "watcher", lanmeet::net::tls::KnownServers::new(dir.join("known_servers")));
    pinned.joined();
    // WeeChat 3.8 (Debian 12) calls TLS "ssl"; the fingerprint is SHA-256 in bare hex.
    let hex = tls.fingerprint.replace(':', "").to_lowercase();
    let script = format!(
        "/set logger.file.flush_delay 0; /set irc.server_default.autojoin \"#lobby\"; /server add lm 127.0.0.1/{} -ssl -ssl_fingerprint={hex} -nicks=weetls; \
         /connect lm; /wait 2 /msg -server lm #lobby over TLS 加密",
        addr.port()
    );
    let _weechat = weechat(&dir.join("weechat"), &script);
    let heard = pinned.messages(1);
    assert_eq!(heard, vec![("weetls".to_string(), "over TLS 加密".to_string())]);
}

#[test]
fn our_client_and_terminal_chat_across_two_linked_ngircd_servers() {
    let (_first, _second, a, b) = common::linked_ngircds();
    let here = Peer::start_with(&format!("127.0.0.1:{a}"), "here", false, None);
    here.joined();
    // The terminal client on the other server.
    let terminal = common::Process::start(&["chat", "--server", &format!("127.0.0.1:{b}"), "--plain", "--nick", "there"]);
    terminal.wait_for_line("joining", |l| l.contains("You joined #lobby"));
    // The servers link a moment after they start; the join reaches the other side then.
    here.wait_for("the other server's user", |e| match e {
        lanmeet::proto::irc::client::Event::MemberJoined { nick, .. } if nick == "there" => Some(()),
        _ => None,
    });
    here.say("across the link 跨服务器");
    terminal.wait_for_line("the message", |l| l.contains("<here> across the link 跨服务器"));
    let mut terminal = terminal;
    terminal.type_lines("and back again 回来\n");
    assert_eq!(here.messages(1), [("there".to_string(), "and back again 回来".to_string())]);
}

#[test]
fn weechat_moderates_on_our_relay() {
    let relay = relay(open_config());
    let addr = relay.local_addr();
    let dir = scratch("weechat-moderates");
    // WeeChat comes first to the room, so it is its operator; it makes the room moderated,
    // gives the pupil voice, then kicks it, from the room's buffer as a person types there.
    let script = format!(
        "/set irc.server_default.autojoin \"#class\"; /server add lm 127.0.0.1/{} -notls -nicks=teacher; /connect lm; \
         /wait 3 /command -buffer irc.lm.#class irc /mode +m; \
         /wait 4 /command -buffer irc.lm.#class irc /voice pupil; \
         /wait 5 /command -buffer irc.lm.#class irc /kick pupil that is enough",
        addr.port()
    );
    let _weechat = weechat(&dir, &script);
    // The pupil joins once the teacher is the room's operator.
    let mut pupil = Raw::connect(addr);
    pupil.nick = "pupil".into();
    pupil.send("NICK pupil\r\nUSER pupil 0 * :pupil");
    pupil.expect(|m| m.command == "001");
    let deadline = Instant::now() + PATIENCE;
    loop {
        pupil.send("NAMES #class");
        let names = pupil.expect(|m| m.command == "353" || m.command == "366");
        if names.command == "353" && names.param(3).is_some_and(|n| n.split(' ').any(|n| n == "@teacher")) {
            break;
        }
        assert!(Instant::now() < deadline, "weechat never joined");
        std::thread::sleep(Duration::from_millis(100));
    }
    pupil.send("JOIN #class");
    let moderated = pupil.expect(|m| m.command == "MODE");
    assert_eq!((moderated.source_nick(), moderated.params[1].as_str()), (Some("teacher"), "+m"));
    let voiced = pupil.expect(|m| m.command == "MODE");
    assert_eq!(voiced.params[1..], ["+v", "pupil"]);
    let kick = pupil.expect(|m| m.command == "KICK");
    assert_eq!((kick.source_nick(), kick.param(1), kick.param(2)), (Some("teacher"), Some("pupil"), Some("that is enough")));
}
