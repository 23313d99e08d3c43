//! The relay server and the client stack over real sockets on 127.0.0.1.

mod common;

use common::{free_port, open_config, relay, relay_at, Peer, Raw, PATIENCE};
use lanmeet::app::chat::ChatEvent;
use lanmeet::net::unicast::Status;
use lanmeet::proto::irc::client::Event;
use lanmeet::proto::irc::server::ServerConfig;
use socket2::{Domain, Socket, Type};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn every_message_reaches_every_other_member_once_in_order() {
    const CLIENTS: usize = 30;
    const SENDERS: usize = 6;
    const MESSAGES: usize = 300;
    let relay = relay(open_config());
    let addr = relay.local_addr();
    let mut clients: Vec<Raw> = (0..CLIENTS).map(|i| Raw::join(addr, &format!("c{i}"), "#lobby")).collect();
    let senders: Vec<Raw> = clients.drain(..SENDERS).collect();
    // Texts of many sizes, CJK included, some longer than the report's 1024-byte reads.
    let text = |sender: usize, seq: usize| {
        let pad = "码".repeat((seq * 7) % 120);
        format!("{sender} {seq} {pad}")
    };
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut raw| {
            std::thread::spawn(move || {
                let mut next = HashMap::new();
                let mut count = 0;
                while count < SENDERS * MESSAGES {
                    let m = raw.expect(|m| m.command == "PRIVMSG");
                    let body = m.param(1).unwrap().to_string();
                    let mut parts = body.splitn(3, ' ');
                    let sender: usize = parts.next().unwrap().parse().unwrap();
                    let seq: usize = parts.next().unwrap().parse().unwrap();
                    let expected = next.entry(sender).or_insert(0usize);
                    assert_eq!(seq, *expected, "{}: sender {sender} out of order or duplicated", raw.nick);
                    assert_eq!(body, text(sender, seq));
                    *expected += 1;
                    count += 1;
                }
                count
            })
        })
        .collect();
    let writers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, mut raw)| {
            std::thread::spawn(move || {
                for seq in 0..MESSAGES {
                    raw.send(&format!("PRIVMSG #lobby :{}", text(s, seq)));
                }
                raw
            })
        })
        .collect();
    let _senders: Vec<Raw> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), SENDERS * MESSAGES);
    }
}

#[test]
fn bad_input_gets_an_error_and_the_connection_stays() {
    let relay = relay(open_config());
    let addr = relay.local_addr();
    let mut alice = Raw::join(addr, "alice", "#lobby");
    let mut bob = Raw::join(addr, "bob", "#lobby");
    alice.send(&format!("PRIVMSG #lobby :{}", "x".repeat(20_000)));
    alice.expect(|m| m.command == "417");
    alice.send_bytes(b"PRIVMSG #lobby :caf\xe9\r\n");
    assert_eq!(alice.expect(|m| m.command == "FAIL").param(1), Some("INVALID_UTF8"));
    alice.send("GARBAGE in");
    alice.expect(|m| m.command == "421");
    alice.send_bytes(b"PRIVMSG #lobby :nul\0\r\n");
    assert_eq!(alice.expect(|m| m.command == "FAIL").param(1), Some("INVALID_MESSAGE"));
    alice.send("PRIVMSG #lobby :still here 还在");
    let m = bob.expect(|m| m.command == "PRIVMSG");
    assert_eq!(m.param(1), Some("still here 还在"), "bad lines were not relayed, the good one was");
}

