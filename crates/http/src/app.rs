//! One deployed HTTP app: its limits, its metering, and serving a request with a fresh instance.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use skiff_api::HttpLimits;
use skiff_runtime::{
    App, ByteSize, CpuTurns, Exit, HandleError, HandlerOptions, InstanceReport, LimitExceeded,
    PeerCall, Peers, Stdio, Usage, WasiBody,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// A handler instance's memory limit when the app sets none (`--memory` raises or lowers it):
/// linear memories and tables together. Enough for most handlers; without it each instance of
/// each app could take the pool's 4 GiB slots.
pub const DEFAULT_HANDLER_MEMORY: ByteSize = ByteSize(128 << 20);

/// The longest `--timeout` a daemon allows an HTTP request unless started with another
/// `--max-request-timeout`: an instance holds a slot of the pool every app shares.
pub const DEFAULT_MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// What a host grants any one HTTP app at most, whatever the app asks for, so that no tenant can
/// hold what all of them share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Instances of one app alive at once: its `--max-concurrency` is clamped to this.
    pub max_concurrency: u32,
    /// The longest wall-clock limit of one request: its `--timeout` is clamped to this.
    pub max_timeout: Duration,
    /// Instances of one app running guest code at the same moment (its CPU turns).
    pub cpu_turns: usize,
    /// Handles (open files, sockets, streams...) all of one app's instances may hold together:
    /// each instance gets its share, so that no app can take every descriptor of the process.
    pub app_handles: usize,
}

/// The fewest handles an HTTP instance is given: a handler holds about ten for its request and
/// response alone. An app whose `--max-concurrency` would leave its instances fewer gets a lower
/// concurrency instead.
pub const MIN_INSTANCE_HANDLES: usize = 64;

impl Bounds {
    /// For apps sharing a pool of `pool` instances (the daemon): half of it per app by default,
    /// so one app can never take every slot, and requests of at most 5 minutes.
    /// An app runs guest code on all cores but one, so however busy it is, a core is always
    /// left for its neighbours and the API.
    /// And half of the process's open files (its hard limit, which `raise_fd_limit` makes the
    /// soft one) per app, as half of the pool.
    pub fn shared(pool: u32) -> Self {
        Bounds {
            max_concurrency: (pool / 2).max(1),
            max_timeout: DEFAULT_MAX_REQUEST_TIMEOUT,
            cpu_turns: cpus().saturating_sub(1).max(1),
            app_handles: crate::server::fd_hard_limit() / 2,
        }
    }

    /// One app with a pool of its own (`skiff serve`): nothing shared to protect.
    pub fn unshared() -> Self {
        Bounds {
            max_concurrency: u32::MAX,
            max_timeout: Duration::MAX,
            cpu_turns: cpus(),
            app_handles: usize::MAX,
        }
    }
}

/// The CPUs this process may use.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One component of an app of several (a Spin app's): its code, the grants its requests get,
/// its route (`None`: reached only by the app's other components), and the components it may
/// call in-process (their ids; `*` for all of them, `self` for the app's own routes).
pub struct Component {
    pub id: String,
    pub loader: Loader,
    pub grants: skiff_runtime::PreparedGrants,
    pub route: Option<crate::SpinRoute>,
    pub calls: Vec<String>,
}

/// A handler of the app: its code and what each of its requests is given. An app has one, or
/// one per component.
struct Handler {
    loader: Loader,
    /// Replaced whole by [`HttpApp::set_limits`]; each request takes the current one.
    options: Mutex<Arc<HandlerOptions>>,
    /// A Spin component's route: Spin's headers are set on every request.
    spin: Option<crate::SpinRoute>,
    /// A component's id (`None`: the app's only handler).
    component: Option<String>,
}

