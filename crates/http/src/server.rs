//! Accepting connections and dispatching requests: one app on its own port, or the shared
//! gateway.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::app::{ResponseBody, error_response};
use crate::{HttpApp, RouteTable};

/// How long a client may take to send a request's headers (slowloris clients are cut off).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The header that tells an app which app of the daemon called it in-process. The daemon sets it
/// on every such call; a request from a client connection never carries it (it is removed here),
/// so a callee can trust it.
pub const CALLER_HEADER: &str = "skiff-caller";

/// What a listener serves.
#[derive(Clone)]
pub enum Target {
    /// Every request goes to one app (`skiff serve`, `skiff run -d -p PORT`).
    App(Arc<HttpApp>),
    /// Requests are routed by `Host` and path prefix (the daemon's gateway).
    Gateway(Arc<RouteTable>),
}

impl Target {
    /// Serves `request` from the client at `peer`.
    async fn dispatch(
        &self,
        mut request: hyper::Request<hyper::body::Incoming>,
        peer: Option<SocketAddr>,
    ) -> hyper::Response<ResponseBody> {
        request.headers_mut().remove(CALLER_HEADER);
        match self {
            Target::App(app) => app.serve_from(request, peer).await,
            Target::Gateway(routes) => {
                let host = request.uri().host().map(str::to_string).or_else(|| {
                    let host = request.headers().get(http::header::HOST)?.to_str().ok()?;
                    Some(strip_port(host).to_string())
                });
                match routes.resolve(host.as_deref(), request.uri().path()) {
                    Some(app) => app.serve_from(request, peer).await,
                    None => error_response(
                        StatusCode::NOT_FOUND,
                        &format!(
                            "no app is routed at {}{}",
                            host.as_deref().unwrap_or(""),
                            request.uri().path()
                        ),
                    ),
                }
            }
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Raises this process's open-file limit to its hard limit (many systems start servers at a soft
/// limit of 1024: too few for thousands of apps and their clients). Returns the new limit.
pub fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above; raising the soft limit up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return None;
        }
    }
    Some(limit.rlim_cur)
}

/// This process's hard limit of open files: what [`raise_fd_limit`] raises the soft one to.
pub fn fd_hard_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    usize::try_from(limit.rlim_max)
        .unwrap_or(usize::MAX)
        .min(1 << 30)
}

/// Accepts connections until `shutdown` resolves; each connection is served on its own task
/// (HTTP/1.1 with keep-alive), so one slow client never holds up another. Then each connection
/// finishes the request it is serving, if any, and closes: a stopped app is no longer reachable
/// through a kept-alive connection.
pub async fn serve(listener: TcpListener, target: Target, shutdown: impl Future<Output = ()>) {
    serve_at_most(listener, target, shutdown, None).await;
}

/// [`serve`], holding at most `max_connections` connections at once: beyond them, new ones wait
/// in the listen backlog until one closes (`skiff serve --max-concurrent-connections`).
pub async fn serve_at_most(
    listener: TcpListener,
    target: Target,
    shutdown: impl Future<Output = ()>,
    max_connections: Option<usize>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    // Dropped on return, which tells every connection to close.
    let (_serving, stopped) = tokio::sync::watch::channel(());
    let connections = max_connections.map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
    loop {
        let permit = match &connections {
            Some(connections) => tokio::select! {
                () = &mut shutdown => return,
                permit = connections.clone().acquire_owned() => {
                    Some(permit.expect("the semaphore is never closed"))
                }
            },
            None => None,
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Without it, a handler writing head and body separately waits out delayed ACKs.
        let _ = stream.set_nodelay(true);
        let target = target.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let served = serve_connection(stream, Some(peer), target, async move {
                let _ = stopped.changed().await;
            });
            if let Err(e) = served.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
}

/// Serves the requests of one connection (HTTP/1.1 with keep-alive) from `peer` until the client
/// closes it, or `stop` resolves and the request in progress, if any, is answered.
pub(crate) async fn serve_connection<I>(
    io: I,
    peer: Option<SocketAddr>,
    target: Target,
    stop: impl Future<Output = ()>,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let target = target.clone();
        async move { Ok::<_, Infallible>(target.dispatch(request, peer).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => return served,
        () = stop => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_ports() {
        assert_eq!(super::strip_port("shop.localhost:8080"), "shop.localhost");
        assert_eq!(super::strip_port("shop.localhost"), "shop.localhost");
        assert_eq!(super::strip_port("[::1]:8080"), "[::1]");
    }
}
