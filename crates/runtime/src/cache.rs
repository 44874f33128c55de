//! The on-disk cache of compiled native code.
//!
//! An entry is keyed by the Wasm's sha256 under a directory named for the engine's compatibility
//! hash, so a different wasmtime or a different configuration never loads foreign code. Each entry
//! is two files, both written temp + fsync + rename: `<digest>.cwasm` (what wasmtime serialized)
//! and then `<digest>.crc` (its length and CRC-32). A crash before the `.crc` lands leaves a miss;
//! a `.cwasm` that does not match its `.crc` is corrupt, reported, and recompiled.

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use wasmtime::Engine;

pub(crate) struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub(crate) fn new(root: PathBuf, engine: &Engine) -> Self {
        struct Sha(sha2::Sha256);
        impl Hasher for Sha {
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
            fn finish(&self) -> u64 {
                unreachable!("only the bytes are used")
            }
        }
        let mut hasher = Sha(sha2::Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..12]);
        CompileCache {
            dir: root.join(engine_key),
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
    pub(crate) fn lookup(&self, digest: &str) -> Option<PathBuf> {
        let (artifact, sum) = self.paths(digest);
        let expected = fs::read_to_string(&sum).ok()?;
        match verify(&artifact, expected.trim()) {
            Ok(true) => Some(artifact),
            Ok(false) => {
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

    /// Stores `artifact` and returns its path.
    pub(crate) fn store(&self, digest: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let (artifact_path, sum_path) = self.paths(digest);
        write_atomic(&self.dir, &artifact_path, artifact)?;
        let sum = format!("{} {:08x}\n", artifact.len(), crc32fast::hash(artifact));
        write_atomic(&self.dir, &sum_path, sum.as_bytes())?;
        Ok(artifact_path)
    }
}

fn verify(artifact: &Path, expected: &str) -> std::io::Result<bool> {
    let file = File::open(artifact)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    // SAFETY: the map is read-only and only read here; cache files are replaced by rename, never
    // rewritten in place, so the mapped inode does not change under us.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(format!("{len} {:08x}", crc32fast::hash(&map)) == expected)
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
/// match its `.crc`, a `.crc` must have its `.cwasm`, and nothing else may be there (temp files
/// of interrupted writes). With `repair`, broken entries are removed: the next run recompiles.
/// Returns the number of entries checked and the problems.
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
                        Ok(expected) => match verify(&path, expected.trim()) {
                            Ok(true) => None,
                            _ => Some("compiled code that does not match its checksum"),
                        },
                    }
                }
                Some("crc") if paths.contains(&path.with_extension("cwasm")) => None,
                Some("crc") => Some("a checksum without its compiled code"),
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
