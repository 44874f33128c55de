//! Link-time settings for the `skiff` binary.

fn main() {
    // Pack the binary's ~60k relative relocations (DT_RELR, glibc >= 2.36, binutils >= 2.38):
    // the dynamic loader then processes them in a fraction of the time, which is a visible part
    // of `skiff run`'s start.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
