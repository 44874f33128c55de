//! The Spin stores of the daemon's apps, kept in files so that what a guest stored survives the
//! app's and the daemon's restarts, as `spin up` keeps its default store and database in files;
//! moved by `skiff rename`, removed with the app. In `<root>/daemon/kv/`, owner-only:
//! `<app>.redb`, the key-value stores of an app that declares any, and `<app>.sqlite/LABEL.db`,
//! each SQLite database it declares.

use std::path::{Path, PathBuf};

use skiff_capabilities::Grants;
use skiff_runtime::{KeyValueStores, SpinStores, SqliteDatabases, StoreFile};
use skiff_state::{AppRecord, KvFile};

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

fn sqlite_dir(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("{app}.sqlite"))
}

/// The grants of the app and of each of its components.
fn all_grants(record: &AppRecord) -> impl Iterator<Item = &Grants> {
    let components = record.components.iter().map(|c| &c.grants);
    std::iter::once(&record.grants).chain(components)
}

/// The stores of the app `record`, as it left them: none unless it (or a component of it)
/// declares some. Blocking.
pub(crate) fn open(dir: &Path, record: &AppRecord) -> Result<SpinStores, Fail> {
    let app = &record.name;
    let failed = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        Fail::new(
            500,
            format!(
                "cannot open the {what} of `{app}` in `{}`: {e}",
                path.display()
            ),
            Some("check that the daemon can write there (its permissions, free space)"),
        )
    };
    let mut stores = SpinStores::default();
    if all_grants(record).any(|g| !g.spin_stores.is_empty()) {
        let path = path(dir, app);
        let file = KvFile::open(&path).map_err(|e| failed("key-value stores", &path, &e))?;
        let entries = file
            .entries()
            .map_err(|e| failed("key-value stores", &path, &e))?;
        stores.key_value = KeyValueStores::backed_by(entries, Box::new(AppFile(file)));
    }
    let mut labels: Vec<String> = all_grants(record)
        .flat_map(|g| g.spin_databases.iter().cloned())
        .collect();
    labels.sort();
    labels.dedup();
    if !labels.is_empty() {
        let path = sqlite_dir(dir, app);
        stores.sqlite = SqliteDatabases::in_dir(path.clone(), &labels)
            .map_err(|e| failed("SQLite databases", &path, &e))?;
    }
    Ok(stores)
}

/// `skiff rename`: the stores of `app` become `new`'s (open files stay open).
pub(crate) fn rename(dir: &Path, app: &str, new: &str) -> std::io::Result<()> {
    let moved = |from: PathBuf, to: PathBuf| match std::fs::rename(from, to) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        renamed => renamed,
    };
    moved(path(dir, app), path(dir, new))?;
    moved(sqlite_dir(dir, app), sqlite_dir(dir, new)).inspect_err(|_| {
        let _ = moved(path(dir, new), path(dir, app));
    })
}

/// The app is gone, and its stores with it.
pub(crate) fn remove(dir: &Path, app: &str) {
    let removed = [
        std::fs::remove_file(path(dir, app)),
        std::fs::remove_dir_all(sqlite_dir(dir, app)),
    ];
    for result in removed {
        if let Err(e) = result
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%app, "cannot remove the app's Spin stores: {e}");
        }
    }
}
