//! The Spin key-value stores of the daemon's apps: one file per app that declares any
//! (`<root>/daemon/kv/<app>.redb`, owner-only), so what a guest stored survives the app's and
//! the daemon's restarts, as `spin up` keeps its default store in a file; moved by `skiff rename`,
//! removed with the app.

use std::path::{Path, PathBuf};

use skiff_runtime::{KeyValueStores, StoreFile};
use skiff_state::KvFile;

use crate::supervisor::Fail;

struct AppFile(KvFile);

impl StoreFile for AppFile {
    fn put(&self, label: &str, key: &str, value: Option<&[u8]>) -> Result<(), String> {
        self.0.put(label, key, value).map_err(|e| e.to_string())
    }
}

fn path(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("{app}.redb"))
}

/// The stores of `app`, as it left them. Blocking.
pub(crate) fn open(dir: &Path, app: &str) -> Result<KeyValueStores, Fail> {
    let path = path(dir, app);
    let failed = |e: skiff_state::StateError| {
        Fail::new(
            500,
            format!(
                "cannot open the key-value stores of `{app}` in `{}`: {e}",
                path.display()
            ),
            Some("check that the daemon can write there (its permissions, free space)"),
        )
    };
    let file = KvFile::open(&path).map_err(failed)?;
    let entries = file.entries().map_err(failed)?;
    Ok(KeyValueStores::backed_by(entries, Box::new(AppFile(file))))
}

/// `skiff rename`: the stores of `app` become `new`'s (an open file stays open).
pub(crate) fn rename(dir: &Path, app: &str, new: &str) -> std::io::Result<()> {
    match std::fs::rename(path(dir, app), path(dir, new)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        renamed => renamed,
    }
}

/// The app is gone, and its stores with it.
pub(crate) fn remove(dir: &Path, app: &str) {
    match std::fs::remove_file(path(dir, app)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(%app, "cannot remove the app's key-value stores: {e}");
        }
        _ => {}
    }
}
