//! One test per guest program and target: `skiff run` of each behaviour, as a user sees it.
//! Each `cli_*` program runs as a preview 1 module (`p1_*`) and as a 0.2 component (`p2_*`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use skiff_test_programs_artifacts::*;

use crate::support::{Skiff, dir_with, path_str};

/// Every guest program must have a test of the same name in this module.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports, reason = "the import is the check")]
        use self::$name as _;
    };
}
foreach_p1!(assert_test_exists);
foreach_p2!(assert_test_exists);
foreach_c!(assert_test_exists);
foreach_cpp!(assert_test_exists);

/// The two tests of a `cli_*` program: `check` run against its p1 and its p2 build.
macro_rules! both {
    ($check:ident: $p1:ident = $c1:ident, $p2:ident = $c2:ident) => {
        #[test]
        fn $p1() {
            $check($c1);
        }
        #[test]
        fn $p2() {
            $check($c2);
        }
    };
}

both!(hello: p1_cli_hello = P1_CLI_HELLO, p2_cli_hello = P2_CLI_HELLO);
fn hello(wasm: &str) {
    let skiff = Skiff::new();
    skiff
        .run(&["run", wasm])
        .success()
        .stdout_is("Hello, world!\n");
    // Everything after the file is the app's, even what looks like a Skiff flag.
    skiff
        .run(&["run", wasm, "--name", "Ada"])
        .success()
        .stdout_is("Hello, Ada!\n");
}

both!(args: p1_cli_args = P1_CLI_ARGS, p2_cli_args = P2_CLI_ARGS);
fn args(wasm: &str) {
    Skiff::new()
        .run(&["run", wasm, "one", "two words", "--memory", "-e", ""])
        .success()
        .stdout_is("one\ntwo words\n--memory\n-e\n\n");
}

both!(env: p1_cli_env = P1_CLI_ENV, p2_cli_env = P2_CLI_ENV);
fn env(wasm: &str) {
    let skiff = Skiff::new();
    // Deny by default: the host's PATH, HOME, ... are not visible.
    skiff.run(&["run", wasm]).success().stdout_is("");

    let dir = dir_with(&[(
        "app.env",
        "# defaults\nFROM_FILE=1\nOVERRIDDEN=file\n\nCOPIED\n",
    )]);
    let env_file = dir.path().join("app.env");
    let out = skiff.run_with(
        skiff
            .command()
            .env("COPIED", "from host")
            .env("NOT_GRANTED", "secret")
            .args(["run", "--env-file", path_str(&env_file)])
            .args([
                "-e",
                "GREETING=hi=there",
                "-e",
                "OVERRIDDEN=flag",
                "-e",
                "UNSET_ON_HOST",
            ])
            .arg(wasm),
        b"",
    );
    out.success()
        .stdout_is("COPIED=from host\nFROM_FILE=1\nGREETING=hi=there\nOVERRIDDEN=flag\n");
}

both!(stdin_upper: p1_cli_stdin_upper = P1_CLI_STDIN_UPPER, p2_cli_stdin_upper = P2_CLI_STDIN_UPPER);
fn stdin_upper(wasm: &str) {
    let skiff = Skiff::new();
    let input = "hello, filter\nsecond line\n".repeat(2000);
    let out = skiff.run_with(skiff.command().args(["run", wasm]), input.as_bytes());
    out.success();
    assert_eq!(out.stdout, input.to_uppercase());
}

both!(exit_code: p1_cli_exit_code = P1_CLI_EXIT_CODE, p2_cli_exit_code = P2_CLI_EXIT_CODE);
fn exit_code(wasm: &str) {
    let skiff = Skiff::new();
    let p2 = wasm.contains("wasm32-wasip2");
    for code in [0, 3, 42, 125] {
        // Rust's std for wasm32-wasip2 reports a non-zero exit as WASI 0.2's `exit(err)`, which
        // carries no code: the host sees 1, as with `wasmtime run`. Modules pass any code.
        let expected = if p2 && code != 0 { 1 } else { code };
        skiff.run(&["run", wasm, &code.to_string()]).code(expected);
    }
    // A status outside WASI's 0..126 is refused by the host, which ends the run with its reason
    // and 1, as `wasmtime run` ends it: the guest did not trap.
    if !p2 {
        skiff
            .run(&["run", wasm, "300"])
            .code(1)
            .stderr_has("failed: exit with invalid exit status outside of [0..126)")
            .stderr_lacks("trapped");
    }
}

both!(stdout_stderr: p1_cli_stdout_stderr = P1_CLI_STDOUT_STDERR, p2_cli_stdout_stderr = P2_CLI_STDOUT_STDERR);
fn stdout_stderr(wasm: &str) {
    let out = Skiff::new().run(&["run", wasm]);
    out.success().stdout_is("to stdout\n");
    assert_eq!(out.stderr, "to stderr\n");
}

both!(panic: p1_cli_panic = P1_CLI_PANIC, p2_cli_panic = P2_CLI_PANIC);
fn panic(wasm: &str) {
    Skiff::new()
        .run(&["run", wasm])
        .code(134)
        .stderr_has("boom")
        .stderr_has("trapped: wasm trap: wasm `unreachable` instruction executed")
        // The wasm backtrace names the guest's functions.
        .stderr_has("cli_panic::deliberately_panics");
}

both!(read_file: p1_cli_read_file = P1_CLI_READ_FILE, p2_cli_read_file = P2_CLI_READ_FILE);
fn read_file(wasm: &str) {
    read_file_outside_grants_is(wasm, "error: No such file or directory");
}

