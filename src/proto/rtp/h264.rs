//! H.264 over RTP (RFC 6184, packetization mode 1): single NAL unit packets and FU-A
//! fragments out; single NAL units, STAP-A and FU-A in. The depacketizer puts packets back in
//! order within a bounded window, detects loss by sequence number, and after a loss passes on
//! nothing until a keyframe, asking for one.
//!
//! A sender may lie: an access unit larger than [`MAX_ACCESS_UNIT`] is dropped as it grows, and
//! a stream whose parameter sets announce a picture larger than [`MAX_PICTURE`] macroblocks (or
//! cannot be read) is not passed on, so no decoder is asked to allocate for it.

use super::packet::{Header, SequenceExtender};
use std::collections::BTreeMap;

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const IDR: u8 = 5;
const SPS: u8 = 7;
const PPS: u8 = 8;
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// Bytes of one access unit, at most: a 1080p keyframe of good quality is well under a MiB.
pub const MAX_ACCESS_UNIT: usize = 4 << 20;
/// Largest picture passed on, in macroblocks (16x16 pixels): 1920x1088.
pub const MAX_PICTURE: u32 = 120 * 68;

/// The NAL units of an Annex B byte stream, without start codes.
pub fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(stream.len(), |&next| next - 3);
        // A four-byte start code leaves a zero behind the previous unit; so may trailing zeros.
        while end > start && stream[end - 1] == 0 && n + 1 < starts.len() {
            end -= 1;
        }
        if end > start {
            units.push(&stream[start..end]);
        }
    }
    units
}

/// Cuts access units into RTP payloads of at most `max_payload` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Packetizer {
    pub max_payload: usize,
}

impl Packetizer {
    /// Payloads for one access unit (Annex B), in order; the last one carries the marker bit.
    pub fn packetize(&self, access_unit: &[u8]) -> Vec<Vec<u8>> {
        let max = self.max_payload.max(3);
        let mut payloads = Vec::new();
        for nal in split_annex_b(access_unit) {
            if nal.len() <= max {
                payloads.push(nal.to_vec());
                continue;
            }
            let indicator = (nal[0] & 0xe0) | FU_A;
            let kind = nal[0] & 0x1f;
            let body = &nal[1..];
            let chunk = max - 2;
            let count = body.len().div_ceil(chunk);
            for (i, piece) in body.chunks(chunk).enumerate() {
                let start = if i == 0 { 0x80 } else { 0 };
                let end = if i + 1 == count { 0x40 } else { 0 };
                let mut payload = Vec::with_capacity(piece.len() + 2);
                payload.push(indicator);
                payload.push(start | end | kind);
                payload.extend_from_slice(piece);
                payloads.push(payload);
            }
        }
        payloads
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A whole access unit in Annex B form, ready for a decoder.
    Frame { timestamp: u32, data: Vec<u8>, keyframe: bool },
    /// Packets that never arrived.
    Lost { packets: u64 },
    /// The picture is broken until a keyframe: ask the sender for one (RTCP PLI).
    NeedKeyframe,
}

#[derive(Debug, Default)]
struct Assembly {
    timestamp: Option<u32>,
    data: Vec<u8>,
    keyframe: bool,
    broken: bool,
    /// Inside a FU-A unit.
    in_fragment: bool,
    /// One of its sequence parameter sets announced a picture we do not decode.
    refused: bool,
    /// It carries a sequence parameter set.
    has_sps: bool,
}

#[derive(Debug)]
pub struct Depacketizer {
    window: usize,
    extender: SequenceExtender,
    next: Option<u64>,
    pending: BTreeMap<u64, (Header, Vec<u8>)>,
    frame: Assembly,
    waiting_for_keyframe: bool,
    /// A keyframe has been asked for since the picture broke.
    asked: bool,
    /// No frame has been begun yet: the first one may have started before we joined.
    first: bool,
    /// Sequence and picture parameter sets seen: without them no keyframe decodes.
    have_sps: bool,
    have_pps: bool,
    /// The last sequence parameter set announced a picture we do not decode (too large, or
    /// unreadable): frames are dropped until one we accept.
    refused_picture: bool,
    /// Packets dropped as duplicates or as too late.
    pub duplicates: u64,
    /// Access units dropped for their size or their picture's size.
    pub oversized: u64,
}

impl Depacketizer {
    /// `window`: packets held back waiting for a missing one before it counts as lost.
    pub fn new(window: usize) -> Depacketizer {
        Depacketizer {
            window: window.max(1),
            extender: SequenceExtender::default(),
            next: None,
            pending: BTreeMap::new(),
            frame: Assembly::default(),
            waiting_for_keyframe: true,
            asked: false,
            first: true,
            have_sps: false,
            have_pps: false,
            refused_picture: false,
            duplicates: 0,
            oversized: 0,
        }
    }

