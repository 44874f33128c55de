//! Spin's outbound PostgreSQL: `fermyon:spin/postgres@2.0.0`, `spin:postgres@3.0.0` and
//! `spin:postgres@4.0.0` (the Spin SDKs up to 5.x: `pg`, `pg3`, `pg4`), and `spin:postgres@4.2.0`
//! (SDK 7's `pg`, on WASI 0.3: [`sdk7`]). A guest connects to a
//! server at an address (`postgres://USER:PASSWORD@HOST[:PORT]/DB?...` or
//! `host=... user=... dbname=...`) that its grants reach, as its outgoing HTTP does: a Spin
//! component's `allowed_outbound_hosts` (`postgres://HOST:PORT`) once the user applies them
//! (`--network image`), or `--network allow=HOST:PORT`; the name resolved once and every
//! address checked (`Connector`). TLS as the address's `sslmode` asks (`prefer` by default: TLS
//! where the server offers it), the server's certificate checked against webpki's roots for its
//! host name, as for a guest's HTTPS. An open connection is the instance's own until it drops it
//! or ends; then it goes back to its app's pool, reset ([`pool`]); every call waits on the
//! network asynchronously, so an instance that ends (its `--timeout`, a stop, a client gone)
//! ends it where it is.
//!
//! Values cross as Spin converts them (the same columns' types, the same values), decoded and
//! encoded here from PostgreSQL's binary format; NUMERIC at any precision, where Spin stops at
//! 28 digits. One query's rows may hold at most [`MAX_RESULT_BYTES`] in the host.

#![allow(
    clippy::result_large_err,
    reason = "the errors are spin:postgres@4.0.0's own, with the server's fields"
)]

use std::fmt::Write as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{StreamExt as _, pin_mut};
use tokio::net::TcpStream;
use tokio_postgres::config::Host;
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

pub(crate) use super::bindings5::spin::postgres4_0_0::postgres as v4;
use super::redis::Bounded;
use crate::egress::Connector;
use v4::{DbValue, ParameterValue};
use values::{Param, Raw, data_type, db_value};

mod host;
mod sdk7;
mod values;

/// An app's idle PostgreSQL connections.
pub type PostgresPool = super::pool::Pool<Connection>;

/// A connection an instance opened, or took from its app's pool: given back when it drops it.
pub type OpenPostgres = super::pool::Lease<Connection>;

/// How long a connection may take to be made (the address's `connect_timeout` when shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL's own port, where an address names none.
const DEFAULT_PORT: u16 = 5432;

/// What the rows of one query may hold together in the host before they reach the guest (the
/// same bound as SQLite's): a larger result is an error, so that one guest's `SELECT` cannot
/// take the daemon's memory from its other apps.
pub const MAX_RESULT_BYTES: usize = super::sqlite::MAX_RESULT_BYTES;

/// A connection's settings besides its address (`spin:postgres@4.2.0`'s `connection-builder`).
pub struct PostgresBuilder {
    address: String,
    options: Options,
}

/// What a connection is made with besides its address.
#[derive(Clone, Default, PartialEq)]
pub struct Options {
    /// Root authorities its server's certificate may be signed by, besides webpki's roots.
    ca_root: Option<CaRoot>,
}

/// A component's own root authorities (`set-ca-root`): the PEM it gave, which tells one apart
/// from another, and the TLS client that trusts them, made once when it is given.
#[derive(Clone)]
pub struct CaRoot {
    pem: String,
    tls: Arc<rustls::ClientConfig>,
}

impl PartialEq for CaRoot {
    fn eq(&self, other: &CaRoot) -> bool {
        self.pem == other.pem
    }
}

