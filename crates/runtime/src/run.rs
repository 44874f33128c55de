//! Running a command app to completion under its grants and limits.

use skiff_capabilities::wasi::{DataInterfaces, FileIo, GrantError, PreparedGrants};
use skiff_capabilities::{Grants, Limits};
use wasmtime::component::{ResourceTable, ResourceTableError};
use wasmtime::{Store, Trap, UpdateDeadline, WasmBacktrace};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::egress::{Egress, Peers};
use crate::invoke::{ComponentCall, CoreCall, InvokeError};
use crate::limits::{Guard, LimitExceeded, Usage, Watchdog};
use crate::load::{App, Command, Pre};

/// What one run of an app is given.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The guest's arguments, `argv[0]` first.
    pub args: Vec<String>,
    pub grants: Grants,
    pub limits: Limits,
    pub stdio: Stdio,
    /// Where the run's CPU time and memory are counted, live.
    pub usage: Arc<Usage>,
    /// The apps it may call in-process over `wasi:http` (the daemon's links).
    pub peers: Option<Arc<dyn Peers>>,
    /// Call this exported function instead of the entry point and print its results to stdout
    /// (`skiff run --invoke`): a core module's function by name, its arguments from `args`
    /// after `argv[0]`; a component's as a WAVE call, `name(arg, ...)`.
    pub invoke: Option<String>,
    /// Write a core dump of the instance to this file if it traps (`-D coredump=PATH`, in an
    /// engine with [`crate::Codegen::coredump_on_trap`]), as `wasmtime run` writes it.
    pub core_dump: Option<PathBuf>,
    /// The app's pause switch (`skiff pause`, in the daemon).
    pub pause: Option<crate::Pause>,
    /// Set (to the grace period) when the app is asked to stop (the daemon's `skiff stop`): a
    /// Spin Redis trigger's run then ends as soon as no message is being handled, where a
    /// command, which cannot be told, runs on until the grace period is over.
    pub stop: Option<tokio::sync::watch::Receiver<Option<std::time::Duration>>>,
    /// The app's Spin key-value stores and SQLite databases (a Spin app's Redis trigger
    /// component's), shared by its instances; in memory unless the caller opened them.
    pub stores: Arc<crate::SpinStores>,
}

/// Where the guest's standard streams go.
#[derive(Clone, Default)]
pub enum Stdio {
    /// This process's stdin, stdout and stderr (`skiff run` in the foreground).
    #[default]
    Inherit,
    /// Stdout and stderr written to sinks (the daemon's logs, containerd's fifos); stdin read
    /// from `stdin` (the fifo containerd gives a task), or at its end at once when there is none.
    /// An HTTP handler's stdin is always at its end.
    Capture {
        stdin: Option<Stdin>,
        stdout: Arc<dyn OutputSink>,
        stderr: Arc<dyn OutputSink>,
    },
}

/// A guest's stdin read from an async source (the shim's stdin fifo); the clones of a `Stdio`
/// share it.
#[derive(Clone)]
pub struct Stdin(Arc<wasmtime_wasi::cli::AsyncStdinStream>);

impl Stdin {
    pub fn new(source: impl tokio::io::AsyncRead + Send + Sync + 'static) -> Self {
        Stdin(Arc::new(wasmtime_wasi::cli::AsyncStdinStream::new(source)))
    }
}

impl wasmtime_wasi::cli::StdinStream for Stdin {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::InputStream> {
        self.0.p2_stream()
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        self.0.async_stream()
    }
}

impl wasmtime_wasi::cli::IsTerminal for Stdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl Stdio {
    /// Writes what Skiff itself prints for the app on its stdout (`--invoke`'s results).
    pub(crate) fn write_stdout(&self, bytes: &[u8]) {
        match self {
            Stdio::Inherit => {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes).and_then(|()| out.flush());
            }
            Stdio::Capture { stdout, .. } => stdout.write(bytes),
        }
    }

    /// Where Skiff tells the app's own log that a socket was blocked: its stderr, when captured
    /// (the daemon's `skiff logs`); in the foreground, Skiff's log on the terminal says it.
    pub(crate) fn report(&self) -> Option<skiff_capabilities::wasi::Report> {
        let stderr = self.captured_stderr()?;
        Some(Arc::new(move |message: &str| {
            stderr.write(format!("skiff: {message}\n").as_bytes());
        }))
    }

    /// The sink of the app's stderr, when captured (the daemon's log, containerd's fifo).
    pub(crate) fn captured_stderr(&self) -> Option<Arc<dyn OutputSink>> {
        match self {
            Stdio::Inherit => None,
            Stdio::Capture { stderr, .. } => Some(stderr.clone()),
        }
    }
}

