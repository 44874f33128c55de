//! `skiff compose` end to end: a Compose file of an HTTP service and a command service, brought
//! up in a real daemon, updated, and taken down.

use std::path::Path;

use skiff_test_programs_artifacts::{
    P1_CLI_ENV, P1_CLI_EXIT_CODE, P1_CLI_SLEEP, P2_HTTP_GET, P2_HTTP_HELLO, P2_HTTP_SPIN_KV,
    P2_TCP_KV_SERVER,
};

use crate::daemon::Daemon;
use crate::support::{Outcome, write_file};

fn compose(daemon: &Daemon, dir: &Path, args: &[&str]) -> Outcome {
    let file = dir.join("compose.yaml");
    let mut all = vec!["compose", "-f", file.to_str().unwrap(), "-p", "demo"];
    all.extend_from_slice(args);
    daemon.run(&all)
}

fn project(worker_mode: &str, extra: &str) -> String {
    format!(
        r#"
services:
  web:
    image: {P2_HTTP_HELLO}
    depends_on:
      worker: {{condition: service_started}}
    deploy: {{resources: {{limits: {{memory: 64m}}}}}}
    x-skiff:
      routes: [/web]
  worker:
    image: {P1_CLI_SLEEP}
    command: ["600000"]
    environment:
      MODE: {worker_mode}
{extra}"#
    )
}

fn created(daemon: &Daemon, app: &str) -> (String, Option<String>) {
    let app = daemon.app(app);
    (
        app["created"].as_str().unwrap().to_string(),
        app["started_at"].as_str().map(str::to_string),
    )
}

#[test]
fn up_ps_update_and_down() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "compose.yaml", project("batch", ""));
    daemon
        .run_d("bystander", &[P1_CLI_SLEEP, "600000"])
        .success();

    let config = compose(&daemon, dir.path(), &["config"]);
    config
        .success()
        .stdout_has("name: demo")
        .stdout_has("- MODE=batch")
        .stdout_has("memory: 64m");

    let up = compose(&daemon, dir.path(), &["up", "-d"]);
    up.success()
        .stderr_has("App demo-worker  Created")
        .stderr_has("App demo-web  Created");
    // The dependency first.
    assert!(
        up.stderr.find("demo-worker").unwrap() < up.stderr.find("demo-web").unwrap(),
        "{}",
        up.stderr
    );
    compose(&daemon, dir.path(), &["ps"])
        .success()
        .stdout_has("demo-web")
        .stdout_has("demo-worker")
        .stdout_lacks("bystander");
    let web = daemon.app("demo-web");
    assert_eq!(web["labels"]["skiff.compose.project"], "demo");
    assert!(!web["limits"]["memory"].is_null(), "{web:#}");
    let worker = daemon.app("demo-worker");
    assert_eq!(crate::daemon::state(&worker), "running");
    assert!(
        worker["grants"]["env"].to_string().contains("batch"),
        "{worker:#}"
    );

    let gateway = daemon.info()["gateway"].as_str().unwrap().to_string();
    let body = reqwest::blocking::get(format!("http://{gateway}/web/x"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "hello from skiff\n");

    // Unchanged: nothing is replaced or restarted.
    let (web_before, worker_before) = (
        created(&daemon, "demo-web"),
        created(&daemon, "demo-worker"),
    );
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App demo-worker  Running")
        .stderr_has("App demo-web  Running");
    assert_eq!(created(&daemon, "demo-web"), web_before);
    assert_eq!(created(&daemon, "demo-worker"), worker_before);

    // One service changed: only it is replaced.
    write_file(dir.path(), "compose.yaml", project("stream", ""));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App demo-worker  Recreated")
        .stderr_has("App demo-web  Running");
    assert_eq!(created(&daemon, "demo-web"), web_before);
    assert_ne!(created(&daemon, "demo-worker"), worker_before);
    assert!(
        daemon.app("demo-worker")["grants"]["env"]
            .to_string()
            .contains("stream")
    );

    // A key Skiff does not support is refused with its name, and nothing changes.
    write_file(
        dir.path(),
        "compose.yaml",
        project("other", "    privileged: true\n"),
    );
    compose(&daemon, dir.path(), &["up", "-d"])
        .code(125)
        .stderr_has("service `worker`")
        .stderr_has("`privileged` is not supported");
    assert!(
        daemon.app("demo-worker")["grants"]["env"]
            .to_string()
            .contains("stream")
    );
    write_file(dir.path(), "compose.yaml", project("stream", ""));

    compose(&daemon, dir.path(), &["stop", "worker"])
        .success()
        .stdout_is("demo-worker\n");
    assert_eq!(crate::daemon::state(&daemon.app("demo-worker")), "exited");
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App demo-worker  Started");

    // `down` removes exactly the project's apps.
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
    let ps = daemon.run(&["ps", "-a"]);
    ps.success().stdout_has("bystander").stdout_lacks("demo-");
}

