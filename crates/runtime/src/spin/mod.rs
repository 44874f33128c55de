//! Spin's host APIs, for the components of Spin apps (`fermyon:spin@2.0.0`, what the Spin SDKs up
//! to 5.x import, and its async successors `spin:variables@3.0.0`, `spin:key-value@3.0.0` and
//! `spin:sqlite@3.1.0`, which Spin SDK 7's WASI 0.3 components import): `variables`, the
//! component's Spin variables as its `config` resolved them (the values `wasi:config/store`
//! answers); `key-value`, the stores the component declares in its `key_value_stores`, one set
//! per app, shared by all its instances and components (a fresh instance per request sees what
//! the last one wrote), within a bound so that no app can take the host's memory, held in
//! memory and, where a front end gives them a [`StoreFile`] (the daemon), written there before
//! each change is answered; and `sqlite` ([`sqlite`]), the databases its `sqlite_databases`
//! declares.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use skiff_capabilities::wasi::DataInterfaces;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin-host",
        imports: {
            "fermyon:spin/redis": async,
            "fermyon:spin/postgres": async,
            "spin:postgres/postgres@3.0.0": async,
            "fermyon:spin/mysql": async,
        },
        with: {
            "fermyon:spin/key-value.store": super::OpenStore,
            "fermyon:spin/sqlite.connection": super::OpenDatabase,
            "fermyon:spin/redis.connection": super::redis::OpenRedis,
            "fermyon:spin/postgres.connection": super::postgres::OpenPostgres,
            "spin:postgres/postgres@3.0.0.connection": super::postgres::OpenPostgres,
            "fermyon:spin/mysql.connection": super::mysql::OpenMysql,
        },
    });
}

/// Spin SDK 7's interfaces: the same operations, async.
mod bindings3 {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin3-host",
        imports: {
            "spin:key-value/key-value.[method]store.get-keys": trappable,
            "spin:sqlite/sqlite.[method]connection.execute-async": trappable,
            "spin:postgres/postgres.[static]connection.open": async,
            "spin:postgres/postgres.[method]connection.query": async,
            "spin:postgres/postgres.[method]connection.execute": async,
            "spin:postgres/postgres.[method]connection.query-async": trappable,
            "spin:postgres/postgres.[method]connection-builder.build": async,
            "spin:postgres/postgres.[constructor]connection-builder": trappable,
            "spin:mysql/mysql.[method]connection.query": trappable,
        },
        with: {
            "spin:key-value/key-value.store": super::OpenStore,
            "spin:sqlite/sqlite.connection": super::OpenDatabase,
            "spin:redis/redis.connection": super::redis::OpenRedis,
            "spin:postgres/postgres.connection": super::postgres::OpenPostgres,
            "spin:postgres/postgres.connection-builder": super::postgres::PostgresBuilder,
            "spin:mysql/mysql.connection": super::mysql::OpenMysql,
        },
    });
}

/// A version's `llm`: every call told that no model runs here ([`no_models`]).
macro_rules! no_llm {
    ($llm:ident) => {
        impl $llm::Host for SpinView<'_> {
            fn infer(
                &mut self,
                model: String,
                _prompt: String,
                _params: Option<$llm::InferencingParams>,
            ) -> Result<$llm::InferencingResult, $llm::Error> {
                Err($llm::Error::RuntimeError(crate::spin::no_models(&model)))
            }

            fn generate_embeddings(
                &mut self,
                model: String,
                _text: Vec<String>,
            ) -> Result<$llm::EmbeddingsResult, $llm::Error> {
                Err($llm::Error::RuntimeError(crate::spin::no_models(&model)))
            }
        }
    };
}

/// The cases two versions of a type have alike, from one to the other.
macro_rules! same_cases {
    ($value:expr, $from:path => $to:path, [$($case:ident),*], [$($unit:ident),*]) => {{
        use $from as From;
        use $to as To;
        match $value {
            $(From::$case(x) => To::$case(x),)*
            $(From::$unit => To::$unit,)*
        }
    }};
}