#[test]
fn a_peer_vanishing_mid_line_sends_nothing_half() {
    let relay = relay(open_config());
    let addr = relay.local_addr();
    let mut bob = Raw::join(addr, "bob", "#lobby");
    let mut alice = Raw::join(addr, "alice", "#lobby");
    bob.expect(|m| m.command == "JOIN" && m.source_nick() == Some("alice"));
    alice.send_bytes(b"PRIVMSG #lobby :complete\r\nPRIVMSG #lobby :half of a mes");
    drop(alice);
    assert_eq!(bob.expect(|m| m.command == "PRIVMSG").param(1), Some("complete"));
    let quit = bob.expect(|m| m.command == "QUIT");
    assert!(quit.param(0).unwrap().contains("middle of a message"), "{quit:?}");
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_nobody_else_waits() {
    let relay = relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), open_config(), 64 * 1024);
    let addr = relay.local_addr();
    // The slow client has a tiny receive buffer and never reads.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let slow: std::net::TcpStream = socket.into();
    let mut slow_link = common::link(slow.try_clone().unwrap(), addr);
    slow_link.send(b"NICK slow\r\nUSER slow 0 * :slow\r\nJOIN #lobby\r\n").unwrap();
    let mut slow = slow;
    let mut fast = Raw::join(addr, "fast", "#lobby");
    loop {
        fast.send("NAMES #lobby");
        let names = fast.expect(|m| m.command == "353");
        if names.param(3).unwrap().split(' ').any(|n| n.trim_start_matches('@') == "slow") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut sender = Raw::join(addr, "sender", "#lobby");
    const COUNT: usize = 12_000;
    let line = "y".repeat(400);
    // The sender keeps at most 100 lines (some 40 KiB) ahead of the fast client, so that a
    // client that reads is never further behind than the limit, however slowly this machine
    // runs it; the slow one falls behind by everything.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let read_so_far = progress.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..COUNT {
            while read_so_far.load(std::sync::atomic::Ordering::Relaxed) + 100 < i {
                std::thread::sleep(Duration::from_micros(200));
            }
            sender.send(&format!("PRIVMSG #lobby :{i} {line}"));
        }
        sender
    });
    let mut received = 0;
    let mut saw_cut = false;
    while received < COUNT {
        let m = fast.expect(|m| m.command == "PRIVMSG" || m.command == "QUIT");
        if m.command == "QUIT" {
            assert_eq!(m.source_nick(), Some("slow"));
            assert_eq!(m.param(0), Some("SendQ exceeded"));
            saw_cut = true;
        } else {
            let seq: usize = m.param(1).unwrap().split(' ').next().unwrap().parse().unwrap();
            assert_eq!(seq, received);
            received += 1;
            progress.store(received, std::sync::atomic::Ordering::Relaxed);
        }
    }
    writer.join().unwrap();
    assert!(saw_cut, "the slow client was never cut off");
    // What the relay wrote before cutting it off is still on its way through a 4 KiB window:
    // open the window so that it drains at once, and expect the end within the patience.
    socket2::SockRef::from(&slow).set_recv_buffer_size(1 << 22).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut sink = vec![0; 1 << 16];
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        assert!(std::time::Instant::now() < deadline, "the slow client was cut off but its connection stays open");
        match slow.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("slow client still connected: {e}"),
        }
    }
}

#[test]
fn silent_clients_time_out_by_ping() {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(600),
        ping_timeout: Duration::from_millis(600),
        ..open_config()
    };
    let relay = relay(config);
    let addr = relay.local_addr().to_string();
    let watcher = Peer::start(&addr, "watcher", false);
    watcher.joined();
    let mut mute = Raw::join(relay.local_addr(), "mute", "#lobby");
    mute.expect(|m| m.command == "PING");
    assert!(mute.closed_within(Duration::from_secs(5)), "no PONG, yet still connected");
    let reason = watcher.wait_for("mute to leave", |e| match e {
        Event::MemberLeft { nick, reason, .. } if nick == "mute" => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, "Ping timeout");
    // The watcher answers pings, so it is still in the room.
    let mut check = Raw::join(relay.local_addr(), "check", "#lobby");
    check.send("NAMES #lobby");
    let names = check.expect(|m| m.command == "353");
    assert!(names.param(3).unwrap().contains("watcher"), "{names:?}");
}

#[test]
fn colliding_nicknames_both_get_in() {
    let relay = relay(open_config());
    let addr = relay.local_addr().to_string();
    let first = Peer::start(&addr, "双胞胎", false);
    first.joined();
    let second = Peer::start(&addr, "双胞胎", false);
    let nick = second.wait_for("registration", |e| match e {
        Event::Registered { nick } => Some(nick.clone()),
        _ => None,
    });
    assert_eq!(nick, "双胞胎_1");
    second.joined();
    second.say("我也在");
    assert_eq!(first.messages(1), [("双胞胎_1".to_string(), "我也在".to_string())]);
}

#[test]
fn nothing_typed_is_lost_across_a_server_restart() {
    let port = free_port();
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let relay = relay_at(listen, open_config(), 4 << 20);
    let writer = Peer::start(&listen.to_string(), "writer", false);
    writer.joined();
    writer.say("before");
    writer.wait_for("delivery", |e| matches!(e, Event::Delivered { .. }).then_some(()));
    drop(relay);
    writer.wait_status("loss of the connection", |s| matches!(s, Status::Reconnecting { .. }));
    for i in 1..=5 {
        writer.say(&format!("while down {i} 断线"));
    }
    let _relay = relay_at(listen, open_config(), 4 << 20);
    let mut watcher = Raw::join(listen, "watcher", "#lobby");
    let got: Vec<String> = (0..5)
        .map(|_| watcher.expect(|m| m.command == "PRIVMSG").param(1).unwrap().to_string())
        .collect();
    let want: Vec<String> = (1..=5).map(|i| format!("while down {i} 断线")).collect();
    assert_eq!(got, want);
    for _ in 0..5 {
        writer.wait_for("delivery after reconnect", |e| matches!(e, Event::Delivered { .. }).then_some(()));
    }
}