/// A connection to a server.
pub struct Connection {
    client: tokio_postgres::Client,
    /// The task that reads and writes the connection: ended with it.
    driver: tokio::task::JoinHandle<()>,
    /// Why the connection ended, where Skiff ended it (the client says only "connection
    /// closed").
    ended: Arc<OnceLock<String>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl super::pool::Pooled for Connection {
    type Options = Options;

    fn is_open(&self) -> bool {
        !self.client.is_closed() && self.ended.get().is_none() && !self.driver.is_finished()
    }

    /// Rolls back what its last instance left open and runs `DISCARD ALL`: pipelined, one
    /// round trip (`ROLLBACK` outside a transaction is only a warning).
    async fn reset(&self) -> bool {
        let (rollback, discard) = tokio::join!(
            self.client.batch_execute("ROLLBACK"),
            self.client.batch_execute("DISCARD ALL")
        );
        rollback.is_ok() && discard.is_ok()
    }
}

fn connection_failed(message: impl Into<String>) -> v4::Error {
    v4::Error::ConnectionFailed(message.into())
}

/// A connection to the server `address` names under the app's grants: one the same component
/// gave back to `pool` for the same address, else a new one to its hosts in order, the first
/// that answers.
pub(crate) async fn open(
    pool: &Arc<PostgresPool>,
    connector: &Connector,
    address: &str,
    options: &Options,
) -> Result<OpenPostgres, v4::Error> {
    let key = super::pool::Key {
        rule: connector.rule().clone(),
        address: address.to_string(),
        options: options.clone(),
    };
    let connection = match pool.take(&key).await {
        Some(connection) => connection,
        None => connect_to(connector, address, options).await?,
    };
    Ok(OpenPostgres::new(connection, pool, key))
}

async fn connect_to(
    connector: &Connector,
    address: &str,
    options: &Options,
) -> Result<Connection, v4::Error> {
    let tls = match &options.ca_root {
        None => crate::tls::client_config(),
        Some(ca_root) => ca_root.tls.clone(),
    };
    let config: tokio_postgres::Config = address.parse().map_err(|e| {
        connection_failed(format!(
            "not a PostgreSQL connection string (`postgres://USER@HOST:PORT/DB` or \
             `host=HOST user=USER dbname=DB`): {e}"
        ))
    })?;
    if !config.get_hostaddrs().is_empty() {
        return Err(connection_failed(
            "`hostaddr` is not supported: name the server in `host`, which the app's network \
             grants must reach",
        ));
    }
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return Err(connection_failed(
            "the address names no host: give `postgres://USER@HOST:PORT/DB` or `host=HOST`",
        ));
    }
    // `connect_timeout=0` is libpq's "no limit": Skiff's.
    let timeout = config
        .get_connect_timeout()
        .filter(|t| !t.is_zero())
        .map_or(CONNECT_TIMEOUT, |t| (*t).min(CONNECT_TIMEOUT));
    let ports = config.get_ports();
    let mut failures = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let Host::Tcp(name) = host else {
            failures.push(format!(
                "{host:?}: a Unix socket is not a network destination; name the server's host"
            ));
            continue;
        };
        // libpq's rule: a port per host, or one for all.
        let port = match ports {
            [] => DEFAULT_PORT,
            [port] => *port,
            ports => *ports.get(i).ok_or_else(|| {
                connection_failed("the address names a different number of hosts and ports")
            })?,
        };
        match connect(connector, &config, name, port, timeout, tls.clone()).await {
            Ok(open) => return Ok(open),
            Err(failure) => failures.push(failure),
        }
    }
    Err(connection_failed(failures.join("; ")))
}

async fn connect(
    connector: &Connector,
    config: &tokio_postgres::Config,
    host: &str,
    port: u16,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Connection, String> {
    let tcp = connector.connect("PostgreSQL", host, port, timeout).await?;
    // What the server may send for one request: a result's rows, the protocol's framing
    // besides, before any of it is counted against [`MAX_RESULT_BYTES`] (one row may be 1 GB).
    let tcp = Bounded::new(tcp, MAX_RESULT_BYTES + (1 << 20), "PostgreSQL");
    let ended = tcp.ended();
    let tls = Tls {
        host: host.to_string(),
        config: tls,
    };
    let (client, connection) = tokio::time::timeout(timeout, config.connect_raw(tcp, tls))
        .await
        .map_err(|_| format!("{host}:{port}: no answer within {timeout:?}"))?
        .map_err(|e| format!("{host}:{port}: {}", describe(&e)))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("a guest's PostgreSQL connection ended: {e}");
        }
    });
    Ok(Connection {
        client,
        driver,
        ended,
    })
}

impl Connection {
    /// A failed call, with why its connection ended where Skiff ended it.
    fn failed(&self, error: tokio_postgres::Error) -> v4::Error {
        match self.ended.get() {
            Some(why) if error.is_closed() => {
                v4::Error::QueryFailed(v4::QueryError::Text(format!("connection closed: {why}")))
            }
            _ => query_failed(error),
        }
    }

