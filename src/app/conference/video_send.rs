//! The sending side of the video: the camera or test pattern, the encoder, RTP packets and
//! sender reports.

use super::*;

pub(super) enum Source {
    Pattern(TestPattern),
    Camera(Camera),
    Nothing,
}

pub(super) struct SenderThread {
    pub(super) config: ConferenceConfig,
    pub(super) ssrc: u32,
    pub(super) clock: Clock,
    pub(super) send: SendSockets,
    pub(super) board: Arc<Board>,
    pub(super) shared: Arc<Shared>,
    pub(super) quit: Arc<AtomicBool>,
    pub(super) commands: Receiver<SendCommand>,
    pub(super) sink: Sink,
}

impl SenderThread {
    pub(super) fn run(mut self) {
        let mut encoder = match H264Encoder::new(self.config.encoder_settings()) {
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
                        let state = DeviceState::Lost(e.to_string());
                        log::warn!("{}", state.describe(DeviceKind::Camera));
                        *self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()) = state.clone();
                        (self.sink)(ConferenceEvent::Camera(state));
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
        let (source, state) = match choice {
            CameraChoice::Test => (Source::Pattern(TestPattern::new(self.config.width, self.config.height, &self.config.nick)), DeviceState::Working("test pattern".into())),
            CameraChoice::Off => (Source::Nothing, DeviceState::Off),
            CameraChoice::Device(path) => match Camera::open(&path, self.config.width as u32, self.config.height as u32) {
                Ok(camera) => (Source::Camera(camera), DeviceState::Working(path)),
                Err(e) => (Source::Nothing, DeviceState::Missing(e.to_string())),
            },
        };
        if matches!(source, Source::Nothing) {
            self.board.remove(self.ssrc);
        }
        *self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()) = state.clone();
        (self.sink)(ConferenceEvent::Camera(state));
        self.send_sender_report(Instant::now());
        source
    }

    /// SR with the clock mapping, and SDES with our name and camera state.
    fn send_sender_report(&self, now: Instant) {
        let note = self.shared.camera.lock().unwrap_or_else(|e| e.into_inner()).describe(DeviceKind::Camera);
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
                signed: self.config.signer.as_ref().map(|signer| rtcp::sign_name(signer, &self.config.name_scope(), self.ssrc, &cname_of(self.ssrc), &self.config.nick, self.clock.wall(now).as_secs())),
            },
        ];
        let bytes = rtcp::write(&packets);
        self.send.send_rtcp(&bytes);
    }
}