/// `outside`: the guest's error for a path under no granted directory, which each libc words its
/// own way (Rust's std: not found; wasi-libc: `ENOTCAPABLE`).
fn read_file_outside_grants_is(wasm: &str, outside: &str) {
    let skiff = Skiff::new();
    let host = dir_with(&[("data/app.txt", "granted\n"), ("secret.txt", "secret\n")]);
    let data = host.path().join("data");
    std::os::unix::fs::symlink(host.path().join("secret.txt"), data.join("escape")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", data.join("relative-escape")).unwrap();
    let grant = format!("{}:/data", data.display());

    skiff
        .run(&["run", "-v", &grant, wasm, "/data/app.txt"])
        .success()
        .stdout_is("granted\n");
    // The guest can use paths relative to its working directory `/`.
    skiff
        .run(&["run", "-v", &grant, wasm, "data/app.txt"])
        .success()
        .stdout_is("granted\n");
    // `wasmtime run`'s spelling of the same grant.
    skiff
        .run(&[
            "run",
            "--dir",
            &format!("{}::/data", data.display()),
            wasm,
            "/data/app.txt",
        ])
        .success()
        .stdout_is("granted\n");
    // Without the grant, the same file does not exist for the guest.
    skiff
        .run(&["run", wasm, "/data/app.txt"])
        .code(1)
        .stderr_has(outside);
    // Nothing outside the granted directory is reachable: `..` and symlinks out of it are
    // refused by the sandbox; absolute host paths do not exist for the guest.
    let secret = host.path().join("secret.txt").display().to_string();
    for (path, error) in [
        ("/data/../secret.txt", "error: Operation not permitted"),
        ("/data/escape", "error: Operation not permitted"),
        ("/data/relative-escape", "error: Operation not permitted"),
        (secret.as_str(), outside),
        ("/etc/passwd", outside),
    ] {
        let out = skiff.run(&["run", "-v", &grant, wasm, path]);
        out.code(1).stderr_has(error);
        assert!(!out.stdout.contains("secret"), "{path} leaked: {out:#?}");
    }
}

both!(workdir: p1_cli_workdir = P1_CLI_READ_FILE, p2_cli_workdir = P2_CLI_READ_FILE);
fn workdir(wasm: &str) {
    let skiff = Skiff::new();
    let host = dir_with(&[
        ("data/app.txt", "granted\n"),
        ("data/logs/today.txt", "deeper\n"),
        ("secret.txt", "secret\n"),
    ]);
    let data = host.path().join("data");
    std::os::unix::fs::symlink(host.path(), data.join("out")).unwrap();
    let grant = format!("{}:/data:ro", data.display());

    // As `docker run -w`: relative paths resolve in the working directory.
    for (workdir, file, contents) in [
        ("/data", "app.txt", "granted\n"),
        ("/data/logs", "today.txt", "deeper\n"),
        ("/data/logs/", "./today.txt", "deeper\n"),
    ] {
        skiff
            .run(&["run", "-v", &grant, "-w", workdir, wasm, file])
            .success()
            .stdout_is(contents);
    }
    // `wasmtime run`'s spelling.
    skiff
        .run(&["run", "-v", &grant, "-S", "cwd=/data", wasm, "app.txt"])
        .success()
        .stdout_is("granted\n");
    // Without it, the same relative path is not there.
    skiff.run(&["run", "-v", &grant, wasm, "app.txt"]).code(1);
    // A working directory grants nothing: one outside the mounts, one missing, one reached
    // through a symlink out of the mount, or with `..`, is refused before the app starts.
    for (workdir, error) in [
        (
            "/etc",
            "the working directory `/etc` is in no granted directory",
        ),
        (
            "/data/missing",
            "the working directory `/data/missing` cannot be opened",
        ),
        (
            "/data/out",
            "the working directory `/data/out` cannot be opened",
        ),
        ("/data/../etc", "without `..`"),
        ("data", "without `..`"),
    ] {
        let out = skiff.run(&["run", "-v", &grant, "-w", workdir, wasm, "secret.txt"]);
        out.code(125).stderr_has(error).stderr_has("hint:");
        assert!(!out.stdout.contains("secret"), "{workdir}: {out:#?}");
    }
    skiff
        .run(&[
            "run",
            "-v",
            &grant,
            "-w",
            "/data",
            "-S",
            "cwd=/data",
            wasm,
            "app.txt",
        ])
        .code(125)
        .stderr_has("`-S cwd` and `-w` both set the same thing");
    // `wasmtime run -S cwd=DIR` only says what `initial-cwd` answers: outside the mounts the app
    // starts, as under wasmtime, and reaches nothing more.
    let out = skiff.run(&["run", "-v", &grant, "-S", "cwd=/etc", wasm, "secret.txt"]);
    out.code(1);
    assert!(!out.stdout.contains("secret"), "{out:#?}");
}

/// `initial-cwd` answers the working directory: `-w`'s in a mount, and `-S cwd`'s wherever it is,
/// as `wasmtime run -S cwd=DIR` answers it (wasmtime's own CLI test runs `-S cwd=/sandbox` with
/// no directory granted).
#[test]
fn p2_cli_initial_cwd() {
    let skiff = Skiff::new();
    let wasm = P2_CLI_INITIAL_CWD;
    skiff.run(&["run", wasm]).success().stdout_is("none\n");
    skiff
        .run(&["run", "-S", "cwd=/sandbox", wasm])
        .success()
        .stdout_is("/sandbox\n");
    let host = dir_with(&[("logs/today.txt", "")]);
    let grant = format!("{}:/data", host.path().display());
    skiff
        .run(&["run", "-v", &grant, "-w", "/data/logs", wasm])
        .success()
        .stdout_is("/data/logs\n");
}

both!(write_file: p1_cli_write_file = P1_CLI_WRITE_FILE, p2_cli_write_file = P2_CLI_WRITE_FILE);
fn write_file(wasm: &str) {
    let skiff = Skiff::new();
    let host = dir_with(&[("existing.txt", "original\n")]);
    let rw = format!("{}:/out", host.path().display());
    let ro = format!("{}:/out:ro", host.path().display());

    skiff
        .run(&[
            "run",
            "-v",
            &rw,
            wasm,
            "/out/new.txt",
            "written by the guest",
        ])
        .success()
        .stdout_is("wrote\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("new.txt")).unwrap(),
        "written by the guest"
    );

    // A read-only mount refuses both new files and overwrites, and the host keeps its file.
    for target in ["/out/other.txt", "/out/existing.txt"] {
        skiff
            .run(&["run", "-v", &ro, wasm, target, "overwrite"])
            .code(1)
            .stderr_has("error: Operation not permitted");
    }
    assert!(!host.path().join("other.txt").exists());
    assert_eq!(
        std::fs::read_to_string(host.path().join("existing.txt")).unwrap(),
        "original\n"
    );
    // Without a grant there is nowhere to write.
    skiff
        .run(&["run", wasm, "/out/new.txt", "x"])
        .code(1)
        .stderr_has("error: No such file or directory");

    // The same grants in `docker run --mount` syntax.
    let mount = format!("type=bind,source={},target=/out", host.path().display());
    skiff
        .run(&["run", "--mount", &mount, wasm, "/out/mounted.txt", "m"])
        .success();
    assert!(host.path().join("mounted.txt").exists());
    for read_only in [",readonly", ",ro=true", ",readonly=1"] {
        skiff
            .run(&[
                "run",
                "--mount",
                &format!("{mount}{read_only}"),
                wasm,
                "/out/existing.txt",
                "overwrite",
            ])
            .code(1)
            .stderr_has("error: Operation not permitted");
    }
    // What Skiff cannot honour is refused by name, before anything runs.
    for (spec, says) in [
        ("type=volume,source=data,target=/out", "only bind mounts"),
        ("source=/tmp,target=/out", "only bind mounts"),
        ("type=tmpfs,target=/out", "only bind mounts"),
        ("type=bind,source=/tmp", "needs both"),
        (
            "type=bind,source=/tmp,target=/out,bind-propagation=rshared",
            "`bind-propagation=rshared` is not an option",
        ),
    ] {
        skiff
            .run(&["run", "--mount", spec, wasm, "/out/x", "x"])
            .code(125)
            .stderr_has(says);
    }
    assert_eq!(
        std::fs::read_to_string(host.path().join("existing.txt")).unwrap(),
        "original\n"
    );
}

both!(list_dir: p1_cli_list_dir = P1_CLI_LIST_DIR, p2_cli_list_dir = P2_CLI_LIST_DIR);
fn list_dir(wasm: &str) {
    let skiff = Skiff::new();
    let host = dir_with(&[("b.txt", ""), ("a.txt", ""), ("sub/c.txt", "")]);
    let grant = format!("{}:/mnt/data:ro", host.path().display());
    skiff
        .run(&["run", "-v", &grant, wasm, "/mnt/data"])
        .success()
        .stdout_is("a.txt\nb.txt\nsub\n");
    // The host's root is not the guest's: with no grants there is nothing to list.
    skiff
        .run(&["run", wasm, "/"])
        .code(1)
        .stdout_is("")
        .stderr_has("error: No such file or directory");
}

both!(memory_bomb: p1_cli_memory_bomb = P1_CLI_MEMORY_BOMB, p2_cli_memory_bomb = P2_CLI_MEMORY_BOMB);
fn memory_bomb(wasm: &str) {
    Skiff::new()
        .run(&["run", "--memory", "48MiB", wasm])
        .code(137)
        .stderr_has("exceeded its memory limit of 48 MiB")
        .stderr_has("`--memory`");
}

/// A growth past a memory's own maximum fails (`memory.grow` returns -1) and takes nothing:
/// a program that keeps trying is not stopped at `--memory` for memory it never had.
#[test]
fn failed_growths_are_not_counted_against_memory() {
    let dir = tempfile::tempdir().unwrap();
    let wat = crate::support::write_file(
        dir.path(),
        "probe.wat",
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1 2)
            ;; 1000 tries at 5 pages (320 KiB) past the maximum: 312 MiB if each were counted.
            (func (export "_start") (local $n i32)
                (loop $again
                    (drop (memory.grow (i32.const 5)))
                    (local.set $n (i32.add (local.get $n) (i32.const 1)))
                    (br_if $again (i32.lt_u (local.get $n) (i32.const 1000))))
                (call $exit (memory.size))))"#,
    );
    Skiff::new()
        .run(&["run", "--memory", "48MiB", path_str(&wat)])
        .code(1);
}

