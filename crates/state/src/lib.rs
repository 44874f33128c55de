//! The daemon's durable state: apps (what the user asked for, restart counts, exit history) and
//! the event log, in one redb file. Every change is one ACID transaction, so a `kill -9` at any
//! moment leaves either the old or the new state, never a mix (containerd #4838 is the failure
//! this avoids). It stores what the daemon decides; it decides nothing.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
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
    #[error("the daemon state store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("a stored record is unreadable")]
    Corrupt(#[source] serde_json::Error),
}

fn store(e: impl Into<redb::Error>) -> StateError {
    StateError::Store(Box::new(e.into()))
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
}

impl AppRecord {
    pub fn push_exit(&mut self, exit: ExitRecord) {
        self.exits.push(exit);
        let excess = self.exits.len().saturating_sub(MAX_EXITS);
        self.exits.drain(..excess);
    }
}

pub struct State {
    db: Database,
}

impl State {
    pub fn open(path: &Path) -> Result<State, StateError> {
        let db = Database::create(path).map_err(|source| StateError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let txn = db.begin_write().map_err(store)?;
        {
            let mut meta = txn.open_table(META).map_err(store)?;
            let version = meta.get("schema").map_err(store)?.map(|v| v.value());
            match version {
                None => {
                    meta.insert("schema", SCHEMA_VERSION).map_err(store)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(found) => return Err(StateError::Schema { found }),
            }
            txn.open_table(APPS).map_err(store)?;
            txn.open_table(EVENTS).map_err(store)?;
        }
        txn.commit().map_err(store)?;
        Ok(State { db })
    }

    pub fn apps(&self) -> Result<Vec<AppRecord>, StateError> {
        let txn = self.db.begin_read().map_err(store)?;
        let table = txn.open_table(APPS).map_err(store)?;
        let mut apps = Vec::new();
        for entry in table.iter().map_err(store)? {
            let (_, value) = entry.map_err(store)?;
            apps.push(serde_json::from_slice(value.value()).map_err(StateError::Corrupt)?);
        }
        Ok(apps)
    }

    pub fn app(&self, name: &str) -> Result<Option<AppRecord>, StateError> {
        let txn = self.db.begin_read().map_err(store)?;
        let table = txn.open_table(APPS).map_err(store)?;
        let value = table.get(name).map_err(store)?;
        value
            .map(|v| serde_json::from_slice(v.value()).map_err(StateError::Corrupt))
            .transpose()
    }

    /// Writes `app` and appends events about it, in one transaction.
    pub fn put_app(
        &self,
        app: &AppRecord,
        events: &[(&str, &str)],
    ) -> Result<Vec<Event>, StateError> {
        let txn = self.db.begin_write().map_err(store)?;
        let event = {
            let mut apps = txn.open_table(APPS).map_err(store)?;
            let json = serde_json::to_vec(app).expect("records serialize");
            apps.insert(app.name.as_str(), json.as_slice())
                .map_err(store)?;
            events
                .iter()
                .map(|(kind, detail)| append(&txn, &app.name, kind, detail))
                .collect::<Result<Vec<_>, _>>()?
        };
        txn.commit().map_err(store)?;
        Ok(event)
    }

    /// Removes an app and records it, in one transaction.
    pub fn remove_app(&self, name: &str) -> Result<Event, StateError> {
        let txn = self.db.begin_write().map_err(store)?;
        let event = {
            let mut apps = txn.open_table(APPS).map_err(store)?;
            apps.remove(name).map_err(store)?;
            append(&txn, name, "removed", "")?
        };
        txn.commit().map_err(store)?;
        Ok(event)
    }

    /// Events with `seq > after`, oldest first.
    pub fn events_after(&self, after: u64) -> Result<Vec<Event>, StateError> {
        let txn = self.db.begin_read().map_err(store)?;
        let table = txn.open_table(EVENTS).map_err(store)?;
        let mut events = Vec::new();
        for entry in table.range(after + 1..).map_err(store)? {
            let (_, value) = entry.map_err(store)?;
            events.push(serde_json::from_slice(value.value()).map_err(StateError::Corrupt)?);
        }
        Ok(events)
    }
}

fn append(
    txn: &redb::WriteTransaction,
    app: &str,
    kind: &str,
    detail: &str,
) -> Result<Event, StateError> {
    let mut meta = txn.open_table(META).map_err(store)?;
    let seq = meta
        .get("next_event")
        .map_err(store)?
        .map_or(1, |v| v.value());
    meta.insert("next_event", seq + 1).map_err(store)?;
    let event = Event {
        seq,
        at: now(),
        app: app.to_string(),
        kind: kind.to_string(),
        detail: detail.to_string(),
    };
    let mut events = txn.open_table(EVENTS).map_err(store)?;
    events
        .insert(
            seq,
            serde_json::to_vec(&event)
                .expect("events serialize")
                .as_slice(),
        )
        .map_err(store)?;
    if seq > MAX_EVENTS {
        events.remove(seq - MAX_EVENTS).map_err(store)?;
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
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let state = State::open(&path).unwrap();
            state.put_app(&record("a"), &[("created", "")]).unwrap();
            state.put_app(&record("b"), &[("created", "")]).unwrap();
            state.remove_app("a").unwrap();
        }
        let state = State::open(&path).unwrap();
        assert_eq!(
            state.apps().unwrap(),
            vec![record("b")]
                .into_iter()
                .map(|mut r| {
                    r.created = state.app("b").unwrap().unwrap().created;
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

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_764_081_296, 5), "2025-11-25T14:34:56.000000005Z");
    }
}