pub(crate) mod inbound_http;
mod mysql;
mod pool;
mod postgres;
mod redis;
mod sqlite;
pub(crate) mod trigger;
pub(crate) mod v1;

/// Spin SDK 5's `sqlite3` and `pg4` modules, where WASI 0.3 is not linked.
mod bindings5 {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin5-host",
        imports: { "spin:postgres/postgres": async },
        with: {
            "spin:sqlite/sqlite.connection": super::OpenDatabase,
            "spin:postgres/postgres.connection": super::postgres::OpenPostgres,
        },
    });
}

pub(crate) use bindings::SpinHost;
use bindings::fermyon::spin2_0_0::{key_value, llm, redis as redis2, sqlite as sqlite2, variables};
pub(crate) use bindings3::Spin3Host;
use bindings3::spin::key_value::key_value as key_value3;
use bindings3::spin::redis::redis as redis3;
use bindings3::spin::sqlite3_1_0::sqlite as sqlite3;
use bindings3::spin::variables::variables as variables3;
pub(crate) use bindings5::Spin5Host;
use bindings5::spin::sqlite3_0_0::sqlite as sqlite30;
pub use mysql::MysqlPool;
pub use postgres::PostgresPool;
pub use sqlite::{MAX_DATABASE_BYTES, SqliteDatabases};
pub(crate) use v1::Spin1Host;
use v1::sqlite1;

/// What a guest that opens a connection while its instance holds as many handles as it may is
/// told (PostgreSQL's and MySQL's).
const TOO_MANY_HANDLES: &str = "the instance holds as many handles (connections, files, \
     sockets) as it may: drop the connections it no longer uses";

/// What all the stores of one app may hold together: keys and values, bytes.
pub const MAX_STORE_BYTES: usize = 64 << 20;

/// One app's Spin state, shared by all its instances and components: its key-value stores, its
/// SQLite databases and its idle PostgreSQL and MySQL connections.
#[derive(Debug, Default)]
pub struct SpinStores {
    pub key_value: KeyValueStores,
    pub sqlite: SqliteDatabases,
    pub postgres: Arc<PostgresPool>,
    pub mysql: Arc<MysqlPool>,
}

/// One app's Spin key-value stores, by label: shared by all its instances.
#[derive(Default)]
pub struct KeyValueStores {
    stores: Mutex<Stores>,
    file: Option<Box<dyn StoreFile>>,
}

impl std::fmt::Debug for KeyValueStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStores")
            .field("stores", &self.stores)
            .field("file", &self.file.is_some())
            .finish()
    }
}

/// Where an app's stores are kept besides memory: each change is written there (`value`
/// `None`: the key removed) before it is made in memory and answered. Blocking.
pub trait StoreFile: Send + Sync {
    fn put(&self, label: &str, key: &str, value: Option<&[u8]>) -> Result<(), String>;
}

#[derive(Debug, Default)]
struct Stores {
    by_label: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// What they hold, keys and values.
    bytes: usize,
}

impl KeyValueStores {
    /// Stores that start with `entries` (label, key, value) and write every change to `file`.
    pub fn backed_by(entries: Vec<(String, String, Vec<u8>)>, file: Box<dyn StoreFile>) -> Self {
        let mut stores = Stores::default();
        for (label, key, value) in entries {
            stores.bytes += key.len() + value.len();
            stores.by_label.entry(label).or_default().insert(key, value);
        }
        KeyValueStores {
            stores: Mutex::new(stores),
            file: Some(file),
        }
    }

    /// Runs `f` on the stores: off the async workers when a file backs them, since a change
    /// waits for the disk (and a reader for the change before it).
    fn with<R>(&self, f: impl FnOnce(&mut Stores, Option<&dyn StoreFile>) -> R) -> R {
        let run = || {
            let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut stores, self.file.as_deref())
        };
        match self.file {
            Some(_) => crate::off_worker(run),
            None => run(),
        }
    }
}

