//! The supervisor: one tokio task per app, running it through the shared runtime, applying its
//! restart policy, and keeping the durable state in step. Startup reconciles the state with
//! reality: a run the daemon died under is recorded as ended, and each app is brought back to
//! what its policy asks for.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use skiff_capabilities::error_chain;
use std::time::Duration;

use skiff_api::{
    ApiError, AppInfo, AppState, CreateApp, DaemonInfo, Event, ExitRecord, Health, RestartPolicy,
    UpdateApp,
};
use skiff_http::{HttpApp, RouteTable};
use skiff_runtime::{
    App, AppKind, Exit, HandlerOptions, LimitExceeded, Peers, PreparedGrants, RunOptions, Runtime,
    RuntimeConfig, Stdio, Usage,
};
use skiff_state::{AppRecord, ComponentRecord, State, StateError, now};
use tokio::sync::{broadcast, watch};

use crate::code::Code;
use crate::health::Probe;
use crate::http::HttpSlot;
use crate::links::Linked;
use crate::logs::AppLog;

/// How long HTTP requests in flight may run on when the daemon stops or an HTTP app is removed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a stop waits for an app to end when neither it nor the app names a time (Docker's).
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed request: the HTTP status, and what to tell the user.
#[derive(Debug)]
pub struct Fail {
    pub status: u16,
    pub error: ApiError,
}

impl Fail {
    pub fn new(status: u16, message: impl Into<String>, hint: Option<&str>) -> Fail {
        Fail {
            status,
            error: ApiError {
                message: message.into(),
                hint: hint.map(str::to_string),
                status,
            },
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Fail {
        Fail::new(500, format!("the daemon failed: {e}"), None)
    }

    /// The state store failed: `context` says what did not happen. 503 when the disk is the
    /// cause (the same request may succeed once it is fixed), 500 otherwise.
    fn state(context: &str, e: &StateError, path: &Path) -> Fail {
        let message = format!("{context}: {}", error_chain(e));
        if e.is_storage() {
            let hint = format!(
                "check the disk that holds `{}` (free space, permissions, I/O errors in `dmesg`); \
                 the daemon keeps running and tries again on the next change",
                path.display()
            );
            Fail::new(503, message, Some(&hint))
        } else {
            Fail::new(
                500,
                message,
                Some("try again; if it fails again, report a bug"),
            )
        }
    }
}

/// What to do about an app the daemon could not load when it started.
const UNLOADABLE_HINT: &str = "put back what it runs (its file, image or granted directories) \
     and `skiff start` it, or remove it with `skiff rm`";

/// A saved app the daemon could not load, and why.
#[derive(Clone)]
struct Unloadable {
    record: AppRecord,
    reason: String,
}

/// How the daemon loads a saved app again: as it was created, its grants as resolved then.
fn request_of(record: &AppRecord) -> CreateApp {
    CreateApp {
        name: Some(record.name.clone()),
        source: record.source.clone(),
        args: Some(record.args.clone()),
        // As resolved at creation: the image's destinations already accepted, or not.
        grants: record.grants.clone(),
        accept_image_network: false,
        limits: record.limits.clone(),
        restart: record.restart,
        http: record.http.clone(),
        labels: record.labels.clone(),
        links: record.links.clone(),
        health: record.health.clone(),
        auto_remove: record.auto_remove,
        stop_timeout: record.stop_timeout,
        no_start: false,
        pull: Default::default(),
    }
}

/// What `ps -a` and `inspect` show of an app that is not loaded: its saved record, exited. (A
/// loaded app's info is this with what its slot knows.)
fn exited_info(record: AppRecord) -> AppInfo {
    AppInfo {
        name: record.name,
        source: record.source,
        digest: record.digest,
        args: record.args,
        grants: record.grants,
        limits: record.limits,
        restart: record.restart,
        state: AppState::Exited,
        desired_running: false,
        restarts: record.restarts,
        created: record.created,
        started_at: None,
        exits: record.exits,
        cpu_ms: 0,
        memory_bytes: 0,
        http: None,
        listen: Vec::new(),
        paused: false,
        labels: record.labels,
        links: record.links,
        calls: Vec::new(),
        health: None,
        stop_timeout: record.stop_timeout,
    }
}

fn not_found(name: &str) -> Fail {
    Fail::new(
        404,
        format!("no app named `{name}`"),
        Some("list the apps with `skiff ps -a`"),
    )
}

pub struct Supervisor {
    /// The shared gateway's routes.
    pub gateway: Arc<RouteTable>,
    /// Compiled apps, shared by the apps running the same Wasm; HTTP handlers kept warm.
    pub(crate) code: Arc<Code>,
    state: State,
    logs_dir: PathBuf,
    /// The apps' Spin key-value stores and SQLite databases (`crate::kv`).
    kv_dir: PathBuf,
    apps: Mutex<HashMap<String, Arc<Slot>>>,
    /// Saved apps that could not be loaded when the daemon started (their file, image or a
    /// granted directory gone): listed, inspected, removed, and loaded again by `skiff start`.
    unloadable: Mutex<BTreeMap<String, Unloadable>>,
    pub events: broadcast::Sender<Event>,
    daemon_info: Mutex<DaemonInfo>,
    /// What any one HTTP app may hold of what all share.
    bounds: skiff_http::Bounds,
    /// The instance pool's size, all HTTP apps together.
    max_instances: u32,
    /// The next [`Slot::id`].
    next_slot: std::sync::atomic::AtomicU64,
}

/// What an app has used so far, as the dashboard's sampler reads it.
pub enum Meter {
    Http {
        stats: skiff_api::HttpStats,
        /// The latency histogram's counts ([`skiff_http::Stats::latency_counts`]).
        latency: Vec<u64>,
    },
    /// The current run's CPU time and linear memory.
    Command { cpu: Duration, memory: u64 },
}

pub struct Slot {
    /// The daemon's number for it, never reused while it runs.
    id: u64,
    workload: Workload,
    /// `skiff pause`: on, none of its instances runs guest code. Not saved: a daemon restart
    /// starts its apps unpaused.
    pause: skiff_runtime::Pause,
    /// Its name and links, as its in-process calls see them, and those calls counted.
    linked: Arc<Linked>,
    pub log: Arc<AppLog>,
    record: Mutex<AppRecord>,
    live: Mutex<Live>,
    /// What its health check says, for an app given one (reset at each start).
    health: Option<Arc<Mutex<Health>>>,
    /// `Some(grace)` once a stop is requested for the current supervision.
    stop: watch::Sender<Option<Duration>>,
    pub state: watch::Sender<AppState>,
}

impl Slot {
    /// The code of its last exit, if it has one.
    pub(crate) fn last_exit_code(&self) -> Option<i32> {
        self.record.lock().unwrap().exits.last().map(|e| e.code)
    }
}

/// What the daemon does with an app.
enum Workload {
    /// A command, run to its end (and again, per its restart policy) by a supervising task.
    Command {
        app: Arc<App>,
        peers: Arc<dyn Peers>,
        /// Where it may listen (`-p`): TCP ports, UDP ports.
        listen: (Vec<std::net::SocketAddr>, Vec<std::net::SocketAddr>),
        /// Its Spin stores (a Spin Redis trigger component's), in files if it declares any:
        /// kept across its restarts.
        stores: Arc<skiff_runtime::SpinStores>,
    },
    /// An HTTP handler, published on ports and routes, a fresh instance per request.
    Http(HttpSlot),
}

struct Live {
    started_at: Option<String>,
    usage: Arc<Usage>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The health checks while an HTTP app serves, or during a command's run.
    health_task: Option<tokio::task::JoinHandle<()>>,
}

impl Supervisor {
    /// `loaded_handlers`: compiled HTTP handlers kept in memory; beyond this, the least recently
    /// used is dropped and loaded again (from the compile cache) on its next request.
    pub async fn open(
        root: &Path,
        loaded_handlers: usize,
        max_instances: u32,
        bounds: skiff_http::Bounds,
    ) -> anyhow::Result<Supervisor> {
        let dir = root.join("daemon");
        let logs_dir = dir.join("logs");
        crate::private_dir(&logs_dir)?;
        let kv_dir = dir.join("kv");
        crate::private_dir(&kv_dir)?;
        let state = State::open(&dir.join("state.redb"))?;
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(root.join("cache").join("compiled")),
            pooling: skiff_runtime::Pooling { max_instances },
            // All cores but one for long runners, as each app's own turns (skiff_http::Bounds):
            // however many apps spin, a core is left for short requests and the API.
            long_runner_turns: Some(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .saturating_sub(1)
                    .max(1),
            ),
            interrupt: skiff_runtime::Interrupt::Epochs,
            library_components: false,
            unknown_imports: skiff_runtime::UnknownImports::Refuse,
            preloads: Vec::new(),
            unlinked: Vec::new(),
            wasm: Default::default(),
            allow_precompiled: false,
        })?;
        Ok(Supervisor {
            gateway: Arc::default(),
            code: Code::new(runtime, root.to_path_buf(), loaded_handlers),
            state,
            logs_dir,
            kv_dir,
            apps: Mutex::new(HashMap::new()),
            unloadable: Mutex::default(),
            events: broadcast::channel(1024).0,
            daemon_info: Mutex::default(),
            bounds,
            max_instances,
            next_slot: Default::default(),
        })
    }

