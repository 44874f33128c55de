//! The shim process and its task service: containerd's `containerd.task.v2.Task` ttrpc API over
//! [`SkiffInstance`]s, one per container of the pod.
//!
//! runwasi's `containerd-shimkit` has this service, but keeps it private (`Local`, behind
//! `shim_main`) and answers `Stats` with the cgroup of the shim's pid: every container of a pod
//! would report the whole shim (engine, compile cache, its neighbours), never its app's own CPU
//! time or memory, and its `Instance` trait has no way to supply them. So the service is here, on
//! `containerd-shim` (the crate shimkit's own sits on), and `Stats` reports Skiff's meter
//! ([`crate::stats`]). shimkit still gives the `Instance` trait, its errors' ttrpc codes and the
//! ambient tokio runtime every call runs on. Like shimkit's, it refuses what a Wasm app has no
//! use for: exec, a terminal, checkpoints, resizing. Pause and Resume freeze the app in place
//! (the runtime's `Pause`).

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use containerd_shim::api::{
    ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse, DeleteRequest,
    DeleteResponse, Empty, KillRequest, PauseRequest, PidsRequest, PidsResponse, ResumeRequest,
    ShutdownRequest, StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest,
    StatsResponse, WaitRequest, WaitResponse,
};
use containerd_shim::event::Event;
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExit, TaskIO, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::shim_async::{self, Task as AsyncTask};
use containerd_shim::protos::ttrpc;
use containerd_shim::protos::ttrpc::r#async::TtrpcContext;
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Flags, StartOpts, TtrpcResult};
use containerd_shimkit::AmbientRuntime as _;
use containerd_shimkit::sandbox::{Error, Instance as _, InstanceConfig};
use futures::FutureExt as _;
use oci_spec::runtime::{Hook, Spec};

use crate::instance::SkiffInstance;
use crate::rootfs::{self, unmount};
use crate::shimlog;

/// `containerd-shim-skiff-v1 start`, run by containerd in a container's bundle: the address of
/// the shim that runs it, an existing one of its group ([`Group`]: by default one per containerd
/// namespace of the node) or one spawned now.
pub fn start(flags: &Flags) -> containerd_shim::Result<String> {
    let group = Group::from_env().map_err(containerd_shim::Error::InvalidArgument)?;
    idle_exit_from_env().map_err(containerd_shim::Error::InvalidArgument)?;
    let key = match group {
        Group::Node => NODE_KEY.to_string(),
        Group::Pod => {
            // CRI names the pod's sandbox in each container's spec.
            let spec = Spec::load("config.json").map_err(|e| {
                containerd_shim::Error::InvalidArgument(format!(
                    "cannot load the runtime spec: {e}"
                ))
            })?;
            spec.annotations()
                .as_ref()
                .and_then(|a| a.get("io.kubernetes.cri.sandbox-id"))
                .cloned()
                .unwrap_or_else(|| flags.id.clone())
        }
        Group::Container => flags.id.clone(),
    };
    let address = containerd_shim::socket_address(&flags.address, &flags.namespace, &key);
    // A node's usual case: its shim is serving. A connection shows it, as `spawn` checks it with a
    // ttrpc client, whose two threads cost every container's start about a millisecond more.
    if serving(&address) {
        containerd_shim::util::write_address(&address)?;
        return Ok(address);
    }
    let opts = StartOpts {
        id: flags.id.clone(),
        publish_binary: flags.publish_binary.clone(),
        address: flags.address.clone(),
        ttrpc_address: std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
        namespace: flags.namespace.clone(),
        debug: flags.debug,
    };
    let (_, address) = containerd_shim::spawn(opts, &key, vec![(SOCKET_ENV, address.as_str())])?;
    containerd_shim::util::write_address(&address)?;
    Ok(address)
}

/// Whether a shim listens on `address` (`unix://PATH`). One that is gone left a socket nothing
/// listens on, which `spawn` replaces.
fn serving(address: &str) -> bool {
    address
        .strip_prefix("unix://")
        .is_some_and(|path| std::os::unix::net::UnixStream::connect(path).is_ok())
}

/// `containerd-shim-skiff-v1 delete`: containerd cleaning up after a shim that died, whose apps
/// died with it.
pub fn deleted() -> DeleteResponse {
    DeleteResponse {
        exit_status: 137,
        exited_at: Some(timestamp(Utc::now())).into(),
        ..Default::default()
    }
}

