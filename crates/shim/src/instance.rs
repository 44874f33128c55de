//! One container = one Skiff app, run inside the shim process by Skiff's runtime.
//!
//! runwasi's `containerd-shim-wasm` runs each container's Wasm inside a Linux container that
//! youki builds (namespaces, cgroups, a pivoted rootfs), and hands the engine only args, env and
//! the module: mounts and the memory limit reach the app only as the kernel's view of them. Skiff
//! implements runwasi's lower-level `containerd_shimkit::sandbox::Instance` instead, so the OCI
//! spec is translated into Skiff's own `Grants` and `Limits` (`crate::spec`) and a mount or a
//! memory limit means exactly what `-v` and `--memory` mean in `skiff run`; and every container of
//! a pod shares one engine and compile cache (docs/decisions/0004-containerd-shim.md).

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use containerd_shimkit::sandbox::sync::WaitableCell;
use containerd_shimkit::sandbox::{Error, Instance, InstanceConfig};
use futures::FutureExt as _;
use oci_spec::runtime::Spec;
use skiff_api::HttpLimits;
use skiff_http::{Bounds, HttpApp, Target};
use skiff_image::{AppDefaults, Store, WasmSource};
use skiff_runtime::{
    App, AppKind, CompileEvent, HandlerOptions, OutputSink, PreparedGrants, RunOptions, Runtime,
    Stdin, Stdio, WarmApps,
};
use tokio::sync::watch;

use crate::image::Containerd;
use crate::stats::Sample;
use crate::{http, spec};

/// Where the shim keeps the images it copied out of containerd and the compiled code, shared by
/// every shim process of the node; `SKIFF_SHIM_ROOT` in containerd's environment overrides it.
const DEFAULT_ROOT: &str = "/var/lib/skiff/shim";

/// Docker's "the engine failed" status, for a run that could not start.
const ENGINE_ERROR: u32 = 125;

/// How long a handler's requests in flight may take to finish once it is told to stop (as
/// `skiff serve`); Kubernetes sends SIGKILL after the pod's grace period anyway.
const GRACE: Duration = Duration::from_secs(10);

pub(crate) fn root() -> PathBuf {
    std::env::var_os("SKIFF_SHIM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
}

/// One runtime per shim process (a node's containers share one shim, 0009): the engine, its epoch
/// ticker, linkers and the on-disk compile cache are made once.
fn runtime() -> anyhow::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = Runtime::new(skiff_runtime::RuntimeConfig {
        cache_dir: Some(root().join("cache")),
        ..Default::default()
    })?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

pub struct SkiffInstance {
    id: String,
    workload: Workload,
    options: RunOptions,
    cfg: InstanceConfig,
    rootfs: PathBuf,
    exit: WaitableCell<(u32, DateTime<Utc>)>,
    /// The signal the app was told to stop with, if any.
    stop: watch::Sender<Option<u32>>,
    /// A handler's server, once started: its stats count what its instances used.
    served: OnceLock<Arc<HttpApp>>,
}

enum Workload {
    /// A pod's sandbox container (CRI's "pause"): runs nothing, only holds the pod until it is
    /// stopped.
    Pause,
    /// A command program, run once.
    Command(Arc<App>),
    /// A `wasi:http` handler, served on `listener` (bound at create, so a port in use fails
    /// there) with a fresh instance per request.
    Http {
        listener: Mutex<Option<std::net::TcpListener>>,
        address: std::net::SocketAddr,
        /// Its one handler, or one per HTTP component of a Spin app of several.
        handlers: Vec<Handler>,
        /// A Spin app's Redis trigger components beside them, subscribed while it serves.
        triggers: Vec<(String, Arc<App>, skiff_capabilities::Grants)>,
    },
}

/// A handler the container serves.
struct Handler {
    app: Arc<App>,
    /// Prepared at create (which checked them): each request's instance is built from them.
    grants: PreparedGrants,
    /// A Spin component's id, route (its requests get Spin's headers) and calls.
    spin: Option<skiff_image::SpinComponent>,
}

/// The shim's image store, opened once per shim process (opening it also clears what a killed
/// writer left behind, which only the first open of a process needs).
fn store() -> anyhow::Result<&'static Store> {
    static STORE: OnceLock<Store> = OnceLock::new();
    if let Some(store) = STORE.get() {
        return Ok(store);
    }
    let store = Store::open(&root())
        .with_context(|| format!("failed to open the image store in `{}`", root().display()))?;
    Ok(STORE.get_or_init(|| store))
}

