//! Outgoing HTTP from guests (`wasi:http/outgoing-handler`) under the app's network grants.
//!
//! wasmtime-wasi-http's `default_send_request` connects to whatever the request's host resolves
//! to at connect time, after any check of the name: a granted name may answer 127.0.0.1 or
//! 169.254.169.254 by then (DNS rebinding). Here the name is resolved once, every address is
//! checked by the egress rule (`skiff_capabilities::egress`), and the connection goes to exactly a
//! checked address; TLS still verifies the certificate for the name the guest asked for.
//!
//! Before any of that, a request to one of the app's [`Peers`] (another app of the same daemon it
//! was linked to: `http://NAME/`) is handed to that app's handler in-process, with no socket.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use skiff_capabilities::Endpoint;
use skiff_capabilities::egress::{Denial, Destination, EgressRule};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
pub use wasmtime_wasi_http::{Error as HttpError, WasiBody};
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use crate::run::OutputSink;

/// wasmtime-wasi-http's timeout for each phase when the guest sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// A response that is on its way: what a peer answers a request with.
pub type PeerResponse =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, HttpError>> + Send>>;

/// The other apps an app may call in-process, by name (`skiff run -d --link`, compose's
/// `depends_on`/`links`): the daemon's, since only it knows the other apps.
pub trait Peers: Send + Sync + 'static {
    /// What a request to `host` (lowercase, without its port) is: a call to a linked app, a call
    /// refused (a neighbour not linked; the message names the link to add), or not a peer's name
    /// at all, to go out through the egress rule.
    fn call(&self, host: &str, request: http::Request<WasiBody>) -> PeerCall;
}

pub enum PeerCall {
    /// Not a peer: the request is given back, for the network (boxed: it is most of the size).
    Outside(Box<http::Request<WasiBody>>),
    /// A neighbour this app was not linked to: why, and how to link it.
    Refused(String),
    Answer(PeerResponse),
}

/// The hooks of every component instance: outgoing HTTP passes the same egress rule as sockets.
#[derive(Clone, Default)]
pub(crate) struct Egress {
    pub(crate) rule: Arc<EgressRule>,
    /// Where a denial is reported besides Skiff's own log: the app's stderr log (daemon).
    pub(crate) report: Option<Arc<dyn OutputSink>>,
    pub(crate) peers: Option<Arc<dyn Peers>>,
    /// `-S http-outgoing-body-buffer-chunks` and `-S http-outgoing-body-chunk-size`, as
    /// `wasmtime run` sets them for every body the guest writes (requests and responses).
    pub(crate) body_chunks: Option<usize>,
    pub(crate) body_chunk_size: Option<usize>,
}

impl Egress {
    /// Says `message` in Skiff's log and the app's own: what a guest was not told (a host API
    /// whose error has no text).
    pub(crate) fn warn(&self, message: &str) {
        warn(self.report.as_ref(), message);
    }

    /// What a host API that connects on the guest's behalf (Spin's Redis) connects with.
    pub(crate) fn connector(&self) -> Connector {
        Connector {
            rule: self.rule.clone(),
            report: self.report.clone(),
        }
    }
}

/// TCP connections a host API makes for a guest, under the app's network grants exactly as its
/// outgoing HTTP: the name resolved once, every address checked, a denial logged naming the
/// grant to add.
#[derive(Clone)]
pub(crate) struct Connector {
    rule: Arc<EgressRule>,
    report: Option<Arc<dyn OutputSink>>,
}

impl Connector {
    /// The grants it connects under.
    pub(crate) fn rule(&self) -> &Arc<EgressRule> {
        &self.rule
    }

    /// A connection to `host:port` (`what` names it in a denial), within `timeout`.
    pub(crate) async fn connect(
        &self,
        what: &str,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpStream, String> {
        let addrs = self.addresses(what, host, port, timeout).await?;
        match tokio::time::timeout(timeout, connect_first(&addrs)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(Some(e))) => Err(format!("{host}:{port}: {e}")),
            Ok(Err(None)) => Err(format!("{host}:{port}: no address")),
            Err(_) => Err(format!("{host}:{port}: no connection within {timeout:?}")),
        }
    }

