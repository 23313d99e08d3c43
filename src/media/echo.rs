//! Echo cancellation and noise suppression from SpeexDSP (Debian's libspeexdsp): the MDF
//! adaptive filter removes what the speaker put back into the microphone, and the preprocessor
//! suppresses the residual echo and steady noise. It works on 20 ms frames at 48 kHz; the
//! far-end (what is being played) must be given frame by frame alongside the capture.

use super::audio::{FRAME, SAMPLE_RATE};
use std::os::raw::{c_int, c_void};

#[repr(C)]
struct SpeexEchoState {
    _private: [u8; 0],
}

#[repr(C)]
struct SpeexPreprocessState {
    _private: [u8; 0],
}

#[link(name = "speexdsp")]
extern "C" {
    fn speex_echo_state_init(frame_size: c_int, filter_length: c_int) -> *mut SpeexEchoState;
    fn speex_echo_state_destroy(state: *mut SpeexEchoState);
    fn speex_echo_cancellation(state: *mut SpeexEchoState, captured: *const i16, played: *const i16, out: *mut i16);
    fn speex_echo_ctl(state: *mut SpeexEchoState, request: c_int, value: *mut c_void) -> c_int;
    fn speex_preprocess_state_init(frame_size: c_int, sampling_rate: c_int) -> *mut SpeexPreprocessState;
    fn speex_preprocess_state_destroy(state: *mut SpeexPreprocessState);
    fn speex_preprocess_run(state: *mut SpeexPreprocessState, samples: *mut i16) -> c_int;
    fn speex_preprocess_ctl(state: *mut SpeexPreprocessState, request: c_int, value: *mut c_void) -> c_int;
}

const SPEEX_ECHO_SET_SAMPLING_RATE: c_int = 24;
const SPEEX_PREPROCESS_SET_DENOISE: c_int = 0;
const SPEEX_PREPROCESS_SET_NOISE_SUPPRESS: c_int = 18;
const SPEEX_PREPROCESS_SET_ECHO_STATE: c_int = 24;

/// Length of the echo path the filter models: 200 ms covers a laptop in a room and the delay
/// between playing a frame and capturing its echo.
pub const ECHO_TAIL: usize = SAMPLE_RATE as usize / 5;
/// The filter runs on 10 ms blocks, two to a frame: it adapts twice as often.
const BLOCK: usize = FRAME / 2;

pub struct EchoCanceller {
    echo: *mut SpeexEchoState,
    pre: *mut SpeexPreprocessState,
    captured: [i16; FRAME],
    played: [i16; FRAME],
    out: [i16; FRAME],
}

// The states are only used through `&mut self`, from one thread at a time.
unsafe impl Send for EchoCanceller {}

fn to_i16(input: &[f32], out: &mut [i16; FRAME]) {
    for (o, x) in out.iter_mut().zip(input) {
        *o = (x.clamp(-1.0, 1.0) * 32767.0) as i16;
    }
}

impl EchoCanceller {
    /// `noise_suppression`: attenuation of steady noise in dB (0 turns it off; 15 to 25 is usual).
    pub fn new(noise_suppression: i32) -> EchoCanceller {
        // Safety: plain constructors of the library; each state is destroyed once, in Drop.
        unsafe {
            let echo = speex_echo_state_init(BLOCK as c_int, ECHO_TAIL as c_int);
            let mut rate = SAMPLE_RATE as c_int;
            speex_echo_ctl(echo, SPEEX_ECHO_SET_SAMPLING_RATE, (&raw mut rate).cast());
            let pre = speex_preprocess_state_init(BLOCK as c_int, SAMPLE_RATE as c_int);
            speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_ECHO_STATE, echo.cast());
            let mut denoise: c_int = c_int::from(noise_suppression > 0);
            speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_DENOISE, (&raw mut denoise).cast());
            let mut level: c_int = -noise_suppression.abs();
            speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, (&raw mut level).cast());
            EchoCanceller { echo, pre, captured: [0; FRAME], played: [0; FRAME], out: [0; FRAME] }
        }
    }

    /// Removes from `captured` the echo of `played` (the frame that went to the speaker at the
    /// same time), in place.
    pub fn process(&mut self, captured: &mut [f32; FRAME], played: &[f32; FRAME]) {
        to_i16(captured, &mut self.captured);
        to_i16(played, &mut self.played);
        for block in 0..FRAME / BLOCK {
            let at = block * BLOCK;
            // Safety: each pointer is BLOCK samples into a FRAME-sample buffer, the block size
            // the states were made for.
            unsafe {
                let out = self.out.as_mut_ptr().add(at);
                speex_echo_cancellation(self.echo, self.captured.as_ptr().add(at), self.played.as_ptr().add(at), out);
                speex_preprocess_run(self.pre, out);
            }
        }
        for (c, o) in captured.iter_mut().zip(&self.out) {
            *c = f32::from(*o) / 32768.0;
        }
    }
}

