//! The video conference: one sending thread (camera or test pattern -> H.264 -> RTP -> group)
//! and one receiving thread (group -> RTP -> frames -> H.264 decoder -> tiles), with RTCP beside
//! them for timing (sender reports), loss (receiver reports), names (SDES) and keyframe
//! requests (PLI). Pictures reach the window through a [`Board`]: latest wins, one per tile.
//!
//! Here: the configuration, the handle and the start. Beside it: `video_send.rs`,
//! `video_receive.rs` (decoding and statistics; the protocol state is `proto::rtp::session`),
//! `lipsync.rs` (pictures held back to show with the sound),
//! `audio.rs` (the sound's configuration, devices and handle), `audio_send.rs`,
//! `audio_receive.rs` (the thread and the speaker), `mixer.rs` (the voices heard, playout and
//! mix, with time as an argument), `device.rs` (what became of each device) and `stats.rs`
//! (what is reported).

pub mod audio;
mod audio_receive;
mod audio_send;
mod device;
mod lipsync;
mod mixer;
mod stats;
mod video_receive;
mod video_send;

use audio::{AudioConfig, AudioHandle, AudioTap, MicChoice, SpeakerChoice};
pub use device::{DeviceKind, DeviceState};
pub use stats::{percentile, AudioPeer, AudioStats, PeerStats, SentStats, Stats, Summary};
use video_receive::ReceiverThread;
use video_send::SenderThread;
use crate::media::camera::{self, Camera};
use crate::media::codec::{EncoderSettings, H264Decoder, H264Encoder, VideoDecoder, VideoEncoder};
use crate::media::frame::Frame;
use crate::media::pattern::TestPattern;
use crate::net::multicast::{random_id, MulticastError};
use crate::net::rtp::{self, SendSockets, SessionSockets};
pub use crate::net::srtp::SrtpKey;
use crate::net::identity::KnownPeers;
use crate::proto::mchat::seal::Signer;
use crate::proto::trust::Trust;
use crate::proto::rtp::h264::Packetizer;
use crate::proto::rtp::packet::Header;
use crate::proto::rtp::rtcp::{self, Rtcp};
use crate::proto::rtp::sdp;
use crate::proto::rtp::session::{self, Event as SessionEvent, SessionConfig, VideoSession};
use crate::proto::Jitter;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use mio::Waker;
use std::collections::HashMap;
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
    /// Copies of sent and decoded pictures, for measuring quality (tests and benchmarks). The
    /// caller bounds the channel; when it is full a picture is dropped (`try_send`), so a slow
    /// reader never slows the call.
    pub tap: Option<Sender<Tap>>,
    /// Audio on the next two ports (RTP port + 2 and + 3).
    pub audio: bool,
    pub mic: MicChoice,
    pub speaker: SpeakerChoice,
    /// Pitch of the synthetic voice (`MicChoice::Test`), in Hz.
    pub voice_pitch: f32,
    /// As `tap`, for sound: dropped when full.
    pub audio_tap: Option<Sender<AudioTap>>,
    /// SRTP for video and audio, keyed from the conference's passphrase; None: plain RTP.
    pub srtp: Option<SrtpKey>,
    /// Our signing key: our name in our reports is signed with it (`new` makes one for the
    /// session; the front ends use the installation's, see `net::identity`).
    pub signer: Option<Arc<Signer>>,
    /// Where names are pinned to keys; None keeps the pins for this call only.
    pub known_peers: Option<KnownPeers>,
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
            srtp: None,
            signer: Some(Arc::new(Signer::generate())),
            known_peers: None,
        }
    }

    /// Encrypt the call with the key from `passphrase` (an empty one: not encrypted). The key
    /// is bound to the group and video port; it takes a noticeable fraction of a second.
    pub fn set_passphrase(&mut self, passphrase: &str) {
        self.srtp = (!passphrase.is_empty()).then(|| SrtpKey::from_passphrase(passphrase, self.group));
    }

    /// What the participants' name signatures are bound to: this call's group and port, and
    /// its key when it is encrypted.
    pub fn name_scope(&self) -> String {
        match &self.srtp {
            Some(key) => format!("{} srtp {}", self.group, key.id()),
            None => self.group.to_string(),
        }
    }

    fn audio_group(&self) -> SocketAddrV4 {
        SocketAddrV4::new(*self.group.ip(), self.group.port().wrapping_add(2))
    }

    /// How the video is encoded, the same in the call and in its description.
    pub fn encoder_settings(&self) -> EncoderSettings {
        EncoderSettings { bitrate: self.bitrate, fps: self.fps as f32, ..EncoderSettings::default() }
    }

    /// The SDP description of this conference's video, with the parameter sets the encoder
    /// writes at the configured size (a camera that picks another size sends its own with each
    /// keyframe).
    pub fn sdp(&self) -> String {
        let origin = if self.interface.is_unspecified() { Ipv4Addr::LOCALHOST } else { self.interface };
        let parameter_sets = crate::media::codec::parameter_sets(self.encoder_settings(), self.width, self.height)
            .map_err(|e| log::warn!("the description goes without parameter sets: {e}"))
            .ok();
        sdp::describe(&sdp::Session {
            name: format!("lanmeet conference of {}", self.nick),
            origin,
            group: *self.group.ip(),
            ttl: self.ttl,
            video_port: self.group.port(),
            audio_port: self.audio.then(|| self.audio_group().port()),
            payload_type: VIDEO_PAYLOAD_TYPE,
            crypto: self.srtp.as_ref().map(SrtpKey::inline),
            session_id: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            parameter_sets,
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

#[derive(Debug, Clone, PartialEq)]
pub enum ConferenceEvent {
    /// A participant's first packet arrived, or its name became known.
    Participant { ssrc: u32, nick: String },
    Left { ssrc: u32, nick: String },
    /// What became of the camera (or the test pattern) in use.
    Camera(DeviceState),
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
    camera: Mutex<DeviceState>,
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
    /// Switch the camera. Like every command, it never waits: when 64 commands are already
    /// queued (a sending thread stuck on its camera) it is dropped, and false says so.
    pub fn set_camera(&self, camera: CameraChoice) -> bool {
        self.commands.try_send(SendCommand::Camera(camera)).is_ok()
    }

    pub fn set_size(&self, width: usize, height: usize) -> bool {
        self.commands.try_send(SendCommand::Size(width, height)).is_ok()
    }

    /// Switch the microphone, the speaker or both without restarting the call: the pictures
    /// and the other sound go on.
    pub fn set_sound(&self, mic: Option<MicChoice>, speaker: Option<SpeakerChoice>) {
        if let Some(audio) = &self.audio {
            audio.set_devices(mic, speaker);
        }
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

    /// As `stop`, without waiting (the window's Leave): the threads say goodbye and end on
    /// their own, the sending one once its camera returns (a stalled camera may hold it for up
    /// to 2 s); the receiving thread's last event is `Stopped`. They are not joined.
    pub fn leave(mut self) {
        if let Some(audio) = self.audio.take() {
            audio.leave();
        }
        self.quit.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        self.threads.clear();
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
    let (mut sockets, send) = rtp::open(config.group, config.interface, config.ttl, 4 << 20, config.srtp.as_ref())?;
    let waker = sockets.waker.clone();

    let ssrc = random_id() as u32;
    sockets.set_own_ssrc(ssrc);
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
            srtp: config.srtp.clone(),
            signer: config.signer.clone(),
            scope: config.name_scope(),
        };
        let errors = sink.clone();
        Some(audio::spawn(audio_config, Arc::new(move |text| errors(ConferenceEvent::Error(text))))?)
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
    // An encrypted call keeps pins of its own: a name first claimed on an open call, where
    // anyone can claim it, does not count there.
    let known_peers = config.known_peers.as_ref().map(|known| match &config.srtp {
        Some(key) => KnownPeers::new(known.path().with_file_name(format!("known_peers-call-{}", key.id()))),
        None => known.clone(),
    });
    let mut session_config = SessionConfig::new(ssrc, VIDEO_PAYLOAD_TYPE, VIDEO_CLOCK_RATE, clock.start, clock.start_wall);
    session_config.signer = config.signer.clone();
    session_config.scope = config.name_scope();
    if let Some(known) = &known_peers {
        match known.load() {
            Ok(pins) => session_config.pins = pins,
            Err(e) => log::warn!("cannot read the pinned keys in {}: {e}", known.path().display()),
        }
    }
    let config = ConferenceConfig { known_peers, ..config };
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
        session: VideoSession::new(session_config),
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

/// Cameras to offer in a chooser: the test pattern first, then each V4L2 capture device.
pub fn camera_choices() -> Vec<(String, String)> {
    let mut choices = vec![("test".to_string(), "Test pattern".to_string())];
    choices.extend(camera::list());
    choices
}
