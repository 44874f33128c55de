//! WASI 0.3 components (`wasi:cli/run@0.3.0`), which `wasmtime run` 48 runs by default: one test
//! per guest program in `crates/test-programs/p3`, each as a user sees it in the foreground and,
//! where a grant or a limit is involved, under the daemon too (the same runtime, so the same
//! meaning).

use std::net::TcpListener;

use skiff_test_programs_artifacts::*;

use crate::daemon::{Daemon, state};
use crate::http::{Server, get, upstream};
use crate::support::{Skiff, dir_with, free_port};

/// Every WASI 0.3 program must have a test of the same name in this module.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports, reason = "the import is the check")]
        use self::$name as _;
    };
}
foreach_p3!(assert_test_exists);

/// The exit code and log of a daemon app once it has exited.
fn run_in_daemon(daemon: &Daemon, name: &str, args: &[&str]) -> (i64, String) {
    daemon.run_d(name, args).success();
    let app = daemon.wait_for(name, "exited", |a| state(a) == "exited");
    let code = app["exits"][0]["code"].as_i64().expect("an exit code");
    let logs = daemon.run(&["logs", name]);
    logs.success();
    (code, logs.stdout.clone())
}

#[test]
fn p3_args_env() {
    let skiff = Skiff::new();
    // Deny by default: no variable of the host's.
    skiff
        .run(&["run", P3_ARGS_ENV, "one", "two words"])
        .success()
        .stdout_is("one\ntwo words\n");
    skiff
        .run(&["run", "-e", "GREETING=hi", P3_ARGS_ENV, "x"])
        .success()
        .stdout_is("x\nGREETING=hi\n");

    let daemon = Daemon::start();
    let (code, logs) = run_in_daemon(&daemon, "env", &["-e", "A=1", P3_ARGS_ENV, "y"]);
    assert_eq!((code, logs.as_str()), (0, "y\nA=1\n"));
}

#[test]
fn p3_exit_code() {
    let skiff = Skiff::new();
    // WASI 0.3's `exit-with-code` carries the code; `run` returning an error is 1, as in
    // `wasmtime run`.
    for code in [0, 3, 42, 125] {
        skiff
            .run(&["run", P3_EXIT_CODE, &code.to_string()])
            .code(code);
    }
    skiff.run(&["run", P3_EXIT_CODE]).code(1);

    let daemon = Daemon::start();
    assert_eq!(run_in_daemon(&daemon, "exit", &[P3_EXIT_CODE, "7"]).0, 7);
}

#[test]
fn p3_read_file() {
    let skiff = Skiff::new();
    let host = dir_with(&[("data/app.txt", "granted\n"), ("secret.txt", "secret\n")]);
    let data = host.path().join("data");
    std::os::unix::fs::symlink(host.path().join("secret.txt"), data.join("escape")).unwrap();
    let grant = format!("{}:/data", data.display());

    skiff
        .run(&["run", "-v", &grant, P3_READ_FILE, "/data/app.txt"])
        .success()
        .stdout_is("granted\n");
    // Deny by default: without the grant there is no such directory.
    skiff
        .run(&["run", P3_READ_FILE, "/data/app.txt"])
        .code(1)
        .stderr_has("error: no preopened directory holds /data/app.txt");
    // Nothing outside the grant, by `..` or by a symlink.
    for outside in ["/data/../secret.txt", "/data/escape"] {
        skiff
            .run(&["run", "-v", &grant, P3_READ_FILE, outside])
            .code(1)
            .stderr_has("error: ErrorCode::NotPermitted")
            .stdout_lacks("secret");
    }

    let daemon = Daemon::start();
    let (code, logs) = run_in_daemon(
        &daemon,
        "read",
        &["-v", &grant, P3_READ_FILE, "/data/app.txt"],
    );
    assert_eq!((code, logs.as_str()), (0, "granted\n"));
}

#[test]
fn p3_stdin_upper() {
    let skiff = Skiff::new();
    let input = "hello, filter\nsecond line\n".repeat(2000);
    let out = skiff.run_with(
        skiff.command().args(["run", P3_STDIN_UPPER]),
        input.as_bytes(),
    );
    out.success();
    assert_eq!(out.stdout, input.to_uppercase());
}