#[test]
fn a_bad_file_is_refused_before_anything_starts() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            "services:\n  a: {{image: {P2_HTTP_HELLO}, depends_on: [b]}}\n  b: {{image: {P2_HTTP_HELLO}, depends_on: [a]}}\n"
        ),
    );
    compose(&daemon, dir.path(), &["up", "-d"])
        .code(125)
        .stderr_has("dependency cycle: a -> b -> a");
    write_file(
        dir.path(),
        "compose.yaml",
        format!("services:\n  a: {{image: {P2_HTTP_HELLO}}}\n  b: {{image: ./missing.wasm}}\n"),
    );
    compose(&daemon, dir.path(), &["up", "-d"])
        .code(125)
        .stderr_has("missing.wasm");
    daemon.run(&["ps", "-a"]).success().stdout_lacks("demo-");
}

/// Docker's `network_mode: host`: the service has the host's whole network (`--network host`),
/// so a command listens where it likes without `ports`; any other mode is refused.
#[test]
fn network_mode_host_is_the_hosts_network() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", crate::programs::free_port());
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            "services:\n  kv:\n    image: {P2_TCP_KV_SERVER}\n    command: [\"{addr}\"]\n    \
             network_mode: host\n"
        ),
    );
    compose(&daemon, dir.path(), &["up", "-d"]).success();
    assert_eq!(crate::programs::tcp_request(&addr, "PING"), "PONG");
    compose(&daemon, dir.path(), &["down"]).success();
    write_file(
        dir.path(),
        "compose.yaml",
        format!("services:\n  kv:\n    image: {P2_TCP_KV_SERVER}\n    network_mode: bridge\n"),
    );
    compose(&daemon, dir.path(), &["up", "-d"])
        .code(125)
        .stderr_has("`network_mode: bridge` is not supported")
        .stderr_has("`host`");
}

