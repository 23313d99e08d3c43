//! The server and client state machines driven against each other and by hand, with a
//! simulated clock: no sockets, no sleeping.

use super::client::{Client, ClientConfig, Event};
use super::framing::Frame;
use super::history::{self, Stored};
use super::message::{Message, MAX_LINE};
use super::server::{Action, ConnId, FloodLimit, Server, ServerConfig};
use crate::proto::Now;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Clock(Now);

impl Clock {
    fn new() -> Clock {
        Clock(Now::simulated(Instant::now(), Duration::ZERO))
    }
    fn advance(&mut self, by: Duration) -> Now {
        self.0.mono += by;
        self.0.wall += by;
        self.0
    }
}

/// A server and raw connections to it; collects what each connection was sent.
struct Raw {
    server: Server,
    clock: Clock,
    inbox: HashMap<ConnId, Vec<String>>,
    closed: Vec<ConnId>,
    /// Messages kept, answered from as a store would.
    kept: Vec<Stored>,
}

impl Raw {
    fn new(config: ServerConfig) -> Raw {
        let clock = Clock::new();
        Raw { server: Server::new(config, clock.0, 7), clock, inbox: HashMap::new(), closed: Vec::new(), kept: Vec::new() }
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(conn, bytes) => {
                    let text = String::from_utf8(bytes.to_vec()).unwrap();
                    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                        self.inbox.entry(conn).or_default().push(line.to_string());
                    }
                }
                Action::Close(conn) => self.closed.push(conn),
                Action::Store(message) => self.kept.push(message),
                Action::History(request) => {
                    let rows: Vec<Stored> = self.kept.iter().filter(|m| m.target == request.target).cloned().collect();
                    let messages = history::select(&rows, &request.query, request.limit);
                    let actions = self.server.history(history::Reply { conn: request.conn, shown: request.shown, messages });
                    self.apply(actions);
                }
            }
        }
    }

    fn connect(&mut self, conn: ConnId) {
        let actions = self.server.connected(conn, IP, self.clock.0);
        self.apply(actions);
    }

    fn send(&mut self, conn: ConnId, line: &str) {
        self.send_bytes(conn, line.as_bytes());
    }

    fn send_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let actions = self.server.frame(conn, Frame::Line(bytes.to_vec()), self.clock.0);
        self.apply(actions);
    }

    fn register(&mut self, conn: ConnId, nick: &str) {
        self.connect(conn);
        self.send(conn, &format!("NICK {nick}"));
        self.send(conn, &format!("USER {nick} 0 * :{nick}"));
    }

    fn take(&mut self, conn: ConnId) -> Vec<String> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn commands(&mut self, conn: ConnId) -> Vec<String> {
        self.take(conn).iter().map(|l| Message::parse(l).unwrap().command).collect()
    }

    fn tick(&mut self, by: Duration) {
        let now = self.clock.advance(by);
        let actions = self.server.tick(now);
        self.apply(actions);
    }
}

fn no_flood() -> ServerConfig {
    ServerConfig { flood: None, ..ServerConfig::default() }
}

#[test]
fn registration_waits_for_cap_end() {
    let mut raw = Raw::new(no_flood());
    raw.connect(1);
    raw.send(1, "CAP LS 302");
    raw.send(1, "NICK alice");
    raw.send(1, "USER alice 0 * :Alice");
    let lines = raw.take(1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("CAP * LS :away-notify batch echo-message invite-notify message-tags multi-prefix server-time"), "{lines:?}");
    raw.send(1, "CAP REQ :server-time echo-message");
    assert!(raw.take(1)[0].ends_with("ACK :server-time echo-message"));
    raw.send(1, "CAP REQ :server-time bogus");
    assert!(raw.take(1)[0].contains(" NAK "));
    // A request whose echo would not fit a line (known names, repeated) is refused, within
    // one line.
    raw.send(1, &format!("CAP REQ :{}", ["echo-message"; 38].join(" ")));
    let reply = raw.take(1).remove(0);
    assert!(reply.contains(" NAK ") && reply.len() + 2 <= 512, "{} bytes: {reply}", reply.len());
    raw.send(1, "CAP END");
    let commands = raw.commands(1);
    assert_eq!(&commands[..5], ["001", "002", "003", "004", "005"]);
    assert!(commands.contains(&"376".to_string()));
}

#[test]
fn reply_table() {
    // (line sent by a registered client, numeric or command expected first in the reply)
    let rows: &[(&[u8], &str)] = &[
        (b"FROB x", "421"),
        (b"JOIN", "461"),
        (b"JOIN lobby", "476"),
        (b"PART #nowhere", "403"),
        (b"PRIVMSG #nowhere :hi", "403"),
        (b"PRIVMSG nobody :hi", "401"),
        (b"PRIVMSG", "411"),
        (b"PRIVMSG bob", "412"),
        (b"NICK 9lives", "432"),
        (b"NICK", "431"),
        (b"NICK bob", "433"),
        (b"USER a 0 * :b", "462"),
        (b"TOPIC #nowhere", "403"),
        (b"MOTD", "375"),
        (b"LUSERS", "251"),
        (b"PING :tok", "PONG"),
        (b"ISON bob carol", "303"),
        (b"MODE #nowhere", "403"),
        (b"\xff\xfe PRIVMSG", "FAIL"),
        (b"PRIVMSG bob :nul\0byte", "FAIL"),
        (b"@=x PRIVMSG bob :bad tags", "FAIL"),
    ];
    let mut raw = Raw::new(no_flood());
    raw.register(1, "alice");
    raw.register(2, "bob");
    raw.take(1);
    for (line, want) in rows {
        raw.send_bytes(1, line);
        let commands = raw.commands(1);
        assert_eq!(commands.first().map(String::as_str), Some(*want), "{:?} -> {commands:?}", String::from_utf8_lossy(line));
    }
    assert!(raw.closed.is_empty(), "bad input must not close the connection");
}

#[test]
fn unregistered_clients_get_451_and_unknown_421() {
    let mut raw = Raw::new(no_flood());
    raw.connect(1);
    raw.send(1, "JOIN #lobby");
    raw.send(1, "WHATEVER");
    assert_eq!(raw.commands(1), ["451", "421"]);
}

#[test]
fn too_long_line_gets_417_and_the_connection_stays() {
    let mut raw = Raw::new(no_flood());
    raw.register(1, "alice");
    raw.take(1);
    let actions = raw.server.frame(1, Frame::TooLong, raw.clock.0);
    raw.apply(actions);
    let long = format!("PRIVMSG #a :{}", "x".repeat(600));
    raw.send(1, &long);
    assert_eq!(raw.commands(1), ["417", "417"]);
    raw.send(1, "PING :still-here");
    assert_eq!(raw.commands(1), ["PONG"]);
}

#[test]
fn channel_messages_reach_each_other_member_once_with_caps_honoured() {
    let mut raw = Raw::new(no_flood());
    raw.connect(1);
    raw.send(1, "CAP REQ :echo-message server-time message-tags");
    raw.send(1, "NICK alice");
    raw.send(1, "USER alice 0 * :Alice");
    raw.send(1, "CAP END");
    raw.register(2, "bob");
    raw.register(3, "carol");
    for conn in 1..=3 {
        raw.send(conn, "JOIN #lobby");
    }
    raw.take(1);
    raw.take(2);
    raw.take(3);
    raw.send(1, "@+draft/reply=abc PRIVMSG #lobby :你好，世界");
    let echo = raw.take(1);
    assert_eq!(echo.len(), 1, "echo-message: exactly one copy back");
    let echoed = Message::parse(&echo[0]).unwrap();
    assert_eq!(echoed.tag("time"), Some("2027-01-15T08:00:00.000Z"));
    assert!(echoed.tag("msgid").is_some());
    assert_eq!(echoed.tag("+draft/reply"), Some("abc"));
    for conn in [2, 3] {
        let got = raw.take(conn);
        assert_eq!(got, [format!(":alice!~alice@127.0.0.1 PRIVMSG #lobby :你好，世界")], "no tags without the caps");
    }
}

/// A room with alice (its operator), bob and carol in it, every inbox emptied.
fn classroom() -> Raw {
    let mut raw = Raw::new(no_flood());
    for (conn, nick) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        raw.register(conn, nick);
        raw.send(conn, "JOIN #class");
    }
    for conn in 1..=3 {
        raw.take(conn);
    }
    raw
}

/// What `conn` was sent, parsed.
fn messages(raw: &mut Raw, conn: ConnId) -> Vec<Message> {
    raw.take(conn).iter().map(|l| Message::parse(l).unwrap()).collect()
}

#[test]
fn a_moderated_room_hears_only_operators_and_voiced_members() {
    let mut raw = classroom();
    raw.send(2, "MODE #class +m");
    assert_eq!(raw.commands(2), ["482"], "only an operator sets modes");
    raw.send(1, "MODE #class +m");
    assert_eq!(raw.take(3), [":alice!~alice@127.0.0.1 MODE #class :+m"]);
    raw.take(1);
    raw.take(2);
    raw.send(2, "PRIVMSG #class :may I?");
    let refused = messages(&mut raw, 2);
    assert_eq!(refused[0].command, "404");
    assert!(raw.take(3).is_empty(), "nobody heard it");
    raw.send(1, "MODE #class +v bob");
    assert_eq!(raw.take(3), [":alice!~alice@127.0.0.1 MODE #class +v :bob"]);
    raw.take(2);
    raw.send(2, "PRIVMSG #class :thank you");
    assert_eq!(raw.take(3), [":bob!~bob@127.0.0.1 PRIVMSG #class :thank you"]);
    raw.send(3, "PRIVMSG #class :me too");
    assert_eq!(raw.commands(3), ["404"]);
    // NAMES shows the status; with multi-prefix both marks of someone who has both.
    raw.send(1, "MODE #class +v alice");
    raw.take(1);
    raw.take(3);
    raw.send(3, "NAMES #class");
    let names = messages(&mut raw, 3);
    assert_eq!(names[0].param(3), Some("@alice +bob carol"));
    raw.send(1, "CAP REQ multi-prefix");
    raw.take(1);
    raw.send(1, "NAMES #class");
    assert_eq!(messages(&mut raw, 1)[0].param(3), Some("@+alice +bob carol"));
    raw.send(3, "MODE #class");
    let modes = messages(&mut raw, 3);
    assert_eq!((modes[0].command.as_str(), modes[0].param(2)), ("324", Some("+mn")));
    // An operator gives operator status; a change to nobody is refused.
    raw.send(1, "MODE #class +o-v+o carol bob nobody");
    let said = messages(&mut raw, 1);
    assert!(said.iter().any(|m| m.command == "401"), "{said:?}");
    let change = said.iter().find(|m| m.command == "MODE").unwrap();
    assert_eq!(&change.params, &["#class", "+o-v", "carol", "bob"]);
}

