//! Conference audio, in one run on loopback multicast (IP_MULTICAST_IF 127.0.0.1, TTL 0):
//! 1. per 20 ms frame: Opus encode and decode, and echo cancellation, in this process;
//! 2. a 4-party call of `lanmeet conference --headless --camera off` processes (synthetic
//!    voices, no speaker device): CPU per process, bits per second, capture-to-playout latency;
//! 3. 10 % loss for lanmeet (Opus, FEC, concealment, jitter buffer) and for the lab report's
//!    way (raw 16-bit PCM played in arrival order, a lost datagram is a gap): bandwidth and how
//!    much of the voice survives (correlation with what was said).
//!
//! `cargo bench --bench audio` (scripts/bench audio)

mod common;

use common::{cpu_seconds, group, headless, percentile, thread_cpu_seconds};
use lanmeet::app::conference::{self, cname_of, CameraChoice, ConferenceConfig};
use lanmeet::app::conference::audio::{AudioTap, MicChoice, SpeakerChoice};
use lanmeet::media::audio::{best_correlation, OpusDecoder, OpusEncoder, Voice, FRAME, SAMPLE_RATE};
use lanmeet::media::echo::EchoCanceller;
use lanmeet::proto::Jitter;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARTIES: usize = 4;
const CALL_SECONDS: u64 = 10;

