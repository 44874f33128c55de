//! Health checks end to end (issues 11 and 13): an HTTP app's check run by a real daemon as a GET
//! answered by the app's own handler, a command's as a TCP connect to a port it listens on, their
//! status in `skiff ps`, the API, the events and the dashboard's JSON, Docker's `start_interval`,
//! and compose's `healthcheck` and `service_healthy`.

use std::path::Path;
use std::time::Duration;

use skiff_test_programs_artifacts::{
    P1_CLI_SLEEP, P2_HTTP_HELLO, P2_HTTP_READY_AFTER, P2_TCP_KV_SERVER,
};

use crate::daemon::Daemon;
use crate::support::{Outcome, free_port, path_str, write_file};

fn health(app: &serde_json::Value) -> &str {
    app["health"]["status"].as_str().unwrap_or("none")
}

/// The `health_status` events of `app`, their details in order.
fn health_events(daemon: &Daemon, app: &str) -> Vec<String> {
    let out = daemon.run(&["events", "--since-start", "--no-follow", "--format", "json"]);
    out.success();
    out.stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|e| e["app"] == app && e["kind"] == "health_status")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect()
}

/// The requests an `http_ready_after` app has counted in its state directory.
fn requests_counted(state: &Path) -> u64 {
    std::fs::read_to_string(state.join("requests")).map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn a_passing_check_shows_healthy_in_ps_and_the_api() {
    let daemon = Daemon::start();
    daemon
        .run_d(
            "web",
            &[
                "-p",
                "0",
                "--health-path",
                "/healthz",
                "--health-interval",
                "200ms",
                P2_HTTP_HELLO,
            ],
        )
        .success();
    let app = daemon.wait_for("web", "healthy", |a| health(a) == "healthy");
    let check = &app["health"]["check"];
    assert_eq!(check["path"], "/healthz");
    // What was given, and Docker's defaults for the rest.
    assert_eq!(
        (
            &check["interval_ms"],
            &check["timeout_ms"],
            &check["retries"],
            &check["start_period_ms"]
        ),
        (
            &serde_json::json!(200),
            &serde_json::json!(30_000),
            &serde_json::json!(3),
            &serde_json::json!(0)
        )
    );
    assert_eq!(app["health"]["failing_streak"], 0);
    // A check is a request to the handler, counted as one.
    assert!(
        app["http"]["stats"]["requests"].as_u64().unwrap() >= 1,
        "{app:#}"
    );
    daemon
        .run(&["ps"])
        .success()
        .stdout_has("STATUS")
        .stdout_has("serving (healthy)");
    daemon
        .run(&["inspect", "web"])
        .success()
        .stdout_has("GET /healthz every 200ms, timeout 30s, 3 retries")
        .stdout_has("Health:   healthy");
    assert_eq!(health_events(&daemon, "web"), ["healthy"]);
    // Docker's form of the flag checks the same path; an app without a check shows none.
    daemon
        .run_d(
            "docker-style",
            &[
                "-p",
                "0",
                "--health-cmd",
                "curl -f http://localhost/ready || exit 1",
                P2_HTTP_HELLO,
            ],
        )
        .success();
    assert_eq!(
        daemon.app("docker-style")["health"]["check"]["path"],
        "/ready"
    );
    daemon.run_d("plain", &["-p", "0", P2_HTTP_HELLO]).success();
    assert_eq!(health(&daemon.app("plain")), "none");
    let ps = daemon.run(&["ps"]);
    let plain = ps.stdout.lines().find(|l| l.starts_with("plain")).unwrap();
    assert!(!plain.contains('('), "{plain}");

    // The check is kept with the app: after the daemon dies, the app comes back checked.
    let mut daemon = daemon;
    daemon.restart_after_kill();
    let app = daemon.wait_for("web", "healthy after a restart", |a| health(a) == "healthy");
    assert_eq!(app["health"]["check"]["path"], "/healthz");

    // Stopped, it is checked no more.
    daemon.run(&["stop", "web"]).success();
    let requests = daemon.app("web")["http"]["stats"]["requests"].clone();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(daemon.app("web")["http"]["stats"]["requests"], requests);
}

#[test]
pub(crate) fn a_failing_check_is_unhealthy_after_its_retries_with_the_reason() {
    let daemon = Daemon::start();
    let state = tempfile::tempdir().unwrap();
    let volume = format!("{}:/state", path_str(state.path()));
    daemon
        .run_d(
            "flaky",
            &[
                "-p",
                "0",
                "-v",
                &volume,
                "-e",
                "NOT_READY_FOR=5",
                "--health-path",
                "/healthz",
                "--health-interval",
                "300ms",
                "--health-retries",
                "3",
                P2_HTTP_READY_AFTER,
            ],
        )
        .success();
    assert_eq!(health(&daemon.app("flaky")), "starting");
    let app = daemon.wait_for("flaky", "unhealthy", |a| health(a) != "starting");
    assert_eq!(health(&app), "unhealthy", "{app:#}");
    // Unhealthy at the third failure, not before, with what the app answered.
    let events = health_events(&daemon, "flaky");
    assert_eq!(
        events.first().map(String::as_str),
        Some("unhealthy: GET /healthz answered 503 Service Unavailable: not ready (3 of 5)"),
        "{events:?}"
    );
    daemon
        .run(&["ps"])
        .success()
        .stdout_has("serving (unhealthy)");
    daemon
        .run(&["inspect", "flaky"])
        .success()
        .stdout_has("last failure: GET /healthz answered 503 Service Unavailable: not ready (");
    // One passing check makes it healthy again.
    let app = daemon.wait_for("flaky", "healthy again", |a| health(a) == "healthy");
    assert_eq!(app["health"]["failing_streak"], 0);
    assert_eq!(health_events(&daemon, "flaky")[1], "healthy");
    // Five failing checks and a passing one, each one request to the handler.
    assert!(requests_counted(state.path()) >= 6);
}

#[test]
fn a_command_listening_on_a_port_is_checked_with_a_tcp_connect() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    daemon
        .run_d(
            "kv",
            &[
                "-p",
                &port,
                "--health-port",
                &port,
                "--health-interval",
                "200ms",
                P2_TCP_KV_SERVER,
                &addr,
            ],
        )
        .success();
    let app = daemon.wait_for("kv", "healthy", |a| health(a) == "healthy");
    assert_eq!(app["health"]["check"]["port"], port.parse::<u16>().unwrap());
    assert_eq!(app["health"]["check"]["path"], "");
    daemon
        .run(&["ps"])
        .success()
        .stdout_has("running (healthy)");
    daemon
        .run(&["inspect", "kv"])
        .success()
        .stdout_has(&format!(
            "TCP connect to port {port} every 200ms, timeout 30s, 3 retries"
        ))
        .stdout_has("Health:   healthy");
    assert_eq!(health_events(&daemon, "kv"), ["healthy"]);
    // The checks' connections do not get in the way of the app's clients.
    assert_eq!(crate::programs::tcp_request(&addr, "PING"), "PONG");
    // Checked while it runs: stopped, no check reports it down.
    daemon.run(&["stop", "-t", "0", "kv"]).success();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(health_events(&daemon, "kv"), ["healthy"]);

    // Docker's form checks the same port.
    let other = free_port().to_string();
    daemon
        .run_d(
            "docker-style",
            &[
                "-p",
                &other,
                "--health-cmd",
                &format!("nc -z localhost {other} || exit 1"),
                "--health-interval",
                "200ms",
                P2_TCP_KV_SERVER,
                &format!("127.0.0.1:{other}"),
            ],
        )
        .success();
    daemon.wait_for("docker-style", "healthy", |a| health(a) == "healthy");
}

