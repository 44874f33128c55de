//! Spin 1's platform: the unversioned `fermyon:spin` interfaces that the modules of Spin's Go SDK
//! v2 and of Spin 1's SDKs import (made components by [`module`]). Each call is the 2.0.0 one of
//! the same operation, under the same grants and bounds: `config` is the component's Spin
//! variables; `llm` answers as 2.0.0's (no models); `key-value` and `sqlite` the app's stores and databases, by a `u32` handle where
//! 2.0.0 has a resource; `redis`, `postgres` and `mysql` name the server's address in every call
//! (a connection each call, PostgreSQL's and MySQL's from the app's pool); and `http` sends a
//! whole request through the app's network grants, as its `wasi:http` requests go.

pub(crate) mod module;

use http_body_util::BodyExt as _;
use wasmtime::component::Resource;
use wasmtime_wasi_http::WasiHttpHooks as _;

use super::bindings::fermyon::spin2_0_0::{
    key_value as key_value2, mysql as mysql2, postgres as pg2, rdbms_types as rdbms2, variables,
};
use super::{OpenDatabase, OpenStore, SpinView, redis as client};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin1-host",
        imports: {
            "fermyon:spin/http": async,
            "fermyon:spin/redis": async,
            "fermyon:spin/postgres": async,
            "fermyon:spin/mysql": async,
        },
        // The trigger's types, generated once.
        with: {
            "fermyon:spin/http-types": crate::spin::inbound_http::types,
            "fermyon:spin/redis-types": crate::spin::trigger::redis_types,
        },
    });
}

use crate::spin::inbound_http::types as http_types;
use crate::spin::trigger::redis_types;
pub(crate) use bindings::Spin1Host;
pub(super) use bindings::fermyon::spin::sqlite as sqlite1;
use bindings::fermyon::spin::{
    config, http, key_value, llm, mysql, postgres, rdbms_types as rdbms, redis, sqlite,
};

/// The most bytes of a response's body `http.send-request` reads for the guest (whole, as Spin
/// 1's interface gives it).
const MAX_RESPONSE_BYTES: usize = 128 << 20;

impl config::Host for SpinView<'_> {
    fn get_config(&mut self, key: String) -> Result<String, config::Error> {
        variables::Host::get(self, key).map_err(|e| match e {
            variables::Error::InvalidName(m) => config::Error::InvalidKey(m),
            variables::Error::Undefined(m) | variables::Error::Provider(m) => {
                config::Error::Provider(m)
            }
            variables::Error::Other(m) => config::Error::Other(m),
        })
    }
}

no_llm!(llm);

// Key-value stores and SQLite databases: a handle is the rep of the 2.0.0 resource in the
// instance's table (whose type the table checks on every use).

fn borrowed<T: 'static>(handle: u32) -> Resource<T> {
    Resource::new_borrow(handle)
}

impl From<key_value2::Error> for key_value::Error {
    fn from(error: key_value2::Error) -> Self {
        match error {
            key_value2::Error::StoreTableFull => Self::StoreTableFull,
            key_value2::Error::NoSuchStore => Self::NoSuchStore,
            key_value2::Error::AccessDenied => Self::AccessDenied,
            key_value2::Error::Other(m) => Self::Io(m),
        }
    }
}

impl SpinView<'_> {
    fn store(&self, handle: u32) -> Result<Resource<OpenStore>, key_value::Error> {
        let store = borrowed(handle);
        match self.table.get(&store) {
            Ok(_) => Ok(store),
            Err(_) => Err(key_value::Error::InvalidStore),
        }
    }
}

