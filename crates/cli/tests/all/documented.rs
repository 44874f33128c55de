//! Behaviour the README and docs promise that no other test checked (issue 16's list).

use skiff_test_programs_artifacts::{P1_CLI_HELLO, P2_CLI_HELLO, P2_CLI_WRITE_FILE, P2_HTTP_HELLO};

use crate::daemon::Daemon;
use crate::support::{Skiff, path_str};

/// An app directory of `wasm` with `skiff.toml` ending in `tail`, and a `data/` directory.
fn app(wasm: &str, tail: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(wasm, dir.path().join("app.wasm")).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/kept.txt"), "kept\n").unwrap();
    std::fs::write(
        dir.path().join("skiff.toml"),
        format!(
            "manifest_version = 1\n[app]\nname = \"doc\"\nversion = \"1.0.0\"\n[build]\nwasm = \"app.wasm\"\n{tail}"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn builds_honour_source_date_epoch() {
    let dir = app(P2_CLI_HELLO, "");
    let build = |epoch: &str| {
        let skiff = Skiff::new();
        let out = skiff.run_with(
            skiff.command().env("SOURCE_DATE_EPOCH", epoch).args([
                "build",
                "-t",
                "doc:1",
                path_str(dir.path()),
            ]),
            b"",
        );
        out.success();
        let inspect = skiff.run(&["inspect", "--format", "json", "doc:1"]);
        (out.stdout.trim().to_string(), inspect.stdout)
    };
    let (first, inspect) = build("1700000000");
    let (second, _) = build("1700000000");
    assert_eq!(
        first, second,
        "the same sources and epoch must give the same image"
    );
    assert!(
        inspect.contains("\"created\": \"2023-11-14T22:13:20Z\""),
        "{inspect}"
    );
    let (other, _) = build("1700000001");
    assert_ne!(first, other, "the epoch is the image's creation time");
}

#[test]
fn unknown_manifest_versions_are_refused_with_the_supported_one() {
    let dir = app(P2_CLI_HELLO, "");
    let manifest = dir.path().join("skiff.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("manifest_version = 1", "manifest_version = 2"),
    )
    .unwrap();
    Skiff::new()
        .run(&["build", path_str(dir.path())])
        .code(125)
        .stderr_has("unsupported manifest version `2`")
        .stderr_has("hint: set `manifest_version = 1`");
}

#[test]
fn the_root_flag_wins_over_skiff_root() {
    let env_root = tempfile::tempdir().unwrap();
    let flag_root = tempfile::tempdir().unwrap();
    let dir = app(P2_CLI_HELLO, "");
    let skiff = Skiff::new();
    skiff
        .run_with(
            skiff.command().env("SKIFF_ROOT", env_root.path()).args([
                "--root",
                path_str(flag_root.path()),
                "build",
                "-t",
                "doc:1",
                path_str(dir.path()),
            ]),
            b"",
        )
        .success();
    assert!(flag_root.path().join("images/refs.json").is_file());
    assert!(!env_root.path().join("images").exists());
    // Without the flag, SKIFF_ROOT is the root.
    skiff
        .run_with(
            skiff
                .command()
                .env("SKIFF_ROOT", env_root.path())
                .args(["images"]),
            b"",
        )
        .success()
        .stdout_lacks("doc");
}

#[test]
fn an_images_files_refuse_writes() {
    let dir = app(
        P2_CLI_WRITE_FILE,
        "[[files]]\nsource = \"data\"\ndestination = \"/data\"\n",
    );
    let skiff = Skiff::new();
    skiff
        .run(&["build", "-t", "doc:1", path_str(dir.path())])
        .success();
    for target in ["/data/new.txt", "/data/kept.txt"] {
        skiff
            .run(&["run", "doc:1", target, "overwritten"])
            .code(1)
            .stderr_has("error: Operation not permitted");
    }
    skiff
        .run(&["system", "check"])
        .success()
        .stdout_has("no problems");
}

/// `--memory` is the budget of all of an app's memories together.
#[test]
fn the_memory_limit_counts_every_memory() {
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("two.wat");
    // Grows each of two memories by 20 MiB, then exits 0.
    std::fs::write(
        &wat,
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory $a 1)
  (memory $b 1)
  (export "memory" (memory $a))
  (func (export "_start")
    (drop (memory.grow $a (i32.const 320)))
    (drop (memory.grow $b (i32.const 320)))
    (call $exit (i32.const 0))))"#,
    )
    .unwrap();
    let skiff = Skiff::new();
    skiff
        .run(&["run", "--memory", "64MiB", path_str(&wat)])
        .success();
    skiff
        .run(&["run", "--memory", "32MiB", path_str(&wat)])
        .code(137)
        .stderr_has("exceeded its memory limit of 32 MiB");
}

#[test]
fn daemon_logs_since_and_json_log_format() {
    let daemon = Daemon::start_with(&["--log-format", "json"]);
    daemon.run_d("hello", &[P1_CLI_HELLO]).success();
    daemon.wait_for("hello", "exited", |a| crate::daemon::state(a) == "exited");
    daemon
        .run(&["logs", "--since", "10m", "hello"])
        .success()
        .stdout_has("Hello, world!");
    daemon
        .run(&["logs", "--since", "2999-01-01T00:00:00Z", "hello"])
        .success()
        .stdout_is("");
    daemon
        .run(&["logs", "--since", "yesterday-ish", "hello"])
        .code(125)
        .stderr_has("yesterday-ish");
    // Every line the daemon wrote about itself is one JSON object.
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the daemon logged nothing");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
}

/// README: `skiff daemon --gateway none --metrics none` listens on neither; an HTTP app is still
/// served on its own port.
#[test]
fn the_gateway_and_metrics_can_be_turned_off() {
    let daemon = Daemon::start_with(&["--gateway", "none", "--metrics", "none"]);
    let info = daemon.info();
    assert!(info["gateway"].is_null(), "{info:#}");
    assert!(info["metrics"].is_null(), "{info:#}");
    let port = crate::programs::free_port().to_string();
    daemon.run_d("web", &["-p", &port, P2_HTTP_HELLO]).success();
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "hello from skiff\n");
}