fn unsaved(e: String) -> key_value::Error {
    key_value::Error::Other(format!("the store could not be saved: {e}"))
}

/// A store an instance opened.
pub struct OpenStore {
    label: String,
}

/// A database an instance opened, and what its last statement left: SQLite keeps these per
/// connection, and the instances of an app share one.
pub struct OpenDatabase {
    label: String,
    last_insert_rowid: i64,
    changes: u64,
}

/// What Spin's interfaces see of an instance.
pub(crate) struct SpinView<'a> {
    pub(crate) data: &'a DataInterfaces,
    pub(crate) stores: &'a SpinStores,
    pub(crate) table: &'a mut ResourceTable,
    /// The instance's limits, which its SQL is held to.
    pub(crate) guard: &'a crate::limits::Guard,
    /// The app's network grants, which its Redis connections pass.
    pub(crate) egress: &'a crate::egress::Egress,
}

pub(crate) struct Spin;

impl HasData for Spin {
    type Data<'a> = SpinView<'a>;
}

impl variables::Host for SpinView<'_> {
    fn get(&mut self, name: String) -> Result<String, variables::Error> {
        // Spin's rule for a variable's name.
        let valid = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if !valid {
            return Err(variables::Error::InvalidName(format!(
                "`{name}`: a variable's name is lowercase letters, digits and `_`, starting \
                 with a letter"
            )));
        }
        self.data
            .variables
            .get(&name)
            .cloned()
            .ok_or_else(|| variables::Error::Undefined(format!("no variable `{name}`")))
    }
}

/// What a guest's call of Spin's LLM interface is told: Skiff runs no models (Spin answers a
/// component that lists no `ai_models` likewise, with an error naming the model).
fn no_models(model: &str) -> String {
    format!(
        "Skiff runs no AI models, so `{model}` cannot be used: Spin's LLM inference is not \
         provided (run the app with Spin and the model in its `ai_models` for inference)"
    )
}

no_llm!(llm);

impl key_value::Host for SpinView<'_> {}

impl SpinView<'_> {
    fn label(&self, store: &Resource<OpenStore>) -> Result<String, key_value::Error> {
        let open = self
            .table
            .get(store)
            .map_err(|e| key_value::Error::Other(e.to_string()))?;
        Ok(open.label.clone())
    }
}

