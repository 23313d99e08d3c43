//! What became of the camera, microphone and speaker the user chose: in use, off, missing or
//! lost during the call. The window decides what to show from the state; the headless peer's
//! statistics and the camera note in RTCP carry it in words.

use serde::Serializer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceState {
    /// In use: what it is, in words ("test pattern", "test voice", a device's name).
    Working(String),
    /// Off by choice: no camera, the microphone off, no speaker device.
    #[default]
    Off,
    /// It could not be opened, and why.
    Missing(String),
    /// It stopped during the call, and why. The call goes on without it.
    Lost(String),
}

impl DeviceState {
    /// Missing or lost: something the user should hear about.
    pub fn failed(&self) -> bool {
        matches!(self, DeviceState::Missing(_) | DeviceState::Lost(_))
    }

    /// The state in words, as the statistics and the RTCP note carry it. A camera that is not
    /// sending says so in words that begin with "camera " (receivers show them on its tile).
    pub fn describe(&self, kind: DeviceKind) -> String {
        use DeviceKind::*;
        use DeviceState::*;
        match (self, kind) {
            (Working(name), _) => name.clone(),
            (Off, Camera) => "camera off".into(),
            (Off, Microphone) => "microphone off".into(),
            (Off, Speaker) => "none".into(),
            // Said as "lost" so that peers that know only that word show it on the tile.
            (Missing(why) | Lost(why), Camera) => format!("camera lost: {why}"),
            (Missing(why), Microphone) => format!("no microphone: {why}"),
            (Lost(why), Microphone) => format!("microphone lost: {why}"),
            (Missing(why), Speaker) => format!("no speaker: {why}"),
            (Lost(why), Speaker) => format!("speaker lost: {why}"),
        }
    }
}

pub(super) fn camera_words<S: Serializer>(state: &DeviceState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&state.describe(DeviceKind::Camera))
}

pub(super) fn microphone_words<S: Serializer>(state: &DeviceState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&state.describe(DeviceKind::Microphone))
}

pub(super) fn speaker_words<S: Serializer>(state: &DeviceState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&state.describe(DeviceKind::Speaker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_that_sends_nothing_says_so_in_words_peers_recognise() {
        for state in [DeviceState::Off, DeviceState::Missing("no such device".into()), DeviceState::Lost("unplugged".into())] {
            assert!(state.describe(DeviceKind::Camera).starts_with("camera "), "{state:?}");
        }
        assert_eq!(DeviceState::Working("test pattern".into()).describe(DeviceKind::Camera), "test pattern");
        assert_eq!(DeviceState::Lost("the device stopped".into()).describe(DeviceKind::Speaker), "speaker lost: the device stopped");
        assert!(!DeviceState::Off.failed() && DeviceState::Missing(String::new()).failed());
    }
}
