//! Sound devices through cpal, at 48 kHz mono. The device callbacks touch only lock-free ring
//! buffers (ringbuf): capture pushes, playback pulls and plays silence on underrun. No
//! allocation, lock, log or system call happens inside a callback; errors set a flag that the
//! reading or writing thread turns into "device lost". A device that cannot run at 48 kHz runs
//! at the rate nearest to it, and the reading or writing thread converts (rubato's FFT
//! resampler, about 2 ms of delay).

use super::audio::{FRAME, SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, ErrorKind, FromSample, SampleFormat, SizedSample, Stream, StreamConfig};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Ring size: half a second, enough to ride out a busy moment of the reading thread.
const RING: usize = SAMPLE_RATE as usize / 2;
/// A device whose callback has not run for this long is taken for gone: some systems stall a
/// stream on unplugging rather than report an error.
const STALL: Duration = Duration::from_secs(2);

/// What a device's stream tells the thread that reads or writes it.
#[derive(Debug, Default)]
struct Health {
    /// The device failed or went away.
    failed: AtomicBool,
    /// Callbacks so far.
    callbacks: AtomicU64,
}

impl Health {
    /// The stream's error callback: the stream recovers from an underrun or overrun (and a
    /// change of route) by itself; any other error means the device is lost.
    fn on_error(self: Arc<Health>) -> impl FnMut(cpal::Error) + Send + 'static {
        move |error| {
            if !matches!(error.kind(), ErrorKind::Xrun | ErrorKind::DeviceChanged) {
                self.failed.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Notices a stream that stopped calling back.
struct Watchdog {
    seen: u64,
    since: Instant,
}

impl Watchdog {
    fn new() -> Watchdog {
        Watchdog { seen: 0, since: Instant::now() }
    }

    fn check(&mut self, health: &Health) -> Result<(), SoundError> {
        if health.failed.load(Ordering::Relaxed) {
            return Err(SoundError::Lost);
        }
        let callbacks = health.callbacks.load(Ordering::Relaxed);
        if callbacks != self.seen {
            (self.seen, self.since) = (callbacks, Instant::now());
        } else if self.since.elapsed() > STALL {
            return Err(SoundError::Stalled(STALL.as_secs()));
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum SoundError {
    #[error("no sound device {0:?}")]
    NoDevice(String),
    #[error("{device} offers no usable format ({detail})")]
    Format { device: String, detail: String },
    #[error("cannot convert {from} Hz to {to} Hz: {detail}")]
    Rate { from: u32, to: u32, detail: String },
    #[error("cannot start {device}: {detail}")]
    Start { device: String, detail: String },
    #[error("the device stopped: it was unplugged or taken by another program")]
    Lost,
    #[error("the device gave no sign of life for {0} s")]
    Stalled(u64),
}

/// Devices that can capture (`input`) or play, as (id, name).
pub fn devices(input: bool) -> Vec<(String, String)> {
    let host = cpal::default_host();
    let Ok(devices) = host.devices() else { return Vec::new() };
    devices
        .filter(|d| if input { d.supports_input() } else { d.supports_output() })
        .filter_map(|d| {
            let id = d.id().ok()?.to_string();
            let name = d.description().map(|n| n.name().to_string()).unwrap_or_else(|_| id.clone());
            Some((id, name))
        })
        .collect()
}

fn find(input: bool, id: &str) -> Result<Device, SoundError> {
    let host = cpal::default_host();
    if id.is_empty() {
        let device = if input { host.default_input_device() } else { host.default_output_device() };
        return device.ok_or_else(|| SoundError::NoDevice("default".into()));
    }
    host.devices()
        .map_err(|_| SoundError::NoDevice(id.into()))?
        .find(|d| {
            d.id().is_ok_and(|i| i.to_string() == id) || d.description().is_ok_and(|n| n.name() == id)
        })
        .ok_or_else(|| SoundError::NoDevice(id.into()))
}

/// Converts mono audio from one sample rate to another, in chunks of about 10 ms, outside the
/// device callbacks.
pub struct RateConverter {
    resampler: Fft<f32>,
    rates: (u32, u32),
    /// Input not yet converted.
    pending: Vec<f32>,
    /// One chunk of output.
    chunk: Vec<f32>,
}

impl RateConverter {
    pub fn new(from: u32, to: u32) -> Result<RateConverter, SoundError> {
        let chunk = (from as usize / 100).max(1);
        // Sub-chunks of about 3 ms keep the FFT, and so the delay, short.
        let resampler = Fft::<f32>::new(from as usize, to as usize, chunk, 3, 1, FixedSync::Input)
            .map_err(|e| SoundError::Rate { from, to, detail: e.to_string() })?;
        let chunk = vec![0.0; resampler.output_frames_max()];
        Ok(RateConverter { pending: Vec::with_capacity(4 * resampler.input_frames_max()), resampler, rates: (from, to), chunk })
    }

    /// Converts what `samples` completes and appends it to `out`; the rest waits for more.
    pub fn push(&mut self, samples: &[f32], out: &mut impl Extend<f32>) -> Result<(), SoundError> {
        let (from, to) = self.rates;
        let fail = |detail: String| SoundError::Rate { from, to, detail };
        self.pending.extend_from_slice(samples);
        let mut used = 0;
        let mut result = Ok(());
        while self.pending.len() - used >= self.resampler.input_frames_next() {
            let needed = self.resampler.input_frames_next();
            let frames = self.chunk.len();
            let input = InterleavedSlice::new(&self.pending[used..used + needed], 1, needed).map_err(|e| fail(e.to_string()))?;
            let mut output = InterleavedSlice::new_mut(&mut self.chunk, 1, frames).map_err(|e| fail(e.to_string()))?;
            match self.resampler.process_into_buffer(&input, &mut output, None) {
                Ok((taken, produced)) => {
                    out.extend(self.chunk[..produced].iter().copied());
                    used += taken;
                }
                Err(e) => {
                    // The chunk is dropped rather than kept to fail again.
                    used += needed;
                    result = Err(fail(e.to_string()));
                    break;
                }
            }
        }
        self.pending.drain(..used);
        result
    }

    /// Samples of delay the conversion adds, at the output rate.
    pub fn delay(&self) -> usize {
        self.resampler.output_delay()
    }
}

/// The device `id` (capture if `input`), its name, and the configuration to open it with.
fn prepare(input: bool, id: &str, rate: u32) -> Result<(Device, String, StreamConfig, SampleFormat), SoundError> {
    let device = find(input, id)?;
    let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| id.to_string());
    let (config, format) = config(&device, input, &name, rate)?;
    Ok((device, name, config, format))
}

/// A configuration the device offers, mono if it can, f32 or i16, at 48 kHz or else at the
/// rate nearest to it (`rate` asks for another).
fn config(device: &Device, input: bool, name: &str, rate: u32) -> Result<(StreamConfig, SampleFormat), SoundError> {
    let ranges: Vec<_> = if input {
        device.supported_input_configs().map(|r| r.collect()).unwrap_or_default()
    } else {
        device.supported_output_configs().map(|r| r.collect()).unwrap_or_default()
    };
    let mut usable: Vec<_> = ranges
        .into_iter()
        .filter(|r| matches!(r.sample_format(), SampleFormat::F32 | SampleFormat::I16))
        .filter_map(|r| {
            let nearest = rate.clamp(r.min_sample_rate(), r.max_sample_rate());
            r.try_with_sample_rate(nearest)
        })
        .collect();
    usable.sort_by_key(|c| (c.sample_rate().abs_diff(rate), c.channels(), c.sample_format() != SampleFormat::F32));
    let chosen = usable.first().ok_or_else(|| SoundError::Format { device: name.into(), detail: "neither f32 nor i16 samples".into() })?;
    let mut config: StreamConfig = chosen.config();
    config.buffer_size = cpal::BufferSize::Default;
    Ok((config, chosen.sample_format()))
}

/// A capture stream whose callback keeps the first channel, as f32, in the ring buffer; no
/// allocation there. Samples that do not fit are counted in `lost`.
fn input_stream<T: SizedSample>(
    device: &Device,
    config: StreamConfig,
    channels: usize,
    mut producer: HeapProd<f32>,
    lost: Arc<AtomicU64>,
    health: Arc<Health>,
) -> Result<Stream, cpal::Error>
where
    f32: FromSample<T>,
{
    let on_error = health.clone().on_error();
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            health.callbacks.fetch_add(1, Ordering::Relaxed);
            for frame in data.chunks(channels) {
                if producer.try_push(<f32 as FromSample<T>>::from_sample_(frame[0])).is_err() {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        },
        on_error,
        None,
    )
}

/// A playback stream whose callback plays the ring buffer's samples on every channel, and
/// silence when it runs dry; counts (silent samples, samples taken from the ring).
fn output_stream<T: SizedSample + FromSample<f32>>(
    device: &Device,
    config: StreamConfig,
    channels: usize,
    mut consumer: HeapCons<f32>,
    (short, taken): (Arc<AtomicU64>, Arc<AtomicU64>),
    health: Arc<Health>,
) -> Result<Stream, cpal::Error> {
    let on_error = health.clone().on_error();
    device.build_output_stream(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            health.callbacks.fetch_add(1, Ordering::Relaxed);
            let mut from_ring = 0;
            for frame in data.chunks_mut(channels) {
                let sample = match consumer.try_pop() {
                    Some(sample) => {
                        from_ring += 1;
                        sample
                    }
                    None => 0.0,
                };
                frame.fill(<T as FromSample<f32>>::from_sample_(sample.clamp(-1.0, 1.0)));
            }
            taken.fetch_add(from_ring, Ordering::Relaxed);
            short.fetch_add((data.len() / channels) as u64 - from_ring, Ordering::Relaxed);
        },
        on_error,
        None,
    )
}

/// The microphone: 20 ms frames of mono samples at 48 kHz.
pub struct Capture {
    pub name: String,
    /// The device's own rate.
    pub rate: u32,
    _stream: Stream,
    samples: HeapCons<f32>,
    /// From the device's rate to 48 kHz, when they differ: converted samples and scratch.
    converter: Option<(RateConverter, VecDeque<f32>, Vec<f32>)>,
    health: Arc<Health>,
    watchdog: Watchdog,
    /// Samples the callback could not store (the reader fell behind).
    pub overflows: Arc<AtomicU64>,
}

impl Capture {
    /// Opens the capture device `id` (empty: the system's default).
    pub fn open(id: &str) -> Result<Capture, SoundError> {
        Capture::open_at(id, SAMPLE_RATE)
    }

    /// Opens the capture device `id` at the rate nearest to `rate`, converting to 48 kHz.
    pub fn open_at(id: &str, rate: u32) -> Result<Capture, SoundError> {
        let (device, name, config, format) = prepare(true, id, rate)?;
        let rate = config.sample_rate;
        let converter = match rate {
            SAMPLE_RATE => None,
            _ => Some((RateConverter::new(rate, SAMPLE_RATE)?, VecDeque::with_capacity(4 * FRAME), vec![0.0; FRAME])),
        };
        let channels = usize::from(config.channels).max(1);
        let ring = RING * rate as usize / SAMPLE_RATE as usize;
        let (producer, samples): (HeapProd<f32>, HeapCons<f32>) = HeapRb::new(ring).split();
        let health = Arc::new(Health::default());
        let overflows = Arc::new(AtomicU64::new(0));
        let lost = overflows.clone();
        let start = |detail: String| SoundError::Start { device: name.clone(), detail };
        let stream = match format {
            SampleFormat::F32 => input_stream::<f32>(&device, config, channels, producer, lost, health.clone()),
            _ => input_stream::<i16>(&device, config, channels, producer, lost, health.clone()),
        }
        .map_err(|e| start(e.to_string()))?;
        stream.play().map_err(|e| start(e.to_string()))?;
        Ok(Capture { name, rate, _stream: stream, samples, converter, health, watchdog: Watchdog::new(), overflows })
    }

    /// Samples at 48 kHz ready to read.
    fn ready(&mut self) -> Result<usize, SoundError> {
        let Some((converter, converted, scratch)) = self.converter.as_mut() else {
            return Ok(self.samples.occupied_len());
        };
        loop {
            let n = self.samples.pop_slice(scratch);
            if n == 0 {
                return Ok(converted.len());
            }
            converter.push(&scratch[..n], converted)?;
        }
    }

    /// The next 20 ms, waiting at most `patience`. False when the device gave too little in time.
    pub fn read_frame(&mut self, out: &mut [f32; FRAME], patience: Duration) -> Result<bool, SoundError> {
        let deadline = Instant::now() + patience;
        while self.ready()? < FRAME {
            self.watchdog.check(&self.health)?;
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match self.converter.as_mut() {
            Some((_, converted, _)) => {
                for (o, s) in out.iter_mut().zip(converted.drain(..FRAME)) {
                    *o = s;
                }
                Ok(true)
            }
            None => Ok(self.samples.pop_slice(out) == FRAME),
        }
    }
}

/// The speaker: mono samples at 48 kHz in, played on every channel.
pub struct Playback {
    pub name: String,
    /// The device's own rate.
    pub rate: u32,
    _stream: Stream,
    samples: HeapProd<f32>,
    /// From 48 kHz to the device's rate, when they differ, and its output.
    converter: Option<(RateConverter, Vec<f32>)>,
    health: Arc<Health>,
    watchdog: Watchdog,
    /// Samples the device wanted and did not get (played as silence).
    pub underruns: Arc<AtomicU64>,
    /// Samples of ours the device has taken.
    pub played: Arc<AtomicU64>,
}

impl Playback {
    /// Opens the playback device `id` (empty: the system's default).
    pub fn open(id: &str) -> Result<Playback, SoundError> {
        Playback::open_at(id, SAMPLE_RATE)
    }

    /// Opens the playback device `id` at the rate nearest to `rate`, converting from 48 kHz.
    pub fn open_at(id: &str, rate: u32) -> Result<Playback, SoundError> {
        let (device, name, config, format) = prepare(false, id, rate)?;
        let rate = config.sample_rate;
        let converter = match rate {
            SAMPLE_RATE => None,
            _ => Some((RateConverter::new(SAMPLE_RATE, rate)?, Vec::with_capacity(2 * FRAME))),
        };
        let channels = usize::from(config.channels).max(1);
        let ring = RING * rate as usize / SAMPLE_RATE as usize;
        let (samples, consumer): (HeapProd<f32>, HeapCons<f32>) = HeapRb::new(ring).split();
        let health = Arc::new(Health::default());
        let underruns = Arc::new(AtomicU64::new(0));
        let played = Arc::new(AtomicU64::new(0));
        let counts = (underruns.clone(), played.clone());
        let start = |detail: String| SoundError::Start { device: name.clone(), detail };
        let stream = match format {
            SampleFormat::F32 => output_stream::<f32>(&device, config, channels, consumer, counts, health.clone()),
            _ => output_stream::<i16>(&device, config, channels, consumer, counts, health.clone()),
        }
        .map_err(|e| start(e.to_string()))?;
        stream.play().map_err(|e| start(e.to_string()))?;
        Ok(Playback { name, rate, _stream: stream, samples, converter, health, watchdog: Watchdog::new(), underruns, played })
    }

    /// Queues samples to play. When the device is slower than the queue grows, the newest that
    /// do not fit are dropped.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), SoundError> {
        self.watchdog.check(&self.health)?;
        match self.converter.as_mut() {
            Some((converter, converted)) => {
                converted.clear();
                converter.push(samples, converted)?;
                self.samples.push_slice(converted);
            }
            None => {
                self.samples.push_slice(samples);
            }
        }
        Ok(())
    }

    /// Samples queued and not yet played.
    pub fn queued(&self) -> usize {
        self.samples.occupied_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tone at `from` Hz through the converter, fed in uneven pieces: the output has the
    /// length the ratio says and is the same tone at the new rate.
    fn converts_a_tone(from: u32, to: u32) {
        let tone = |rate: u32, n: usize| -> Vec<f32> {
            (0..n).map(|i| (2.0 * std::f32::consts::PI * 997.0 * i as f32 / rate as f32).sin() * 0.5).collect()
        };
        let input = tone(from, from as usize);
        let mut converter = RateConverter::new(from, to).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(373) {
            converter.push(piece, &mut out).unwrap();
        }
        let expected = to as usize;
        assert!(out.len() <= expected && out.len() + 2 * (from as usize / 100) * to as usize / from as usize >= expected, "{from}->{to}: {} samples", out.len());
        let delay = converter.delay();
        assert!(delay < to as usize / 200, "{delay} samples of delay");
        // Past the delay, the same tone at the new rate, in phase within half a sample (the
        // delay is a whole number of samples only for some ratios). A tone at a wrong rate
        // drifts out of phase within milliseconds and correlates near zero over the second.
        let reference = tone(to, out.len() - delay);
        let (ahead, lag_ahead) = crate::media::audio::best_correlation(&out[delay..], &reference, 4);
        let (behind, lag_behind) = crate::media::audio::best_correlation(&reference, &out[delay..], 4);
        let (correlation, lag) = if ahead >= behind { (ahead, lag_ahead) } else { (behind, lag_behind) };
        assert!(correlation > 0.99 && lag <= 1, "{from}->{to}: correlation {correlation} at lag {lag}");
    }

    #[test]
    fn rates_convert_to_and_from_48_khz() {
        converts_a_tone(44_100, 48_000);
        converts_a_tone(48_000, 44_100);
        converts_a_tone(16_000, 48_000);
        converts_a_tone(48_000, 96_000);
    }

    #[test]
    fn a_missing_device_is_named_in_the_error() {
        let error = Capture::open("lanmeet-no-such-device").err().expect("no such device");
        assert_eq!(error.to_string(), "no sound device \"lanmeet-no-such-device\"");
        assert!(Playback::open("lanmeet-no-such-device").is_err());
    }
}
