//! RTCP (RFC 3550 §6): sender and receiver reports, source descriptions, BYE, and the picture
//! loss indication of RFC 4585 §6.3.1. Compound packets in and out, plus the receiver-side
//! statistics (loss, interarrival jitter) that fill a report block.

use crate::proto::mchat::seal::{verify, Signer, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use std::time::Duration;
use thiserror::Error;

pub const SR: u8 = 200;
pub const RR: u8 = 201;
pub const SDES: u8 = 202;
pub const BYE: u8 = 203;
/// Payload-specific feedback (RFC 4585); format 1 is the picture loss indication.
pub const PSFB: u8 = 206;
const PLI_FORMAT: u8 = 1;
const SDES_CNAME: u8 = 1;
const SDES_NAME: u8 = 2;
const SDES_NOTE: u8 = 7;
/// A private extension item (RFC 3550 §6.5.8): a prefix naming it, then its value.
const SDES_PRIV: u8 = 8;
/// The prefix of ours: the value is a signature binding the name to its sender's key.
const NAME_SIGNATURE: &[u8] = b"lanmeet-sig";
/// Its value: the public key, the signing time (Unix seconds, 8 bytes), the signature.
pub const NAME_SIGNATURE_LEN: usize = PUBLIC_KEY_LEN + 8 + SIGNATURE_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Packets lost since the previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed on the wire).
    pub cumulative_lost: i32,
    pub highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last sender report received from `ssrc`.
    pub last_sr: u32,
    /// Time since that sender report, in units of 1/65536 s.
    pub delay_since_last_sr: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rtcp {
    SenderReport { ssrc: u32, ntp: u64, rtp_timestamp: u32, packets: u32, octets: u32, reports: Vec<ReportBlock> },
    ReceiverReport { ssrc: u32, reports: Vec<ReportBlock> },
    /// One SDES chunk: the canonical name, an optional display name, an optional note (the
    /// sender's state in words, such as "camera off"), and an optional signature binding the
    /// name to the sender's key ([`sign_name`]).
    SourceDescription { ssrc: u32, cname: String, name: Option<String>, note: Option<String>, signed: Option<Vec<u8>> },
    Bye { sources: Vec<u32> },
    /// "Send me a keyframe": `sender` asks `media` for one.
    PictureLoss { sender: u32, media: u32 },
    /// A packet type we do not act on; skipped, not an error.
    Other { packet_type: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtcpError {
    #[error("RTCP packet shorter than its header or its length field")]
    Truncated,
    #[error("RTCP version {0}, expected 2")]
    Version(u8),
    #[error("RTCP packet of type {0} is malformed")]
    Malformed(u8),
}

fn header(out: &mut Vec<u8>, count: u8, packet_type: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1f), packet_type, 0, 0]);
    at
}

fn finish(out: &mut [u8], at: usize) {
    let words = (out.len() - at) / 4 - 1;
    out[at + 2..at + 4].copy_from_slice(&(words as u16).to_be_bytes());
}

