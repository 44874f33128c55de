//! The daemon's durable state: apps (what the user asked for, restart counts, exit history) and
//! the event log, in one redb file. Every change is one ACID transaction, so a `kill -9` at any
//! moment leaves either the old or the new state, never a mix (containerd #4838 is the failure
//! this avoids). It stores what the daemon decides; it decides nothing.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

mod kv;

pub use kv::{Entry as KvEntry, KvFile};
use redb::backends::FileBackend;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use skiff_api::{Event, ExitRecord, RestartPolicy};
use skiff_capabilities::{Grants, Limits};

const APPS: TableDefinition<&str, &[u8]> = TableDefinition::new("apps");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The schema this build reads and writes.
const SCHEMA_VERSION: u64 = 1;
/// Exit records kept per app, and events kept in all.
const MAX_EXITS: usize = 20;
const MAX_EVENTS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the daemon state `{path}`")]
    Open {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
    #[error(
        "the daemon state has schema version {found}; this skiff reads version {SCHEMA_VERSION}"
    )]
    Schema { found: u64 },
    #[error("cannot read the daemon state")]
    Read(#[source] redb::Error),
    /// Nothing of the change was saved.
    #[error("cannot save the daemon state")]
    Write(#[source] redb::Error),
    /// A write failed earlier and the store could not be opened again since: nothing is saved
    /// until it can be.
    #[error("the daemon state `{path}` cannot be opened again after a failed write")]
    Unavailable {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
    /// The stored record is not the one this change was made to: it was saved since by someone
    /// else, or removed. The change was not saved.
    #[error("the stored record of `{app}` changed under this change; it was not saved")]
    Conflict { app: String },
    #[error("a stored record is unreadable")]
    Corrupt(#[source] serde_json::Error),
}

impl StateError {
    /// Whether the disk (space, permissions, I/O) is the cause: the same change may succeed once
    /// it is fixed.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            StateError::Read(_) | StateError::Write(_) | StateError::Unavailable { .. }
        )
    }
}

fn read(e: impl Into<redb::Error>) -> StateError {
    StateError::Read(e.into())
}

fn write(e: impl Into<redb::Error>) -> StateError {
    StateError::Write(e.into())
}

/// An app as the daemon remembers it across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    pub source: String,
    pub digest: String,
    pub args: Vec<String>,
    pub grants: Grants,
    pub limits: Limits,
    pub restart: RestartPolicy,
    /// What the user asked for: false after `stop`, true after `run`/`start`/`restart`.
    pub desired_running: bool,
    /// Restarts done by the policy since the user last started it.
    pub restarts: u32,
    pub created: String,
    pub exits: Vec<ExitRecord>,
    /// Set while a run is in progress; still set at startup means the daemon died under it.
    pub running: bool,
    /// For an HTTP app: its ports, routes and HTTP limits.
    #[serde(default)]
    pub http: skiff_api::HttpConfig,
    /// Which save of the record this is: 0 for an app not saved yet, then one more per save.
    /// A save is refused unless the stored record is the one the change was made to, so an
    /// older copy can never overwrite a newer record (a launch once overwrote its own run's
    /// exit: issue 9). Records saved before it existed read as 1.
    #[serde(default = "first_revision")]
    pub revision: u64,
    /// The request's labels (`skiff compose` marks its project's apps with them).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The apps it may call in-process.
    #[serde(default)]
    pub links: skiff_api::Links,
    /// For an HTTP app: its health check. Records saved before checks existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<skiff_api::HealthCheck>,
    /// `--rm`: removed once it has exited (also when found exited at the daemon's start).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_remove: bool,
    /// `--stop-timeout`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// A Spin app of several components: each one's grants, as resolved at creation (the
    /// image's for that component, merged with the request's flags). Empty for any other app,
    /// whose grants are `grants`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentRecord>,
}

/// A component of a Spin app of several, as the daemon remembers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub id: String,
    pub grants: Grants,
}

fn first_revision() -> u64 {
    1
}

impl AppRecord {
    pub fn push_exit(&mut self, exit: ExitRecord) {
        self.exits.push(exit);
        let excess = self.exits.len().saturating_sub(MAX_EXITS);
        self.exits.drain(..excess);
    }
}

/// How the store is opened; tests put a failing disk under it.
type Opener = Box<dyn Fn(&Path) -> Result<Database, StateError> + Send + Sync>;

/// The store. After a failed commit redb answers every later operation with `PreviousIo` until
/// the database is closed and opened again, so a failed write closes it and opens it again; if
/// that fails too (the disk is still full), each later operation tries again first, and changes
/// fail with [`StateError::Unavailable`] meanwhile. No change is ever reported saved that is not.
pub struct State {
    path: PathBuf,
    db: Mutex<Option<Database>>,
    open: Opener,
}

