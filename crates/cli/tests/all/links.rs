//! Calls between apps of one daemon, in-process: `skiff run -d --link APP[:NAME]` and compose's
//! `depends_on`/`links`. A linked name reaches the app's handler with no socket (the caller has
//! no network grant), carries the caller's name, and is counted per edge; a neighbour not linked
//! is refused naming the edge to add.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use skiff_test_programs_artifacts::{
    P1_CLI_SLEEP, P2_HTTP_CALLER, P2_HTTP_HELLO, P2_HTTP_KV, P2_HTTP_LOG, P2_HTTP_OUTBOUND,
    P2_TCP_KV_SERVER,
};

use crate::daemon::Daemon;
use crate::support::write_file;

/// What `front` (the outbound proxy) answers when asked to GET `target`, through the gateway.
fn call_through(daemon: &Daemon, route: &str, target: &str) -> (StatusCode, String) {
    let gateway = daemon.info()["gateway"].as_str().unwrap().to_string();
    let response = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("http://{gateway}{route}"))
        .header("x-target-url", target)
        .send()
        .unwrap();
    (response.status(), response.text().unwrap())
}

fn metrics(daemon: &Daemon) -> String {
    let addr = daemon.info()["metrics"].as_str().unwrap().to_string();
    reqwest::blocking::get(format!("http://{addr}/metrics"))
        .unwrap()
        .text()
        .unwrap()
}

#[test]
pub fn linked_apps_call_each_other_in_process() {
    let daemon = Daemon::start();
    daemon.run_d("api", &[P2_HTTP_CALLER]).success();
    // No `--network`: the front has no socket to anywhere, only its link.
    daemon
        .run_d(
            "front",
            &[
                "--link",
                "api",
                "--link",
                "api:backend",
                "--route",
                "/front",
                P2_HTTP_OUTBOUND,
            ],
        )
        .success();

    for target in [
        "http://api/",
        "http://api.internal/x",
        "http://backend:8080/",
    ] {
        let (status, body) = call_through(&daemon, "/front", target);
        assert_eq!(status, StatusCode::OK, "{target}: {body}");
        assert_eq!(body, "upstream 200: caller: front\n", "{target}");
    }

    // A name it is not linked to under `.internal` never goes to DNS.
    let (status, body) = call_through(&daemon, "/front", "http://db.internal/");
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    daemon
        .run(&["logs", "front"])
        .success()
        .stderr_has("blocked call from `front` to `db`")
        .stderr_has("--link APP:db");
    // Any other name is the network's, under the egress grants: none here.
    let (status, body) = call_through(&daemon, "/front", "http://example.com/");
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");

    // The caller header cannot be forged from outside.
    let gateway = daemon.info()["gateway"].as_str().unwrap().to_string();
    let forged = Client::new()
        .get(format!("http://{gateway}/"))
        .header("host", "api.localhost")
        .header("skiff-caller", "front")
        .send()
        .unwrap();
    assert_eq!(forged.text().unwrap(), "caller: none\n");

    // Counted per edge: in `stats`, in `inspect` and in the metrics.
    let stats = daemon.run(&["stats", "--no-stream"]);
    stats.success().stdout_has("CALLER");
    let edge: Vec<&str> = stats
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.starts_with(&["front", "api"]))
        .unwrap_or_else(|| panic!("no front -> api row:\n{}", stats.stdout));
    assert_eq!(edge, ["front", "api", "2", "0", "0"]);
    let to = |name: &str| calls_to(&daemon, "front", name);
    assert_eq!(to("api")["requests"], 2);
    assert_eq!(to("backend")["requests"], 1);
    assert_eq!(to("db")["refused"], 1);
    let text = metrics(&daemon);
    assert!(
        text.contains("skiff_calls_total{app=\"front\",to=\"api\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("skiff_calls_refused_total{app=\"front\",to=\"db\"} 1"),
        "{text}"
    );

    // A stopped callee answers as a stopped app does; the caller sees it, and it counts as an
    // error of the edge.
    daemon.run(&["stop", "api"]).success();
    let (status, body) = call_through(&daemon, "/front", "http://api/");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("upstream 503: "), "{body}");
    assert_eq!(calls_to(&daemon, "front", "api")["errors"], 1);
}

