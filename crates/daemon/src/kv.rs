//! The Spin stores of the daemon's apps, kept in files so that what a guest stored survives the
//! app's and the daemon's restarts, as `spin up` keeps its default store and database in files;
//! moved by `skiff rename`, removed with the app. In `<root>/daemon/kv/`, owner-only:
//! `<app>.redb`, the key-value stores of an app that declares any, and `<app>.sqlite/LABEL.db`,
//! each SQLite database it declares. `skiff serve spin.toml` keeps its app's the same way, in
//! the app's `.spin/skiff/` ([`open_in`]).

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
/// declares some.
pub(crate) fn open(dir: &Path, record: &AppRecord) -> Result<SpinStores, Fail> {
    let key_value = all_grants(record).any(|g| !g.spin_stores.is_empty());
    let databases = all_grants(record).flat_map(|g| g.spin_databases.iter().cloned());
    open_in(dir, &record.name, key_value, databases.collect()).map_err(|e| {
        Fail::new(
            500,
            e,
            Some("check that the daemon can write there (its permissions, free space)"),
        )
    })
}

/// The stores, in `dir` (created, owner-only), of the app `app`, as it left them: its
/// key-value stores if `key_value` (a component declares some), and its SQLite databases
/// `labels`. The error says which could not be opened, and why. The files are opened off the
/// async workers; an app that declares none opens nothing.
pub fn open_in(
    dir: &Path,
    app: &str,
    key_value: bool,
    mut labels: Vec<String>,
) -> Result<SpinStores, String> {
    let failed = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        format!(
            "cannot open the {what} of `{app}` in `{}`: {e}",
            path.display()
        )
    };
    let mut stores = SpinStores::default();
    labels.sort();
    labels.dedup();
    if !key_value && labels.is_empty() {
        return Ok(stores);
    }
    skiff_runtime::off_worker(|| {
        if !dir.is_dir() {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| failed("stores", dir, &e))?;
        }
        if key_value {
            let path = path(dir, app);
            let kv_failed =
                |e: skiff_state::StateError| failed("key-value stores", &path, &cause(&e));
            let file = KvFile::open(&path).map_err(kv_failed)?;
            let entries = file.entries().map_err(kv_failed)?;
            stores.key_value = KeyValueStores::backed_by(entries, Box::new(AppFile(file)));
        }
        if !labels.is_empty() {
            let path = sqlite_dir(dir, app);
            stores.sqlite = SqliteDatabases::in_dir(path.clone(), &labels)
                .map_err(|e| failed("SQLite databases", &path, &e))?;
        }
        Ok(stores)
    })
}

/// What went wrong below an error of the state file: its causes, which say it (`Database already
/// open`, a full disk), else the error itself.
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(e) = source {
        causes.push(e.to_string());
        source = e.source();
    }
    match causes.is_empty() {
        true => error.to_string(),
        false => causes.join(": "),
    }
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
