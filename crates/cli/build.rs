//! Link-time settings for the `skiff` binary.

fn main() {
    // A position-dependent executable: a PIE's ~60k relative relocations make the loader write
    // (copy-on-write) the whole 1 MiB of `.data.rel.ro` at every start, which was most of a
    // `skiff` command's 3.6 ms (now 1.4 ms). Without them those pages are mapped from the file
    // only when used. The cost is ASLR for the executable's own image (as Go's default linux
    // binaries, e.g. Docker's); libraries, heap, stacks and every guest's memory stay randomized,
    // and the guest sandbox does not rest on host address secrecy.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