both!(infinite_loop: p1_cli_infinite_loop = P1_CLI_INFINITE_LOOP, p2_cli_infinite_loop = P2_CLI_INFINITE_LOOP);
fn infinite_loop(wasm: &str) {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "--cpu-time", "300ms", wasm])
        .code(152)
        .stderr_has("exceeded its CPU time limit of 300ms")
        .stderr_has("`--cpu-time`");
    let out = skiff.run(&["run", "--timeout", "300ms", wasm]);
    out.code(124)
        .stderr_has("exceeded its wall-clock limit of 300ms")
        .stderr_has("`--timeout`");
    assert!(out.elapsed < Duration::from_secs(20), "{out:#?}");
}

/// The CPU time a `skiff run` process used, user and system, from the kernel: it ran to its end
/// (`wait4` on it alone, so other tests' processes do not count), and its exit code.
fn cpu_of_run(skiff: &Skiff, args: &[&str]) -> (Duration, i32) {
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which gives its rusage too"
    )]
    let child = skiff
        .command()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; the pid is our own live child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (
        time(usage.ru_utime) + time(usage.ru_stime),
        libc::WEXITSTATUS(status),
    )
}

// `--cpus`, as `docker run --cpus`: a guest that spins is held to its share of the CPU and
// slowed, not stopped; it still ends at its other limits.
both!(cpu_share: p1_cpu_share = P1_CLI_INFINITE_LOOP, p2_cpu_share = P2_CLI_INFINITE_LOOP);
fn cpu_share(wasm: &str) {
    let skiff = Skiff::new();
    let (cpu, code) = cpu_of_run(&skiff, &["run", "--cpus", "0.25", "--timeout", "2s", wasm]);
    assert_eq!(code, 124, "ended at its wall-clock limit");
    // A quarter of a core for 2 s is 0.5 s; a spinning guest alone would take 2 s.
    assert!(
        cpu < Duration::from_millis(900),
        "a quarter of a core for 2 s used {cpu:?} of CPU"
    );
    eprintln!("--cpus 0.25 for 2 s: {cpu:?} of CPU");
    skiff
        .run(&["run", "--cpus", "0", wasm])
        .code(125)
        .stderr_has("invalid CPU share `0`");
}

