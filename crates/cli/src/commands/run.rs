//! `skiff run`: run a command app in the foreground, stdio attached, exit code passed through;
//! or, with `-d`, hand it to the daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use skiff_api::{CreateApp, PullPolicy, RestartPolicy};
use skiff_runtime::{
    App, AppKind, Exit, Interrupt, RunOptions, Runtime, RuntimeConfig, StoreLimits,
    WASMTIME_MAX_HANDLES, WasmOptions,
};

use crate::errors::user_error;
use crate::progress::CompileProgress;

use skiff_image::AppDefaults;

use crate::settings::{GlobalFlags, GrantFlags, HealthFlags, HttpLimitFlags, LimitFlags};
use crate::wasmtime_compat::WasmtimeFlags;

/// Run a WebAssembly app: a .wasm/.wat file (WASI preview 1 module or 0.2 command component) or an image
///
/// Exit status: the app's own exit code; 134 if it trapped; 137, 152 or 124 if it exceeded its
/// memory, CPU time or wall-clock limit; 125 if Skiff itself failed. With `-d`, the daemon runs
/// the app and `skiff run` prints its name and exits (0, or 125 if the daemon refused it).
#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    grants: GrantFlags,
    #[command(flatten)]
    limits: LimitFlags,
    #[command(flatten)]
    daemon: DetachFlags,
    /// `skiff create`: made in the daemon, not started.
    #[arg(skip)]
    create: bool,
    #[command(flatten)]
    pull: PullFlags,
    #[command(flatten)]
    pub(crate) wasmtime: WasmtimeFlags,
    /// The program name the app sees as argv[0], as `wasmtime run --argv0` [default: the file or
    /// image as given]
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "As `wasmtime run` and `wasmtime serve`"
    )]
    argv0: Option<String>,
    /// Call this exported function instead of the entry point and print its results, as
    /// `wasmtime run --invoke`: of a core module by name, its arguments after the file
    /// (`--invoke add math.wasm 1 2`); of a component as a WAVE call (`--invoke 'add(1, 2)'`),
    /// which may also name a component that is no command (a library)
    #[arg(long, value_name = "FUNCTION")]
    invoke: Option<String>,
    /// A Wasm platform, as `docker run --platform wasi/wasm`; of a multi-platform image the Wasm
    /// entry runs whether or not this is given
    #[arg(long, value_name = "OS/ARCH", value_parser = crate::settings::parse_platform)]
    platform: Option<String>,
    /// As `docker run -i`: the app reads this terminal's or pipe's stdin (it always does in the
    /// foreground)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// As `docker run -t`: the app's stdio is this terminal (it always is in the foreground)
    #[arg(short = 't', long)]
    tty: bool,
    /// As `docker run --rm`: nothing of the run is kept after it exits: with -d, the daemon
    /// removes the app and its logs (a command without --restart); in the foreground, nothing is
    /// ever kept
    #[arg(long)]
    rm: bool,
    /// `docker run --runtime` (a Wasm shim's name): refused, since Skiff is the runtime
    #[arg(long, hide = true, value_parser = crate::settings::refuse_runtime)]
    runtime: Option<String>,
    /// The app file or image, then the arguments passed to it (everything after it goes to the app;
    /// for an image, they replace its default arguments)
    #[arg(
        value_name = "FILE|IMAGE [ARGS]...",
        trailing_var_arg = true,
        required = true,
        num_args = 1..
    )]
    app_and_args: Vec<String>,
}

/// Whether an image is pulled before it runs, as `docker run --pull` and `-q`.
#[derive(Debug, Default, Args)]
pub(crate) struct PullFlags {
    /// When to pull the image first, as `docker run --pull`: `missing` (only if it is not
    /// stored), `always` (the registry's image under that name, even if one is stored), or
    /// `never` (an image not stored is an error)
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pull: PullPolicy,
    /// No pull progress, as `docker run -q`
    #[arg(short, long)]
    quiet: bool,
}

