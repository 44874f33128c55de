//! `skiff new`: start an app project from a template: `skiff.toml` whose `[build]` command calls
//! the language's own toolchain, the source, and a README that says how to install that toolchain.
//!
//! The templates are the files under `crates/cli/templates/<lang>/<command|http>/`, compiled into
//! the binary; `{{name}}` in them becomes the app's name, and a `.tmpl` suffix is dropped (so the
//! Rust templates' `Cargo.toml` is not taken for a package of this workspace). The Python and
//! JavaScript templates get `templates/wit/deps` (the WASI 0.2 interfaces) as their `wit/deps`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use include_dir::{Dir, include_dir};

use crate::errors::user_error;
use crate::settings::GlobalFlags;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Create a new app project: skiff.toml, source and a README, built with the language's toolchain
#[derive(Debug, Args)]
pub struct New {
    /// The project's directory, created here; its last component is the app's name (lowercase
    /// letters and digits, words separated by `-` or `_`, starting with a letter)
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The language of the template
    #[arg(long, value_enum)]
    lang: Lang,
    /// An HTTP handler (a wasi:http component, for `skiff serve`) instead of a command
    #[arg(long)]
    http: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    C,
    Go,
    Python,
    #[value(alias = "javascript")]
    Js,
    Zig,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Go => "go",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::Zig => "zig",
        }
    }

    /// Why this language's template cannot be an HTTP handler, for those whose toolchain here
    /// makes only WASI preview 1 modules: a wasi:http handler must be a WASI 0.2 component.
    fn no_http(self) -> Option<&'static str> {
        match self {
            Lang::Rust | Lang::Python | Lang::Js => None,
            Lang::C => Some(
                "clang with wasi-libc builds WASI preview 1 modules, and an HTTP handler must be a \
                 WASI 0.2 component exporting wasi:http/incoming-handler",
            ),
            Lang::Go => Some(
                "Go's `GOOS=wasip1` builds WASI preview 1 modules, and an HTTP handler must be a \
                 WASI 0.2 component exporting wasi:http/incoming-handler",
            ),
            Lang::Zig => Some(
                "Zig's `wasm32-wasi` target builds WASI preview 1 modules, and an HTTP handler must \
                 be a WASI 0.2 component exporting wasi:http/incoming-handler",
            ),
        }
    }

    /// Whether the template builds against the WIT files in `templates/wit`.
    fn uses_wit(self) -> bool {
        matches!(self, Lang::Python | Lang::Js)
    }
}

impl New {
    pub fn execute(self, _global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let lang = self.lang.dir();
        let name = app_name(&self.path)?;
        if self.http
            && let Some(reason) = self.lang.no_http()
        {
            return Err(user_error(
                format!("there is no HTTP template for {lang}: {reason}"),
                format!(
                    "make a command instead: `skiff new {} --lang {lang}`; for an HTTP handler use \
                     --lang rust, python or js",
                    self.path.display()
                ),
            ));
        }
        check_empty(&self.path)?;
        let form = if self.http { "http" } else { "command" };
        let mut files = Vec::new();
        let template = TEMPLATES
            .get_dir(format!("{lang}/{form}"))
            .expect("every language has a command template, and no_http covers the rest");
        collect(template, Path::new(""), &mut files);
        if self.lang.uses_wit() {
            let wit = TEMPLATES.get_dir("wit/deps").expect("templates/wit/deps");
            collect(wit, Path::new("wit/deps"), &mut files);
        }
        write(&self.path, &name, &files)?;
        eprintln!(
            "Created {} ({lang} {form}, app `{name}`). Next:\n  cd {}\n  skiff build -t {name}:0.1.0 .\n  skiff {} {name}:0.1.0",
            self.path.display(),
            self.path.display(),
            if self.http { "serve" } else { "run" },
        );
        eprintln!("{}", toolchain_line(self.lang));
        Ok(ExitCode::SUCCESS)
    }
}

/// The README's toolchain line, so the user sees what the build will need.
fn toolchain_line(lang: Lang) -> String {
    let hint = skiff_image::toolchain::for_language(lang.dir());
    format!(
        "It builds with {}; install it with: {}",
        hint.toolchain, hint.install
    )
}