/// Receives a guest's output as it is written.
pub trait OutputSink: Send + Sync + 'static {
    fn write(&self, bytes: &[u8]);
}

pub(crate) struct SinkStream(pub(crate) Arc<dyn OutputSink>);

impl wasmtime_wasi::cli::IsTerminal for SinkStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for SinkStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(SinkWriter(self.0.clone()))
    }

    /// Writes go straight to the sink, which never blocks: no adapter task and buffer per
    /// stream (the default), which thousands of idle apps would each pay for.
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(SinkOutput(self.0.clone()))
    }
}

struct SinkOutput(Arc<dyn OutputSink>);

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for SinkOutput {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for SinkOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.0.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(1 << 20)
    }
}

struct SinkWriter(Arc<dyn OutputSink>);

impl tokio::io::AsyncWrite for SinkWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.write(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// How a run ended, from the guest's point of view.
#[derive(Clone, Debug)]
pub enum Exit {
    /// The guest exited (returning from `main` is 0).
    Code(i32),
    /// The guest trapped.
    Trap {
        /// The trap, e.g. "wasm `unreachable` instruction executed".
        message: String,
        /// The wasm backtrace, with function names where the module has a name section.
        backtrace: Option<String>,
        /// The guest overflowed its wasm stack (e.g. unbounded recursion).
        stack_overflow: bool,
        /// Where its core dump was written (`RunOptions::core_dump`), or why it could not be.
        core_dump: Option<Result<PathBuf, String>>,
    },
    /// Skiff stopped the guest at one of its limits.
    Limit(LimitExceeded),
    /// The host refused what the guest asked of it and ended the run, with no trap of the
    /// guest's own: e.g. `proc_exit` with a status outside 0..126, or a WASI call given memory
    /// the guest does not have.
    Failed {
        message: String,
        backtrace: Option<String>,
    },
}

impl Exit {
    /// The exit status a shell user sees, in one place for `skiff run` and the daemon: the
    /// guest's own code; 134 for a trap (as `wasmtime run`); 137 for the memory limit (as an
    /// OOM-killed container); 152 for the CPU-time limit (as RLIMIT_CPU); 124 for the wall-clock
    /// limit (as `timeout(1)`); 1 when the host ended it (as `wasmtime run`, whose error it is).
    pub fn status(&self) -> i32 {
        match self {
            Exit::Code(code) => *code,
            Exit::Trap { .. } => 134,
            Exit::Failed { .. } => 1,
            Exit::Limit(LimitExceeded::Memory(_)) => 137,
            Exit::Limit(LimitExceeded::CpuTime(_)) => 152,
            Exit::Limit(LimitExceeded::Timeout(_)) => 124,
        }
    }
}

/// Why a run could not start. (How the guest ended is an [`Exit`], not an error.)
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// It imports wasi-nn, which was not granted.
    #[error("`{0}` uses wasi-nn, which this run does not grant")]
    NnNotGranted(String),
    /// It imports an interface that `-S NAME=n` left out, as `wasmtime run` leaves it out.
    #[error("`{app}` imports `{import}`, which `-S {option}=n` leaves out")]
    Unlinked {
        app: String,
        import: String,
        option: &'static str,
    },
}

impl RunError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            RunError::Grant(e) => e.hint(),
            RunError::NnNotGranted(_) => {
                "grant it with `-S nn` (as `wasmtime run -S nn`), and `-S \
                 nn-graph=openvino::DIR` for a model it loads by name: wasi-nn runs models with the \
                 host's OpenVINO, inside Skiff's own process"
            }
            RunError::Unlinked { .. } => {
                "drop the `=n` option: Skiff links the interface unless told not to (under \
                 `wasmtime run`, a program that imports it fails to link too)"
            }
            RunError::Invoke(_) => {
                "`--invoke NAME` calls an exported function of a core module with the arguments \
                 after the file (`--invoke add math.wasm 1 2`); of a component, a call in WAVE \
                 (`--invoke 'add(1, 2)' lib.wasm`)"
            }
        }
    }
}

/// The call `--invoke` asked for, checked before the app is instantiated.
enum Call<'a> {
    Core(CoreCall),
    /// With the component's instance before linking, whatever world it has.
    Component(
        ComponentCall,
        &'a wasmtime::component::InstancePre<ComponentHost>,
    ),
}

