//! Conference audio that needs no device: Opus (48 kHz mono, 20 ms frames, VOIP, in-band FEC)
//! with loss concealment, a synthetic voice for tests and headless peers, mixing with clipping
//! protection, and the measures the tests use (energy, correlation).

use opus::{Application, Bitrate, Channels};
use thiserror::Error;

pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame.
pub const FRAME: usize = 960;
/// RTP payload type of Opus in our SDP (dynamic, RFC 7587).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

#[derive(Debug, Error)]
pub enum AudioError {
    #[error("Opus: {0}")]
    Opus(#[from] opus::Error),
}

pub struct OpusEncoder {
    encoder: opus::Encoder,
    buffer: Vec<u8>,
}

impl OpusEncoder {
    /// VOIP mode at `bitrate` bits a second, with in-band FEC sized for `expected_loss` percent.
    pub fn new(bitrate: i32, expected_loss: i32) -> Result<OpusEncoder, AudioError> {
        let mut encoder = opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)?;
        encoder.set_bitrate(Bitrate::Bits(bitrate))?;
        encoder.set_inband_fec(true)?;
        encoder.set_packet_loss_perc(expected_loss)?;
        // Complexity 5 of 10 halves the encoder's time for a voice that sounds the same.
        encoder.set_complexity(5)?;
        Ok(OpusEncoder { encoder, buffer: vec![0; 1500] })
    }

    /// One frame (960 samples, -1.0..1.0) to one packet.
    pub fn encode(&mut self, frame: &[f32]) -> Result<Vec<u8>, AudioError> {
        let len = self.encoder.encode_float(frame, &mut self.buffer)?;
        Ok(self.buffer[..len].to_vec())
    }
}

pub struct OpusDecoder {
    decoder: opus::Decoder,
}

impl OpusDecoder {
    pub fn new() -> Result<OpusDecoder, AudioError> {
        Ok(OpusDecoder { decoder: opus::Decoder::new(SAMPLE_RATE, Channels::Mono)? })
    }

    /// The frame `packet` carries.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32; FRAME]) -> Result<(), AudioError> {
        let n = self.decoder.decode_float(packet, out, false)?;
        out[n..].fill(0.0);
        Ok(())
    }

    /// The frame before `next_packet`, rebuilt from the redundancy it carries.
    pub fn recover(&mut self, next_packet: &[u8], out: &mut [f32; FRAME]) -> Result<(), AudioError> {
        let n = self.decoder.decode_float(next_packet, out, true)?;
        out[n..].fill(0.0);
        Ok(())
    }

    /// A stand-in for missing sound (packet loss concealment), as long as `out`: a whole frame,
    /// or a multiple of 2.5 ms to bridge a short wait.
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<(), AudioError> {
        let n = self.decoder.decode_float(&[], out, false)?;
        out[n..].fill(0.0);
        Ok(())
    }
}

/// A voice-like test signal: a voiced tone whose pitch glides around `pitch` Hz, with vowel
/// formants, in syllables of about 200 ms and pauses between words. Deterministic in the sample
/// index, so that a receiver can compare what it heard with what was said.
#[derive(Debug, Clone)]
pub struct Voice {
    pub pitch: f32,
    pub level: f32,
    position: u64,
}

impl Voice {
    pub fn new(pitch: f32) -> Voice {
        Voice { pitch, level: 0.3, position: 0 }
    }

    /// Sample number `n` (48 kHz).
    pub fn sample(&self, n: u64) -> f32 {
        use std::f64::consts::PI;
        let t = n as f64 / f64::from(SAMPLE_RATE);
        // Words of 4 syllables of 200 ms, then 400 ms of silence.
        let word = t % 1.2;
        if word >= 0.8 {
            return 0.0;
        }
        let syllable = (word / 0.2).floor();
        let within = (word % 0.2) / 0.2;
        let envelope = (PI * within).sin();
        let pitch = f64::from(self.pitch);
        // The pitch glides by 12 % at 0.7 Hz and rises a little from syllable to syllable; the
        // phase is the integral of that frequency.
        let glide = 2.0 * PI * 0.7;
        let f0 = pitch * (1.0 + 0.12 * (glide * t).sin() + 0.05 * syllable);
        let cycles = pitch * t - pitch * 0.12 * (glide * t).cos() / glide + 0.05 * syllable * pitch * t;
        let phase = 2.0 * PI * (cycles % 1.0);
        // Vowels alternate between /a/ (700, 1200 Hz) and /i/ (300, 2300 Hz).
        let (f1, f2) = if syllable as u32 % 2 == 0 { (700.0, 1200.0) } else { (300.0, 2300.0) };
        let mut value = 0.0;
        // sin(k x) by the recurrence sin(k x) = 2 cos(x) sin((k-1) x) - sin((k-2) x).
        let (sin1, cos1) = phase.sin_cos();
        let (mut previous, mut current) = (0.0, sin1);
        for k in 1..=12 {
            let f = f0 * f64::from(k);
            if f > 4000.0 {
                break;
            }
            let weight = 1.0 / (1.0 + ((f - f1) / 150.0).powi(2)) + 0.6 / (1.0 + ((f - f2) / 200.0).powi(2)) + 0.05;
            value += weight * current;
            (previous, current) = (current, 2.0 * cos1 * current - previous);
        }
        (f64::from(self.level) * envelope * value / 2.0) as f32
    }

    /// The next 20 ms.
    pub fn next_frame(&mut self, out: &mut [f32; FRAME]) {
        for (i, sample) in out.iter_mut().enumerate() {
            *sample = self.sample(self.position + i as u64);
        }
        self.position += FRAME as u64;
    }
}

