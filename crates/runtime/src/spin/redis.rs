//! Spin's outbound Redis: `fermyon:spin/redis@2.0.0` (the Spin SDKs up to 5.x) and
//! `spin:redis@3.0.0` (Spin SDK 7). A guest connects to a Redis server at an address
//! (`redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, or over TLS `rediss://...`) that its grants
//! reach, as its outgoing HTTP does:
//! a Spin component's `allowed_outbound_hosts` (`redis://HOST:PORT`) once the user applies them
//! (`--network image`), or `--network allow=HOST:PORT`; the name resolved once and every address
//! checked (`Connector`). Each open connection is the guest's own, closed when it drops it or its
//! instance ends; every call waits on the network asynchronously, so an instance that ends (its
//! `--timeout`, a stop, a client gone) ends it where it is.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo as _, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::egress::Connector;

/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a server may send in answer to one command (a Redis value may be 512 MiB): what
/// the host holds before the guest's memory limit applies, so one guest's `GET` cannot take the
/// daemon's memory from its other apps.
const MAX_REPLY_BYTES: usize = 64 << 20;

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

/// A Redis server's address (`redis://` or, over TLS, `rediss://`): what to connect to and how
/// to log in.
pub(crate) struct Server {
    pub(crate) info: redis::ConnectionInfo,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

impl Server {
    /// `address` read as a Redis URL; the reason when it is not one Skiff connects to.
    pub(crate) fn parse(address: &str) -> Result<Server, String> {
        // The `redis` crate is built without TLS: Skiff makes the TLS connection itself (its
        // rustls and roots, as for a guest's HTTPS), so a `rediss://` URL is read as `redis://`.
        let (plain, tls) = match address.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("rediss") => {
                if rest.contains('#') {
                    return Err("`#insecure` (no certificate check) is not supported".into());
                }
                (format!("redis://{rest}"), true)
            }
            _ => (address.to_string(), false),
        };
        let info = plain.into_connection_info().map_err(|e| e.to_string())?;
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            // Unix sockets: not a destination a network grant names.
            return Err("not `redis://HOST[:PORT]` or `rediss://HOST[:PORT]`".into());
        };
        Ok(Server {
            info,
            host,
            port,
            tls,
        })
    }

    /// A connection to it under the app's grants (`what` names it in a denial), over TLS for
    /// `rediss://`, the server's certificate checked against webpki's roots for its host name.
    pub(crate) async fn connect(
        &self,
        connector: &Connector,
        what: &str,
    ) -> Result<Box<dyn Stream>, String> {
        let tcp = connector
            .connect(what, &self.host, self.port, CONNECT_TIMEOUT)
            .await?;
        if !self.tls {
            return Ok(Box::new(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| format!("`{}` is not a TLS server name: {e}", self.host))?;
        let tls = tokio_rustls::TlsConnector::from(crate::tls::client_config());
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| {
                format!(
                    "{}:{}: no TLS handshake within {CONNECT_TIMEOUT:?}",
                    self.host, self.port
                )
            })?
            .map_err(|e| format!("{}:{}: TLS: {e}", self.host, self.port))?;
        Ok(Box::new(stream))
    }
}

/// A connection to a Redis server, plain or TLS.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// Connects to `address` under the app's grants.
pub(crate) async fn open(connector: &Connector, address: &str) -> Result<OpenRedis, RedisError> {
    let server = Server::parse(address).map_err(|_| RedisError::InvalidAddress)?;
    let stream = server
        .connect(connector, "Redis")
        .await
        .map_err(RedisError::Other)?;
    let info = server.info;
    let config = redis::AsyncConnectionConfig::default();
    let stream = Bounded::new(stream, MAX_REPLY_BYTES, "Redis");
    let (connection, driver) =
        MultiplexedConnection::new_with_config(info.redis_settings(), stream, config).await?;
    Ok(OpenRedis {
        connection,
        driver: tokio::spawn(driver),
    })
}

/// A connection on which the server may send at most `limit` bytes after each of the client's
/// writes: a larger reply ends the connection (the guest's call gets the error). `what` names
/// the server in it. Also bounds a guest's PostgreSQL results.
pub(super) struct Bounded<S> {
    inner: S,
    limit: usize,
    read_since_write: usize,
    what: &'static str,
    /// Why it ended, once it has: for a client that reports only that it did.
    ended: Arc<OnceLock<String>>,
}

impl<S> Bounded<S> {
    pub(super) fn new(inner: S, limit: usize, what: &'static str) -> Self {
        Bounded {
            inner,
            limit,
            read_since_write: 0,
            what,
            ended: Arc::default(),
        }
    }

    /// Where why the connection ended is written when the bound ends it.
    pub(super) fn ended(&self) -> Arc<OnceLock<String>> {
        self.ended.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read_since_write += buf.filled().len() - before;
        if self.read_since_write > self.limit {
            let why = format!(
                "the {} server's reply is larger than {} MiB, the most a guest may read at once",
                self.what,
                self.limit >> 20
            );
            let _ = self.ended.set(why.clone());
            return Poll::Ready(Err(io::Error::other(why)));
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            self.read_since_write = 0;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A reply larger than the bound ends the connection; one within it, after each command,
    /// does not.
    #[tokio::test]
    async fn a_reply_is_bounded() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut client = Bounded::new(client, 1000, "Redis");
        let serve = tokio::spawn(async move {
            let mut command = [0u8; 4];
            for reply in [900, 900, 1500] {
                server.read_exact(&mut command).await.unwrap();
                server.write_all(&vec![b'x'; reply]).await.unwrap();
            }
        });
        let mut reply = vec![0u8; 900];
        for _ in 0..2 {
            client.write_all(b"GET\n").await.unwrap();
            client.read_exact(&mut reply).await.unwrap();
        }
        client.write_all(b"GET\n").await.unwrap();
        let mut big = vec![0u8; 1500];
        let error = client.read_exact(&mut big).await.unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
        serve.await.unwrap();
    }
}