/// Running in the background under the daemon (`skiff daemon`).
#[derive(Debug, Args)]
#[command(next_help_heading = "In the background")]
struct DetachFlags {
    /// Detach: the daemon runs the app; print its name and exit (see `skiff ps`, `skiff logs`)
    #[arg(short = 'd', long)]
    detach: bool,
    /// Name the app (with -d) [default: one the daemon picks]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Keep metadata with the app (with -d): `KEY=VALUE`, or `KEY` for an empty value;
    /// `skiff ps --filter label=KEY[=VALUE]` finds it; repeatable
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Seconds a stop waits for the app to end before killing it, when `skiff stop` names none
    /// (with -d) [default: 10]
    #[arg(long, value_name = "SECONDS")]
    stop_timeout: Option<u64>,
    /// When the daemon restarts the app after it ends (with -d): `no`, `on-failure[:MAX_RETRIES]`,
    /// `always` or `unless-stopped`
    #[arg(long, value_name = "POLICY", default_value = "no")]
    restart: RestartPolicy,
    /// Serve an HTTP app on its own port (with -d), or let a command listen on it for TCP
    /// connections: `PORT` (on 127.0.0.1) or `ADDR:PORT`, with `/udp` after it for a command
    /// that serves UDP (it may answer whoever writes to it); Docker's `PORT:CONTAINER_PORT` is
    /// the host's port (a handler has no port of its own; a command listens on the host's);
    /// repeatable
    #[arg(short = 'p', long = "publish", value_name = "[ADDR:]PORT")]
    ports: Vec<String>,
    /// Serve an HTTP app on the daemon's gateway (with -d): `HOST/PATH`, `HOST` or `/PATH`; repeatable
    #[arg(long = "route", value_name = "ROUTE")]
    routes: Vec<String>,
    /// Let the app call another app of the daemon in-process (with -d): its `wasi:http`
    /// requests to `http://NAME/` (or `http://NAME.internal/`) go straight to APP's handler, no
    /// socket; NAME defaults to APP; repeatable
    #[arg(long = "link", value_name = "APP[:NAME]", value_parser = parse_link)]
    links: Vec<(String, String)>,
    #[command(flatten)]
    http: HttpLimitFlags,
    #[command(flatten)]
    health: HealthFlags,
}

impl Run {
    /// `skiff create`, as `docker create`: the app is made in the daemon as `run -d` would make
    /// it, and started by `skiff start`.
    pub fn create(mut self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        self.create = true;
        self.daemon.detach = true;
        self.execute(global)
    }