impl Drop for EchoCanceller {
    fn drop(&mut self) {
        // Safety: created in `new`, destroyed once.
        unsafe {
            speex_preprocess_state_destroy(self.pre);
            speex_echo_state_destroy(self.echo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::audio::{best_correlation, energy, Voice};
    use crate::proto::Jitter;

    /// A room: the far end's voice comes out of the speaker and back into the microphone 30 ms
    /// later, at a quarter of the amplitude and a little smeared; the near end talks for two
    /// seconds over it; the microphone adds a little noise.
    #[test]
    fn echo_return_loss_enhancement_after_convergence() {
        let seconds = 16;
        let frames = seconds * 50;
        let far_voice = Voice::new(190.0);
        let near_voice = Voice::new(115.0);
        let far: Vec<f32> = (0..frames * FRAME).map(|n| far_voice.sample(n as u64)).collect();
        let delay = SAMPLE_RATE as usize * 30 / 1000;
        let mut rng = Jitter::new(5);
        let echo: Vec<f32> = (0..far.len())
            .map(|n| {
                let at = |d: usize| if n >= d { far[n - d] } else { 0.0 };
                0.25 * (0.6 * at(delay) + 0.3 * at(delay + 7) + 0.1 * at(delay + 31))
            })
            .collect();
        // The near end talks from 12 s to 14 s (double talk with the far end).
        let near: Vec<f32> = (0..far.len())
            .map(|n| if (12 * SAMPLE_RATE as usize..14 * SAMPLE_RATE as usize).contains(&n) { near_voice.sample(n as u64) * 0.8 } else { 0.0 })
            .collect();
        let noise: Vec<f32> = (0..far.len()).map(|_| ((rng.next_u64() % 2001) as f32 - 1000.0) / 1000.0 * 0.001).collect();
        let mut canceller = EchoCanceller::new(15);
        let mut out = Vec::with_capacity(far.len());
        for f in 0..frames {
            let range = f * FRAME..(f + 1) * FRAME;
            let mut captured = [0.0f32; FRAME];
            for (i, n) in range.clone().enumerate() {
                captured[i] = echo[n] + near[n] + noise[n];
            }
            let played: [f32; FRAME] = far[range].try_into().unwrap();
            canceller.process(&mut captured, &played);
            out.extend_from_slice(&captured);
        }
        let second = SAMPLE_RATE as usize;
        // Echo only, once converged: 8 s to 12 s. (On this voice, with its pauses, the filter
        // needs about 6 s; it gains some 10 dB a second in between.)
        let span = 8 * second..12 * second;
        let per_second: Vec<String> = (0..12)
            .map(|s| s * second..(s + 1) * second)
            .map(|r| format!("{:.0}", 10.0 * (energy(&echo[r.clone()]) / energy(&out[r]).max(1e-12)).log10()))
            .collect();
        println!("ERLE second by second: {} dB", per_second.join(" "));
        let erle = 10.0 * (energy(&echo[span.clone()]) / energy(&out[span]).max(1e-12)).log10();
        println!("ERLE {erle:.1} dB");
        assert!(erle >= 20.0, "echo return loss enhancement {erle:.1} dB");
        // The near end's speech survives the double talk.
        let talk = 12 * second + second / 5..14 * second;
        let (correlation, lag) = best_correlation(&near[talk.clone()], &out[talk.clone()], 960);
        let kept = energy(&out[talk.clone()]) / energy(&near[talk]);
        println!("near-end speech during double talk: correlation {correlation:.2} (lag {lag}), energy kept {kept:.2}");
        assert!(correlation > 0.7, "near-end speech correlation {correlation}");
        assert!(kept > 0.3, "near-end speech energy kept {kept}");
    }
}
