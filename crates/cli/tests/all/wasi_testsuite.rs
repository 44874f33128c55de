//! The official WASI testsuite's preview 1 tests (vendored in `tests/wasi-testsuite/`, see its
//! README), run through the real `skiff` binary as the testsuite's own runner runs them with
//! `skiff.py` (docs/conformance.md).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Skiff, path_str};

/// The tests Skiff fails, each with the reason. They must be exactly those that wasmtime's
/// own expectations (`expectations/wasmtime-linux.json`, vendored with the tests) list for these
/// suites: Skiff runs WASI on wasmtime-wasi, and fails nothing wasmtime passes. A test listed
/// here that passes fails the run (take it off the list), as does a failure not listed.
const EXPECTED_FAILURES: &[(&str, &str, &str)] = &[(
    "WASI Rust tests [wasm32-wasip1]",
    "remove_directory_trailing_slashes",
    "wasmtime-wasi returns ERRNO_INVAL for path_remove_directory with a trailing slash",
)];

/// The suites, under `tests/wasi-testsuite/tests/`.
const SUITES: [&str; 3] = [
    "rust/testsuite/wasm32-wasip1",
    "c/testsuite/wasm32-wasip1",
    "assemblyscript/testsuite/wasm32-wasip1",
];

/// How many tests they hold (the README says so too): a refresh that loses some is noticed.
const TESTS: usize = 72;

/// How long the testsuite's runner waits for a test to end before failing it.
const RUNNER_TIMEOUT: Duration = Duration::from_secs(5);

/// The vendored testsuite.
fn testsuite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wasi-testsuite")
}

/// Every wasm32-wasip1 test, run as its spec says; the failures must be [`EXPECTED_FAILURES`].
#[test]
fn wasi_testsuite_wasm32_wasip1() {
    let skiff = Skiff::new();
    let mut failures = BTreeSet::new();
    let mut table = String::new();
    let mut count = 0;
    for suite_dir in SUITES {
        let dir = testsuite().join("tests").join(suite_dir);
        let suite = suite_name(&dir);
        let mut tests: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "wasm"))
            .collect();
        tests.sort();
        assert!(!tests.is_empty(), "no tests in {}", dir.display());
        for wasm in tests {
            let name = wasm.file_stem().unwrap().to_str().unwrap().to_string();
            let spec = Spec::read(&wasm.with_extension("json"));
            let started = Instant::now();
            let verdict = run(&skiff, &wasm, &spec);
            let shown = match &verdict {
                Ok(()) => "pass".to_string(),
                Err(why) => format!("FAIL: {}", why.lines().next().unwrap_or_default()),
            };
            let took = started.elapsed().as_secs_f64();
            table.push_str(&format!("{suite} {name}: {shown} ({took:.2} s)\n"));
            if let Err(why) = verdict {
                failures.insert((suite.clone(), name, why));
            }
            count += 1;
        }
    }
    eprintln!("{table}");
    assert_eq!(count, TESTS, "the vendored suites hold {count} tests");

    let expected: BTreeSet<(String, String)> = EXPECTED_FAILURES
        .iter()
        .map(|(suite, name, _)| (suite.to_string(), name.to_string()))
        .collect();
    let unexpected: Vec<String> = failures
        .iter()
        .filter(|(suite, name, _)| !expected.contains(&(suite.clone(), name.clone())))
        .map(|(suite, name, why)| format!("{suite} {name}: {why}"))
        .collect();
    let failed: BTreeSet<(String, String)> = failures
        .iter()
        .map(|(suite, name, _)| (suite.clone(), name.clone()))
        .collect();
    let now_passing: Vec<&(String, String)> = expected.difference(&failed).collect();
    assert!(
        unexpected.is_empty(),
        "tests failed that wasmtime passes:\n{}",
        unexpected.join("\n\n")
    );
    assert!(
        now_passing.is_empty(),
        "expected to fail, but passed (take them off EXPECTED_FAILURES): {now_passing:?}"
    );
}

