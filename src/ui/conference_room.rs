//! `ConferenceRoom`, the QML-facing side of a video conference: a list model with one row a
//! tile (self-view first), the device and size choices, and start/leave. The tiles
//! (`video_tile.rs`) paint from the board of the call in progress, which the room holds.

use crate::net::identity::{self, KnownPeers};
use crate::app::conference::{self, cname_of, Board, CameraChoice, ConferenceConfig, ConferenceEvent, ConferenceHandle, DeviceKind, DeviceState, PeerStats, Stats};
use crate::app::conference::audio::{MicChoice, SpeakerChoice};
use crate::app::i18n::tr;
use crate::app::settings;
use crate::media::sound;
use crate::net::multicast;
use core::pin::Pin;
use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::{QByteArray, QHash, QHashPair_i32_QByteArray, QModelIndex, QString, QStringList, QVariant, QVector};
use std::sync::Arc;

#[cxx_qt::bridge(namespace = "lanmeet::conference")]
pub mod qobject {
    #[namespace = ""]
    unsafe extern "C++" {
        include!(<QtCore/QAbstractListModel>);
        // Declared as a QObject in the chat bridge; a second declaration as one would
        // define its casts twice.
        type QAbstractListModel;
    }

    #[namespace = ""]
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("cxx-qt-lib/qstringlist.h");
        type QStringList = cxx_qt_lib::QStringList;
        include!("cxx-qt-lib/qhash.h");
        type QHash_i32_QByteArray = cxx_qt_lib::QHash<cxx_qt_lib::QHashPair_i32_QByteArray>;
        include!("cxx-qt-lib/qvariant.h");
        type QVariant = cxx_qt_lib::QVariant;
        include!("cxx-qt-lib/qmodelindex.h");
        type QModelIndex = cxx_qt_lib::QModelIndex;
        include!("cxx-qt-lib/qvector.h");
        type QVector_i32 = cxx_qt_lib::QVector<i32>;
    }

    extern "RustQt" {
        #[qobject]
        #[base = QAbstractListModel]
        #[qml_element]
        #[qproperty(bool, active)]
        #[qproperty(QString, nick)]
        #[qproperty(QString, group)]
        #[qproperty(QString, interface)]
        #[qproperty(i32, ttl)]
        /// The camera in use: "test", "off" or a device path.
        #[qproperty(QString, camera)]
        /// What can be chosen: the test pattern ("test"), then each camera by its path, with
        /// their names at the same places in `camera_names`.
        #[qproperty(QStringList, cameras)]
        #[qproperty(QStringList, camera_names, cxx_name = "cameraNames")]
        #[qproperty(QString, size)]
        #[qproperty(QString, status)]
        /// Microphone: "default", "test", "off" or a device id; `mics` lists the ids that can
        /// be chosen and `mic_names` their names (empty for the ids QML names itself).
        #[qproperty(QString, mic)]
        #[qproperty(QStringList, mics)]
        #[qproperty(QStringList, mic_names, cxx_name = "micNames")]
        /// Speaker: "default", "null" (none) or a device id; the same lists as the microphone.
        #[qproperty(QString, speaker)]
        #[qproperty(QStringList, speakers)]
        #[qproperty(QStringList, speaker_names, cxx_name = "speakerNames")]
        #[qproperty(bool, muted)]
        /// What went wrong with the microphone or the speaker, in words; empty when nothing.
        #[qproperty(QString, audio_status, cxx_name = "audioStatus")]
        /// The call's passphrase (empty: not encrypted), and whether the call in progress is
        /// SRTP; packets of the call that did not open with it.
        #[qproperty(QString, passphrase)]
        #[qproperty(bool, encrypted)]
        #[qproperty(i32, unopened)]
        type ConferenceRoom = super::ConferenceRoomRust;
    }

    impl cxx_qt::Threading for ConferenceRoom {}

    extern "RustQt" {
        /// Join the conference with the current nick, group and camera.
        #[qinvokable]
        fn start(self: Pin<&mut ConferenceRoom>);
        /// Leave: say goodbye and stop sending.
        #[qinvokable]
        fn leave(self: Pin<&mut ConferenceRoom>);
        /// Switch the camera ("test", "off" or a device path), also during a call.
        #[qinvokable]
        #[cxx_name = "chooseCamera"]
        fn choose_camera(self: Pin<&mut ConferenceRoom>, id: &QString);
        /// Switch the picture size ("640x480"), also during a call.
        #[qinvokable]
        #[cxx_name = "chooseSize"]
        fn choose_size(self: Pin<&mut ConferenceRoom>, size: &QString);
        /// Look for cameras and sound devices again (one may have been plugged in).
        #[qinvokable]
        #[cxx_name = "refreshCameras"]
        fn refresh_cameras(self: Pin<&mut ConferenceRoom>);
        /// Switch the microphone or the speaker, also during a call (which goes on).
        #[qinvokable]
        #[cxx_name = "chooseSound"]
        fn choose_sound(self: Pin<&mut ConferenceRoom>, mic: &QString, speaker: &QString);
        /// Mute or unmute the microphone (also what push-to-talk does while held).
        #[qinvokable]
        #[cxx_name = "setMicMuted"]
        fn set_mic_muted(self: Pin<&mut ConferenceRoom>, muted: bool);
        /// Volume of one participant in percent (0 to 200).
        #[qinvokable]
        #[cxx_name = "setVolume"]
        fn set_volume(self: Pin<&mut ConferenceRoom>, key: &QString, percent: i32);

        /// Something happened in the call that the chat shows: joining, leaving, someone
        /// arriving or going, being alone in it.
        #[qsignal]
        #[cxx_name = "callEvent"]
        fn call_event(self: Pin<&mut ConferenceRoom>, text: QString);
    }

    unsafe extern "RustQt" {
        #[inherit]
        #[cxx_name = "beginResetModel"]
        unsafe fn begin_reset_model(self: Pin<&mut ConferenceRoom>);
        #[inherit]
        #[cxx_name = "endResetModel"]
        unsafe fn end_reset_model(self: Pin<&mut ConferenceRoom>);
        #[inherit]
        fn index(self: &ConferenceRoom, row: i32, column: i32, parent: &QModelIndex) -> QModelIndex;
        #[inherit]
        #[qsignal]
        #[cxx_name = "dataChanged"]
        fn data_changed(self: Pin<&mut ConferenceRoom>, top_left: &QModelIndex, bottom_right: &QModelIndex, roles: &QVector_i32);
    }

    extern "RustQt" {
        #[qinvokable]
        #[cxx_override]
        fn data(self: &ConferenceRoom, index: &QModelIndex, role: i32) -> QVariant;
        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "roleNames"]
        fn role_names(self: &ConferenceRoom) -> QHash_i32_QByteArray;
        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "rowCount"]
        fn row_count(self: &ConferenceRoom, parent: &QModelIndex) -> i32;
    }
}

