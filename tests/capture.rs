//! What a packet capture of loopback shows of our conversations: a raw packet socket on `lo`
//! (AF_PACKET, as tcpdump uses) sees every frame, and in it, over TLS, with a passphrase and
//! over SRTP, no message text, no nickname and no picture; the same capture of the plain-text
//! way shows all three, so the capture does see the traffic. Needs CAP_NET_RAW (root).

mod common;

use common::{free_port, Process};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One capture at a time: each test's checks hold for its own traffic only.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Capture {
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

impl Capture {
    /// Every frame on the loopback interface from now on.
    fn start() -> Capture {
        // SAFETY: plain socket calls on a descriptor this function owns; the address is a
        // zeroed sockaddr_ll with its family, protocol and interface set.
        let fd = unsafe {
            let protocol = (libc::ETH_P_ALL as u16).to_be();
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol));
            assert!(fd >= 0, "a packet socket needs CAP_NET_RAW (run the tests as root): {}", std::io::Error::last_os_error());
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = protocol;
            addr.sll_ifindex = libc::if_nametoindex(c"lo".as_ptr()) as i32;
            let bound = libc::bind(fd, (&addr as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as u32);
            assert_eq!(bound, 0, "bind to lo: {}", std::io::Error::last_os_error());
            let timeout = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&timeout as *const libc::timeval).cast(), std::mem::size_of::<libc::timeval>() as u32);
            fd
        };
        let frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, done) = (frames.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65536 + 64];
            while !done.load(Ordering::Relaxed) {
                // SAFETY: the buffer outlives the call and its length is given.
                let n = unsafe { libc::recv(fd, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
                if n > 0 {
                    sink.lock().unwrap().push(buffer[..n as usize].to_vec());
                }
            }
            // SAFETY: the descriptor is ours and closed once.
            unsafe { libc::close(fd) };
        });
        Capture { frames, stop }
    }

    /// Stop, and return what was captured.
    fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(200));
        std::mem::take(&mut *self.frames.lock().unwrap())
    }
}

fn holds(frames: &[Vec<u8>], needle: &[u8]) -> bool {
    frames.iter().any(|f| f.windows(needle.len()).any(|w| w == needle))
}

/// Bytes captured in all.
fn total(frames: &[Vec<u8>]) -> usize {
    frames.iter().map(Vec::len).sum()
}

/// A relay and two terminal clients, one saying `text` to the other; what the capture saw.
fn relay_chat(tls: bool, text: &str, nicks: [&str; 2]) -> Vec<Vec<u8>> {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let capture = Capture::start();
    let serve: Vec<&str> = if tls { vec!["serve", "--listen", &addr] } else { vec!["serve", "--no-tls", "--plain-listen", &addr] };
    let relay = Process::start(&serve);
    relay.wait_for_line("the relay", |l| l.contains("listening on"));
    let client = |nick: &str| {
        let mut args = vec!["chat", "--server", &addr, "--nick", nick];
        if !tls {
            args.push("--plain");
        }
        Process::start(&args)
    };
    let listener = client(nicks[0]);
    listener.wait_for_line("joining", |l| l.contains("You joined"));
    let mut talker = client(nicks[1]);
    listener.wait_for_line("the talker", |l| l.contains(nicks[1]));
    talker.type_lines(&format!("{text}\n"));
    listener.wait_for_line("the message", |l| l.ends_with(&format!("<{}> {text}", nicks[1])));
    drop((talker, listener, relay));
    capture.finish()
}

#[test]
fn a_capture_of_the_relay_over_tls_shows_neither_text_nor_names() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let text = "机密消息 over TLS, not to be seen";
    let frames = relay_chat(true, text, ["监听者甲号", "说话者乙号"]);
    assert!(total(&frames) > 2000, "{} bytes captured", total(&frames));
    for needle in [text, "监听者甲号", "说话者乙号", "PRIVMSG", "#lobby"] {
        assert!(!holds(&frames, needle.as_bytes()), "{needle:?} on the wire");
    }
    // The same conversation in plain text is there for anyone to read.
    let text = "公开消息 in plain text";
    let frames = relay_chat(false, text, ["监听者丙号", "说话者丁号"]);
    for needle in [text, "监听者丙号", "说话者丁号", "PRIVMSG"] {
        assert!(holds(&frames, needle.as_bytes()), "{needle:?} not captured");
    }
}

