//! Health checks, as Docker's `HEALTHCHECK`: while an app serves (or a command runs), one task
//! checks it every interval and keeps the status `starting | healthy | unhealthy` with the last
//! failure's reason. An HTTP app's check is `GET PATH` sent to its own handler in-process (no
//! socket, as a linked app's call: [`HttpApp::serve`], so the check's instance counts like a
//! request and the app's limits apply); a command's is a TCP connect to one of the ports it
//! listens on (`-p`), what Docker users write as `nc -z localhost PORT`. One check at a time.
//! The supervisor starts the task when it publishes the app (or starts a command's run), ends it
//! with the app (or the run), and records each change of status as an event.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use skiff_api::{Health, HealthCheck, HealthStatus};
use skiff_http::HttpApp;
use skiff_runtime::AppKind;

use crate::supervisor::Fail;

/// What a check asks.
pub enum Probe {
    /// `GET path` of an HTTP app's handler.
    Http(Arc<HttpApp>),
    /// A TCP connect to where a command listens.
    Tcp(SocketAddr),
}

/// How much of a failing answer's body its reason quotes.
const QUOTED_BODY: usize = 200;

/// A fresh status for a check: `starting`, nothing failed yet.
pub fn starting(check: &HealthCheck) -> Health {
    Health {
        status: HealthStatus::Starting,
        failing_streak: 0,
        last_failure: None,
        last_check: None,
        check: check.clone(),
    }
}

/// Refuses a check the daemon could not run on an app of this kind listening on `ports` (its
/// `-p` specs): an HTTP app is checked with a path, a command on one of its ports; a path that
/// is not one, or a zero interval or timeout (the CLI and compose refuse them first; this is for
/// other API clients).
pub fn validate(
    check: &HealthCheck,
    source: &str,
    kind: AppKind,
    ports: &[String],
) -> Result<(), Fail> {
    match (kind, check.port) {
        (AppKind::Http, Some(port)) => {
            return Err(Fail::new(
                400,
                format!(
                    "`{source}` is an HTTP handler: it is checked with a GET of a path answered by \
                     its handler, not a TCP connect to port {port}"
                ),
                Some(
                    "give `--health-path /healthz` (compose: `test: [\"CMD\", \"curl\", \"-f\", \
                     \"http://localhost/healthz\"]`)",
                ),
            ));
        }
        (AppKind::Http, None) => {
            if !check.path.starts_with('/')
                || check.path.parse::<http::uri::PathAndQuery>().is_err()
            {
                return Err(Fail::new(
                    400,
                    format!("invalid health check path `{}`", check.path),
                    Some("give a path such as `--health-path /healthz`"),
                ));
            }
        }
        (_, None) => {
            return Err(Fail::new(
                400,
                format!(
                    "`{source}` is a command, not an HTTP handler: it has no handler to answer a \
                     GET of `{}`",
                    check.path
                ),
                Some(
                    "check a port it listens on with `--health-port PORT` (one of its `-p` ports; \
                     Docker's `--health-cmd \"nc -z localhost PORT\"`), or drop the check: a \
                     command is healthy while it runs",
                ),
            ));
        }
        (_, Some(port)) => {
            if tcp_address(check, ports).is_none() {
                let listed = if ports.is_empty() {
                    "it has none".to_string()
                } else {
                    ports.join(", ")
                };
                return Err(Fail::new(
                    400,
                    format!(
                        "the health check's port {port} is not one `{source}` may listen on (`-p`: \
                         {listed})"
                    ),
                    Some("check a port the app listens on: give it with `-p PORT` as well"),
                ));
            }
        }
    }
    if check.interval_ms == 0 || check.timeout_ms == 0 || check.start_interval_ms == 0 {
        return Err(Fail::new(
            400,
            "a health check's interval, timeout and start interval must be longer than zero",
            Some("give durations such as `--health-interval 5s --health-timeout 2s`"),
        ));
    }
    Ok(())
}