/// `labels` and `container_name`, as Docker Compose has them: the labels are kept with the app
/// (`skiff ps --filter label=...` finds it), and a change to either replaces the service's app.
#[test]
fn labels_and_container_names_are_the_apps() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, tier: &str| {
        project(
            "batch",
            &format!(
                "    container_name: {name}\n    stop_grace_period: 1500ms\n    labels:\n      tier: {tier}\n      team:\n"
            ),
        )
    };
    write_file(dir.path(), "compose.yaml", file("jobs", "back"));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App jobs  Created")
        .stderr_has("App demo-web  Created");
    compose(&daemon, dir.path(), &["ps"])
        .success()
        .stdout_has("jobs")
        .stdout_has("worker");
    daemon
        .run(&["ps", "-q", "--filter", "label=tier=back"])
        .success()
        .stdout_is("jobs\n");
    // `stop_grace_period`, in whole seconds, rounded up.
    assert_eq!(daemon.app("jobs")["stop_timeout"], 2);
    // `--force-recreate` replaces what did not change; `--wait` returns once all are up.
    compose(&daemon, dir.path(), &["up", "--wait", "--force-recreate"])
        .success()
        .stderr_has("App jobs  Recreated")
        .stderr_has("App demo-web  Recreated");
    assert_eq!(crate::daemon::state(&daemon.app("demo-web")), "serving");
    assert_eq!(crate::daemon::state(&daemon.app("jobs")), "running");
    daemon
        .run(&[
            "ps",
            "-q",
            "-f",
            "label=team",
            "-f",
            "label=skiff.compose.project=demo",
        ])
        .success()
        .stdout_is("jobs\n");

    write_file(dir.path(), "compose.yaml", file("jobs", "batch"));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App jobs  Recreated")
        .stderr_has("App demo-web  Running");
    daemon
        .run(&["ps", "-q", "-f", "label=tier=batch"])
        .success()
        .stdout_is("jobs\n");

    write_file(dir.path(), "compose.yaml", file("tasks", "batch"));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App jobs  Removed")
        .stderr_has("App tasks  Created");
    daemon
        .run(&["ps", "-aq"])
        .success()
        .stdout_is("demo-web\ntasks\n");

    // Labels skiff compose keeps itself, and two services under one name, are refused.
    for (extra, error) in [
        (
            "    labels: [skiff.compose.project=other]\n",
            "labels skiff compose keeps itself",
        ),
        (
            "    container_name: demo-web\n",
            "would both be the app `demo-web`",
        ),
    ] {
        write_file(dir.path(), "compose.yaml", project("batch", extra));
        compose(&daemon, dir.path(), &["up", "-d"])
            .code(125)
            .stderr_has(error);
    }
    daemon
        .run(&["ps", "-aq"])
        .success()
        .stdout_is("demo-web\ntasks\n");
    write_file(dir.path(), "compose.yaml", file("tasks", "batch"));
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
    daemon.run(&["ps", "-aq"]).success().stdout_is("");
}

/// The rest of what `docker compose` users type: `build` and `pull` (each service's image again,
/// from its directory or its registry), `kill`, `rm` (asks first) and `ls` (the projects, from
/// any directory).
#[test]
fn build_pull_kill_rm_and_ls() {
    let registry = crate::registry::Registry::start();
    let daemon = Daemon::start();
    let app = crate::support::app_dir(P1_CLI_SLEEP, "", &[]);
    let remote = registry.url("team/sleeper:1.0");
    daemon
        .run(&["build", "-t", &remote, app.path().to_str().unwrap()])
        .success();
    daemon.run(&["push", &remote]).success();
    daemon.run(&["rmi", &remote]).success();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            "services:\n  built:\n    build: {}\n    command: [\"600000\"]\n  pulled:\n    image: {remote}\n    command: [\"600000\"]\n",
            app.path().display()
        ),
    );
    compose(&daemon, dir.path(), &["build"])
        .success()
        .stderr_has("Built demo-built:latest");
    daemon
        .run(&["images", "-q"])
        .success()
        .stdout_is("demo-built:latest\n");
    // `--pull never` (or `pull_policy: never`) refuses an image not stored, before anything is
    // created.
    compose(&daemon, dir.path(), &["up", "-d", "--pull", "never"])
        .code(125)
        .stderr_has(&format!(
            "no image `{remote}` in the local store, and its pull policy is `never`"
        ));
    daemon.run(&["ps", "-a", "-q"]).success().stdout_is("");
    compose(&daemon, dir.path(), &["pull"]).success();
    daemon
        .run(&["images", "-q", "-f", "reference=*/team/*"])
        .success()
        .stdout_is(&format!("{remote}\n"));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_lacks("Built")
        .stderr_lacks("Unable to find image");
    // `--pull always` asks the registry again; the same image leaves the app running.
    compose(&daemon, dir.path(), &["up", "-d", "--pull", "always"])
        .success()
        .stderr_has(&format!("Pulled {remote}"));
    assert_eq!(crate::daemon::state(&daemon.app("demo-pulled")), "running");

    let elsewhere = tempfile::tempdir().unwrap();
    let ls = daemon.skiff.run_with(
        daemon
            .command()
            .args(["compose", "ls"])
            .current_dir(elsewhere.path()),
        b"",
    );
    ls.success()
        .stdout_has("demo  running(2)")
        .stdout_has(dir.path().join("compose.yaml").to_str().unwrap());

    compose(&daemon, dir.path(), &["kill", "pulled"]).success();
    assert_eq!(crate::daemon::state(&daemon.app("demo-pulled")), "exited");
    daemon
        .skiff
        .run_with(
            daemon.command().args([
                "compose",
                "-f",
                dir.path().join("compose.yaml").to_str().unwrap(),
                "-p",
                "demo",
                "rm",
            ]),
            b"n\n",
        )
        .success()
        .stdout_has("Going to remove demo-pulled");
    compose(&daemon, dir.path(), &["rm", "-f"]).success();
    daemon
        .run(&["ps", "-aq"])
        .success()
        .stdout_is("demo-built\n");
    compose(&daemon, dir.path(), &["rm", "-s", "-f"]).success();
    daemon.run(&["ps", "-aq"]).success().stdout_is("");
    compose(&daemon, dir.path(), &["ls", "-a", "-q"])
        .success()
        .stdout_is("");
}

