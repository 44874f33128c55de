//! The guest toolchains that `skiff new`'s templates build with, and what `skiff build` says when
//! a `[build]` command fails for want of one: the toolchain, and the one command that installs it.
//!
//! Only consulted after a build command has failed, so a working build pays nothing for it.

use std::path::Path;
use std::process::Command;

/// A toolchain a template's build command calls by `program`.
#[derive(Debug, Clone, Copy)]
pub struct Toolchain {
    /// The language, as `skiff new --lang` names it.
    pub language: &'static str,
    /// The program the build command runs.
    pub program: &'static str,
    /// What it is, for a person.
    pub toolchain: &'static str,
    /// How to install it: one command, in backticks.
    pub install: &'static str,
}

/// The versions here are the ones the templates are written for and CI tests
/// (scripts/install-test-deps.sh installs the same).
pub const TOOLCHAINS: &[Toolchain] = &[
    Toolchain {
        language: "rust",
        program: "cargo",
        toolchain: "Rust (cargo) with the wasm32-wasip2 target",
        install: "`curl --proto '=https' -sSf https://sh.rustup.rs | sh -s -- -y --target wasm32-wasip2`",
    },
    Toolchain {
        language: "c",
        program: "clang-19",
        toolchain: "clang 19 with wasi-libc",
        install: "`apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32`",
    },
    Toolchain {
        language: "go",
        program: "go",
        toolchain: "Go 1.21 or newer (GOOS=wasip1)",
        install: "`apt-get install golang-go` (Debian 13, Ubuntu 24.04; elsewhere Go 1.21+ from go.dev)",
    },
    Toolchain {
        language: "python",
        program: "componentize-py",
        toolchain: "componentize-py 0.25",
        install: "`pip install componentize-py==0.25.1`",
    },
    Toolchain {
        language: "js",
        program: "componentize-js",
        toolchain: "componentize-js 0.23",
        install: "`npm install -g @bytecodealliance/componentize-js@0.23.0`",
    },
    Toolchain {
        language: "zig",
        program: "zig",
        toolchain: "Zig 0.17",
        install: "`pip install ziglang==0.17.1`, then put on PATH a `zig` script that runs \
                  `python3 -m ziglang \"$@\"`",
    },
];

/// The toolchain of a language `skiff new` knows.
pub fn for_language(language: &str) -> &'static Toolchain {
    TOOLCHAINS
        .iter()
        .find(|t| t.language == language)
        .unwrap_or_else(|| panic!("no toolchain listed for `{language}`"))
}

/// What a failed build command lacked, when it is a toolchain this module knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing, for a person: "`clang-19` (clang 19 with wasi-libc)".
    pub what: String,
    /// The command that installs it.
    pub install: String,
}

/// Looks for the known toolchain that `command` calls and that is not installed: a program not
/// on `PATH`, or for cargo, the Rust standard library of the `--target` it builds for.
pub fn diagnose(command: &str) -> Option<Missing> {
    diagnose_with(command, &std::env::var_os("PATH").unwrap_or_default())
}

fn diagnose_with(command: &str, path: &std::ffi::OsStr) -> Option<Missing> {
    let words = words(command);
    for word in &words {
        if let Some(t) = TOOLCHAINS.iter().find(|t| t.program == *word)
            && !on_path(word, path)
        {
            return Some(Missing {
                what: format!("`{}` ({}) is not installed", t.program, t.toolchain),
                install: t.install.to_string(),
            });
        }
    }
    if words.contains(&"cargo")
        && let Some(target) = words
            .windows(2)
            .find(|w| w[0] == "--target")
            .map(|w| w[1])
            .or_else(|| words.iter().find_map(|w| w.strip_prefix("--target=")))
        && !rust_target_installed(target)
    {
        return Some(Missing {
            what: format!("the Rust standard library for `{target}` is not installed"),
            install: format!("`rustup target add {target}`"),
        });
    }
    None
}

/// The command's words, with shell operators and `NAME=value` assignments dropped.
fn words(command: &str) -> Vec<&str> {
    command
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .filter(|w| !w.is_empty() && (w.starts_with('-') || !w.contains('=')))
        .collect()
}

fn on_path(program: &str, path: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether rustc has the standard library for `target` (what `rustup target add` installs).
fn rust_target_installed(target: &str) -> bool {
    let Ok(output) = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output()
    else {
        // No rustc at all is reported as cargo's absence, or is not ours to explain.
        return true;
    };
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    output.status.success()
        && std::fs::read_dir(Path::new(&libdir)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_skip_operators_and_assignments() {
        assert_eq!(
            words("mkdir -p build && GOOS=wasip1 GOARCH=wasm go build -o build/x.wasm ."),
            [
                "mkdir",
                "-p",
                "build",
                "go",
                "build",
                "-o",
                "build/x.wasm",
                "."
            ]
        );
    }

    #[test]
    fn a_missing_program_is_named_with_its_install_command() {
        let nowhere = std::ffi::OsStr::new("/nonexistent");
        let missing = diagnose_with("mkdir -p build && clang-19 -o build/x.wasm x.c", nowhere)
            .expect("clang-19 is not in /nonexistent");
        assert!(missing.what.contains("`clang-19`"), "{missing:?}");
        assert_eq!(missing.install, for_language("c").install);
        assert_eq!(
            diagnose_with("some-other-tool build", nowhere),
            None,
            "an unknown program is not ours to explain"
        );
    }

    #[test]
    fn a_missing_rust_target_is_named() {
        for command in [
            "cargo build --release --target wasm32-not-a-target",
            "cargo build --release --target=wasm32-not-a-target",
        ] {
            let missing = diagnose(command).expect(command);
            assert_eq!(missing.install, "`rustup target add wasm32-not-a-target`");
        }
    }
}
