//! `skiff run` takes `wasmtime run`'s own options, so that a command line written for wasmtime
//! runs unchanged: `--argv0`, `--preload`, `-S inherit-env`, `-W timeout`, `-W max-memory-size`,
//! `-W unknown-imports-*`, the proposals on by default and those turned on when asked, and the
//! engine and store options (`-W fuel`, `max-wasm-stack`, `trap-on-grow-failure`, ...), core
//! dumps (`-D coredump`); what Skiff cannot honour is refused naming its own flag.

use skiff_test_programs_artifacts::{
    P1_CLI_ENV, P1_CLI_HELLO, P1_CLI_INFINITE_LOOP, P1_CLI_MEMORY_BOMB, P1_CLI_PANIC, P2_CLI_HELLO,
    P2_CLI_PANIC, P2_HTTP_GET, P2_HTTP_TRAP,
};

use crate::http::Server;
use crate::support::{Skiff, path_str, write_file};

/// Prints its argv[0].
const ARGV0: &str = r#"(module
    (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_get" (func $get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (local $p i32) (local $len i32)
        (drop (call $sizes (i32.const 0) (i32.const 4)))
        (drop (call $get (i32.const 16) (i32.const 1024)))
        (local.set $p (i32.load (i32.const 16)))
        (block $end (loop $next
            (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $len)))))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br $next)))
        (i32.store (i32.const 8) (local.get $p))
        (i32.store (i32.const 12) (local.get $len))
        (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 0)))))"#;

#[test]
fn argv0_names_the_program_the_app_sees() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let wat = write_file(dir.path(), "argv0.wat", ARGV0);
    let wat = path_str(&wat);
    skiff.run(&["run", wat]).success().stdout_is(wat);
    skiff
        .run(&["run", "--argv0", "ls", wat])
        .success()
        .stdout_is("ls");
    skiff
        .run(&["run", "-d", "--argv0", "ls", wat])
        .code(125)
        .stderr_has("hint: drop `-d`");
}

#[test]
fn inherit_env_grants_this_environment_and_e_still_wins() {
    let skiff = Skiff::new();
    let mut cmd = skiff.command();
    cmd.env_clear()
        .env("SKIFF_ROOT", skiff.root())
        .env("GREETING", "hello")
        .env("COLOUR", "blue")
        // Skiff turns off backtraces in library errors for itself: the guest sees the
        // environment as it was, without the variable that does it.
        .env("RUST_BACKTRACE", "1")
        .args(["run", "-S", "inherit-env", "-e", "COLOUR=red", P1_CLI_ENV]);
    let out = skiff.run_with(&mut cmd, b"");
    out.success()
        .stdout_has("GREETING=hello\n")
        .stdout_has("COLOUR=red\n")
        .stdout_has("RUST_BACKTRACE=1\n")
        .stdout_lacks("COLOUR=blue")
        .stdout_lacks("RUST_LIB_BACKTRACE");
    // Deny by default: without it, none of them.
    let mut cmd = skiff.command();
    cmd.env("GREETING", "hello")
        .args(["run", "-S", "cli", P1_CLI_ENV]);
    skiff.run_with(&mut cmd, b"").success().stdout_is("");
}

/// A runtime-benchmark harness's wasmtime command line, as such harnesses write it.
#[test]
fn a_harness_command_line_for_wasmtime_runs_unchanged() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let mount = path_str(dir.path());
    skiff
        .run(&[
            "run",
            "-W",
            "gc",
            "-W",
            "function-references",
            "-S",
            "threads",
            "--dir",
            mount,
            P1_CLI_ENV,
        ])
        .success();
    // The options' long names, as wasmtime's help spells them.
    skiff
        .run(&[
            "run",
            "--wasm",
            "gc,max-memory-size=67108864",
            "--wasi",
            "inherit-env",
            "--optimize",
            "opt-level=2",
            "--codegen",
            "cache=n",
            "--debug",
            "address-map",
            P1_CLI_ENV,
        ])
        .success();
    // A program that spawns threads is refused when it loads, naming the import.
    let spawner = write_file(
        dir.path(),
        "spawner.wat",
        r#"(module
            (import "wasi" "thread-spawn" (func (param i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "_start")))"#,
    );
    skiff
        .run(&["run", "-S", "threads", path_str(&spawner)])
        .code(125)
        .stderr_has("imports `wasi::thread-spawn`")
        .stderr_has("hint: wasi-threads (`wasm32-wasip1-threads`")
        .stderr_has("build for wasm32-wasip1, without threads");
}

#[test]
fn w_limits_are_skiffs_limits() {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "-W", "timeout=300ms", P1_CLI_INFINITE_LOOP])
        .code(124)
        .stderr_has("wall-clock");
    skiff
        .run(&[
            "run",
            "-W",
            "max-memory-size=50331648,gc,threads=y",
            P1_CLI_MEMORY_BOMB,
        ])
        .code(137)
        .stderr_has("exceeded its memory limit of 48 MiB");
}

