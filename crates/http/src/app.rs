//! One deployed HTTP app: its limits, its metering, and serving a request with a fresh instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use skiff_api::HttpLimits;
use skiff_runtime::{App, Exit, HandleError, HandlerOptions, InstanceReport, LimitExceeded, Stdio};
use tokio::sync::Semaphore;

use crate::Stats;

/// The body of every response the gateway sends: the handler's stream, or Skiff's own error text.
pub type ResponseBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Gets the app's compiled code: at once for `skiff serve`; on the first request, from an LRU of
/// compiled apps, in the daemon (scale to zero: an idle app holds no instance and maybe no code).
pub type Loader = Box<dyn Fn() -> BoxFuture<'static, Result<Arc<App>, String>> + Send + Sync>;

/// A request's wall-clock limit when the app sets none (`--timeout` raises or lowers it): the
/// instance, including the body it streams, ends then with 504 (or a cut-off body).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct HttpApp {
    name: String,
    loader: Loader,
    options: HandlerOptions,
    limits: HttpLimits,
    stats: Stats,
    permits: Arc<Semaphore>,
    draining: AtomicBool,
}

impl HttpApp {
    pub fn new(
        name: String,
        loader: Loader,
        mut options: HandlerOptions,
        limits: HttpLimits,
    ) -> Self {
        // An instance holds a pool slot shared with every other app: none may hold one forever.
        options
            .limits
            .timeout
            .get_or_insert(DEFAULT_REQUEST_TIMEOUT);
        HttpApp {
            name,
            loader,
            options,
            permits: Arc::new(Semaphore::new(limits.max_concurrency.max(1) as usize)),
            limits,
            stats: Stats::default(),
            draining: AtomicBool::new(false),
        }
    }

    /// A loader for an app already compiled.
    pub fn ready(app: Arc<App>) -> Loader {
        Box::new(move || {
            let app = app.clone();
            Box::pin(async move { Ok(app) })
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Takes requests again after a [`HttpApp::drain`].
    pub fn resume(&self) {
        self.draining.store(false, Ordering::Relaxed);
    }

    /// Stops taking requests (new ones get 503) and waits up to `grace` for the instances in
    /// flight to finish. Returns whether they all did.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.draining.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + grace;
        while self.stats.instances() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Serves one request: limits first, then a fresh instance of the handler.
    pub async fn serve(
        self: &Arc<Self>,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<ResponseBody> {
        let started = Instant::now();
        self.stats.request();
        let response = self.respond(request).await;
        self.stats.responded(response.status(), started.elapsed());
        response
    }

    async fn respond(
        self: &Arc<Self>,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<ResponseBody> {
        if self.draining.load(Ordering::Relaxed) {
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "the app is stopping");
        }
        let max_body = self.limits.max_body_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max_body) {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than the app's limit of {max_body} bytes"),
            );
        }
        if request.uri().authority().is_none() && !request.headers().contains_key(header::HOST) {
            return error_response(StatusCode::BAD_REQUEST, "the request has no Host header");
        }
        let queue = Duration::from_millis(self.limits.queue_timeout_ms);
        let permit = match tokio::time::timeout(queue, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                self.stats.rejected();
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "all of the app's instances are busy; retry shortly",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
        };
        let app = match (self.loader)().await {
            Ok(app) => app,
            Err(e) => {
                self.log(&format!("cannot load the app: {e}"));
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the app cannot be loaded",
                );
            }
        };
        let request = request.map(|body| {
            Limited::new(body, max_body as usize)
                .map_err(move |e| body_error(e, max_body))
                .boxed_unsync()
        });
        // Kept for a failure's log line; cloning a `Uri` shares its bytes.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        self.stats.instance_started();
        let this = self.clone();
        let report = move |report: InstanceReport| {
            this.stats.instance_finished(&report);
            if let Some(failure) = &report.failure {
                let path = uri.path();
                this.log(&format!("{method} {path}: {}", failure.handler_summary()));
            }
            drop(permit);
        };
        match app.handle(request, &self.options, report).await {
            Ok(response) => response,
            // Failures of the instance itself were logged by `report`.
            Err(HandleError::NoResponse(exit)) => {
                let status = match exit {
                    Exit::Limit(LimitExceeded::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                error_response(status, &exit.handler_summary())
            }
            Err(HandleError::Overloaded) => {
                self.stats.rejected();
                busy_response("the server's instance pool is full; retry shortly")
            }
            Err(e) => {
                self.log(&e.to_string());
                error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
            }
        }
    }

    /// Skiff's messages about the app go where its stderr goes (the app's log in the daemon).
    fn log(&self, message: &str) {
        match &self.options.stdio {
            Stdio::Inherit => tracing::warn!(app = %self.name, "{message}"),
            Stdio::Capture { stderr, .. } => {
                tracing::debug!(app = %self.name, "{message}");
                stderr.write(format!("skiff: {message}\n").as_bytes());
            }
        }
    }
}

fn body_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    limit: u64,
) -> wasmtime_wasi_http::Error {
    if error.is::<http_body_util::LengthLimitError>() {
        return wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit));
    }
    match error.downcast::<hyper::Error>() {
        Ok(hyper) => wasmtime_wasi_http::Error::from(*hyper),
        Err(other) => wasmtime_wasi_http::Error::InternalError(Some(other.to_string())),
    }
}

/// 503 with `Retry-After`: overload is temporary.
fn busy_response(message: &str) -> hyper::Response<ResponseBody> {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A plain-text message from Skiff, not the app.
pub(crate) fn error_response(status: StatusCode, message: &str) -> hyper::Response<ResponseBody> {
    text_response(
        status,
        "text/plain; charset=utf-8",
        format!("skiff: {message}\n"),
    )
}

/// A response Skiff writes itself.
pub(crate) fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> hyper::Response<ResponseBody> {
    let mut response = hyper::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_has_a_wall_clock_limit() {
        let unused: Loader = Box::new(|| Box::pin(async { Err("unused".to_string()) }));
        let app = HttpApp::new("a".into(), unused, Default::default(), Default::default());
        assert_eq!(app.options.limits.timeout, Some(DEFAULT_REQUEST_TIMEOUT));
        let mut options = HandlerOptions::default();
        options.limits.timeout = Some(Duration::from_secs(300));
        let unused: Loader = Box::new(|| Box::pin(async { Err("unused".to_string()) }));
        let app = HttpApp::new("b".into(), unused, options, Default::default());
        assert_eq!(app.options.limits.timeout, Some(Duration::from_secs(300)));
    }
}