#[test]
fn p3_tcp_connect() {
    let skiff = Skiff::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Deny by default.
    skiff
        .run(&["run", P3_TCP_CONNECT, &addr])
        .code(1)
        .stderr_has("error: ErrorCode::AccessDenied");
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={addr}"),
            P3_TCP_CONNECT,
            &addr,
        ])
        .success()
        .stdout_is("connected\n");
    // A grant to one port is not a grant to another.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = other.local_addr().unwrap().to_string();
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={addr}"),
            P3_TCP_CONNECT,
            &other,
        ])
        .code(1)
        .stderr_has("error: ErrorCode::AccessDenied");
}

#[test]
fn p3_infinite_loop() {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "--cpu-time", "300ms", P3_INFINITE_LOOP])
        .code(152)
        .stderr_has("exceeded its CPU time limit of 300ms");
    skiff
        .run(&["run", "--timeout", "300ms", P3_INFINITE_LOOP])
        .code(124)
        .stderr_has("exceeded its wall-clock limit of 300ms");

    // Under the daemon the guest is interrupted by epochs, inside WASI 0.3's event loop.
    let daemon = Daemon::start();
    let (code, logs) = run_in_daemon(&daemon, "spin", &["--cpu-time", "300ms", P3_INFINITE_LOOP]);
    assert_eq!((code, logs.as_str()), (152, "spinning\n"));
    daemon.run(&["ps", "-a"]).success().stdout_has("spin");
}

#[test]
fn p3_memory_bomb() {
    Skiff::new()
        .run(&["run", "--memory", "32MiB", P3_MEMORY_BOMB])
        .code(137)
        .stderr_has("exceeded its memory limit of 32 MiB");

    let daemon = Daemon::start();
    let (code, _) = run_in_daemon(&daemon, "bomb", &["--memory", "32MiB", P3_MEMORY_BOMB]);
    assert_eq!(code, 137);
}

#[test]
fn p3_http_hello() {
    // `skiff serve`, a fresh instance per request, as for a WASI 0.2 handler; with the options
    // a `wasmtime serve` command line carries.
    let skiff = Skiff::new();
    let server = Server::start(&skiff, &["-Scli", "-Wtimeout=5s", P3_HTTP_HELLO]);
    for i in 0..20 {
        let (status, body) = get(&server.url(&format!("/n/{i}?x=1")));
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (
                200,
                format!("hello from WASI 0.3: GET /n/{i}?x=1\n").as_str()
            )
        );
    }

    // The daemon, on a port of its own.
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon
        .run_d("hello3", &["-p", &port, P3_HTTP_HELLO])
        .success();
    let (status, body) = get(&format!("http://127.0.0.1:{port}/x"));
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "hello from WASI 0.3: GET /x\n")
    );
    assert_eq!(state(&daemon.app("hello3")), "serving");
}

#[test]
fn p3_http_fetch() {
    // Outgoing HTTP of WASI 0.3 passes the same egress check as WASI 0.2's.
    let skiff = Skiff::new();
    let addr = upstream();
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("http://{addr}/");
    skiff
        .run(&["run", P3_HTTP_FETCH, &url])
        .code(1)
        .stderr_has("error: ErrorCode::HttpRequestDenied")
        .stderr_has(&format!("--network allow={addr}"));
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={addr}"),
            P3_HTTP_FETCH,
            &url,
        ])
        .success()
        .stdout_is("200 upstream ok");
    // A grant by name reaches public addresses only (no rebinding to loopback).
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow=localhost:{port}"),
            P3_HTTP_FETCH,
            &format!("http://localhost:{port}/"),
        ])
        .code(1)
        .stderr_has("error: ErrorCode::DestinationIpProhibited");
}

/// The command line the WASI testsuite's wasmtime adapter writes for a WASI 0.3 test runs
/// unchanged (both are on already).
#[test]
fn wasmtimes_p3_options_are_accepted() {
    Skiff::new()
        .run(&[
            "run",
            "-Wcomponent-model-async",
            "-Sp3",
            "-e",
            "K=V",
            P3_ARGS_ENV,
            "a",
        ])
        .success()
        .stdout_is("a\nK=V\n");
}