#[test]
fn what_skiff_cannot_honour_is_refused_naming_its_flag() {
    let skiff = Skiff::new();
    for (args, hint) in [
        (&["-W", "shared-memory"][..], "single-threaded"),
        (&["-W", "all-proposals=n"][..], "drop `-W all-proposals=n`"),
        (&["-S", "tcplisten=127.0.0.1:9000"][..], "`-S inherit-env`"),
    ] {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.push(P1_CLI_ENV);
        skiff
            .run(&all)
            .code(125)
            .stderr_has("hint: ")
            .stderr_has(hint);
    }
}

/// `wasmtime run`'s options for what it links or does by default, and for
/// `network-error-code`, which Skiff links always: accepted, and a program importing it runs
/// (under `wasmtime run` only with `-S network-error-code`). Turning a default off is refused.
#[test]
fn wasi_options_skiff_has_on_already_are_accepted() {
    let skiff = Skiff::new();
    skiff
        .run(&[
            "run",
            "-S",
            "common,cli-exit-with-code,network-error-code,inherit-stdin,inherit-stdout=y",
            P2_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
    let dir = tempfile::tempdir().unwrap();
    let component = write_file(
        dir.path(),
        "network-error-code.wat",
        crate::errors::command_importing(
            r#"(import "wasi:io/error@0.2.0" (instance $io (export "error" (type (sub resource)))))
          (alias export $io "error" (type $error))
          (import "wasi:sockets/network@0.2.0" (instance
            (alias outer 1 $error (type $e))
            (export "error" (type $err (eq $e)))
            (type $code (enum "unknown" "access-denied" "not-supported" "invalid-argument"
              "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress" "would-block"
              "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use"
              "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted"
              "datagram-too-large" "name-unresolvable" "temporary-resolver-failure"
              "permanent-resolver-failure"))
            (export "error-code" (type $ec (eq $code)))
            (export "network-error-code"
              (func (param "err" (borrow $err)) (result (option $ec))))))"#,
            "wasi:cli/run@0.2.0",
        ),
    );
    skiff.run(&["run", path_str(&component)]).success();
    skiff
        .run(&["run", "-S", "inherit-stdout=n", P2_CLI_HELLO])
        .code(125)
        .stderr_has("Skiff cannot turn inherit-stdout off");
}

/// `wasmtime run -S http=n` (and `config`, `keyvalue`, `tls`, `p3`, `preview0`) leaves the
/// interface out of its linker: a program that imports it fails to link, any other runs. Skiff
/// links them always, and with the option refuses such a program when it loads, naming it.
/// `cli-exit-with-code=n` and `network-error-code=n` change nothing (wasmtime cannot turn the
/// first off, and Skiff links the second always).
#[test]
fn interfaces_wasmtime_leaves_out_refuse_a_program_that_imports_them() {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "-S", "http=n", P2_HTTP_GET, "http://127.0.0.1:9/"])
        .code(125)
        .stderr_has("imports `wasi:http/")
        .stderr_has("which `-S http=n` leaves out")
        .stderr_has("hint: drop the `=n` option");
    for options in [
        "http=n,config=n,keyvalue=n,tls=n,p3=n,preview0=n",
        "cli-exit-with-code=n,network-error-code=n",
    ] {
        skiff
            .run(&["run", "-S", options, P2_CLI_HELLO])
            .success()
            .stdout_is("Hello, world!\n");
    }
    skiff
        .run(&["run", "-S", "preview0=n", P1_CLI_HELLO])
        .success()
        .stdout_is("Hello, world!\n");
    // The last word wins, as in wasmtime.
    skiff
        .run(&[
            "run",
            "-S",
            "http=n,http=y",
            P2_HTTP_GET,
            "http://127.0.0.1:9/",
        ])
        .stderr_lacks("leaves out");
}

/// Imports two functions no host provides (as an AssemblyScript module imports `env::abort`),
/// prints `before`, then calls `env::seed` and exits with 3 if it answers anything but 0.
const IMPORTS_MORE_THAN_WASI: &str = r#"(module
    (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
    (import "env" "seed" (func $seed (result f64)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "before\n")
    (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 7))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (f64.ne (call $seed) (f64.const 0)) (then (call $exit (i32.const 3))))))"#;

