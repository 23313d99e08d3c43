//! The real window under Xvfb, driven as a person would: xdotool types into the input box and
//! presses keys; a client of the program's own stack sits in the same room on a relay and checks
//! what arrives, and answers. Screenshots are kept in `artifacts/` for people to look at.

mod common;
#[path = "common/xvfb.rs"]
mod xvfb;

use common::{certificate, scratch, tls_relay_at, Peer, PATIENCE};
use xvfb::{xvfb, xvfb_screen};
use lanmeet::net::tls::KnownServers;
use lanmeet::proto::irc::client::Event;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One window test at a time: two windows typing at once on a two-core machine starve each
/// other's input handling.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn xdotool(display: &str, args: &[&str]) -> String {
    let mut attempts = 0;
    loop {
        let out = Command::new("xdotool").env("DISPLAY", display).args(args).output().expect("xdotool is installed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A search walks every window; one that closes meanwhile (Qt makes and drops some at
        // start-up) fails it with BadWindow. Searching again is safe.
        if !out.status.success() && args[0] == "search" && stderr.contains("BadWindow") && attempts < 5 {
            attempts += 1;
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        assert!(out.status.success(), "xdotool {args:?}: {stderr}");
        return String::from_utf8(out.stdout).unwrap();
    }
}

/// Put text on the clipboard and paste it with Ctrl+V, as a person pastes text that the
/// keyboard layout has no keys for (xdotool's typing of CJK through remapped keycodes drops
/// characters now and then).
fn paste(display: &str, text: &str) {
    set_clipboard(display, text);
    xdotool(display, &["key", "ctrl+v"]);
}

fn set_clipboard(display: &str, text: &str) {
    use std::io::Write;
    let mut xclip = Command::new("xclip")
        .env("DISPLAY", display)
        .args(["-selection", "clipboard", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xclip is installed (scripts/test installs it)");
    xclip.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    // xclip stays in the background serving the clipboard until someone else owns it.
    assert!(xclip.wait().unwrap().success());
}

fn screenshot(display: &str, name: &str) -> PathBuf {
    let path = artifacts().join(name);
    let status = Command::new("import")
        .env("DISPLAY", display)
        .args(["-window", "root"])
        .arg(&path)
        .status()
        .expect("ImageMagick is installed");
    assert!(status.success());
    path
}

/// Start the window as 窗口 on `display`, its log in `log`, the fields preset by `settings`.
fn open_window(display: &str, log: &Path, settings: &[(&str, String)]) -> Reaper {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lanmeet"));
    command
        .env("DISPLAY", display)
        .env("LANMEET_NICK", "窗口")
        .env("RUST_LOG", "lanmeet=info")
        .env("QT_QPA_PLATFORM", "xcb")
        // Its certificate and the certificates it pinned stay with this window, and so do
        // the settings it keeps.
        .env("LANMEET_DATA_DIR", log.with_extension("data"))
        .env("LANMEET_CONFIG_DIR", log.with_extension("config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (key, value) in settings {
        command.env(key, value);
    }
    let _ = std::fs::remove_dir_all(log.with_extension("data"));
    let _ = std::fs::remove_dir_all(log.with_extension("config"));
    Reaper(command.spawn().unwrap())
}

/// Whether the window's log has `count` lines containing `needle`, within `limit`; the log's
/// text when not.
fn logged(log: &Path, needle: &str, count: usize, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the log has `count` lines containing `needle`.
fn wait_for_count(log: &Path, needle: &str, count: usize) {
    if let Err(text) = logged(log, needle, count, PATIENCE) {
        panic!("window logged {needle:?} fewer than {count} times; log:\n{text}");
    }
}

/// Wait until the window's log shows a line containing `needle`.
fn wait_for_log(log: &Path, needle: &str) {
    wait_for_count(log, needle, 1);
}

/// A relay over TLS on loopback, and a client of our own stack in its #lobby to watch what
/// the window says and to answer.
struct Watched {
    tls: lanmeet::server::tls::RelayTls,
    relay: lanmeet::server::RelayHandle,
    addr: String,
    /// The certificates the watcher pinned.
    known: KnownServers,
    watcher: Peer,
}

fn watched_relay(name: &str) -> Watched {
    let dir = scratch(name);
    let tls = certificate(&dir, "relay");
    let relay = tls_relay_at(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &tls);
    let addr = relay.local_addr().to_string();
    let known = KnownServers::new(dir.join("known_servers"));
    let watcher = Peer::start_tls(&addr, "watcher", known.clone());
    watcher.joined();
    Watched { tls, relay, addr, known, watcher }
}

#[test]
fn a_person_chats_from_the_window() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let Watched { tls, relay, addr, known, watcher } = watched_relay("window-chat");

    let log = artifacts().join("window-test.log");
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", addr.clone())]);
    watcher.wait_for("the window to join", |e| match e {
        Event::MemberJoined { nick, .. } if nick == "窗口" => Some(()),
        _ => None,
    });
    wait_for_log(&log, "You joined #lobby");
    // Over TLS, and the window says which certificate it pinned.
    let short: String = tls.fingerprint.split(':').take(8).collect::<Vec<_>>().join(":");
    wait_for_log(&log, &format!("over TLS (certificate pinned on first use {short}…)"));

    let id = window_id(&display);
    let geometry = xdotool(&display, &["getwindowgeometry", &id]);
    assert!(geometry.contains("1140x620"), "{geometry}");
    // Click into the input box (bottom left of the window) and type as a person would.
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "hello "]);
    paste(&display, "你好");
    xdotool(&display, &["type", "--delay", "15", " from the window"]);
    xdotool(&display, &["key", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "hello 你好 from the window".to_string())]);

    // Shift+Enter starts a new line; Enter sends both lines as two messages.
    xdotool(&display, &["type", "--delay", "15", "line one"]);
    xdotool(&display, &["key", "shift+Return"]);
    xdotool(&display, &["type", "--delay", "15", "line two"]);
    xdotool(&display, &["key", "Return"]);
    assert_eq!(
        watcher.messages(2),
        [("窗口".to_string(), "line one".to_string()), ("窗口".to_string(), "line two".to_string())]
    );

    watcher.say("reply 回复 from the terminal");
    wait_for_log(&log, "chat view: [message] watcher reply 回复 from the terminal");
    wait_for_log(&log, "chat view: [own] 窗口 line two");
    std::thread::sleep(Duration::from_millis(300));
    let shot = screenshot(&display, "window-chat.png");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "screenshot looks empty");

    // The relay goes away: the window says so and reconnects on its own when it is back.
    let port = relay.local_addr();
    drop(relay);
    wait_for_log(&log, "reconnecting in");
    let _relay = tls_relay_at(port, &tls);
    let again = Peer::start_tls(&addr, "again", known);
    again.joined();
    again.wait_for("the window to rejoin", |e| match e {
        Event::MemberJoined { nick, .. } if nick == "窗口" => Some(()),
        _ => None,
    });
    xdotool(&display, &["type", "--delay", "15", "back again "]);
    paste(&display, "回来了");
    xdotool(&display, &["key", "Return"]);
    assert_eq!(again.messages(1), [("窗口".to_string(), "back again 回来了".to_string())]);
    screenshot(&display, "window-reconnected.png");
}

#[test]
fn a_person_switches_to_multicast_and_back() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let g = common::group(70);
    // The group is encrypted: the window's passphrase field starts with the passphrase.
    let passphrase = "月落乌啼霜满天";
    let mut config = common::loopback(g, "peer", 0.0);
    config.set_passphrase(passphrase);
    let mut peer = common::Member::join(config);
    let mut config = common::loopback(g, "outsider", 0.0);
    config.set_passphrase("another passphrase");
    let outsider = common::Member::join(config);
    let log = artifacts().join("window-multicast-test.log");
    let server = format!("127.0.0.1:{}", common::free_port());
    let settings = [
        ("LANMEET_SERVER", server),
        ("LANMEET_GROUP", g.to_string()),
        // By name: the chooser shows the interface and the TTL the session uses.
        ("LANMEET_INTERFACE", "lo".into()),
        ("LANMEET_PASSPHRASE", passphrase.into()),
    ];
    let _window = open_window(&display, &log, &settings);
    wait_for_log(&log, "multicast settings: interface lo 127.0.0.1, TTL 0");
    // Alone, the window hosts a relay and joins it; then the person switches modes.
    wait_for_log(&log, "You joined #lobby");
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    press(&display, "ctrl+m", &log, "left the chat in", 1);
    wait_for_log(&log, &format!("status: Multicast chat on {g}, interface 127.0.0.1"));
    peer.wait("the window to appear", |e| {
        matches!(e, lanmeet::proto::mchat::Event::Joined { nick, .. } if nick == "窗口").then_some(())
    });
    xdotool(&display, &["type", "--delay", "15", "multicast hello "]);
    paste(&display, "多播");
    xdotool(&display, &["key", "Return"]);
    assert_eq!(peer.messages(1), [("窗口".to_string(), "multicast hello 多播".to_string())]);
    peer.say("reply 回复 over multicast");
    wait_for_log(&log, "chat view: [message] peer reply 回复 over multicast");
    // A double-click on the peer in the member list opens a private conversation: what is
    // typed there reaches the peer alone (to its own address), and its answer comes back there.
    // (Tab finds the row; a row here has the name and the key, two lines.)
    let (x, y, w, h) = tab_to(&display, &log, "memberRow").expect("Tab reaches the member list");
    let (x, y) = ((x + w / 2).to_string(), (y + h / 2).to_string());
    xdotool(&display, &["mousemove", "--window", &id, &x, &y, "click", "--repeat", "2", "--delay", "80", "1"]);
    wait_for_log(&log, "conversation shown: peer");
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "just us "]);
    paste(&display, "私下");
    xdotool(&display, &["key", "Return"]);
    let got = peer.wait("the private message", |e| match e {
        lanmeet::proto::mchat::Event::Message { nick, text, private: true, .. } => Some((nick.clone(), text.clone())),
        _ => None,
    });
    assert_eq!(got, ("窗口".to_string(), "just us 私下".to_string()));
    peer.say_to("窗口", "私下回复 back to you");
    wait_for_log(&log, "chat view: [message] peer 私下回复 back to you");
    screenshot(&display, "window-multicast-private.png");
    assert!(tab_to(&display, &log, "conversationRow").is_some(), "Tab reaches the conversations");
    xdotool(&display, &["key", "Up", "Up", "Up", "Return"]);
    wait_for_log(&log, "conversation shown: the room");
    // What the outsider says does not open, and the window says so.
    outsider.say("can anyone read this?");
    wait_for_log(&log, "could not open");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("can anyone read this"));
    // Someone else (another key) who knows the passphrase takes the peer's name: the window
    // shows them as an impostor, never as the peer.
    let mut config = common::loopback(g, "peer", 0.0);
    config.set_passphrase(passphrase);
    let impostor = common::Member::join(config);
    impostor.say("trust me, I am peer");
    wait_for_log(&log, "chat view: [message] impostor of peer trust me, I am peer");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("chat view: [message] peer trust me"));
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-multicast-impostor.png");
    drop(impostor);
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-multicast.png");
    // Back to the relay: the window leaves the group with a goodbye.
    press(&display, "ctrl+m", &log, "left the chat in", 2);
    let timed_out = peer.wait("the window to leave", |e| match e {
        lanmeet::proto::mchat::Event::Left { nick, timed_out, .. } if nick == "窗口" => Some(*timed_out),
        _ => None,
    });
    assert!(!timed_out);
    wait_for_log(&log, "status: In #lobby");
    drop(peer.handle.take());
}