impl State {
    /// Opens or creates the store at `path`, readable and writable by its owner only (it holds
    /// the apps' `-e` values), whatever the umask.
    pub fn open(path: &Path) -> Result<State, StateError> {
        State::open_with(path, Box::new(|path| open_file(path, |file| file)))
    }

    fn open_with(path: &Path, open: Opener) -> Result<State, StateError> {
        let db = open(path)?;
        let txn = db.begin_write().map_err(write)?;
        {
            let mut meta = txn.open_table(META).map_err(write)?;
            let version = meta.get("schema").map_err(write)?.map(|v| v.value());
            match version {
                None => {
                    meta.insert("schema", SCHEMA_VERSION).map_err(write)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(found) => return Err(StateError::Schema { found }),
            }
            txn.open_table(APPS).map_err(write)?;
            txn.open_table(EVENTS).map_err(write)?;
        }
        txn.commit().map_err(write)?;
        Ok(State {
            path: path.to_path_buf(),
            db: Mutex::new(Some(db)),
            open,
        })
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database, opened again first if a failed write closed it.
    fn db(&self) -> Result<MutexGuard<'_, Option<Database>>, StateError> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        if db.is_none() {
            *db = Some((self.open)(&self.path).map_err(|e| match e {
                StateError::Open { path, source } => StateError::Unavailable { path, source },
                other => other,
            })?);
        }
        Ok(db)
    }

    /// Runs `f` in a transaction of its own; on a storage error the database is closed and
    /// opened again, since redb refuses everything after one.
    fn with<T>(&self, f: impl FnOnce(&Database) -> Result<T, StateError>) -> Result<T, StateError> {
        let mut db = self.db()?;
        let result = f(db.as_ref().expect("opened by db()"));
        if matches!(&result, Err(e) if e.is_storage()) {
            // Dropping it closes the file; the next operation opens it again (redb repairs a
            // database that was not closed cleanly), so a disk that has room again is used again
            // without restarting the daemon.
            *db = None;
            drop(db);
            // A failure to open again is reported by the next operation.
            if let Ok(reopened) = self.db() {
                drop(reopened);
            }
        }
        result
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.with(|db| {
            let txn = db.begin_write().map_err(write)?;
            let value = f(&txn)?;
            txn.commit().map_err(write)?;
            Ok(value)
        })
    }

    pub fn apps(&self) -> Result<Vec<AppRecord>, StateError> {
        self.with(|db| {
            let txn = db.begin_read().map_err(read)?;
            let table = txn.open_table(APPS).map_err(read)?;
            let mut apps = Vec::new();
            for entry in table.iter().map_err(read)? {
                let (_, value) = entry.map_err(read)?;
                apps.push(serde_json::from_slice(value.value()).map_err(StateError::Corrupt)?);
            }
            Ok(apps)
        })
    }

    pub fn app(&self, name: &str) -> Result<Option<AppRecord>, StateError> {
        self.with(|db| {
            let txn = db.begin_read().map_err(read)?;
            let table = txn.open_table(APPS).map_err(read)?;
            let value = table.get(name).map_err(read)?;
            value
                .map(|v| serde_json::from_slice(v.value()).map_err(StateError::Corrupt))
                .transpose()
        })
    }

    /// Saves `app` and appends events about it, in one transaction, if the stored record is the
    /// one `app` was made from (its `revision`); on success `app.revision` moves on. An app not
    /// saved yet (revision 0) replaces whatever record of its name is left.
    pub fn put_app(
        &self,
        app: &mut AppRecord,
        events: &[(&str, &str)],
    ) -> Result<Vec<Event>, StateError> {
        let (revision, events) = self.write(|txn| {
            let mut apps = txn.open_table(APPS).map_err(write)?;
            let revision = put(&mut apps, &app.name, app)?;
            drop(apps);
            let events = events
                .iter()
                .map(|(kind, detail)| append(txn, &app.name, kind, detail))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((revision, events))
        })?;
        app.revision = revision;
        Ok(events)
    }