/// The serving shim (spawned by [`start`], the listening socket on fd 3): containerd's task API
/// on ttrpc's async server, so that a connection per container costs no threads; until the last
/// container is gone (a node's shim: until none has come for a while).
pub async fn serve(flags: Flags) -> anyhow::Result<()> {
    if let Err(e) = shimlog::init(&flags.id, flags.debug) {
        eprintln!("the shim cannot log to containerd: {e}");
    }
    // containerd's SIGTERM/SIGINT are for the containers, not for the shim that runs them (as
    // runc's shim ignores them); a closed fifo is an error, not a signal.
    // SAFETY: setting dispositions to SIG_IGN, before any other thread handles signals.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    reap_children()?;
    // It was started in its first container's bundle, which containerd removes with that
    // container while a shared shim lives on: it keeps its `address` file in a directory of
    // its own.
    let socket = std::env::var(SOCKET_ENV).ok();
    if let Some(address) = &socket
        && let Err(e) = settle_in(address)
    {
        log::warn!("the shim stays in its first bundle: {e:#}");
    }
    // Both were checked by `start`.
    let idle_exit = match Group::from_env() {
        Ok(Group::Node) => idle_exit_from_env().unwrap_or(NODE_IDLE_EXIT),
        _ => Duration::ZERO,
    };
    let ttrpc_address = std::env::var("TTRPC_ADDRESS").context("TTRPC_ADDRESS is not set")?;
    let publisher = RemotePublisher::new(&ttrpc_address)
        .with_context(|| format!("cannot connect to containerd's events at `{ttrpc_address}`"))?;
    let exit = Arc::new(tokio::sync::Notify::new());
    let tasks = Tasks {
        containers: Arc::default(),
        events: Arc::new(Events {
            address: ttrpc_address,
            publisher: Mutex::new(Some(publisher)),
            namespace: flags.namespace.clone(),
        }),
        exit: exit.clone(),
        namespace: flags.namespace.clone(),
        containerd_address: flags.address.clone(),
        idle: Arc::new(Idle {
            exit_after: idle_exit,
            creates: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            socket: socket.clone(),
        }),
    };
    let service =
        shim_async::create_task(Arc::new(Box::new(tasks) as Box<dyn AsyncTask + Send + Sync>));
    let mut server = ttrpc::r#async::Server::new()
        .add_listener(SOCKET_FD)?
        .set_domain_unix()
        .register_service(service);
    server.start().await?;
    log::info!("the shim serves");
    exit.notified().await;
    log::info!("the shim exits");
    server.shutdown().await.unwrap_or_default();
    if let Some(path) = socket.as_deref().and_then(|a| a.strip_prefix("unix://")) {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Reaps the shim's child processes (`containerd_shim::mount`'s helper for a long overlay, OCI
/// hooks) on a thread of its own, handing each exit to `containerd_shim::monitor`, where their
/// parents wait.
fn reap_children() -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGCHLD])
        .context("cannot watch the shim's child processes")?;
    std::thread::Builder::new()
        .name("reaper".into())
        .spawn(move || {
            for _ in signals.forever() {
                loop {
                    let mut status = 0;
                    // SAFETY: waitpid with a valid out-pointer; WNOHANG never blocks.
                    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                    if pid <= 0 {
                        break;
                    }
                    let code = if libc::WIFSIGNALED(status) {
                        128 + libc::WTERMSIG(status)
                    } else {
                        libc::WEXITSTATUS(status)
                    };
                    let _ = containerd_shim::monitor::monitor_notify_by_pid(pid, code);
                }
            }
        })?;
    Ok(())
}

/// Which containers share a shim process, from `SKIFF_SHIM_GROUP` in containerd's environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    /// `node` (the default): every container of a containerd namespace, so a node has one
    /// engine and one set of loaded apps for all its pods.
    Node,
    /// `pod`: the containers of a pod, as runc's shim groups them.
    Pod,
    /// `container`: a process per container.
    Container,
}

impl Group {
    fn from_env() -> Result<Group, String> {
        match std::env::var(GROUP_ENV).as_deref() {
            Err(_) | Ok("" | "node") => Ok(Group::Node),
            Ok("pod") => Ok(Group::Pod),
            Ok("container") => Ok(Group::Container),
            Ok(other) => Err(format!(
                "{GROUP_ENV}=`{other}` in containerd's environment is not a grouping; use `node` \
                 (the default), `pod` or `container`"
            )),
        }
    }
}