/// What `skiff inspect` says of the app's in-process calls to `name`.
fn calls_to(daemon: &Daemon, app: &str, name: &str) -> serde_json::Value {
    let calls = daemon.app(app)["calls"].clone();
    calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["to"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no calls from {app} to {name}: {calls:#}"))
}

#[test]
fn compose_services_call_each_other_along_their_edges_only() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            r#"
services:
  front:
    image: {P2_HTTP_OUTBOUND}
    depends_on: [api]
    links: ["other:hello"]
    x-skiff:
      routes: [/front]
  api:
    image: {P2_HTTP_CALLER}
  other:
    image: {P2_HTTP_HELLO}
  admin:
    image: {P2_HTTP_HELLO}
"#
        ),
    );
    let compose = |args: &[&str]| {
        let file = dir.path().join("compose.yaml");
        let mut all = vec!["compose", "-f", file.to_str().unwrap(), "-p", "shop"];
        all.extend_from_slice(args);
        daemon.run(&all)
    };
    compose(&["config"]).success().stdout_has("- other:hello");
    compose(&["up", "-d"]).success();

    let (status, body) = call_through(&daemon, "/front", "http://api/");
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "upstream 200: caller: shop-front\n")
    );
    // A link reaches the service by its alias and, as in Compose, by its name.
    for target in ["http://hello/", "http://other/"] {
        let (status, body) = call_through(&daemon, "/front", target);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.starts_with("upstream 200: "), "{body}");
    }

    // `admin` is a neighbour, but the file gives `front` no edge to it.
    let (status, body) = call_through(&daemon, "/front", "http://admin/");
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    compose(&["logs", "front"])
        .success()
        .stderr_has("blocked call from `shop-front` to `admin`")
        .stderr_has("add `admin` to `depends_on` (or `links`) of service `front`");
    // And `api` may not call back.
    assert_eq!(
        daemon.app("shop-api")["links"]["refused"]["front"]
            .as_str()
            .map(|hint| hint.contains("of service `api`")),
        Some(true)
    );
    compose(&["down"]).success();
}

/// Compose's `networks`, as groups of services that may call each other: the services on a
/// network reach each other by name and by their aliases there, both ways; a service on no
/// network with it is still refused. A network the file does not declare, or one with what
/// Docker sets up for a container network (addresses), is refused before anything starts.
#[test]
fn services_on_a_network_call_each_other() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "compose.yaml",
        format!(
            r#"
services:
  front:
    image: {P2_HTTP_OUTBOUND}
    networks: [backend]
    x-skiff:
      routes: [/front]
  api:
    image: {P2_HTTP_CALLER}
    networks:
      backend:
        aliases: [orders]
  admin:
    image: {P2_HTTP_HELLO}
    networks: [office]
networks:
  backend:
    driver: bridge
  office: {{}}
"#
        ),
    );
    let compose = |args: &[&str]| {
        let mut all = vec!["compose", "-f", file.to_str().unwrap(), "-p", "shop"];
        all.extend_from_slice(args);
        daemon.run(&all)
    };
    compose(&["config"])
        .success()
        .stdout_has("aliases:")
        .stdout_has("backend:");
    compose(&["up", "-d"]).success();
    for target in ["http://api/", "http://orders/", "http://orders.internal/"] {
        assert_eq!(
            call_through(&daemon, "/front", target),
            (StatusCode::OK, "upstream 200: caller: shop-front\n".into()),
            "{target}"
        );
    }
    // Both ways: `api` may call `front`; nobody on `backend` may call `admin`.
    assert_eq!(
        daemon.app("shop-api")["links"]["calls"]["front"],
        "shop-front"
    );
    let (status, body) = call_through(&daemon, "/front", "http://admin/");
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    compose(&["logs", "front"])
        .success()
        .stderr_has("put both on one of its `networks`");
    compose(&["down"]).success();

    for (networks, error) in [
        ("", "which the file does not declare"),
        (
            "networks:\n  backend:\n    ipam: {config: [{subnet: 10.5.0.0/16}]}\n  office: {}\n",
            "network `backend`: `ipam` is not supported",
        ),
    ] {
        let text = std::fs::read_to_string(&file).unwrap();
        let body = text
            .split("networks:\n  backend:\n    driver")
            .next()
            .unwrap();
        std::fs::write(&file, format!("{body}{networks}")).unwrap();
        compose(&["up", "-d"]).code(125).stderr_has(error);
        assert!(daemon.run(&["ps", "-a", "-q"]).stdout.is_empty());
        std::fs::write(&file, &text).unwrap();
    }
}

