//! What the window remembers between starts: who the person is, where they chat, their devices
//! and the window's place, in `settings.json` in the configuration folder
//! (`LANMEET_CONFIG_DIR`, else `$XDG_CONFIG_HOME/lanmeet`, else `~/.config/lanmeet`).
//!
//! An environment variable (`LANMEET_NICK` and the others) goes before what is remembered, and
//! what is remembered before the defaults. Passphrases are never written down.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;

/// The window's place on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    pub server: String,
    pub channel: String,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub nick: Option<String>,
    pub server: Option<String>,
    pub channel: Option<String>,
    /// The other rooms the window was in, on server `rooms_server`.
    pub rooms: Option<Vec<String>>,
    pub rooms_server: Option<String>,
    /// "unicast" (a relay) or "multicast".
    pub mode: Option<String>,
    pub group: Option<String>,
    pub interface: Option<String>,
    pub ttl: Option<i32>,
    pub camera: Option<String>,
    pub size: Option<String>,
    pub mic: Option<String>,
    pub speaker: Option<String>,
    /// Which messages make a desktop notification: "all", "mentions" (and private ones) or
    /// "none".
    pub notify: Option<String>,
    /// The window's language ("en", "zh_CN"); none: the system's.
    pub language: Option<String>,
    /// What was typed in the message box when the window closed.
    pub draft: Option<String>,
    /// Messages that had not gone out when the window closed, as typed (commands included),
    /// with the server and room they were for: they go out on the next start there.
    pub outbox: Vec<Unsent>,
    pub window: Option<Place>,
}

/// Longest settings file read; anything longer is not ours.
const MOST: u64 = 64 * 1024;
/// Most of a draft kept, in bytes, and most messages kept to send later (the oldest go first):
/// together they stay well within `MOST`.
pub const MOST_DRAFT: usize = 8 * 1024;
pub const MOST_UNSENT: usize = 100;
const MOST_UNSENT_BYTES: usize = 40 * 1024;

/// Keeps the outbox within its limits, dropping the oldest; says how many went.
pub fn trim_outbox(outbox: &mut Vec<Unsent>) {
    let mut dropped = 0;
    while outbox.len() > MOST_UNSENT || outbox.iter().map(|u| u.text.len() + u.server.len() + u.channel.len()).sum::<usize>() > MOST_UNSENT_BYTES {
        outbox.remove(0);
        dropped += 1;
    }
    if dropped > 0 {
        log::warn!("settings: {dropped} message(s) kept to send later were dropped, the oldest, to stay within {MOST_UNSENT} messages");
    }
}

pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LANMEET_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("lanmeet");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".config/lanmeet")
}

fn file() -> PathBuf {
    config_dir().join("settings.json")
}

/// The settings as kept; the defaults (nothing remembered) when there is no file, and also
/// when it cannot be read, which the log says. A file that is not ours is moved aside to
/// `settings.json.bad`, not overwritten.
fn read() -> Settings {
    use std::io::Read;
    let path = file();
    let mut text = String::new();
    match std::fs::File::open(&path).and_then(|f| f.take(MOST + 1).read_to_string(&mut text)) {
        Ok(_) => {
            let parsed = if text.len() as u64 > MOST { Err("longer than 64 KiB".to_string()) } else { serde_json::from_str(&text).map_err(|e| e.to_string()) };
            parsed.unwrap_or_else(|e| {
                let aside = path.with_extension("json.bad");
                log::warn!("settings: {} is not readable ({e}); moved to {}, starting from the defaults", path.display(), aside.display());
                let _ = std::fs::rename(&path, &aside);
                Settings::default()
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
        Err(e) => {
            log::warn!("settings: cannot read {} ({e}); starting from the defaults", path.display());
            Settings::default()
        }
    }
}

/// Writes the settings whole to a file of this process beside, readable by the person alone,
/// then puts it in place: a crash or a second window never leaves half a file.
fn write(settings: &Settings) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension(format!("json.{}", std::process::id()));
    let text = serde_json::to_string_pretty(settings).map_err(std::io::Error::other)?;
    let mut out = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&partial, &path)
}

static KEPT: Mutex<Option<Settings>> = Mutex::new(None);

/// What is remembered (read from the file the first time).
pub fn remembered() -> Settings {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.get_or_insert_with(read).clone()
}

/// Change what is remembered and write it down (only when something changed).
pub fn remember(change: impl FnOnce(&mut Settings)) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let settings = kept.get_or_insert_with(read);
    let before = settings.clone();
    change(settings);
    if *settings == before {
        return;
    }
    match write(settings) {
        Ok(()) => log::info!("settings: kept in {}", file().display()),
        Err(e) => log::warn!("settings: cannot write {} ({e}); they are not kept", file().display()),
    }
}

/// `LANMEET_<NAME>` when set and not empty, else what is remembered.
pub fn env_or(name: &str, remembered: Option<String>) -> Option<String> {
    std::env::var(format!("LANMEET_{name}")).ok().filter(|v| !v.is_empty()).or(remembered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_keeps_the_newest_within_its_limits() {
        let unsent = |n: usize, size: usize| Unsent { server: "s".into(), channel: "#c".into(), text: format!("{n}{}", "x".repeat(size)) };
        let mut outbox: Vec<Unsent> = (0..150).map(|n| unsent(n, 10)).collect();
        trim_outbox(&mut outbox);
        assert_eq!(outbox.len(), MOST_UNSENT);
        assert!(outbox[0].text.starts_with("50"), "the oldest go first");
        let mut big: Vec<Unsent> = (0..10).map(|n| unsent(n, 8 * 1024)).collect();
        trim_outbox(&mut big);
        assert!(big.iter().map(|u| u.text.len()).sum::<usize>() <= MOST_UNSENT_BYTES);
        assert!(big.last().unwrap().text.starts_with('9'));
    }

    #[test]
    fn settings_read_back_as_written_and_unknown_or_missing_fields_do_no_harm() {
        let settings = Settings {
            nick: Some("记住我".into()),
            mode: Some("multicast".into()),
            ttl: Some(0),
            window: Some(Place { x: 10, y: 20, width: 900, height: 560 }),
            ..Settings::default()
        };
        let text = serde_json::to_string(&settings).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), settings);
        // A file from another version: fields it lacks stay unset, fields it adds are ignored.
        let other: Settings = serde_json::from_str(r#"{"nick": "ann", "future": [1, 2]}"#).unwrap();
        assert_eq!(other, Settings { nick: Some("ann".into()), ..Settings::default() });
        assert!(serde_json::from_str::<Settings>(r#"{"ttl": "high"}"#).is_err());
    }
}