    /// Bytes held: packets waiting for a missing one, and the access unit being assembled.
    pub fn held(&self) -> usize {
        self.pending.values().map(|(_, payload)| payload.len()).sum::<usize>() + self.frame.data.len()
    }

    pub fn push(&mut self, header: Header, payload: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        let seq = self.extender.extend(header.sequence);
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.pending.contains_key(&seq) {
            self.duplicates += 1;
            return out;
        }
        self.pending.insert(seq, (header, payload.to_vec()));
        self.drain(&mut out);
        if self.pending.len() > self.window {
            // The gap is not reordering: give up on it.
            let first = *self.pending.keys().next().expect("not empty");
            let lost = first - self.next.expect("set above");
            out.push(Output::Lost { packets: lost });
            self.frame.broken = true;
            self.frame.in_fragment = false;
            self.next = Some(first);
            self.drain(&mut out);
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<Output>) {
        while let Some(next) = self.next {
            let Some((header, payload)) = self.pending.remove(&next) else { break };
            self.next = Some(next + 1);
            self.take(header, &payload, out);
        }
    }

    fn take(&mut self, header: Header, payload: &[u8], out: &mut Vec<Output>) {
        if self.frame.timestamp.is_some_and(|t| t != header.timestamp) {
            // The previous frame's last packet was lost.
            self.frame.broken = true;
            self.finish(out);
        }
        if self.first && self.frame.timestamp.is_none() {
            // Joined mid-stream: the first frame counts only if this packet begins it.
            self.first = false;
            if !begins_frame(payload) {
                self.frame.broken = true;
            }
        }
        self.frame.timestamp = Some(header.timestamp);
        if payload.is_empty() {
            self.frame.broken = true;
        } else {
            match payload[0] & 0x1f {
                1..=23 => {
                    self.frame.in_fragment = false;
                    self.add_nal(payload);
                }
                STAP_A => {
                    let mut rest = &payload[1..];
                    while rest.len() >= 2 {
                        let size = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                        if size == 0 || rest.len() < 2 + size {
                            self.frame.broken = true;
                            break;
                        }
                        self.add_nal(&rest[2..2 + size]);
                        rest = &rest[2 + size..];
                    }
                }
                FU_A if payload.len() >= 2 => {
                    let (indicator, fu) = (payload[0], payload[1]);
                    let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                    if start {
                        let nal_header = (indicator & 0xe0) | (fu & 0x1f);
                        self.add_nal(&[nal_header]);
                        self.frame.in_fragment = true;
                    } else if !self.frame.in_fragment {
                        self.frame.broken = true;
                    }
                    self.append(&payload[2..]);
                    if end {
                        self.frame.in_fragment = false;
                    }
                }
                _ => self.frame.broken = true,
            }
        }
        if header.marker {
            self.finish(out);
        }
    }

    fn add_nal(&mut self, nal: &[u8]) {
        match nal[0] & 0x1f {
            IDR => self.frame.keyframe = true,
            SPS => {
                self.have_sps = true;
                self.frame.has_sps = true;
                let size = sps_picture_size(nal);
                // Any refused set refuses the access unit: a later acceptable one with another
                // id must not let a picture parameter set point the decoder at the first.
                if !size.is_some_and(|(w, h)| w.checked_mul(h).is_some_and(|mbs| mbs <= MAX_PICTURE)) {
                    log::debug!("refusing a stream whose pictures are {size:?} macroblocks");
                    self.frame.refused = true;
                }
            }
            PPS => self.have_pps = true,
            _ => {}
        }
        self.append(&START_CODE);
        self.append(nal);
    }

    /// Grow the access unit; a broken one keeps nothing (it is never passed on), and one that
    /// grows past [`MAX_ACCESS_UNIT`] breaks and lets go of its bytes.
    fn append(&mut self, bytes: &[u8]) {
        if self.frame.broken {
            return;
        }
        if self.frame.data.len() + bytes.len() > MAX_ACCESS_UNIT {
            self.oversized += 1;
            self.frame.broken = true;
            self.frame.data = Vec::new();
            return;
        }
        self.frame.data.extend_from_slice(bytes);
    }

    fn finish(&mut self, out: &mut Vec<Output>) {
        let frame = std::mem::take(&mut self.frame);
        let Some(timestamp) = frame.timestamp else { return };
        if frame.broken || frame.in_fragment {
            if !self.asked {
                out.push(Output::NeedKeyframe);
                self.asked = true;
            }
            self.waiting_for_keyframe = true;
            return;
        }
        if self.waiting_for_keyframe && !(frame.keyframe && self.have_sps && self.have_pps) {
            // Joined between keyframes, or after the parameter sets went by: ask rather than
            // wait for the next keyframe.
            if !self.asked {
                out.push(Output::NeedKeyframe);
                self.asked = true;
            }
            return;
        }
        if frame.has_sps {
            self.refused_picture = frame.refused;
        }
        if self.refused_picture {
            self.oversized += 1;
            return;
        }
        self.waiting_for_keyframe = false;
        self.asked = false;
        out.push(Output::Frame { timestamp, data: frame.data, keyframe: frame.keyframe });
    }
}

/// Width and height in macroblocks that a sequence parameter set (a whole NAL unit, header
/// byte included) announces, or None if it cannot be read (ITU-T H.264 7.3.2.1.1).
pub fn sps_picture_size(nal: &[u8]) -> Option<(u32, u32)> {
    let mut bits = BitReader::new(nal.get(1..)?);
    let profile = bits.bits(8)?;
    bits.bits(16)?; // constraint flags and level
    bits.ue()?; // seq_parameter_set_id
    if matches!(profile, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        let chroma_format = bits.ue()?;
        if chroma_format == 3 {
            bits.bits(1)?; // separate_colour_plane_flag
        }
        bits.ue()?; // bit_depth_luma_minus8
        bits.ue()?; // bit_depth_chroma_minus8
        bits.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if bits.bits(1)? == 1 {
            for list in 0..if chroma_format == 3 { 12 } else { 8 } {
                if bits.bits(1)? == 1 {
                    let size = if list < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + bits.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    bits.ue()?; // log2_max_frame_num_minus4
    match bits.ue()? {
        0 => {
            bits.ue()?;
        }
        1 => {
            bits.bits(1)?;
            bits.se()?;
            bits.se()?;
            let cycle = bits.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                bits.se()?;
            }
        }
        _ => {}
    }
    bits.ue()?; // max_num_ref_frames
    bits.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width = bits.ue()?.checked_add(1)?;
    let map_units = bits.ue()?.checked_add(1)?;
    let frames_only = bits.bits(1)?;
    let height = map_units.checked_mul(2 - frames_only)?;
    Some((width, height))
}

/// Bits of a NAL unit's payload, emulation prevention bytes (00 00 03) skipped.
struct BitReader<'a> {
    bytes: &'a [u8],
    at: usize,
    bit: u32,
    zeros: u32,
    current: Option<u8>,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> BitReader<'a> {
        BitReader { bytes, at: 0, bit: 8, zeros: 0, current: None }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bit == 8 {
            let mut byte = *self.bytes.get(self.at)?;
            self.at += 1;
            if self.zeros >= 2 && byte == 3 {
                byte = *self.bytes.get(self.at)?;
                self.at += 1;
                self.zeros = 0;
            }
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
            self.current = Some(byte);
            self.bit = 0;
        }
        let byte = self.current?;
        let value = u32::from(byte >> (7 - self.bit) & 1);
        self.bit += 1;
        Some(value)
    }

    fn bits(&mut self, count: u32) -> Option<u32> {
        (0..count).try_fold(0u32, |value, _| Some(value << 1 | self.bit()?))
    }

    /// Unsigned Exp-Golomb; None past 31 leading zeros (not a value a sane stream has).
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).try_into().ok()?)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Whether an RTP payload can be the first packet of an access unit: parameter sets, SEI and
/// aggregates can; a slice can if it is the picture's first (first_mb_in_slice is 0, a single
/// 1 bit in Exp-Golomb code, so the slice data's first bit is set); a fragment only by its
/// start.
fn begins_frame(payload: &[u8]) -> bool {
    let Some(&indicator) = payload.first() else { return false };
    let first_slice = |kind: u8, data: Option<&u8>| !matches!(kind, 1 | 5) || data.is_none_or(|b| b & 0x80 != 0);
    match indicator & 0x1f {
        FU_A => payload.get(1).is_some_and(|fu| fu & 0x80 != 0 && first_slice(fu & 0x1f, payload.get(2))),
        kind @ 1..=23 => first_slice(kind, payload.get(1)),
        _ => true,
    }
}

/// Access units made up for tests: real parameter sets, slices of made-up bytes.
#[cfg(test)]
pub(crate) mod synthetic {
    use super::*;