/// The grouping key of a node's shim (with containerd's address and the namespace, it names the
/// socket).
const NODE_KEY: &str = "skiff-node";
const GROUP_ENV: &str = "SKIFF_SHIM_GROUP";
/// The listening socket `containerd_shim::spawn` hands the shim it spawns.
const SOCKET_FD: std::os::fd::RawFd = 3;
/// The shim's own socket address, handed from `start` to the shim it spawns.
const SOCKET_ENV: &str = "SKIFF_SHIM_SOCKET";
/// How long a node's shim stays after its last container is deleted, for the next one.
const NODE_IDLE_EXIT: Duration = Duration::from_secs(60);
const IDLE_EXIT_ENV: &str = "SKIFF_SHIM_IDLE_EXIT";

/// `SKIFF_SHIM_IDLE_EXIT` (seconds) in containerd's environment, else [`NODE_IDLE_EXIT`].
fn idle_exit_from_env() -> Result<Duration, String> {
    match std::env::var(IDLE_EXIT_ENV) {
        Err(_) => Ok(NODE_IDLE_EXIT),
        Ok(seconds) => seconds.parse().map(Duration::from_secs).map_err(|_| {
            format!(
                "{IDLE_EXIT_ENV}=`{seconds}` in containerd's environment is not a number of \
                 seconds; give e.g. `{IDLE_EXIT_ENV}=60`, or `0` to exit with the last container"
            )
        }),
    }
}

/// Moves the serving shim into `<SKIFF_SHIM_ROOT>/shims/<socket name>`, with its address file.
fn settle_in(address: &str) -> anyhow::Result<()> {
    let name = address.rsplit('/').next().unwrap_or(address);
    let dir = crate::instance::root().join("shims").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::env::set_current_dir(&dir).with_context(|| format!("cannot enter `{}`", dir.display()))?;
    containerd_shim::util::write_address(address)?;
    Ok(())
}

/// The task service: the containers this shim runs, by id.
pub struct Tasks {
    containers: Arc<Mutex<HashMap<String, Arc<Container>>>>,
    events: Arc<Events>,
    /// Ends [`serve`].
    exit: Arc<tokio::sync::Notify>,
    namespace: String,
    containerd_address: String,
    idle: Arc<Idle>,
}

/// When a shim with no containers left exits.
struct Idle {
    /// Zero: at once, when containerd asks after the last delete.
    exit_after: Duration,
    /// Containers created so far: one created while the shim waited keeps it.
    creates: AtomicU64,
    /// Whether a wait is under way.
    waiting: AtomicBool,
    socket: Option<String>,
}

struct Container {
    instance: SkiffInstance,
    config: InstanceConfig,
    phase: Mutex<Phase>,
    /// What `start` returned: set once the app runs.
    pid: OnceLock<u32>,
}

/// Where a container is in its lifecycle; that its app ended is the instance's `wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Created,
    Starting,
    Started,
    /// `start` failed: nothing runs, the container can only be deleted.
    Failed,
    Deleting,
}

impl Container {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves to `to` if the container is in one of `from`.
    fn advance(&self, from: &[Phase], to: Phase, id: &str) -> Result<Phase, Error> {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if !from.contains(&phase) {
            return Err(Error::FailedPrecondition(format!(
                "task {id} is {:?}, cannot move to {to:?}",
                *phase
            )));
        }
        Ok(std::mem::replace(&mut phase, to))
    }

