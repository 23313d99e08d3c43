//! The video conference: one sending thread (camera or test pattern -> H.264 -> RTP -> group)
//! and one receiving thread (group -> RTP -> frames -> H.264 decoder -> tiles), with RTCP beside
//! them for timing (sender reports), loss (receiver reports), names (SDES) and keyframe
//! requests (PLI). Pictures reach the window through a [`Board`]: latest wins, one per tile.

use super::conference_audio::{self, AudioConfig, AudioHandle, AudioStats, AudioTap, MicChoice, SpeakerChoice};
use crate::media::camera::{self, Camera};
use crate::media::codec::{EncoderSettings, H264Decoder, H264Encoder, VideoDecoder, VideoEncoder};
use crate::media::frame::Frame;
use crate::media::pattern::TestPattern;
use crate::net::multicast::{random_id, MulticastError};
use crate::net::rtp::{self, SendSockets, SessionSockets};
use crate::proto::rtp::h264::Packetizer;
use crate::proto::rtp::packet::Header;
use crate::proto::rtp::rtcp::{self, Rtcp};
use crate::proto::rtp::sdp;
use crate::proto::rtp::session::{self, Event as SessionEvent, SessionConfig, VideoSession};
use crate::proto::Jitter;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use mio::Waker;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Dynamic RTP payload type of H.264 in our SDP.
pub const VIDEO_PAYLOAD_TYPE: u8 = 96;
/// RTP port of the video by default; RTCP is on the next port.
pub const DEFAULT_VIDEO_PORT: u16 = 23334;
/// Payload bytes of an RTP packet: with the headers, a packet stays within 1200 bytes.
const MAX_PAYLOAD: usize = 1160;
/// A tile with no new picture for this long is marked as stalled.
const STALL_AFTER: Duration = Duration::from_millis(1000);
/// The least time between two keyframes sent on request, however many receivers ask.
const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(250);
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// RTP timestamp units a second of H.264 video (RFC 6184).
const VIDEO_CLOCK_RATE: u32 = 90_000;
/// The most a picture is held back for lip sync, and the most pictures held.
const MAX_SYNC: Duration = Duration::from_millis(300);
const MAX_HELD: usize = 30;
/// Video sources followed at once (a 4x4 grid); newcomers beyond it are ignored until one
/// leaves, so that forged SSRCs cannot make us run a decoder each.
pub use crate::proto::rtp::session::{gone_after_bye, MAX_SOURCES as MAX_VIDEO_SOURCES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraChoice {
    /// The moving test pattern.
    Test,
    /// A V4L2 device such as /dev/video0.
    Device(String),
    /// Send no video; watch only.
    Off,
}

impl CameraChoice {
    pub fn parse(text: &str) -> CameraChoice {
        match text {
            "test" | "" => CameraChoice::Test,
            "off" | "none" => CameraChoice::Off,
            path => CameraChoice::Device(path.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConferenceConfig {
    /// Group and RTP port of the video; RTCP uses the next port.
    pub group: SocketAddrV4,
    pub interface: Ipv4Addr,
    pub ttl: u32,
    pub nick: String,
    pub camera: CameraChoice,
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub bitrate: u32,
    /// Convert received pictures to RGB for the window (off for headless peers).
    pub display: bool,
    /// Share of incoming RTP packets to drop on purpose (tests and benchmarks only).
    pub drop_incoming: f64,
    /// Drop every incoming RTP packet in this span after the start (tests only).
    pub drop_window: Option<(Duration, Duration)>,
    /// Copies of sent and decoded pictures, for measuring quality (tests and benchmarks).
    pub tap: Option<Sender<Tap>>,
    /// Audio on the next two ports (RTP port + 2 and + 3).
    pub audio: bool,
    pub mic: MicChoice,
    pub speaker: SpeakerChoice,
    /// Pitch of the synthetic voice (`MicChoice::Test`), in Hz.
    pub voice_pitch: f32,
    pub audio_tap: Option<Sender<AudioTap>>,
}

impl ConferenceConfig {
    pub fn new(group: SocketAddrV4, nick: &str) -> ConferenceConfig {
        ConferenceConfig {
            group,
            interface: Ipv4Addr::UNSPECIFIED,
            ttl: 1,
            nick: nick.to_string(),
            camera: CameraChoice::Test,
            width: 640,
            height: 480,
            fps: 30,
            bitrate: 1_500_000,
            display: true,
            drop_incoming: 0.0,
            drop_window: None,
            tap: None,
            audio: true,
            mic: MicChoice::Device(String::new()),
            speaker: SpeakerChoice::Device(String::new()),
            voice_pitch: 160.0,
            audio_tap: None,
        }
    }

    fn audio_group(&self) -> SocketAddrV4 {
        SocketAddrV4::new(*self.group.ip(), self.group.port().wrapping_add(2))
    }

    /// The SDP description of this conference's video.
    pub fn sdp(&self) -> String {
        let origin = if self.interface.is_unspecified() { Ipv4Addr::LOCALHOST } else { self.interface };
        sdp::describe(&sdp::Session {
            name: format!("lanmeet conference of {}", self.nick),
            origin,
            group: *self.group.ip(),
            ttl: self.ttl,
            video_port: self.group.port(),
            audio_port: self.audio.then(|| self.audio_group().port()),
            payload_type: VIDEO_PAYLOAD_TYPE,
            session_id: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        })
    }
}

/// A picture handed to a test or benchmark, keyed by RTP timestamp.
#[derive(Debug, Clone)]
pub enum Tap {
    Sent { timestamp: u32, frame: Frame },
    Decoded { ssrc: u32, timestamp: u32, frame: Frame },
}

/// The newest picture of one tile, as RGB (3 bytes a pixel).
#[derive(Debug, Clone)]
pub struct Picture {
    pub rgb: Arc<Vec<u8>>,
    pub width: usize,
    pub height: usize,
    /// Counts up with every new picture of this tile.
    pub serial: u64,
}

/// The tiles' newest pictures: writers replace, the window reads. Latest wins; nothing queues.
#[derive(Debug, Default)]
pub struct Board {
    tiles: Mutex<HashMap<u32, Picture>>,
}

impl Board {
    fn put(&self, key: u32, frame: &Frame) {
        let mut rgb = frame.to_rgb();
        // Painters want rows on 4-byte boundaries: crop a width that is not a multiple of 4.
        let width = frame.width & !3;
        if width != frame.width {
            rgb = rgb.chunks_exact(frame.width * 3).flat_map(|row| row[..width * 3].iter().copied()).collect();
        }
        let rgb = Arc::new(rgb);
        let mut tiles = self.tiles.lock().unwrap_or_else(|e| e.into_inner());
        let serial = tiles.get(&key).map_or(1, |p| p.serial + 1);
        tiles.insert(key, Picture { rgb, width, height: frame.height, serial });
    }

    fn remove(&self, key: u32) {
        self.tiles.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }

    /// The newest picture of tile `key`.
    pub fn get(&self, key: u32) -> Option<Picture> {
        self.tiles.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SentStats {
    pub frames: u64,
    pub keyframes: u64,
    pub packets: u64,
    pub kbps: f64,
    /// Keyframe requests (PLI) received in this interval.
    pub keyframe_requests: u64,
    pub camera: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PeerStats {
    pub ssrc: u32,
    pub nick: String,
    /// Pictures decoded in this interval.
    pub frames: u64,
    pub fps: f64,
    pub kbps: f64,
    pub packets: u64,
    /// Packets lost since the start.
    pub lost: i64,
    pub decode_errors: u64,
    pub keyframe_requests: u64,
    /// Capture-to-display latency in this interval (needs one sender report first).
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    pub stalled: bool,
    /// What the sender says of its camera ("camera off", "camera lost: ...").
    pub note: String,
    /// How much later their sound plays than their picture shows (negative: earlier), from
    /// the two latencies; lip sync holds within 80 ms.
    pub av_offset_ms: Option<f64>,
    /// How long their pictures are held back to show with their sound.
    pub sync_delay_ms: u64,
}

/// One report a second.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Seconds since the start.
    pub t: f64,
    pub nick: String,
    pub ssrc: u32,
    pub sent: SentStats,
    pub peers: Vec<PeerStats>,
    /// Audio sent and heard in the last second.
    pub audio: Option<AudioStats>,
}

/// Totals at the end of a conference.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub seconds: f64,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub frames_lost: u64,
    pub packets_lost: i64,
    pub decode_errors: u64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConferenceEvent {
    /// A participant's first packet arrived, or its name became known.
    Participant { ssrc: u32, nick: String },
    Left { ssrc: u32, nick: String },
    /// The camera state in words: "test pattern", "/dev/video0", "camera off", "camera lost: ...".
    Camera(String),
    Stats(Stats),
    Error(String),
    Stopped(Summary),
}

pub type Sink = Arc<dyn Fn(ConferenceEvent) + Send + Sync>;

enum SendCommand {
    Keyframe,
    Camera(CameraChoice),
    Size(usize, usize),
}

/// Counters the sending thread shares with the reporting (receiving) thread.
#[derive(Default)]
struct Shared {
    frames: AtomicU64,
    keyframes: AtomicU64,
    packets: AtomicU64,
    octets: AtomicU64,
    keyframe_requests: AtomicU64,
    camera: Mutex<String>,
}

pub struct ConferenceHandle {
    pub ssrc: u32,
    pub board: Arc<Board>,
    audio: Option<AudioHandle>,
    commands: Sender<SendCommand>,
    quit: Arc<AtomicBool>,
    waker: Arc<Waker>,
    threads: Vec<JoinHandle<()>>,
}

impl ConferenceHandle {
    pub fn set_camera(&self, camera: CameraChoice) {
        let _ = self.commands.send(SendCommand::Camera(camera));
    }

    pub fn set_size(&self, width: usize, height: usize) {
        let _ = self.commands.send(SendCommand::Size(width, height));
    }

    /// Stop or resume sending our microphone.
    pub fn set_muted(&self, muted: bool) {
        if let Some(audio) = &self.audio {
            audio.controls.muted.store(muted, Ordering::Relaxed);
        }
    }

    /// Volume of one participant (by video SSRC), in percent.
    pub fn set_volume(&self, ssrc: u32, percent: u32) {
        if let Some(audio) = &self.audio {
            audio.controls.volumes.lock().unwrap_or_else(|e| e.into_inner()).insert(cname_of(ssrc), percent.min(200));
        }
    }

    /// Say goodbye (RTCP BYE), leave the group and wait for both threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(audio) = self.audio.take() {
            audio.stop();
        }
        self.quit.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The RTCP CNAME of a participant, shared by its video and audio.
pub fn cname_of(video_ssrc: u32) -> String {
    format!("{video_ssrc}@lanmeet")
}

impl Drop for ConferenceHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The time base shared by the two threads: RTP timestamps count 90 kHz from `start`.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    start_wall: Duration,
    rtp_base: u32,
}

impl Clock {
    fn rtp(&self, at: Instant) -> u32 {
        let ticks = (at.saturating_duration_since(self.start).as_micros() * u128::from(VIDEO_CLOCK_RATE) / 1_000_000) as u64;
        self.rtp_base.wrapping_add(ticks as u32)
    }

    fn wall(&self, at: Instant) -> Duration {
        self.start_wall + at.saturating_duration_since(self.start)
    }
}

fn now_wall() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Join the group and start both threads. Set-up errors come back here, in words.
pub fn spawn(config: ConferenceConfig, sink: Sink) -> Result<ConferenceHandle, MulticastError> {
    // A keyframe at 720p is some 40 packets in a burst from each sender.
    let (sockets, send) = rtp::open(config.group, config.interface, config.ttl, 4 << 20)?;
    let waker = sockets.waker.clone();

    let ssrc = random_id() as u32;
    let audio = if config.audio {
        let audio_config = AudioConfig {
            group: config.audio_group(),
            interface: config.interface,
            ttl: config.ttl,
            nick: config.nick.clone(),
            cname: cname_of(ssrc),
            mic: config.mic.clone(),
            speaker: config.speaker.clone(),
            voice_pitch: config.voice_pitch,
            bitrate: 32_000,
            echo_cancel: true,
            drop_incoming: config.drop_incoming,
            tap: config.audio_tap.clone(),
        };
        let errors = sink.clone();
        Some(conference_audio::spawn(audio_config, Arc::new(move |text| errors(ConferenceEvent::Error(text))))?)
    } else {
        None
    };
    let audio_stats = audio.as_ref().map(|a| a.stats.clone());
    let clock = Clock { start: Instant::now(), start_wall: now_wall(), rtp_base: (random_id() >> 32) as u32 };
    let board = Arc::new(Board::default());
    let shared = Arc::new(Shared::default());
    let quit = Arc::new(AtomicBool::new(false));
    // Commands from the window and keyframe requests: few and small; a full queue means the
    // sender is stuck, and a dropped keyframe request is repeated by its receiver.
    let (commands, command_rx) = bounded(64);

    let sender = SenderThread {
        config: config.clone(),
        ssrc,
        clock,
        send: send.try_clone().map_err(MulticastError::Socket)?,
        board: board.clone(),
        shared: shared.clone(),
        quit: quit.clone(),
        commands: command_rx,
        sink: sink.clone(),
    };
    let receiver = ReceiverThread {
        config,
        ssrc,
        clock,
        sockets,
        send,
        board: board.clone(),
        shared,
        quit: quit.clone(),
        keyframes: commands.clone(),
        sink,
        session: VideoSession::new(SessionConfig { own_ssrc: ssrc, payload_type: VIDEO_PAYLOAD_TYPE, clock_rate: VIDEO_CLOCK_RATE, start: clock.start }),
        remotes: HashMap::new(),
        rng: Jitter::new(u64::from(ssrc) | 1),
        summary: Summary::default(),
        latencies: Vec::new(),
        audio_stats,
    };
    let mut threads = Vec::new();
    let spawn_error = |e| MulticastError::Thread(e);
    threads.push(std::thread::Builder::new().name("video-send".into()).spawn(move || sender.run()).map_err(spawn_error)?);
    threads.push(std::thread::Builder::new().name("video-receive".into()).spawn(move || receiver.run()).map_err(spawn_error)?);
    Ok(ConferenceHandle { ssrc, board, audio, commands, quit, waker, threads })
}

enum Source {
    Pattern(TestPattern),
    Camera(Camera),
    Nothing,
}

struct SenderThread {
    config: ConferenceConfig,
    ssrc: u32,
    clock: Clock,
    send: SendSockets,
    board: Arc<Board>,
    shared: Arc<Shared>,
    quit: Arc<AtomicBool>,
    commands: Receiver<SendCommand>,
    sink: Sink,
}

impl SenderThread {
    fn run(mut self) {
        let settings = EncoderSettings { bitrate: self.config.bitrate, fps: self.config.fps as f32, ..EncoderSettings::default() };
        let mut encoder = match H264Encoder::new(settings) {
            Ok(encoder) => encoder,
            Err(e) => {
                (self.sink)(ConferenceEvent::Error(e.to_string()));
                return;
            }
        };
        let packetizer = Packetizer { max_payload: MAX_PAYLOAD };
        let mut source = self.open(self.config.camera.clone());
        let interval = Duration::from_secs_f64(1.0 / f64::from(self.config.fps.max(1)));
        let mut next_frame = Instant::now();
        let mut next_report = Instant::now();
        let mut frame_number = 0u64;
        let mut sequence = (random_id() & 0xffff) as u16;
        let mut want_keyframe = true;
        let mut last_keyframe: Option<Instant> = None;
        while !self.quit.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next_report {
                self.send_sender_report(now);
                next_report = now + REPORT_INTERVAL;
            }
            // Pattern and no camera: paced here. A camera paces itself.
            let wait = match source {
                Source::Camera(_) => Duration::ZERO,
                // No camera: nothing to do until the next report or command.
                Source::Nothing => next_report.saturating_duration_since(now).min(Duration::from_millis(50)),
                Source::Pattern(_) => next_frame.min(next_report).saturating_duration_since(now).min(Duration::from_millis(50)),
            };
            match self.commands.recv_timeout(wait) {
                Ok(SendCommand::Keyframe) => {
                    self.shared.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    want_keyframe = true;
                    continue;
                }
                Ok(SendCommand::Camera(choice)) => {
                    source = self.open(choice);
                    want_keyframe = true;
                    continue;
                }
                Ok(SendCommand::Size(width, height)) => {
                    (self.config.width, self.config.height) = (width, height);
                    source = self.open(self.config.camera.clone());
                    want_keyframe = true;
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            let captured = match &mut source {
                Source::Nothing => continue,
                Source::Pattern(pattern) => {
                    if now < next_frame {
                        continue;
                    }
                    next_frame += interval;
                    if next_frame < now {
                        // Running late (a busy machine): skip ahead rather than burst.
                        next_frame = now + interval;
                    }
                    let clock = chrono::Local::now().format("%H:%M:%S%.3f").to_string();
                    pattern.render(frame_number, &clock)
                }
                Source::Camera(camera) => match camera.capture() {
                    Ok(frame) => frame,
                    Err(e) => {
                        let text = format!("camera lost: {e}");
                        log::warn!("{text}");
                        *self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()) = text.clone();
                        (self.sink)(ConferenceEvent::Camera(text));
                        self.board.remove(self.ssrc);
                        source = Source::Nothing;
                        self.send_sender_report(Instant::now());
                        continue;
                    }
                },
            };
            let timestamp = self.clock.rtp(now);
            frame_number += 1;
            if self.config.display {
                self.board.put(self.ssrc, &captured);
            }
            let force = want_keyframe && last_keyframe.is_none_or(|t| now.duration_since(t) >= KEYFRAME_MIN_INTERVAL);
            let encoded = match encoder.encode(&captured, force) {
                Ok(encoded) => encoded,
                Err(e) => {
                    (self.sink)(ConferenceEvent::Error(e.to_string()));
                    continue;
                }
            };
            if let Some(tap) = &self.config.tap {
                let _ = tap.try_send(Tap::Sent { timestamp, frame: captured });
            }
            if encoded.data.is_empty() {
                continue;
            }
            if encoded.keyframe {
                want_keyframe = false;
                last_keyframe = Some(now);
                self.shared.keyframes.fetch_add(1, Ordering::Relaxed);
            }
            let payloads = packetizer.packetize(&encoded.data);
            let count = payloads.len();
            for (i, payload) in payloads.into_iter().enumerate() {
                let header = Header {
                    marker: i + 1 == count,
                    payload_type: VIDEO_PAYLOAD_TYPE,
                    sequence,
                    timestamp,
                    ssrc: self.ssrc,
                    ..Header::default()
                };
                sequence = sequence.wrapping_add(1);
                let bytes = header.write(&payload);
                if self.send.send_rtp(&bytes) {
                    self.shared.packets.fetch_add(1, Ordering::Relaxed);
                    self.shared.octets.fetch_add(payload.len() as u64, Ordering::Relaxed);
                }
            }
            self.shared.frames.fetch_add(1, Ordering::Relaxed);
        }
        let bye = rtcp::write(&[Rtcp::Bye { sources: vec![self.ssrc] }]);
        self.send.send_rtcp(&bye);
    }

    fn open(&mut self, choice: CameraChoice) -> Source {
        self.config.camera = choice.clone();
        let (source, text) = match choice {
            CameraChoice::Test => (Source::Pattern(TestPattern::new(self.config.width, self.config.height, &self.config.nick)), "test pattern".to_string()),
            CameraChoice::Off => (Source::Nothing, "camera off".to_string()),
            CameraChoice::Device(path) => match Camera::open(&path, self.config.width as u32, self.config.height as u32) {
                Ok(camera) => (Source::Camera(camera), path),
                Err(e) => (Source::Nothing, format!("camera lost: {e}")),
            },
        };
        if matches!(source, Source::Nothing) {
            self.board.remove(self.ssrc);
        }
        *self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()) = text.clone();
        (self.sink)(ConferenceEvent::Camera(text));
        self.send_sender_report(Instant::now());
        source
    }

    /// SR with the clock mapping, and SDES with our name and camera state.
    fn send_sender_report(&self, now: Instant) {
        let note = self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let packets = [
            Rtcp::SenderReport {
                ssrc: self.ssrc,
                ntp: rtcp::ntp_from_unix(self.clock.wall(now)),
                rtp_timestamp: self.clock.rtp(now),
                packets: self.shared.packets.load(Ordering::Relaxed) as u32,
                octets: self.shared.octets.load(Ordering::Relaxed) as u32,
                reports: vec![],
            },
            Rtcp::SourceDescription {
                ssrc: self.ssrc,
                cname: cname_of(self.ssrc),
                name: Some(self.config.nick.clone()),
                note: Some(note),
            },
        ];
        let bytes = rtcp::write(&packets);
        self.send.send_rtcp(&bytes);
    }
}


/// What the window shows of one source, beside its protocol state in the session: its decoder,
/// pictures held back for lip sync, and the interval's latencies.
struct Remote {
    decoder: Option<H264Decoder>,
    last_picture: Option<Instant>,
    frames: u64,
    decode_errors: u64,
    /// Capture-to-display latencies of this interval.
    latencies: Vec<f64>,
    /// Capture-to-decode latencies of this interval, and the median of the last one: how far
    /// the picture runs ahead of the sound before it is held back.
    decoded: Vec<f64>,
    decoded_p50: Option<f64>,
    /// How long decoded pictures wait so that they show with the participant's sound.
    sync_delay: Duration,
    held: VecDeque<Held>,
}

/// A decoded picture waiting for its moment.
struct Held {
    due: Instant,
    timestamp: u32,
    frame: Frame,
}

impl Remote {
    fn new() -> Remote {
        Remote {
            decoder: None,
            last_picture: None,
            frames: 0,
            decode_errors: 0,
            latencies: Vec::new(),
            decoded: Vec::new(),
            decoded_p50: None,
            sync_delay: Duration::ZERO,
            held: VecDeque::new(),
        }
    }
}

struct ReceiverThread {
    config: ConferenceConfig,
    ssrc: u32,
    clock: Clock,
    sockets: SessionSockets,
    send: SendSockets,
    board: Arc<Board>,
    shared: Arc<Shared>,
    quit: Arc<AtomicBool>,
    keyframes: Sender<SendCommand>,
    sink: Sink,
    /// Every source's protocol state (sans-IO); `remotes` holds what we do with its pictures.
    session: VideoSession,
    remotes: HashMap<u32, Remote>,
    rng: Jitter,
    summary: Summary,
    latencies: Vec<f64>,
    audio_stats: Option<Arc<Mutex<AudioStats>>>,
}

/// The `p`th percentile (0 to 100) of sorted values, to two decimals; None for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some((sorted[rank.min(sorted.len() - 1)] * 100.0).round() / 100.0)
}

impl ReceiverThread {
    fn run(mut self) {
        let mut next_report = Instant::now() + REPORT_INTERVAL;
        let mut last_sent = (0u64, 0u64, 0u64, 0u64);
        let mut last_report_at = self.clock.start;
        while !self.quit.load(Ordering::SeqCst) {
            let wake = [self.next_due(), self.session.poll_timeout(), Some(next_report)].into_iter().flatten().min().unwrap_or(next_report);
            let timeout = wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
            match self.sockets.receive(timeout) {
                Ok(datagrams) => rtp::dispatch(datagrams, &mut self),
                Err(e) => {
                    (self.sink)(ConferenceEvent::Error(format!("network wait failed: {e}")));
                    break;
                }
            }
            let now = Instant::now();
            self.release(now);
            if self.session.poll_timeout().is_some_and(|t| t <= now) {
                let out = self.session.handle_timeout(now);
                self.take(out, now);
            }
            if now >= next_report {
                let elapsed = now.duration_since(last_report_at).as_secs_f64().max(1e-3);
                last_report_at = now;
                next_report = now + REPORT_INTERVAL;
                let report = self.session.receiver_report(&self.config.nick, &cname_of(self.ssrc), now);
                self.send.send_rtcp(&report);
                let sent = (
                    self.shared.frames.load(Ordering::Relaxed),
                    self.shared.keyframes.load(Ordering::Relaxed),
                    self.shared.packets.load(Ordering::Relaxed),
                    self.shared.octets.load(Ordering::Relaxed),
                );
                let mut peers = self.peer_stats(now, elapsed);
                let audio = self.audio_stats.as_ref().map(|a| a.lock().unwrap_or_else(|e| e.into_inner()).clone());
                if let Some(audio) = &audio {
                    self.follow_sound(audio);
                    for peer in peers.iter_mut() {
                        let sound = audio.peer(&cname_of(peer.ssrc)).and_then(|v| v.latency_ms_p50);
                        if let (Some(sound), Some(picture)) = (sound, peer.latency_ms_p50) {
                            peer.av_offset_ms = Some(((sound - picture) * 10.0).round() / 10.0);
                        }
                    }
                }
                let camera = self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let stats = Stats {
                    t: (now.duration_since(self.clock.start).as_secs_f64() * 100.0).round() / 100.0,
                    nick: self.config.nick.clone(),
                    ssrc: self.ssrc,
                    sent: SentStats {
                        frames: sent.0 - last_sent.0,
                        keyframes: sent.1 - last_sent.1,
                        packets: sent.2 - last_sent.2,
                        kbps: ((sent.3 - last_sent.3) as f64 * 8.0 / 1000.0 / elapsed).round(),
                        keyframe_requests: self.shared.keyframe_requests.swap(0, Ordering::Relaxed),
                        camera,
                    },
                    peers,
                    audio,
                };
                last_sent = sent;
                (self.sink)(ConferenceEvent::Stats(stats));
            }
        }
        let mut summary = self.summary.clone();
        summary.seconds = self.clock.start.elapsed().as_secs_f64();
        summary.frames_sent = self.shared.frames.load(Ordering::Relaxed);
        summary.bytes_sent = self.shared.octets.load(Ordering::Relaxed);
        summary.packets_lost += self.session.sources().map(|(_, s)| s.stats.lost()).sum::<i64>();
        self.latencies.sort_by(f64::total_cmp);
        summary.latency_ms_p50 = percentile(&self.latencies, 50.0);
        summary.latency_ms_p95 = percentile(&self.latencies, 95.0);
        (self.sink)(ConferenceEvent::Stopped(summary));
    }

    fn inject_loss(&mut self, now: Instant) -> bool {
        if let Some((from, length)) = self.config.drop_window {
            let since = now.duration_since(self.clock.start);
            if since >= from && since < from + length {
                return true;
            }
        }
        self.rng.chance(self.config.drop_incoming)
    }

    /// Carries out what the session asked for: RTCP to send, access units to decode, and the
    /// comings and goings of participants.
    fn take(&mut self, out: session::Output, now: Instant) {
        for bytes in &out.rtcp {
            self.send.send_rtcp(bytes);
        }
        for event in out.events {
            match event {
                SessionEvent::Participant { ssrc, nick } => (self.sink)(ConferenceEvent::Participant { ssrc, nick }),
                SessionEvent::AccessUnit { ssrc, timestamp, data, .. } => self.decode(ssrc, timestamp, &data, now),
                SessionEvent::Lost { ssrc, packets } => {
                    self.summary.frames_lost += 1;
                    log::debug!("{packets} packets of {ssrc:08x} lost");
                }
                // The sender's camera changed: its old picture goes.
                SessionEvent::NoteChanged { ssrc, .. } => self.board.remove(ssrc),
                SessionEvent::Left { ssrc, nick, lost } => {
                    self.remotes.remove(&ssrc);
                    self.summary.packets_lost += lost;
                    self.board.remove(ssrc);
                    (self.sink)(ConferenceEvent::Left { ssrc, nick });
                }
                SessionEvent::KeyframeWanted => {
                    // Full queue: the sender is busy and will see earlier requests.
                    if let Err(TrySendError::Disconnected(_)) = self.keyframes.try_send(SendCommand::Keyframe) {
                        log::debug!("keyframe request after the sender stopped");
                    }
                }
            }
        }
    }

    fn decode(&mut self, ssrc: u32, timestamp: u32, data: &[u8], now: Instant) {
        let remote = self.remotes.entry(ssrc).or_insert_with(Remote::new);
        if remote.decoder.is_none() {
            match H264Decoder::new() {
                Ok(decoder) => remote.decoder = Some(decoder),
                Err(e) => {
                    (self.sink)(ConferenceEvent::Error(e.to_string()));
                    return;
                }
            }
        }
        let decoder = remote.decoder.as_mut().expect("set above");
        match decoder.decode(data) {
            Ok(Some(frame)) => {
                let now = Instant::now();
                remote.frames += 1;
                remote.last_picture = Some(now);
                self.session.decoded(ssrc);
                self.summary.frames_received += 1;
                let clock = self.session.source(ssrc).and_then(|s| s.clock);
                if let Some(captured) = rtcp::captured_at(clock, timestamp, VIDEO_CLOCK_RATE) {
                    remote.decoded.push((self.clock.wall(now).as_secs_f64() - captured) * 1000.0);
                }
                if remote.sync_delay.is_zero() && remote.held.is_empty() {
                    self.show(ssrc, timestamp, frame, now);
                } else {
                    remote.held.push_back(Held { due: now + remote.sync_delay, timestamp, frame });
                    // Never more than a second of pictures: a stuck clock must not eat memory.
                    if remote.held.len() > MAX_HELD {
                        let oldest = remote.held.pop_front().expect("not empty");
                        self.show(ssrc, oldest.timestamp, oldest.frame, now);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                remote.decode_errors += 1;
                self.summary.decode_errors += 1;
                log::debug!("{ssrc:08x}: {e}");
                let out = self.session.decode_failed(ssrc, now);
                self.take(out, now);
            }
        }
    }

    /// A decoded picture goes on screen (and to the tap), and its capture-to-display latency is
    /// counted.
    fn show(&mut self, ssrc: u32, timestamp: u32, frame: Frame, now: Instant) {
        if self.config.display {
            self.board.put(ssrc, &frame);
        }
        let wall = self.clock.wall(now).as_secs_f64();
        let clock = self.session.source(ssrc).and_then(|s| s.clock);
        if let (Some(remote), Some(captured)) = (self.remotes.get_mut(&ssrc), rtcp::captured_at(clock, timestamp, VIDEO_CLOCK_RATE)) {
            let latency = (wall - captured) * 1000.0;
            remote.latencies.push(latency);
            if self.latencies.len() < 1_000_000 {
                self.latencies.push(latency);
            }
        }
        if let Some(tap) = &self.config.tap {
            let _ = tap.try_send(Tap::Decoded { ssrc, timestamp, frame });
        }
    }

    /// Shows the held pictures whose moment has come.
    fn release(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (ssrc, remote) in self.remotes.iter_mut() {
            while remote.held.front().is_some_and(|h| h.due <= now) {
                due.push((*ssrc, remote.held.pop_front().expect("checked")));
            }
        }
        for (ssrc, held) in due {
            self.show(ssrc, held.timestamp, held.frame, now);
        }
    }

    /// When the next held picture is due.
    fn next_due(&self) -> Option<Instant> {
        self.remotes.values().filter_map(|r| r.held.front().map(|h| h.due)).min()
    }

    /// Holds each participant's pictures back by as much as their sound trails them (lip sync),
    /// from the medians of the interval; changes under 5 ms are left alone so the picture does
    /// not jitter.
    fn follow_sound(&mut self, audio: &AudioStats) {
        for (ssrc, remote) in self.remotes.iter_mut() {
            let voice = audio.peer(&cname_of(*ssrc)).and_then(|v| v.latency_ms_p50);
            let wanted = match (voice, remote.decoded_p50) {
                (Some(sound), Some(picture)) => Duration::from_secs_f64(((sound - picture) / 1000.0).clamp(0.0, MAX_SYNC.as_secs_f64())),
                _ => Duration::ZERO,
            };
            if wanted.abs_diff(remote.sync_delay) >= Duration::from_millis(5) || wanted.is_zero() {
                remote.sync_delay = wanted;
            }
        }
    }

    fn peer_stats(&mut self, now: Instant, elapsed: f64) -> Vec<PeerStats> {
        let counts = self.session.take_counts();
        let mut peers: Vec<PeerStats> = counts
            .into_iter()
            .filter_map(|(ssrc, counts)| {
                let source = self.session.source(ssrc)?;
                let remote = self.remotes.entry(ssrc).or_insert_with(Remote::new);
                let mut latencies = std::mem::take(&mut remote.latencies);
                latencies.sort_by(f64::total_cmp);
                let mut decoded = std::mem::take(&mut remote.decoded);
                decoded.sort_by(f64::total_cmp);
                remote.decoded_p50 = percentile(&decoded, 50.0).or(remote.decoded_p50);
                let stalled = !source.note.starts_with("camera ") && remote.last_picture.is_none_or(|t| now.duration_since(t) > STALL_AFTER);
                let peer = PeerStats {
                    ssrc,
                    nick: source.nick.clone(),
                    frames: remote.frames,
                    fps: (remote.frames as f64 / elapsed * 10.0).round() / 10.0,
                    kbps: (counts.octets as f64 * 8.0 / 1000.0 / elapsed).round(),
                    packets: counts.packets,
                    lost: source.stats.lost(),
                    decode_errors: remote.decode_errors,
                    keyframe_requests: counts.keyframe_requests,
                    latency_ms_p50: percentile(&latencies, 50.0),
                    latency_ms_p95: percentile(&latencies, 95.0),
                    stalled,
                    note: source.note.clone(),
                    av_offset_ms: None,
                    sync_delay_ms: remote.sync_delay.as_millis() as u64,
                };
                remote.frames = 0;
                Some(peer)
            })
            .collect();
        peers.sort_by(|a, b| a.nick.cmp(&b.nick).then(a.ssrc.cmp(&b.ssrc)));
        peers
    }
}

impl rtp::RtpSession for ReceiverThread {
    fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr) {
        let now = Instant::now();
        if self.inject_loss(now) {
            return;
        }
        let out = self.session.on_rtp(bytes, from, now);
        self.take(out, now);
    }

    fn on_rtcp(&mut self, bytes: &[u8], from: SocketAddr) {
        let now = Instant::now();
        let out = self.session.on_rtcp(bytes, from, now);
        self.take(out, now);
    }
}

/// Cameras to offer in a chooser: the test pattern first, then each V4L2 capture device.
pub fn camera_choices() -> Vec<(String, String)> {
    let mut choices = vec![("test".to_string(), "Test pattern".to_string())];
    choices.extend(camera::list());
    choices
}
