//! Spin's outbound MySQL: `fermyon:spin/mysql@2.0.0` (the Spin SDKs up to 5.x: `mysql`) and
//! `spin:mysql@3.0.0` (SDK 7's, async: a query's rows as a stream). A guest connects to a server
//! at an address (`mysql://USER:PASSWORD@HOST[:PORT]/DB?...`) that its grants reach, as its
//! PostgreSQL does: a Spin component's `allowed_outbound_hosts` (`mysql://HOST:PORT`) once the
//! user applies them (`--network image`), or `--network allow=HOST:PORT`. The name is resolved
//! once and every address checked (`Connector::addresses`); the client (mysql_async, Spin's)
//! then connects to exactly a checked address, and where the address asks for TLS
//! (`require_ssl=true`) it checks the server's certificate for the name the guest gave, against
//! webpki's roots. A connection is the instance's own until it drops it or ends; then it goes
//! back to its app's pool ([`super::pool`]), reset by the server (`COM_RESET_CONNECTION`: its
//! transaction rolled back, its session's variables, temporary tables, prepared statements and
//! locks gone). Every call waits on the network asynchronously.
//!
//! Values cross as Spin's documentation gives them: integers by their column's type and sign,
//! `FLOAT` and `DOUBLE`, text (`CHAR`, `VARCHAR`, `TEXT`, `ENUM`, `SET`, `JSON`) as strings and
//! binary strings (`BINARY`, `VARBINARY`, `BLOB`, `BIT`) as bytes; `DECIMAL`, dates and times as
//! the server writes them (`-1.50`, `2024-02-29`, `2024-02-29 12:00:01.500000`, `-838:59:59`);
//! a type with no case of its own (spatial types) is `unsupported`. One query's rows may hold at
//! most [`MAX_RESULT_BYTES`] in the host, and one packet of the server's at most a MiB more.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable as _;
use mysql_async::{Column, Params, Value};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use crate::egress::Connector;
use crate::spin::bindings::fermyon::spin2_0_0::mysql as mysql2;
pub(crate) use crate::spin::bindings::fermyon::spin2_0_0::rdbms_types as v2;
use crate::spin::bindings3::spin::mysql::mysql as v3;
use crate::spin::{Spin, SpinView};

/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the rows of one query may hold together in the host (as SQLite's and PostgreSQL's).
pub const MAX_RESULT_BYTES: usize = super::sqlite::MAX_RESULT_BYTES;

/// MySQL's character set number for binary strings.
const BINARY: u16 = 63;

/// A connection to a server; its calls one at a time.
pub struct Connection {
    conn: tokio::sync::Mutex<mysql_async::Conn>,
    /// A call of it failed other than with the server's error (the network, the protocol, a
    /// bound): it is never given back.
    broken: std::sync::atomic::AtomicBool,
}

impl Connection {
    /// `error`, as the guest gets it; the connection marked broken unless the server said it.
    fn failed(&self, error: mysql_async::Error) -> v2::Error {
        if !matches!(error, mysql_async::Error::Server(_)) {
            self.broken
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        v2::Error::QueryFailed(error.to_string())
    }
}

impl super::pool::Pooled for Connection {
    type Options = ();