    pub fn set_info(&self, info: DaemonInfo) {
        *self.daemon_info.lock().unwrap() = info;
    }

    pub fn info_snapshot(&self) -> DaemonInfo {
        self.daemon_info.lock().unwrap().clone()
    }

    /// Prometheus text for every HTTP app.
    pub fn metrics(&self) -> String {
        let mut apps: Vec<(String, skiff_api::HttpStats)> = self
            .apps
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(name, slot)| match &slot.workload {
                Workload::Http(http) => Some((name.clone(), http.stats())),
                Workload::Command { .. } => None,
            })
            .collect();
        apps.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out =
            skiff_http::render_prometheus(apps.iter().map(|(n, s)| (n.as_str(), s.clone())));
        let mut edges: Vec<(String, skiff_api::CallStats)> = self
            .apps
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(name, slot)| {
                let calls = slot.linked.calls.snapshot();
                calls.into_iter().map(move |c| (name.clone(), c))
            })
            .collect();
        edges.sort_by(|a, b| (&a.0, &a.1.to).cmp(&(&b.0, &b.1.to)));
        out.push_str(&crate::links::render_prometheus(&edges));
        out
    }

    /// Every app's meters, read now, with its number (which stays the app's, whatever its
    /// name) and name.
    pub fn meters(&self) -> Vec<(u64, String, Meter)> {
        let apps = self.apps.lock().unwrap();
        apps.iter()
            .map(|(name, slot)| {
                let meter = match &slot.workload {
                    Workload::Http(http) => Meter::Http {
                        stats: http.stats(),
                        latency: http.app.stats().latency_counts(),
                    },
                    Workload::Command { .. } => {
                        let live = slot.live.lock().unwrap();
                        let running = *slot.state.borrow() == AppState::Running;
                        Meter::Command {
                            cpu: live.usage.cpu_time(),
                            memory: if running { live.usage.memory() } else { 0 },
                        }
                    }
                };
                (slot.id, name.clone(), meter)
            })
            .collect()
    }

    /// The instance pool: handler instances alive now, all apps together, and its size.
    pub fn pool(&self) -> (u64, u32) {
        let apps = self.apps.lock().unwrap();
        let in_use = apps
            .values()
            .filter_map(|slot| match &slot.workload {
                Workload::Http(http) => Some(http.app.stats().instances()),
                Workload::Command { .. } => None,
            })
            .sum();
        (in_use, self.max_instances)
    }

    fn slot(&self, name: &str) -> Result<Arc<Slot>, Fail> {
        if let Some(unloadable) = self.unloadable.lock().unwrap().get(name) {
            return Err(Fail::new(
                409,
                format!("`{name}` cannot be loaded: {}", unloadable.reason),
                Some(UNLOADABLE_HINT),
            ));
        }
        self.apps
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    /// Saves `record` with `events`, in one commit; its revision moves on only if committed.
    fn save(&self, record: &mut AppRecord, events: &[(&str, &str)]) -> Result<(), StateError> {
        for event in self.state.put_app(record, events)? {
            let _ = self.events.send(event);
        }
        Ok(())
    }

    /// Saves what has happened and cannot be undone (a run started or ended): the record in
    /// memory keeps it even if the save fails, which is logged, and the app's next save
    /// writes it; until then a daemon restart treats the run as one it died under.
    fn record_fact(&self, record: &mut AppRecord, events: &[(&str, &str)]) {
        if let Err(e) = self.save(record, events) {
            tracing::error!(app = %record.name, "cannot save the app's state: {}", error_chain(&e));
        }
    }

    /// Makes a change the user asked for: saved first, then made in memory. If it cannot be
    /// saved, nothing changes and the request fails with `context` and the cause.
    fn change(
        &self,
        slot: &Slot,
        events: &[(&str, &str)],
        context: &str,
        change: impl FnOnce(&mut AppRecord),
    ) -> Result<(), Fail> {
        let mut record = slot.record.lock().unwrap();
        let mut changed = record.clone();
        change(&mut changed);
        self.save(&mut changed, events)
            .map_err(|e| Fail::state(context, &e, self.state.path()))?;
        *record = changed;
        Ok(())
    }

    /// Loads the app's code: a file path, or an image (pulled if missing). Returns the compiled
    /// app and its record: digest, and the run's resolved grants, limits and arguments; and a
    /// notice when the image declares network access that the request does not accept.
    async fn load(
        &self,
        source: &str,
        request: &CreateApp,
    ) -> Result<(Compiled, AppRecord, Option<String>), Fail> {
        let code = self.code.clone();
        let source = source.to_string();
        let request = request.clone();
        tokio::task::spawn_blocking(move || {
            let loaded = code.load(&source, request.pull)?;
            let mut notices: Vec<String> = skiff_image::network_notice(
                loaded.defaults.as_ref(),
                &request.grants.network,
                request.accept_image_network,
            )
            .into_iter()
            .collect();
            let mut record = resolve_record(&request, loaded.defaults.as_ref(), loaded.digest);
            // Each component of a Spin app of several: its image's grants under the flags.
            for component in loaded.components.iter().chain(&loaded.triggers) {
                let defaults = Some(&component.defaults);
                let notice = skiff_image::network_notice(
                    defaults,
                    &request.grants.network,
                    request.accept_image_network,
                );
                notices
                    .extend(notice.map(|n| format!("Spin component `{}`: {n}", component.spin.id)));
                record.components.push(ComponentRecord {
                    id: component.spin.id.clone(),
                    grants: skiff_image::merge_grants(
                        defaults,
                        &request.grants,
                        request.accept_image_network,
                    ),
                });
            }
            let code = Compiled {
                app: loaded.app,
                components: loaded.components,
                triggers: loaded.triggers,
            };
            Ok((
                code,
                record,
                (!notices.is_empty()).then(|| notices.join("\n")),
            ))
        })
        .await
        .map_err(Fail::internal)?
    }

    pub async fn create(self: &Arc<Self>, request: CreateApp) -> Result<AppInfo, Fail> {
        let name = match &request.name {
            Some(name) => {
                validate_name(name)?;
                name.clone()
            }
            None => self.generated_name(&request.source),
        };
        if self.apps.lock().unwrap().contains_key(&name)
            || self.unloadable.lock().unwrap().contains_key(&name)
        {
            return Err(Fail::new(
                409,
                format!("the name `{name}` is already in use"),
                Some("remove the other app with `skiff rm -f NAME`, or choose another `--name`"),
            ));
        }
        if request.auto_remove && request.restart != RestartPolicy::No {
            return Err(Fail::new(
                400,
                "`--rm` and `--restart` conflict: an app removed when it exits is never restarted",
                Some("drop one of them"),
            ));
        }
        let (code, mut record, notice) = self.load(&request.source, &request).await?;
        if record.auto_remove && code.app.kind() == AppKind::Http {
            return Err(Fail::new(
                400,
                "`--rm` is for a command that runs to its end; an HTTP app serves until it is \
                 removed",
                Some("drop `--rm`, and remove the app with `skiff rm -f NAME` when it is done"),
            ));
        }
        record.name = name.clone();
        let source = record.source.clone();
        // Held before the record is saved: a prune can never leave a saved app without code.
        self.code.hold(&name, &record.source, &record.digest);
        let slot = match self.insert(code, record) {
            Ok(slot) => slot,
            Err(fail) => {
                self.code.release(&name);
                return Err(fail);
            }
        };
        if let Some(notice) = notice {
            // Where the user of `run -d` looks: the app's log, ahead of the run's output.
            tracing::info!(app = %name, "{notice}");
            slot.log.sink(1).write(format!("{notice}\n").as_bytes());
        }
        if request.no_start {
            let created = self.change(
                &slot,
                &[("created", &source)],
                &format!("the app `{name}` was not created"),
                |record| record.desired_running = false,
            );
            if let Err(fail) = created {
                self.apps.lock().unwrap().remove(&name);
                self.code.release(&name);
                return Err(fail);
            }
            return Ok(self.info(&slot));
        }
        // One commit for both events: a start is one fsync, not two.
        let launched = self
            .launch(
                &slot,
                &[("created", &source), ("started", "")],
                &format!("the app `{name}` was not created"),
                |_| {},
            )
            .await;
        if let Err(fail) = launched {
            self.apps.lock().unwrap().remove(&name);
            self.code.release(&name);
            return Err(fail);
        }
        Ok(self.info(&slot))
    }

    fn generated_name(&self, source: &str) -> String {
        let stem = source
            .rsplit(['/', ':', '@'])
            .find(|s| !s.is_empty() && !s.starts_with("sha256"))
            .unwrap_or("app")
            .trim_end_matches(".wasm")
            .trim_end_matches(".wat");
        let stem: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let apps = self.apps.lock().unwrap();
        (1..)
            .map(|n| format!("{stem}-{n}"))
            .find(|n| !apps.contains_key(n))
            .expect("some number is free")
    }

    fn insert(self: &Arc<Self>, code: Compiled, record: AppRecord) -> Result<Arc<Slot>, Fail> {
        let app = code.app;
        let log = AppLog::open(&self.logs_dir, &record.name);
        let linked = Arc::new(Linked::new(
            record.name.clone(),
            record.links.clone(),
            Arc::downgrade(self),
        ));
        let peers: Arc<dyn Peers> = linked.clone();
        if let Some(check) = &record.health {
            crate::health::validate(check, &record.source, app.kind(), &record.http.ports)?;
        }
        let pause = skiff_runtime::Pause::default();
        // Name lookups of the network grants and wasi-nn's models: blocking work.
        let prepare = |grants: &skiff_capabilities::Grants| {
            skiff_runtime::off_worker(|| PreparedGrants::new(grants))
                .map_err(|e| Fail::new(400, e.to_string(), Some(e.hint())))
        };
        let workload = if app.kind() == AppKind::Http {
            // What each request is given but its grants, which are each handler's.
            let options = HandlerOptions {
                grants: PreparedGrants::default(),
                limits: record.limits.clone(),
                stdio: Stdio::Capture {
                    stdin: None,
                    stdout: log.sink(0),
                    stderr: log.sink(1),
                },
                turns: None,
                rate: None,
                pause: Some(pause.clone()),
                peers: Some(peers.clone()),
                // HttpApp gives each instance its share of the app's.
                max_handles: None,
                core_dump: None,
                // The app's, in files if it declares any: its components share them (`HttpApp`).
                stores: Arc::new(crate::kv::open(&self.kv_dir, &record)?),
            };
            // A Spin app's Redis triggers, each under its own grants, sharing the app's log,
            // stores and pause.
            let mut triggers = Vec::new();
            for trigger in code.triggers {
                let id = trigger.spin.id;
                let grants = match record.components.iter().find(|c| c.id == id) {
                    Some(saved) => saved.grants.clone(),
                    None => {
                        skiff_image::merge_grants(Some(&trigger.defaults), &record.grants, false)
                    }
                };
                trigger.app.check_grants(&prepare(&grants)?).map_err(|e| {
                    Fail::new(400, format!("Spin component `{id}`: {e}"), Some(e.hint()))
                })?;
                triggers.push(crate::http::Trigger {
                    options: RunOptions {
                        args: vec![format!("{}#{id}", record.name)],
                        grants,
                        limits: record.limits.clone(),
                        stdio: options.stdio.clone(),
                        usage: Arc::new(Usage::default()),
                        peers: Some(peers.clone()),
                        pause: Some(pause.clone()),
                        stores: options.stores.clone(),
                        ..Default::default()
                    },
                    app: trigger.app,
                    id,
                });
            }
            let http = if code.components.is_empty() {
                let grants = prepare(&record.grants)?;
                app.check_grants(&grants)
                    .map_err(|e| Fail::new(400, e.to_string(), Some(e.hint())))?;
                self.code.keep_warm(&record.digest, app);
                let loader = self
                    .code
                    .loader(record.digest.clone(), record.digest_or_source());
                let spin_route = record.http.spin_route.as_deref();
                match &record.http.spin_component {
                    // A Spin app of one component: as one of several, so that its calls to
                    // itself (`http://self/`, `http://ID.spin.internal/`) are in-process too.
                    Some(id) => {
                        let component = skiff_http::Component {
                            id: id.clone(),
                            loader,
                            grants,
                            route: spin_route.map(skiff_http::SpinRoute::new),
                            calls: record.http.spin_calls.clone(),
                        };
                        HttpApp::of_components(
                            record.name.clone(),
                            vec![component],
                            options,
                            record.http.limits,
                            &self.bounds,
                        )
                        .map_err(Fail::internal)?
                    }
                    None => {
                        let options = HandlerOptions { grants, ..options };
                        let mut http = HttpApp::new(
                            record.name.clone(),
                            loader,
                            options,
                            record.http.limits,
                            &self.bounds,
                        );
                        // Saved before the daemon kept a Spin component's id.
                        if let Some(route) = spin_route {
                            http.set_spin_route(skiff_http::SpinRoute::new(route));
                        }
                        http
                    }
                }
            } else {
                let mut components = Vec::new();
                for component in code.components {
                    let id = component.spin.id;
                    let grants = match record.components.iter().find(|c| c.id == id) {
                        Some(saved) => prepare(&saved.grants)?,
                        None => prepare(&skiff_image::merge_grants(
                            Some(&component.defaults),
                            &record.grants,
                            false,
                        ))?,
                    };
                    component.app.check_grants(&grants).map_err(|e| {
                        Fail::new(400, format!("Spin component `{id}`: {e}"), Some(e.hint()))
                    })?;
                    let source = crate::code::component_source(&record.digest_or_source(), &id);
                    self.code.keep_warm(&source, component.app);
                    components.push(skiff_http::Component {
                        loader: self.code.loader(source.clone(), source),
                        grants,
                        route: (component.spin.route.as_deref()).map(skiff_http::SpinRoute::new),
                        calls: component.spin.calls,
                        id,
                    });
                }
                HttpApp::of_components(
                    record.name.clone(),
                    components,
                    options,
                    record.http.limits,
                    &self.bounds,
                )
                .map_err(|e| {
                    Fail::new(
                        400,
                        format!("the Spin app `{}`: {e}", record.source),
                        Some("give each component a route of its own in `spin.toml`"),
                    )
                })?
            };
            let default_route = format!("{}.localhost", record.name);
            Workload::Http(
                HttpSlot::new(http, &record.http, &default_route)?.with_triggers(triggers),
            )
        } else {
            if !record.http.routes.is_empty() {
                return Err(Fail::new(
                    400,
                    format!(
                        "`{}` is a command, not an HTTP handler: it cannot be routed with `--route`",
                        record.source
                    ),
                    Some(
                        "route components that export `wasi:http/incoming-handler`; a command serving TCP itself is given its ports with `-p`",
                    ),
                ));
            }
            // A command's `-p` ports are where it may listen itself.
            let mut ports = skiff_capabilities::Grants::default();
            ports.add_listen(&record.http.ports).map_err(|spec| {
                Fail::new(
                    400,
                    format!("`{spec}` is not a port"),
                    Some(skiff_capabilities::LISTEN_HINT),
                )
            })?;
            let listen = (ports.listen, ports.listen_udp);
            let stores = Arc::new(crate::kv::open(&self.kv_dir, &record)?);
            Workload::Command {
                app,
                peers,
                listen,
                stores,
            }
        };
        let slot = Arc::new(Slot {
            id: self
                .next_slot
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            workload,
            pause,
            linked,
            log,
            record: Mutex::new(record.clone()),
            live: Mutex::new(Live {
                started_at: None,
                usage: Arc::default(),
                task: None,
                health_task: None,
            }),
            health: record
                .health
                .as_ref()
                .map(|check| Arc::new(Mutex::new(crate::health::starting(check)))),
            stop: watch::channel(None).0,
            state: watch::channel(AppState::Exited).0,
        });
        let mut apps = self.apps.lock().unwrap();
        if apps.contains_key(&record.name) {
            return Err(Fail::new(
                409,
                format!("the name `{}` is already in use", record.name),
                None,
            ));
        }
        apps.insert(record.name.clone(), slot.clone());
        Ok(slot)
    }

    /// Starts the app: publishes an HTTP app, or starts supervising a command. It is saved as
    /// started (after `change`, with `events`, in one commit) before a command's task exists, so
    /// nothing its run saves can be overwritten by its launch (an app that exited at once was
    /// once saved as running, and rerun at the next daemon start as "daemon died": issue 9).
    /// An HTTP app is published first, and unpublished if it cannot be saved.
    async fn launch(
        self: &Arc<Self>,
        slot: &Arc<Slot>,
        events: &[(&str, &str)],
        context: &str,
        change: impl FnOnce(&mut AppRecord),
    ) -> Result<(), Fail> {
        let started = |record: &mut AppRecord| {
            change(record);
            record.running = true;
        };
        match &slot.workload {
            Workload::Command { .. } => {
                self.change(slot, events, context, started)?;
                self.spawn(slot);
            }
            Workload::Http(http) => {
                http.publish(&self.gateway).await?;
                if let Err(fail) = self.change(slot, events, context, started) {
                    http.unpublish(&self.gateway, Duration::ZERO).await;
                    return Err(fail);
                }
                slot.live.lock().unwrap().started_at = Some(now());
                slot.state.send_replace(AppState::Serving);
                self.check_health(slot);
            }
        }
        Ok(())
    }

    /// Starts the health checks of a serving HTTP app or a running command that has a check,
    /// from `starting`; each change of status is recorded as a `health_status` event.
    fn check_health(self: &Arc<Self>, slot: &Arc<Slot>) {
        let Some(health) = &slot.health else {
            return;
        };
        let ports = slot.record.lock().unwrap().http.ports.clone();
        let probe = {
            let mut health = health.lock().unwrap();
            *health = crate::health::starting(&health.check);
            match &slot.workload {
                Workload::Http(http) => Probe::Http(http.app.clone()),
                // Validated at creation: a command's check is of one of its ports.
                Workload::Command { .. } => match crate::health::tcp_address(&health.check, &ports)
                {
                    Some(addr) => Probe::Tcp(addr),
                    None => return,
                },
            }
        };
        let supervisor = Arc::downgrade(self);
        let weak_slot = Arc::downgrade(slot);
        let changed = move |health: &Health| {
            let (Some(supervisor), Some(slot)) = (supervisor.upgrade(), weak_slot.upgrade()) else {
                return;
            };
            let detail = crate::health::event_detail(health);
            let mut record = slot.record.lock().unwrap();
            tracing::info!(app = %record.name, "health: {detail}");
            supervisor.record_fact(&mut record, &[("health_status", &detail)]);
        };
        let task = tokio::spawn(crate::health::watch(probe, health.clone(), changed));
        if let Some(old) = slot.live.lock().unwrap().health_task.replace(task) {
            old.abort();
        }
    }

    /// Starts supervising a command whose start is saved.
    fn spawn(self: &Arc<Self>, slot: &Arc<Slot>) {
        slot.stop.send_replace(None);
        // Running from here, not from the task's first poll: the request that started it is
        // answered next, and a client that asks at once must not find it exited with no run.
        slot.state.send_replace(AppState::Running);
        let mut live = slot.live.lock().unwrap();
        live.started_at = Some(now());
        live.task = Some(tokio::spawn(self.clone().supervise(slot.clone())));
    }

    async fn supervise(self: Arc<Self>, slot: Arc<Slot>) {
        let Workload::Command {
            app,
            peers,
            listen,
            stores,
        } = &slot.workload
        else {
            unreachable!("only commands are supervised");
        };
        let mut stop = slot.stop.subscribe();
        // The first run's start was saved by `launch`.
        let mut announced = true;
        loop {
            let usage = Arc::new(Usage::default());
            let options = {
                let mut record = slot.record.lock().unwrap();
                record.running = true;
                let mut live = slot.live.lock().unwrap();
                live.started_at = Some(now());
                live.usage = usage.clone();
                if !std::mem::take(&mut announced) {
                    self.record_fact(&mut record, &[("started", "")]);
                }
                let mut args = vec![record.name.clone()];
                args.extend(record.args.iter().cloned());
                let mut grants = record.grants.clone();
                (grants.listen, grants.listen_udp) = listen.clone();
                RunOptions {
                    args,
                    grants,
                    limits: record.limits.clone(),
                    stdio: Stdio::Capture {
                        stdin: None,
                        stdout: slot.log.sink(0),
                        stderr: slot.log.sink(1),
                    },
                    usage,
                    peers: Some(peers.clone()),
                    invoke: None,
                    core_dump: None,
                    pause: Some(slot.pause.clone()),
                    stop: Some(slot.stop.subscribe()),
                    stores: stores.clone(),
                }
            };
            slot.state.send_replace(AppState::Running);
            self.check_health(&slot);
            let run = app.run(options);
            tokio::pin!(run);
            let result = tokio::select! {
                result = &mut run => Some(result),
                _ = stop.changed() => {
                    let grace = stop.borrow().unwrap_or_default();
                    // A Wasm guest has no signal to catch: its stdin is already closed, so it
                    // gets the grace period to finish on its own, then it is dropped.
                    tokio::time::timeout(grace, &mut run).await.ok()
                }
            };
            // Checked while it runs; the next run starts over from `starting`, as Docker's.
            if let Some(checks) = slot.live.lock().unwrap().health_task.take() {
                checks.abort();
            }
            slot.log.flush();
            let stopped = stop.borrow().is_some();
            let (exit, kind) = exit_record(result);
            let failed = exit.code != 0;
            let restart = {
                let mut record = slot.record.lock().unwrap();
                record.running = false;
                let detail = format!("{} ({})", exit.reason, exit.code);
                record.push_exit(exit);
                self.record_fact(&mut record, &[(kind, &detail)]);
                !stopped
                    && record.desired_running
                    && match record.restart {
                        RestartPolicy::No => false,
                        RestartPolicy::OnFailure { max_retries } => {
                            failed && max_retries.is_none_or(|m| record.restarts < m)
                        }
                        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                    }
            };
            if !restart {
                break;
            }
            // Exponential backoff between consecutive restarts, as Docker does: 100 ms doubling
            // to at most 10 s.
            let restarts = slot.record.lock().unwrap().restarts;
            let backoff =
                Duration::from_millis(100 << restarts.min(7)).min(Duration::from_secs(10));
            slot.state.send_replace(AppState::Restarting);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => break,
            }
            let mut record = slot.record.lock().unwrap();
            record.restarts += 1;
            let detail = format!("restart {}", record.restarts);
            self.record_fact(&mut record, &[("restarted", &detail)]);
        }
        slot.state.send_replace(AppState::Exited);
        // `--rm`: a run that ended on its own is removed here, after this task has ended (the
        // removal waits for it); one ended by `stop`, `restart` or `rm` is theirs to handle.
        let record = slot.record.lock().unwrap();
        if record.auto_remove && stop.borrow().is_none() {
            let name = record.name.clone();
            tokio::spawn(async move { self.remove_ended(&name).await });
        }
    }

    /// Stops the app's supervision (if any) and waits for it to end. An unpublished HTTP app's
    /// stop is saved here (a command's by its task): the error says if it could not be.
    async fn halt(&self, slot: &Arc<Slot>, grace: Duration) -> Result<(), Fail> {
        // A paused app gets its grace period to end, as Docker thaws a paused container it stops.
        slot.pause.set(false);
        if let Workload::Http(http) = &slot.workload {
            if let Some(checks) = slot.live.lock().unwrap().health_task.take() {
                checks.abort();
            }
            let mut saved = Ok(());
            if *slot.state.borrow() == AppState::Serving {
                http.unpublish(&self.gateway, grace).await;
                let mut record = slot.record.lock().unwrap();
                record.running = false;
                record.push_exit(ExitRecord {
                    at: now(),
                    code: 0,
                    reason: "stopped".into(),
                });
                saved = self.save(&mut record, &[("stopped", "")]).map_err(|e| {
                    let context = format!("`{}` was stopped, but that was not saved", record.name);
                    Fail::state(&context, &e, self.state.path())
                });
            }
            slot.state.send_replace(AppState::Exited);
            return saved;
        }
        let (task, usage) = {
            let mut live = slot.live.lock().unwrap();
            (live.task.take(), live.usage.clone())
        };
        if let Some(mut task) = task {
            slot.stop.send_replace(Some(grace));
            // Its task ends the run once the grace period is over, unless the guest is in a
            // host call that does its work on the task's thread (a Spin SQLite statement):
            // that call is told to stop too.
            tokio::select! {
                _ = &mut task => {}
                _ = tokio::time::sleep(grace) => {
                    usage.stop();
                    let _ = task.await;
                }
            }
        }
        Ok(())
    }

    /// Stops the app, giving it `grace` to end: its own stop timeout (`--stop-timeout`, else
    /// Docker's 10 s) when `None`.
    pub async fn stop(&self, name: &str, grace: Option<Duration>) -> Result<AppInfo, Fail> {
        let slot = self.stop_slot(name, grace).await?;
        // `--rm`: a stopped app has ended (a restart's stop has not, as in Docker).
        if slot.record.lock().unwrap().auto_remove {
            self.remove_ended(name).await;
        }
        Ok(self.info(&slot))
    }

    async fn stop_slot(&self, name: &str, grace: Option<Duration>) -> Result<Arc<Slot>, Fail> {
        let slot = self.slot(name)?;
        let grace = grace.unwrap_or_else(|| {
            let own = slot.record.lock().unwrap().stop_timeout;
            own.map_or(DEFAULT_STOP_TIMEOUT, Duration::from_secs)
        });
        let context = format!("`{name}` was not stopped");
        self.change(&slot, &[], &context, |r| r.desired_running = false)?;
        self.halt(&slot, grace).await?;
        Ok(slot)
    }

    /// Removes a `--rm` app that has ended. Its own end and a `stop` may both get here: one
    /// already removed is left as it is.
    async fn remove_ended(&self, name: &str) {
        match self.remove(name, false).await {
            Ok(()) => {}
            Err(fail) if fail.status == 404 => {}
            Err(fail) => {
                tracing::error!(app = %name, "cannot remove the app (`--rm`): {}", fail.error.message);
            }
        }
    }

    pub async fn start(self: &Arc<Self>, name: &str) -> Result<AppInfo, Fail> {
        let unloadable = self.unloadable.lock().unwrap().get(name).cloned();
        if let Some(Unloadable { record, .. }) = unloadable {
            return self.start_unloadable(record).await;
        }
        let slot = self.slot(name)?;
        if *slot.state.borrow() != AppState::Exited {
            return Ok(self.info(&slot));
        }
        self.halt(&slot, Duration::ZERO).await?;
        self.start_slot(&slot, name).await
    }

    /// Starts an exited app's run (or publishes it) as the user asked: wanted running, its
    /// restart count from zero.
    async fn start_slot(self: &Arc<Self>, slot: &Arc<Slot>, name: &str) -> Result<AppInfo, Fail> {
        let context = format!("`{name}` was not started");
        self.launch(slot, &[("started", "")], &context, |r| {
            r.desired_running = true;
            r.restarts = 0;
        })
        .await?;
        Ok(self.info(slot))
    }

    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        grace: Option<Duration>,
    ) -> Result<AppInfo, Fail> {
        self.stop_slot(name, grace).await?;
        self.start(name).await
    }

    /// `docker pause` / `unpause`: the app's instances stop at their next poll (a busy guest at
    /// its next epoch tick) and run no guest code until it is unpaused; requests to a paused
    /// HTTP app wait. Recorded as an event; not saved, so a daemon restart runs it unpaused.
    pub fn pause(&self, name: &str, paused: bool) -> Result<AppInfo, Fail> {
        let slot = self.slot(name)?;
        let state = *slot.state.borrow();
        if !matches!(state, AppState::Running | AppState::Serving) {
            return Err(Fail::new(
                409,
                format!("`{name}` is not running ({state})"),
                Some(&format!("start it with `skiff start {name}`")),
            ));
        }
        if slot.pause.is_paused() == paused {
            let (now, undo) = if paused {
                ("paused", "unpause")
            } else {
                ("not paused", "pause")
            };
            return Err(Fail::new(
                409,
                format!("`{name}` is already {now}"),
                Some(&format!("`skiff {undo} {name}` does the opposite")),
            ));
        }
        slot.pause.set(paused);
        let kind = if paused { "paused" } else { "unpaused" };
        self.record_fact(&mut slot.record.lock().unwrap(), &[(kind, "")]);
        Ok(self.info(&slot))
    }

    /// `docker update`: the restart policy from the app's next exit on, limits for an HTTP
    /// app's next request or a command's next run, the stop timeout for the next stop. Saved
    /// first, with an `updated` event naming what changed.
    pub fn update(&self, name: &str, update: UpdateApp) -> Result<AppInfo, Fail> {
        let slot = self.slot(name)?;
        let limits = &update.limits;
        let mut changes = Vec::new();
        if let Some(restart) = &update.restart {
            changes.push(format!("restart {restart}"));
        }
        if let Some(memory) = limits.memory {
            changes.push(format!("memory {memory}"));
        }
        if let Some(cpus) = limits.cpus {
            changes.push(format!("cpus {cpus}"));
        }
        if let Some(cpu_time) = limits.cpu_time {
            changes.push(format!("cpu-time {cpu_time:?}"));
        }
        if let Some(timeout) = limits.timeout {
            changes.push(format!("timeout {timeout:?}"));
        }
        if let Some(seconds) = update.stop_timeout {
            changes.push(format!("stop-timeout {seconds}s"));
        }
        if changes.is_empty() {
            return Err(Fail::new(
                400,
                "nothing to update",
                Some("give a restart policy, a limit or a stop timeout"),
            ));
        }
        if slot.record.lock().unwrap().auto_remove
            && update.restart.is_some_and(|r| r != RestartPolicy::No)
        {
            return Err(Fail::new(
                400,
                format!("`{name}` is removed when it exits (`--rm`): it is never restarted"),
                Some("run it again without `--rm` to give it a restart policy"),
            ));
        }
        self.change(
            &slot,
            &[("updated", &changes.join(", "))],
            &format!("the app `{name}` was not updated"),
            |record| {
                if let Some(restart) = update.restart {
                    record.restart = restart;
                }
                record.limits = record.limits.overlaid(limits);
                record.stop_timeout = update.stop_timeout.or(record.stop_timeout);
            },
        )?;
        if let Workload::Http(http) = &slot.workload {
            let limits = slot.record.lock().unwrap().limits.clone();
            http.app.set_limits(limits);
        }
        Ok(self.info(&slot))
    }

    /// `skiff rename`, as `docker rename`: the app is called `new` from now on, running or
    /// not. Its record, logs and image hold move to the new name in one step; an HTTP app's
    /// route from its name (`NAME.localhost`) moves with it; the apps linked to it keep
    /// reaching it (their links now name it), under the names they call it by.
    pub fn rename(&self, name: &str, new: &str) -> Result<AppInfo, Fail> {
        validate_name(new)?;
        if new == name {
            return Err(Fail::new(
                400,
                format!("the app is already called `{name}`"),
                Some("give a new name: `skiff rename OLD NEW`"),
            ));
        }
        let mut apps = self.apps.lock().unwrap();
        let slot = apps.get(name).cloned().ok_or_else(|| not_found(name))?;
        if apps.contains_key(new) {
            return Err(Fail::new(
                409,
                format!("the name `{new}` is already in use"),
                Some("remove the other app with `skiff rm -f NAME`, or choose another name"),
            ));
        }
        let relink = |links: &mut skiff_api::Links| {
            for target in links.calls.values_mut().filter(|t| *t == name) {
                *target = new.to_string();
            }
        };
        let callers: Vec<(Arc<Slot>, AppRecord)> = apps
            .values()
            .filter(|other| !Arc::ptr_eq(other, &slot))
            .filter_map(|other| {
                let mut record = other.record.lock().unwrap().clone();
                let before = record.links.calls.clone();
                relink(&mut record.links);
                (record.links.calls != before).then(|| (other.clone(), record))
            })
            .collect();
        let mut record = slot.record.lock().unwrap();
        let mut renamed = AppRecord {
            name: new.to_string(),
            ..record.clone()
        };
        relink(&mut renamed.links);
        // What can fail outside the state goes first, and is undone if the state cannot be
        // saved: the log files, then the route.
        let context = format!("`{name}` was not renamed");
        slot.log.rename(new).map_err(|e| {
            let hint = format!(
                "check that the daemon can write `{}` (its permissions, free space)",
                self.logs_dir.display()
            );
            Fail::new(
                500,
                format!("{context}: cannot move its logs: {e}"),
                Some(&hint),
            )
        })?;
        if let Err(e) = crate::kv::rename(&self.kv_dir, name, new) {
            if let Err(e) = slot.log.rename(name) {
                tracing::error!(app = %name, "cannot move the app's logs back: {e}");
            }
            return Err(Fail::new(
                500,
                format!("{context}: cannot move its Spin stores: {e}"),
                Some("check that the daemon can write its `kv` directory"),
            ));
        }
        let serving = *slot.state.borrow() == AppState::Serving;
        let moved = match &slot.workload {
            Workload::Http(http) => http.rename(&self.gateway, new, serving),
            Workload::Command { .. } => Ok(()),
        };
        let mut relinked: Vec<AppRecord> = callers.iter().map(|(_, r)| r.clone()).collect();
        let saved = moved.and_then(|()| {
            self.state
                .rename_app(name, &mut renamed, &mut relinked)
                .map_err(|e| Fail::state(&context, &e, self.state.path()))
        });
        let event = match saved {
            Ok(event) => event,
            Err(fail) => {
                if let Workload::Http(http) = &slot.workload
                    && http.app.name().as_ref() == new
                    && let Err(e) = http.rename(&self.gateway, name, serving)
                {
                    tracing::error!(app = %name, "cannot give the app back its route: {}", e.error.message);
                }
                if let Err(e) = slot.log.rename(name) {
                    tracing::error!(app = %name, "cannot move the app's logs back: {e}");
                }
                if let Err(e) = crate::kv::rename(&self.kv_dir, new, name) {
                    tracing::error!(app = %name, "cannot move the app's Spin stores back: {e}");
                }
                return Err(fail);
            }
        };
        *record = renamed;
        *slot.linked.names.lock().unwrap() = (new.to_string(), record.links.clone());
        for ((caller, _), saved) in callers.iter().zip(relinked) {
            caller.linked.names.lock().unwrap().1 = saved.links.clone();
            let mut current = caller.record.lock().unwrap();
            current.links = saved.links;
            current.revision = saved.revision;
        }
        apps.remove(name);
        apps.insert(new.to_string(), slot.clone());
        drop(apps);
        self.code.release(name);
        self.code.hold(new, &record.source, &record.digest);
        drop(record);
        let _ = self.events.send(event);
        Ok(self.info(&slot))
    }

    pub async fn remove(&self, name: &str, force: bool) -> Result<(), Fail> {
        if self.unloadable.lock().unwrap().contains_key(name) {
            let event = self.state.remove_app(name).map_err(|e| {
                Fail::state(&format!("`{name}` was not removed"), &e, self.state.path())
            })?;
            self.unloadable.lock().unwrap().remove(name);
            self.code.release(name);
            let _ = self.events.send(event);
            AppLog::open(&self.logs_dir, name).remove();
            crate::kv::remove(&self.kv_dir, name);
            return Ok(());
        }
        let slot = self.slot(name)?;
        if *slot.state.borrow() != AppState::Exited && !force {
            return Err(Fail::new(
                409,
                format!("the app `{name}` is running"),
                Some("stop it first with `skiff stop`, or remove it anyway with `skiff rm -f`"),
            ));
        }
        // A command is killed at once, as `docker rm -f` does; an HTTP app is taken off its
        // ports and routes at once, and its requests in flight get the grace period to finish.
        let grace = match slot.workload {
            Workload::Http(_) => SHUTDOWN_GRACE,
            Workload::Command { .. } => Duration::ZERO,
        };
        self.halt(&slot, grace).await?;
        // By the name it has now: a `skiff rename` during the stop moved it.
        let name = &slot.record.lock().unwrap().name.clone();
        // Forgotten in memory only once forgotten on disk, or it would come back at the next
        // daemon start after the user was told it was gone.
        let event = self.state.remove_app(name).map_err(|e| {
            Fail::state(&format!("`{name}` was not removed"), &e, self.state.path())
        })?;
        self.apps.lock().unwrap().remove(name);
        self.code.release(name);
        if let Workload::Http(_) = slot.workload {
            // Its compiled code goes with it, unless another handler runs the same.
            let digest = slot.record.lock().unwrap().digest.clone();
            let slots: Vec<Arc<Slot>> = self.apps.lock().unwrap().values().cloned().collect();
            let shared = slots.iter().any(|other| {
                matches!(other.workload, Workload::Http(_))
                    && other.record.lock().unwrap().digest == digest
            });
            if !shared {
                self.code.forget(&digest);
                let record = slot.record.lock().unwrap();
                let source = record.digest_or_source();
                for component in &record.components {
                    self.code
                        .forget(&crate::code::component_source(&source, &component.id));
                }
            }
        }
        let _ = self.events.send(event);
        slot.log.remove();
        crate::kv::remove(&self.kv_dir, name);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<(AppInfo, Arc<Slot>), Fail> {
        let slot = self.slot(name)?;
        Ok((self.info(&slot), slot))
    }

    /// The log of an app the daemon could not load, if `name` is one.
    pub fn unloadable_log(&self, name: &str) -> Option<Arc<AppLog>> {
        let unloadable = self.unloadable.lock().unwrap().contains_key(name);
        unloadable.then(|| AppLog::open(&self.logs_dir, name))
    }

    /// The app as `skiff inspect` shows it, loaded or not.
    pub fn inspect(&self, name: &str) -> Result<AppInfo, Fail> {
        let unloadable = self.unloadable.lock().unwrap().get(name).cloned();
        match unloadable {
            Some(unloadable) => Ok(exited_info(unloadable.record)),
            None => Ok(self.get(name)?.0),
        }
    }

    pub fn list(&self, all: bool) -> Vec<AppInfo> {
        let slots: Vec<Arc<Slot>> = self.apps.lock().unwrap().values().cloned().collect();
        let mut infos: Vec<AppInfo> = slots
            .iter()
            .map(|s| self.info(s))
            .filter(|i| all || i.state != AppState::Exited)
            .collect();
        if all {
            let unloadable = self.unloadable.lock().unwrap();
            infos.extend(unloadable.values().map(|u| exited_info(u.record.clone())));
        }
        infos.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        infos
    }

    pub fn events_after(&self, seq: u64) -> Result<Vec<Event>, Fail> {
        self.state
            .events_after(seq)
            .map_err(|e| Fail::state("cannot read the events", &e, self.state.path()))
    }

    fn info(&self, slot: &Slot) -> AppInfo {
        let record = slot.record.lock().unwrap().clone();
        let live = slot.live.lock().unwrap();
        let state = *slot.state.borrow();
        let running = state == AppState::Running;
        let (http, listen, limits) = match &slot.workload {
            // What its requests are given: its own limits with Skiff's defaults and the daemon's
            // bounds, not only those it asked for.
            Workload::Http(http) => (
                Some(http.info()),
                Vec::new(),
                http.app.options().limits.clone(),
            ),
            Workload::Command {
                listen: (tcp, udp), ..
            } => {
                let tcp = tcp.iter().map(ToString::to_string);
                let udp = udp.iter().map(|addr| format!("{addr}/udp"));
                (None, tcp.chain(udp).collect(), record.limits.clone())
            }
        };
        AppInfo {
            limits,
            state,
            desired_running: record.desired_running,
            started_at: live.started_at.clone(),
            cpu_ms: match &http {
                Some(http) => (http.stats.cpu_seconds * 1e3) as u64,
                None => live.usage.cpu_time().as_millis() as u64,
            },
            memory_bytes: match &slot.workload {
                // Between requests its handlers hold none; its triggers, their instance's.
                Workload::Http(http) => http.triggers_usage().1,
                Workload::Command { .. } if running => live.usage.memory(),
                Workload::Command { .. } => 0,
            },
            http,
            listen,
            paused: slot.pause.is_paused(),
            calls: slot.linked.calls.snapshot(),
            health: slot.health.as_ref().map(|h| h.lock().unwrap().clone()),
            // What its record says.
            ..exited_info(record)
        }
    }

    /// The HTTP app an in-process call to the app `name` goes to, or the status and message
    /// that answer it instead.
    pub(crate) fn callee(&self, name: &str) -> Result<Arc<HttpApp>, (http::StatusCode, String)> {
        let slot = self.apps.lock().unwrap().get(name).cloned();
        match slot.as_ref().map(|slot| &slot.workload) {
            Some(Workload::Http(http)) => Ok(http.app.clone()),
            Some(Workload::Command { .. }) => Err((
                http::StatusCode::BAD_GATEWAY,
                format!(
                    "`{name}` is a command, not an HTTP app: connect to the port it listens on"
                ),
            )),
            None => Err((
                http::StatusCode::SERVICE_UNAVAILABLE,
                format!("`{name}` is not an app of this daemon (removed?)"),
            )),
        }
    }

    /// Brings every stored app back to what its policy asks for.
    pub async fn recover(self: Arc<Self>) {
        let records = match self.state.apps() {
            Ok(records) => records,
            Err(e) => {
                tracing::error!("cannot read the daemon state: {e}");
                return;
            }
        };
        self.code.set_holds(
            records
                .iter()
                .map(|r| (r.name.as_str(), r.source.as_str(), r.digest.as_str())),
        );
        for mut record in records {
            let request = request_of(&record);
            // Created and never started (`skiff create --rm`): it has not ended yet.
            let never_started =
                !record.running && !record.desired_running && record.exits.is_empty();
            if record.auto_remove && !never_started {
                // `--rm` with no restart policy: whether it exited or died with the daemon, it
                // has ended, and is removed with its logs.
                match self.state.remove_app(&record.name) {
                    Ok(event) => {
                        let _ = self.events.send(event);
                        self.code.release(&record.name);
                        AppLog::open(&self.logs_dir, &record.name).remove();
                    }
                    Err(e) => {
                        tracing::error!(app = %record.name, "cannot remove the app (`--rm`): {e}")
                    }
                }
                continue;
            }
            let loaded = self.load(&record.digest_or_source(), &request).await;
            match loaded {
                Ok((code, _, _)) => {
                    let name = record.name.clone();
                    let http = code.app.kind() == AppKind::Http;
                    // A run the daemon died under ended then; an HTTP app has no run to end (a
                    // request in flight is the client's to retry) and serves if it should.
                    let died_running = record.running && !http;
                    record.running = false;
                    if died_running {
                        record.push_exit(ExitRecord {
                            at: now(),
                            code: 137,
                            reason: "daemon died".into(),
                        });
                    }
                    let run = if http {
                        record.desired_running
                    } else {
                        match record.restart {
                            RestartPolicy::No => false,
                            RestartPolicy::OnFailure { max_retries } => {
                                record.desired_running
                                    && died_running
                                    && max_retries.is_none_or(|m| record.restarts < m)
                            }
                            // `always` comes back even after a `stop`, as Docker's does on a
                            // daemon restart.
                            RestartPolicy::Always => true,
                            RestartPolicy::UnlessStopped => record.desired_running,
                        }
                    };
                    if run {
                        record.desired_running = true;
                    }
                    let slot = match self.insert(code, record.clone()) {
                        Ok(slot) => slot,
                        Err(fail) => {
                            self.keep_unloadable(record, &fail);
                            continue;
                        }
                    };
                    let died: &[(&str, &str)] = if died_running {
                        &[("exited", "daemon died (137)")]
                    } else {
                        &[]
                    };
                    self.record_fact(&mut slot.record.lock().unwrap(), died);
                    if run {
                        tracing::info!(app = %name, "restarting after daemon start");
                        let context = format!("`{name}` was not started");
                        let started = self.launch(&slot, &[("started", "")], &context, |_| {});
                        if let Err(fail) = started.await {
                            tracing::error!(app = %name, "cannot start the app: {}", fail.error.message);
                        }
                    }
                }
                Err(fail) => self.keep_unloadable(record, &fail),
            }
        }
    }

    /// An app that can no longer be loaded at startup (its file or a granted directory is gone):
    /// its record is kept, marked as failed and not wanted running, with the reason.
    fn keep_unloadable(&self, mut record: AppRecord, fail: &Fail) {
        tracing::error!(app = %record.name, "cannot load the app: {}", fail.error.message);
        record.desired_running = false;
        record.running = false;
        record.push_exit(ExitRecord {
            at: now(),
            code: 125,
            reason: format!("failed to load: {}", fail.error.message),
        });
        self.record_fact(&mut record, &[]);
        let name = record.name.clone();
        let reason = fail.error.message.clone();
        (self.unloadable.lock().unwrap()).insert(name, Unloadable { record, reason });
    }

    /// `skiff start` of an app that could not be loaded: loaded again (its file or image may
    /// be back) and started, or the reason it still cannot be.
    async fn start_unloadable(self: &Arc<Self>, record: AppRecord) -> Result<AppInfo, Fail> {
        let name = record.name.clone();
        let (code, _, _) = self
            .load(&record.digest_or_source(), &request_of(&record))
            .await
            .map_err(|fail| {
                Fail::new(
                    fail.status,
                    format!("`{name}` cannot be loaded: {}", fail.error.message),
                    Some(UNLOADABLE_HINT),
                )
            })?;
        let slot = self.insert(code, record)?;
        self.unloadable.lock().unwrap().remove(&name);
        self.start_slot(&slot, &name).await
    }

    /// Stops every app without touching what the state says they should be: the next start
    /// treats them as having died with the daemon, and their policies decide.
    pub async fn shutdown(&self) {
        let slots: Vec<Arc<Slot>> = self.apps.lock().unwrap().values().cloned().collect();
        let mut serving = Vec::new();
        for slot in &slots {
            if let Workload::Http(http) = &slot.workload {
                http.unpublish(&self.gateway, Duration::ZERO).await;
                serving.push(http.app.clone());
            }
            let mut live = slot.live.lock().unwrap();
            for task in [live.task.take(), live.health_task.take()]
                .into_iter()
                .flatten()
            {
                task.abort();
            }
        }
        // Requests in flight get the default stop grace period to finish, all apps together.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for app in serving {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            app.drain(left).await;
        }
    }
}