    pub fn execute(mut self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let loading = self.wasmtime.apply(&mut self.grants, &mut self.limits)?;
        if self.daemon.detach {
            if let Some(flag) = loading.given() {
                return Err(user_error(
                    format!(
                        "`{flag}` sets how one program is loaded and run, for a run in the \
                         foreground; the daemon's engine, linker and limits are shared by all its \
                         apps"
                    ),
                    "drop `-d` to run it here",
                ));
            }
            if self.argv0.is_some() {
                return Err(user_error(
                    "`--argv0` names the program of a run in the foreground; the daemon runs an \
                     app under its own name",
                    "drop `-d` to run it here, or drop `--argv0`",
                ));
            }
            if self.invoke.is_some() {
                return Err(user_error(
                    "`--invoke` calls a function once, in the foreground; the daemon runs apps \
                     from their entry point",
                    "drop `-d` to call the function here, or drop `--invoke`",
                ));
            }
            let docker_flag = [(self.interactive, "-i"), (self.tty, "-t")]
                .into_iter()
                .find_map(|(given, flag)| given.then_some(flag));
            if let Some(flag) = docker_flag {
                return Err(user_error(
                    format!(
                        "`{flag}` attaches the app to this terminal; an app the daemon runs reads \
                         no stdin and writes to its log"
                    ),
                    "drop `-d` to run it here, attached, or drop the flag and follow its output \
                     with `skiff logs -f NAME`",
                ));
            }

            return self.detach(global);
        }
        let background_flag = [
            (self.daemon.name.is_some(), "--name"),
            (!self.daemon.labels.is_empty(), "--label"),
            (self.daemon.stop_timeout.is_some(), "--stop-timeout"),
            (self.daemon.restart != RestartPolicy::No, "--restart"),
            (!self.daemon.routes.is_empty(), "--route"),
            (!self.daemon.links.is_empty(), "--link"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
        .or(self.daemon.health.given());
        if let Some(flag) = background_flag {
            return Err(user_error(
                format!("`{flag}` applies only to an app run by the daemon"),
                format!(
                    "add `-d` to run it in the background (start a daemon with `skiff daemon`), or drop `{flag}`"
                ),
            ));
        }
        // A Spin app's manifest, built into an image once (as `spin up -f spin.toml`).
        let built = built_spin_app(global, &self.app_and_args[0])?;
        let target = built.as_ref().unwrap_or(&self.app_and_args[0]);
        let mut args = self.app_and_args.clone();
        if let Some(argv0) = &self.argv0 {
            args[0].clone_from(argv0);
        }
        let runtime_with = |interrupt| {
            Runtime::new(RuntimeConfig {
                cache_dir: loading.compile_cache.then(|| global.compile_cache_dir()),
                interrupt,
                library_components: self.invoke.is_some(),
                unknown_imports: loading.unknown_imports,
                preloads: loading.preloads.clone(),
                unlinked: loading.unlinked.clone(),
                allow_precompiled: loading.allow_precompiled,
                wasm: WasmOptions {
                    // One program in this process: as many handles as `wasmtime run` gives it
                    // (a daemon's apps, which share one process, get 1024 each).
                    store: StoreLimits {
                        max_resources: loading
                            .wasm
                            .store
                            .max_resources
                            .or(Some(WASMTIME_MAX_HANDLES)),
                        ..loading.wasm.store
                    },
                    ..loading.wasm.clone()
                },
                ..RuntimeConfig::default()
            })
        };
        // One app in this process: its code runs without epoch checks, and a limit ends the
        // process as the app's end would (the same message and exit status). A CPU share holds
        // the app back instead, at the epoch ticks it then needs.
        let runtime = runtime_with(match self.limits.cpus {
            Some(_) => Interrupt::Epochs,
            None => Interrupt::ExitProcess {
                report: {
                    let target = target.clone();
                    Arc::new(move |exit| {
                        report(&target, exit);
                    })
                },
            },
        })?;
        let (mut app, mut image) = load(global, &runtime, target, &self.pull)?;
        // A Spin Redis trigger's limits are each message's, which only epoch checks can end
        // (the process lives on): loaded again into an engine that compiles them.
        // Kept alive with the app (its epoch ticker).
        let _runtime = match app.handles_redis_messages() && self.limits.cpus.is_none() {
            true => {
                let runtime = runtime_with(Interrupt::Epochs)?;
                (app, image) = load(global, &runtime, target, &self.pull)?;
                runtime
            }
            false => runtime,
        };
        if app.kind() == AppKind::Http {
            return Err(user_error(
                format!("`{target}` is an HTTP handler (it exports `wasi:http/incoming-handler`)"),
                format!(
                    "serve it with `skiff serve {target}`, or in the daemon with `skiff run -d -p PORT {target}`"
                ),
            ));
        }
        if let Some(image) = &image {
            let given = (args.len() > 1).then(|| args.split_off(1));
            args.extend(image.args(given.as_deref()));
        }
        let mut grants = self.grants.merge(image.as_ref())?;
        grants.add_listen(&self.daemon.ports).map_err(|spec| {
            user_error(
                format!("`{spec}` is not a port"),
                skiff_capabilities::LISTEN_HINT,
            )
        })?;
        let options = RunOptions {
            args,
            grants,
            limits: skiff_image::merge_limits(image.as_ref(), &self.limits.resolve()),
            invoke: self.invoke.clone(),
            core_dump: loading.core_dump,
            ..Default::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?;
        let exit = runtime.block_on(app.run(options));
        // A guest stopped at a limit while blocked in a file call leaves that call on the
        // blocking pool, where it cannot be cancelled: the process ends without waiting for it.
        runtime.shutdown_background();
        let code = report(target, &exit?);
        // The guest's code may not fit in a u8 (`proc_exit(256)`); let the OS truncate it as it
        // would for a native process.
        std::process::exit(code)
    }

    /// `run -d`: see [`create_request`].
    fn detach(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let mut app_and_args = self.app_and_args.clone();
        if let Some(built) = built_spin_app(global, &app_and_args[0])? {
            app_and_args[0] = built;
        }
        let target = &app_and_args[0];
        let mut request = create_request(
            self.daemon.name.clone(),
            &app_and_args,
            &self.grants,
            &self.limits,
            self.daemon.restart,
            skiff_api::HttpConfig {
                ports: self.daemon.ports.clone(),
                routes: self.daemon.routes.clone(),
                limits: self.daemon.http.resolve(),
                spin_route: None,
                spin_component: None,
                spin_calls: Vec::new(),
            },
        )?;
        for (app, name) in &self.daemon.links {
            request.links.calls.insert(name.clone(), app.clone());
        }
        request.health = self.daemon.health.resolve()?;
        request.auto_remove = self.rm;
        request.labels.extend(self.daemon.labels.iter().cloned());
        request.stop_timeout = self.daemon.stop_timeout;
        request.no_start = self.create;
        request.pull = self.pull.pull;
        let doing = if self.create { "create" } else { "start" };
        let app = global
            .block_on(global.client().create(&request))
            .with_context(|| format!("failed to {doing} `{target}` in the daemon"))?;
        println!("{}", app.name);
        Ok(ExitCode::SUCCESS)
    }
}

/// The daemon's request for `run -d` (and each service of `skiff compose`): the flags as given
/// (no image defaults: the daemon merges those, as it must when it restarts the app later), a
/// file as an absolute path, an image reference as typed, the arguments after it if any.
pub(crate) fn create_request(
    name: Option<String>,
    app_and_args: &[String],
    grants: &GrantFlags,
    limits: &LimitFlags,
    restart: RestartPolicy,
    http: skiff_api::HttpConfig,
) -> anyhow::Result<CreateApp> {
    let target = &app_and_args[0];
    let source = if looks_like_file(target) {
        let file = std::path::Path::new(target);
        if !file.is_file() {
            return Err(no_such_file(target));
        }
        std::path::absolute(file)
            .with_context(|| format!("cannot make `{target}` an absolute path"))?
            .to_string_lossy()
            .into_owned()
    } else {
        target.clone()
    };
    let args = (app_and_args.len() > 1).then(|| app_and_args[1..].to_vec());
    Ok(CreateApp {
        name,
        source,
        args,
        grants: grants.resolve()?,
        accept_image_network: grants.accept_image_network(),
        limits: limits.resolve(),
        restart,
        http,
        labels: Default::default(),
        links: Default::default(),
        health: None,
        auto_remove: false,
        stop_timeout: None,
        no_start: false,
        pull: PullPolicy::Missing,
    })
}

/// `KEY[=VALUE]`, as `docker run --label` takes it.
pub(crate) fn parse_label(spec: &str) -> Result<(String, String), String> {
    let (key, value) = spec.split_once('=').unwrap_or((spec, ""));
    if key.is_empty() {
        return Err(format!("`{spec}` names no key; expected `KEY=VALUE`"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `APP[:NAME]`: the app to call, and the host name the caller uses for it (APP unless given).
fn parse_link(spec: &str) -> Result<(String, String), String> {
    let (app, name) = spec.split_once(':').unwrap_or((spec, spec));
    if app.is_empty() {
        return Err(format!("`{spec}` names no app; expected `APP[:NAME]`"));
    }
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".internal").unwrap_or(&name);
    if !crate::settings::is_host_label(name) {
        return Err(format!(
            "`{name}` cannot be a host name: use letters, digits and `-` (e.g. `--link {app}:api`)"
        ));
    }
    Ok((app.to_string(), name.to_string()))
}

pub(crate) fn no_such_file(target: &str) -> anyhow::Error {
    user_error(
        format!("`{target}`: no such file"),
        "give the path of a .wasm or .wat file, or an image name (see `skiff images`)",
    )
}

/// A Spin app's manifest given where an app is (`skiff serve spin.toml`, as `spin up -f`): made
/// an image in the store first, as `skiff build` makes it, but from the Wasm its components'
/// `source` names, as `spin up` runs it (no build command: `skiff build` runs them); the image's
/// name.
pub(crate) fn built_spin_app(global: &GlobalFlags, target: &str) -> anyhow::Result<Option<String>> {
    let path = std::path::Path::new(target);
    if !path.is_file() || !skiff_image::is_spin_manifest(path) {
        return Ok(None);
    }
    let store = global.image_store()?;
    let built = skiff_image::build_spin(&store, path, None, false)?;
    let name = format!("{}:{}", built.app.name, built.app.version);
    eprintln!("Built {name} ({}) from `{target}`", built.digest);
    Ok(Some(name))
}

/// A path rather than an image name: an existing file, or something spelled like a path.
pub(crate) fn looks_like_file(target: &str) -> bool {
    let path = std::path::Path::new(target);
    path.is_file()
        || target.starts_with(['.', '/'])
        || path.extension().is_some_and(|e| e == "wasm" || e == "wat")
}

/// Loads a file, or a stored image (pulled first as `pull` says), compiling with a spinner on
/// a TTY.
pub(crate) fn load(
    global: &GlobalFlags,
    runtime: &Runtime,
    target: &str,
    pull: &PullFlags,
) -> anyhow::Result<(App, Option<AppDefaults>)> {
    if let Some(built) = built_spin_app(global, target)? {
        return load(global, runtime, &built, pull);
    }
    if looks_like_file(target) {
        let file = PathBuf::from(target);
        if !file.is_file() {
            return Err(no_such_file(target));
        }
        let mut progress = CompileProgress::new(target);
        let app = runtime.load_file(&file, &mut |event| progress.on_event(event))?;
        Ok((app, None))
    } else {
        let store = global.image_store()?;
        let digest = stored_image(global, &store, target, pull)?;
        let image = skiff_image::Image::open(&store, &digest)?;
        let (app, defaults) = load_image(runtime, &store, target, &image)?;
        Ok((app, Some(defaults)))
    }
}

/// An image's app, compiled (or from the compile cache), and its defaults.
pub(crate) fn load_image(
    runtime: &Runtime,
    store: &skiff_image::Store,
    name: &str,
    image: &skiff_image::Image,
) -> anyhow::Result<(App, AppDefaults)> {
    let defaults = image.defaults(store)?;
    // The Wasm layer is read (and verified) only if the compile cache lacks its code.
    if let Some(app) = image
        .wasm_digest()
        .and_then(|digest| runtime.load_cached(name, digest))
    {
        return Ok((app, defaults));
    }
    let wasm = image.wasm_bytes(store)?;
    let mut progress = CompileProgress::new(name);
    let app = runtime.load(name, &wasm, &mut |event| progress.on_event(event))?;
    Ok((app, defaults))
}

/// The digest of a stored image, pulled first if it is not in the store (as `docker run` does).
pub(crate) fn stored_image(
    global: &GlobalFlags,
    store: &skiff_image::Store,
    image: &str,
    pull: &PullFlags,
) -> anyhow::Result<String> {
    super::pull::by_policy(global, store, image, (pull.pull, pull.quiet), || {
        user_error(
            format!("no image `{image}` in the local store, and `--pull never` was given"),
            "pull it first with `skiff pull IMAGE`, or drop `--pull never`",
        )
    })
}

pub(crate) fn report(name: &str, exit: &Exit) -> i32 {
    let status = exit.status();
    match exit {
        Exit::Code(_) => {}
        Exit::Trap {
            message,
            backtrace,
            stack_overflow,
            core_dump,
        } => {
            eprintln!("error: `{name}` trapped: {message}");
            if let Some(backtrace) = backtrace {
                eprintln!("{}", backtrace.trim_end());
            }
            match core_dump {
                None => {}
                Some(Ok(path)) => eprintln!("core dumped at {}", path.display()),
                Some(Err(why)) => eprintln!("warning: no core dump was written: {why}"),
            }
            if *stack_overflow {
                eprintln!(
                    "hint: the app overflowed its wasm stack, usually through unbounded recursion"
                );
            }
        }
        Exit::Failed { message, backtrace } => {
            eprintln!("error: `{name}` failed: {message}");
            if let Some(backtrace) = backtrace {
                eprintln!("{}", backtrace.trim_end());
            }
        }
        Exit::Limit(limit) => {
            eprintln!("error: `{name}` was stopped: {limit}");
            eprintln!("hint: raise the limit with `{}`", limit.flag());
        }
    }
    status
}