both!(deep_recursion: p1_cli_deep_recursion = P1_CLI_DEEP_RECURSION, p2_cli_deep_recursion = P2_CLI_DEEP_RECURSION);
fn deep_recursion(wasm: &str) {
    Skiff::new()
        .run(&["run", wasm])
        .code(134)
        .stderr_has("call stack exhausted")
        .stderr_has("cli_deep_recursion::recurse")
        .stderr_has("hint: the app overflowed its wasm stack");
}

both!(sleep: p1_cli_sleep = P1_CLI_SLEEP, p2_cli_sleep = P2_CLI_SLEEP);
fn sleep(wasm: &str) {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "--timeout", "10s", wasm, "20"])
        .success()
        .stdout_is("done\n");
    // Blocked in a host call, not running wasm: the wall-clock limit still ends it.
    let out = skiff.run(&["run", "--timeout", "300ms", wasm, "60000"]);
    out.code(124).stdout_is("");
    assert!(out.elapsed < Duration::from_secs(20), "{out:#?}");
    // Sleeping is not CPU time: a CPU limit shorter than the sleep never fires.
    skiff
        .run(&["run", "--cpu-time", "200ms", wasm, "1000"])
        .success()
        .stdout_is("done\n");
}

/// Blocked in a file call that never returns (opening a FIFO nobody writes to), a run still ends
/// at `--timeout`, as under `wasmtime run -W timeout`: the call is left behind, not waited for.
#[test]
fn a_run_blocked_in_a_file_call_ends_at_its_timeout() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Should Skiff wait for the call, a writer ends it after 30 s, and the test fails on time.
    let unblock = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            let _ = std::fs::OpenOptions::new().write(true).open(fifo);
        })
    };
    let grant = format!("{}:/d", dir.path().display());
    for wasm in [P1_CLI_READ_FILE, P2_CLI_READ_FILE] {
        let out = skiff.run(&["run", "--timeout", "1s", "-v", &grant, wasm, "/d/fifo"]);
        out.code(124)
            .stderr_has("exceeded its wall-clock limit of 1s");
        assert!(out.elapsed < Duration::from_secs(20), "{out:#?}");
    }
    drop(unblock);
}

/// A one-line echo server on a loopback port chosen by the OS.
fn echo_server() -> u16 {
    echo_server_on("127.0.0.1:0")
}

/// A one-line echo server on `addr` (port 0: chosen by the OS); returns its port.
fn echo_server_on(addr: &str) -> u16 {
    let listener = TcpListener::bind(addr).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_ok() {
                let _ = (&stream).write_all(line.as_bytes());
            }
        }
    });
    port
}

#[test]
fn p2_tcp_echo_client() {
    let skiff = Skiff::new();
    let port = echo_server();
    let addr = format!("127.0.0.1:{port}");
    let wasm = P2_TCP_ECHO_CLIENT;

    // Denied by default, and the denial tells the user which grant to add.
    skiff
        .run(&["run", wasm, &addr])
        .code(1)
        .stderr_has("error: Permission denied");
    skiff
        .run(&["run", "--network", "allow=127.0.0.1:9", wasm, &addr])
        .code(1)
        .stderr_has(&format!("allow it with `--network allow={addr}`"));

    skiff
        .run(&["run", "--network", &format!("allow={addr}"), wasm, &addr])
        .success()
        .stdout_is("reply: ping\n");
    // A host name grant does not reach a loopback address, even when the name resolves to one
    // (DNS rebinding): the denial names the address and the grant that reaches it.
    let localhost = format!("localhost:{port}");
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={localhost}"),
            wasm,
            &localhost,
        ])
        .code(1)
        .stderr_has(&format!(
            "blocked TcpConnect to {addr}: `localhost` resolves to 127.0.0.1 (loopback), which a \
             grant by host name does not reach; grant the address itself: \
             `--network allow={localhost},{addr}`"
        ));
    // With the address granted as well, the guest looks the name up and connects.
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={localhost},{addr}"),
            wasm,
            &localhost,
        ])
        .success()
        .stdout_is("reply: ping\n");
}

/// An HTTP server on a loopback port chosen by the OS, answering every request `200 hi\n`;
/// returns its `127.0.0.1:PORT`.
pub(crate) fn http_upstream() -> String {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in server.incoming().map_while(Result::ok) {
            let mut stream = stream;
            let mut request = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut request).is_ok_and(|n| n > 2) {}
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nhi\n",
            );
        }
    });
    addr
}

