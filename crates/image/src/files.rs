//! An image's static files on the host, extracted once per layer, to be mounted read-only.
//!
//! The layer comes from whoever built the image, so it is treated as hostile: only regular
//! files and directories are extracted, each at a relative path made of plain names (no `..`,
//! no absolute path, no symlink or hard link, no device, no setuid bit), with fixed modes and
//! the extracting user as owner. A layer holding anything else is refused whole.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use oci_client::manifest::OciDescriptor;

use crate::image::ImageError;
use crate::limits;
use crate::store::{Store, StoreError};

/// Where extracted layers live, under the store: `unpacked/<hex>`. (Skiff before 0.1.1
/// extracted to `files/<hex>` without these checks; those are never used and are removed by
/// `skiff image prune`.)
pub(crate) const UNPACKED: &str = "unpacked";

/// Extracts the files layer under `<root>/images/unpacked/<hex>` (once: extraction goes to a
/// temp dir renamed into place) and returns that directory. Its top-level directories are the
/// guest paths the files were packaged for.
pub fn materialize_files(store: &Store, layer: &OciDescriptor) -> Result<PathBuf, ImageError> {
    // Validates the digest before it becomes a path.
    store.blob_path(&layer.digest)?;
    let hex = &layer.digest["sha256:".len()..];
    let base = store.dir().join(UNPACKED);
    let target = base.join(hex);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Ok(target);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    fs::create_dir_all(&base).map_err(io(&base))?;
    // Held while the temp dir exists, so a cleanup of leftovers never takes it from under us.
    let _pin = store.pin()?;
    let tmp = tempfile::tempdir_in(&base).map_err(io(&base))?;
    let blob = store.reader(&layer.digest, limits::MAX_BLOB, "a files layer")?;
    unpack(blob, tmp.path()).map_err(|reason| ImageError::BadFiles {
        digest: layer.digest.clone(),
        reason,
    })?;
    let extracted = tmp.keep();
    match fs::rename(&extracted, &target) {
        Ok(()) => Ok(target),
        // Another run extracted the same layer first.
        Err(_) if target.is_dir() => {
            let _ = fs::remove_dir_all(&extracted);
            Ok(target)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&extracted);
            Err(io(&target)(e).into())
        }
    }
}

/// Extracts a files tar into the empty directory `dest`; the error says which entry is
/// refused and why. Reads the reader to its end, so a verifying reader checks its digest.
fn unpack(reader: impl Read, dest: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    let mut count = 0u64;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        count += 1;
        if count > limits::MAX_FILES {
            return Err(format!("it holds more than {} entries", limits::MAX_FILES));
        }
        let raw = entry.path().map_err(|e| e.to_string())?.into_owned();
        let shown = raw.display().to_string();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let relative = plain_relative(&raw)
            .ok_or_else(|| format!("entry `{shown}` is not a relative path of plain names"))?;
        let path = dest.join(&relative);
        let io = |e: std::io::Error| format!("cannot extract `{shown}`: {e}");
        if kind.is_dir() {
            fs::create_dir_all(&path).map_err(io)?;
        } else if kind.is_file() || kind.is_contiguous() {
            if let Some(parent) = relative.parent() {
                fs::create_dir_all(dest.join(parent)).map_err(io)?;
            }
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            // `create_new` fails on an existing path, symlink or not: no entry overwrites
            // another, and nothing is written through a link.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(if executable { 0o755 } else { 0o644 })
                .open(&path)
                .map_err(io)?;
            std::io::copy(&mut entry, &mut file).map_err(io)?;
        } else {
            let what = if kind.is_symlink() {
                "a symbolic link"
            } else if kind.is_hard_link() {
                "a hard link"
            } else if kind.is_character_special() || kind.is_block_special() {
                "a device file"
            } else if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_gnu_sparse() {
                "a sparse file"
            } else {
                "of an unknown type"
            };
            return Err(format!(
                "entry `{shown}` is {what}; a files layer may hold only regular files and directories"
            ));
        }
    }
    // The end-of-archive blocks and any padding: reading to the end verifies the digest.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(|e| e.to_string())?;
    Ok(())
}

