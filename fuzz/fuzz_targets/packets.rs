//! Packet bytes through decode, track, explain and every renderer
//! (see `wirelab::fuzzing::packets` for the input format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelab::fuzzing::packets(data));
