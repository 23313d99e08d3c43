//! The multicast chat datagram, version 1 (docs/PROTOCOL.md). Encoding to bytes and decoding
//! from bytes, nothing else. Every datagram fits in [`MAX_DATAGRAM`] bytes.

use thiserror::Error;

pub const MAGIC: &[u8; 3] = b"LMC";
pub const VERSION: u8 = 1;
/// Largest datagram we send: below any Ethernet MTU, so nothing fragments at the IP layer.
pub const MAX_DATAGRAM: usize = 1200;
pub const MAX_NICK: usize = 64;
/// Fixed part of the header: magic, version, kind, flags, sender, seq, time, nick length.
const FIXED: usize = 3 + 1 + 1 + 1 + 8 + 4 + 8 + 1;
/// Sequence numbers one repair request may name.
pub const MAX_NACK: usize = 128;

/// Flag bits. Bit 0 marks a payload sealed in an authenticated-encryption envelope (not yet
/// produced by this version; a receiver that cannot open it counts it and drops it).
pub const FLAG_SEALED: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// One fragment of a text message: fragment `index` of `count`; the message's first
    /// fragment has sequence number `seq - index`.
    Message { index: u8, count: u8, text: Vec<u8> },
    /// Presence: the sender's latest sequence number used (in the header) so tail loss shows.
    Announce,
    Goodbye,
    /// Please resend these sequence numbers of `target`.
    Nack { target: u64, seqs: Vec<u32> },
    /// A resent message fragment (same body as Message).
    Repair { index: u8, count: u8, text: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub flags: u8,
    pub sender: u64,
    /// Message sequence number (Message, Repair), or the latest one sent (Announce, Goodbye,
    /// Nack).
    pub seq: u32,
    pub unix_ms: u64,
    pub nick: String,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("not a lanmeet datagram")]
    NotOurs,
    #[error("unsupported version {0}")]
    Version(u8),
    #[error("truncated datagram")]
    Truncated,
    #[error("unknown kind {0}")]
    Kind(u8),
    #[error("nickname is not UTF-8 or longer than {MAX_NICK} bytes")]
    Nick,
    #[error("sealed payloads are not supported by this version")]
    Sealed,
    #[error("malformed body")]
    Body,
    #[error("datagram larger than {MAX_DATAGRAM} bytes")]
    Oversized,
}

