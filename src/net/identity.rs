//! Who we are on a multicast group, and whom we have met: this installation's signing key
//! (`identity.key` in the data folder, made on first use, readable by its owner only), and the
//! nicknames pinned to the first key seen for each (`known_peers`, one `nick KEY` a line, the
//! key in hex).

use super::tls::data_dir;
use crate::proto::mchat::seal::{Signer, PUBLIC_KEY_LEN, SEED_LEN};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Write a file that only its owner may read.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// This installation's signing key, made and kept on first use.
pub fn own_signer() -> Result<Signer, String> {
    signer_at(&data_dir().join("identity.key"))
}

pub fn signer_at(path: &Path) -> Result<Signer, String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let seed: [u8; SEED_LEN] = bytes.as_slice().try_into().map_err(|_| format!("{} is not a lanmeet key ({} bytes, not {SEED_LEN})", path.display(), bytes.len()))?;
            Ok(Signer::from_seed(&seed))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let signer = Signer::generate();
            write_private(path, signer.seed())?;
            log::info!("made a signing key in {}", path.display());
            Ok(signer)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Nicknames and the keys pinned to them.
#[derive(Debug, Clone)]
pub struct KnownPeers {
    path: PathBuf,
}

impl KnownPeers {
    pub fn new(path: PathBuf) -> KnownPeers {
        KnownPeers { path }
    }

    pub fn default_file() -> KnownPeers {
        KnownPeers::new(data_dir().join("known_peers"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every pin; none yet is empty. Lines that do not read as a pin are skipped.
    pub fn load(&self) -> io::Result<HashMap<String, [u8; PUBLIC_KEY_LEN]>> {
        let text = match std::fs::read_to_string(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
            other => other?,
        };
        Ok(text.lines().filter_map(|line| {
            let (nick, hex) = line.rsplit_once(' ')?;
            Some((unescape(nick), parse_key(hex)?))
        }).collect())
    }

    /// Add a pin (a nickname is pinned once: an existing line is kept).
    pub fn pin(&self, nick: &str, key: &[u8; PUBLIC_KEY_LEN]) -> io::Result<()> {
        static TURN: Mutex<()> = Mutex::new(());
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        if self.load()?.contains_key(nick) {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        // One write of one line: appends of several processes do not interleave within it.
        file.write_all(format!("{} {}\n", escape(nick), hex(key)).as_bytes())
    }
}

/// Nicknames may hold spaces and any UTF-8; backslash escapes keep a pin on one line.
fn escape(nick: &str) -> String {
    nick.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r")
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key(hex: &str) -> Option<[u8; PUBLIC_KEY_LEN]> {
    let hex = hex.trim();
    if hex.len() != 2 * PUBLIC_KEY_LEN || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; PUBLIC_KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_kept_private_and_pins_survive_odd_names() {
        let dir = std::env::temp_dir().join(format!("lanmeet-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = signer_at(&dir.join("identity.key")).unwrap();
        let again = signer_at(&dir.join("identity.key")).unwrap();
        assert_eq!(first.public(), again.public());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.join("identity.key")).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(dir.join("short.key"), b"xyz").unwrap();
        assert!(signer_at(&dir.join("short.key")).unwrap_err().contains("not a lanmeet key"));
        let known = KnownPeers::new(dir.join("known_peers"));
        assert!(known.load().unwrap().is_empty());
        let other = Signer::generate();
        for nick in ["张三", "two words", "back\\slash", "line\nbreak"] {
            known.pin(nick, &first.public()).unwrap();
        }
        known.pin("张三", &other.public()).unwrap(); // already pinned: kept
        let pins = known.load().unwrap();
        assert_eq!(pins.len(), 4);
        assert!(pins.values().all(|k| *k == first.public()));
        assert!(pins.contains_key("line\nbreak") && pins.contains_key("two words") && pins.contains_key("back\\slash"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
