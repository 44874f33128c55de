//! Spin's SQLite host API: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite@3.0.0` (the Spin SDKs
//! up to 5.x) and `spin:sqlite@3.1.0` (Spin SDK 7). A
//! component opens the databases its `sqlite_databases` names; each is one SQLite database per
//! app, shared by all its instances and components, in memory or, where a front end gives a
//! directory (the daemon), a file `LABEL.db` there that outlives the app's and the daemon's
//! restarts, as `spin up` keeps `.spin/sqlite_db.db`.
//!
//! The guest's SQL runs in the host, so it is held to what its Wasm is held to:
//! - on the thread that polls the instance, so its CPU time is the instance's (metered, and
//!   counted against `--cpu-time`), and it stops when the instance's CPU time, wall-clock time
//!   or stop comes (SQLite's progress handler, checked every [`PROGRESS_OPS`] steps);
//! - nothing of the host but the database: `ATTACH`, `VACUUM INTO` and every `PRAGMA` that
//!   changes how or where SQLite stores data are refused (its authorizer), and extensions are
//!   never loaded;
//! - bounded: [`MAX_DATABASES`] per app, [`MAX_DATABASE_BYTES`] each, [`MAX_VALUE_BYTES`] per
//!   value and [`MAX_RESULT_BYTES`] per result held in the host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::Value as SqlValue;

use crate::limits::Budget;

/// What one database may hold: pages, as SQLite counts them (`max_page_count`).
pub const MAX_DATABASE_BYTES: u64 = 64 << 20;
/// How many databases one app may have (Spin apps use one or two): each is a file and its
/// WAL open in the daemon, or up to [`MAX_DATABASE_BYTES`] of memory elsewhere.
pub const MAX_DATABASES: usize = 4;
/// The longest string or blob a statement may make (SQLite's own default is a gigabyte).
pub const MAX_VALUE_BYTES: usize = 16 << 20;
/// What the rows of one result may hold together in the host before they reach the guest.
pub const MAX_RESULT_BYTES: usize = 32 << 20;
/// How often (in SQLite's virtual machine steps) a running statement checks its budget.
const PROGRESS_OPS: i32 = 10_000;

/// One app's SQLite databases, by label: opened when an instance first opens one, shared by all
/// the app's instances from then on.
#[derive(Default)]
pub struct SqliteDatabases {
    /// Where they are files; in memory when `None`.
    dir: Option<PathBuf>,
    open: Mutex<HashMap<String, Arc<Mutex<rusqlite::Connection>>>>,
}

impl std::fmt::Debug for SqliteDatabases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabases")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Why a database could not be opened or a statement run, in the terms of Spin's `error`.
#[derive(Debug)]
pub(crate) enum SqlError {
    AccessDenied,
    DatabaseFull,
    /// Stopped by the statement's budget; never reaches the guest as such.
    Interrupted,
    Io(String),
}

impl From<rusqlite::Error> for SqlError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => SqlError::DatabaseFull,
            Some(rusqlite::ErrorCode::OperationInterrupted) => SqlError::Interrupted,
            _ => SqlError::Io(error.to_string()),
        }
    }
}

/// What one statement gave: its columns and rows, and then the connection's last inserted row
/// id and the rows it changed.
pub(crate) struct Outcome {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<SqlValue>>,
    pub(crate) last_insert_rowid: i64,
    pub(crate) changes: u64,
}

impl SqliteDatabases {
    /// The databases `labels`, kept as files in `dir` (created, owner-only), opened now: in WAL
    /// mode SQLite keeps its files open, so they go on working when `skiff rename` moves the
    /// directory. Blocking.
    pub fn in_dir(dir: PathBuf, labels: &[String]) -> Result<Self, String> {
        if labels.len() > MAX_DATABASES {
            return Err(format!(
                "the app declares {} SQLite databases (`sqlite_databases`); an app may have at \
                 most {MAX_DATABASES}",
                labels.len()
            ));
        }
        let databases = SqliteDatabases {
            dir: Some(dir),
            open: Mutex::default(),
        };
        for label in labels {
            databases.database(label).map_err(|e| match e {
                SqlError::Io(message) => message,
                other => format!("{other:?}"),
            })?;
        }
        Ok(databases)
    }

