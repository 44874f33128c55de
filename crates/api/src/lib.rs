//! The daemon's API: HTTP/JSON over a Unix socket. This crate holds the wire types that the CLI
//! and the daemon share, and [`Client`], the CLI's typed client. It has no wasmtime dependency
//! and no server code. `docs/api.md` documents the routes.

mod client;
#[doc(hidden)]
pub mod fuzzing;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use skiff_capabilities::{Grants, Limits};

pub use client::{Client, ClientError};

/// `POST /apps`: create an app and start it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateApp {
    /// Unique name; the daemon picks one when absent.
    pub name: Option<String>,
    /// An absolute path to a `.wasm`/`.wat` file, or an image reference.
    pub source: String,
    /// Arguments after `argv[0]`; `None` uses the image's defaults.
    pub args: Option<Vec<String>>,
    /// Grants from the command line (env, absolute host dirs); the daemon merges them onto an
    /// image's defaults exactly as `skiff run` does.
    pub grants: Grants,
    /// `--network image`: the destinations an image declares are added to `grants.network`.
    /// Without it an image's network list does not apply.
    #[serde(default)]
    pub accept_image_network: bool,
    /// Limits from the command line; each one given replaces the image's.
    pub limits: Limits,
    pub restart: RestartPolicy,
    /// For an HTTP handler: where it is served and its per-app HTTP limits.
    #[serde(default)]
    pub http: HttpConfig,
    /// Free-form `KEY=VALUE` metadata kept with the app and shown by `GET /apps`; the daemon does
    /// not interpret it. `skiff compose` finds its project's apps by `skiff.compose.project`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The other apps it may call in-process (`--link`; compose's `depends_on` and `links`).
    #[serde(default, skip_serializing_if = "Links::is_empty")]
    pub links: Links,
    /// Its health check (`--health-path`, `--health-port`; compose's `healthcheck`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheck>,
    /// `--rm`: removed, with its logs, once it has exited (a command without a restart policy).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_remove: bool,
    /// `--stop-timeout`: the seconds a stop waits for it to end when the stop names none
    /// (Docker's default, 10, when absent; compose's `stop_grace_period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// `skiff create`: saved as created, not started, until `POST /apps/{name}/start`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_start: bool,
    /// `--pull`: whether an image `source` is pulled first (`missing` when absent).
    #[serde(default, skip_serializing_if = "PullPolicy::is_missing")]
    pub pull: PullPolicy,
}

/// When an image is pulled before a run, as `docker run --pull`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Only if it is not in the store.
    #[default]
    Missing,
    /// Always: the registry's image under that name, even if one is stored.
    Always,
    /// Never: an image not in the store is an error.
    Never,
}

impl PullPolicy {
    pub fn is_missing(&self) -> bool {
        *self == PullPolicy::Missing
    }
}

impl FromStr for PullPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            _ => Err(format!(
                "invalid pull policy `{s}`: expected `missing`, `always` or `never`"
            )),
        }
    }
}

/// `POST /apps/{name}/update`: change an app's restart policy, limits or stop timeout, as
/// `docker update` does. Each field given replaces the app's (each limit separately); the
/// others are kept. The restart policy applies from the app's next exit; limits apply to an HTTP
/// app's next request and to a command's next run (the run in progress keeps those it started
/// with).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
}

/// An app's health check, with Docker's knobs (`docker run --health-*`, compose's
/// `healthcheck`). For an HTTP app, every `interval_ms` the daemon sends `GET path` to the app's
/// own handler in-process (no socket; the check's instance counts like a request, under the
/// app's limits) and counts 2xx and 3xx answers within `timeout_ms` as passing. For a command
/// that listens itself, `port` (one of its `-p` ports) makes the check a TCP connect to it, as
/// Docker's `nc -z localhost PORT`; `path` is then empty. After `retries` failures in a row the
/// app is `unhealthy`; failures within `start_period_ms` of its start do not count until a check
/// has passed, and while it is `starting` within that period the checks come every
/// `start_interval_ms` instead of `interval_ms` (Docker's `start_interval`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheck {
    /// The path (and query) requested, starting with `/`; empty for a TCP check.
    pub path: String,
    /// A TCP check of this port of a command app instead of a GET (absent in records and
    /// requests from before TCP checks: those are HTTP checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
    pub start_interval_ms: u64,
}

impl HealthCheck {
    /// What is checked, for messages: `GET /healthz` or `TCP connect to port 6379`.
    pub fn target(&self) -> String {
        match self.port {
            Some(port) => format!("TCP connect to port {port}"),
            None => format!("GET {}", self.path),
        }
    }
}

impl Default for HealthCheck {
    /// Docker's defaults: every 30 s, 30 s to answer, unhealthy after 3 failures, no start
    /// period (checks every 5 s within one).
    fn default() -> Self {
        HealthCheck {
            path: "/".into(),
            port: None,
            interval_ms: 30_000,
            timeout_ms: 30_000,
            retries: 3,
            start_period_ms: 0,
            start_interval_ms: 5_000,
        }
    }
}

