//! `skiff system check` for the image store, as `git fsck` checks a repository: every blob
//! hashes to its name, every name reaches a usable image, every extracted file set matches its
//! layer, and nothing is left over from an interrupted write. With `repair`, what can be fixed
//! without losing anything a name still needs is fixed: corrupt blobs, broken extractions and
//! leftovers are removed (a later pull or run restores them); names are never removed.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use skiff_capabilities::error_chain;

use sha2::{Digest as _, Sha256};

use crate::files::UNPACKED;
use crate::image::Image;
use crate::store::{Store, StoreError};

/// One thing found wrong, and whether it was repaired.
#[derive(Debug)]
pub struct Problem {
    /// What is wrong, naming the blob, name or path.
    pub what: String,
    /// What was done about it (with `repair`), or what the user can do.
    pub action: String,
    pub repaired: bool,
}

/// What the check looked at.
#[derive(Debug)]
pub struct Report {
    pub blobs: usize,
    pub names: usize,
    pub extracted: usize,
    pub problems: Vec<Problem>,
}

/// Checks the store; with `repair`, fixes what it can (holding the store's GC lock, so no pull
/// or load runs meanwhile).
pub fn check(store: &Store, repair: bool) -> Result<Report, StoreError> {
    let _lock = store.exclusive()?;
    let mut problems = Vec::new();
    let (mut blobs, mut extracted) = (0, 0);
    let mut problem = |what: String, fix: &dyn Fn() -> std::io::Result<()>, advice: &str| {
        let (action, repaired) = if repair {
            match fix() {
                Ok(()) => ("repaired".to_string(), true),
                Err(e) => (format!("repair failed: {e}"), false),
            }
        } else {
            (advice.to_string(), false)
        };
        problems.push(Problem {
            what,
            action,
            repaired,
        });
    };

    // Blobs: each must hash to its name.
    let dir = store.dir().join("blobs/sha256");
    for entry in fs::read_dir(&dir).map_err(io(&dir))? {
        let entry = entry.map_err(io(&dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let digest = format!("sha256:{name}");
        blobs += 1;
        if store.blob_path(&digest).is_err() || !entry.file_type().is_ok_and(|t| t.is_file()) {
            problem(
                format!("`{}` is not a blob", path.display()),
                &|| remove(&path),
                "remove it, or run `skiff system check --repair`",
            );
            continue;
        }
        match hash_file(&path) {
            Ok(actual) if actual == digest => {}
            Ok(actual) => problem(
                format!("blob `{digest}` is corrupt: its content hashes to `{actual}`"),
                &|| remove(&path),
                "run `skiff system check --repair` to remove it, then pull the image again",
            ),
            Err(e) => problem(
                format!("blob `{digest}` cannot be read: {e}"),
                &|| remove(&path),
                "run `skiff system check --repair` to remove it, then pull the image again",
            ),
        }
    }

    // Leftovers of interrupted writes (no writer runs: we hold the lock).
    let tmp = store.dir().join("tmp");
    for entry in fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let path = entry.path();
        problem(
            format!(
                "`{}` is left over from an interrupted write",
                path.display()
            ),
            &|| remove(&path),
            "run `skiff system check --repair` or `skiff image prune` to remove it",
        );
    }

    // Names: each must reach an image that opens, with every blob present and verified.
    let refs = match store.refs() {
        Ok(refs) => refs,
        Err(e) => {
            problem(
                format!("the table of names cannot be read: {e}"),
                &|| Err(std::io::Error::other("not repairable automatically")),
                "restore `images/refs.json` from a backup, or remove it and pull the images again",
            );
            BTreeMap::new()
        }
    };
    let names = refs.len();
    let mut files_layers = BTreeMap::new();
    for (name, entry) in &refs {
        match Image::components(store, &entry.digest) {
            Ok(images) => {
                for image in images {
                    if let Err(e) = image.wasm_bytes(store) {
                        problem(
                            format!("`{name}`: {}", error_chain(&e)),
                            &|| Err(std::io::Error::other("pull the image again")),
                            "pull the image again, or remove the name with `skiff rmi`",
                        );
                    }
                    if let Some(layer) = image.files_layer() {
                        files_layers.insert(layer.digest.clone(), name.clone());
                    }
                }
            }
            Err(e) => problem(
                format!("`{name}`: {}", error_chain(&e)),
                &|| Err(std::io::Error::other("pull the image again")),
                "pull the image again, or remove the name with `skiff rmi`",
            ),
        }
    }

    // Extracted files: each set must be exactly what its layer holds.
    let unpacked = store.dir().join(UNPACKED);
    for entry in fs::read_dir(&unpacked).into_iter().flatten().flatten() {
        let path = entry.path();
        let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
        extracted += 1;
        let verdict = if store.blob_path(&digest).is_err() {
            Err("it is not named by a layer digest (an interrupted extraction?)".to_string())
        } else if !store.has_blob(&digest) {
            Err("its layer is no longer in the store".to_string())
        } else {
            crate::files::verify_unpacked(store, &digest, &path)
        };
        if let Err(why) = verdict {
            problem(
                format!("extracted files `{}`: {why}", path.display()),
                &|| fs::remove_dir_all(&path),
                "run `skiff system check --repair`: it is removed and extracted again when used",
            );
        }
    }
    let legacy = store.dir().join("files");
    if legacy.exists() {
        problem(
            format!(
                "`{}` holds files extracted by an older Skiff without safety checks",
                legacy.display()
            ),
            &|| fs::remove_dir_all(&legacy),
            "run `skiff system check --repair` or `skiff image prune` to remove it",
        );
    }
    Ok(Report {
        blobs,
        names,
        extracted,
        problems,
    })
}

fn remove(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(
        &mut fs::File::open(path)?,
        &mut crate::files::HashWriter(&mut hasher),
    )?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