/// The most handles (open files, sockets, streams, pollables, HTTP fields...) one instance may
/// hold at once, as a process gets 1024 file descriptors by default. wasmtime's own default is a
/// million, so one guest opening a file of a granted directory in a loop took every descriptor
/// of the daemon (20,000 here): its API and every app's connections stalled until the guest was
/// stopped (issue 9, hostile-tenant suite).
pub const MAX_HANDLES: usize = 1024;

/// wasmtime's own default for the handles of one instance, which `skiff run` in the foreground
/// keeps: its one program is bounded by the process's open-file limit, as under `wasmtime run`.
pub const WASMTIME_MAX_HANDLES: usize = 1_000_000;

pub(crate) struct P1Host {
    pub(crate) wasi: WasiP1Ctx,
    /// `wasi_ephemeral_nn`'s state, when granted.
    nn: Option<wasmtime_wasi_nn::witx::WasiNnCtx>,
    guard: Guard,
}

impl P1Host {
    pub(crate) fn nn(&mut self) -> &mut wasmtime_wasi_nn::witx::WasiNnCtx {
        // Never reached without the grant: such a program is refused before it starts.
        self.nn.get_or_insert_with(|| {
            wasmtime_wasi_nn::witx::WasiNnCtx::new(
                [],
                wasmtime_wasi_nn::InMemoryRegistry::new().into(),
            )
        })
    }
}

/// The store data of every component instance, command or HTTP handler.
pub(crate) struct ComponentHost {
    wasi: WasiCtx,
    /// What `wasi:config/store` answers, and what `wasi:keyvalue` stores start with.
    data: Arc<DataInterfaces>,
    /// The app's Spin key-value stores and SQLite databases.
    stores: Arc<crate::SpinStores>,
    /// `wasi:tls`'s context, made when the guest first uses it (most never do).
    tls: Option<wasmtime_wasi_tls::WasiTlsCtx>,
    /// `wasi:nn`'s state, when granted.
    nn: Option<wasmtime_wasi_nn::wit::WasiNnCtx>,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: Egress,
    guard: Guard,
}

impl ComponentHost {
    pub(crate) fn new(
        wasi: WasiCtx,
        grants: &PreparedGrants,
        peers: Option<Arc<dyn Peers>>,
        stdio: &Stdio,
        guard: Guard,
        max_handles: usize,
        stores: Arc<crate::SpinStores>,
    ) -> Self {
        ComponentHost {
            wasi,
            data: grants.data_interfaces().clone(),
            stores,
            tls: None,
            nn: grants.nn().map(|nn| nn.wit()),
            http: {
                let mut http = WasiHttpCtx::new();
                if let Some(limit) = guard.store.limits.max_http_fields_size {
                    http.set_field_size_limit(limit);
                }
                http
            },
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(max_handles);
                table
            },
            egress: Egress {
                rule: grants.egress().clone(),
                report: stdio.captured_stderr(),
                peers,
                body_chunks: guard.store.limits.http_outgoing_body_buffer_chunks,
                body_chunk_size: guard.store.limits.http_outgoing_body_chunk_size,
            },
            guard,
        }
    }
}

impl ComponentHost {
    pub(crate) fn config(&mut self) -> wasmtime_wasi_config::WasiConfig<'_> {
        wasmtime_wasi_config::WasiConfig::from(&self.data.config)
    }

    pub(crate) fn spin(&mut self) -> crate::spin::SpinView<'_> {
        crate::spin::SpinView {
            data: &self.data,
            stores: &self.stores,
            table: &mut self.table,
            guard: &self.guard,
            egress: &self.egress,
        }
    }

    pub(crate) fn keyvalue(&mut self) -> wasmtime_wasi_keyvalue::WasiKeyValue<'_> {
        wasmtime_wasi_keyvalue::WasiKeyValue::new(&self.data.keyvalue, &mut self.table)
    }

    pub(crate) fn nn(&mut self) -> wasmtime_wasi_nn::wit::WasiNnView<'_> {
        // Never reached without the grant: such a program is refused before it starts.
        let nn = self.nn.get_or_insert_with(|| {
            wasmtime_wasi_nn::wit::WasiNnCtx::new(
                [],
                wasmtime_wasi_nn::InMemoryRegistry::new().into(),
            )
        });
        wasmtime_wasi_nn::wit::WasiNnView::new(&mut self.table, nn)
    }
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_tls::WasiTlsView for ComponentHost {
    fn tls(&mut self) -> wasmtime_wasi_tls::WasiTlsCtxView<'_> {
        wasmtime_wasi_tls::WasiTlsCtxView {
            ctx: self.tls.get_or_insert_with(crate::tls::wasi_tls),
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

pub(crate) trait Guarded: Send + 'static {
    fn guard(&mut self) -> &mut Guard;
}

impl Guarded for P1Host {
    fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }
}

