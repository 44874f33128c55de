//! `skiff.toml`: the file that describes an app, parsed and checked into a resolved,
//! deterministic [`AppConfig`] plus the [`Build`] instructions for `skiff build`.
//!
//! This crate owns the schema (versioned by `manifest_version`, every table
//! `deny_unknown_fields`), its validation, and errors that point at the offending
//! `skiff.toml:LINE:COLUMN` with a hint saying how to fix it. Grants and limits are expressed in
//! `skiff-capabilities` types and parsed with its Docker-style parsers, so `memory = "64m"` in a
//! manifest means what `--memory 64m` means on the command line.
//!
//! It deliberately does no file I/O beyond reading the manifest itself: it does not check that
//! the Wasm file or the static files exist, does not run the build command, and does not merge
//! `skiff run` flags into the config — those belong to the image builder and to the front ends.
//! It does not depend on wasmtime.

mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod schema;

use std::path::{Path, PathBuf};

pub use config::{AppConfig, AppKind, Build, FileSpec};
pub use error::{Location, ManifestError};

/// The file name `skiff build` looks for in an app's directory.
pub const FILE_NAME: &str = "skiff.toml";

/// The `manifest_version` values this crate reads.
pub const SUPPORTED_VERSIONS: &[i64] = &[1];

/// A parsed and validated `skiff.toml`. Every semantic check happens while parsing, so holding a
/// `Manifest` means the app config is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    path: PathBuf,
    build: Build,
    config: AppConfig,
}

impl Manifest {
    /// Reads and parses the manifest at `path`. A missing file is [`ManifestError::NotFound`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ManifestError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                ManifestError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::from_str(&text, path)
    }

    /// Parses manifest text. `path` is where it came from: it prefixes error locations and its
    /// directory is the base of the manifest's relative paths ([`Manifest::dir`]).
    pub fn from_str(text: &str, path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        let path = path.as_ref().to_path_buf();
        let (build, config) = schema::parse(text, &path)?;
        Ok(Manifest {
            path,
            build,
            config,
        })
    }

    /// The path the manifest was read from (or named after, for [`Manifest::from_str`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory relative paths in the manifest are relative to.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// How to build the app; not part of the image's runtime config.
    pub fn build(&self) -> &Build {
        &self.build
    }

    /// The Wasm file to package: `build.wasm` joined to [`Manifest::dir`].
    pub fn wasm_path(&self) -> PathBuf {
        self.dir().join(&self.build.wasm)
    }

    /// The app's runtime configuration, as it goes into the image.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// An owned copy of [`Manifest::config`]. Resolution cannot fail here: it already happened
    /// while parsing, so errors could carry their line and column.
    pub fn resolve(&self) -> AppConfig {
        self.config.clone()
    }
}