#[test]
fn keys_limits_invitations_and_bans_guard_the_door() {
    let mut raw = classroom();
    raw.register(4, "dave");
    raw.register(5, "eve");
    raw.take(4);
    raw.take(5);
    raw.send(1, "MODE #class +kl sesame 4");
    assert_eq!(raw.take(2), [":alice!~alice@127.0.0.1 MODE #class +kl sesame :4"]);
    raw.send(4, "MODE #class");
    assert_eq!(messages(&mut raw, 4)[0].params[2..], ["+kln", "*", "4"], "the key is only for members");
    raw.send(4, "JOIN #class");
    assert_eq!(raw.commands(4), ["475"]);
    raw.send(4, "JOIN #class wrong");
    assert_eq!(raw.commands(4), ["475"]);
    raw.send(4, "JOIN #other,#class x,sesame");
    let joined = raw.commands(4);
    assert_eq!(joined.iter().filter(|c| *c == "JOIN").count(), 2, "{joined:?}");
    raw.send(5, "JOIN #class sesame");
    assert_eq!(raw.commands(5), ["471"], "four members: full");
    raw.send(1, "MODE #class -kl+i");
    raw.take(1);
    raw.send(5, "JOIN #class");
    assert_eq!(raw.commands(5), ["473"]);
    // A member who is not an operator cannot invite into an invite-only room.
    raw.take(2);
    raw.send(2, "INVITE eve #class");
    assert_eq!(raw.commands(2), ["482"]);
    raw.send(3, "CAP REQ invite-notify");
    raw.take(3);
    raw.send(1, "INVITE eve #class");
    assert_eq!(raw.commands(1), ["341"]);
    assert_eq!(raw.take(5), [":alice!~alice@127.0.0.1 INVITE eve :#class"]);
    assert_eq!(raw.take(3), [":alice!~alice@127.0.0.1 INVITE eve :#class"], "invite-notify");
    assert!(raw.take(2).is_empty(), "without invite-notify nothing");
    raw.send(5, "INVITE");
    assert_eq!(raw.commands(5), ["336", "337"]);
    raw.send(5, "JOIN #class");
    assert!(raw.commands(5).contains(&"JOIN".to_string()));
    raw.take(1);
    raw.send(1, "INVITE eve #class");
    assert_eq!(raw.commands(1), ["443"]);
    // A ban: the banned member is silenced, and kept out once gone.
    raw.take(2);
    raw.send(1, "MODE #class -i+b eve");
    assert_eq!(raw.take(2), [":alice!~alice@127.0.0.1 MODE #class -i+b :eve!*@*"]);
    raw.take(5);
    raw.send(5, "PRIVMSG #class :hello?");
    assert_eq!(raw.commands(5), ["404"]);
    raw.take(3);
    raw.send(3, "MODE #class b");
    let list = messages(&mut raw, 3);
    assert_eq!((list[0].command.as_str(), list[0].param(2), list[0].param(3)), ("367", Some("eve!*@*"), Some("alice")));
    assert_eq!(list[1].command, "368");
    raw.send(5, "PART #class");
    raw.send(5, "JOIN #class");
    assert_eq!(raw.commands(5).last().map(String::as_str), Some("474"));
    raw.send(1, "MODE #class -b EVE");
    raw.send(5, "JOIN #class");
    assert!(raw.commands(5).contains(&"JOIN".to_string()), "unbanned, in the same case mapping");
}

#[test]
fn operators_kick_and_lock_the_topic() {
    let mut raw = classroom();
    raw.send(2, "KICK #class carol");
    assert_eq!(raw.commands(2), ["482"]);
    raw.send(1, "KICK #class carol,nobody :be nice");
    assert_eq!(raw.take(2), [":alice!~alice@127.0.0.1 KICK #class carol :be nice"]);
    assert_eq!(raw.take(3), [":alice!~alice@127.0.0.1 KICK #class carol :be nice"]);
    assert_eq!(raw.commands(1), ["KICK", "441"]);
    raw.send(3, "PRIVMSG #class :still here?");
    assert_eq!(raw.commands(3), ["404"]);
    raw.send(2, "TOPIC #class :anyone sets it");
    assert_eq!(raw.commands(2), ["TOPIC"]);
    raw.take(1);
    raw.send(1, "MODE #class +t");
    raw.take(1);
    raw.take(2);
    raw.send(2, "TOPIC #class :not now");
    assert_eq!(raw.commands(2), ["482"]);
    raw.send(1, "TOPIC #class :Lesson 3");
    assert_eq!(raw.take(2), [":alice!~alice@127.0.0.1 TOPIC #class :Lesson 3"]);
}

#[test]
fn list_finds_rooms_by_name_and_size_and_hides_secret_ones() {
    let mut raw = classroom();
    raw.register(4, "dave");
    raw.send(4, "JOIN #quiet,#秘密");
    raw.send(1, "TOPIC #class :Lesson 3");
    raw.send(4, "MODE #秘密 +s");
    raw.take(1);
    raw.take(4);
    raw.send(1, "LIST");
    let rows: Vec<(String, String, String)> = messages(&mut raw, 1)
        .iter()
        .filter(|m| m.command == "322")
        .map(|m| (m.params[1].clone(), m.params[2].clone(), m.params[3].clone()))
        .collect();
    assert_eq!(rows, [("#class".into(), "3".into(), "Lesson 3".into()), ("#quiet".into(), "1".into(), String::new())]);
    raw.send(4, "LIST");
    assert_eq!(messages(&mut raw, 4).iter().filter(|m| m.command == "322").count(), 3, "a member sees its secret room");
    for (query, expected) in [(">1", vec!["#class"]), ("<2", vec!["#quiet"]), ("#q*", vec!["#quiet"]), ("!#c*", vec!["#quiet"]), ("#CLASS", vec!["#class"])] {
        raw.send(1, &format!("LIST {query}"));
        let names: Vec<String> = messages(&mut raw, 1).iter().filter(|m| m.command == "322").map(|m| m.params[1].clone()).collect();
        assert_eq!(names, expected, "LIST {query}");
    }
    raw.send(1, "NAMES #秘密");
    assert_eq!(raw.commands(1), ["366"], "a secret room's members are not shown to others");
}

#[test]
fn whois_whowas_and_away() {
    let mut raw = classroom();
    raw.send(3, "CAP REQ away-notify");
    raw.take(3);
    raw.clock.advance(Duration::from_secs(5));
    raw.send(2, "AWAY :at lunch 午饭");
    assert_eq!(raw.commands(2), ["306"]);
    assert_eq!(raw.take(3), [":bob!~bob@127.0.0.1 AWAY :at lunch 午饭"], "away-notify");
    assert!(raw.take(1).is_empty(), "without away-notify nothing");
    raw.send(1, "PRIVMSG bob :are you there?");
    raw.take(2);
    let reply = messages(&mut raw, 1);
    assert_eq!((reply[0].command.as_str(), reply[0].param(2)), ("301", Some("at lunch 午饭")));
    raw.send(1, "WHO #class");
    let flags: Vec<String> = messages(&mut raw, 1).iter().filter(|m| m.command == "352").map(|m| format!("{}{}", m.params[5], m.params[6])).collect();
    assert_eq!(flags, ["aliceH@", "bobG", "carolH"]);
    raw.send(1, "USERHOST bob");
    assert_eq!(messages(&mut raw, 1)[0].param(1), Some("bob=-~bob@127.0.0.1"));
    raw.send(1, "WHOIS BOB");
    let whois = messages(&mut raw, 1);
    let codes: Vec<&str> = whois.iter().map(|m| m.command.as_str()).collect();
    assert_eq!(codes, ["311", "319", "312", "301", "317", "318"]);
    assert_eq!(whois[0].params[1..], ["bob", "~bob", "127.0.0.1", "*", "bob"]);
    assert_eq!(whois[1].param(2), Some("#class"));
    assert_eq!(whois[4].param(2), Some("5"), "idle since it last spoke");
    raw.send(2, "AWAY");
    assert_eq!(raw.commands(2), ["305"]);
    assert_eq!(raw.take(3), [":bob!~bob@127.0.0.1 AWAY"]);
    raw.send(1, "WHOWAS bob");
    assert_eq!(raw.commands(1), ["406", "369"]);
    raw.send(2, "NICK robert");
    raw.send(2, "QUIT :bye");
    raw.take(1);
    raw.send(1, "WHOWAS robert");
    assert_eq!(raw.commands(1), ["314", "312", "369"]);
    raw.send(1, "WHOWAS Bob");
    let was = messages(&mut raw, 1);
    assert_eq!((was[0].command.as_str(), was[0].param(1)), ("314", Some("bob")));
    raw.send(1, "WHOIS nobody");
    assert_eq!(raw.commands(1), ["401", "318"]);
    raw.send(1, "INFO");
    assert_eq!(raw.commands(1), ["371", "371", "374"]);
}

