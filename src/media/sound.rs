//! Sound devices through cpal, at 48 kHz mono. The device callbacks touch only lock-free ring
//! buffers (ringbuf): capture pushes, playback pulls and plays silence on underrun. No
//! allocation, lock, log or system call happens inside a callback; errors set a flag that the
//! reading or writing thread turns into "device lost".

use super::audio::{FRAME, SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, FromSample, SampleFormat, SizedSample, Stream, StreamConfig};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Ring size: half a second, enough to ride out a busy moment of the reading thread.
const RING: usize = SAMPLE_RATE as usize / 2;

#[derive(Debug, Error)]
pub enum SoundError {
    #[error("no sound device {0:?}")]
    NoDevice(String),
    #[error("{device} cannot run at 48 kHz ({detail})")]
    Format { device: String, detail: String },
    #[error("cannot start {device}: {detail}")]
    Start { device: String, detail: String },
    #[error("the device stopped: it was unplugged or taken by another program")]
    Lost,
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

/// A 48 kHz configuration the device offers: mono if it can, f32 or i16.
fn config(device: &Device, input: bool, name: &str) -> Result<(StreamConfig, SampleFormat), SoundError> {
    let ranges: Vec<_> = if input {
        device.supported_input_configs().map(|r| r.collect()).unwrap_or_default()
    } else {
        device.supported_output_configs().map(|r| r.collect()).unwrap_or_default()
    };
    let mut usable: Vec<_> = ranges
        .into_iter()
        .filter(|r| matches!(r.sample_format(), SampleFormat::F32 | SampleFormat::I16))
        .filter_map(|r| r.try_with_sample_rate(SAMPLE_RATE))
        .collect();
    usable.sort_by_key(|c| (c.channels(), c.sample_format() != SampleFormat::F32));
    let chosen = usable.first().ok_or_else(|| SoundError::Format { device: name.into(), detail: "no 48 kHz f32 or i16 format".into() })?;
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
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<Stream, cpal::Error>
where
    f32: FromSample<T>,
{
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
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
/// silence when it runs dry; counts (silent samples, samples taken).
fn output_stream<T: SizedSample + FromSample<f32>>(
    device: &Device,
    config: StreamConfig,
    channels: usize,
    mut consumer: HeapCons<f32>,
    (short, taken): (Arc<AtomicU64>, Arc<AtomicU64>),
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<Stream, cpal::Error> {
    device.build_output_stream(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            for frame in data.chunks_mut(channels) {
                let sample = consumer.try_pop().unwrap_or_else(|| {
                    short.fetch_add(1, Ordering::Relaxed);
                    0.0
                });
                frame.fill(<T as FromSample<f32>>::from_sample_(sample.clamp(-1.0, 1.0)));
            }
            taken.fetch_add((data.len() / channels) as u64, Ordering::Relaxed);
        },
        on_error,
        None,
    )
}

/// The microphone: 20 ms frames of mono samples.
pub struct Capture {
    pub name: String,
    _stream: Stream,
    samples: HeapCons<f32>,
    failed: Arc<AtomicBool>,
    /// Samples the callback could not store (the reader fell behind).
    pub overflows: Arc<AtomicU64>,
}

impl Capture {
    /// Opens the capture device `id` (empty: the system's default).
    pub fn open(id: &str) -> Result<Capture, SoundError> {
        let device = find(true, id)?;
        let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| id.to_string());
        let (config, format) = config(&device, true, &name)?;
        let channels = usize::from(config.channels).max(1);
        let (producer, samples): (HeapProd<f32>, HeapCons<f32>) = HeapRb::new(RING).split();
        let failed = Arc::new(AtomicBool::new(false));
        let overflows = Arc::new(AtomicU64::new(0));
        let (flag, lost) = (failed.clone(), overflows.clone());
        let on_error = move |_| flag.store(true, Ordering::Relaxed);
        let start = |detail: String| SoundError::Start { device: name.clone(), detail };
        let stream = match format {
            SampleFormat::F32 => input_stream::<f32>(&device, config, channels, producer, lost, on_error),
            _ => input_stream::<i16>(&device, config, channels, producer, lost, on_error),
        }
        .map_err(|e| start(e.to_string()))?;
        stream.play().map_err(|e| start(e.to_string()))?;
        Ok(Capture { name, _stream: stream, samples, failed, overflows })
    }

    /// The next 20 ms, waiting at most `patience`. False when the device gave too little in time.
    pub fn read_frame(&mut self, out: &mut [f32; FRAME], patience: Duration) -> Result<bool, SoundError> {
        let deadline = Instant::now() + patience;
        while self.samples.occupied_len() < FRAME {
            if self.failed.load(Ordering::Relaxed) {
                return Err(SoundError::Lost);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(self.samples.pop_slice(out) == FRAME)
    }
}

/// The speaker: mono samples in, played on every channel.
pub struct Playback {
    pub name: String,
    _stream: Stream,
    samples: HeapProd<f32>,
    failed: Arc<AtomicBool>,
    /// Samples the device wanted and did not get (played as silence).
    pub underruns: Arc<AtomicU64>,
    /// Samples the device has taken.
    pub played: Arc<AtomicU64>,
}

impl Playback {
    /// Opens the playback device `id` (empty: the system's default).
    pub fn open(id: &str) -> Result<Playback, SoundError> {
        let device = find(false, id)?;
        let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| id.to_string());
        let (config, format) = config(&device, false, &name)?;
        let channels = usize::from(config.channels).max(1);
        let (samples, consumer): (HeapProd<f32>, HeapCons<f32>) = HeapRb::new(RING).split();
        let failed = Arc::new(AtomicBool::new(false));
        let underruns = Arc::new(AtomicU64::new(0));
        let played = Arc::new(AtomicU64::new(0));
        let (flag, short, taken) = (failed.clone(), underruns.clone(), played.clone());
        let on_error = move |_| flag.store(true, Ordering::Relaxed);
        let start = |detail: String| SoundError::Start { device: name.clone(), detail };
        let stream = match format {
            SampleFormat::F32 => output_stream::<f32>(&device, config, channels, consumer, (short, taken), on_error),
            _ => output_stream::<i16>(&device, config, channels, consumer, (short, taken), on_error),
        }
        .map_err(|e| start(e.to_string()))?;
        stream.play().map_err(|e| start(e.to_string()))?;
        Ok(Playback { name, _stream: stream, samples, failed, underruns, played })
    }

    /// Queues samples to play. When the device is slower than the queue grows, the newest that
    /// do not fit are dropped.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), SoundError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(SoundError::Lost);
        }
        self.samples.push_slice(samples);
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

    #[test]
    fn a_missing_device_is_named_in_the_error() {
        let error = Capture::open("lanmeet-no-such-device").err().expect("no such device");
        assert_eq!(error.to_string(), "no sound device \"lanmeet-no-such-device\"");
        assert!(Playback::open("lanmeet-no-such-device").is_err());
    }
}
