//! An image's static files on the host, extracted once per layer, to be mounted read-only.

use std::path::{Path, PathBuf};

use oci_client::manifest::OciDescriptor;

use crate::image::tar_reader;
use crate::store::{Store, StoreError};

/// Extracts the files layer under `<root>/images/files/<hex>` (once: extraction goes to a temp
/// dir renamed into place) and returns that directory. Its top-level directories are the guest
/// paths the files were packaged for.
pub fn materialize_files(store: &Store, layer: &OciDescriptor) -> Result<PathBuf, StoreError> {
    let hex = layer.digest.trim_start_matches("sha256:");
    let base = store.dir().join("files");
    let target = base.join(hex);
    if target.is_dir() {
        return Ok(target);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(&base).map_err(io(&base))?;
    let bytes = store.get(&layer.digest)?;
    let tmp = tempfile::tempdir_in(&base).map_err(io(&base))?;
    // `unpack` refuses entries that would land outside the directory (`..`, absolute paths).
    tar_reader(&bytes, false)
        .unpack(tmp.path())
        .map_err(io(tmp.path()))?;
    let extracted = tmp.keep();
    match std::fs::rename(&extracted, &target) {
        Ok(()) => Ok(target),
        // Another run extracted the same layer first.
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&extracted);
            Ok(target)
        }
        Err(e) => Err(io(&target)(e)),
    }
}