#[test]
fn mode_changes_are_checked_and_bounded() {
    let mut raw = classroom();
    raw.send(1, "MODE #class +z");
    assert_eq!(raw.commands(1), ["472"]);
    raw.send(1, "MODE #class +l many");
    assert_eq!(raw.commands(1), ["696"]);
    raw.send(1, "MODE #class +k :bad key");
    assert_eq!(raw.commands(1), ["525"]);
    raw.send(1, "MODE #class +o dave");
    assert_eq!(raw.commands(1), ["401"]);
    // At most six modes with a parameter in one command.
    raw.send(1, "MODE #class +bbbbbbbb a b c d e f g h");
    let change = messages(&mut raw, 1).into_iter().find(|m| m.command == "MODE").unwrap();
    assert_eq!(change.params.len(), 2 + 6, "{change:?}");
    // The ban list has a limit.
    for i in 0..200 {
        raw.send(1, &format!("MODE #class +b x{i}"));
    }
    let said = raw.commands(1);
    assert!(said.contains(&"478".to_string()));
    raw.take(2);
    raw.send(2, "MODE #class b");
    assert_eq!(raw.commands(2).len(), super::channel::MAX_BANS + 1);
}

#[test]
fn every_refusal_has_its_numeric() {
    // (set-up lines of alice, the operator; who tries; the line; the reply expected first)
    let rows: &[(&[&str], u64, &str, &str)] = &[
        (&[], 2, "KICK #class", "461"),
        (&[], 2, "KICK #nowhere carol", "403"),
        (&[], 4, "KICK #class carol", "442"),
        (&[], 2, "KICK #class carol", "482"),
        (&[], 1, "KICK #class dave", "441"),
        (&[], 2, "INVITE dave", "461"),
        (&[], 2, "INVITE nobody #class", "401"),
        (&[], 4, "INVITE alice #class", "442"),
        (&[], 2, "INVITE carol #class", "443"),
        (&["MODE #class +i"], 2, "INVITE dave #class", "482"),
        (&[], 2, "INVITE dave #nowhere", "403"),
        (&["MODE #class +s"], 4, "MODE #class", "403"),
        (&[], 1, "MODE #class +z", "472"),
        (&[], 1, "MODE #class +l none", "696"),
        (&[], 1, "MODE #class +b a@b!c", "696"),
        (&[], 1, "MODE #class +k :two words", "525"),
        (&[], 1, "MODE #class +o nobody", "401"),
        (&[], 1, "MODE #class +v dave", "441"),
        (&[], 2, "MODE #class +m", "482"),
        (&[], 2, "MODE #class -n", "482"),
        (&[], 2, "MODE alice +i", "502"),
        (&[], 1, "MODE", "461"),
        (&["MODE #class +k sesame"], 4, "JOIN #class", "475"),
        (&["MODE #class +l 3"], 4, "JOIN #class", "471"),
        (&["MODE #class +i"], 4, "JOIN #class", "473"),
        (&["MODE #class +b dave"], 4, "JOIN #class", "474"),
        (&["MODE #class +b *!*@127.0.0.*"], 2, "PRIVMSG #class :hi", "404"),
        (&["MODE #class +m"], 2, "PRIVMSG #class :hi", "404"),
        (&[], 4, "PRIVMSG #class :from outside", "404"),
        (&["MODE #class +t"], 2, "TOPIC #class :mine", "482"),
        (&[], 4, "TOPIC #class :mine", "442"),
        (&[], 2, "WHOIS nobody", "401"),
        (&[], 2, "WHOIS", "431"),
        (&[], 2, "WHOWAS nobody", "406"),
        (&[], 2, "WHOWAS", "431"),
        (&[], 2, "AWAY :out", "306"),
        (&[], 2, "AWAY", "305"),
        (&[], 2, "LIST", "321"),
        (&[], 2, "INFO", "371"),
        (&[], 2, "INVITE", "337"),
        (&[], 2, "CHATHISTORY LATEST #class * 10", "421"),
    ];
    for (setup, who, line, want) in rows {
        let mut raw = classroom();
        raw.register(4, "dave");
        for l in *setup {
            raw.send(1, l);
        }
        for conn in 1..=4 {
            raw.take(conn);
        }
        raw.send(*who, line);
        let got = raw.commands(*who);
        assert_eq!(got.first().map(String::as_str), Some(*want), "{setup:?} then {who}: {line} -> {got:?}");
        assert!(raw.closed.is_empty(), "{line} closed a connection");
    }
}

#[test]
fn hostile_modes_masks_and_many_rooms_stay_bounded() {
    let mut raw = classroom();
    // Missing and extra parameters: what has no parameter is skipped, extras are ignored.
    raw.send(1, "MODE #class +k");
    raw.send(1, "MODE #class +l");
    raw.send(1, "MODE #class +o");
    raw.send(1, "MODE #class +m extra parameters here");
    let said = messages(&mut raw, 1);
    assert_eq!(said.iter().filter(|m| m.command == "MODE").map(|m| m.params[1..].join(" ")).collect::<Vec<_>>(), ["+m"]);
    // A ban mask of 500 bytes makes a line too long for IRC; one of 400 fits a line but not
    // a mask. Both are refused in words, within one line.
    raw.send(1, &format!("MODE #class +b {}", "x".repeat(500)));
    raw.send(1, &format!("MODE #class +b {}", "x".repeat(400)));
    let refused = raw.take(1);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains(" 417 ") && refused[1].contains(" 696 ") && refused.iter().all(|l| l.len() + 2 <= 512), "{refused:?}");
    // Ten thousand bans: a hundred are kept; each refusal is one short line.
    for i in 0..10_000 {
        raw.send(1, &format!("MODE #class +b ban{i}"));
    }
    let replies = raw.take(1);
    assert_eq!(replies.iter().filter(|l| l.contains(" MODE ")).count(), super::channel::MAX_BANS);
    assert_eq!(replies.iter().filter(|l| l.contains(" 478 ")).count(), 10_000 - super::channel::MAX_BANS);
    assert!(replies.iter().all(|l| l.len() + 2 <= 512));
    // LIST over 20,000 rooms: one line each, then the end.
    let mut many = Raw::new(ServerConfig { max_connections_per_ip: None, ..no_flood() });
    for client in 0..400u64 {
        many.register(100 + client, &format!("u{client}"));
        let rooms: Vec<String> = (0..50).map(|r| format!("#r{client}x{r}")).collect();
        many.send(100 + client, &format!("JOIN {}", rooms.join(",")));
        many.take(100 + client);
    }
    many.send(100, "LIST");
    let listed = many.take(100);
    assert_eq!(listed.len(), 20_000 + 2);
    assert!(listed.iter().all(|l| l.len() + 2 <= 512));
    many.send(100, "LIST >1");
    assert_eq!(many.take(100).len(), 2, "no room has more than one member");
}

#[test]
fn nick_change_and_quit_reach_channel_members() {
    let mut raw = Raw::new(no_flood());
    raw.register(1, "alice");
    raw.register(2, "bob");
    raw.register(3, "loner");
    raw.send(1, "JOIN #lobby");
    raw.send(2, "JOIN #lobby");
    raw.take(1);
    raw.take(2);
    raw.take(3);
    raw.send(1, "NICK Alicia");
    assert_eq!(raw.take(2), [":alice!~alice@127.0.0.1 NICK Alicia"]);
    assert_eq!(raw.take(1).len(), 1);
    raw.send(1, "QUIT :bye");
    assert_eq!(raw.take(2), [":Alicia!~alice@127.0.0.1 QUIT :Quit: bye"]);
    assert!(raw.take(3).is_empty(), "only channel neighbours hear a quit");
    assert_eq!(raw.closed, [1]);
    raw.register(4, "alicia");
    assert!(raw.commands(4).contains(&"001".to_string()), "a quit frees the nickname");
}

#[test]
fn idle_clients_are_pinged_and_dead_ones_dropped() {
    let config = ServerConfig {
        ping_interval: Duration::from_secs(10),
        ping_timeout: Duration::from_secs(5),
        ..no_flood()
    };
    let mut raw = Raw::new(config);
    raw.register(1, "alice");
    raw.register(2, "bob");
    raw.send(1, "JOIN #lobby");
    raw.send(2, "JOIN #lobby");
    raw.take(1);
    raw.take(2);
    raw.tick(Duration::from_secs(9));
    assert!(raw.take(1).is_empty());
    raw.tick(Duration::from_secs(2));
    assert_eq!(raw.commands(1), ["PING"]);
    assert_eq!(raw.commands(2), ["PING"]);
    raw.send(2, "PONG :lanmeet.local");
    raw.tick(Duration::from_secs(5));
    assert_eq!(raw.closed, [1]);
    let bob = raw.take(2);
    assert!(bob.iter().any(|l| l.contains("QUIT :Ping timeout")), "{bob:?}");
    assert!(raw.server.next_deadline().is_some());
}

#[test]
fn registration_must_finish_in_time() {
    let mut raw = Raw::new(ServerConfig { ping_timeout: Duration::from_secs(3), ..no_flood() });
    raw.connect(1);
    raw.tick(Duration::from_secs(4));
    assert_eq!(raw.closed, [1]);
}

#[test]
fn flood_control_holds_lines_back_then_cuts_off() {
    let flood = FloodLimit { burst: 3, lines_per_second: 1.0, max_waiting: 5 };
    let mut raw = Raw::new(ServerConfig { flood: Some(flood), ..ServerConfig::default() });
    raw.register(1, "alice");
    raw.send(1, "JOIN #lobby");
    raw.take(1);
    raw.register(2, "bob");
    raw.send(2, "JOIN #lobby");
    raw.take(2);
    // Registration's long replies were paid for (bob's JOIN may still be waiting): wait until
    // it is done and the bucket is full again.
    raw.tick(Duration::from_secs(10));
    raw.tick(Duration::from_secs(10));
    raw.take(1);
    raw.take(2);
    for i in 0..5 {
        raw.send(2, &format!("PRIVMSG #lobby :m{i}"));
    }
    let first = raw.take(1);
    assert_eq!(first.len(), 3, "burst of three passes at once: {first:?} {:?}", raw.take(2));
    raw.tick(Duration::from_secs(2));
    let later = raw.take(1);
    assert_eq!(later.len(), 2, "held lines follow in order: {later:?}");
    assert!(later[1].ends_with(":m4"));
    for i in 0..20 {
        raw.send(2, &format!("PRIVMSG #lobby :flood{i}"));
    }
    assert_eq!(raw.closed, [2], "too many waiting lines: Excess Flood");
}