/// `-W unknown-imports-trap` and `-W unknown-imports-default`, as `wasmtime run` takes them:
/// imported functions Skiff does not provide trap when called, naming the import, or return
/// zeros; without either the program is refused when it loads, with the flags in the hint.
#[test]
fn unknown_imports_are_stubbed_as_wasmtime_stubs_them() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let module = write_file(dir.path(), "imports.wat", IMPORTS_MORE_THAN_WASI);
    let module = path_str(&module);
    skiff
        .run(&["run", module])
        .code(125)
        .stdout_is("")
        .stderr_has("imports `env::abort`, which Skiff does not provide")
        .stderr_has("`-W unknown-imports-trap`");
    skiff
        .run(&["run", "-W", "unknown-imports-trap", module])
        .code(1)
        .stdout_is("before\n")
        .stderr_has("unknown import: `env::seed` has not been defined");
    skiff
        .run(&["run", "-W", "unknown-imports-default", module])
        .success()
        .stdout_is("before\n");
    // Both: traps, as in wasmtime.
    skiff
        .run(&[
            "run",
            "-W",
            "unknown-imports-default,unknown-imports-trap=y",
            module,
        ])
        .code(1)
        .stderr_has("`env::seed` has not been defined");
    skiff
        .run(&["run", "-d", "-W", "unknown-imports-trap", module])
        .code(125)
        .stderr_has("hint: drop `-d`");

    // A component that imports more than it calls runs with the traps; one that calls what no
    // host provides traps there. Components get no default values, in wasmtime either.
    let uncalled = crate::errors::command_importing(
        r#"(import "example:host/log@1.0.0" (instance (export "log" (func))))"#,
        "wasi:cli/run@0.2.0",
    );
    let uncalled = write_file(dir.path(), "uncalled.wat", &uncalled);
    let uncalled = path_str(&uncalled);
    skiff
        .run(&["run", uncalled])
        .code(125)
        .stderr_has("`example:host/log@1.0.0`")
        .stderr_has("`-W unknown-imports-trap`");
    skiff
        .run(&["run", "-W", "unknown-imports-trap", uncalled])
        .success();
    skiff
        .run(&["run", "-W", "unknown-imports-default", uncalled])
        .code(125)
        .stderr_has("stubs the imports of core modules only")
        .stderr_has("hint: give `-W unknown-imports-trap`");
    let called = write_file(
        dir.path(),
        "called.wat",
        r#"(component
        (import "example:host/log@1.0.0" (instance $log (export "log" (func))))
        (core func $log (canon lower (func $log "log")))
        (core module $m
            (import "host" "log" (func $log))
            (func (export "run") (result i32) (call $log) i32.const 0))
        (core instance $i (instantiate $m (with "host" (instance (export "log" (func $log))))))
        (func $run (result (result)) (canon lift (core func $i "run")))
        (instance $inst (export "run" (func $run)))
        (export "wasi:cli/run@0.2.0" (instance $inst)))"#,
    );
    skiff
        .run(&["run", "-W", "unknown-imports-trap", path_str(&called)])
        .code(1)
        .stderr_has("example:host/log@1.0.0");
}

/// A library module: once initialised, `hello` prints a line and `add(x)` answers 40 + x.
const PRELOAD_LIB: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "lib says hi\n")
    (global $base (mut i32) (i32.const 0))
    (func (export "_initialize") (global.set $base (i32.const 40)))
    (func (export "hello")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 12))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
    (func (export "add") (param i32) (result i32) (i32.add (global.get $base) (local.get 0))))"#;

/// Calls the library it imports as `lib` and exits with `add(2)`.
const PRELOAD_MAIN: &str = r#"(module
    (import "lib" "hello" (func $hello))
    (import "lib" "add" (func $add (param i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $hello) (call $exit (call $add (i32.const 2)))))"#;

/// `--preload NAME=PATH`, as `wasmtime run` takes it: the module is instantiated first (a
/// reactor's `_initialize` run) and the app imports from it under NAME; an import it lacks is
/// refused when the app loads. Core modules only, in the foreground.
#[test]
fn preloaded_modules_are_linked_as_wasmtime_links_them() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let lib = write_file(dir.path(), "lib.wat", PRELOAD_LIB);
    let main = write_file(dir.path(), "main.wat", PRELOAD_MAIN);
    let (main, preload) = (path_str(&main), format!("lib={}", path_str(&lib)));
    skiff
        .run(&["run", "--preload", &preload, main])
        .code(42)
        .stdout_is("lib says hi\n");
    // With the stubs of `-W unknown-imports-trap`, the preload still provides its functions.
    skiff
        .run(&[
            "run",
            "-W",
            "unknown-imports-trap",
            "--preload",
            &preload,
            main,
        ])
        .code(42);
    skiff
        .run(&["run", main])
        .code(125)
        .stderr_has("imports `lib::hello`, which Skiff does not provide");
    let other = format!("lib={}", P1_CLI_ENV);
    skiff
        .run(&["run", "--preload", &other, main])
        .code(125)
        .stderr_has("imports `lib::hello`");
    skiff
        .run(&["run", "-d", "--preload", &preload, main])
        .code(125)
        .stderr_has("hint: drop `-d`");
    skiff
        .run(&["run", "--preload", &preload, P2_CLI_HELLO])
        .code(125)
        .stderr_has("`--preload` links core modules only");
    skiff
        .run(&["run", "--preload", "lib", main])
        .code(125)
        .stderr_has("is not NAME=PATH");
}

