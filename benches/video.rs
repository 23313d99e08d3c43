//! The video conference on loopback multicast (IP_MULTICAST_IF 127.0.0.1, TTL 0), 640x480 at
//! 30 fps, in one run:
//! 1. the codec alone: bits per second and luma PSNR of the synthetic camera through OpenH264;
//! 2. a 4-party call of `lanmeet conference --headless` processes (1 encoder + 3 decoders each):
//!    CPU per process, bits per second, capture-to-display latency, frames lost;
//! 3. the report's approach at the same size: raw RGB frames in datagrams, 4 parties;
//! 4. GStreamer from Debian doing the same job on the same pictures (two seconds of the
//!    synthetic camera, looped from files): x264enc + rtph264pay + udpsink per party, and
//!    udpsrc + rtph264depay + avdec_h264 for each of the other three.
//!
//! `cargo bench --bench video` (scripts/bench video)

mod common;

use common::{cpu_seconds, group, headless, percentile};
use lanmeet::media::codec::{EncoderSettings, H264Decoder, H264Encoder, VideoDecoder, VideoEncoder};
use lanmeet::media::frame::psnr_y;
use lanmeet::media::pattern::TestPattern;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WIDTH: usize = 640;
const HEIGHT: usize = 480;
const FPS: u32 = 30;
const PARTIES: usize = 4;
/// Seconds each call runs; the first two are not measured (start-up, first keyframes).
const CALL_SECONDS: u64 = 12;
const WARM_UP: Duration = Duration::from_secs(2);

/// Ten seconds of the synthetic camera through the encoder and the decoder.
struct CodecRun {
    kbps: f64,
    mean_psnr: f64,
    worst_psnr: f64,
    /// The largest access unit, bytes (a keyframe).
    largest: usize,
    render_ms: f64,
    encode_ms: f64,
    decode_ms: f64,
}