#[test]
fn connections_per_address_are_limited() {
    let mut raw = Raw::new(ServerConfig { max_connections_per_ip: Some(2), ..no_flood() });
    raw.connect(1);
    raw.connect(2);
    raw.connect(3);
    assert_eq!(raw.closed, [3]);
    let actions = raw.server.disconnected(1, "gone", raw.clock.0);
    raw.apply(actions);
    raw.connect(4);
    assert_eq!(raw.closed, [3]);
}

#[test]
fn names_lines_stay_within_the_limit() {
    let mut raw = Raw::new(ServerConfig { max_connections_per_ip: None, ..no_flood() });
    for i in 0..120 {
        raw.register(i, &format!("member{i:03}xxxxxxxxxxxx"));
        raw.send(i, "JOIN #big");
    }
    raw.take(0);
    raw.send(0, "NAMES #big");
    let lines = raw.take(0);
    assert!(lines.len() > 2);
    assert!(lines.iter().all(|l| l.len() + 2 <= 512), "{:?}", lines.iter().map(|l| l.len()).max());
    let names: usize = lines.iter().filter(|l| l.contains(" 353 ")).map(|l| l.rsplit(':').next().unwrap().split(' ').count()).sum();
    assert_eq!(names, 120);
}

/// Our client state against our server state over a lossless in-memory link.
struct Sim {
    raw: Raw,
    clients: Vec<Client>,
    events: Vec<Vec<Event>>,
}

impl Sim {
    fn new(nicks: &[&str]) -> Sim {
        Sim::with(no_flood(), nicks)
    }

    fn with(config: ServerConfig, nicks: &[&str]) -> Sim {
        let mut sim = Sim { raw: Raw::new(config), clients: Vec::new(), events: Vec::new() };
        for nick in nicks {
            sim.add(nick);
        }
        sim
    }

    /// Another client, connected and in the room.
    fn add(&mut self, nick: &str) -> usize {
        let i = self.clients.len();
        self.clients.push(Client::new(ClientConfig::new(nick, "#lobby")));
        self.events.push(Vec::new());
        self.connect(i);
        i
    }

    /// Client `i` (re)connects as connection `i`.
    fn connect(&mut self, i: usize) {
        self.raw.connect(i as ConnId);
        let out = self.clients[i].connected(self.raw.clock.0);
        self.feed(i, out.send);
        self.events[i].extend(out.events);
        self.pump();
    }

    /// Client `i`'s connection breaks.
    fn disconnect(&mut self, i: usize) {
        self.clients[i].disconnected();
        let actions = self.raw.server.disconnected(i as ConnId, "reset", self.raw.clock.0);
        self.raw.apply(actions);
    }

    fn feed(&mut self, i: usize, lines: Vec<String>) {
        for line in lines {
            self.raw.send(i as ConnId, &line);
        }
    }

    /// Deliver everything the server sent until nothing moves.
    fn pump(&mut self) {
        loop {
            let inbox = std::mem::take(&mut self.raw.inbox);
            if inbox.is_empty() {
                return;
            }
            for (conn, lines) in inbox {
                let i = conn as usize;
                for line in lines {
                    let out = self.clients[i].receive(line.as_bytes(), self.raw.clock.0);
                    self.events[i].extend(out.events);
                    self.feed(i, out.send);
                }
            }
        }
    }

    fn say(&mut self, i: usize, text: &str) {
        let out = self.clients[i].say(text, self.raw.clock.0);
        self.events[i].extend(out.events);
        self.feed(i, out.send);
        self.pump();
    }

    fn messages(&self, i: usize) -> Vec<(String, String)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Message { from, text, .. } => Some((from.clone(), text.clone())),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn client_registers_joins_and_learns_members() {
    let sim = Sim::new(&["alice", "bob"]);
    assert!(sim.clients.iter().all(Client::is_joined));
    let last_members = sim.events[0].iter().rev().find_map(|e| match e {
        Event::Members { nicks, .. } => Some(nicks.clone()),
        _ => None,
    });
    assert_eq!(last_members, Some(vec!["@alice".to_string(), "bob".to_string()]));
}

#[test]
fn nick_collision_is_resolved() {
    let sim = Sim::new(&["alice", "alice", "张三", "张三"]);
    let nicks: Vec<&str> = sim.clients.iter().map(Client::nick).collect();
    assert_eq!(nicks, ["alice", "alice_1", "张三", "张三_1"]);
    assert!(sim.clients.iter().all(Client::is_joined));
}

#[test]
fn typed_text_is_split_into_lines_and_pieces_and_confirmed() {
    let mut sim = Sim::new(&["alice", "bob"]);
    let long = "长".repeat(400); // 1200 bytes: must be cut at character boundaries
    sim.say(0, &format!("first\r\nsecond\n\n{long}"));
    let got: Vec<String> = sim.messages(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(&got[..2], ["first", "second"]);
    assert!(got.len() >= 5, "{}", got.len());
    assert_eq!(got[2..].concat(), long);
    let delivered = sim.events[0].iter().filter(|e| matches!(e, Event::Delivered { .. })).count();
    assert_eq!(delivered, got.len(), "each piece confirmed by its echo");
    assert_eq!(sim.clients[0].undelivered(), 0);
}

#[test]
fn a_long_paste_is_paced_by_echoes_and_survives_flood_control() {
    let flood = FloodLimit { burst: 5, lines_per_second: 2.0, max_waiting: 10 };
    let mut sim = Sim::new(&["alice", "bob"]);
    sim.raw.server = Server::new(ServerConfig { flood: Some(flood), ..ServerConfig::default() }, sim.raw.clock.0, 1);
    // Re-register both on the flood-limited server.
    sim.clients = vec![Client::new(ClientConfig::new("alice", "#lobby")), Client::new(ClientConfig::new("bob", "#lobby"))];
    sim.events = vec![Vec::new(), Vec::new()];
    for i in 0..2 {
        sim.raw.connect(i as ConnId);
        let out = sim.clients[i].connected(sim.raw.clock.0);
        sim.feed(i, out.send);
        for _ in 0..20 {
            sim.raw.tick(Duration::from_secs(1));
            sim.pump();
        }
    }
    assert!(sim.clients.iter().all(Client::is_joined));
    let paste: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    sim.say(0, &paste.join("\n"));
    for _ in 0..120 {
        sim.raw.tick(Duration::from_secs(1));
        sim.pump();
    }
    assert!(sim.raw.closed.is_empty(), "no Excess Flood");
    let got: Vec<String> = sim.messages(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, paste);
}

#[test]
fn unconfirmed_messages_are_resent_after_a_reconnect() {
    let mut sim = Sim::new(&["alice", "bob"]);
    // alice writes, but the connection dies before the server sees it.
    let out = sim.clients[0].say("lost in transit?", sim.raw.clock.0);
    assert_eq!(out.send.len(), 1);
    sim.clients[0].disconnected();
    let out = sim.clients[0].say("typed while offline", sim.raw.clock.0);
    assert!(out.send.is_empty());
    assert_eq!(sim.clients[0].undelivered(), 2);
    let actions = sim.raw.server.disconnected(0, "reset", sim.raw.clock.0);
    sim.raw.apply(actions);
    sim.raw.connect(10);
    // Reconnect alice as connection 10.
    let mut alice = std::mem::replace(&mut sim.clients[0], Client::new(ClientConfig::new("x", "#x")));
    let out = alice.connected(sim.raw.clock.0);
    for line in out.send {
        sim.raw.send(10, &line);
    }
    loop {
        let lines = sim.raw.take(10);
        if lines.is_empty() {
            break;
        }
        for line in lines {
            let out = alice.receive(line.as_bytes(), sim.raw.clock.0);
            for l in out.send {
                sim.raw.send(10, &l);
            }
        }
    }
    sim.pump();
    assert_eq!(alice.undelivered(), 0);
    let got: Vec<String> = sim.messages(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, ["lost in transit?", "typed while offline"]);
}

fn historian() -> ServerConfig {
    ServerConfig { history: true, ..no_flood() }
}

#[test]
fn a_locked_room_keeps_nothing_and_msgids_count_up() {
    let mut raw = Raw::new(historian());
    raw.register(1, "alice");
    raw.send(1, "JOIN #team");
    let said = |raw: &mut Raw, text: &str| {
        raw.clock.advance(Duration::from_millis(7));
        raw.send(1, &format!("PRIVMSG #team :{text}"));
        raw.kept.iter().any(|m| m.line.ends_with(text))
    };
    assert!(said(&mut raw, "open 1"));
    for (lock, unlock) in [("+k sesame", "-k sesame"), ("+i", "-i"), ("+s", "-s")] {
        raw.send(1, &format!("MODE #team {lock}"));
        assert!(!said(&mut raw, &format!("behind {lock}")), "{lock} keeps nothing");
        raw.send(1, &format!("MODE #team {unlock}"));
        assert!(said(&mut raw, &format!("after {unlock}")), "{unlock} keeps again");
    }
    raw.send(1, "MODE #team +m");
    assert!(said(&mut raw, "moderated"), "a moderated room is not locked");
    let numbers: Vec<i64> = raw.kept.iter().map(|m| history::msgid_number(&m.msgid).expect("our own form")).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    // A number tells its message's time, which follows the clock.
    let times: Vec<i64> = raw.kept.iter().map(|m| m.unix_ms).collect();
    assert!(raw.kept.iter().all(|m| history::msgid_time(history::msgid_number(&m.msgid).unwrap() as u64) == m.unix_ms));
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 7), "{times:?}");
    assert_eq!(*times.last().unwrap(), raw.clock.0.unix_millis());
    assert_eq!(history::msgid_number("00ff"), None);
    assert_eq!(history::msgid_number("FF"), None);
    assert_eq!(history::msgid_number("ff"), Some(255));
}

