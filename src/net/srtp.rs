//! SRTP and SRTCP (RFC 3711, AES_CM_128_HMAC_SHA1_80) over RustCrypto's AES (AES-NI where the
//! processor has it) and HMAC-SHA1 (SHA extensions likewise). One master key, stretched from
//! the conference's passphrase, serves every participant: each SSRC has its own state (its
//! rollover counter and replay windows), made only once a packet of it authenticates.
//!
//! A participant who joins a call late meets senders whose rollover counter is past 0 (after
//! 65,536 packets, some ten minutes of video). Their sender reports, which SRTCP carries with
//! an explicit index, give the sender's packet count: the counter is then one of three values,
//! and the first packet that authenticates with one of them fixes it.

use crate::proto::mchat::seal::stretch;
use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use aes::Aes128;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

/// Master key (16 bytes) and master salt (14 bytes).
pub const MASTER_LEN: usize = 30;
/// Room a packet grows by when protected: RTP gains a 10-byte tag, RTCP also its 4-byte index.
pub const MAX_TRAILER: usize = 14;
/// Sources a receiving context follows before the one heard of longest ago is dropped: a peer
/// with the key could otherwise make it grow without end, one SSRC at a time. A sending
/// context never forgets (that would reuse a keystream); it only ever sends ours, and refuses
/// more than [`MAX_SENDING`].
pub const MAX_STREAMS: usize = 64;
pub const MAX_SENDING: usize = 1024;

/// The conference's master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey([u8; MASTER_LEN]);

impl std::fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpKey(..)")
    }
}

impl SrtpKey {
    /// The key of the conference on `group` (its video port) from its passphrase.
    pub fn from_passphrase(passphrase: &str, group: SocketAddrV4) -> SrtpKey {
        let mut key = [0u8; MASTER_LEN];
        stretch(passphrase, "srtp", group, &mut key);
        SrtpKey(key)
    }

    pub fn from_bytes(bytes: [u8; MASTER_LEN]) -> SrtpKey {
        SrtpKey(bytes)
    }

    /// Which key it is, to name what is kept for it (not secret: a hash of the key).
    pub fn id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key as SDP Security Descriptions give it (RFC 4568 `inline:`): base64 of key and salt.
    pub fn inline(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

/// Why a packet was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    /// Its tag does not match: another key, or altered.
    Auth,
    /// Seen before, or too old for the replay window.
    Replay,
    /// Too short or malformed to be what it claims.
    Malformed,
    /// The source's packet index is used up (2^48 RTP or 2^31 RTCP packets): a new key is due.
    Exhausted,
}

const TAG_LEN: usize = 10;
const SRTCP_INDEX_LEN: usize = 4;
/// Packets a replay window remembers behind the newest.
const WINDOW: u64 = 1024;
const RTP_LABELS: [u8; 3] = [0, 1, 2];
const RTCP_LABELS: [u8; 3] = [3, 4, 5];

type AesCtr = ctr::Ctr128BE<Aes128>;

/// AES in counter mode from `iv` with a key already expanded.
fn keystream(cipher: Aes128, iv: [u8; 16]) -> AesCtr {
    AesCtr::from_core(ctr::CtrCore::inner_iv_init(cipher, &iv.into()))
}

/// The session keys of one direction of RTP or RTCP (RFC 3711 4.3, key derivation rate 0).
#[derive(Clone)]
struct SessionKeys {
    cipher: Aes128,
    salt: [u8; 14],
    auth: Hmac<Sha1>,
}

impl SessionKeys {
    fn derive(master: &SrtpKey, labels: [u8; 3]) -> SessionKeys {
        let (master_key, master_salt) = master.0.split_at(16);
        let prf = Aes128::new(master_key.into());
        let derive = |label: u8, out: &mut [u8]| {
            // x = (label || 0^48) XOR master salt, aligned right; the keystream from x * 2^16.
            let mut iv = [0u8; 16];
            iv[..14].copy_from_slice(master_salt);
            iv[7] ^= label;
            out.fill(0);
            keystream(prf.clone(), iv).apply_keystream(out);
        };
        let (mut key, mut auth, mut salt) = ([0u8; 16], [0u8; 20], [0u8; 14]);
        derive(labels[0], &mut key);
        derive(labels[1], &mut auth);
        derive(labels[2], &mut salt);
        SessionKeys {
            cipher: Aes128::new(&key.into()),
            salt,
            auth: <Hmac<Sha1> as Mac>::new_from_slice(&auth).expect("HMAC takes any key length"),
        }
    }