impl key_value::HostStore for SpinView<'_> {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, key_value::Error> {
        if !self.data.spin_stores.contains(&label) {
            return Err(key_value::Error::AccessDenied);
        }
        self.table
            .push(OpenStore { label })
            .map_err(|_| key_value::Error::StoreTableFull)
    }

    fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        let label = self.label(&store)?;
        Ok(self.stores.key_value.with(|stores, _| {
            let entries = stores.by_label.get(&label);
            entries.and_then(|s| s.get(&key).cloned())
        }))
    }

    fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        let label = self.label(&store)?;
        self.stores.key_value.with(|stores, file| {
            let Stores { by_label, bytes } = stores;
            let entries = by_label.entry(label.clone()).or_default();
            let freed = entries.get(&key).map_or(0, |old| key.len() + old.len());
            let total = *bytes - freed + key.len() + value.len();
            if total > MAX_STORE_BYTES {
                return Err(key_value::Error::Other(format!(
                    "the app's key-value stores are full: they may hold {} MiB of keys and \
                     values together",
                    MAX_STORE_BYTES >> 20
                )));
            }
            if let Some(file) = file {
                file.put(&label, &key, Some(&value)).map_err(unsaved)?;
            }
            *bytes = total;
            entries.insert(key, value);
            Ok(())
        })
    }

    fn delete(&mut self, store: Resource<OpenStore>, key: String) -> Result<(), key_value::Error> {
        let label = self.label(&store)?;
        self.stores.key_value.with(|stores, file| {
            let Stores { by_label, bytes } = stores;
            let Some(entries) = by_label.get_mut(&label).filter(|s| s.contains_key(&key)) else {
                return Ok(());
            };
            if let Some(file) = file {
                file.put(&label, &key, None).map_err(unsaved)?;
            }
            if let Some(old) = entries.remove(&key) {
                *bytes -= key.len() + old.len();
            }
            Ok(())
        })
    }

    fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, key_value::Error> {
        let label = self.label(&store)?;
        Ok(self.stores.key_value.with(|stores, _| {
            let entries = stores.by_label.get(&label);
            entries.is_some_and(|s| s.contains_key(&key))
        }))
    }

    fn get_keys(&mut self, store: Resource<OpenStore>) -> Result<Vec<String>, key_value::Error> {
        let label = self.label(&store)?;
        Ok(self.stores.key_value.with(|stores, _| {
            let entries = stores.by_label.get(&label);
            entries
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default()
        }))
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

// Spin SDK 7's `spin:variables@3.0.0` and `spin:key-value@3.0.0`: each call is the 2.0.0 one
// (none of them waits on anything but the app's store file), its error in the 3.0.0 type.

impl From<variables::Error> for variables3::Error {
    fn from(error: variables::Error) -> Self {
        match error {
            variables::Error::InvalidName(m) => Self::InvalidName(m),
            variables::Error::Undefined(m) => Self::Undefined(m),
            variables::Error::Provider(m) => Self::Provider(m),
            variables::Error::Other(m) => Self::Other(m),
        }
    }
}

impl From<key_value::Error> for key_value3::Error {
    fn from(error: key_value::Error) -> Self {
        match error {
            key_value::Error::StoreTableFull => Self::StoreTableFull,
            key_value::Error::NoSuchStore => Self::NoSuchStore,
            key_value::Error::AccessDenied => Self::AccessDenied,
            key_value::Error::Other(m) => Self::Other(m),
        }
    }
}

impl variables3::Host for SpinView<'_> {}

impl<T> variables3::HostWithStore<T> for Spin {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, variables3::Error> {
        accessor
            .with(|mut access| variables::Host::get(&mut access.get(), name))
            .map_err(Into::into)
    }
}

impl key_value3::Host for SpinView<'_> {}

impl key_value3::HostStore for SpinView<'_> {
    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        key_value::HostStore::drop(self, store)
    }
}