#[test]
fn leaving_at_once_still_delivers_what_was_typed() {
    let relay = relay(open_config());
    let addr = relay.local_addr().to_string();
    let watcher = Peer::start(&addr, "watcher", false);
    watcher.joined();
    // Typed and left before the connection has even joined: the window does this when a
    // person sends and closes the room at once. Leaving returns at once; the lines still go.
    let mut leaver = Peer::start(&addr, "leaver", false);
    assert!(leaver.session.as_ref().unwrap().try_say("第一 before leaving"));
    assert!(leaver.session.as_ref().unwrap().try_say("second before leaving"));
    leaver.session.take().unwrap().leave(Duration::from_secs(10));
    assert_eq!(
        watcher.messages(2),
        [("leaver".to_string(), "第一 before leaving".to_string()), ("leaver".to_string(), "second before leaving".to_string())]
    );
    watcher.wait_for("the leaver to quit", |e| match e {
        Event::MemberLeft { nick, .. } if nick == "leaver" => Some(()),
        _ => None,
    });
}

/// Tests that point LANMEET_DATA_DIR (where a hosted relay keeps its certificate and history)
/// at a folder of their own take turns.
static DATA_DIR: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_window_alone_hosts_its_own_relay() {
    let _turn = DATA_DIR.lock().unwrap_or_else(|e| e.into_inner());
    // Over TLS the hosted relay makes its certificate in the data folder: this test's own.
    let data = common::scratch("hosting");
    std::env::set_var("LANMEET_DATA_DIR", &data);
    let addr = format!("127.0.0.1:{}", free_port());
    // Pins of this test's own: its relay's certificate is not the other tests' one.
    let known = common::over_tls().then(|| lanmeet::net::tls::KnownServers::new(data.join("known_servers")));
    let host = Peer::start_with(&addr, "host", true, known.clone());
    let hosted = host.wait_any("hosting", |e| match e {
        ChatEvent::HostingRelay(hosted) => Some(hosted.addr.to_string()),
        _ => None,
    });
    assert_eq!(hosted, addr);
    host.joined();
    let guest = Peer::start_with(&addr, "guest", true, known);
    guest.joined();
    assert!(guest.events.try_iter().all(|e| !matches!(e, ChatEvent::HostingRelay(_))), "only one host");
    guest.say("hello host");
    assert_eq!(host.messages(1), [("guest".to_string(), "hello host".to_string())]);
}

/// Hosting for the network listens on every address, over TLS: a guest from another address
/// (127.0.0.2) joins. A plain-text relay stays on this computer even when asked.
#[test]
fn a_relay_hosted_for_the_network_takes_guests_from_other_addresses_over_tls_only() {
    let _turn = DATA_DIR.lock().unwrap_or_else(|e| e.into_inner());
    let data = common::scratch("hosting-network");
    std::env::set_var("LANMEET_DATA_DIR", &data);
    for tls in [true, false] {
        let port = free_port();
        let known = tls.then(|| lanmeet::net::tls::KnownServers::new(data.join(format!("known_servers_{port}"))));
        let host = Peer::start_settings(lanmeet::app::chat::ChatSettings {
            server: format!("127.0.0.1:{port}"),
            nick: "host".into(),
            channel: "#lobby".into(),
            also: Vec::new(),
            password: None,
            host_if_missing: true,
            host_for_network: true,
            tls: known.clone(),
            seen_until: Default::default(),
        });
        let hosted = host.wait_any("hosting", |e| match e {
            ChatEvent::HostingRelay(hosted) => Some(hosted.clone()),
            _ => None,
        });
        assert_eq!(hosted.addr.to_string(), format!("127.0.0.1:{port}"));
        assert_eq!(hosted.shared, tls, "shared over TLS only");
        assert_eq!(hosted.join_at, if tls { lanmeet::app::chat::network_addresses(port) } else { Vec::new() });
        host.joined();
        let elsewhere: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        if tls {
            let guest = Peer::start_with(&elsewhere.to_string(), "guest", false, known);
            guest.joined();
            guest.say("from 127.0.0.2");
            assert_eq!(host.messages(1), [("guest".to_string(), "from 127.0.0.2".to_string())]);
        } else {
            let refused = std::net::TcpStream::connect_timeout(&elsewhere, Duration::from_secs(2));
            assert!(refused.is_err(), "a plain-text relay hosted here takes nobody from elsewhere");
        }
    }
}

/// `lanmeet chat` to the relay at `addr`, in plain text or over TLS as the relay takes it (its
/// data folder, where it pins the certificate, of its own).
fn terminal(addr: &str, nick: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lanmeet"));
    command.args(["chat", "--server", addr, "--nick", nick]).env("LANMEET_DATA_DIR", common::scratch(&format!("terminal-{nick}")));
    if !common::over_tls() {
        command.arg("--plain");
    }
    command
}