/// What an app's health check says, as Docker's `State.Health.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No check has passed yet, and fewer than `retries` have failed (or only within the
    /// start period).
    Starting,
    /// The last check passed.
    Healthy,
    /// The last `retries` checks failed.
    Unhealthy,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        })
    }
}

/// An app's health: its check, and what the checks of its current start said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// Failed checks in a row (those counted: not within the start period before a pass).
    pub failing_streak: u32,
    /// Why the last failed check failed: the status and the start of the body, or a timeout.
    pub last_failure: Option<String>,
    /// When the last check ended (RFC 3339).
    pub last_check: Option<String>,
    pub check: HealthCheck,
}

/// The edges from an app to others of the same daemon: a request it sends over `wasi:http` to
/// `http://NAME/` (or `http://NAME.internal/`) goes straight to the linked app's handler, with no
/// socket, carrying the caller's name in a `skiff-caller` header the callee can trust.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Links {
    /// The name the app calls another by -> that app's name in the daemon.
    pub calls: BTreeMap<String, String>,
    /// Neighbours it may not call (compose: the project's other services) -> how to link one. A
    /// call to one is refused with that hint, never sent to DNS.
    pub refused: BTreeMap<String, String>,
}

impl Links {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.refused.is_empty()
    }
}

/// The in-process calls an app made to one name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallStats {
    /// The name it called.
    pub to: String,
    /// Calls answered by the linked app (whatever the status).
    pub requests: u64,
    /// Of those, answered with a 5xx status.
    pub errors: u64,
    /// Calls refused: a neighbour it was not linked to.
    pub refused: u64,
}

/// How an HTTP app (a `wasi:http/incoming-handler` component) is served by the daemon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Its own listeners (`-p [ADDR:]PORT`; the address defaults to 127.0.0.1).
    pub ports: Vec<String>,
    /// Routes on the daemon's shared gateway: `HOST/PATH`, `HOST` or `/PATH`.
    pub routes: Vec<String>,
    pub limits: HttpLimits,
    /// A Spin component's route (`/api/...`), from its image: its requests get Spin's headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spin_route: Option<String>,
    /// A Spin component's id and the components it may call (`http://self/` is its own
    /// routes), from its image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spin_component: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spin_calls: Vec<String>,
}

/// Per-app limits of an HTTP app, beyond the per-instance memory, CPU time and request timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpLimits {
    /// Instances alive at once; further requests wait up to `queue_timeout_ms`, then get 503.
    pub max_concurrency: u32,
    pub queue_timeout_ms: u64,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: u64,
    /// How long the handler may wait for the next piece of the request body; then the request
    /// ends with 408 (or its connection is closed) and its instance is freed.
    pub body_timeout_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_concurrency: 100,
            queue_timeout_ms: 1000,
            max_body_bytes: 10 << 20,
            body_timeout_ms: 10_000,
        }
    }
}

/// What an HTTP app has served: the figures a serverless bill is made of.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpStats {
    /// Requests routed to the app.
    pub requests: u64,
    /// Responses with status 5xx (handler failures, limits, overload).
    pub errors: u64,
    /// Requests refused with 503 because `max_concurrency` instances were busy.
    pub rejected: u64,
    /// Handler instances alive now.
    pub instances: u64,
    /// Instances created (one per request that reached the handler).
    pub invocations: u64,
    /// Latency to the response head, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Instance lifetime summed over invocations.
    pub wall_seconds: f64,
    /// CPU time of the handler instances.
    pub cpu_seconds: f64,
    /// Linear memory integrated over instance lifetime, in GB-seconds (10^9 byte-seconds).
    pub gb_seconds: f64,
}

/// When the daemon restarts an app that ended, as in Docker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "policy")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, a trap or a limit, at most `max_retries` times if set.
    OnFailure { max_retries: Option<u32> },
    /// Always restart, also after the daemon restarts, unless removed.
    Always,
    /// Like `always`, but not after a `skiff stop`, even across daemon restarts.
    UnlessStopped,
}

impl FromStr for RestartPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "no" => Ok(RestartPolicy::No),
            None if s == "always" => Ok(RestartPolicy::Always),
            None if s == "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            None if s == "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
            Some(("on-failure", n)) => n
                .parse()
                .map(|n| RestartPolicy::OnFailure {
                    max_retries: Some(n),
                })
                .map_err(|_| format!("invalid restart count `{n}` in `{s}`")),
            _ => Err(format!(
                "invalid restart policy `{s}`: expected `no`, `on-failure[:N]`, `always` or `unless-stopped`"
            )),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure { max_retries: None } => f.write_str("on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

/// Where an app is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    Running,
    /// An HTTP app taking requests (scaled to zero between them).
    Serving,
    /// Ended; waiting out the backoff before the policy restarts it.
    Restarting,
    Exited,
}

impl fmt::Display for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppState::Running => "running",
            AppState::Serving => "serving",
            AppState::Restarting => "restarting",
            AppState::Exited => "exited",
        })
    }
}