/// Recurses 100,000 calls deep, with frames of 16 locals: more than wasmtime's default stack.
const DEEP_RECURSION: &str = r#"(module
    (func $down (param $n i32) (result i32)
        (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
        (if (result i32) (i32.eqz (local.get $n))
            (then (i32.const 0))
            (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1)))))))
    (func (export "_start") (drop (call $down (i32.const 100000)))))"#;

/// `-W max-wasm-stack=BYTES`, as `wasmtime run` takes it: a program deeper than the default
/// stack traps, and runs given more.
#[test]
fn max_wasm_stack_gives_a_deep_program_its_stack() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let deep = write_file(dir.path(), "deep.wat", DEEP_RECURSION);
    let deep = path_str(&deep);
    skiff
        .run(&["run", deep])
        .code(134)
        .stderr_has("call stack exhausted");
    skiff
        .run(&["run", "-W", "max-wasm-stack=67108864", deep])
        .success();
    skiff
        .run(&["run", "-d", "-W", "max-wasm-stack=67108864", deep])
        .code(125)
        .stderr_has("hint: drop `-d`");
}

/// Spins forever.
const SPIN: &str = r#"(module (func (export "_start") (loop $again (br $again))))"#;

/// `-W fuel=N`, as `wasmtime run` takes it: the program traps when its fuel runs out (exit 134,
/// as wasmtime's), and one that needs less runs as without it.
#[test]
fn fuel_ends_a_program_as_wasmtime_fuel_does() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let spin = write_file(dir.path(), "spin.wat", SPIN);
    let spin = path_str(&spin);
    skiff
        .run(&["run", "-W", "fuel=100000", spin])
        .code(134)
        .stderr_has("all fuel consumed by WebAssembly");
    skiff
        .run(&["run", "-W", "fuel=100000000", P2_CLI_HELLO])
        .success()
        .stdout_is("Hello, world!\n");
    skiff
        .run(&["run", "-d", "-W", "fuel=100000", spin])
        .code(125)
        .stderr_has("`-W fuel` sets how one program is loaded")
        .stderr_has("hint: drop `-d`");
}

/// Grows its table by 100 elements (exit 4 if refused), then its memory past its maximum
/// (exit 3 when refused, as it must be); exit 0 if neither is refused.
const GROW: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1 2)
    (table 1 funcref)
    (func (export "_start")
        (if (i32.eq (table.grow (ref.null func) (i32.const 100)) (i32.const -1))
            (then (call $exit (i32.const 4))))
        (if (i32.eq (memory.grow (i32.const 5)) (i32.const -1))
            (then (call $exit (i32.const 3))))
        (call $exit (i32.const 0))))"#;

/// `wasmtime run`'s store limits, with its results: a growth past a limit returns -1 (or traps
/// with `-W trap-on-grow-failure`, exit 1 as wasmtime's), and a store past its count of
/// memories, tables or instances fails to instantiate.
#[test]
fn store_limits_are_wasmtime_runs() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let grow = write_file(dir.path(), "grow.wat", GROW);
    let grow = path_str(&grow);
    skiff.run(&["run", grow]).code(3);
    skiff
        .run(&["run", "-W", "max-table-elements=10", grow])
        .code(4);
    skiff
        .run(&["run", "-W", "trap-on-grow-failure", grow])
        .code(1)
        .stderr_has("forcing trap when growing memory");
    skiff
        .run(&[
            "run",
            "-W",
            "max-table-elements=10,trap-on-grow-failure",
            grow,
        ])
        .code(1)
        .stderr_has("forcing trap when growing table to 101");
    for (option, count) in [
        ("max-memories=0", "memory count too high"),
        ("max-tables=0", "table count too high"),
        ("max-instances=0", "instance count too high"),
    ] {
        skiff
            .run(&["run", "-W", option, grow])
            .code(1)
            .stderr_has(count);
    }
}

/// Adds 2^64 - 1 and 1 as 128-bit numbers (wide arithmetic): exits with the high half + 6 = 7.
const WIDE: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (i64.add128 (i64.const -1) (i64.const 0) (i64.const 1) (i64.const 0))
        (i32.wrap_i64) (i32.const 6) (i32.add)
        (call $exit)
        (drop)))"#;

/// A memory of 1-byte pages (custom page sizes), 3 pages grown by 2: exits with its size, 5.
const ONE_BYTE_PAGES: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 3 (pagesize 1))
    (func (export "_start") (drop (memory.grow (i32.const 2))) (call $exit (memory.size))))"#;

/// Stackful async (`canon lift ... async` without a callback), a component model proposal
/// `wasmtime run` turns on with `-W component-model-async-stackful`.
const STACKFUL: &str = r#"(component
    (core module $m
        (import "" "task.return" (func $ret (param i32)))
        (func (export "run") (call $ret (i32.const 0))))
    (type $r (result))
    (core func $tr (canon task.return (result $r)))
    (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $tr))))))
    (func $run async (result $r) (canon lift (core func $i "run") async))
    (instance $inst (export "run" (func $run)))
    (export "wasi:cli/run@0.3.0" (instance $inst)))"#;

