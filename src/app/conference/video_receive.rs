//! The receiving side of the video: the session's sockets, decoding, pictures held back for lip
//! sync, and the statistics of each participant. The protocol state of every source is in
//! `proto::rtp::session`.

use super::lipsync::LipSync;
use super::*;

/// What the window shows of one source, beside its protocol state in the session: its decoder,
/// pictures held back for lip sync, and the interval's latencies.
pub(super) struct Remote {
    decoder: Option<H264Decoder>,
    last_picture: Option<Instant>,
    frames: u64,
    decode_errors: u64,
    /// Capture-to-display latencies of this interval.
    latencies: Vec<f64>,
    /// Decoded pictures on their way to the screen, held back to show with the sound.
    sync: LipSync<Frame>,
}

impl Remote {
    fn new() -> Remote {
        Remote {
            decoder: None,
            last_picture: None,
            frames: 0,
            decode_errors: 0,
            latencies: Vec::new(),
            sync: LipSync::new(),
        }
    }
}

pub(super) struct ReceiverThread {
    pub(super) config: ConferenceConfig,
    pub(super) ssrc: u32,
    pub(super) clock: Clock,
    pub(super) sockets: SessionSockets,
    pub(super) send: SendSockets,
    pub(super) board: Arc<Board>,
    pub(super) shared: Arc<Shared>,
    pub(super) quit: Arc<AtomicBool>,
    pub(super) keyframes: Sender<SendCommand>,
    pub(super) sink: Sink,
    /// Every source's protocol state (sans-IO); `remotes` holds what we do with its pictures.
    pub(super) session: VideoSession,
    pub(super) remotes: HashMap<u32, Remote>,
    pub(super) rng: Jitter,
    pub(super) summary: Summary,
    pub(super) latencies: Vec<f64>,
    pub(super) audio_stats: Option<Arc<Mutex<AudioStats>>>,
}

impl ReceiverThread {
    pub(super) fn run(mut self) {
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
                let mut peers = self.take_interval(now, elapsed);
                let audio = self.audio_stats.as_ref().map(|a| a.lock().unwrap_or_else(|e| e.into_inner()).clone());
                self.follow_sound(audio.as_ref());
                if let Some(audio) = &audio {
                    for peer in peers.iter_mut() {
                        let sound = audio.peer(&cname_of(peer.ssrc), peer.key.as_deref()).and_then(|v| v.latency_ms_p50);
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
                    encrypted: self.send.encrypted(),
                    unopened: self.sockets.unopened,
                    replayed: self.sockets.replayed,
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
                SessionEvent::Pinned { nick, key } => {
                    if let Some(known) = &self.config.known_peers {
                        if let Err(e) = known.pin(&nick, &key) {
                            log::warn!("cannot keep the key of {nick} in {}: {e}", known.path().display());
                        }
                    }
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
                let latency = rtcp::captured_at(clock, timestamp, VIDEO_CLOCK_RATE).map(|captured| (self.clock.wall(now).as_secs_f64() - captured) * 1000.0);
                if let Some((timestamp, frame)) = remote.sync.decoded(timestamp, frame, latency, now) {
                    self.show(ssrc, timestamp, frame, now);
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
        let due: Vec<(u32, Vec<(u32, Frame)>)> = self.remotes.iter_mut().map(|(&ssrc, remote)| (ssrc, remote.sync.due(now))).collect();
        for (ssrc, pictures) in due {
            for (timestamp, frame) in pictures {
                self.show(ssrc, timestamp, frame, now);
            }
        }
    }

    /// When the next held picture is due.
    fn next_due(&self) -> Option<Instant> {
        self.remotes.values().filter_map(|r| r.sync.next_due()).min()
    }

    /// Holds each participant's pictures back by as much as their sound trails them (lip
    /// sync), from the medians of the interval.
    fn follow_sound(&mut self, audio: Option<&AudioStats>) {
        for (ssrc, remote) in self.remotes.iter_mut() {
            let key = self.session.source(*ssrc).and_then(|s| s.trust.fingerprint());
            let voice = audio.and_then(|a| a.peer(&cname_of(*ssrc), key.as_deref())).and_then(|v| v.latency_ms_p50);
            remote.sync.follow(voice);
        }
    }

    /// Each source's figures of the interval since the last call, which starts the next one.
    fn take_interval(&mut self, now: Instant, elapsed: f64) -> Vec<PeerStats> {
        let counts = self.session.take_counts();
        let mut peers: Vec<PeerStats> = counts
            .into_iter()
            .filter_map(|(ssrc, counts)| {
                let source = self.session.source(ssrc)?;
                let remote = self.remotes.entry(ssrc).or_insert_with(Remote::new);
                let mut latencies = std::mem::take(&mut remote.latencies);
                latencies.sort_by(f64::total_cmp);
                let stalled = !source.note.starts_with("camera ") && remote.last_picture.is_none_or(|t| now.duration_since(t) > STALL_AFTER);
                let peer = PeerStats {
                    ssrc,
                    nick: source.nick.clone(),
                    key: source.trust.fingerprint(),
                    impostor: matches!(source.trust, Trust::Impostor(_)),
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
                    sync_delay_ms: remote.sync.delay().as_millis() as u64,
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

