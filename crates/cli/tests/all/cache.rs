//! The compile cache: a cached start does not compile; a corrupt entry is detected and replaced;
//! a file run before is not read again, unless it changed.

use std::path::PathBuf;
use std::time::Duration;

use skiff_test_programs_artifacts::{P1_CLI_HELLO, P2_CLI_HELLO, P3_ARGS_ENV};

use crate::support::{Skiff, path_str};

fn cached_artifacts(skiff: &Skiff) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for engine_dir in std::fs::read_dir(skiff.root().join("cache/compiled")).unwrap() {
        for entry in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cwasm") {
                found.push(path);
            }
        }
    }
    found
}

fn run_logged(skiff: &Skiff, wasm: &str) -> crate::support::Outcome {
    skiff.run_with(
        skiff.command().env("SKIFF_LOG", "info").args(["run", wasm]),
        b"",
    )
}

#[test]
fn cached_start_does_not_compile() {
    for wasm in [P1_CLI_HELLO, P2_CLI_HELLO] {
        let skiff = Skiff::new();
        run_logged(&skiff, wasm)
            .success()
            .stdout_is("Hello, world!\n")
            .stderr_has("compiling");
        run_logged(&skiff, wasm)
            .success()
            .stdout_is("Hello, world!\n")
            .stderr_lacks("compiling");
        assert_eq!(cached_artifacts(&skiff).len(), 1);
    }
}

#[test]
fn corrupt_entry_is_recompiled() {
    let skiff = Skiff::new();
    run_logged(&skiff, P1_CLI_HELLO).success();
    let [artifact] = &cached_artifacts(&skiff)[..] else {
        panic!("expected one cache entry")
    };
    let mut bytes = std::fs::read(artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(artifact, &bytes).unwrap();

    run_logged(&skiff, P1_CLI_HELLO)
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("corrupt")
        .stderr_has("compiling");
    run_logged(&skiff, P1_CLI_HELLO)
        .success()
        .stderr_lacks("compiling");

    // A truncated entry (as a crash mid-write could leave without the atomic rename) too.
    std::fs::write(artifact, &bytes[..100]).unwrap();
    run_logged(&skiff, P1_CLI_HELLO)
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("compiling");
}

/// Compiled code is read whole and checked until it has settled; from then on it is loaded
/// without being read whole while it stays unchanged, and any change to it, even one that keeps
/// its size and modification time, has it checked whole again: the corruption is still caught.
#[test]
fn compiled_code_is_checked_again_once_it_changed() {
    let skiff = Skiff::new();
    let run = || {
        skiff.run_with(
            skiff
                .command()
                .env("SKIFF_LOG", "debug")
                .args(["run", P1_CLI_HELLO]),
            b"",
        )
    };
    run().success().stderr_has("compiling");
    let [artifact] = &cached_artifacts(&skiff)[..] else {
        panic!("expected one cache entry")
    };
    run()
        .success()
        .stderr_lacks("unchanged since it was checked");
    // Recorded as checked only once it has not changed for 2 s.
    std::thread::sleep(Duration::from_millis(2100));
    run()
        .success()
        .stderr_lacks("unchanged since it was checked");
    run()
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("unchanged since it was checked")
        .stderr_lacks("compiling");

    let modified = std::fs::metadata(artifact).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(artifact, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(artifact)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    run()
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("corrupt")
        .stderr_has("compiling");
}

#[test]
fn unwritable_cache_still_runs() {
    let skiff = Skiff::new();
    let blocked = skiff.root().join("not-a-dir");
    std::fs::write(&blocked, "").unwrap();
    skiff
        .run_with(
            skiff
                .command()
                .env("SKIFF_ROOT", &blocked)
                .args(["run", P1_CLI_HELLO]),
            b"",
        )
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("cannot write the compile cache");
}

/// `skiff run FILE` finds the code of a file it ran before by the file's identity, without
/// reading and hashing it again; a file changed since runs its new code, even when the change
/// kept its size and modification time (as `cp -p` or an archive would).
#[test]
fn a_file_run_before_is_not_read_again_unless_it_changed() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.wasm");
    let hello = std::fs::read(P1_CLI_HELLO).unwrap();
    std::fs::write(&file, &hello).unwrap();
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    // An identity is recorded only once the file has not changed for 2 s.
    std::thread::sleep(Duration::from_millis(2100));
    let run = |level: &str| {
        skiff.run_with(
            skiff
                .command()
                .env("SKIFF_LOG", level)
                .args(["run", path_str(&file)]),
            b"",
        )
    };
    run("debug")
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("compiling")
        .stderr_lacks("not read again");
    run("debug")
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("not read again")
        .stderr_lacks("compiling");

    // Other code of the same size, written in place, its modification time put back.
    let at = hello.windows(5).position(|w| w == b"Hello").unwrap();
    let mut jello = hello.clone();
    jello[at] = b'J';
    std::fs::write(&file, &jello).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    run("debug")
        .success()
        .stdout_is("Jello, world!\n")
        .stderr_lacks("not read again");
}

/// The same for a WASI 0.3 command, whose code lives in the cache of the engine with the
/// component model's concurrency: the second run finds it there by the file's identity.
#[test]
fn a_wasi_0_3_command_run_before_is_not_read_again() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p3.wasm");
    std::fs::copy(P3_ARGS_ENV, &file).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let run = || {
        skiff.run_with(
            skiff
                .command()
                .env("SKIFF_LOG", "debug")
                .args(["run", path_str(&file), "hello"]),
            b"",
        )
    };
    run()
        .success()
        .stdout_is("hello\n")
        .stderr_has("compiling")
        .stderr_lacks("not read again");
    run()
        .success()
        .stdout_is("hello\n")
        .stderr_has("not read again")
        .stderr_lacks("compiling");
}