#[test]
fn chathistory_serves_rooms_to_their_members_and_keeps_no_private_talk() {
    let mut raw = Raw::new(historian());
    raw.register(1, "alice");
    raw.register(2, "bob");
    raw.send(1, "JOIN #class");
    raw.send(2, "JOIN #class");
    for i in 0..5 {
        raw.clock.advance(Duration::from_secs(1));
        raw.send(1, &format!("PRIVMSG #class :line {i} 第{i}行"));
    }
    raw.send(2, "PRIVMSG Alice :私聊");
    raw.take(1);
    raw.take(2);
    raw.connect(3);
    raw.send(3, "CAP LS 302");
    assert!(raw.take(3)[0].contains("draft/chathistory"), "offered where history is kept");
    raw.send(3, "CAP REQ :batch draft/chathistory server-time message-tags");
    raw.send(3, "NICK carol");
    raw.send(3, "USER carol 0 * :carol");
    raw.send(3, "CAP END");
    assert!(raw.take(3).iter().any(|l| l.contains(" CHATHISTORY=100 ") && l.contains("MSGREFTYPES=timestamp,msgid")));
    raw.send(3, "CHATHISTORY LATEST #class * 3");
    let refused = messages(&mut raw, 3);
    assert_eq!((refused[0].command.as_str(), refused[0].param(1)), ("FAIL", Some("INVALID_TARGET")), "only members read a room");
    raw.send(3, "JOIN #class");
    raw.take(3);
    raw.send(3, "CHATHISTORY LATEST #class * 3");
    let got = messages(&mut raw, 3);
    let texts = |got: &[Message]| -> Vec<String> { got.iter().filter(|m| m.command == "PRIVMSG").map(|m| m.params[1].clone()).collect() };
    assert_eq!(texts(&got), ["line 2 第2行", "line 3 第3行", "line 4 第4行"]);
    assert_eq!((got[0].command.as_str(), got[0].param(1)), ("BATCH", Some("chathistory")));
    let batch = got[0].params[0].trim_start_matches('+').to_string();
    assert_eq!(got.last().unwrap().params[0], format!("-{batch}"));
    for m in got.iter().filter(|m| m.command == "PRIVMSG") {
        assert_eq!(m.tag("batch"), Some(batch.as_str()));
        assert!(m.tag("time").is_some() && m.tag("msgid").is_some(), "{m:?}");
        assert_eq!(m.source_nick(), Some("alice"));
    }
    let oldest = got[1].tag("msgid").unwrap().to_string();
    let time_of_oldest = got[1].tag("time").unwrap().to_string();
    raw.send(3, &format!("CHATHISTORY BEFORE #class msgid={oldest} 10"));
    assert_eq!(texts(&messages(&mut raw, 3)), ["line 0 第0行", "line 1 第1行"]);
    raw.send(3, &format!("CHATHISTORY AFTER #class timestamp={time_of_oldest} 1"));
    assert_eq!(texts(&messages(&mut raw, 3)), ["line 3 第3行"]);
    raw.send(3, &format!("CHATHISTORY BETWEEN #class msgid={oldest} * 10"));
    assert_eq!(messages(&mut raw, 3)[0].param(1), Some("INVALID_PARAMS"));
    // Private talk is not kept: nicknames change hands, and a new holder must not read it.
    assert!(raw.kept.iter().all(|m| !m.line.contains("私聊")));
    raw.send(3, "CHATHISTORY LATEST alice * 10");
    assert_eq!(messages(&mut raw, 3)[0].param(1), Some("INVALID_TARGET"));
    // Without batch and draft/chathistory, history would look like live talk: refused.
    raw.take(1);
    raw.send(1, "CHATHISTORY LATEST #class * 10");
    assert_eq!(messages(&mut raw, 1)[0].param(1), Some("INVALID_PARAMS"));
    for (line, code) in [("CHATHISTORY LATEST #class", "INVALID_PARAMS"), ("CHATHISTORY SOON #class * 1", "UNKNOWN_COMMAND"), ("CHATHISTORY BEFORE #class * 1", "INVALID_PARAMS")] {
        raw.send(3, line);
        assert_eq!(messages(&mut raw, 3)[0].param(1), Some(code), "{line}");
    }
    // Without history the command is unknown.
    let mut plain = Raw::new(no_flood());
    plain.register(1, "x");
    plain.take(1);
    plain.send(1, "CHATHISTORY LATEST #a * 1");
    assert_eq!(plain.commands(1), ["421"]);
}

#[test]
fn a_client_sees_what_was_said_before_it_came_and_exactly_what_it_missed() {
    let mut sim = Sim::with(historian(), &["alice"]);
    for text in ["早上好", "first", "second"] {
        sim.raw.clock.advance(Duration::from_millis(10));
        sim.say(0, text);
    }
    let bob = sim.add("bob");
    let history = |events: &[Event]| -> Vec<(Vec<String>, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::History { lines, missed, .. } => Some((lines.iter().map(|l| format!("{}: {}", l.from, l.text)).collect(), *missed)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(history(&sim.events[bob]), [(vec!["alice: 早上好".to_string(), "alice: first".into(), "alice: second".into()], false)]);
    sim.say(bob, "hello");
    sim.say(0, "live one");
    sim.disconnect(bob);
    sim.events[bob].clear();
    for text in ["while you slept", "and this"] {
        sim.raw.clock.advance(Duration::from_millis(10));
        sim.say(0, text);
    }
    sim.connect(bob);
    assert_eq!(history(&sim.events[bob]), [(vec!["alice: while you slept".to_string(), "alice: and this".into()], true)], "exactly what was missed");
    assert!(sim.messages(bob).is_empty(), "nothing shown twice");
    // A fresh start under the same name: our own messages come back marked as ours.
    sim.disconnect(0);
    sim.clients[0] = Client::new(ClientConfig::new("alice", "#lobby"));
    sim.events[0].clear();
    sim.connect(0);
    let lines = sim.events[0]
        .iter()
        .find_map(|e| match e {
            Event::History { lines, missed: false, .. } => Some(lines.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(lines.iter().filter(|l| l.own).count(), 6);
    assert_eq!(lines.iter().filter(|l| !l.own).map(|l| l.text.as_str()).collect::<Vec<_>>(), ["hello"]);
    // A fresh start that keeps its own copy asks only for what came after its newest message.
    let slept = sim.events[bob]
        .iter()
        .find_map(|e| match e {
            Event::History { lines, .. } => Some(lines[0].unix_ms),
            _ => None,
        })
        .unwrap();
    sim.disconnect(bob);
    let mut config = ClientConfig::new("bob", "#lobby");
    config.seen_until.insert("#lobby".into(), slept);
    sim.clients[bob] = Client::new(config);
    sim.events[bob].clear();
    sim.connect(bob);
    assert_eq!(history(&sim.events[bob]), [(vec!["alice: and this".to_string()], true)], "what came after the kept one");
}

#[test]
fn typed_commands_moderate_talk_and_change_names() {
    let mut sim = Sim::new(&["alice", "bob"]);
    let last_info = |sim: &Sim, i: usize| -> String {
        sim.events[i].iter().rev().find_map(|e| match e {
            Event::Info { text, .. } => Some(text.clone()),
            _ => None,
        }).unwrap_or_default()
    };
    sim.say(0, "/mode +mt");
    let modes = sim.events[1].iter().rev().find_map(|e| match e {
        Event::Modes { modes, .. } => Some(modes.clone()),
        _ => None,
    });
    assert_eq!(modes.as_deref(), Some("+mnt"), "bob's client learns the room's modes");
    sim.say(1, "may I speak?");
    assert!(last_info(&sim, 1).contains("+m"), "{}", last_info(&sim, 1));
    assert!(sim.messages(0).is_empty());
    sim.say(0, "/voice bob");
    let members = sim.events[0].iter().rev().find_map(|e| match e {
        Event::Members { nicks, .. } => Some(nicks.clone()),
        _ => None,
    });
    assert_eq!(members.unwrap(), ["@alice", "+bob"]);
    sim.say(1, "thank you");
    sim.say(0, "/me waves 挥手");
    sim.say(0, "/msg bob just for you");
    sim.say(0, "//slash at the start");
    let got: Vec<(String, String, bool)> = sim.events[1].iter().filter_map(|e| match e {
        Event::Message { from, target, text, action, .. } => Some((format!("{from}>{target}"), text.clone(), *action)),
        _ => None,
    }).collect();
    assert_eq!(got, [
        ("alice>#lobby".to_string(), "waves 挥手".to_string(), true),
        ("alice>bob".into(), "just for you".into(), false),
        ("alice>#lobby".into(), "/slash at the start".into(), false),
    ]);
    assert_eq!(sim.messages(0), [("bob".to_string(), "thank you".to_string())]);
    sim.say(0, "/topic Lesson 3");
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::Topic { text, .. } if text == "Lesson 3")));
    sim.say(1, "/topic mine now");
    assert!(last_info(&sim, 1).contains("operator"), "+t: {}", last_info(&sim, 1));
    sim.say(1, "/away at lunch");
    let away = sim.events[0].iter().rev().find_map(|e| match e {
        Event::Members { away, .. } => Some(away.clone()),
        _ => None,
    });
    assert_eq!(away.unwrap(), ["bob"], "away-notify greys bob out");
    sim.say(0, "/whois bob");
    assert!(sim.events[0].iter().any(|e| matches!(e, Event::Info { text, .. } if text.contains("bob is away: at lunch") || text == "bob is ~bob@127.0.0.1 (bob)")));
    sim.say(0, "/nick alicia");
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::NickChanged { new, .. } if new == "alicia")));
    assert_eq!(sim.clients[0].nick(), "alicia");
    sim.say(0, "/kick bob enough");
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::Info { text, .. } if text.contains("kicked: enough"))));
    sim.say(0, "/bogus");
    assert!(last_info(&sim, 0).contains("Unknown command /bogus"));
    sim.say(0, "/kick");
    assert_eq!(last_info(&sim, 0), "Usage: /kick NICK [REASON]");
    sim.say(0, "/help");
    assert!(last_info(&sim, 0).contains("/ban NICK"));
}