    fn is_open(&self) -> bool {
        !self.broken.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn reset(&self) -> bool {
        // `false`: a server before MySQL 5.7.3 or MariaDB 10.2.4, which cannot reset one.
        matches!(self.conn.lock().await.reset().await, Ok(true))
    }
}

/// An app's idle MySQL connections.
pub type MysqlPool = super::pool::Pool<Connection>;

/// A connection an instance opened, or took from its app's pool: given back when it drops it.
pub type OpenMysql = super::pool::Lease<Connection>;

fn connection_failed(message: impl Into<String>) -> v2::Error {
    v2::Error::ConnectionFailed(message.into())
}

/// A connection to the server `address` names under the app's grants: one the same component
/// gave back to `pool` for the same address, else a new one to its addresses in order, the first
/// that answers.
pub(crate) async fn open(
    pool: &Arc<MysqlPool>,
    connector: &Connector,
    address: &str,
) -> Result<OpenMysql, v2::Error> {
    let key = super::pool::Key {
        rule: connector.rule().clone(),
        address: address.to_string(),
        options: (),
    };
    let connection = match pool.take(&key).await {
        Some(connection) => connection,
        None => connect(connector, address).await?,
    };
    Ok(OpenMysql::new(connection, pool, key))
}

async fn connect(connector: &Connector, address: &str) -> Result<Connection, v2::Error> {
    let opts = mysql_async::Opts::from_url(address).map_err(|e| {
        connection_failed(format!(
            "not a MySQL address (`mysql://USER:PASSWORD@HOST:PORT/DB`): {e}"
        ))
    })?;
    if opts.socket().is_some() {
        return Err(connection_failed(
            "a Unix socket is not a network destination: name the server's host",
        ));
    }
    let host = opts.ip_or_hostname().to_string();
    let port = opts.tcp_port();
    let addrs = connector
        .addresses("MySQL", &host, port, CONNECT_TIMEOUT)
        .await
        .map_err(connection_failed)?;
    let mut failures = Vec::new();
    for addr in addrs {
        let mut exact = mysql_async::OptsBuilder::from_opts(opts.clone())
            .ip_or_hostname(addr.ip().to_string())
            .tcp_port(addr.port())
            .prefer_socket(false)
            .socket(None::<String>)
            .max_allowed_packet(Some(MAX_RESULT_BYTES + (1 << 20)))
            // The address may ask for a larger cache of prepared statements, held in Skiff.
            .stmt_cache_size(
                opts.stmt_cache_size()
                    .min(mysql_async::DEFAULT_STMT_CACHE_SIZE),
            );
        if let Some(tls) = opts.ssl_opts() {
            // The certificate is checked for the name the guest gave, not the address.
            exact = exact.ssl_opts(
                tls.clone()
                    .with_danger_tls_hostname_override(Some(host.clone())),
            );
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(exact)).await {
            Ok(Ok(connection)) => {
                return Ok(Connection {
                    conn: tokio::sync::Mutex::new(connection),
                    broken: Default::default(),
                });
            }
            Ok(Err(e)) => failures.push(format!("{host}:{port} ({addr}): {e}")),
            Err(_) => failures.push(format!(
                "{host}:{port} ({addr}): no answer within {CONNECT_TIMEOUT:?}"
            )),
        }
    }
    Err(connection_failed(failures.join("; ")))
}

/// Runs `statement` with `params` on `connection` and gives its rows, at most
/// [`MAX_RESULT_BYTES`] of them.
pub(crate) async fn query(
    connection: &Connection,
    statement: &str,
    params: Vec<v2::ParameterValue>,
) -> Result<v2::RowSet, v2::Error> {
    let mut conn = connection.conn.lock().await;
    let mut result = conn
        .exec_iter(statement, positional(params))
        .await
        .map_err(|e| connection.failed(e))?;
    let columns = result.columns_ref().to_vec();
    let types = columns.iter().map(data_type).collect::<Vec<_>>();
    let mut rows = Vec::new();
    let mut bytes = 0;
    while let Some(row) = result.next().await.map_err(|e| connection.failed(e))? {
        let values = row
            .unwrap()
            .into_iter()
            .zip(columns.iter().zip(&types))
            .map(|(value, (column, ty))| {
                bytes += std::mem::size_of::<v2::DbValue>();
                if let Value::Bytes(raw) = &value {
                    bytes += raw.len();
                }
                db_value(column, *ty, value)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if bytes > MAX_RESULT_BYTES {
            // The rest of the result is still on its way: the connection is not given back.
            connection
                .broken
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(v2::Error::QueryFailed(format!(
                "the result is larger than {} MiB, the most one query may give; select fewer \
                 rows at a time (LIMIT and OFFSET)",
                MAX_RESULT_BYTES >> 20
            )));
        }
        rows.push(values);
    }
    drop(result);
    Ok(v2::RowSet {
        columns: columns
            .iter()
            .zip(types)
            .map(|(column, data_type)| v2::Column {
                name: column.name_str().into_owned(),
                data_type,
            })
            .collect(),
        rows,
    })
}

/// Runs `statement` with `params` on `connection`.
pub(crate) async fn execute(
    connection: &Connection,
    statement: &str,
    params: Vec<v2::ParameterValue>,
) -> Result<(), v2::Error> {
    let mut conn = connection.conn.lock().await;
    conn.exec_drop(statement, positional(params))
        .await
        .map_err(|e| connection.failed(e))
}

fn positional(params: Vec<v2::ParameterValue>) -> Params {
    use v2::ParameterValue as P;
    if params.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        params
            .into_iter()
            .map(|param| match param {
                P::Boolean(b) => Value::Int(b.into()),
                P::Int8(n) => Value::Int(n.into()),
                P::Int16(n) => Value::Int(n.into()),
                P::Int32(n) => Value::Int(n.into()),
                P::Int64(n) => Value::Int(n),
                P::Uint8(n) => Value::UInt(n.into()),
                P::Uint16(n) => Value::UInt(n.into()),
                P::Uint32(n) => Value::UInt(n.into()),
                P::Uint64(n) => Value::UInt(n),
                P::Floating32(f) => Value::Float(f),
                P::Floating64(f) => Value::Double(f),
                P::Str(s) => Value::Bytes(s.into_bytes()),
                P::Binary(b) => Value::Bytes(b),
                P::DbNull => Value::NULL,
            })
            .collect(),
    )
}

/// The type a column's values reach the guest as: integers by their type and sign, text and
/// binary strings by their character set, `DECIMAL`, dates and times as text.
fn data_type(column: &Column) -> v2::DbDataType {
    use ColumnType as T;
    use v2::DbDataType as D;
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let signed = |signed, unsigned_type| if unsigned { unsigned_type } else { signed };
    match column.column_type() {
        T::MYSQL_TYPE_TINY => signed(D::Int8, D::Uint8),
        T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_YEAR => signed(D::Int16, D::Uint16),
        T::MYSQL_TYPE_INT24 | T::MYSQL_TYPE_LONG => signed(D::Int32, D::Uint32),
        T::MYSQL_TYPE_LONGLONG => signed(D::Int64, D::Uint64),
        T::MYSQL_TYPE_FLOAT => D::Floating32,
        T::MYSQL_TYPE_DOUBLE => D::Floating64,
        T::MYSQL_TYPE_VARCHAR
        | T::MYSQL_TYPE_VAR_STRING
        | T::MYSQL_TYPE_STRING
        | T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_ENUM
        | T::MYSQL_TYPE_SET
        | T::MYSQL_TYPE_JSON => {
            if column.character_set() == BINARY {
                D::Binary
            } else {
                D::Str
            }
        }
        T::MYSQL_TYPE_DECIMAL
        | T::MYSQL_TYPE_NEWDECIMAL
        | T::MYSQL_TYPE_DATE
        | T::MYSQL_TYPE_NEWDATE
        | T::MYSQL_TYPE_TIME
        | T::MYSQL_TYPE_TIME2
        | T::MYSQL_TYPE_DATETIME
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIMESTAMP
        | T::MYSQL_TYPE_TIMESTAMP2 => D::Str,
        T::MYSQL_TYPE_BIT => D::Binary,
        _ => D::Other,
    }
}

/// A value of `column`, whose values reach the guest as `ty`.
fn db_value(column: &Column, ty: v2::DbDataType, value: Value) -> Result<v2::DbValue, v2::Error> {
    use v2::DbValue as V;
    let wrong = |what: &str| {
        v2::Error::ValueConversionFailed(format!(
            "column `{}` ({:?}): {what}",
            column.name_str(),
            column.column_type()
        ))
    };
    let out_of_range = || wrong("a value out of its type's range");
    Ok(match (value, ty) {
        (Value::NULL, _) => V::DbNull,
        (_, v2::DbDataType::Other) => V::Unsupported,
        // The client gives a small unsigned column's values as signed, a large one's as
        // unsigned: the column's type decides.
        (Value::Int(n), ty) => integer(n.into(), ty).ok_or_else(out_of_range)?,
        (Value::UInt(n), ty) => integer(n.into(), ty).ok_or_else(out_of_range)?,
        (Value::Float(f), _) => V::Floating32(f),
        (Value::Double(f), _) => V::Floating64(f),
        (Value::Bytes(raw), v2::DbDataType::Binary) => V::Binary(raw),
        (Value::Bytes(raw), _) => V::Str(String::from_utf8(raw).map_err(|_| {
            wrong("text that is not UTF-8: select it as bytes (`CAST(... AS BINARY)`)")
        })?),
        (Value::Date(year, month, day, hour, minute, second, micros), _) => {
            let date = format!("{year:04}-{month:02}-{day:02}");
            V::Str(match column.column_type() {
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => date,
                _ if micros == 0 => format!("{date} {hour:02}:{minute:02}:{second:02}"),
                _ => format!("{date} {hour:02}:{minute:02}:{second:02}.{micros:06}"),
            })
        }
        (Value::Time(negative, days, hours, minutes, seconds, micros), _) => {
            let sign = if negative { "-" } else { "" };
            let hours = u64::from(days) * 24 + u64::from(hours);
            V::Str(if micros == 0 {
                format!("{sign}{hours:02}:{minutes:02}:{seconds:02}")
            } else {
                format!("{sign}{hours:02}:{minutes:02}:{seconds:02}.{micros:06}")
            })
        }
    })
}

/// An integer as a column of type `ty` holds it, if it fits.
fn integer(n: i128, ty: v2::DbDataType) -> Option<v2::DbValue> {
    use v2::DbDataType as D;
    use v2::DbValue as V;
    Some(match ty {
        D::Int8 => V::Int8(n.try_into().ok()?),
        D::Int16 => V::Int16(n.try_into().ok()?),
        D::Int32 => V::Int32(n.try_into().ok()?),
        D::Uint8 => V::Uint8(n.try_into().ok()?),
        D::Uint16 => V::Uint16(n.try_into().ok()?),
        D::Uint32 => V::Uint32(n.try_into().ok()?),
        D::Uint64 => V::Uint64(n.try_into().ok()?),
        _ => V::Int64(n.try_into().ok()?),
    })
}

// The guest's calls: 2.0.0's as they are, 3.0.0's (SDK 7) async, with 2.0.0's values case for
// case.

impl SpinView<'_> {
    fn push_mysql(&mut self, open: OpenMysql) -> Result<Resource<OpenMysql>, v2::Error> {
        self.table
            .push(open)
            .map_err(|_| v2::Error::Other(crate::spin::TOO_MANY_HANDLES.into()))
    }

    fn mysql(&self, connection: &Resource<OpenMysql>) -> Result<Arc<Connection>, v2::Error> {
        self.table
            .get(connection)
            .map(|open| Arc::clone(open))
            .map_err(|e| v2::Error::Other(e.to_string()))
    }

    fn mysql_opener(&self) -> (Arc<MysqlPool>, Connector) {
        (self.stores.mysql.clone(), self.egress.connector())
    }
}

impl mysql2::Host for SpinView<'_> {}

impl mysql2::HostConnection for SpinView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<OpenMysql>, v2::Error> {
        let (pool, connector) = self.mysql_opener();
        let open = open(&pool, &connector, &address).await?;
        self.push_mysql(open)
    }

