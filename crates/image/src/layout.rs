//! `skiff save` / `skiff load`: OCI image-layout tarballs, for moving images without a registry.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde_json::json;

use crate::image::{Image, ImageError};
use crate::store::{Store, StoreError};
use crate::{limits, media};

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read the archive")]
    Read(#[source] std::io::Error),
    #[error("cannot write the archive")]
    Write(#[source] std::io::Error),
    #[error("the archive is not an OCI image layout: {0}")]
    NotLayout(&'static str),
    #[error("the archive's index.json is not valid")]
    BadIndex(#[source] serde_json::Error),
    #[error("the archive is {0}-compressed, which `skiff load` does not read")]
    Compressed(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image `{digest}` in the archive is not usable")]
    Image {
        digest: String,
        #[source]
        source: ImageError,
    },
}

/// The archive as a tar: as it is, or decompressed from gzip or zstd, as `docker load` takes
/// `docker save | gzip` (at most [`limits::MAX_ARCHIVE`] bytes of it, so a bomb is an error).
fn decompressed(input: &mut dyn Read) -> Result<Box<dyn Read + '_>, LayoutError> {
    use crate::image::{Capped, Zstd};
    use std::io::BufRead as _;
    let mut input = std::io::BufReader::new(input);
    let (limit, what) = (limits::MAX_ARCHIVE, "the archive");
    Ok(match input.fill_buf().map_err(LayoutError::Read)? {
        [0x1f, 0x8b, ..] => Box::new(Capped::at_most(
            flate2::read::MultiGzDecoder::new(input),
            limit,
            what,
        )),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(Capped::at_most(Zstd::new(input), limit, what)),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => return Err(LayoutError::Compressed("xz")),
        [b'B', b'Z', b'h', ..] => return Err(LayoutError::Compressed("bzip2")),
        _ => Box::new(input),
    })
}

impl LayoutError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LayoutError::Store(e) => e.hint(),
            LayoutError::Image { source, .. } => source.hint(),
            LayoutError::Compressed(how) => Some(format!(
                "decompress it first (`{how} -d < FILE | skiff load`), or give a plain, gzip or \
                 zstd tar"
            )),
            LayoutError::NotLayout(_) | LayoutError::BadIndex(_) => Some(
                "`skiff load` reads OCI image-layout tarballs, as `skiff save` and \
                 `docker save` (containerd image store) write them"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Writes the named images as one OCI image layout tar.
pub fn save(
    store: &Store,
    images: &[(String, String)],
    out: &mut dyn Write,
) -> Result<(), LayoutError> {
    let mut blobs = BTreeMap::new();
    let mut manifests = Vec::new();
    for (name, digest) in images {
        let image = Image::open(store, digest).map_err(|source| LayoutError::Image {
            digest: digest.clone(),
            source,
        })?;
        blobs.insert(digest.clone(), ());
        blobs.insert(image.manifest.config.digest.clone(), ());
        for layer in &image.manifest.layers {
            blobs.insert(layer.digest.clone(), ());
        }
        let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
        manifests.push(json!({
            "mediaType": image.manifest.media_type.clone().unwrap_or_else(|| media::OCI_MANIFEST.into()),
            "digest": digest,
            "size": store.blob_size(digest)?,
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            }
        }));
    }
    let index =
        json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests });
    let mut tar = tar::Builder::new(out);
    let mut add = |path: &str, bytes: &[u8]| -> Result<(), LayoutError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, bytes)
            .map_err(LayoutError::Write)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add(
        "index.json",
        &serde_json::to_vec(&index).expect("serializes"),
    )?;
    for digest in blobs.keys() {
        let bytes = store.get(digest)?;
        add(
            &format!("blobs/sha256/{}", &digest["sha256:".len()..]),
            &bytes,
        )?;
    }
    tar.into_inner()
        .map_err(LayoutError::Write)?
        .flush()
        .map_err(LayoutError::Write)
}