    /// XORs the keystream of packet `index` of `ssrc` into `data` (RFC 3711 4.1.1).
    fn crypt(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (i, b) in ssrc.to_be_bytes().into_iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        keystream(self.cipher.clone(), iv).apply_keystream(data);
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha1> {
        let mut mac = self.auth.clone();
        for part in parts {
            mac.update(part);
        }
        mac
    }

    fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let full = self.mac(parts).finalize().into_bytes();
        full[..TAG_LEN].try_into().expect("SHA-1 is longer than the tag")
    }

    /// Compares in constant time.
    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(parts).verify_truncated_left(tag).is_ok()
    }
}

/// Which packet indices of a source were seen: the newest, and the [`WINDOW`] before it.
#[derive(Default)]
struct ReplayWindow {
    newest: Option<u64>,
    bits: [u64; (WINDOW / 64) as usize],
}

impl ReplayWindow {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        match self.newest {
            Some(newest) if index <= newest => {
                if newest - index >= WINDOW || self.seen(index) {
                    Err(SrtpError::Replay)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn seen(&self, index: u64) -> bool {
        let at = index % WINDOW;
        self.bits[(at / 64) as usize] & (1 << (at % 64)) != 0
    }

    fn mark(&mut self, index: u64) {
        match self.newest {
            Some(newest) if index <= newest => {}
            Some(newest) if index - newest < WINDOW => {
                for gone in newest + 1..=index {
                    let at = gone % WINDOW;
                    self.bits[(at / 64) as usize] &= !(1 << (at % 64));
                }
                self.newest = Some(index);
            }
            _ => {
                self.bits = Default::default();
                self.newest = Some(index);
            }
        }
        let at = index % WINDOW;
        self.bits[(at / 64) as usize] |= 1 << (at % 64);
    }
}

/// What a context keeps of one SSRC.
#[derive(Default)]
struct Stream {
    /// RTP: the highest 48-bit index (rollover counter and sequence number) taken or sent.
    rtp: ReplayWindow,
    rtcp: ReplayWindow,
    /// The packet count of the source's latest sender report, while no RTP of it has opened.
    reported_packets: Option<u32>,
}

/// The 48-bit index of a packet with `sequence` after `newest` (RFC 3711 3.3.1 and appendix A),
/// or None below zero or beyond 2^48.
fn estimate_index(newest: u64, sequence: u16) -> Option<u64> {
    let roc = (newest >> 16) as i64;
    let (s_l, seq) = ((newest & 0xffff) as i64, i64::from(sequence));
    let v = if s_l < 32_768 {
        if seq - s_l > 32_768 { roc - 1 } else { roc }
    } else if s_l - 32_768 > seq {
        roc + 1
    } else {
        roc
    };
    (0..=i64::from(u32::MAX)).contains(&v).then(|| (v as u64) << 16 | u64::from(sequence))
}

/// Bytes of an RTP header with its CSRCs and extension, if `packet` holds them.
fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= packet.len()).then_some(len)
}

fn word(packet: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(packet[at..at + 4].try_into().expect("length checked"))
}

/// One direction of one RTP session: what we send (any of our SSRCs), or what we receive.
pub struct Srtp {
    rtp: SessionKeys,
    rtcp: SessionKeys,
    inbound: bool,
    streams: HashMap<u32, Stream>,
    /// Receiving: SSRCs with state, the one heard of longest ago first.
    order: VecDeque<u32>,
}

impl Srtp {
    pub fn outbound(key: &SrtpKey) -> Result<Srtp, String> {
        Ok(Srtp::new(key, false))
    }

    pub fn inbound(key: &SrtpKey) -> Result<Srtp, String> {
        Ok(Srtp::new(key, true))
    }

