//! Video codecs behind two small traits, so that another codec can sit beside H.264.
//! H.264 comes from OpenH264 (built from the `openh264` crate's bundled source), set up for
//! real time: low complexity, one thread, rate control on bitrate, slices sized for a packet.

use super::frame::Frame;
use openh264::encoder::{BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, UsageType};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::OpenH264API;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CodecError {
    #[error("cannot start the {codec} encoder: {message}")]
    Setup { codec: &'static str, message: String },
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("decoding failed: {0}")]
    Decode(String),
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// H.264: an access unit in Annex B form. Empty when the encoder skipped the picture to
    /// hold its bitrate.
    pub data: Vec<u8>,
    pub keyframe: bool,
}

pub trait VideoEncoder: Send {
    /// Encodes `frame`; `keyframe` asks for a picture that decodes on its own.
    fn encode(&mut self, frame: &Frame, keyframe: bool) -> Result<Encoded, CodecError>;
}

pub trait VideoDecoder: Send {
    /// Decodes one access unit; `None` when it completes no picture.
    fn decode(&mut self, data: &[u8]) -> Result<Option<Frame>, CodecError>;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderSettings {
    pub bitrate: u32,
    pub fps: f32,
    /// Seconds between keyframes when nobody asks for one: a player that joins (and cannot
    /// ask) waits at most this long for its first picture. 0.4 s costs 0.3 dB of luma PSNR
    /// against 2 s at 1.5 Mbit/s (`scripts/bench video`).
    pub keyframe_interval: f32,
    /// Largest slice in bytes, so that a slice fits one RTP packet.
    pub max_slice: u32,
}

impl Default for EncoderSettings {
    fn default() -> EncoderSettings {
        EncoderSettings { bitrate: 1_500_000, fps: 30.0, keyframe_interval: 0.4, max_slice: 1100 }
    }
}

pub struct H264Encoder {
    encoder: Encoder,
}

impl H264Encoder {
    pub fn new(settings: EncoderSettings) -> Result<H264Encoder, CodecError> {
        let period = (settings.fps * settings.keyframe_interval).round().max(1.0) as u32;
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate))
            .max_frame_rate(FrameRate::from_hz(settings.fps))
            .complexity(Complexity::Low)
            .num_threads(1)
            .intra_frame_period(IntraFramePeriod::from_num_frames(period))
            .max_slice_len(settings.max_slice)
            .skip_frames(true);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| CodecError::Setup { codec: "H.264", message: e.to_string() })?;
        Ok(H264Encoder { encoder })
    }
}

impl VideoEncoder for H264Encoder {
    fn encode(&mut self, frame: &Frame, keyframe: bool) -> Result<Encoded, CodecError> {
        if keyframe {
            self.encoder.force_intra_frame();
        }
        let (w, h) = (frame.width, frame.height);
        let source = YUVSlices::new((frame.y(), frame.u(), frame.v()), (w, h), (w, w / 2, w / 2));
        let stream = self.encoder.encode(&source).map_err(|e| CodecError::Encode(e.to_string()))?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        let data = match stream.frame_type() {
            FrameType::Skip | FrameType::Invalid => Vec::new(),
            _ => stream.to_vec(),
        };
        Ok(Encoded { data, keyframe })
    }
}

/// The sequence and picture parameter sets (SPS, PPS, without start codes) that an encoder with
/// `settings` writes for pictures of `width` x `height`: a player told them beforehand (the
/// SDP's `sprop-parameter-sets`) decodes from the first slice it gets. OpenH264 writes the same
/// sets before every keyframe while the size stays.
pub fn parameter_sets(settings: EncoderSettings, width: usize, height: usize) -> Result<(Vec<u8>, Vec<u8>), CodecError> {
    let mut encoder = H264Encoder::new(settings)?;
    let encoded = encoder.encode(&Frame::black(width, height), true)?;
    let units = crate::proto::rtp::h264::split_annex_b(&encoded.data);
    let find = |kind: u8| units.iter().find(|unit| unit.first().is_some_and(|b| b & 0x1f == kind)).map(|unit| unit.to_vec());
    find(7).zip(find(8)).ok_or_else(|| CodecError::Encode("the first picture carried no parameter sets".into()))
}

pub struct H264Decoder {
    decoder: openh264::decoder::Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, CodecError> {
        let decoder = openh264::decoder::Decoder::new().map_err(|e| CodecError::Setup { codec: "H.264", message: e.to_string() })?;
        Ok(H264Decoder { decoder })
    }
}

