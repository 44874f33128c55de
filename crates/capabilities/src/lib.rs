//! Grants and limits: what an app may touch and how much it may use, as plain data.
//!
//! Every front end — `skiff run`, the daemon, the containerd shim — turns its flags or manifest into
//! the same [`Grants`] and [`Limits`], so a grant or a limit means the same thing everywhere.
//! Everything is denied by default: an empty [`Grants`] sees no directory, no environment variable
//! and no network destination; [`egress`] is the one rule that checks every outgoing connection. The parsers here accept Docker's spellings (`-v host:guest:ro`,
//! `--env-file`, `--memory 64m`) and their errors say what was expected.
//!
//! With the `wasi` feature, [`wasi`] turns grants into a `wasmtime_wasi::WasiCtxBuilder`; without
//! it this crate has no wasmtime dependency, so API and manifest types can carry grants around.
//! Limits are enforced by `skiff-runtime`, not here.

pub mod egress;
mod env;
mod grants;
mod limits;
#[cfg(feature = "wasi")]
pub mod nn;
#[cfg(feature = "wasi")]
pub mod wasi;

pub use env::{EnvError, parse_env_assignment, parse_env_file};
pub use grants::{
    DirGrant, Endpoint, Grants, LISTEN_HINT, Listen, NetworkFlag, NetworkPolicy, NnGrant, NnGraph,
    ParseGrantError, RedisChannel, SocketSwitches, dot_granted, granted_dir_of, parse_listen,
    parse_publish,
};
pub use limits::{ByteSize, Cpus, Limits, ParseLimitError, parse_duration};

/// An error and its causes on one line, `: `-separated, as the CLI prints them: the cause (a
/// disk's error, a missing library) is often what the user needs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