impl key_value::Host for SpinView<'_> {
    fn open(&mut self, name: String) -> Result<u32, key_value::Error> {
        Ok(key_value2::HostStore::open(self, name)?.rep())
    }

    fn get(&mut self, store: u32, key: String) -> Result<Vec<u8>, key_value::Error> {
        let store = self.store(store)?;
        key_value2::HostStore::get(self, store, key)?.ok_or(key_value::Error::NoSuchKey)
    }

    fn set(&mut self, store: u32, key: String, value: Vec<u8>) -> Result<(), key_value::Error> {
        let store = self.store(store)?;
        Ok(key_value2::HostStore::set(self, store, key, value)?)
    }

    fn delete(&mut self, store: u32, key: String) -> Result<(), key_value::Error> {
        let store = self.store(store)?;
        Ok(key_value2::HostStore::delete(self, store, key)?)
    }

    fn exists(&mut self, store: u32, key: String) -> Result<bool, key_value::Error> {
        let store = self.store(store)?;
        Ok(key_value2::HostStore::exists(self, store, key)?)
    }

    fn get_keys(&mut self, store: u32) -> Result<Vec<String>, key_value::Error> {
        let store = self.store(store)?;
        Ok(key_value2::HostStore::get_keys(self, store)?)
    }

    fn close(&mut self, store: u32) {
        if self.store(store).is_ok() {
            let _ = self.table.delete(Resource::<OpenStore>::new_own(store));
        }
    }
}

impl SpinView<'_> {
    fn database(&self, handle: u32) -> Result<Resource<OpenDatabase>, sqlite::Error> {
        let database = borrowed(handle);
        match self.table.get(&database) {
            Ok(_) => Ok(database),
            Err(_) => Err(sqlite::Error::InvalidConnection),
        }
    }
}

impl sqlite::Host for SpinView<'_> {
    fn open(&mut self, database: String) -> Result<u32, sqlite::Error> {
        Ok(self.open_database(database)?.rep())
    }

    fn execute(
        &mut self,
        connection: u32,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> Result<sqlite::QueryResult, sqlite::Error> {
        let database = self.database(connection)?;
        let parameters = parameters.into_iter().map(Into::into).collect();
        Ok(self.execute_on(&database, statement, parameters)?.into())
    }

    fn close(&mut self, connection: u32) {
        if self.database(connection).is_ok() {
            let _ = self
                .table
                .delete(Resource::<OpenDatabase>::new_own(connection));
        }
    }
}

// Redis: the server's address in every call, a connection each.

impl SpinView<'_> {
    async fn redis1<R: ::redis::FromRedisValue>(
        &mut self,
        address: &str,
        command: ::redis::Cmd,
    ) -> Result<R, redis_types::Error> {
        // Spin 1's error has no text: the app's log says why (not the address, which may hold
        // a password).
        let failed = |e: client::RedisError| {
            self.egress.warn(&format!(
                "a Spin 1 Redis call failed (the guest is told only `error`): {e:?}"
            ));
            redis_types::Error::Error
        };
        let open = client::open(&self.egress.connector(), address)
            .await
            .map_err(failed)?;
        client::query(open.handle(), command).await.map_err(failed)
    }
}

impl redis_types::Host for SpinView<'_> {}

impl redis::Host for SpinView<'_> {
    async fn publish(
        &mut self,
        address: String,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), redis_types::Error> {
        let command = super::redis_command("PUBLISH", |c| {
            c.arg(channel).arg(payload);
        });
        self.redis1(&address, command).await
    }

    async fn get(&mut self, address: String, key: String) -> Result<Vec<u8>, redis_types::Error> {
        let command = super::redis_command("GET", |c| {
            c.arg(key);
        });
        let value: Option<Vec<u8>> = self.redis1(&address, command).await?;
        Ok(value.unwrap_or_default())
    }

    async fn set(
        &mut self,
        address: String,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), redis_types::Error> {
        let command = super::redis_command("SET", |c| {
            c.arg(key).arg(value);
        });
        self.redis1(&address, command).await
    }

    async fn incr(&mut self, address: String, key: String) -> Result<i64, redis_types::Error> {
        let command = super::redis_command("INCR", |c| {
            c.arg(key);
        });
        self.redis1(&address, command).await
    }

    async fn del(&mut self, address: String, keys: Vec<String>) -> Result<i64, redis_types::Error> {
        let command = super::redis_command("DEL", |c| {
            c.arg(keys);
        });
        self.redis1(&address, command).await
    }

    async fn sadd(
        &mut self,
        address: String,
        key: String,
        values: Vec<String>,
    ) -> Result<i64, redis_types::Error> {
        let command = super::redis_command("SADD", |c| {
            c.arg(key).arg(values);
        });
        self.redis1(&address, command).await
    }

    async fn smembers(
        &mut self,
        address: String,
        key: String,
    ) -> Result<Vec<String>, redis_types::Error> {
        let command = super::redis_command("SMEMBERS", |c| {
            c.arg(key);
        });
        self.redis1(&address, command).await
    }

    async fn srem(
        &mut self,
        address: String,
        key: String,
        values: Vec<String>,
    ) -> Result<i64, redis_types::Error> {
        let command = super::redis_command("SREM", |c| {
            c.arg(key).arg(values);
        });
        self.redis1(&address, command).await
    }

    async fn execute(
        &mut self,
        address: String,
        command: String,
        arguments: Vec<redis_types::RedisParameter>,
    ) -> Result<Vec<redis_types::RedisResult>, redis_types::Error> {
        let arguments = arguments
            .into_iter()
            .map(|a| match a {
                redis_types::RedisParameter::Int64(i) => client::Argument::Int(i),
                redis_types::RedisParameter::Binary(b) => client::Argument::Binary(b),
            })
            .collect();
        let value = self
            .redis1(&address, client::command(&command, arguments))
            .await?;
        let mut replies = Vec::new();
        client::replies(value, &mut replies);
        Ok(replies
            .into_iter()
            .map(|reply| match reply {
                client::Reply::Nil => redis_types::RedisResult::Nil,
                client::Reply::Status(s) => redis_types::RedisResult::Status(s),
                client::Reply::Int(i) => redis_types::RedisResult::Int64(i),
                client::Reply::Binary(b) => redis_types::RedisResult::Binary(b),
            })
            .collect())
    }
}

