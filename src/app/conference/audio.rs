//! The conference's audio: one thread captures (microphone or synthetic voice), encodes Opus
//! and sends RTP; another receives, keeps one jitter buffer per participant, decodes (with FEC
//! and concealment), mixes with per-participant volume and a limiter, and plays every 5 ms.
//! Each participant's decoded samples wait in a short queue, so that playout starts a talk spurt
//! within 5 ms (plus a small guard) of its packet's arrival rather than at the next 20 ms
//! boundary of the mixer; the jitter buffer still works in whole frames.
//! Audio has its own ports (the video's RTP port + 2 for RTP, + 3 for RTCP) and SSRC, and the
//! video's CNAME, so that a receiver can pair a participant's audio with their video.

use crate::media::audio::{self, OpusDecoder, OpusEncoder, Voice, FRAME, OPUS_PAYLOAD_TYPE, SAMPLE_RATE};
use super::gone_after_bye;
use super::stats::{percentile, AudioPeer, AudioStats, Histogram};
use crate::media::echo::EchoCanceller;
use crate::media::sound::{Capture, Playback};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use crate::net::multicast::{random_id, MulticastError};
use crate::net::rtp::{self, SendSockets, SessionSockets};
use crate::proto::rtp::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::proto::rtp::packet::{self, Header};
use crate::proto::rtp::rtcp::{self, ReceptionStats, Rtcp};
use crate::proto::Jitter;
use crossbeam_channel::Sender;
use mio::Waker;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FRAME_TIME: Duration = Duration::from_millis(20);
/// The mixer's step: 5 ms of samples.
const MIX_BLOCK: usize = FRAME / 4;
const MIX_TIME: Duration = Duration::from_millis(5);
/// The least time from a talk spurt's newest packet to the start of its playout, so that the
/// packets after it may come a little late and still make their turn.
const GUARD: Duration = Duration::from_millis(2);
/// What the guard and the 5 ms step leave between arrival and turn on average: jitter up to a
/// third of it needs no whole frame of buffer.
const HEADROOM: Duration = Duration::from_micros(4500);
/// A level above this (dBFS, over a 20 ms frame) counts as speaking.
const SPEAKING_DB: f32 = -45.0;
/// A frame below this level is a pause: 5 ms of it can go unheard.
const QUIET_DB: f32 = -60.0;
/// Time without a late packet after which the delay it added is given back.
const CALM: Duration = Duration::from_secs(2);
/// Voices followed at once: each has a jitter buffer and a decoder. Newcomers beyond it are
/// ignored until one leaves.
pub const MAX_AUDIO_SOURCES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicChoice {
    /// The synthetic voice.
    Test,
    /// A capture device by its id; empty for the system default.
    Device(String),
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerChoice {
    /// Mix and count, play nowhere (headless peers).
    Null,
    /// A playback device by its id; empty for the system default.
    Device(String),
}

impl MicChoice {
    pub fn parse(text: &str) -> MicChoice {
        match text {
            "test" => MicChoice::Test,
            "off" | "none" => MicChoice::Off,
            "default" | "" => MicChoice::Device(String::new()),
            id => MicChoice::Device(id.to_string()),
        }
    }
}

impl SpeakerChoice {
    pub fn parse(text: &str) -> SpeakerChoice {
        match text {
            "null" | "none" | "off" => SpeakerChoice::Null,
            "default" | "" => SpeakerChoice::Device(String::new()),
            id => SpeakerChoice::Device(id.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AudioConfig {
    /// RTP port of the audio; RTCP on the next one.
    pub group: SocketAddrV4,
    pub interface: Ipv4Addr,
    pub ttl: u32,
    pub nick: String,
    /// The CNAME shared with the participant's video.
    pub cname: String,
    pub mic: MicChoice,
    pub speaker: SpeakerChoice,
    /// Pitch of the synthetic voice in Hz.
    pub voice_pitch: f32,
    pub bitrate: i32,
    /// Echo cancellation and noise suppression on a microphone (SpeexDSP).
    pub echo_cancel: bool,
    /// Share of incoming RTP packets to drop on purpose (tests and benchmarks only).
    pub drop_incoming: f64,
    /// Copies of sent and played frames (tests and benchmarks); the caller bounds the channel,
    /// and a frame is dropped when it is full, so a slow reader never slows the call.
    pub tap: Option<Sender<AudioTap>>,
}

/// Audio handed to tests: 20 ms frames keyed by RTP timestamp.
#[derive(Debug, Clone)]
pub enum AudioTap {
    Sent { timestamp: u32, samples: Vec<f32> },
    Played { ssrc: u32, cname: String, timestamp: u32, samples: Vec<f32> },
}


/// What the window or the headless peer can change during a call, shared with the threads.
#[derive(Debug, Default)]
pub struct AudioControls {
    pub muted: AtomicBool,
    /// Per-participant volume in percent, by CNAME.
    pub volumes: Mutex<HashMap<String, u32>>,
}

pub struct AudioHandle {
    pub ssrc: u32,
    pub controls: Arc<AudioControls>,
    pub stats: Arc<Mutex<AudioStats>>,
    quit: Arc<AtomicBool>,
    waker: Arc<Waker>,
    threads: Vec<JoinHandle<()>>,
}

impl AudioHandle {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for AudioHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Closes a lost device on a thread of its own: closing a stalled device can wait on its driver,
/// and the call must not wait with it. The thread is not joined: it ends when the driver lets
/// go, and holds nothing of the call.
fn release<T: Send + 'static>(device: T) {
    let _ = std::thread::Builder::new().name("sound-release".into()).spawn(move || drop(device));
}

/// A device's name, with its rate when it is not 48 kHz (converted).
fn device_state(name: &str, rate: u32) -> String {
    match rate {
        SAMPLE_RATE => name.to_string(),
        _ => format!("{name} ({:.1} kHz, converted)", f64::from(rate) / 1000.0),
    }
}

fn now_wall() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Join the audio ports and start both threads. Device problems are reported in the stats
/// (`mic`, `speaker`) and the call goes on without the device.
pub fn spawn(config: AudioConfig, on_error: Arc<dyn Fn(String) + Send + Sync>) -> Result<AudioHandle, MulticastError> {
    let (sockets, send) = rtp::open(config.group, config.interface, config.ttl, 1 << 20)?;
    let waker = sockets.waker.clone();
    let ssrc = random_id() as u32;
    let controls = Arc::new(AudioControls::default());
    let stats = Arc::new(Mutex::new(AudioStats::default()));
    let quit = Arc::new(AtomicBool::new(false));
    let sent = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let start = Instant::now();
    let start_wall = now_wall();
    let rtp_base = (random_id() >> 32) as u32;
    let mic_state = Arc::new(Mutex::new(String::new()));
    // What is played goes to the echo canceller as its reference: one second of room. When the
    // sending side falls a second behind, what does not fit is dropped (`push_slice` takes what
    // fits) and the canceller adapts again; the speaker never waits for it.
    let (far_in, far_out) = HeapRb::<f32>::new(SAMPLE_RATE as usize).split();

    let sender = AudioSender {
        config: config.clone(),
        ssrc,
        send: send.try_clone().map_err(MulticastError::Socket)?,
        controls: controls.clone(),
        quit: quit.clone(),
        sent: sent.clone(),
        start,
        start_wall,
        rtp_base,
        mic_state: mic_state.clone(),
        on_error: on_error.clone(),
        far_end: far_out,
    };
    let receiver = AudioReceiver {
        config,
        ssrc,
        sockets,
        send,
        controls: controls.clone(),
        stats: stats.clone(),
        quit: quit.clone(),
        sent,
        start,
        start_wall,
        remotes: HashMap::new(),
        rng: Jitter::new(u64::from(ssrc) | 1),
        mic_state,
        on_error,
        far_end: far_in,
        all_latencies: Histogram::new(),
    };
    let threads = vec![
        std::thread::Builder::new().name("audio-send".into()).spawn(move || sender.run()).map_err(MulticastError::Thread)?,
        std::thread::Builder::new().name("audio-receive".into()).spawn(move || receiver.run()).map_err(MulticastError::Thread)?,
    ];
    Ok(AudioHandle { ssrc, controls, stats, quit, waker, threads })
}

struct AudioSender {
    config: AudioConfig,
    ssrc: u32,
    send: SendSockets,
    controls: Arc<AudioControls>,
    quit: Arc<AtomicBool>,
    /// Packets and payload bytes sent.
    sent: Arc<(AtomicU64, AtomicU64)>,
    start: Instant,
    start_wall: Duration,
    rtp_base: u32,
    mic_state: Arc<Mutex<String>>,
    on_error: Arc<dyn Fn(String) + Send + Sync>,
    /// What the speaker played, frame by frame, for the echo canceller.
    far_end: HeapCons<f32>,
}

enum Mic {
    Voice(Voice),
    Device(Box<Capture>),
    Nothing,
}

impl AudioSender {
    fn set_state(&self, text: String) {
        *self.mic_state.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }

    fn run(mut self) {
        let mut encoder = match OpusEncoder::new(self.config.bitrate, 10) {
            Ok(encoder) => encoder,
            Err(e) => return (self.on_error)(e.to_string()),
        };
        let mut mic = match &self.config.mic {
            MicChoice::Test => {
                self.set_state("test voice".into());
                Mic::Voice(Voice::new(self.config.voice_pitch))
            }
            MicChoice::Off => {
                self.set_state("microphone off".into());
                Mic::Nothing
            }
            MicChoice::Device(id) => match Capture::open(id) {
                Ok(capture) => {
                    self.set_state(device_state(&capture.name, capture.rate));
                    Mic::Device(Box::new(capture))
                }
                Err(e) => {
                    let text = format!("no microphone: {e}");
                    (self.on_error)(text.clone());
                    self.set_state(text);
                    Mic::Nothing
                }
            },
        };
        let mut frame = [0.0f32; FRAME];
        let mut far = [0.0f32; FRAME];
        // Only a real microphone hears the speaker.
        let mut canceller = (self.config.echo_cancel && matches!(mic, Mic::Device(_))).then(|| EchoCanceller::new(20));
        let mut frames_sent = 0u64;
        let mut sequence = (random_id() & 0xffff) as u16;
        // A frame is whole (as from a microphone) 20 ms after its first sample.
        let mut next_frame = self.start + FRAME_TIME;
        let mut next_report = self.start;
        let mut talking = false;
        while !self.quit.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next_report {
                self.send_report(now);
                next_report = now + Duration::from_secs(1);
            }
            let got = match &mut mic {
                Mic::Nothing => {
                    std::thread::sleep(FRAME_TIME);
                    false
                }
                Mic::Voice(voice) => {
                    if now < next_frame {
                        std::thread::sleep(next_frame - now);
                    }
                    next_frame += FRAME_TIME;
                    voice.next_frame(&mut frame);
                    true
                }
                Mic::Device(capture) => match capture.read_frame(&mut frame, Duration::from_millis(100)) {
                    Ok(got) => got,
                    Err(e) => {
                        let text = format!("microphone lost: {e}");
                        (self.on_error)(text.clone());
                        self.set_state(text);
                        if let Mic::Device(capture) = std::mem::replace(&mut mic, Mic::Nothing) {
                            release(capture);
                        }
                        false
                    }
                },
            };
            if !got {
                continue;
            }
            if let Some(canceller) = canceller.as_mut() {
                // The speaker's frame of the same moment, or silence if nothing played.
                let n = self.far_end.pop_slice(&mut far);
                far[n..].fill(0.0);
                // A reference that fell behind by more than a frame is dropped, not lagged.
                while self.far_end.occupied_len() > 2 * FRAME {
                    let _ = self.far_end.pop_slice(&mut far);
                }
                canceller.process(&mut frame, &far);
            }
            // The frame's capture time in RTP units: the frames counted so far.
            let timestamp = self.rtp_base.wrapping_add((frames_sent * FRAME as u64) as u32);
            frames_sent += 1;
            if self.controls.muted.load(Ordering::Relaxed) {
                talking = false;
                continue;
            }
            if let Some(tap) = &self.config.tap {
                let _ = tap.try_send(AudioTap::Sent { timestamp, samples: frame.to_vec() });
            }
            let payload = match encoder.encode(&frame) {
                Ok(payload) => payload,
                Err(e) => {
                    (self.on_error)(e.to_string());
                    continue;
                }
            };
            let header = Header {
                // The first packet of a talk spurt carries the marker (RFC 3551 §4.1).
                marker: !talking,
                payload_type: OPUS_PAYLOAD_TYPE,
                sequence,
                timestamp,
                ssrc: self.ssrc,
                ..Header::default()
            };
            talking = true;
            sequence = sequence.wrapping_add(1);
            if self.send.send_rtp(&header.write(&payload)) {
                self.sent.0.fetch_add(1, Ordering::Relaxed);
                self.sent.1.fetch_add(payload.len() as u64, Ordering::Relaxed);
            }
        }
        let bye = rtcp::write(&[Rtcp::Bye { sources: vec![self.ssrc] }]);
        self.send.send_rtcp(&bye);
    }

    fn send_report(&self, now: Instant) {
        let elapsed = now.duration_since(self.start);
        let packets = [
            Rtcp::SenderReport {
                ssrc: self.ssrc,
                ntp: rtcp::ntp_from_unix(self.start_wall + elapsed),
                rtp_timestamp: self.rtp_base.wrapping_add((elapsed.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u32),
                packets: self.sent.0.load(Ordering::Relaxed) as u32,
                octets: self.sent.1.load(Ordering::Relaxed) as u32,
                reports: vec![],
            },
            Rtcp::SourceDescription { ssrc: self.ssrc, cname: self.config.cname.clone(), name: Some(self.config.nick.clone()), note: None },
        ];
        self.send.send_rtcp(&rtcp::write(&packets));
    }
}


struct Remote {
    /// The host it speaks from: RTP and RTCP for it from elsewhere are dropped.
    host: IpAddr,
    /// When it (or someone in its name) said goodbye.
    bye_at: Option<Instant>,
    nick: String,
    cname: String,
    buffer: JitterBuffer,
    decoder: Option<OpusDecoder>,
    reception: ReceptionStats,
    clock: Option<(u64, u32)>,
    /// Capture-to-playout of the frames played in this interval, in ms.
    latencies: Vec<f64>,
    last_heard: Instant,
    /// When the newest RTP packet came.
    last_packet: Instant,
    /// Decoded samples not yet mixed.
    pcm: VecDeque<f32>,
    /// A talk spurt is playing (the jitter buffer gave frames).
    playing: bool,
    /// Time bridged while waiting for late packets, in this interval.
    waited: Duration,
    /// Delay those waits added and pauses have not yet given back, and when the last was.
    added: Duration,
    last_wait: Option<Instant>,
    packets: u64,
    recovered: u64,
    concealed: u64,
    /// Loudest frame of the interval (mean square).
    level: f32,
    /// When a frame was last loud enough to count as speech.
    loud_at: Option<Instant>,
}

struct AudioReceiver {
    config: AudioConfig,
    ssrc: u32,
    sockets: SessionSockets,
    send: SendSockets,
    controls: Arc<AudioControls>,
    stats: Arc<Mutex<AudioStats>>,
    quit: Arc<AtomicBool>,
    sent: Arc<(AtomicU64, AtomicU64)>,
    start: Instant,
    start_wall: Duration,
    remotes: HashMap<u32, Remote>,
    rng: Jitter,
    mic_state: Arc<Mutex<String>>,
    on_error: Arc<dyn Fn(String) + Send + Sync>,
    far_end: HeapProd<f32>,
    /// Every frame's mouth-to-ear latency since the start.
    all_latencies: Histogram,
}

impl AudioReceiver {
    fn run(mut self) {
        let (mut playback, mut speaker) = match &self.config.speaker {
            SpeakerChoice::Null => (None, "none".to_string()),
            SpeakerChoice::Device(id) => match Playback::open(id) {
                Ok(playback) => {
                    let name = device_state(&playback.name, playback.rate);
                    (Some(playback), name)
                }
                Err(e) => {
                    let text = format!("no speaker: {e}");
                    (self.on_error)(text.clone());
                    (None, text)
                }
            },
        };
        let mut next_tick = Instant::now() + MIX_TIME;
        let mut next_report = Instant::now() + Duration::from_secs(1);
        let mut last_sent = (0u64, 0u64);
        let mut mix = [0.0f32; MIX_BLOCK];
        let mut frame = [0.0f32; FRAME];
        while !self.quit.load(Ordering::SeqCst) {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match self.sockets.receive(timeout) {
                Ok(datagrams) => rtp::dispatch(datagrams, &mut self),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
            let now = Instant::now();
            // One block per 5 ms that passed: a thread that was held up catches up (at most
            // 200 ms of it) rather than letting the buffers grow.
            let mut due = 0;
            while now >= next_tick && due < 40 {
                next_tick += MIX_TIME;
                due += 1;
            }
            if now >= next_tick {
                next_tick = now + MIX_TIME;
            }
            for _ in 0..due {
                self.tick(now, &mut mix, &mut frame);
                let failed = playback.as_mut().and_then(|p| p.write(&mix).err());
                if playback.is_some() {
                    self.far_end.push_slice(&mix);
                }
                if let Some(e) = failed {
                    // The call goes on without sound out.
                    speaker = format!("speaker lost: {e}");
                    (self.on_error)(speaker.clone());
                    if let Some(playback) = playback.take() {
                        release(playback);
                    }
                }
            }
            if now >= next_report {
                next_report += Duration::from_secs(1);
                let sent = (self.sent.0.load(Ordering::Relaxed), self.sent.1.load(Ordering::Relaxed));
                let mic = self.mic_state.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let peers = self.peer_stats(now);
                let report = AudioStats {
                    mic,
                    speaker: speaker.clone(),
                    muted: self.controls.muted.load(Ordering::Relaxed),
                    packets: sent.0 - last_sent.0,
                    kbps: ((sent.1 - last_sent.1) as f64 * 8.0 / 1000.0).round(),
                    peers,
                    latency_ms_p50_all: self.all_latencies.percentile(50.0),
                    latency_ms_p95_all: self.all_latencies.percentile(95.0),
                };
                last_sent = sent;
                *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = report;
                self.send_receiver_report(now);
            }
        }
        drop(playback);
    }

    /// One 5 ms playout step: every participant's next samples, mixed. A participant whose
    /// queue runs short takes the next frame from its jitter buffer and decodes it.
    fn tick(&mut self, now: Instant, mix: &mut [f32; MIX_BLOCK], frame: &mut [f32; FRAME]) {
        mix.fill(0.0);
        // Voices that said goodbye and then fell silent.
        self.remotes.retain(|_, r| !gone_after_bye(r.bye_at, r.last_packet, now));
        let wall = (self.start_wall + now.duration_since(self.start)).as_secs_f64();
        let volumes = self.controls.volumes.lock().unwrap_or_else(|e| e.into_inner());
        for (ssrc, remote) in self.remotes.iter_mut() {
            if !remote.playing && remote.pcm.is_empty() {
                let guard = GUARD.max(remote.buffer.jitter() * 3).min(FRAME_TIME);
                if now < remote.last_packet + guard {
                    continue;
                }
            }
            while remote.pcm.len() < MIX_BLOCK {
                let playout = remote.buffer.pop();
                if matches!(playout, Playout::Silence) {
                    remote.playing = false;
                    break;
                }
                remote.playing = true;
                let timestamp = remote.buffer.last_timestamp();
                // Mouth to ear, less the devices: from the capture of the frame's first sample
                // (the sender's report maps its timestamp to the sender's clock) to its playout,
                // after the samples still queued before it.
                if let Some(captured) = timestamp.and_then(|ts| rtcp::captured_at(remote.clock, ts, SAMPLE_RATE)) {
                    let plays = wall + remote.pcm.len() as f64 / f64::from(SAMPLE_RATE);
                    let ms = (plays - captured) * 1000.0;
                    self.all_latencies.record(ms);
                    if remote.latencies.len() < 100 {
                        remote.latencies.push(ms);
                    }
                }
                let decoder = match remote.decoder.as_mut() {
                    Some(decoder) => decoder,
                    None => match OpusDecoder::new() {
                        Ok(decoder) => remote.decoder.insert(decoder),
                        Err(_) => break,
                    },
                };
                // A frame that is late but may still come is waited for one mix step at a time,
                // so that the wait costs only as much delay as the packet was late.
                let waiting = matches!(playout, Playout::Conceal) && remote.buffer.waiting();
                let length = if waiting { MIX_BLOCK } else { FRAME };
                let frame = &mut frame[..length];
                let result = match &playout {
                    Playout::Frame(packet) => decoder.decode(packet, frame.try_into().expect("a whole frame")),
                    Playout::Redundancy(next) => {
                        remote.recovered += 1;
                        decoder.recover(next, frame.try_into().expect("a whole frame"))
                    }
                    Playout::Conceal if waiting => {
                        remote.waited += MIX_TIME;
                        remote.added += MIX_TIME;
                        remote.last_wait = Some(now);
                        decoder.conceal(frame)
                    }
                    Playout::Conceal => {
                        remote.concealed += 1;
                        decoder.conceal(frame)
                    }
                    Playout::Silence => Ok(()),
                };
                if result.is_err() {
                    // A packet the decoder refuses: conceal instead.
                    let _ = decoder.conceal(frame);
                    remote.concealed += 1;
                }
                let level = audio::energy(frame);
                remote.level = remote.level.max(level);
                if 10.0 * level.max(1e-12).log10() > SPEAKING_DB {
                    remote.loud_at = Some(now);
                }
                if let (Some(tap), Some(timestamp)) = (&self.config.tap, timestamp) {
                    let _ = tap.try_send(AudioTap::Played { ssrc: *ssrc, cname: remote.cname.clone(), timestamp, samples: frame.to_vec() });
                }
                remote.pcm.extend(frame.iter());
                // Once the network has been calm for a while, give the delay that waiting added
                // back, 5 ms at a time, in pauses where the cut cannot be heard.
                let calm = remote.last_wait.is_none_or(|t| now.duration_since(t) > CALM);
                if !waiting && calm && remote.added >= MIX_TIME && 10.0 * level.max(1e-12).log10() < QUIET_DB {
                    remote.pcm.truncate(remote.pcm.len() - MIX_BLOCK);
                    remote.added -= MIX_TIME;
                }
            }
            let gain = volumes.get(&remote.cname).map_or(1.0, |v| *v as f32 / 100.0);
            let n = remote.pcm.len().min(MIX_BLOCK);
            let (front, back) = remote.pcm.as_slices();
            let first = front.len().min(n);
            audio::mix_into(&mut mix[..first], &front[..first], gain);
            audio::mix_into(&mut mix[first..n], &back[..n - first], gain);
            remote.pcm.drain(..n);
        }
        audio::limit(mix);
    }

    fn peer_stats(&mut self, now: Instant) -> Vec<AudioPeer> {
        self.remotes.retain(|_, r| now.duration_since(r.last_heard) < Duration::from_secs(5));
        let mut peers: Vec<AudioPeer> = self
            .remotes
            .iter_mut()
            .map(|(ssrc, r)| {
                let mut latencies = std::mem::take(&mut r.latencies);
                latencies.sort_by(f64::total_cmp);
                let (latency, latency_p95) = (percentile(&latencies, 50.0), percentile(&latencies, 95.0));
                let queued = r.pcm.len() as f64 / f64::from(SAMPLE_RATE);
                let buffer_ms = ((r.buffer.delay().as_secs_f64() + queued) * 10_000.0).round() / 10.0;
                let level_db = if r.level > 0.0 { (10.0 * f64::from(r.level).log10()).max(-90.0) } else { -90.0 };
                let peer = AudioPeer {
                    ssrc: *ssrc,
                    nick: r.nick.clone(),
                    cname: r.cname.clone(),
                    packets: r.packets,
                    lost: r.reception.lost(),
                    recovered: r.recovered,
                    concealed: r.concealed,
                    waited_ms: r.waited.as_millis() as u64,
                    jitter_ms: (r.buffer.jitter().as_secs_f64() * 10_000.0).round() / 10.0,
                    buffer_ms,
                    latency_ms_p50: latency,
                    latency_ms_p95: latency_p95,
                    level_db: (level_db * 10.0).round() / 10.0,
                    // Heard within the last half second: pauses between words do not blink.
                    speaking: r.loud_at.is_some_and(|t| now.duration_since(t) < Duration::from_millis(500)),
                };
                (r.packets, r.recovered, r.concealed, r.level, r.waited) = (0, 0, 0, 0.0, Duration::ZERO);
                peer
            })
            .collect();
        peers.sort_by(|a, b| a.nick.cmp(&b.nick).then(a.ssrc.cmp(&b.ssrc)));
        peers
    }

    fn send_receiver_report(&mut self, now: Instant) {
        let since = now.duration_since(self.start);
        let reports = self.remotes.iter_mut().map(|(ssrc, r)| r.reception.report(*ssrc, since)).collect();
        let bytes = rtcp::write(&[
            Rtcp::ReceiverReport { ssrc: self.ssrc, reports },
            Rtcp::SourceDescription { ssrc: self.ssrc, cname: self.config.cname.clone(), name: Some(self.config.nick.clone()), note: None },
        ]);
        self.send.send_rtcp(&bytes);
    }
}

impl rtp::RtpSession for AudioReceiver {
    fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr) {
        let now = Instant::now();
        let Ok(packet) = packet::parse(bytes) else { return };
        let header = packet.header;
        if header.ssrc == self.ssrc || header.payload_type != OPUS_PAYLOAD_TYPE || self.rng.chance(self.config.drop_incoming) {
            return;
        }
        let since_start = now.duration_since(self.start);
        if !self.remotes.contains_key(&header.ssrc) && self.remotes.len() >= MAX_AUDIO_SOURCES {
            log::debug!("audio: {MAX_AUDIO_SOURCES} voices already; ignoring {:08x} from {from}", header.ssrc);
            return;
        }
        let remote = self.remotes.entry(header.ssrc).or_insert_with(|| Remote {
            host: from.ip(),
            bye_at: None,
            nick: String::new(),
            cname: String::new(),
            // It is asked again every 5 ms while it waits for a late frame: 40 asks are 200 ms.
            buffer: JitterBuffer::new(JitterConfig { headroom: HEADROOM, rebuffer_after: 40, ..JitterConfig::opus_20ms() }),
            decoder: None,
            reception: ReceptionStats::default(),
            clock: None,
            latencies: Vec::new(),
            last_heard: now,
            last_packet: now,
            pcm: VecDeque::with_capacity(2 * FRAME),
            playing: false,
            waited: Duration::ZERO,
            added: Duration::ZERO,
            last_wait: None,
            packets: 0,
            recovered: 0,
            concealed: 0,
            level: 0.0,
            loud_at: None,
        });
        if remote.host != from.ip() {
            return;
        }
        remote.last_heard = now;
        remote.last_packet = now;
        remote.packets += 1;
        let sequence = remote.buffer.push(header.sequence, header.timestamp, packet.payload, since_start);
        let arrival = (since_start.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u32;
        remote.reception.packet(sequence, header.timestamp, arrival);
    }

    fn on_rtcp(&mut self, bytes: &[u8], from: SocketAddr) {
        let Ok(packets) = rtcp::parse(bytes) else { return };
        let now = Instant::now();
        for packet in packets {
            match packet {
                Rtcp::SenderReport { ssrc, ntp, rtp_timestamp, .. } if ssrc != self.ssrc => {
                    if let Some(remote) = self.remotes.get_mut(&ssrc).filter(|r| r.host == from.ip()) {
                        remote.clock = Some((ntp, rtp_timestamp));
                        remote.reception.sender_report(ntp, now.duration_since(self.start));
                        remote.last_heard = now;
                    }
                }
                Rtcp::SourceDescription { ssrc, cname, name, .. } if ssrc != self.ssrc => {
                    if let Some(remote) = self.remotes.get_mut(&ssrc).filter(|r| r.host == from.ip()) {
                        remote.cname = cname;
                        remote.nick = name.unwrap_or_default();
                    }
                }
                Rtcp::Bye { sources } => {
                    // Only from the voice's own host, and only if its RTP stops.
                    for ssrc in sources {
                        if let Some(remote) = self.remotes.get_mut(&ssrc).filter(|r| r.host == from.ip()) {
                            remote.bye_at.get_or_insert(now);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_gives_percentiles_to_half_a_millisecond() {
        let mut histogram = Histogram::new();
        assert_eq!(histogram.percentile(50.0), None);
        // 90 frames at 25.2 ms, 10 at 45.7 ms, one beyond the last bin.
        (0..90).for_each(|_| histogram.record(25.2));
        (0..10).for_each(|_| histogram.record(45.7));
        histogram.record(5000.0);
        assert_eq!(histogram.percentile(50.0), Some(25.5));
        assert_eq!(histogram.percentile(89.0), Some(25.5));
        assert_eq!(histogram.percentile(90.0), Some(46.0));
        assert_eq!(histogram.percentile(95.0), Some(46.0));
        assert_eq!(histogram.percentile(100.0), Some(1000.0));
    }
}
