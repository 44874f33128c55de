//! The admin listener: Prometheus `GET /metrics` and the dashboard, a page in the browser
//! (docs/dashboard.md). The page's HTML, JS and CSS are compiled in, so it works offline; its
//! JSON and server-sent events come from the supervisor's own methods, the ones the API uses.
//! Nothing here is a second API: what the page may do is what `skiff` may do.
//!
//! Security (docs/dashboard.md): a request's `Host` must be `localhost` or an IP address (a
//! DNS-rebinding page's host is a name) unless it carries the token as a bearer; the dashboard needs the daemon's token (a cookie
//! set from `?token=`, or `Authorization: Bearer`), as `/metrics` does off loopback; a state
//! change is a POST with the page's CSRF token in a header, and a cross-site `Origin` is refused.

mod history;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt as _;
use serde::Serialize;
use skiff_api::{AppInfo, AppState, DaemonInfo, Event, ExitRecord, HealthStatus, LogsQuery};

use crate::api::{async_stream, log_lines};
use crate::supervisor::{Fail, Supervisor};
use history::{History, Sample};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Who may use the dashboard.
pub struct Access {
    /// The daemon's admin token (`<root>/daemon/admin-token`).
    pub token: String,
    /// Put in the page and required on each action; new at each daemon start.
    csrf: String,
    /// Whether the listener is on a loopback address, where `/metrics` needs no token.
    loopback: bool,
    /// The cookie that carries the token: named after the port, since browsers share cookies
    /// between the ports of one host.
    cookie: String,
}

impl Access {
    pub fn new(token: String, listener: SocketAddr) -> std::io::Result<Access> {
        Ok(Access {
            token,
            csrf: random_hex()?,
            loopback: listener.ip().is_loopback(),
            cookie: format!("skiff_token_{}", listener.port()),
        })
    }
}

/// The dashboard's address as a browser on this machine opens it.
pub fn url(listener: SocketAddr) -> String {
    let ip = match listener.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, listener.port()))
}

/// The daemon's admin token: read from `dir/admin-token`, or made (32 random bytes, hex) and
/// written there owner-only, so it outlives restarts and `skiff info` can show it.
pub fn token(dir: &Path) -> anyhow::Result<String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim();
        if token.len() >= 32 {
            return Ok(token.to_string());
        }
    }
    let token = random_hex().context("cannot read random bytes for the admin token")?;
    let temp = dir.join("admin-token.tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("cannot create `{}`", temp.display()))?;
    file.write_all(token.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, &path))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(token)
}

fn random_hex() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The rates the dashboard turns an app's meters into a bill with (`skiff daemon --prices`),
/// in the operator's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Prices {
    pub request: f64,
    pub cpu_second: f64,
    pub gb_second: f64,
}

#[derive(Clone)]
struct Dash {
    supervisor: Arc<Supervisor>,
    history: Arc<History>,
    root: PathBuf,
    access: Arc<Access>,
    prices: Option<Prices>,
}

type Shared = State<Dash>;

pub fn router(
    supervisor: Arc<Supervisor>,
    root: PathBuf,
    access: Access,
    prices: Option<Prices>,
) -> Router {
    let dash = Dash {
        history: History::start(&supervisor),
        supervisor,
        root,
        access: Arc::new(access),
        prices,
    };
    Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
        .route("/metrics", get(metrics))
        .route("/api/overview", get(overview))
        .route("/api/apps", get(apps))
        .route("/api/apps/{name}", get(detail))
        .route("/api/apps/{name}/logs", get(logs))
        .route("/api/apps/{name}/{action}", post(action))
        .route("/api/stream", get(stream))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page\n") })
        .layer(axum::middleware::from_fn_with_state(dash.clone(), guard))
        .with_state(dash)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("skiff: {message}\n")).into_response()
}