// PostgreSQL and MySQL: the address in every call; 2.0.0's connection, opened from the app's
// pool and dropped back to it after the call.

fn param(value: rdbms::ParameterValue) -> rdbms2::ParameterValue {
    same_cases!(value, rdbms::ParameterValue => rdbms2::ParameterValue,
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
         Floating64, Str, Binary],
        [DbNull])
}

fn row_set(set: rdbms2::RowSet) -> rdbms::RowSet {
    let column = |c: rdbms2::Column| rdbms::Column {
        name: c.name,
        data_type: same_cases!(c.data_type, rdbms2::DbDataType => rdbms::DbDataType, [],
            [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
             Floating64, Str, Binary, Other]),
    };
    let value = |v: rdbms2::DbValue| {
        same_cases!(v, rdbms2::DbValue => rdbms::DbValue,
            [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Floating32,
             Floating64, Str, Binary],
            [DbNull, Unsupported])
    };
    rdbms::RowSet {
        columns: set.columns.into_iter().map(column).collect(),
        rows: set
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect(),
    }
}

/// 2.0.0's error as `pg-error` or `mysql-error` (the same cases).
macro_rules! rdbms_error {
    ($error:path) => {
        impl From<rdbms2::Error> for $error {
            fn from(error: rdbms2::Error) -> Self {
                use $error as E;
                match error {
                    rdbms2::Error::ConnectionFailed(m) => E::ConnectionFailed(m),
                    rdbms2::Error::BadParameter(m) => E::BadParameter(m),
                    rdbms2::Error::QueryFailed(m) => E::QueryFailed(m),
                    rdbms2::Error::ValueConversionFailed(m) => E::ValueConversionFailed(m),
                    rdbms2::Error::Other(m) => E::OtherError(m),
                }
            }
        }
    };
}

rdbms_error!(postgres::PgError);
rdbms_error!(mysql::MysqlError);

impl rdbms::Host for SpinView<'_> {}

/// Spin 1's `postgres` or `mysql`: each call 2.0.0's on a connection opened for it (from the
/// app's pool) and dropped after it; `execute` answers what 2.0.0's does.
macro_rules! rdbms_v1 {
    ($v1:ident, $v2:ident, $error:ident, $executed:ty) => {
        impl $v1::Host for SpinView<'_> {
            async fn query(
                &mut self,
                address: String,
                statement: String,
                params: Vec<rdbms::ParameterValue>,
            ) -> Result<rdbms::RowSet, $v1::$error> {
                let connection = $v2::HostConnection::open(self, address).await?;
                let borrow = borrowed(connection.rep());
                let params = params.into_iter().map(param).collect();
                let set = $v2::HostConnection::query(self, borrow, statement, params).await;
                let _ = $v2::HostConnection::drop(self, connection).await;
                Ok(row_set(set?))
            }

            async fn execute(
                &mut self,
                address: String,
                statement: String,
                params: Vec<rdbms::ParameterValue>,
            ) -> Result<$executed, $v1::$error> {
                let connection = $v2::HostConnection::open(self, address).await?;
                let borrow = borrowed(connection.rep());
                let params = params.into_iter().map(param).collect();
                let done = $v2::HostConnection::execute(self, borrow, statement, params).await;
                let _ = $v2::HostConnection::drop(self, connection).await;
                Ok(done?)
            }
        }
    };
}