/// The apps this shim has loaded, by Wasm digest: the containers of the same Wasm share one
/// compiled app, and the most recently used stay loaded between containers (a node's shim
/// outlives them), so a start maps and compiles nothing.
fn apps() -> &'static WarmApps {
    static APPS: OnceLock<WarmApps> = OnceLock::new();
    APPS.get_or_init(|| WarmApps::new(WARM_APPS))
}

/// How many apps a shim keeps loaded.
const WARM_APPS: usize = 64;

/// The Wasm to run and what its image brings.
struct Source {
    name: String,
    wasm: Wasm,
    defaults: Option<AppDefaults>,
}

enum Wasm {
    /// A Wasm layer in the shim's image store, verified when it was copied there: read only if
    /// its code is neither loaded nor in the compile cache.
    Layer(String),
    /// A `.wasm` file of the rootfs (the compat form).
    Bytes(Vec<u8>),
}

impl Source {
    /// The source's app: loaded already, mapped from the node's compile cache, or compiled.
    /// Blocking.
    fn load(self, container: &str) -> anyhow::Result<Arc<App>> {
        let runtime = runtime()?;
        let key = match &self.wasm {
            Wasm::Layer(digest) => digest.clone(),
            Wasm::Bytes(bytes) => skiff_runtime::digest(bytes),
        };
        let name = &self.name;
        if let Some(app) = apps().get(&key) {
            log::info!("container {container}: `{name}` is loaded already");
            return Ok(app);
        }
        let bytes = match self.wasm {
            Wasm::Layer(digest) => match runtime.load_cached(name, &digest) {
                Some(app) => {
                    log::info!("container {container}: `{name}` loaded from the compile cache");
                    let app = Arc::new(app);
                    apps().insert(&key, app.clone());
                    return Ok(app);
                }
                None => store()?.get(&digest)?,
            },
            Wasm::Bytes(bytes) => bytes,
        };
        // Compiled once per node: every later start of the same Wasm, in any shim, loads the
        // native code from the cache (the node operator sees which in containerd's log).
        let mut compiled = None;
        let app = runtime.load(name, &bytes, &mut |event| {
            if let CompileEvent::Finished { elapsed } = event {
                compiled = Some(elapsed);
            }
        })?;
        match compiled {
            Some(elapsed) => {
                log::info!("container {container}: compiled `{name}` in {elapsed:.1?}")
            }
            None => log::info!("container {container}: `{name}` loaded from the compile cache"),
        }
        let app = Arc::new(app);
        apps().insert(&key, app.clone());
        Ok(app)
    }
}