/// The file's `${VAR}`s, as Docker Compose fills them: from the environment first, then the
/// project directory's `.env` (or `--env-file`); a required one that is missing stops
/// everything, naming it.
#[test]
fn variables_come_from_the_environment_then_dot_env() {
    let skiff = crate::support::Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        "services:\n  api:\n    image: registry.example/api:${TAG:?set TAG in .env}\n    environment:\n      MODE: ${MODE:-dev}\n      GREETING: ${GREETING}\n  debug:\n    image: registry.example/debug:1\n    profiles: [debug]\n",
    );
    let config = |extra: &[&str], env: &[(&str, &str)]| {
        let mut command = skiff.command();
        command
            .current_dir(dir.path())
            .env_remove("TAG")
            .env_remove("MODE")
            .env_remove("GREETING");
        command.args(["compose"]).args(extra).arg("config");
        command.envs(env.iter().copied());
        skiff.run_with(&mut command, b"")
    };
    config(&[], &[])
        .code(125)
        .stderr_has("`TAG` is required: set TAG in .env");
    write_file(
        dir.path(),
        ".env",
        "# the release\nTAG=1.4\nGREETING=\"hello ${TAG}\"\n",
    );
    config(&[], &[])
        .success()
        .stdout_has("image: registry.example/api:1.4")
        .stdout_has("MODE=dev")
        .stdout_has("GREETING=hello 1.4");
    config(&[], &[("TAG", "2.0"), ("MODE", "prod")])
        .success()
        .stdout_has("image: registry.example/api:2.0")
        .stdout_has("MODE=prod");
    write_file(dir.path(), "other.env", "TAG=3.1\n");
    config(&["--env-file", "other.env"], &[])
        .success()
        .stdout_has("api:3.1");
    let mut services = skiff.command();
    services
        .current_dir(dir.path())
        .env("TAG", "1")
        .args(["compose", "config", "--services"]);
    skiff
        .run_with(&mut services, b"")
        .success()
        .stdout_is("api\n");
    // `profiles`: a service with some is left out until one is enabled.
    let mut profiled = skiff.command();
    profiled.current_dir(dir.path()).env("TAG", "1");
    profiled.args(["compose", "--profile", "debug", "config", "--services"]);
    skiff
        .run_with(&mut profiled, b"")
        .success()
        .stdout_is("api\ndebug\n");
    let mut by_env = skiff.command();
    by_env
        .current_dir(dir.path())
        .env("TAG", "1")
        .env("COMPOSE_PROFILES", "other,debug");
    by_env.args(["compose", "config", "--services"]);
    skiff
        .run_with(&mut by_env, b"")
        .success()
        .stdout_is("api\ndebug\n");
    let mut named = skiff.command();
    named
        .current_dir(dir.path())
        .args(["compose", "up", "-d", "debug"]);
    skiff
        .run_with(&mut named, b"")
        .code(125)
        .stderr_has("`debug` is not enabled")
        .stderr_has("--profile debug");
    let mut quiet = skiff.command();
    quiet
        .current_dir(dir.path())
        .args(["compose", "config", "-q"]);
    skiff.run_with(&mut quiet, b"").success().stdout_is("");
    config(&["--env-file", "missing.env"], &[])
        .code(125)
        .stderr_has("missing.env");
}

