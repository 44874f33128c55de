//! Bad input: each gets a message naming the cause and the fix, and exit code 125.

use skiff_test_programs_artifacts::P1_CLI_HELLO;

use crate::support::{Skiff, path_str, write_file};

fn run_file(name: &str, contents: impl AsRef<[u8]>, extra: &[&str]) -> crate::support::Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), name, contents);
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.push(path_str(&path));
    Skiff::new().run(&args)
}

#[test]
fn not_wasm() {
    run_file("app.wasm", "#!/bin/sh\necho hi\n", &[])
        .code(125)
        .stderr_has("error: `app.wasm` is not a WebAssembly file")
        .stderr_has("hint: ");
    run_file("blob.wasm", [0xffu8, 0xfe, 0x00, 0x01], &[])
        .code(125)
        .stderr_has("is not a WebAssembly file");
    // A native program, or what `wasmtime compile` writes: both are ELF files.
    let skiff = std::fs::read(env!("CARGO_BIN_EXE_skiff")).unwrap();
    run_file("app.cwasm", &skiff[..4096], &[])
        .code(125)
        .stderr_has("error: `app.cwasm` is native code (an ELF file), not WebAssembly")
        .stderr_has("hint: give the `.wasm` it was built or compiled from");
}

#[test]
fn truncated_module() {
    let wasm = std::fs::read(P1_CLI_HELLO).unwrap();
    run_file("cut.wasm", &wasm[..wasm.len() / 2], &[])
        .code(125)
        .stderr_has("error: `cut.wasm` is not a valid WebAssembly module")
        .stderr_has("hint: the file may be truncated");
    run_file("header.wasm", &wasm[..6], &[])
        .code(125)
        .stderr_has("is not a valid WebAssembly module");
}

#[test]
fn invalid_text() {
    run_file(
        "bad.wat",
        "(module (func (export \"_start\") (i32.add)))",
        &[],
    )
    .code(125)
    .stderr_has("is not a valid WebAssembly");
    run_file("syntax.wat", "(module (func", &[])
        .code(125)
        .stderr_has("is not valid WebAssembly text");
}

#[test]
fn component_of_the_wrong_world() {
    let component = r#"(component
        (core module $m (func (export "handle")))
        (core instance $i (instantiate $m))
        (func (export "handle") (canon lift (core func $i "handle"))))"#;
    run_file("lib.wat", component, &[])
        .code(125)
        .stderr_has(
            "is neither a command nor an HTTP handler: it exports neither `wasi:cli/run` nor `wasi:http/incoming-handler`",
        )
        .stderr_has("it exports `handle`")
        .stderr_has("hint: ");
}

#[test]
fn import_skiff_does_not_provide() {
    let module = r#"(module
        (import "env" "host_random" (func (result i32)))
        (func (export "_start")))"#;
    run_file("needs-env.wat", module, &[])
        .code(125)
        .stderr_has("imports `env::host_random`, which Skiff does not provide")
        .stderr_has("hint: Skiff provides WASI preview 1");
    let module = r#"(module
        (import "wasi_snapshot_preview1" "no_such_call" (func))
        (func (export "_start")))"#;
    run_file("future-wasi.wat", module, &[])
        .code(125)
        .stderr_has("needs imports that Skiff does not provide")
        .stderr_has("no_such_call");
}

/// A command component (text) with `import`, exporting its `run` (which succeeds) as `run`.
pub(crate) fn command_importing(import: &str, run: &str) -> String {
    format!(
        r#"(component
        {import}
        (core module $m (func (export "run") (result i32) i32.const 0))
        (core instance $i (instantiate $m))
        (func $run (result (result)) (canon lift (core func $i "run")))
        (instance $inst (export "run" (func $run)))
        (export "{run}" (instance $inst)))"#
    )
}