    fn set(&self, to: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    /// The app's exit status and time, if it has ended.
    fn exited(&self) -> Option<(u32, DateTime<Utc>)> {
        self.instance.wait().now_or_never()
    }
}

impl Tasks {
    fn get(&self, id: &str) -> Result<Arc<Container>, Error> {
        let containers = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        containers
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    async fn create_task(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse, Error> {
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(Error::InvalidArgument(
                "checkpoints are not supported".to_string(),
            ));
        }
        if req.terminal {
            return Err(Error::InvalidArgument(
                "a terminal is not supported: run the task without a TTY".to_string(),
            ));
        }
        if self.get(&req.id).is_ok() {
            return Err(Error::AlreadyExists(req.id));
        }
        self.idle.creates.fetch_add(1, Ordering::SeqCst);
        // containerd reads this container's log fifo until the task is deleted.
        let id = req.id.clone();
        if let Err(e) = shimlog::add(&id, Path::new(&req.bundle)) {
            log::warn!("container {id}: the shim cannot log to its bundle: {e}");
        }
        let created = self.create_container(req).await;
        if created.is_err() {
            shimlog::remove(&id);
        }
        created
    }

    async fn create_container(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse, Error> {
        let bundle = Path::new(&req.bundle);
        let mut spec = Spec::load(bundle.join("config.json"))?;
        spec.canonicalize_rootfs(bundle)?;
        let rootfs = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the runtime spec has no root".to_string()))?
            .path()
            .clone();
        std::fs::create_dir_all(&rootfs)?;
        for mount in &req.rootfs {
            rootfs::mount(mount, &rootfs)?;
        }
        let config = InstanceConfig {
            stdin: req.stdin.clone().into(),
            stdout: req.stdout.clone().into(),
            stderr: req.stderr.clone().into(),
            bundle: bundle.to_path_buf(),
            namespace: self.namespace.clone(),
            containerd_address: self.containerd_address.clone(),
            // Skiff reads no runtime options: an app is in no cgroup of its own to configure.
            config: Default::default(),
        };
        let instance = match SkiffInstance::new(req.id.clone(), &config).await {
            Ok(instance) => instance,
            Err(e) => {
                unmount(&rootfs);
                return Err(e);
            }
        };
        if let Err(e) = run_hooks(&spec) {
            unmount(&rootfs);
            return Err(Error::FailedPrecondition(format!("{e:#}")));
        }
        self.containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                req.id.clone(),
                Arc::new(Container {
                    instance,
                    config,
                    phase: Mutex::new(Phase::Created),
                    pid: OnceLock::new(),
                }),
            );
        self.events.send(TaskCreate {
            container_id: req.id,
            bundle: req.bundle,
            rootfs: req.rootfs,
            io: Some(TaskIO {
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
                ..Default::default()
            })
            .into(),
            pid: std::process::id(),
            ..Default::default()
        });
        Ok(CreateTaskResponse {
            pid: std::process::id(),
            ..Default::default()
        })
    }

    async fn start_task(&self, req: StartRequest) -> Result<StartResponse, Error> {
        if !req.exec_id.is_empty() {
            return Err(Error::InvalidArgument("exec is not supported".to_string()));
        }
        let container = self.get(&req.id)?;
        container.advance(&[Phase::Created], Phase::Starting, &req.id)?;
        let pid = match container.instance.start().await {
            Ok(pid) => pid,
            Err(e) => {
                container.set(Phase::Failed);
                return Err(e);
            }
        };
        let _ = container.pid.set(pid);
        container.set(Phase::Started);
        self.events.send(TaskStart {
            container_id: req.id.clone(),
            pid,
            ..Default::default()
        });
        let events = self.events.clone();
        let id = req.id;
        async move {
            let (status, at) = container.instance.wait().await;
            events.send(TaskExit {
                container_id: id.clone(),
                id,
                pid,
                exit_status: status,
                exited_at: Some(timestamp(at)).into(),
                ..Default::default()
            });
        }
        .spawn();
        Ok(StartResponse {
            pid,
            ..Default::default()
        })
    }

    async fn kill_task(&self, req: KillRequest) -> Result<Empty, Error> {
        if !req.exec_id.is_empty() {
            return Err(Error::InvalidArgument("exec is not supported".to_string()));
        }
        let container = self.get(&req.id)?;
        if container.phase() != Phase::Started {
            return Err(Error::FailedPrecondition(format!(
                "task {} is not running",
                req.id
            )));
        }
        // A paused app is thawed, so that a graceful stop can still end it on its own.
        container.instance.set_paused(false);
        if container.exited().is_some() {
            // What runc's shim answers, which containerd takes as "nothing left to kill".
            return Err(Error::NotFound(format!(
                "task {}: process already finished",
                req.id
            )));
        }
        container.instance.kill(req.signal).await?;
        Ok(Empty::new())
    }

    async fn delete_task(&self, req: DeleteRequest) -> Result<DeleteResponse, Error> {
        if !req.exec_id.is_empty() {
            return Err(Error::InvalidArgument("exec is not supported".to_string()));
        }
        let container = self.get(&req.id)?;
        let exited = container.exited();
        let from: &[Phase] = match exited {
            Some(_) => &[Phase::Started, Phase::Created, Phase::Failed],
            None => &[Phase::Created, Phase::Failed],
        };
        let was = container.advance(from, Phase::Deleting, &req.id)?;
        if let Err(e) = container.instance.delete().await {
            container.set(was);
            return Err(e);
        }
        self.containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&req.id);
        shimlog::remove(&req.id);
        let pid = container.pid.get().copied().unwrap_or_default();
        let (status, at) = exited.unzip();
        let at = at.map(timestamp);
        self.events.send(TaskDelete {
            container_id: req.id.clone(),
            id: req.id,
            pid,
            exit_status: status.unwrap_or_default(),
            exited_at: at.clone().into(),
            ..Default::default()
        });
        Ok(DeleteResponse {
            pid,
            exit_status: status.unwrap_or_default(),
            exited_at: at.into(),
            ..Default::default()
        })
    }