/// A loopback address where a connection attempt is never answered: a listener that accepts
/// nobody, with its queue (of one) already full, so the kernel drops every further SYN.
fn unanswering_address() -> (socket2::Socket, std::net::TcpStream, std::net::SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let filler = std::net::TcpStream::connect(addr).unwrap();
    // Proof: one more attempt goes unanswered.
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err());
    (listener, filler, addr)
}

/// How long each "left the chat in N ms" of the log took, in order.
/// The times the window logged for leaving `what` ("chat" or "call"), in ms.
fn leave_times(log: &Path, what: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let marker = format!("left the {what} in ");
    text.lines()
        .filter_map(|l| l.split(&marker).nth(1))
        .map(|rest| rest.trim_end_matches(" ms").trim().parse().unwrap())
        .collect()
}

/// Press `key` until the log has `count` lines containing `needle`: a key pressed while the
/// window is still busy starting (on a loaded machine) can miss it. Each press either did its
/// work or left no trace, so pressing again is safe.
fn press(display: &str, key: &str, log: &Path, needle: &str, count: usize) {
    for _ in 0..3 {
        xdotool(display, &["key", key]);
        if logged(log, needle, count, Duration::from_secs(5)).is_ok() {
            return;
        }
    }
    wait_for_count(log, needle, count);
}

#[test]
fn leaving_never_waits_for_the_network() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let (_listener, _filler, addr) = unanswering_address();
    let g = common::group(71);
    let log = artifacts().join("window-leave-test.log");
    let settings = [("LANMEET_SERVER", addr.to_string()), ("LANMEET_GROUP", g.to_string()), ("LANMEET_INTERFACE", "127.0.0.1".into())];
    let _window = open_window(&display, &log, &settings);
    let connecting = format!("status: Connecting to {addr}");
    wait_for_log(&log, &connecting);
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    // Disconnect while the connection attempt hangs (it would take 5 s to time out).
    press(&display, "ctrl+d", &log, "left the chat in", 1);
    wait_for_log(&log, "status: Disconnected");
    // Connect again, and switch to multicast while that attempt hangs: the window leaves it.
    press(&display, "ctrl+d", &log, &connecting, 2);
    press(&display, "ctrl+m", &log, "left the chat in", 2);
    wait_for_log(&log, &format!("status: Multicast chat on {g}"));
    // And leave the group the same way.
    press(&display, "ctrl+m", &log, "left the chat in", 3);
    wait_for_count(&log, &connecting, 3);
    let times = leave_times(&log, "chat");
    eprintln!("leaving took {times:?} ms");
    assert_eq!(times.len(), 3);
    assert!(times.iter().all(|&ms| ms < 100.0), "leaving took {times:?} ms");
    screenshot(&display, "window-left.png");
}

/// The share of pixels that differ between the same box of two screenshots.
fn changed_share(a: &Path, b: &Path, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    let pixels = |path: &Path| {
        let out = Command::new("convert")
            .arg(path)
            .args(["-crop", &format!("{w}x{h}+{x}+{y}"), "+repage", "-depth", "8", "ppm:-"])
            .output()
            .expect("ImageMagick is installed");
        assert!(out.status.success());
        // Binary PPM: "P6\n<w> <h>\n255\n" then RGB.
        let header_end = out.stdout.windows(4).position(|w| w == b"255\n").expect("a PPM header") + 4;
        out.stdout[header_end..].to_vec()
    };
    let (a, b) = (pixels(a), pixels(b));
    assert_eq!(a.len(), (w * h * 3) as usize);
    let changed = a.chunks(3).zip(b.chunks(3)).filter(|(p, q)| p.iter().zip(q.iter()).any(|(u, v)| u.abs_diff(*v) > 24)).count();
    changed as f64 / f64::from(w * h)
}

