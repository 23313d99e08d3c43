//! The multicast chat datagram, version 2 (docs/PROTOCOL.md). Encoding to bytes and decoding
//! from bytes, with the optional envelope: the payload sealed with the group's key
//! (ChaCha20-Poly1305) and signed with the sender's own key (Ed25519). Nothing else. Every
//! datagram fits in [`MAX_DATAGRAM`] bytes.

use super::seal::{GroupKey, Signer, PUBLIC_KEY_LEN, SIGNATURE_LEN, TAG_LEN};
use thiserror::Error;

pub const MAGIC: &[u8; 3] = b"LMC";
pub const VERSION: u8 = 2;
/// Largest datagram we send: below any Ethernet MTU, so nothing fragments at the IP layer.
pub const MAX_DATAGRAM: usize = 1200;
pub const MAX_NICK: usize = 64;
/// The part that is never sealed: magic, version, kind, flags, sender, counter.
pub const CLEAR: usize = 3 + 1 + 1 + 1 + 8 + 4;
/// Fixed part of what may be sealed: seq, time, nick length.
const INNER_FIXED: usize = 4 + 8 + 1;
/// What the envelope adds at most: a public key and a signature, and the AEAD's tag.
pub const ENVELOPE: usize = PUBLIC_KEY_LEN + SIGNATURE_LEN + TAG_LEN;
/// Sequence numbers one repair request may name.
pub const MAX_NACK: usize = 128;

/// Flag bits. Bit 0: everything after the clear part is sealed with the group's key. Bit 1:
/// the inner part ends with the sender's public key and its signature.
pub const FLAG_SEALED: u8 = 1;
pub const FLAG_SIGNED: u8 = 2;

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
    /// A fragment of a private message to participant `to` alone, sent to its address rather
    /// than the group: `seq` counts in the sender's own sequence for that participant.
    Direct { to: u64, index: u8, count: u8, text: Vec<u8> },
    /// A private message fragment resent (same body as Direct).
    DirectRepair { to: u64, index: u8, count: u8, text: Vec<u8> },
    /// Presence toward one participant: `seq` is the latest private message sent to `to`, so
    /// that it sees tail loss.
    DirectAnnounce { to: u64 },
    /// Please resend these of your private messages to me: `target` sent them.
    DirectNack { target: u64, seqs: Vec<u32> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub sender: u64,
    /// Counts every datagram the sender makes (a repair keeps the original's): with the sender
    /// id it is the nonce of the seal, and what the replay window looks at.
    pub counter: u32,
    /// Message sequence number (Message, Repair), or the latest one sent (Announce, Goodbye,
    /// Nack).
    pub seq: u32,
    pub unix_ms: u64,
    pub nick: String,
    pub body: Body,
}

/// A datagram as received, with what its envelope proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub datagram: Datagram,
    /// It was sealed with the group's key, and opened.
    pub sealed: bool,
    /// The public key it was signed with, the signature checked.
    pub signer: Option<[u8; PUBLIC_KEY_LEN]>,
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
    #[error("sealed with a key we do not have")]
    Sealed,
    #[error("sealed, and it does not open with our key (another passphrase, or altered)")]
    Unopened,
    #[error("the signature does not match")]
    Signature,
    #[error("malformed body")]
    Body,
    #[error("datagram larger than {MAX_DATAGRAM} bytes")]
    Oversized,
}

fn kind_byte(body: &Body) -> u8 {
    match body {
        Body::Message { .. } => 1,
        Body::Announce => 2,
        Body::Goodbye => 3,
        Body::Nack { .. } => 4,
        Body::Repair { .. } => 5,
        Body::Direct { .. } => 6,
        Body::DirectRepair { .. } => 7,
        Body::DirectAnnounce { .. } => 8,
        Body::DirectNack { .. } => 9,
    }
}

/// The clear part as the seal and the signature cover it: a repair is its message resent, so
/// kind 5 counts as 1 (and 7 as 6) and the stored bytes can go out again as they are.
fn covered(clear: &[u8]) -> [u8; CLEAR] {
    let mut out = [0u8; CLEAR];
    out.copy_from_slice(&clear[..CLEAR]);
    match out[4] {
        5 => out[4] = 1,
        7 => out[4] = 6,
        _ => {}
    }
    out
}