    async fn wait_task(&self, req: WaitRequest) -> Result<WaitResponse, Error> {
        if !req.exec_id.is_empty() {
            return Err(Error::InvalidArgument("exec is not supported".to_string()));
        }
        let container = self.get(&req.id)?;
        let (status, at) = container.instance.wait().await;
        Ok(WaitResponse {
            exit_status: status,
            exited_at: Some(timestamp(at)).into(),
            ..Default::default()
        })
    }

    fn pause_task(&self, id: &str, paused: bool) -> Result<Empty, Error> {
        let container = self.get(id)?;
        if container.pid.get().is_none() || container.exited().is_some() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running: only a running task can be paused or resumed"
            )));
        }
        container.instance.set_paused(paused);
        let container_id = id.to_string();
        if paused {
            self.events.send(TaskPaused {
                container_id,
                ..Default::default()
            });
        } else {
            self.events.send(TaskResumed {
                container_id,
                ..Default::default()
            });
        }
        Ok(Empty::new())
    }

    fn task_state(&self, req: StateRequest) -> Result<StateResponse, Error> {
        if !req.exec_id.is_empty() {
            return Err(Error::InvalidArgument("exec is not supported".to_string()));
        }
        let container = self.get(&req.id)?;
        let pid = container.pid.get().copied();
        let exited = container.exited();
        let status = match (pid, exited) {
            (None, _) => Status::CREATED,
            (Some(_), None) if container.instance.is_paused() => Status::PAUSED,
            (Some(_), None) => Status::RUNNING,
            (Some(_), Some(_)) => Status::STOPPED,
        };
        let (exit_status, at) = exited.unzip();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        Ok(StateResponse {
            id: req.id,
            bundle: path(&container.config.bundle),
            stdin: path(&container.config.stdin),
            stdout: path(&container.config.stdout),
            stderr: path(&container.config.stderr),
            pid: pid.unwrap_or_default(),
            status: status.into(),
            exit_status: exit_status.unwrap_or_default(),
            exited_at: at.map(timestamp).into(),
            ..Default::default()
        })
    }
}

#[async_trait::async_trait]
impl AsyncTask for Tasks {
    async fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        log::debug!("create: {req:?}");
        Ok(self.create_task(req).await?)
    }

    async fn start(&self, _: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        log::debug!("start: {req:?}");
        Ok(self.start_task(req).await?)
    }

    async fn kill(&self, _: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        log::debug!("kill: {req:?}");
        Ok(self.kill_task(req).await?)
    }

    async fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        log::debug!("delete: {req:?}");
        Ok(self.delete_task(req).await?)
    }

    async fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        log::debug!("wait: {req:?}");
        Ok(self.wait_task(req).await?)
    }

    async fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        Ok(self.pause_task(&req.id, true)?)
    }

    async fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        Ok(self.pause_task(&req.id, false)?)
    }

    async fn state(&self, _: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        Ok(self.task_state(req)?)
    }

    /// A task's processes. containerd asks when it reconnects to its shims after a restart of its
    /// own (an upgrade), and deletes a task that has none as a leaked one. A Skiff app runs in
    /// its shim's process.
    async fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let container = self.get(&req.id)?;
        Ok(PidsResponse {
            processes: vec![ProcessInfo {
                pid: container
                    .pid
                    .get()
                    .copied()
                    .unwrap_or_else(std::process::id),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    async fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let container = self.get(&req.id)?;
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: container.pid.get().copied().unwrap_or_default(),
            ..Default::default()
        })
    }

    /// The app's own CPU time and memory, as Skiff's runtime meters them, in the form runc's
    /// shim reports a cgroup's: not the shim process's, which every container of the node shares.
    async fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let container = self.get(&req.id)?;
        Ok(StatsResponse {
            stats: Some(container.instance.usage().to_any()).into(),
            ..Default::default()
        })
    }

    async fn shutdown(&self, _: &TtrpcContext, _: ShutdownRequest) -> TtrpcResult<Empty> {
        // containerd asks after each delete; the shim goes once its last container is gone (a
        // node's shim once none has come for a while).
        let empty = self
            .containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if !empty {
            return Ok(Empty::new());
        }
        if self.idle.exit_after.is_zero() {
            self.exit.notify_one();
        } else if !self.idle.waiting.swap(true, Ordering::SeqCst) {
            let (containers, idle, exit) = (
                self.containers.clone(),
                self.idle.clone(),
                self.exit.clone(),
            );
            std::thread::spawn(move || exit_when_idle(&containers, &idle, &exit));
        }
        Ok(Empty::new())
    }
}

