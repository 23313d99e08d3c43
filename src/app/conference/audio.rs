//! The conference's audio: its configuration, the choice of devices, and the handle of its two
//! threads. `audio_send.rs` captures (microphone or synthetic voice), cancels the echo, encodes
//! Opus and sends RTP; `audio_receive.rs` receives and plays what `mixer.rs` mixes.
//! Audio has its own ports (the video's RTP port + 2 for RTP, + 3 for RTCP) and SSRC, and the
//! video's CNAME, so that a receiver can pair a participant's audio with their video.

use super::audio_receive::AudioReceiver;
use super::audio_send::AudioSender;
use super::mixer::{Mixer, MixerConfig};
use super::device::DeviceState;
use super::stats::AudioStats;
use crate::media::audio::SAMPLE_RATE;
use crate::net::multicast::{random_id, MulticastError};
use crate::net::rtp;
use crate::proto::rtp::rtcp;
use crate::proto::Jitter;
use crossbeam_channel::Sender;
use mio::Waker;
use ringbuf::traits::Split;
use ringbuf::HeapRb;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The SDES NOTE (RFC 3550 §6.5.7) a voice carries while its microphone is muted: other tools
/// show it as the participant's note, ours as a muted microphone on the tile.
pub const MUTED_NOTE: &str = "microphone muted";
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use super::mixer::MAX_AUDIO_SOURCES;

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
    /// SRTP with this key (None: plain RTP).
    pub srtp: Option<crate::net::srtp::SrtpKey>,
    /// Our signing key, and the call our name signatures are bound to.
    pub signer: Option<Arc<crate::proto::mchat::seal::Signer>>,
    pub scope: String,
}

impl AudioConfig {
    /// Our name's signature for our SDES, as of `unix` (seconds).
    pub(super) fn signed_name(&self, ssrc: u32, unix: Duration) -> Option<Vec<u8>> {
        self.signer.as_ref().map(|signer| rtcp::sign_name(signer, &self.scope, ssrc, &self.cname, &self.nick, unix.as_secs()))
    }

    /// Our SDES as of `unix`: the name, signed, and while muted the note that says so.
    pub(super) fn source_description(&self, ssrc: u32, muted: bool, unix: Duration) -> rtcp::Rtcp {
        rtcp::Rtcp::SourceDescription {
            ssrc,
            cname: self.cname.clone(),
            name: Some(self.nick.clone()),
            note: muted.then(|| MUTED_NOTE.to_string()),
            signed: self.signed_name(ssrc, unix),
        }
    }
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
    /// A microphone or speaker chosen during the call, for the threads to take up: the sending
    /// thread within a frame (or the 100 ms a stalled device may wait), the receiving one within
    /// a mix step.
    pub mic_wanted: Mutex<Option<MicChoice>>,
    pub speaker_wanted: Mutex<Option<SpeakerChoice>>,
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

    /// As `stop`, without waiting: both threads end on their own (within a frame, or the
    /// 100 ms a microphone read may wait); they are not joined and hold nothing but their
    /// devices and sockets, which they close as they end.
    pub fn leave(mut self) {
        self.quit.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        self.threads.clear();
    }

    /// Switch the microphone, the speaker or both; the call goes on.
    pub fn set_devices(&self, mic: Option<MicChoice>, speaker: Option<SpeakerChoice>) {
        if let Some(mic) = mic {
            *self.controls.mic_wanted.lock().unwrap_or_else(|e| e.into_inner()) = Some(mic);
        }
        if let Some(speaker) = speaker {
            *self.controls.speaker_wanted.lock().unwrap_or_else(|e| e.into_inner()) = Some(speaker);
        }
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
pub(super) fn release<T: Send + 'static>(device: T) {
    let _ = std::thread::Builder::new().name("sound-release".into()).spawn(move || drop(device));
}

/// A device's name, with its rate when it is not 48 kHz (converted).
pub(super) fn device_name(name: &str, rate: u32) -> String {
    match rate {
        SAMPLE_RATE => name.to_string(),
        _ => format!("{name} ({:.1} kHz, converted)", f64::from(rate) / 1000.0),
    }
}

pub(super) fn now_wall() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Join the audio ports and start both threads. Device problems are reported in the stats
/// (`mic`, `speaker`) and the call goes on without the device.
pub fn spawn(config: AudioConfig, on_error: Arc<dyn Fn(String) + Send + Sync>) -> Result<AudioHandle, MulticastError> {
    let (mut sockets, send) = rtp::open(config.group, config.interface, config.ttl, 1 << 20, config.srtp.as_ref())?;
    let waker = sockets.waker.clone();
    let ssrc = random_id() as u32;
    sockets.set_own_ssrc(ssrc);
    let controls = Arc::new(AudioControls::default());
    let stats = Arc::new(Mutex::new(AudioStats::default()));
    let quit = Arc::new(AtomicBool::new(false));
    let sent = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let start = Instant::now();
    let start_wall = now_wall();
    let rtp_base = (random_id() >> 32) as u32;
    let mic_state = Arc::new(Mutex::new(DeviceState::default()));
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
    let mixer = Mixer::new(MixerConfig { own_ssrc: ssrc, start, start_wall, tap: config.tap.clone(), scope: config.scope.clone() });
    let receiver = AudioReceiver {
        config,
        ssrc,
        sockets,
        send,
        controls: controls.clone(),
        stats: stats.clone(),
        quit: quit.clone(),
        sent,
        mixer,
        rng: Jitter::new(u64::from(ssrc) | 1),
        mic_state,
        on_error,
        far_end: far_in,
    };
    let threads = vec![
        std::thread::Builder::new().name("audio-send".into()).spawn(move || sender.run()).map_err(MulticastError::Thread)?,
        std::thread::Builder::new().name("audio-receive".into()).spawn(move || receiver.run()).map_err(MulticastError::Thread)?,
    ];
    Ok(AudioHandle { ssrc, controls, stats, quit, waker, threads })
}
