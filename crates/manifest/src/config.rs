//! The resolved app configuration: what goes into an image and what front ends consume.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use skiff_capabilities::{Limits, NetworkPolicy};

/// An app as the runtime sees it, with every default filled in. Serialises deterministically:
/// the environment is sorted by name, lists keep the manifest's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppConfig {
    pub name: String,
    /// Also the image's default tag.
    pub version: String,
    pub description: Option<String>,
    pub kind: AppKind,
    /// Default arguments, passed after the program name.
    pub args: Vec<String>,
    /// Default environment; `skiff run -e` overrides single variables.
    pub env: BTreeMap<String, String>,
    /// Static files packaged into the image and mounted read-only.
    pub files: Vec<FileSpec>,
    /// Absolute guest paths at which the app expects a host directory, granted at run time.
    pub volumes: Vec<String>,
    /// The guest directory the app starts in (Docker's `WORKDIR`), inside one of `files` or
    /// `volumes`; none: `/`. Left out of the serialised config when none, so images built
    /// before it keep their digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Egress allowlist; [`NetworkPolicy::None`] when the manifest lists no destination. An
    /// image declares destinations, never the host's whole network (only a user grants that).
    #[serde(deserialize_with = "declared_network")]
    pub network: NetworkPolicy,
    pub limits: Limits,
}

fn declared_network<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NetworkPolicy, D::Error> {
    match NetworkPolicy::deserialize(d)? {
        NetworkPolicy::Host => Err(serde::de::Error::custom(
            "an image may declare network destinations (`allow`), not the host's whole network \
             (`host`): only `skiff run --network host` grants that",
        )),
        declared => Ok(declared),
    }
}

impl AppConfig {
    /// The environment in the form [`skiff_capabilities::Grants::env`] takes, sorted by name.
    pub fn env_vec(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// What kind of component the app is, and so how it is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Runs to completion: a WASI command (`_start` or `wasi:cli/run`).
    #[default]
    Command,
    /// A `wasi:http` handler, served by the daemon.
    Http,
}

impl AppKind {
    pub const ALL: [AppKind; 2] = [AppKind::Command, AppKind::Http];

    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Command => "command",
            AppKind::Http => "http",
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A static file or directory from the app's source tree, mounted read-only in the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpec {
    /// Relative to the manifest's directory, normalised (no `.`, no `..`, `/` separators).
    pub source: PathBuf,
    /// Absolute guest path, normalised.
    pub destination: String,
}

/// The `[build]` section: how `skiff build` gets the Wasm file. Kept out of [`AppConfig`]
/// because it describes the source tree, not the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// The Wasm file, relative to the manifest's directory (normalised; may start with `..`,
    /// as a workspace's `target` directory often sits above the app).
    pub wasm: PathBuf,
    /// A shell command the image builder runs in the manifest's directory before packaging.
    pub command: Option<String>,
}