/// The checks every request passes before it is served (see the module's doc).
async fn guard(State(dash): Shared, request: Request, next: Next) -> Response {
    let access = &dash.access;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    // A rebinding page is a browser's, and a browser sends the token only as the cookie: a
    // request with the token in `Authorization` (Prometheus scraping `host:9090/metrics` by
    // name) knew it already, whatever its Host.
    let bearer = has_bearer(request.headers(), access);
    if !bearer && !host_allowed(host) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!(
                "the Host `{host}` is not this listener's: open it by address \
                 (http://127.0.0.1:PORT/, or the machine's IP), not by a DNS name"
            ),
        );
    }
    let open = request.uri().path() == "/metrics" && access.loopback;
    if !open {
        let query_token = request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .map(str::to_string)
        });
        if let Some(given) = query_token
            && request.uri().path() == "/"
            && same(&given, &access.token)
        {
            // The token leaves the address bar at once, kept in a cookie the browser sends
            // only to this listener's own pages (SameSite: no other site's page can use it).
            let cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict",
                access.cookie, access.token
            );
            return Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, "/")
                .header(header::SET_COOKIE, cookie)
                .body(Body::empty())
                .expect("a valid response");
        }
        if !bearer && !has_cookie(request.headers(), access) {
            if request.uri().path() == "/" {
                return secured(
                    (
                        StatusCode::UNAUTHORIZED,
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        LOGIN,
                    )
                        .into_response(),
                );
            }
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this listener needs the daemon's admin token: `skiff info` prints it; send \
                 `Authorization: Bearer TOKEN`, or open the dashboard with `skiff dashboard`",
            );
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let csrf = request
            .headers()
            .get("x-skiff-csrf")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let cross_site = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|origin| origin.split_once("://").map(|(_, h)| h) != Some(host));
        if cross_site || !same(csrf, &access.csrf) {
            return refuse(
                StatusCode::FORBIDDEN,
                "an action needs the dashboard page's CSRF token: reload the page and try again",
            );
        }
    }
    secured(next.run(request).await)
}

/// No framing (clickjacking), no sniffing, nothing loaded from elsewhere.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `localhost` or an IP address, with or without a port. A page that rebinds its own DNS name
/// to this address still sends its name as the Host, and is refused.
fn host_allowed(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.starts_with(':') => {
                return v6.parse::<std::net::Ipv6Addr>().is_ok()
                    && port.get(1..).is_none_or(valid_port);
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn valid_port(port: &str) -> bool {
    port.is_empty() || port.parse::<u16>().is_ok()
}

fn has_bearer(headers: &HeaderMap, access: &Access) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim(), &access.token))
}

fn has_cookie(headers: &HeaderMap, access: &Access) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == access.cookie && same(value, &access.token))
}

/// Compares secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

const LOGIN: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Skiff dashboard</title>
<link rel="stylesheet" href="/style.css"></head>
<body class="login"><main>
<h1>Skiff</h1>
<p>This dashboard needs the daemon's token. Open it with <code>skiff dashboard</code>, or paste
the token that <code>skiff info</code> prints:</p>
<form method="get" action="/"><input name="token" type="password" autocomplete="off"
 placeholder="token" autofocus><button type="submit">Open</button></form>
</main></body></html>
"#;

async fn index(State(dash): Shared) -> Response {
    let page = INDEX.replace("{{CSRF}}", &dash.access.csrf);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn metrics(State(dash): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        dash.supervisor.metrics(),
    )
        .into_response()
}

/// The daemon's own use.
#[derive(Serialize, PartialEq)]
struct DaemonUse {
    /// Resident memory of the daemon process.
    rss_bytes: u64,
    apps: usize,
    apps_per_gib: f64,
    /// Handler instances alive now, all apps together, and the pool's size.
    pool_in_use: u64,
    pool_size: u32,
}

fn daemon_use(supervisor: &Supervisor, apps: usize) -> DaemonUse {
    let rss_bytes = resident_bytes();
    let (pool_in_use, pool_size) = supervisor.pool();
    DaemonUse {
        rss_bytes,
        apps,
        apps_per_gib: if rss_bytes == 0 {
            0.0
        } else {
            (apps as f64 / (rss_bytes as f64 / (1u64 << 30) as f64)).round()
        },
        pool_in_use,
        pool_size,
    }
}

/// VmRSS of this process, from the kernel.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let kib = line.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?;
                kib.trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kib| kib * 1024)
}

#[derive(Serialize)]
struct Overview {
    info: DaemonInfo,
    daemon: DaemonUse,
    images: Vec<skiff_image::ImageSummary>,
}