/// Codec, echo canceller and synthetic voice per frame; returns the voice's ms a frame.
fn per_frame() -> f64 {
    let mut voice = Voice::new(150.0);
    let mut encoder = OpusEncoder::new(32_000, 10).unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut canceller = EchoCanceller::new(20);
    let (mut frame, mut out, mut far) = ([0.0f32; FRAME], [0.0f32; FRAME], [0.0f32; FRAME]);
    let frames = 1000;
    let (mut synth, mut encode, mut decode, mut cancel) = (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..frames {
        let t = Instant::now();
        voice.next_frame(&mut frame);
        synth += t.elapsed();
        let t = Instant::now();
        let packet = encoder.encode(&frame).unwrap();
        encode += t.elapsed();
        let t = Instant::now();
        decoder.decode(&packet, &mut out).unwrap();
        decode += t.elapsed();
        far.copy_from_slice(&out);
        let t = Instant::now();
        canceller.process(&mut frame, &far);
        cancel += t.elapsed();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(frames);
    println!("## Per 20 ms frame (48 kHz mono, Opus VOIP 32 kbit/s with FEC), {frames} frames");
    println!();
    println!("| Opus encode | Opus decode | echo cancellation + noise suppression | synthetic voice (the test microphone) |");
    println!("| ---: | ---: | ---: | ---: |");
    println!("| {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |", ms(encode), ms(decode), ms(cancel), ms(synth));
    println!();
    ten_ms_frames();
    ms(synth)
}

/// The same voice in 10 ms frames: what halving the frame would cost and save.
fn ten_ms_frames() {
    let half = FRAME / 2;
    let mut voice = Voice::new(150.0);
    let mut frame = [0.0f32; FRAME];
    let mut out = [0.0f32; FRAME];
    let mut rows = Vec::new();
    for size in [FRAME, half] {
        let mut encoder = OpusEncoder::new(32_000, 10).unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let (mut bytes, mut packets, mut time) = (0usize, 0usize, Duration::ZERO);
        for _ in 0..500 {
            voice.next_frame(&mut frame);
            for piece in frame.chunks(size) {
                let t = Instant::now();
                let packet = encoder.encode(piece).unwrap();
                decoder.decode(&packet, &mut out).unwrap();
                time += t.elapsed();
                bytes += packet.len();
                packets += 1;
            }
        }
        let seconds = 500.0 * 0.02;
        // IPv4 + UDP + RTP headers: 40 bytes a packet.
        let wire = (bytes + 40 * packets) as f64 * 8.0 / seconds / 1000.0;
        rows.push((size * 1000 / SAMPLE_RATE as usize, bytes as f64 * 8.0 / seconds / 1000.0, wire, time.as_secs_f64() * 1000.0 / seconds / 10.0));
    }
    println!("Frame length (encode and decode of the same 10 s of voice):");
    println!();
    println!("| frame | payload kbit/s | on the wire kbit/s | CPU % of a core | packetisation + guard + mean wait for the 5 ms mix step |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (ms, payload, wire, cpu) in rows {
        println!("| {ms} ms | {payload:.1} | {wire:.1} | {cpu:.2} | {:.1} ms |", ms as f64 + 2.0 + 2.5);
    }
    println!();
}

/// A 4-party call; `voice_ms` is what the synthetic voice costs a frame, to tell it apart.
fn call(voice_ms: f64) {
    let g = group(46, 1);
    let pitches = [110, 150, 190, 230];
    let mut children: Vec<_> = (0..PARTIES)
        .map(|i| {
            let pitch = pitches[i].to_string();
            headless(g, &format!("p{i}"), CALL_SECONDS, &["--camera", "off", "--mic", "test", "--speaker", "null", "--voice-pitch", &pitch])
        })
        .collect();
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    std::thread::sleep(Duration::from_secs(2));
    // CPU seconds of each process, then of its sending and receiving audio threads.
    let cpu_seconds = |pid: &str| [cpu_seconds(pid), thread_cpu_seconds(pid, "audio-send"), thread_cpu_seconds(pid, "audio-receive")];
    let before: Vec<[f64; 3]> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(CALL_SECONDS - 3));
    let shares: Vec<[f64; 3]> = pids
        .iter()
        .zip(&before)
        .map(|(p, b)| {
            let now = cpu_seconds(p);
            [0, 1, 2].map(|i| (now[i] - b[i]) / t.elapsed().as_secs_f64())
        })
        .collect();
    let cpu: Vec<f64> = shares.iter().map(|s| s[0]).collect();
    let mean = |i: usize| shares.iter().map(|s| s[i]).sum::<f64>() / shares.len() as f64;
    let (send, receive) = (mean(1), mean(2));
    // The voice runs in the sending thread, 50 frames a second.
    let voice = voice_ms * 50.0 / 1000.0;
    let (mut kbps, mut concealed, mut packets) = (Vec::new(), 0u64, 0u64);
    let (mut medians, mut tails, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    let mut worst_tail = 0.0f64;
    for child in children.iter_mut() {
        let mut last = (None, None);
        for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["type"] != "stats" || v["t"].as_f64().unwrap_or(0.0) < 2.0 {
                continue;
            }
            // Each report carries the whole call so far: the last one counts.
            last = (v["audio"]["latency_ms_p50_all"].as_f64(), v["audio"]["latency_ms_p95_all"].as_f64());
            kbps.push(v["audio"]["kbps"].as_f64().unwrap_or(0.0));
            for peer in v["audio"]["peers"].as_array().into_iter().flatten() {
                if let (Some(median), Some(tail)) = (peer["latency_ms_p50"].as_f64(), peer["latency_ms_p95"].as_f64()) {
                    medians.push(median);
                    worst_tail = worst_tail.max(tail);
                }
                concealed += peer["concealed"].as_u64().unwrap_or(0);
                packets += peer["packets"].as_u64().unwrap_or(0);
            }
        }
        let _ = child.wait();
        if let (Some(median), Some(tail)) = last {
            whole.push(median);
            tails.push(tail);
        }
    }
    medians.sort_by(f64::total_cmp);
    whole.sort_by(f64::total_cmp);
    tails.sort_by(f64::total_cmp);
    let total: f64 = cpu.iter().sum();
    println!("## 4-party call, audio only, {} s measured", CALL_SECONDS - 3);
    println!();
    println!("| CPU per process (of one core) | CPU of the call | kbit/s per speaker (Opus payload) | capture-to-playout p50 | p95 | worst second's p95 | frames concealed |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {:.1} % | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} % |",
        cpu.iter().map(|c| format!("{:.1} %", c * 100.0)).collect::<Vec<_>>().join(" / "),
        total * 100.0,
        kbps.iter().sum::<f64>() / kbps.len().max(1) as f64,
        percentile(&whole, 0.5),
        tails.last().copied().unwrap_or(f64::NAN),
        worst_tail,
        concealed as f64 * 100.0 / packets.max(1) as f64
    );
    println!();
    println!("Per process: the sending thread {:.1} % of a core, of which the synthetic voice {:.1} % (measured above); the receiving thread (three jitter buffers and decoders, the 5 ms mix) {:.1} %. The audio without the test microphone: {:.1} %.", send * 100.0, voice * 100.0, receive * 100.0, (send - voice + receive) * 100.0);
    println!();
    println!("(Latency: from the capture of a frame's first sample to its playout, for every listener and speaker; p50 and p95 are over every frame each listener played (the median of the four listeners' p50, the highest of their p95); the worst second is the highest 95th percentile any listener saw of one speaker in one second. It holds the 20 ms of packetisation and excludes the devices' buffers. CPU includes each process's idle video threads.)");
    println!();
}

/// lanmeet under 10 % loss: two parties in this process, what one heard against what the other said.
fn lanmeet_with_loss() -> (f32, f64) {
    let g = group(46, 2);
    let make = |nick: &str, pitch: f32| {
        let (tx, rx) = crossbeam_channel::bounded(100_000);
        let config = ConferenceConfig {
            interface: Ipv4Addr::LOCALHOST,
            ttl: 0,
            display: false,
            camera: CameraChoice::Off,
            mic: MicChoice::Test,
            speaker: SpeakerChoice::Null,
            voice_pitch: pitch,
            drop_incoming: 0.10,
            audio_tap: Some(tx),
            ..ConferenceConfig::new(g, nick)
        };
        (conference::spawn(config, Arc::new(|_| {})).unwrap(), rx)
    };
    let (speaker, said) = make("speaker", 150.0);
    let (listener, heard) = make("listener", 210.0);
    std::thread::sleep(Duration::from_secs(8));
    let cname = cname_of(speaker.ssrc);
    let said: HashMap<u32, Vec<f32>> = said.try_iter().filter_map(|t| if let AudioTap::Sent { timestamp, samples } = t { Some((timestamp, samples)) } else { None }).collect();
    let mut frames: Vec<(u32, Vec<f32>)> = heard
        .try_iter()
        .filter_map(|t| match t {
            AudioTap::Played { cname: c, timestamp, samples, .. } if c == cname => Some((timestamp, samples)),
            _ => None,
        })
        .collect();
    frames.sort_by_key(|f| f.0);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (ts, samples) in frames {
        if let Some(original) = said.get(&ts) {
            a.extend_from_slice(original);
            b.extend_from_slice(&samples);
        }
    }
    drop((speaker, listener));
    // Opus delays the voice by its look-ahead: align before counting gaps.
    let (correlation, lag) = best_correlation(&a, &b, 960);
    (correlation, gaps(&a, &b[lag.min(b.len())..]))
}

/// Share of the 20 ms frames of speech that came out as (near) silence.
fn gaps(said: &[f32], heard: &[f32]) -> f64 {
    let (mut speech, mut silent) = (0, 0);
    for (s, h) in said.chunks_exact(FRAME).zip(heard.chunks_exact(FRAME)) {
        let (es, eh) = (lanmeet::media::audio::energy(s), lanmeet::media::audio::energy(h));
        if es > 1e-3 {
            speech += 1;
            if eh < 0.1 * es {
                silent += 1;
            }
        }
    }
    silent as f64 / speech.max(1) as f64
}

/// The report's way under 10 % loss: 20 ms datagrams of raw PCM, played as they come; a lost
/// one is 20 ms of nothing.
fn raw_with_loss() -> (f32, f64) {
    let mut voice = Voice::new(150.0);
    let mut rng = Jitter::new(11);
    let (mut said, mut heard) = (Vec::new(), Vec::new());
    let mut frame = [0.0f32; FRAME];
    for _ in 0..(6 * SAMPLE_RATE as usize / FRAME) {
        voice.next_frame(&mut frame);
        // 16-bit PCM on the wire, as pyaudio captured it.
        let pcm: Vec<f32> = frame.iter().map(|s| ((s * 32767.0) as i16) as f32 / 32768.0).collect();
        said.extend_from_slice(&frame);
        if rng.chance(0.10) {
            heard.extend(std::iter::repeat_n(0.0, FRAME));
        } else {
            heard.extend_from_slice(&pcm);
        }
    }
    (best_correlation(&said, &heard, 0).0, gaps(&said, &heard))
}

fn main() {
    let voice_ms = per_frame();
    call(voice_ms);
    let ours = lanmeet_with_loss();
    let raw = raw_with_loss();
    println!("## 10 % of packets lost on the receive side");
    println!();
    println!("| way | kbit/s per speaker on the wire | correlation with what was said | speech frames heard as silence |");
    println!("| --- | ---: | ---: | ---: |");
    // Opus payload 32 kbit/s at most, plus 40 bytes of IP/UDP/RTP headers 50 times a second.
    println!("| lanmeet (Opus 32 kbit/s, FEC, concealment, jitter buffer) | {:.0} | {:.3} | {:.1} % |", 32.0 + 40.0 * 8.0 * 50.0 / 1000.0, ours.0, ours.1 * 100.0);
    println!("| report's way (raw 16-bit PCM, no buffer) | {:.0} | {:.3} | {:.1} % |", (SAMPLE_RATE * 16) as f64 / 1000.0 + 28.0 * 8.0 * 50.0 / 1000.0, raw.0, raw.1 * 100.0);
}