/// Proposals `wasmtime run` leaves off: named when a program uses one, with the flag that turns
/// it on, and run with that flag, as `wasmtime run` runs them.
#[test]
fn proposals_wasmtime_leaves_off_run_when_asked() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let wide = write_file(dir.path(), "wide.wat", WIDE);
    let wide = path_str(&wide);
    skiff
        .run(&["run", wide])
        .code(125)
        .stderr_has("uses the WebAssembly wide arithmetic proposal, which is not turned on")
        .stderr_has("-W wide-arithmetic");
    skiff.run(&["run", "-W", "wide-arithmetic", wide]).code(7);
    skiff.run(&["run", "-W", "all-proposals", wide]).code(7);
    let pages = write_file(dir.path(), "pages.wat", ONE_BYTE_PAGES);
    skiff
        .run(&["run", "-W", "custom-page-sizes", path_str(&pages)])
        .code(5);
    let stackful = write_file(dir.path(), "stackful.wat", STACKFUL);
    let stackful = path_str(&stackful);
    skiff
        .run(&["run", stackful])
        .code(125)
        .stderr_has("-W component-model-async-stackful");
    skiff
        .run(&["run", "-W", "component-model-async-stackful", stackful])
        .success();
}

/// Proposals `wasmtime run` turns on by default, turned off as it turns them off: a program
/// that uses one is refused when it loads, naming it; one that does not runs.
#[test]
fn proposals_wasmtime_turns_on_can_be_turned_off() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let garbage = write_file(dir.path(), "garbage.wat", GARBAGE);
    let garbage = path_str(&garbage);
    skiff
        .run(&["run", "-W", "gc=n,function-references=n", garbage])
        .code(125)
        .stderr_has("uses the WebAssembly gc")
        .stderr_has("turned off by `-W NAME=n`");
    skiff
        .run(&[
            "run",
            "-W",
            "simd=n,relaxed-simd=n,gc=n,exceptions=n",
            P1_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
    // wasmtime's own rule, with its message.
    skiff
        .run(&["run", "-W", "simd=n", P1_CLI_HELLO])
        .code(125)
        .stderr_has("cannot disable the simd proposal but enable the relaxed simd proposal");
    skiff
        .run(&["run", "-W", "component-model=n", P2_CLI_HELLO])
        .code(125)
        .stderr_has("component model");
}

/// Divides zero by zero: exits 5 if the NaN it gets is the canonical one (0x7fc00000), 6 if not.
const ZERO_BY_ZERO: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (global $zero (mut f32) (f32.const 0))
    (func (export "_start")
        (if (i32.eq (i32.reinterpret_f32 (f32.div (global.get $zero) (global.get $zero)))
                    (i32.const 0x7fc00000))
            (then (call $exit (i32.const 5))))
        (call $exit (i32.const 6))))"#;

/// `-W nan-canonicalization`, as `wasmtime run` takes it: every NaN is the canonical one. (x86
/// makes a negative NaN of 0/0 without it.)
#[test]
fn nan_canonicalization_gives_the_canonical_nan() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let nan = write_file(dir.path(), "nan.wat", ZERO_BY_ZERO);
    let nan = path_str(&nan);
    if cfg!(target_arch = "x86_64") {
        skiff.run(&["run", nan]).code(6);
    }
    skiff
        .run(&["run", "-W", "nan-canonicalization", nan])
        .code(5);
    // The other engine options wasmtime takes, accepted with wasmtime's meaning.
    skiff
        .run(&[
            "run",
            "-W",
            "relaxed-simd-deterministic,async-stack-zeroing,branch-hinting",
            "-W",
            "epoch-interruption,unknown-exports-allow,async-stack-size=2097152",
            P2_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
}

/// Opens the directory preopened as fd 3 2000 times, keeping each open: exits with the first
/// error number, or 0.
const OPEN_2000: &str = r#"(module
    (import "wasi_snapshot_preview1" "path_open"
        (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) ".")
    (func (export "_start") (local $n i32) (local $errno i32)
        (loop $again
            (local.set $errno (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
                (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 16)))
            (if (local.get $errno) (then (call $exit (local.get $errno))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br_if $again (i32.lt_u (local.get $n) (i32.const 2000))))
        (call $exit (i32.const 0))))"#;

/// Asks for 4096 random bytes at once: exits with the error number, or 0.
const RANDOM_4096: &str = r#"(module
    (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $exit (call $random (i32.const 0) (i32.const 4096)))))"#;

