//! The one crate that knows wasmtime well.
//!
//! It owns the [`Runtime`]: the wasmtime engines of a process, each with its machinery created once (the
//! epoch ticker, the linkers, the on-disk compile cache), loading a Wasm file into an [`App`]
//! (detecting core module vs component from the header, validating the world by type), and running
//! a command app under [`skiff_capabilities::Grants`] and [`skiff_capabilities::Limits`], returning
//! how it ended as an [`Exit`].
//!
//! It deliberately narrows wasmtime to what Skiff uses: WASI preview 1 command and reactor modules,
//! WASI 0.2 `wasi:cli/command` components, and `wasi:http/incoming-handler` components served with
//! a fresh instance per request, always driven asynchronously on tokio, so the same code can run
//! one app in the CLI or thousands in the daemon. It knows nothing of flags, manifests
//! or images: front ends resolve those into grants and limits first.

mod cache;
mod egress;
mod engine;
mod handler;
mod invoke;
mod limits;
mod load;
mod run;
mod spin;
mod tls;
mod warm;

pub use cache::{CacheProblem, Pruned, check as check_compile_cache, prune as prune_compile_cache};
pub use egress::{HttpError, PeerCall, PeerResponse, Peers, WasiBody};
pub use engine::{
    Codegen, Interrupt, LimitReport, PoolOptions, Pooling, Runtime, RuntimeConfig, StoreLimits,
    UnknownImports, Unlinked, WasmOptions,
};
pub use handler::{HandleError, HandlerOptions, InstanceReport};
pub use limits::{CPU_PERIOD, CpuRate, CpuTurns, LimitExceeded, Pause, Usage};
pub use load::{App, AppKind, CompileEvent, LoadError};
pub use run::{
    Exit, MAX_HANDLES, OutputSink, RunError, RunOptions, Stdin, Stdio, WASMTIME_MAX_HANDLES,
};
pub use skiff_capabilities::wasi::PreparedGrants;
pub use skiff_capabilities::{ByteSize, Limits};
pub use spin::trigger::keep_subscribed;
pub use spin::{
    KeyValueStores, MAX_DATABASE_BYTES, MAX_STORE_BYTES, SpinStores, SqliteDatabases, StoreFile,
};
pub use warm::WarmApps;
pub use wasmtime::{
    Collector, Enabled, Inlining, OptLevel, RegallocAlgorithm, Strategy, WasmFeatures,
};

/// The version of wasmtime Skiff runs on: the workspace pins it exactly (checked by a test), so
/// `skiff version` and the daemon can say which `wasmtime run` Skiff matches.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Errors that wasmtime builds and handles itself capture no backtrace, whatever
/// `RUST_BACKTRACE` says; panics still print theirs. wasmtime's error type captures one
/// (`std::backtrace::Backtrace::capture`) when the environment asks for it, and builds such
/// errors on hot paths: ending each WASI 0.3 instance builds one, and its capture cost a WASI 0.3
/// handler about 7 % of its CPU per request with `RUST_BACKTRACE=1`, a common setting in a
/// developer's shell. `RUST_LIB_BACKTRACE=0` (unless set already) turns that off; the first
/// capture caches the choice (std's `backtrace` module says so), and the variable is then removed
/// again, so that a guest given the host's environment (`-S inherit-env`) sees it as it was.
///
/// Call it first thing in `main`, before any other thread exists.
pub fn no_backtraces_in_errors() {
    const VAR: &str = "RUST_LIB_BACKTRACE";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    // SAFETY: called first in `main`, while the process has one thread: nothing reads or writes
    // the environment at the same time.
    unsafe { std::env::set_var(VAR, "0") };
    let _cached = std::backtrace::Backtrace::capture();
    // SAFETY: as above.
    unsafe { std::env::remove_var(VAR) };
}

/// The sha256 of some bytes, as `sha256:<hex>`, the form OCI digests take.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Runs blocking work without holding up the async worker it is called on (tokio's
/// `block_in_place` on a multi-threaded runtime, as the daemon's; directly elsewhere).
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    /// What `skiff version` reports is the wasmtime the workspace builds with.
    #[test]
    fn the_wasmtime_version_is_the_one_the_workspace_pins() {
        let manifest = include_str!("../../../Cargo.toml");
        let pin = format!("wasmtime = {{ version = \"={}\"", super::WASMTIME_VERSION);
        assert!(manifest.contains(&pin), "Cargo.toml lacks `{pin}`");
    }
}