/// Adds `input` times `gain` into `mix`.
pub fn mix_into(mix: &mut [f32], input: &[f32], gain: f32) {
    for (m, x) in mix.iter_mut().zip(input) {
        *m += x * gain;
    }
}

/// Clipping protection after mixing: linear up to 0.8, then a soft knee that stays below 0.99.
pub fn limit(samples: &mut [f32]) {
    for s in samples.iter_mut() {
        let a = s.abs();
        if a > 0.8 {
            let over = a - 0.8;
            *s = s.signum() * (0.8 + 0.19 * (over / 0.19).tanh());
        }
    }
}

/// Mean square of the samples.
pub fn energy(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32
}

/// The highest normalised cross-correlation of `a` and `b` over lags `0..=max_lag` (b delayed
/// against a), with the lag where it is found.
pub fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> (f32, usize) {
    let mut best = (0.0f32, 0usize);
    for lag in 0..=max_lag.min(b.len()) {
        let n = a.len().min(b.len() - lag);
        if n == 0 {
            break;
        }
        let (x, y) = (&a[..n], &b[lag..lag + n]);
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let norm = (energy(x) * energy(y)).sqrt() * n as f32;
        if norm > 0.0 && dot / norm > best.0 {
            best = (dot / norm, lag);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(pitch: f32, frames: usize) -> Vec<f32> {
        let mut voice = Voice::new(pitch);
        let mut out = Vec::new();
        let mut frame = [0.0; FRAME];
        for _ in 0..frames {
            voice.next_frame(&mut frame);
            out.extend_from_slice(&frame);
        }
        out
    }

    /// Encode and decode `input`, losing the frames for which `lost` says so.
    fn through_opus(input: &[f32], lost: impl Fn(usize) -> bool) -> (Vec<f32>, Vec<usize>) {
        let mut encoder = OpusEncoder::new(32_000, 10).unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let packets: Vec<Vec<u8>> = input.chunks(FRAME).map(|f| encoder.encode(f).unwrap()).collect();
        let mut out = Vec::new();
        let mut frame = [0.0; FRAME];
        for (i, packet) in packets.iter().enumerate() {
            if lost(i) {
                match packets.get(i + 1).filter(|_| !lost(i + 1)) {
                    Some(next) => decoder.recover(next, &mut frame).unwrap(),
                    None => decoder.conceal(&mut frame).unwrap(),
                }
            } else {
                decoder.decode(packet, &mut frame).unwrap();
            }
            out.extend_from_slice(&frame);
        }
        (out, packets.iter().map(Vec::len).collect())
    }

    /// Correlation floor for decoded speech against what was said: Opus at 32 kbit/s keeps the
    /// waveform of this voice above 0.9; with 10 % loss, FEC and concealment keep it above 0.8.
    const FLOOR_CLEAN: f32 = 0.9;
    const FLOOR_LOSSY: f32 = 0.8;

    #[test]
    fn voice_round_trip_through_opus() {
        let input = speech(140.0, 150);
        let (output, sizes) = through_opus(&input, |_| false);
        let (correlation, lag) = best_correlation(&input, &output, 960);
        println!("clean: correlation {correlation:.3} at lag {lag}");
        assert!(correlation > FLOOR_CLEAN, "{correlation}");
        // About 32 kbit/s: 80 bytes a frame, 50 frames a second.
        let kbps = sizes.iter().sum::<usize>() as f32 * 8.0 / 3.0 / 1000.0;
        assert!((20.0..40.0).contains(&kbps), "{kbps} kbit/s");
        // Energy survives within a factor of two.
        let ratio = energy(&output) / energy(&input);
        assert!((0.5..2.0).contains(&ratio), "{ratio}");
    }

    #[test]
    fn ten_percent_loss_is_a_blip_not_a_gap() {
        let input = speech(200.0, 250);
        // Every tenth frame, and one pair, lost.
        let (output, _) = through_opus(&input, |i| i % 10 == 5 || i == 101);
        let (correlation, lag) = best_correlation(&input, &output, 960);
        println!("10 % loss: correlation {correlation:.3} at lag {lag}");
        assert!(correlation > FLOOR_LOSSY, "{correlation}");
        // No lost frame is silent where the voice was not.
        for i in (5..245).step_by(10) {
            let frame = &output[(i * FRAME + lag).min(output.len() - FRAME)..][..FRAME];
            let said = &input[i * FRAME..(i + 1) * FRAME];
            if energy(said) > 1e-3 {
                assert!(energy(frame) > energy(said) * 0.1, "frame {i} went silent");
            }
        }
    }

    #[test]
    fn voices_of_different_people_do_not_correlate() {
        let (a, b) = (speech(120.0, 100), speech(210.0, 100));
        assert!(best_correlation(&a, &b, 960).0 < 0.5);
        assert!(best_correlation(&a, &a, 0).0 > 0.999);
    }

    #[test]
    fn the_limiter_never_clips() {
        let mut loud: Vec<f32> = (0..1000).map(|i| (i as f32 / 100.0).sin() * 3.0).collect();
        limit(&mut loud);
        assert!(loud.iter().all(|s| s.abs() < 1.0));
        let mut quiet = vec![0.5, -0.7, 0.79];
        limit(&mut quiet);
        assert_eq!(quiet, [0.5, -0.7, 0.79]);
        let mut mix = vec![0.0; 4];
        mix_into(&mut mix, &[0.5, 0.5, -0.5, 1.0], 0.5);
        mix_into(&mut mix, &[0.5, 0.5, -0.5, 1.0], 1.0);
        assert_eq!(mix, [0.75, 0.75, -0.75, 1.5]);
    }
}
