//! Spin's outbound Redis: `fermyon:spin/redis@2.0.0` (the Spin SDKs up to 5.x) and
//! `spin:redis@3.0.0` (Spin SDK 7). A guest connects to a Redis server at an address
//! (`redis://[USER:PASSWORD@]HOST[:PORT][/DB]`) that its grants reach, as its outgoing HTTP does:
//! a Spin component's `allowed_outbound_hosts` (`redis://HOST:PORT`) once the user applies them
//! (`--network image`), or `--network allow=HOST:PORT`; the name resolved once and every address
//! checked (`Connector`). Each open connection is the guest's own, closed when it drops it or its
//! instance ends; every call waits on the network asynchronously, so an instance that ends (its
//! `--timeout`, a stop, a client gone) ends it where it is.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo as _, Value};

use crate::egress::Connector;

/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection a guest opened.
pub struct OpenRedis {
    connection: MultiplexedConnection,
    /// The task that reads the server's replies: ended with the connection.
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for OpenRedis {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl OpenRedis {
    /// The connection, to send commands on (a handle: they share one socket).
    pub(crate) fn handle(&self) -> MultiplexedConnection {
        self.connection.clone()
    }
}

/// Why a call failed, in the terms of Spin's `error`.
#[derive(Debug)]
pub(crate) enum RedisError {
    InvalidAddress,
    TypeError,
    Other(String),
}

impl From<redis::RedisError> for RedisError {
    fn from(error: redis::RedisError) -> Self {
        match error.kind() {
            redis::ErrorKind::UnexpectedReturnType => RedisError::TypeError,
            _ => RedisError::Other(error.to_string()),
        }
    }
}

/// Connects to `address` under the app's grants.
pub(crate) async fn open(connector: &Connector, address: &str) -> Result<OpenRedis, RedisError> {
    let info = address
        .into_connection_info()
        .map_err(|_| RedisError::InvalidAddress)?;
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        // `rediss://` (TLS) and Unix sockets: not a destination a network grant names.
        return Err(RedisError::InvalidAddress);
    };
    let stream = connector
        .connect("Redis", host, *port, CONNECT_TIMEOUT)
        .await
        .map_err(RedisError::Other)?;
    let config = redis::AsyncConnectionConfig::default();
    let (connection, driver) =
        MultiplexedConnection::new_with_config(info.redis_settings(), stream, config).await?;
    Ok(OpenRedis {
        connection,
        driver: tokio::spawn(driver),
    })
}

/// Sends `command` and reads its reply as `T`.
pub(crate) async fn query<T: redis::FromRedisValue>(
    mut connection: MultiplexedConnection,
    command: redis::Cmd,
) -> Result<T, RedisError> {
    Ok(command.query_async(&mut connection).await?)
}

/// `command` with its arguments, as `execute` sends it.
pub(crate) fn command(name: &str, arguments: Vec<Argument>) -> redis::Cmd {
    let mut command = redis::cmd(name);
    for argument in arguments {
        match argument {
            Argument::Int(i) => command.arg(i),
            Argument::Binary(bytes) => command.arg(bytes),
        };
    }
    command
}

/// An argument of `execute`.
pub(crate) enum Argument {
    Int(i64),
    Binary(Vec<u8>),
}

/// A reply of `execute`, flattened as Spin flattens it: an array's (or a set's, or a map's)
/// elements in order.
pub(crate) enum Reply {
    Nil,
    Status(String),
    Int(i64),
    Binary(Vec<u8>),
}

pub(crate) fn replies(value: Value, into: &mut Vec<Reply>) {
    match value {
        Value::Nil => into.push(Reply::Nil),
        Value::Int(i) => into.push(Reply::Int(i)),
        Value::BulkString(bytes) => into.push(Reply::Binary(bytes)),
        Value::SimpleString(status) => into.push(Reply::Status(status)),
        Value::Okay => into.push(Reply::Status("OK".into())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                replies(value, into);
            }
        }
        Value::Map(pairs) => {
            for (key, value) in pairs {
                replies(key, into);
                replies(value, into);
            }
        }
        Value::Attribute { data, .. } => replies(*data, into),
        Value::Double(f) => into.push(Reply::Binary(f.to_string().into_bytes())),
        Value::Boolean(b) => into.push(Reply::Int(i64::from(b))),
        other => into.push(Reply::Binary(format!("{other:?}").into_bytes())),
    }
}