impl<T> key_value3::HostStoreWithStore<T> for Spin {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> Result<Resource<OpenStore>, key_value3::Error> {
        accessor
            .with(|mut access| key_value::HostStore::open(&mut access.get(), label))
            .map_err(Into::into)
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value3::Error> {
        accessor
            .with(|mut access| key_value::HostStore::get(&mut access.get(), store, key))
            .map_err(Into::into)
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value3::Error> {
        accessor
            .with(|mut access| key_value::HostStore::set(&mut access.get(), store, key, value))
            .map_err(Into::into)
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<(), key_value3::Error> {
        accessor
            .with(|mut access| key_value::HostStore::delete(&mut access.get(), store, key))
            .map_err(Into::into)
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, key_value3::Error> {
        accessor
            .with(|mut access| key_value::HostStore::exists(&mut access.get(), store, key))
            .map_err(Into::into)
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), key_value3::Error>>,
    )> {
        accessor.with(|mut access| {
            let (keys, result) = match key_value::HostStore::get_keys(&mut access.get(), store) {
                Ok(keys) => (keys, Ok(())),
                Err(e) => (Vec::new(), Err(e.into())),
            };
            Ok((
                StreamReader::new(&mut access, keys)?,
                FutureReader::new(&mut access, async move { wasmtime::error::Ok(result) })?,
            ))
        })
    }
}

// Spin's SQLite: `fermyon:spin/sqlite@2.0.0`, `spin:sqlite@3.0.0` and `spin:sqlite@3.1.0`
// (whose async functions are the same calls; a statement never waits on anything but the app's
// database).

/// The conversions between Spin's `value`, `error` and `query-result` and SQLite's, for each
/// version of the interface.
macro_rules! sql_types {
    ($version:ident) => {
        impl From<$version::Value> for rusqlite::types::Value {
            fn from(value: $version::Value) -> Self {
                match value {
                    $version::Value::Integer(i) => Self::Integer(i),
                    $version::Value::Real(f) => Self::Real(f),
                    $version::Value::Text(s) => Self::Text(s),
                    $version::Value::Blob(b) => Self::Blob(b),
                    $version::Value::Null => Self::Null,
                }
            }
        }

        impl From<rusqlite::types::Value> for $version::Value {
            fn from(value: rusqlite::types::Value) -> Self {
                match value {
                    rusqlite::types::Value::Integer(i) => Self::Integer(i),
                    rusqlite::types::Value::Real(f) => Self::Real(f),
                    rusqlite::types::Value::Text(s) => Self::Text(s),
                    rusqlite::types::Value::Blob(b) => Self::Blob(b),
                    rusqlite::types::Value::Null => Self::Null,
                }
            }
        }

        impl From<sqlite::SqlError> for $version::Error {
            fn from(error: sqlite::SqlError) -> Self {
                match error {
                    sqlite::SqlError::AccessDenied => Self::AccessDenied,
                    sqlite::SqlError::DatabaseFull => Self::DatabaseFull,
                    sqlite::SqlError::Interrupted => Self::Io("interrupted".into()),
                    sqlite::SqlError::Io(message) => Self::Io(message),
                }
            }
        }

        impl From<sqlite::Outcome> for $version::QueryResult {
            fn from(outcome: sqlite::Outcome) -> Self {
                let rows = outcome.rows.into_iter().map(|values| $version::RowResult {
                    values: values.into_iter().map(Into::into).collect(),
                });
                Self {
                    columns: outcome.columns,
                    rows: rows.collect(),
                }
            }
        }
    };
}

/// A version's `connection`: `open`, `execute` and `drop`, and for 3.x `last-insert-rowid` and
/// `changes`.
macro_rules! sql_connection {
    ($version:ident $(, $last_insert_rowid:ident, $changes:ident)?) => {
        impl $version::Host for SpinView<'_> {}

        impl $version::HostConnection for SpinView<'_> {
            fn open(
                &mut self,
                database: String,
            ) -> Result<Resource<OpenDatabase>, $version::Error> {
                Ok(self.open_database(database)?)
            }

            fn execute(
                &mut self,
                connection: Resource<OpenDatabase>,
                statement: String,
                parameters: Vec<$version::Value>,
            ) -> Result<$version::QueryResult, $version::Error> {
                let parameters = parameters.into_iter().map(Into::into).collect();
                Ok(self.execute_on(&connection, statement, parameters)?.into())
            }

            $(
                fn $last_insert_rowid(&mut self, connection: Resource<OpenDatabase>) -> i64 {
                    self.connection(&connection).0
                }

                fn $changes(&mut self, connection: Resource<OpenDatabase>) -> u64 {
                    self.connection(&connection).1
                }
            )?

            fn drop(&mut self, connection: Resource<OpenDatabase>) -> wasmtime::Result<()> {
                self.table.delete(connection)?;
                Ok(())
            }
        }
    };
}

sql_types!(sqlite2);
sql_types!(sqlite30);
sql_types!(sqlite3);
sql_types!(sqlite1);
sql_connection!(sqlite2);
sql_connection!(sqlite30, last_insert_rowid, changes);
sql_connection!(sqlite3, last_insert_rowid, changes);

impl SpinView<'_> {
    fn open_database(&mut self, label: String) -> Result<Resource<OpenDatabase>, sqlite::SqlError> {
        if !self.data.spin_databases.contains(&label) {
            return Err(sqlite::SqlError::AccessDenied);
        }
        self.table
            .push(OpenDatabase {
                label,
                last_insert_rowid: 0,
                changes: 0,
            })
            .map_err(|e| sqlite::SqlError::Io(e.to_string()))
    }