pub const DEFAULT_CONFERENCE_GROUP: &str = "239.0.0.222:23334";

#[derive(Clone, Debug, Default, PartialEq)]
struct Tile {
    ssrc: u32,
    nick: String,
    own: bool,
    fps: f64,
    stalled: bool,
    /// "camera off", "camera lost: ..." or empty while video flows.
    note: String,
    latency_ms: Option<f64>,
    speaking: bool,
    /// Mouth-to-ear of their audio, without device buffers.
    audio_latency_ms: Option<f64>,
    volume: i32,
    /// Its microphone is muted.
    muted: bool,
    /// Its arrival was told in the chat (once its name was known).
    announced: bool,
}

const ROLE_KEY: i32 = 0x0201;
const ROLE_NICK: i32 = 0x0202;
const ROLE_OWN: i32 = 0x0203;
const ROLE_FPS: i32 = 0x0204;
const ROLE_STALLED: i32 = 0x0205;
const ROLE_NOTE: i32 = 0x0206;
const ROLE_LATENCY: i32 = 0x0207;
const ROLE_MIRROR: i32 = 0x0208;
const ROLE_SPEAKING: i32 = 0x0209;
const ROLE_AUDIO_LATENCY: i32 = 0x020a;
const ROLE_VOLUME: i32 = 0x020b;
const ROLE_MUTED: i32 = 0x020c;