#[test]
fn p2_http_get() {
    let skiff = Skiff::new();
    let addr = http_upstream();
    let url = format!("http://{addr}/x");
    // A command's outgoing HTTP passes the same grants as its sockets and as HTTP handlers.
    skiff
        .run(&["run", P2_HTTP_GET, &url])
        .code(1)
        .stderr_has("HttpRequestDenied")
        .stderr_has(&format!("--network allow={addr}"));
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={addr}"),
            P2_HTTP_GET,
            &url,
        ])
        .success()
        .stdout_is("status 200\nhi\n");
}

/// Outgoing HTTP connects only to addresses that were checked: a granted host name that
/// resolves to a loopback (private, link-local...) address is refused, as DNS rebinding would
/// have it, unless a grant names that address literally.
#[test]
fn outgoing_http_by_name_does_not_reach_loopback() {
    let skiff = Skiff::new();
    let addr = http_upstream();
    let port = addr.rsplit_once(':').unwrap().1;
    let localhost = format!("localhost:{port}");
    let by_name = format!("http://{localhost}/x");
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={localhost}"),
            P2_HTTP_GET,
            &by_name,
        ])
        .code(1)
        .stdout_is("")
        .stderr_has("request failed: ErrorCode::DestinationIpProhibited")
        .stderr_has(&format!(
            "blocked outgoing HTTP request to {localhost}: `localhost` resolves to 127.0.0.1 \
             (loopback), which a grant by host name does not reach; grant the address itself: \
             `--network allow={localhost},{addr}`"
        ));
    // The fix the message names works, by name...
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={localhost},{addr}"),
            P2_HTTP_GET,
            &by_name,
        ])
        .success()
        .stdout_is("status 200\nhi\n");
    // ...and the literal address alone reaches it by address.
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={addr}"),
            P2_HTTP_GET,
            &format!("http://{addr}/x"),
        ])
        .success()
        .stdout_is("status 200\nhi\n");
    // A range names addresses literally too.
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow=127.0.0.0/8:{port}"),
            P2_HTTP_GET,
            &format!("http://{addr}/x"),
        ])
        .success()
        .stdout_is("status 200\nhi\n");
}

/// IPv6 destinations are granted as `[ADDR]:PORT`, and only those.
#[test]
fn p2_tcp_echo_client_over_ipv6() {
    let skiff = Skiff::new();
    let port = echo_server_on("[::1]:0");
    let addr = format!("[::1]:{port}");
    let wasm = P2_TCP_ECHO_CLIENT;
    skiff
        .run(&["run", wasm, &addr])
        .code(1)
        .stderr_has("error: Permission denied");
    // The same port on IPv4 loopback does not grant IPv6 loopback.
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow=127.0.0.1:{port}"),
            wasm,
            &addr,
        ])
        .code(1)
        .stderr_has(&format!("allow it with `--network allow={addr}`"));
    skiff
        .run(&["run", "--network", &format!("allow={addr}"), wasm, &addr])
        .success()
        .stdout_is("reply: ping\n");
}

/// A port free on 127.0.0.1 now (the OS's choice, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request line to a TCP server, retried until it listens; its reply line.
pub fn tcp_request(addr: &str, line: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(mut stream) => {
                stream.write_all(format!("{line}\n").as_bytes()).unwrap();
                let mut reply = String::new();
                BufReader::new(stream).read_line(&mut reply).unwrap();
                return reply.trim_end().to_string();
            }
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{addr}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A command listens only on the ports `-p` grants it, on loopback unless the grant says
/// otherwise; what reaches the listener may connect, and other apps need an egress grant to it.
#[test]
fn p2_tcp_kv_server() {
    let skiff = Skiff::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let wasm = P2_TCP_KV_SERVER;

    // Denied by default; with another port granted, the denial names the flag that allows it.
    skiff
        .run(&["run", wasm, &addr])
        .code(1)
        .stderr_has("error: Permission denied");
    skiff
        .run(&["run", "-p", &free_port().to_string(), wasm, &addr])
        .code(1)
        .stderr_has("error: Permission denied")
        .stderr_has(&format!("grant it with `-p {port}`"));
    // `-p PORT` is loopback: every interface needs saying so.
    let any = format!("0.0.0.0:{port}");
    skiff
        .run(&["run", "-p", &port.to_string(), wasm, &any])
        .code(1)
        .stderr_has(&format!(
            "it may listen on {addr} only; listen there, or grant `-p {any}`"
        ));

    // In the daemon, serving until stopped.
    let daemon = crate::daemon::Daemon::start();
    daemon
        .run_d("kv", &["-p", &port.to_string(), wasm, &addr])
        .success();
    assert_eq!(tcp_request(&addr, "PING"), "PONG");
    assert_eq!(tcp_request(&addr, "SET colour blue"), "OK");
    assert_eq!(tcp_request(&addr, "GET colour"), "blue");
    daemon
        .run(&["logs", "kv"])
        .success()
        .stdout_has(&format!("listening on {addr}"));

    // Another app reaches it only with a grant to it.
    let client = P2_TCP_ECHO_CLIENT;
    daemon
        .run(&["run", client, &addr])
        .code(1)
        .stderr_has("error: Permission denied");
    daemon
        .run(&["run", "--network", &format!("allow={addr}"), client, &addr])
        .success()
        .stdout_is("reply: PONG\n");
    daemon.run(&["stop", "kv"]).success();

    // A refusal in the daemon is in the app's own log, with the flag that allows it.
    let other = free_port().to_string();
    daemon.run_d("kv2", &["-p", &other, wasm, &addr]).success();
    daemon.wait_for("kv2", "exited", |app| crate::daemon::state(app) == "exited");
    daemon
        .run(&["logs", "kv2"])
        .success()
        .stderr_has(&format!(
            "skiff: blocked TcpBind on {addr}: not a port the app may listen on; grant it with `-p {port}`"
        ));
}

/// A free UDP port on loopback.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One datagram to a UDP server, retried until it answers; its answer.
fn udp_request(addr: &str, message: &str) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 1500];
    loop {
        socket.send_to(message.as_bytes(), addr).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => return String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => assert!(std::time::Instant::now() < deadline, "{addr}: {e}"),
        }
    }
}

