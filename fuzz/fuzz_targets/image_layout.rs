#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_image::fuzzing::image_layout(data));
