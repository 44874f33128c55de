//! The API: HTTP/JSON on a Unix socket that only its owner can use. Routes are documented in
//! docs/api.md. Every failure is a JSON `ApiError` with the status chosen in `Fail`.

use std::convert::Infallible;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt as _;
use serde::Deserialize;
use skiff_api::{AppState, Attached, CreateApp, LogLine, LogsQuery, UpdateApp};

use crate::supervisor::{Fail, Slot, Supervisor};

type Shared = State<Arc<Supervisor>>;

async fn info(State(supervisor): Shared) -> axum::Json<skiff_api::DaemonInfo> {
    axum::Json(supervisor.info_snapshot())
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.error)).into_response()
    }
}

/// A directory the API socket must not be put in: someone else could replace the socket there
/// with their own and collect what clients send (issue 9: `/tmp/skiff` made by another user).
#[derive(Debug)]
pub struct UnsafeSocketDir {
    pub dir: PathBuf,
    problem: String,
}

impl std::fmt::Display for UnsafeSocketDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refusing to put the API socket in `{}`: it is {}",
            self.dir.display(),
            self.problem
        )
    }
}

impl std::error::Error for UnsafeSocketDir {}

impl UnsafeSocketDir {
    pub fn hint(&self) -> String {
        format!(
            "whoever can change `{}` can put their own socket in place of the daemon's; remove \
             it (or have its owner remove it) and let the daemon create it, or choose a \
             directory of your own with `--socket` (for example under $XDG_RUNTIME_DIR)",
            self.dir.display()
        )
    }
}

/// Creates the socket's directory 0700 if missing; an existing one must belong to this user or
/// root and be writable by no one else, unless sticky as `/tmp` is (no one else can then remove
/// or rename our socket).
fn socket_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot create `{}`", dir.display()))?,
            // Made meanwhile by someone: checked below like any existing one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create `{}`", dir.display())),
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let refuse = |problem: String| UnsafeSocketDir {
        dir: dir.to_path_buf(),
        problem,
    };
    // The link itself as well as what it points to: whoever owns a link can re-point it.
    for meta in [std::fs::symlink_metadata(dir), std::fs::metadata(dir)] {
        let meta = meta.with_context(|| format!("cannot read `{}`", dir.display()))?;
        if meta.uid() != me && meta.uid() != 0 {
            return Err(refuse(format!(
                "owned by uid {}, not by you (uid {me}) or root",
                meta.uid()
            ))
            .into());
        }
        let mode = meta.mode();
        if !meta.is_symlink() && mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(refuse(format!(
                "writable by its group or by others (mode {:o})",
                mode & 0o7777
            ))
            .into());
        }
    }
    Ok(())
}