/// Docker's `-p PORT/udp`: a command may serve UDP on that port (loopback unless the grant
/// says otherwise), hearing anyone and answering whoever wrote to it, and nowhere else.
#[test]
fn p2_udp_echo_server() {
    let skiff = Skiff::new();
    let port = free_udp_port();
    let addr = format!("127.0.0.1:{port}");
    let wasm = P2_UDP_ECHO_SERVER;
    // Denied without the grant, and a TCP grant of the port is not a UDP one: the denial names
    // the flag that allows it.
    skiff
        .run(&["run", wasm, &addr])
        .code(1)
        .stderr_has("error: Permission denied");
    skiff
        .run(&["run", "-p", &port.to_string(), wasm, &addr])
        .code(1)
        .stderr_has("error: Permission denied")
        .stderr_has(&format!("grant it with `-p {port}/udp`"));
    let daemon = crate::daemon::Daemon::start();
    daemon
        .run_d("echo", &["-p", &format!("{port}/udp"), wasm, &addr])
        .success();
    assert_eq!(udp_request(&addr, "ping"), "ping");
    assert_eq!(udp_request(&addr, "again"), "again");
    daemon
        .run(&["logs", "echo"])
        .success()
        .stdout_has(&format!("listening on {addr}"));
}

/// A granted name that does not resolve when the app starts does not stop it (DNS may be late,
/// as for a service not deployed yet): the guest's own lookup fails as it would under wasmtime,
/// and its sockets reach the name once it resolves.
#[test]
fn a_granted_name_that_does_not_resolve_yet_does_not_stop_the_app() {
    let skiff = Skiff::new();
    let name = "skiff-test-no-such-host.invalid:7";
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow={name}"),
            P2_TCP_ECHO_CLIENT,
            name,
        ])
        .code(1)
        .stderr_has("error: ")
        .stderr_lacks("cannot resolve");
}

/// `--network host` (and `wasmtime run`'s `-S inherit-network`) is the host's whole network, as
/// under Docker and wasmtime: listening on any port, connecting anywhere, loopback and names
/// included; `-S tcp=n` still turns TCP off.
#[test]
fn the_hosts_network_is_granted_whole_when_asked() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let daemon = crate::daemon::Daemon::start();
    daemon
        .run_d("kv", &["--network", "host", P2_TCP_KV_SERVER, &addr])
        .success();
    assert_eq!(tcp_request(&addr, "PING"), "PONG");
    let localhost = format!("localhost:{port}");
    daemon
        .run(&[
            "run",
            "-S",
            "inherit-network",
            P2_TCP_ECHO_CLIENT,
            &localhost,
        ])
        .success()
        .stdout_is("reply: PONG\n");
    daemon
        .run(&[
            "run",
            "-S",
            "inherit-network,tcp=n",
            P2_TCP_ECHO_CLIENT,
            &addr,
        ])
        .code(1)
        .stderr_has("error: Permission denied");
    daemon
        .run(&["run", P2_TCP_ECHO_CLIENT, &addr])
        .code(1)
        .stderr_has("error: Permission denied");
}

/// README: `--network allow=HOST:PORT` grants UDP datagrams to exactly that destination, as it
/// does TCP.
#[test]
fn p2_udp_echo_client() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            let _ = server.send_to(&buf[..n], from);
        }
    });
    let skiff = Skiff::new();
    let wasm = P2_UDP_ECHO_CLIENT;
    skiff
        .run(&["run", wasm, &addr])
        .code(1)
        .stderr_has("error: ");
    skiff
        .run(&["run", "--network", "allow=127.0.0.1:9", wasm, &addr])
        .code(1)
        .stderr_has(&format!("blocked UdpSend to {addr}"));
    skiff
        .run(&["run", "--network", &format!("allow={addr}"), wasm, &addr])
        .success()
        .stdout_is("reply: ping\n");
}

/// docs/manifest.md: a grant may be a URL origin, `http://HOST[:PORT]` (port 80 when omitted) or
/// `https://HOST[:PORT]` (443): a host and port like any other.
#[test]
fn url_origin_grants_are_a_host_and_port() {
    let skiff = Skiff::new();
    let port = echo_server();
    let addr = format!("127.0.0.1:{port}");
    skiff
        .run(&[
            "run",
            "--network",
            &format!("allow=http://{addr}"),
            P2_TCP_ECHO_CLIENT,
            &addr,
        ])
        .success()
        .stdout_is("reply: ping\n");
    // `https://HOST` is port 443, not this one.
    skiff
        .run(&[
            "run",
            "--network",
            "allow=https://127.0.0.1",
            P2_TCP_ECHO_CLIENT,
            &addr,
        ])
        .code(1)
        .stderr_has(&format!("blocked TcpConnect to {addr}"));
}

// The C programs (crates/test-programs/c, clang 19 + wasi-libc): the same checks on a second
// toolchain's output.

#[test]
fn c_hello() {
    hello(C_HELLO);
}

#[test]
fn c_args() {
    args(C_ARGS);
}

#[test]
fn c_env() {
    env(C_ENV);
}

#[test]
fn c_exit_code() {
    exit_code(C_EXIT_CODE);
}

#[test]
fn c_stdin_upper() {
    stdin_upper(C_STDIN_UPPER);
}

#[test]
fn c_stdout_stderr() {
    stdout_stderr(C_STDOUT_STDERR);
}

#[test]
fn c_read_file() {
    read_file_outside_grants_is(C_READ_FILE, "error: Capabilities insufficient");
}