#[test]
fn a_port_nothing_answers_on_is_unhealthy_with_the_port_in_the_reason() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    // It may listen on the port, but never does.
    daemon
        .run_d(
            "deaf",
            &[
                "-p",
                &port,
                "--health-port",
                &port,
                "--health-interval",
                "200ms",
                "--health-retries",
                "2",
                P1_CLI_SLEEP,
                "600000",
            ],
        )
        .success();
    let app = daemon.wait_for("deaf", "unhealthy", |a| health(a) != "starting");
    assert_eq!(health(&app), "unhealthy", "{app:#}");
    let refused = format!("TCP connect to 127.0.0.1:{port} failed: ");
    let reason = app["health"]["last_failure"].as_str().unwrap();
    assert!(reason.starts_with(&refused), "{reason}");
    assert_eq!(app["health"]["failing_streak"], 2);
    let events = health_events(&daemon, "deaf");
    assert!(
        events[0].starts_with(&format!("unhealthy: {refused}")),
        "{events:?}"
    );
    daemon
        .run(&["ps"])
        .success()
        .stdout_has("running (unhealthy)");
    daemon
        .run(&["inspect", "deaf"])
        .success()
        .stdout_has(&format!("last failure: {refused}"));
}

#[test]
fn checks_come_every_start_interval_until_the_first_pass_in_the_start_period() {
    let daemon = Daemon::start();
    let state = tempfile::tempdir().unwrap();
    let volume = format!("{}:/state", path_str(state.path()));
    // Checked hourly, but every 100 ms while starting within its first minute: ready after 3
    // failing checks, it is healthy in well under the 30 s `wait_for` allows.
    daemon
        .run_d(
            "slow-start",
            &[
                "-p",
                "0",
                "-v",
                &volume,
                "-e",
                "NOT_READY_FOR=3",
                "--health-path",
                "/healthz",
                "--health-interval",
                "1h",
                "--health-start-period",
                "1m",
                "--health-start-interval",
                "100ms",
                P2_HTTP_READY_AFTER,
            ],
        )
        .success();
    let app = daemon.wait_for("slow-start", "healthy", |a| health(a) == "healthy");
    assert_eq!(app["health"]["check"]["start_interval_ms"], 100);
    assert_eq!(health_events(&daemon, "slow-start"), ["healthy"]);
    // Three failures within the start period did not count.
    assert_eq!(
        app["health"]["last_failure"],
        "GET /healthz answered 503 Service Unavailable: not ready (3 of 3)"
    );
    daemon.run(&["inspect", "slow-start"]).success().stdout_has(
        "every 1h, timeout 30s, 3 retries, start period 1m (every 100ms until healthy)",
    );
    // Healthy, it is checked every interval again: no more checks within the next second.
    assert_eq!(requests_counted(state.path()), 4);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(requests_counted(state.path()), 4);
}