#[test]
fn refused_messages_do_not_hold_up_what_follows() {
    let mut sim = Sim::new(&["alice", "bob"]);
    sim.say(0, "/mode +m");
    for i in 0..12 {
        sim.say(1, &format!("unheard {i}"));
    }
    assert!(sim.messages(0).is_empty());
    sim.say(0, "/voice bob");
    sim.say(1, "finally heard");
    assert_eq!(sim.messages(0), [("bob".to_string(), "finally heard".to_string())]);
}

#[test]
fn invitations_are_to_rooms_that_exist_and_only_an_operators_opens_every_lock() {
    let mut raw = classroom();
    raw.register(4, "dave");
    raw.register(5, "eve");
    raw.send(1, "MODE #class +k sesame");
    // A member who is not an operator invites: that opens invite-only, not the key.
    raw.send(2, "INVITE dave #class");
    raw.take(4);
    raw.send(4, "JOIN #class");
    assert_eq!(raw.commands(4), ["475"]);
    // The operator's invitation opens it.
    raw.send(1, "INVITE dave #class");
    raw.take(4);
    raw.send(4, "JOIN #class");
    assert!(raw.commands(4).contains(&"JOIN".to_string()));
    // No invitation to a room that does not exist yet, and none outlives its room.
    raw.take(5);
    raw.send(5, "INVITE eve #later");
    assert_eq!(raw.commands(5), ["403"]);
    raw.send(5, "JOIN #mine");
    raw.send(5, "INVITE dave #mine");
    raw.send(5, "PART #mine");
    raw.send(2, "JOIN #mine");
    raw.send(2, "MODE #mine +i");
    raw.take(4);
    raw.send(4, "JOIN #mine");
    assert_eq!(raw.commands(4), ["473"], "the invitation was to the room that went away");
}

#[test]
fn client_notices_a_silent_server() {
    let mut clock = Clock::new();
    let mut client = Client::new(ClientConfig::new("alice", "#lobby"));
    client.connected(clock.0);
    assert!(client.tick(clock.advance(Duration::from_secs(30))).send.is_empty());
    assert_eq!(client.tick(clock.advance(Duration::from_secs(31))).send, ["PING :lanmeet"]);
    assert_eq!(client.tick(clock.advance(Duration::from_secs(31))).events, [Event::Dead]);
}

#[test]
fn client_accepts_what_other_servers_send() {
    let mut clock = Clock::new();
    let mut client = Client::new(ClientConfig::new("张三", "#lobby"));
    let now = clock.advance(Duration::ZERO);
    client.connected(now);
    // A server that knows no CAP and refuses non-ASCII nicknames.
    let out = client.receive(b":irc.example 421 * CAP :Unknown command", now);
    assert!(out.send.is_empty());
    let out = client.receive(":irc.example 432 * 张三 :Erroneous nickname".as_bytes(), now);
    assert_eq!(out.send, ["NICK guest"]);
    let out = client.receive(b":irc.example 001 guest :Welcome", now);
    assert_eq!(out.send, ["JOIN #lobby"]);
    let out = client.receive(b":guest!u@h JOIN :#lobby", now);
    assert!(out.events.contains(&Event::Joined { channel: "#lobby".into() }));
    // Without echo-message a message counts as delivered once written.
    let out = client.say("hi", now);
    assert_eq!(out.send, ["PRIVMSG #lobby :hi"]);
    assert!(out.events.iter().any(|e| matches!(e, Event::Delivered { .. })));
    // Latin-1 bytes from an old client are shown, not dropped.
    let out = client.receive(b":bob!u@h PRIVMSG #lobby :caf\xe9", now);
    assert!(matches!(&out.events[0], Event::Message { text, .. } if text == "caf\u{fffd}"));
    let out = client.receive(b":bob!u@h PRIVMSG #lobby :\x01ACTION waves\x01", now);
    assert!(matches!(&out.events[0], Event::Message { text, action: true, .. } if text == "waves"));
}

/// What a hostile client or server can make of the state machines: each bounded.
mod hostile {
    use super::*;
    use crate::proto::irc::client::MAX_MEMBERS;
    use crate::proto::irc::server::{MAX_CHANNELS_PER_CLIENT, MAX_NAMES_TARGETS};

    #[test]
    fn a_client_joins_no_more_than_the_channel_limit_and_leaves_them_at_once() {
        let mut raw = Raw::new(no_flood());
        raw.register(1, "greedy");
        raw.take(1);
        let list: Vec<String> = (0..200).map(|i| format!("#c{i}")).collect();
        for chunk in list.chunks(40) {
            raw.send(1, &format!("JOIN {}", chunk.join(",")));
        }
        let lines = raw.take(1);
        let joins = lines.iter().filter(|l| l.contains(" JOIN ")).count();
        assert_eq!(joins, MAX_CHANNELS_PER_CLIENT);
        assert!(lines.iter().any(|l| l.contains(" 405 ")), "the refusal is said");
        raw.send(1, "JOIN 0");
        let parts = raw.take(1).iter().filter(|l| l.contains(" PART ")).count();
        assert_eq!(parts, MAX_CHANNELS_PER_CLIENT);
    }

    #[test]
    fn names_of_the_same_channel_many_times_is_answered_once() {
        let mut raw = Raw::new(ServerConfig { max_connections_per_ip: None, ..no_flood() });
        for i in 0..50 {
            raw.register(i, &format!("member{i:03}"));
            raw.send(i, "JOIN #lobby");
        }
        raw.register(99, "asker");
        raw.take(99);
        let request = format!("NAMES {}", vec!["#lobby"; 70].join(","));
        raw.send(99, &request);
        let reply: usize = raw.take(99).iter().map(|l| l.len() + 2).sum();
        let once = {
            raw.send(99, "NAMES #lobby");
            raw.take(99).iter().map(|l| l.len() + 2).sum::<usize>()
        };
        assert_eq!(reply, once, "70 copies of one target answered once");
        // Distinct targets beyond the limit are refused, not answered.
        let many: Vec<String> = (0..10).map(|i| format!("#r{i}")).collect();
        raw.send(99, &format!("NAMES {}", many.join(",")));
        let lines = raw.take(99);
        assert_eq!(lines.iter().filter(|l| l.contains(" 366 ")).count(), MAX_NAMES_TARGETS);
        assert!(lines.iter().any(|l| l.contains(" 407 ")));
    }

    #[test]
    fn big_replies_cost_flood_tokens() {
        let mut raw = Raw::new(ServerConfig { max_connections_per_ip: None, ..ServerConfig::default() });
        for i in 0..300 {
            raw.register(i, &format!("someone{i:04}"));
            raw.send(i, "JOIN #lobby");
        }
        raw.register(999, "asker");
        raw.tick(Duration::from_secs(10));
        raw.take(999);
        // A burst of NAMES: without a charge for the reply every one of 20 would be answered.
        for _ in 0..20 {
            raw.send(999, "NAMES #lobby");
        }
        let answered = raw.take(999).iter().filter(|l| l.contains(" 366 ")).count();
        let sent: usize = 20 * "NAMES #lobby\r\n".len();
        assert!(answered <= 6, "{answered} of 20 answered at once ({sent} bytes asked)");
    }

    #[test]
    fn every_reply_fits_in_a_line_whatever_a_client_sends() {
        let mut raw = Raw::new(no_flood());
        raw.connect(1);
        let long = "x".repeat(400);
        raw.send(1, &format!("NICK {long}"));
        raw.send(1, &format!("USER u 0 * :{long}"));
        raw.send(1, "NICK fine");
        raw.send(1, &format!("{long} a b"));
        raw.send(1, &format!("JOIN #{long}"));
        raw.send(1, &format!("PART #{long}"));
        raw.send(1, "WHO fine");
        raw.send(1, &format!("MODE #{long}"));
        raw.send(1, &format!("PRIVMSG {long} :hi"));
        let lines = raw.take(1);
        assert!(lines.len() > 8);
        for line in lines {
            assert!(line.len() + 2 <= 512, "{} bytes: {line}", line.len() + 2);
        }
    }

    #[test]
    fn a_server_cannot_grow_the_client_without_bound() {
        let mut clock = Clock::new();
        let mut client = Client::new(ClientConfig::new("me", "#lobby"));
        let now = clock.advance(Duration::ZERO);
        client.connected(now);
        client.receive(b":s 001 me :hi", now);
        client.receive(b":me!u@h JOIN #lobby", now);
        // Endless 353 lines and no 366, for our room and for one we are not in.
        let line = format!(":s 353 me = #lobby :{}", (0..40).map(|i| format!("n{i}")).collect::<Vec<_>>().join(" "));
        let other = format!(":s 353 me = #elsewhere :{}", (0..40).map(|i| format!("n{i}")).collect::<Vec<_>>().join(" "));
        for _ in 0..5_000 {
            client.receive(line.as_bytes(), now);
            client.receive(other.as_bytes(), now);
        }
        let out = client.receive(b":s 366 me #lobby :End", now);
        let listed = out.events.iter().find_map(|e| match e { Event::Members { nicks, .. } => Some(nicks.len()), _ => None });
        assert_eq!(listed, Some(40), "duplicates collapse into one entry each");
        // 20,000 JOINs of one nick: one member, one event; a batch yields one member list.
        let joins: Vec<Vec<u8>> = (0..20_000).map(|_| b":dup!u@h JOIN #lobby".to_vec()).collect();
        let out = client.receive_lines(joins.iter().map(Vec::as_slice), now);
        assert_eq!(out.events.iter().filter(|e| matches!(e, Event::MemberJoined { .. })).count(), 1);
        assert_eq!(out.events.iter().filter(|e| matches!(e, Event::Members { .. })).count(), 1);
        // Many distinct ones stop at the limit.
        let joins: Vec<Vec<u8>> = (0..MAX_MEMBERS + 500).map(|i| format!(":u{i}!u@h JOIN #lobby").into_bytes()).collect();
        let out = client.receive_lines(joins.iter().map(Vec::as_slice), now);
        let listed = out.events.iter().find_map(|e| match e { Event::Members { nicks, .. } => Some(nicks.len()), _ => None });
        assert_eq!(listed, Some(MAX_MEMBERS));
    }