/// WASI's limits on a store, as `wasmtime run -S` sets them: in the foreground a program holds
/// as many handles as under `wasmtime run` (a daemon's apps, 1024 each), `-S max-resources`
/// sets it, and `-S max-random-size` bounds one call for random bytes; a trap at either, as in
/// wasmtime.
#[test]
fn wasi_store_limits_are_wasmtime_runs() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let opens = write_file(dir.path(), "opens.wat", OPEN_2000);
    let opens = path_str(&opens);
    let grant = format!("{}:/d", path_str(dir.path()));
    skiff.run(&["run", "-v", &grant, opens]).success();
    skiff
        .run(&["run", "-S", "max-resources=100", "-v", &grant, opens])
        .code(134)
        .stderr_has("holds 100 handles");
    skiff
        .run(&["run", "-d", "-S", "max-resources=100", "-v", &grant, opens])
        .code(125)
        .stderr_has("`-S max-resources` sets how one program is loaded and run");
    let random = write_file(dir.path(), "random.wat", RANDOM_4096);
    let random = path_str(&random);
    skiff.run(&["run", random]).success();
    skiff
        .run(&["run", "-S", "max-random-size=100", random])
        .code(1)
        .stderr_has("requested len 4096 exceeds limit 100");
    // The others wasmtime takes, with its meaning.
    skiff
        .run(&[
            "run",
            "-S",
            "hostcall-fuel=134217728,max-component-handles=100000,max-http-fields-size=131072",
            "-S",
            "http-outgoing-body-buffer-chunks=4,http-outgoing-body-chunk-size=4194304",
            P2_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
}

/// `--config FILE`, wasmtime's TOML file of its options: its tables are `-W`, `-S`, ... with the
/// same meaning.
#[test]
fn a_wasmtime_config_file_is_its_options() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "wasmtime.toml",
        "[wasm]\nfuel = 100000\nnan-canonicalization = true\n\n[wasi]\nmax-random-size = 100\n",
    );
    let config = path_str(&config);
    let spin = write_file(dir.path(), "spin.wat", SPIN);
    skiff
        .run(&["run", "--config", config, path_str(&spin)])
        .code(134)
        .stderr_has("all fuel consumed by WebAssembly");
    let random = write_file(dir.path(), "random.wat", RANDOM_4096);
    skiff
        .run(&["run", "--config", config, path_str(&random)])
        .code(1)
        .stderr_has("exceeds limit 100");
    let nan = write_file(dir.path(), "nan.wat", ZERO_BY_ZERO);
    skiff
        .run(&["run", "--config", config, path_str(&nan)])
        .code(5);
    let bad = write_file(dir.path(), "bad.toml", "[record]\npath = \"trace\"\n");
    skiff
        .run(&["run", "--config", path_str(&bad), path_str(&nan)])
        .code(125)
        .stderr_has("`[record]` is not a table Skiff takes")
        .stderr_has("hint: ");
}

/// The compile cache's engine directories: one per set of compiler settings.
fn engine_dirs(skiff: &Skiff) -> usize {
    std::fs::read_dir(skiff.root().join("cache/compiled")).map_or(0, |dirs| dirs.count())
}

/// `wasmtime run`'s compiler, memory-layout and debugging options (`-O`, `-C`, `-D`) are taken
/// with its meaning: `-C cache=n` keeps nothing, another `-O opt-level` compiles other code
/// (cached apart), and the program's results are the same.
#[test]
fn compiler_options_are_taken_as_wasmtime_takes_them() {
    let skiff = Skiff::new();
    skiff
        .run(&["run", "-C", "cache=n", P2_CLI_HELLO])
        .success()
        .stdout_is("Hello, world!\n");
    assert_eq!(
        engine_dirs(&skiff),
        0,
        "`-C cache=n` wrote the compile cache"
    );
    skiff.run(&["run", P2_CLI_HELLO]).success();
    assert_eq!(engine_dirs(&skiff), 1);
    skiff
        .run(&[
            "run",
            "-O",
            "opt-level=0",
            "-C",
            "parallel-compilation=n",
            "-D",
            "debug-info,address-map",
            P2_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
    assert_eq!(
        engine_dirs(&skiff),
        2,
        "`-O opt-level=0` compiled the same code"
    );
    let dir = tempfile::tempdir().unwrap();
    let grow = write_file(dir.path(), "grow.wat", GROW);
    skiff
        .run(&[
            "run",
            "-O",
            "memory-reservation=65536,memory-guard-size=0,signals-based-traps=n",
            "-O",
            "memory-may-move,table-lazy-init=n,memory-init-cow=n,guard-before-linear-memory=n",
            path_str(&grow),
        ])
        .code(3);
    // The pooling allocator, as `wasmtime run -O pooling-allocator` makes it, sized by `-O
    // pooling-*`: a memory the pool's slots cannot hold does not grow (exit 3); without the
    // pool, its sizes change nothing, as in wasmtime.
    let grow = write_file(dir.path(), "grow3.wat", GROW_TO_THREE_PAGES);
    let grow = path_str(&grow);
    skiff
        .run(&["run", "-O", "pooling-allocator", grow])
        .success();
    skiff
        .run(&[
            "run",
            "-O",
            "pooling-allocator,pooling-max-memory-size=131_072",
            grow,
        ])
        .code(3);
    skiff
        .run(&["run", "-O", "pooling-max-memory-size=0x20000", grow])
        .success();
    skiff
        .run(&["run", "-O", "pooling-memory-protection-keys", grow])
        .code(125)
        .stderr_has("without memory protection keys");
}

/// Grows its memory from one page to three (64 KiB each): exit 3 if refused.
const GROW_TO_THREE_PAGES: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (if (i32.eq (memory.grow (i32.const 2)) (i32.const -1))
            (then (call $exit (i32.const 3))))))"#;

