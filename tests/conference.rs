//! The video conference on loopback multicast (IP_MULTICAST_IF 127.0.0.1, TTL 0): real
//! sockets, the real H.264 codec and synthetic cameras, in this process and as headless
//! `lanmeet conference` processes; and a decoder no lanmeet code wrote (ffmpeg) reading our
//! stream from the SDP description.

mod common;

use common::video_group;
use crossbeam_channel::{unbounded, Receiver};
use lanmeet::app::conference::{self, cname_of, CameraChoice, ConferenceConfig, ConferenceEvent, ConferenceHandle, DeviceKind, DeviceState, Stats, Tap};
use lanmeet::app::conference::audio::{AudioTap, MicChoice, SpeakerChoice};
use lanmeet::media::audio::{best_correlation, energy};
use lanmeet::media::frame::{psnr_y, Frame};
use lanmeet::net::identity::KnownPeers;
use lanmeet::proto::mchat::seal::{fingerprint, Signer};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Mean luma PSNR a received picture must reach against the one sent: 640x480 at 1.5 Mbit/s of
/// a noisy moving pattern. The codec measures some 36-38 dB here; 33 dB leaves room for a busy
/// machine without letting a broken picture through (a wrong or shifted frame scores below 20).
const PSNR_FLOOR: f64 = 33.0;

struct Party {
    handle: Option<ConferenceHandle>,
    events: Receiver<ConferenceEvent>,
    taps: Receiver<Tap>,
}

/// Video only (the audio tests below add it).
fn loopback(group: SocketAddrV4, nick: &str) -> ConferenceConfig {
    ConferenceConfig { interface: Ipv4Addr::LOCALHOST, ttl: 0, display: false, audio: false, ..ConferenceConfig::new(group, nick) }
}

fn join(mut config: ConferenceConfig) -> Party {
    let (tap_tx, taps) = crossbeam_channel::bounded(4096);
    config.tap = Some(tap_tx);
    let (tx, events) = unbounded();
    let handle = conference::spawn(config, Arc::new(move |e| {
        let _ = tx.send(e);
    }))
    .expect("join the conference");
    Party { handle: Some(handle), events, taps }
}

impl Party {
    fn ssrc(&self) -> u32 {
        self.handle.as_ref().unwrap().ssrc
    }

    /// The next statistics report that satisfies `accept`, within `limit`.
    fn stats_until(&self, limit: Duration, accept: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ConferenceEvent::Stats(stats)) if accept(&stats) => return stats,
                Ok(ConferenceEvent::Error(e)) => panic!("conference error: {e}"),
                Ok(_) => {}
                Err(_) => panic!("no such statistics within {limit:?}"),
            }
        }
    }

    fn sent(&self) -> HashMap<u32, Frame> {
        self.taps.try_iter().filter_map(|t| if let Tap::Sent { timestamp, frame } = t { Some((timestamp, frame)) } else { None }).collect()
    }
}