/// How one run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// RFC 3339.
    pub at: String,
    /// The exit status as `skiff run` would report it (134 trap, 137 memory, 152 CPU, 124 timeout).
    pub code: i32,
    /// `exited`, `trapped: ...`, `limit: ...`, `stopped`, `failed to start: ...`, `daemon died`.
    pub reason: String,
}

/// `GET /apps/{name}`: an app and its state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppInfo {
    pub name: String,
    pub source: String,
    pub digest: String,
    pub args: Vec<String>,
    pub grants: Grants,
    pub limits: Limits,
    pub restart: RestartPolicy,
    pub state: AppState,
    /// Whether the user wants it running (false after `stop`).
    pub desired_running: bool,
    pub restarts: u32,
    pub created: String,
    pub started_at: Option<String>,
    /// Most recent last.
    pub exits: Vec<ExitRecord>,
    /// CPU time used by the current run, in milliseconds.
    pub cpu_ms: u64,
    /// Linear memory of the current run, in bytes.
    pub memory_bytes: u64,
    /// For an HTTP app: where it is served and what it has served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpInfo>,
    /// For a command: where it may listen itself (`-p`), as `ADDR:PORT` (TCP) or
    /// `ADDR:PORT/udp`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// `skiff pause`: running, but none of its instances runs guest code until unpaused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// The labels it was created with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The apps it may call in-process.
    #[serde(default, skip_serializing_if = "Links::is_empty")]
    pub links: Links,
    /// Its in-process calls since the daemon started, by the name called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallStats>,
    /// Its health check and what it says, for an app given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The seconds a stop waits for it to end when the stop names none (`--stop-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
}

/// An HTTP app's listeners, routes, limits and figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpInfo {
    /// The addresses it listens on itself, as bound (`127.0.0.1:8081`).
    pub ports: Vec<String>,
    pub routes: Vec<String>,
    pub limits: HttpLimits,
    pub stats: HttpStats,
    /// A Spin app of several components: each one's id and Spin route (none: reached only by
    /// the app's other components, at `http://ID.spin.internal/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

/// `GET /info`: the daemon and where it listens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub version: String,
    /// The version of wasmtime the daemon runs apps on (absent from daemons before it was
    /// reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasmtime: Option<String>,
    pub root: String,
    /// The shared HTTP gateway's bound address, if it has one.
    pub gateway: Option<String>,
    /// The admin listener's bound address (Prometheus `GET /metrics`, the dashboard), if it
    /// has one.
    pub metrics: Option<String>,
    /// The dashboard's URL on the admin listener, if it has one (docs/dashboard.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    /// The token the dashboard asks for (owner-only in `<root>/daemon/admin-token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
}

/// One line of an app's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds.
    pub at: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub line: String,
}

/// A line of `POST /apps/{name}/start?attach=true`: the run's output, then how it ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Attached {
    /// The app's exit code, the stream's last line.
    End {
        exit_code: i32,
    },
    Line(LogLine),
}

/// Something that happened to an app (`GET /events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: String,
    pub app: String,
    /// `created`, `started`, `exited`, `restarted`, `oom`, `limit-exceeded`, `stopped`, `removed`,
    /// `health_status` (detail `healthy`, `unhealthy: REASON` or `starting`).
    pub kind: String,
    pub detail: String,
}

/// Every error response: a message naming the cause, and what to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub message: String,
    pub hint: Option<String>,
    /// The response's HTTP status, as the client read it (not in the body).
    #[serde(skip)]
    pub status: u16,
}

/// Query of `GET /apps/{name}/logs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogsQuery {
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines (of those selected by `since`).
    pub tail: Option<usize>,
    /// Only lines at or after this RFC 3339 time.
    pub since: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        for s in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
        ] {
            assert_eq!(s.parse::<RestartPolicy>().unwrap().to_string(), s);
        }
        assert!("sometimes".parse::<RestartPolicy>().is_err());
        assert!("on-failure:x".parse::<RestartPolicy>().is_err());
    }

    #[test]
    fn health_checks_from_before_tcp_checks_and_start_intervals_are_http_checks() {
        let old: HealthCheck = serde_json::from_str(
            r#"{"path":"/healthz","interval_ms":200,"timeout_ms":1000,"retries":2,"start_period_ms":0}"#,
        )
        .unwrap();
        assert_eq!(
            (old.path.as_str(), old.port, old.start_interval_ms),
            ("/healthz", None, 5000)
        );
        assert!(!serde_json::to_string(&old).unwrap().contains("port"));
        let tcp = HealthCheck {
            path: String::new(),
            port: Some(6379),
            ..HealthCheck::default()
        };
        let json = serde_json::to_string(&tcp).unwrap();
        assert_eq!(serde_json::from_str::<HealthCheck>(&json).unwrap(), tcp);
        assert_eq!(tcp.target(), "TCP connect to port 6379");
    }
}