    /// Runs one statement on the database `connection` opened, and keeps what it left.
    fn execute_on(
        &mut self,
        connection: &Resource<OpenDatabase>,
        statement: String,
        parameters: Vec<rusqlite::types::Value>,
    ) -> Result<sqlite::Outcome, sqlite::SqlError> {
        let label = self
            .table
            .get(connection)
            .map_err(|e| sqlite::SqlError::Io(e.to_string()))?
            .label
            .clone();
        let outcome =
            self.stores
                .sqlite
                .execute(&label, &statement, parameters, &self.guard.budget())?;
        if let Ok(open) = self.table.get_mut(connection) {
            open.last_insert_rowid = outcome.last_insert_rowid;
            open.changes = outcome.changes;
        }
        Ok(outcome)
    }

    /// What the connection's last statement left: its last inserted row id and changed rows.
    fn connection(&self, connection: &Resource<OpenDatabase>) -> (i64, u64) {
        self.table
            .get(connection)
            .map_or((0, 0), |open| (open.last_insert_rowid, open.changes))
    }
}

impl<T> sqlite3::HostConnectionWithStore<T> for Spin {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> Result<Resource<OpenDatabase>, sqlite3::Error> {
        accessor.with(|mut access| Ok(access.get().open_database(database)?))
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenDatabase>,
        statement: String,
        parameters: Vec<sqlite3::Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<sqlite3::RowResult>,
                FutureReader<Result<(), sqlite3::Error>>,
            ),
            sqlite3::Error,
        >,
    > {
        let parameters = parameters.into_iter().map(Into::into).collect();
        accessor.with(|mut access| {
            let outcome = match access.get().execute_on(&connection, statement, parameters) {
                Ok(outcome) => outcome,
                Err(e) => return Ok(Err(e.into())),
            };
            let result = sqlite3::QueryResult::from(outcome);
            Ok(Ok((
                result.columns,
                StreamReader::new(&mut access, result.rows)?,
                FutureReader::new(&mut access, async { wasmtime::error::Ok(Ok(())) })?,
            )))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenDatabase>,
    ) -> i64 {
        accessor.with(|mut access| access.get().connection(&connection).0)
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenDatabase>,
    ) -> u64 {
        accessor.with(|mut access| access.get().connection(&connection).1)
    }
}

// Spin's outbound Redis: `fermyon:spin/redis@2.0.0` and `spin:redis@3.0.0`, each call the same
// command on the guest's connection.

/// The conversions between Spin's Redis types and the client's, for each version.
macro_rules! redis_types {
    ($version:ident) => {
        impl From<redis::RedisError> for $version::Error {
            fn from(error: redis::RedisError) -> Self {
                match error {
                    redis::RedisError::InvalidAddress => Self::InvalidAddress,
                    redis::RedisError::TypeError => Self::TypeError,
                    redis::RedisError::Other(message) => Self::Other(message),
                }
            }
        }

        impl From<$version::RedisParameter> for redis::Argument {
            fn from(parameter: $version::RedisParameter) -> Self {
                match parameter {
                    $version::RedisParameter::Int64(i) => Self::Int(i),
                    $version::RedisParameter::Binary(bytes) => Self::Binary(bytes),
                }
            }
        }

        impl From<redis::Reply> for $version::RedisResult {
            fn from(reply: redis::Reply) -> Self {
                match reply {
                    redis::Reply::Nil => Self::Nil,
                    redis::Reply::Status(status) => Self::Status(status),
                    redis::Reply::Int(i) => Self::Int64(i),
                    redis::Reply::Binary(bytes) => Self::Binary(bytes),
                }
            }
        }
    };
}

redis_types!(redis2);
redis_types!(redis3);

impl SpinView<'_> {
    fn redis(
        &self,
        connection: &Resource<redis::OpenRedis>,
    ) -> Result<MultiplexedRedis, redis::RedisError> {
        let open = self
            .table
            .get(connection)
            .map_err(|e| redis::RedisError::Other(e.to_string()))?;
        Ok(open.handle())
    }
}

type MultiplexedRedis = ::redis::aio::MultiplexedConnection;

impl SpinView<'_> {
    /// Sends `command` on the guest's `connection` (2.0.0: the instance waits on its fiber).
    async fn send<R: ::redis::FromRedisValue>(
        &mut self,
        connection: &Resource<redis::OpenRedis>,
        command: ::redis::Cmd,
    ) -> Result<R, redis2::Error> {
        Ok(redis::query(self.redis(connection)?, command).await?)
    }
}

/// Sends `command` on the guest's `connection` (3.0.0: outside the instance, which goes on).
async fn send3<T, R: ::redis::FromRedisValue>(
    accessor: &Accessor<T, Spin>,
    connection: &Resource<redis::OpenRedis>,
    command: ::redis::Cmd,
) -> Result<R, redis3::Error> {
    let handle = accessor.with(|mut access| access.get().redis(connection))?;
    Ok(redis::query(handle, command).await?)
}

/// One command of Spin's Redis interface: its name, with the arguments `args` gives it.
fn redis_command(name: &str, args: impl FnOnce(&mut ::redis::Cmd)) -> ::redis::Cmd {
    let mut command = ::redis::cmd(name);
    args(&mut command);
    command
}

impl redis2::Host for SpinView<'_> {}

impl redis2::HostConnection for SpinView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<redis::OpenRedis>, redis2::Error> {
        let open = redis::open(&self.egress.connector(), &address).await?;
        self.table
            .push(open)
            .map_err(|_| redis2::Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), redis2::Error> {
        let command = redis_command("PUBLISH", |c| {
            c.arg(channel).arg(payload);
        });
        self.send(&connection, command).await
    }

