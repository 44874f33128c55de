//! Serving one HTTP request with a fresh instance of an HTTP handler: WASI 0.2's
//! `wasi:http/incoming-handler` or WASI 0.3's `wasi:http/handler`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use skiff_capabilities::Limits;
use skiff_capabilities::wasi::PreparedGrants;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::egress::Peers;
use crate::limits::{CpuRate, CpuTurns, Guard, LimitExceeded, Usage};
use crate::load::{App, Http, Pre};
use crate::run::{ComponentHost, Exit, RunError, Stdio, classify, dump_core, new_store};

/// What every request to an app is given: the same grants and limits as `skiff run`, applied
/// per instance (`limits.memory` per instance, `limits.timeout` and `limits.cpu_time` per request).
#[derive(Clone, Default)]
pub struct HandlerOptions {
    /// Checked and resolved once, when the app is deployed, not per request.
    pub grants: PreparedGrants,
    pub limits: Limits,
    /// Where the handler's stdout and stderr go (stdin is always empty).
    pub stdio: Stdio,
    /// The app's turns on the CPU, shared by all its instances; `None`: as many as it has.
    pub turns: Option<CpuTurns>,
    /// The app's CPU share (`limits.cpus`), shared by all its instances.
    pub rate: Option<CpuRate>,
    /// The app's pause switch (`skiff pause`), shared by all its instances.
    pub pause: Option<crate::Pause>,
    /// The apps it may call in-process over `wasi:http` (the daemon's links).
    pub peers: Option<Arc<dyn Peers>>,
    /// The most handles (open files, sockets, streams...) one instance may hold; `None`: the
    /// runtime's `-S max-resources`, or [`MAX_HANDLES`](crate::MAX_HANDLES), as a command.
    pub max_handles: Option<usize>,
    /// Write a core dump of an instance that traps to this file, replacing the last
    /// (`skiff serve -D coredump=PATH`; its engine captures them).
    pub core_dump: Option<PathBuf>,
    /// The app's Spin key-value stores and SQLite databases, shared by all its instances (and
    /// components).
    pub stores: Arc<crate::SpinStores>,
}

/// What one instance used, from instantiation until the handler returned (which may be after
/// the response was sent, while it streamed the body): what a serverless bill is made of.
#[derive(Clone, Debug)]
pub struct InstanceReport {
    pub wall: Duration,
    pub cpu: Duration,
    /// Peak linear memory.
    pub memory_peak: u64,
    /// Linear memory integrated over the instance's lifetime, in byte-seconds.
    pub memory_time: f64,
    /// `None` if the handler returned normally; how it ended otherwise.
    pub failure: Option<Exit>,
}