pub struct HttpApp {
    /// Its name in the daemon, which `skiff rename` changes while it serves.
    name: Mutex<Arc<str>>,
    /// One, or one per component, each on its route (chosen as Spin's router chooses).
    handlers: Vec<Handler>,
    /// The app itself, for the in-process calls between its components (set on its first
    /// request: none can be made before).
    me: Arc<std::sync::OnceLock<std::sync::Weak<HttpApp>>>,
    /// The daemon's `--max-request-timeout`, which the app's own timeout stays within.
    max_timeout: Duration,
    limits: HttpLimits,
    stats: Stats,
    permits: Arc<Semaphore>,
    /// Requests waiting for one of the app's instances: at most `max_concurrency` of them.
    waiting: AtomicU32,
    draining: AtomicBool,
    /// The meters of the instances running now, by a number of their own.
    running: Mutex<HashMap<u64, Arc<Usage>>>,
    next_instance: AtomicU64,
    /// Set on every request before the handler sees it, replacing the client's values of
    /// those names (`skiff serve --header`, as `wasmtime serve --header`).
    request_headers: Vec<(HeaderName, HeaderValue)>,
}

impl HttpApp {
    /// The app's limits are its own (`limits`, `options.limits`, with Skiff's defaults where it
    /// sets none) within `bounds`; a limit that had to be lowered is said in the app's log.
    pub fn new(
        name: String,
        loader: Loader,
        options: HandlerOptions,
        limits: HttpLimits,
        bounds: &Bounds,
    ) -> Self {
        let handler = Handler {
            loader,
            options: Mutex::new(Arc::new(options)),
            spin: None,
            component: None,
        };
        HttpApp::of_handlers(name, vec![handler], limits, bounds)
    }

    /// An app of several components (a Spin app), each on its route as `spin up` routes them,
    /// calling each other in-process (`http://ID.spin.internal/`, `http://self/PATH`) where the
    /// caller's `calls` allow. `options` is what every component's requests are given, but its
    /// grants (each component's own); the limits are the whole app's, as Spin's are. Refused:
    /// two components on the same route.
    pub fn of_components(
        name: String,
        components: Vec<Component>,
        options: HandlerOptions,
        limits: HttpLimits,
        bounds: &Bounds,
    ) -> Result<Self, String> {
        if components.is_empty() {
            return Err("it has no HTTP component".into());
        }
        for (i, a) in components.iter().enumerate() {
            for b in &components[..i] {
                if let (Some(ra), Some(rb)) = (&a.route, &b.route)
                    && ra.raw() == rb.raw()
                {
                    return Err(format!(
                        "components `{}` and `{}` are both routed at `{}`",
                        b.id,
                        a.id,
                        ra.raw()
                    ));
                }
            }
        }
        let me = Arc::new(std::sync::OnceLock::new());
        let ids: Arc<[String]> = components.iter().map(|c| c.id.clone()).collect();
        let handlers = components
            .into_iter()
            .enumerate()
            .map(|(index, component)| {
                let peers = ComponentPeers {
                    app: me.clone(),
                    ids: ids.clone(),
                    caller: index,
                    calls: component.calls,
                    outer: options.peers.clone(),
                };
                let options = HandlerOptions {
                    grants: component.grants,
                    peers: Some(Arc::new(peers)),
                    ..options.clone()
                };
                Handler {
                    loader: component.loader,
                    options: Mutex::new(Arc::new(options)),
                    component: Some(component.id),
                    spin: component.route,
                }
            })
            .collect();
        let mut app = HttpApp::of_handlers(name, handlers, limits, bounds);
        app.me = me;
        Ok(app)
    }

