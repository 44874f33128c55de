//! The on-disk cache of compiled native code.
//!
//! An entry is keyed by the Wasm's sha256 under a directory named for the engine's compatibility
//! hash, so a different wasmtime or a different configuration never loads foreign code. Each entry
//! is two files, both written temp + fsync + rename: `<digest>.cwasm` (what wasmtime serialized)
//! and then `<digest>.crc` (its length, CRC-32 and the kind of program). A crash before the `.crc`
//! lands leaves a miss; a `.cwasm` that does not match its `.crc` is corrupt, reported, and
//! recompiled. Once a `.cwasm` has matched and settled, its identity (below) joins its `.crc`:
//! while that identity holds, the file has not been written since it was checked, and it is
//! loaded without reading all of it again (a 69 MB program's code is ~100 MB: each `skiff run`
//! read it whole, and held it in its resident memory). `skiff system check` still reads every
//! entry whole.
//!
//! Beside them, `<key>.file` records which digest a file on disk had, keyed by the file's
//! identity (device, inode, size, modification and change times), so `skiff run app.wasm` finds
//! its code without reading and hashing the file again. A file changed in any way gets a new
//! change time, which no user can set; an identity is recorded only once the file has not
//! changed for [`SETTLED`], so a change within the file system's timestamp granularity cannot go
//! unnoticed (git's "racy clean" rule).

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;

use crate::load::AppKind;

pub(crate) struct CompileCache {
    dir: PathBuf,
}

/// In each engine's directory: which Skiff made it ([`build_id`]), so that `skiff system prune`
/// can remove what other versions compiled, which this one never loads.
const BUILD_FILE: &str = "BUILD";

fn build_id() -> String {
    format!(
        "skiff {} wasmtime {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::WASMTIME_VERSION
    )
}

/// How long a file must have been left unchanged before its identity stands for its contents.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

/// A verified entry: its compiled code, and what kind of program it is (unknown for entries
/// written before the kind was recorded).
pub(crate) struct Entry {
    pub(crate) path: PathBuf,
    pub(crate) kind: Option<AppKind>,
}

fn kind_name(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Module => "module",
        AppKind::Component => "component",
        AppKind::Http => "http",
    }
}

fn kind_named(name: &str) -> Option<AppKind> {
    [AppKind::Module, AppKind::Component, AppKind::Http]
        .into_iter()
        .find(|&kind| kind_name(kind) == name)
}