fn run_codec(settings: EncoderSettings) -> CodecRun {
    let pattern = TestPattern::new(WIDTH, HEIGHT, "bench");
    let mut encoder = H264Encoder::new(settings).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let (mut bytes, mut largest, mut psnr, mut render, mut encode, mut decode) = (0usize, 0usize, Vec::new(), Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let frames = 10 * FPS as u64;
    for n in 0..frames {
        let clock = format!("00:00:{:02}.{:03}", n / 30, (n % 30) * 33);
        let t = Instant::now();
        let source = pattern.render(n, &clock);
        render += t.elapsed();
        let t = Instant::now();
        let encoded = encoder.encode(&source, false).unwrap();
        encode += t.elapsed();
        bytes += encoded.data.len();
        largest = largest.max(encoded.data.len());
        if encoded.data.is_empty() {
            continue;
        }
        let t = Instant::now();
        let decoded = decoder.decode(&encoded.data).unwrap().unwrap();
        decode += t.elapsed();
        psnr.push(psnr_y(&source, &decoded));
    }
    CodecRun {
        kbps: bytes as f64 * 8.0 / 10.0 / 1000.0,
        mean_psnr: psnr.iter().sum::<f64>() / psnr.len() as f64,
        worst_psnr: psnr.iter().copied().fold(f64::INFINITY, f64::min),
        largest,
        render_ms: render.as_secs_f64() * 1000.0 / frames as f64,
        encode_ms: encode.as_secs_f64() * 1000.0 / frames as f64,
        decode_ms: decode.as_secs_f64() * 1000.0 / psnr.len() as f64,
    }
}

fn codec_alone() {
    println!("## Codec alone: synthetic camera (moving pattern, luma noise sigma 2), {WIDTH}x{HEIGHT} at {FPS} fps, 10 s");
    println!();
    println!("| target | kbit/s | mean Y-PSNR | worst Y-PSNR | pattern ms/frame | encode ms/frame | decode ms/frame |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for bitrate in [1_000_000, 1_500_000] {
        let run = run_codec(EncoderSettings { bitrate, ..EncoderSettings::default() });
        println!(
            "| {} | {:.0} | {:.1} dB | {:.1} dB | {:.2} | {:.2} | {:.2} |",
            bitrate / 1000,
            run.kbps,
            run.mean_psnr,
            run.worst_psnr,
            run.render_ms,
            run.encode_ms,
            run.decode_ms
        );
    }
    println!();
}

/// What more frequent keyframes cost (a player that joins waits for the next one): bitrate,
/// picture quality and the largest picture, at 1.5 Mbit/s.
fn keyframe_cost() {
    println!("## Keyframe interval: the wait of a player that joins against the cost, {WIDTH}x{HEIGHT}, 1.5 Mbit/s");
    println!();
    println!("| keyframe every | kbit/s | mean Y-PSNR | worst Y-PSNR | largest picture |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    let mut baseline = None;
    for interval in [2.0, 1.0, 0.5, 0.4] {
        let run = run_codec(EncoderSettings { keyframe_interval: interval, ..EncoderSettings::default() });
        println!("| {interval} s | {:.0} | {:.2} dB | {:.1} dB | {} bytes |", run.kbps, run.mean_psnr, run.worst_psnr, run.largest);
        let base = *baseline.get_or_insert(run.mean_psnr);
        if interval < 2.0 {
            println!("|   against 2 s | | {:+.2} dB | | |", run.mean_psnr - base);
        }
    }
    println!();
}

struct CallResult {
    cpu: Vec<f64>,
    kbps_per_sender: f64,
    latency_p50: f64,
    latency_p95: f64,
    frames_expected: u64,
    frames_received: u64,
}

/// The call of `lanmeet conference --headless` processes; with `passphrase`, over SRTP.
fn lanmeet_call(passphrase: Option<&str>) -> CallResult {
    let g = group(44, if passphrase.is_some() { 2 } else { 1 });
    let mut args = vec!["--mic", "off"];
    if let Some(passphrase) = passphrase {
        args.extend(["--passphrase", passphrase]);
    }
    let mut children: Vec<Child> = (0..PARTIES)
        // Video only, as the other two ways below.
        .map(|i| headless(g, &format!("p{i}"), CALL_SECONDS, &args))
        .collect();
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    std::thread::sleep(WARM_UP);
    let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let measured = Instant::now();
    std::thread::sleep(Duration::from_secs(CALL_SECONDS) - WARM_UP - Duration::from_millis(500));
    let cpu: Vec<f64> = pids.iter().zip(&before).map(|(p, b)| (cpu_seconds(p) - b) / measured.elapsed().as_secs_f64()).collect();
    let (mut kbps, mut latencies, mut received, mut expected) = (Vec::new(), Vec::new(), 0u64, 0.0);
    for child in children.iter_mut() {
        let out = BufReader::new(child.stdout.take().unwrap());
        for line in out.lines().map_while(Result::ok) {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if value["type"] == "stats" && value["t"].as_f64().unwrap_or(0.0) > WARM_UP.as_secs_f64() {
                kbps.push(value["sent"]["kbps"].as_f64().unwrap_or(0.0));
            }
            if value["type"] == "summary" {
                // Frames are counted lost where RTP sequence numbers show a gap.
                received += value["frames_received"].as_u64().unwrap_or(0);
                expected += (value["frames_received"].as_u64().unwrap_or(0) + value["frames_lost"].as_u64().unwrap_or(0)) as f64;
                for key in ["latency_ms_p50", "latency_ms_p95"] {
                    latencies.push((key, value[key].as_f64().unwrap_or(f64::NAN)));
                }
            }
        }
        let _ = child.wait();
    }
    let mean = |key: &str| {
        let v: Vec<f64> = latencies.iter().filter(|(k, _)| *k == key).map(|(_, v)| *v).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    CallResult {
        cpu,
        kbps_per_sender: kbps.iter().sum::<f64>() / kbps.len().max(1) as f64,
        latency_p50: mean("latency_ms_p50"),
        latency_p95: mean("latency_ms_p95"),
        frames_expected: expected.round() as u64,
        frames_received: received,
    }
}

/// The report's way at 640x480: each frame as raw RGB, cut into datagrams of 61,440 bytes
/// (15 a frame, each fragmented by IP), sent to the group; a frame with a piece missing is lost.
fn raw_call() -> CallResult {
    const CHUNK: usize = 61_440;
    let frame_bytes = WIDTH * HEIGHT * 3;
    let chunks = frame_bytes / CHUNK;
    let g = group(44, 2);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut threads = Vec::new();
    for party in 0..PARTIES {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP)).unwrap();
            socket.set_reuse_address(true).unwrap();
            socket.set_reuse_port(true).unwrap();
            socket.bind(&std::net::SocketAddr::from((*g.ip(), g.port())).into()).unwrap();
            socket.join_multicast_v4(g.ip(), &Ipv4Addr::LOCALHOST).unwrap();
            socket.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
            socket.set_multicast_ttl_v4(0).unwrap();
            let _ = socket.set_recv_buffer_size(4 << 20);
            socket.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
            let socket: UdpSocket = socket.into();
            let pattern = TestPattern::new(WIDTH, HEIGHT, &format!("p{party}"));
            let mut frame_no = 0u32;
            let mut next = Instant::now();
            // (sender, frame) -> (pieces seen, time of capture)
            let mut assembling: HashMap<(u8, u32), (usize, u64)> = HashMap::new();
            let mut latencies = Vec::new();
            let mut received = 0u64;
            let mut buffer = vec![0u8; 65536];
            let mut datagram = vec![0u8; CHUNK + 16];
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    next += Duration::from_secs(1) / FPS;
                    let captured = start.elapsed().as_micros() as u64;
                    let rgb = pattern.render(u64::from(frame_no), "00:00:00").to_rgb();
                    for (i, piece) in rgb.chunks(CHUNK).enumerate() {
                        datagram[0] = party as u8;
                        datagram[1] = i as u8;
                        datagram[2..6].copy_from_slice(&frame_no.to_be_bytes());
                        datagram[6..14].copy_from_slice(&captured.to_be_bytes());
                        datagram[16..16 + piece.len()].copy_from_slice(piece);
                        let _ = socket.send_to(&datagram[..16 + piece.len()], g);
                    }
                    frame_no += 1;
                }
                while let Ok(len) = socket.recv(&mut buffer) {
                    if len < 16 || buffer[0] as usize == party {
                        continue;
                    }
                    let key = (buffer[0], u32::from_be_bytes(buffer[2..6].try_into().unwrap()));
                    let captured = u64::from_be_bytes(buffer[6..14].try_into().unwrap());
                    let entry = assembling.entry(key).or_insert((0, captured));
                    entry.0 += 1;
                    if entry.0 == chunks {
                        // "Displayed": converted back from the wire bytes.
                        let _ = &buffer[16..len];
                        if start.elapsed() > WARM_UP {
                            received += 1;
                            latencies.push((start.elapsed().as_micros() as u64 - captured) as f64 / 1000.0);
                        }
                        assembling.remove(&key);
                    }
                    if Instant::now() >= next {
                        break;
                    }
                }
                // Frames two seconds old will not complete any more.
                assembling.retain(|(_, f), _| *f + 60 > frame_no);
            }
            (received, latencies, frame_no)
        }));
    }
    std::thread::sleep(WARM_UP);
    let before = cpu_seconds("self");
    let measured = Instant::now();
    std::thread::sleep(Duration::from_secs(CALL_SECONDS) - WARM_UP);
    let cpu = (cpu_seconds("self") - before) / measured.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut received, mut latencies) = (0, Vec::new());
    for thread in threads {
        let (r, l, _) = thread.join().unwrap();
        received += r;
        latencies.extend(l);
    }
    latencies.sort_by(f64::total_cmp);
    let measured_seconds = CALL_SECONDS - WARM_UP.as_secs();
    CallResult {
        cpu: vec![cpu],
        kbps_per_sender: (frame_bytes * 8) as f64 * f64::from(FPS) / 1000.0,
        latency_p50: percentile(&latencies, 0.5),
        latency_p95: percentile(&latencies, 0.95),
        frames_expected: (PARTIES * (PARTIES - 1)) as u64 * u64::from(FPS) * measured_seconds,
        frames_received: received,
    }
}