async fn overview(State(dash): Shared) -> Result<Response, Fail> {
    let mut info = dash.supervisor.info_snapshot();
    info.admin_token = None;
    let apps = dash.supervisor.list(true).len();
    let root = dash.root.clone();
    let images = tokio::task::spawn_blocking(move || {
        skiff_image::Store::open(&root).and_then(|store| skiff_image::list_images(&store))
    })
    .await
    .map_err(Fail::internal)?
    .map_err(|e| Fail::internal(format!("cannot list the images: {e}")))?;
    Ok(axum::Json(Overview {
        info,
        daemon: daemon_use(&dash.supervisor, apps),
        images,
    })
    .into_response())
}

/// One row of the apps list.
#[derive(Serialize, PartialEq)]
struct AppSummary {
    name: String,
    image: String,
    /// `http` or `command`.
    kind: &'static str,
    state: AppState,
    started_at: Option<String>,
    restarts: u32,
    ports: Vec<String>,
    routes: Vec<String>,
    /// For a running app with a health check, what the check says: `starting`, `healthy` or
    /// `unhealthy`. Otherwise `healthy`, `errors` (over 5 % of its responses 5xx), `failing`
    /// (restarting), `failed` (its last run ended badly) or `stopped`.
    health: &'static str,
    /// Why its health check last failed, while it is `unhealthy` or `starting`.
    health_reason: Option<String>,
    requests: u64,
    errors: u64,
    last_exit: Option<ExitRecord>,
}

fn summary(app: AppInfo) -> AppSummary {
    let last_exit = app.exits.last().cloned();
    let (requests, errors) = app
        .http
        .as_ref()
        .map_or((0, 0), |h| (h.stats.requests, h.stats.errors));
    let checked = app
        .health
        .as_ref()
        .filter(|_| matches!(app.state, AppState::Running | AppState::Serving));
    let health_reason = checked
        .filter(|h| h.status != HealthStatus::Healthy)
        .and_then(|h| h.last_failure.clone());
    let health = match (app.state, checked.map(|h| h.status)) {
        (_, Some(HealthStatus::Starting)) => "starting",
        (_, Some(HealthStatus::Healthy)) => "healthy",
        (_, Some(HealthStatus::Unhealthy)) => "unhealthy",
        (AppState::Restarting, None) => "failing",
        (AppState::Running | AppState::Serving, None) if errors * 20 > requests => "errors",
        (AppState::Running | AppState::Serving, None) => "healthy",
        (AppState::Exited, None) => match &last_exit {
            Some(exit) if exit.code != 0 && exit.reason != "stopped" => "failed",
            _ => "stopped",
        },
    };
    let (ports, routes) = app
        .http
        .as_ref()
        .map_or_else(Default::default, |h| (h.ports.clone(), h.routes.clone()));
    AppSummary {
        kind: if app.http.is_some() {
            "http"
        } else {
            "command"
        },
        image: app.source,
        state: app.state,
        started_at: app.started_at.filter(|_| app.state != AppState::Exited),
        restarts: app.restarts,
        ports,
        routes,
        health,
        health_reason,
        requests,
        errors,
        last_exit,
        name: app.name,
    }
}

fn summaries(supervisor: &Supervisor) -> Vec<AppSummary> {
    supervisor.list(true).into_iter().map(summary).collect()
}

async fn apps(State(dash): Shared) -> Response {
    axum::Json(summaries(&dash.supervisor)).into_response()
}

#[derive(Serialize)]
struct Detail {
    app: AppInfo,
    /// Its most recent events, oldest first.
    events: Vec<Event>,
    /// The last hour, one sample per `period_s` in which something happened.
    samples: Vec<Sample>,
    period_s: u64,
    /// The rates its bill is priced at, if the daemon was given any.
    prices: Option<Prices>,
}

/// How many of an app's events its page shows.
const EVENTS_SHOWN: usize = 50;