    fn of_handlers(
        name: String,
        mut handlers: Vec<Handler>,
        mut limits: HttpLimits,
        bounds: &Bounds,
    ) -> Self {
        let mut lowered = Vec::new();
        limits.max_concurrency = limits.max_concurrency.max(1);
        if limits.max_concurrency > bounds.max_concurrency {
            lowered.push(format!(
                "`--max-concurrency {}` is more than this daemon allows one app; using {} \
                 (the daemon's `--max-app-concurrency`)",
                limits.max_concurrency, bounds.max_concurrency
            ));
            limits.max_concurrency = bounds.max_concurrency;
        }
        // Its instances together hold at most its share of the process's descriptors.
        let fitting = (bounds.app_handles / MIN_INSTANCE_HANDLES).max(1);
        if limits.max_concurrency as usize > fitting {
            lowered.push(format!(
                "`--max-concurrency {}` instances would hold more open files, sockets and streams \
                 than this daemon allows one app ({} handles, half of its open-file limit); \
                 using {fitting}",
                limits.max_concurrency, bounds.app_handles
            ));
            limits.max_concurrency = fitting as u32;
        }
        // The components of an app share its turns, its CPU share and its Spin key-value
        // stores, as one app's instances: the first handler's (they are all given the same
        // limits).
        let mut options: Vec<&mut HandlerOptions> = handlers
            .iter_mut()
            .map(|h| {
                let options = h.options.get_mut().unwrap_or_else(|e| e.into_inner());
                Arc::get_mut(options).expect("a handler not shared yet")
            })
            .collect();
        let turns = (options[0].turns.clone()).unwrap_or_else(|| CpuTurns::new(bounds.cpu_turns));
        let rate = options[0].limits.cpus.map(skiff_runtime::CpuRate::new);
        let stores = options[0].stores.clone();
        for options in &mut options {
            // At most what was asked (`skiff serve -S max-resources`), or 1024.
            let cap = options.max_handles.unwrap_or(skiff_runtime::MAX_HANDLES);
            options.max_handles = Some(
                (bounds.app_handles / limits.max_concurrency as usize)
                    .max(MIN_INSTANCE_HANDLES)
                    .min(cap),
            );
            lowered.extend(fit_limits(options, bounds.max_timeout));
            options.turns = Some(turns.clone());
            options.rate = rate.clone();
            options.stores = stores.clone();
        }
        // The same for each component: said once.
        lowered.dedup();
        let app = HttpApp {
            name: Mutex::new(name.into()),
            handlers,
            me: Arc::default(),
            max_timeout: bounds.max_timeout,
            permits: Arc::new(Semaphore::new(limits.max_concurrency as usize)),
            limits,
            stats: Stats::default(),
            waiting: AtomicU32::new(0),
            draining: AtomicBool::new(false),
            running: Mutex::default(),
            next_instance: AtomicU64::new(0),
            request_headers: Vec::new(),
        };
        for message in lowered {
            app.log(&message);
        }
        app
    }

    /// A loader for an app already compiled.
    pub fn ready(app: Arc<App>) -> Loader {
        Box::new(move || {
            let app = app.clone();
            Box::pin(async move { Ok(app) })
        })
    }

    pub fn name(&self) -> Arc<str> {
        lock(&self.name).clone()
    }

    /// `skiff rename`: what its messages call it from now on.
    pub fn set_name(&self, name: &str) {
        *lock(&self.name) = name.into();
    }

    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// What each request is given now (of its first component, for an app of several).
    pub fn options(&self) -> Arc<HandlerOptions> {
        lock(&self.handlers[0].options).clone()
    }

    /// The ids of its components and whether each has a public route; empty for an app of one
    /// handler.
    pub fn components(&self) -> Vec<(String, Option<String>)> {
        self.handlers
            .iter()
            .filter_map(|h| {
                let id = h.component.clone()?;
                Some((id, h.spin.as_ref().map(|r| r.raw().to_string())))
            })
            .collect()
    }

