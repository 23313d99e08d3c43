//! The RTP fixed header (RFC 3550 §5.1): parse and write, nothing else.

use thiserror::Error;

pub const HEADER_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrc: Vec<u32>,
    /// Header extension: profile-defined id and its data (a multiple of 4 bytes).
    pub extension: Option<(u16, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("packet shorter than its header")]
    Truncated,
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    #[error("padding longer than the packet")]
    Padding,
}

/// A parsed packet: the header and where the payload lies in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

impl Header {
    pub fn write(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 4 * self.csrc.len() + payload.len() + 8);
        let extension = u8::from(self.extension.is_some()) << 4;
        out.push(0x80 | extension | (self.csrc.len().min(15) as u8));
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for csrc in self.csrc.iter().take(15) {
            out.extend_from_slice(&csrc.to_be_bytes());
        }
        if let Some((id, data)) = &self.extension {
            out.extend_from_slice(&id.to_be_bytes());
            let words = data.len().div_ceil(4);
            out.extend_from_slice(&(words as u16).to_be_bytes());
            out.extend_from_slice(data);
            out.resize(out.len() + words * 4 - data.len(), 0);
        }
        out.extend_from_slice(payload);
        out
    }
}

pub fn parse(bytes: &[u8]) -> Result<Packet<'_>, RtpError> {
    if bytes.len() < HEADER_LEN {
        return Err(RtpError::Truncated);
    }
    let version = bytes[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let padding = bytes[0] & 0x20 != 0;
    let has_extension = bytes[0] & 0x10 != 0;
    let csrc_count = (bytes[0] & 0x0f) as usize;
    let mut at = HEADER_LEN + 4 * csrc_count;
    if bytes.len() < at {
        return Err(RtpError::Truncated);
    }
    let csrc = bytes[HEADER_LEN..at].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes"))).collect();
    let mut extension = None;
    if has_extension {
        if bytes.len() < at + 4 {
            return Err(RtpError::Truncated);
        }
        let id = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let words = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        at += 4;
        if bytes.len() < at + 4 * words {
            return Err(RtpError::Truncated);
        }
        extension = Some((id, bytes[at..at + 4 * words].to_vec()));
        at += 4 * words;
    }
    let mut end = bytes.len();
    if padding {
        let pad = *bytes.last().expect("length checked") as usize;
        if pad == 0 || pad > end - at {
            return Err(RtpError::Padding);
        }
        end -= pad;
    }
    let header = Header {
        marker: bytes[1] & 0x80 != 0,
        payload_type: bytes[1] & 0x7f,
        sequence: u16::from_be_bytes([bytes[2], bytes[3]]),
        timestamp: u32::from_be_bytes(bytes[4..8].try_into().expect("length checked")),
        ssrc: u32::from_be_bytes(bytes[8..12].try_into().expect("length checked")),
        csrc,
        extension,
    };
    Ok(Packet { header, payload: &bytes[at..end] })
}

/// Sequence numbers wrap at 65536: extends each to 64 bits relative to the previous one, so
/// that comparisons and gaps work across the wrap (RFC 3550 appendix A.1).
#[derive(Debug, Default, Clone)]
pub struct SequenceExtender {
    last: Option<u64>,
}

impl SequenceExtender {
    pub fn extend(&mut self, sequence: u16) -> u64 {
        let Some(last) = self.last else {
            let first = (1u64 << 16) + u64::from(sequence);
            self.last = Some(first);
            return first;
        };
        let cycle = last & !0xffff;
        let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)].map(|c| c + u64::from(sequence));
        let extended = *candidates.iter().min_by_key(|c| c.abs_diff(last)).expect("three candidates");
        self.last = Some(last.max(extended));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_table() {
        let header = Header { marker: true, payload_type: 96, sequence: 65535, timestamp: 90_000, ssrc: 0xdeadbeef, ..Header::default() };
        let bytes = header.write(b"payload");
        assert_eq!(bytes[..2], [0x80, 0x80 | 96]);
        let packet = parse(&bytes).unwrap();
        assert_eq!(packet.header, header);
        assert_eq!(packet.payload, b"payload");
        // Padding (set by hand: we never send it) is removed.
        let mut padded = bytes.clone();
        padded[0] |= 0x20;
        padded.extend_from_slice(&[0, 0, 3]);
        assert_eq!(parse(&padded).unwrap().payload, b"payload");
        let rows: Vec<(Vec<u8>, RtpError)> = vec![
            (bytes[..11].to_vec(), RtpError::Truncated),
            ([&[0x40][..], &bytes[1..]].concat(), RtpError::Version(1)),
            ([&[0x8f][..], &bytes[1..]].concat(), RtpError::Truncated),
            ([&[0xa0][..], &bytes[1..bytes.len() - 1], &[200][..]].concat(), RtpError::Padding),
        ];
        for (input, want) in rows {
            assert_eq!(parse(&input), Err(want));
        }
    }

    #[test]
    fn sequence_numbers_extend_across_the_wrap() {
        let mut ext = SequenceExtender::default();
        let seen: Vec<u64> = [65533u16, 65535, 65534, 0, 1, 65535, 2].iter().map(|&s| ext.extend(s)).collect();
        let base = seen[0] - 65533;
        let relative: Vec<i64> = seen.iter().map(|&s| s as i64 - base as i64).collect();
        assert_eq!(relative, [65533, 65535, 65534, 65536, 65537, 65535, 65538]);
    }

    proptest! {
        #[test]
        fn round_trip(marker: bool, pt in 0u8..128, sequence: u16, timestamp: u32, ssrc: u32,
                      csrc in prop::collection::vec(any::<u32>(), 0..4),
                      extension in prop::option::of((any::<u16>(), prop::collection::vec(any::<u8>(), 0..3).prop_map(|w| w.iter().flat_map(|b| [*b; 4]).collect::<Vec<u8>>()))),
                      payload in prop::collection::vec(any::<u8>(), 0..200)) {
            let header = Header { marker, payload_type: pt, sequence, timestamp, ssrc, csrc, extension };
            let bytes = header.write(&payload);
            let packet = parse(&bytes).unwrap();
            prop_assert_eq!(packet.header, header);
            prop_assert_eq!(packet.payload, &payload[..]);
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse(&bytes);
        }
    }
}