    #[test]
    fn a_nick_longer_than_a_line_still_leaves_room_to_talk() {
        let mut clock = Clock::new();
        let now = clock.advance(Duration::ZERO);
        let long = "n".repeat(600);
        let mut client = Client::new(ClientConfig::new("me", "#lobby"));
        client.connected(now);
        client.receive(format!(":s 001 {long} :hi").as_bytes(), now);
        client.receive(format!(":{long}!u@h JOIN #lobby").as_bytes(), now);
        let out = client.say("hello there", now);
        assert_eq!(out.send, ["PRIVMSG #lobby :hello there"]);
    }

    use proptest::prelude::*;

    fn arb_line() -> impl Strategy<Value = Vec<u8>> {
        let command = prop_oneof![
            Just("NICK"), Just("USER"), Just("JOIN"), Just("PART"), Just("PRIVMSG"), Just("NOTICE"), Just("NAMES"),
            Just("TOPIC"), Just("WHO"), Just("MODE"), Just("QUIT"), Just("CAP"), Just("PING"), Just("ISON"), Just("USERHOST"),
        ];
        let word = prop_oneof!["#[a-c]{1,3}", "[a-c]{1,4}", "[#,a-z]{0,30}", "\\PC{0,20}", Just("0".to_string()), Just("*".to_string())];
        let structured = (command, prop::collection::vec(word, 0..4), prop::option::of("\\PC{0,60}")).prop_map(|(c, words, trailing)| {
            let mut line = format!("{c} {}", words.join(" "));
            if let Some(t) = trailing {
                line.push_str(" :");
                line.push_str(&t);
            }
            line.into_bytes()
        });
        prop_oneof![5 => structured, 1 => prop::collection::vec(any::<u8>(), 0..80)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        /// Whole sessions of three clients sending anything: no panic, every line the server
        /// writes fits in 512 bytes without its tags, and nobody is in more channels than allowed.
        #[test]
        fn any_session_gets_well_formed_replies(lines in prop::collection::vec((0u64..3, arb_line(), 0u8..4), 1..150)) {
            let mut raw = Raw::new(ServerConfig::default());
            for conn in 0..3 {
                raw.connect(conn);
            }
            for (conn, line, wait) in lines {
                raw.send_bytes(conn, &line);
                raw.tick(Duration::from_millis(u64::from(wait) * 300));
            }
            raw.tick(Duration::from_secs(200));
            for line in raw.inbox.values().flatten() {
                let untagged = if line.starts_with('@') { line.split_once(' ').map_or("", |(_, r)| r) } else { line.as_str() };
                prop_assert!(untagged.len() + 2 <= 512, "{} bytes: {}", untagged.len() + 2, untagged);
            }
        }

        /// A server sending anything: the client does not panic and keeps bounded state.
        #[test]
        fn any_server_leaves_the_client_bounded(lines in prop::collection::vec(prop_oneof![
            arb_line(),
            ("[a-c]{1,3}", prop::collection::vec("[@+]?[a-e]{1,3}", 0..30)).prop_map(|(_, names)| format!(":s 353 me = #lobby :{}", names.join(" ")).into_bytes()),
            Just(b":s 366 me #lobby :End".to_vec()),
            "[a-e]{1,3}".prop_map(|n| format!(":{n}!u@h JOIN #lobby").into_bytes()),
            "[a-e]{1,3}".prop_map(|n| format!(":{n}!u@h PART #lobby").into_bytes()),
            ("[a-e]{1,3}", "[a-e]{1,3}").prop_map(|(a, b)| format!(":{a}!u@h NICK {b}").into_bytes()),
        ], 1..200)) {
            let mut clock = Clock::new();
            let now = clock.advance(Duration::ZERO);
            let mut client = Client::new(ClientConfig::new("me", "#lobby"));
            client.connected(now);
            client.receive(b":s 001 me :hi", now);
            client.receive(b":me!u@h JOIN #lobby", now);
            let out = client.receive_lines(lines.iter().map(Vec::as_slice), now);
            for event in out.events {
                if let Event::Members { nicks, .. } = event {
                    prop_assert!(nicks.len() <= crate::proto::irc::client::MAX_MEMBERS);
                }
            }
            prop_assert_eq!(client.say("still talking", now).send.len(), 1);
        }
    }
}

#[test]
fn a_banned_member_cannot_slip_past_the_ban_by_a_new_nick() {
    let mut raw = Raw::new(no_flood());
    raw.register(1, "op");
    raw.register(2, "bob");
    raw.send(1, "JOIN #r");
    raw.send(2, "JOIN #r");
    raw.send(1, "MODE #r +b bob!*@*");
    raw.take(2);
    raw.send(2, "NICK robert");
    let refused = raw.take(2);
    assert!(refused.len() == 1 && refused[0].contains(" 435 bob robert #r :"), "{refused:?}");
    raw.send(1, "MODE #r -b bob!*@*");
    raw.send(1, "MODE #r +b carol!*@*");
    raw.take(2);
    raw.send(2, "NICK carol");
    assert_eq!(raw.commands(2), ["435"], "nor into a banned name");
    raw.send(2, "NICK dave");
    assert_eq!(raw.commands(2), ["NICK"]);
    raw.send(1, "MODE #r +v dave");
    raw.send(1, "MODE #r +b dave!*@*");
    raw.take(2);
    raw.send(2, "NICK carol");
    assert_eq!(raw.commands(2), ["NICK"], "a voiced member is not held by bans");
}

#[test]
fn replies_that_list_much_are_split_into_lines_that_fit() {
    let mut raw = Raw::new(no_flood());
    raw.register(1, "op");
    raw.send(1, "JOIN #r");
    raw.take(1);
    // Five masks of 95 bytes fit in what a client may send, not in one relayed MODE.
    let masks: Vec<String> = (0..5).map(|i| format!("{}{i}!*@*", "x".repeat(90))).collect();
    raw.send(1, &format!("MODE #r +bbbbb {}", masks.join(" ")));
    let lines = raw.take(1);
    assert!(lines.len() >= 2 && lines.iter().all(|l| l.len() + 2 <= MAX_LINE && l.contains(" MODE #r +b")), "{lines:?}");
    for mask in &masks {
        assert_eq!(lines.iter().filter(|l| l.contains(mask.as_str())).count(), 1, "{mask}");
    }
    // Forty rooms of long names in WHOIS: every name, every line within the limit.
    let rooms: Vec<String> = (0..40).map(|i| format!("#{}{i:02}", "room".repeat(11))).collect();
    for room in &rooms {
        raw.send(1, &format!("JOIN {room}"));
    }
    raw.take(1);
    raw.send(1, "WHOIS op");
    let lines: Vec<String> = raw.take(1).into_iter().filter(|l| l.contains(" 319 ")).collect();
    assert!(lines.iter().all(|l| l.len() + 2 <= MAX_LINE), "{lines:?}");
    for room in &rooms {
        assert!(lines.iter().any(|l| l.split([' ', ':', '@']).any(|w| w == room)), "{room} missing");
    }
}

#[test]
fn join_adds_a_room_only_when_let_in_and_keeps_the_key_for_rejoining() {
    let mut sim = Sim::new(&["alice", "bob", "carol"]);
    sim.say(0, "/join #vault");
    assert_eq!(sim.clients[0].channel(), "#vault");
    sim.say(0, "/mode +k sesame");
    sim.say(1, "/join #vault wrong");
    assert_eq!(sim.clients[1].channel(), "#lobby", "refused: bob stays where he was");
    let refused = sim.events[1].iter().rev().find_map(|e| match e {
        Event::Info { text, error: true } => Some(text.clone()),
        _ => None,
    });
    assert!(refused.as_deref().is_some_and(|t| t.starts_with("Cannot join #vault") && t.ends_with("you are still in #lobby")), "{refused:?}");
    sim.say(1, "still here");
    assert_eq!(sim.messages(2), [("bob".to_string(), "still here".to_string())]);
    sim.say(1, "/join #vault sesame");
    assert_eq!(sim.clients[1].channel(), "#vault");
    assert_eq!(sim.clients[1].rooms(), ["#vault", "#lobby"], "bob is in both rooms, talking in #vault");
    assert!(!sim.events[2].iter().any(|e| matches!(e, Event::MemberLeft { nick, .. } if nick == "bob")), "bob stays in #lobby");
    sim.say(1, "in the vault");
    assert_eq!(sim.messages(0).last().map(|(_, t)| t.as_str()), Some("in the vault"));
    assert_eq!(sim.messages(2).len(), 1, "carol, in #lobby alone, does not hear #vault");
    // Carol's words in #lobby reach bob there while he talks in #vault.
    sim.say(2, "lobby talk");
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::Message { target, text, .. } if target == "#lobby" && text == "lobby talk")));
    // Back to #lobby: no JOIN, the room's members come again, and text goes there.
    let back = sim.clients[1].say("/join #lobby", Clock::new().0);
    assert!(back.send.is_empty(), "{:?}", back.send);
    assert!(matches!(&back.events[0], Event::Switched { channel } if channel == "#lobby"), "{:?}", back.events);
    assert!(back.events.iter().any(|e| matches!(e, Event::Members { channel, nicks, .. } if channel == "#lobby" && nicks.len() == 3)), "{:?}", back.events);
    sim.say(1, "back in the lobby");
    assert_eq!(sim.messages(2).last().map(|(_, t)| t.as_str()), Some("back in the lobby"));
    // Leaving #lobby: bob talks in #vault again, and carol sees him go.
    sim.say(1, "/part");
    assert_eq!(sim.clients[1].channel(), "#vault");
    assert!(sim.events[1].iter().any(|e| matches!(e, Event::Switched { channel } if channel == "#vault")));
    assert!(sim.events[2].iter().any(|e| matches!(e, Event::MemberLeft { nick, .. } if nick == "bob")));
    sim.disconnect(1);
    sim.connect(1);
    let joined = sim.events[1].iter().filter(|e| matches!(e, Event::Joined { channel } if channel == "#vault")).count();
    assert_eq!(joined, 2, "the key is kept for rejoining after a reconnect");
    assert_eq!(sim.clients[1].rooms(), ["#vault"]);
}