    /// The database `label`, opened if it is not yet. Blocking.
    fn database(&self, label: &str) -> Result<Arc<Mutex<rusqlite::Connection>>, SqlError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = open.get(label) {
            return Ok(db.clone());
        }
        if open.len() >= MAX_DATABASES {
            return Err(SqlError::Io(format!(
                "an app may have at most {MAX_DATABASES} SQLite databases"
            )));
        }
        let mut connection = match &self.dir {
            Some(dir) => open_file(dir, label)?,
            None => rusqlite::Connection::open_in_memory()?,
        };
        confine(&mut connection)?;
        let db = Arc::new(Mutex::new(connection));
        open.insert(label.to_string(), db.clone());
        Ok(db)
    }

    /// Runs `statement` with `parameters` on the database `label`, within `budget`, on this
    /// thread (off the async workers: it may wait for the disk or for another instance's
    /// statement).
    pub(crate) fn execute(
        &self,
        label: &str,
        statement: &str,
        parameters: Vec<SqlValue>,
        budget: &Budget,
    ) -> Result<Outcome, SqlError> {
        crate::off_worker(|| {
            let db = self.database(label)?;
            let mut connection = db.lock().unwrap_or_else(|e| e.into_inner());
            let watch = budget.clone();
            connection.progress_handler(PROGRESS_OPS, Some(move || watch.exceeded().is_some()))?;
            let ran = run(&connection, statement, parameters);
            connection.progress_handler(0, None::<fn() -> bool>)?;
            // Only the handler above interrupts, and a limit once passed stays passed.
            ran.map_err(|e| match e {
                SqlError::Interrupted => SqlError::Io(format!(
                    "the statement was interrupted: {}",
                    budget.exceeded().unwrap_or_default()
                )),
                other => other,
            })
        })
    }
}