/// `depends_on`'s long form: `restart: true` restarts the dependent when `up` replaces its
/// dependency; `required: false` lets a service start without a dependency the project lacks.
#[test]
fn dependents_restart_with_their_dependency_and_optional_ones_may_be_missing() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = |mode: &str| {
        format!(
            "services:\n  front:\n    image: {P1_CLI_SLEEP}\n    command: [\"600000\"]\n    depends_on:\n      back: {{condition: service_started, restart: true}}\n      cache: {{required: false}}\n  back:\n    image: {P1_CLI_SLEEP}\n    command: [\"600000\"]\n    environment: {{MODE: {mode}}}\n"
        )
    };
    write_file(dir.path(), "compose.yaml", file("a"));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("depends on `cache`, which is not in the project")
        .stderr_has("App demo-front  Created");
    let started = daemon.app("demo-front")["started_at"].clone();
    write_file(dir.path(), "compose.yaml", file("b"));
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App demo-back  Recreated")
        .stderr_has("App demo-front  Restarted (`back` changed)");
    assert_ne!(daemon.app("demo-front")["started_at"], started);
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App demo-back  Running")
        .stderr_has("App demo-front  Running");
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
}

/// `compose run`: a one-off of a service in the daemon, after what it depends on, calling it
/// in-process along the file's edges, its output shown and its exit code returned.
#[test]
fn run_is_a_one_off_of_a_service() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            r#"
services:
  api:
    image: {P2_HTTP_HELLO}
    x-skiff: {{routes: [/api]}}
  other:
    image: {P2_HTTP_HELLO}
    x-skiff: {{routes: [/other]}}
  fetch:
    image: {P2_HTTP_GET}
    command: ["http://api/"]
    depends_on: [api]
  status:
    image: {P1_CLI_EXIT_CODE}
    command: ["0"]
  env:
    image: {P1_CLI_ENV}
    environment: {{MODE: file}}
"#
        ),
    );
    // Its dependency is started first; the call reaches it in-process; nothing is left.
    compose(&daemon, dir.path(), &["run", "--rm", "fetch"])
        .success()
        .stderr_has("App demo-api  Created")
        .stdout_is("status 200\nhello from skiff\n");
    let apps = daemon.run(&["ps", "-a", "-q"]);
    apps.success().stdout_is("demo-api\n");
    // A call along no edge of the file is refused, and the command's code comes back.
    compose(
        &daemon,
        dir.path(),
        &["run", "--rm", "fetch", "http://other/"],
    )
    .code(1)
    .stderr_has("add `other` to `depends_on` (or `links`) of service `fetch`")
    .stderr_has("HttpRequestDenied");
    compose(&daemon, dir.path(), &["run", "--rm", "status", "3"]).code(3);

    // Detached, named, with more variables; a one-off is not its service's app, so `up` leaves
    // it alone, and `down` removes it with the rest.
    compose(
        &daemon,
        dir.path(),
        &["run", "-d", "--name", "job", "-e", "EXTRA=1", "env"],
    )
    .success()
    .stdout_is("job\n");
    daemon.wait_for("job", "exited", |app| app["state"] == "exited");
    daemon
        .run(&["logs", "job"])
        .success()
        .stdout_is("EXTRA=1\nMODE=file\n");
    daemon
        .run(&["ps", "-a", "-q", "--filter", "label=skiff.compose.oneoff"])
        .success()
        .stdout_is("job\n");
    compose(&daemon, dir.path(), &["up", "-d"]).success();
    daemon
        .run(&["ps", "-a", "-q", "--filter", "name=job"])
        .success()
        .stdout_is("job\n");
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
    daemon.run(&["ps", "-a", "-q"]).success().stdout_is("");
    // A service the file does not have is refused before anything runs.
    compose(&daemon, dir.path(), &["run", "nope"])
        .code(125)
        .stderr_has("no service `nope`");
}