#[test]
fn several_rooms_are_joined_on_connecting_and_each_keeps_its_history() {
    let mut config = ClientConfig::new("me", "#lobby");
    config.also = vec![("#作业".into(), None), ("#locked".into(), Some("k3y".into()))];
    let mut client = Client::new(config);
    let now = Clock::new().0;
    client.connected(now);
    client.receive(b":srv CAP * LS :batch draft/chathistory", now);
    client.receive(b":srv CAP me ACK :batch draft/chathistory", now);
    let out = client.receive(b":srv 001 me :hi", now);
    assert_eq!(out.send, ["JOIN #lobby", "JOIN #作业", "JOIN #locked :k3y"]);
    let out = client.receive(":me!~me@h JOIN #作业".as_bytes(), now);
    assert_eq!(out.events, [Event::Entered { channel: "#作业".into() }], "another room: not where we talk");
    assert!(out.send.iter().any(|l| l == "CHATHISTORY LATEST #作业 * :50"), "{:?}", out.send);
    let out = client.receive(b":me!~me@h JOIN #lobby", now);
    assert_eq!(out.events, [Event::Joined { channel: "#lobby".into() }]);
    // The other room's history comes as its own.
    let events: Vec<Event> = [":srv BATCH +h chathistory #作业", "@batch=h;time=2026-01-01T00:00:00.000Z :ann!a@h PRIVMSG #作业 :交作业", ":srv BATCH -h"]
        .iter()
        .flat_map(|line| client.receive(line.as_bytes(), now).events)
        .collect();
    let history: Vec<(&str, &str, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::History { channel, lines, missed } => Some((channel.as_str(), lines[0].text.as_str(), *missed)),
            _ => None,
        })
        .collect();
    assert_eq!(history, [("#作业", "交作业", false)]);
    // What is typed goes where we talk; a room's members are handed out for where we talk only.
    assert_eq!(client.say("hi", now).send, ["PRIVMSG #lobby :hi"]);
    let out = client.receive(":srv 353 me = #作业 :me ann".as_bytes(), now);
    assert!(out.events.is_empty());
    let out = client.receive(":srv 366 me #作业 :End".as_bytes(), now);
    assert!(!out.events.iter().any(|e| matches!(e, Event::Members { channel, .. } if channel == "#作业")), "{:?}", out.events);
    // Someone quits: each room they were in says so.
    client.receive(b":srv 353 me = #lobby :me ann", now);
    client.receive(b":srv 366 me #lobby :End", now);
    let out = client.receive(b":ann!a@h QUIT :bye", now);
    let left: Vec<&str> = out.events.iter().filter_map(|e| match e { Event::MemberLeft { channel, .. } => Some(channel.as_str()), _ => None }).collect();
    assert_eq!(left, ["#lobby", "#作业"]);
    // /part #作业 leaves that room and stays where we talk.
    assert_eq!(client.say("/part #作业 done", now).send, ["PART #作业 :done"]);
    client.receive(":me!~me@h PART #作业 :done".as_bytes(), now);
    assert_eq!(client.rooms(), ["#lobby", "#locked"]);
    assert_eq!(client.channel(), "#lobby");
}

/// A client in #lobby with alice and bob, fed lines as a server would send them.
fn client_in_lobby() -> (Client, Now) {
    let now = Clock::new().0;
    let mut client = Client::new(ClientConfig::new("me", "#lobby"));
    client.connected(now);
    for line in [":srv 001 me :hi", ":me!~me@h JOIN #lobby", ":srv 353 me = #lobby :@me alice bob", ":srv 366 me #lobby :End"] {
        client.receive(line.as_bytes(), now);
    }
    (client, now)
}

#[test]
fn mode_changes_update_the_member_list_without_asking_the_server_each_time() {
    let (mut client, now) = client_in_lobby();
    let mut feed = |line: &str| client.receive(line.as_bytes(), now);
    let out = feed(":me!~me@h MODE #lobby +ov alice bob");
    assert!(out.send.is_empty(), "no NAMES for what the line says: {:?}", out.send);
    let members = out.events.iter().find_map(|e| match e {
        Event::Members { nicks, .. } => Some(nicks.clone()),
        _ => None,
    });
    assert_eq!(members.map(|mut m| { m.sort(); m }), Some(vec!["+bob".to_string(), "@alice".into(), "@me".into()]));
    // A room mode asks for the modes once; more changes before the answer ask once more.
    assert_eq!(feed(":me!~me@h MODE #lobby +m").send, ["MODE #lobby"]);
    assert!(feed(":me!~me@h MODE #lobby +t").send.is_empty());
    assert!(feed(":me!~me@h MODE #lobby +n").send.is_empty());
    assert_eq!(feed(":srv 324 me #lobby +m").send, ["MODE #lobby"]);
    assert!(feed(":srv 324 me #lobby +mnt").send.is_empty());
    // A mode another server knows and we do not: its parameters are unknown, so ask.
    assert_eq!(feed(":me!~me@h MODE #lobby +hv alice bob").send, ["NAMES #lobby"]);
    // Without multi-prefix, taking one status away may uncover another: ask.
    assert_eq!(feed(":me!~me@h MODE #lobby -o alice").send, ["NAMES #lobby"]);
}

#[test]
fn two_joins_in_a_row_bring_both_rooms_and_we_talk_in_the_latest() {
    let (mut client, now) = client_in_lobby();
    let typed = client.say("/join #b", now).send;
    assert_eq!(typed, ["JOIN #b"]);
    assert_eq!(client.say("/join #c key", now).send, ["JOIN #c :key"]);
    let out = client.receive(b":me!~me@h JOIN #b", now);
    assert!(out.events.contains(&Event::Entered { channel: "#b".into() }), "#b is ours, but we asked for #c last: {:?}", out.events);
    assert_eq!(client.channel(), "#lobby");
    let out = client.receive(b":me!~me@h JOIN #c", now);
    assert!(!out.send.iter().any(|l| l.starts_with("PART")), "#lobby stays one of ours: {:?}", out.send);
    assert_eq!(client.channel(), "#c");
    assert_eq!(client.rooms(), ["#c", "#b", "#lobby"]);
    // A /join, then going back to a room of ours before it is answered: we stay there.
    client.say("/join #e", now);
    client.say("/join #b", now);
    assert_eq!(client.channel(), "#b");
    let out = client.receive(b":me!~me@h JOIN #e", now);
    assert!(out.events.contains(&Event::Entered { channel: "#e".into() }), "{:?}", out.events);
    assert_eq!(client.channel(), "#b");
    // Kicked from where we talk: we talk in another room of ours.
    let out = client.receive(b":op!~op@h KICK #b me :out", now);
    assert!(out.events.contains(&Event::Parted { channel: "#b".into() }));
    assert!(out.events.iter().any(|e| matches!(e, Event::Switched { .. })), "{:?}", out.events);
    assert!(!client.rooms().contains(&"#b".to_string()));
    // Sent out of every room: the next room we are let into is where we talk.
    for room in client.rooms() {
        client.receive(format!(":op!~op@h KICK {room} me :out").as_bytes(), now);
    }
    assert!(!client.is_joined());
    client.say("/join #d", now);
    let out = client.receive(b":me!~me@h JOIN #d", now);
    assert!(!out.send.iter().any(|l| l.starts_with("PART")), "{:?}", out.send);
    assert_eq!(client.rooms(), ["#d"], "rooms we were sent out of are not joined again");
    assert!(client.is_joined());
    // A room of ours that refuses us on rejoining is no longer ours; we talk in another.
    client.say("/join #f", now);
    client.receive(b":me!~me@h JOIN #f", now);
    client.say("/join #d", now);
    assert_eq!(client.rooms(), ["#d", "#f"]);
    client.connected(now);
    client.receive(b":srv 001 me :hi", now);
    let out = client.receive(b":srv 474 me #d :Cannot join channel (+b)", now);
    assert!(out.events.contains(&Event::Parted { channel: "#d".into() }), "{:?}", out.events);
    let out = client.receive(b":me!~me@h JOIN #f", now);
    assert!(out.events.iter().any(|e| matches!(e, Event::Switched { channel } if channel == "#f")), "{:?}", out.events);
    assert_eq!(client.rooms(), ["#f"]);
    assert_eq!(client.say("still here", now).send, ["PRIVMSG #f :still here"]);
    // Messages to a room we are not in are not shown.
    assert!(client.receive(b":x!~x@h PRIVMSG #elsewhere :hello", now).events.is_empty());
    // A key set while we are in the room is what we rejoin with.
    client.say("/join #d", now);
    client.receive(b":me!~me@h JOIN #d", now);
    client.say("/part #f", now);
    client.receive(b":me!~me@h PART #f", now);
    assert_eq!(client.rooms(), ["#d"]);
    client.receive(b":op!~op@h MODE #d +k s3cret", now);
    let out = client.connected(now);
    let rejoin = [":srv 001 me :hi"].iter().flat_map(|l| client.receive(l.as_bytes(), now).send).collect::<Vec<_>>();
    assert!(out.send.iter().chain(&rejoin).any(|l| l == "JOIN #d :s3cret"), "{rejoin:?}");
}