async fn detail(State(dash): Shared, UrlPath(name): UrlPath<String>) -> Result<Response, Fail> {
    let (app, _) = dash.supervisor.get(&name)?;
    let mut events: Vec<Event> = dash
        .supervisor
        .events_after(0)?
        .into_iter()
        .filter(|e| e.app == name)
        .collect();
    let skip = events.len().saturating_sub(EVENTS_SHOWN);
    events.drain(..skip);
    Ok(axum::Json(Detail {
        app,
        events,
        samples: dash.history.samples(&name),
        period_s: history::PERIOD.as_secs(),
        prices: dash.prices,
    })
    .into_response())
}

/// Start, stop, restart or remove: the supervisor's own methods, as `skiff` calls them.
async fn action(
    State(dash): Shared,
    UrlPath((name, action)): UrlPath<(String, String)>,
) -> Result<Response, Fail> {
    let supervisor = &dash.supervisor;
    // The app's own stop timeout, as `skiff stop` without `-t`.
    let grace = None;
    let info = match action.as_str() {
        "start" => supervisor.start(&name).await?,
        "stop" => supervisor.stop(&name, grace).await?,
        "restart" => supervisor.restart(&name, grace).await?,
        "remove" => {
            supervisor.remove(&name, true).await?;
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        _ => {
            return Err(Fail::new(
                404,
                format!("no action `{action}`"),
                Some("the actions are start, stop, restart and remove"),
            ));
        }
    };
    Ok(axum::Json(info).into_response())
}

fn sse(
    stream: impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

fn sse_message<T: Serialize>(event: &str, value: &T) -> Bytes {
    let data = serde_json::to_string(value).expect("dashboard types serialize");
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// How often the apps list is sent again (only if it changed) while a page is open.
const REFRESH: Duration = Duration::from_secs(1);

/// The page's live feed: the apps list and the daemon's use when they change (checked each
/// second, and at once on an app's event), and each event as it happens.
async fn stream(State(dash): Shared) -> Response {
    let supervisor = dash.supervisor.clone();
    let mut events = supervisor.events.subscribe();
    let feed = async_stream(move |tx| async move {
        let mut tick = tokio::time::interval(REFRESH);
        let mut sent_apps = Vec::new();
        let mut sent_use = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                event = events.recv() => match event {
                    Ok(event) => {
                        if tx.send(sse_message("event", &event)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
            let apps = summaries(&supervisor);
            let used = daemon_use(&supervisor, apps.len());
            if apps != sent_apps {
                if tx.send(sse_message("apps", &apps)).await.is_err() {
                    return;
                }
                sent_apps = apps;
            }
            if sent_use.as_ref() != Some(&used) {
                if tx.send(sse_message("daemon", &used)).await.is_err() {
                    return;
                }
                sent_use = Some(used);
            }
        }
    });
    sse(feed.map(Ok))
}

/// How many stored lines the page starts with before following.
const LOG_TAIL: usize = 200;

/// The app's last lines, then each new one as it is written, stdout and stderr told apart.
async fn logs(State(dash): Shared, UrlPath(name): UrlPath<String>) -> Result<Response, Fail> {
    let (_, slot) = dash.supervisor.get(&name)?;
    let query = LogsQuery {
        follow: true,
        tail: Some(LOG_TAIL),
        since: None,
    };
    // Unlike `skiff logs -f`, the page keeps following across a restart.
    let lines = log_lines(&slot, &query, false);
    Ok(sse(lines.map(|line| Ok(sse_message("line", &line)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_and_localhost_are_hosts() {
        for host in [
            "127.0.0.1:9090",
            "localhost:9090",
            "LOCALHOST",
            "10.1.2.3:80",
            "[::1]:9090",
            "[::1]",
        ] {
            assert!(host_allowed(host), "{host}");
        }
        for host in [
            "",
            "evil.example:9090",
            "127.0.0.1.nip.io:9090",
            "localhost.evil.example",
            "[::1]x",
            "127.0.0.1:port",
        ] {
            assert!(!host_allowed(host), "{host}");
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("ab", "abc"));
    }

    #[test]
    fn the_dashboard_url_is_on_loopback_for_an_unspecified_listener() {
        assert_eq!(
            url("0.0.0.0:9090".parse().unwrap()),
            "http://127.0.0.1:9090/"
        );
        assert_eq!(url("10.0.0.2:80".parse().unwrap()), "http://10.0.0.2:80/");
    }
}