    /// `skiff rename`: `app`, stored as `old`, is saved under its new name (`app.name`), with
    /// the apps whose links now name it (`relinked`) and a `renamed` event, in one
    /// transaction; each must be the record stored (its revision), and the new name free.
    pub fn rename_app(
        &self,
        old: &str,
        app: &mut AppRecord,
        relinked: &mut [AppRecord],
    ) -> Result<Event, StateError> {
        let (revisions, event) = self.write(|txn| {
            let mut apps = txn.open_table(APPS).map_err(write)?;
            if apps.get(app.name.as_str()).map_err(write)?.is_some() {
                return Err(StateError::Conflict {
                    app: app.name.clone(),
                });
            }
            let mut revisions = vec![put(&mut apps, old, app)?];
            apps.remove(old).map_err(write)?;
            for other in relinked.iter() {
                revisions.push(put(&mut apps, &other.name, other)?);
            }
            drop(apps);
            let event = append(txn, &app.name, "renamed", &format!("from {old}"))?;
            Ok((revisions, event))
        })?;
        for (record, revision) in std::iter::once(app).chain(relinked).zip(revisions) {
            record.revision = revision;
        }
        Ok(event)
    }

    /// Removes an app and records it, in one transaction.
    pub fn remove_app(&self, name: &str) -> Result<Event, StateError> {
        self.write(|txn| {
            let mut apps = txn.open_table(APPS).map_err(write)?;
            apps.remove(name).map_err(write)?;
            drop(apps);
            append(txn, name, "removed", "")
        })
    }

    /// Events with `seq > after`, oldest first.
    pub fn events_after(&self, after: u64) -> Result<Vec<Event>, StateError> {
        self.with(|db| {
            let txn = db.begin_read().map_err(read)?;
            let table = txn.open_table(EVENTS).map_err(read)?;
            let mut events = Vec::new();
            for entry in table.range(after + 1..).map_err(read)? {
                let (_, value) = entry.map_err(read)?;
                events.push(serde_json::from_slice(value.value()).map_err(StateError::Corrupt)?);
            }
            Ok(events)
        })
    }
}

/// Just the revision of a stored record.
#[derive(Deserialize)]
struct StoredRevision {
    #[serde(default = "first_revision")]
    revision: u64,
}

/// Opens the file owner-only (mode 0600 at creation, and set again on an older, looser file),
/// then redb on it through `backend`.
fn open_file<B: redb::StorageBackend>(
    path: &Path,
    backend: impl FnOnce(FileBackend) -> B,
) -> Result<Database, StateError> {
    let fail = |source: redb::DatabaseError| StateError::Open {
        path: path.display().to_string(),
        source,
    };
    let io = |e: std::io::Error| fail(redb::StorageError::from(e).into());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    // redb caches up to 1 GiB of the file by default, so the whole database (about 2 KiB per
    // app with its events) stayed in the daemon's heap. The daemon keeps what it serves in memory
    // and reads the file only to recover and to list events; 1 MiB holds the B-tree's upper pages
    // and the writes of any one change (redb keeps its write buffer to half of it).
    Database::builder()
        .set_cache_size(1 << 20)
        .create_with_backend(backend(FileBackend::new(file).map_err(fail)?))
        .map_err(fail)
}

/// Writes `app` under its name if the record stored as `stored` is the one it was made from
/// (see [`State::put_app`]); returns its new revision.
fn put(
    apps: &mut redb::Table<&str, &[u8]>,
    stored: &str,
    app: &AppRecord,
) -> Result<u64, StateError> {
    let stored = apps
        .get(stored)
        .map_err(write)?
        .map(|v| serde_json::from_slice::<StoredRevision>(v.value()).map_err(StateError::Corrupt))
        .transpose()?
        .map(|s| s.revision);
    let revision = match (app.revision, stored) {
        (0, stored) => stored.unwrap_or(0) + 1,
        (current, Some(stored)) if stored == current => current + 1,
        _ => {
            return Err(StateError::Conflict {
                app: app.name.clone(),
            });
        }
    };
    let saved = AppRecord {
        revision,
        ..app.clone()
    };
    let json = serde_json::to_vec(&saved).expect("records serialize");
    apps.insert(app.name.as_str(), json.as_slice())
        .map_err(write)?;
    Ok(revision)
}

fn append(
    txn: &WriteTransaction,
    app: &str,
    kind: &str,
    detail: &str,
) -> Result<Event, StateError> {
    let mut meta = txn.open_table(META).map_err(write)?;
    let seq = meta
        .get("next_event")
        .map_err(write)?
        .map_or(1, |v| v.value());
    meta.insert("next_event", seq + 1).map_err(write)?;
    let event = Event {
        seq,
        at: now(),
        app: app.to_string(),
        kind: kind.to_string(),
        detail: detail.to_string(),
    };
    let mut events = txn.open_table(EVENTS).map_err(write)?;
    events
        .insert(
            seq,
            serde_json::to_vec(&event)
                .expect("events serialize")
                .as_slice(),
        )
        .map_err(write)?;
    if seq > MAX_EVENTS {
        events.remove(seq - MAX_EVENTS).map_err(write)?;
    }
    Ok(event)
}