    /// New limits (`skiff update`) for the requests from now on; those in flight keep theirs.
    /// Skiff's defaults and the daemon's bounds apply as when the app was made.
    pub fn set_limits(&self, limits: skiff_runtime::Limits) {
        // One CPU share for all the app's components.
        let rate = limits.cpus.map(skiff_runtime::CpuRate::new);
        let mut lowered = None;
        for handler in &self.handlers {
            let mut options = HandlerOptions::clone(&lock(&handler.options));
            options.limits = limits.clone();
            lowered = fit_limits(&mut options, self.max_timeout);
            options.rate = rate.clone();
            *lock(&handler.options) = Arc::new(options);
        }
        if let Some(lowered) = lowered {
            self.log(&lowered);
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the instances running now have used so far: CPU time, and the linear memory and
    /// tables they hold. [`Stats`] counts an instance once it is gone.
    pub fn in_flight(&self) -> (Duration, u64) {
        lock(&self.running)
            .values()
            .fold((Duration::ZERO, 0), |(cpu, memory), usage| {
                (cpu + usage.cpu_time(), memory + usage.memory())
            })
    }

    /// Takes requests again after a [`HttpApp::drain`].
    pub fn resume(&self) {
        self.draining.store(false, Ordering::Relaxed);
    }

    /// Stops taking requests (new ones get 503) and waits up to `grace` for the instances in
    /// flight to finish. Returns whether they all did.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.draining.store(true, Ordering::Relaxed);
        // A grace too long to add (an API client's `?t=`) is no deadline at all.
        let deadline = Instant::now().checked_add(grace);
        while self.stats.instances() > 0 {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                self.stop_running();
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Ends the instances running now, at their next await or epoch tick (Docker's SIGKILL
    /// after the grace period): each answers 500, and none keeps running, or holding its slot
    /// of the pool, once its app is stopped.
    pub fn stop_running(&self) {
        for usage in lock(&self.running).values() {
            usage.stop();
        }
    }

    /// Serves one request: limits first, then a fresh instance of the handler. The request
    /// comes from a client connection, or from another app of the daemon (an in-process call).
    /// Sets these headers on every request before the handler sees it, replacing the client's
    /// values of the same names; several of one name are all kept (`skiff serve --header`).
    /// Gives every request the headers Spin's HTTP trigger gives a component on `route`, and
    /// answers 404 to a path off the route, as Spin does.
    pub fn set_spin_route(&mut self, route: crate::SpinRoute) {
        self.handlers[0].spin = Some(route);
    }

    pub fn set_request_headers(&mut self, headers: Vec<(HeaderName, HeaderValue)>) {
        self.request_headers = headers;
    }

    pub async fn serve<B>(
        self: &Arc<Self>,
        request: hyper::Request<B>,
    ) -> hyper::Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_from(request, None).await
    }

    /// [`HttpApp::serve`] of a request from the client at `client` (`None`: a call from inside
    /// the process).
    pub async fn serve_from<B>(
        self: &Arc<Self>,
        request: hyper::Request<B>,
        client: Option<SocketAddr>,
    ) -> hyper::Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_handler(request, client, None).await
    }

    /// Serves a request with the handler at `index`, or the one its path is routed to.
    async fn serve_handler<B>(
        self: &Arc<Self>,
        request: hyper::Request<B>,
        client: Option<SocketAddr>,
        index: Option<usize>,
    ) -> hyper::Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        self.stats.request();
        let response = self.respond(request, client, index).await;
        self.stats.responded(response.status(), started.elapsed());
        response
    }

    /// The handler of a request for `path`: the app's only one, or the component whose route
    /// matches it most specifically, as Spin's router picks one.
    fn route(&self, path: &str) -> Option<usize> {
        if let [only] = &self.handlers[..]
            && only.spin.is_none()
        {
            return Some(0);
        }
        self.handlers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((h.spin.as_ref()?.specificity(path)?, i)))
            .max()
            .map(|(_, i)| i)
    }