/// An app's compiled code: its one app, or the HTTP components of a Spin app of several (the
/// first of which is `app`).
struct Compiled {
    app: Arc<App>,
    components: Vec<crate::code::LoadedComponent>,
    /// A Spin app's Redis trigger components, run beside its HTTP ones.
    triggers: Vec<crate::code::LoadedComponent>,
}

trait DigestOrSource {
    fn digest_or_source(&self) -> String;
}

impl DigestOrSource for AppRecord {
    /// Images are reloaded by digest (the name may have moved since); files by path.
    fn digest_or_source(&self) -> String {
        if self.source.starts_with('/') {
            self.source.clone()
        } else {
            self.digest.clone()
        }
    }
}

fn validate_name(name: &str) -> Result<(), Fail> {
    let ok = name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Fail::new(
            400,
            format!("invalid app name `{name}`"),
            Some("use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
        ))
    }
}

fn exit_record(
    result: Option<Result<Exit, skiff_runtime::RunError>>,
) -> (ExitRecord, &'static str) {
    let (code, reason, kind) = match result {
        None => (137, "stopped".to_string(), "stopped"),
        Some(Err(e)) => (125, format!("failed to start: {e}"), "exited"),
        Some(Ok(exit)) => {
            let code = exit.status();
            match exit {
                Exit::Code(_) => (code, "exited".to_string(), "exited"),
                Exit::Trap { message, .. } => (code, format!("trapped: {message}"), "exited"),
                Exit::Failed { message, .. } => (code, format!("failed: {message}"), "exited"),
                Exit::Limit(limit @ LimitExceeded::Memory(_)) => (code, limit.to_string(), "oom"),
                Exit::Limit(limit) => (code, limit.to_string(), "limit-exceeded"),
            }
        }
    };
    (
        ExitRecord {
            at: now(),
            code,
            reason,
        },
        kind,
    )
}

