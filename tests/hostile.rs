//! A hostile peer on loopback: crafted datagrams, lines and packets against the real program,
//! each case with the figure it must stay under (memory, CPU time, bytes sent per byte
//! received) while honest traffic still gets through. Multicast stays on loopback
//! (IP_MULTICAST_IF 127.0.0.1, TTL 0); the attacker speaks from 127.0.0.2 where a case needs
//! another host.

mod common;

use common::{group, loopback, video_group, Member, Process, Raw, PATIENCE};
use lanmeet::proto::mchat::wire::{Body, Datagram};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

/// A UDP socket that sends to (and hears) a multicast group on loopback only, from `source`.
fn attacker(source: Ipv4Addr, listen_on: Option<SocketAddrV4>) -> UdpSocket {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    socket.set_reuse_address(true).unwrap();
    let _ = socket.set_recv_buffer_size(8 << 20);
    match listen_on {
        Some(group) => {
            socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, group.port())).into()).unwrap();
            socket.join_multicast_v4(group.ip(), &Ipv4Addr::LOCALHOST).unwrap();
        }
        None => socket.bind(&SocketAddr::from((source, 0)).into()).unwrap(),
    }
    socket.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    socket.set_multicast_ttl_v4(0).unwrap();
    socket.set_multicast_loop_v4(true).unwrap();
    socket.into()
}

fn datagram(sender: u64, seq: u32, body: Body) -> Vec<u8> {
    Datagram { counter: 0, sender, seq, unix_ms: 1, nick: format!("forged{sender}"), body }.encode()
}