impl Instance for SkiffInstance {
    async fn new(id: String, cfg: &InstanceConfig) -> Result<Self, Error> {
        let spec = Spec::load(cfg.bundle.join("config.json"))?;
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| cfg.bundle.join(r.path()))
            .unwrap_or_else(|| cfg.bundle.join("rootfs"));
        if is_sandbox(&spec) {
            // The pause image is native code; there is nothing of it to run.
            return Ok(SkiffInstance {
                id,
                workload: Workload::Pause,
                options: RunOptions::default(),
                cfg: cfg.clone(),
                rootfs,
                exit: WaitableCell::new(),
                stop: watch::channel(None).0,
                served: OnceLock::new(),
            });
        }
        let plan = spec::plan(&spec).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut sources = find_wasm(&id, cfg, &rootfs, plan.args.first().map(String::as_str))
            .await
            .map_err(|e| Error::FailedPrecondition(format!("{e:#}")))?;
        let several = sources.len() > 1;
        let source = sources.remove(0);
        let defaults = source.defaults.as_ref();
        // containerd copies the image's `WORKDIR` into the spec: that one is the image's
        // default, which applies only where a mount lets the app see it (as in `skiff run`), so
        // that an image built with `WORKDIR /app` still runs.
        let image_workdir = defaults.and_then(|d| d.app.workdir.as_deref());
        let mut asked = plan.grants.clone();
        if asked.workdir.is_some() && asked.workdir.as_deref() == image_workdir {
            asked.workdir = None;
        }
        let grants = skiff_image::merge_grants(defaults, &asked, plan.accept_image_network);
        let limits = skiff_image::merge_limits(defaults, &plan.limits);
        let mut args = plan.args.clone();
        if args.is_empty() {
            args.push(source.name.clone());
            if let Some(d) = defaults {
                args.extend(d.args(None));
            }
        }
        let name = source.name.clone();
        // The app's handlers: its one, or each HTTP component of a Spin app of several.
        let mut handlers = Vec::new();
        let mut triggers = Vec::new();
        for source in std::iter::once(source).chain(sources) {
            let grants = skiff_image::merge_grants(
                source.defaults.as_ref(),
                &asked,
                plan.accept_image_network,
            );
            // A grant that cannot be made (a mount source that is gone) fails the create, where
            // containerd reports it, not the start.
            let prepared = PreparedGrants::new(&grants)
                .map_err(|e| Error::InvalidArgument(format!("{e}; {}", e.hint())))?;
            let spin = source.defaults.as_ref().and_then(AppDefaults::spin);
            let container = id.clone();
            let name = source.name.clone();
            let app = tokio::task::spawn_blocking(move || source.load(&container))
                .await
                .map_err(|e| Error::Others(e.to_string()))?
                .map_err(|e| {
                    Error::FailedPrecondition(format!("failed to load `{name}`: {e:#}"))
                })?;
            // wasi-nn would bring OpenVINO into the node's one shim, shared by every container:
            // the shim does not grant it.
            app.check_grants(&prepared).map_err(|e| {
                Error::InvalidArgument(format!(
                    "{e}: the containerd shim does not grant wasi-nn; run it with `skiff run -S nn`"
                ))
            })?;
            if several && app.handles_redis_messages() {
                let id = spin.map_or_else(|| name.clone(), |spin| spin.id);
                triggers.push((id, app, grants));
                continue;
            }
            if several && app.kind() != AppKind::Http {
                log::info!(
                    "container {id}: `{name}` is not a `wasi:http` handler (a WAGI or non-HTTP \
                     trigger): not served"
                );
                continue;
            }
            handlers.push(Handler {
                app,
                grants: prepared,
                spin,
            });
        }
        if handlers.is_empty() && !triggers.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the Spin app `{name}` has several components, Redis triggers' and no HTTP one: \
                 the shim runs a Redis trigger as an app of its own, or beside an app's HTTP \
                 components; {}",
                skiff_image::REDIS_BESIDE_OTHERS_HINT
            )));
        }
        if handlers.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the Spin app `{name}` has no `wasi:http` component to serve; {}",
                skiff_image::NO_HTTP_COMPONENT_HINT
            )));
        }
        let workload = match handlers[0].app.kind() {
            AppKind::Http => {
                let network = http::Network::of(&spec);
                let address = http::address(&grants.env, &network)
                    .map_err(|e| Error::InvalidArgument(format!("{e:#}")))?;
                let listener = http::bind(&network, address).map_err(|e| {
                    Error::FailedPrecondition(format!(
                        "cannot serve `{name}` on {address}: {e:#}; set another address with \
                         the env variable `{}`",
                        http::LISTEN_ENV
                    ))
                })?;
                // It waits for its first request holding none of its code, as in the daemon.
                for handler in &handlers {
                    handler.app.unmap_idle_code();
                }
                Workload::Http {
                    listener: Mutex::new(Some(listener)),
                    address,
                    handlers,
                    triggers,
                }
            }
            _ => Workload::Command(handlers.remove(0).app),
        };
        log::info!("container {id}: `{name}` loaded");
        Ok(SkiffInstance {
            id,
            workload,
            options: RunOptions {
                args,
                grants,
                limits,
                pause: Some(skiff_runtime::Pause::default()),
                ..Default::default()
            },
            cfg: cfg.clone(),
            rootfs,
            exit: WaitableCell::new(),
            stop: watch::channel(None).0,
            served: OnceLock::new(),
        })
    }

    async fn start(&self) -> Result<u32, Error> {
        let stdout = output(&self.cfg.stdout).await?;
        let stderr = output(&self.cfg.stderr).await?;
        let stdio = Stdio::Capture {
            stdin: stdin(&self.cfg.stdin)?,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        let run = match &self.workload {
            Workload::Pause => Run::Pause,
            Workload::Command(app) => {
                let mut options = self.options.clone();
                options.stdio = stdio;
                Run::Command(app.clone(), Box::new(options))
            }
            Workload::Http {
                listener,
                address,
                handlers,
                triggers,
            } => {
                let listener = listener
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .ok_or_else(|| {
                        Error::FailedPrecondition(format!(
                            "container {} was already started: a task starts once; create \
                             another container to run it again",
                            self.id
                        ))
                    })?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                // One app: its HTTP components and Redis triggers share its stores, in memory for
                // the container's life.
                let stores = Arc::new(skiff_runtime::SpinStores::default());
                let triggers = triggers
                    .iter()
                    .map(|(id, app, grants)| {
                        let options = RunOptions {
                            args: vec![format!("{}#{id}", self.id)],
                            grants: grants.clone(),
                            stdio: stdio.clone(),
                            stores: stores.clone(),
                            ..self.options.clone()
                        };
                        (id.clone(), app.clone(), options)
                    })
                    .collect();
                let options = HandlerOptions {
                    grants: handlers[0].grants.clone(),
                    limits: self.options.limits.clone(),
                    stdio,
                    turns: None,
                    rate: None,
                    pause: self.options.pause.clone(),
                    peers: None,
                    max_handles: None,
                    core_dump: None,
                    stores,
                };
                // The node's containers share this shim's descriptors: each app's instances
                // together hold at most half of them, as in the daemon.
                let bounds = Bounds {
                    app_handles: skiff_http::fd_hard_limit() / 2,
                    ..Bounds::unshared()
                };
                let http = match &handlers[..] {
                    [one] if one.spin.is_none() => HttpApp::new(
                        self.id.clone(),
                        HttpApp::ready(one.app.clone()),
                        options,
                        HttpLimits::default(),
                        &bounds,
                    ),
                    // A Spin app's components, one or several, each on its route, their calls
                    // to each other (and a component's to itself) in-process.
                    several => {
                        let components = several
                            .iter()
                            .map(|h| {
                                let spin = h.spin.clone().expect("a Spin app's component");
                                skiff_http::Component {
                                    id: spin.id,
                                    loader: HttpApp::ready(h.app.clone()),
                                    grants: h.grants.clone(),
                                    route: spin.route.as_deref().map(skiff_http::SpinRoute::new),
                                    calls: spin.calls,
                                }
                            })
                            .collect();
                        HttpApp::of_components(
                            self.id.clone(),
                            components,
                            options,
                            HttpLimits::default(),
                            &bounds,
                        )
                        .map_err(|e| Error::InvalidArgument(format!("the Spin app: {e}")))?
                    }
                };
                let http = Arc::new(http);
                let _ = self.served.set(http.clone());
                log::info!("container {}: serving on http://{address}/", self.id);
                Run::Http(http, listener, triggers)
            }
        };
        let exit = self.exit.clone();
        let stop = self.stop.subscribe();
        let id = self.id.clone();
        tokio::spawn(async move {
            // If the task dies (a panic), containerd still learns that the app ended.
            let _guard = exit.set_guard_with(|| (ENGINE_ERROR, Utc::now()));
            let status = run.until_stopped(stop, &*stderr).await;
            // Its output ends before its exit is reported, as runc's shim closes a container's
            // pipes: what the app wrote waits in the fifo, and the reader gets it and then the
            // end of the stream (`ctr run` reads up to that end before it deletes the task).
            // Nothing waits for the reader to take it: a client that reads after the exit
            // (as containerd's API allows) gets the exit at once.
            stdout.close();
            stderr.close();
            log::info!("container {id}: exited with {status}");
            let _ = exit.set((status, Utc::now()));
        });
        Ok(std::process::id())
    }

    async fn kill(&self, signal: u32) -> Result<(), Error> {
        // A Wasm app has no signal handlers: every signal that ends a process by default ends
        // it; the others (SIGWINCH, SIGCHLD, SIGUSR1...) cannot be delivered and are refused.
        let ends = [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGKILL,
            libc::SIGTERM,
        ];
        if !ends.iter().any(|s| *s as u32 == signal) {
            return Err(Error::InvalidArgument(format!(
                "signal {signal} cannot be delivered to a Wasm app; SIGTERM, SIGKILL, SIGINT, \
                 SIGHUP and SIGQUIT end it"
            )));
        }
        log::info!("container {}: signal {signal}", self.id);
        self.stop.send_replace(Some(signal));
        Ok(())
    }

    async fn delete(&self) -> Result<(), Error> {
        // The rootfs containerd's mounts were stacked on by shimkit at create.
        crate::rootfs::unmount(&self.rootfs);
        Ok(())
    }

    async fn wait(&self) -> (u32, DateTime<Utc>) {
        *self.exit.wait().await
    }
}

