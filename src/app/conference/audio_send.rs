//! The sending side of the audio: microphone or synthetic voice, echo cancellation against
//! what the speaker played, Opus, RTP, and a sender report every second.

use super::device::{DeviceKind, DeviceState};
use super::audio::{device_name, release, AudioConfig, AudioControls, AudioTap, MicChoice};
use super::mixer::FRAME_TIME;
use crate::media::audio::{OpusEncoder, Voice, FRAME, OPUS_PAYLOAD_TYPE, SAMPLE_RATE};
use crate::media::echo::EchoCanceller;
use crate::media::sound::Capture;
use crate::net::multicast::random_id;
use crate::net::rtp::SendSockets;
use crate::proto::rtp::packet::Header;
use crate::proto::rtp::rtcp::{self, Rtcp};
use ringbuf::traits::{Consumer, Observer};
use ringbuf::HeapCons;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) struct AudioSender {
    pub(super) config: AudioConfig,
    pub(super) ssrc: u32,
    pub(super) send: SendSockets,
    pub(super) controls: Arc<AudioControls>,
    pub(super) quit: Arc<AtomicBool>,
    /// Packets and payload bytes sent.
    pub(super) sent: Arc<(AtomicU64, AtomicU64)>,
    pub(super) start: Instant,
    pub(super) start_wall: Duration,
    pub(super) rtp_base: u32,
    pub(super) mic_state: Arc<Mutex<DeviceState>>,
    pub(super) on_error: Arc<dyn Fn(String) + Send + Sync>,
    /// What the speaker played, frame by frame, for the echo canceller.
    pub(super) far_end: HeapCons<f32>,
}

enum Mic {
    Voice(Voice),
    Device(Box<Capture>),
    Nothing,
}

impl AudioSender {
    fn set_state(&self, state: DeviceState) {
        *self.mic_state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// Opens what the user chose, and says what became of it.
    fn open(&self, choice: &MicChoice) -> Mic {
        match choice {
            MicChoice::Test => {
                self.set_state(DeviceState::Working("test voice".into()));
                Mic::Voice(Voice::new(self.config.voice_pitch))
            }
            MicChoice::Off => {
                self.set_state(DeviceState::Off);
                Mic::Nothing
            }
            MicChoice::Device(id) => match Capture::open(id) {
                Ok(capture) => {
                    self.set_state(DeviceState::Working(device_name(&capture.name, capture.rate)));
                    Mic::Device(Box::new(capture))
                }
                Err(e) => {
                    let state = DeviceState::Missing(e.to_string());
                    (self.on_error)(state.describe(DeviceKind::Microphone));
                    self.set_state(state);
                    Mic::Nothing
                }
            },
        }
    }

    /// An echo canceller for a real microphone (only it hears the speaker).
    fn canceller(&self, mic: &Mic) -> Option<EchoCanceller> {
        (self.config.echo_cancel && matches!(mic, Mic::Device(_))).then(|| EchoCanceller::new(20))
    }

    pub(super) fn run(mut self) {
        let mut encoder = match OpusEncoder::new(self.config.bitrate, 10) {
            Ok(encoder) => encoder,
            Err(e) => return (self.on_error)(e.to_string()),
        };
        let mut mic = self.open(&self.config.mic.clone());
        let mut frame = [0.0f32; FRAME];
        let mut far = [0.0f32; FRAME];
        let mut canceller = self.canceller(&mic);
        let mut frames_sent = 0u64;
        let mut sequence = (random_id() & 0xffff) as u16;
        // A frame is whole (as from a microphone) 20 ms after its first sample.
        let mut next_frame = self.start + FRAME_TIME;
        let mut next_report = self.start;
        let mut talking = false;
        while !self.quit.load(Ordering::SeqCst) {
            let wanted = self.controls.mic_wanted.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(choice) = wanted {
                if let Mic::Device(capture) = std::mem::replace(&mut mic, Mic::Nothing) {
                    release(capture);
                }
                mic = self.open(&choice);
                canceller = self.canceller(&mic);
                // Timestamps go on from the time that passed (the sender reports map them to
                // the clock), and the synthetic voice keeps time from now: no burst to catch up.
                let now = Instant::now();
                frames_sent = (now.duration_since(self.start).as_micros() / FRAME_TIME.as_micros()) as u64;
                next_frame = now + FRAME_TIME;
                talking = false;
            }
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
                        let state = DeviceState::Lost(e.to_string());
                        (self.on_error)(state.describe(DeviceKind::Microphone));
                        self.set_state(state);
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
            self.config.source_description(self.ssrc, self.controls.muted.load(Ordering::Relaxed), self.start_wall + elapsed),
        ];
        self.send.send_rtcp(&rtcp::write(&packets));
    }
}