#[test]
fn checks_that_cannot_apply_are_refused_naming_what_can() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    daemon
        .run_d(
            "worker",
            &["--health-path", "/healthz", P1_CLI_SLEEP, "600000"],
        )
        .code(125)
        .stderr_has("is a command, not an HTTP handler: it has no handler to answer a GET")
        .stderr_has("--health-port PORT");
    daemon
        .run_d(
            "kv",
            &["-p", &port, "--health-port", "6379", P2_TCP_KV_SERVER, &addr],
        )
        .code(125)
        .stderr_has(&format!(
            "the health check's port 6379 is not one `{P2_TCP_KV_SERVER}` may listen on (`-p`: {port})"
        ));
    daemon
        .run_d("web", &["-p", "0", "--health-port", "8080", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("is an HTTP handler: it is checked with a GET of a path")
        .stderr_has("--health-path /healthz");
    daemon
        .run_d(
            "redis",
            &[
                "-p",
                &port,
                "--health-cmd",
                "redis-cli ping",
                P2_TCP_KV_SERVER,
                &addr,
            ],
        )
        .code(125)
        .stderr_has("`redis-cli` cannot run here")
        .stderr_has("`--health-port PORT`, or `--health-cmd \"nc -z localhost PORT\"`");
    daemon
        .run(&["ps", "-a"])
        .success()
        .stdout_lacks("worker")
        .stdout_lacks("kv");
    // The knobs alone, or in the foreground, are refused with what to give.
    daemon
        .run(&["run", "-d", "--health-interval", "5s", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("`--health-interval` needs a health check")
        .stderr_has("--health-path /healthz")
        .stderr_has("--health-port PORT");
    daemon
        .run(&["run", "--health-path", "/h", P1_CLI_SLEEP, "1"])
        .code(125)
        .stderr_has("`--health-path` applies only to an app run by the daemon");
    daemon
        .run(&[
            "run",
            "-p",
            &port,
            "--health-port",
            &port,
            P2_TCP_KV_SERVER,
            &addr,
        ])
        .code(125)
        .stderr_has("`--health-port` applies only to an app run by the daemon");
}

fn compose(daemon: &Daemon, dir: &Path, project: &str, args: &[&str]) -> Outcome {
    let file = dir.join("compose.yaml");
    let mut all = vec!["compose", "-f", path_str(&file), "-p", project];
    all.extend_from_slice(args);
    daemon.run(&all)
}

/// An API that is ready after `not_ready_for` requests, checked every 200 ms, and a web front
/// that waits for it to be healthy.
fn healthy_project(not_ready_for: u32, retries: u32) -> String {
    format!(
        r#"
services:
  api:
    image: {P2_HTTP_READY_AFTER}
    environment: {{NOT_READY_FOR: "{not_ready_for}"}}
    volumes: ["./state:/state"]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost/healthz"]
      interval: 200ms
      timeout: 5s
      retries: {retries}
  web:
    image: {P2_HTTP_HELLO}
    depends_on:
      api: {{condition: service_healthy}}
"#
    )
}

#[test]
fn compose_service_healthy_waits_for_the_check_and_ps_shows_health() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    write_file(dir.path(), "compose.yaml", healthy_project(3, 10));
    compose(&daemon, dir.path(), "shop", &["config"])
        .success()
        .stdout_has("http://localhost/healthz")
        .stdout_has("200ms");
    compose(&daemon, dir.path(), "shop", &["up", "-d"])
        .success()
        .stderr_has("App shop-web  Created");
    // `web` was created only once `api` had answered 3 failing checks and a passing one.
    assert!(requests_counted(&dir.path().join("state")) >= 4);
    let api = daemon.app("shop-api");
    assert_eq!(health(&api), "healthy", "{api:#}");
    assert_eq!(
        api["health"]["last_failure"],
        "GET /healthz answered 503 Service Unavailable: not ready (3 of 3)"
    );
    let healthy_at = {
        let out = daemon.run(&["events", "--since-start", "--no-follow", "--format", "json"]);
        let events: Vec<serde_json::Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let seq = |app: &str, kind: &str| {
            events
                .iter()
                .find(|e| e["app"] == app && e["kind"] == kind)
                .map(|e| e["seq"].as_u64().unwrap())
                .unwrap_or_else(|| panic!("no {kind} event of {app}: {events:?}"))
        };
        let healthy = seq("shop-api", "health_status");
        assert!(healthy < seq("shop-web", "created"), "{events:?}");
        healthy
    };
    assert!(healthy_at > 0);
    let ps = compose(&daemon, dir.path(), "shop", &["ps"]);
    ps.success();
    let row = |service: &str| {
        ps.stdout
            .lines()
            .find(|l| l.starts_with(&format!("shop-{service} ")))
            .unwrap_or_else(|| panic!("no {service} in {}", ps.stdout))
            .to_string()
    };
    assert!(row("api").contains("serving (healthy)"), "{}", ps.stdout);
    assert!(row("web").contains("serving"), "{}", ps.stdout);
    assert!(!row("web").contains('('), "{}", ps.stdout);

    // A dependency that turns unhealthy stops `up` with the check's reason; its dependent is
    // not created.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join("state")).unwrap();
    write_file(other.path(), "compose.yaml", healthy_project(1000, 2));
    compose(&daemon, other.path(), "sick", &["up", "-d"])
        .code(125)
        .stderr_has("service `web` cannot start: it depends on `api`")
        .stderr_has(
            "`sick-api` is unhealthy: GET /healthz answered 503 Service Unavailable: not ready (2 of 1000)",
        )
        .stderr_has("skiff inspect sick-api");
    daemon.run(&["ps", "-a"]).success().stdout_lacks("sick-web");
}

#[test]
fn compose_service_healthy_waits_for_a_tcp_service() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // As a Docker user writes it: the check inside the container, on the container's port.
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            r#"
services:
  kv:
    image: {P2_TCP_KV_SERVER}
    command: ["127.0.0.1:{port}"]
    ports: ["{port}:6379"]
    healthcheck:
      test: ["CMD-SHELL", "nc -z localhost 6379 || exit 1"]
      interval: 1h
      start_period: 1m
      start_interval: 100ms
  web:
    image: {P2_HTTP_HELLO}
    depends_on:
      kv: {{condition: service_healthy}}
"#
        ),
    );
    compose(&daemon, dir.path(), "cache", &["config"])
        .success()
        .stdout_has("- nc")
        .stdout_has("start_interval: 100ms");
    compose(&daemon, dir.path(), "cache", &["up", "-d"])
        .success()
        .stderr_has("App cache-web  Created");
    let kv = daemon.app("cache-kv");
    assert_eq!(health(&kv), "healthy", "{kv:#}");
    assert_eq!(kv["health"]["check"]["port"], port);
    let events: Vec<serde_json::Value> = daemon
        .run(&["events", "--since-start", "--no-follow", "--format", "json"])
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seq = |app: &str, kind: &str| {
        events
            .iter()
            .find(|e| e["app"] == app && e["kind"] == kind)
            .map(|e| e["seq"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("no {kind} event of {app}: {events:?}"))
    };
    assert!(
        seq("cache-kv", "health_status") < seq("cache-web", "created"),
        "{events:?}"
    );
    let ps = compose(&daemon, dir.path(), "cache", &["ps"]);
    ps.success();
    let kv_row = ps
        .stdout
        .lines()
        .find(|l| l.starts_with("cache-kv "))
        .unwrap_or_else(|| panic!("no kv in {}", ps.stdout));
    assert!(kv_row.contains("running (healthy)"), "{}", ps.stdout);
}

