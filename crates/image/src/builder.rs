//! `skiff build`: `skiff.toml` + the Wasm + static files -> an image in the store.
//!
//! Reproducible: the same inputs give the same digest. Nothing in an image depends on when or
//! where it was built: the config's `created` is `SOURCE_DATE_EPOCH` (or the Unix epoch), the
//! files tar is sorted with fixed owners, modes and times, and all JSON has a fixed field order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_wasm::WasmConfig;
use skiff_manifest::{AppConfig, Manifest, ManifestError};

use crate::media;
use crate::store::{Store, StoreError, digest_of};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the build command `{command}` failed ({status})")]
    Command { command: String, status: String },
    #[error("the build command `{command}` failed: {}", missing.what)]
    MissingToolchain {
        command: String,
        missing: crate::toolchain::Missing,
    },
    #[error("cannot run the build command `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the app's Wasm file `{path}`")]
    Wasm {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a WebAssembly binary")]
    NotWasm { path: PathBuf },
    #[error("cannot describe the Wasm file `{path}`")]
    Describe {
        path: PathBuf,
        #[source]
        source: anyhow::Error,
    },
    #[error("cannot package the file `{path}`")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a Spin app Skiff can build: {reason}")]
    Spin { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BuildError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            BuildError::Manifest(e) => return e.hint(),
            BuildError::Command { .. } | BuildError::Spawn { .. } => {
                "fix the build, or the `command` in the manifest's [build] section".into()
            }
            BuildError::MissingToolchain { missing, .. } => {
                format!("install it with {}, then build again", missing.install)
            }
            BuildError::Wasm { .. } => "build the app first, or fix `wasm` in the manifest's [build] section (paths are relative to skiff.toml)".into(),
            BuildError::NotWasm { .. } => "`wasm` in [build] must name a compiled .wasm file".into(),
            BuildError::File { .. } => "check the `source` of the manifest's [[files]] entries".into(),
            BuildError::Spin { .. } => "fix `spin.toml` (Spin's manifest reference: version 2), or publish the app with `spin registry push` and run that image".into(),
            _ => return None,
        })
    }
}

/// What `build` made.
pub struct Built {
    pub digest: String,
    pub size: u64,
    pub app: AppConfig,
}

/// Builds the app described by `manifest_path` (a `skiff.toml`) and names the image `name`.
pub fn build(store: &Store, manifest_path: &Path, name: Option<&str>) -> Result<Built, BuildError> {
    let manifest = Manifest::from_file(manifest_path)?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let app = manifest.resolve();
    let build = manifest.build();
    if let Some(command) = &build.command {
        run_build_command(command, dir)?;
    }
    let wasm_path = dir.join(&build.wasm);
    let wasm = std::fs::read(&wasm_path).map_err(|source| BuildError::Wasm {
        path: wasm_path.clone(),
        source,
    })?;
    let component = match wasm.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => false,
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => true,
        _ => return Err(BuildError::NotWasm { path: wasm_path }),
    };

    let app_json = serde_json::to_vec(&app).expect("the app config serializes");
    let files = files_tar(dir, &app)?;

    let mut blobs: Vec<(&str, Vec<u8>)> = vec![
        (media::WASM_LAYER, wasm.clone()),
        (media::SKIFF_APP_CONFIG, app_json),
    ];
    if let Some(files) = files {
        blobs.push((media::SKIFF_FILES, files));
    }
    let layers: Vec<OciDescriptor> = blobs
        .iter()
        .map(|(media_type, bytes)| OciDescriptor {
            media_type: media_type.to_string(),
            digest: digest_of(bytes),
            size: bytes.len() as i64,
            ..Default::default()
        })
        .collect();

    let describe = |source| BuildError::Describe {
        path: wasm_path.clone(),
        source,
    };
    let (mut config, _) = if component {
        WasmConfig::from_raw_component(wasm, None).map_err(describe)?
    } else {
        WasmConfig::from_raw_module(wasm, None).map_err(describe)?
    };
    config.created = source_date();
    config.layer_digests = layers.iter().map(|l| l.digest.clone()).collect();
    let config_json = serde_json::to_vec(&config).expect("the Wasm config serializes");

    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_string()),
        config: OciDescriptor {
            media_type: media::WASM_CONFIG.to_string(),
            digest: digest_of(&config_json),
            size: config_json.len() as i64,
            ..Default::default()
        },
        layers,
        annotations: Some(BTreeMap::from([
            (
                "org.opencontainers.image.title".to_string(),
                app.name.clone(),
            ),
            (
                "org.opencontainers.image.version".to_string(),
                app.version.clone(),
            ),
        ])),
        ..Default::default()
    };
    let manifest_json = serde_json::to_vec(&manifest).expect("the manifest serializes");

    let pin = store.pin()?;
    let mut txn = pin.transaction();
    for (_, bytes) in &blobs {
        txn.put(bytes)?;
    }
    txn.put(&config_json)?;
    let digest = txn.put(&manifest_json)?;
    txn.commit();
    let name = name.map_or_else(|| format!("{}:{}", app.name, app.version), str::to_string);
    store.set_ref(&crate::normalize_name(&name), &digest)?;
    let size =
        manifest_json.len() + config_json.len() + blobs.iter().map(|(_, b)| b.len()).sum::<usize>();
    Ok(Built {
        digest,
        size: size as u64,
        app,
    })
}