/// The app's name: the last component of `path`, which must be one that every toolchain takes as
/// a package or module name as well as the OCI rules take as an image name.
fn app_name(path: &Path) -> anyhow::Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let starts = name.starts_with(|c: char| c.is_ascii_lowercase());
    let chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let words = name.split(['-', '_']).all(|w| !w.is_empty());
    if !(starts && chars && words && name.len() <= 64) {
        return Err(user_error(
            format!("invalid app name `{name}`"),
            "use lowercase letters and digits, words separated by a single `-` or `_`, starting \
             with a letter and at most 64 characters, like `hello` or `my-api`; the name is the \
             last component of the path",
        ));
    }
    Ok(name)
}

/// `skiff new` never writes over anything: the directory must be missing or empty.
fn check_empty(path: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(user_error(
                    format!("`{}` already exists and is not empty", path.display()),
                    "choose a new directory, or empty this one first",
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(user_error(
            format!("`{}` already exists and is a file", path.display()),
            "choose a new directory",
        )),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot read the directory `{}`", path.display()))),
    }
}

/// `(path in the project, contents)` of every file under `dir`, placed under `base`.
fn collect(dir: &'static Dir<'static>, base: &Path, files: &mut Vec<(PathBuf, &'static [u8])>) {
    collect_under(dir, dir.path(), base, files);
}

fn collect_under(
    dir: &'static Dir<'static>,
    root: &Path,
    base: &Path,
    files: &mut Vec<(PathBuf, &'static [u8])>,
) {
    for file in dir.files() {
        let relative = file
            .path()
            .strip_prefix(root)
            .expect("a file under its dir");
        files.push((base.join(relative), file.contents()));
    }
    for sub in dir.dirs() {
        collect_under(sub, root, base, files);
    }
}

/// Writes the files, `{{name}}` replaced and `.tmpl` dropped, into a fresh directory; a failure
/// part way removes what was written.
fn write(path: &Path, name: &str, files: &[(PathBuf, &[u8])]) -> anyhow::Result<()> {
    let existed = path.exists();
    let result = (|| -> std::io::Result<()> {
        for (relative, contents) in files {
            let mut target = path.join(relative);
            if target.extension().is_some_and(|e| e == "tmpl") {
                target.set_extension("");
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let text = String::from_utf8_lossy(contents).replace("{{name}}", name);
            std::fs::write(&target, text)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        if !existed {
            let _ = std::fs::remove_dir_all(path);
        }
        return Err(anyhow::Error::new(e)
            .context(format!("cannot write the project to `{}`", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template, once rendered, has a manifest the image builder accepts, of the kind the
    /// template is for, naming the app.
    #[test]
    fn every_template_renders_a_valid_manifest() {
        for lang in Lang::value_variants() {
            for http in [false, true] {
                if http && lang.no_http().is_some() {
                    assert!(TEMPLATES.get_dir(format!("{}/http", lang.dir())).is_none());
                    continue;
                }
                let dir = tempfile::tempdir().unwrap();
                let project = dir.path().join("my-app");
                let form = if http { "http" } else { "command" };
                let template = TEMPLATES.get_dir(format!("{}/{form}", lang.dir())).unwrap();
                let mut files = Vec::new();
                collect(template, Path::new(""), &mut files);
                write(&project, "my-app", &files).unwrap();
                let manifest =
                    skiff_manifest::Manifest::from_file(project.join("skiff.toml")).unwrap();
                let app = manifest.resolve();
                assert_eq!(app.name, "my-app", "{lang:?}");
                assert_eq!(
                    app.kind == skiff_manifest::AppKind::Http,
                    http,
                    "{lang:?} {form}"
                );
                assert!(project.join("README.md").is_file(), "{lang:?} {form}");
                assert!(manifest.build().command.is_some(), "{lang:?} {form}");
            }
        }
    }

    #[test]
    fn names_fit_every_toolchain() {
        for good in ["hello", "my-api", "a1_b2", "x"] {
            assert!(app_name(Path::new(good)).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Hello",
            "1app",
            "my--api",
            "a.b",
            "trailing-",
            "-x",
            "ünï",
        ] {
            assert!(app_name(Path::new(bad)).is_err(), "{bad:?}");
        }
    }
}