/// GStreamer: party i sends on port base + 2i and receives the other three ports.
fn gstreamer_call() -> Option<CallResult> {
    if Command::new("gst-launch-1.0").arg("--version").output().is_err() {
        println!("(GStreamer is not installed: scripts/setup bench installs it)");
        return None;
    }
    let g = group(44, 3);
    let caps = "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96";
    // The same content as lanmeet's parties: two seconds of the synthetic camera, looped.
    let dir = std::env::temp_dir().join(format!("lanmeet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pattern = TestPattern::new(WIDTH, HEIGHT, "gst");
    for n in 0..2 * u64::from(FPS) {
        std::fs::write(dir.join(format!("{n:03}.yuv")), &pattern.render(n, "00:00:00").data).unwrap();
    }
    let mut children: Vec<Child> = (0..PARTIES)
        .map(|i| {
            let port = |j: usize| g.port() + 2 * j as u16;
            let mut pipeline = format!(
                "multifilesrc location={}/%03d.yuv index=0 stop-index={} loop=true \
                 caps=\"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1\" \
                 ! rawvideoparse use-sink-caps=true ! clocksync \
                 ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 key-int-max=60 threads=1 \
                 ! rtph264pay mtu=1200 config-interval=-1 pt=96 \
                 ! udpsink host={} port={} auto-multicast=true multicast-iface=lo ttl-mc=0 sync=false async=false ",
                dir.display(),
                2 * FPS - 1,
                g.ip(),
                port(i)
            );
            for j in (0..PARTIES).filter(|j| *j != i) {
                pipeline += &format!(
                    "udpsrc address={} port={} auto-multicast=true multicast-iface=lo caps=\"{caps}\" \
                     ! rtph264depay ! avdec_h264 max-threads=1 \
                     ! fpsdisplaysink video-sink=\"fakesink async=false\" text-overlay=false sync=false signal-fps-measurements=true ",
                    g.ip(),
                    port(j)
                );
            }
            let args: Vec<String> = shell_words(&pipeline);
            Command::new("gst-launch-1.0").arg("-v").args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("gst-launch-1.0")
        })
        .collect();
    // Count the bytes the senders put on the wire, from sockets of our own in the group.
    let counters: Vec<UdpSocket> = (0..PARTIES)
        .map(|i| {
            let port = g.port() + 2 * i as u16;
            let counter = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP)).unwrap();
            counter.set_reuse_address(true).unwrap();
            counter.set_reuse_port(true).unwrap();
            counter.bind(&std::net::SocketAddr::from((*g.ip(), port)).into()).unwrap();
            counter.join_multicast_v4(g.ip(), &Ipv4Addr::LOCALHOST).unwrap();
            let _ = counter.set_recv_buffer_size(4 << 20);
            counter.set_nonblocking(true).unwrap();
            counter.into()
        })
        .collect();
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    // gst-launch -v writes a lot; read it all the time so that it never blocks on a full pipe.
    // Each reader ends with the frames each of its sinks rendered, by sink name.
    let readers: Vec<_> = children
        .iter_mut()
        .map(|child| {
            let out = BufReader::new(child.stdout.take().unwrap());
            std::thread::spawn(move || {
                let mut last: HashMap<String, u64> = HashMap::new();
                for line in out.lines().map_while(Result::ok) {
                    // ".../GstFPSDisplaySink:fpsdisplaysink1: last-message = rendered: 63, dropped: 0, ..."
                    if let (Some(sink), Some(rendered)) = (line.split(':').nth(2), line.split("rendered: ").nth(1)) {
                        if let Ok(n) = rendered.split(',').next().unwrap_or("").trim().parse::<u64>() {
                            last.insert(sink.to_string(), n);
                        }
                    }
                }
                last.values().sum::<u64>()
            })
        })
        .collect();
    std::thread::sleep(WARM_UP);
    let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let measured = Instant::now();
    let mut bytes = 0usize;
    let mut buffer = vec![0u8; 65536];
    while measured.elapsed() < Duration::from_secs(CALL_SECONDS) - WARM_UP {
        let mut idle = true;
        for counter in &counters {
            while let Ok(len) = counter.recv(&mut buffer) {
                bytes += len.saturating_sub(12);
                idle = false;
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let seconds = measured.elapsed().as_secs_f64();
    let cpu: Vec<f64> = pids.iter().zip(&before).map(|(p, b)| (cpu_seconds(p) - b) / seconds).collect();
    for child in children.iter_mut() {
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let _ = child.wait();
    }
    let received: u64 = readers.into_iter().map(|r| r.join().unwrap_or(0)).sum();
    let _ = std::fs::remove_dir_all(&dir);
    Some(CallResult {
        cpu,
        kbps_per_sender: bytes as f64 * 8.0 / seconds / 1000.0 / PARTIES as f64,
        latency_p50: f64::NAN,
        latency_p95: f64::NAN,
        // fpsdisplaysink counts from the start, not from the end of the warm-up.
        frames_expected: (PARTIES * (PARTIES - 1)) as u64 * u64::from(FPS) * CALL_SECONDS,
        frames_received: received,
    })
}

/// Splits a pipeline description like a shell would (double quotes group words).
fn shell_words(text: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn row(name: &str, r: &CallResult) {
    let cpus: Vec<String> = r.cpu.iter().map(|c| format!("{:.0} %", c * 100.0)).collect();
    let total: f64 = r.cpu.iter().sum();
    let ms = |v: f64| if v.is_nan() { "n/a".to_string() } else { format!("{v:.1} ms") };
    let lost = r.frames_expected.saturating_sub(r.frames_received) as f64 / r.frames_expected as f64 * 100.0;
    println!(
        "| {name} | {} | {:.0} % | {:.0} | {} | {} | {:.1} % |",
        cpus.join(" / "),
        total * 100.0,
        r.kbps_per_sender,
        ms(r.latency_p50),
        ms(r.latency_p95),
        lost.max(0.0)
    );
}

fn main() {
    codec_alone();
    keyframe_cost();
    // `cargo bench --bench video -- codec`: the codec tables only.
    if std::env::args().any(|a| a == "codec") {
        return;
    }
    println!("## 4-party call on loopback, {WIDTH}x{HEIGHT} at {FPS} fps, {} s measured", CALL_SECONDS - WARM_UP.as_secs());
    println!();
    let lanmeet = lanmeet_call(None);
    let srtp = lanmeet_call(Some("bench passphrase"));
    let raw = raw_call();
    let gst = gstreamer_call();
    println!("| call | CPU per process (of one core) | CPU of the call | kbit/s per sender | capture-to-display p50 | p95 | frames lost |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    row("lanmeet (OpenH264, RTP)", &lanmeet);
    row("lanmeet encrypted (OpenH264, SRTP)", &srtp);
    row("report's way (raw RGB datagrams, one process)", &raw);
    if let Some(gst) = &gst {
        row("GStreamer (x264enc ultrafast, rtph264pay / avdec_h264)", gst);
    }
    println!();
    let call_cpu: f64 = lanmeet.cpu.iter().sum();
    println!("lanmeet SRTP / RTP: CPU x{:.3}", srtp.cpu.iter().sum::<f64>() / call_cpu);
    println!("lanmeet / report's way: bitrate x{:.4}, CPU x{:.2}", lanmeet.kbps_per_sender / raw.kbps_per_sender, call_cpu / raw.cpu[0]);
    if let Some(gst) = gst {
        println!("lanmeet / GStreamer: bitrate x{:.2}, CPU x{:.2}", lanmeet.kbps_per_sender / gst.kbps_per_sender, call_cpu / gst.cpu.iter().sum::<f64>());
    }
}
