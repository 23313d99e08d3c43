//! One IRC message: IRCv3 tags, source, command and parameters (RFC 1459 §2.3, RFC 2812 §2.3,
//! IRCv3 message-tags). Parsing takes one line without its CR LF; serializing gives one back.
//! This module owns the text form of a message and nothing else: it never reads or writes bytes
//! from a socket and knows no command's meaning.

use std::fmt::Write as _;
use thiserror::Error;

/// Longest line without tags, CR LF included (RFC 1459 §2.3).
pub const MAX_LINE: usize = 512;
/// Longest tag section, `@` and trailing space included (IRCv3 message-tags).
pub const MAX_TAGS: usize = 8191;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Tags in the order given; a tag without `=` has no value.
    pub tags: Vec<(String, Option<String>)>,
    /// `nick!user@host` or a server name.
    pub source: Option<String>,
    pub command: String,
    pub params: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("line has no command")]
    NoCommand,
    #[error("malformed tags")]
    BadTags,
    #[error("line contains NUL, CR or LF")]
    ForbiddenByte,
    #[error("a command is letters or a three-digit number")]
    BadCommand,
}

impl Message {
    pub fn new<C: Into<String>>(command: C, params: &[&str]) -> Message {
        Message {
            tags: Vec::new(),
            source: None,
            command: command.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Message {
        self.source = Some(source.into());
        self
    }

    pub fn with_tag(mut self, key: impl Into<String>, value: Option<String>) -> Message {
        self.tags.push((key.into(), value));
        self
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn param(&self, index: usize) -> Option<&str> {
        self.params.get(index).map(String::as_str)
    }

    /// The nickname part of the source, if the source is a user.
    pub fn source_nick(&self) -> Option<&str> {
        let source = self.source.as_deref()?;
        Some(source.split('!').next().unwrap_or(source))
    }

    /// Parse one line (CR LF already removed).
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        if line.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(ParseError::ForbiddenByte);
        }
        let mut rest = line.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut message = Message::default();
        if let Some(tagged) = rest.strip_prefix('@') {
            let (tags, after) = tagged.split_once(' ').ok_or(ParseError::NoCommand)?;
            message.tags = parse_tags(tags)?;
            rest = after.trim_start_matches(' ');
        }
        if let Some(sourced) = rest.strip_prefix(':') {
            let (source, after) = sourced.split_once(' ').ok_or(ParseError::NoCommand)?;
            message.source = Some(source.to_string());
            rest = after.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        // RFC 1459 §2.3.1. Anything else (a second `@` or `:`) could not be written back.
        if !command.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::BadCommand);
        }
        message.command = command.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                message.params.push(trailing.to_string());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            message.params.push(param.to_string());
            rest = after;
        }
        Ok(message)
    }

    /// The line without CR LF. The last parameter is written as trailing when it must be.
    pub fn to_line(&self) -> String {
        let mut line = String::with_capacity(64);
        if !self.tags.is_empty() {
            line.push('@');
            for (i, (key, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    line.push(';');
                }
                line.push_str(key);
                if let Some(value) = value {
                    line.push('=');
                    escape_tag_value(value, &mut line);
                }
            }
            line.push(' ');
        }
        if let Some(source) = &self.source {
            let _ = write!(line, ":{source} ");
        }
        line.push_str(&self.command);
        for (i, param) in self.params.iter().enumerate() {
            line.push(' ');
            let last = i + 1 == self.params.len();
            // Several clients expect the text of PRIVMSG, numerics and the like as trailing.
            let needs_colon = param.is_empty() || param.contains(' ') || param.starts_with(':');
            if last && (needs_colon || self.params.len() >= 2) {
                line.push(':');
            }
            line.push_str(param);
        }
        line
    }

    /// The line with CR LF, as bytes for a socket.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut line = self.to_line().into_bytes();
        line.extend_from_slice(b"\r\n");
        line
    }
}

fn parse_tags(text: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut tags = Vec::new();
    for item in text.split(';').filter(|t| !t.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(unescape_tag_value(v))),
            None => (item, None),
        };
        if key.is_empty() || key == "+" {
            return Err(ParseError::BadTags);
        }
        // An empty value is the same as no value (IRCv3 message-tags).
        let value = value.filter(|v| !v.is_empty());
        tags.push((key.to_string(), value));
    }
    Ok(tags)
}

