//! What the WASI 0.3 programs in `examples/` share: writing to stdout and stderr through WASI
//! 0.3's streams (`wasi:cli/stdout@0.3.0`, `wasi:cli/stderr@0.3.0`), not through std, which
//! writes with WASI 0.2.

pub use wasip3;

/// Writes `bytes` to stdout and waits until the host has taken them.
pub async fn stdout(bytes: impl Into<Vec<u8>>) {
    let (mut tx, rx) = wasip3::wit_stream::new();
    let bytes = bytes.into();
    wasip3::spawn(async move {
        tx.write_all(bytes).await;
    });
    wasip3::cli::stdout::write_via_stream(rx)
        .await
        .expect("stdout is writable");
}

/// Writes `bytes` to stderr and waits until the host has taken them.
pub async fn stderr(bytes: impl Into<Vec<u8>>) {
    let (mut tx, rx) = wasip3::wit_stream::new();
    let bytes = bytes.into();
    wasip3::spawn(async move {
        tx.write_all(bytes).await;
    });
    wasip3::cli::stderr::write_via_stream(rx)
        .await
        .expect("stderr is writable");
}

/// Prints `error: MESSAGE` to stderr and exits with status 1.
pub async fn fail(message: impl std::fmt::Display) -> ! {
    stderr(format!("error: {message}\n")).await;
    wasip3::cli::exit::exit(Err(()));
    unreachable!("exit returned")
}