fn write_blocks(out: &mut Vec<u8>, reports: &[ReportBlock]) {
    for block in reports.iter().take(31) {
        out.extend_from_slice(&block.ssrc.to_be_bytes());
        let lost = block.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0x00ff_ffff;
        out.push(block.fraction_lost);
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        for value in [block.highest_sequence, block.jitter, block.last_sr, block.delay_since_last_sr] {
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// One compound packet holding `packets` in order.
pub fn write(packets: &[Rtcp]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for packet in packets {
        match packet {
            Rtcp::SenderReport { ssrc, ntp, rtp_timestamp, packets, octets, reports } => {
                let at = header(&mut out, reports.len().min(31) as u8, SR);
                for value in [*ssrc, (*ntp >> 32) as u32, *ntp as u32, *rtp_timestamp, *packets, *octets] {
                    out.extend_from_slice(&value.to_be_bytes());
                }
                write_blocks(&mut out, reports);
                finish(&mut out, at);
            }
            Rtcp::ReceiverReport { ssrc, reports } => {
                let at = header(&mut out, reports.len().min(31) as u8, RR);
                out.extend_from_slice(&ssrc.to_be_bytes());
                write_blocks(&mut out, reports);
                finish(&mut out, at);
            }
            Rtcp::SourceDescription { ssrc, cname, name, note, signed } => {
                let at = header(&mut out, 1, SDES);
                out.extend_from_slice(&ssrc.to_be_bytes());
                let items = [(SDES_CNAME, Some(cname.as_str())), (SDES_NAME, name.as_deref()), (SDES_NOTE, note.as_deref())];
                for (kind, text) in items {
                    let Some(text) = text else { continue };
                    let text = fit(text);
                    out.push(kind);
                    out.push(text.len() as u8);
                    out.extend_from_slice(text.as_bytes());
                }
                if let Some(value) = signed.as_ref().filter(|v| v.len() == NAME_SIGNATURE_LEN) {
                    out.push(SDES_PRIV);
                    out.push((1 + NAME_SIGNATURE.len() + value.len()) as u8);
                    out.push(NAME_SIGNATURE.len() as u8);
                    out.extend_from_slice(NAME_SIGNATURE);
                    out.extend_from_slice(value);
                }
                // The end item, then padding to a word boundary (at least one zero octet).
                out.push(0);
                while out.len() % 4 != 0 {
                    out.push(0);
                }
                finish(&mut out, at);
            }
            Rtcp::Bye { sources } => {
                let at = header(&mut out, sources.len().min(31) as u8, BYE);
                for source in sources.iter().take(31) {
                    out.extend_from_slice(&source.to_be_bytes());
                }
                finish(&mut out, at);
            }
            Rtcp::PictureLoss { sender, media } => {
                let at = header(&mut out, PLI_FORMAT, PSFB);
                out.extend_from_slice(&sender.to_be_bytes());
                out.extend_from_slice(&media.to_be_bytes());
                finish(&mut out, at);
            }
            Rtcp::Other { .. } => {}
        }
    }
    out
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_blocks(body: &[u8], count: usize, packet_type: u8) -> Result<Vec<ReportBlock>, RtcpError> {
    if body.len() < count * 24 {
        return Err(RtcpError::Malformed(packet_type));
    }
    Ok(body
        .chunks_exact(24)
        .take(count)
        .map(|b| {
            let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            ReportBlock {
                ssrc: word(b, 0),
                fraction_lost: b[4],
                cumulative_lost,
                highest_sequence: word(b, 8),
                jitter: word(b, 12),
                last_sr: word(b, 16),
                delay_since_last_sr: word(b, 20),
            }
        })
        .collect())
}

fn read_sdes(body: &[u8], count: usize) -> Result<Vec<Rtcp>, RtcpError> {
    let mut out = Vec::new();
    let mut at = 0;
    for _ in 0..count {
        if body.len() < at + 4 {
            return Err(RtcpError::Malformed(SDES));
        }
        let ssrc = word(body, at);
        at += 4;
        let (mut cname, mut name, mut note, mut signed) = (String::new(), None, None, None);
        loop {
            let Some(&kind) = body.get(at) else { return Err(RtcpError::Malformed(SDES)) };
            if kind == 0 {
                // Skip the end item and the padding to the next word.
                at = (at + 4) & !3;
                break;
            }
            let len = *body.get(at + 1).ok_or(RtcpError::Malformed(SDES))? as usize;
            let item = body.get(at + 2..at + 2 + len).ok_or(RtcpError::Malformed(SDES))?;
            let text = || String::from_utf8_lossy(item).into_owned();
            match kind {
                SDES_CNAME => cname = text(),
                SDES_NAME => name = Some(text()),
                SDES_NOTE => note = Some(text()),
                SDES_PRIV => {
                    let prefix = usize::from(*item.first().unwrap_or(&0));
                    if item.get(1..1 + prefix) == Some(NAME_SIGNATURE) && item.len() == 1 + prefix + NAME_SIGNATURE_LEN {
                        signed = Some(item[1 + prefix..].to_vec());
                    }
                }
                _ => {}
            }
            at += 2 + len;
        }
        out.push(Rtcp::SourceDescription { ssrc, cname, name, note, signed });
    }
    Ok(out)
}

/// Every packet of a compound RTCP packet. An error anywhere rejects the whole datagram.
pub fn parse(bytes: &[u8]) -> Result<Vec<Rtcp>, RtcpError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::Version(version));
        }
        let count = (rest[0] & 0x1f) as usize;
        let packet_type = rest[1];
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        if rest.len() < len {
            return Err(RtcpError::Truncated);
        }
        let mut packet = &rest[..len];
        if packet[0] & 0x20 != 0 {
            let padding = *packet.last().expect("at least 4 bytes") as usize;
            if padding == 0 || padding > len - 4 {
                return Err(RtcpError::Malformed(packet_type));
            }
            packet = &packet[..len - padding];
        }
        let body = &packet[4..];
        let need = |n: usize| if body.len() < n { Err(RtcpError::Malformed(packet_type)) } else { Ok(()) };
        match packet_type {
            SR => {
                need(24)?;
                out.push(Rtcp::SenderReport {
                    ssrc: word(body, 0),
                    ntp: (u64::from(word(body, 4)) << 32) | u64::from(word(body, 8)),
                    rtp_timestamp: word(body, 12),
                    packets: word(body, 16),
                    octets: word(body, 20),
                    reports: read_blocks(&body[24..], count, SR)?,
                });
            }
            RR => {
                need(4)?;
                out.push(Rtcp::ReceiverReport { ssrc: word(body, 0), reports: read_blocks(&body[4..], count, RR)? });
            }
            SDES => out.extend(read_sdes(body, count)?),
            BYE => {
                need(4 * count)?;
                out.push(Rtcp::Bye { sources: (0..count).map(|i| word(body, 4 * i)).collect() });
            }
            PSFB if count == usize::from(PLI_FORMAT) => {
                need(8)?;
                out.push(Rtcp::PictureLoss { sender: word(body, 0), media: word(body, 4) });
            }
            other => out.push(Rtcp::Other { packet_type: other }),
        }
        rest = &rest[len..];
    }
    Ok(out)
}