/// [`EXPECTED_FAILURES`] is wasmtime's own list for these suites, no more and no less.
#[test]
fn expected_failures_are_wasmtimes() {
    let suites: BTreeSet<String> = SUITES
        .iter()
        .map(|dir| suite_name(&testsuite().join("tests").join(dir)))
        .collect();
    let file = testsuite().join("expectations/wasmtime-linux.json");
    let wasmtime: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut theirs = BTreeSet::new();
    for (suite, tests) in wasmtime.as_object().unwrap() {
        if suites.contains(suite) {
            for name in tests.as_object().unwrap().keys() {
                theirs.insert((suite.clone(), name.clone()));
            }
        }
    }
    let ours: BTreeSet<(String, String)> = EXPECTED_FAILURES
        .iter()
        .map(|(suite, name, _)| (suite.to_string(), name.to_string()))
        .collect();
    assert_eq!(ours, theirs, "EXPECTED_FAILURES vs {}", file.display());
}

/// A suite's name, from its `manifest.json` (what expectation files are keyed by).
fn suite_name(dir: &Path) -> String {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["name"].as_str().unwrap().to_string()
}

/// A test's spec in the testsuite's legacy form, the only one its wasm32-wasip1 tests use
/// (doc/specification.md); a missing file is the default spec.
#[derive(Debug, Default)]
struct Spec {
    args: Vec<String>,
    env: Vec<(String, String)>,
    dirs: Vec<String>,
    exit_code: i32,
    stdout: Option<String>,
    stderr: Option<String>,
}

impl Spec {
    fn read(path: &Path) -> Spec {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Spec::default();
        };
        let json: Value = serde_json::from_str(&text).unwrap();
        let mut spec = Spec::default();
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        for (key, value) in json.as_object().unwrap() {
            match key.as_str() {
                "args" => spec.args = strings(value),
                "dirs" => spec.dirs = strings(value),
                "env" => {
                    spec.env = value
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect();
                }
                "exit_code" => spec.exit_code = value.as_i64().unwrap() as i32,
                "stdout" => spec.stdout = Some(value.as_str().unwrap().to_string()),
                "stderr" => spec.stderr = Some(value.as_str().unwrap().to_string()),
                other => panic!(
                    "{}: `{other}` is not in the legacy spec; run the operations it describes \
                     here before vendoring it",
                    path.display()
                ),
            }
        }
        spec
    }
}

/// Runs one test as the testsuite's runner with `skiff.py` does: `skiff run -e K=V... -v
/// DIR:NAME... TEST.wasm ARGS...`, each directory a fresh copy (tests write into theirs), stdin
/// empty; then checks the exit code, and stdout and stderr where the spec gives them, as the
/// runner does (it reads as many characters as expected and compares: a prefix).
fn run(skiff: &Skiff, wasm: &Path, spec: &Spec) -> Result<(), String> {
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = skiff.command();
    cmd.current_dir(scratch.path()).arg("run");
    for (key, value) in &spec.env {
        cmd.arg("-e").arg(format!("{key}={value}"));
    }
    for dir in &spec.dirs {
        let copy = scratch.path().join(dir);
        copy_dir(&wasm.parent().unwrap().join(dir), &copy);
        cmd.arg("-v").arg(format!("{}:{dir}", path_str(&copy)));
    }
    cmd.arg(wasm).args(&spec.args);
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start skiff");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > RUNNER_TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let shown = || format!("\n==STDOUT==\n{stdout}\n==STDERR==\n{stderr}");
    let Some(status) = status else {
        return Err(format!(
            "still running after {RUNNER_TIMEOUT:?}, the runner's limit{}",
            shown()
        ));
    };
    let code = status.code().expect("skiff was killed by a signal");
    if code != spec.exit_code {
        return Err(format!(
            "exit code {code}, expected {}{}",
            spec.exit_code,
            shown()
        ));
    }
    for (stream, got, expected) in [
        ("stdout", &stdout, &spec.stdout),
        ("stderr", &stderr, &spec.stderr),
    ] {
        if let Some(expected) = expected
            && !got.starts_with(expected.as_str())
        {
            return Err(format!(
                "{stream} does not start with {expected:?}{}",
                shown()
            ));
        }
    }
    Ok(())
}

/// A copy of a test's directory: directories, files and symbolic links.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&source, &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(&source, &target).unwrap();
        }
    }
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
