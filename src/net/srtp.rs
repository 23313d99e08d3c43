//! SRTP and SRTCP (RFC 3711, AES_CM_128_HMAC_SHA1_80) through libsrtp2, the reference
//! implementation (Debian's `libsrtp2`, whose AES comes from NSS). One master key, stretched
//! from the conference's passphrase, serves every participant: each SSRC has its own context
//! (its keystream, rollover counter and replay window), which libsrtp2 makes on the first
//! packet that authenticates.

use crate::proto::mchat::seal::stretch;
use std::collections::VecDeque;
use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::net::SocketAddrV4;
use std::sync::OnceLock;

/// Master key (16 bytes) and master salt (14 bytes).
pub const MASTER_LEN: usize = 30;
/// Room left after a packet for what protection appends: this suite adds a 10-byte tag (RTCP
/// also 4 bytes of index), but libsrtp2 asks for SRTP_MAX_TRAILER_LEN.
pub const MAX_TRAILER: usize = 144;
/// Sources a receiving context follows before the one heard of longest ago is dropped: a peer
/// with the key could otherwise make it grow without end, one SSRC at a time.
pub const MAX_STREAMS: usize = 64;

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

#[repr(C)]
struct CryptoPolicy {
    cipher_type: u32,
    cipher_key_len: c_int,
    auth_type: u32,
    auth_key_len: c_int,
    auth_tag_len: c_int,
    sec_serv: c_int,
}

#[repr(C)]
struct SsrcPolicy {
    kind: c_int,
    value: c_uint,
}

/// `srtp_policy_t` of libsrtp2 2.x.
#[repr(C)]
struct Policy {
    ssrc: SsrcPolicy,
    rtp: CryptoPolicy,
    rtcp: CryptoPolicy,
    key: *const u8,
    keys: *mut c_void,
    num_master_keys: c_ulong,
    deprecated_ekt: *mut c_void,
    window_size: c_ulong,
    allow_repeat_tx: c_int,
    enc_xtn_hdr: *mut c_int,
    enc_xtn_hdr_count: c_int,
    next: *mut Policy,
}

const SSRC_ANY_INBOUND: c_int = 2;
const SSRC_ANY_OUTBOUND: c_int = 3;
const STATUS_OK: c_int = 0;
const STATUS_AUTH_FAIL: c_int = 7;
const STATUS_REPLAY_FAIL: c_int = 9;
const STATUS_REPLAY_OLD: c_int = 10;

