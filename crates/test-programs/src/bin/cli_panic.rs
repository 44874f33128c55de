//! Calls the non-inlined function `deliberately_panics`, which panics with the message `boom`. The test expects a trap whose wasm backtrace names `deliberately_panics` and stderr containing `boom`.

#[inline(never)]
fn deliberately_panics(message: &str) -> ! {
    panic!("{}", std::hint::black_box(message));
}

fn main() {
    deliberately_panics(std::hint::black_box("boom"));
}