impl Datagram {
    pub fn encode(&self) -> Vec<u8> {
        let nick = truncate_utf8(&self.nick, MAX_NICK);
        let mut out = Vec::with_capacity(MAX_DATAGRAM);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(match self.body {
            Body::Message { .. } => 1,
            Body::Announce => 2,
            Body::Goodbye => 3,
            Body::Nack { .. } => 4,
            Body::Repair { .. } => 5,
        });
        out.push(self.flags);
        out.extend_from_slice(&self.sender.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.unix_ms.to_be_bytes());
        out.push(nick.len() as u8);
        out.extend_from_slice(nick.as_bytes());
        match &self.body {
            Body::Message { index, count, text } | Body::Repair { index, count, text } => {
                out.push(*index);
                out.push(*count);
                out.extend_from_slice(text);
            }
            Body::Announce | Body::Goodbye => {}
            Body::Nack { target, seqs } => {
                out.extend_from_slice(&target.to_be_bytes());
                for seq in seqs.iter().take(MAX_NACK) {
                    out.extend_from_slice(&seq.to_be_bytes());
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Datagram, DecodeError> {
        if bytes.len() < 4 || &bytes[..3] != MAGIC {
            return Err(DecodeError::NotOurs);
        }
        if bytes[3] != VERSION {
            return Err(DecodeError::Version(bytes[3]));
        }
        if bytes.len() > MAX_DATAGRAM {
            return Err(DecodeError::Oversized);
        }
        if bytes.len() < FIXED {
            return Err(DecodeError::Truncated);
        }
        let kind = bytes[4];
        let flags = bytes[5];
        let sender = u64::from_be_bytes(bytes[6..14].try_into().expect("length checked"));
        let seq = u32::from_be_bytes(bytes[14..18].try_into().expect("length checked"));
        let unix_ms = u64::from_be_bytes(bytes[18..26].try_into().expect("length checked"));
        let nick_len = bytes[26] as usize;
        let rest = &bytes[FIXED..];
        if rest.len() < nick_len {
            return Err(DecodeError::Truncated);
        }
        if nick_len > MAX_NICK {
            return Err(DecodeError::Nick);
        }
        let nick = std::str::from_utf8(&rest[..nick_len]).map_err(|_| DecodeError::Nick)?.to_string();
        let rest = &rest[nick_len..];
        if flags & FLAG_SEALED != 0 {
            return Err(DecodeError::Sealed);
        }
        let fragment = |rest: &[u8]| -> Result<(u8, u8, Vec<u8>), DecodeError> {
            if rest.len() < 2 {
                return Err(DecodeError::Truncated);
            }
            let (index, count) = (rest[0], rest[1]);
            if count == 0 || index >= count || index as u32 > seq {
                return Err(DecodeError::Body);
            }
            Ok((index, count, rest[2..].to_vec()))
        };
        let body = match kind {
            1 => {
                let (index, count, text) = fragment(rest)?;
                Body::Message { index, count, text }
            }
            5 => {
                let (index, count, text) = fragment(rest)?;
                Body::Repair { index, count, text }
            }
            2 | 3 if !rest.is_empty() => return Err(DecodeError::Body),
            2 => Body::Announce,
            3 => Body::Goodbye,
            4 => {
                if rest.len() < 8 || (rest.len() - 8) % 4 != 0 || rest.len() - 8 > MAX_NACK * 4 {
                    return Err(DecodeError::Body);
                }
                let target = u64::from_be_bytes(rest[..8].try_into().expect("length checked"));
                let seqs = rest[8..].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("chunk of 4"))).collect();
                Body::Nack { target, seqs }
            }
            other => return Err(DecodeError::Kind(other)),
        };
        Ok(Datagram { flags, sender, seq, unix_ms, nick, body })
    }
}

/// Bytes of text that fit in one message datagram for this nickname.
pub fn text_room(nick: &str) -> usize {
    MAX_DATAGRAM - FIXED - truncate_utf8(nick, MAX_NICK).len() - 2
}

pub fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn datagram(body: Body) -> Datagram {
        Datagram { flags: 0, sender: 0x0102030405060708, seq: 7, unix_ms: 1_800_000_000_000, nick: "张三".into(), body }
    }

    #[test]
    fn round_trip_table() {
        for body in [
            Body::Message { index: 0, count: 1, text: "你好".as_bytes().to_vec() },
            Body::Message { index: 2, count: 3, text: vec![] },
            Body::Announce,
            Body::Goodbye,
            Body::Nack { target: 42, seqs: vec![1, 2, 5] },
            Body::Repair { index: 0, count: 2, text: b"again".to_vec() },
        ] {
            let d = datagram(body);
            let bytes = d.encode();
            assert!(bytes.len() <= MAX_DATAGRAM);
            assert_eq!(Datagram::decode(&bytes), Ok(d));
        }
    }

    #[test]
    fn bad_input_table() {
        let good = datagram(Body::Message { index: 0, count: 1, text: b"hi".to_vec() }).encode();
        let mut wrong_version = good.clone();
        wrong_version[3] = 9;
        let mut bad_kind = good.clone();
        bad_kind[4] = 77;
        let mut sealed = good.clone();
        sealed[5] = FLAG_SEALED;
        let mut bad_fragment = good.clone();
        let at = good.len() - 4;
        bad_fragment[at] = 3; // index 3 of count 1
        let mut bad_nick = good.clone();
        bad_nick[27] = 0xff;
        let rows: Vec<(Vec<u8>, DecodeError)> = vec![
            (b"hello from the old tool".to_vec(), DecodeError::NotOurs),
            (vec![], DecodeError::NotOurs),
            (good[..10].to_vec(), DecodeError::Truncated),
            (good[..FIXED + 2].to_vec(), DecodeError::Truncated),
            (wrong_version, DecodeError::Version(9)),
            (bad_kind, DecodeError::Kind(77)),
            (sealed, DecodeError::Sealed),
            (bad_fragment, DecodeError::Body),
            (bad_nick, DecodeError::Nick),
            ([&good[..], &[0u8; MAX_DATAGRAM][..]].concat(), DecodeError::Oversized),
        ];
        for (bytes, want) in rows {
            assert_eq!(Datagram::decode(&bytes), Err(want.clone()), "{want:?}");
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1300)) {
            let _ = Datagram::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_our_prefix(tail in prop::collection::vec(any::<u8>(), 0..300)) {
            let bytes = [&b"LMC\x01"[..], &tail[..]].concat();
            let _ = Datagram::decode(&bytes);
        }

        #[test]
        fn messages_round_trip(sender in any::<u64>(), seq in 10u32.., nick in "\\PC{0,20}", text in "\\PC{0,300}", count in 1u8..10) {
            let d = Datagram { flags: 0, sender, seq, unix_ms: 5, nick: truncate_utf8(&nick, MAX_NICK).to_string(),
                body: Body::Message { index: count - 1, count, text: text.into_bytes() } };
            prop_assert_eq!(Datagram::decode(&d.encode()), Ok(d));
        }
    }
}
