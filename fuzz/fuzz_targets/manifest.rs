#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_manifest::fuzzing::manifest(data));