/// A component of a WASI 0.3 release candidate (as the wasi-testsuite's `wasm32-wasip3`
/// programs are built) is told which WASI to build against.
#[test]
fn a_wasi_0_3_release_candidate_is_named() {
    let component = command_importing(
        r#"(import "wasi:cli/environment@0.3.0-rc-2026-03-15" (instance
            (export "get-arguments" (func (result (list string))))))"#,
        "wasi:cli/run@0.3.0-rc-2026-03-15",
    );
    run_file("rc.wat", &component, &[])
        .code(125)
        .stderr_has("needs imports that Skiff does not provide")
        .stderr_has("release candidate of WASI 0.3")
        .stderr_has("the `wasip3` crate 0.7");
}

/// A component that uses one of Spin's host APIs Skiff does not provide is told so, and which
/// ones it does.
#[test]
fn a_spin_host_api_is_named() {
    let component = command_importing(
        r#"(import "fermyon:spin/mqtt@2.0.0" (instance
            (export "publish" (func (param "topic" string)))))"#,
        "wasi:cli/run@0.2.0",
    );
    run_file("spin.wat", &component, &[])
        .code(125)
        .stderr_has("`fermyon:spin/mqtt@2.0.0`")
        .stderr_has("a Spin host API Skiff does not provide (MQTT, or a newer one)")
        .stderr_has("`fermyon:spin` 2.0.0")
        .stderr_has("run it with Spin");
}

#[test]
fn entry_point_of_the_wrong_type() {
    run_file(
        "entry.wat",
        r#"(module (func (export "_start") (param i32)))"#,
        &[],
    )
    .code(125)
    .stderr_has("`_start` must take and return nothing");
}

#[test]
fn missing_volume_directory() {
    let out = Skiff::new().run(&["run", "-v", "/no/such/dir:/data", P1_CLI_HELLO]);
    out.code(125)
        .stderr_has("cannot mount `/no/such/dir` at `/data`: the host directory does not exist")
        .stderr_has("hint: create the directory");
    // A mode where the guest directory belongs is refused, not taken for a preopen named `ro`.
    Skiff::new()
        .run(&["run", "-v", "/tmp:ro", P1_CLI_HELLO])
        .code(125)
        .stderr_has("the mode comes after the guest directory");
    // A Docker named volume: the directory `./NAME` here, and the error says both.
    let dir = tempfile::tempdir().unwrap();
    let skiff = Skiff::new();
    let named = |skiff: &Skiff| {
        skiff.run_with(
            skiff
                .command()
                .args(["run", "-v", "cache:/cache", P1_CLI_HELLO])
                .current_dir(dir.path()),
            b"",
        )
    };
    named(&skiff)
        .code(125)
        .stderr_has(
            "`-v cache:/cache`: no directory `./cache` to mount (Skiff has no named volumes)",
        )
        .stderr_has("hint: mount a host directory");
    std::fs::create_dir(dir.path().join("cache")).unwrap();
    named(&skiff).success().stdout_is("Hello, world!\n");
}

#[test]
fn malformed_flags() {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "--memory", "64x", P1_CLI_HELLO])
        .code(125)
        .stderr_has("invalid size `64x`");
    skiff
        .run(&["run", "--cpu-time", "2", P1_CLI_HELLO])
        .code(125)
        .stderr_has("invalid duration `2`");
    skiff
        .run(&["run", "--network", "allow=example.com", P1_CLI_HELLO])
        .code(125)
        .stderr_has("has no port");
    skiff
        .run(&["run", "-e", "=x", P1_CLI_HELLO])
        .code(125)
        .stderr_has("invalid environment variable `=x`");
}

#[test]
fn missing_file() {
    Skiff::new()
        .run(&["run", "no-such-app.wasm"])
        .code(125)
        .stderr_has("`no-such-app.wasm`: no such file");
    Skiff::new().run(&["run"]).code(125);
}

#[test]
fn help_and_version_succeed() {
    let skiff = Skiff::new();
    // A verb's flags are built only when it is parsed; the lists of verbs still give each one's
    // summary.
    for help in [
        &["--help"][..],
        &["help"],
        &["-H", "/nonexistent.sock", "--help"],
    ] {
        skiff
            .run(help)
            .success()
            .stdout_has("Run a WebAssembly app")
            .stdout_has("Serve a WebAssembly HTTP handler");
    }
    skiff
        .run(&["ru"])
        .code(125)
        .stderr_has("unrecognized subcommand 'ru'")
        .stderr_has("a similar subcommand exists: 'run'");
    skiff
        .run(&["run", "--help"])
        .success()
        .stdout_has("Grants (deny by default)");
    skiff
        .run(&["help", "run"])
        .success()
        .stdout_has("Grants (deny by default)");
    skiff
        .run(&["run", "--no-such-flag", "app.wasm"])
        .code(125)
        .stderr_has("unexpected argument '--no-such-flag'");
    skiff.run(&["--version"]).success();
}

