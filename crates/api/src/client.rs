//! The CLI's side of the API: one HTTP/1.1 connection per request over the Unix socket.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ApiError, AppInfo, Attached, CreateApp, Event, LogLine, LogsQuery, UpdateApp};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the Skiff daemon at `{socket}`")]
    NoDaemon {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Someone else's socket or daemon: nothing was sent to it.
    #[error("refusing to talk to `{socket}`: {what} uid {owner}, not you (uid {me}) or root")]
    Foreign {
        socket: PathBuf,
        /// `the socket is owned by`, or `the daemon listening on it runs as`.
        what: &'static str,
        owner: u32,
        me: u32,
    },
    #[error("{}", .0.message)]
    Api(ApiError),
    #[error("the daemon's answer could not be read")]
    Protocol(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ClientError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ClientError::NoDaemon { socket, .. } => Some(format!(
                "start one with `skiff daemon --socket {}` (in another terminal, or as a service: docs/skiff.service), \
                 or point at a running one with `-H unix:///path/to.sock` or SKIFF_HOST",
                socket.display()
            )),
            ClientError::Foreign { socket, .. } => Some(format!(
                "another user may be posing as the Skiff daemon, and nothing was sent; remove \
                 `{}` and start your own daemon, or point at yours with `-H unix:///path/to.sock` \
                 or SKIFF_HOST",
                socket.display()
            )),
            ClientError::Api(e) => e.hint.clone(),
            ClientError::Protocol(_) => None,
        }
    }
}

fn protocol(e: impl std::error::Error + Send + Sync + 'static) -> ClientError {
    ClientError::Protocol(Box::new(e))
}

pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl AsRef<Path>) -> Self {
        Client {
            socket: socket.as_ref().to_path_buf(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        // Requests carry secrets (`-e` values), so they go only to a daemon of this user or
        // root: the socket's owner is checked before connecting, the peer's before sending
        // (issue 9: a socket directory another user made).
        if let Ok(meta) = std::fs::metadata(&self.socket) {
            self.trusted("the socket is owned by", meta.uid())?;
        }
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::NoDaemon {
                socket: self.socket.clone(),
                source,
            })?;
        let peer = stream.peer_cred().map_err(protocol)?;
        self.trusted("the daemon listening on it runs as", peer.uid())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(protocol)?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "skiff")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(protocol)?;
        let response = sender.send_request(request).await.map_err(protocol)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(protocol)?
            .to_bytes();
        let mut error = serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| ApiError {
            message: format!(
                "the daemon answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            ),
            hint: None,
            status: 0,
        });
        error.status = status.as_u16();
        Err(ClientError::Api(error))
    }

    /// Whether `owner` is this user or root.
    fn trusted(&self, what: &'static str, owner: u32) -> Result<(), ClientError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if owner == me || owner == 0 {
            Ok(())
        } else {
            Err(ClientError::Foreign {
                socket: self.socket.clone(),
                what,
                owner,
                me,
            })
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("request types serialize"));
        let response = self.send(method, path, body).await?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(protocol)?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(protocol)
    }

    /// Lines of newline-delimited JSON, handed to `each` as they arrive; stops when it returns
    /// false or the daemon ends the stream.
    async fn stream<T: DeserializeOwned>(
        &self,
        path: &str,
        each: impl FnMut(T) -> bool,
    ) -> Result<(), ClientError> {
        self.stream_of(Method::GET, path, each).await
    }

    async fn stream_of<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        mut each: impl FnMut(T) -> bool,
    ) -> Result<(), ClientError> {
        let mut body = self.send(method, path, None).await?.into_body();
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(protocol)?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if line.len() > 1 && !each(serde_json::from_slice(&line).map_err(protocol)?) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub async fn create(&self, app: &CreateApp) -> Result<AppInfo, ClientError> {
        self.json(Method::POST, "/apps", Some(app)).await
    }

    pub async fn list(&self, all: bool) -> Result<Vec<AppInfo>, ClientError> {
        self.json(Method::GET, &format!("/apps?all={all}"), None::<&()>)
            .await
    }

    pub async fn get(&self, name: &str) -> Result<AppInfo, ClientError> {
        self.json(Method::GET, &format!("/apps/{}", encode(name)), None::<&()>)
            .await
    }

    /// Stops the app, waiting `grace_secs` for it to end (its own `--stop-timeout` if `None`).
    pub async fn stop(&self, name: &str, grace_secs: Option<u64>) -> Result<AppInfo, ClientError> {
        let path = format!("/apps/{}/stop{}", encode(name), grace_query(grace_secs));
        self.json(Method::POST, &path, None::<&()>).await
    }

    pub async fn start(&self, name: &str) -> Result<AppInfo, ClientError> {
        self.json(
            Method::POST,
            &format!("/apps/{}/start", encode(name)),
            None::<&()>,
        )
        .await
    }

    /// Starts the app and follows its run, as `docker start -a`: each line it writes, from its
    /// start, until it exits. Returns its exit code (`None` if `each` stopped reading first).
    pub async fn start_attached(
        &self,
        name: &str,
        mut each: impl FnMut(LogLine) -> bool,
    ) -> Result<Option<i32>, ClientError> {
        let path = format!("/apps/{}/start?attach=true", encode(name));
        let mut code = None;
        self.stream_of(Method::POST, &path, |line: Attached| match line {
            Attached::Line(line) => each(line),
            Attached::End { exit_code } => {
                code = Some(exit_code);
                false
            }
        })
        .await?;
        Ok(code)
    }

    pub async fn restart(
        &self,
        name: &str,
        grace_secs: Option<u64>,
    ) -> Result<AppInfo, ClientError> {
        let path = format!("/apps/{}/restart{}", encode(name), grace_query(grace_secs));
        self.json(Method::POST, &path, None::<&()>).await
    }

    /// Pauses the app (`paused`), or unpauses it.
    pub async fn pause(&self, name: &str, paused: bool) -> Result<AppInfo, ClientError> {
        let verb = if paused { "pause" } else { "unpause" };
        let path = format!("/apps/{}/{verb}", encode(name));
        self.json(Method::POST, &path, None::<&()>).await
    }

    pub async fn update(&self, name: &str, update: &UpdateApp) -> Result<AppInfo, ClientError> {
        let path = format!("/apps/{}/update", encode(name));
        self.json(Method::POST, &path, Some(update)).await
    }

    /// Gives the app the name `new`.
    pub async fn rename(&self, name: &str, new: &str) -> Result<AppInfo, ClientError> {
        let path = format!("/apps/{}/rename?name={}", encode(name), encode(new));
        self.json(Method::POST, &path, None::<&()>).await
    }

    pub async fn remove(&self, name: &str, force: bool) -> Result<(), ClientError> {
        let path = format!("/apps/{}?force={force}", encode(name));
        self.send(Method::DELETE, &path, None).await.map(|_| ())
    }

    pub async fn logs(
        &self,
        name: &str,
        query: &LogsQuery,
        each: impl FnMut(LogLine) -> bool,
    ) -> Result<(), ClientError> {
        let mut path = format!("/apps/{}/logs?follow={}", encode(name), query.follow);
        if let Some(tail) = query.tail {
            path.push_str(&format!("&tail={tail}"));
        }
        if let Some(since) = &query.since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        self.stream(&path, each).await
    }

    pub async fn events(
        &self,
        follow: bool,
        each: impl FnMut(Event) -> bool,
    ) -> Result<(), ClientError> {
        self.stream(&format!("/events?follow={follow}"), each).await
    }

    /// The events recorded from now on, as they happen (`skiff events`, `compose events`): the
    /// daemon's stream replays its history first, which is read once to be skipped.
    pub async fn events_from_now(
        &self,
        mut each: impl FnMut(Event) -> bool,
    ) -> Result<(), ClientError> {
        let mut last_seq = None;
        self.events(false, |event| {
            last_seq = last_seq.max(Some(event.seq));
            true
        })
        .await?;
        self.events(true, |event| Some(event.seq) <= last_seq || each(event))
            .await
    }

    /// Whether a daemon answers on the socket.
    pub async fn info(&self) -> Result<crate::DaemonInfo, ClientError> {
        self.json(Method::GET, "/info", None::<&()>).await
    }

    pub async fn ping(&self) -> Result<(), ClientError> {
        self.send(Method::GET, "/ping", None).await.map(|_| ())
    }
}

/// `?t=SECONDS` of a stop or restart, or nothing: the app's own stop timeout.
fn grace_query(grace_secs: Option<u64>) -> String {
    grace_secs.map_or(String::new(), |t| format!("?t={t}"))
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