    /// Bits written as H.264 codes them, with emulation prevention on the way out.
    #[derive(Default)]
    pub(crate) struct BitWriter {
        bits: Vec<bool>,
    }

    impl BitWriter {
        pub(crate) fn put(&mut self, value: u64, count: u32) -> &mut Self {
            self.bits.extend((0..count).rev().map(|i| value >> i & 1 == 1));
            self
        }
        pub(crate) fn ue(&mut self, value: u64) -> &mut Self {
            let code = value + 1;
            let length = 64 - code.leading_zeros();
            self.put(0, length - 1).put(code, length)
        }
        pub(crate) fn se(&mut self, value: i64) -> &mut Self {
            self.ue(if value > 0 { 2 * value as u64 - 1 } else { (-2 * value) as u64 })
        }
        /// The RBSP with its stop bit, escaped, after `header`.
        pub(crate) fn nal(&mut self, header: u8) -> Vec<u8> {
            self.put(1, 1);
            while self.bits.len() % 8 != 0 {
                self.bits.push(false);
            }
            let mut out = vec![header];
            let mut zeros = 0;
            for byte in self.bits.chunks(8).map(|b| b.iter().fold(0u8, |v, &bit| v << 1 | u8::from(bit))) {
                if zeros >= 2 && byte <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if byte == 0 { zeros + 1 } else { 0 };
                out.push(byte);
            }
            out
        }
    }

