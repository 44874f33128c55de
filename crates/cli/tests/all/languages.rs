//! `skiff new` for every language and both forms, as a user goes: make the project in an empty
//! directory, `skiff build` it with the language's real toolchain, then `skiff run` it, or
//! `skiff serve` it and send it a real HTTP request.
//!
//! The toolchains are the ones scripts/install-toolchains.sh installs (CI runs it through
//! scripts/install-test-deps.sh); its `bin/` is put first on PATH for `skiff build`. A missing
//! toolchain fails the test, naming the script.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;

use crate::http::{Server, get};
use crate::support::{Outcome, Skiff, path_str};

/// `$SKIFF_TOOLCHAINS/bin` (default `~/.cache/skiff-toolchains/bin`) before the inherited PATH.
fn toolchain_path() -> OsString {
    let dir = std::env::var_os("SKIFF_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            dirs::home_dir()
                .expect("a home directory")
                .join(".cache/skiff-toolchains")
        });
    let mut paths = vec![dir.join("bin")];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// `skiff new DIR/hello-LANG --lang LANG [--http]`, then `skiff build -t TAG` of it; the project
/// lives in a temporary directory, so the build writes nothing in this repository.
fn new_and_build(skiff: &Skiff, lang: &str, http: bool, tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join(format!("hello-{lang}"));
    let mut args = vec!["new", path_str(&project), "--lang", lang];
    if http {
        args.push("--http");
    }
    skiff
        .run(&args)
        .success()
        .stderr_has(&format!("skiff build -t hello-{lang}:0.1.0 ."));
    assert!(project.join("README.md").is_file());
    let built = build(skiff, &project, tag, toolchain_path());
    assert_eq!(
        built.code, 0,
        "`skiff build` of the {lang} template failed; are the toolchains installed \
         (scripts/install-toolchains.sh)? {built:#?}"
    );
    dir
}

fn build(skiff: &Skiff, project: &Path, tag: &str, path: OsString) -> Outcome {
    skiff.run_with(
        skiff
            .command()
            .env("PATH", path)
            // A CARGO_TARGET_DIR of the outer build must not move the template's output.
            .env_remove("CARGO_TARGET_DIR")
            .args(["build", "-t", tag, path_str(project)]),
        b"",
    )
}

fn command_template_runs(lang: &str, greeting: &str) {
    let skiff = Skiff::new();
    let _project = new_and_build(&skiff, lang, false, "hello:1.0");
    skiff
        .run(&["run", "hello:1.0"])
        .success()
        .stdout_is(&format!("{greeting}\n"));
}

fn http_template_serves(lang: &str, greeting: &str) {
    let skiff = Skiff::new();
    let _project = new_and_build(&skiff, lang, true, "api:1.0");
    let server = Server::start(&skiff, &["api:1.0"]);
    let (status, body) = get(&server.url("/"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{greeting}\n"));
    let (status, body) = get(&server.url("/users/7"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{greeting} You asked for /users/7\n"));
}

#[test]
fn rust_command() {
    command_template_runs("rust", "Hello from Rust!");
}

/// The Rust template's release profile keeps the name section: a trap in an image built from it
/// names the guest's own function in its backtrace, as a native binary's symbols would.
#[test]
fn rust_template_traps_name_their_functions() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("crash");
    skiff
        .run(&["new", path_str(&project), "--lang", "rust"])
        .success();
    std::fs::write(
        project.join("src/main.rs"),
        "#[inline(never)]\nfn explode_on_purpose() {\n    std::process::abort();\n}\n\n\
         fn main() {\n    explode_on_purpose();\n}\n",
    )
    .unwrap();
    let built = build(&skiff, &project, "crash:1.0", toolchain_path());
    assert_eq!(
        built.code, 0,
        "`skiff build` of the Rust template failed: {built:#?}"
    );
    let ran = skiff.run(&["run", "crash:1.0"]);
    assert_ne!(ran.code, 0, "an aborting program must fail: {ran:#?}");
    ran.stderr_has("explode_on_purpose");
}

#[test]
fn rust_http() {
    http_template_serves("rust", "Hello from Rust!");
}

#[test]
fn c_command() {
    command_template_runs("c", "Hello from C!");
}

#[test]
fn go_command() {
    command_template_runs("go", "Hello from Go!");
}

#[test]
fn python_command() {
    command_template_runs("python", "Hello from Python!");
}

#[test]
fn python_http() {
    http_template_serves("python", "Hello from Python!");
}

#[test]
fn js_command() {
    command_template_runs("js", "Hello from JavaScript!");
}

#[test]
fn js_http() {
    http_template_serves("js", "Hello from JavaScript!");
}

#[test]
fn zig_command() {
    command_template_runs("zig", "Hello from Zig!");
}

/// C, Go and Zig make WASI preview 1 modules here, which cannot be HTTP handlers: `--http` says
/// so, offers the command form, and writes nothing.
#[test]
fn http_without_a_wasi_http_toolchain_offers_the_command_form() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    for lang in ["c", "go", "zig"] {
        let project = dir.path().join("api");
        skiff
            .run(&["new", path_str(&project), "--lang", lang, "--http"])
            .code(125)
            .stderr_has(&format!("there is no HTTP template for {lang}"))
            .stderr_has("WASI preview 1")
            .stderr_has(&format!("skiff new {} --lang {lang}", project.display()));
        assert!(!project.exists(), "{lang}: nothing is written");
    }
}

#[test]
fn new_refuses_an_existing_project_an_unknown_language_and_a_bad_name() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("main.c"), "int main(void) { return 7; }\n").unwrap();
    skiff
        .run(&["new", path_str(&taken), "--lang", "c"])
        .code(125)
        .stderr_has("already exists and is not empty");
    assert_eq!(
        std::fs::read_to_string(taken.join("main.c")).unwrap(),
        "int main(void) { return 7; }\n",
        "nothing is overwritten"
    );

    // An empty directory is fine: `mkdir app && skiff new app`.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    skiff
        .run(&["new", path_str(&empty), "--lang", "c"])
        .success();
    assert!(empty.join("skiff.toml").is_file());

    skiff
        .run(&["new", path_str(&dir.path().join("x")), "--lang", "cobol"])
        .code(125)
        .stderr_has("rust, c, go, python, js, zig");

    for bad in ["Hello", "my app", "1st", "a..b"] {
        skiff
            .run(&["new", path_str(&dir.path().join(bad)), "--lang", "rust"])
            .code(125)
            .stderr_has(&format!("invalid app name `{bad}`"))
            .stderr_has("hint: use lowercase letters");
        assert!(!dir.path().join(bad).exists());
    }
}

/// A build whose toolchain is missing says which toolchain and the command that installs it.
#[test]
fn build_names_a_missing_toolchain_and_how_to_install_it() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("hello");
    skiff
        .run(&["new", path_str(&project), "--lang", "js"])
        .success();
    // A PATH with a shell and mkdir but none of the guest toolchains.
    let built = build(
        &skiff,
        &project,
        "hello:1.0",
        OsString::from("/usr/bin:/bin"),
    );
    assert_eq!(built.code, 125, "{built:#?}");
    built
        .stderr_has("`componentize-js` (componentize-js 0.23) is not installed")
        .stderr_has(
            "hint: install it with `npm install -g @bytecodealliance/componentize-js@0.23.0`",
        );
}
