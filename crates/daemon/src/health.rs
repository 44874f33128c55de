//! Health checks of HTTP apps, as Docker's `HEALTHCHECK`: while an app serves, one task sends
//! `GET PATH` to its own handler every interval, in-process (no socket, as a linked app's call:
//! [`HttpApp::serve`], so the check's instance counts like a request and the app's limits apply),
//! one check at a time, and keeps the status `starting | healthy | unhealthy` with the last
//! failure's reason. The supervisor starts the task when it publishes the app, ends it with
//! the app, and records each change of status as an event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use skiff_api::{Health, HealthCheck, HealthStatus};
use skiff_http::HttpApp;

use crate::supervisor::Fail;

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

/// Refuses a check the daemon could not run: a path that is not one, or a zero interval or
/// timeout (the CLI and compose refuse them first; this is for other API clients).
pub fn validate(check: &HealthCheck) -> Result<(), Fail> {
    let hint = Some("give a path such as `--health-path /healthz`");
    if !check.path.starts_with('/') || check.path.parse::<http::uri::PathAndQuery>().is_err() {
        return Err(Fail::new(
            400,
            format!("invalid health check path `{}`", check.path),
            hint,
        ));
    }
    if check.interval_ms == 0 || check.timeout_ms == 0 {
        return Err(Fail::new(
            400,
            "a health check's interval and timeout must be longer than zero",
            Some("give durations such as `--health-interval 5s --health-timeout 2s`"),
        ));
    }
    Ok(())
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

/// One check: `GET path` to the app's handler, answered with 2xx or 3xx within the timeout.
/// The error is the reason, for `skiff ps`/`inspect` and the event.
pub async fn probe(app: &Arc<HttpApp>, check: &HealthCheck) -> Result<(), String> {
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

/// The checks of one start of an app, until the task is aborted: the first `interval` after the
/// start (as Docker's), then one `interval` after each check ends, so never two at once.
/// `changed` is called with the health after each change of status.
pub async fn watch(
    app: Arc<HttpApp>,
    health: Arc<Mutex<Health>>,
    changed: impl Fn(&Health) + Send + 'static,
) {
    let check = health.lock().unwrap().check.clone();
    let started = tokio::time::Instant::now();
    let interval = Duration::from_millis(check.interval_ms);
    let start_period = Duration::from_millis(check.start_period_ms);
    loop {
        tokio::time::sleep(interval).await;
        let outcome = probe(&app, &check).await;
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
    fn paths_are_checked() {
        let check = |path: &str| {
            validate(&HealthCheck {
                path: path.into(),
                ..HealthCheck::default()
            })
        };
        assert!(check("/healthz?full=1").is_ok());
        for bad in ["healthz", "/a b", ""] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