/// Native code is refused naming `--allow-precompiled` (which runs what `wasmtime compile` made,
/// in the foreground: `engine::tests` in skiff-runtime), and a native program that is not one
/// is refused with it too; the daemon and `skiff serve` compile their apps themselves.
#[test]
fn native_code_is_refused_naming_allow_precompiled() {
    let skiff = Skiff::new();
    let native = std::env::current_exe().unwrap();
    let native = path_str(&native);
    skiff
        .run(&["run", native])
        .code(125)
        .stderr_has("is native code (an ELF file)")
        .stderr_has("`--allow-precompiled`");
    skiff
        .run(&["run", "--allow-precompiled", native])
        .code(125)
        .stderr_has("is native code (an ELF file)");
    skiff
        .run(&["run", "-d", "--allow-precompiled", P2_CLI_HELLO])
        .code(125)
        .stderr_has("hint: drop `-d`");
    skiff
        .run(&["serve", "--allow-precompiled", P2_CLI_HELLO])
        .code(125)
        .stderr_has("give the `.wasm`");
    // A `.wasm` runs as ever with it.
    skiff
        .run(&["run", "--allow-precompiled", P2_CLI_HELLO])
        .success()
        .stdout_is("Hello, world!\n");
}

/// `--profile=perfmap`, as `wasmtime run` takes it: `/tmp/perf-PID.map` names the program's own
/// functions for `perf`, whether it was compiled now or loaded from the cache. The profilers
/// not built in, and `-R` (recording), are refused by name.
#[test]
fn profile_perfmap_names_the_programs_functions() {
    let skiff = Skiff::new();
    for _ in 0..2 {
        let mut child = skiff
            .command()
            .args(["run", "--profile=perfmap", P2_CLI_HELLO])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(child.wait().unwrap().success());
        let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
        let names = std::fs::read_to_string(&map).unwrap();
        std::fs::remove_file(&map).unwrap();
        assert!(names.contains("cli_hello::main"), "{names}");
    }
    skiff
        .run(&["run", "--profile=guest", P2_CLI_HELLO])
        .code(125)
        .stderr_has("`--profile=perfmap`");
    skiff
        .run(&["run", "-R", "path=trace", P2_CLI_HELLO])
        .code(125)
        .stderr_has("wasmtime replay");
}

/// Whether `needle` occurs in `haystack`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A core dump as wasmtime writes one: a Wasm module whose custom sections hold the trapped
/// stack, and whose data is the instance's memory (which holds the panic's message, `boom`).
fn assert_core_dump(path: &std::path::Path) {
    let dump = std::fs::read(path).unwrap_or_else(|e| panic!("no core dump at {path:?}: {e}"));
    assert!(dump.starts_with(b"\0asm"), "not a Wasm core dump");
    assert!(holds(&dump, b"corestack"), "no stack in the core dump");
    assert!(
        holds(&dump, b"boom"),
        "the program's memory is not in the core dump"
    );
}

/// `-D coredump=PATH`: a program that traps leaves its state in PATH, as `wasmtime run -D
/// coredump` writes it (`wasm-tools` and wasmgdb read it); a run that does not trap leaves
/// none; a path that cannot be written is said, and the trap reported as ever.
#[test]
fn a_trap_leaves_a_core_dump_where_asked() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.coredump");
    let flag = format!("coredump={}", path_str(&path));
    for program in [P1_CLI_PANIC, P2_CLI_PANIC] {
        skiff
            .run(&["run", "-D", &flag, program])
            .code(134)
            .stderr_has("boom")
            .stderr_has(&format!("core dumped at {}", path_str(&path)));
        assert_core_dump(&path);
        std::fs::remove_file(&path).unwrap();
    }
    skiff.run(&["run", "-D", &flag, P2_CLI_HELLO]).success();
    assert!(!path.exists(), "a core dump of a run that did not trap");
    skiff
        .run(&["run", "-D", "coredump=/no/such/dir/core", P1_CLI_PANIC])
        .code(134)
        .stderr_has("trapped")
        .stderr_has("no core dump was written: cannot write `/no/such/dir/core`");
    skiff
        .run(&["run", "-d", "-D", &flag, P1_CLI_PANIC])
        .code(125)
        .stderr_has("hint: drop `-d`");
}