    async fn query(
        &mut self,
        connection: Resource<OpenMysql>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> Result<v2::RowSet, v2::Error> {
        query(&*self.mysql(&connection)?, &statement, params).await
    }

    async fn execute(
        &mut self,
        connection: Resource<OpenMysql>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> Result<(), v2::Error> {
        execute(&*self.mysql(&connection)?, &statement, params).await
    }

    async fn drop(&mut self, connection: Resource<OpenMysql>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl v3::Host for SpinView<'_> {}

impl v3::HostConnection for SpinView<'_> {
    fn drop(&mut self, connection: Resource<OpenMysql>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl<T> v3::HostConnectionWithStore<T> for Spin {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Result<Resource<OpenMysql>, v3::Error> {
        let (pool, connector) = accessor.with(|mut access| access.get().mysql_opener());
        let open = open(&pool, &connector, &address).await.map_err(error3)?;
        accessor
            .with(|mut access| access.get().push_mysql(open))
            .map_err(error3)
    }

    async fn query(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenMysql>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<v3::Column>,
                StreamReader<Vec<v3::DbValue>>,
                FutureReader<Result<(), v3::Error>>,
            ),
            v3::Error,
        >,
    > {
        let set = async {
            let connection = accessor.with(|mut access| access.get().mysql(&connection))?;
            let params = params.into_iter().map(param3).collect();
            query(&connection, &statement, params).await
        };
        // The rows are read whole (bounded) and then streamed.
        let set = match set.await {
            Ok(set) => set,
            Err(e) => return Ok(Err(error3(e))),
        };
        let columns = set
            .columns
            .into_iter()
            .map(|c| v3::Column {
                name: c.name,
                data_type: data_type3(c.data_type),
            })
            .collect();
        let rows: Vec<Vec<v3::DbValue>> = set
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value3).collect())
            .collect();
        accessor.with(|mut access| {
            Ok(Ok((
                columns,
                StreamReader::new(&mut access, rows)?,
                FutureReader::new(&mut access, async { wasmtime::error::Ok(Ok(())) })?,
            )))
        })
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenMysql>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> Result<(), v3::Error> {
        let connection = accessor
            .with(|mut access| access.get().mysql(&connection))
            .map_err(error3)?;
        let params = params.into_iter().map(param3).collect();
        execute(&connection, &statement, params)
            .await
            .map_err(error3)
    }
}

fn param3(value: v3::ParameterValue) -> v2::ParameterValue {
    same_cases!(value, v3::ParameterValue => v2::ParameterValue,
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
         Floating64, Str, Binary],
        [DbNull])
}

fn value3(value: v2::DbValue) -> v3::DbValue {
    same_cases!(value, v2::DbValue => v3::DbValue,
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
         Floating64, Str, Binary],
        [DbNull, Unsupported])
}

fn data_type3(ty: v2::DbDataType) -> v3::DbDataType {
    same_cases!(ty, v2::DbDataType => v3::DbDataType, [],
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
         Floating64, Str, Binary, Other])
}

fn error3(error: v2::Error) -> v3::Error {
    same_cases!(error, v2::Error => v3::Error,
        [ConnectionFailed, BadParameter, QueryFailed, ValueConversionFailed, Other], [])
}