impl SkiffInstance {
    /// containerd's Pause and Resume (`ctr task pause`, `resume`): the app's instances stop at
    /// their next epoch tick and run no guest code until resumed, as `skiff pause` does.
    pub fn set_paused(&self, paused: bool) {
        if let Some(pause) = &self.options.pause {
            pause.set(paused);
        }
    }

    pub fn is_paused(&self) -> bool {
        self.options.pause.as_ref().is_some_and(|p| p.is_paused())
    }

    /// What the app has used so far, as Skiff's runtime meters it: what `ctr task metrics` and
    /// `kubectl top` show of the container.
    pub fn usage(&self) -> Sample {
        match &self.workload {
            Workload::Pause => Sample::default(),
            // The run meters into the `usage` of a clone of these options. Once the app has
            // ended its instance is gone, and so is its memory.
            Workload::Command(_) => Sample {
                cpu: self.options.usage.cpu_time(),
                memory: match self.exit.wait().now_or_never() {
                    Some(_) => 0,
                    None => self.options.usage.memory(),
                },
                memory_limit: self.options.limits.memory.map(|m| m.0),
            },
            // A handler holds no instance between requests: the CPU time of the finished ones
            // and of those running, and the memory of those running.
            Workload::Http { .. } => {
                let Some(http) = self.served.get() else {
                    return Sample::default();
                };
                let (running_cpu, memory) = http.in_flight();
                Sample {
                    cpu: Duration::from_secs_f64(http.stats().snapshot().cpu_seconds) + running_cpu,
                    memory,
                    // `--memory` is each instance's; the app's as a whole has none.
                    memory_limit: None,
                }
            }
        }
    }
}