#[test]
fn a_bad_healthcheck_is_refused_before_anything_starts() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    for (test, says) in [
        (
            r#"["CMD", "pg_isready", "-U", "postgres"]"#,
            "`pg_isready` cannot run here",
        ),
        (
            r#"["CMD-SHELL", "curl -f http://db/healthz"]"#,
            "can only reach the app itself",
        ),
        (r#"["SHELL", "true"]"#, "a list must be"),
        (
            r#"["CMD", "redis-cli", "ping"]"#,
            "`redis-cli` cannot run here",
        ),
        (r#"["CMD", "nc", "localhost", "6379"]"#, "only a port check"),
    ] {
        write_file(
            dir.path(),
            "compose.yaml",
            format!(
                "services:\n  api:\n    image: {P2_HTTP_HELLO}\n    healthcheck:\n      test: {test}\n  web:\n    image: {P2_HTTP_HELLO}\n"
            ),
        );
        compose(&daemon, dir.path(), "demo", &["up", "-d"])
            .code(125)
            .stderr_has("service `api`")
            .stderr_has("`healthcheck.test`")
            .stderr_has(says)
            .stderr_has(r#"give `test: ["CMD", "curl", "-f", "http://localhost/healthz"]`"#)
            .stderr_has(r#"give `test: ["CMD", "nc", "-z", "localhost", "PORT"]`"#)
            .stderr_has("`disable: true`");
    }
    // A TCP check of a port the service does not publish.
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            "services:\n  kv:\n    image: {P2_TCP_KV_SERVER}\n    ports: [\"16379:6380\"]\n    healthcheck:\n      test: [\"CMD\", \"nc\", \"-z\", \"localhost\", \"6379\"]\n  web:\n    image: {P2_HTTP_HELLO}\n"
        ),
    );
    compose(&daemon, dir.path(), "demo", &["up", "-d"])
        .code(125)
        .stderr_has("service `kv`")
        .stderr_has(
            "`healthcheck.test` checks port 6379, which is not one of the service's `ports`",
        )
        .stderr_has(r#"add `ports: ["6379:6379"]`"#);
    daemon.run(&["ps", "-a"]).success().stdout_lacks("demo-");
}

#[test]
fn the_dashboard_lists_health_with_the_reason() {
    let daemon = Daemon::start();
    let state = tempfile::tempdir().unwrap();
    let volume = format!("{}:/state", path_str(state.path()));
    let checked = |name: &str, not_ready_for: &str| {
        daemon
            .run_d(
                name,
                &[
                    "-p",
                    "0",
                    "-v",
                    &volume,
                    "-e",
                    &format!("NOT_READY_FOR={not_ready_for}"),
                    "--health-path",
                    "/healthz",
                    "--health-interval",
                    "150ms",
                    "--health-retries",
                    "1",
                    P2_HTTP_READY_AFTER,
                ],
            )
            .success();
    };
    checked("sick", "1000000");
    daemon.wait_for("sick", "unhealthy", |a| health(a) == "unhealthy");
    daemon.run_d("plain", &["-p", "0", P2_HTTP_HELLO]).success();

    // The JSON the dashboard's list and app page are drawn from.
    let info = daemon.info();
    let url = info["dashboard"].as_str().unwrap();
    let token = info["admin_token"].as_str().unwrap();
    let apps: Vec<serde_json::Value> = reqwest::blocking::Client::new()
        .get(format!("{url}api/apps"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let row = |name: &str| apps.iter().find(|a| a["name"] == name).unwrap().clone();
    assert_eq!(row("sick")["health"], "unhealthy", "{apps:#?}");
    let reason = row("sick")["health_reason"].as_str().unwrap().to_string();
    assert!(
        reason.starts_with("GET /healthz answered 503 Service Unavailable: not ready ("),
        "{reason}"
    );
    // Without a check, health is what it was: serving with few errors.
    assert_eq!(row("plain")["health"], "healthy");
    assert!(row("plain")["health_reason"].is_null());
}
