//! The one crate that knows wasmtime well.
//!
//! It owns the [`Runtime`]: one wasmtime `Engine` per process with its machinery created once (the
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
mod warm;

pub use cache::{CacheProblem, check as check_compile_cache};
pub use egress::{HttpError, PeerCall, PeerResponse, Peers, WasiBody};
pub use engine::{Interrupt, LimitReport, Pooling, Runtime, RuntimeConfig};
pub use handler::{HandleError, HandlerOptions, InstanceReport};
pub use limits::{CpuTurns, LimitExceeded, Usage};
pub use load::{App, AppKind, CompileEvent, LoadError};
pub use run::{Exit, MAX_HANDLES, OutputSink, RunError, RunOptions, Stdin, Stdio};
pub use skiff_capabilities::ByteSize;
pub use skiff_capabilities::wasi::PreparedGrants;
pub use warm::WarmApps;

/// The sha256 of some bytes, as `sha256:<hex>`, the form OCI digests take.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
