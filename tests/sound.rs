//! The real cpal code path with no sound card: ALSA's `null` device (alsa-lib's own plugin,
//! present on every Debian system) captures silence and discards what it plays. It is not paced
//! like a sound card (capture delivers as fast as it is asked), so these tests check the path
//! and the ring buffers' policies, not timing. The callbacks run in cpal's threads and reach us
//! only through the ring buffers.

use lanmeet::media::audio::FRAME;
use lanmeet::media::sound::{devices, Capture, Playback};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const NULL: &str = "alsa:null";

#[test]
fn the_null_device_is_listed_both_ways() {
    assert!(devices(true).iter().any(|(id, _)| id == NULL), "{:?}", devices(true));
    assert!(devices(false).iter().any(|(id, _)| id == NULL), "{:?}", devices(false));
}

#[test]
fn capture_delivers_silent_frames_and_drops_what_the_reader_cannot_take() {
    let mut capture = Capture::open(NULL).expect("open ALSA's null device for capture");
    let mut frame = [1.0f32; FRAME];
    let start = Instant::now();
    let mut frames = 0;
    while start.elapsed() < Duration::from_secs(1) {
        if capture.read_frame(&mut frame, Duration::from_millis(200)).unwrap() {
            frames += 1;
        }
    }
    // At least a real device's 50 frames a second, all silent.
    assert!(frames >= 40, "{frames} frames in a second");
    assert!(frame.iter().all(|s| *s == 0.0));
    // Stop reading: the callback keeps running and counts what no longer fits.
    let before = capture.overflows.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(700));
    assert!(capture.overflows.load(Ordering::Relaxed) > before);
}

#[test]
fn playback_takes_samples_and_fills_gaps_with_silence() {
    let mut playback = Playback::open(NULL).expect("open ALSA's null device for playback");
    let tone: Vec<f32> = (0..FRAME).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < Duration::from_secs(1) {
        playback.write(&tone).unwrap();
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let played = playback.played.load(Ordering::Relaxed);
    assert!(played >= 30_000, "the device took {played} samples in a second");
    // We kept up: little of what it took was silence, and nothing piled up.
    assert!(playback.queued() <= 10 * FRAME, "{} samples queued", playback.queued());
    // Then we stop writing: it plays silence rather than stopping.
    let before = playback.underruns.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    assert!(playback.underruns.load(Ordering::Relaxed) > before);
}

#[test]
fn a_device_at_another_rate_is_converted_to_and_from_48_khz() {
    let mut capture = Capture::open_at(NULL, 44_100).expect("open the null device at 44.1 kHz");
    assert_eq!(capture.rate, 44_100);
    let mut frame = [1.0f32; FRAME];
    let mut frames = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        if capture.read_frame(&mut frame, Duration::from_millis(200)).unwrap() {
            frames += 1;
        }
    }
    assert!(frames >= 20, "{frames} frames in half a second");
    assert!(frame.iter().all(|s| s.abs() < 1e-6), "silence stays silence through the converter");

    let mut playback = Playback::open_at(NULL, 44_100).expect("open the null device at 44.1 kHz");
    assert_eq!(playback.rate, 44_100);
    let tone: Vec<f32> = (0..FRAME).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let start = Instant::now();
    let mut next = start;
    let mut written = 0;
    while start.elapsed() < Duration::from_secs(1) {
        playback.write(&tone).unwrap();
        written += FRAME;
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // Let the ring drain.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(playback.queued(), 0);
    let from_us = playback.played.load(Ordering::Relaxed);
    // What reached the device is at its own rate: 44.1 samples for each 48 of ours, less what
    // waits in the converter for a whole chunk (under 10 ms).
    let expected = written as f64 * 44_100.0 / 48_000.0;
    assert!(from_us as f64 <= expected + 1.0 && from_us as f64 > expected - 441.0, "{from_us} samples for {expected}");
}