/// NTP timestamp (RFC 5905: seconds since 1900 in the high word, fraction in the low word)
/// of a time given as a duration since the Unix epoch.
pub fn ntp_from_unix(since_epoch: Duration) -> u64 {
    const EPOCH_OFFSET: u64 = 2_208_988_800;
    let seconds = since_epoch.as_secs() + EPOCH_OFFSET;
    let fraction = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// The inverse of [`ntp_from_unix`].
pub fn unix_from_ntp(ntp: u64) -> Duration {
    const EPOCH_OFFSET: u64 = 2_208_988_800;
    let seconds = (ntp >> 32).saturating_sub(EPOCH_OFFSET);
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    Duration::new(seconds, nanos as u32)
}

/// When the media sample with RTP timestamp `timestamp` was captured, in seconds since the Unix
/// epoch, by the sender's last report `report` (its NTP time and the RTP timestamp of the same
/// instant) at `clock_rate` timestamp units a second.
pub fn captured_at(report: Option<(u64, u32)>, timestamp: u32, clock_rate: u32) -> Option<f64> {
    let (ntp, report_timestamp) = report?;
    let offset = timestamp.wrapping_sub(report_timestamp) as i32;
    Some(unix_from_ntp(ntp).as_secs_f64() + f64::from(offset) / f64::from(clock_rate))
}

/// Reception statistics for one source (RFC 3550 appendix A.3 and A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceptionStats {
    base: Option<u64>,
    highest: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in timestamp units, scaled by 16 as the RFC's integer form.
    jitter_16: u64,
    transit: Option<i64>,
    last_sr: Option<(u32, Duration)>,
}