/// Splits taps into (frames sent by this party, frames decoded by it as (ssrc, timestamp, frame)).
fn drain(party: &Party) -> (HashMap<u32, Frame>, Vec<(u32, u32, Frame)>) {
    let (mut sent, mut decoded) = (HashMap::new(), Vec::new());
    for tap in party.taps.try_iter() {
        match tap {
            Tap::Sent { timestamp, frame } => {
                sent.insert(timestamp, frame);
            }
            Tap::Decoded { ssrc, timestamp, frame } => decoded.push((ssrc, timestamp, frame)),
        }
    }
    (sent, decoded)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

#[test]
fn two_parties_see_each_other_at_full_quality() {
    let g = video_group(1);
    let a = join(loopback(g, "alice"));
    let b = join(loopback(g, "鲍勃"));
    // Garbage on both ports changes nothing.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    junk.set_multicast_ttl_v4(0).unwrap();
    for port in [g.port(), g.port() + 1] {
        for bytes in [&b"hello"[..], &[0x80; 40][..], &[0xff; 1300][..]] {
            junk.send_to(bytes, (*g.ip(), port)).unwrap();
        }
    }
    // Three seconds of video each way.
    let deadline = Duration::from_secs(15);
    let report_a = a.stats_until(deadline, |s| s.t >= 3.0 && s.peers.iter().any(|p| p.nick == "鲍勃"));
    let report_b = b.stats_until(deadline, |s| s.t >= 3.0 && s.peers.iter().any(|p| p.nick == "alice"));
    for (report, other) in [(&report_a, "鲍勃"), (&report_b, "alice")] {
        let peer = report.peers.iter().find(|p| p.nick == other).unwrap();
        assert!(peer.fps >= 25.0, "{report:?}");
        assert_eq!((peer.decode_errors, peer.lost), (0, 0), "{report:?}");
        assert!(!peer.stalled);
        assert!((1000.0..2000.0).contains(&peer.kbps), "{report:?}");
        let latency = peer.latency_ms_p95.expect("latency known after a sender report");
        assert!(latency > 0.0 && latency < 1000.0, "{report:?}");
        assert!(report.sent.kbps > 1000.0 && report.sent.kbps < 2000.0, "{report:?}");
    }
    let (ssrc_a, ssrc_b) = (a.ssrc(), b.ssrc());
    let (sent_a, decoded_a) = drain(&a);
    let (sent_b, decoded_b) = drain(&b);
    for (sent, decoded, sender) in [(&sent_a, &decoded_b, ssrc_a), (&sent_b, &decoded_a, ssrc_b)] {
        let scores: Vec<f64> = decoded
            .iter()
            .filter(|(ssrc, ..)| *ssrc == sender)
            .filter_map(|(_, ts, frame)| sent.get(ts).map(|original| psnr_y(original, frame)))
            .collect();
        assert!(scores.len() >= 60, "only {} decoded frames matched a sent one", scores.len());
        let worst = scores.iter().copied().fold(f64::INFINITY, f64::min);
        println!("PSNR over {} frames: mean {:.1} dB, worst {worst:.1} dB", scores.len(), mean(&scores));
        assert!(mean(&scores) >= PSNR_FLOOR, "mean PSNR {:.1} dB", mean(&scores));
        assert!(worst >= PSNR_FLOOR - 5.0, "worst frame {worst:.1} dB");
    }
    // Leaving says goodbye: the other side hears it at once, not after a timeout.
    let mut a = a;
    let left_at = Instant::now();
    a.handle.take().unwrap().stop();
    loop {
        match b.events.recv_timeout(Duration::from_secs(3)) {
            Ok(ConferenceEvent::Left { nick, .. }) => {
                assert_eq!(nick, "alice");
                break;
            }
            Ok(_) => {}
            Err(_) => panic!("no goodbye from alice"),
        }
    }
    assert!(left_at.elapsed() < Duration::from_secs(2));
    let summary = a.events.try_iter().find_map(|e| if let ConferenceEvent::Stopped(s) = e { Some(s) } else { None }).unwrap();
    assert!(summary.frames_sent >= 80 && summary.frames_received >= 80, "{summary:?}");
}

#[test]
fn after_a_burst_of_loss_one_keyframe_request_repairs_the_picture() {
    let g = video_group(2);
    let sender = join(loopback(g, "sender"));
    // The receiver loses everything for 150 ms, two seconds in (between the sender's keyframes,
    // which come every two seconds: only a request brings the next one early).
    let mut config = loopback(g, "receiver");
    config.drop_window = Some((Duration::from_millis(2900), Duration::from_millis(150)));
    let receiver = join(config);
    // Every report of the receiver until five seconds in.
    let mut reports = Vec::new();
    while reports.last().is_none_or(|r: &Stats| r.t < 5.0) {
        reports.push(receiver.stats_until(Duration::from_secs(15), |_| true));
    }
    let sent = sender.sent();
    let (_, decoded) = drain(&receiver);
    let last = reports.last().unwrap();
    let peer = last.peers.iter().find(|p| p.nick == "sender").unwrap();
    assert!(peer.lost > 0, "the loss was injected: {last:?}");
    assert_eq!(peer.decode_errors, 0);
    // Pictures decoded, in capture order (RTP timestamps, 90 kHz).
    let first = decoded[0].1;
    let mut times: Vec<u32> = decoded.iter().map(|(_, ts, _)| ts.wrapping_sub(first)).collect();
    times.sort();
    let longest = times.windows(2).map(|w| f64::from(w[1] - w[0]) / 90.0).fold(0.0, f64::max);
    let requests: u64 = reports.iter().flat_map(|r| r.peers.iter().map(|p| p.keyframe_requests)).sum();
    println!("longest gap between decoded pictures: {longest:.0} ms; keyframe requests: {requests}");
    // 150 ms lost, then at most a third of a second until the requested keyframe shows.
    assert!(longest >= 100.0, "the loss did not cut the picture ({longest:.0} ms)");
    assert!(longest < 150.0 + 333.0, "picture broken for {longest:.0} ms");
    assert!((1..=2).contains(&requests), "{requests} keyframe requests");
    let answered: u64 = sender.events.try_iter().filter_map(|e| if let ConferenceEvent::Stats(s) = e { Some(s.sent.keyframe_requests) } else { None }).sum();
    assert!(answered >= 1, "the sender never heard the request");
    // Everything decoded, before and after the loss, matches what was sent.
    let scores: Vec<f64> = decoded.iter().filter_map(|(_, ts, f)| sent.get(ts).map(|s| psnr_y(s, f))).collect();
    assert!(scores.len() >= 100, "{} frames compared", scores.len());
    assert!(mean(&scores) >= PSNR_FLOOR, "mean PSNR {:.1}", mean(&scores));
}

#[test]
fn camera_off_and_on_again_is_told_to_the_others() {
    let g = video_group(3);
    let a = join(loopback(g, "a"));
    let b = join(loopback(g, "b"));
    b.stats_until(Duration::from_secs(10), |s| s.peers.iter().any(|p| p.nick == "a" && p.frames > 0));
    a.handle.as_ref().unwrap().set_camera(CameraChoice::Off);
    let off = b.stats_until(Duration::from_secs(10), |s| s.peers.iter().any(|p| p.note == "camera off"));
    let peer = off.peers.iter().find(|p| p.nick == "a").unwrap();
    assert!(!peer.stalled, "a camera switched off is not a stalled stream");
    // A device that is not there: the call goes on, and the others are told.
    a.handle.as_ref().unwrap().set_camera(CameraChoice::Device("/dev/video-lanmeet-absent".into()));
    b.stats_until(Duration::from_secs(10), |s| s.peers.iter().any(|p| p.note.starts_with("camera lost")));
    a.handle.as_ref().unwrap().set_camera(CameraChoice::Test);
    let on = b.stats_until(Duration::from_secs(10), |s| s.peers.iter().any(|p| p.note == "test pattern" && p.frames > 20));
    assert!(on.peers[0].decode_errors == 0, "{on:?}");
    // A changes size mid-call: B keeps decoding, at the new size.
    a.handle.as_ref().unwrap().set_size(320, 240);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no 320x240 picture");
        if let Ok(Tap::Decoded { frame, .. }) = b.taps.recv_timeout(Duration::from_secs(1)) {
            if frame.width == 320 && frame.height == 240 {
                break;
            }
        }
    }
}