    async fn get(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        key: String,
    ) -> Result<Option<Vec<u8>>, redis2::Error> {
        let command = redis_command("GET", |c| {
            c.arg(key);
        });
        self.send(&connection, command).await
    }

    async fn set(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), redis2::Error> {
        let command = redis_command("SET", |c| {
            c.arg(key).arg(value);
        });
        self.send(&connection, command).await
    }

    async fn incr(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        key: String,
    ) -> Result<i64, redis2::Error> {
        let command = redis_command("INCR", |c| {
            c.arg(key);
        });
        self.send(&connection, command).await
    }

    async fn del(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        keys: Vec<String>,
    ) -> Result<u32, redis2::Error> {
        let command = redis_command("DEL", |c| {
            c.arg(keys);
        });
        self.send(&connection, command).await
    }

    async fn sadd(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis2::Error> {
        let command = redis_command("SADD", |c| {
            c.arg(key).arg(values);
        });
        self.send(&connection, command).await
    }

    async fn smembers(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        key: String,
    ) -> Result<Vec<String>, redis2::Error> {
        let command = redis_command("SMEMBERS", |c| {
            c.arg(key);
        });
        self.send(&connection, command).await
    }

    async fn srem(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis2::Error> {
        let command = redis_command("SREM", |c| {
            c.arg(key).arg(values);
        });
        self.send(&connection, command).await
    }

    async fn execute(
        &mut self,
        connection: Resource<redis::OpenRedis>,
        command: String,
        arguments: Vec<redis2::RedisParameter>,
    ) -> Result<Vec<redis2::RedisResult>, redis2::Error> {
        let command = redis::command(&command, arguments.into_iter().map(Into::into).collect());
        let value = redis::query(self.redis(&connection)?, command).await?;
        let mut replies = Vec::new();
        redis::replies(value, &mut replies);
        Ok(replies.into_iter().map(Into::into).collect())
    }

    async fn drop(&mut self, connection: Resource<redis::OpenRedis>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl redis3::Host for SpinView<'_> {}

impl redis3::HostConnection for SpinView<'_> {
    fn drop(&mut self, connection: Resource<redis::OpenRedis>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// SDK 7's calls: the connection taken from the instance, the command sent outside it.
impl<T> redis3::HostConnectionWithStore<T> for Spin {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Result<Resource<redis::OpenRedis>, redis3::Error> {
        let connector = accessor.with(|mut access| access.get().egress.connector());
        let open = redis::open(&connector, &address).await?;
        accessor
            .with(|mut access| access.get().table.push(open))
            .map_err(|_| redis3::Error::TooManyConnections)
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), redis3::Error> {
        let command = redis_command("PUBLISH", |c| {
            c.arg(channel).arg(payload);
        });
        send3(accessor, &connection, command).await
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        key: String,
    ) -> Result<Option<Vec<u8>>, redis3::Error> {
        let command = redis_command("GET", |c| {
            c.arg(key);
        });
        send3(accessor, &connection, command).await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), redis3::Error> {
        let command = redis_command("SET", |c| {
            c.arg(key).arg(value);
        });
        send3(accessor, &connection, command).await
    }

    async fn incr(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        key: String,
    ) -> Result<i64, redis3::Error> {
        let command = redis_command("INCR", |c| {
            c.arg(key);
        });
        send3(accessor, &connection, command).await
    }

    async fn del(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        keys: Vec<String>,
    ) -> Result<u32, redis3::Error> {
        let command = redis_command("DEL", |c| {
            c.arg(keys);
        });
        send3(accessor, &connection, command).await
    }

    async fn sadd(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis3::Error> {
        let command = redis_command("SADD", |c| {
            c.arg(key).arg(values);
        });
        send3(accessor, &connection, command).await
    }

    async fn smembers(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        key: String,
    ) -> Result<Vec<String>, redis3::Error> {
        let command = redis_command("SMEMBERS", |c| {
            c.arg(key);
        });
        send3(accessor, &connection, command).await
    }

    async fn srem(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis3::Error> {
        let command = redis_command("SREM", |c| {
            c.arg(key).arg(values);
        });
        send3(accessor, &connection, command).await
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        connection: Resource<redis::OpenRedis>,
        command: String,
        arguments: Vec<redis3::RedisParameter>,
    ) -> Result<Vec<redis3::RedisResult>, redis3::Error> {
        let handle = accessor.with(|mut access| access.get().redis(&connection))?;
        let command = redis::command(&command, arguments.into_iter().map(Into::into).collect());
        let value = redis::query(handle, command).await?;
        let mut replies = Vec::new();
        redis::replies(value, &mut replies);
        Ok(replies.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::key_value::{Error, HostStore as _};
    use super::*;

    /// However much a guest writes, the app's stores hold at most `MAX_STORE_BYTES`; what is
    /// deleted or overwritten is given back.
    #[test]
    fn an_apps_stores_are_bounded() {
        let data = DataInterfaces {
            spin_stores: vec!["default".into()],
            ..Default::default()
        };
        let stores = SpinStores::default();
        let mut table = ResourceTable::new();
        let egress = crate::egress::Egress::default();
        let guard =
            crate::limits::Guard::new(&Default::default(), Default::default(), Default::default());
        let mut view = SpinView {
            data: &data,
            stores: &stores,
            table: &mut table,
            guard: &guard,
            egress: &egress,
        };
        assert!(matches!(
            view.open("other".into()),
            Err(Error::AccessDenied)
        ));
        let store = view.open("default".into()).unwrap();
        let rep = || Resource::<OpenStore>::new_borrow(store.rep());
        let mib = vec![7u8; 1 << 20];
        for i in 0..(MAX_STORE_BYTES >> 20) - 1 {
            view.set(rep(), format!("k{i}"), mib.clone()).unwrap();
        }
        let full = view.set(rep(), "one-more".into(), mib.clone());
        assert!(matches!(full, Err(Error::Other(m)) if m.contains("full")));
        // Overwriting a value takes only the difference; deleting gives it all back.
        view.set(rep(), "k0".into(), mib.clone()).unwrap();
        view.delete(rep(), "k0".into()).unwrap();
        view.set(rep(), "one-more".into(), mib.clone()).unwrap();
        assert_eq!(
            view.get_keys(rep()).unwrap().len(),
            (MAX_STORE_BYTES >> 20) - 1
        );
    }
}
