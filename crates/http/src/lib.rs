//! Serving `wasi:http` apps, the same way for `skiff serve` and for the daemon: listeners (one app
//! on its own port, or the shared gateway routing by `Host` and path), each app's limits (instances
//! at once with a short bounded queue, within the host's [`Bounds`] for one app; request body size
//! and read timeout; per-instance memory, CPU time and request timeout, with defaults, enforced by
//! the runtime), and per-app metering exposed as stats and Prometheus text.
//! A fresh instance per request comes from [`skiff_runtime::App::handle`].

mod app;
#[doc(hidden)]
pub mod fuzzing;
mod routes;
mod server;
mod spin;
mod stats;

pub use app::{
    Bounds, Component, DEFAULT_HANDLER_MEMORY, DEFAULT_MAX_REQUEST_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT, HttpApp, Loader, ResponseBody, error_response,
};
pub use routes::{Route, RouteError, RouteTable};
pub use server::{CALLER_HEADER, Target, fd_hard_limit, raise_fd_limit, serve, serve_at_most};
pub use spin::SpinRoute;
pub use stats::{Stats, escape_label, quantile_ms, render_prometheus};