rdbms_v1!(postgres, pg2, PgError, u64);
rdbms_v1!(mysql, mysql2, MysqlError, ());

// Outbound HTTP: a request whole, through the app's network grants (and to its linked peers) as
// its `wasi:http` requests go, its response read whole.

impl http_types::Host for SpinView<'_> {}

impl http::Host for SpinView<'_> {
    async fn send_request(
        &mut self,
        request: http_types::Request,
    ) -> Result<http_types::Response, http_types::HttpError> {
        use crate::egress::HttpError as Failure;
        use http_types::HttpError as E;
        let request = outgoing(request)?;
        let host = request.uri().host().unwrap_or_default().to_string();
        // Spin 1's error has no text: the app's log says why (a denial is said by the rule).
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            self.egress.warn(&format!(
                "a Spin 1 outbound HTTP request to {host} failed (the guest is told \
                 `{what}`): {e}"
            ));
        };
        let sent = self
            .egress
            .clone()
            .send_request(request, None, Box::new(async { Ok(()) }));
        let (response, io) = Box::into_pin(sent).await.map_err(|e| match e {
            Failure::HttpRequestDenied | Failure::DestinationIpProhibited => {
                E::DestinationNotAllowed
            }
            e => {
                failed("request-error", &e);
                E::RequestError
            }
        })?;
        // The connection is driven while the body is read; it ends with the call.
        let (parts, body) = response.into_parts();
        let mut io = Box::into_pin(io);
        let mut body =
            std::pin::pin!(http_body_util::Limited::new(body, MAX_RESPONSE_BYTES).collect());
        let body = tokio::select! {
            body = &mut body => body,
            _ = &mut io => body.await,
        };
        let body = body
            .map_err(|e| {
                failed("runtime-error", &e);
                E::RuntimeError
            })?
            .to_bytes();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        Ok(http_types::Response {
            status: parts.status.as_u16(),
            headers: Some(headers),
            body: Some(body.to_vec()),
        })
    }
}

/// Spin 1's request as `wasi:http`'s: an absolute `http` or `https` URL, its headers and body.
/// The headers a `wasi:http` guest may not set are left out as for it (wasmtime's forbidden
/// ones: `host`, hop-by-hop ones, `proxy-authorization`) with `content-length`, which the body
/// gives; `host` is the URL's, without its user information.
fn outgoing(
    request: http_types::Request,
) -> Result<::http::Request<crate::egress::WasiBody>, http_types::HttpError> {
    use http_types::{HttpError as E, Method as M};
    let uri: ::http::Uri = request.uri.parse().map_err(|_| E::InvalidUrl)?;
    let (Some("http" | "https"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(E::InvalidUrl);
    };
    let host = match uri.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let method = match request.method {
        M::Get => ::http::Method::GET,
        M::Post => ::http::Method::POST,
        M::Put => ::http::Method::PUT,
        M::Delete => ::http::Method::DELETE,
        M::Patch => ::http::Method::PATCH,
        M::Head => ::http::Method::HEAD,
        M::Options => ::http::Method::OPTIONS,
    };
    let mut builder = ::http::Request::builder()
        .method(method)
        .uri(uri)
        .header(::http::header::HOST, host);
    for (name, value) in request.headers {
        let name = ::http::HeaderName::try_from(name).map_err(|_| E::RequestError)?;
        let forbidden = wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(&name);
        if !forbidden && name != ::http::header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(request.body.unwrap_or_default()))
        .map_err(|never| match never {})
        .boxed_unsync();
    builder.body(body).map_err(|_| E::RequestError)
}