    /// The addresses of `host:port` the grants reach, resolved within `timeout`, for a client
    /// that makes its own connection (to exactly one of them); a denial is reported as
    /// [`Connector::connect`] reports it.
    pub(crate) async fn addresses(
        &self,
        what: &str,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, String> {
        match checked_addresses(&self.rule, host, port, timeout).await {
            Ok(addrs) => Ok(addrs),
            Err(Refusal::Denied(denial)) => {
                let destination = Endpoint {
                    host: host.to_string(),
                    port,
                };
                let message = format!("blocked {what} connection to {destination}: {denial}");
                warn(self.report.as_ref(), &message);
                Err(message)
            }
            Err(Refusal::Failed(error)) => Err(format!("{host}:{port}: {error}")),
        }
    }
}

impl WasiHttpHooks for Egress {
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        self.body_chunks
            .unwrap_or(wasmtime_wasi_http::p2::DEFAULT_OUTGOING_BODY_BUFFER_CHUNKS)
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        self.body_chunk_size
            .unwrap_or(wasmtime_wasi_http::p2::DEFAULT_OUTGOING_BODY_CHUNK_SIZE)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let rule = self.rule.clone();
        let report = self.report.clone();
        let peers = self.peers.clone();
        Box::new(async move {
            let uri = request.uri();
            let Some(host) = uri.host() else {
                return Err(HttpError::HttpRequestUriInvalid);
            };
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host)
                .to_ascii_lowercase();
            let request = match peers {
                None => request,
                Some(peers) => match peers.call(&host, request) {
                    PeerCall::Outside(request) => *request,
                    PeerCall::Answer(response) => {
                        return Ok((response.await?, Box::new(async { Ok(()) }) as IoFuture));
                    }
                    PeerCall::Refused(message) => {
                        warn(report.as_ref(), &message);
                        return Err(HttpError::HttpRequestDenied);
                    }
                },
            };
            let uri = request.uri();
            let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let timeouts = Timeouts::new(options);
            let addrs = match checked_addresses(&rule, &host, port, timeouts.connect).await {
                Ok(addrs) => addrs,
                Err(Refusal::Denied(denial)) => {
                    let destination = Endpoint { host, port };
                    let message =
                        format!("blocked outgoing HTTP request to {destination}: {denial}");
                    warn(report.as_ref(), &message);
                    return Err(match denial {
                        Denial::NotGranted { .. } => HttpError::HttpRequestDenied,
                        Denial::Special { .. } => HttpError::DestinationIpProhibited,
                    });
                }
                Err(Refusal::Failed(error)) => return Err(error),
            };
            send(request, &host, https, &addrs, timeouts).await
        })
    }
}

/// Says `message` in Skiff's log and, where there is one, the app's own (`report`).
fn warn(report: Option<&Arc<dyn OutputSink>>, message: &str) {
    tracing::warn!("{message}");
    if let Some(report) = report {
        report.write(format!("skiff: {message}\n").as_bytes());
    }
}

enum Refusal {
    Denied(Denial),
    Failed(HttpError),
}

/// The addresses this request may connect to: the granted IP it names, or what its granted name
/// resolves to, looked up once (on tokio's blocking pool, not an async worker) and checked.
async fn checked_addresses(
    rule: &EgressRule,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, Refusal> {
    let name = match rule.check_destination(host, port) {
        Ok(Destination::Addr(addr)) => return Ok(vec![addr]),
        Ok(Destination::Name(name)) => name,
        Err(denial) => return Err(Refusal::Denied(denial)),
    };
    let resolved = tokio::time::timeout(timeout, tokio::net::lookup_host((name.as_str(), port)))
        .await
        .map_err(|_| Refusal::Failed(HttpError::DnsTimeout))?
        .map_err(|e| {
            Refusal::Failed(HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            })
        })?;
    let addrs = rule
        .check_resolved(&name, port, resolved.map(|addr| addr.ip()))
        .map_err(Refusal::Denied)?;
    if addrs.is_empty() {
        return Err(Refusal::Failed(HttpError::DestinationNotFound));
    }
    Ok(addrs)
}

#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn new(options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A connection to the first of `addrs` that answers; else the last refusal (`None`: no address).
async fn connect_first(addrs: &[SocketAddr]) -> Result<TcpStream, Option<std::io::Error>> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last)
}

/// HTTP/1.1 over a connection to the first of `addrs` that answers (TLS for `https`, verified
/// for `host`).
async fn send(
    request: http::Request<WasiBody>,
    host: &str,
    https: bool,
    addrs: &[SocketAddr],
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let connect = async {
        connect_first(addrs)
            .await
            .map_err(|e| e.map_or(HttpError::DestinationNotFound, HttpError::Connect))
    };
    let tcp = tokio::time::timeout(timeouts.connect, connect)
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = if https {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(crate::tls::client_config())
            .connect(name, tcp)
            .await
            .map_err(HttpError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        timeouts.connect,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // The request line carries the path only, as to an origin server (not a proxy).
    let (mut parts, body) = request.into_parts();
    parts.uri = http::Uri::builder()
        .path_and_query(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let request = http::Request::from_parts(parts, body);

    // Drive the connection while waiting for the response head; what is left of it is the I/O
    // future returned to wasmtime, which runs it while the guest reads the body.
    let mut send = std::pin::pin!(tokio::time::timeout(
        timeouts.first_byte,
        sender.send_request(request)
    ));
    let mut conn = Some(Box::pin(conn));
    let response = std::future::poll_fn(|cx| {
        if let Poll::Ready(response) = send.as_mut().poll(cx) {
            return Poll::Ready(Ok(response));
        }
        if let Some(running) = conn.as_mut()
            && let Poll::Ready(ended) = running.as_mut().poll(cx)
        {
            conn = None;
            if let Err(e) = ended {
                return Poll::Ready(Err(HttpError::from(e)));
            }
            return send.as_mut().poll(cx).map(Ok);
        }
        Poll::Pending
    })
    .await?
    .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let io = async move {
        match conn {
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    e.into()
                }
            }),
            None => Ok(()),
        }
    };
    let response = response.map(|incoming| {
        BetweenBytes {
            incoming,
            timeout: timeouts.between_bytes,
            sleep: Box::pin(tokio::time::sleep(timeouts.between_bytes)),
        }
        .boxed_unsync()
    });
    Ok((response, Box::new(io) as IoFuture))
}

/// A response body that fails when no frame arrives within the guest's between-bytes timeout.
struct BetweenBytes {
    incoming: Incoming,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now().checked_add(this.timeout);
                if let Some(next) = next {
                    this.sleep.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