#[test]
fn terminal_client_sends_stdin_and_prints_the_room() {
    let relay = relay(open_config());
    let addr = relay.local_addr().to_string();
    let mut watcher = Raw::join(relay.local_addr(), "watcher", "#lobby");
    let mut listener = terminal(&addr, "听众")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    watcher.expect(|m| m.command == "JOIN" && m.source_nick() == Some("听众"));
    let mut talker = terminal(&addr, "talker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = talker.stdin.take().unwrap();
    input.write_all("第一行\nsecond line\n".as_bytes()).unwrap();
    input.write_all(b"bad \xff byte\n").unwrap();
    drop(input);
    let got: Vec<String> = (0..3)
        .map(|_| watcher.expect(|m| m.command == "PRIVMSG").param(1).unwrap().to_string())
        .collect();
    assert_eq!(got, ["第一行", "second line", "bad \u{fffd} byte"]);
    let output = talker.wait_with_output().unwrap();
    assert!(output.status.success(), "talker exit: {:?}", output.status);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stdout.lines().any(|l| l.ends_with("] <talker> 第一行")), "own lines printed once confirmed:\n{stdout}");
    assert!(stderr.contains("input line 3 is not valid UTF-8"), "{stderr}");
    watcher.send("PRIVMSG #lobby :回复 reply");
    listener.stdout.as_mut().map(|_| ());
    std::thread::sleep(Duration::from_millis(300));
    drop(listener.stdin.take());
    let output = listener.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    for want in ["] <talker> 第一行", "] <talker> second line", "] <watcher> 回复 reply", "-!- talker joined #lobby"] {
        assert!(stdout.lines().any(|l| l.contains(want)), "missing {want:?} in:\n{stdout}");
    }
    assert!(output.status.success());
}

#[test]
fn a_teacher_runs_the_room_with_real_clients() {
    let relay = relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), open_config(), 4 << 20);
    let addr = relay.local_addr();
    let mut teacher = Raw::join(addr, "Teacher", "#Class");
    let mut pupil = Raw::join(addr, "pupil", "#class");
    let mut late = Raw::connect(addr);
    late.nick = "late".into();
    late.send("CAP REQ :away-notify\r\nNICK late\r\nUSER late 0 * :late\r\nCAP END");
    late.expect(|m| m.command == "001");
    // One case mapping: #CLASS, #Class and #class are one room, TEACHER and Teacher one person.
    teacher.expect(|m| m.command == "JOIN" && m.source_nick() == Some("pupil"));
    teacher.send("MODE #CLASS +mk sesame");
    pupil.expect(|m| m.command == "MODE" && m.params[1] == "+mk");
    pupil.send("PRIVMSG #class :hello?");
    pupil.expect(|m| m.command == "404");
    late.send("JOIN #class");
    late.expect(|m| m.command == "475");
    late.send("JOIN #class sesame");
    late.expect(|m| m.command == "366");
    teacher.send("MODE #class +v PUPIL");
    pupil.expect(|m| m.command == "MODE" && m.params[1] == "+v");
    pupil.send("PRIVMSG #class :now I may speak");
    late.expect(|m| m.command == "PRIVMSG" && m.params[1] == "now I may speak");
    // Away, told to those who asked for it.
    pupil.send("AWAY :back soon");
    let away = late.expect(|m| m.command == "AWAY");
    assert_eq!((away.source_nick(), away.param(0)), (Some("pupil"), Some("back soon")));
    // A ban by mask keeps someone out after a kick; the room turns secret and invite-only.
    teacher.send("MODE #class +b late!*@127.0.0.*");
    teacher.send("KICK #class late :enough");
    let kicked = late.expect(|m| m.command == "KICK");
    assert_eq!(kicked.param(2), Some("enough"));
    late.send("JOIN #class sesame");
    late.expect(|m| m.command == "474");
    teacher.send("MODE #class +si-b late!*@127.0.0.*");
    late.send("LIST");
    let listed = late.expect(|m| m.command == "322" || m.command == "323");
    assert_eq!(listed.command, "323", "a secret room is not listed: {listed:?}");
    late.send("NAMES #class");
    assert_eq!(late.expect(|m| m.command == "353" || m.command == "366").command, "366");
    late.send("JOIN #class sesame");
    late.expect(|m| m.command == "473");
    teacher.send("INVITE late #class");
    late.expect(|m| m.command == "INVITE");
    late.send("JOIN #class");
    late.expect(|m| m.command == "366");
    // A nick change that only changes case works.
    teacher.send("NICK TEACHER");
    let renamed = pupil.expect(|m| m.command == "NICK");
    assert_eq!(renamed.param(0), Some("TEACHER"));
}
