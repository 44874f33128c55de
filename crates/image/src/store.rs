//! The local image store: content-addressed blobs and a table of names.
//!
//! Layout under `<root>/images`:
//! - `blobs/sha256/<hex>`: every manifest, config and layer, named by the sha256 of its bytes.
//!   Written to `tmp/` first, hashed while written, fsynced, then renamed into place: a half-written
//!   blob is never visible, and two writers of the same blob both end with the same file.
//! - `refs.json`: name -> manifest digest, replaced atomically under an exclusive lock on
//!   `refs.lock`, so concurrent `pull`s, `tag`s and `rmi`s never lose each other's updates.
//!
//! Blobs are verified against their digest whenever they are read.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::limits;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the image store at `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("blob `{digest}` is corrupt: its content hashes to `{actual}`")]
    Corrupt { digest: String, actual: String },
    #[error("blob `{0}` is missing from the store")]
    Missing(String),
    #[error("`{0}` is not a sha256 digest")]
    BadDigest(String),
    #[error("blob `{digest}` is {size} bytes, more than the {limit}-byte limit for {what}")]
    TooLarge {
        digest: String,
        size: u64,
        limit: u64,
        what: &'static str,
    },
    #[error("the image index `{path}` is corrupt")]
    Index {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            StoreError::Corrupt { .. } => "the local copy is damaged: run `skiff system check \
                 --repair`, then pull or build the image again"
                .into(),
            StoreError::TooLarge { .. } => "Skiff refuses images this large (docs/security.md \
                 lists the limits); ask the image's author for a smaller one"
                .into(),
            StoreError::Io { path, source } => match source.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => format!(
                    "the disk holding `{}` is full: free some space (`skiff image prune` removes \
                     unused images) and try again; nothing half-written was kept",
                    path.display()
                ),
                std::io::ErrorKind::ReadOnlyFilesystem => format!(
                    "`{}` is on a read-only file system: give Skiff a writable root with \
                     `--root DIR` or `SKIFF_ROOT`",
                    path.display()
                ),
                std::io::ErrorKind::PermissionDenied => format!(
                    "Skiff may not write to `{}`: use a root you own (`--root DIR`)",
                    path.display()
                ),
                _ => return None,
            },
            _ => return None,
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sha256 digest of some bytes, `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Holds are stored among the names with this prefix; see [`Store::hold`].
pub const HOLD_PREFIX: &str = "@app/";

/// Whether a stored name is a daemon app's hold rather than a user's name for an image.
pub fn is_hold(name: &str) -> bool {
    name.starts_with(HOLD_PREFIX)
}

/// An entry in the table of names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefEntry {
    /// The manifest's digest.
    pub digest: String,
    /// When this name was last pointed at this image, RFC 3339.
    pub created: String,
}

#[derive(Default, Serialize, Deserialize)]
struct RefTable {
    version: u32,
    refs: BTreeMap<String, RefEntry>,
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `<root>/images`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let dir = root.join("images");
        for sub in ["blobs/sha256", "tmp"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(io(&path))?;
        }
        let store = Store { dir };
        store.remove_leftovers();
        Ok(store)
    }

    /// Removes what writes killed midway left behind (temp blobs, half-extracted file sets),
    /// when no writer is at work: every writer holds [`Store::pin`], so if the exclusive lock
    /// can be had at once, nothing in `tmp/` is in use. Best effort: a busy store is left alone.
    fn remove_leftovers(&self) {
        let Ok(lock) = File::create(self.dir.join("gc.lock")) else {
            return;
        };
        if lock.try_lock().is_err() {
            return;
        }
        for entry in fs::read_dir(self.dir.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_file(entry.path());
        }
        let unpacked = self.dir.join(crate::files::UNPACKED);
        for entry in fs::read_dir(unpacked).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| StoreError::BadDigest(digest.to_string()))?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// The size of a stored blob.
    pub fn blob_size(&self, digest: &str) -> Result<u64, StoreError> {
        let path = self.blob_path(digest)?;
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::Missing(digest.to_string()))
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Stores bytes and returns their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = digest_of(bytes);
        self.put_verified(&digest, &mut &bytes[..])?;
        Ok(digest)
    }

    /// Stores what `reader` yields, which must hash to `digest` and be at most
    /// [`limits::MAX_BLOB`] bytes; otherwise nothing is stored.
    pub fn put_verified(&self, digest: &str, reader: &mut dyn Read) -> Result<(), StoreError> {
        let mut writer = self.writer(digest, limits::MAX_BLOB)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(io(&writer.path))?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n])?;
        }
        writer.finish()
    }

    /// A writer of the blob `digest`, streamed to a temp file and named only once its content
    /// hashes to `digest` ([`BlobWriter::finish`]); more than `max` bytes is an error. When the
    /// blob is already stored, what is written is hashed and discarded.
    pub fn writer(&self, digest: &str, max: u64) -> Result<BlobWriter, StoreError> {
        let path = self.blob_path(digest)?;
        let tmp = if path.is_file() {
            None
        } else {
            let tmp_dir = self.dir.join("tmp");
            Some(tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io(&tmp_dir))?)
        };
        Ok(BlobWriter {
            digest: digest.to_string(),
            path,
            tmp,
            hasher: Sha256::new(),
            written: 0,
            max,
        })
    }

    /// Reads a blob as a stream, verifying its digest when the end is reached (a mismatch is an
    /// `InvalidData` error from the last read), and refusing blobs over `max` bytes up front.
    pub fn reader(
        &self,
        digest: &str,
        max: u64,
        what: &'static str,
    ) -> Result<BlobReader, StoreError> {
        let path = self.blob_path(digest)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(digest.to_string()));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let size = file.metadata().map_err(io(&path))?.len();
        if size > max {
            return Err(StoreError::TooLarge {
                digest: digest.to_string(),
                size,
                limit: max,
                what,
            });
        }
        Ok(BlobReader {
            digest: digest.to_string(),
            file: std::io::BufReader::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            done: false,
        })
    }

    /// Reads a blob, verifying its digest.
    pub fn get(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        self.get_limited(digest, limits::MAX_BLOB, "a layer")
    }

    /// Reads a blob of at most `max` bytes (checked before reading), verifying its digest.
    pub fn get_limited(
        &self,
        digest: &str,
        max: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest)?;
        let mut reader = self.reader(digest, max, what)?;
        let mut bytes = Vec::new();
        reader.file.read_to_end(&mut bytes).map_err(io(&path))?;
        let actual = digest_of(&bytes);
        if actual != digest {
            return Err(StoreError::Corrupt {
                digest: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// All names and what they point at, holds included (see [`Store::hold`]).
    pub fn refs(&self) -> Result<BTreeMap<String, RefEntry>, StoreError> {
        Ok(self.read_table()?.refs)
    }

    /// The names users gave images: [`Store::refs`] without the holds.
    pub fn names(&self) -> Result<BTreeMap<String, RefEntry>, StoreError> {
        let mut refs = self.refs()?;
        refs.retain(|name, _| !is_hold(name));
        Ok(refs)
    }

    /// Keeps the image `digest` while the daemon's app `app` runs from it, as Docker keeps an
    /// image a container uses: `rmi` removes the user's name, and `prune` frees nothing an
    /// app still needs. A hold is a name no image reference can spell (`@app/NAME`).
    pub fn hold(&self, app: &str, digest: &str) -> Result<(), StoreError> {
        self.set_ref(&format!("{HOLD_PREFIX}{app}"), digest)
    }

    /// Ends the hold of `app`.
    pub fn release(&self, app: &str) -> Result<(), StoreError> {
        self.remove_ref(&format!("{HOLD_PREFIX}{app}")).map(drop)
    }

    /// Makes the holds exactly `apps` (name, manifest digest), in one write: what a crash
    /// between the daemon's state and this table left behind is put right at the next start.
    pub fn set_holds(&self, apps: &[(String, String)]) -> Result<(), StoreError> {
        self.update(|table| {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            table.refs.retain(|name, _| !is_hold(name));
            for (app, digest) in apps {
                table.refs.insert(
                    format!("{HOLD_PREFIX}{app}"),
                    RefEntry {
                        digest: digest.clone(),
                        created: now.clone(),
                    },
                );
            }
        })
    }

    /// Removes, in one write, every name whose image no app holds (`docker image prune -a`);
    /// returns the names removed. Their blobs go at the next [`Store::prune`].
    pub fn remove_unused_names(&self) -> Result<Vec<String>, StoreError> {
        let mut removed = Vec::new();
        self.update(|table| {
            let held: std::collections::HashSet<String> = table
                .refs
                .iter()
                .filter(|(name, _)| is_hold(name))
                .map(|(_, entry)| entry.digest.clone())
                .collect();
            table.refs.retain(|name, entry| {
                let keep = is_hold(name) || held.contains(&entry.digest);
                if !keep {
                    removed.push(name.clone());
                }
                keep
            });
        })?;
        Ok(removed)
    }

    /// Points `name` at the manifest `digest`.
    pub fn set_ref(&self, name: &str, digest: &str) -> Result<(), StoreError> {
        self.update(|table| {
            table.refs.insert(
                name.to_string(),
                RefEntry {
                    digest: digest.to_string(),
                    created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                },
            );
        })
    }

    /// Removes `name`; returns what it pointed at.
    pub fn remove_ref(&self, name: &str) -> Result<Option<RefEntry>, StoreError> {
        let mut removed = None;
        self.update(|table| removed = table.refs.remove(name))?;
        Ok(removed)
    }

    /// Runs `change` on the table under the lock and writes the result atomically.
    fn update(&self, change: impl FnOnce(&mut RefTable)) -> Result<(), StoreError> {
        let lock_path = self.dir.join("refs.lock");
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let mut table = self.read_table()?;
        change(&mut table);
        table.version = 1;
        let path = self.dir.join("refs.json");
        let json = serde_json::to_vec_pretty(&table).expect("the table serializes");
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io(&self.dir))?;
        tmp.write_all(&json).map_err(io(&path))?;
        tmp.as_file().sync_all().map_err(io(&path))?;
        tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
        sync_dir(&self.dir)
        // The lock is released when `lock` is dropped.
    }

    fn read_table(&self) -> Result<RefTable, StoreError> {
        let path = self.dir.join("refs.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Index {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RefTable::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Every stored blob's digest.
    pub fn blobs(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.dir.join("blobs/sha256");
        let mut digests = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            digests.push(format!("sha256:{}", entry.file_name().to_string_lossy()));
        }
        Ok(digests)
    }

    /// Deletes the files extracted from the layer `digest`, if any.
    pub(crate) fn delete_extraction(&self, digest: &str) -> Result<(), StoreError> {
        let hex = self
            .blob_path(digest)?
            .file_name()
            .expect("blob paths end in the digest's hex")
            .to_owned();
        let path = self.dir.join(crate::files::UNPACKED).join(hex);
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Deletes a blob (used by garbage collection).
    pub(crate) fn delete_blob(&self, digest: &str) -> Result<u64, StoreError> {
        let path = self.blob_path(digest)?;
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps garbage collection away while blobs are added and then named: writers hold this
    /// shared lock, `prune` takes it exclusively.
    pub fn pin(&self) -> Result<Pin<'_>, StoreError> {
        let path = self.dir.join("gc.lock");
        let lock = File::create(&path).map_err(io(&path))?;
        lock.lock_shared().map_err(io(&path))?;
        Ok(Pin {
            store: self,
            _lock: lock,
        })
    }

    /// Holds off every writer (they hold [`Store::pin`]) until dropped.
    pub(crate) fn exclusive(&self) -> Result<File, StoreError> {
        let path = self.dir.join("gc.lock");
        let lock = File::create(&path).map_err(io(&path))?;
        lock.lock().map_err(io(&path))?;
        Ok(lock)
    }

    /// Removes every blob no name reaches, and leftovers of interrupted writes; returns the
    /// number of blobs and bytes freed.
    pub fn prune(&self) -> Result<(usize, u64), StoreError> {
        let _lock = self.exclusive()?;
        let mut reachable = std::collections::HashSet::new();
        for entry in self.refs()?.values() {
            reachable.insert(entry.digest.clone());
            let Ok(bytes) = self.get(&entry.digest) else {
                continue;
            };
            if let Ok(manifest) = serde_json::from_slice::<ManifestBlobs>(&bytes) {
                reachable.insert(manifest.config.digest);
                reachable.extend(manifest.layers.into_iter().map(|l| l.digest));
            }
            // A Spin app's files, stored as a tar of their own when it first ran.
            let images = crate::Image::components(self, &entry.digest).unwrap_or_default();
            reachable.extend(images.iter().filter_map(|image| image.spin_files(self)));
        }
        let (mut count, mut bytes) = (0, 0);
        for digest in self.blobs()? {
            if !reachable.contains(&digest) {
                bytes += self.delete_blob(&digest)?;
                count += 1;
            }
        }
        // No writer holds the pin, so anything in tmp/ is left over from a crash.
        let tmp = self.dir.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io(&tmp))?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        // Extracted files of layers no image reaches, and half-done extractions.
        let unpacked = self.dir.join(crate::files::UNPACKED);
        for entry in fs::read_dir(&unpacked).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !reachable.contains(&format!("sha256:{name}")) {
                bytes += dir_size(&entry.path());
                fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        // Extractions by Skiff versions that did not check what they extracted.
        let legacy = self.dir.join("files");
        if legacy.exists() {
            bytes += dir_size(&legacy);
            fs::remove_dir_all(&legacy).map_err(io(&legacy))?;
        }
        Ok((count, bytes))
    }
}

#[derive(Deserialize)]
struct ManifestBlobs {
    config: BlobRef,
    #[serde(default)]
    layers: Vec<BlobRef>,
}

#[derive(Deserialize)]
struct BlobRef {
    digest: String,
}

/// Held while adding an image; see [`Store::pin`].
pub struct Pin<'a> {
    store: &'a Store,
    _lock: File,
}

impl<'a> Pin<'a> {
    /// Blobs added through the transaction are removed again unless it is committed, so a
    /// failed pull or load leaves the store as it was.
    pub fn transaction(&self) -> Transaction<'a> {
        Transaction {
            store: self.store,
            added: Vec::new(),
            committed: false,
        }
    }
}

pub struct Transaction<'a> {
    store: &'a Store,
    added: Vec<String>,
    committed: bool,
}

impl Transaction<'_> {
    pub fn put(&mut self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = digest_of(bytes);
        self.put_verified(&digest, bytes)?;
        Ok(digest)
    }

    pub fn put_verified(&mut self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_reader(digest, &mut &bytes[..])
    }

    pub fn put_reader(&mut self, digest: &str, reader: &mut dyn Read) -> Result<(), StoreError> {
        let existed = self.store.has_blob(digest);
        self.store.put_verified(digest, reader)?;
        if !existed {
            self.added.push(digest.to_string());
        }
        Ok(())
    }

    /// A writer whose blob, once finished, belongs to the transaction.
    pub fn writer(&mut self, digest: &str, max: u64) -> Result<BlobWriter, StoreError> {
        let writer = self.store.writer(digest, max)?;
        if writer.tmp.is_some() {
            self.added.push(digest.to_string());
        }
        Ok(writer)
    }

    /// The blob checking an image added (a Spin app's files, as a tar), taken back with the
    /// transaction's own.
    pub(crate) fn adopt_from(&mut self, defaults: crate::AppDefaults) {
        self.added.extend(defaults.added);
    }

    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.committed {
            for digest in &self.added {
                let _ = self.store.delete_blob(digest);
                // A files layer extracted to check the image (as `load` and `pull` do before
                // naming it) goes with its blob: a refused image leaves no extracted file.
                let _ = self.store.delete_extraction(digest);
            }
        }
    }
}

/// See [`Store::writer`].
pub struct BlobWriter {
    digest: String,
    path: PathBuf,
    /// `None` when the blob is already stored.
    tmp: Option<tempfile::NamedTempFile>,
    hasher: Sha256,
    written: u64,
    max: u64,
}

impl BlobWriter {
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.written += bytes.len() as u64;
        if self.written > self.max {
            return Err(StoreError::TooLarge {
                digest: self.digest.clone(),
                size: self.written,
                limit: self.max,
                what: "a blob",
            });
        }
        self.hasher.update(bytes);
        if let Some(tmp) = &mut self.tmp {
            tmp.write_all(bytes).map_err(io(&self.path))?;
        }
        Ok(())
    }

    /// Checks the digest, then makes the blob durable and visible; on any error nothing is
    /// stored (the temp file is removed when dropped).
    pub fn finish(self) -> Result<(), StoreError> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        if actual != self.digest {
            return Err(StoreError::Corrupt {
                digest: self.digest,
                actual,
            });
        }
        let Some(tmp) = self.tmp else {
            return Ok(());
        };
        tmp.as_file().sync_all().map_err(io(&self.path))?;
        tmp.persist(&self.path)
            .map_err(|e| io(&self.path)(e.error))?;
        sync_dir(self.path.parent().expect("blob paths have a parent"))
    }
}

/// See [`Store::reader`].
pub struct BlobReader {
    digest: String,
    file: std::io::BufReader<File>,
    hasher: Sha256,
    done: bool,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.digest {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "blob `{}` is corrupt: its content hashes to `{actual}`",
                        self.digest
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Bytes of the regular files under `dir` (symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => total += dir_size(&entry.path()),
            Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
            _ => {}
        }
    }
    total
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_verify() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let digest = store.put(b"hello").unwrap();
        assert_eq!(store.get(&digest).unwrap(), b"hello");
        // A blob whose content no longer matches its name is reported, not returned.
        fs::write(store.blob_path(&digest).unwrap(), b"evil").unwrap();
        assert!(matches!(
            store.get(&digest),
            Err(StoreError::Corrupt { .. })
        ));
        // A stream that does not match the expected digest stores nothing.
        let other = digest_of(b"other");
        assert!(store.put_verified(&other, &mut &b"not other"[..]).is_err());
        assert!(!store.has_blob(&other));
        assert_eq!(
            fs::read_dir(root.path().join("images/tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_transaction_not_committed_removes_the_files_it_extracted() {
        // Found by the `image_layout` fuzz target (`fuzz/corpus/image_layout/good_then_missing.tar`):
        // a layout whose first image was checked (its files extracted) and whose second was
        // refused kept the first one's extracted files, with no blob or name left to reach them.
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let mut layer = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        layer
            .append_data(&mut header, "data/hello.txt", &b"hi"[..])
            .unwrap();
        let layer = layer.into_inner().unwrap();
        let pin = store.pin().unwrap();
        let mut txn = pin.transaction();
        let digest = txn.put(&layer).unwrap();
        let descriptor = oci_client::manifest::OciDescriptor {
            media_type: crate::media::SKIFF_FILES.to_string(),
            digest: digest.clone(),
            size: layer.len() as i64,
            ..Default::default()
        };
        let extracted = crate::materialize_files(&store, &descriptor).unwrap();
        assert!(extracted.join("data/hello.txt").is_file());
        drop(txn);
        assert!(!store.has_blob(&digest));
        assert!(!extracted.exists(), "the extracted files are left behind");
    }

    #[test]
    fn concurrent_ref_updates_are_not_lost() {
        let root = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let root = root.path();
                s.spawn(move || {
                    let store = Store::open(root).unwrap();
                    store.set_ref(&format!("app:{i}"), "sha256:x").unwrap();
                });
            }
        });
        let store = Store::open(root.path()).unwrap();
        assert_eq!(store.refs().unwrap().len(), 8);
    }
}