/// Why a request got no response from the app.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("`{0}` is not an HTTP handler")]
    NotHttp(String),
    #[error(transparent)]
    Grant(#[from] RunError),
    /// The handler set an error instead of a response (the WASI error code).
    #[error("the handler failed: {0}")]
    Guest(String),
    /// The instance ended (trapped, hit a limit, or returned) without setting a response.
    #[error("{}", .0.handler_summary())]
    NoResponse(Exit),
    #[error("failed to start a handler instance")]
    Host(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request's body could not be read whole (a handler of Spin's `inbound-http` takes it
    /// so): larger than the app's limit, stalled, or cut off.
    #[error("the request body could not be read: {0}")]
    Body(wasmtime_wasi_http::Error),
    /// Every slot of the instance pool is in use (by all apps together).
    #[error("all handler instances of this server are in use")]
    Overloaded,
}

impl Exit {
    /// How a handler instance ended, in one line, naming the flag that raises a limit.
    pub fn handler_summary(&self) -> String {
        match self {
            Exit::Code(_) => "the handler returned without a response".into(),
            Exit::Trap {
                message, core_dump, ..
            } => match core_dump {
                None => format!("the handler trapped: {message}"),
                Some(Ok(path)) => format!(
                    "the handler trapped: {message} (core dumped at {})",
                    path.display()
                ),
                Some(Err(why)) => format!("the handler trapped: {message} (no core dump: {why})"),
            },
            Exit::Failed { message, .. } => format!("the handler failed: {message}"),
            Exit::Limit(limit) => format!("{limit} (raise it with `{}`)", limit.flag()),
        }
    }
}

impl App {
    /// Serves one request with a fresh instance. Returns as soon as the handler has set the
    /// response head; the body streams while the instance goes on, and `report` is called once
    /// the instance is gone, with what it used.
    pub async fn handle<B>(
        &self,
        request: hyper::Request<B>,
        options: &HandlerOptions,
        usage: Arc<Usage>,
        report: impl FnOnce(InstanceReport) + Send + 'static,
    ) -> Result<hyper::Response<HyperOutgoingBody>, HandleError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let Pre::Http(pre) = &self.pre else {
            return Err(HandleError::NotHttp(self.name.clone()));
        };
        // Checked when the app is deployed too; here, so that no path serves it ungranted.
        self.check_grants(&options.grants)?;
        let started = Instant::now();
        let mut wasi = options
            .grants
            .builder(
                options.stdio.report(),
                skiff_capabilities::wasi::FileIo::BlockingPool,
            )
            .map_err(RunError::from)?;
        match &options.stdio {
            Stdio::Inherit => {
                wasi.inherit_stdout().inherit_stderr();
            }
            Stdio::Capture { stdout, stderr, .. } => {
                wasi.stdout(crate::run::SinkStream(stdout.clone()))
                    .stderr(crate::run::SinkStream(stderr.clone()));
            }
        }
        if let Some(max) = self.store.limits.max_random_size {
            wasi.max_random_size(max);
        }
        let guard = Guard::new(&options.limits, usage.clone(), self.store);
        let max_handles = options
            .max_handles
            .or(self.store.limits.max_resources)
            .unwrap_or(crate::MAX_HANDLES);
        let host = ComponentHost::new(
            wasi.build(),
            &options.grants,
            options.peers.clone(),
            &options.stdio,
            guard,
            max_handles,
            options.stores.clone(),
        );
        let mut store = new_store(pre.engine(), host);
        let host_error = |e: wasmtime::Error| HandleError::Host(e.into_boxed_dyn_error());
        let (sender, receiver) = tokio::sync::oneshot::channel::<Answer>();
        let call = match pre {
            Http::P2(pre) => {
                let request = store
                    .data_mut()
                    .http()
                    .new_incoming_request(Scheme::Http, request)
                    .map_err(host_error)?;
                let out = store
                    .data_mut()
                    .http()
                    .new_response_outparam_from_callback(move |answer| {
                        let _ = sender.send(answer.map_err(|code| format!("{code:?}")));
                    })
                    .map_err(host_error)?;
                Call::P2 {
                    pre: pre.clone(),
                    request,
                    out,
                }
            }
            Http::Spin(pre) => match crate::spin::inbound_http::request(request).await? {
                Ok(request) => Call::Spin {
                    pre: pre.clone(),
                    request: Box::new(request),
                    sender,
                },
                Err(refused) => return Ok(refused),
            },
            Http::P3(pre) => {
                let http = store.data_mut().http();
                let (request, request_io) =
                    wasmtime_wasi_http::p3::Request::from_http(http.hooks, request);
                let request = http.table.push(request).map_err(|e| host_error(e.into()))?;
                Call::P3 {
                    pre: pre.clone(),
                    request,
                    request_io: Box::pin(request_io),
                    sender,
                }
            }
        };

        // Said if this request is dropped (its client went away) before the handler answered:
        // the instance ends at its next await or epoch tick instead of computing for nobody,
        // ahead of the requests that came after it.
        let (abandon, abandoned) = tokio::sync::oneshot::channel::<()>();
        let abandon = AbandonOnDrop(Some(abandon));
        let timeout = options.limits.timeout;
        let meter = usage.clone();
        let turns = options.turns.clone();
        let rate = options.rate.clone();
        let pause = options.pause.clone();
        let long_runners = self.long_runners.clone();
        let core_dump = options
            .core_dump
            .clone()
            .map(|path| (path, self.name.clone()));
        let instance = tokio::spawn(async move {
            let run = meter
                .meter_in_turns(
                    call.run(&mut store),
                    rate.as_ref(),
                    turns.as_ref(),
                    long_runners.as_ref(),
                )
                .paused_by(pause.as_ref());
            let limited = async {
                match timeout {
                    Some(limit) => match tokio::time::timeout(limit, run).await {
                        Ok(result) => result,
                        Err(_elapsed) => Err(LimitExceeded::Timeout(limit).into()),
                    },
                    None => run.await,
                }
            };
            let abandoned = async {
                if abandoned.await.is_err() {
                    // Answered: the body streams on, whatever the client does.
                    std::future::pending::<()>().await;
                }
            };
            let result = tokio::select! {
                result = limited => result,
                () = meter.stopped() => Err(wasmtime::Error::msg(
                    "the app was stopped while this request ran",
                )),
                () = abandoned => Err(ClientGone.into()),
            };
            let mut dumped = None;
            let to = core_dump
                .as_ref()
                .map(|(path, name)| (path.as_path(), &**name));
            let result = dump_core(&mut store, result, to, &mut dumped);
            drop(store);
            let (overloaded, gone) = result.as_ref().err().map_or((false, false), |e| {
                (
                    e.chain()
                        .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>()),
                    e.is::<ClientGone>(),
                )
            });
            let failure = if overloaded || gone {
                None
            } else {
                result.err().map(|e| classify(e, max_handles, dumped))
            };
            report(InstanceReport {
                wall: started.elapsed(),
                cpu: meter.cpu_time(),
                memory_peak: meter.memory(),
                memory_time: meter.memory_time(),
                failure: failure.clone(),
            });
            (failure, overloaded)
        });

        let answer = receiver.await;
        abandon.answered();
        match answer {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(HandleError::Guest(code)),
            // The instance dropped the response outparam without setting it.
            Err(_) => Err(match instance.await {
                Ok((_, true)) => HandleError::Overloaded,
                Ok((Some(failure), _)) => HandleError::NoResponse(failure),
                Ok((None, _)) => HandleError::NoResponse(Exit::Code(0)),
                Err(panicked) => HandleError::NoResponse(Exit::Trap {
                    message: panicked.to_string(),
                    backtrace: None,
                    stack_overflow: false,
                    core_dump: None,
                }),
            }),
        }
    }
}