/// Binds the socket, replacing a stale one, mode 0600, in a directory only its owner can change.
pub fn bind(socket: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = socket.parent()
        && !dir.as_os_str().is_empty()
    {
        socket_dir(dir)?;
    }
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        anyhow::bail!(
            "a daemon is already listening on `{}`; stop it or choose another `--socket`",
            socket.display()
        );
    }
    let _ = std::fs::remove_file(socket);
    // Created under a umask that leaves it 0600 from the first moment.
    // SAFETY: umask only changes this process's file-creation mask; it cannot fail.
    let old = unsafe { libc::umask(0o177) };
    let listener = tokio::net::UnixListener::bind(socket);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = listener.with_context(|| format!("cannot listen on `{}`", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

pub fn router(supervisor: Arc<Supervisor>) -> Router {
    Router::new()
        .route("/ping", get(|| async { "ok" }))
        .route("/info", get(info))
        .route("/apps", post(create).get(list))
        .route("/apps/{name}", get(inspect).delete(remove))
        .route("/apps/{name}/stop", post(stop))
        .route("/apps/{name}/start", post(start))
        .route("/apps/{name}/restart", post(restart))
        .route("/apps/{name}/update", post(update))
        .route("/apps/{name}/rename", post(rename))
        .route("/apps/{name}/pause", post(pause))
        .route("/apps/{name}/unpause", post(unpause))
        .route("/apps/{name}/logs", get(logs))
        .route("/events", get(events))
        .fallback(|| async {
            Fail::new(
                404,
                "no such API route",
                Some("see docs/api.md for the routes"),
            )
        })
        .with_state(supervisor)
}

/// A JSON body, or a 400 naming what is wrong with it and where the route's body is described.
fn read_body<T>(body: Result<axum::Json<T>, JsonRejection>, route: &str) -> Result<T, Fail> {
    body.map(|axum::Json(value)| value).map_err(|e| {
        Fail::new(
            400,
            format!("malformed request: {}", e.body_text()),
            Some(&format!("see docs/api.md for the body of {route}")),
        )
    })
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

async fn create(
    State(supervisor): Shared,
    body: Result<axum::Json<CreateApp>, JsonRejection>,
) -> Result<Response, Fail> {
    let request = read_body(body, "POST /apps")?;
    let info = supervisor.create(request).await?;
    Ok(json(StatusCode::CREATED, &info))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

async fn list(State(supervisor): Shared, Query(query): Query<ListQuery>) -> Response {
    json(StatusCode::OK, &supervisor.list(query.all))
}

async fn inspect(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, Fail> {
    Ok(json(StatusCode::OK, &supervisor.inspect(&name)?))
}

#[derive(Deserialize)]
struct Grace {
    /// Seconds.
    t: Option<u64>,
}

/// The grace period a stop names; `None`: the app's own (`--stop-timeout`).
fn grace(query: &Grace) -> Option<Duration> {
    query.t.map(Duration::from_secs)
}

async fn stop(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<Grace>,
) -> Result<Response, Fail> {
    Ok(json(
        StatusCode::OK,
        &supervisor.stop(&name, grace(&query)).await?,
    ))
}

#[derive(Deserialize)]
struct StartQuery {
    #[serde(default)]
    attach: bool,
}

/// Starts the app; with `attach=true`, answers with its run's output as NDJSON `Attached` lines
/// until it exits, then its exit code. Subscribed before the start, so no line is missed, and
/// read from the app's slot, so an app removed as it ends (`--rm`) still gives its code.
async fn start(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, Fail> {
    if !query.attach {
        return Ok(json(StatusCode::OK, &supervisor.start(&name).await?));
    }
    let (_, slot) = supervisor.get(&name)?;
    let mut live = slot.log.follow();
    let mut state = slot.state.subscribe();
    state.borrow_and_update();
    supervisor.start(&name).await?;
    let lines = async_stream(move |tx| async move {
        forward_live(&mut live, &mut state, true, None, &tx).await;
    });
    // Once its output has ended with it: its exit code, from its slot.
    let end = futures::stream::once(async move {
        Attached::End {
            exit_code: slot.last_exit_code().unwrap_or(0),
        }
    });
    let attached = lines.map(Attached::Line).chain(end);
    Ok(ndjson(attached.map(|line| ndjson_line(&line))))
}

async fn restart(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<Grace>,
) -> Result<Response, Fail> {
    Ok(json(
        StatusCode::OK,
        &supervisor.restart(&name, grace(&query)).await?,
    ))
}

async fn pause(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, Fail> {
    Ok(json(StatusCode::OK, &supervisor.pause(&name, true)?))
}

async fn unpause(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, Fail> {
    Ok(json(StatusCode::OK, &supervisor.pause(&name, false)?))
}

async fn update(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    body: Result<axum::Json<UpdateApp>, JsonRejection>,
) -> Result<Response, Fail> {
    let update = read_body(body, "POST /apps/{name}/update")?;
    Ok(json(StatusCode::OK, &supervisor.update(&name, update)?))
}

#[derive(Deserialize)]
struct RenameQuery {
    name: Option<String>,
}

/// `POST /apps/{name}/rename?name=NEW`, as Docker's `POST /containers/{id}/rename?name=`.
async fn rename(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<RenameQuery>,
) -> Result<Response, Fail> {
    let new = query.name.ok_or_else(|| {
        Fail::new(
            400,
            "a rename needs the new name",
            Some("give it as `POST /apps/{name}/rename?name=NEW`"),
        )
    })?;
    Ok(json(StatusCode::OK, &supervisor.rename(&name, &new)?))
}

#[derive(Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

async fn remove(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<RemoveQuery>,
) -> Result<Response, Fail> {
    supervisor.remove(&name, query.force).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn ndjson_line<T: serde::Serialize>(value: &T) -> Result<Bytes, Infallible> {
    let mut line = serde_json::to_vec(value).expect("wire types serialize");
    line.push(b'\n');
    Ok(Bytes::from(line))
}

fn ndjson(
    stream: impl futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

async fn logs(
    State(supervisor): Shared,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, Fail> {
    let slot = match supervisor.get(&name) {
        Ok((_, slot)) => slot,
        // One the daemon could not load: its log as it left it, as `docker logs` of a container
        // whose image is gone.
        Err(fail) => match supervisor.unloadable_log(&name) {
            Some(log) => {
                let lines = stored_lines(log.read(), &query);
                return Ok(ndjson(
                    futures::stream::iter(lines).map(|line| ndjson_line(&line)),
                ));
            }
            None => return Err(fail),
        },
    };
    // Like `docker logs -f`, following ends when the app does.
    let lines = log_lines(&slot, &query, true);
    Ok(ndjson(lines.map(|line| ndjson_line(&line))))
}

/// The app's stored lines as `query` selects them, then, if it follows, the lines written from
/// now on: until the app exits if `until_exit`, else until the reader goes away.
/// The stored `lines` that `query` asks for (`--since`, `--tail`).
fn stored_lines(mut lines: Vec<LogLine>, query: &LogsQuery) -> Vec<LogLine> {
    if let Some(since) = &query.since {
        lines.retain(|l| l.at.as_str() >= since.as_str());
    }
    if let Some(tail) = query.tail {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    lines
}

pub(crate) fn log_lines(
    slot: &Slot,
    query: &LogsQuery,
    until_exit: bool,
) -> impl futures::Stream<Item = LogLine> + Send + 'static {
    // Subscribe before reading the file, so no line falls between the two.
    let mut live = slot.log.follow();
    let mut state = slot.state.subscribe();
    let lines = stored_lines(slot.log.read(), query);
    let last_seen = lines.last().map(|l| l.at.clone());
    // An app that has already ended writes nothing more: its lines, and the end (`docker logs -f`
    // of a stopped container returns too). Its state is read after subscribing, so an exit
    // after this read still ends the stream below.
    let follow = query.follow && !(until_exit && *state.borrow_and_update() == AppState::Exited);
    async_stream(move |tx| async move {
        for line in lines {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if follow {
            forward_live(&mut live, &mut state, until_exit, last_seen, &tx).await;
        }
    })
}

/// Sends each line the app writes, newer than `last_seen`, until it exits (with `until_exit`)
/// or the reader goes away.
async fn forward_live(
    live: &mut tokio::sync::broadcast::Receiver<LogLine>,
    state: &mut tokio::sync::watch::Receiver<AppState>,
    until_exit: bool,
    last_seen: Option<String>,
    tx: &tokio::sync::mpsc::Sender<LogLine>,
) {
    loop {
        tokio::select! {
            line = live.recv() => match line {
                Ok(line) => {
                    if last_seen.as_ref().is_some_and(|seen| &line.at <= seen) {
                        continue;
                    }
                    if tx.send(line).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            },
            changed = state.changed(), if until_exit => {
                if changed.is_err() || *state.borrow() == AppState::Exited {
                    while let Ok(line) = live.try_recv() {
                        let _ = tx.send(line).await;
                    }
                    return;
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    follow: bool,
}

async fn events(
    State(supervisor): Shared,
    Query(query): Query<EventsQuery>,
) -> Result<Response, Fail> {
    let mut live = supervisor.events.subscribe();
    let past = supervisor.events_after(0)?;
    let mut last = past.last().map_or(0, |e| e.seq);
    let follow = query.follow;
    let events = async_stream(move |tx| async move {
        for event in past {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        loop {
            match live.recv().await {
                Ok(event) if event.seq > last => {
                    last = event.seq;
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    Ok(ndjson(events.map(|event| ndjson_line(&event))))
}

/// A stream fed by a task through a small channel; the task ends when the client goes away.
pub(crate) fn async_stream<T, F, Fut>(produce: F) -> impl futures::Stream<Item = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