#[test]
fn c_memory_bomb() {
    memory_bomb(C_MEMORY_BOMB);
}

#[test]
fn c_infinite_loop() {
    infinite_loop(C_INFINITE_LOOP);
}

/// A Spin 1 app as its manifest (version 1) gives it (its routes under its `base`), of a handler
/// built from a command as Spin 1's Rust and JavaScript SDKs built them: every export runs the
/// module's constructors, which call WASI, also the realloc through which the request reaches it
/// (a component may not call out then: "cannot leave component instance").
#[test]
fn c_spin1_http() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(C_SPIN1_HTTP, dir.path().join("handler.wasm")).unwrap();
    let manifest = crate::support::write_file(
        dir.path(),
        "spin.toml",
        r#"spin_manifest_version = "1"
name = "legacy"
version = "1.0.0"
trigger = { type = "http", base = "/legacy" }

[[component]]
id = "c_handler"
source = "handler.wasm"
environment = { GREETING = "hello from c" }
[component.trigger]
route = "/c/..."
"#,
    );
    let server = crate::http::Server::start(&Skiff::new(), &[manifest.to_str().unwrap()]);
    // Its route under the app's base path.
    let (status, body) = crate::http::get(&server.url("/legacy/c/x?y=1"));
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "hello from c /legacy/c/x?y=1\n")
    );
    let (status, _) = crate::http::get(&server.url("/c/x"));
    assert_eq!(status.as_u16(), 404);
}

// The C++ programs (crates/test-programs/cpp: `zig c++`, libc++, C++ exceptions compiled to the
// Wasm exception-handling proposal in its standard exnref form). Every one of them uses that
// proposal (their build checks for the tag section), so each test here also fails if Skiff ran
// without it: the module would be refused before it ran (exit 125). Each expectation is what
// `wasmtime run` 48 shows for the same module, except where a comment says otherwise.

#[test]
fn cpp_hello() {
    // libc++'s iostreams; their inline code catches and rethrows, hence exceptions even here.
    hello(CPP_HELLO);
}

#[test]
fn cpp_exceptions() {
    Skiff::new()
        .run(&["run", CPP_EXCEPTIONS])
        .success()
        .stdout_is(concat!(
            "enter 1\n",
            "enter 2\n",
            "enter 3\n",
            // Thrown at depth 3: the destructors run innermost first, while it is in flight.
            "unwind 3 (exceptions in flight: 1)\n",
            "unwind 2 (exceptions in flight: 1)\n",
            "unwind 1 (exceptions in flight: 1)\n",
            // Caught as `std::exception`, rethrown by `throw;`, passed over by the
            // `logic_error` handler, caught by `runtime_error` as the object thrown.
            "cleanup after \"too deep\", rethrowing\n",
            "caught runtime_error \"too deep\" with code 42\n",
            "caught int 7 through catch (...) and an exception_ptr\n",
            "caught out_of_range from vector::at\n",
            "exceptions in flight at the end: 0\n",
        ));
}

#[test]
fn cpp_uncaught_exception() {
    // No handler: Wasm has no two-phase search, so the exception unwinds every frame (the
    // destructor runs) and leaves `_start`. `wasmtime run` 48 prints the same backtrace and
    // "thrown Wasm exception" and exits 1; Skiff counts it as a trap (134, as a native C++
    // program's std::terminate -> abort would be).
    Skiff::new()
        .run(&["run", CPP_UNCAUGHT_EXCEPTION])
        .code(134)
        .stdout_is("throwing\ndestructor ran while unwinding\n")
        .stderr_has("trapped: thrown Wasm exception")
        // The backtrace names the C++ function that threw.
        .stderr_has("cpp_uncaught_exception.wasm!fail()");
}

#[test]
fn cpp_terminate() {
    // Leaving a `noexcept` function calls std::terminate despite the handler outside it:
    // libc++abi's message, then abort, a trap (134, as with `wasmtime run`).
    Skiff::new()
        .run(&["run", CPP_TERMINATE])
        .code(134)
        .stdout_is("throwing inside noexcept\n")
        .stderr_has("libc++abi: terminating")
        .stderr_has("trapped: wasm trap: wasm `unreachable` instruction executed")
        .stderr_has("std::terminate()")
        .stderr_lacks("not reached");
}

/// `wasi:config/store`, as `wasmtime run -S config -S config-var=NAME=VALUE` gives it: no values
/// unless given, the last value for a name wins, and the daemon's apps get theirs the same way.
#[test]
fn p2_config() {
    let skiff = Skiff::new();
    skiff
        .run(&["run", P2_CONFIG, "greeting"])
        .success()
        .stdout_is("greeting: none\n");
    skiff
        .run(&[
            "run",
            "-S",
            "config,config-var=greeting=hello",
            "-S",
            "config-var=db=postgres://db:5432/app",
            "-S",
            "config-var=greeting=hi",
            P2_CONFIG,
            "greeting",
            "missing",
        ])
        .success()
        .stdout_is("db=postgres://db:5432/app\ngreeting=hi\ngreeting: hi\nmissing: none\n");
    skiff
        .run(&["run", "-S", "config-var=greeting", P2_CONFIG])
        .code(125)
        .stderr_has("`-S config-var=NAME=VALUE`");

    let daemon = crate::daemon::Daemon::start();
    daemon
        .run_to_exit(
            "configured",
            &["-S", "config-var=greeting=hello", P2_CONFIG, "greeting"],
        )
        .success()
        .stdout_is("greeting=hello\ngreeting: hello\n");
}

