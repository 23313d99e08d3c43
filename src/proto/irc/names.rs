//! Rules for nicknames and channel names, and the case mapping both sides use
//! (`CASEMAPPING=ascii`). Nicknames may be written in any script, so a Chinese name is valid.

pub const NICK_LEN: usize = 30;
pub const CHANNEL_LEN: usize = 50;

/// The key under which a nickname or channel name is compared.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

pub fn valid_nick(nick: &str) -> bool {
    const SPECIAL: &str = "[]\\`_^{|}-";
    let mut chars = nick.chars();
    let Some(first) = chars.next() else { return false };
    if nick.len() > NICK_LEN || first.is_ascii_digit() || first == '-' {
        return false;
    }
    nick.chars().all(|c| c.is_alphanumeric() || SPECIAL.contains(c))
}

pub fn valid_channel(name: &str) -> bool {
    name.len() > 1
        && name.len() <= CHANNEL_LEN
        && name.starts_with('#')
        && !name.chars().any(|c| c == ' ' || c == ',' || c == '\x07' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_table() {
        for good in ["alice", "Bob_", "[x]", "张三", "a-1", "こんにちは"] {
            assert!(valid_nick(good), "{good}");
        }
        for bad in ["", "1abc", "-x", "a b", "a,b", "a!b", "a@b", "#chan", "a.b", &"x".repeat(31)] {
            assert!(!valid_nick(bad), "{bad}");
        }
    }

    #[test]
    fn channel_table() {
        for good in ["#lobby", "#聊天室", "#a.b"] {
            assert!(valid_channel(good), "{good}");
        }
        for bad in ["", "#", "lobby", "#a b", "#a,b", "#a\x07"] {
            assert!(!valid_channel(bad), "{bad}");
        }
    }
}