/// Turn stored datagram bytes into their repair: only the clear kind byte changes.
pub fn as_repair(bytes: &mut [u8]) {
    match bytes.get(4) {
        Some(1) => bytes[4] = 5,
        Some(6) => bytes[4] = 7,
        _ => {}
    }
}

impl Datagram {
    /// Plain encoding: neither sealed nor signed.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(None, None)
    }

    /// Encoding, signed with `signer` and sealed with `key` where given.
    pub fn encode_with(&self, key: Option<&GroupKey>, signer: Option<&Signer>) -> Vec<u8> {
        let nick = truncate_utf8(&self.nick, MAX_NICK);
        let mut out = Vec::with_capacity(MAX_DATAGRAM);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(kind_byte(&self.body));
        out.push(if key.is_some() { FLAG_SEALED } else { 0 } | if signer.is_some() { FLAG_SIGNED } else { 0 });
        out.extend_from_slice(&self.sender.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
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
            Body::Direct { to, index, count, text } | Body::DirectRepair { to, index, count, text } => {
                out.extend_from_slice(&to.to_be_bytes());
                out.push(*index);
                out.push(*count);
                out.extend_from_slice(text);
            }
            Body::DirectAnnounce { to } => out.extend_from_slice(&to.to_be_bytes()),
            Body::Announce | Body::Goodbye => {}
            Body::Nack { target, seqs } | Body::DirectNack { target, seqs } => {
                out.extend_from_slice(&target.to_be_bytes());
                for seq in seqs.iter().take(MAX_NACK) {
                    out.extend_from_slice(&seq.to_be_bytes());
                }
            }
        }
        if let Some(signer) = signer {
            out.extend_from_slice(&signer.public());
            let header = covered(&out);
            let signature = signer.sign(&[&header[..], &out[CLEAR..]]);
            out.extend_from_slice(&signature);
        }
        if let Some(key) = key {
            let header = covered(&out);
            let mut inner = out.split_off(CLEAR);
            key.seal(self.sender, self.counter, &header, &mut inner);
            out.extend_from_slice(&inner);
        }
        out
    }

    /// Plain decoding: a sealed datagram is refused, a signature checked.
    pub fn decode(bytes: &[u8]) -> Result<Datagram, DecodeError> {
        Datagram::decode_with(bytes, None).map(|opened| opened.datagram)
    }

    /// Decoding, opening a sealed datagram with `key` and checking any signature.
    pub fn decode_with(bytes: &[u8], key: Option<&GroupKey>) -> Result<Opened, DecodeError> {
        if bytes.len() < 4 || &bytes[..3] != MAGIC {
            return Err(DecodeError::NotOurs);
        }
        if bytes[3] != VERSION {
            return Err(DecodeError::Version(bytes[3]));
        }
        if bytes.len() > MAX_DATAGRAM {
            return Err(DecodeError::Oversized);
        }
        if bytes.len() < CLEAR {
            return Err(DecodeError::Truncated);
        }
        let kind = bytes[4];
        let flags = bytes[5];
        let sender = u64::from_be_bytes(bytes[6..14].try_into().expect("length checked"));
        let counter = u32::from_be_bytes(bytes[14..18].try_into().expect("length checked"));
        let header = covered(bytes);
        let opened;
        let inner: &[u8] = if flags & FLAG_SEALED != 0 {
            let key = key.ok_or(DecodeError::Sealed)?;
            opened = key.open(sender, counter, &header, &bytes[CLEAR..]).ok_or(DecodeError::Unopened)?;
            &opened
        } else {
            &bytes[CLEAR..]
        };
        let (inner, signer) = if flags & FLAG_SIGNED != 0 {
            if inner.len() < PUBLIC_KEY_LEN + SIGNATURE_LEN {
                return Err(DecodeError::Truncated);
            }
            let (signed, signature) = inner.split_at(inner.len() - SIGNATURE_LEN);
            let public: [u8; PUBLIC_KEY_LEN] = signed[signed.len() - PUBLIC_KEY_LEN..].try_into().expect("length checked");
            if !super::seal::verify(&public, &[&header[..], signed], signature) {
                return Err(DecodeError::Signature);
            }
            (&signed[..signed.len() - PUBLIC_KEY_LEN], Some(public))
        } else {
            (inner, None)
        };
        if inner.len() < INNER_FIXED {
            return Err(DecodeError::Truncated);
        }
        let seq = u32::from_be_bytes(inner[..4].try_into().expect("length checked"));
        let unix_ms = u64::from_be_bytes(inner[4..12].try_into().expect("length checked"));
        let nick_len = inner[12] as usize;
        let rest = &inner[INNER_FIXED..];
        if rest.len() < nick_len {
            return Err(DecodeError::Truncated);
        }
        if nick_len > MAX_NICK {
            return Err(DecodeError::Nick);
        }
        let nick = std::str::from_utf8(&rest[..nick_len]).map_err(|_| DecodeError::Nick)?.to_string();
        let rest = &rest[nick_len..];
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
        let id = |rest: &[u8]| -> Result<u64, DecodeError> {
            let bytes = rest.get(..8).ok_or(DecodeError::Truncated)?;
            Ok(u64::from_be_bytes(bytes.try_into().expect("length checked")))
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
            4 | 9 => {
                if rest.len() < 8 || (rest.len() - 8) % 4 != 0 || rest.len() - 8 > MAX_NACK * 4 {
                    return Err(DecodeError::Body);
                }
                let target = id(rest)?;
                let seqs = rest[8..].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("chunk of 4"))).collect();
                if kind == 4 {
                    Body::Nack { target, seqs }
                } else {
                    Body::DirectNack { target, seqs }
                }
            }
            6 | 7 => {
                let to = id(rest)?;
                let (index, count, text) = fragment(&rest[8..])?;
                if kind == 6 {
                    Body::Direct { to, index, count, text }
                } else {
                    Body::DirectRepair { to, index, count, text }
                }
            }
            8 if rest.len() != 8 => return Err(DecodeError::Body),
            8 => Body::DirectAnnounce { to: id(rest)? },
            other => return Err(DecodeError::Kind(other)),
        };
        let datagram = Datagram { sender, counter, seq, unix_ms, nick, body };
        Ok(Opened { datagram, sealed: flags & FLAG_SEALED != 0, signer })
    }
}