    /// A sequence parameter set for a picture of `width` x `height` macroblocks; the high
    /// profile one carries a scaling matrix too.
    pub(crate) fn sps(width: u64, height: u64, high: bool) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.put(if high { 100 } else { 66 }, 8).put(0xc0, 8).put(30, 8).ue(0);
        if high {
            w.ue(1).ue(0).ue(0).put(0, 1).put(1, 1);
            for list in 0..8 {
                w.put(u64::from(list % 2 == 0), 1);
                if list % 2 == 0 {
                    for k in 0..if list < 6 { 16 } else { 64 } {
                        w.se(if k == 0 { 8 } else { 1 });
                    }
                }
            }
        }
        w.ue(0).ue(0).ue(0).ue(1).put(0, 1).ue(width - 1).ue(height - 1).put(1, 1).put(1, 1).put(0, 1).put(0, 1);
        w.nal(0x67)
    }

    /// An access unit of NAL units of the given types and sizes (header byte included); a
    /// sequence parameter set is a real one for 640x480 whatever its size says.
    pub(crate) fn access_unit(nals: &[(u8, usize)]) -> Vec<u8> {
        let mut au = Vec::new();
        for (i, &(kind, size)) in nals.iter().enumerate() {
            au.extend_from_slice(&START_CODE);
            if kind == SPS {
                au.extend(sps(40, 30, false));
                continue;
            }
            au.push(0x60 | kind);
            // Slices begin with first_mb_in_slice = 0 (a set bit), as the first slice of a
            // picture does.
            au.extend((1..size).map(|j| if j == 1 { 0x88 } else { ((i * 31 + j) % 251 + 1) as u8 }));
        }
        au
    }

}

#[cfg(test)]
mod tests {
    use super::synthetic::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn joining_in_the_middle_of_a_keyframe_waits_for_a_whole_one_and_asks() {
        // A keyframe of three slices (the second and third do not start the picture), then
        // a delta frame; we join at the second slice.
        let mut key = access_unit(&[(7, 12), (8, 4), (IDR, 300)]);
        for _ in 0..2 {
            key.extend_from_slice(&START_CODE);
            key.push(0x60 | IDR);
            key.push(0x40);
            key.extend(std::iter::repeat_n(7u8, 299));
        }
        let all = packets(&key, 400, 10, 3000);
        let mut d = Depacketizer::new(4);
        let mut out: Vec<Output> = all[3..].iter().flat_map(|(h, p)| d.push(h.clone(), p)).collect();
        let delta = packets(&access_unit(&[(1, 80)]), 400, 10 + all.len() as u16, 6000);
        let next = 10 + (all.len() + delta.len()) as u16;
        out.extend(delta.into_iter().flat_map(|(h, p)| d.push(h, &p)));
        assert_eq!(out, [Output::NeedKeyframe]);
        // The whole keyframe comes: it is decoded.
        let out: Vec<Output> = packets(&key, 400, next, 9000).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert_eq!(frames(&out), [&key]);
    }