impl CompileCache {
    pub(crate) fn new(root: PathBuf, engine: &Engine) -> Self {
        // The directory only names the engine: wasmtime checks a loaded artifact's engine
        // settings itself, so a fast stable hash will do where a cryptographic one cost a
        // cached `skiff run` about 90k instructions (sha256 in software here).
        let mut hasher = rustc_hash::FxHasher::default();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir: root.join(format!("{:016x}", hasher.finish())),
        }
    }

    fn paths(&self, digest: &str) -> (PathBuf, PathBuf) {
        let name = digest.trim_start_matches("sha256:");
        (
            self.dir.join(format!("{name}.cwasm")),
            self.dir.join(format!("{name}.crc")),
        )
    }

    /// The verified compiled artifact for `digest`, if there is one.
    pub(crate) fn lookup(&self, digest: &str) -> Option<Entry> {
        // A digest from an image's manifest becomes a path here: only a well-formed one.
        if !is_digest(digest) {
            return None;
        }
        let (artifact, sum) = self.paths(digest);
        let recorded = fs::read_to_string(&sum).ok()?;
        let fields: Vec<&str> = recorded.split_whitespace().collect();
        let entry = |path| Entry {
            path,
            kind: fields.get(2).copied().and_then(kind_named),
        };
        if let (Ok(metadata), Some(checked)) = (fs::metadata(&artifact), fields.get(3)) {
            // Checked whole since it last changed.
            if identity(&metadata) == *checked && fields[0] == metadata.len().to_string() {
                tracing::debug!("compiled code for {digest} unchanged since it was checked");
                return Some(entry(artifact));
            }
        }
        match verify(&artifact, &recorded) {
            Ok(Some(metadata)) => {
                if let [len, crc, kind, ..] = fields[..]
                    && settled(&metadata)
                {
                    let sum_checked = format!("{len} {crc} {kind} {}\n", identity(&metadata));
                    let _ = write_atomic(&self.dir, &sum, sum_checked.as_bytes());
                }
                Some(entry(artifact))
            }
            Ok(None) => {
                tracing::warn!(
                    "compiled code for {digest} in the cache is corrupt; discarding it and recompiling"
                );
                self.discard(digest);
                None
            }
            Err(e) => {
                tracing::debug!("compile cache entry for {digest} unreadable: {e}");
                None
            }
        }
    }

    /// Removes an entry, e.g. one wasmtime refused to load.
    pub(crate) fn discard(&self, digest: &str) {
        let (artifact, sum) = self.paths(digest);
        let _ = fs::remove_file(sum);
        let _ = fs::remove_file(artifact);
    }

    /// Stores `artifact`, compiled from a program of `kind`, and returns its path.
    pub(crate) fn store(
        &self,
        digest: &str,
        artifact: &[u8],
        kind: AppKind,
    ) -> std::io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let build = self.dir.join(BUILD_FILE);
        if !build.exists() {
            write_atomic(&self.dir, &build, build_id().as_bytes())?;
        }
        let (artifact_path, sum_path) = self.paths(digest);
        write_atomic(&self.dir, &artifact_path, artifact)?;
        let sum = format!(
            "{} {:08x} {}\n",
            artifact.len(),
            crc32fast::hash(artifact),
            kind_name(kind)
        );
        write_atomic(&self.dir, &sum_path, sum.as_bytes())?;
        Ok(artifact_path)
    }

    /// Records the kind of an entry written before kinds were recorded (best effort).
    pub(crate) fn record_kind(&self, digest: &str, kind: AppKind) {
        let (_, sum_path) = self.paths(digest);
        if let Ok(recorded) = fs::read_to_string(&sum_path) {
            let sum: Vec<&str> = recorded.split_whitespace().take(2).collect();
            let sum = format!("{} {}\n", sum.join(" "), kind_name(kind));
            let _ = write_atomic(&self.dir, &sum_path, sum.as_bytes());
        }
    }

    fn identity_path(&self, file: &fs::Metadata) -> PathBuf {
        self.dir.join(format!("{}.file", identity(file)))
    }

    /// The digest recorded for the file whose metadata this is, if it has not changed since.
    pub(crate) fn file_digest(&self, file: &fs::Metadata) -> Option<String> {
        let digest = fs::read_to_string(self.identity_path(file)).ok()?;
        is_digest(&digest).then_some(digest)
    }

    /// Records that the file whose metadata this is holds the program `digest`, once the file
    /// has settled (see the module's doc); best effort.
    pub(crate) fn remember_file(&self, file: &fs::Metadata, digest: &str) {
        if settled(file) && is_digest(digest) {
            let _ = fs::create_dir_all(&self.dir).and_then(|()| {
                write_atomic(&self.dir, &self.identity_path(file), digest.as_bytes())
            });
        }
    }
}

/// A file's identity: its device, inode, size, modification and change times, as they are (no
/// hash: two files never share one). Any write to the file, or its replacement, changes it.
fn identity(file: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    format!(
        "{:x}-{:x}-{:x}-{:x}.{:x}-{:x}.{:x}",
        file.dev(),
        file.ino(),
        file.size(),
        file.mtime(),
        file.mtime_nsec(),
        file.ctime(),
        file.ctime_nsec()
    )
}

/// Whether the file last changed more than [`SETTLED`] ago (see the module's doc).
fn settled(file: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let changed = std::time::UNIX_EPOCH
        + std::time::Duration::new(file.ctime().max(0) as u64, file.ctime_nsec() as u32);
    std::time::SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|age| age > SETTLED)
}