impl VideoDecoder for H264Decoder {
    fn decode(&mut self, data: &[u8]) -> Result<Option<Frame>, CodecError> {
        let Some(picture) = self.decoder.decode(data).map_err(|e| CodecError::Decode(e.to_string()))? else {
            return Ok(None);
        };
        let (w, h) = picture.dimensions();
        let (w, h) = (w & !1, h & !1);
        let (sy, su, sv) = picture.strides();
        // Row by row into a buffer of the exact size: no padding, nothing written twice.
        let mut data = Vec::with_capacity(w * h * 3 / 2);
        for row in 0..h {
            data.extend_from_slice(&picture.y()[row * sy..row * sy + w]);
        }
        for (plane, stride) in [(picture.u(), su), (picture.v(), sv)] {
            for row in 0..h / 2 {
                data.extend_from_slice(&plane[row * stride..row * stride + w / 2]);
            }
        }
        let frame = Frame { width: w, height: h, data };
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::psnr_y;
    use crate::media::pattern::TestPattern;
    use crate::proto::rtp::h264::split_annex_b;

    #[test]
    fn round_trip_through_openh264() {
        let pattern = TestPattern::new(320, 240, "test");
        // Keyframes only when asked for, within these two seconds.
        let settings = EncoderSettings { bitrate: 600_000, keyframe_interval: 2.0, ..EncoderSettings::default() };
        let mut encoder = H264Encoder::new(settings).unwrap();
        let mut decoder = H264Decoder::new().unwrap();
        let mut psnr = Vec::new();
        let mut bytes = 0;
        for n in 0..60u64 {
            let source = pattern.render(n, "00:00:01");
            let encoded = encoder.encode(&source, n == 30).unwrap();
            assert_eq!(encoded.keyframe, n == 0 || n == 30, "frame {n}");
            // Slices fit a packet; the parameter sets say the size the receivers check.
            for nal in split_annex_b(&encoded.data) {
                assert!(nal.len() <= 1200, "NAL of {} bytes", nal.len());
                if nal[0] & 0x1f == 7 {
                    assert_eq!(crate::proto::rtp::h264::sps_picture_size(nal), Some((20, 15)));
                }
            }
            bytes += encoded.data.len();
            let decoded = decoder.decode(&encoded.data).unwrap().expect("a picture for each access unit");
            psnr.push(psnr_y(&source, &decoded));
        }
        let kbps = bytes as f64 * 8.0 / 2.0 / 1000.0;
        let mean = psnr.iter().sum::<f64>() / psnr.len() as f64;
        // 320x240 at 600 kbit/s is as many bits a pixel as 640x480 at 2.4 Mbit/s.
        assert!(mean > 33.0, "mean PSNR {mean:.1} dB");
        assert!(kbps < 900.0, "{kbps:.0} kbit/s");
    }

    #[test]
    fn every_keyframe_carries_the_parameter_sets_the_description_gives() {
        let settings = EncoderSettings::default();
        let (sps, pps) = parameter_sets(settings, 320, 240).unwrap();
        assert_eq!(crate::proto::rtp::h264::sps_picture_size(&sps), Some((20, 15)));
        let pattern = TestPattern::new(320, 240, "test");
        let mut encoder = H264Encoder::new(settings).unwrap();
        let mut keyframes = 0;
        // The first, asked-for ones, and periodic ones.
        for n in 0..160u64 {
            let encoded = encoder.encode(&pattern.render(n, "00:00:01"), n == 45 || n == 90).unwrap();
            if !encoded.keyframe {
                continue;
            }
            keyframes += 1;
            let units = split_annex_b(&encoded.data);
            assert!(units.contains(&sps.as_slice()) && units.contains(&pps.as_slice()), "keyframe {n} has other parameter sets");
        }
        assert!(keyframes >= 4, "{keyframes} keyframes");
    }

    #[test]
    fn garbage_is_a_decode_error_or_nothing() {
        let mut decoder = H264Decoder::new().unwrap();
        let garbage: Vec<u8> = [0, 0, 0, 1, 0x65].iter().copied().chain((0..500).map(|i| (i * 37 % 251) as u8)).collect();
        match decoder.decode(&garbage) {
            Ok(None) | Err(_) => {}
            Ok(Some(frame)) => panic!("a picture from garbage: {frame:?}"),
        }
    }
}