/// An image `load` named.
#[derive(Debug)]
pub struct Loaded {
    /// The name given in the archive, or the manifest digest when it gives none.
    pub name: String,
    pub digest: String,
    /// The image the name pointed at before, when that was another image (as `docker load`
    /// reports: the old image keeps its blobs but loses the name).
    pub replaced: Option<String>,
}

/// The manifest an entry of the layout's index names: itself, or, when it names an index (as
/// `docker save` of a multi-platform image does), that index's Wasm entry.
fn manifest_of(store: &Store, digest: &str) -> Result<String, LayoutError> {
    let image_err = |source| LayoutError::Image {
        digest: digest.to_string(),
        source,
    };
    let bytes = store
        .get_limited(digest, limits::MAX_JSON, "a manifest")
        .map_err(|e| image_err(e.into()))?;
    let entry = crate::index::wasm_entry(digest, &bytes).map_err(image_err)?;
    Ok(entry.unwrap_or_else(|| digest.to_string()))
}

/// Reads an OCI image layout tar into the store; returns the names (or digests) loaded.
/// Every blob is verified against the digest in its path, every image is checked as a run
/// would check it (its files layer extracted), and on any failure nothing is kept.
pub fn load(store: &Store, input: &mut dyn Read) -> Result<Vec<Loaded>, LayoutError> {
    let pin = store.pin()?;
    let mut txn = pin.transaction();
    let mut index = None;
    let mut saw_layout = false;
    let mut archive = tar::Archive::new(decompressed(input)?);
    for entry in archive.entries().map_err(LayoutError::Read)? {
        let mut entry = entry.map_err(LayoutError::Read)?;
        let path = entry
            .path()
            .map_err(LayoutError::Read)?
            .to_string_lossy()
            .into_owned();
        let path = path.trim_start_matches("./");
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            txn.put_reader(&format!("sha256:{hex}"), &mut entry)?;
        } else if path == "index.json" {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(limits::MAX_JSON + 1)
                .read_to_end(&mut bytes)
                .map_err(LayoutError::Read)?;
            if bytes.len() as u64 > limits::MAX_JSON {
                return Err(LayoutError::NotLayout(
                    "its `index.json` is larger than the 4 MiB limit",
                ));
            }
            index = Some(bytes);
        } else if path == "oci-layout" {
            saw_layout = true;
        }
    }
    if !saw_layout {
        return Err(LayoutError::NotLayout("it has no `oci-layout` file"));
    }
    let index = index.ok_or(LayoutError::NotLayout("it has no `index.json`"))?;
    let index: serde_json::Value = serde_json::from_slice(&index).map_err(LayoutError::BadIndex)?;
    let mut loaded = Vec::new();
    let mut names = Vec::new();
    for entry in index["manifests"].as_array().into_iter().flatten() {
        let digest = manifest_of(store, entry["digest"].as_str().unwrap_or_default())?;
        let image_err = |source| LayoutError::Image {
            digest: digest.clone(),
            source,
        };
        for image in Image::components(store, &digest).map_err(image_err)? {
            txn.adopt_from(image.defaults(store).map_err(image_err)?);
        }
        let annotations = &entry["annotations"];
        let name = annotations["io.containerd.image.name"]
            .as_str()
            .or(annotations["org.opencontainers.image.ref.name"]
                .as_str()
                .filter(|n| n.contains(':') || n.contains('/')))
            .map(str::to_string);
        names.push((name, digest));
    }
    if names.is_empty() {
        return Err(LayoutError::NotLayout("its index lists no images"));
    }
    txn.commit();
    let before = store.refs()?;
    for (name, digest) in names {
        let name = name.unwrap_or_else(|| digest.clone());
        let stored = crate::normalize_name(&name);
        let replaced = before
            .get(&stored)
            .filter(|old| old.digest != digest)
            .map(|old| old.digest.clone());
        store.set_ref(&stored, &digest)?;
        loaded.push(Loaded {
            name,
            digest,
            replaced,
        });
    }
    Ok(loaded)
}