impl ReceptionStats {
    /// A packet with extended sequence number `sequence` and RTP timestamp `timestamp`
    /// arrived at `arrival`, given in the same clock rate as the timestamps.
    pub fn packet(&mut self, sequence: u64, timestamp: u32, arrival: u32) {
        let base = *self.base.get_or_insert(sequence);
        if sequence < base {
            return;
        }
        self.highest = self.highest.max(sequence);
        self.received += 1;
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(previous) = self.transit.replace(transit) {
            let d = (transit - previous).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_16 = self.jitter_16 + d - (self.jitter_16 + 8) / 16;
        }
    }

    /// A sender report with NTP time `ntp` arrived at `now` (any monotonic clock).
    pub fn sender_report(&mut self, ntp: u64, now: Duration) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |base| self.highest + 1 - base)
    }

    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    pub fn jitter(&self) -> u32 {
        (self.jitter_16 / 16) as u32
    }

    /// The report block for this source; starts a new interval for the fraction lost.
    pub fn report(&mut self, ssrc: u32, now: Duration) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = if expected_interval == 0 { 0 } else { ((lost_interval << 8) / expected_interval).min(255) as u8 };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((middle, at)) => (middle, ((now.saturating_sub(at).as_micros() << 16) / 1_000_000) as u32),
            None => (0, 0),
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_sequence: self.highest as u32,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// An SDES item's text: at most 255 bytes, cut at a character boundary.
fn fit(text: &str) -> &str {
    let mut cut = text.len().min(255);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// What a name signature covers: the call (`scope`), the source, its canonical name, the name
/// (as SDES carries them), each after its length, and when.
fn name_message(scope: &str, ssrc: u32, cname: &str, name: &str, unix_s: u64) -> Vec<u8> {
    let mut message = b"lanmeet sdes 1".to_vec();
    message.extend_from_slice(&ssrc.to_be_bytes());
    for text in [fit(scope), fit(cname), fit(name)] {
        message.push(text.len() as u8);
        message.extend_from_slice(text.as_bytes());
    }
    message.extend_from_slice(&unix_s.to_be_bytes());
    message
}

/// The SDES signature binding `name` (and `cname`) of `ssrc` to `signer`'s key at `unix_s`.
pub fn sign_name(signer: &Signer, scope: &str, ssrc: u32, cname: &str, name: &str, unix_s: u64) -> Vec<u8> {
    let mut value = signer.public().to_vec();
    value.extend_from_slice(&unix_s.to_be_bytes());
    value.extend_from_slice(&signer.sign(&[&name_message(scope, ssrc, cname, name, unix_s)]));
    value
}

/// The key and signing time of a valid name signature.
pub fn verified_name(value: &[u8], scope: &str, ssrc: u32, cname: &str, name: &str) -> Option<([u8; PUBLIC_KEY_LEN], u64)> {
    if value.len() != NAME_SIGNATURE_LEN {
        return None;
    }
    let public: [u8; PUBLIC_KEY_LEN] = value[..PUBLIC_KEY_LEN].try_into().ok()?;
    let unix_s = u64::from_be_bytes(value[PUBLIC_KEY_LEN..PUBLIC_KEY_LEN + 8].try_into().ok()?);
    verify(&public, &[&name_message(scope, ssrc, cname, name, unix_s)], &value[PUBLIC_KEY_LEN + 8..]).then_some((public, unix_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_signed_name_travels_in_sdes_and_checks_out_only_as_signed() {
        let signer = Signer::generate();
        let long = "名".repeat(100); // cut to 255 bytes on the wire, and signed as cut
        for name in ["爱丽丝", long.as_str()] {
            let signed = sign_name(&signer, "239.1.2.3:5004", 7, "7@lanmeet", name, 1_800_000_000);
            let bytes = write(&[Rtcp::SourceDescription { ssrc: 7, cname: "7@lanmeet".into(), name: Some(name.into()), note: Some("test pattern".into()), signed: Some(signed.clone()) }]);
            let parsed = parse(&bytes).unwrap();
            let Rtcp::SourceDescription { ssrc, cname, name: Some(got), signed: Some(value), .. } = &parsed[0] else { panic!("{parsed:?}") };
            assert_eq!(value, &signed);
            let scope = "239.1.2.3:5004";
            assert_eq!(verified_name(value, scope, *ssrc, cname, got), Some((signer.public(), 1_800_000_000)));
            assert_eq!(verified_name(value, "239.1.2.3:6004", *ssrc, cname, got), None, "another call");
            assert_eq!(verified_name(value, scope, 8, cname, got), None, "another source");
            assert_eq!(verified_name(value, scope, *ssrc, cname, "mallory"), None, "another name");
            assert_eq!(verified_name(value, scope, *ssrc, &format!("{cname}\0"), got.strip_suffix('\0').unwrap_or(got)), None, "fields moved");
            let mut altered = value.clone();
            altered[PUBLIC_KEY_LEN] ^= 1; // another time
            assert_eq!(verified_name(&altered, scope, *ssrc, cname, got), None);
        }
    }

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock { ssrc, fraction_lost: 25, cumulative_lost: lost, highest_sequence: 70_000, jitter: 12, last_sr: 0xabcd_0123, delay_since_last_sr: 65536 }
    }

    #[test]
    fn compound_round_trip_table() {
        let cases: Vec<Vec<Rtcp>> = vec![
            vec![Rtcp::SenderReport { ssrc: 7, ntp: 0x1122_3344_5566_7788, rtp_timestamp: 90_000, packets: 10, octets: 12_000, reports: vec![] }],
            vec![
                Rtcp::SenderReport { ssrc: 7, ntp: 1, rtp_timestamp: 2, packets: 3, octets: 4, reports: vec![block(8, 5), block(9, -3)] },
                Rtcp::SourceDescription { ssrc: 7, cname: "alice@lanmeet".into(), name: Some("爱丽丝".into()), note: Some("camera off".into()), signed: None },
            ],
            vec![Rtcp::ReceiverReport { ssrc: 9, reports: vec![block(7, 0x7f_ffff)] }, Rtcp::PictureLoss { sender: 9, media: 7 }],
            vec![Rtcp::SourceDescription { ssrc: 1, cname: "abc".into(), name: None, note: None, signed: None }, Rtcp::Bye { sources: vec![1, 2] }],
            vec![Rtcp::SourceDescription { ssrc: 1, cname: String::new(), name: Some("ab".into()), note: None, signed: None }],
        ];
        for packets in cases {
            let bytes = write(&packets);
            assert_eq!(bytes.len() % 4, 0, "{packets:?}");
            assert_eq!(parse(&bytes).unwrap(), packets);
        }
    }

    #[test]
    fn known_bytes() {
        // A PLI from 0x01020304 about 0x0a0b0c0d: V=2, FMT=1, PT=206, length 2.
        let bytes = write(&[Rtcp::PictureLoss { sender: 0x0102_0304, media: 0x0a0b_0c0d }]);
        assert_eq!(bytes, [0x81, 206, 0, 2, 1, 2, 3, 4, 10, 11, 12, 13]);
        // An empty receiver report.
        assert_eq!(write(&[Rtcp::ReceiverReport { ssrc: 5, reports: vec![] }]), [0x80, 201, 0, 1, 0, 0, 0, 5]);
        // SDES with a 3-byte CNAME: item 1,3,"abc", end, pad to 8 bytes of chunk data after the SSRC.
        let sdes = write(&[Rtcp::SourceDescription { ssrc: 5, cname: "abc".into(), name: None, note: None, signed: None }]);
        assert_eq!(sdes, [0x81, 202, 0, 3, 0, 0, 0, 5, 1, 3, b'a', b'b', b'c', 0, 0, 0]);
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let name = "名".repeat(100);
        let bytes = write(&[Rtcp::SourceDescription { ssrc: 1, cname: "c".into(), name: Some(name), note: None, signed: None }]);
        match &parse(&bytes).unwrap()[0] {
            Rtcp::SourceDescription { name: Some(name), .. } => assert_eq!(name.chars().count(), 85),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let good = write(&[Rtcp::SenderReport { ssrc: 1, ntp: 2, rtp_timestamp: 3, packets: 4, octets: 5, reports: vec![block(1, 1)] }]);
        assert_eq!(parse(&good[..good.len() - 4]), Err(RtcpError::Truncated));
        assert_eq!(parse(&[0x80, 200]), Err(RtcpError::Truncated));
        let mut version = good.clone();
        version[0] = 0x40 | (version[0] & 0x3f);
        assert_eq!(parse(&version), Err(RtcpError::Version(1)));
        // Claims two report blocks but carries one.
        let mut count = good.clone();
        count[0] = 0x82;
        assert_eq!(parse(&count), Err(RtcpError::Malformed(SR)));
        // Unknown packet types are skipped, not errors.
        assert_eq!(parse(&[0x80, 204, 0, 0]), Ok(vec![Rtcp::Other { packet_type: 204 }]));
    }

    #[test]
    fn ntp_conversion() {
        let t = Duration::new(1_700_000_000, 250_000_000);
        let ntp = ntp_from_unix(t);
        assert_eq!(ntp >> 32, 1_700_000_000 + 2_208_988_800);
        assert_eq!(ntp & 0xffff_ffff, 1 << 30);
        assert!(unix_from_ntp(ntp).abs_diff(t) < Duration::from_nanos(2));
    }

    #[test]
    fn reception_statistics() {
        let mut stats = ReceptionStats::default();
        // 10 packets, 3000 timestamp units apart, arriving with no jitter; sequence 4 and 5 lost.
        for seq in (0u64..10).filter(|s| *s != 4 && *s != 5) {
            stats.packet(65_530 + seq, (seq * 3000) as u32, (seq * 3000 + 500) as u32);
        }
        assert_eq!(stats.expected(), 10);
        assert_eq!(stats.lost(), 2);
        assert_eq!(stats.jitter(), 0);
        stats.sender_report(0x0000_1234_5678_0000, Duration::from_secs(1));
        let report = stats.report(42, Duration::from_millis(1500));
        assert_eq!(report.fraction_lost, (2 * 256 / 10) as u8);
        assert_eq!(report.cumulative_lost, 2);
        assert_eq!(report.highest_sequence, (65_539u64) as u32);
        assert_eq!(report.last_sr, 0x1234_5678);
        assert_eq!(report.delay_since_last_sr, 32768);
        // A second interval with no new packets has no fraction lost.
        assert_eq!(stats.report(42, Duration::from_secs(2)).fraction_lost, 0);
        // Arrival jitter of +-90 units converges towards 90.
        let mut jittery = ReceptionStats::default();
        for seq in 0..2000u64 {
            let wobble = if seq % 2 == 0 { 0 } else { 90 };
            jittery.packet(seq, (seq * 3000) as u32, (seq * 3000 + wobble) as u32);
        }
        assert!((85..=90).contains(&jittery.jitter()), "{}", jittery.jitter());
    }

    fn any_block() -> impl Strategy<Value = ReportBlock> {
        (any::<u32>(), any::<u8>(), -0x80_0000i32..0x80_0000, any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
            |(ssrc, fraction_lost, cumulative_lost, highest_sequence, jitter, last_sr, delay_since_last_sr)| ReportBlock {
                ssrc,
                fraction_lost,
                cumulative_lost,
                highest_sequence,
                jitter,
                last_sr,
                delay_since_last_sr,
            },
        )
    }

    proptest! {
        #[test]
        fn reports_round_trip(ssrc: u32, ntp: u64, ts: u32, blocks in proptest::collection::vec(any_block(), 0..31), name in "\\PC{0,40}") {
            let packets = vec![
                Rtcp::SenderReport { ssrc, ntp, rtp_timestamp: ts, packets: 1, octets: 2, reports: blocks.clone() },
                Rtcp::ReceiverReport { ssrc, reports: blocks },
                Rtcp::SourceDescription { ssrc, cname: format!("{ssrc}@lanmeet"), name: Some(name.clone()), note: Some(name), signed: None },
                Rtcp::PictureLoss { sender: ssrc, media: ts },
            ];
            prop_assert_eq!(parse(&write(&packets)).unwrap(), packets);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }
    }
}