fn escape_tag_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn unescape_tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Cut `text` into pieces of at most `max_bytes` bytes, never inside a UTF-8 character,
/// preferring to cut after a space when one is near the end of a piece.
pub fn split_utf8(text: &str, max_bytes: usize) -> Vec<&str> {
    let max_bytes = max_bytes.max(4);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let mut cut = max_bytes;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ') {
            if space > cut * 3 / 4 {
                cut = space + 1;
            }
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tags(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn parse_table() {
        let rows: &[(&str, Option<&str>, &str, &[&str], Vec<(String, Option<String>)>)] = &[
            ("PING", None, "PING", &[], vec![]),
            ("ping :abc def", None, "PING", &["abc def"], vec![]),
            (
                ":alice!a@h PRIVMSG #lobby :你好 世界",
                Some("alice!a@h"),
                "PRIVMSG",
                &["#lobby", "你好 世界"],
                vec![],
            ),
            ("NICK  bob", None, "NICK", &["bob"], vec![]),
            ("PRIVMSG #c ::-)", None, "PRIVMSG", &["#c", ":-)"], vec![]),
            ("PRIVMSG #c :", None, "PRIVMSG", &["#c", ""], vec![]),
            ("USER u 0 * :Real Name", None, "USER", &["u", "0", "*", "Real Name"], vec![]),
            (
                "@time=2026-01-01T00:00:00.000Z;+x=a\\sb\\:c :s 001 n :hi",
                Some("s"),
                "001",
                &["n", "hi"],
                tags(&[("time", Some("2026-01-01T00:00:00.000Z")), ("+x", Some("a b;c"))]),
            ),
            ("@flag;k= CAP * LS", None, "CAP", &["*", "LS"], tags(&[("flag", None), ("k", None)])),
        ];
        for (line, source, command, params, want_tags) in rows {
            let m = Message::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(m.source.as_deref(), *source, "{line}");
            assert_eq!(m.command, *command, "{line}");
            assert_eq!(m.params, params.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{line}");
            assert_eq!(&m.tags, want_tags, "{line}");
        }
    }

    #[test]
    fn bad_input_table() {
        let rows: &[(&str, ParseError)] = &[
            ("", ParseError::Empty),
            ("   ", ParseError::Empty),
            (":onlysource", ParseError::NoCommand),
            ("@a=b", ParseError::NoCommand),
            ("@=x CMD", ParseError::BadTags),
            ("PRIVMSG #a :x\0y", ParseError::ForbiddenByte),
            ("PRIVMSG #a :x\ry", ParseError::ForbiddenByte),
        ];
        for (line, want) in rows {
            assert_eq!(Message::parse(line), Err(want.clone()), "{line:?}");
        }
    }

    #[test]
    fn serialize_table() {
        let rows: &[(Message, &str)] = &[
            (Message::new("PRIVMSG", &["#a", "hello"]), "PRIVMSG #a :hello"),
            (Message::new("NICK", &["bob"]), "NICK bob"),
            (Message::new("PRIVMSG", &["#a", "two words"]), "PRIVMSG #a :two words"),
            (Message::new("PRIVMSG", &["#a", ""]), "PRIVMSG #a :"),
            (Message::new("PRIVMSG", &["#a", ":)"]), "PRIVMSG #a ::)"),
            (
                Message::new("JOIN", &["#a"]).with_source("n!u@h").with_tag("time", Some("t".into())),
                "@time=t :n!u@h JOIN #a",
            ),
        ];
        for (m, want) in rows {
            assert_eq!(m.to_line(), *want);
        }
    }

    #[test]
    fn split_never_cuts_characters() {
        let text = "你好世界".repeat(100);
        for max in [4, 5, 7, 100, 399] {
            let pieces = split_utf8(&text, max);
            assert!(pieces.iter().all(|p| p.len() <= max));
            assert_eq!(pieces.concat(), text);
        }
        assert_eq!(split_utf8("", 10), vec![""]);
        assert_eq!(split_utf8("aaa bbb ccc", 8), vec!["aaa bbb ", "ccc"]);
    }

    fn middle_param() -> impl Strategy<Value = String> {
        "[^\\x00\\r\\n :][^\\x00\\r\\n ]{0,12}"
    }
    fn trailing_param() -> impl Strategy<Value = String> {
        "[^\\x00\\r\\n]{0,40}"
    }
    fn arb_message() -> impl Strategy<Value = Message> {
        (
            prop::collection::vec(("\\+?[a-z][a-z0-9./-]{0,10}", prop::option::of("[^\\x00]{1,12}")), 0..3),
            prop::option::of("[a-zA-Z][^\\x00\\r\\n @!]{0,8}(![a-z]{1,5}@[a-z.]{1,8})?"),
            "[A-Z]{1,8}|[0-9]{3}",
            prop::collection::vec(middle_param(), 0..5),
            prop::option::of(trailing_param()),
        )
            .prop_map(|(tags, source, command, mut params, trailing)| {
                if let Some(t) = trailing {
                    params.push(t);
                }
                Message { tags, source, command, params }
            })
    }

    proptest! {
        #[test]
        fn round_trip(m in arb_message()) {
            let line = m.to_line();
            let back = Message::parse(&line).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = Message::parse(&s);
        }

        #[test]
        fn split_round_trip(s in "\\PC{0,300}", max in 4usize..64) {
            let pieces = split_utf8(&s, max);
            prop_assert!(pieces.iter().all(|p| p.len() <= max));
            prop_assert_eq!(pieces.concat(), s);
        }
    }
}