/// `links:` naming a service the file does not define is refused before anything starts.
#[test]
fn a_link_to_no_service_is_refused() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "compose.yaml",
        format!("services:\n  front:\n    image: {P2_HTTP_OUTBOUND}\n    links: [nope]\n"),
    );
    daemon
        .run(&["compose", "-f", file.to_str().unwrap(), "up", "-d"])
        .code(125)
        .stderr_has("links to `nope`, which is not a service of the file");
    assert!(daemon.run(&["ps", "-a"]).stdout.lines().count() <= 1);
}

/// The issue's project: an HTTP front calling an HTTP API calling a TCP key-value service, each
/// along its edge only.
#[test]
pub fn a_front_an_api_and_a_tcp_service_in_one_project() {
    let daemon = Daemon::start();
    let port = crate::programs::free_port();
    let kv = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "compose.yaml",
        format!(
            r#"
services:
  front:
    image: {P2_HTTP_OUTBOUND}
    depends_on: [api]
    x-skiff:
      routes: [/front]
  api:
    image: {P2_HTTP_KV}
    depends_on: [kv]
    environment:
      KV_ADDR: "{kv}"
  kv:
    image: {P2_TCP_KV_SERVER}
    command: ["{kv}"]
    ports: ["{port}"]
"#
        ),
    );
    let file = file.to_str().unwrap();
    daemon
        .run(&["compose", "-f", file, "-p", "chain", "up", "-d"])
        .success();
    assert_eq!(
        crate::programs::tcp_request(&kv, "SET greeting hello"),
        "OK"
    );

    let (status, body) = call_through(&daemon, "/front", "http://api/greeting");
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "upstream 200: hello\n")
    );
    let (_, body) = call_through(&daemon, "/front", "http://api/nothing");
    assert_eq!(body, "upstream 404: no nothing\n");

    // The front has no edge to the key-value service, by name or by port.
    let (status, _) = call_through(&daemon, "/front", "http://kv/");
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (status, body) = call_through(&daemon, "/front", &format!("http://{kv}/"));
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    daemon
        .run(&["logs", "chain-front"])
        .success()
        .stderr_has("add `kv` to `depends_on` (or `links`) of service `front`");

    daemon
        .run(&["compose", "-f", file, "-p", "chain", "down"])
        .success();
    assert!(
        std::net::TcpStream::connect(&kv).is_err(),
        "kv still listens"
    );
}

/// GETs `path` on the daemon's gateway with the `Host` header `host`.
fn via_host(daemon: &Daemon, host: &str, path: &str) -> (StatusCode, String) {
    let gateway = daemon.info()["gateway"].as_str().unwrap().to_string();
    crate::http::via_gateway(&gateway, host, path)
}

