//! Whole capture files through replay (`wirelab::fuzzing::replay`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelab::fuzzing::replay(data));