    #[test]
    fn a_keyframe_without_parameter_sets_is_not_decodable() {
        // Joined at the keyframe's first slice, after its SPS and PPS went by.
        let mut d = Depacketizer::new(4);
        let out: Vec<Output> = packets(&access_unit(&[(IDR, 300)]), 400, 5, 3000).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert_eq!(out, [Output::NeedKeyframe]);
        let key = access_unit(&[(SPS, 12), (PPS, 4), (IDR, 300)]);
        let out: Vec<Output> = packets(&key, 400, 6, 6000).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert_eq!(frames(&out), [&key]);
    }

    #[test]
    fn what_can_begin_a_frame() {
        assert!(begins_frame(&[0x67, 0x42]));
        assert!(begins_frame(&[0x65, 0x88]));
        assert!(!begins_frame(&[0x65, 0x40]));
        assert!(!begins_frame(&[0x41, 0x20]));
        assert!(begins_frame(&[0x7c, 0x85, 0x80]));
        assert!(!begins_frame(&[0x7c, 0x85, 0x40]));
        assert!(!begins_frame(&[0x7c, 0x05, 0x80]));
        assert!(begins_frame(&[0x78, 0, 2, 0x67, 0x42]));
        assert!(!begins_frame(&[]));
        assert!(begins_frame(&[0x65]));
    }

