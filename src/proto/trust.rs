//! Who a name belongs to: each participant signs with its own Ed25519 key, and the first key
//! seen for a name is pinned to it (trust on first use). Shared by the multicast chat and the
//! conference; where pins are kept is the caller's business.

use crate::proto::mchat::seal::{fingerprint, PUBLIC_KEY_LEN};
use std::collections::HashMap;

/// Names one session pins at most (new ones beyond it are shown, not pinned).
pub const MAX_NEW_PINS: usize = 4096;

/// What a signature says about who sent something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Not signed: whoever it claims to be.
    Unsigned,
    /// Signed with the key pinned to its name (or the first key seen for it, now pinned).
    Signed([u8; PUBLIC_KEY_LEN]),
    /// Its name is pinned to another key (or it is not signed at all): someone else is using
    /// that name. It is never shown under it.
    Impostor(Option<[u8; PUBLIC_KEY_LEN]>),
}

impl Trust {
    /// The name to show for a participant claiming `nick`.
    pub fn shown(&self, nick: &str) -> String {
        match self {
            Trust::Impostor(_) => format!("impostor of {nick}"),
            _ => nick.to_string(),
        }
    }

    pub fn fingerprint(&self) -> Option<String> {
        match self {
            Trust::Signed(key) | Trust::Impostor(Some(key)) => Some(fingerprint(key)),
            _ => None,
        }
    }
}

/// Names and the keys pinned to them.
#[derive(Debug, Clone, Default)]
pub struct Pins {
    pins: HashMap<String, [u8; PUBLIC_KEY_LEN]>,
    /// Pinned in this session.
    new: usize,
}

impl Pins {
    pub fn new(pins: HashMap<String, [u8; PUBLIC_KEY_LEN]>) -> Pins {
        Pins { pins, new: 0 }
    }

    /// Who something claiming `nick`, signed by `signer`, comes from; and the pin it made, if
    /// the name was new and `may_pin` (what a participant says of itself pins its name, not a
    /// request or a goodbye).
    pub fn judge(&mut self, nick: &str, signer: Option<[u8; PUBLIC_KEY_LEN]>, may_pin: bool) -> (Trust, bool) {
        match (self.pins.get(nick), signer) {
            (Some(pinned), Some(key)) if *pinned == key => (Trust::Signed(key), false),
            (Some(_), key) => (Trust::Impostor(key), false),
            (None, Some(key)) => {
                let pin = may_pin && self.new < MAX_NEW_PINS;
                if pin {
                    self.new += 1;
                    self.pins.insert(nick.to_string(), key);
                }
                (Trust::Signed(key), pin)
            }
            (None, None) => (Trust::Unsigned, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_seen_for_a_name_is_pinned() {
        let (alice, mallory) = ([1u8; 32], [2u8; 32]);
        let mut pins = Pins::default();
        assert_eq!(pins.judge("alice", None, true), (Trust::Unsigned, false));
        assert_eq!(pins.judge("alice", Some(alice), false), (Trust::Signed(alice), false), "a request pins nothing");
        assert_eq!(pins.judge("alice", Some(mallory), true), (Trust::Signed(mallory), true), "the first that may pin does");
        assert_eq!(pins.judge("alice", Some(alice), true), (Trust::Impostor(Some(alice)), false));
        assert_eq!(pins.judge("alice", None, true), (Trust::Impostor(None), false));
        assert_eq!(Trust::Impostor(None).shown("alice"), "impostor of alice");
        assert_eq!(Trust::Signed(alice).shown("alice"), "alice");
    }
}
