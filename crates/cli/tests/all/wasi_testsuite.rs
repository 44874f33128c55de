//! The official WASI testsuite's preview 1 tests (vendored in `tests/wasi-testsuite/`), run
//! through the real `skiff` binary.

use std::path::PathBuf;

use crate::support::{Skiff, path_str};

/// The vendored testsuite: `tests/{rust,c,assemblyscript}/testsuite/wasm32-wasip1/`.
fn testsuite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wasi-testsuite")
}

/// A relative guest directory is the preopen's name exactly as given, as `wasmtime run --dir
/// HOST::NAME` names it: the testsuite's programs look their directory up by that name
/// (`fd_prestat_dir_name`), so `-v DIR:fs-tests.dir` must not become `/fs-tests.dir`.
#[test]
fn preopen_is_named_as_granted() {
    let skiff = Skiff::new();
    let wasm = testsuite().join("tests/rust/testsuite/wasm32-wasip1/close_preopen.wasm");
    let host = tempfile::tempdir().unwrap();
    let host = path_str(host.path());
    for (flag, grant, name) in [
        ("-v", format!("{host}:fs-tests.dir"), "fs-tests.dir"),
        ("-v", format!("{host}:fs-tests.dir:ro"), "fs-tests.dir"),
        ("--dir", format!("{host}::fs-tests.dir"), "fs-tests.dir"),
        ("--dir", format!("{host}::."), "."),
        ("-v", format!("{host}:/data/"), "/data"),
        ("--dir", format!("{host}::/data"), "/data"),
    ] {
        skiff
            .run(&["run", flag, &grant, path_str(&wasm), name])
            .success();
    }
    // Docker's absolute guest paths are still normalised, so `/data/` is not found as `data`.
    skiff
        .run(&[
            "run",
            "-v",
            &format!("{host}:/data/"),
            path_str(&wasm),
            "data",
        ])
        .code(1)
        .stderr_has("failed to find scratch dir");
}
