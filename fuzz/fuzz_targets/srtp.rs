#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lanmeet::fuzzing::srtp(data));