/// Where a TCP check of a command connects: its `-p` address with the check's port, loopback
/// where it listens on every address.
pub fn tcp_address(check: &HealthCheck, ports: &[String]) -> Option<SocketAddr> {
    let port = check.port?;
    let mut addr = ports
        .iter()
        .filter_map(|spec| skiff_capabilities::parse_publish(spec))
        .find(|addr| addr.port() == port)?;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    Some(addr)
}

/// Counts one check's outcome into `health`, as Docker does: a pass makes it healthy and ends
/// the failing streak; a failure within the start period, before any pass, is not counted;
/// `retries` counted failures in a row make it unhealthy. Returns the new status if it changed.
pub fn observe(
    health: &mut Health,
    outcome: Result<(), String>,
    in_start_period: bool,
) -> Option<HealthStatus> {
    let before = health.status;
    health.last_check = Some(skiff_state::now());
    match outcome {
        Ok(()) => {
            health.failing_streak = 0;
            health.status = HealthStatus::Healthy;
        }
        Err(reason) => {
            health.last_failure = Some(reason);
            if !(in_start_period && health.status == HealthStatus::Starting) {
                health.failing_streak += 1;
                if health.failing_streak >= health.check.retries.max(1) {
                    health.status = HealthStatus::Unhealthy;
                }
            }
        }
    }
    (health.status != before).then_some(health.status)
}

/// One check, the error being the reason, for `skiff ps`/`inspect` and the event.
pub async fn probe(probe: &Probe, check: &HealthCheck) -> Result<(), String> {
    match probe {
        Probe::Http(app) => get(app, check).await,
        Probe::Tcp(addr) => connect(*addr, check).await,
    }
}

/// A TCP connection to `addr` accepted within the timeout (by the guest's listener, or its
/// backlog, as `nc -z` sees it), closed at once.
async fn connect(addr: SocketAddr, check: &HealthCheck) -> Result<(), String> {
    let timeout = Duration::from_millis(check.timeout_ms);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("TCP connect to {addr} failed: {e}")),
        Err(_) => Err(format!(
            "TCP connect to {addr} did not succeed within {timeout:?} (the check's timeout)"
        )),
    }
}

/// `GET path` to the app's handler, answered with 2xx or 3xx within the timeout.
async fn get(app: &Arc<HttpApp>, check: &HealthCheck) -> Result<(), String> {
    let request = http::Request::get(check.path.as_str())
        .header(http::header::HOST, "localhost")
        .header(http::header::USER_AGENT, "skiff-healthcheck")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {}: {e}", check.path))?;
    let timeout = Duration::from_millis(check.timeout_ms);
    let answer = async {
        let response = app.serve(request).await;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(());
        }
        // The start of the body says why; a larger or failing body is left unread.
        let body = match Limited::new(response.into_body(), 64 << 10).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let text = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BODY)])
            .trim()
            .to_string();
        Err(if text.is_empty() {
            format!("GET {} answered {status}", check.path)
        } else {
            format!("GET {} answered {status}: {text}", check.path)
        })
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(outcome) => outcome,
        // Dropping the future drops its instance: no check outlives its timeout.
        Err(_) => Err(format!(
            "GET {} did not answer within {timeout:?} (the check's timeout)",
            check.path,
        )),
    }
}

/// The checks of one start of an app (or run of a command), until the task is aborted, one
/// `interval` after each check ends (so never two at once; the first one `interval` after the
/// start), or `start_interval` while the app is `starting` within its start period, as Docker's.
/// `changed` is called with the health after each change of status.
pub async fn watch(
    probe: Probe,
    health: Arc<Mutex<Health>>,
    changed: impl Fn(&Health) + Send + 'static,
) {
    let check = health.lock().unwrap().check.clone();
    let started = tokio::time::Instant::now();
    let interval = Duration::from_millis(check.interval_ms);
    let start_interval = Duration::from_millis(check.start_interval_ms);
    let start_period = Duration::from_millis(check.start_period_ms);
    loop {
        let starting = health.lock().unwrap().status == HealthStatus::Starting;
        let wait = if starting && started.elapsed() < start_period {
            start_interval
        } else {
            interval
        };
        tokio::time::sleep(wait).await;
        let outcome = self::probe(&probe, &check).await;
        let in_start_period = started.elapsed() < start_period;
        let snapshot = {
            let mut health = health.lock().unwrap();
            observe(&mut health, outcome, in_start_period).map(|_| health.clone())
        };
        if let Some(snapshot) = snapshot {
            changed(&snapshot);
        }
    }
}

