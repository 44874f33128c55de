//! An image in the store, read back: which layer is the Wasm, Skiff's app config, static files.

use std::io::Read;

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use skiff_manifest::AppConfig;

use crate::media;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the manifest `{digest}` is not a valid OCI image manifest")]
    BadManifest {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the image's app config is not valid")]
    BadAppConfig(#[source] serde_json::Error),
    #[error("the image `{digest}` holds no WebAssembly: its layers are {layers}")]
    NotWasm { digest: String, layers: String },
    #[error("the image `{digest}` holds {count} Wasm components; Skiff runs one per app")]
    ManyComponents { digest: String, count: usize },
    #[error("cannot read layer `{digest}`")]
    Layer {
        digest: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the app's Wasm is inside an image.
#[derive(Clone, Debug)]
pub enum WasmSource {
    /// A layer that is the Wasm binary (Skiff, CNCF, runwasi, Spin).
    Layer(OciDescriptor),
    /// A file inside a filesystem tar layer (the "compat" form crun runs).
    InTar {
        layer: OciDescriptor,
        gzip: bool,
        path: String,
    },
}

pub struct Image {
    pub digest: String,
    pub manifest: OciImageManifest,
    /// The config blob, parsed as JSON (the CNCF Wasm config for Skiff images).
    pub config: serde_json::Value,
    /// Skiff's resolved app config, when the image was built by Skiff.
    pub app: Option<AppConfig>,
    pub wasm: WasmSource,
}

impl Image {
    /// Reads the image whose manifest has `digest`, verifying every blob it reads.
    pub fn open(store: &Store, digest: &str) -> Result<Image, ImageError> {
        let manifest_bytes = store.get(digest)?;
        let manifest: OciImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| ImageError::BadManifest {
                digest: digest.to_string(),
                source,
            })?;
        let config_bytes = store.get(&manifest.config.digest)?;
        let config = serde_json::from_slice(&config_bytes).unwrap_or(serde_json::Value::Null);
        let app = match manifest
            .layers
            .iter()
            .find(|l| l.media_type == media::SKIFF_APP_CONFIG)
        {
            Some(layer) => Some(
                serde_json::from_slice(&store.get(&layer.digest)?)
                    .map_err(ImageError::BadAppConfig)?,
            ),
            None => None,
        };
        let wasm = find_wasm(store, digest, &manifest, &config)?;
        Ok(Image {
            digest: digest.to_string(),
            manifest,
            config,
            app,
            wasm,
        })
    }

    /// The Wasm binary, verified against its digest.
    pub fn wasm_bytes(&self, store: &Store) -> Result<Vec<u8>, ImageError> {
        match &self.wasm {
            WasmSource::Layer(layer) => Ok(store.get(&layer.digest)?),
            WasmSource::InTar { layer, gzip, path } => {
                let bytes = store.get(&layer.digest)?;
                let layer_err = |source| ImageError::Layer {
                    digest: layer.digest.clone(),
                    source,
                };
                let mut archive = tar_reader(&bytes, *gzip);
                for entry in archive.entries().map_err(layer_err)? {
                    let mut entry = entry.map_err(layer_err)?;
                    let name = entry
                        .path()
                        .map_err(layer_err)?
                        .to_string_lossy()
                        .into_owned();
                    if normalize(&name) == normalize(path) {
                        let mut wasm = Vec::new();
                        entry.read_to_end(&mut wasm).map_err(layer_err)?;
                        return Ok(wasm);
                    }
                }
                Err(layer_err(std::io::Error::other(format!(
                    "`{path}` is not in the layer"
                ))))
            }
        }
    }

    /// The layer of static files, if any.
    pub fn files_layer(&self) -> Option<&OciDescriptor> {
        self.manifest
            .layers
            .iter()
            .find(|l| l.media_type == media::SKIFF_FILES)
    }

    /// Bytes of the manifest, the config and every layer.
    pub fn size(&self, store: &Store) -> u64 {
        let manifest = store.blob_size(&self.digest).unwrap_or(0);
        let blobs: i64 =
            self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<i64>();
        manifest + blobs.max(0) as u64
    }

    /// `wasip1` (a core module) or `wasip2` (a component), as the config says, if it says.
    pub fn os(&self) -> Option<&str> {
        self.config.get("os").and_then(|os| os.as_str())
    }
}

pub(crate) fn tar_reader(bytes: &[u8], gzip: bool) -> tar::Archive<Box<dyn Read + '_>> {
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    tar::Archive::new(reader)
}

fn normalize(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

fn find_wasm(
    store: &Store,
    digest: &str,
    manifest: &OciImageManifest,
    config: &serde_json::Value,
) -> Result<WasmSource, ImageError> {
    let wasm_layers: Vec<&OciDescriptor> = manifest
        .layers
        .iter()
        .filter(|l| media::is_wasm_layer(&l.media_type))
        .collect();
    match wasm_layers[..] {
        [layer] => return Ok(WasmSource::Layer(layer.clone())),
        [] => {}
        _ => {
            return Err(ImageError::ManyComponents {
                digest: digest.to_string(),
                count: wasm_layers.len(),
            });
        }
    }
    // The compat form: the entrypoint of an OCI/Docker image config names a `.wasm` in a layer.
    let entrypoint = ["Entrypoint", "Cmd"].iter().find_map(|key| {
        config
            .pointer(&format!("/config/{key}/0"))
            .and_then(|v| v.as_str())
            .filter(|p| p.ends_with(".wasm"))
            .map(str::to_string)
    });
    for layer in &manifest.layers {
        let Some(gzip) = media::tar_layer(&layer.media_type) else {
            continue;
        };
        let bytes = store.get(&layer.digest)?;
        let mut archive = tar_reader(&bytes, gzip);
        let layer_err = |source| ImageError::Layer {
            digest: layer.digest.clone(),
            source,
        };
        for entry in archive.entries().map_err(layer_err)? {
            let entry = entry.map_err(layer_err)?;
            let name = entry
                .path()
                .map_err(layer_err)?
                .to_string_lossy()
                .into_owned();
            let wanted = match &entrypoint {
                Some(entry) => normalize(entry) == normalize(&name),
                None => name.ends_with(".wasm"),
            };
            if wanted && entry.header().entry_type().is_file() {
                return Ok(WasmSource::InTar {
                    layer: layer.clone(),
                    gzip,
                    path: name,
                });
            }
        }
    }
    Err(ImageError::NotWasm {
        digest: digest.to_string(),
        layers: manifest
            .layers
            .iter()
            .map(|l| format!("`{}`", l.media_type))
            .collect::<Vec<_>>()
            .join(", "),
    })
}
