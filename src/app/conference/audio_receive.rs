//! The receiving thread of the audio: the sockets, the speaker, and the clock that asks the
//! mixer for 5 ms of sound at a time. What is heard and how it is mixed is in `mixer.rs`.

use super::device::{DeviceKind, DeviceState};
use super::audio::{device_name, release, AudioConfig, AudioControls, SpeakerChoice};
use super::mixer::{Mixer, MIX_TIME};
use super::stats::AudioStats;
use crate::media::sound::Playback;
use crate::net::rtp::{self, SendSockets, SessionSockets};
use crate::proto::rtp::rtcp::{self, Rtcp};
use crate::proto::Jitter;
use ringbuf::traits::Producer;
use ringbuf::HeapProd;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Mix steps caught up at most after the thread was held up (200 ms): beyond that the buffers
/// would only grow.
const MAX_CATCH_UP: u32 = 40;

pub(super) struct AudioReceiver {
    pub(super) config: AudioConfig,
    pub(super) ssrc: u32,
    pub(super) sockets: SessionSockets,
    pub(super) send: SendSockets,
    pub(super) controls: Arc<AudioControls>,
    pub(super) stats: Arc<Mutex<AudioStats>>,
    pub(super) quit: Arc<AtomicBool>,
    /// Packets and payload bytes the sending thread sent.
    pub(super) sent: Arc<(AtomicU64, AtomicU64)>,
    pub(super) mixer: Mixer,
    pub(super) rng: Jitter,
    pub(super) mic_state: Arc<Mutex<DeviceState>>,
    pub(super) on_error: Arc<dyn Fn(String) + Send + Sync>,
    /// What the speaker played, for the sending side's echo canceller.
    pub(super) far_end: HeapProd<f32>,
}

impl AudioReceiver {
    /// Opens what the user chose, and says what became of it.
    fn open(&self, choice: &SpeakerChoice) -> (Option<Playback>, DeviceState) {
        match choice {
            SpeakerChoice::Null => (None, DeviceState::Off),
            SpeakerChoice::Device(id) => match Playback::open(id) {
                Ok(playback) => {
                    let name = device_name(&playback.name, playback.rate);
                    (Some(playback), DeviceState::Working(name))
                }
                Err(e) => {
                    let state = DeviceState::Missing(e.to_string());
                    (self.on_error)(state.describe(DeviceKind::Speaker));
                    (None, state)
                }
            },
        }
    }

    pub(super) fn run(mut self) {
        let (mut playback, mut speaker) = self.open(&self.config.speaker);
        let mut next_tick = Instant::now() + MIX_TIME;
        let mut next_report = Instant::now() + Duration::from_secs(1);
        let mut last_sent = (0u64, 0u64);
        while !self.quit.load(Ordering::SeqCst) {
            let wanted = self.controls.speaker_wanted.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(choice) = wanted {
                if let Some(old) = playback.take() {
                    release(old);
                }
                (playback, speaker) = self.open(&choice);
            }
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match self.sockets.receive(timeout) {
                Ok(datagrams) => rtp::dispatch(datagrams, &mut self),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
            let now = Instant::now();
            // One block per 5 ms that passed: a thread that was held up catches up (at most
            // 200 ms of it) rather than letting the buffers grow.
            let mut due = 0;
            while now >= next_tick && due < MAX_CATCH_UP {
                next_tick += MIX_TIME;
                due += 1;
            }
            if now >= next_tick {
                next_tick = now + MIX_TIME;
            }
            for _ in 0..due {
                let mix = {
                    let volumes = self.controls.volumes.lock().unwrap_or_else(|e| e.into_inner());
                    self.mixer.tick(now, &volumes)
                };
                let failed = playback.as_mut().and_then(|p| p.write(mix).err());
                if playback.is_some() {
                    self.far_end.push_slice(mix);
                }
                if let Some(e) = failed {
                    // The call goes on without sound out.
                    speaker = DeviceState::Lost(e.to_string());
                    (self.on_error)(speaker.describe(DeviceKind::Speaker));
                    if let Some(playback) = playback.take() {
                        release(playback);
                    }
                }
            }
            if now >= next_report {
                next_report += Duration::from_secs(1);
                let sent = (self.sent.0.load(Ordering::Relaxed), self.sent.1.load(Ordering::Relaxed));
                let mic = self.mic_state.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let report = AudioStats {
                    mic,
                    speaker: speaker.clone(),
                    muted: self.controls.muted.load(Ordering::Relaxed),
                    packets: sent.0 - last_sent.0,
                    kbps: ((sent.1 - last_sent.1) as f64 * 8.0 / 1000.0).round(),
                    peers: self.mixer.take_interval(now),
                    unopened: self.sockets.unopened,
                    replayed: self.sockets.replayed,
                    latency_ms_p50_all: self.mixer.latency_percentile(50.0),
                    latency_ms_p95_all: self.mixer.latency_percentile(95.0),
                };
                last_sent = sent;
                *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = report;
                let bytes = rtcp::write(&[
                    Rtcp::ReceiverReport { ssrc: self.ssrc, reports: self.mixer.reception_reports(now) },
                    self.config.source_description(self.ssrc, self.controls.muted.load(Ordering::Relaxed), super::audio::now_wall()),
                ]);
                self.send.send_rtcp(&bytes);
            }
        }
        drop(playback);
    }
}

impl rtp::RtpSession for AudioReceiver {
    fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr) {
        if self.rng.chance(self.config.drop_incoming) {
            return;
        }
        self.mixer.on_rtp(bytes, from, Instant::now());
    }

    fn on_rtcp(&mut self, bytes: &[u8], from: SocketAddr) {
        self.mixer.on_rtcp(bytes, from, Instant::now());
    }
}