/// Now, RFC 3339 UTC with nanoseconds.
pub fn now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// Formats seconds since the epoch as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn record(name: &str) -> AppRecord {
        AppRecord {
            name: name.into(),
            source: "/app.wasm".into(),
            digest: "sha256:x".into(),
            args: vec![],
            grants: Grants::default(),
            limits: Limits::default(),
            restart: RestartPolicy::Always,
            desired_running: true,
            restarts: 0,
            created: now(),
            exits: vec![],
            running: true,
            http: Default::default(),
            revision: 0,
            labels: Default::default(),
            links: Default::default(),
            health: None,
            auto_remove: false,
            stop_timeout: None,
            components: Vec::new(),
        }
    }

    #[test]
    fn a_record_saved_before_health_checks_loads_without_one() {
        // An app record as the previous release wrote it: no `health` (nor `labels`, `links`).
        let old = r#"{"name":"web","source":"/web.wasm","digest":"sha256:x","args":[],
            "grants":{"env":[],"dirs":[],"network":"none"},
            "limits":{"memory":null,"cpu_time":null,"timeout":null},
            "restart":{"policy":"no"},"desired_running":true,"restarts":0,
            "created":"2026-01-01T00:00:00.000000000Z","exits":[],"running":false,
            "http":{"ports":[],"routes":[],"limits":{"max_concurrency":100,
            "queue_timeout_ms":1000,"max_body_bytes":10485760}},"revision":4}"#;
        let record: AppRecord = serde_json::from_str(old).unwrap();
        assert_eq!((record.health.clone(), record.revision), (None, 4));
        // And one with a check keeps it.
        let mut checked = record.clone();
        checked.health = Some(skiff_api::HealthCheck {
            path: "/healthz".into(),
            ..Default::default()
        });
        let json = serde_json::to_string(&checked).unwrap();
        let back: AppRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.health.unwrap().path, "/healthz");
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let state = State::open(&path).unwrap();
            state.put_app(&mut record("a"), &[("created", "")]).unwrap();
            state.put_app(&mut record("b"), &[("created", "")]).unwrap();
            state.remove_app("a").unwrap();
        }
        let state = State::open(&path).unwrap();
        assert_eq!(
            state.apps().unwrap(),
            vec![record("b")]
                .into_iter()
                .map(|mut r| {
                    r.created = state.app("b").unwrap().unwrap().created;
                    r.revision = 1;
                    r
                })
                .collect::<Vec<_>>()
        );
        let events = state.events_after(0).unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(state.events_after(2).unwrap().len(), 1);
    }

    /// A disk that fails every write and sync while `failing` is set, as a full disk does.
    #[derive(Debug)]
    struct Faulty {
        inner: FileBackend,
        failing: Arc<AtomicBool>,
    }

    impl Faulty {
        fn check(&self) -> Result<(), std::io::Error> {
            if self.failing.load(Ordering::SeqCst) {
                // ENOSPC on Linux.
                Err(std::io::Error::from_raw_os_error(28))
            } else {
                Ok(())
            }
        }
    }

    type Bound = std::ops::Bound<u64>;

    impl redb::StorageBackend for Faulty {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.check()?;
            self.inner.write(offset, data)
        }
        fn close(&self) -> Result<(), std::io::Error> {
            self.inner.close()
        }
        fn try_lock_range(&self, start: Bound, end: Bound) -> Result<bool, redb::BackendError> {
            self.inner.try_lock_range(start, end)
        }
        fn try_lock_shared_range(
            &self,
            start: Bound,
            end: Bound,
        ) -> Result<bool, redb::BackendError> {
            self.inner.try_lock_shared_range(start, end)
        }
        fn lock_range(&self, start: Bound, end: Bound) -> Result<(), redb::BackendError> {
            self.inner.lock_range(start, end)
        }
        fn lock_shared_range(&self, start: Bound, end: Bound) -> Result<(), redb::BackendError> {
            self.inner.lock_shared_range(start, end)
        }
        fn unlock_range(&self, start: Bound, end: Bound) -> Result<(), redb::BackendError> {
            self.inner.unlock_range(start, end)
        }
        fn query_lock_range(&self, start: Bound, end: Bound) -> Result<bool, redb::BackendError> {
            self.inner.query_lock_range(start, end)
        }
    }

    fn open_faulty(path: &Path) -> (State, Arc<AtomicBool>) {
        let failing = Arc::new(AtomicBool::new(false));
        let flag = failing.clone();
        let open: Opener = Box::new(move |path| {
            let failing = flag.clone();
            open_file(path, |inner| Faulty { inner, failing })
        });
        (State::open_with(path, open).unwrap(), failing)
    }

    fn chain(e: &dyn std::error::Error) -> String {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(e) = cause {
            text.push_str(&format!(": {e}"));
            cause = e.source();
        }
        text
    }

    #[test]
    fn a_failed_write_is_reported_and_writes_resume_once_the_disk_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let (state, failing) = open_faulty(&path);
        let mut app = record("a");
        state.put_app(&mut app, &[("created", "")]).unwrap();

        failing.store(true, Ordering::SeqCst);
        let mut stopped = app.clone();
        stopped.desired_running = false;
        let error = state.put_app(&mut stopped, &[("stopped", "")]).unwrap_err();
        assert!(error.is_storage(), "{error:?}");
        assert!(
            chain(&error).contains("No space left on device"),
            "{}",
            chain(&error)
        );
        assert_eq!(
            stopped.revision, app.revision,
            "a failed save moved the revision"
        );
        // Still failing: refused again, not reported as saved.
        let again = state.put_app(&mut stopped.clone(), &[]).unwrap_err();
        assert!(again.is_storage(), "{again:?}");

        failing.store(false, Ordering::SeqCst);
        state.put_app(&mut stopped, &[("stopped", "")]).unwrap();
        assert!(!state.app("a").unwrap().unwrap().desired_running);
        drop(state);

        let state = State::open(&path).unwrap();
        assert_eq!(state.app("a").unwrap().unwrap(), stopped);
        let kinds: Vec<String> = state
            .events_after(0)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["created", "stopped"]);
    }

    #[test]
    fn an_older_copy_never_overwrites_a_newer_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("state.redb")).unwrap();
        let mut launched = record("a");
        state.put_app(&mut launched, &[("started", "")]).unwrap();
        let stale = launched.clone();
        launched.running = false;
        state.put_app(&mut launched, &[("exited", "")]).unwrap();

        let error = state.put_app(&mut stale.clone(), &[]).unwrap_err();
        assert!(matches!(error, StateError::Conflict { .. }), "{error:?}");
        assert_eq!(state.app("a").unwrap().unwrap(), launched);
        // Nor does a copy of a removed app bring it back.
        state.remove_app("a").unwrap();
        assert!(state.put_app(&mut launched, &[]).is_err());
        assert_eq!(state.app("a").unwrap(), None);
    }

    #[test]
    fn a_rename_moves_the_record_and_its_callers_links_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("state.redb")).unwrap();
        let mut api = record("api");
        let mut front = record("front");
        front.links.calls.insert("api".into(), "api".into());
        let mut other = record("other");
        for app in [&mut api, &mut front, &mut other] {
            state.put_app(app, &[]).unwrap();
        }
        // A name in use, or a stale copy of a caller: nothing changes.
        let mut taken = AppRecord {
            name: "other".into(),
            ..api.clone()
        };
        assert!(state.rename_app("api", &mut taken, &mut []).is_err());
        let mut renamed = AppRecord {
            name: "api-v2".into(),
            ..api.clone()
        };
        let mut stale = front.clone();
        stale.links.calls.insert("api".into(), "api-v2".into());
        state.put_app(&mut front, &[("started", "")]).unwrap();
        assert!(
            state
                .rename_app("api", &mut renamed.clone(), &mut [stale])
                .is_err()
        );
        assert_eq!(state.app("api").unwrap().unwrap(), api);
        assert_eq!(state.app("api-v2").unwrap(), None);

        front.links.calls.insert("api".into(), "api-v2".into());
        let mut relinked = [front.clone()];
        let event = state
            .rename_app("api", &mut renamed, &mut relinked)
            .unwrap();
        assert_eq!(
            (
                event.app.as_str(),
                event.kind.as_str(),
                event.detail.as_str()
            ),
            ("api-v2", "renamed", "from api")
        );
        assert_eq!(state.app("api").unwrap(), None);
        assert_eq!(state.app("api-v2").unwrap().unwrap(), renamed);
        assert_eq!(state.app("front").unwrap().unwrap(), relinked[0]);
        // The saved copies are the ones a later change starts from.
        state.put_app(&mut renamed, &[]).unwrap();
        state.put_app(&mut relinked[0], &[]).unwrap();
    }

    #[test]
    fn a_world_readable_file_is_made_owner_only() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        // An older skiff left it world-readable.
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        State::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_764_081_296, 5), "2025-11-25T14:34:56.000000005Z");
    }
}