    /// Runs `statement` with `params` and gives its rows, at most [`MAX_RESULT_BYTES`] of them.
    pub(crate) async fn query(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<v4::RowSet, v4::Error> {
        let client = &self.client;
        let statement = client
            .prepare(statement)
            .await
            .map_err(|e| self.failed(e))?;
        let columns = statement
            .columns()
            .iter()
            .map(|column| v4::Column {
                name: column.name().to_string(),
                data_type: data_type(column.type_()),
            })
            .collect::<Vec<_>>();
        let params = params.into_iter().map(Param).collect::<Vec<_>>();
        let rows = client
            .query_raw(&statement, params.iter())
            .await
            .map_err(|e| self.failed(e))?;
        pin_mut!(rows);
        let mut set = Vec::new();
        let mut bytes = 0;
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| self.failed(e))?;
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let raw = row
                    .try_get::<_, Option<Raw>>(i)
                    .map_err(|e| v4::Error::ValueConversionFailed(e.to_string()))?;
                // Each value's own size counts too: a million rows of NULLs are not free.
                bytes += std::mem::size_of::<DbValue>();
                let value = match raw {
                    None => DbValue::DbNull,
                    Some(Raw(raw)) => {
                        bytes += raw.len();
                        db_value(column.type_(), raw).map_err(|e| {
                            v4::Error::ValueConversionFailed(format!(
                                "column `{}` ({}): {e}",
                                column.name(),
                                column.type_()
                            ))
                        })?
                    }
                };
                values.push(value);
            }
            if bytes > MAX_RESULT_BYTES {
                return Err(v4::Error::QueryFailed(v4::QueryError::Text(format!(
                    "the result is larger than {} MiB, the most one query may give; select \
                     fewer rows at a time (LIMIT and OFFSET)",
                    MAX_RESULT_BYTES >> 20
                ))));
            }
            set.push(values);
        }
        Ok(v4::RowSet { columns, rows: set })
    }

    /// Runs `statement` with `params` and gives how many rows it changed.
    pub(crate) async fn execute(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<u64, v4::Error> {
        let params = params.into_iter().map(Param).collect::<Vec<_>>();
        self.client
            .execute_raw(statement, params.iter())
            .await
            .map_err(|e| self.failed(e))
    }
}

/// An error of the client in words: the server's own where it said something, else the error
/// and its causes (the client's own text is only "db error", "error serializing parameter 0").
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.to_string();
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        let _ = write!(text, ": {error}");
        cause = error.source();
    }
    text
}

/// A failed statement, with what the server said of it where it said something.
fn query_failed(error: tokio_postgres::Error) -> v4::Error {
    let as_text = describe(&error);
    v4::Error::QueryFailed(match error.as_db_error() {
        None => v4::QueryError::Text(as_text),
        Some(db) => {
            let extras = [
                ("column", db.column()),
                ("constraint", db.constraint()),
                ("routine", db.routine()),
                ("hint", db.hint()),
                ("table", db.table()),
                ("datatype", db.datatype()),
                ("schema", db.schema()),
                ("where_", db.where_()),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_string(), value?.to_string())))
            .collect();
            v4::QueryError::DbError(v4::DbError {
                as_text,
                severity: db.severity().to_string(),
                code: db.code().code().to_string(),
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                extras,
            })
        }
    })
}

impl CaRoot {
    /// The root certificates of `pem` (`set-ca-root`), and a TLS client that trusts them
    /// besides webpki's roots.
    fn new(pem: String) -> Result<CaRoot, v4::Error> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                v4::Error::BadParameter(format!("the CA root certificate is not PEM: {e}"))
            })?;
        let mut roots = crate::tls::webpki_roots();
        let (usable, _) = roots.add_parsable_certificates(certificates);
        if usable == 0 {
            return Err(v4::Error::BadParameter(
                "the CA root holds no certificate rustls can use: give the text of a \
             `-----BEGIN CERTIFICATE-----` block"
                    .into(),
            ));
        }
        Ok(CaRoot {
            pem,
            tls: crate::tls::client_config_with(roots),
        })
    }
}

/// TLS for a connection whose address asks for it (`sslmode=prefer`, the default, or
/// `require`): rustls with `config`'s roots, the certificate checked for `host`.
struct Tls {
    host: String,
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnect<Server> for Tls {
    type Stream = crate::tls::Connection<Server>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send>>;

    fn connect(self, stream: Server) -> Self::Future {
        Box::pin(async move {
            let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
                io::Error::other(format!("`{}` is not a TLS server name: {e}", self.host))
            })?;
            let tls = tokio_rustls::TlsConnector::from(self.config);
            Ok(crate::tls::Connection(tls.connect(name, stream).await?))
        })
    }
}

/// The connection to a server: TCP, its replies bounded.
type Server = Bounded<TcpStream>;

impl tokio_postgres::tls::TlsStream for crate::tls::Connection<Server> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