/// A started workload, until it ends or is told to stop.
enum Run {
    Pause,
    Command(Arc<App>, Box<RunOptions>),
    /// A handler's app, its listener, and a Spin app's Redis triggers beside it.
    Http(
        Arc<HttpApp>,
        tokio::net::TcpListener,
        Vec<(String, Arc<App>, RunOptions)>,
    ),
}

impl Run {
    /// The status containerd reports: the app's own, 128 + the signal that stopped it, or 125
    /// when it could not run.
    async fn until_stopped(
        self,
        stop: watch::Receiver<Option<u32>>,
        stderr: &dyn OutputSink,
    ) -> u32 {
        // Waited on through a clone: `stop` itself is read once the wait is over.
        let mut told = stop.clone();
        let signalled = |stop: &watch::Receiver<Option<u32>>| {
            128 + (*stop.borrow()).unwrap_or(libc::SIGKILL as u32)
        };
        match self {
            Run::Pause => {
                let _ = told.wait_for(Option::is_some).await;
                signalled(&stop)
            }
            Run::Command(app, options) => tokio::select! {
                ended = app.run(*options) => match ended {
                    Ok(ended) => ended.status() as u32,
                    Err(e) => {
                        stderr.write(format!("error: {e}\nhint: {}\n", e.hint()).as_bytes());
                        ENGINE_ERROR
                    }
                },
                // Dropping the run stops the guest at once: it yields to the executor at every
                // epoch tick (10 ms) and at every host call, so `ctr task kill` and pod deletion
                // never wait on a busy or sleeping guest.
                _ = told.wait_for(Option::is_some) => signalled(&stop),
            },
            Run::Http(http, listener, triggers) => {
                let (unsubscribe, unsubscribed) = watch::channel(None);
                let subscribed: Vec<_> = triggers
                    .into_iter()
                    .map(|(id, app, options)| {
                        let task =
                            skiff_runtime::keep_subscribed(app, id, options, unsubscribed.clone());
                        tokio::spawn(task)
                    })
                    .collect();
                let mut accepting = stop.clone();
                skiff_http::serve(listener, Target::App(http.clone()), async move {
                    let _ = accepting.wait_for(Option::is_some).await;
                })
                .await;
                // Its triggers end between messages at once; one handling a message gets the
                // grace period, unless a SIGKILL comes first.
                unsubscribe.send_replace(Some(GRACE));
                let mut killed = told.clone();
                for mut task in subscribed {
                    tokio::select! {
                        _ = tokio::time::timeout(GRACE, &mut task) => {}
                        _ = killed.wait_for(|s| *s == Some(libc::SIGKILL as u32)) => {}
                    }
                    task.abort();
                }
                if *stop.borrow() == Some(libc::SIGKILL as u32) {
                    // The shim outlives the app (a node's shim): nothing of it may keep running.
                    http.stop_running();
                    return signalled(&stop);
                }
                // As `skiff serve` on SIGTERM: no new connections, requests in flight finish
                // (a SIGKILL, which Kubernetes sends after the grace period, cuts it short).
                tokio::select! {
                    drained = http.drain(GRACE) => if drained { 0 } else { signalled(&stop) },
                    _ = told.wait_for(|s| *s == Some(libc::SIGKILL as u32)) => {
                        http.stop_running();
                        signalled(&stop)
                    }
                }
            }
        }
    }
}