fn headless(g: SocketAddrV4, nick: &str, seconds: u32, size: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["conference", "--headless", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0"])
        .args(["--nick", nick, "--camera", "test", "--size", size, "--duration", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lanmeet conference --headless")
}

/// ALSA devices that fail during a call, defined for one process through ALSA_CONFIG_PATH
/// with alsa-lib's own `file` plugin over its `null` device:
/// - `lanmeet_full` plays into /dev/full, so its writes fail (EIO) once the stream runs, as a
///   card that was unplugged does;
/// - `lanmeet_stall` captures through a FIFO that gives three seconds of sound and then nothing,
///   so its stream stops calling back, as a device stuck on unplugging does. (Three, so that
///   sound still comes after a slow start on a busy machine.)
struct FailingDevices {
    dir: std::path::PathBuf,
    /// Closing this lets a stalled capture go.
    release: Option<crossbeam_channel::Sender<()>>,
}

impl FailingDevices {
    fn new(name: &str) -> FailingDevices {
        let dir = std::env::temp_dir().join(format!("lanmeet-alsa-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("mic.fifo");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let conf = format!(
            "pcm.lanmeet_full {{ type file slave.pcm \"null\" file \"/dev/full\" format \"raw\" hint {{ show on description \"fails\" }} }}\n\
             pcm.lanmeet_stall {{ type file slave.pcm \"null\" file \"/dev/null\" infile \"{}\" format \"raw\" hint {{ show on description \"stalls\" }} }}\n",
            fifo.display()
        );
        std::fs::write(dir.join("asound.conf"), conf).unwrap();
        let (release, released) = crossbeam_channel::bounded::<()>(0);
        std::thread::spawn(move || {
            // Opening blocks until the capture opens its end.
            let Ok(mut writer) = std::fs::OpenOptions::new().write(true).open(&fifo) else { return };
            use std::io::Write;
            let _ = writer.write_all(&vec![0u8; 3 * 4 * 48_000]);
            let _ = released.recv();
        });
        FailingDevices { dir, release: Some(release) }
    }

    fn config_path(&self) -> String {
        format!("/usr/share/alsa/alsa.conf:{}", self.dir.join("asound.conf").display())
    }
}

impl Drop for FailingDevices {
    fn drop(&mut self) {
        self.release.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn sound_devices_lost_mid_call_are_reported_and_the_call_goes_on() {
    let g = video_group(8);
    let devices = FailingDevices::new("lost");
    let mut unlucky = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["conference", "--headless", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0"])
        .args(["--nick", "unlucky", "--camera", "test", "--size", "320x240", "--duration", "8"])
        .args(["--mic", "alsa:lanmeet_stall", "--speaker", "alsa:lanmeet_full"])
        .env("ALSA_CONFIG_PATH", devices.config_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut other = headless(g, "other", 8, "320x240");
    let lines = |child: &mut std::process::Child| -> Vec<Value> {
        let out = BufReader::new(child.stdout.take().unwrap());
        let lines = out.lines().map(|l| serde_json::from_str(&l.unwrap()).expect("JSON")).filter(|l: &Value| l["type"] == "stats").collect();
        assert!(child.wait().unwrap().success());
        lines
    };
    let (unlucky_stats, other_stats) = (lines(&mut unlucky), lines(&mut other));
    // The microphone worked at first: what it captured went out.
    assert!(unlucky_stats.iter().any(|s| s["audio"]["packets"].as_u64().unwrap_or(0) > 0), "{unlucky_stats:?}");
    // Both losses are reported, in words.
    let last = unlucky_stats.last().expect("reports");
    let mic = last["audio"]["mic"].as_str().unwrap();
    let speaker = last["audio"]["speaker"].as_str().unwrap();
    assert!(mic.starts_with("microphone lost: the device gave no sign of life"), "{last}");
    assert!(speaker.starts_with("speaker lost: the device stopped"), "{last}");
    // And the call goes on both ways: at the end each still gets the other's picture, and the
    // unlucky one still hears the other.
    let before_end = &unlucky_stats[unlucky_stats.len() - 2];
    let peer = &before_end["peers"][0];
    assert!(peer["fps"].as_f64().unwrap() >= 15.0, "{before_end}");
    assert!(before_end["audio"]["peers"][0]["packets"].as_u64().unwrap() >= 40, "{before_end}");
    let seen = &other_stats[other_stats.len() - 2]["peers"][0];
    assert!(seen["fps"].as_f64().unwrap() >= 15.0, "{seen}");
    assert_eq!(seen["nick"], "unlucky");
}

#[test]
fn four_headless_peers_each_receive_the_other_three() {
    let g = video_group(4);
    let nicks = ["p1", "p2", "p3", "参加者"];
    // 320x240 keeps four encoders and twelve decoders within this machine's two cores while
    // other tests run.
    let children: Vec<_> = nicks.iter().map(|n| headless(g, n, 6, "320x240")).collect();
    for (nick, mut child) in nicks.iter().zip(children) {
        let lines: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map(|l| serde_json::from_str(&l.unwrap()).expect("every line is JSON"))
            .collect();
        assert!(child.wait().unwrap().success());
        let stats: Vec<&Value> = lines.iter().filter(|l| l["type"] == "stats").collect();
        assert!(stats.len() >= 5, "{nick}: {} reports", stats.len());
        // In the last full second (before the first peer stops), each of the other three is
        // received at frame rate, cleanly.
        let last = stats[stats.len() - 2];
        let peers = last["peers"].as_array().unwrap();
        let mut names: Vec<&str> = peers.iter().map(|p| p["nick"].as_str().unwrap()).collect();
        names.sort();
        let mut expected: Vec<&str> = nicks.iter().copied().filter(|n| n != nick).collect();
        expected.sort();
        assert_eq!(names, expected, "{nick}: {last}");
        for peer in peers {
            assert!(peer["fps"].as_f64().unwrap() >= 15.0, "{nick}: {peer}");
            // Lip sync: their sound and picture arrive within 80 ms of each other.
            let offset = peer["av_offset_ms"].as_f64().expect("both latencies known");
            assert!(offset.abs() < 80.0, "{nick}: {peer}");
            assert_eq!(peer["decode_errors"], 0, "{nick}: {peer}");
            assert_eq!(peer["stalled"], false, "{nick}: {peer}");
        }
        // Their sound trails their picture by the audio's jitter buffer: pictures are held back
        // to meet it.
        assert!(peers.iter().any(|p| p["sync_delay_ms"].as_u64().unwrap() > 0), "{nick}: {last}");
        assert!(last["sent"]["frames"].as_u64().unwrap() >= 20, "{nick}: {last}");
        // And each hears the other three.
        let voices = last["audio"]["peers"].as_array().map_or(0, |p| p.iter().filter(|v| v["packets"].as_u64().unwrap_or(0) >= 40).count());
        assert_eq!(voices, 3, "{nick}: {last}");
        let summary = lines.iter().find(|l| l["type"] == "summary").expect("a summary at the end");
        assert_eq!(summary["decode_errors"], 0, "{summary}");
        assert!(summary["frames_received"].as_u64().unwrap() >= 3 * 100, "{summary}");
    }
}

/// What ffprobe reads in 3 s of the session an SDP file describes: each stream's codec, size
/// and decoded frames, and what it complained of.
fn ffprobe(sdp: &std::path::Path) -> (Value, String) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-protocol_whitelist", "file,udp,rtp,srtp", "-count_frames"])
        .args(["-read_intervals", "%+3", "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json"])
        .arg(sdp)
        .output()
        .expect("ffprobe from Debian's ffmpeg package (scripts/setup test installs it)");
    (serde_json::from_slice(&out.stdout).unwrap_or(Value::Null), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn ffmpeg_decodes_our_stream_from_the_sdp_description() {
    let g = video_group(5);
    let sdp = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["conference", "--sdp", "--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0"])
        .output()
        .unwrap();
    assert!(sdp.status.success());
    let text = String::from_utf8(sdp.stdout).unwrap();
    assert!(text.contains(&format!("m=video {} RTP/AVP 96", g.port())), "{text}");
    let dir = std::env::temp_dir().join(format!("lanmeet-sdp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("conference.sdp");
    std::fs::write(&path, &text).unwrap();
    // The description carries the parameter sets: a player that joins between two keyframes
    // (the call has been on for 1.2 s) decodes without a complaint, from the next keyframe on,
    // at most 0.4 s later.
    assert!(text.contains(";sprop-parameter-sets="), "{text}");
    let mut peer = headless(g, "camera", 12, "640x480");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let (report, errors) = ffprobe(&path);
    assert!(errors.trim().is_empty(), "ffprobe complained: {errors}");
    let _ = peer.kill();
    let _ = peer.wait();
    let stream = &report["streams"][0];
    assert_eq!(stream["codec_name"], "h264", "{report} {errors}");
    assert_eq!((stream["width"].as_u64(), stream["height"].as_u64()), (Some(640), Some(480)));
    let frames: u64 = stream["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
    // Three seconds read, less the wait for the first keyframe: within half a second.
    assert!(frames >= 75, "ffprobe decoded {frames} frames of 90: {report}");
}

/// Correlation floors for what a participant hears of another against what was said (Opus at
/// 32 kbit/s keeps this voice's waveform near 0.97 when nothing is lost; with 10 % loss FEC and
/// concealment keep it near 0.95).
const AUDIO_FLOOR: f32 = 0.85;
const AUDIO_FLOOR_LOSSY: f32 = 0.75;

/// A participant with the synthetic voice at `pitch` Hz, no camera, and no speaker device.
fn join_audio(g: SocketAddrV4, nick: &str, pitch: f32, loss: f64) -> (Party, Receiver<AudioTap>) {
    let (tx, rx) = crossbeam_channel::bounded(100_000);
    let config = ConferenceConfig {
        audio: true,
        camera: CameraChoice::Off,
        mic: MicChoice::Test,
        speaker: SpeakerChoice::Null,
        voice_pitch: pitch,
        drop_incoming: loss,
        audio_tap: Some(tx),
        ..loopback(g, nick)
    };
    (join(config), rx)
}

/// For each (listener, speaker) pair: correlation and energy ratio of what was heard against
/// what was said, over the frames both sides have.
fn heard(parties: &[(Party, Receiver<AudioTap>)]) -> Vec<(usize, usize, f32, f32)> {
    let mut said: Vec<HashMap<u32, Vec<f32>>> = vec![HashMap::new(); parties.len()];
    let mut played: Vec<Vec<(String, u32, Vec<f32>)>> = vec![Vec::new(); parties.len()];
    for (i, (_, taps)) in parties.iter().enumerate() {
        for tap in taps.try_iter() {
            match tap {
                AudioTap::Sent { timestamp, samples } => {
                    said[i].insert(timestamp, samples);
                }
                AudioTap::Played { cname, timestamp, samples, .. } => played[i].push((cname, timestamp, samples)),
            }
        }
    }
    let mut out = Vec::new();
    for listener in 0..parties.len() {
        for speaker in (0..parties.len()).filter(|s| *s != listener) {
            let cname = cname_of(parties[speaker].0.ssrc());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut frames: Vec<&(String, u32, Vec<f32>)> = played[listener].iter().filter(|(c, ..)| *c == cname).collect();
            frames.sort_by_key(|(_, ts, _)| *ts);
            for (_, ts, samples) in frames {
                if let Some(original) = said[speaker].get(ts) {
                    a.extend_from_slice(original);
                    b.extend_from_slice(samples);
                }
            }
            assert!(a.len() >= 48_000, "party {listener} heard {} samples of party {speaker}", a.len());
            let (correlation, _) = best_correlation(&a, &b, 960);
            out.push((listener, speaker, correlation, energy(&b) / energy(&a)));
        }
    }
    out
}

/// Statistics of `party` until one satisfies `accept`; panics if a participant leaves (or
/// joins again) on the way, which a restarted call would show.
fn steady_stats_until(party: &Party, limit: Duration, accept: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + limit;
    loop {
        match party.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(ConferenceEvent::Stats(stats)) if accept(&stats) => return stats,
            Ok(ConferenceEvent::Left { nick, .. }) => panic!("{nick} left the call"),
            Ok(_) => {}
            Err(_) => panic!("no such statistics within {limit:?}"),
        }
    }
}

#[test]
fn the_microphone_and_speaker_change_during_a_call_without_restarting_it() {
    let g = video_group(10);
    let (a, _a_sound) = join_audio(g, "a", 220.0, 0.0);
    let (b, _b_sound) = join_audio(g, "b", 330.0, 0.0);
    assert!(a.handle.as_ref().unwrap().set_camera(CameraChoice::Test));
    let a_ssrc = a.ssrc();
    let hears_a = |s: &Stats, packets: u64| s.audio.as_ref().and_then(|au| au.peer(&cname_of(a_ssrc), None)).is_some_and(|p| p.packets >= packets);
    let sees_a = |s: &Stats| s.peers.iter().any(|p| p.ssrc == a_ssrc && p.fps >= 10.0);
    steady_stats_until(&b, Duration::from_secs(10), |s| hears_a(s, 40) && sees_a(s));

    // The microphone off: b hears nothing of a, and still sees a.
    a.handle.as_ref().unwrap().set_sound(Some(MicChoice::Off), None);
    steady_stats_until(&a, Duration::from_secs(5), |s| s.audio.as_ref().is_some_and(|au| au.mic == DeviceState::Off && au.packets == 0));
    steady_stats_until(&b, Duration::from_secs(5), |s| !hears_a(s, 1) && sees_a(s));

    // On again: the same participant speaks again.
    a.handle.as_ref().unwrap().set_sound(Some(MicChoice::Test), None);
    let again = steady_stats_until(&b, Duration::from_secs(5), |s| hears_a(s, 40) && sees_a(s));
    let voice = again.audio.as_ref().and_then(|au| au.peer(&cname_of(a_ssrc), None)).unwrap();
    assert!(voice.speaking, "{voice:?}");

    // A speaker that cannot be opened is reported, and the call goes on; then none again.
    a.handle.as_ref().unwrap().set_sound(None, Some(SpeakerChoice::Device("lanmeet-no-such-speaker".into())));
    let missing = steady_stats_until(&a, Duration::from_secs(5), |s| s.audio.as_ref().is_some_and(|au| au.speaker.failed()));
    let words = missing.audio.as_ref().unwrap().speaker.describe(DeviceKind::Speaker);
    assert!(words.starts_with("no speaker: "), "{words}");
    a.handle.as_ref().unwrap().set_sound(None, Some(SpeakerChoice::Null));
    steady_stats_until(&a, Duration::from_secs(5), |s| s.audio.as_ref().is_some_and(|au| au.speaker == DeviceState::Off && au.peers.iter().any(|p| p.packets >= 40)));
    steady_stats_until(&b, Duration::from_secs(5), |s| hears_a(s, 40) && sees_a(s));
    assert_eq!(a.ssrc(), a_ssrc);
}

#[test]
fn four_parties_hear_each_other_clearly() {
    let g = video_group(6);
    let pitches = [110.0, 150.0, 190.0, 230.0];
    let parties: Vec<_> = pitches.iter().enumerate().map(|(i, p)| join_audio(g, &format!("voice{i}"), *p, 0.0)).collect();
    let report = parties[0].0.stats_until(Duration::from_secs(15), |s| s.t >= 4.0);
    let audio = report.audio.expect("audio statistics");
    assert_eq!(audio.peers.len(), 3, "{audio:?}");
    for peer in &audio.peers {
        assert!(peer.packets >= 45, "{peer:?}");
        let latency = peer.latency_ms_p50.expect("latency once a sender report arrived");
        // 20 ms of packetisation at least; the benchmark measures it on a quiet machine.
        assert!(latency > 20.0 && latency < 300.0, "{peer:?}");
    }
    assert!(audio.kbps > 15.0 && audio.kbps <= 40.0, "{audio:?}");
    for (listener, speaker, correlation, ratio) in heard(&parties) {
        println!("party {listener} hears {speaker}: correlation {correlation:.3}, energy ratio {ratio:.2}");
        assert!(correlation > AUDIO_FLOOR, "party {listener} hears {speaker} at {correlation}");
        assert!((0.5..2.0).contains(&ratio), "party {listener} hears {speaker} at energy ratio {ratio}");
    }
}

#[test]
fn ten_percent_loss_is_concealed() {
    let g = video_group(7);
    let parties = vec![join_audio(g, "a", 120.0, 0.10), join_audio(g, "b", 200.0, 0.10)];
    let mut repaired = 0;
    for _ in 0..4 {
        let report = parties[0].0.stats_until(Duration::from_secs(15), |s| s.audio.as_ref().is_some_and(|a| !a.peers.is_empty()));
        let peer = &report.audio.unwrap().peers[0];
        repaired += peer.recovered + peer.concealed;
    }
    assert!(repaired > 5, "nothing was recovered or concealed");
    for (listener, speaker, correlation, ratio) in heard(&parties) {
        println!("with 10 % loss, party {listener} hears {speaker}: correlation {correlation:.3}, energy ratio {ratio:.2}");
        assert!(correlation > AUDIO_FLOOR_LOSSY, "party {listener} hears {speaker} at {correlation}");
        assert!((0.4..2.0).contains(&ratio), "energy ratio {ratio}");
    }
}

/// Every packet sent to the video's RTP and RTCP ports, as a program that joined the group
/// would get it.
fn overhear_video(g: SocketAddrV4) -> (Arc<std::sync::Mutex<Vec<Vec<u8>>>>, Arc<std::sync::atomic::AtomicBool>) {
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for port in [g.port(), g.port() + 1] {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP)).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_reuse_port(true).unwrap();
        socket.bind(&std::net::SocketAddr::from((*g.ip(), port)).into()).unwrap();
        socket.join_multicast_v4(g.ip(), &Ipv4Addr::LOCALHOST).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let socket: UdpSocket = socket.into();
        let (sink, done) = (heard.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buffer) {
                    sink.lock().unwrap().push(buffer[..n].to_vec());
                }
            }
        });
    }
    (heard, stop)
}

/// Whether a packet carries H.264's sequence parameter set of our profile (constrained
/// baseline) in the clear.
fn clear_sps(packet: &[u8]) -> bool {
    packet.len() > 16 && packet[12..15] == [0x67, 0x42, 0xc0]
}

#[test]
fn an_encrypted_call_is_seen_and_heard_only_with_its_passphrase() {
    let g = video_group(9);
    let (heard, stop) = overhear_video(g);
    let with = |nick: &str, pitch: f32, passphrase: &str| {
        let mut config = ConferenceConfig { audio: true, mic: MicChoice::Test, speaker: SpeakerChoice::Null, voice_pitch: pitch, ..loopback(g, nick) };
        config.set_passphrase(passphrase);
        join(config)
    };
    // Names long enough that ciphertext does not hold them by chance.
    let a = with("参会者甲号", 150.0, "同一个口令");
    let b = with("参会者乙号", 220.0, "同一个口令");
    let outsider = with("参会者丙号", 300.0, "另一个口令");
    let deadline = Duration::from_secs(20);
    let seen = |s: &Stats, nick: &str| s.peers.iter().any(|p| p.nick == nick && p.frames > 0);
    let heard_of = |s: &Stats, nick: &str| s.audio.as_ref().is_some_and(|a| a.peers.iter().any(|p| p.nick == nick && p.packets > 20));
    let report = a.stats_until(deadline, |s| s.t >= 3.0 && seen(s, "参会者乙号") && heard_of(s, "参会者乙号"));
    assert!(report.encrypted, "{report:?}");
    b.stats_until(deadline, |s| s.t >= 3.0 && seen(s, "参会者甲号") && heard_of(s, "参会者甲号"));
    // The outsider sees no picture, hears nothing, and counts what it could not open.
    let report = outsider.stats_until(deadline, |s| s.t >= 3.0);
    assert!(report.peers.is_empty(), "{report:?}");
    let audio = report.audio.as_ref().unwrap();
    assert!(audio.peers.is_empty(), "{report:?}");
    assert!(report.unopened > 100 && audio.unopened > 100, "{report:?}");
    assert!(a.stats_until(deadline, |_| true).unopened > 100, "the insiders count the outsider's packets too");
    // Nothing on the wire is a picture in the clear: no parameter set, no payload that decodes.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let packets = heard.lock().unwrap().clone();
    assert!(packets.len() > 200, "{} packets overheard", packets.len());
    assert!(!packets.iter().any(|p| clear_sps(p)), "a parameter set in the clear");
    let nicks = ["参会者甲号", "参会者乙号", "参会者丙号"];
    assert!(!packets.iter().any(|p| nicks.iter().any(|n| p.windows(n.len()).any(|w| w == n.as_bytes()))));
}

#[test]
fn a_plain_call_shows_its_pictures_to_anyone_listening() {
    // The same overhearing on a call without a passphrase finds its pictures: the check above
    // can fail.
    let g = video_group(11);
    let (heard, stop) = overhear_video(g);
    let a = join(loopback(g, "参会者明文"));
    a.stats_until(Duration::from_secs(10), |s| s.t >= 2.0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let heard = heard.lock().unwrap();
    assert!(heard.iter().any(|p| clear_sps(p)));
    assert!(heard.iter().any(|p| p.windows(15).any(|w| w == "参会者明文".as_bytes())), "the name travels in RTCP's SDES");
}

#[test]
fn ffmpeg_decrypts_and_decodes_an_encrypted_call_from_its_sdp() {
    let g = video_group(12);
    let passphrase = [("LANMEET_PASSPHRASE", "只给有口令的人看")];
    let args = ["--multicast", &g.to_string(), "--interface", "127.0.0.1", "--ttl", "0"].map(String::from);
    let sdp = Command::new(env!("CARGO_BIN_EXE_lanmeet")).args(["conference", "--sdp"]).args(&args).envs(passphrase).output().unwrap();
    assert!(sdp.status.success());
    let text = String::from_utf8(sdp.stdout).unwrap();
    assert!(text.contains(&format!("m=video {} RTP/SAVP 96", g.port())), "{text}");
    assert_eq!(text.matches("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:").count(), 2, "{text}");
    let dir = common::scratch("srtp-sdp");
    let path = dir.join("conference.sdp");
    std::fs::write(&path, &text).unwrap();
    let mut peer = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["conference", "--headless"])
        .args(&args)
        .args(["--nick", "camera", "--camera", "test", "--mic", "test", "--duration", "12"])
        .envs(passphrase)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (report, errors) = ffprobe(&path);
    let _ = peer.kill();
    let _ = peer.wait();
    let streams = report["streams"].as_array().unwrap_or_else(|| panic!("{report} {errors}"));
    let frames = |codec: &str| -> u64 {
        let stream = streams.iter().find(|s| s["codec_name"] == codec).unwrap_or_else(|| panic!("no {codec} stream: {report} {errors}"));
        stream["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    assert!(frames("h264") >= 30, "{report} {errors}");
    assert!(frames("opus") >= 50, "{report} {errors}");
}

#[test]
fn a_name_used_with_another_key_in_a_call_is_shown_as_an_impostor() {
    let g = video_group(13);
    let dir = common::scratch("call-pins");
    let real = Arc::new(Signer::generate());
    // The observer met the real 真王 before: the name is pinned to its key.
    let known = KnownPeers::new(dir.join("known_peers"));
    known.pin("真王本人", &real.public()).unwrap();
    let observer_config = ConferenceConfig { known_peers: Some(known), ..loopback(g, "观察者") };
    // With voices: each voice carries its signed name too.
    let talking = |nick: &str, signer: Arc<Signer>, pitch: f32| ConferenceConfig { signer: Some(signer), audio: true, mic: MicChoice::Test, speaker: SpeakerChoice::Null, voice_pitch: pitch, ..loopback(g, nick) };
    let real_party = join(talking("真王本人", real.clone(), 150.0));
    let _fake = join(talking("真王本人", Arc::new(Signer::generate()), 250.0));
    let observer = {
        let mut config = ConferenceConfig { audio: true, mic: MicChoice::Off, speaker: SpeakerChoice::Null, ..observer_config };
        config.known_peers = Some(KnownPeers::new(dir.join("known_peers")));
        join(config)
    };
    let report = observer.stats_until(Duration::from_secs(15), |s| {
        s.peers.len() == 2 && s.peers.iter().all(|p| p.key.is_some()) && s.audio.as_ref().is_some_and(|a| a.peers.len() == 2 && a.peers.iter().all(|v| v.key.is_some()))
    });
    // The real one's voice goes with the real one's picture, by CNAME and key.
    let audio = report.audio.as_ref().unwrap();
    let voice = audio.peer(&cname_of(real_party.ssrc()), Some(&fingerprint(&real.public()))).unwrap_or_else(|| panic!("{report:?}"));
    assert_eq!(voice.nick, "真王本人");
    let genuine = report.peers.iter().find(|p| p.nick == "真王本人").unwrap_or_else(|| panic!("{report:?}"));
    assert!(!genuine.impostor);
    assert_eq!(genuine.key.as_deref(), Some(fingerprint(&real.public()).as_str()));
    let impostor = report.peers.iter().find(|p| p.nick == "impostor of 真王本人").unwrap_or_else(|| panic!("{report:?}"));
    assert!(impostor.impostor);
    assert_ne!(impostor.key, genuine.key);
    // A name nobody pinned is pinned to the first key seen for it, in the observer's file.
    let _new = join(loopback(g, "新来的人"));
    observer.stats_until(Duration::from_secs(15), |s| s.peers.iter().any(|p| p.nick == "新来的人" && p.key.is_some()));
    // (Once it sends pictures: a source that only reports pins nothing.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pins = KnownPeers::new(dir.join("known_peers")).load().unwrap();
        if pins.contains_key("新来的人") {
            break;
        }
        assert!(Instant::now() < deadline, "never pinned: {pins:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