/// `compose port`, `images`, `stats` and `attach` of a service's app, as `docker compose` has
/// them; the verbs a Wasm service has no use for say what to do instead.
#[test]
fn port_images_stats_attach_and_the_verbs_that_mean_nothing_here() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let kv = crate::programs::free_port();
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            "services:\n  kv:\n    image: {P2_TCP_KV_SERVER}\n    command: [\"127.0.0.1:{kv}\"]\n    ports: [\"{kv}:6379\"]\n  job:\n    image: {P1_CLI_SLEEP}\n    command: [\"3000\"]\n"
        ),
    );
    compose(&daemon, dir.path(), &["up", "-d"]).success();
    compose(&daemon, dir.path(), &["port", "kv", "6379"])
        .success()
        .stdout_is(&format!("127.0.0.1:{kv}\n"));
    compose(&daemon, dir.path(), &["port", "kv", "80"])
        .code(125)
        .stderr_has("service `kv` publishes no port 80/tcp")
        .stderr_has(&format!("6379 (published at {kv})"));
    compose(&daemon, dir.path(), &["images", "kv"])
        .success()
        .stdout_has("demo-kv")
        .stdout_has("p2_tcp_kv_server.wasm")
        .stdout_has("sha256:");
    compose(&daemon, dir.path(), &["stats", "--no-stream", "kv"])
        .success()
        .stdout_has("demo-kv")
        .stdout_lacks("demo-job");
    compose(&daemon, dir.path(), &["pause", "kv"]).success();
    compose(&daemon, dir.path(), &["ps", "-q", "--status", "paused"])
        .success()
        .stdout_is("demo-kv\n");
    compose(&daemon, dir.path(), &["unpause", "kv"]).success();
    // Attached to the service's app: its output from now on, then its exit code.
    compose(&daemon, dir.path(), &["attach", "job"])
        .success()
        .stdout_is("done\n");
    for (verb, instead) in [
        ("exec", "skiff run -v HOST:GUEST"),
        ("scale", "a service of its own"),
        ("watch", "skiff compose up -d --build"),
    ] {
        compose(&daemon, dir.path(), &[verb, "kv", "--help"])
            .code(125)
            .stderr_has(&format!("`skiff compose {verb}`: "))
            .stderr_has(instead);
    }
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
}

/// `compose create` (`up --no-start`): the apps are made and shown as created; `compose start`
/// runs them, and a later `up` starts one it left unchanged.
#[test]
fn create_makes_the_apps_and_start_or_up_runs_them() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "compose.yaml", project("batch", ""));
    compose(&daemon, dir.path(), &["create"])
        .success()
        .stderr_has("App demo-worker  Created")
        .stderr_has("App demo-web  Created");
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .success()
        .stdout_is("demo-web created\ndemo-worker created\n");
    compose(&daemon, dir.path(), &["create"])
        .success()
        .stderr_has("App demo-web  Unchanged");
    compose(
        &daemon,
        dir.path(),
        &["ps", "--status", "created", "--services"],
    )
    .success()
    .stdout_is("web\nworker\n");
    compose(&daemon, dir.path(), &["start", "worker"]).success();
    daemon.wait_for("demo-worker", "running", |app| app["state"] == "running");
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("App demo-worker  Running")
        .stderr_has("App demo-web  Started");
    daemon.wait_for("demo-web", "serving", |app| app["state"] == "serving");
    compose(&daemon, dir.path(), &["ps", "-q"])
        .success()
        .stdout_is("demo-web\ndemo-worker\n");
    compose(
        &daemon,
        dir.path(),
        &[
            "ps",
            "--format",
            "{{.Service}}={{.Status}}",
            "--status",
            "serving",
        ],
    )
    .success()
    .stdout_is("web=serving\n");
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
}