/// `skiff rename`, as `docker rename`: running or not, an app takes its new name with its logs
/// and history; an HTTP app on the route its name gives moves to the new name's at once; the
/// apps linked to it keep reaching it, and its own calls carry its new name; a daemon restart
/// keeps it all.
#[test]
pub fn a_renamed_app_keeps_running_with_its_logs_and_links() {
    let mut daemon = Daemon::start();
    daemon.run_d("api", &[P2_HTTP_CALLER]).success();
    daemon
        .run_d(
            "front",
            &["--link", "api", "--route", "/front", P2_HTTP_OUTBOUND],
        )
        .success();
    daemon.run_d("logger", &[P2_HTTP_LOG]).success();
    daemon.run_d("sleeper", &[P1_CLI_SLEEP, "600000"]).success();
    assert_eq!(
        via_host(&daemon, "logger.localhost", "/before"),
        (StatusCode::OK, "logged\n".into())
    );
    let started = daemon.app("sleeper")["started_at"].clone();

    for (old, new) in [
        ("api", "api-v2"),
        ("front", "web"),
        ("logger", "journal"),
        ("sleeper", "napper"),
    ] {
        daemon.run(&["rename", old, new]).success().stdout_is("");
    }
    let check = |daemon: &Daemon| {
        let ps = daemon.run(&["ps", "-a", "--format", "{{.Names}}"]);
        let mut names: Vec<&str> = ps.success().stdout.lines().collect();
        names.sort_unstable();
        assert_eq!(names, ["api-v2", "journal", "napper", "web"]);
        // Served on its new name's route, no longer on the old one's.
        assert_eq!(
            via_host(daemon, "api-v2.localhost", "/"),
            (StatusCode::OK, "caller: none\n".into())
        );
        assert_eq!(
            via_host(daemon, "api.localhost", "/").0,
            StatusCode::NOT_FOUND
        );
        // The link still reaches it, and the caller is known by its new name.
        assert_eq!(
            call_through(daemon, "/front", "http://api/"),
            (StatusCode::OK, "upstream 200: caller: web\n".into())
        );
        assert_eq!(
            daemon.app("web")["links"]["calls"],
            serde_json::json!({ "api": "api-v2" })
        );
    };
    check(&daemon);
    // Its logs went with it, and what it writes now joins them.
    assert_eq!(
        via_host(&daemon, "journal.localhost", "/after").0,
        StatusCode::OK
    );
    daemon
        .run(&["logs", "journal"])
        .success()
        .stdout_is("handled /before\nhandled /after\n");
    // A running command runs on, untouched.
    let napper = daemon.app("napper");
    assert_eq!(crate::daemon::state(&napper), "running");
    assert_eq!(napper["started_at"], started);
    daemon
        .run(&["inspect", "sleeper"])
        .code(125)
        .stderr_has("no app named `sleeper`");
    daemon
        .run(&["events", "--no-follow"])
        .success()
        .stdout_has(" api-v2 renamed from api\n")
        .stdout_has(" napper renamed from sleeper\n");

    for (args, error) in [
        (
            ["napper", "journal"],
            "the name `journal` is already in use",
        ),
        (["napper", "no/slash"], "invalid app name `no/slash`"),
        (["napper", "napper"], "already called `napper`"),
        (["ghost", "spirit"], "no app named `ghost`"),
    ] {
        let mut all = vec!["rename"];
        all.extend(args);
        daemon.run(&all).code(125).stderr_has(error);
    }
    daemon
        .run(&["container", "rename", "napper", "dozer"])
        .success();
    daemon.run(&["rename", "dozer", "napper"]).success();

    daemon.restart_after_kill();
    daemon.wait_for("api-v2", "serving", |app| {
        crate::daemon::state(app) == "serving"
    });
    daemon.wait_for("web", "serving", |app| {
        crate::daemon::state(app) == "serving"
    });
    check(&daemon);
    daemon
        .run(&["logs", "journal"])
        .success()
        .stdout_is("handled /before\nhandled /after\n");
}