/// CRI's pod sandbox container, as containerd's CRI plugin marks it.
fn is_sandbox(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get("io.kubernetes.cri.container-type"))
        .is_some_and(|t| t == "sandbox")
}

/// The regular file `path` names inside `rootfs`, if it is there: the image chose `path` (its
/// entrypoint), so neither `..` nor a symlink in the rootfs may lead outside it.
fn file_in(rootfs: &Path, path: &str) -> Option<std::path::PathBuf> {
    let root = rootfs.canonicalize().ok()?;
    let file = rootfs
        .join(path.trim_start_matches('/'))
        .canonicalize()
        .ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

/// Finds the Wasm of a container: the image's Wasm layer (read from containerd into the shim's
/// image store, with the image's Skiff defaults), else the compat form — the `.wasm` that
/// `argv[0]` names in the rootfs containerd unpacked. A Spin app of several components gives
/// one per component.
async fn find_wasm(
    id: &str,
    cfg: &InstanceConfig,
    rootfs: &Path,
    argv0: Option<&str>,
) -> anyhow::Result<Vec<Source>> {
    let in_rootfs = argv0.and_then(|a| file_in(rootfs, a));
    let address = &cfg.containerd_address;
    let looked_up = match lookup(&Containerd::shared(address, &cfg.namespace).await?, id).await {
        // The shared connection may be to a containerd that has restarted since: once more, on
        // a new one.
        Err(e) if Containerd::forget(address) => {
            log::debug!("container {id}: retrying on a new connection to containerd: {e:#}");
            lookup(&Containerd::shared(address, &cfg.namespace).await?, id).await
        }
        looked_up => looked_up,
    };
    let Some((image, digest)) = looked_up? else {
        let path = in_rootfs.context(
            "the container has no image, and its first argument names no file in its rootfs",
        )?;
        return Ok(vec![from_rootfs(&path, None)?]);
    };
    let store = store()?;
    match skiff_image::Image::components(store, &digest) {
        Ok(opened) => {
            let several = opened.len() > 1;
            let mut sources = Vec::new();
            for opened in opened {
                let defaults = Some(opened.defaults(store)?);
                let mut name = skiff_image::display_name(&image).to_string();
                if let Some(component) = opened.spin_component().filter(|_| several) {
                    name = format!("{name}#{}", component.id);
                }
                sources.push(match (&opened.wasm, &in_rootfs) {
                    (WasmSource::InTar { .. }, Some(path)) => from_rootfs(path, defaults)?,
                    (WasmSource::Layer(layer), _) => Source {
                        name,
                        wasm: Wasm::Layer(layer.digest.clone()),
                        defaults,
                    },
                    (WasmSource::InTar { .. }, None) => Source {
                        name,
                        wasm: Wasm::Bytes(opened.wasm_bytes(store)?),
                        defaults,
                    },
                });
            }
            Ok(sources)
        }
        Err(e) => match in_rootfs {
            Some(path) => Ok(vec![from_rootfs(&path, None)?]),
            None => Err(anyhow::Error::new(e).context(format!(
                "image `{image}` is not a Wasm image Skiff can run: it needs one Wasm layer \
                 (`application/wasm` or runwasi's component layer), or an entrypoint naming a \
                 `.wasm` file in its layers; a native image needs `--runtime io.containerd.runc.v2`"
            ))),
        },
    }
}

/// The container's image name and its manifest, copied into the shim's store; `None` for a
/// container without an image.
async fn lookup(containerd: &Containerd, id: &str) -> anyhow::Result<Option<(String, String)>> {
    let Some(image) = containerd.image_of(id).await? else {
        return Ok(None);
    };
    let digest = containerd.copy_image(&image, store()?).await?;
    Ok(Some((image, digest)))
}

fn from_rootfs(path: &Path, defaults: Option<AppDefaults>) -> anyhow::Result<Source> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(Source {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        wasm: Wasm::Bytes(bytes),
        defaults,
    })
}