/// `skiff serve -D coredump=PATH`: the instance of a request that traps leaves its state in
/// PATH (the last one's), named in the request's log line; the server goes on serving.
#[test]
fn skiff_serve_dumps_a_trapping_handlers_core() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handler.coredump");
    let flag = format!("coredump={}", path_str(&path));
    let server = Server::start(&Skiff::new(), &["-D", &flag, P2_HTTP_TRAP]);
    for _ in 0..2 {
        let response = reqwest::blocking::get(server.url("/boom")).unwrap();
        assert_eq!(
            response.status(),
            reqwest::StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    let log = server.stderr_with("core dumped at");
    assert!(
        log.contains(&format!("(core dumped at {})", path_str(&path))),
        "{log}"
    );
    let dump = std::fs::read(&path).unwrap();
    assert!(dump.starts_with(b"\0asm") && holds(&dump, b"corestack"));
    // Its memory: the path the handler read before it trapped.
    assert!(
        holds(&dump, b"/boom"),
        "the handler's memory is not in the core dump"
    );
}

/// `-D max-backtrace=N`: a trap's backtrace shows at most N frames, as in `wasmtime run`.
#[test]
fn max_backtrace_bounds_a_traps_backtrace() {
    let frames = |stderr: &str| {
        stderr
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                line.split_once(": ")
                    .is_some_and(|(index, _)| index.parse::<usize>().is_ok())
            })
            .count()
    };
    let skiff = Skiff::new();
    let all = skiff.run(&["run", P1_CLI_PANIC]);
    all.code(134);
    let all = &all.stderr;
    assert!(frames(all) > 2, "{all}");
    let two = skiff.run(&["run", "-D", "max-backtrace=2", P1_CLI_PANIC]);
    two.code(134);
    assert_eq!(frames(&two.stderr), 2, "{}", two.stderr);
}

/// Allocates ten million GC structs and drops each: a collector keeps its heap small; with none
/// (`null`), the heap runs out and it traps.
const GARBAGE: &str = r#"(module
    (type $s (struct (field i64)))
    (func (export "_start") (local $i i32)
        (loop $next
            (drop (struct.new $s (i64.const 1)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $i) (i32.const 10000000))))))"#;

/// `-C compiler=winch` compiles with Winch, wasmtime's baseline compiler (which, as in wasmtime,
/// compiles no GC types, so a GC program is refused naming it), limits still enforced;
/// `-C collector` picks the GC programs' collector (`copying`, the default, and `drc` collect;
/// `null` never does); the other compiler options are taken as wasmtime takes them.
#[test]
fn compilers_and_collectors_are_wasmtime_runs() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let garbage = write_file(dir.path(), "garbage.wat", GARBAGE);
    let garbage = path_str(&garbage);
    for program in [P1_CLI_HELLO, P2_CLI_HELLO] {
        skiff
            .run(&["run", "-C", "compiler=winch", program])
            .success()
            .stdout_is("Hello, world!\n");
    }
    skiff
        .run(&[
            "run",
            "-C",
            "compiler=winch",
            "--timeout",
            "500ms",
            P1_CLI_INFINITE_LOOP,
        ])
        .code(124);
    skiff
        .run(&["run", "-C", "compiler=winch", garbage])
        .code(125)
        .stderr_has("drop `-C compiler=winch`");
    skiff
        .run(&["run", "-C", "compiler=pulley", garbage])
        .code(125)
        .stderr_has("takes `cranelift`, `winch`");
    skiff.run(&["run", "--memory", "64m", garbage]).success();
    skiff
        .run(&["run", "--memory", "64m", "-C", "collector=drc", garbage])
        .success();
    skiff
        .run(&["run", "--memory", "64m", "-C", "collector=null", garbage])
        .code(134);
    skiff
        .run(&[
            "run",
            "-O",
            "regalloc-algorithm=single-pass,gc-heap-initial-size=65536,gc-heap-may-move=n",
            "-C",
            "inlining=y,cranelift-debug-verifier,metadata-for-internal-asserts",
            P2_CLI_HELLO,
        ])
        .success()
        .stdout_is("Hello, world!\n");
}

/// wasmtime's `WASMTIME_LOG` filters the diagnostics as `SKIFF_LOG` does (here: wasmtime-wasi's
/// trace of every WASI call, as `wasmtime run` shows it), and `-D logging=n` turns them off.
#[test]
fn wasmtime_log_traces_wasi_calls_as_under_wasmtime_run() {
    let skiff = Skiff::new();
    let run = |extra: &[&str]| {
        let output = skiff
            .command()
            .env_remove("SKIFF_LOG")
            .env("WASMTIME_LOG", "wasmtime_wasi=trace")
            .arg("run")
            .args(extra)
            .arg(P1_CLI_HELLO)
            .output()
            .unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, b"Hello, world!\n");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let traced = run(&[]);
    assert!(traced.contains("fd_write"), "{traced}");
    let off = run(&["-D", "logging=n"]);
    assert!(off.is_empty(), "{off}");
}