/// What a handler answers: the response head (its body streams on), or its WASI error code.
type Answer = Result<hyper::Response<HyperOutgoingBody>, String>;

/// One request's call into a fresh instance, prepared before the instance runs.
enum Call {
    P2 {
        pre: wasmtime_wasi_http::p2::bindings::ProxyPre<ComponentHost>,
        request: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>,
        out: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostResponseOutparam>,
    },
    P3 {
        pre: wasmtime_wasi_http::p3::bindings::ServicePre<ComponentHost>,
        request: wasmtime::component::Resource<wasmtime_wasi_http::p3::Request>,
        request_io:
            std::pin::Pin<Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>>,
        sender: tokio::sync::oneshot::Sender<Answer>,
    },
    /// Spin's `fermyon:spin/inbound-http`: the request whole.
    Spin {
        pre: crate::spin::inbound_http::InboundHttpPre,
        request: Box<crate::spin::inbound_http::types::Request>,
        sender: tokio::sync::oneshot::Sender<Answer>,
    },
}

impl Call {
    /// Instantiates the app and calls its handler; returns when the instance is done: for WASI
    /// 0.3, once the response body has been sent (or dropped), since the guest's tasks write it
    /// inside the store's event loop.
    async fn run(self, store: &mut wasmtime::Store<ComponentHost>) -> wasmtime::Result<()> {
        match self {
            Call::P2 { pre, request, out } => {
                let proxy = pre.instantiate_async(&mut *store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut *store, request, out)
                    .await
            }
            Call::Spin {
                pre,
                request,
                sender,
            } => {
                let answer = crate::spin::inbound_http::call(&pre, store, &request).await?;
                let _ = sender.send(answer);
                Ok(())
            }
            Call::P3 {
                pre,
                request,
                request_io,
                sender,
            } => {
                let service = pre.instantiate_async(&mut *store).await?;
                store
                    .run_concurrent(async move |accessor| {
                        let answer = service
                            .wasi_http_handler()
                            .call_handle(accessor, request)
                            .await?;
                        let response = match answer {
                            Ok(response) => response,
                            Err(code) => {
                                let _ = sender.send(Err(format!("{code:?}")));
                                return Ok(());
                            }
                        };
                        let response = accessor.with(|mut store| {
                            let response = store.get().http().table.delete(response)?;
                            response.into_http_with_getter(
                                &mut store,
                                request_io,
                                |host: &mut ComponentHost| host.http(),
                            )
                        })?;
                        let (done, body_done) = tokio::sync::oneshot::channel();
                        let response = response.map(|body| {
                            NotifyOnEnd {
                                body,
                                done: Some(done),
                            }
                            .boxed_unsync()
                        });
                        if sender.send(Ok(response)).is_ok() {
                            // The body streams from the guest's tasks, which run only while
                            // this event loop does: until it is sent or dropped.
                            let _ = body_done.await;
                        }
                        wasmtime::Result::Ok(())
                    })
                    .await?
            }
        }
    }
}

/// A response body that says when it has ended or been dropped (its `done` is dropped).
struct NotifyOnEnd<B> {
    body: B,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for NotifyOnEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let frame = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(None | Some(Err(_))) = &frame {
            self.done.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Ends a request's instance if the request is dropped before its handler answered.
struct AbandonOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl AbandonOnDrop {
    /// The handler answered (or its instance is gone): from now on the instance runs to its end.
    fn answered(mut self) {
        // Dropped unsent: the instance's side never resolves.
        self.0.take();
    }
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if let Some(abandon) = self.0.take() {
            let _ = abandon.send(());
        }
    }
}

/// Why an instance ended when its request's client went away before the answer: not the app's
/// failure, so not reported as one.
#[derive(Debug, thiserror::Error)]
#[error("the client went away before the handler answered")]
struct ClientGone;
