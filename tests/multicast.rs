//! Serverless multicast chat over real sockets on loopback: IP_MULTICAST_IF 127.0.0.1, TTL 0,
//! a distinct group and port per test. Loss comes from the receive-side fault injector.

mod common;

use common::{group, loopback, Member, Process};
use lanmeet::net::multicast::{self, MulticastConfig, MulticastEvent};
use lanmeet::proto::mchat::Event;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::time::Duration;

fn exchange_with_loss(group: SocketAddrV4, loss: f64) {
    let names = ["甲号发言人", "乙号听众们", "丙号局外人"];
    let members: Vec<Member> = names.iter().map(|n| Member::join(loopback(group, n, loss))).collect();
    for m in &members {
        // Presence: each member lists the other two.
        m.wait("presence", |e| match e {
            Event::Members { members } if members.len() == names.len() => Some(()),
            _ => None,
        });
    }
    const COUNT: usize = 100;
    for k in 0..COUNT {
        for (i, m) in members.iter().enumerate() {
            m.say(&format!("{} says {k}", names[i]));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for (i, m) in members.iter().enumerate() {
        let got = m.messages(COUNT * 2);
        for (j, name) in names.iter().enumerate().filter(|(j, _)| *j != i) {
            let from: Vec<&str> = got.iter().filter(|(n, _)| n == name).map(|(_, t)| t.as_str()).collect();
            let want: Vec<String> = (0..COUNT).map(|k| format!("{} says {k}", names[j])).collect();
            assert_eq!(from, want, "{} from {name} at {loss} loss", names[i]);
        }
    }
    for m in members {
        let Member { handle, events } = m;
        drop(handle);
        let counters = events.iter().find_map(|e| match e {
            MulticastEvent::Stopped { counters } => Some(counters),
            _ => None,
        });
        if loss > 0.0 {
            assert!(counters.unwrap().nacks_sent > 0, "loss was repaired, so someone asked");
        }
    }
}

#[test]
fn all_messages_arrive_in_order_at_10_percent_loss() {
    exchange_with_loss(group(10), 0.10);
}

#[test]
fn all_messages_arrive_in_order_at_30_percent_loss() {
    exchange_with_loss(group(30), 0.30);
}

#[test]
fn presence_join_and_leave_and_no_echo_of_our_own() {
    let g = group(40);
    let a = Member::join(loopback(g, "a", 0.0));
    let b = Member::join(loopback(g, "b", 0.0));
    a.wait("b to appear", |e| matches!(e, Event::Joined { nick, .. } if nick == "b").then_some(()));
    a.say("only for others");
    assert_eq!(b.messages(1), [("a".to_string(), "only for others".to_string())]);
    drop(b);
    let timed_out = a.wait("b to leave", |e| match e {
        Event::Left { nick, timed_out, .. } if nick == "b" => Some(*timed_out),
        _ => None,
    });
    assert!(!timed_out, "b said goodbye");
    let own = a.events.try_iter().any(|e| matches!(e, MulticastEvent::Chat(Event::Message { .. })));
    assert!(!own, "a never sees its own message");
}

#[test]
fn a_group_that_is_not_multicast_is_refused_in_words() {
    let config = loopback(SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 23333), "x", 0.0);
    let error = multicast::spawn(config, |_| {}).err().expect("refused");
    assert!(error.to_string().contains("is not a multicast address"), "{error}");
}

#[test]
fn the_report_tool_and_lanmeet_understand_each_other() {
    let g = group(50);
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/report_tool.py");
    let (ip, port) = (g.ip().to_string(), g.port().to_string());
    // The report's receiver listens; lanmeet in plain-text mode sends.
    let mut receiver = Command::new("python3")
        .args([tool, "receive", &ip, &port, "2"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let plain = Member::join(MulticastConfig { plain: true, ..loopback(g, "plain", 0.0) });
    plain.say("你好，旧工具\nsecond line");
    assert_eq!(lines.next().unwrap().unwrap(), "你好，旧工具", "plain mode sends nothing but the text");
    assert_eq!(lines.next().unwrap().unwrap(), "second line");
    assert!(receiver.wait().unwrap().success());
    // A lanmeet peer in normal mode shows plain text, from plain mode and from the tool.
    let normal = Member::join(loopback(g, "normal", 0.0));
    std::thread::sleep(Duration::from_millis(100));
    plain.say("third");
    let shown = normal.wait("plain text from plain mode", |e| match e {
        Event::Plain { text, .. } => Some(text.clone()),
        _ => None,
    });
    assert_eq!(shown, "third");
    let status = Command::new("python3").args([tool, "send", &ip, &port, "来自报告的工具"]).status().unwrap();
    assert!(status.success());
    let from_tool = normal.wait("the tool's datagram", |e| match e {
        Event::Plain { text, from } if text == "来自报告的工具" => Some(*from),
        _ => None,
    });
    assert!(from_tool.ip().is_loopback());
}

#[test]
fn terminal_peers_chat_without_a_server() {
    let g = group(60);
    let spawn = |nick: &str| {
        Command::new(env!("CARGO_BIN_EXE_lanmeet"))
            .args(["chat", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0", "--nick", nick])
            .env("LANMEET_DATA_DIR", common::scratch(&format!("terminal-{nick}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut listener = spawn("听");
    let mut out = BufReader::new(listener.stdout.take().unwrap()).lines();
    assert!(out.next().unwrap().unwrap().contains("Joined multicast group"));
    let mut talker = spawn("说");
    let mut input = talker.stdin.take().unwrap();
    // Wait until the listener has heard of the talker, then talk.
    loop {
        let line = out.next().unwrap().unwrap();
        if line.contains("说 joined") {
            break;
        }
    }
    input.write_all("多播你好\nline two\n".as_bytes()).unwrap();
    drop(input);
    let got: Vec<String> = (0..2).map(|_| out.next().unwrap().unwrap()).collect();
    assert!(got[0].ends_with("] <说> 多播你好"), "{got:?}");
    assert!(got[1].ends_with("] <说> line two"), "{got:?}");
    assert!(talker.wait().unwrap().success());
    assert!(out.next().unwrap().unwrap().contains("说 left"));
    drop(listener.stdin.take());
    assert!(listener.wait().unwrap().success());
}

#[test]
fn the_network_check_reports_the_loopback_self_test() {
    let report = multicast::self_test(&loopback(group(80), "check", 0.0));
    assert!(report.contains("Interface: 127.0.0.1"), "{report}");
    assert!(report.contains("Joined the group: yes"), "{report}");
    assert!(report.contains("Loopback self-test: passed"), "{report}");
}

#[test]
fn joining_on_an_interface_this_host_lacks_says_what_to_do() {
    // 192.0.2.1 is a documentation address: no interface has it, and joining sends nothing.
    let config = MulticastConfig { interface: Ipv4Addr::new(192, 0, 2, 1), ttl: 0, ..MulticastConfig::new(group(90), "x") };
    let error = multicast::spawn(config.clone(), |_| {}).err().expect("refused");
    assert!(error.to_string().contains("choose the interface of your LAN"), "{error}");
    let report = multicast::self_test(&config);
    assert!(report.contains("Joining the group failed"), "{report}");
}

/// Everything sent to the group, as a program that joined it would get it.
fn overhear(g: SocketAddrV4) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP)).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.set_reuse_port(true).unwrap();
    socket.bind(&std::net::SocketAddr::from((*g.ip(), g.port())).into()).unwrap();
    socket.join_multicast_v4(g.ip(), &std::net::Ipv4Addr::LOCALHOST).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let socket: std::net::UdpSocket = socket.into();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        loop {
            match socket.recv(&mut buffer) {
                Ok(n) => {
                    if tx.send(buffer[..n].to_vec()).is_err() {
                        return;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(_) => return,
            }
        }
    });
    rx
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn only_those_with_the_passphrase_read_an_encrypted_group() {
    let g = group(61);
    let group_arg = g.to_string();
    let args = |nick: &'static str| -> Vec<&str> { vec!["chat", "--multicast", &group_arg, "--interface", "127.0.0.1", "--ttl", "0", "--nick", nick] };
    let wire = overhear(g);
    let secret = [("LANMEET_PASSPHRASE", "春眠不觉晓")];
    let mut talker = Process::start_with(&args("甲号发言人"), &secret);
    let listener = Process::start_with(&args("乙号听众们"), &secret);
    let outsider = Process::start_with(&args("丙号局外人"), &[("LANMEET_PASSPHRASE", "处处闻啼鸟")]);
    let open = Process::start(&args("丁号无口令"));
    let joined = talker.wait_for_line("joining", |l| l.contains("Joined multicast group"));
    assert!(joined.contains("encrypted with the group's passphrase (key "), "{joined}");
    let key_id = |line: &str| line.split("(key ").nth(1).unwrap().split(')').next().unwrap().to_string();
    let same = listener.wait_for_line("joining", |l| l.contains("Joined multicast group"));
    let other = outsider.wait_for_line("joining", |l| l.contains("Joined multicast group"));
    assert_eq!(key_id(&joined), key_id(&same));
    assert_ne!(key_id(&joined), key_id(&other));
    assert!(open.wait_for_line("joining", |l| l.contains("Joined multicast group")).contains("not encrypted"));
    listener.wait_for_line("the talker", |l| l.contains("甲号发言人 joined (key "));
    talker.type_lines("秘密消息 one\nline two\n");
    listener.wait_for_line("the message", |l| l.ends_with("] <甲号发言人> 秘密消息 one"));
    listener.wait_for_line("the second line", |l| l.ends_with("] <甲号发言人> line two"));
    // The outsider counts what it could not open, and shows nothing of it.
    outsider.wait_for_line("the count", |l| l.contains("could not be opened") && l.contains("wrong passphrase?"));
    std::thread::sleep(Duration::from_millis(300));
    for (who, process) in [("outsider", &outsider), ("open", &open)] {
        let printed = process.printed().join("\n");
        assert!(!printed.contains("秘密") && !printed.contains("甲号发言人") && !printed.contains("乙号听众们"), "{who} printed:\n{printed}");
    }
    // On the wire: neither the text nor a nickname.
    let heard: Vec<Vec<u8>> = wire.try_iter().collect();
    assert!(heard.len() > 5, "{} datagrams overheard", heard.len());
    let sealed: Vec<&Vec<u8>> = heard.iter().filter(|d| !contains(d, "丁号无口令")).collect();
    assert!(sealed.iter().all(|d| !contains(d, "秘密") && !contains(d, "甲号发言人") && !contains(d, "乙号听众们") && !contains(d, "丙号局外人")));
    // Without a passphrase the group is readable, and the overhearing shows it.
    assert!(heard.iter().any(|d| contains(d, "丁号无口令")), "the open peer's nickname travels in clear text");
}

/// Private messages go to their recipient's own address: in order and whole at 20 % loss
/// (repaired over unicast), never to the group, so a third member neither receives nor
/// overhears them.
#[test]
fn a_private_message_reaches_its_recipient_alone() {
    let g = group(63);
    let wire = overhear(g);
    let ann = Member::join(loopback(g, "安", 0.0));
    let bob = Member::join(loopback(g, "博", 0.20));
    let cat = Member::join(loopback(g, "猫", 0.0));
    for m in [&ann, &bob, &cat] {
        m.wait("presence", |e| matches!(e, Event::Members { members } if members.len() == 3).then_some(()));
    }
    const COUNT: usize = 60;
    let long = "长".repeat(800); // two datagrams
    let want: Vec<String> = (0..COUNT).map(|k| if k == 30 { format!("悄悄话 {k} {long}") } else { format!("悄悄话 {k}") }).collect();
    for (k, text) in want.iter().enumerate() {
        ann.say_to("博", text);
        if k % 10 == 0 {
            ann.say(&format!("to everyone {k}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    ann.say("the end");
    let private = |m: &Member, count: usize| -> Vec<String> {
        (0..count)
            .map(|_| {
                m.wait("a private message", |e| match e {
                    Event::Message { nick, text, private: true, .. } if nick == "安" => Some(text.clone()),
                    _ => None,
                })
            })
            .collect()
    };
    assert_eq!(private(&bob, COUNT), want);
    // The third member hears the group's talk to its end, and nothing private.
    let heard: Vec<(String, bool)> = (0..7)
        .map(|_| {
            cat.wait("the group's talk", |e| match e {
                Event::Message { text, private, .. } => Some((text.clone(), *private)),
                _ => None,
            })
        })
        .collect();
    assert_eq!(heard.last().unwrap(), &("the end".to_string(), false));
    assert!(heard.iter().all(|(text, private)| !private && !text.contains("悄悄话")), "{heard:?}");
    std::thread::sleep(Duration::from_millis(300));
    let overheard: Vec<Vec<u8>> = wire.try_iter().collect();
    assert!(overheard.iter().any(|d| contains(d, "the end")), "the group's talk is on the group");
    assert!(!overheard.iter().any(|d| contains(d, "悄悄话")), "nothing private is sent to the group");
    // Sending to someone who is not there says so.
    ann.say_to("nobody", "hello?");
    let error = std::iter::from_fn(|| ann.events.recv_timeout(Duration::from_secs(10)).ok()).find_map(|e| match e {
        MulticastEvent::Error(text) => Some(text),
        _ => None,
    });
    assert_eq!(error.as_deref(), Some("not sent: nobody is not in the group now"));
    drop(cat);
    let Member { handle, events } = bob;
    drop(handle);
    let counters = events.iter().find_map(|e| match e {
        MulticastEvent::Stopped { counters } => Some(counters),
        _ => None,
    });
    assert!(counters.unwrap().nacks_sent > 0, "loss was repaired, so bob asked");
}

/// The terminal client: `/msg NICK text` goes to that member alone.
#[test]
fn the_terminal_sends_a_private_message_with_msg() {
    let g = group(64);
    let group_arg = g.to_string();
    let args = |nick: &'static str| -> Vec<&str> { vec!["chat", "--multicast", &group_arg, "--interface", "127.0.0.1", "--ttl", "0", "--nick", nick] };
    let mut talker = Process::start(&args("甲"));
    let listener = Process::start(&args("乙"));
    let third = Process::start(&args("丙"));
    talker.wait_for_line("the listener", |l| l.contains("乙 joined"));
    third.wait_for_line("the talker", |l| l.contains("甲 joined"));
    talker.type_lines("/msg 乙 只给你看
for all
");
    let seen = listener.wait_for_line("the private line", |l| l.contains("只给你看"));
    assert!(seen.ends_with("] <甲> (private) 只给你看"), "{seen}");
    talker.wait_for_line("our own line", |l| l.ends_with("] <甲> → 乙: 只给你看"));
    third.wait_for_line("the group's line", |l| l.ends_with("] <甲> for all"));
    assert!(!third.printed().join("\n").contains("只给你看"));
}

#[test]
fn a_nickname_used_with_another_key_is_shown_as_an_impostor() {
    let g = group(62);
    let group_arg = g.to_string();
    let args = |nick: &'static str| -> Vec<&str> { vec!["chat", "--multicast", &group_arg, "--interface", "127.0.0.1", "--ttl", "0", "--nick", nick] };
    let observer = Process::start(&args("观"));
    let mut real = Process::start(&args("王"));
    observer.wait_for_line("the first 王", |l| l.contains("王 joined (key "));
    real.type_lines("我是王\n");
    observer.wait_for_line("the real one", |l| l.ends_with("] <王> 我是王"));
    // Another installation (its own key) under the same name.
    let mut fake = Process::start(&args("王"));
    observer.wait_for_line("the warning", |l| l.contains("impostor of 王: someone is using a nickname pinned to another key (their key "));
    fake.type_lines("我也是王\n");
    observer.wait_for_line("the fake one, marked", |l| l.ends_with("] <impostor of 王> 我也是王"));
    assert!(!observer.printed().iter().any(|l| l.ends_with("] <王> 我也是王")));
    real.type_lines("还是我\n");
    observer.wait_for_line("the real one again", |l| l.ends_with("] <王> 还是我"));
}