#[test]
fn trap_in_text_module_and_reactor() {
    run_file(
        "trap.wat",
        r#"(module (func (export "_start") unreachable))"#,
        &[],
    )
    .code(134)
    .stderr_has("wasm `unreachable` instruction executed");
    // A reactor: `_initialize` runs before the default export, as with `wasmtime run`.
    let reactor = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (global $ready (mut i32) (i32.const 0))
        (data (i32.const 16) "reactor ok\n")
        (func (export "_initialize") (global.set $ready (i32.const 1)))
        (func (export "")
            (if (global.get $ready) (then
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 11))
                (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))))"#;
    run_file("reactor.wat", reactor, &[])
        .success()
        .stdout_is("reactor ok\n");
}

#[test]
fn initial_memory_over_the_limit() {
    run_file(
        "big.wat",
        "(module (memory 100) (func (export \"_start\")))",
        &["--memory", "1m"],
    )
    .code(137)
    .stderr_has("exceeded its memory limit of 1 MiB");
}

#[test]
fn preview0_module_runs() {
    // `wasi_unstable`, which older toolchains emit, as `wasmtime run` accepts it.
    let module = r#"(module
        (import "wasi_unstable" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "p0 ok\n")
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 6))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    run_file("p0.wat", module, &[])
        .success()
        .stdout_is("p0 ok\n");
}

/// `docker run` flags: those whose promise every Wasm app keeps (`--read-only`, `--init`,
/// `--cap-drop`, `--security-opt no-new-privileges`) are taken, so a hardened Docker command
/// line runs as it is; the others are refused by name, saying why and what to do instead, where
/// clap said only "unexpected argument". A flag after the program is still the program's.
#[test]
fn docker_run_flags_are_taken_or_refused_by_name() {
    let skiff = Skiff::new();
    skiff
        .run(&[
            "run",
            "--read-only",
            "--init",
            "--cap-drop",
            "ALL",
            "--cap-drop=NET_RAW",
            "--security-opt",
            "no-new-privileges",
            "--security-opt=no-new-privileges:true",
            P1_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
    for (args, why, hint) in [
        (
            &["--user", "1000"][..],
            "a Wasm app has no user",
            "drop the user",
        ),
        (&["--security-opt=seccomp=unconfined"], "seccomp", "drop it"),
        (&["--privileged"], "none of the host's devices", "-v"),
        (
            &["--tmpfs", "/tmp"],
            "no in-memory file system",
            "mktemp -d",
        ),
        (&["--cpuset-cpus", "0"], "not pinned cores", "--cpus N"),
        (&["--hostname", "box"], "no host name", "-e HOSTNAME=NAME"),
    ] {
        let given = args.join(" ").replacen('=', " ", 1);
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.push(P1_CLI_HELLO);
        skiff
            .run(&all)
            .code(125)
            .stderr_has(&format!("error: `{given}` (docker run): "))
            .stderr_has(why)
            .stderr_has("hint: ")
            .stderr_has(hint)
            .stdout_is("");
    }
    // The same in `create`; a flag Docker does not have either is clap's to refuse; any verb
    // that runs nothing leaves them to clap.
    skiff
        .run(&["create", "--user", "1000", P1_CLI_HELLO])
        .code(125)
        .stderr_has("a Wasm app has no user");
    skiff
        .run(&["run", "--frobnicate", P1_CLI_HELLO])
        .code(125)
        .stderr_has("unexpected argument '--frobnicate'");
    skiff
        .run(&["ps", "--read-only"])
        .code(125)
        .stderr_has("unexpected argument '--read-only'");
}
