//! An image in the store, read back: which layer is the Wasm, Skiff's app config, static files.

use std::io::Read;

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use skiff_manifest::AppConfig;

use crate::media::Compression;
use crate::store::{Store, StoreError};
use crate::{limits, media};

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
    #[error("the image index `{digest}` has no WebAssembly entry: its platforms are {platforms}")]
    NoWasmPlatform { digest: String, platforms: String },
    #[error("the image `{digest}` holds {count} Wasm components; Skiff runs one per app")]
    ManyComponents { digest: String, count: usize },
    #[error(
        "the Spin app `{digest}` has several components ({}); Skiff runs one per app",
        components.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    SpinComponents {
        digest: String,
        components: Vec<crate::spin::SpinComponent>,
    },
    #[error("the Spin app `{digest}` is refused: {reason}")]
    BadSpinApp { digest: String, reason: String },
    #[error(
        "the image `{digest}` has a descriptor whose digest `{bad}` is not `sha256:` and 64 lowercase hex digits"
    )]
    BadDescriptorDigest { digest: String, bad: String },
    #[error(
        "the image `{digest}` declares blob `{blob}` to be {declared} bytes, but it is {actual}"
    )]
    SizeMismatch {
        digest: String,
        blob: String,
        declared: i64,
        actual: u64,
    },
    #[error("the files layer `{digest}` is refused: {reason}")]
    BadFiles { digest: String, reason: String },
    #[error("cannot read layer `{digest}`")]
    Layer {
        digest: String,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ImageError::Store(e) => e.hint(),
            ImageError::BadDescriptorDigest { .. }
            | ImageError::SizeMismatch { .. }
            | ImageError::BadFiles { .. } => Some(
                "the image is malformed or was made to escape the sandbox; nothing of it was \
                 kept: ask its author for an image built with `skiff build` or another OCI tool"
                    .into(),
            ),
            ImageError::BadSpinApp { .. } => Some(
                "nothing of it was kept: publish it again with `spin registry push` (its \
                 components composed, its files inside the app's directory), or run it with \
                 `spin up`"
                    .into(),
            ),
            ImageError::SpinComponents { .. } => Some(
                "serve them all, each on its route, with `skiff serve IMAGE` or `skiff run -d \
                 IMAGE`; or publish each component as an app of its own (a `spin.toml` of one \
                 component)"
                    .into(),
            ),
            ImageError::NoWasmPlatform { .. } => Some(
                "it was built for other platforms only: build it for `wasi/wasm` (`docker \
                 buildx build --platform wasi/wasm`), or with `skiff build`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Where the app's Wasm is inside an image.
#[derive(Clone, Debug)]
pub enum WasmSource {
    /// A layer that is the Wasm binary (Skiff, CNCF, runwasi, Spin, wasmCloud).
    Layer(OciDescriptor),
    /// A file inside a filesystem tar layer (the "compat" form crun runs).
    InTar {
        layer: OciDescriptor,
        compression: Compression,
        path: String,
    },
}

#[derive(Clone)]
pub struct Image {
    pub digest: String,
    pub manifest: OciImageManifest,
    /// The config blob, parsed as JSON (the CNCF Wasm config for Skiff images).
    pub config: serde_json::Value,
    /// Skiff's resolved app config, when the image was built by Skiff.
    pub app: Option<AppConfig>,
    /// The Spin app's component, for an image `spin registry push` published.
    pub(crate) spin: Option<crate::spin::SpinApp>,
    pub wasm: WasmSource,
}

impl Image {
    /// Reads the image whose manifest has `digest`, verifying every blob it reads: each
    /// descriptor's digest is well-formed and its declared size is the stored blob's size,
    /// and JSON blobs are read only up to [`limits::MAX_JSON`].
    pub fn open(store: &Store, digest: &str) -> Result<Image, ImageError> {
        Image::open_component(store, digest, None)
    }

    /// Every image a run may take from `digest`: the image, or one per component of a Spin
    /// app of several (the one a `skiff serve` of it serves on each component's route).
    pub fn components(store: &Store, digest: &str) -> Result<Vec<Image>, ImageError> {
        let components = match Image::open(store, digest) {
            Err(ImageError::SpinComponents { components, .. }) => components,
            opened => return Ok(vec![opened?]),
        };
        // The locked app is read once: each component's image shares it.
        let first = Image::open_component(store, digest, Some(&components[0].id))?;
        let spin = first.spin.as_ref().expect("a Spin app's component");
        components
            .iter()
            .map(|c| {
                let spin = spin.sibling(digest, &c.id)?;
                Ok(Image {
                    wasm: WasmSource::Layer(spin.wasm_layer(digest, &first.manifest)?),
                    spin: Some(spin),
                    ..first.clone()
                })
            })
            .collect()
    }

    /// The image, or with `component` that component of a Spin app.
    pub fn open_component(
        store: &Store,
        digest: &str,
        component: Option<&str>,
    ) -> Result<Image, ImageError> {
        let manifest_bytes = store.get_limited(digest, limits::MAX_JSON, "a manifest")?;
        let manifest: OciImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| ImageError::BadManifest {
                digest: digest.to_string(),
                source,
            })?;
        check_descriptors(digest, &manifest)?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let actual = store.blob_size(&blob.digest)?;
            if u64::try_from(blob.size).ok() != Some(actual) {
                return Err(ImageError::SizeMismatch {
                    digest: digest.to_string(),
                    blob: blob.digest.clone(),
                    declared: blob.size,
                    actual,
                });
            }
        }
        let config_bytes =
            store.get_limited(&manifest.config.digest, limits::MAX_JSON, "an image config")?;
        let config = serde_json::from_slice(&config_bytes).unwrap_or(serde_json::Value::Null);
        let app = match manifest
            .layers
            .iter()
            .find(|l| l.media_type == media::SKIFF_APP_CONFIG)
        {
            Some(layer) => Some(
                serde_json::from_slice(&store.get_limited(
                    &layer.digest,
                    limits::MAX_JSON,
                    "an app config",
                )?)
                .map_err(ImageError::BadAppConfig)?,
            ),
            None => None,
        };
        let spin = crate::spin::read(store, digest, &manifest, component)?;
        let wasm = match &spin {
            Some(spin) => WasmSource::Layer(spin.wasm_layer(digest, &manifest)?),
            None => find_wasm(store, digest, &manifest, &config)?,
        };
        Ok(Image {
            digest: digest.to_string(),
            manifest,
            config,
            app,
            spin,
            wasm,
        })
    }

    /// The Spin component this image runs, for an app `spin registry push` published.
    pub fn spin_component(&self) -> Option<crate::SpinComponent> {
        self.spin.as_ref().map(crate::spin::SpinApp::component)
    }

    /// The sha256 of the Wasm binary, when a layer is the binary itself (then a compile cache
    /// keyed by that digest can be consulted before the layer is read).
    pub fn wasm_digest(&self) -> Option<&str> {
        match &self.wasm {
            WasmSource::Layer(layer) => Some(&layer.digest),
            WasmSource::InTar { .. } => None,
        }
    }

    /// The Wasm binary, verified against its digest.
    pub fn wasm_bytes(&self, store: &Store) -> Result<Vec<u8>, ImageError> {
        match &self.wasm {
            WasmSource::Layer(layer) => Ok(store.get(&layer.digest)?),
            WasmSource::InTar {
                layer,
                compression,
                path,
            } => {
                let layer_err = |source| ImageError::Layer {
                    digest: layer.digest.clone(),
                    source,
                };
                let mut archive = tar_reader(store, &layer.digest, *compression)?;
                for entry in archive.entries().map_err(layer_err)? {
                    let mut entry = entry.map_err(layer_err)?;
                    let name = entry
                        .path()
                        .map_err(layer_err)?
                        .to_string_lossy()
                        .into_owned();
                    if normalize(&name) == normalize(path) {
                        let size = entry.header().size().map_err(layer_err)?;
                        if size > limits::MAX_UNPACKED {
                            return Err(layer_err(too_large(path, size)));
                        }
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

/// Whether the stored blob begins as a WebAssembly binary does (`\0asm`).
fn starts_with_wasm_magic(store: &Store, digest: &str) -> bool {
    let mut magic = [0; 4];
    store
        .blob_path(digest)
        .ok()
        .and_then(|path| std::fs::File::open(path).ok())
        .is_some_and(|mut file| file.read_exact(&mut magic).is_ok() && magic == *b"\0asm")
}

/// A tar layer, streamed from the store (verified at its end) and, when compressed, cut off
/// after [`limits::MAX_UNPACKED`] decompressed bytes: a decompression bomb is an error.
fn tar_reader(
    store: &Store,
    digest: &str,
    compression: Compression,
) -> Result<tar::Archive<Box<dyn Read>>, ImageError> {
    let blob = store.reader(digest, limits::MAX_BLOB, "a layer")?;
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(Capped::new(flate2::read::GzDecoder::new(blob))),
        Compression::Zstd => Box::new(Capped::new(Zstd::new(blob))),
    };
    Ok(tar::Archive::new(reader))
}

/// A zstd stream of any number of frames (the format allows several, and skippable ones;
/// ruzstd's `StreamingDecoder` reads one).
pub(crate) struct Zstd<R> {
    source: std::io::BufReader<R>,
    frame: FrameDecoder,
    in_frame: bool,
}

impl<R: Read> Zstd<R> {
    pub(crate) fn new(source: R) -> Zstd<R> {
        Zstd {
            source: std::io::BufReader::new(source),
            frame: FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: Read> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead as _;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.frame.can_collect() < buf.len() && !self.frame.is_finished() {
                    let wanted = buf.len() - self.frame.can_collect();
                    self.frame
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                        .map_err(std::io::Error::other)?;
                }
                let n = self.frame.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.frame.init(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = std::io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut std::io::sink(),
                    )?;
                    if skipped < u64::from(length) {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    }
}

/// A reader that fails once more than `left` bytes have come through.
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
    /// What decompresses: `the layer`, `the archive`.
    what: &'static str,
}

impl<R> Capped<R> {
    /// Decompressed bytes of a layer, at most [`limits::MAX_UNPACKED`] of them.
    fn new(inner: R) -> Capped<R> {
        Capped::at_most(inner, limits::MAX_UNPACKED, "the layer")
    }

    pub(crate) fn at_most(inner: R, limit: u64, what: &'static str) -> Capped<R> {
        Capped {
            inner,
            left: limit,
            limit,
            what,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "{} decompresses to more than {} bytes (a decompression bomb?)",
                self.what, self.limit
            ))
        })?;
        Ok(n)
    }
}

fn too_large(path: &str, size: u64) -> std::io::Error {
    std::io::Error::other(format!(
        "`{path}` is {size} bytes, more than the {}-byte limit for a Wasm file",
        limits::MAX_UNPACKED
    ))
}

/// Is `digest` a digest Skiff can name a blob by: `sha256:` and 64 lowercase hex digits.
pub(crate) fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Every descriptor of a manifest names its blob by a well-formed digest, before any of
/// them is joined onto a path, fetched or read.
pub(crate) fn check_descriptors(
    digest: &str,
    manifest: &OciImageManifest,
) -> Result<(), ImageError> {
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if !is_digest(&blob.digest) {
            return Err(ImageError::BadDescriptorDigest {
                digest: digest.to_string(),
                bad: blob.digest.clone(),
            });
        }
    }
    Ok(())
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
    // A Wasm binary as the layer itself under a generic type: `oras push REF app.wasm` types a
    // file `application/vnd.oci.image.layer.v1.tar` unless told otherwise.
    let raw: Vec<&OciDescriptor> = manifest
        .layers
        .iter()
        .filter(|l| media::may_be_raw_wasm(&l.media_type))
        .filter(|l| starts_with_wasm_magic(store, &l.digest))
        .collect();
    if let [layer] = raw[..] {
        return Ok(WasmSource::Layer(layer.clone()));
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
        let Some(compression) = media::tar_layer(&layer.media_type) else {
            continue;
        };
        let mut archive = tar_reader(store, &layer.digest, compression)?;
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
                let size = entry.header().size().map_err(layer_err)?;
                if size > limits::MAX_UNPACKED {
                    return Err(layer_err(too_large(&name, size)));
                }
                return Ok(WasmSource::InTar {
                    layer: layer.clone(),
                    compression,
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

#[cfg(test)]
mod tests {
    use ruzstd::encoding::{CompressionLevel, compress_to_vec};

    use super::*;

    #[test]
    fn a_zstd_stream_of_several_frames_and_a_skippable_one_decodes_whole() {
        let first = compress_to_vec(&b"first frame, "[..], CompressionLevel::Fastest);
        let second = compress_to_vec(&b"second frame"[..], CompressionLevel::Uncompressed);
        // A skippable frame: magic 0x184D2A50, little-endian length 3, 3 bytes.
        let skippable = [0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
        let stream = [first, skippable.to_vec(), second].concat();
        let mut out = String::new();
        Zstd::new(&stream[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "first frame, second frame");
        // Cut short: an error, not a quiet end.
        let mut out = String::new();
        assert!(
            Zstd::new(&stream[..stream.len() - 4])
                .read_to_string(&mut out)
                .is_err()
        );
    }
}