/// The task's stdin: the fifo containerd made for it (ctr makes one for every task, the CRI
/// plugin for a container with `stdin: true`), read as its writer writes and at its end once the
/// writer closes it, as runc's shim copies it; none (at its end at once) when it gave none.
/// Opened without blocking: until containerd's side opens it, it is simply not ready.
fn stdin(path: &Path) -> Result<Option<Stdin>, Error> {
    if path.as_os_str().is_empty() {
        return Ok(None);
    }
    let fifo = tokio::net::unix::pipe::OpenOptions::new()
        .open_receiver(path)
        .map_err(|e| {
            Error::InvalidArgument(format!("cannot open stdin `{}`: {e}", path.display()))
        })?;
    Ok(Some(Stdin::new(fifo)))
}

/// How long the task's start waits for the reader of its stdout or stderr fifo.
const READER_WAIT: Duration = Duration::from_secs(5);

/// containerd's stdout or stderr fifo for the task, opened for writing once its reader has its
/// end open, as runc's shim opens it (`O_WRONLY`). shimkit's `open_stdout` opens it read-write,
/// so an app that ends within milliseconds could write before `ctr run` opened its end; `ctr
/// run --rm` then cancels a reader still opening its fifo, and the output was lost. After
/// [`READER_WAIT`] with no reader (or for a path that is no fifo), it is opened as shimkit does.
async fn output(path: &Path) -> Result<Arc<Output>, Error> {
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    if path.as_os_str().is_empty() {
        return Ok(Arc::new(Output(Mutex::new(None))));
    }
    if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
        let deadline = std::time::Instant::now() + READER_WAIT;
        loop {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
            match opened {
                Ok(file) => {
                    blocking(&file)?;
                    return Ok(Arc::new(Output(Mutex::new(Some(file)))));
                }
                // No reader yet.
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    if std::time::Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    sink(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path),
    )
}

/// Clears `O_NONBLOCK`, so that writes wait for a slow reader, as on a fifo opened without it.
fn blocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` owns; F_GETFL/F_SETFL touch only its status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A stream containerd reads (a fifo it made), or nowhere when it gave none.
fn sink(file: std::io::Result<File>) -> Result<Arc<Output>, Error> {
    match file {
        Ok(file) => Ok(Arc::new(Output(Mutex::new(Some(file))))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Arc::new(Output(Mutex::new(None))))
        }
        Err(e) => Err(e.into()),
    }
}

/// Where the app's stdout or stderr goes: containerd's fifo (or file) until the app ends, or
/// nowhere when containerd gave none.
struct Output(Mutex<Option<File>>);

impl Output {
    /// Closes the stream: its reader gets what is left in the fifo, then its end.
    fn close(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl OutputSink for Output {
    fn write(&self, bytes: &[u8]) {
        // A reader that went away (containerd restarting) loses output, not the app.
        if let Some(file) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = file.write_all(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    use skiff_runtime::OutputSink as _;

    use super::output;

    fn fifo(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("stdout");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        path
    }

    fn reader(path: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    }

    #[tokio::test]
    async fn an_ended_apps_output_reaches_its_reader_with_the_streams_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo(&dir);
        let mut reader = reader(&path);
        let out = output(&path).await.unwrap();
        out.write(b"last words\n");
        // Open: the reader has the output but not the end of the stream.
        let mut read = String::new();
        let err = reader.read_to_string(&mut read).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        assert_eq!(read, "last words\n");

        // The app ended: what it wrote after that first read, then the end, without the shim
        // waiting for the reader.
        out.write(b"and more\n");
        out.close();
        out.write(b"nothing after the end\n");
        let mut rest = String::new();
        reader
            .read_to_string(&mut rest)
            .expect("the end of the stream");
        assert_eq!(rest, "and more\n");
    }
}