/// Two terminal peers on a group, one saying `text`; what the capture saw.
fn group_chat(passphrase: Option<&str>, text: &str, nicks: [&str; 2]) -> Vec<Vec<u8>> {
    let g = common::group(64);
    let group = g.to_string();
    let capture = Capture::start();
    let env: Vec<(&str, &str)> = passphrase.map(|p| ("LANMEET_PASSPHRASE", p)).into_iter().collect();
    let peer = |nick: &str| Process::start_with(&["chat", "--multicast", &group, "--interface", "127.0.0.1", "--ttl", "0", "--nick", nick], &env);
    let listener = peer(nicks[0]);
    let mut talker = peer(nicks[1]);
    listener.wait_for_line("the talker", |l| l.contains(&format!("{} joined", nicks[1])));
    talker.type_lines(&format!("{text}\n"));
    listener.wait_for_line("the message", |l| l.ends_with(&format!("<{}> {text}", nicks[1])));
    drop((talker, listener));
    capture.finish()
}

#[test]
fn a_capture_of_a_group_with_a_passphrase_shows_neither_text_nor_names() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let text = "多播机密消息, sealed";
    let frames = group_chat(Some("抓包也看不到"), text, ["组员甲号听", "组员乙号说"]);
    assert!(total(&frames) > 1000, "{} bytes captured", total(&frames));
    for needle in [text, "组员甲号听", "组员乙号说"] {
        assert!(!holds(&frames, needle.as_bytes()), "{needle:?} on the wire");
    }
    let text = "多播公开消息";
    let frames = group_chat(None, text, ["组员丙号听", "组员丁号说"]);
    for needle in [text, "组员丙号听", "组员丁号说"] {
        assert!(holds(&frames, needle.as_bytes()), "{needle:?} not captured");
    }
}

/// Two headless participants for two seconds; what the capture saw.
fn call(passphrase: Option<&str>, nicks: [&str; 2]) -> Vec<Vec<u8>> {
    let group = common::video_group(64).to_string();
    let capture = Capture::start();
    let env: Vec<(&str, &str)> = passphrase.map(|p| ("LANMEET_PASSPHRASE", p)).into_iter().collect();
    let peers: Vec<Process> = nicks
        .iter()
        .map(|nick| {
            Process::start_with(&["conference", "--headless", "--multicast", &group, "--interface", "127.0.0.1", "--ttl", "0", "--nick", nick, "--duration", "3"], &env)
        })
        .collect();
    for peer in &peers {
        peer.wait_for_line("the summary", |l| l.contains("\"summary\""));
    }
    drop(peers);
    capture.finish()
}

/// H.264's sequence parameter set of our profile (constrained baseline), as it starts an RTP
/// payload in the clear.
const CLEAR_SPS: [u8; 3] = [0x67, 0x42, 0xc0];

/// Whether a captured frame is a UDP datagram whose RTP payload starts with a parameter set:
/// on `lo` a frame is a 14-byte Ethernet header, 20 of IPv4, 8 of UDP, then 12 of RTP.
fn clear_picture(frames: &[Vec<u8>]) -> bool {
    frames.iter().any(|f| f.len() > 57 && f[23] == 17 && f[54..57] == CLEAR_SPS)
}

#[test]
fn a_capture_of_an_encrypted_call_shows_no_picture_and_no_names() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let frames = call(Some("会议口令"), ["会议甲号参加", "会议乙号参加"]);
    assert!(total(&frames) > 200_000, "{} bytes captured", total(&frames));
    assert!(!clear_picture(&frames), "a parameter set in the clear");
    for needle in ["会议甲号参加", "会议乙号参加"] {
        assert!(!holds(&frames, needle.as_bytes()), "{needle:?} on the wire");
    }
    let frames = call(None, ["会议丙号参加", "会议丁号参加"]);
    assert!(clear_picture(&frames), "no picture captured");
    for needle in ["会议丙号参加", "会议丁号参加"] {
        assert!(holds(&frames, needle.as_bytes()), "{needle:?} not captured");
    }
}