/// Waits until no container has been created for `idle.exit_after` and none is left, then
/// withdraws the socket (a `start` from then on spawns a new shim) and ends the shim; returns
/// early if containers came.
fn exit_when_idle(
    containers: &Mutex<HashMap<String, Arc<Container>>>,
    idle: &Idle,
    exit: &tokio::sync::Notify,
) {
    let mut seen = idle.creates.load(Ordering::SeqCst);
    loop {
        std::thread::sleep(idle.exit_after);
        let containers = containers.lock().unwrap_or_else(|e| e.into_inner());
        let creates = idle.creates.load(Ordering::SeqCst);
        if !containers.is_empty() {
            // The next delete's shutdown starts a new wait.
            idle.waiting.store(false, Ordering::SeqCst);
            return;
        }
        if creates == seen {
            if let Some(path) = idle
                .socket
                .as_deref()
                .and_then(|a| a.strip_prefix("unix://"))
            {
                let _ = std::fs::remove_file(path);
            }
            log::info!("no container for {:?}: the shim exits", idle.exit_after);
            exit.notify_one();
            return;
        }
        seen = creates;
    }
}

/// Publishes task events to containerd.
struct Events {
    /// containerd's ttrpc address.
    address: String,
    /// The connection to it; a new one after a failure, since a node's shim outlives the
    /// containerd that started it (a restart for an upgrade) and must reach the next one.
    publisher: Mutex<Option<RemotePublisher>>,
    namespace: String,
}

impl Events {
    /// Called from the task service's handlers, on the runtime's workers: the publisher's
    /// round trip to containerd blocks, so the worker's other tasks (apps, other containers'
    /// calls) move to another worker meanwhile, and events keep their order (one at a time).
    fn send(&self, event: impl Event + Clone) {
        let topic = event.topic();
        let published = tokio::task::block_in_place(|| {
            let mut publisher = self.publisher.lock().unwrap_or_else(|e| e.into_inner());
            let publish = |p: &RemotePublisher| {
                p.publish(
                    Default::default(),
                    &topic,
                    &self.namespace,
                    Box::new(event.clone()),
                )
            };
            if let Some(Ok(())) = publisher.as_ref().map(publish) {
                return Ok(());
            }
            // Not connected, or the connection broke: once more, on a new one.
            *publisher = None;
            let fresh = publisher.insert(RemotePublisher::new(&self.address)?);
            publish(fresh)
        });
        if let Err(e) = published {
            // containerd also learns the state by asking; a lost event is not a failed call.
            log::warn!("failed to publish the event {topic}: {e}");
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
        ..Default::default()
    }
}

/// The OCI hooks a runtime runs in its own namespace once the container is created (`prestart`,
/// deprecated, and `createRuntime`), each given the container's state on stdin; one that fails
/// fails the create.
fn run_hooks(spec: &Spec) -> anyhow::Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    #[allow(deprecated, reason = "runtimes still run prestart hooks, as runc does")]
    let prestart = hooks.prestart();
    let state = serde_json::json!({ "ociVersion": spec.version(), "pid": std::process::id() });
    for hook in prestart.iter().chain(hooks.create_runtime()).flatten() {
        run_hook(hook, &state)
            .with_context(|| format!("the hook `{}` failed", hook.path().display()))?;
    }
    Ok(())
}

fn run_hook(hook: &Hook, state: &serde_json::Value) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(hook.path());
    // `args` holds argv[0] too, which may differ from the path.
    if let Some((arg0, args)) = hook.args().as_deref().and_then(<[String]>::split_first) {
        command.arg0(arg0).args(args);
    }
    let env = hook
        .env()
        .iter()
        .flatten()
        .filter_map(|e| e.split_once('='));
    // The reaper collects its exit (`reap_children`): its status comes through the monitor.
    let exits = containerd_shim::monitor::monitor_subscribe(containerd_shim::monitor::Topic::All)?;
    let mut child = command
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that exits without reading its stdin is not a failure.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let code = containerd_shim::monitor::wait_pid(child.id() as i32, exits);
    anyhow::ensure!(code == 0, "exit status {code}");
    Ok(())
}