/// Bytes of text that fit in one message datagram for this nickname, sealed and signed.
pub fn text_room(nick: &str) -> usize {
    MAX_DATAGRAM - CLEAR - INNER_FIXED - truncate_utf8(nick, MAX_NICK).len() - 2 - ENVELOPE
}

/// As [`text_room`], for a private message (which names its recipient).
pub fn direct_text_room(nick: &str) -> usize {
    text_room(nick) - 8
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
    use crate::proto::mchat::seal::{GroupKey, Signer};
    use proptest::prelude::*;

    fn datagram(body: Body) -> Datagram {
        Datagram { counter: 9, sender: 0x0102030405060708, seq: 7, unix_ms: 1_800_000_000_000, nick: "张三".into(), body }
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
            Body::Direct { to: 77, index: 1, count: 2, text: "只给你".as_bytes().to_vec() },
            Body::DirectRepair { to: 77, index: 0, count: 1, text: b"again".to_vec() },
            Body::DirectAnnounce { to: 77 },
            Body::DirectNack { target: 42, seqs: vec![3, 4] },
        ] {
            let d = datagram(body);
            let bytes = d.encode();
            assert!(bytes.len() <= MAX_DATAGRAM);
            assert_eq!(Datagram::decode(&bytes), Ok(d.clone()));
            // Sealed and signed, it opens only with the key, and shows its signer.
            let key = GroupKey::from_bytes(&[3; 32]);
            let signer = Signer::generate();
            let sealed = d.encode_with(Some(&key), Some(&signer));
            assert!(sealed.len() <= MAX_DATAGRAM);
            let opened = Datagram::decode_with(&sealed, Some(&key)).unwrap();
            assert_eq!((opened.datagram, opened.sealed, opened.signer), (d.clone(), true, Some(signer.public())));
            assert_eq!(Datagram::decode(&sealed), Err(DecodeError::Sealed));
            assert_eq!(Datagram::decode_with(&sealed, Some(&GroupKey::from_bytes(&[4; 32]))), Err(DecodeError::Unopened));
            let signed = d.encode_with(None, Some(&signer));
            assert_eq!(Datagram::decode_with(&signed, None).unwrap().signer, Some(signer.public()));
            let mut forged = signed.clone();
            forged[CLEAR + 3] ^= 1; // another sequence number under the same signature
            assert_eq!(Datagram::decode(&forged), Err(DecodeError::Signature));
            // A repair of the sealed bytes, kind byte aside, still opens.
            let mut repair = sealed.clone();
            as_repair(&mut repair);
            assert!(Datagram::decode_with(&repair, Some(&key)).is_ok());
        }
    }

    #[test]
    fn the_longest_message_fits_sealed_and_signed() {
        let nick = "长".repeat(21); // 63 bytes
        let text = vec![b'x'; text_room(&nick)];
        let d = Datagram { counter: 1, sender: 1, seq: 1, unix_ms: 1, nick, body: Body::Message { index: 0, count: 1, text } };
        let bytes = d.encode_with(Some(&GroupKey::from_bytes(&[1; 32])), Some(&Signer::generate()));
        assert_eq!(bytes.len(), MAX_DATAGRAM);
    }

    #[test]
    fn the_longest_private_message_fits_sealed_and_signed() {
        let nick = "长".repeat(21);
        let text = vec![b'x'; direct_text_room(&nick)];
        let d = Datagram { counter: 1, sender: 1, seq: 1, unix_ms: 1, nick, body: Body::Direct { to: 2, index: 0, count: 1, text } };
        let bytes = d.encode_with(Some(&GroupKey::from_bytes(&[1; 32])), Some(&Signer::generate()));
        assert_eq!(bytes.len(), MAX_DATAGRAM);
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
        bad_nick[CLEAR + 13] = 0xff;
        // A private message that stops inside its recipient's id, and a private announcement
        // with more than the id.
        let direct = datagram(Body::Direct { to: 5, index: 0, count: 1, text: vec![] }).encode();
        let short_direct = direct[..direct.len() - 5].to_vec();
        let long_announce = [&datagram(Body::DirectAnnounce { to: 5 }).encode()[..], b"x"].concat();
        let rows: Vec<(Vec<u8>, DecodeError)> = vec![
            (b"hello from the old tool".to_vec(), DecodeError::NotOurs),
            (vec![], DecodeError::NotOurs),
            (good[..10].to_vec(), DecodeError::Truncated),
            (good[..CLEAR + 2].to_vec(), DecodeError::Truncated),
            (wrong_version, DecodeError::Version(9)),
            (bad_kind, DecodeError::Kind(77)),
            (sealed, DecodeError::Sealed),
            (bad_fragment, DecodeError::Body),
            (bad_nick, DecodeError::Nick),
            ([&good[..], &[0u8; MAX_DATAGRAM][..]].concat(), DecodeError::Oversized),
            (short_direct, DecodeError::Truncated),
            (long_announce, DecodeError::Body),
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
            let bytes = [&b"LMC\x02"[..], &tail[..]].concat();
            let _ = Datagram::decode(&bytes);
        }

        #[test]
        fn messages_round_trip(sender in any::<u64>(), seq in 10u32.., nick in "\\PC{0,20}", text in "\\PC{0,300}", count in 1u8..10) {
            let d = Datagram { counter: seq, sender, seq, unix_ms: 5, nick: truncate_utf8(&nick, MAX_NICK).to_string(),
                body: Body::Message { index: count - 1, count, text: text.into_bytes() } };
            prop_assert_eq!(Datagram::decode(&d.encode()), Ok(d));
        }
    }
}
