//! The compile cache: a cached start does not compile; a corrupt entry is detected and replaced.

use std::path::PathBuf;

use skiff_test_programs_artifacts::{P1_CLI_HELLO, P2_CLI_HELLO};

use crate::support::Skiff;

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