    fn packets(au: &[u8], max: usize, first_seq: u16, timestamp: u32) -> Vec<(Header, Vec<u8>)> {
        let payloads = Packetizer { max_payload: max }.packetize(au);
        let count = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let header = Header {
                    marker: i + 1 == count,
                    payload_type: 96,
                    sequence: first_seq.wrapping_add(i as u16),
                    timestamp,
                    ssrc: 1,
                    ..Header::default()
                };
                (header, p)
            })
            .collect()
    }

    fn frames(out: &[Output]) -> Vec<&Vec<u8>> {
        out.iter().filter_map(|o| if let Output::Frame { data, .. } = o { Some(data) } else { None }).collect()
    }

    #[test]
    fn round_trip_at_every_fragment_boundary() {
        let max = 100;
        for size in [1, 2, 99, 100, 101, 197, 198, 199, 200, 296, 297, 1000] {
            let au = access_unit(&[(SPS, 12), (PPS, 4), (IDR, size)]);
            let sent = packets(&au, max, 65534, 3000);
            assert!(sent.iter().all(|(_, p)| p.len() <= max), "size {size}");
            // The SPS and the PPS, one packet each, then the IDR slice.
            assert_eq!(sent.len(), 2 + if size <= max { 1 } else { (size - 1).div_ceil(max - 2) }, "size {size}");
            let mut d = Depacketizer::new(8);
            let out: Vec<Output> = sent.into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
            assert_eq!(out, [Output::Frame { timestamp: 3000, data: au.clone(), keyframe: true }], "size {size}");
        }
    }

    #[test]
    fn several_nal_units_and_stap_a() {
        let au = access_unit(&[(7, 12), (8, 4), (IDR, 450), (6, 3)]);
        let mut d = Depacketizer::new(8);
        let out: Vec<Output> = packets(&au, 200, 0, 90).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert_eq!(frames(&out), [&au]);
        // STAP-A as other senders (GStreamer) aggregate SPS and PPS.
        let mut stap = vec![STAP_A];
        for nal in split_annex_b(&au)[..2].iter() {
            stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            stap.extend_from_slice(nal);
        }
        let mut d = Depacketizer::new(8);
        let h = |seq, marker| Header { sequence: seq, marker, timestamp: 5, ..Header::default() };
        let mut out = d.push(h(0, false), &stap);
        out.extend(d.push(h(1, true), split_annex_b(&au)[2]));
        assert_eq!(frames(&out), [&access_unit(&[(7, 12), (8, 4), (IDR, 450)])]);
    }

    #[test]
    fn loss_drops_the_frame_asks_for_a_keyframe_and_waits_for_one() {
        let max = 100;
        let key = access_unit(&[(SPS, 12), (PPS, 4), (IDR, 350)]);
        let delta = access_unit(&[(1, 250)]);
        let mut stream = packets(&key, max, 10, 0);
        let mut seq = 10 + stream.len() as u16;
        for t in 1..=3u32 {
            let p = packets(&delta, max, seq, t * 3000);
            seq += p.len() as u16;
            stream.extend(p);
        }
        let key_again = packets(&key, max, seq, 12_000);
        stream.extend(key_again);
        // Lose the middle fragment of the first delta frame.
        let lost_index = packets(&key, max, 10, 0).len() + 1;
        stream.remove(lost_index);
        let mut d = Depacketizer::new(4);
        let out: Vec<Output> = stream.into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        let kinds: Vec<String> = out
            .iter()
            .map(|o| match o {
                Output::Frame { timestamp, keyframe, .. } => format!("frame {timestamp} {keyframe}"),
                Output::Lost { packets } => format!("lost {packets}"),
                Output::NeedKeyframe => "need keyframe".into(),
            })
            .collect();
        assert_eq!(kinds, ["frame 0 true", "lost 1", "need keyframe", "frame 12000 true"]);
    }

    #[test]
    fn duplicates_and_reordering_within_the_window_change_nothing() {
        let au = access_unit(&[(SPS, 12), (PPS, 4), (IDR, 600)]);
        let mut sent = packets(&au, 100, 65533, 7);
        sent.swap(1, 3);
        sent.insert(2, sent[0].clone());
        let mut d = Depacketizer::new(8);
        let out: Vec<Output> = sent.into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert_eq!(frames(&out), [&au]);
        assert_eq!(d.duplicates, 1);
    }

    #[test]
    fn the_first_frame_must_be_a_keyframe() {
        let mut d = Depacketizer::new(4);
        let out: Vec<Output> = packets(&access_unit(&[(1, 50)]), 100, 0, 0).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert!(frames(&out).is_empty());
    }

    proptest! {
        /// Any packets in any order: no panic, and nothing held beyond the limits.
        #[test]
        fn any_packets_leave_the_depacketizer_bounded(packets in prop::collection::vec(
            (any::<u16>(), prop_oneof![Just(7u32), any::<u32>()], any::<bool>(), prop::collection::vec(any::<u8>(), 0..1400)), 1..200)) {
            let mut d = Depacketizer::new(8);
            for (sequence, timestamp, marker, payload) in packets {
                for output in d.push(Header { sequence, timestamp, marker, ..Header::default() }, &payload) {
                    if let Output::Frame { data, .. } = output {
                        prop_assert!(data.len() <= MAX_ACCESS_UNIT);
                    }
                }
                prop_assert!(d.pending.len() <= 8 + 1);
                prop_assert!(d.frame.data.len() <= MAX_ACCESS_UNIT);
            }
        }

        #[test]
        fn any_parameter_set_is_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = sps_picture_size(&bytes);
        }

        #[test]
        fn any_access_unit_survives_packetizing(sizes in prop::collection::vec(1usize..3000, 1..5), max in 20usize..1200, seq: u16) {
            let mut nals: Vec<(u8, usize)> = vec![(SPS, 12), (PPS, 4)];
            nals.extend(sizes.iter().map(|&s| (1, s)));
            nals[2].0 = IDR;
            let au = access_unit(&nals);
            let mut d = Depacketizer::new(16);
            let out: Vec<Output> = packets(&au, max, seq, 1).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
            prop_assert_eq!(frames(&out), vec![&au]);
        }

        #[test]
        fn garbage_never_panics(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..30)) {
            let mut d = Depacketizer::new(4);
            for (i, p) in payloads.iter().enumerate() {
                let _ = d.push(Header { sequence: (i * 7) as u16, marker: i % 3 == 0, ..Header::default() }, p);
            }
        }
    }

    #[test]
    fn parameter_sets_tell_the_picture_size() {
        assert_eq!(sps_picture_size(&sps(40, 30, false)), Some((40, 30)));
        assert_eq!(sps_picture_size(&sps(80, 45, true)), Some((80, 45)));
        assert_eq!(sps_picture_size(&sps(256, 144, false)), Some((256, 144)));
        for cut in 1..6 {
            let whole = sps(40, 30, false);
            assert_eq!(sps_picture_size(&whole[..cut]), None, "cut at {cut}");
        }
        assert_eq!(sps_picture_size(&[0x67, 66, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0]), None, "Exp-Golomb codes that never end");
    }

    #[test]
    fn a_stream_of_too_large_pictures_is_not_passed_on() {
        let mut d = Depacketizer::new(8);
        let mut au = vec![];
        for nal in [sps(256, 144, false), vec![0x68, 0xce, 0x38, 0x80], vec![0x65, 0x88, 0x84, 0x21]] {
            au.extend_from_slice(&START_CODE);
            au.extend(nal);
        }
        let out: Vec<Output> = packets(&au, 1000, 1, 90).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert!(frames(&out).is_empty());
        assert_eq!(d.oversized, 1);
        // The same stream at 640x480 is.
        let mut d = Depacketizer::new(8);
        let au = access_unit(&[(SPS, 12), (PPS, 4), (IDR, 300)]);
        let out: Vec<Output> = packets(&au, 1000, 1, 90).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert_eq!(frames(&out).len(), 1);
    }

    #[test]
    fn a_frame_that_never_ends_holds_at_most_the_largest_access_unit() {
        let mut d = Depacketizer::new(8);
        let mut out = Vec::new();
        let slice = access_unit(&[(1, 1100)]);
        for i in 0..10_000u16 {
            out.extend(d.push(Header { sequence: i, timestamp: 7, marker: false, ..Header::default() }, &slice[4..]));
            assert!(d.frame.data.len() <= MAX_ACCESS_UNIT);
        }
        assert!(d.oversized >= 1);
        assert!(frames(&out).is_empty());
    }

    #[test]
    fn a_refused_parameter_set_cannot_hide_behind_an_accepted_one() {
        let mut d = Depacketizer::new(8);
        let mut au = vec![];
        for nal in [sps(256, 144, false), sps(40, 30, false), vec![0x68, 0xce, 0x38, 0x80], vec![0x65, 0x88, 0x84, 0x21]] {
            au.extend_from_slice(&START_CODE);
            au.extend(nal);
        }
        let first = packets(&au, 1000, 1, 90);
        let next_seq = 1 + first.len() as u16;
        let out: Vec<Output> = first.into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert!(frames(&out).is_empty());
        assert_eq!(d.oversized, 1);
        // Nor can the next picture that leans on the parameter sets seen before.
        let slice = [&START_CODE[..], &[0x65, 0x88, 0x84, 0x21][..]].concat();
        let out: Vec<Output> = packets(&slice, 1000, next_seq, 180).into_iter().flat_map(|(h, p)| d.push(h, &p)).collect();
        assert!(frames(&out).is_empty());
        assert_eq!(d.oversized, 2);
    }
}
