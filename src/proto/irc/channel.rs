//! A channel of the relay: its members with their status, its modes (RFC 2811 and the modern
//! IRC documents: `+b +i +k +l +m +n +s +t`, `+o +v` on members) and ban masks.

use super::names::fold;
use super::server::ConnId;

/// Bans one channel keeps (ISUPPORT `MAXLIST=b:100`).
pub const MAX_BANS: usize = 100;
/// Bytes of a ban mask kept.
pub const MASK_LEN: usize = 100;
/// Bytes of a channel key (ISUPPORT `KEYLEN`).
pub const KEY_LEN: usize = 23;
/// The largest user limit `+l` takes.
pub const MAX_LIMIT: usize = 100_000;
/// Modes with a parameter one MODE command may change (ISUPPORT `MODES`).
pub const MODES_PER_COMMAND: usize = 6;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub invite_only: bool,
    pub moderated: bool,
    pub no_external: bool,
    pub secret: bool,
    pub topic_lock: bool,
}

impl Flags {
    /// The flag of a mode letter, if it is one of these.
    pub fn get_mut(&mut self, letter: char) -> Option<&mut bool> {
        Some(match letter {
            'i' => &mut self.invite_only,
            'm' => &mut self.moderated,
            'n' => &mut self.no_external,
            's' => &mut self.secret,
            't' => &mut self.topic_lock,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Ban {
    pub mask: String,
    pub setter: String,
    pub set_unix: i64,
}

#[derive(Debug)]
pub struct Channel {
    pub name: String,
    pub members: Vec<ConnId>,
    pub operators: Vec<ConnId>,
    pub voiced: Vec<ConnId>,
    pub topic: Option<(String, String, i64)>,
    pub created_unix: i64,
    /// Which channel of this name it is: each one made gets a new number.
    pub instance: u64,
    pub flags: Flags,
    pub key: Option<String>,
    pub limit: Option<usize>,
    pub bans: Vec<Ban>,
}

impl Channel {
    /// A new channel, its first member its operator, with `+n` (only members speak in it).
    pub fn new(name: &str, founder: ConnId, created_unix: i64, instance: u64) -> Channel {
        Channel {
            name: name.to_string(),
            members: Vec::new(),
            operators: vec![founder],
            voiced: Vec::new(),
            topic: None,
            created_unix,
            instance,
            flags: Flags { no_external: true, ..Flags::default() },
            key: None,
            limit: None,
            bans: Vec::new(),
        }
    }

    /// Whether what is said here is kept. A room locked by a key, by invitation or as secret
    /// keeps nothing: the lock ends with the room (and with a restart), and whoever makes the
    /// room again must not read what was said behind it.
    pub fn keeps_history(&self) -> bool {
        self.key.is_none() && !self.flags.invite_only && !self.flags.secret
    }

    pub fn is_op(&self, conn: ConnId) -> bool {
        self.operators.contains(&conn)
    }

    pub fn is_voiced(&self, conn: ConnId) -> bool {
        self.voiced.contains(&conn)
    }

    /// Whether someone with `prefix` (`nick!user@host`) matches a ban.
    pub fn banned(&self, prefix: &str) -> bool {
        let prefix = fold(prefix);
        self.bans.iter().any(|b| mask_matches(&b.mask, &prefix))
    }

    /// `@+`, `@`, `+` or nothing; only the highest unless `all`.
    pub fn prefixes(&self, conn: ConnId, all: bool) -> &'static str {
        match (self.is_op(conn), self.is_voiced(conn)) {
            (true, true) if all => "@+",
            (true, _) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// Why `conn` (with `prefix`) may not speak in the channel, if it may not.
    pub fn refuses_speech(&self, conn: ConnId, prefix: &str) -> Option<&'static str> {
        let member = self.members.contains(&conn);
        if !member && self.flags.no_external {
            return Some("Cannot send to channel (you are not in it)");
        }
        if self.is_op(conn) || self.is_voiced(conn) {
            return None;
        }
        if self.flags.moderated {
            return Some("Cannot send to channel (+m: only voiced members speak)");
        }
        if self.banned(prefix) {
            return Some("Cannot send to channel (you are banned)");
        }
        None
    }

    /// The modes as `324` gives them: `+imnst` and, where set, `k` and `l` with their values
    /// (the key only for members).
    pub fn mode_string(&self, show_key: bool) -> Vec<String> {
        let mut letters = String::from("+");
        let mut params = Vec::new();
        for (on, letter) in [
            (self.flags.invite_only, 'i'),
            (self.key.is_some(), 'k'),
            (self.limit.is_some(), 'l'),
            (self.flags.moderated, 'm'),
            (self.flags.no_external, 'n'),
            (self.flags.secret, 's'),
            (self.flags.topic_lock, 't'),
        ] {
            if on {
                letters.push(letter);
            }
        }
        if let Some(key) = &self.key {
            params.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = self.limit {
            params.push(limit.to_string());
        }
        let mut all = vec![letters];
        all.extend(params);
        all
    }
}

/// A ban mask in full `nick!user@host` form: `nick` becomes `nick!*@*`, `user@host`
/// becomes `*!user@host`, `nick!user` becomes `nick!user@*`; folded, at most [`MASK_LEN`].
pub fn normalize_mask(mask: &str) -> Option<String> {
    if mask.is_empty() || mask.len() > MASK_LEN || mask.chars().any(|c| c == ' ' || c == ',' || c.is_control()) {
        return None;
    }
    let full = match (mask.find('!'), mask.find('@')) {
        (Some(bang), Some(at)) if bang < at => mask.to_string(),
        (Some(_), Some(_)) => return None,
        (Some(_), None) => format!("{mask}@*"),
        (None, Some(_)) => format!("*!{mask}"),
        (None, None) => format!("{mask}!*@*"),
    };
    (full.len() <= MASK_LEN).then(|| fold(&full))
}

/// Whether `text` matches `mask`, where `*` is any run of characters and `?` any one.
/// Linear in the lengths times the stars: no backtracking blow-up.
pub fn mask_matches(mask: &str, text: &str) -> bool {
    let (mask, text): (Vec<char>, Vec<char>) = (mask.chars().collect(), text.chars().collect());
    let (mut m, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if m < mask.len() && mask[m] == '*' {
            star = Some((m, t));
            m += 1;
        } else if m < mask.len() && (mask[m] == '?' || mask[m] == text[t]) {
            m += 1;
            t += 1;
        } else if let Some((sm, st)) = star {
            m = sm + 1;
            t = st + 1;
            star = Some((sm, st + 1));
        } else {
            return false;
        }
    }
    mask[m..].iter().all(|&c| c == '*')
}

/// A channel key is valid when it is short and has no space, comma or control character.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= KEY_LEN && !key.chars().any(|c| c == ' ' || c == ',' || c == ':' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_normalize_and_match_with_wildcards() {
        assert_eq!(normalize_mask("Bob").as_deref(), Some("bob!*@*"));
        assert_eq!(normalize_mask("*@10.0.0.*").as_deref(), Some("*!*@10.0.0.*"));
        assert_eq!(normalize_mask("bob!~b").as_deref(), Some("bob!~b@*"));
        assert_eq!(normalize_mask("a@b!c"), None);
        assert_eq!(normalize_mask(""), None);
        assert_eq!(normalize_mask(&"x".repeat(MASK_LEN + 1)), None);
        for (mask, text, matches) in [
            ("bob!*@*", "bob!~bob@127.0.0.1", true),
            ("bob!*@*", "bobby!~bob@127.0.0.1", false),
            ("*!*@127.0.0.?", "eve!~e@127.0.0.2", true),
            ("*!*@127.0.0.?", "eve!~e@127.0.0.22", false),
            ("张*!*@*", "张三!~z@::1", true),
            ("*a*a*a*a*a*b", &"a".repeat(60), false),
            ("*", "", true),
            ("*!~e*@*", "eve!~e*x@h", true),
        ] {
            assert_eq!(mask_matches(mask, text), matches, "{mask} {text}");
        }
    }

    #[test]
    fn modes_read_back_with_key_only_for_members() {
        let mut channel = Channel::new("#c", 1, 0, 1);
        channel.flags.moderated = true;
        channel.key = Some("sesame".into());
        channel.limit = Some(10);
        assert_eq!(channel.mode_string(true), ["+klmn", "sesame", "10"]);
        assert_eq!(channel.mode_string(false), ["+klmn", "*", "10"]);
        assert!(valid_key("sesame") && !valid_key("a b") && !valid_key(&"k".repeat(KEY_LEN + 1)));
    }
}