/// `sha256:` and 64 lowercase hex digits.
fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The metadata of `artifact` if it has the length and CRC-32 that `recorded` (a `.crc` file)
/// gives, read whole; `None` if it has not.
fn verify(artifact: &Path, recorded: &str) -> std::io::Result<Option<fs::Metadata>> {
    let expected: Vec<&str> = recorded.split_whitespace().take(2).collect();
    let expected = expected.join(" ");
    let file = File::open(artifact)?;
    let metadata = file.metadata()?;
    let len = metadata.len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only and only read here; cache files are replaced by rename, never
    // rewritten in place, so the mapped inode does not change under us.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok((format!("{len} {:08x}", crc32fast::hash(&map)) == expected).then_some(metadata))
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// One compile cache entry found broken by [`check`].
#[derive(Debug)]
pub struct CacheProblem {
    pub path: PathBuf,
    pub what: &'static str,
    pub removed: bool,
}

/// Checks every entry under the cache root `root` (all engines' directories): a `.cwasm` must
/// match its `.crc`, a `.crc` must have its `.cwasm`, and nothing else may be there but the
/// `BUILD` file (temp files of interrupted writes). With `repair`, broken entries are removed:
/// the next run recompiles. Returns the number of entries checked and the problems.
pub fn check(root: &Path, repair: bool) -> std::io::Result<(usize, Vec<CacheProblem>)> {
    let mut checked = 0;
    let mut problems = Vec::new();
    let engines = match fs::read_dir(root) {
        Ok(dirs) => dirs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, problems)),
        Err(e) => return Err(e),
    };
    for engine in engines {
        let engine = engine?.path();
        if !engine.is_dir() {
            continue;
        }
        let paths: Vec<PathBuf> = fs::read_dir(&engine)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        for path in paths.iter().cloned() {
            let ext = path.extension().and_then(|e| e.to_str());
            let what = match ext {
                Some("cwasm") => {
                    checked += 1;
                    let sum = path.with_extension("crc");
                    match fs::read_to_string(&sum) {
                        Err(_) => Some("compiled code without its checksum (an interrupted write)"),
                        Ok(recorded) => match verify(&path, &recorded) {
                            Ok(Some(_)) => None,
                            _ => Some("compiled code that does not match its checksum"),
                        },
                    }
                }
                Some("crc") if paths.contains(&path.with_extension("cwasm")) => None,
                Some("crc") => Some("a checksum without its compiled code"),
                _ if path.file_name() == Some(BUILD_FILE.as_ref()) => None,
                Some("file") => match fs::read_to_string(&path) {
                    Ok(digest) if is_digest(&digest) => None,
                    _ => Some("a file's recorded digest that is not a digest"),
                },
                _ => Some("a leftover of an interrupted write"),
            };
            if let Some(what) = what {
                let removed = repair && {
                    let _ = fs::remove_file(path.with_extension("crc"));
                    fs::remove_file(&path).is_ok() || !path.exists()
                };
                problems.push(CacheProblem {
                    path,
                    what,
                    removed,
                });
            }
        }
    }
    Ok((checked, problems))
}

/// What [`prune`] removed: compiled entries (programs), and the bytes of every file it removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub entries: usize,
    pub bytes: u64,
}

/// Removes, under the cache root `root`, the engine directories of other Skiff versions (their
/// `BUILD` names another version, or none: made before versions were recorded), or with `all`
/// every one. A program whose code is removed is compiled again when next run.
pub fn prune(root: &Path, all: bool) -> std::io::Result<Pruned> {
    let mut pruned = Pruned::default();
    let engines = match fs::read_dir(root) {
        Ok(dirs) => dirs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
        Err(e) => return Err(e),
    };
    for engine in engines {
        let engine = engine?;
        // Its own type, not a link's target: a link is not one of Skiff's directories.
        if !engine.file_type()?.is_dir() {
            continue;
        }
        let engine = engine.path();
        let current = fs::read_to_string(engine.join(BUILD_FILE)).is_ok_and(|b| b == build_id());
        if current && !all {
            continue;
        }
        for entry in fs::read_dir(&engine)?.flatten() {
            let path = entry.path();
            pruned.entries += usize::from(path.extension().is_some_and(|e| e == "cwasm"));
            pruned.bytes += entry.metadata().map_or(0, |m| m.len());
        }
        fs::remove_dir_all(&engine)?;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code compiled with other WebAssembly proposals on (issue 12 turned on GC, exceptions and
    /// threads) lives under another key, so it is never loaded into an engine it was not made for.
    #[test]
    fn key_follows_the_engine_features() {
        let engine = |exceptions: bool| {
            let mut config = wasmtime::Config::new();
            config.wasm_exceptions(exceptions);
            Engine::new(&config).unwrap()
        };
        let key = |engine: &Engine| CompileCache::new(PathBuf::from("/cache"), engine).dir;
        assert_eq!(key(&engine(true)), key(&engine(true)));
        assert_ne!(key(&engine(true)), key(&engine(false)));
    }
}