/// wasi-nn, as `wasmtime run -S nn` gives it, and only when granted: a model of OpenVINO's IR
/// (y = x + 1) run on OpenVINO's CPU plugin, loaded by the guest from a granted directory, or
/// loaded before it starts and opened by name (`-S nn-graph=openvino::DIR`).
#[test]
fn p2_nn() {
    let skiff = Skiff::new();
    let model = crate::support::nn_model_dir();
    let grant = format!("{}:/m:ro", path_str(&model));
    let graph = format!("nn-graph=openvino::{}", path_str(&model));
    let with_openvino = |args: &[&str]| {
        let mut cmd = skiff.command();
        cmd.env("LD_LIBRARY_PATH", crate::support::openvino_dir())
            .args(args);
        skiff.run_with(&mut cmd, b"")
    };
    // Not granted: refused before it starts, naming the flag.
    with_openvino(&["run", "-v", &grant, P2_NN, "/m"])
        .code(125)
        .stderr_has("uses wasi-nn, which this run does not grant")
        .stderr_has("`-S nn`");
    with_openvino(&["run", "-S", "nn", "-v", &grant, P2_NN, "/m"])
        .success()
        .stdout_is("2 3 4 5\n");
    with_openvino(&["run", "-S", &graph, P2_NN, "--name", "add-one"])
        .success()
        .stdout_is("2 3 4 5\n");
    // A name no model was loaded under is the guest's error to handle.
    with_openvino(&["run", "-S", &graph, P2_NN, "--name", "other"])
        .code(1)
        .stdout_has("error: ErrorCode::NotFound");
    // A model that cannot be loaded fails the start, naming it.
    let missing = "nn-graph=openvino::/nonexistent/add-one";
    with_openvino(&["run", "-S", missing, P2_NN, "--name", "add-one"])
        .code(125)
        .stderr_has("cannot load the `openvino` model in `/nonexistent/add-one`")
        .stderr_has("model.xml");
}

/// wasi-nn's preview 1 form (`wasi_ephemeral_nn`) links too, under the same grant: a module that
/// asks for a model by a name nothing was loaded under gets `not_found` (6), as under `wasmtime
/// run -S nn`; without the grant it does not start.
#[test]
fn wasi_nn_preview1() {
    let dir = dir_with(&[(
        "nn.wat",
        r#"(module
            (import "wasi_ephemeral_nn" "load_by_name" (func $load (param i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "nothere")
            (func (export "_start")
                (call $exit (call $load (i32.const 16) (i32.const 7) (i32.const 64)))))"#,
    )]);
    let wat = dir.path().join("nn.wat");
    let skiff = Skiff::new();
    skiff.run(&["run", "-S", "nn", path_str(&wat)]).code(6);
    skiff
        .run(&["run", path_str(&wat)])
        .code(125)
        .stderr_has("`-S nn`");
}

/// A TLS server on loopback with the tests' self-signed certificate, for one connection; sends
/// the server name the client asked for (SNI) once its hello is read.
fn tls_server() -> (u16, std::sync::mpsc::Receiver<Option<String>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/testdata");
    let chain =
        vec![CertificateDer::from_pem_file(certificates.join("untrusted-registry.crt")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(certificates.join("untrusted-registry.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hello, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut connection = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
        while connection.wants_read() {
            match connection.read_tls(&mut stream) {
                Ok(0) | Err(_) => break,
                Ok(_) if connection.process_new_packets().is_err() => break,
                Ok(_) => {}
            }
            if let Some(name) = connection.server_name() {
                let _ = hello.send(Some(name.to_owned()));
            }
            // The server's hello and certificate, for the client to judge.
            while connection.wants_write() {
                if connection.write_tls(&mut stream).is_err() {
                    break;
                }
            }
        }
        let _ = hello.send(None);
    });
    (port, said)
}

/// `wasi:tls`, as `wasmtime run -S tls` links it: a TLS client over a `wasi:sockets` stream, so
/// only to a destination the app was granted, with the server's certificate checked against the
/// web's roots (a self-signed one is refused, as `wasmtime run` refuses it).
#[test]
fn p2_tls_get() {
    let skiff = Skiff::new();
    let (port, hello) = tls_server();
    let addr = format!("127.0.0.1:{port}");
    skiff
        .run(&["run", P2_TLS_GET, &addr, "localhost"])
        .code(1)
        .stderr_has("access-denied");
    skiff
        .run(&[
            "run",
            "-S",
            "tls",
            "--network",
            &format!("allow={addr}"),
            P2_TLS_GET,
            &addr,
            "localhost",
        ])
        .code(1)
        .stderr_has("error: handshake: \"invalid peer certificate: UnknownIssuer");
    // The guest's hello reached the server, asking for the name it was given.
    assert_eq!(
        hello.recv_timeout(Duration::from_secs(10)).unwrap(),
        Some("localhost".to_owned())
    );
}

/// `wasi:keyvalue` in memory, as `wasmtime run -S keyvalue -S keyvalue-in-memory-data=KEY=VALUE`
/// gives it: the store `""` starts with the data given, the instance's writes are its own, and
/// another store does not exist; the daemon's apps get theirs the same way.
#[test]
fn p2_keyvalue() {
    let skiff = Skiff::new();
    let written = "written: by the guest\nexists: true\nother: Error::NoSuchStore\n";
    skiff
        .run(&["run", P2_KEYVALUE])
        .success()
        .stdout_is(written);
    skiff
        .run(&[
            "run",
            "-S",
            "keyvalue,keyvalue-in-memory-data=colour=blue",
            "-S",
            "keyvalue-in-memory-data=size=3",
            P2_KEYVALUE,
        ])
        .success()
        .stdout_is(&format!("colour=blue\nsize=3\n{written}"));

    let daemon = crate::daemon::Daemon::start();
    daemon
        .run_to_exit(
            "stored",
            &["-S", "keyvalue-in-memory-data=colour=blue", P2_KEYVALUE],
        )
        .success()
        .stdout_is(&format!("colour=blue\n{written}"));
}