/// `path` if it is one or more plain names (`./` allowed), else `None`.
pub(crate) fn plain_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The top-level directory of an extracted layer that holds the files for `destination` (an
/// absolute guest path): a plain name, and a real directory (never a link) inside `root`.
pub(crate) fn top_dir(root: &Path, destination: &str) -> Option<(String, PathBuf)> {
    let top = destination.trim_start_matches('/').split('/').next()?;
    let relative = plain_relative(Path::new(top))?;
    if relative.components().count() != 1 {
        return None;
    }
    let host = root.join(&relative);
    fs::symlink_metadata(&host)
        .is_ok_and(|m| m.is_dir())
        .then(|| (format!("/{top}"), host))
}

/// Whether the extracted set at `dir` is exactly what the layer `digest` holds: the same
/// paths, regular files and directories only, the same contents, no setuid or setgid bits.
pub(crate) fn verify_unpacked(store: &Store, digest: &str, dir: &Path) -> Result<(), String> {
    use sha2::{Digest as _, Sha256};
    let blob = store
        .reader(digest, limits::MAX_BLOB, "a files layer")
        .map_err(|e| e.to_string())?;
    let mut expected: BTreeMap<PathBuf, Option<Vec<u8>>> = BTreeMap::new();
    let mut archive = tar::Archive::new(blob);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let Some(path) = plain_relative(&entry.path().map_err(|e| e.to_string())?) else {
            return Err("its layer holds a path that is not plain".into());
        };
        for parent in path.ancestors().skip(1) {
            if !parent.as_os_str().is_empty() {
                expected.entry(parent.to_path_buf()).or_insert(None);
            }
        }
        if entry.header().entry_type().is_dir() {
            expected.entry(path).or_insert(None);
        } else {
            let mut hasher = Sha256::new();
            std::io::copy(&mut entry, &mut HashWriter(&mut hasher)).map_err(|e| e.to_string())?;
            expected.insert(path, Some(hasher.finalize().to_vec()));
        }
    }
    let mut found = BTreeMap::new();
    walk(dir, Path::new(""), &mut found)?;
    for (path, want) in &expected {
        match (want, found.remove(path)) {
            (_, None) => return Err(format!("`{}` is missing", path.display())),
            (None, Some(Some(_))) => {
                return Err(format!("`{}` should be a directory", path.display()));
            }
            (Some(_), Some(None)) => {
                return Err(format!("`{}` should be a file", path.display()));
            }
            (Some(want), Some(Some(got))) if *want != got => {
                return Err(format!("`{}` was changed", path.display()));
            }
            _ => {}
        }
    }
    match found.keys().next() {
        Some(extra) => Err(format!("`{}` is not in the layer", extra.display())),
        None => Ok(()),
    }
}

/// Every path under `dir` (relative to the set's root): `Some(sha256)` for a file, `None` for a
/// directory; anything else, or a setuid/setgid bit, is an error.
fn walk(
    dir: &Path,
    relative: &Path,
    found: &mut BTreeMap<PathBuf, Option<Vec<u8>>>,
) -> Result<(), String> {
    use sha2::{Digest as _, Sha256};
    use std::os::unix::fs::PermissionsExt;
    let entries = fs::read_dir(dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = relative.join(entry.file_name());
        let meta = fs::symlink_metadata(entry.path()).map_err(|e| e.to_string())?;
        if meta.permissions().mode() & 0o6000 != 0 {
            return Err(format!("`{}` has a setuid or setgid bit", path.display()));
        }
        if meta.is_dir() {
            walk(&entry.path(), &path, found)?;
            found.insert(path, None);
        } else if meta.is_file() {
            let mut hasher = Sha256::new();
            let mut file = fs::File::open(entry.path()).map_err(|e| e.to_string())?;
            std::io::copy(&mut file, &mut HashWriter(&mut hasher)).map_err(|e| e.to_string())?;
            found.insert(path, Some(hasher.finalize().to_vec()));
        } else {
            return Err(format!(
                "`{}` is neither a regular file nor a directory",
                path.display()
            ));
        }
    }
    Ok(())
}

pub(crate) struct HashWriter<'a>(pub(crate) &'a mut sha2::Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        assert_eq!(
            plain_relative(Path::new("./a/b")),
            Some(PathBuf::from("a/b"))
        );
        for bad in ["/etc", "../x", "a/../../x", ".", ""] {
            assert_eq!(plain_relative(Path::new(bad)), None, "{bad}");
        }
    }
}