#[link(name = "srtp2")]
extern "C" {
    fn srtp_init() -> c_int;
    fn srtp_create(session: *mut *mut c_void, policy: *const Policy) -> c_int;
    fn srtp_dealloc(session: *mut c_void) -> c_int;
    fn srtp_protect(ctx: *mut c_void, header: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_unprotect(ctx: *mut c_void, header: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_protect_rtcp(ctx: *mut c_void, header: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_unprotect_rtcp(ctx: *mut c_void, header: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_remove_stream(ctx: *mut c_void, ssrc: c_uint) -> c_int;
    /// AES_CM_128_HMAC_SHA1_80 (the header's srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80
    /// is a macro for it).
    fn srtp_crypto_policy_set_rtp_default(policy: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_rtcp_default(policy: *mut CryptoPolicy);
}

/// Why a packet was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    /// Its tag does not match: another key, or altered.
    Auth,
    /// Seen before, or too old for the replay window.
    Replay,
    /// Too short to be what it claims, or another failure of the library (its code).
    Other(c_int),
}

/// One direction of one RTP session: what we send (any of our SSRCs), or what we receive.
pub struct Srtp {
    ctx: *mut c_void,
    inbound: bool,
    /// SSRCs with a receiving context, the one heard of longest ago first.
    streams: VecDeque<u32>,
}

// The context is only ever used through `&mut self`; libsrtp2 keeps no thread-local state.
unsafe impl Send for Srtp {}

impl Srtp {
    pub fn outbound(key: &SrtpKey) -> Result<Srtp, String> {
        Srtp::create(key, false)
    }

    pub fn inbound(key: &SrtpKey) -> Result<Srtp, String> {
        Srtp::create(key, true)
    }

    fn create(key: &SrtpKey, inbound: bool) -> Result<Srtp, String> {
        static INIT: OnceLock<c_int> = OnceLock::new();
        // SAFETY: srtp_init runs once, before any other call of the library.
        let status = *INIT.get_or_init(|| unsafe { srtp_init() });
        if status != STATUS_OK {
            return Err(format!("libsrtp2 failed to start (status {status})"));
        }
        // SAFETY: a zeroed policy is a valid starting point (null pointers, no streams); the
        // library's own setters fill in the crypto policies, and it copies the key during
        // srtp_create, so `key` need only outlive that call.
        unsafe {
            let mut policy: Policy = std::mem::zeroed();
            srtp_crypto_policy_set_rtp_default(&mut policy.rtp);
            srtp_crypto_policy_set_rtcp_default(&mut policy.rtcp);
            policy.ssrc.kind = if inbound { SSRC_ANY_INBOUND } else { SSRC_ANY_OUTBOUND };
            policy.key = key.0.as_ptr();
            policy.window_size = 1024;
            let mut ctx: *mut c_void = std::ptr::null_mut();
            let status = srtp_create(&mut ctx, &policy);
            if status != STATUS_OK || ctx.is_null() {
                return Err(format!("libsrtp2 cannot make a context (status {status})"));
            }
            Ok(Srtp { ctx, inbound, streams: VecDeque::new() })
        }
    }

    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        self.apply(packet, srtp_protect, 12)
    }

    pub fn protect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        self.apply(packet, srtp_protect_rtcp, 8)
    }

    pub fn unprotect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        self.apply(packet, srtp_unprotect, 12 + 10)?;
        self.note_stream(packet);
        Ok(())
    }

    pub fn unprotect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        self.apply(packet, srtp_unprotect_rtcp, 8 + 14)?;
        self.note_stream(packet);
        Ok(())
    }

    fn apply(&mut self, packet: &mut Vec<u8>, op: unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_int) -> c_int, shortest: usize) -> Result<(), SrtpError> {
        // The library reads the header's fields before it checks any length: refuse what cannot
        // hold them (and the tag, when unprotecting) here.
        if packet.len() < shortest || packet.len() > 64 * 1024 || packet[0] >> 6 != 2 {
            return Err(SrtpError::Other(-1));
        }
        let mut len = packet.len() as c_int;
        packet.resize(packet.len() + MAX_TRAILER, 0);
        // SAFETY: the buffer holds `len` bytes of packet and MAX_TRAILER more of room for the
        // trailer protection appends; the library writes no further and sets `len` to the
        // result's length.
        let status = unsafe { op(self.ctx, packet.as_mut_ptr().cast(), &mut len) };
        match status {
            STATUS_OK => {
                packet.truncate(len.max(0) as usize);
                Ok(())
            }
            STATUS_AUTH_FAIL => Err(SrtpError::Auth),
            STATUS_REPLAY_FAIL | STATUS_REPLAY_OLD => Err(SrtpError::Replay),
            other => Err(SrtpError::Other(other)),
        }
    }

    /// Drop the receiving context of `ssrc`, if there is one: its next packet starts a new one.
    /// Only receiving contexts: a sending one started again would reuse its keystream.
    pub fn forget(&mut self, ssrc: u32) {
        if !self.inbound {
            return;
        }
        self.streams.retain(|&s| s != ssrc);
        // SAFETY: the context is ours; removing a stream it does not have is an error code.
        unsafe {
            srtp_remove_stream(self.ctx, ssrc.to_be());
        }
    }

    /// Keep the number of receiving contexts within [`MAX_STREAMS`].
    fn note_stream(&mut self, packet: &[u8]) {
        if !self.inbound || packet.len() < 8 {
            return;
        }
        let ssrc = u32::from_be_bytes(packet[4..8].try_into().expect("length checked"));
        if let Some(at) = self.streams.iter().position(|&s| s == ssrc) {
            if at + 1 != self.streams.len() {
                self.streams.remove(at);
                self.streams.push_back(ssrc);
            }
            return;
        }
        self.streams.push_back(ssrc);
        while self.streams.len() > MAX_STREAMS {
            let oldest = self.streams.pop_front().expect("longer than the limit");
            self.forget(oldest);
        }
    }
}

impl Drop for Srtp {
    fn drop(&mut self) {
        // SAFETY: the context was made by srtp_create and is freed once, here.
        unsafe {
            srtp_dealloc(self.ctx);
        }
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
            let mut p = p.clone();
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