#[test]
fn a_person_starts_a_video_conference_and_sees_everyone() {
    use std::io::BufRead;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb_screen("1920x1080x24");
    let g = common::video_group(70);
    // The call is encrypted: the window and the peers share a passphrase.
    let passphrase = "视频会议口令";
    // Two headless peers with synthetic cameras; their reports go to a channel.
    let (reports, heard) = crossbeam_channel::unbounded::<serde_json::Value>();
    let peers: Vec<Reaper> = ["p1", "参会者"]
        .iter()
        .map(|nick| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
                .args(["conference", "--headless", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0"])
                .args(["--nick", nick, "--duration", "60"])
                .env("LANMEET_PASSPHRASE", passphrase)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let out = std::io::BufReader::new(child.stdout.take().unwrap());
            let reports = reports.clone();
            std::thread::spawn(move || {
                for line in out.lines().map_while(Result::ok) {
                    let _ = reports.send(serde_json::from_str(&line).unwrap_or_default());
                }
            });
            Reaper(child)
        })
        .collect();
    let log = artifacts().join("window-conference-test.log");
    let settings = [
        ("LANMEET_SERVER", format!("127.0.0.1:{}", common::free_port())),
        ("LANMEET_INTERFACE", "127.0.0.1".into()),
        ("LANMEET_CONFERENCE_GROUP", g.to_string()),
        ("LANMEET_CAMERA", "test".into()),
        ("LANMEET_MIC", "test".into()),
        ("LANMEET_SPEAKER", "null".into()),
        ("LANMEET_PASSPHRASE", passphrase.into()),
    ];
    let _window = open_window(&display, &log, &settings);
    wait_for_log(&log, "You joined #lobby");
    let id = window_id(&display);
    // "Start video conference" sits at the right end of the status bar.
    xdotool(&display, &["mousemove", "--window", &id, "1060", "607", "click", "1"]);
    wait_for_log(&log, &format!("status: In the video conference on {g}"));
    // The window shows both peers at a frame rate worth the name.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let good = text.lines().rev().find(|l| l.contains("conference tiles:")).is_some_and(|line| {
            let fps = |nick: &str| {
                line.split(", ").find_map(|part| part.split("peers: ").last().and_then(|p| p.strip_prefix(&format!("{nick} "))))
                    .and_then(|rest| rest.split(' ').next()?.parse::<f64>().ok())
            };
            // Both are heard too: their synthetic voices light the speaking marker.
            fps("p1").is_some_and(|f| f >= 20.0) && fps("参会者").is_some_and(|f| f >= 20.0) && line.matches(" speaking").count() == 2
        });
        if good {
            break;
        }
        assert!(Instant::now() < deadline, "the window never showed both peers; log:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // And both peers receive the window.
    let deadline = Instant::now() + PATIENCE;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 2 {
        let report = heard.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("peers report the window's video");
        assert!(report["type"] != "stats" || report["encrypted"] == true, "{report}");
        let sees_window = report["peers"].as_array().is_some_and(|peers| {
            peers.iter().any(|p| p["nick"] == "窗口" && p["fps"].as_f64().unwrap_or(0.0) >= 20.0)
        });
        if sees_window {
            seen.insert(report["nick"].as_str().unwrap_or_default().to_string());
        }
    }
    let geometry = xdotool(&display, &["getwindowgeometry", &id]);
    // As tall as the screen allows, up to 900.
    assert!(geometry.contains("1140x900"), "the window grows for the tiles: {geometry}");
    // The chat tells the call's story.
    wait_for_log(&log, &format!("chat view: [info]  You joined the video conference on {g}; waiting for others"));
    wait_for_log(&log, "chat view: [info]  p1 joined the video conference");
    wait_for_log(&log, "chat view: [info]  参会者 joined the video conference");
    // Three tiles of the pictures' shape (4:3), side by side or with the last row centred.
    let grid = tile_places(&log, "grid 3");
    for (x, y, w, h) in &grid {
        assert!((*w as f64 / *h as f64 - 4.0 / 3.0).abs() < 0.02, "a tile is not 4:3: {grid:?}");
        assert!(*x >= 0 && *y >= 0 && x + w <= 1140 && y + h <= 900, "a tile is off the window: {grid:?}");
    }
    for (i, a) in grid.iter().enumerate() {
        for b in &grid[i + 1..] {
            assert!(a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1, "tiles overlap: {grid:?}");
        }
    }
    if grid[2].1 > grid[0].1 {
        let left_gap = grid[2].0 - grid[0].0.min(grid[1].0);
        let right_gap = grid[0].0.max(grid[1].0) + grid[0].2 - (grid[2].0 + grid[2].2);
        assert!((left_gap - right_gap).abs() <= 2, "the last row is not centred: {grid:?}");
    }
    let first = screenshot(&display, "window-conference.png");
    std::thread::sleep(Duration::from_millis(500));
    let second = screenshot(&display, "window-conference-later.png");
    // Every tile's picture moves: look at a box in the middle of each.
    let shares: Vec<f64> = grid.iter().map(|&(x, y, w, h)| changed_share(&first, &second, ((x + w / 2 - 60) as u32, (y + h / 2 - 30) as u32, 120, 60))).collect();
    println!("changed share per tile: {shares:?}");
    for (i, share) in shares.iter().enumerate() {
        assert!(*share > 0.2, "tile {i} does not move: {shares:?}");
    }
    // Double-click the second tile: it takes the space, the others go to a strip below.
    let (x, y, w, h) = grid[1];
    let (cx, cy) = ((x + w / 2).to_string(), (y + h / 2).to_string());
    xdotool(&display, &["mousemove", "--window", &id, &cx, &cy, "click", "--repeat", "2", "--delay", "80", "1"]);
    let spot = tile_places(&log, "spotlight 3");
    assert!(spot[1].2 > 2 * spot[0].2 && spot[1].2 > 2 * spot[2].2, "the chosen tile is not the large one: {spot:?}");
    assert!(spot[0].1 > spot[1].1 + spot[1].3 && spot[2].1 > spot[1].1 + spot[1].3, "the others are not below it: {spot:?}");
    screenshot(&display, "window-conference-spotlight.png");
    // Mute (Ctrl+Shift+M): the self-view says so, and so do the peers, from the wire.
    xdotool(&display, &["key", "ctrl+shift+m"]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let report = heard.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a peer reports the window muted");
        let muted = report["audio"]["peers"].as_array().is_some_and(|peers| peers.iter().any(|p| p["nick"] == "窗口" && p["muted"] == true));
        if muted {
            break;
        }
    }
    screenshot(&display, "window-conference-muted.png");
    // The peers' view of the window's microphone and camera, from the wire: wait for `wanted`.
    let peers_see = |what: &str, wanted: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let report = heard.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| panic!("no peer reports {what}"));
            let window = |list: &serde_json::Value| list.as_array().and_then(|peers| peers.iter().find(|p| p["nick"] == "窗口").cloned());
            let seen = serde_json::json!({ "audio": window(&report["audio"]["peers"]), "video": window(&report["peers"]) });
            if wanted(&seen) {
                break;
            }
        }
    };
    // Push to talk: while muted, Ctrl+Space held is heard, and muted again once let go.
    xdotool(&display, &["keydown", "ctrl+space"]);
    wait_for_log(&log, "microphone on");
    peers_see("the window talking", &|seen| seen["audio"]["muted"] == false);
    xdotool(&display, &["keyup", "space", "keyup", "ctrl"]);
    wait_for_count(&log, "microphone muted", 2);
    peers_see("the window muted again", &|seen| seen["audio"]["muted"] == true);
    // Ctrl+Shift+O turns the camera off, and on again.
    xdotool(&display, &["key", "ctrl+shift+o"]);
    wait_for_log(&log, "camera: off");
    peers_see("the camera off", &|seen| seen["video"]["note"] == "camera off");
    xdotool(&display, &["key", "ctrl+shift+o"]);
    wait_for_log(&log, "camera: test");
    peers_see("the camera on again", &|seen| seen["video"]["note"] != "camera off" && seen["video"]["fps"].as_f64().unwrap_or(0.0) > 5.0);
    // The call at the other sizes people use: every tile inside the window and none over
    // another, at the pictures' shape.
    for (w, h) in [(800, 500), (1920, 1080), (1140, 900)] {
        let from = std::fs::read_to_string(&log).unwrap().len();
        resize(&display, &id, w, h);
        let places = tiles_since(&log, from);
        for (i, &(x, y, tw, th)) in places.iter().enumerate() {
            assert!(x >= 0 && y >= 0 && x + tw <= w && y + th <= h, "at {w}x{h} a tile is off the window: {places:?}");
            assert!((tw as f64 / th as f64 - 4.0 / 3.0).abs() < 0.03, "at {w}x{h} a tile is not 4:3: {places:?}");
            for &(bx, by, bw, bh) in &places[i + 1..] {
                assert!(x + tw <= bx || bx + bw <= x || y + th <= by || by + bh <= y, "at {w}x{h} tiles overlap: {places:?}");
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        screenshot(&display, &format!("window-conference-{w}x{h}.png"));
    }
    // Leave: the window does not wait for the call's threads, and the peers hear a goodbye.
    xdotool(&display, &["mousemove", "--window", &id, "1060", "887", "click", "1"]);
    wait_for_log(&log, "Left the video conference");
    wait_for_log(&log, "chat view: [info]  You left the video conference");
    let times = leave_times(&log, "call");
    eprintln!("leaving the call took {times:?} ms");
    assert!(times.len() == 1 && times[0] < 100.0, "leaving the call took {times:?} ms");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let report = heard.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a peer reports the window left");
        if report["type"] == "left" && report["nick"] == "窗口" {
            break;
        }
    }
    drop(peers);
    // The window goes back to its size.
    let deadline = Instant::now() + PATIENCE;
    while !xdotool(&display, &["getwindowgeometry", &id]).contains("1140x620") {
        assert!(Instant::now() < deadline, "the window stays grown after the call");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Resize the window and wait until it has taken the size.
fn resize(display: &str, id: &str, w: i32, h: i32) {
    xdotool(display, &["windowsize", id, &w.to_string(), &h.to_string()]);
    let deadline = Instant::now() + PATIENCE;
    while !xdotool(display, &["getwindowgeometry", id]).contains(&format!("{w}x{h}")) {
        assert!(Instant::now() < deadline, "the window did not take {w}x{h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tiles' places in the last "view: tiles:" line logged after the log's first `from`
/// bytes, once the layout has settled (no new line for half a second).
fn tiles_since(log: &Path, from: usize) -> Vec<(i32, i32, i32, i32)> {
    let deadline = Instant::now() + PATIENCE;
    let mut last: Option<String> = None;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let text = std::fs::read_to_string(log).unwrap();
        let newest = text[from..].lines().rev().find_map(|l| l.split_once("view: tiles: ").map(|(_, rest)| rest.to_string()));
        if let Some(line) = newest.as_deref().filter(|_| newest == last) {
            return places(line);
        }
        assert!(Instant::now() < deadline, "the tiles were not laid out again");
        last = newest;
    }
}

/// The tiles' places (x, y, width, height in the window) of the last "view: tiles: WHAT" line
/// the window logged, waiting for one.
fn tile_places(log: &Path, what: &str) -> Vec<(i32, i32, i32, i32)> {
    let needle = format!("view: tiles: {what} ");
    wait_for_log(log, &needle);
    let text = std::fs::read_to_string(log).unwrap();
    places(text.lines().rev().find_map(|l| l.split_once(&needle)).unwrap().1)
}

/// "[x,y,w,h] [x,y,w,h]..." as numbers.
fn places(line: &str) -> Vec<(i32, i32, i32, i32)> {
    line.split('[')
        .skip(1)
        .map(|part| {
            let n: Vec<i32> = part.split(']').next().unwrap().split(',').map(|v| v.trim().parse().unwrap()).collect();
            (n[0], n[1], n[2], n[3])
        })
        .collect()
}

/// Pixels of a window-only screenshot as RGB triples.
fn window_pixels(display: &str, window: &str, name: &str) -> Vec<[u8; 3]> {
    let path = artifacts().join(name);
    let status = Command::new("import").env("DISPLAY", display).args(["-window", window]).arg(&path).status().expect("ImageMagick is installed");
    assert!(status.success());
    let out = Command::new("convert").arg(&path).args(["-depth", "8", "rgb:-"]).output().expect("ImageMagick is installed");
    assert!(out.status.success());
    out.stdout.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
}

/// Nicknames are text, never markup: peers named with HTML in a multicast group neither crash
/// the window, nor restyle its member list, nor make it fetch anything.
#[test]
fn nicknames_with_markup_are_shown_as_they_are() {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    // A web server that counts who asks it for anything.
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_port = web.local_addr().unwrap().port();
    web.set_nonblocking(true).unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let serving = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let server = {
        let (requests, serving) = (requests.clone(), serving.clone());
        std::thread::spawn(move || {
            while serving.load(Ordering::Relaxed) {
                match web.accept() {
                    Ok((mut stream, _)) => {
                        requests.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                        let _ = stream.read(&mut [0u8; 1024]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };

    let g = common::group(71);
    let log = artifacts().join("window-markup-test.log");
    let settings = [
        ("LANMEET_SERVER", format!("127.0.0.1:{}", common::free_port())),
        ("LANMEET_MODE", "multicast".into()),
        ("LANMEET_GROUP", g.to_string()),
        ("LANMEET_INTERFACE", "127.0.0.1".into()),
    ];
    let mut window = open_window(&display, &log, &settings);
    wait_for_log(&log, &format!("status: Multicast chat on {g}, interface 127.0.0.1"));
    let id = window_id(&display);
    let before = window_pixels(&display, &id, "window-markup-before.png");

    let nicks = [
        r#"<font color="red" size="7">EVIL</font>"#.to_string(),
        "<b>bob</b>".to_string(),
        format!(r#"<img src="http://127.0.0.1:{web_port}/seen.png">x"#),
    ];
    let peers: Vec<common::Member> = nicks.iter().map(|n| common::Member::join(common::loopback(g, n, 0.0))).collect();
    for nick in &nicks {
        wait_for_log(&log, &format!("chat view: [info]  {nick} joined"));
    }
    // Long enough for the member list to be drawn and for an image load to be tried.
    std::thread::sleep(Duration::from_secs(3));
    assert!(window.0.try_wait().unwrap().is_none(), "the window died; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    for (peer, nick) in peers.iter().zip(&nicks) {
        peer.wait("the window to appear", |e| {
            matches!(e, lanmeet::proto::mchat::Event::Joined { nick, .. } if nick == "窗口").then_some(())
        });
        peer.say(&format!("hello from {nick}"));
        wait_for_log(&log, &format!("chat view: [message] {nick} hello from {nick}"));
    }
    // Still responsive: what the person types reaches every peer.
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "still here"]);
    xdotool(&display, &["key", "Return"]);
    for peer in &peers {
        peer.wait("the window's message", |e| {
            matches!(e, lanmeet::proto::mchat::Event::Message { nick, text, .. } if nick == "窗口" && text == "still here").then_some(())
        });
    }
    let after = window_pixels(&display, &id, "window-markup.png");
    assert_eq!(before.len(), after.len(), "the window changed size");
    // <font color="red"> rendered as markup paints red; as text it paints in the usual colours.
    let red = |pixels: &[[u8; 3]]| pixels.iter().filter(|[r, g, b]| *r > 200 && *g < 80 && *b < 80).count();
    assert!(red(&after) <= red(&before) + 20, "a nickname was rendered as markup: {} red pixels, {} before", red(&after), red(&before));
    serving.store(false, Ordering::Relaxed);
    server.join().unwrap();
    assert_eq!(requests.load(Ordering::Relaxed), 0, "the window fetched an image named in a nickname");
    assert!(window.0.try_wait().unwrap().is_none(), "the window died");
}

#[test]
fn an_operator_moderates_from_the_member_list_and_history_greets_the_window() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let dir = scratch("window-moderation");
    let tls = certificate(&dir, "relay");
    let relay = common::tls_relay_keeping(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &tls, &dir.join("history.sqlite3"));
    let addr = relay.tls_addr().unwrap();
    let known = KnownServers::new(dir.join("known_servers"));
    // Someone spoke in the room and left before the window came: the window shows it.
    let early = Peer::start_tls(&addr.to_string(), "early", known.clone());
    early.joined();
    early.say("said before you came 早上好");
    early.wait_for("the echo", |e| matches!(e, Event::Delivered { .. }).then_some(()));
    drop(early);
    std::thread::sleep(Duration::from_millis(300));

    let log = artifacts().join("window-moderation-test.log");
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", addr.to_string())]);
    wait_for_log(&log, "You joined #lobby");
    wait_for_log(&log, "chat view: [message] early said before you came 早上好");
    wait_for_log(&log, "1 earlier message(s), above");
    wait_for_log(&log, "modes: +n");
    // The window came first to the empty room, so it is the room's operator.
    wait_for_log(&log, "members: @窗口");
    let mut student = common::Raw::connect_tls(addr, &known).register("student", "#lobby");
    let watcher = Peer::start_tls(&addr.to_string(), "watcher", known.clone());
    watcher.joined();
    wait_for_log(&log, "members: @窗口 student watcher");

    let id = window_id(&display);
    // The moderation bar says the room is open; typed commands set modes.
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "/mode +mt"]);
    xdotool(&display, &["key", "Return"]);
    wait_for_log(&log, "command: /mode +mt");
    wait_for_log(&log, "modes: +mnt");
    student.send("PRIVMSG #lobby :can anyone hear me?");
    student.expect(|m| m.command == "404");
    screenshot(&display, "window-moderation-before.png");

    // Right-click the student's name, then Give voice from the menu (third item, after Talk
    // privately and Who is).
    let (x, y) = member_row(2);
    xdotool(&display, &["mousemove", "--window", &id, &x.to_string(), &y.to_string(), "click", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    screenshot(&display, "window-member-menu.png");
    xdotool(&display, &["key", "Down", "Down", "Down", "Return"]);
    wait_for_log(&log, "command: /voice student");
    student.expect(|m| m.command == "MODE" && m.params.get(1).map(String::as_str) == Some("+v"));
    student.send("PRIVMSG #lobby :thank you, teacher");
    wait_for_log(&log, "chat view: [message] student thank you, teacher");
    wait_for_log(&log, "members: @窗口 +student watcher");

    // The topic: double-click the bar, type, Enter.
    xdotool(&display, &["mousemove", "--window", &id, "200", "38", "click", "--repeat", "2", "--delay", "80", "1"]);
    std::thread::sleep(Duration::from_millis(300));
    xdotool(&display, &["key", "ctrl+a"]);
    xdotool(&display, &["type", "--delay", "15", "Lesson 3: "]);
    paste(&display, "分数");
    xdotool(&display, &["key", "Return"]);
    watcher.wait_for("the topic", |e| matches!(e, Event::Topic { text, .. } if text == "Lesson 3: 分数").then_some(()));

    // Someone away is greyed out.
    watcher.say("/away back in five");
    wait_for_log(&log, "(away: watcher)");

    // Kick: the fifth item of the student's menu.
    xdotool(&display, &["mousemove", "--window", &id, &x.to_string(), &y.to_string(), "click", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    xdotool(&display, &["key", "Down", "Down", "Down", "Down", "Down", "Return"]);
    wait_for_log(&log, "command: /kick student");
    student.expect(|m| m.command == "KICK" && m.params.get(1).map(String::as_str) == Some("student"));
    wait_for_log(&log, "members: @窗口 watcher");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-moderation.png");
}

/// Where the member list's `n`th row (from 1) is, in a window of the default size.
fn member_row(n: u32) -> (u32, u32) {
    (1140 - 140, 72 + (n - 1) * 27)
}

#[test]
fn a_window_and_a_terminal_chat_across_two_linked_ngircd_servers() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let (_first, _second, a, b) = common::linked_ngircds();
    let log = artifacts().join("window-network-test.log");
    // ngIRCd speaks plain text here: `irc://` in the server field asks for it.
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", format!("irc://127.0.0.1:{a}")), ("LANMEET_NICK", "teacher".into())]);
    wait_for_log(&log, "(not encrypted), joining");
    wait_for_log(&log, "You joined #lobby");
    let mut terminal = common::Process::start(&["chat", "--server", &format!("127.0.0.1:{b}"), "--plain", "--nick", "faraway"]);
    terminal.wait_for_line("joining", |l| l.contains("You joined #lobby"));
    // The servers link a moment after they start; the join reaches the window then.
    wait_for_log(&log, "faraway joined #lobby");
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "hello across the servers "]);
    paste(&display, "你好");
    xdotool(&display, &["key", "Return"]);
    terminal.wait_for_line("the window's message", |l| l.contains("<teacher> hello across the servers 你好"));
    terminal.type_lines("and back from the other server 回来\n");
    wait_for_log(&log, "chat view: [message] faraway and back from the other server 回来");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-network.png");
}

/// The longest horizontal run of pixels that `pick` accepts in `area` of a `width`-wide
/// picture, as (x0, x1, y): a link's underline, for one.
fn longest_run(pixels: &[[u8; 3]], width: usize, area: (usize, usize, usize, usize), pick: impl Fn(&[u8; 3]) -> bool) -> Option<(usize, usize, usize)> {
    let (ax, ay, aw, ah) = area;
    let mut best: Option<(usize, usize, usize)> = None;
    for y in ay..ay + ah {
        let mut start = None;
        for x in ax..=ax + aw {
            let hit = x < ax + aw && pixels.get(y * width + x).is_some_and(&pick);
            match (hit, start) {
                (true, None) => start = Some(x),
                (false, Some(x0)) => {
                    if best.is_none_or(|(b0, b1, _)| x - x0 > b1 - b0) {
                        best = Some((x0, x, y));
                    }
                    start = None;
                }
                _ => {}
            }
        }
    }
    best
}

/// Lines from one sender share a header, a link in a message opens when clicked, the message
/// menu copies the link and starts a reply to the sender, and while the person reads further
/// up, a button counts what came meanwhile.
#[test]
fn a_person_reads_grouped_lines_opens_a_link_and_answers_from_the_menu() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let Watched { relay: _relay, addr, watcher, .. } = watched_relay("window-lines");
    let log = artifacts().join("window-lines-test.log");
    // Links point at a loopback port where nobody listens; a browser, if any, is `true`.
    let link = format!("http://127.0.0.1:{}/讲义", common::free_port());
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", addr.clone()), ("BROWSER", "true".into())]);
    wait_for_log(&log, "You joined #lobby");
    watcher.wait_for("the window to join", |e| match e {
        Event::MemberJoined { nick, .. } if nick == "窗口" => Some(()),
        _ => None,
    });
    watcher.say("第一行：早上好");
    watcher.say(&format!("the slides: {link} (page 2)"));
    watcher.say("third line");
    wait_for_log(&log, "chat view: [message] watcher third line (same header)");
    wait_for_log(&log, &format!("chat view: [message] watcher the slides: {link} (page 2) (same header)"));
    assert!(!std::fs::read_to_string(&log).unwrap().contains("watcher 第一行：早上好 (same header)"), "the first line has the header");
    std::thread::sleep(Duration::from_millis(500));
    let id = window_id(&display);
    let pixels = window_pixels(&display, &id, "window-grouped.png");
    let width = 1140;
    // The link is the blue underlined text in the chat column.
    let blue = |p: &[u8; 3]| p[2] >= 150 && p[0] <= 100 && p[1] <= 130;
    let (x0, x1, underline) = longest_run(&pixels, width, (0, 40, 800, 480), blue).expect("a link drawn in the chat");
    assert!(x1 - x0 > 100, "the link is underlined: {x0}..{x1} at {underline}");
    let (x, y) = (((x0 + x1) / 2).to_string(), (underline - 5).to_string());
    xdotool(&display, &["mousemove", "--window", &id, &x, &y, "click", "1"]);
    wait_for_log(&log, &format!("open link: {link}"));

    // Right-click on the link: the menu copies the message, copies the link, mentions the sender.
    xdotool(&display, &["mousemove", "--window", &id, &x, &y, "click", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    screenshot(&display, "window-message-menu.png");
    xdotool(&display, &["key", "Down", "Down", "Return"]);
    std::thread::sleep(Duration::from_millis(300));
    let copied = Command::new("xclip").env("DISPLAY", &display).args(["-selection", "clipboard", "-o"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&copied.stdout), link, "Copy link");
    xdotool(&display, &["mousemove", "--window", &id, &x, &y, "click", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    xdotool(&display, &["key", "Down", "Down", "Down", "Return"]);
    xdotool(&display, &["type", "--delay", "15", "thanks"]);
    xdotool(&display, &["key", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "watcher: thanks".to_string())]);

    // Enough lines to scroll; the person scrolls up and something new comes.
    for i in 0..30 {
        watcher.say(&format!("line {i}"));
    }
    wait_for_log(&log, "chat view: [message] watcher line 29 (same header)");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-followed.png");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("view: new messages button"), "at the bottom, the chat follows");
    for _ in 0..15 {
        xdotool(&display, &["mousemove", "--window", &id, "300", "300", "click", "4"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    watcher.say("while you were reading");
    wait_for_log(&log, "view: new messages button: 1");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-new-messages.png");
}

/// The window hosts the room when nothing answers at its local address: for the whole
/// network, over TLS. It says where others join and copies that address; a client from
/// another address (127.0.0.2 stands in for another computer) joins; at 800x500 the whole top
/// bar is on screen; disconnecting or closing asks first, since it drops everyone.
#[test]
fn a_window_hosts_the_room_for_the_network_and_asks_before_dropping_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let port = common::free_port();
    let log = artifacts().join("window-hosting-test.log");
    let mut window = open_window(&display, &log, &[("LANMEET_SERVER", format!("127.0.0.1:{port}"))]);
    wait_for_log(&log, "You joined #lobby");
    let join_at = lanmeet::app::chat::network_addresses(port);
    let said = format!("No server answered, so this program hosts one on 127.0.0.1:{port}; ");
    if join_at.is_empty() {
        wait_for_log(&log, &format!("{said}it takes connections from the network, but this computer has no network address yet"));
    } else {
        let list = join_at.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        wait_for_log(&log, &format!("{said}others on the network join at {list}"));
    }

    let id = window_id(&display);
    xdotool(&display, &["windowsize", &id, "800", "500"]);
    // The hosting line (green text) comes on screen in the top bar's second row, its Copy
    // button after it, once the bar has wrapped.
    let green = |p: &[u8; 3]| {
        let [r, g, b] = p.map(i32::from);
        g > 90 && g > r + 40 && g > b + 40
    };
    let deadline = Instant::now() + PATIENCE;
    // The same place in two pictures in a row: the window has finished laying itself out.
    let mut before = None;
    let right_end = loop {
        let pixels = window_pixels(&display, &id, "window-hosting-800.png");
        let wrapped = (pixels.len() == 800 * 500)
            .then(|| (30..60).flat_map(|y| (0..800).map(move |x| (x, y))).filter(|&(x, y)| green(&pixels[y * 800 + x])).map(|(x, _)| x).max())
            .flatten()
            .filter(|&x| x < 700);
        if wrapped.is_some() && wrapped == before {
            break wrapped.unwrap();
        }
        before = wrapped;
        assert!(Instant::now() < deadline, "at 800x500 the hosting line is not on screen with room for Copy");
        std::thread::sleep(Duration::from_millis(200));
    };
    if let Some(first) = join_at.first() {
        // Copy sits just right of it.
        let x = (right_end + 45).to_string();
        xdotool(&display, &["mousemove", "--window", &id, &x, "44", "click", "1"]);
        wait_for_log(&log, &format!("view: copied {first}"));
        let out = Command::new("xclip").env("DISPLAY", &display).args(["-selection", "clipboard", "-o"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), first.to_string());
    }

    let known = KnownServers::new(scratch("hosting-guest").join("known_servers"));
    let guest = Peer::start_tls(&format!("127.0.0.2:{port}"), "guest", known);
    guest.joined();
    guest.say("从另一台电脑 from another computer");
    wait_for_log(&log, "chat view: [message] guest 从另一台电脑 from another computer");

    // Disconnecting asks first; Escape keeps the room.
    press(&display, "ctrl+d", &log, "view: host warning: 1 (disconnecting)", 1);
    screenshot(&display, "window-host-warning.png");
    press(&display, "Escape", &log, "view: host warning: stayed", 1);
    guest.say("still here");
    wait_for_log(&log, "chat view: [message] guest still here");

    // Closing asks too; closing anyway ends the window and the room.
    press(&display, "ctrl+q", &log, "view: host warning: 1 (closing)", 1);
    xdotool(&display, &["key", "Tab", "space"]);
    wait_for_log(&log, "view: host warning: closing anyway");
    let status = wait_closed(&mut window);
    assert!(status.success(), "{status}");
    guest.wait_status("the hosted relay to go", |s| matches!(s, lanmeet::net::unicast::Status::Reconnecting { .. }));
}

/// The window's X id, once it is on screen.
fn window_id(display: &str) -> String {
    let ids = xdotool(display, &["search", "--sync", "--onlyvisible", "--name", "lanmeet"]);
    ids.lines().next().expect("a window").to_string()
}

/// Wait for the window's process to end; its exit status.
fn wait_closed(window: &mut Reaper) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = window.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the window did not close");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Press Tab (at most 30 times) until the control named `name` has the focus; its place.
fn tab_to(display: &str, log: &Path, name: &str) -> Option<(i32, i32, i32, i32)> {
    for _ in 0..30 {
        let from = std::fs::read_to_string(log).unwrap().len();
        xdotool(display, &["key", "Tab"]);
        std::thread::sleep(Duration::from_millis(100));
        if let Some((_, place)) = focus_walk(log, from).into_iter().find(|(n, _)| n == name) {
            return Some(place);
        }
    }
    None
}

/// The controls that took the keyboard focus (by object name), with their places, from the
/// window's "view: focus:" lines after the log's first `from` bytes.
fn focus_walk(log: &Path, from: usize) -> Vec<(String, (i32, i32, i32, i32))> {
    let text = std::fs::read_to_string(log).unwrap();
    text[from..]
        .lines()
        .filter_map(|l| l.split_once("view: focus: ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            let (name, place) = rest.rsplit_once(' ')?;
            let n: Vec<i32> = place.split(',').filter_map(|v| v.parse().ok()).collect();
            (n.len() == 4).then(|| (name.to_string(), (n[0], n[1], n[2], n[3])))
        })
        .collect()
}

/// At 800x500, 1280x800 and 1920x1080, in both modes: screenshots to look at, and at 800x500
/// Tab from the message box reaches every control that can be used, each inside the window.
#[test]
fn every_control_is_reached_by_tab_at_800_by_500_in_both_modes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb_screen("1920x1080x24");
    let watched = watched_relay("window-sizes");
    let group = common::group(77);
    let modes: [(&str, Vec<(&str, String)>, &[&str]); 2] = [
        (
            "relay",
            vec![("LANMEET_SERVER", watched.addr.clone())],
            // The server and the room are fixed while connected.
            &["modeBox", "nickField", "passphraseField", "connectButton", "messageInput", "conferenceButton", "member"],
        ),
        (
            "multicast",
            vec![("LANMEET_MODE", "multicast".into()), ("LANMEET_INTERFACE", "lo".into()), ("LANMEET_GROUP", group.to_string())],
            &["modeBox", "connectButton", "checkNetwork", "messageInput", "conferenceButton", "member"],
        ),
    ];
    for (mode, settings, wanted) in modes {
        let log = artifacts().join(format!("window-sizes-{mode}-test.log"));
        let _window = open_window(&display, &log, &settings);
        wait_for_log(&log, if mode == "relay" { "You joined #lobby" } else { "Joined multicast group" });
        let id = window_id(&display);
        for (w, h) in [(1920, 1080), (1280, 800), (800, 500)] {
            resize(&display, &id, w, h);
            std::thread::sleep(Duration::from_millis(700));
            window_pixels(&display, &id, &format!("window-{mode}-{w}x{h}.png"));
        }
        // Into the message box, then Tab round the window.
        xdotool(&display, &["mousemove", "--window", &id, "200", "440", "click", "1"]);
        wait_for_log(&log, "view: focus: messageInput");
        let from = std::fs::read_to_string(&log).unwrap().len();
        for _ in 0..30 {
            xdotool(&display, &["key", "Tab"]);
            std::thread::sleep(Duration::from_millis(60));
        }
        std::thread::sleep(Duration::from_millis(300));
        let walk = focus_walk(&log, from);
        for name in wanted {
            // "member": the member list, or its current name when it has one.
            assert!(walk.iter().any(|(n, _)| n.starts_with(name)), "{mode}: Tab never reaches {name}: {walk:?}");
        }
        for (name, (x, y, w, h)) in &walk {
            assert!(*x >= 0 && *y >= 0 && x + w <= 800 && y + h <= 500, "{mode}: {name} is outside the 800x500 window at {x},{y} {w}x{h}");
        }
        // On to Connect (Disconnect): a thick ring in the highlight colour sits round it.
        let (x, y, w, h) = tab_to(&display, &log, "connectButton").unwrap_or_else(|| panic!("{mode}: Tab never came round to Connect"));
        std::thread::sleep(Duration::from_millis(300));
        let pixels = window_pixels(&display, &id, &format!("window-{mode}-focus-ring.png"));
        let highlight = |p: &[u8; 3]| {
            let [r, g, b] = p.map(i32::from);
            b > 150 && b > r + 60 && b > g + 20
        };
        // Two pixels below the button and two left of it, all along.
        let below: Vec<(i32, i32)> = (x..x + w).map(|px| (px, y + h + 1)).collect();
        let left: Vec<(i32, i32)> = (y.max(3)..y + h).map(|py| (x - 2, py)).collect();
        let ring = below.iter().chain(&left).filter(|&&(px, py)| highlight(&pixels[(py * 800 + px) as usize])).count();
        assert!(ring * 10 >= (below.len() + left.len()) * 9, "{mode}: no visible focus ring round Connect at {x},{y} {w}x{h}: {ring} of {} pixels", below.len() + left.len());
    }
}

/// The desktop portal's settings as a desktop serves them: the colour scheme the test sets
/// (1 dark, 2 light), read by `ReadOne`, and announced by `SettingChanged` when it changes.
struct PortalSettings(Arc<AtomicU32>);

#[zbus::interface(name = "org.freedesktop.portal.Settings")]
impl PortalSettings {
    fn read_one(&self, namespace: &str, key: &str) -> zbus::fdo::Result<zbus::zvariant::Value<'static>> {
        if (namespace, key) == ("org.freedesktop.appearance", "color-scheme") {
            Ok(zbus::zvariant::Value::U32(self.0.load(Ordering::SeqCst)))
        } else {
            Err(zbus::fdo::Error::Failed(format!("no setting {namespace} {key}")))
        }
    }
}

/// A desktop's notification service: it keeps what it was asked to show (summary, body).
struct Notifications(Arc<std::sync::Mutex<Vec<(String, String)>>>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<String>,
        _hints: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut shown = self.0.lock().unwrap();
        shown.push((summary.to_string(), body.to_string()));
        shown.len() as u32
    }
}

/// A desktop's tray (its StatusNotifierWatcher): it keeps the names of the icons that came.
struct TrayWatcher(Arc<std::sync::Mutex<Vec<String>>>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl TrayWatcher {
    fn register_status_notifier_item(&self, service: &str) {
        self.0.lock().unwrap().push(service.to_string());
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }
}

/// A session D-Bus of the test's own with a desktop portal, a notification service and a tray
/// on it.
struct SessionBus {
    _daemon: Reaper,
    address: String,
    portal: zbus::blocking::Connection,
    scheme: Arc<AtomicU32>,
    notified: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    tray_icons: Arc<std::sync::Mutex<Vec<String>>>,
}

const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";

impl SessionBus {
    fn start(scheme: u32) -> SessionBus {
        use std::io::BufRead;
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed (scripts/setup test)");
        let mut address = String::new();
        std::io::BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut address).unwrap();
        let address = address.trim().to_string();
        assert!(!address.is_empty(), "dbus-daemon printed its address");
        let scheme = Arc::new(AtomicU32::new(scheme));
        let notified = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tray_icons = Arc::new(std::sync::Mutex::new(Vec::new()));
        let portal = zbus::blocking::connection::Builder::address(address.as_str())
            .and_then(|b| b.name("org.freedesktop.portal.Desktop"))
            .and_then(|b| b.name("org.freedesktop.Notifications"))
            .and_then(|b| b.name("org.kde.StatusNotifierWatcher"))
            .and_then(|b| b.serve_at(PORTAL_PATH, PortalSettings(scheme.clone())))
            .and_then(|b| b.serve_at("/org/freedesktop/Notifications", Notifications(notified.clone())))
            .and_then(|b| b.serve_at("/StatusNotifierWatcher", TrayWatcher(tray_icons.clone())))
            .and_then(|b| b.build())
            .expect("the test's portal on its session bus");
        SessionBus { _daemon: Reaper(daemon), address, portal, scheme, notified, tray_icons }
    }

    /// A property of the tray icon the window put on this bus, read afresh.
    fn tray_property<T: TryFrom<zbus::zvariant::OwnedValue>>(&self, name: &str) -> T
    where
        T::Error: Into<zbus::Error>,
    {
        let icons = self.tray_icons.lock().unwrap().clone();
        assert_eq!(icons.len(), 1, "one tray icon: {icons:?}");
        let icon = zbus::blocking::proxy::Builder::<zbus::blocking::Proxy<'_>>::new(&self.portal)
            .destination(icons[0].clone())
            .and_then(|b| b.path("/StatusNotifierItem"))
            .and_then(|b| b.interface("org.kde.StatusNotifierItem"))
            .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
            .and_then(|b| b.build())
            .expect("a proxy of the tray icon");
        icon.get_property(name).expect("the tray icon's property")
    }

    /// The person clicks the tray icon.
    fn click_tray(&self) {
        let icons = self.tray_icons.lock().unwrap().clone();
        self.portal.call_method(Some(icons[0].as_str()), "/StatusNotifierItem", Some("org.kde.StatusNotifierItem"), "Activate", &(10i32, 10i32)).expect("the icon takes a click");
    }

    /// The person switches the desktop's scheme.
    fn set_scheme(&self, value: u32) {
        self.scheme.store(value, Ordering::SeqCst);
        let changed = ("org.freedesktop.appearance", "color-scheme", zbus::zvariant::Value::U32(value));
        self.portal
            .emit_signal(None::<zbus::names::BusName<'_>>, PORTAL_PATH, "org.freedesktop.portal.Settings", "SettingChanged", &changed)
            .unwrap();
    }
}

/// WCAG 2 relative luminance of an sRGB colour.
fn luminance(p: &[u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(p[0]) + 0.7152 * linear(p[1]) + 0.0722 * linear(p[2])
}

/// WCAG 2 contrast ratio of two colours, from 1 to 21.
fn contrast(a: &[u8; 3], b: &[u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// A bubble on screen: its box and fill colour.
#[derive(Debug, Clone, Copy)]
struct Bubble {
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
    fill: [u8; 3],
}

/// The chat bubbles in `area` of a screenshot: boxes of one colour, other than the chat's
/// background (the colour at the area's top-left corner), at least 40 pixels wide.
fn bubbles(pixels: &[[u8; 3]], width: usize, (ax, ay, aw, ah): (usize, usize, usize, usize)) -> Vec<Bubble> {
    let at = |x: usize, y: usize| pixels[y * width + x];
    let background = at(ax, ay);
    let mut found: Vec<Bubble> = Vec::new();
    for y in ay..ay + ah {
        let mut x = ax;
        while x < ax + aw {
            let fill = at(x, y);
            let mut end = x;
            while end < ax + aw && at(end, y) == fill {
                end += 1;
            }
            let inside = found.iter().any(|b| (b.y0..b.y1).contains(&y) && x < b.x1 && end > b.x0);
            if fill != background && end - x >= 40 && !inside {
                // The top padding row of a bubble: it reaches down while its left edge keeps
                // the fill.
                let mut y1 = y;
                while y1 < ay + ah && at(x + 2, y1) == fill {
                    y1 += 1;
                }
                if y1 - y >= 12 {
                    found.push(Bubble { x0: x, x1: end, y0: y, y1, fill });
                }
            }
            x = end.max(x + 1);
        }
    }
    found
}

/// The contrast of a bubble's text with its fill: the pixel inside that differs most from the
/// fill (the core of a glyph stroke) against the fill.
fn text_contrast(pixels: &[[u8; 3]], width: usize, b: &Bubble) -> f64 {
    let mut best = 1.0f64;
    for y in b.y0..b.y1 {
        for x in b.x0 + 2..b.x1.saturating_sub(2) {
            best = best.max(contrast(&pixels[y * width + x], &b.fill));
        }
    }
    best
}

/// The chat bubbles of a window-only screenshot, at least `count` of them, waiting for the
/// window to draw them; the pixels and the bubbles.
fn chat_bubbles(display: &str, id: &str, name: &str, count: usize) -> (Vec<[u8; 3]>, Vec<Bubble>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let pixels = window_pixels(display, id, name);
        if pixels.len() == 1140 * 620 {
            // The chat column, below the top bar and the topic, left of the member list.
            let found = bubbles(&pixels, 1140, (2, 90, 930, 440));
            if found.len() >= count {
                return (pixels, found);
            }
        }
        assert!(Instant::now() < deadline, "fewer than {count} bubbles in {name}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The window follows the desktop's colour scheme (the desktop portal on the session D-Bus),
/// also when it changes while open, with every bubble's text at WCAG AA contrast or better,
/// measured on screen in both schemes. Messages are selected across bubbles and copied as a
/// transcript, and one's own message is sent again from its menu.
#[test]
fn the_window_follows_the_desktop_scheme_readably_and_copies_and_resends_messages() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let bus = SessionBus::start(1);
    let Watched { relay: _relay, addr, watcher, .. } = watched_relay("window-scheme");
    let log = artifacts().join("window-scheme-test.log");
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", addr.clone()), ("DBUS_SESSION_BUS_ADDRESS", bus.address.clone())]);
    wait_for_log(&log, "desktop: colour scheme dark (desktop portal)");
    wait_for_log(&log, "You joined #lobby");
    watcher.wait_for("the window to join", |e| match e {
        Event::MemberJoined { nick, .. } if nick == "窗口" => Some(()),
        _ => None,
    });
    watcher.say("第一行：早上好");
    watcher.say("second line");
    wait_for_log(&log, "chat view: [message] watcher second line (same header)");
    xdotool(&display, &["type", "--delay", "15", "my own words"]);
    xdotool(&display, &["key", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "my own words".to_string())]);
    let id = window_id(&display);
    std::thread::sleep(Duration::from_millis(500));

    for (scheme, name) in [("dark", "window-scheme-dark.png"), ("light", "window-scheme-light.png")] {
        if scheme == "light" {
            bus.set_scheme(2);
            wait_for_log(&log, "desktop: colour scheme now light");
            wait_for_log(&log, "view: scheme: light");
            std::thread::sleep(Duration::from_millis(500));
        }
        let (pixels, found) = chat_bubbles(&display, &id, name, 2);
        let background = luminance(&pixels[100 * 1140 + 4]);
        if scheme == "dark" {
            assert!(background < 0.05, "the chat is not dark in the dark scheme: luminance {background}");
        } else {
            assert!(background > 0.7, "the chat is not light in the light scheme: luminance {background}");
        }
        // The watcher's bubble on the left, ours on the right.
        assert!(found.iter().any(|b| b.x0 < 100) && found.iter().any(|b| b.x0 > 400), "{scheme}: {found:?}");
        for b in &found {
            let ratio = text_contrast(&pixels, 1140, b);
            println!("{scheme}: bubble at {},{} fill {:?}: text contrast {ratio:.1}:1", b.x0, b.y0, b.fill);
            assert!(ratio >= 4.5, "{scheme}: text in the bubble at {},{} has contrast {ratio:.2}:1, under WCAG AA's 4.5:1", b.x0, b.y0);
        }
    }

    // Click the watcher's first line, Shift+click our own: three messages selected.
    let (_, found) = chat_bubbles(&display, &id, "window-scheme-light.png", 2);
    let theirs = found.iter().find(|b| b.x0 < 100).unwrap();
    let ours = found.iter().find(|b| b.x0 > 400).unwrap();
    let middle = |b: &Bubble| (((b.x0 + b.x1) / 2).to_string(), ((b.y0 + b.y1) / 2).to_string());
    let (tx, ty) = middle(theirs);
    let (ox, oy) = middle(ours);
    xdotool(&display, &["mousemove", "--window", &id, &tx, &ty, "click", "1"]);
    xdotool(&display, &["keydown", "shift", "mousemove", "--window", &id, &ox, &oy, "click", "1", "keyup", "shift"]);
    wait_for_log(&log, "view: selected messages");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-messages-selected.png");
    let clipboard = || {
        let out = Command::new("xclip").env("DISPLAY", &display).args(["-selection", "clipboard", "-o"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = |text: &str| text.lines().map(|l| l.split_once("] ").map_or(l, |(_, rest)| rest).to_string()).collect::<Vec<_>>();
    let wanted = ["<watcher> 第一行：早上好", "<watcher> second line", "<窗口> my own words"];
    // Ctrl+C copies them.
    xdotool(&display, &["key", "ctrl+c"]);
    wait_for_log(&log, "view: copied 3 messages");
    assert_eq!(said(&clipboard()), wanted);
    // So does the menu's first entry.
    set_clipboard(&display, "-");
    xdotool(&display, &["mousemove", "--window", &id, &ox, &oy, "click", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    xdotool(&display, &["key", "Down", "Return"]);
    wait_for_count(&log, "view: copied 3 messages", 2);
    assert_eq!(said(&clipboard()), wanted);

    // Our own message's menu sends it again: Copy message, then Send again.
    xdotool(&display, &["mousemove", "--window", &id, &ox, &oy, "click", "1"]);
    xdotool(&display, &["mousemove", "--window", &id, &ox, &oy, "click", "3"]);
    std::thread::sleep(Duration::from_millis(400));
    screenshot(&display, "window-own-message-menu.png");
    xdotool(&display, &["key", "Down", "Down", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "my own words".to_string())]);
}


/// The window opens as it was left: the nickname, the mode, the group and the server, and its
/// size, from the settings it kept (never the passphrase).
#[test]
fn the_window_opens_as_it_was_left() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let Watched { relay: _relay, addr, watcher, .. } = watched_relay("window-remembers");
    let config = scratch("window-remembers-config");
    let data = scratch("window-remembers-data");
    let group = common::group(78).to_string();
    let log = artifacts().join("window-remembers-test.log");
    let first = [
        ("LANMEET_SERVER", addr.clone()),
        ("LANMEET_NICK", "记住我".into()),
        ("LANMEET_CONFIG_DIR", config.display().to_string()),
        ("LANMEET_DATA_DIR", data.display().to_string()),
        ("LANMEET_PASSPHRASE", "不要写下来".into()),
        ("LANMEET_GROUP", group.clone()),
        ("LANMEET_INTERFACE", "lo".into()),
    ];
    let mut window = open_window(&display, &log, &first);
    wait_for_log(&log, "You joined #lobby");
    let id = window_id(&display);
    resize(&display, &id, 900, 560);
    xdotool(&display, &["mousemove", "--window", &id, "200", "500", "click", "1"]);
    press(&display, "ctrl+m", &log, &format!("Joined multicast group {group}"), 1);
    // Said on the group: kept too.
    paste(&display, "组播上说的 said on the group");
    xdotool(&display, &["key", "Return"]);
    wait_for_log(&log, "chat view: [own] 记住我 组播上说的 said on the group");
    xdotool(&display, &["key", "ctrl+q"]);
    wait_closed(&mut window);
    let kept = std::fs::read_to_string(config.join("settings.json")).expect("the window kept its settings");
    println!("{kept}");
    for wanted in ["记住我", "multicast", group.as_str(), "\"lo\"", "900", "560"] {
        assert!(kept.contains(wanted), "{wanted} is not kept: {kept}");
    }
    assert!(!kept.contains("不要写下来"), "the passphrase was written down: {kept}");

    // Started again with nothing said: as it was left.
    let log = artifacts().join("window-remembers-again-test.log");
    let again = [("LANMEET_NICK", String::new()), ("LANMEET_CONFIG_DIR", config.display().to_string()), ("LANMEET_DATA_DIR", data.display().to_string())];
    let _window = open_window(&display, &log, &again);
    wait_for_log(&log, &format!("Joined multicast group {group} on interface 127.0.0.1"));
    wait_for_log(&log, "chat view (kept): [own] 记住我 组播上说的 said on the group");
    let id = window_id(&display);
    let geometry = xdotool(&display, &["getwindowgeometry", &id]);
    assert!(geometry.contains("900x560"), "the window does not open at its size: {geometry}");
    // Back to the relay it used: the watcher sees the same person come.
    xdotool(&display, &["mousemove", "--window", &id, "200", "500", "click", "1"]);
    press(&display, "ctrl+m", &log, "You joined #lobby", 1);
    watcher.wait_for("the remembered nickname", |e| match e {
        Event::MemberJoined { nick, .. } if nick == "记住我" => Some(()),
        _ => None,
    });
    screenshot(&display, "window-remembered.png");
}

/// In the background, the window counts what arrives in its title, asks for attention, and
/// shows a desktop notification (on the session D-Bus) for a mention of the person's name and
/// for a private message, not for the rest of the talk; in front, none of it.
#[test]
fn a_window_in_the_background_tells_of_mentions_and_private_messages() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    // A window manager: it is what marks a window that asks for attention.
    let _manager = Reaper(Command::new("openbox").env("DISPLAY", &display).arg("--sm-disable").stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("openbox is installed (scripts/setup test)"));
    let bus = SessionBus::start(2);
    let Watched { relay: _relay, addr, watcher, .. } = watched_relay("window-notify");
    let log = artifacts().join("window-notify-test.log");
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", addr.clone()), ("DBUS_SESSION_BUS_ADDRESS", bus.address.clone())]);
    wait_for_log(&log, "You joined #lobby");
    watcher.wait_for("the window to join", |e| match e {
        Event::MemberJoined { nick, .. } if nick == "窗口" => Some(()),
        _ => None,
    });
    let id = window_id(&display);
    xdotool(&display, &["windowfocus", "--sync", &id]);
    wait_for_log(&log, "view: active");
    // Another program takes the keyboard.
    let _other = Reaper(Command::new("xmessage").env("DISPLAY", &display).args(["-geometry", "+700+500", "another program"]).spawn().expect("xmessage is installed (scripts/setup test)"));
    let other = xdotool(&display, &["search", "--sync", "--onlyvisible", "--name", "xmessage"]);
    let other = other.lines().next().expect("the other program's window").to_string();
    xdotool(&display, &["windowfocus", "--sync", &other]);
    wait_for_log(&log, "view: in the background");

    watcher.say("just talk");
    watcher.say("窗口: 你在吗？ are you there?");
    watcher.say("/msg 窗口 私下说 in private");
    wait_for_log(&log, "view: unread: 3");
    let title = xdotool(&display, &["getwindowname", &id]);
    assert!(title.starts_with("(3) lanmeet"), "the title does not count the unread messages: {title}");
    let wanted = [
        ("watcher mentioned you".to_string(), "窗口: 你在吗？ are you there?".to_string()),
        ("watcher (private)".to_string(), "私下说 in private".to_string()),
    ];
    let deadline = Instant::now() + PATIENCE;
    while bus.notified.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "notifications: {:?}", bus.notified.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(*bus.notified.lock().unwrap(), wanted);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let hints = Command::new("xprop").env("DISPLAY", &display).args(["-id", &id, "_NET_WM_STATE"]).output().expect("xprop is installed");
        let hints = String::from_utf8_lossy(&hints.stdout).to_string();
        if hints.contains("_NET_WM_STATE_DEMANDS_ATTENTION") {
            break;
        }
        assert!(Instant::now() < deadline, "the window does not ask for attention: {hints}");
        std::thread::sleep(Duration::from_millis(100));
    }
    screenshot(&display, "window-in-the-background.png");
    // The tray icon asks for attention too, and says how many.
    assert_eq!(bus.tray_property::<String>("Status"), "NeedsAttention");
    let (_, _, _, tip): (String, Vec<(i32, i32, Vec<u8>)>, String, String) = bus.tray_property("ToolTip");
    assert_eq!(tip, "3 unread message(s)");

    // Back in front by a click on the tray icon: the count goes, and a mention while reading
    // notifies nobody.
    bus.click_tray();
    wait_for_log(&log, "tray icon clicked");
    wait_for_count(&log, "view: active", 2);
    wait_for_log(&log, "tray: Active");
    assert_eq!(bus.tray_property::<String>("Status"), "Active");
    watcher.say("窗口 welcome back");
    wait_for_log(&log, "chat view: [message] watcher 窗口 welcome back");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(bus.notified.lock().unwrap().len(), 2, "a notification while the window is in front");
    let title = xdotool(&display, &["getwindowname", &id]);
    assert!(title.starts_with("lanmeet"), "the count stays in the title: {title}");
}

/// What could not go out when the window closed (the relay was down) is kept with what was in
/// the message box: on the next start the message goes out once the room is joined, and the
/// box holds the draft again.
#[test]
fn what_was_not_sent_when_the_window_closed_goes_out_on_the_next_start() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let Watched { tls, relay, addr, known, watcher } = watched_relay("window-outbox");
    let config = scratch("window-outbox-config");
    let settings = [("LANMEET_SERVER", addr.clone()), ("LANMEET_CONFIG_DIR", config.display().to_string())];
    let log = artifacts().join("window-outbox-test.log");
    let mut window = open_window(&display, &log, &settings);
    wait_for_log(&log, "You joined #lobby");
    // The relay goes away; the person types on.
    drop(watcher);
    drop(relay);
    wait_for_log(&log, "Lost the connection");
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "kept for later"]);
    xdotool(&display, &["key", "Return"]);
    wait_for_log(&log, "chat view: [own] 窗口 kept for later");
    paste(&display, "草稿 a draft");
    std::thread::sleep(Duration::from_millis(300));
    xdotool(&display, &["key", "ctrl+q"]);
    wait_closed(&mut window);
    let kept = std::fs::read_to_string(config.join("settings.json")).unwrap();
    assert!(kept.contains("kept for later") && kept.contains("草稿 a draft"), "{kept}");

    // The relay is back; the window starts again.
    let _relay = tls_relay_at(addr.parse().unwrap(), &tls);
    let watcher = Peer::start_tls(&addr, "watcher", known);
    watcher.joined();
    let log = artifacts().join("window-outbox-again-test.log");
    let _window = open_window(&display, &log, &settings);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "kept for later".to_string())]);
    // The draft is back in the box: Enter sends it.
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["key", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "草稿 a draft".to_string())]);
    let kept = std::fs::read_to_string(config.join("settings.json")).unwrap();
    assert!(!kept.contains("kept for later") && !kept.contains("草稿"), "sent, yet still kept: {kept}");
}

/// On a desktop set to Simplified Chinese the window speaks it (its title among the rest),
/// with Chinese glyphs and nothing cut off, for people to look at; the language chooser turns
/// it to English at once.
#[test]
fn a_chinese_desktop_gets_a_chinese_window_and_english_on_request() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let group = common::group(79).to_string();
    let log = artifacts().join("window-zh-test.log");
    let settings = [
        ("LANG", "zh_CN.UTF-8".to_string()),
        ("LANMEET_MODE", "multicast".into()),
        ("LANMEET_INTERFACE", "lo".into()),
        ("LANMEET_GROUP", group.clone()),
    ];
    let _window = open_window(&display, &log, &settings);
    // The chat's own lines too.
    wait_for_log(&log, &format!("chat view: [info]  已加入组播组 {group}，网卡 127.0.0.1，"));
    let id = window_id(&display);
    let title = xdotool(&display, &["getwindowname", &id]);
    assert_eq!(title.trim(), format!("lanmeet — 组播 {group}"));
    std::thread::sleep(Duration::from_millis(500));
    window_pixels(&display, &id, "window-zh_CN.png");
    resize(&display, &id, 800, 500);
    std::thread::sleep(Duration::from_millis(700));
    window_pixels(&display, &id, "window-zh_CN-800x500.png");
    // Tab to the language chooser; Down picks English.
    xdotool(&display, &["mousemove", "--window", &id, "200", "440", "click", "1"]);
    assert!(tab_to(&display, &log, "languageChooser").is_some(), "Tab never reached the language chooser");
    xdotool(&display, &["key", "Down"]);
    wait_for_log(&log, "language: en");
    // From then on the chat's lines are English too.
    press(&display, "ctrl+d", &log, "chat view: [info]  Disconnected", 1);
    let deadline = Instant::now() + PATIENCE;
    while xdotool(&display, &["getwindowname", &id]).trim() != format!("lanmeet — multicast {group}") {
        assert!(Instant::now() < deadline, "the window stays in Chinese");
        std::thread::sleep(Duration::from_millis(100));
    }
    window_pixels(&display, &id, "window-en-800x500.png");
}

/// Every message is kept on this computer: after a restart the conversation is there again
/// and the relay adds only what came meanwhile; search finds Chinese and English words, brings
/// a message from far back into view, and clearing the history forgets it all.
#[test]
fn kept_messages_come_back_after_a_restart_and_search_finds_them() {
    use lanmeet::app::archive::{self, Archive, Said};
    use lanmeet::app::lines::LineKind;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let dir = scratch("window-kept");
    let tls = certificate(&dir, "relay");
    let _relay = common::tls_relay_keeping(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &tls, &dir.join("relay.sqlite3"));
    let addr = _relay.local_addr().to_string();
    let watcher = Peer::start_tls(&addr, "watcher", KnownServers::new(dir.join("known_servers")));
    watcher.joined();
    // Yesterday's 300 messages, kept before; the 11th is to be found far back.
    let data = dir.join("window-data");
    {
        let archive = Archive::open(&data.join("messages.sqlite3")).unwrap();
        let yesterday = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 86_400_000;
        for i in 0..300 {
            let text = if i == 10 { "古老的卷轴 an ancient scroll".to_string() } else { format!("older line {i}") };
            let said = Said { conversation: "#lobby".into(), private: false, kind: LineKind::Message, sender: "ann".into(), text, unix_ms: yesterday + i * 1000 };
            archive.keep(&archive::relay_place(&addr, true), said);
        }
    }
    let settings = [("LANMEET_SERVER", addr.clone()), ("LANMEET_DATA_DIR", data.display().to_string())];
    let log = artifacts().join("window-kept-test.log");
    let mut window = open_window(&display, &log, &settings);
    wait_for_log(&log, "You joined #lobby");
    // The latest 200 show; the rest wait for a search.
    wait_for_count(&log, "chat view (kept): [message] ann older line", 200);
    assert!(!std::fs::read_to_string(&log).unwrap().contains("ancient scroll"));
    watcher.say("明天下午三点在实验楼开会");
    watcher.say("the quarterly report is ready");
    watcher.say("/msg 窗口 只给你 a private word");
    wait_for_log(&log, "a private word");
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    paste(&display, "收到 thanks");
    xdotool(&display, &["key", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "收到 thanks".to_string())]);
    xdotool(&display, &["key", "ctrl+q"]);
    wait_closed(&mut window);
    watcher.say("said while you were away");

    // Started again: the conversation is back, and the relay adds what was missed, once.
    let log = artifacts().join("window-kept-again-test.log");
    let _window = open_window(&display, &log, &settings);
    wait_for_log(&log, "chat view: [message] watcher said while you were away");
    wait_for_log(&log, "── 1 message(s) you missed, above ──");
    let text = std::fs::read_to_string(&log).unwrap();
    for kept in ["[message] watcher 明天下午三点在实验楼开会", "[message] watcher the quarterly report is ready", "[message] watcher 只给你 a private word", "[own] 窗口 收到 thanks"] {
        assert!(text.contains(&format!("chat view (kept): {kept}")), "{kept} is not shown again:\n{text}");
    }
    assert_eq!(text.matches("实验楼").count(), 1, "shown once:\n{text}");
    screenshot(&display, "window-kept-restart.png");

    // Search: a Chinese word (of three characters, and of two), an English one in another case.
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    press(&display, "ctrl+f", &log, "search opened", 1);
    let search = |query: &str, found: usize| {
        xdotool(&display, &["key", "ctrl+a"]);
        paste(&display, query);
        wait_for_log(&log, &format!("search {query:?}: {found} found"));
    };
    search("实验楼", 1);
    search("开会", 1);
    search("REPORT", 1);
    // A private message is found in its own conversation, not in the room's.
    search("private word", 0);
    screenshot(&display, "window-kept-search.png");
    // Far back: Enter picks the first result, and the chat takes in what lies between.
    search("ancient", 1);
    xdotool(&display, &["key", "Return"]);
    std::thread::sleep(Duration::from_millis(300));
    xdotool(&display, &["key", "Return"]);
    // From five before it to the first of the latest 200 of the room (the private message
    // is in its own conversation): 98.
    wait_for_log(&log, "chat view: 98 earlier kept line(s) taken in");
    wait_for_log(&log, "search result 11: row Some(5)");
    wait_for_log(&log, "reached row 5 of ");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-kept-reached.png");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("new messages button"), "old lines taken in are not new");

    // Clearing forgets every kept message of the relay.
    press(&display, "ctrl+f", &log, "search opened", 2);
    assert!(tab_to(&display, &log, "clearHistory").is_some(), "Tab reaches Clear history");
    press(&display, "space", &log, "clear history: asked", 1);
    assert!(tab_to(&display, &log, "clearAnyway").is_some(), "Tab reaches Delete");
    xdotool(&display, &["key", "space"]);
    wait_for_log(&log, "cleared (305 messages)");
    press(&display, "ctrl+f", &log, "search opened", 3);
    search("ancient", 0);
}

/// A private conversation: a message to the person alone opens one beside the room, with its
/// unread count; a double-click on a member opens one too; what is typed there goes to that
/// person alone, and the room's talk waits in the room, counted.
#[test]
fn private_conversations_stand_beside_the_room() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let Watched { relay: _relay, addr, watcher, .. } = watched_relay("window-private");
    let log = artifacts().join("window-private-test.log");
    let _window = open_window(&display, &log, &[("LANMEET_SERVER", addr.clone())]);
    wait_for_log(&log, "members: @watcher 窗口");
    let id = window_id(&display);
    let ann = Peer::start_tls(&addr, "ann", KnownServers::new(scratch("window-private-ann").join("known_servers")));
    ann.joined();
    wait_for_log(&log, "members: @watcher ann 窗口");

    // A private message opens its conversation beside the room, unread.
    watcher.say("/msg 窗口 私聊 just for you");
    wait_for_log(&log, "conversation 1: [message] watcher 私聊 just for you");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-private-unread.png");

    // A double-click on ann (the member list's second row) opens a conversation with her.
    let (x, y) = member_row(2);
    xdotool(&display, &["mousemove", "--window", &id, &x.to_string(), &y.to_string(), "click", "--repeat", "2", "--delay", "80", "1"]);
    wait_for_log(&log, "conversation shown: ann");
    paste(&display, "只对你说 only to ann");
    xdotool(&display, &["key", "Return"]);
    let got = ann.wait_for("the private message", |e| match e {
        Event::Message { from, target, text, .. } => Some((from.clone(), target.clone(), text.clone())),
        _ => None,
    });
    assert_eq!(got, ("窗口".to_string(), "ann".to_string(), "只对你说 only to ann".to_string()));
    wait_for_log(&log, "chat view: [own] 窗口 只对你说 only to ann");
    // Two lines are two private messages, and /me an action, all to ann alone.
    paste(&display, "第一行\nsecond line");
    xdotool(&display, &["key", "Return"]);
    paste(&display, "/me waves");
    xdotool(&display, &["key", "Return"]);
    for wanted in ["第一行", "second line"] {
        let got = ann.wait_for("a private line", |e| match e {
            Event::Message { target, text, action: false, .. } if target == "ann" => Some(text.clone()),
            _ => None,
        });
        assert_eq!(got, wanted);
    }
    ann.wait_for("the private action", |e| match e {
        Event::Message { target, text, action: true, .. } if target == "ann" && text == "waves" => Some(()),
        _ => None,
    });
    wait_for_log(&log, "chat view: [action] 窗口 waves");
    // The room's talk waits in the room; the watcher never saw the private message.
    watcher.say("room talk");
    wait_for_log(&log, "conversation 0: [message] watcher room talk");
    let seen: Vec<String> = watcher.events.try_iter().filter_map(|e| match e {
        lanmeet::app::chat::ChatEvent::Unicast(lanmeet::net::unicast::UnicastEvent::Chat(Event::Message { text, .. })) => Some(text),
        _ => None,
    }).collect();
    assert!(!seen.iter().any(|text| text.contains("only to ann") || text == "第一行" || text == "waves"), "the watcher saw: {seen:?}");
    screenshot(&display, "window-private.png");

    // Enter on the member list opens the watcher's conversation, with its message.
    assert!(tab_to(&display, &log, "memberRow").is_some(), "Tab reaches the member list");
    xdotool(&display, &["key", "Up", "Up", "Up", "Return"]);
    wait_for_log(&log, "conversation shown: watcher");
    // Search in it finds its message.
    press(&display, "ctrl+f", &log, "search opened", 1);
    paste(&display, "just for you");
    wait_for_log(&log, "search \"just for you\": 1 found");
    xdotool(&display, &["key", "Escape"]);
    // Back to the room by its row in the list of conversations.
    assert!(tab_to(&display, &log, "conversationRow").is_some(), "Tab reaches the conversations");
    xdotool(&display, &["key", "Up", "Up", "Up", "Return"]);
    wait_for_log(&log, "conversation shown: the room");
    screenshot(&display, "window-private-back.png");
}

/// The relay's rooms in a browser: /list (or Rooms…) shows them, the fullest first, with their
/// topics; a new name creates a room and goes there, and Enter on a listed one goes to it.
#[test]
fn the_room_browser_lists_goes_to_and_creates_rooms_and_the_window_is_in_several() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = xvfb();
    let Watched { relay: _relay, addr, known, watcher, .. } = watched_relay("window-rooms");
    let log = artifacts().join("window-rooms-test.log");
    let dirs = scratch("window-rooms-window");
    let settings = [
        ("LANMEET_SERVER", addr.clone()),
        ("LANMEET_DATA_DIR", dirs.join("data").display().to_string()),
        ("LANMEET_CONFIG_DIR", dirs.join("config").display().to_string()),
    ];
    let mut window = open_window(&display, &log, &settings);
    wait_for_log(&log, "members: @watcher 窗口");
    let mut student = common::Raw::connect_tls(addr.parse().unwrap(), &known).register("student", "#study");
    student.send("TOPIC #study :复习 fractions");
    student.expect(|m| m.command == "TOPIC");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("room browser"), "the browser opens only when asked");

    // /list typed in the chat opens the browser.
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "/list"]);
    xdotool(&display, &["key", "Return"]);
    wait_for_log(&log, "rooms listed: #lobby (2) #study (1)");
    wait_for_log(&log, "room browser: 2 rooms");
    wait_for_log(&log, "room browser opened");
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-rooms.png");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("chat view: [info]  #study"), "the list is not poured into the chat");

    // A new name creates a room (Chinese too) and goes there; the window stays in #lobby.
    paste(&display, "作业");
    xdotool(&display, &["key", "Return"]);
    wait_for_log(&log, "You joined #作业");

    // Rooms… lists them again; Enter on #study goes there.
    assert!(tab_to(&display, &log, "roomsButton").is_some(), "Tab reaches Rooms…");
    xdotool(&display, &["key", "space"]);
    wait_for_log(&log, "rooms listed: #lobby (2) #study (1) #作业 (1)");
    assert!(tab_to(&display, &log, "roomRow").is_some(), "Tab reaches the list of rooms");
    xdotool(&display, &["key", "Down", "Return"]);
    wait_for_log(&log, "You joined #study");
    student.expect(|m| m.command == "JOIN" && m.source.as_deref().is_some_and(|p| p.starts_with("窗口")));

    // In three rooms at once, talking in #study: its talk shows, #lobby's waits in its own
    // conversation, and what is typed goes to #study alone.
    wait_for_log(&log, "members: @student 窗口");
    student.send("PRIVMSG #study :hello study 你好");
    wait_for_log(&log, "chat view: [message] student hello study 你好");
    watcher.say("lobby news");
    wait_for_log(&log, "conversation 0: [message] watcher lobby news");
    let id = window_id(&display);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "hi study"]);
    xdotool(&display, &["key", "Return"]);
    student.expect(|m| m.command == "PRIVMSG" && m.params == ["#study", "hi study"]);
    std::thread::sleep(Duration::from_millis(300));
    screenshot(&display, "window-rooms-several.png");
    // Back to #lobby by its conversation: its members show, and what is typed goes there.
    assert!(tab_to(&display, &log, "conversationRow").is_some(), "Tab reaches the conversations");
    xdotool(&display, &["key", "Up", "Up", "Up", "Return"]);
    wait_for_log(&log, "conversation shown: the room");
    wait_for_count(&log, "members: @watcher 窗口", 2);
    xdotool(&display, &["mousemove", "--window", &id, "200", "560", "click", "1"]);
    xdotool(&display, &["type", "--delay", "15", "back in the lobby"]);
    xdotool(&display, &["key", "Return"]);
    assert_eq!(watcher.messages(1), [("窗口".to_string(), "back in the lobby".to_string())], "#study's line did not reach #lobby");
    // × on #作业 (the second conversation) leaves that room.
    let (_, row_y, row_w, row_h) = tab_to(&display, &log, "conversationRow").expect("Tab reaches the conversations");
    let (x, y) = ((row_w - 12).to_string(), (row_y + row_h + row_h / 2).to_string());
    xdotool(&display, &["mousemove", "--window", &id, &x, &y, "click", "1"]);
    wait_for_log(&log, "You left #作业");

    // Started again, the window is in the same rooms.
    xdotool(&display, &["key", "ctrl+q"]);
    wait_closed(&mut window);
    let log = artifacts().join("window-rooms-again-test.log");
    let _window = open_window(&display, &log, &settings);
    for room in ["#lobby", "#study"] {
        wait_for_log(&log, &format!("You joined {room}"));
    }
    student.expect(|m| m.command == "JOIN" && m.source.as_deref().is_some_and(|p| p.starts_with("窗口")));
    wait_for_log(&log, "status: In #lobby");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("You joined #作业"), "a room left is not joined again");
}