/// `compose events`: what happens to the project's apps from now on, with their service; other
/// apps' events are left out.
#[test]
fn events_and_wait_follow_the_projects_apps() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        format!("services:\n  job:\n    image: {P1_CLI_EXIT_CODE}\n    command: [\"3\"]\n"),
    );
    daemon.run_d("before", &[P1_CLI_EXIT_CODE, "0"]).success();
    let file = dir.path().join("compose.yaml");
    let mut events = daemon
        .command()
        .args([
            "compose",
            "-f",
            file.to_str().unwrap(),
            "-p",
            "demo",
            "events",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    daemon.run_d("other", &[P1_CLI_EXIT_CODE, "0"]).success();
    compose(&daemon, dir.path(), &["up", "-d"]).success();
    daemon.wait_for("demo-job", "exited", |app| app["state"] == "exited");
    compose(&daemon, dir.path(), &["run", "--rm", "job"]).code(3);
    std::thread::sleep(std::time::Duration::from_millis(300));
    events.kill().unwrap();
    let out = events.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains(" job demo-job created "), "{out}");
    assert!(out.contains(" job demo-job exited exited (3)"), "{out}");
    assert!(out.contains(" job demo-job-run-"), "{out}");
    assert!(!out.contains("before") && !out.contains("other"), "{out}");

    // `compose wait`: the first of its apps to end gives its code; `--down-project` then
    // removes the project's apps.
    compose(&daemon, dir.path(), &["wait", "--down-project"]).code(3);
    daemon
        .run(&["ps", "-a", "-q"])
        .success()
        .stdout_is("before\nother\n");
}

/// A test run, as CI runs one with `docker compose up --abort-on-container-exit --exit-code-from
/// tests`: the output until the first app ends, then the others stopped, and that app's code
/// (or the named service's); `--abort-on-container-failure` waits for a failure. A second `up`
/// runs the ended apps again, as Docker starts an exited container.
#[test]
fn up_can_end_with_the_first_app_that_ends() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "compose.yaml",
        format!(
            r#"
services:
  server:
    image: {P1_CLI_SLEEP}
    command: ["600000"]
    stop_grace_period: 1s
  setup:
    image: {P1_CLI_EXIT_CODE}
    command: ["0"]
  tests:
    image: {P1_CLI_EXIT_CODE}
    command: ["3"]
    depends_on:
      server: {{condition: service_started}}
      setup: {{condition: service_completed_successfully}}
"#
        ),
    );
    let up = compose(&daemon, dir.path(), &["up", "--abort-on-container-exit"]);
    up.code(3)
        .stderr_has("demo-tests exited with code 3")
        .stderr_has("Aborting on container exit");
    for app in ["demo-server", "demo-setup", "demo-tests"] {
        assert_eq!(crate::daemon::state(&daemon.app(app)), "exited", "{app}");
    }
    // `setup`, which `tests` waits to complete, ended first: a success of it ends nothing. With
    // `--abort-on-container-failure` only a failure ends it. Run again by this `up`.
    compose(&daemon, dir.path(), &["up", "--abort-on-container-failure"])
        .code(3)
        .stderr_has("demo-tests exited with code 3")
        .stderr_has(" App demo-tests  Started");
    // The server's code, once stopped by the abort.
    let stopped = crate::daemon::Daemon::app(&daemon, "demo-server")["exits"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["code"]
        .as_i64()
        .unwrap();
    compose(&daemon, dir.path(), &["up", "--exit-code-from", "server"]).code(stopped as i32);
    compose(&daemon, dir.path(), &["up", "--exit-code-from", "nobody"])
        .code(125)
        .stderr_has("nobody");
    compose(
        &daemon,
        dir.path(),
        &["up", "-d", "--abort-on-container-exit"],
    )
    .code(125)
    .stderr_has("cannot be used with");
}