impl Guarded for ComponentHost {
    fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }
}

impl App {
    /// Runs the app once, with stdio inherited from this process, until it exits, traps or hits
    /// a limit.
    pub async fn run(&self, options: RunOptions) -> Result<Exit, RunError> {
        // Name lookups of the network grants and wasi-nn's models: blocking work.
        let grants = crate::off_worker(|| PreparedGrants::new(&options.grants))?;
        self.check_grants(&grants)?;
        let call = match (&self.pre, options.invoke.as_deref()) {
            (Pre::Library(_), None) => {
                return Err(InvokeError::new(format!(
                    "`{}` is neither a command nor an HTTP handler: it exports neither \
                     `wasi:cli/run` nor `wasi:http/incoming-handler`, so it has no entry point; \
                     call one of its functions with `--invoke`",
                    self.name
                ))
                .into());
            }
            (_, None) => None,
            (Pre::Module { pre, .. }, Some(name)) => Some(Call::Core(CoreCall::new(
                pre.module(),
                name,
                options.args.get(1..).unwrap_or_default(),
            )?)),
            (Pre::Component(command), Some(call)) => {
                let pre = command.instance_pre();
                let call = ComponentCall::new(pre.engine(), pre.component(), call)?;
                Some(Call::Component(call, pre))
            }
            (Pre::Library(pre), Some(call)) => {
                let call = ComponentCall::new(pre.engine(), pre.component(), call)?;
                Some(Call::Component(call, pre))
            }
            (Pre::Redis(handler), Some(call)) => {
                let pre = handler.instance_pre();
                let call = ComponentCall::new(pre.engine(), pre.component(), call)?;
                Some(Call::Component(call, pre))
            }
            (Pre::Http(_), Some(_)) => None,
        };
        // A process that runs one app (`Interrupt::ExitProcess`) has no other guest to poll
        // while this one waits on its files; as `wasmtime run`, not when a wall-clock limit is
        // set (then wasmtime keeps file I/O off the guest's thread, which changes how WASI 0.3
        // writes are chunked, and a program may rely on that).
        let file_io = match (&self.exit_process, options.limits.timeout) {
            (Some(_), None) => FileIo::CurrentThread,
            _ => FileIo::BlockingPool,
        };
        // A context per instance: one for a command, one per message for a Redis trigger's.
        let new_wasi = || {
            let mut wasi = grants.builder(options.stdio.report(), file_io)?;
            wasi.args(&options.args);
            if let Some(max) = self.store.limits.max_random_size {
                wasi.max_random_size(max);
            }
            match &options.stdio {
                Stdio::Inherit => {
                    wasi.inherit_stdio();
                }
                Stdio::Capture {
                    stdin,
                    stdout,
                    stderr,
                } => {
                    if let Some(stdin) = stdin {
                        wasi.stdin(stdin.clone());
                    }
                    wasi.stdout(SinkStream(stdout.clone()))
                        .stderr(SinkStream(stderr.clone()));
                }
            }
            Ok::<_, GrantError>(wasi)
        };
        let mut wasi = new_wasi()?;
        let max_handles = self.store.limits.max_resources.unwrap_or(MAX_HANDLES);
        let guard = Guard::new(&options.limits, options.usage.clone(), self.store);
        let meter = guard.meter.clone();
        // No epoch checks in the code: the watchdog stops the run (and the process) at a limit.
        // A Redis trigger's limits are each message's, as an HTTP handler's are each request's
        // (`serve_redis`); a command's, its run's.
        let per_message = matches!(self.pre, Pre::Redis(_));
        let _watchdog = self
            .exit_process
            .as_ref()
            .filter(|_| !per_message)
            .and_then(|report| Watchdog::start(&options.limits, report.clone()));
        let core_dump = options.core_dump.as_deref().map(|path| (path, &*self.name));
        let mut dumped = None;
        let run = async {
            if let Some(Call::Component(call, pre)) = &call {
                let host = ComponentHost::new(
                    wasi.build(),
                    &grants,
                    options.peers.clone(),
                    &options.stdio,
                    guard,
                    max_handles,
                    options.stores.clone(),
                );
                let mut store = new_store(pre.engine(), host);
                let called = async {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let func = instance
                        .get_func(&mut store, call.export)
                        .expect("checked against the component's exports");
                    let mut results = vec![wasmtime::component::Val::Bool(false); call.results];
                    func.call_async(&mut store, &call.params, &mut results)
                        .await?;
                    Ok(results)
                }
                .await;
                let results = dump_core(&mut store, called, core_dump, &mut dumped)?;
                options
                    .stdio
                    .write_stdout(crate::invoke::component_results(&results).as_bytes());
                return Ok(0);
            }
            match &self.pre {
                Pre::Module {
                    pre,
                    entry,
                    initialize,
                } => {
                    let mut host = P1Host {
                        wasi: wasi.build_p1(),
                        nn: grants.nn().map(|nn| nn.witx()),
                        guard,
                    };
                    host.wasi.ctx().table.set_max_capacity(max_handles);
                    let mut store = new_store(pre.module().engine(), host);
                    let ran = async {
                        let instance = pre.instantiate(&mut store).await?;
                        // With `--invoke`, the function instead of the entry point (after
                        // `_initialize`, as `wasmtime run`).
                        let entry = if call.is_some() { &None } else { entry };
                        for export in initialize.then_some("_initialize").iter().chain(entry) {
                            let func = instance.get_typed_func::<(), ()>(&mut store, export)?;
                            func.call_async(&mut store, ()).await?;
                        }
                        if let Some(Call::Core(call)) = &call {
                            let func = instance
                                .get_func(&mut store, &call.name)
                                .expect("checked against the module's exports");
                            let mut results = vec![wasmtime::Val::null_func_ref(); call.results];
                            func.call_async(&mut store, &call.params, &mut results)
                                .await?;
                            options
                                .stdio
                                .write_stdout(crate::invoke::core_results(&results).as_bytes());
                        }
                        Ok(0)
                    }
                    .await;
                    dump_core(&mut store, ran, core_dump, &mut dumped)
                }
                Pre::Library(_) => unreachable!("refused above without --invoke"),
                Pre::Component(command) => {
                    let host = ComponentHost::new(
                        wasi.build(),
                        &grants,
                        options.peers.clone(),
                        &options.stdio,
                        guard,
                        max_handles,
                        options.stores.clone(),
                    );
                    let mut store = new_store(command.instance_pre().engine(), host);
                    let ran = async {
                        match command {
                            Command::P2(pre) => {
                                let command = pre.instantiate_async(&mut store).await?;
                                command.wasi_cli_run().call_run(&mut store).await
                            }
                            Command::P3(pre) => {
                                let command = pre.instantiate_async(&mut store).await?;
                                store
                                    .run_concurrent(async |store| {
                                        command.wasi_cli_run().call_run(store).await
                                    })
                                    .await?
                            }
                        }
                    }
                    .await;
                    // `run` returning `Err(())` is exit status 1, as in `wasmtime run`.
                    let result = dump_core(&mut store, ran, core_dump, &mut dumped)?;
                    Ok(if result.is_ok() { 0 } else { 1 })
                }
                Pre::Http(_) => Err(wasmtime::Error::msg(
                    "an HTTP handler is served per request, not run",
                )),
                Pre::Redis(handler) => {
                    let instance = |message_guard| {
                        let host = ComponentHost::new(
                            new_wasi()?.build(),
                            &grants,
                            options.peers.clone(),
                            &options.stdio,
                            message_guard,
                            max_handles,
                            options.stores.clone(),
                        );
                        Ok::<_, GrantError>(new_store(handler.instance_pre().engine(), host))
                    };
                    drop(guard);
                    self.serve_redis(handler, &grants, &options, instance).await
                }
            }
        };
        let rate = options.limits.cpus.map(crate::CpuRate::new);
        let run = meter
            .meter_in_turns(run, rate.as_ref(), None, self.long_runners.as_ref())
            .paused_by(options.pause.as_ref());
        let result = match options.limits.timeout.filter(|_| !per_message) {
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(result) => result,
                Err(_elapsed) => return Ok(Exit::Limit(LimitExceeded::Timeout(limit))),
            },
            None => run.await,
        };
        tracing::debug!(app = %self.name, cpu = ?meter.cpu_time(), "app finished");
        Ok(match result {
            Ok(code) => Exit::Code(code),
            Err(error) => classify(error, max_handles, dumped),
        })
    }
}