/// The run's grants, limits and arguments: the image's defaults merged with the request's flags,
/// by the same functions as `skiff run`.
fn resolve_record(
    request: &CreateApp,
    defaults: Option<&skiff_image::AppDefaults>,
    digest: String,
) -> AppRecord {
    AppRecord {
        name: String::new(),
        source: request.source.clone(),
        digest,
        args: match defaults {
            Some(defaults) => defaults.args(request.args.as_deref()),
            None => request.args.clone().unwrap_or_default(),
        },
        grants: skiff_image::merge_grants(defaults, &request.grants, request.accept_image_network),
        limits: skiff_image::merge_limits(defaults, &request.limits),
        restart: request.restart,
        desired_running: true,
        restarts: 0,
        created: now(),
        exits: Vec::new(),
        running: false,
        http: skiff_api::HttpConfig {
            // Set by the image alone.
            spin_route: defaults.and_then(|d| d.spin()?.route),
            spin_component: defaults.and_then(|d| Some(d.spin()?.id)),
            spin_calls: defaults
                .and_then(|d| Some(d.spin()?.calls))
                .unwrap_or_default(),
            ..request.http.clone()
        },
        revision: 0,
        labels: request.labels.clone(),
        links: request.links.clone(),
        // A TCP check has no path (a client may send the default one).
        health: request.health.clone().map(|mut check| {
            if check.port.is_some() {
                check.path.clear();
            }
            check
        }),
        auto_remove: request.auto_remove,
        stop_timeout: request.stop_timeout,
        components: Vec::new(),
    }
}