/// Runs a build command (`sh -c`) in `dir`; a failure names the toolchain missing, if that is
/// why.
pub(crate) fn run_build_command(command: &str, dir: &Path) -> Result<(), BuildError> {
    tracing::info!("running the build command `{command}`");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .status()
        .map_err(|source| BuildError::Spawn {
            command: command.to_string(),
            source,
        })?;
    if status.success() {
        return Ok(());
    }
    if let Some(missing) = crate::toolchain::diagnose(command) {
        return Err(BuildError::MissingToolchain {
            command: command.to_string(),
            missing,
        });
    }
    Err(BuildError::Command {
        command: command.to_string(),
        status: status.to_string(),
    })
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), or the Unix epoch.
pub(crate) fn source_date() -> chrono::DateTime<chrono::Utc> {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// A tar of the app's static files, each under its guest destination, in sorted order with
/// fixed metadata; `None` when the app has no files.
fn files_tar(dir: &Path, app: &AppConfig) -> Result<Option<Vec<u8>>, BuildError> {
    if app.files.is_empty() {
        return Ok(None);
    }
    let mut entries: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    for spec in &app.files {
        let source = dir.join(&spec.source);
        let dest = spec.destination.trim_start_matches('/').to_string();
        collect(&source, &dest, &mut entries)?;
    }
    let mtime = source_date().timestamp().max(0) as u64;
    let mut tar = tar::Builder::new(Vec::new());
    for (path, source) in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        let file_err = |source_err| BuildError::File {
            path: source.clone().unwrap_or_else(|| PathBuf::from(path)),
            source: source_err,
        };
        match source {
            Some(file) => {
                let bytes = std::fs::read(file).map_err(file_err)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, &bytes[..])
                    .map_err(file_err)?;
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), std::io::empty())
                    .map_err(file_err)?;
            }
        }
    }
    tar.into_inner()
        .map(Some)
        .map_err(|source| BuildError::File {
            path: dir.to_path_buf(),
            source,
        })
}

/// Adds `source` (a file or a directory tree) at `dest`, with every parent directory.
pub(crate) fn collect(
    source: &Path,
    dest: &str,
    entries: &mut BTreeMap<String, Option<PathBuf>>,
) -> Result<(), BuildError> {
    let err = |e| BuildError::File {
        path: source.to_path_buf(),
        source: e,
    };
    let mut parent = String::new();
    for component in dest
        .split('/')
        .collect::<Vec<_>>()
        .split_last()
        .map_or(&[][..], |(_, p)| p)
    {
        parent = if parent.is_empty() {
            component.to_string()
        } else {
            format!("{parent}/{component}")
        };
        entries.entry(parent.clone()).or_insert(None);
    }
    let meta = std::fs::metadata(source).map_err(err)?;
    if meta.is_file() {
        entries.insert(dest.to_string(), Some(source.to_path_buf()));
        return Ok(());
    }
    entries.entry(dest.to_string()).or_insert(None);
    let mut children: Vec<_> = std::fs::read_dir(source)
        .map_err(err)?
        .collect::<Result<_, _>>()
        .map_err(err)?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        collect(&child.path(), &format!("{dest}/{name}"), entries)?;
    }
    Ok(())
}