    async fn respond<B>(
        self: &Arc<Self>,
        mut request: hyper::Request<B>,
        client: Option<SocketAddr>,
        index: Option<usize>,
    ) -> hyper::Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if self.draining.load(Ordering::Relaxed) {
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "the app is stopping");
        }
        let Some(index) = index.or_else(|| self.route(request.uri().path())) else {
            return error_response(
                StatusCode::NOT_FOUND,
                &format!("no route of the app matches `{}`", request.uri().path()),
            );
        };
        let handler = &self.handlers[index];
        if handler.component.is_some() {
            self.me.get_or_init(|| Arc::downgrade(self));
        }
        if let Some(route) = &handler.spin {
            route.set_headers(&mut request, client);
        }
        if !self.request_headers.is_empty() {
            let headers = request.headers_mut();
            for (name, _) in &self.request_headers {
                headers.remove(name);
            }
            for (name, value) in &self.request_headers {
                headers.append(name, value.clone());
            }
        }
        let max_body = self.limits.max_body_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let too_large = || {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than the app's limit of {max_body} bytes"),
            )
        };
        if declared.is_some_and(|length| length > max_body) {
            return too_large();
        }
        if request.uri().authority().is_none() {
            match request.headers().get(header::HOST).map(HeaderValue::to_str) {
                None => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "the request has no Host header",
                    );
                }
                // wasi:http hands the guest its authority as a string.
                Some(Err(_)) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "the request's Host header is not ASCII",
                    );
                }
                Some(Ok(_)) => {}
            }
        }
        let Some(permit) = self.admit().await else {
            self.stats.rejected();
            return busy_response("all of the app's instances are busy; retry shortly");
        };
        let app = match (handler.loader)().await {
            Ok(app) => app,
            Err(e) => {
                self.log(&format!("cannot load the app: {e}"));
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the app cannot be loaded",
                );
            }
        };
        let body_timeout = Duration::from_millis(self.limits.body_timeout_ms.max(1));
        let timed_out = Arc::new(AtomicBool::new(false));
        let request = {
            let timed_out = timed_out.clone();
            request.map(move |body| {
                TimedBody::new(
                    Limited::new(body, max_body as usize),
                    body_timeout,
                    timed_out,
                )
                .map_err(move |e| body_error(e, max_body))
                .boxed_unsync()
            })
        };
        // Kept for a failure's log line; cloning a `Uri` shares its bytes.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        // Counted until the instance is gone, or until `handle` gives up before it starts (the
        // report is then dropped, not called): either way the count comes down.
        // Metered from outside, so that what it uses shows while it runs (`in_flight`).
        let usage = Arc::new(Usage::default());
        let instance = Instance::start(self.clone(), permit, usage.clone());
        let report = move |report: InstanceReport| {
            let this = &instance.app;
            this.stats.instance_finished(&report);
            if let Some(failure) = &report.failure {
                let path = uri.path();
                this.log(&format!("{method} {path}: {}", failure.handler_summary()));
            }
        };
        let options = lock(&handler.options).clone();
        let result = app.handle(request, &options, usage, report).await;
        if timed_out.load(Ordering::Relaxed) && result.is_err() {
            let mut response = error_response(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body stalled for {body_timeout:?} (the app's `--body-timeout`)"
                ),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        match result {
            Ok(response) => response,
            // Failures of the instance itself were logged by `report`.
            Err(HandleError::NoResponse(exit)) => {
                let status = match exit {
                    Exit::Limit(LimitExceeded::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                error_response(status, &exit.handler_summary())
            }
            // A handler that takes its request whole (Spin's `inbound-http`) never started.
            Err(HandleError::Body(wasmtime_wasi_http::Error::HttpRequestBodySize(_))) => {
                too_large()
            }
            Err(e @ HandleError::Body(_)) => {
                error_response(StatusCode::BAD_REQUEST, &e.to_string())
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

    /// One of the app's instance permits: at once, or after waiting in the app's own queue (as
    /// long as `max_concurrency` requests, for up to `queue_timeout_ms`); `None` if the queue is
    /// full or the wait too long.
    async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _leave = Leave(&self.waiting);
        if queued >= self.limits.max_concurrency {
            return None;
        }
        let queue = Duration::from_millis(self.limits.queue_timeout_ms);
        tokio::time::timeout(queue, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Skiff's messages about the app go where its stderr goes (the app's log in the daemon).
    fn log(&self, message: &str) {
        match &self.options().stdio {
            Stdio::Inherit => tracing::warn!(app = %self.name(), "{message}"),
            Stdio::Capture { stderr, .. } => {
                tracing::debug!(app = %self.name(), "{message}");
                stderr.write(format!("skiff: {message}\n").as_bytes());
            }
        }
    }
}

/// The in-process calls of one component of an app to the others: `http://ID.spin.internal/`
/// to component ID, `http://self/PATH` to the app's route for PATH, each only where the caller's
/// `calls` name it (or `*`), as Spin allows them; any other host goes to the app's own peers
/// (the daemon's links), or out.
struct ComponentPeers {
    app: Arc<std::sync::OnceLock<std::sync::Weak<HttpApp>>>,
    ids: Arc<[String]>,
    caller: usize,
    calls: Vec<String>,
    outer: Option<Arc<dyn Peers>>,
}

impl Peers for ComponentPeers {
    fn call(&self, host: &str, request: http::Request<WasiBody>) -> PeerCall {
        let wanted = match host.strip_suffix(".spin.internal") {
            Some(id) => id,
            None if host == "self" => host,
            None => {
                return match &self.outer {
                    Some(outer) => outer.call(host, request),
                    None => PeerCall::Outside(Box::new(request)),
                };
            }
        };
        let caller = &self.ids[self.caller];
        let granted = |c: &String| c == wanted || (c == "*" && wanted != "self");
        if !self.calls.iter().any(granted) {
            return PeerCall::Refused(format!(
                "blocked call from Spin component `{caller}` to `{host}`: add `http://{host}` to \
                 its `allowed_outbound_hosts`"
            ));
        }
        let index = match wanted {
            "self" => None,
            id => match self.ids.iter().position(|c| c == id) {
                Some(index) => Some(index),
                None => {
                    return PeerCall::Refused(format!(
                        "blocked call from Spin component `{caller}` to `{host}`: the app has no \
                         component `{id}` (`skiff image inspect IMAGE` lists its components)"
                    ));
                }
            },
        };
        let Some(app) = self.app.get().and_then(std::sync::Weak::upgrade) else {
            return PeerCall::Refused(format!("the app of `{caller}` is gone"));
        };
        PeerCall::Answer(Box::pin(async move {
            Ok(app.serve_handler(request, None, index).await)
        }))
    }
}

/// Skiff's defaults and bounds on a handler's limits: a timeout (an instance holds a pool slot
/// shared with every other app: none may hold one forever) of at most `max_timeout`, and a
/// memory limit. (Its CPU share is the app's, one for all its instances, as a cgroup's quota
/// covers all its tasks: set by the caller.) Returns what was lowered, for the app's log.
fn fit_limits(options: &mut HandlerOptions, max_timeout: Duration) -> Option<String> {
    let mut lowered = None;
    let timeout = options
        .limits
        .timeout
        .get_or_insert(DEFAULT_REQUEST_TIMEOUT.min(max_timeout));
    if *timeout > max_timeout {
        lowered = Some(format!(
            "`--timeout {:?}` is longer than this daemon allows a request; using {:?} \
             (the daemon's `--max-request-timeout`)",
            *timeout, max_timeout
        ));
        *timeout = max_timeout;
    }
    options.limits.memory.get_or_insert(DEFAULT_HANDLER_MEMORY);
    lowered
}

/// Leaves the app's queue when dropped.
struct Leave<'a>(&'a AtomicU32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A handler instance of the app, counted in its stats (and holding one of its permits) until
/// dropped: with the report once the instance is gone, or as soon as the request fails before
/// there was one. (A request whose Host `handle` could not read was once counted forever, and
/// every later `stop` waited out its grace period.)
struct Instance {
    app: Arc<HttpApp>,
    _permit: OwnedSemaphorePermit,
    id: u64,
}

impl Instance {
    fn start(app: Arc<HttpApp>, permit: OwnedSemaphorePermit, usage: Arc<Usage>) -> Self {
        app.stats.instance_started();
        let id = app.next_instance.fetch_add(1, Ordering::Relaxed);
        lock(&app.running).insert(id, usage);
        Instance {
            app,
            _permit: permit,
            id,
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        lock(&self.app.running).remove(&self.id);
        self.app.stats.instance_ended();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The request body as the handler reads it: an error if the client sends nothing for
/// `idle` while the handler waits for more, so a slow body (slowloris) frees its instance.
struct TimedBody<B> {
    inner: B,
    idle: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl<B> TimedBody<B> {
    fn new(inner: B, idle: Duration, timed_out: Arc<AtomicBool>) -> Self {
        TimedBody {
            inner,
            idle,
            deadline: None,
            timed_out,
        }
    }
}

/// The request body stopped arriving (`--body-timeout`).
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for {0:?}")]
struct BodyTimeout(Duration);

impl<B> hyper::body::Body for TimedBody<B>
where
    B: hyper::body::Body<Data = Bytes, Error = Box<dyn std::error::Error + Send + Sync>> + Unpin,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.deadline = None;
            return Poll::Ready(frame);
        }
        let idle = this.idle;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(idle)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn body_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    limit: u64,
) -> wasmtime_wasi_http::Error {
    if error.is::<http_body_util::LengthLimitError>() {
        return wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit));
    }
    if error.is::<BodyTimeout>() {
        return wasmtime_wasi_http::Error::ConnectionReadTimeout;
    }
    let error = match error.downcast::<hyper::Error>() {
        Ok(hyper) => return wasmtime_wasi_http::Error::from(*hyper),
        Err(other) => other,
    };
    // The body of an in-process call: the calling guest's stream, failed as it says.
    match error.downcast::<wasmtime_wasi_http::Error>() {
        Ok(wasi) => *wasi,
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
pub fn error_response(status: StatusCode, message: &str) -> hyper::Response<ResponseBody> {
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

    fn unused() -> Loader {
        Box::new(|| Box::pin(async { Err("unused".to_string()) }))
    }

    /// A Spin app's requests go to the component Spin's router picks, each component's code
    /// loaded only for its own; a path no route takes is 404; two components may not share a
    /// route. (Serving and the calls between components: `images::spin_apps_*` in the CLI's
    /// tests, `a_spin_app_*` in the shim's.)
    #[tokio::test]
    async fn a_request_goes_to_the_component_its_route_picks() {
        let loaded = Arc::new(Mutex::new(Vec::new()));
        let component = |id: &str, route: Option<&str>| {
            let loaded = loaded.clone();
            let name = id.to_string();
            Component {
                id: id.into(),
                loader: Box::new(move || {
                    lock(&loaded).push(name.clone());
                    Box::pin(async { Err("not a real app".to_string()) })
                }),
                grants: Default::default(),
                route: route.map(crate::SpinRoute::new),
                calls: Vec::new(),
            }
        };
        let app = |components| {
            HttpApp::of_components(
                "spin".into(),
                components,
                HandlerOptions::default(),
                Default::default(),
                &Bounds::unshared(),
            )
        };
        let spin = Arc::new(
            app(vec![
                component("api", Some("/api/...")),
                component("hello", Some("/hello")),
                component("inner", None),
            ])
            .unwrap(),
        );
        let get = |path: &str| {
            let request = hyper::Request::get(path)
                .header("host", "example.com")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let spin = spin.clone();
            async move { spin.serve(request).await.status() }
        };
        assert_eq!(get("/api/items").await, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(get("/hello").await, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(get("/hello/more").await, StatusCode::NOT_FOUND);
        assert_eq!(get("/inner").await, StatusCode::NOT_FOUND);
        assert_eq!(*lock(&loaded), ["api", "hello"]);
        assert_eq!(
            spin.components(),
            [
                ("api".to_string(), Some("/api/...".to_string())),
                ("hello".to_string(), Some("/hello".to_string())),
                ("inner".to_string(), None)
            ]
        );
        let twice = app(vec![
            component("a", Some("/x/...")),
            component("b", Some("/x/...")),
        ]);
        assert_eq!(
            twice.err().as_deref(),
            Some("components `a` and `b` are both routed at `/x/...`")
        );
    }

    #[test]
    fn every_request_has_a_wall_clock_limit_and_a_memory_limit() {
        let bounds = Bounds::unshared();
        let app = HttpApp::new(
            "a".into(),
            unused(),
            Default::default(),
            Default::default(),
            &bounds,
        );
        assert_eq!(app.options().limits.timeout, Some(DEFAULT_REQUEST_TIMEOUT));
        assert_eq!(app.options().limits.memory, Some(DEFAULT_HANDLER_MEMORY));
        let mut options = HandlerOptions::default();
        options.limits.timeout = Some(Duration::from_secs(300));
        options.limits.memory = Some(ByteSize(1 << 30));
        let app = HttpApp::new("b".into(), unused(), options, Default::default(), &bounds);
        assert_eq!(app.options().limits.timeout, Some(Duration::from_secs(300)));
        assert_eq!(app.options().limits.memory, Some(ByteSize(1 << 30)));
    }

    #[test]
    fn no_app_gets_more_than_its_share() {
        let bounds = Bounds {
            app_handles: usize::MAX,
            ..Bounds::shared(1000)
        };
        assert_eq!(bounds.max_concurrency, 500);
        let mut options = HandlerOptions::default();
        options.limits.timeout = Some(Duration::from_secs(3600));
        let limits = HttpLimits {
            max_concurrency: 1000,
            ..Default::default()
        };
        let app = HttpApp::new("greedy".into(), unused(), options, limits, &bounds);
        assert_eq!(app.limits().max_concurrency, 500);
        assert_eq!(
            app.options().limits.timeout,
            Some(DEFAULT_MAX_REQUEST_TIMEOUT)
        );
        assert_eq!(Bounds::shared(1).max_concurrency, 1);
        assert_eq!(
            Bounds::shared(1).app_handles,
            crate::fd_hard_limit() / 2,
            "half of the process's open files per app"
        );
    }

    /// However many instances an app runs at once, together they hold at most its share of
    /// the process's descriptors (a handler opening files in a loop, at its `--max-concurrency`,
    /// could otherwise take all of them: 500 instances of 1024 handles against 20,000).
    #[test]
    fn an_apps_instances_share_its_handles() {
        let bounds = Bounds {
            app_handles: 10_000,
            ..Bounds::shared(1000)
        };
        let app = |max_concurrency| {
            let limits = HttpLimits {
                max_concurrency,
                ..Default::default()
            };
            let app = HttpApp::new(
                "files".into(),
                unused(),
                HandlerOptions::default(),
                limits,
                &bounds,
            );
            (
                app.limits().max_concurrency,
                app.options().max_handles.unwrap(),
            )
        };
        assert_eq!(app(100), (100, 100));
        assert_eq!(app(4), (4, skiff_runtime::MAX_HANDLES));
        // Fewer than 64 each would be too few for a handler: fewer instances instead.
        assert_eq!(app(500), (156, 64));
        // `skiff serve`: one app, nothing shared.
        let alone = HttpApp::new(
            "alone".into(),
            unused(),
            HandlerOptions::default(),
            HttpLimits::default(),
            &Bounds::unshared(),
        );
        assert_eq!(
            alone.options().max_handles,
            Some(skiff_runtime::MAX_HANDLES)
        );
    }
}
