//! Golden-file tests: every `tests/ui/NAME.toml` is parsed with `Manifest::from_file`; a manifest
//! that parses must match `NAME.json` (its resolved `AppConfig`), one that fails must match
//! `NAME.stderr` (the message and hint as the CLI prints them).
//!
//! After an intended change, rewrite the expectations with
//! `BLESS=1 cargo test -p skiff-manifest --test ui` and review the diff.

use std::path::{Path, PathBuf};

use skiff_manifest::{AppConfig, AppKind, Manifest, ManifestError};

/// Relative, so the paths in the expected messages do not depend on the checkout's location
/// (cargo runs integration tests in the package's directory).
const UI_DIR: &str = "tests/ui";

fn render(error: &ManifestError) -> String {
    let mut out = format!("error: {error}\n");
    if let Some(hint) = error.hint() {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

fn inputs() -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(UI_DIR)
        .expect("tests/ui exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn ui() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let inputs = inputs();
    assert!(inputs.len() > 10, "ui inputs went missing: {inputs:?}");
    let mut failures = Vec::new();
    for input in &inputs {
        let (actual, ext, other) = match Manifest::from_file(input) {
            Ok(manifest) => {
                let config = manifest.resolve();
                let json = serde_json::to_string_pretty(&config).unwrap() + "\n";
                let back: AppConfig = serde_json::from_str(&json).unwrap();
                assert_eq!(back, config, "{}: JSON round trip", input.display());
                (json, "json", "stderr")
            }
            Err(error) => (render(&error), "stderr", "json"),
        };
        let expected_path = input.with_extension(ext);
        let other_path = input.with_extension(other);
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            if other_path.exists() {
                std::fs::remove_file(&other_path).unwrap();
            }
            continue;
        }
        if other_path.exists() {
            failures.push(format!(
                "{}: expected `{}`, got `.{ext}`:\n{actual}",
                input.display(),
                other_path.display()
            ));
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}:\n--- expected\n{expected}+++ actual\n{actual}",
                expected_path.display()
            )),
            Err(_) => failures.push(format!(
                "{}: missing; actual:\n{actual}",
                expected_path.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nif the new output is right: BLESS=1 cargo test -p skiff-manifest --test ui",
        failures.join("\n")
    );
}

#[test]
fn missing_manifest_is_its_own_error() {
    let path = Path::new(UI_DIR).join("does-not-exist/skiff.toml");
    let error = Manifest::from_file(&path).unwrap_err();
    assert!(
        matches!(&error, ManifestError::NotFound { path: p } if *p == path),
        "{error:?}"
    );
    assert_eq!(
        render(&error),
        "error: no manifest at `tests/ui/does-not-exist/skiff.toml`\n\
         hint: create one; see docs/manifest.md for the fields\n"
    );
}

/// A Docker user's directory: a Dockerfile and no skiff.toml. The hint says how one maps onto
/// the other.
#[test]
fn a_dockerfile_without_a_manifest_is_told_how_to_write_one() {
    let path = Path::new(UI_DIR).join("dockerfile-only/skiff.toml");
    let error = Manifest::from_file(&path).unwrap_err();
    let text = render(&error);
    assert!(text.starts_with("error: no manifest at "), "{text}");
    assert!(text.contains("not a Dockerfile"), "{text}");
    assert!(text.contains("`[build] wasm`"), "{text}");
}

#[test]
fn build_section_and_paths_are_relative_to_the_manifest() {
    let manifest = Manifest::from_file(Path::new(UI_DIR).join("full.toml")).unwrap();
    assert_eq!(manifest.dir(), Path::new(UI_DIR));
    assert_eq!(
        manifest.build().wasm,
        Path::new("target/wasm32-wasip2/release/hello.wasm")
    );
    assert_eq!(
        manifest.build().command.as_deref(),
        Some("cargo build --release --target wasm32-wasip2")
    );
    assert_eq!(
        manifest.wasm_path(),
        Path::new("tests/ui/target/wasm32-wasip2/release/hello.wasm")
    );
    assert_eq!(
        manifest.config().env_vec(),
        vec![
            ("GREETING".to_string(), "hi".to_string()),
            ("LOG_LEVEL".to_string(), "info".to_string())
        ]
    );
}

#[test]
fn minimal_manifest_gets_the_defaults() {
    let text =
        "manifest_version = 1\n[app]\nname = \"x\"\nversion = \"1\"\n[build]\nwasm = \"x.wasm\"\n";
    let manifest = Manifest::from_str(text, "skiff.toml").unwrap();
    assert_eq!(manifest.dir(), Path::new("."));
    let config = manifest.resolve();
    assert_eq!(config.kind, AppKind::Command);
    assert!(config.args.is_empty() && config.env.is_empty() && config.files.is_empty());
    assert_eq!(config.network, skiff_capabilities::NetworkPolicy::None);
    assert_eq!(config.limits, skiff_capabilities::Limits::default());
    assert_eq!(manifest.build().command, None);
}

#[test]
fn an_empty_network_list_grants_nothing() {
    let text = "manifest_version = 1\n[app]\nname = \"x\"\nversion = \"1\"\n[build]\nwasm = \"x.wasm\"\n[grants]\nnetwork = []\n";
    let config = Manifest::from_str(text, "skiff.toml").unwrap().resolve();
    assert_eq!(config.network, skiff_capabilities::NetworkPolicy::None);
}

#[test]
fn the_reference_example_parses() {
    let doc = std::fs::read_to_string("../../docs/manifest.md").unwrap();
    let start = doc
        .find("```toml\n")
        .expect("docs/manifest.md has a toml example")
        + 8;
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let manifest = Manifest::from_str(example, "docs/manifest.md").unwrap_or_else(|e| {
        panic!("{}", render(&e));
    });
    assert_eq!(manifest.config().network.endpoints().len(), 3);
    assert_eq!(manifest.config().volumes, ["/data"]);
}