/// `-D coredump=PATH`: if the instance trapped, its core dump (which the engine captured with
/// the trap) written to PATH while its store is alive, in wasmtime's format (`wasm-tools` and
/// wasmgdb read it); the outcome kept in `dumped`. Written beside PATH and renamed onto it, off
/// the async workers: a server's instances that trap at once each leave a whole dump, the last
/// one standing.
pub(crate) fn dump_core<T, R>(
    store: &mut Store<T>,
    ran: wasmtime::Result<R>,
    to: Option<(&Path, &str)>,
    dumped: &mut Option<Result<PathBuf, String>>,
) -> wasmtime::Result<R> {
    if let (Err(error), Some((path, name))) = (&ran, to)
        && error.is::<Trap>()
        && let Some(core_dump) = error.downcast_ref::<wasmtime::WasmCoreDump>()
    {
        let bytes = core_dump.serialize(&mut *store, name);
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let written = crate::off_worker(|| {
            let mut file = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            file.persist(path).map_err(|e| e.error)?;
            Ok::<_, std::io::Error>(())
        });
        *dumped = Some(written.map(|()| path.to_path_buf()).map_err(|e| {
            format!(
                "cannot write `{}` ({e}); give `-D coredump=` a file in a writable directory",
                path.display()
            )
        }));
    }
    ran
}