pub struct ConferenceRoomRust {
    active: bool,
    nick: QString,
    group: QString,
    interface: QString,
    ttl: i32,
    camera: QString,
    cameras: QStringList,
    camera_names: QStringList,
    size: QString,
    status: QString,
    mic: QString,
    mics: QStringList,
    mic_names: QStringList,
    speaker: QString,
    speakers: QStringList,
    speaker_names: QStringList,
    muted: bool,
    audio_status: QString,
    passphrase: QString,
    encrypted: bool,
    unopened: i32,
    tiles: Vec<Tile>,
    handle: Option<ConferenceHandle>,
    /// The pictures of the call in progress, for the tiles to paint.
    board: Option<Arc<Board>>,
    generation: u64,
}

/// Ids and names, as two lists of the same length.
fn choice_lists(choices: &[(String, String)]) -> (QStringList, QStringList) {
    let ids = choices.iter().map(|(id, _)| QString::from(id.as_str())).collect();
    let names = choices.iter().map(|(_, name)| QString::from(name.as_str())).collect();
    (ids, names)
}

fn sound_lists(input: bool) -> (QStringList, QStringList) {
    // QML names "default", "test" and "null" in the user's language.
    let mut choices = vec![("default".to_string(), String::new())];
    choices.push((if input { "test" } else { "null" }.to_string(), String::new()));
    choices.extend(sound::devices(input));
    choice_lists(&choices)
}

impl Default for ConferenceRoomRust {
    fn default() -> Self {
        let kept = settings::remembered();
        let cameras = conference::camera_choices();
        // A real camera when there is one; the test pattern otherwise.
        let camera = settings::env_or("CAMERA", kept.camera.clone()).unwrap_or_else(|| cameras.get(1).map_or("test".to_string(), |(id, _)| id.clone()));
        let (cameras, camera_names) = choice_lists(&cameras);
        let (mics, mic_names) = sound_lists(true);
        let (speakers, speaker_names) = sound_lists(false);
        ConferenceRoomRust {
            active: false,
            nick: QString::from("guest"),
            group: QString::from(std::env::var("LANMEET_CONFERENCE_GROUP").unwrap_or_else(|_| DEFAULT_CONFERENCE_GROUP.into()).as_str()),
            interface: QString::default(),
            ttl: 1,
            camera: QString::from(camera.as_str()),
            cameras,
            camera_names,
            size: QString::from(kept.size.as_deref().filter(|s| parse_size(s).is_some()).unwrap_or("640x480")),
            status: QString::default(),
            mic: QString::from(settings::env_or("MIC", kept.mic.clone()).unwrap_or_else(|| "default".into()).as_str()),
            mics,
            mic_names,
            speaker: QString::from(settings::env_or("SPEAKER", kept.speaker.clone()).unwrap_or_else(|| "default".into()).as_str()),
            speakers,
            speaker_names,
            muted: false,
            audio_status: QString::default(),
            passphrase: QString::default(),
            encrypted: false,
            unopened: 0,
            tiles: Vec::new(),
            handle: None,
            board: None,
            generation: 0,
        }
    }
}