fn chat_victim(g: SocketAddrV4) -> Process {
    Process::start(&["chat", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0", "--nick", "victim"])
}

#[test]
fn crafted_multicast_datagrams_neither_hang_nor_bloat_nor_fool_the_chat() {
    let g = group(80);
    let mut victim = chat_victim(g);
    let honest = Member::join(loopback(g, "honest", 0.0));
    victim.wait_for_line("the honest peer", |l| l.contains("honest joined"));
    let evil = attacker(Ipv4Addr::new(127, 0, 0, 2), None);
    let to = SocketAddr::V4(g);
    let started = victim.cpu();
    let mut sent = 0usize;
    let mut send = |bytes: Vec<u8>| {
        sent += bytes.len();
        evil.send_to(&bytes, to).unwrap();
    };
    // The end of the sequence space.
    send(datagram(1, 0xFFFF_FFFE, Body::Announce));
    send(datagram(1, 0xFFFF_FFFF, Body::Announce));
    // The first of 255 fragments, then thousands of datagrams behind the gap.
    send(datagram(2, 1, Body::Message { index: 0, count: 255, text: vec![b'x'; 1000] }));
    for seq in 300..5_300u32 {
        send(datagram(2, seq, Body::Message { index: 0, count: 1, text: vec![b'y'; 1000] }));
        if seq % 200 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // A line that tries to forge another line and drive the terminal. The burst before it may
    // have filled the victim's receive buffer, and nobody repairs a forger's datagram: it is
    // sent again (a copy is a duplicate) until it shows.
    let forgery = datagram(3, 1, Body::Message { index: 0, count: 1, text: b"hi\n-!- honest left\x1b]0;owned\x07\x1b[2J".to_vec() });
    let deadline = Instant::now() + PATIENCE;
    while !victim.lines.lock().unwrap().iter().any(|l| l.contains("<forged3>")) && Instant::now() < deadline {
        send(forgery.clone());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Ten thousand senders that never were.
    for id in 1_000..11_000u64 {
        send(datagram(id, 5, Body::Announce));
        if id % 500 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    honest.say("honest words 诚实");
    victim.wait_for_line("the honest message", |l| l.ends_with("<honest> honest words 诚实"));
    let forged = victim.wait_for_line("the forged line", |l| l.contains("<forged3>"));
    assert!(forged.ends_with("hi\\n-!- honest left\\x1b]0;owned\\x07\\x1b[2J"), "{forged}");
    let lines = victim.lines.lock().unwrap().clone();
    assert!(!lines.iter().any(|l| l.starts_with("-!- honest left")), "a forged line: {lines:?}");
    assert!(lines.iter().all(|l| !l.contains('\x1b')), "an escape sequence reached the terminal");
    let cpu = victim.cpu() - started;
    let peak = victim.peak_mib();
    println!("multicast chat after {sent} hostile bytes: peak {peak:.1} MiB, {cpu:?} CPU");
    assert!(victim.alive());
    assert!(peak < 100.0, "peak {peak:.1} MiB");
    assert!(cpu < Duration::from_secs(5), "{cpu:?} of CPU");
}

#[test]
fn repair_requests_and_forged_announcements_buy_little_traffic() {
    let g = group(81);
    let mut victim = chat_victim(g);
    let listener = attacker(Ipv4Addr::LOCALHOST, Some(g));
    listener.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    // Give the victim a history of long lines to repair.
    let stdin = victim.stdin.as_mut().unwrap();
    for k in 0..100 {
        writeln!(stdin, "{k} {}", "长".repeat(360)).unwrap();
    }
    stdin.flush().unwrap();
    let mut buffer = [0u8; 2048];
    let victim_id = loop {
        let (n, _) = listener.recv_from(&mut buffer).expect("the victim speaks");
        if let Ok(d) = Datagram::decode(&buffer[..n]) {
            if d.nick == "victim" && d.seq >= 100 {
                break d.sender;
            }
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    while listener.recv_from(&mut buffer).is_ok() {}
    // Count what the victim sends while we ask, 2 s of a request every millisecond.
    let evil = attacker(Ipv4Addr::new(127, 0, 0, 2), None);
    let counting = Arc::new(Mutex::new((0usize, 0usize)));
    let counter = {
        let counting = counting.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until {
                if let Ok((n, _)) = listener.recv_from(&mut buffer) {
                    match Datagram::decode(&buffer[..n]) {
                        Ok(d) if d.sender == victim_id && matches!(d.body, Body::Repair { .. }) => counting.lock().unwrap().0 += n,
                        Ok(d) if d.sender == victim_id && matches!(d.body, Body::Nack { .. }) => counting.lock().unwrap().1 += n,
                        _ => {}
                    }
                }
            }
        })
    };
    let nack = datagram(9, 0, Body::Nack { target: victim_id, seqs: (1..=100).collect() });
    let started = Instant::now();
    let mut asked = 0;
    while started.elapsed() < Duration::from_secs(2) {
        evil.send_to(&nack, SocketAddr::V4(g)).unwrap();
        asked += nack.len();
        std::thread::sleep(Duration::from_millis(1));
    }
    // And two forged announcements claiming a long history.
    let announces = [datagram(77, 5_000, Body::Announce), datagram(77, 4_000_000, Body::Announce)];
    for a in &announces {
        evil.send_to(a, SocketAddr::V4(g)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    counter.join().unwrap();
    let (repaired, requests) = *counting.lock().unwrap();
    let repair_ratio = repaired as f64 / asked as f64;
    let announce_bytes: usize = announces.iter().map(Vec::len).sum();
    let request_ratio = requests as f64 / announce_bytes as f64;
    println!("repairs: {asked} bytes asked, {repaired} sent (x{repair_ratio:.2}); forged announcements: {announce_bytes} bytes, {requests} bytes of requests (x{request_ratio:.1})");
    assert!(repaired > 0, "honest repair still works");
    // Four bytes of repair per byte asked, plus the trickle everyone shares (128 KiB a second
    // over the three seconds counted, and its burst).
    assert!(repaired <= 4 * asked + 4 * 128 * 1024, "x{repair_ratio:.2}");
    assert!(request_ratio <= 12.0, "x{request_ratio:.1}");
    assert!(victim.alive());
}

/// Start `lanmeet serve` with at most `descriptors` open files.
fn relay_with_descriptors(port: u16, descriptors: u64) -> Process {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_lanmeet"));
    command.args(["serve", "--no-tls", "--plain-listen", &format!("127.0.0.1:{port}"), "--max-per-ip", "0"]).stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: descriptors, rlim_max: descriptors };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let process = Process::collect(command.spawn().expect("lanmeet serve starts"));
    process.wait_for_line("that it listens", |l| l.contains("listening"));
    process
}

#[test]
fn the_relay_outlives_running_out_of_descriptors() {
    let port = common::free_port();
    let mut relay = relay_with_descriptors(port, 64);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut regular = Raw::join(addr, "regular", "#lobby");
    // Far more connections than descriptors, until the backlog is full too and connecting
    // times out: the listener then has nothing new to report, whatever frees up later.
    let mut hogs = Vec::new();
    let mut timeouts = 0;
    while timeouts < 3 && hogs.len() < 1000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => hogs.push(stream),
            Err(_) => timeouts += 1,
        }
    }
    assert!(hogs.len() > 64, "{} connections", hogs.len());
    std::thread::sleep(Duration::from_millis(300));
    // Those already in are served all along.
    let asked = Instant::now();
    regular.send("PING :still-there");
    regular.expect(|m| m.command == "PONG");
    let round_trip = asked.elapsed();
    // Once descriptors are free again, newcomers get in without a restart.
    let hog_count = hogs.len();
    drop(hogs);
    let deadline = Instant::now() + PATIENCE;
    let newcomer = loop {
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            drop(stream);
            let mut raw = Raw::join(addr, "newcomer", "#lobby");
            raw.send("PRIVMSG #lobby :made it");
            break raw;
        }
        assert!(Instant::now() < deadline, "the relay never accepted again");
    };
    regular.expect(|m| m.command == "PRIVMSG" && m.params.last().is_some_and(|t| t == "made it"));
    drop(newcomer);
    println!("relay with 64 descriptors and {hog_count} connections: PING answered in {round_trip:?}");
    assert!(round_trip < Duration::from_secs(2), "{round_trip:?}");
    assert!(relay.alive());
}

#[test]
fn one_request_line_gets_a_bounded_answer_from_the_relay() {
    let port = common::free_port();
    let relay = relay_with_descriptors(port, 4096);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let members: Vec<Raw> = (0..60).map(|i| Raw::join(addr, &format!("member{i:02}"), "#lobby")).collect();
    let mut asker = Raw::join(addr, "asker", "#lobby");
    asker.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    while asker.next().is_some() {}
    let line = format!("NAMES {}\r\n", vec!["#lobby"; 70].join(","));
    let mut asked = 0;
    for _ in 0..30 {
        asker.send_bytes(line.as_bytes());
        asked += line.len();
    }
    let mut answered = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match asker.next() {
            Some(m) => answered += m.to_wire().len(),
            None => break,
        }
    }
    // Someone else is answered at once meanwhile.
    let mut other = Raw::join(addr, "other", "#quiet");
    let pinged = Instant::now();
    other.send("PING :x");
    other.expect(|m| m.command == "PONG");
    let round_trip = pinged.elapsed();
    let ratio = answered as f64 / asked as f64;
    println!("30 NAMES lines of 70 targets: {asked} bytes asked, {answered} answered within 3 s (x{ratio:.1}); PING {round_trip:?}");
    assert!(ratio < 10.0, "x{ratio:.1}");
    assert!(round_trip < Duration::from_millis(500));
    drop((members, relay));
}

fn rtp(ssrc: u32, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    lanmeet::proto::rtp::packet::Header { marker, payload_type: 96, sequence, timestamp, ssrc, ..Default::default() }.write(payload)
}

fn headless(g: SocketAddrV4, nick: &str, camera: &str) -> Process {
    Process::start(&[
        "conference", "--headless", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0",
        "--nick", nick, "--camera", camera, "--size", "320x240", "--mic", "off", "--duration", "40",
    ])
}

/// The newest stats line of a headless peer.
fn latest_stats(p: &Process) -> serde_json::Value {
    let lines = p.lines.lock().unwrap();
    lines.iter().rev().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|v| v["type"] == "stats").unwrap_or_default()
}

/// One keyframe of the test pattern as RTP payloads.
fn keyframe_payloads() -> Vec<Vec<u8>> {
    use lanmeet::media::codec::{EncoderSettings, H264Encoder, VideoEncoder};
    let mut encoder = H264Encoder::new(EncoderSettings::default()).unwrap();
    let picture = lanmeet::media::pattern::TestPattern::new(640, 480, "x").render(0, "00:00:00");
    let encoded = encoder.encode(&picture, true).unwrap();
    lanmeet::proto::rtp::h264::Packetizer { max_payload: 1160 }.packetize(&encoded.data)
}

#[test]
fn forged_media_neither_bloats_a_participant_nor_drops_an_honest_one() {
    let g = video_group(82);
    let mut victim = headless(g, "victim", "off");
    let honest = headless(g, "honest", "test");
    let honest_ssrc = victim
        .wait_for_line("the honest participant", |l| l.contains("\"participant\"") && l.contains("\"honest\""))
        .split("\"ssrc\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse::<u32>().ok()))
        .expect("an ssrc");
    let evil = attacker(Ipv4Addr::new(127, 0, 0, 2), None);
    let rtp_to = SocketAddr::V4(g);
    let rtcp_to = SocketAddr::V4(SocketAddrV4::new(*g.ip(), g.port() + 1));
    let before = victim.peak_mib();
    let started = victim.cpu();
    // A frame that never ends: 60 MB under one timestamp, no marker.
    let chunk = [&[0x61u8, 0x88][..], &[0x42; 1100][..]].concat();
    for i in 0..55_000u32 {
        evil.send_to(&rtp(0xBAD0_0001, i as u16, 1234, false, &chunk), rtp_to).unwrap();
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // A real keyframe replayed under 300 sources.
    let keyframe = keyframe_payloads();
    for ssrc in 0..300u32 {
        for (i, payload) in keyframe.iter().enumerate() {
            evil.send_to(&rtp(0xBAD1_0000 + ssrc, i as u16, 90_000, i + 1 == keyframe.len(), payload), rtp_to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // A goodbye in the honest participant's name every 200 ms for 3 s.
    let bye = lanmeet::proto::rtp::rtcp::write(&[lanmeet::proto::rtp::rtcp::Rtcp::Bye { sources: vec![honest_ssrc] }]);
    for _ in 0..15 {
        evil.send_to(&bye, rtcp_to).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1200));
    let stats = latest_stats(&victim);
    let peers = stats["peers"].as_array().cloned().unwrap_or_default();
    let honest_fps = peers.iter().find(|p| p["nick"] == "honest").and_then(|p| p["fps"].as_f64()).unwrap_or(0.0);
    let cpu = victim.cpu() - started;
    let peak = victim.peak_mib();
    println!("conference under forged media: {} sources followed, honest at {honest_fps} fps, peak {before:.0} -> {peak:.0} MiB, {cpu:?} CPU", peers.len());
    assert!(victim.alive());
    assert!(peers.len() <= lanmeet::app::conference::MAX_VIDEO_SOURCES, "{} sources", peers.len());
    assert!(honest_fps >= 10.0, "the honest picture fell to {honest_fps} fps: {stats}");
    assert!(peak - before < 300.0, "grew by {:.0} MiB", peak - before);
    assert!(!victim.lines.lock().unwrap().iter().any(|l| l.contains("\"left\"") && l.contains("\"honest\"")), "a forged goodbye counted");
    drop(honest);
}

#[test]
fn forged_reports_do_not_lock_out_a_new_camera() {
    use lanmeet::proto::rtp::rtcp::{self, Rtcp};
    let g = video_group(83);
    let victim = headless(g, "victim", "off");
    victim.wait_for_line("a first report", |l| l.contains("\"stats\""));
    let evil = attacker(Ipv4Addr::new(127, 0, 0, 2), None);
    let rtcp_to = SocketAddr::V4(SocketAddrV4::new(*g.ip(), g.port() + 1));
    let forge = |round: u32| {
        for ssrc in 0..20u32 {
            let report = Rtcp::SourceDescription { ssrc: 0xFA4E_0000 + ssrc, cname: format!("{ssrc}@x"), name: Some(format!("ghost{round}")), note: None, signed: None };
            evil.send_to(&rtcp::write(&[report]), rtcp_to).unwrap();
        }
    };
    for round in 0..5 {
        forge(round);
        std::thread::sleep(Duration::from_millis(300));
    }
    // Every place is held by a source that only ever sent reports; a camera still gets in.
    let late = headless(g, "late", "test");
    let deadline = Instant::now() + PATIENCE;
    let mut round = 5;
    loop {
        forge(round);
        round += 1;
        let stats = latest_stats(&victim);
        let fps = stats["peers"].as_array().and_then(|peers| peers.iter().find(|p| p["nick"] == "late")).and_then(|p| p["fps"].as_f64());
        if fps.is_some_and(|f| f >= 10.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the late camera never got in: {stats}");
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(late);
}