/// Docker's everyday flags of `up`, `logs` and `down`: `up --no-deps` starts only the services
/// named, `--no-recreate` leaves a changed service's app as it is; `logs` with `-t`,
/// `--no-log-prefix`, `--since` and `--until`; `down -v --remove-orphans` (nothing more to
/// remove: a project has no volumes of its own, and `down` removes every app of it).
#[test]
fn everyday_flags_of_up_logs_and_down() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = |greeting: &str| {
        format!(
            r#"
services:
  base:
    image: {P1_CLI_SLEEP}
    command: ["600000"]
  printer:
    image: {P1_CLI_ENV}
    environment: {{GREETING: {greeting}}}
    depends_on: [base]
"#
        )
    };
    write_file(dir.path(), "compose.yaml", file("hi"));
    compose(&daemon, dir.path(), &["up", "-d", "--no-deps", "printer"])
        .success()
        .stderr_lacks("demo-base");
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}}"])
        .success()
        .stdout_is("demo-printer\n");
    daemon.wait_for("demo-printer", "exited", |app| {
        crate::daemon::state(app) == "exited"
    });
    compose(&daemon, dir.path(), &["logs", "--no-log-prefix"])
        .success()
        .stdout_is("GREETING=hi\n");
    compose(&daemon, dir.path(), &["logs", "--since", "1h", "printer"])
        .success()
        .stdout_is("printer | GREETING=hi\n");
    compose(
        &daemon,
        dir.path(),
        &["logs", "--until", "2000-01-01T00:00:00Z"],
    )
    .success()
    .stdout_is("");
    let stamped = compose(&daemon, dir.path(), &["logs", "-t", "printer"]);
    let line = stamped.success().stdout.trim_end().to_string();
    let stamp = line
        .strip_prefix("printer | ")
        .and_then(|rest| rest.strip_suffix(" GREETING=hi"))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{line}"
    );

    // A changed file: `--no-recreate` runs the app as it was; without it, it is replaced.
    write_file(dir.path(), "compose.yaml", file("ho"));
    compose(
        &daemon,
        dir.path(),
        &["up", "-d", "--no-deps", "--no-recreate", "printer"],
    )
    .success()
    .stderr_has(" App demo-printer  Started");
    daemon.wait_for("demo-printer", "a second exit", |app| {
        app["exits"].as_array().is_some_and(|e| e.len() == 2)
    });
    compose(&daemon, dir.path(), &["up", "-d", "--no-deps", "printer"])
        .success()
        .stderr_has(" App demo-printer  Recreated");
    daemon.wait_for("demo-printer", "exited", |app| {
        crate::daemon::state(app) == "exited"
    });
    compose(&daemon, dir.path(), &["logs", "--no-log-prefix"])
        .success()
        .stdout_is("GREETING=ho\n");
    // Attached: only the services asked for show their output.
    compose(
        &daemon,
        dir.path(),
        &["up", "--no-deps", "--attach", "printer", "printer"],
    )
    .success()
    .stdout_is("printer | GREETING=ho\n");
    compose(
        &daemon,
        dir.path(),
        &[
            "up",
            "--no-deps",
            "--no-attach",
            "printer",
            "--abort-on-container-exit",
            "printer",
        ],
    )
    .success()
    .stdout_is("")
    .stderr_has("demo-printer exited with code 0");
    compose(&daemon, dir.path(), &["convert", "--services"])
        .success()
        .stdout_is("base\nprinter\n");
    compose(&daemon, dir.path(), &["version", "--short"])
        .success()
        .stdout_is(&format!("{}\n", env!("CARGO_PKG_VERSION")));
    compose(&daemon, dir.path(), &["down", "-v", "--remove-orphans"]).success();
    daemon.run(&["ps", "-a", "-q"]).success().stdout_is("");
}

/// A service whose `build:` is a Spin app's directory: its `spin.toml` built as `skiff build`
/// builds it, and served as any Spin app (here on the gateway: a component on `/...` takes
/// every path of the service's route).
#[test]
fn a_spin_app_builds_and_runs_as_a_service() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    std::fs::create_dir(&shop).unwrap();
    std::fs::copy(P2_HTTP_SPIN_KV, shop.join("kv.wasm")).unwrap();
    write_file(
        &shop,
        "spin.toml",
        "spin_manifest_version = 2\n[application]\nname = \"shop\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"kv\"\n\
         [component.kv]\nsource = \"kv.wasm\"\n[component.kv.variables]\ngreeting = \"hi\"\n",
    );
    write_file(
        dir.path(),
        "compose.yaml",
        "services:\n  shop:\n    build: ./shop\n    x-skiff: {routes: [/]}\n",
    );
    compose(&daemon, dir.path(), &["up", "-d"])
        .success()
        .stderr_has("Built demo-shop:latest");
    let gateway = daemon.info()["gateway"].as_str().unwrap().to_string();
    let (status, body) = crate::http::get(&format!("http://{gateway}/var/greeting"));
    assert_eq!((status.as_u16(), body.as_str()), (200, "greeting=hi\n"));
    compose(&daemon, dir.path(), &["down", "-t", "0"]).success();
}