fn parse_size(text: &str) -> Option<(usize, usize)> {
    let (w, h) = text.split_once('x')?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

impl qobject::ConferenceRoom {
    fn config(&self) -> Result<ConferenceConfig, String> {
        let group_text = self.group().to_string();
        let group = group_text
            .trim()
            .parse()
            .map_err(|_| format!("{group_text} is not a group address and port like {DEFAULT_CONFERENCE_GROUP}"))?;
        let nick = self.nick().to_string();
        let mut config = ConferenceConfig::new(group, nick.trim());
        // The chooser shows "name address"; the address is what counts.
        if let Some(addr) = self.interface().to_string().split_whitespace().last() {
            config.interface = multicast::resolve_interface(addr)?;
        }
        config.ttl = if config.interface.is_loopback() { 0 } else { self.ttl.clamp(0, 255) as u32 };
        config.camera = CameraChoice::parse(&self.camera().to_string());
        config.mic = MicChoice::parse(&self.mic().to_string());
        config.speaker = SpeakerChoice::parse(&self.speaker().to_string());
        (config.width, config.height) = parse_size(&self.size().to_string()).unwrap_or((640, 480));
        config.set_passphrase(&self.passphrase().to_string());
        match identity::own_signer() {
            Ok(signer) => config.signer = Some(Arc::new(signer)),
            Err(e) => log::warn!("{e}; signing with a key for this call only"),
        }
        config.known_peers = Some(KnownPeers::default_file());
        Ok(config)
    }

    pub fn start(mut self: Pin<&mut Self>) {
        self.as_mut().leave();
        let config = match self.config() {
            Ok(config) => config,
            Err(e) => {
                self.as_mut().set_status(QString::from(e.as_str()));
                return;
            }
        };
        let generation = self.generation + 1;
        self.as_mut().rust_mut().generation = generation;
        let qt_thread = self.qt_thread();
        let sink: conference::Sink = Arc::new(move |event| {
            let _ = qt_thread.queue(move |room| room.handle(generation, event));
        });
        let nick = config.nick.clone();
        let group = config.group;
        match conference::spawn(config, sink) {
            Ok(handle) => {
                handle.set_muted(self.muted);
                self.as_mut().rust_mut().board = Some(handle.board.clone());
                let own = Tile { ssrc: handle.ssrc, nick, own: true, volume: 100, muted: self.muted, ..Tile::default() };
                self.as_mut().rust_mut().handle = Some(handle);
                self.as_mut().reset_tiles(vec![own]);
                self.as_mut().set_active(true);
                let text = tr("In the video conference on {0}", &[&group]);
                log::info!("status: {text}");
                self.as_mut().set_status(QString::from(text.as_str()));
                self.as_mut().tell(tr("You joined the video conference on {0}; waiting for others", &[&group]));
            }
            Err(e) => {
                let text = tr("Cannot start the video conference: {0}", &[&e]);
                log::warn!("{text}");
                self.as_mut().set_status(QString::from(text.as_str()));
            }
        }
    }

    /// Never waits: the call's threads end on their own.
    pub fn leave(mut self: Pin<&mut Self>) {
        let Some(handle) = self.as_mut().rust_mut().handle.take() else { return };
        let asked = std::time::Instant::now();
        self.as_mut().rust_mut().generation += 1;
        handle.leave();
        log::info!("left the call in {:.2} ms", asked.elapsed().as_secs_f64() * 1000.0);
        self.as_mut().rust_mut().board = None;
        self.as_mut().reset_tiles(Vec::new());
        self.as_mut().set_active(false);
        let text = tr("Left the video conference", &[]);
        log::info!("status: {text}");
        self.as_mut().set_status(QString::from(text.as_str()));
        self.as_mut().tell(tr("You left the video conference", &[]));
    }

    pub fn choose_camera(mut self: Pin<&mut Self>, id: &QString) {
        log::info!("camera: {id}");
        settings::remember(|kept| kept.camera = Some(id.to_string()));
        self.as_mut().set_camera(id.clone());
        let queued = self.handle.as_ref().map(|handle| handle.set_camera(CameraChoice::parse(&id.to_string())));
        if queued == Some(false) {
            self.as_mut().set_status(QString::from(tr("The camera is not answering; try again in a moment", &[]).as_str()));
        }
        let tiles = self.tiles.clone();
        self.as_mut().reset_tiles(tiles);
    }

    pub fn choose_size(mut self: Pin<&mut Self>, size: &QString) {
        settings::remember(|kept| kept.size = Some(size.to_string()));
        self.as_mut().set_size(size.clone());
        if let (Some(handle), Some((w, h))) = (&self.handle, parse_size(&size.to_string())) {
            handle.set_size(w, h);
        }
    }

    pub fn refresh_cameras(mut self: Pin<&mut Self>) {
        let (cameras, camera_names) = choice_lists(&conference::camera_choices());
        self.as_mut().set_cameras(cameras);
        self.as_mut().set_camera_names(camera_names);
        let (mics, mic_names) = sound_lists(true);
        self.as_mut().set_mics(mics);
        self.as_mut().set_mic_names(mic_names);
        let (speakers, speaker_names) = sound_lists(false);
        self.as_mut().set_speakers(speakers);
        self.as_mut().set_speaker_names(speaker_names);
    }

    /// The pictures of the call in progress.
    pub fn board(&self) -> Option<Arc<Board>> {
        self.board.clone()
    }

    pub fn choose_sound(mut self: Pin<&mut Self>, mic: &QString, speaker: &QString) {
        settings::remember(|kept| {
            kept.mic = Some(mic.to_string());
            kept.speaker = Some(speaker.to_string());
        });
        let new_mic = (*mic != self.mic).then(|| MicChoice::parse(&mic.to_string()));
        let new_speaker = (*speaker != self.speaker).then(|| SpeakerChoice::parse(&speaker.to_string()));
        self.as_mut().set_mic(mic.clone());
        self.as_mut().set_speaker(speaker.clone());
        if let Some(handle) = &self.handle {
            handle.set_sound(new_mic, new_speaker);
        }
    }

    pub fn set_mic_muted(mut self: Pin<&mut Self>, muted: bool) {
        log::info!("microphone {}", if muted { "muted" } else { "on" });
        self.as_mut().set_muted(muted);
        if let Some(handle) = &self.handle {
            handle.set_muted(muted);
        }
        let mut tiles = self.tiles.clone();
        if let Some(own) = tiles.iter_mut().find(|t| t.own) {
            own.muted = muted;
        }
        self.as_mut().reset_tiles(tiles);
    }

    /// Says `text` in the chat (through [`Self::call_event`]) and in the log.
    fn tell(mut self: Pin<&mut Self>, text: String) {
        log::info!("call event: {text}");
        self.as_mut().call_event(QString::from(text.as_str()));
    }

    pub fn set_volume(mut self: Pin<&mut Self>, key: &QString, percent: i32) {
        let Ok(ssrc) = key.to_string().parse::<u32>() else { return };
        let percent = percent.clamp(0, 200);
        if let Some(handle) = &self.handle {
            handle.set_volume(ssrc, percent as u32);
        }
        let mut tiles = self.tiles.clone();
        if let Some(tile) = tiles.iter_mut().find(|t| t.ssrc == ssrc) {
            tile.volume = percent;
        }
        self.as_mut().rust_mut().tiles = tiles;
    }

    /// New tiles. The same participants in the same order keep their delegates (and a volume
    /// slider being dragged): only their figures change. Anyone joining or leaving resets.
    fn reset_tiles(mut self: Pin<&mut Self>, tiles: Vec<Tile>) {
        let same = tiles.len() == self.tiles.len() && tiles.iter().zip(self.tiles.iter()).all(|(a, b)| a.ssrc == b.ssrc);
        if !same {
            unsafe { self.as_mut().begin_reset_model() };
            self.as_mut().rust_mut().tiles = tiles;
            unsafe { self.as_mut().end_reset_model() };
            return;
        }
        let changed: Vec<usize> = (0..tiles.len()).filter(|&i| tiles[i] != self.tiles[i]).collect();
        self.as_mut().rust_mut().tiles = tiles;
        if let (Some(&first), Some(&last)) = (changed.first(), changed.last()) {
            let top = self.index(first as i32, 0, &QModelIndex::default());
            let bottom = self.index(last as i32, 0, &QModelIndex::default());
            // No roles named: all of them may have changed.
            self.as_mut().data_changed(&top, &bottom, &QVector::<i32>::default());
        }
    }

    fn handle(mut self: Pin<&mut Self>, generation: u64, event: ConferenceEvent) {
        if generation != self.generation {
            return;
        }
        match event {
            ConferenceEvent::Participant { ssrc, nick } => {
                let mut tiles = self.tiles.clone();
                let index = match tiles.iter().position(|t| t.ssrc == ssrc) {
                    Some(index) => index,
                    None => {
                        tiles.push(Tile { ssrc, volume: 100, ..Tile::default() });
                        tiles.len() - 1
                    }
                };
                tiles[index].nick = nick.clone();
                // Told once, when the name is known (a first packet may come before it).
                let arrived = !nick.is_empty() && !tiles[index].announced;
                tiles[index].announced |= arrived;
                log::info!("conference: participant {ssrc:08x} {nick}");
                self.as_mut().reset_tiles(tiles);
                if arrived {
                    self.as_mut().tell(tr("{0} joined the video conference", &[&nick]));
                }
            }
            ConferenceEvent::Left { ssrc, nick } => {
                let told = self.tiles.iter().any(|t| t.ssrc == ssrc && t.announced);
                let tiles: Vec<Tile> = self.tiles.iter().filter(|t| t.ssrc != ssrc).cloned().collect();
                let alone = tiles.iter().all(|t| t.own);
                log::info!("conference: {nick} left");
                self.as_mut().reset_tiles(tiles);
                if told {
                    let text = if alone { tr("{0} left the video conference; you are alone in it, waiting for others", &[&nick]) } else { tr("{0} left the video conference", &[&nick]) };
                    self.as_mut().tell(text);
                }
            }
            ConferenceEvent::Camera(state) => {
                let words = state.describe(DeviceKind::Camera);
                let mut tiles = self.tiles.clone();
                if let Some(own) = tiles.iter_mut().find(|t| t.own) {
                    own.note = if matches!(state, DeviceState::Working(_)) { String::new() } else { words.clone() };
                }
                self.as_mut().reset_tiles(tiles);
                if state.failed() {
                    self.as_mut().set_status(QString::from(tr("{0}. The call goes on; choose another camera or the test pattern.", &[&words]).as_str()));
                }
            }
            ConferenceEvent::Stats(stats) => self.as_mut().update_stats(&stats),
            ConferenceEvent::Error(text) => {
                log::warn!("conference: {text}");
                self.as_mut().set_status(QString::from(text.as_str()));
            }
            ConferenceEvent::Stopped(_) => {}
        }
    }

    fn update_stats(mut self: Pin<&mut Self>, stats: &Stats) {
        let unopened = stats.unopened + stats.audio.as_ref().map_or(0, |a| a.unopened);
        if unopened > 0 && self.unopened == 0 {
            log::info!("conference: {unopened} packet(s) did not open with our passphrase");
        }
        self.as_mut().set_encrypted(stats.encrypted);
        self.as_mut().set_unopened(unopened.min(i32::MAX as u64) as i32);
        let mut tiles = self.tiles.clone();
        for tile in tiles.iter_mut() {
            if tile.own {
                tile.fps = stats.sent.frames as f64;
                tile.muted = self.muted;
                continue;
            }
            let Some(peer): Option<&PeerStats> = stats.peers.iter().find(|p| p.ssrc == tile.ssrc) else { continue };
            tile.fps = peer.fps;
            tile.stalled = peer.stalled;
            tile.note = if peer.note.starts_with("camera ") { peer.note.clone() } else { String::new() };
            tile.latency_ms = peer.latency_ms_p50;
            if !peer.nick.is_empty() {
                tile.nick = peer.nick.clone();
            }
            let voice = stats.audio.as_ref().and_then(|a| a.peer(&cname_of(tile.ssrc), peer.key.as_deref()));
            tile.speaking = voice.is_some_and(|v| v.speaking);
            tile.muted = voice.is_some_and(|v| v.muted);
            tile.audio_latency_ms = voice.and_then(|v| v.latency_ms_p50);
        }
        if let Some(audio) = &stats.audio {
            let text = if audio.mic.failed() || audio.speaker.failed() {
                format!("{}; {}. The call goes on.", audio.mic.describe(DeviceKind::Microphone), audio.speaker.describe(DeviceKind::Speaker))
            } else {
                String::new()
            };
            if text != self.audio_status.to_string() {
                self.as_mut().set_audio_status(QString::from(text.as_str()));
            }
        }
        let summary: Vec<String> = tiles
            .iter()
            .filter(|t| !t.own)
            .map(|t| format!("{} {:.0} fps{}{}", t.nick, t.fps, if t.stalled { " stalled" } else { "" }, if t.speaking { " speaking" } else { "" }))
            .collect();
        log::info!("conference tiles: {} peers: {}", tiles.len() - 1, summary.join(", "));
        self.as_mut().reset_tiles(tiles);
    }

    pub fn data(&self, index: &QModelIndex, role: i32) -> QVariant {
        let Some(tile) = usize::try_from(index.row()).ok().and_then(|i| self.tiles.get(i)) else {
            return QVariant::default();
        };
        match role {
            ROLE_KEY => QVariant::from(&QString::from(tile.ssrc.to_string().as_str())),
            ROLE_NICK => QVariant::from(&QString::from(tile.nick.as_str())),
            ROLE_OWN => QVariant::from(&tile.own),
            ROLE_FPS => QVariant::from(&tile.fps),
            ROLE_STALLED => QVariant::from(&tile.stalled),
            ROLE_NOTE => QVariant::from(&QString::from(tile.note.as_str())),
            ROLE_LATENCY => QVariant::from(&tile.latency_ms.unwrap_or(-1.0)),
            // The self-view of a real camera is mirrored; a test pattern keeps its text readable.
            ROLE_MIRROR => QVariant::from(&(tile.own && self.camera().to_string().starts_with("/dev/"))),
            ROLE_SPEAKING => QVariant::from(&tile.speaking),
            ROLE_AUDIO_LATENCY => QVariant::from(&tile.audio_latency_ms.unwrap_or(-1.0)),
            ROLE_VOLUME => QVariant::from(&tile.volume),
            ROLE_MUTED => QVariant::from(&tile.muted),
            _ => QVariant::default(),
        }
    }

    pub fn role_names(&self) -> QHash<QHashPair_i32_QByteArray> {
        let mut roles = QHash::<QHashPair_i32_QByteArray>::default();
        roles.insert(ROLE_KEY, QByteArray::from("key"));
        roles.insert(ROLE_NICK, QByteArray::from("nick"));
        roles.insert(ROLE_OWN, QByteArray::from("own"));
        roles.insert(ROLE_FPS, QByteArray::from("fps"));
        roles.insert(ROLE_STALLED, QByteArray::from("stalled"));
        roles.insert(ROLE_NOTE, QByteArray::from("note"));
        roles.insert(ROLE_LATENCY, QByteArray::from("latency"));
        roles.insert(ROLE_MIRROR, QByteArray::from("mirror"));
        roles.insert(ROLE_SPEAKING, QByteArray::from("speaking"));
        roles.insert(ROLE_AUDIO_LATENCY, QByteArray::from("audioLatency"));
        roles.insert(ROLE_VOLUME, QByteArray::from("volume"));
        roles.insert(ROLE_MUTED, QByteArray::from("muted"));
        roles
    }

    pub fn row_count(&self, _parent: &QModelIndex) -> i32 {
        self.tiles.len() as i32
    }
}