pub(crate) fn new_store<T: Guarded>(engine: &wasmtime::Engine, mut host: T) -> Store<T> {
    let options = host.guard().store;
    let mut store = Store::new(engine, host);
    if let Some(fuel) = options.fuel {
        store
            .set_fuel(fuel)
            .expect("an engine given fuel consumes it");
    }
    if let Some(fuel) = options.limits.hostcall_fuel {
        store.set_hostcall_fuel(fuel);
    }
    if let Some(max) = options.limits.max_component_handles {
        store.set_max_component_handles(max);
    }
    // As `wasmtime run -S max-resources` bounds it (the handles of WASI itself are bounded
    // where the host's table is made).
    if let Some(max) = options.limits.max_resources
        && let Some(table) = store.concurrent_resource_table()
    {
        table.set_max_capacity(max);
    }
    store.limiter(|host| host.guard());
    store.epoch_deadline_callback(|mut ctx| {
        let guard = ctx.data_mut().guard();
        guard.check_cpu()?;
        guard.meter.ticked();
        // Yield every tick so one busy guest never holds a worker thread, and timers (the
        // wall-clock limit) and other apps keep running. Through tokio's `yield_now`, which
        // puts the task at the back of the run queue: a plain wake would put it in the worker's
        // next-task slot, ahead of the neighbours it is meant to let run.
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store.set_epoch_deadline(1);
    store
}

/// How a run or an instance that failed with `error` ended; `max_handles`: the most handles it
/// could hold; `core_dump`: what [`dump_core`] did with its trap.
pub(crate) fn classify(
    error: wasmtime::Error,
    max_handles: usize,
    core_dump: Option<Result<PathBuf, String>>,
) -> Exit {
    for cause in error.chain() {
        if let Some(exit) = cause.downcast_ref::<I32Exit>() {
            return Exit::Code(exit.0);
        }
        if let Some(limit) = cause.downcast_ref::<LimitExceeded>() {
            return Exit::Limit(limit.clone());
        }
        if let Some(ResourceTableError::Full) = cause.downcast_ref::<ResourceTableError>() {
            return Exit::Trap {
                message: format!(
                    "resource table has no free keys: the app holds {max_handles} handles (open \
                     files, sockets, streams), the most \
                     one instance may hold at once (`-S max-resources=N` sets it for `skiff run` \
                     in the foreground and `skiff serve`)"
                ),
                backtrace: None,
                stack_overflow: false,
                core_dump: None,
            };
        }
    }
    let message = error.root_cause().to_string();
    let backtrace = error
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| bt.to_string())
        .filter(|bt| !bt.trim().is_empty());
    // An exception no handler caught is the guest's own end, as a native program's
    // `std::terminate` aborts it: a trap (where `wasmtime run` exits 1).
    let uncaught = error.is::<wasmtime::ThrownException>();
    match error.downcast_ref::<Trap>().copied() {
        Some(trap) => Exit::Trap {
            message,
            backtrace,
            stack_overflow: trap == Trap::StackOverflow,
            core_dump,
        },
        None if uncaught => Exit::Trap {
            message,
            backtrace,
            stack_overflow: false,
            core_dump,
        },
        None => Exit::Failed { message, backtrace },
    }
}