/// An event's detail for a status: `healthy`, `starting`, or `unhealthy: REASON`.
pub fn event_detail(health: &Health) -> String {
    match (health.status, &health.last_failure) {
        (HealthStatus::Unhealthy, Some(reason)) => format!("unhealthy: {reason}"),
        (status, _) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(retries: u32) -> Health {
        starting(&HealthCheck {
            path: "/healthz".into(),
            retries,
            ..HealthCheck::default()
        })
    }

    #[test]
    fn unhealthy_after_retries_failures_in_a_row_and_healthy_after_one_pass() {
        let mut h = health(3);
        let fail = || Err("GET /healthz answered 503".to_string());
        assert_eq!(observe(&mut h, fail(), false), None);
        assert_eq!(observe(&mut h, fail(), false), None);
        assert_eq!(
            observe(&mut h, fail(), false),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(h.failing_streak, 3);
        assert_eq!(event_detail(&h), "unhealthy: GET /healthz answered 503");
        assert_eq!(observe(&mut h, Ok(()), false), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
        // The reason stays for `inspect`; a pass ends the streak, so it starts over.
        assert!(h.last_failure.is_some());
        assert_eq!(observe(&mut h, fail(), false), None);
        assert_eq!(observe(&mut h, Ok(()), false), None);
    }

    #[test]
    fn failures_in_the_start_period_count_only_after_a_pass() {
        let mut h = health(1);
        let fail = || Err("down".to_string());
        for _ in 0..5 {
            assert_eq!(observe(&mut h, fail(), true), None);
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(observe(&mut h, Ok(()), true), Some(HealthStatus::Healthy));
        assert_eq!(observe(&mut h, fail(), true), Some(HealthStatus::Unhealthy));
    }

    #[test]
    fn an_http_app_is_checked_on_a_path_and_a_command_on_one_of_its_ports() {
        let check = |path: &str, port: Option<u16>, kind: AppKind, ports: &[&str]| {
            let ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
            let check = HealthCheck {
                path: path.into(),
                port,
                ..HealthCheck::default()
            };
            validate(&check, "app.wasm", kind, &ports).map(|()| tcp_address(&check, &ports))
        };
        assert!(check("/healthz?full=1", None, AppKind::Http, &[]).is_ok());
        for bad in ["healthz", "/a b", ""] {
            assert!(check(bad, None, AppKind::Http, &[]).is_err(), "{bad}");
        }
        let addr = |ports: &[&str]| check("", Some(6379), AppKind::Component, ports).unwrap();
        assert_eq!(
            addr(&["8080", "6379"]),
            Some("127.0.0.1:6379".parse().unwrap())
        );
        assert_eq!(
            addr(&["0.0.0.0:6379"]),
            Some("127.0.0.1:6379".parse().unwrap())
        );
        assert_eq!(addr(&["[::]:6379"]), Some("[::1]:6379".parse().unwrap()));
        let e = check("", Some(6379), AppKind::Component, &["8080"]).unwrap_err();
        assert!(
            e.error.message.contains("port 6379 is not one"),
            "{}",
            e.error.message
        );
        let e = check("/healthz", None, AppKind::Component, &["8080"]).unwrap_err();
        assert!(e.error.hint.unwrap().contains("--health-port"));
        assert!(check("", Some(8080), AppKind::Http, &["8080"]).is_err());
    }
}