/// `LABEL.db` in `dir`, in WAL mode (its files stay open, so a renamed directory keeps
/// working), at most [`MAX_DATABASE_BYTES`].
fn open_file(dir: &Path, label: &str) -> Result<rusqlite::Connection, SqlError> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let failed = |e: std::io::Error| SqlError::Io(format!("{}: {e}", dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
    let path = dir.join(file_name(label));
    let connection = rusqlite::Connection::open(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    connection.pragma_update(None, "journal_mode", "wal")?;
    Ok(connection)
}

/// A label as a file name: as it is when it is a plain name, else in hex (a label comes from
/// the image, and must never become a path).
fn file_name(label: &str) -> String {
    let plain = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match plain {
        true => format!("{label}.db"),
        false => format!("x-{}.db", hex::encode(label)),
    }
}

/// The bounds and the authorizer every connection gets before a guest's first statement.
fn confine(connection: &mut rusqlite::Connection) -> Result<(), SqlError> {
    connection.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    connection.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES as i32)?;
    let page_size: i64 = connection.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let pages = MAX_DATABASE_BYTES as i64 / page_size.max(512);
    connection.pragma_update(None, "max_page_count", pages)?;
    connection.authorizer(Some(authorize))?;
    Ok(())
}

/// The pragmas a guest may use: they read the schema or change only how its own statements
/// behave; any other (where and how SQLite stores the database, its size limit, its memory) is
/// the host's.
const GUEST_PRAGMAS: &[&str] = &[
    "application_id",
    "case_sensitive_like",
    "collation_list",
    "data_version",
    "database_list",
    "defer_foreign_keys",
    "encoding",
    "foreign_key_check",
    "foreign_key_list",
    "foreign_keys",
    "freelist_count",
    "function_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "max_page_count",
    "optimize",
    "page_count",
    "page_size",
    "pragma_list",
    "quick_check",
    "recursive_triggers",
    "schema_version",
    "table_info",
    "table_list",
    "table_xinfo",
    "user_version",
];

/// SQLite's authorizer: no other database (`ATTACH`, and `VACUUM INTO`, which attaches its
/// target), and of the pragmas only [`GUEST_PRAGMAS`], the size limit and page size read-only.
fn authorize(context: AuthContext<'_>) -> Authorization {
    match context.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            let read_only = matches!(name.as_str(), "max_page_count" | "page_size");
            if !GUEST_PRAGMAS.contains(&name.as_str()) || (read_only && pragma_value.is_some()) {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        _ => Authorization::Allow,
    }
}

/// One statement: its rows, bounded by [`MAX_RESULT_BYTES`].
fn run(
    connection: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<SqlValue>,
) -> Result<Outcome, SqlError> {
    let mut prepared = connection.prepare(statement)?;
    let columns: Vec<String> = prepared.column_names().map(String::from).collect();
    let mut rows = prepared.query(rusqlite::params_from_iter(parameters))?;
    let mut out = Vec::new();
    let mut held = 0usize;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let value: SqlValue = row.get(i)?;
            held += 16
                + match &value {
                    SqlValue::Text(text) => text.len(),
                    SqlValue::Blob(blob) => blob.len(),
                    _ => 0,
                };
            values.push(value);
        }
        if held > MAX_RESULT_BYTES {
            return Err(SqlError::Io(format!(
                "the result is larger than {} MiB: ask for fewer rows (`LIMIT`) or smaller values",
                MAX_RESULT_BYTES >> 20
            )));
        }
        out.push(values);
    }
    drop(rows);
    Ok(Outcome {
        columns,
        rows: out,
        last_insert_rowid: connection.last_insert_rowid(),
        changes: connection.changes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(db: &SqliteDatabases, sql: &str) -> Result<Outcome, SqlError> {
        db.execute("default", sql, Vec::new(), &Budget::unlimited())
    }

    /// A guest reaches nothing of the host through SQL: no other database file, no pragma
    /// that moves or enlarges its own.
    #[test]
    fn a_guest_reaches_only_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabases::in_dir(dir.path().join("app"), &["default".into()]).unwrap();
        run_on(&db, "CREATE TABLE t (x)").unwrap();
        let outside = dir.path().join("outside.db");
        for sql in [
            format!("ATTACH DATABASE '{}' AS o", outside.display()),
            format!("VACUUM INTO '{}'", outside.display()),
            "PRAGMA max_page_count = 1000000000".to_string(),
            "PRAGMA journal_mode = delete".to_string(),
            "PRAGMA temp_store_directory = '/'".to_string(),
            "SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')".to_string(),
        ] {
            assert!(run_on(&db, &sql).is_err(), "`{sql}` ran");
        }
        assert!(!outside.exists());
        let count = run_on(&db, "PRAGMA table_info(t)").unwrap();
        assert_eq!(count.rows.len(), 1);
        let page_count = run_on(&db, "PRAGMA max_page_count").unwrap();
        assert_eq!(page_count.rows.len(), 1);
    }

    /// A label comes from the image: whatever it holds, its database is a file of the app's
    /// directory, one per label.
    #[test]
    fn a_label_never_becomes_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        let labels = [
            "../escape".to_string(),
            "a/b".into(),
            "".into(),
            "..".into(),
        ];
        let db = SqliteDatabases::in_dir(app.clone(), &labels).unwrap();
        for label in &labels {
            db.execute(
                label,
                "CREATE TABLE t (x)",
                Vec::new(),
                &Budget::unlimited(),
            )
            .unwrap();
        }
        let mut outside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        outside.sort();
        assert_eq!(
            outside,
            ["app"],
            "a database file outside the app's directory"
        );
        let files = std::fs::read_dir(&app).unwrap().map(|e| e.unwrap().path());
        let databases = files.filter(|p| p.extension().is_some_and(|e| e == "db"));
        assert_eq!(databases.count(), labels.len());
    }

    /// What a database and a result may hold is bounded, and so is how many databases an app
    /// may have.
    #[test]
    fn a_database_and_a_result_are_bounded() {
        let many = SqliteDatabases::default();
        for i in 0..MAX_DATABASES {
            let label = format!("db{i}");
            many.execute(&label, "SELECT 1", Vec::new(), &Budget::unlimited())
                .unwrap();
        }
        let one_more = many.execute("more", "SELECT 1", Vec::new(), &Budget::unlimited());
        assert!(matches!(one_more, Err(SqlError::Io(m)) if m.contains("at most")));
        let labels: Vec<String> = (0..=MAX_DATABASES).map(|i| format!("db{i}")).collect();
        let dir = tempfile::tempdir().unwrap();
        assert!(SqliteDatabases::in_dir(dir.path().join("app"), &labels).is_err());
        let db = SqliteDatabases::default();
        run_on(&db, "CREATE TABLE t (x)").unwrap();
        let huge = run_on(&db, "SELECT zeroblob(100000000)");
        assert!(
            matches!(huge, Err(SqlError::Io(m)) if m.contains("too big")),
            "a 100 MB value"
        );
        let mut full = None;
        for _ in 0..100 {
            if let Err(e) = run_on(&db, "INSERT INTO t VALUES (zeroblob(8000000))") {
                full = Some(e);
                break;
            }
        }
        assert!(matches!(full, Some(SqlError::DatabaseFull)), "{full:?}");
        let rows = run_on(&db, "SELECT x FROM t");
        assert!(matches!(rows, Err(SqlError::Io(m)) if m.contains("larger than")));
    }

    /// A statement that would run for ever ends at its instance's limit.
    #[test]
    fn a_statement_ends_at_its_instances_limit() {
        let db = SqliteDatabases::default();
        let budget =
            Budget::until(std::time::Instant::now() + std::time::Duration::from_millis(200));
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c";
        let ended = db.execute("default", endless, Vec::new(), &budget);
        assert!(
            matches!(&ended, Err(SqlError::Io(m)) if m.contains("interrupted")),
            "{:?}",
            ended.as_ref().err()
        );
    }
}