    fn new(key: &SrtpKey, inbound: bool) -> Srtp {
        Srtp {
            rtp: SessionKeys::derive(key, RTP_LABELS),
            rtcp: SessionKeys::derive(key, RTCP_LABELS),
            inbound,
            streams: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Encrypts the payload and appends the tag. A sequence number sent before (within the
    /// window) is refused: sending it again would reuse its keystream.
    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let header = rtp_header_len(packet).ok_or(SrtpError::Malformed)?;
        let (ssrc, sequence) = (word(packet, 8), u16::from_be_bytes([packet[2], packet[3]]));
        let stream = self.sending(ssrc)?;
        let index = match stream.rtp.newest {
            Some(newest) => estimate_index(newest, sequence).ok_or(SrtpError::Exhausted)?,
            None => u64::from(sequence),
        };
        stream.rtp.check(index)?;
        stream.rtp.mark(index);
        self.rtp.crypt(ssrc, index, &mut packet[header..]);
        let tag = self.rtp.tag(&[packet, &((index >> 16) as u32).to_be_bytes()]);
        packet.extend_from_slice(&tag);
        Ok(())
    }

    /// Encrypts everything after the sender's SSRC and appends the E flag with the SRTCP index,
    /// then the tag.
    pub fn protect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        if packet.len() < 8 || packet[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        let ssrc = word(packet, 4);
        let stream = self.sending(ssrc)?;
        let index = stream.rtcp.newest.map_or(1, |newest| newest + 1);
        if index > 0x7fff_ffff {
            return Err(SrtpError::Exhausted);
        }
        stream.rtcp.mark(index);
        self.rtcp.crypt(ssrc, index, &mut packet[8..]);
        packet.extend_from_slice(&(0x8000_0000 | index as u32).to_be_bytes());
        let tag = self.rtcp.tag(&[packet]);
        packet.extend_from_slice(&tag);
        Ok(())
    }

    /// Checks the tag and the replay window, then decrypts and drops the tag.
    pub fn unprotect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let body = packet.len().checked_sub(TAG_LEN).ok_or(SrtpError::Malformed)?;
        let header = rtp_header_len(&packet[..body]).ok_or(SrtpError::Malformed)?;
        let (ssrc, sequence) = (word(packet, 8), u16::from_be_bytes([packet[2], packet[3]]));
        let (authenticated, tag) = packet.split_at(body);
        let verify = |index: u64| self.rtp.verify(&[authenticated, &((index >> 16) as u32).to_be_bytes()], tag);
        let known = self.streams.get(&ssrc);
        let index = match known.and_then(|s| s.rtp.newest) {
            Some(newest) => {
                let index = estimate_index(newest, sequence).ok_or(SrtpError::Replay)?;
                known.expect("a stream").rtp.check(index)?;
                verify(index).then_some(index).ok_or(SrtpError::Auth)?
            }
            None => {
                // A source not heard yet starts at rollover counter 0, unless a sender report
                // says it has sent more: then its counter is near count / 2^16.
                let first = u64::from(sequence);
                let reported = known.and_then(|s| s.reported_packets).map(|count| u64::from(count >> 16));
                let candidates = std::iter::once(0).chain(reported.into_iter().flat_map(|roc| [roc, roc + 1, roc + 2])).map(|roc| roc << 16 | first);
                let mut tried = [None; 4];
                let mut found = None;
                for (i, index) in candidates.enumerate() {
                    if tried.contains(&Some(index)) {
                        continue;
                    }
                    tried[i] = Some(index);
                    if verify(index) {
                        found = Some(index);
                        break;
                    }
                }
                found.ok_or(SrtpError::Auth)?
            }
        };
        let stream = self.receiving(ssrc);
        stream.rtp.mark(index);
        stream.reported_packets = None;
        packet.truncate(body);
        self.rtp.crypt(ssrc, index, &mut packet[header..]);
        Ok(())
    }

    /// Checks the tag and the replay window, decrypts (where the E flag says so) and drops the
    /// index and the tag.
    pub fn unprotect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        if packet.len() < 8 + SRTCP_INDEX_LEN + TAG_LEN || packet[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        let body = packet.len() - TAG_LEN;
        let plain_end = body - SRTCP_INDEX_LEN;
        let ssrc = word(packet, 4);
        let e_index = word(packet, plain_end);
        let index = u64::from(e_index & 0x7fff_ffff);
        if let Some(stream) = self.streams.get(&ssrc) {
            stream.rtcp.check(index)?;
        }
        let (authenticated, tag) = packet.split_at(body);
        if !self.rtcp.verify(&[authenticated], tag) {
            return Err(SrtpError::Auth);
        }
        packet.truncate(plain_end);
        if e_index & 0x8000_0000 != 0 {
            self.rtcp.crypt(ssrc, index, &mut packet[8..]);
        }
        // A sender report says how many packets its source has sent.
        let reported = (packet.len() >= 28 && packet[1] == 200).then(|| word(packet, 20));
        let stream = self.receiving(ssrc);
        stream.rtcp.mark(index);
        if stream.rtp.newest.is_none() {
            stream.reported_packets = reported.or(stream.reported_packets);
        }
        Ok(())
    }

    /// The state of one of our SSRCs, made on its first packet.
    fn sending(&mut self, ssrc: u32) -> Result<&mut Stream, SrtpError> {
        if !self.streams.contains_key(&ssrc) && self.streams.len() >= MAX_SENDING {
            return Err(SrtpError::Exhausted);
        }
        Ok(self.streams.entry(ssrc).or_default())
    }

    /// The state of a source whose packet just authenticated: kept, the most recent of the
    /// [`MAX_STREAMS`] followed.
    fn receiving(&mut self, ssrc: u32) -> &mut Stream {
        match self.order.iter().position(|&s| s == ssrc) {
            Some(at) if at + 1 != self.order.len() => {
                self.order.remove(at);
                self.order.push_back(ssrc);
            }
            Some(_) => {}
            None => {
                self.order.push_back(ssrc);
                while self.order.len() > MAX_STREAMS {
                    let oldest = self.order.pop_front().expect("longer than the limit");
                    self.streams.remove(&oldest);
                }
            }
        }
        self.streams.entry(ssrc).or_default()
    }

    /// Drop the receiving state of `ssrc`, if there is one: its next packet starts anew.
    /// Only receiving state: a sending stream started again would reuse its keystream.
    pub fn forget(&mut self, ssrc: u32) {
        if !self.inbound {
            return;
        }
        self.order.retain(|&s| s != ssrc);
        self.streams.remove(&ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::rtp::packet::Header;

    fn rtp(ssrc: u32, sequence: u16, payload: &[u8]) -> Vec<u8> {
        Header { payload_type: 96, sequence, timestamp: 9000, ssrc, ..Default::default() }.write(payload)
    }

    #[test]
    fn rtp_and_rtcp_round_trip_and_refuse_other_keys_alterations_and_replays() {
        let group: SocketAddrV4 = "239.1.2.3:5004".parse().unwrap();
        let key = SrtpKey::from_passphrase("画面", group);
        assert_eq!(key.inline().len(), 40);
        let mut send = Srtp::outbound(&key).unwrap();
        let mut receive = Srtp::inbound(&key).unwrap();
        let mut stranger = Srtp::inbound(&SrtpKey::from_passphrase("别的", group)).unwrap();
        for ssrc in [1u32, 0xdead_beef] {
            for seq in 0..3u16 {
                let plain = rtp(ssrc, seq, b"picture bytes");
                let mut packet = plain.clone();
                send.protect_rtp(&mut packet).unwrap();
                assert_eq!(packet.len(), plain.len() + 10);
                assert!(!packet.windows(7).any(|w| w == b"picture"), "the payload is encrypted");
                assert_eq!(stranger.unprotect_rtp(&mut packet.clone()), Err(SrtpError::Auth));
                let mut altered = packet.clone();
                altered[14] ^= 1;
                assert_eq!(receive.unprotect_rtp(&mut altered), Err(SrtpError::Auth));
                let mut got = packet.clone();
                receive.unprotect_rtp(&mut got).unwrap();
                assert_eq!(got, plain);
                assert_eq!(receive.unprotect_rtp(&mut packet.clone()), Err(SrtpError::Replay));
            }
        }
        // RTCP: a receiver report of SSRC 1.
        let report = vec![0x80, 201, 0, 1, 0, 0, 0, 1];
        let mut packet = report.clone();
        send.protect_rtcp(&mut packet).unwrap();
        assert_eq!(packet.len(), report.len() + 14);
        assert_eq!(stranger.unprotect_rtcp(&mut packet.clone()), Err(SrtpError::Auth));
        let mut got = packet.clone();
        receive.unprotect_rtcp(&mut got).unwrap();
        assert_eq!(got, report);
        assert_eq!(receive.unprotect_rtcp(&mut packet), Err(SrtpError::Replay));
        // Garbage is refused before the library sees it.
        for garbage in [&[][..], &[0x80, 96, 0][..], &[0u8; 40][..]] {
            assert!(receive.unprotect_rtp(&mut garbage.to_vec()).is_err());
            assert!(receive.unprotect_rtcp(&mut garbage.to_vec()).is_err());
        }
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    fn rfc_key() -> SrtpKey {
        SrtpKey::from_bytes(from_hex("e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6").try_into().unwrap())
    }

    #[test]
    fn key_derivation_and_keystream_match_rfc_3711() {
        // Appendix B.3: the session keys of this master key and salt.
        let keys = SessionKeys::derive(&rfc_key(), RTP_LABELS);
        assert_eq!(keys.salt.to_vec(), from_hex("30cbbc08863d8c85d49db34a9ae1"));
        let mut block = [0u8; 16];
        let expected_key = Aes128::new(from_hex("c61e7a93744f39ee10734afe3ff7a087").as_slice().into());
        let mut expected = block;
        aes::cipher::BlockEncrypt::encrypt_block(&keys.cipher, (&mut block).into());
        aes::cipher::BlockEncrypt::encrypt_block(&expected_key, (&mut expected).into());
        assert_eq!(block, expected, "the session encryption key");
        let auth = <Hmac<Sha1> as Mac>::new_from_slice(&from_hex("cebe321f6ff7716b6fd4ab49af256a156d38baa4")).unwrap();
        assert_eq!(keys.mac(&[b"x"]).finalize().into_bytes(), auth.chain_update(b"x").finalize().into_bytes(), "the session authentication key");
        // Appendix B.2: the AES-CM keystream of SSRC 0, index 0.
        let keys = SessionKeys {
            cipher: Aes128::new(from_hex("2b7e151628aed2a6abf7158809cf4f3c").as_slice().into()),
            salt: from_hex("f0f1f2f3f4f5f6f7f8f9fafbfcfd").try_into().unwrap(),
            auth: keys.auth,
        };
        let mut stream = [0u8; 48];
        keys.crypt(0, 0, &mut stream);
        assert_eq!(stream.to_vec(), from_hex("e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901e4fca894c0"));
    }

    #[test]
    fn packets_are_those_libsrtp2_makes() {
        // Protected by libsrtp2 2.5 with this key: the first RTP packet of SSRC 0xdecafbad, two
        // SRTCP packets (indices 1 and 3), and RTP with a CSRC and an extension after two
        // rollovers.
        let mut send = Srtp::outbound(&rfc_key()).unwrap();
        let mut receive = Srtp::inbound(&rfc_key()).unwrap();
        let mut packet = from_hex("800f1234decafbadcafebabe");
        packet.extend_from_slice(&[0xab; 16]);
        let plain = packet.clone();
        send.protect_rtp(&mut packet).unwrap();
        assert_eq!(packet, from_hex("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"));
        receive.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(packet, plain);
        for (fill, expected) in [(0xab, "81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798"), (0xcd, "81c8000bcafebabe1b24c28e4830a9b8681f44cd5c74ef9c80000003f6845b446c7e0c63c171")] {
            let mut report = from_hex("81c8000bcafebabe");
            report.extend_from_slice(&[fill; 16]);
            let plain = report.clone();
            send.protect_rtcp(&mut report).unwrap();
            if fill == 0xab {
                send.protect_rtcp(&mut plain.clone()).unwrap();
            }
            assert_eq!(report, from_hex(expected));
            receive.unprotect_rtcp(&mut report).unwrap();
            assert_eq!(report, plain);
        }
        let mut last = Vec::new();
        for i in 0..70_000u32 {
            let seq = (0xff00 + i) as u16;
            let mut packet = vec![0x91, 0x60, (seq >> 8) as u8, seq as u8, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5, 0xbe, 0xde, 0, 1, 1, 2, 3, 4];
            packet.extend_from_slice(b"payload");
            send.protect_rtp(&mut packet).unwrap();
            last = packet;
        }
        assert_eq!(last, from_hex("9160106f000000070000000900000005bede0001010203044e0f98e6d3acc0451272701b5aae1dcd9b"));
    }

    #[test]
    fn a_late_joiner_finds_the_rollover_counter_from_a_sender_report() {
        let key = SrtpKey::from_bytes([3; MASTER_LEN]);
        let mut send = Srtp::outbound(&key).unwrap();
        // Ten minutes and more of video: the sequence number has wrapped twice.
        let mut sequence = 0xfff0u16;
        for _ in 0..(2 * 65_536 + 100) {
            send.protect_rtp(&mut rtp(9, sequence, b"earlier")).unwrap();
            sequence = sequence.wrapping_add(1);
        }
        let mut next = |payload: &[u8], send: &mut Srtp| {
            let mut packet = rtp(9, sequence, payload);
            send.protect_rtp(&mut packet).unwrap();
            sequence = sequence.wrapping_add(1);
            packet
        };
        let mut late = Srtp::inbound(&key).unwrap();
        // Without a report its packets do not open (the counter is not 0)...
        assert_eq!(late.unprotect_rtp(&mut next(b"now", &mut send)), Err(SrtpError::Auth));
        // ...and a report from a stranger tells it nothing.
        let count = (2u32 * 65_536 + 101).to_be_bytes();
        let mut report = vec![0x80, 200, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count[0], count[1], count[2], count[3], 0, 0, 0, 0];
        let mut forged = report.clone();
        Srtp::outbound(&SrtpKey::from_bytes([4; MASTER_LEN])).unwrap().protect_rtcp(&mut forged).unwrap();
        assert_eq!(late.unprotect_rtcp(&mut forged), Err(SrtpError::Auth));
        assert_eq!(late.unprotect_rtp(&mut next(b"now", &mut send)), Err(SrtpError::Auth));
        send.protect_rtcp(&mut report).unwrap();
        late.unprotect_rtcp(&mut report).unwrap();
        let mut packet = next(b"from here on", &mut send);
        late.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(&packet[12..], b"from here on");
        // And it follows the next rollover.
        for _ in 0..70_000 {
            let mut packet = next(b"more", &mut send);
            late.unprotect_rtp(&mut packet).unwrap();
        }
    }

    #[test]
    fn replay_window_takes_late_packets_once_and_refuses_the_too_old() {
        let key = SrtpKey::from_bytes([5; MASTER_LEN]);
        let mut send = Srtp::outbound(&key).unwrap();
        let mut receive = Srtp::inbound(&key).unwrap();
        let packets: Vec<Vec<u8>> = (0..2000u16).map(|seq| {
            let mut packet = rtp(1, seq, b"p");
            send.protect_rtp(&mut packet).unwrap();
            packet
        }).collect();
        receive.unprotect_rtp(&mut packets[1500].clone()).unwrap();
        // Late but within the window: taken once.
        receive.unprotect_rtp(&mut packets[1000].clone()).unwrap();
        assert_eq!(receive.unprotect_rtp(&mut packets[1000].clone()), Err(SrtpError::Replay));
        // Further back than the window: refused.
        assert_eq!(receive.unprotect_rtp(&mut packets[400].clone()), Err(SrtpError::Replay));
        // Sending a sequence number again would reuse its keystream: refused.
        assert_eq!(send.protect_rtp(&mut rtp(1, 1999, b"again")), Err(SrtpError::Replay));
    }

    #[test]
    fn a_receiver_keeps_at_most_max_streams_contexts() {
        let key = SrtpKey::from_bytes([7; MASTER_LEN]);
        let mut send = Srtp::outbound(&key).unwrap();
        let mut receive = Srtp::inbound(&key).unwrap();
        for ssrc in 0..(3 * MAX_STREAMS as u32) {
            let mut packet = rtp(ssrc, 1, b"x");
            send.protect_rtp(&mut packet).unwrap();
            receive.unprotect_rtp(&mut packet).unwrap();
            assert!(receive.streams.len() <= MAX_STREAMS);
        }
        // A source dropped from the list starts afresh, and its next packet still opens.
        let mut packet = rtp(0, 2, b"again");
        send.protect_rtp(&mut packet).unwrap();
        receive.unprotect_rtp(&mut packet).unwrap();
    }
}

#[cfg(test)]
mod cost {
    use super::*;
    use crate::proto::rtp::packet::Header;

    #[test]
    #[ignore]
    fn microseconds_per_packet() {
        let key = SrtpKey::from_bytes([7; MASTER_LEN]);
        let mut send = Srtp::outbound(&key).unwrap();
        let mut receive = Srtp::inbound(&key).unwrap();
        let n = 20_000u32;
        let packets: Vec<Vec<u8>> = (0..n).map(|i| Header { payload_type: 96, sequence: i as u16, timestamp: i, ssrc: 5, ..Default::default() }.write(&[0x5a; 1100])).collect();
        let started = std::time::Instant::now();
        let mut sealed = Vec::with_capacity(packets.len());
        for p in &packets {
            let mut p = { let mut v = Vec::with_capacity(p.len() + MAX_TRAILER); v.extend_from_slice(p); v };
            send.protect_rtp(&mut p).unwrap();
            sealed.push(p);
        }
        let protect = started.elapsed();
        let started = std::time::Instant::now();
        for p in &mut sealed {
            receive.unprotect_rtp(p).unwrap();
        }
        let unprotect = started.elapsed();
        println!("protect {:.2} us, unprotect {:.2} us per 1112-byte packet", protect.as_secs_f64() * 1e6 / f64::from(n), unprotect.as_secs_f64() * 1e6 / f64::from(n));
    }
}
