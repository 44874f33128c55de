//! `skiff serve`: serve an HTTP handler in the foreground, a fresh instance per request; of a
//! Spin app of several components, each on its route, calling each other in-process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use skiff_runtime::{
    AppKind, Exit, HandlerOptions, PreparedGrants, RunError, RunOptions, Runtime, RuntimeConfig,
};

use crate::commands::looks_like_file;
use crate::commands::run::{PullFlags, load, load_image, report, stored_image};
use crate::errors::user_error;
use crate::settings::{GlobalFlags, GrantFlags, HttpLimitFlags, LimitFlags};
use crate::wasmtime_compat::{WasmtimeFlags, WasmtimeServeFlags};

/// How long in-flight requests may take to finish after Ctrl-C or SIGTERM.
const GRACE: Duration = Duration::from_secs(10);

/// Serve a WebAssembly HTTP handler (a `wasi:http/incoming-handler` or WASI 0.3
/// `wasi:http/handler` component, file or image)
///
/// Every request gets a fresh instance, with the grants and limits given here: `--memory` per
/// instance (128MiB unless given), `--timeout` (60s unless given) and `--cpu-time` per request
/// (504 when a request runs out of time), `--body-timeout` for each piece of the request body.
/// Ctrl-C stops taking connections and lets requests in flight finish.
#[derive(Debug, Args)]
pub struct Serve {
    #[command(flatten)]
    grants: GrantFlags,
    #[command(flatten)]
    limits: LimitFlags,
    #[command(flatten)]
    http: HttpLimitFlags,
    #[command(flatten)]
    pub(crate) wasmtime: WasmtimeFlags,
    #[command(flatten)]
    wasmtime_serve: WasmtimeServeFlags,
    #[command(flatten)]
    pull: PullFlags,
    /// The address to listen on (loopback unless you say otherwise)
    #[arg(
        long,
        visible_alias = "addr",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    listen: SocketAddr,
    /// The handler: a .wasm/.wat file or an image
    #[arg(value_name = "FILE|IMAGE")]
    app: String,
}

impl Serve {
    pub fn execute(mut self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        // `--preload` goes to the runtime, which refuses it for a component, with the reason.
        let loading = self.wasmtime.apply(&mut self.grants, &mut self.limits)?;
        // Pooled always; `-O pooling-*` sizes the pool.
        if loading.wasm.codegen.pool.allocator == Some(false) {
            return Err(user_error(
                "`-O pooling-allocator=n`: `skiff serve` takes every request's instance from a \
                 pool of them, so that a fresh instance costs microseconds",
                "drop it; `-O pooling-*` sizes the pool (`-O pooling-total-memories=N`, ...)",
            ));
        }
        if loading.allow_precompiled {
            return Err(user_error(
                "`--allow-precompiled`: `skiff serve` compiles its handlers itself, with the checks \
                 that end a request at its limits, so it cannot take code `wasmtime compile` made",
                "give the `.wasm`: it is compiled once and kept in Skiff's cache",
            ));
        }
        if let Some(n) = self.wasmtime_serve.max_concurrency()? {
            self.http.max_concurrency = n;
        }
        // A Spin app's manifest (`skiff serve spin.toml`, as `spin up -f spin.toml`).
        let built = crate::commands::run::built_spin_app(global, &self.app)?;
        let target = built.as_deref().unwrap_or(&self.app);
        // Its key-value stores and SQLite databases then live in the app's `.spin/skiff/`, and
        // outlive this server, as `spin up` keeps them in `.spin/`; an image's, in memory.
        let state_dir = built.as_ref().map(|_| {
            let manifest = std::path::Path::new(&self.app);
            let dir = manifest.parent().unwrap_or(std::path::Path::new("."));
            dir.join(".spin").join("skiff")
        });
        // A Spin app: each component served on its HTTP route, as `spin up` does.
        let spin = match looks_like_file(target) {
            true => None,
            false => {
                let store = global.image_store()?;
                let digest = stored_image(global, &store, target, &self.pull)?;
                let images = skiff_image::Image::components(&store, &digest)?;
                let spin = images.len() > 1 || images[0].spin_component().is_some();
                spin.then_some((store, images))
            }
        };
        let per_app = (loading.wasm.store.max_resources, loading.core_dump.clone());
        let apps = spin.as_ref().map_or(1, |(_, images)| images.len() as u32);
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: loading.compile_cache.then(|| global.compile_cache_dir()),
            // Its apps: each one's instance pool is exactly as large as its concurrency limit.
            pooling: skiff_runtime::Pooling {
                max_instances: self.http.max_concurrency.max(1).saturating_mul(apps),
            },
            // Its own turns are all the bound an app needs.
            long_runner_turns: None,
            // Handlers always stop at their limits by epochs (only they run here).
            interrupt: skiff_runtime::Interrupt::Epochs,
            library_components: false,
            unknown_imports: loading.unknown_imports,
            preloads: loading.preloads,
            unlinked: loading.unlinked,
            allow_precompiled: false,
            wasm: loading.wasm.clone(),
        })?;
        // A Spin app's Redis trigger components, run beside its HTTP ones as `spin up` runs
        // every trigger of an app.
        let mut triggers = Vec::new();
        let (served, routes) = match &spin {
            None => {
                let (app, image) = load(global, &runtime, target, &self.pull)?;
                let http = Arc::new(self.handler(target, app, image.as_ref(), &per_app)?);
                (vec![http.clone()], skiff_http::Target::App(http))
            }
            Some((store, images)) => {
                let mut components = Vec::new();
                let mut shared = None;
                for image in images {
                    let Some(component) = image.spin_component() else {
                        continue;
                    };
                    let name = format!("{target}#{}", component.id);
                    let (app, defaults) = load_image(&runtime, store, &name, image)?;
                    if app.handles_redis_messages() {
                        let grants = self.grants.merge(Some(&defaults))?;
                        for channel in &grants.redis_channels {
                            eprintln!(
                                "Component `{}` handles the Redis channel `{}` of {}",
                                component.id,
                                channel.channel,
                                channel.server()
                            );
                        }
                        let options = RunOptions {
                            args: vec![name],
                            limits: skiff_image::merge_limits(
                                Some(&defaults),
                                &self.limits.resolve(),
                            ),
                            grants,
                            ..Default::default()
                        };
                        triggers.push((app, options));
                        continue;
                    }
                    // A trigger other than HTTP's and Redis's (a command), or Spin 1's WAGI
                    // executor (CGI over stdio): not a handler to serve.
                    if app.kind() != AppKind::Http {
                        eprintln!(
                            "note: Spin component `{}` is not a `wasi:http` handler (a WAGI or \
                             non-HTTP trigger): not served",
                            component.id
                        );
                        continue;
                    }
                    let mut options = self.options(&name, &app, Some(&defaults), &per_app)?;
                    match &component.route {
                        Some(route) => eprintln!("Component `{}` on {route}", component.id),
                        None => eprintln!(
                            "Component `{}` has no public route: reached at \
                             http://{}.spin.internal/ by the components allowed to call it",
                            component.id, component.id
                        ),
                    }
                    components.push(skiff_http::Component {
                        id: component.id,
                        loader: skiff_http::HttpApp::ready(Arc::new(app)),
                        grants: std::mem::take(&mut options.grants),
                        route: component.route.as_deref().map(skiff_http::SpinRoute::new),
                        calls: component.calls,
                    });
                    shared.get_or_insert(options);
                }
                if shared.is_none() && triggers.is_empty() {
                    return Err(user_error(
                        format!("the Spin app `{target}` has no `wasi:http` component to serve"),
                        skiff_image::NO_HTTP_COMPONENT_HINT,
                    ));
                }
                // One set of stores for all its components, HTTP and Redis.
                let stores = match &state_dir {
                    Some(dir) => {
                        // The app's name as a file name (an image name may hold `/`).
                        let name = target.split(':').next().unwrap_or(target).replace('/', "_");
                        let grants = components.iter().map(|c| c.grants.data_interfaces());
                        let triggers = triggers.iter().map(|(_, run)| &run.grants);
                        let key_value = grants.clone().any(|d| !d.spin_stores.is_empty())
                            || triggers.clone().any(|g| !g.spin_stores.is_empty());
                        let databases = grants
                            .flat_map(|d| d.spin_databases.iter())
                            .chain(triggers.flat_map(|g| g.spin_databases.iter()))
                            .cloned();
                        let stores = skiff_daemon::open_spin_stores(
                            dir,
                            &name,
                            key_value,
                            databases.collect(),
                        )
                        .map_err(|e| {
                            user_error(
                                e,
                                "check that you may write the app's directory, and that no \
                                 other `skiff serve` of this app is running",
                            )
                        })?;
                        Arc::new(stores)
                    }
                    None => Arc::default(),
                };
                for (_, run) in &mut triggers {
                    run.stores = stores.clone();
                }
                let Some(mut options) = shared else {
                    return serve_triggers(target, triggers);
                };
                options.stores = stores;
                let mut http = skiff_http::HttpApp::of_components(
                    target.to_string(),
                    components,
                    options,
                    self.http.resolve(),
                    &skiff_http::Bounds::unshared(),
                )
                .map_err(|e| {
                    user_error(
                        format!("the Spin app `{target}`: {e}"),
                        "give each component a route of its own in `spin.toml`",
                    )
                })?;
                http.set_request_headers(self.wasmtime_serve.request_headers()?);
                let http = Arc::new(http);
                (vec![http.clone()], skiff_http::Target::App(http))
            }
        };
        let max_connections = self.wasmtime_serve.max_connections()?;
        let shutdown_addr = self.wasmtime_serve.shutdown_addr;
        let listen = self.listen;
        skiff_http::raise_fd_limit();
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?
            .block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                    user_error(
                        format!("cannot listen on {listen}: {e}"),
                        "pick another address with `--listen ADDR:PORT` (port 0 picks a free one)",
                    )
                })?;
                let local = listener.local_addr()?;
                // As `wasmtime serve --shutdown-addr`: a connection there stops it as Ctrl-C.
                let shutdown_listener = match shutdown_addr {
                    Some(addr) => {
                        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                            user_error(
                                format!("cannot listen on {addr} for `--shutdown-addr`: {e}"),
                                "pick another address (port 0 picks a free one)",
                            )
                        })?;
                        eprintln!(
                            "Listening for shutdown on tcp://{}/",
                            listener.local_addr()?
                        );
                        Some(listener)
                    }
                    None => None,
                };
                eprintln!("Serving `{target}` on http://{local}/");
                // Its Redis triggers run beside it; one that ends (its server gone) ends it.
                let mut triggers = Triggers::start(triggers);
                let mut ended = None;
                let shutdown = async {
                    let signal = async move {
                        match shutdown_listener {
                            Some(listener) => tokio::select! {
                                () = shutdown_signal() => {}
                                _ = listener.accept() => {}
                            },
                            None => shutdown_signal().await,
                        }
                    };
                    tokio::select! {
                        () = signal => {}
                        exit = triggers.first_to_end() => ended = Some(exit),
                    }
                };
                skiff_http::serve_at_most(listener, routes, shutdown, max_connections).await;
                drop(triggers);
                eprintln!("Shutting down: waiting for requests in flight...");
                let deadline = std::time::Instant::now() + GRACE;
                let mut drained = true;
                for http in &served {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    drained &= http.drain(left).await;
                }
                if !drained {
                    eprintln!("warning: requests still running after {GRACE:?} were dropped");
                }
                match ended {
                    Some((name, exit)) => Ok(ExitCode::from(report(&name, &exit?) as u8)),
                    None => Ok(ExitCode::SUCCESS),
                }
            })
    }
}

/// A Spin app's Redis trigger components, each running (subscribed) on a task of its own.
struct Triggers(tokio::task::JoinSet<(String, Result<Exit, RunError>)>);

impl Triggers {
    fn start(triggers: Vec<(skiff_runtime::App, RunOptions)>) -> Triggers {
        let mut set = tokio::task::JoinSet::new();
        for (app, options) in triggers {
            set.spawn(async move {
                let name = options.args[0].clone();
                (name, app.run(options).await)
            });
        }
        Triggers(set)
    }

    /// The first one to end (its server gone, a limit), and how; never, if there are none.
    async fn first_to_end(&mut self) -> (String, Result<Exit, RunError>) {
        match self.0.join_next().await {
            Some(Ok(ended)) => ended,
            Some(Err(panicked)) => std::panic::resume_unwind(panicked.into_panic()),
            None => std::future::pending().await,
        }
    }
}

/// `skiff serve` of a Spin app whose components are all Redis triggers: as `spin up`, they run
/// until Ctrl-C, or until one ends.
fn serve_triggers(
    target: &str,
    triggers: Vec<(skiff_runtime::App, RunOptions)>,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?
        .block_on(async move {
            eprintln!("Running the Redis triggers of `{target}`");
            let mut triggers = Triggers::start(triggers);
            tokio::select! {
                () = shutdown_signal() => Ok(ExitCode::SUCCESS),
                (name, exit) = triggers.first_to_end() => {
                    Ok(ExitCode::from(report(&name, &exit?) as u8))
                }
            }
        })
}

impl Serve {
    /// The HTTP app that serves `app`: the flags' grants and limits over the image's.
    fn handler(
        &self,
        name: &str,
        app: skiff_runtime::App,
        image: Option<&skiff_image::AppDefaults>,
        per_app: &(Option<usize>, Option<std::path::PathBuf>),
    ) -> anyhow::Result<skiff_http::HttpApp> {
        let options = self.options(name, &app, image, per_app)?;
        let mut http = skiff_http::HttpApp::new(
            name.to_string(),
            skiff_http::HttpApp::ready(Arc::new(app)),
            options,
            self.http.resolve(),
            // Each app with a pool of its own, sized to its `--max-concurrency`.
            &skiff_http::Bounds::unshared(),
        );
        http.set_request_headers(self.wasmtime_serve.request_headers()?);
        Ok(http)
    }

    /// What each request of `app` is given: the flags' grants and limits over the image's.
    fn options(
        &self,
        name: &str,
        app: &skiff_runtime::App,
        image: Option<&skiff_image::AppDefaults>,
        (max_handles, core_dump): &(Option<usize>, Option<std::path::PathBuf>),
    ) -> anyhow::Result<HandlerOptions> {
        if app.kind() != AppKind::Http {
            return Err(user_error(
                format!(
                    "`{name}` is not an HTTP handler: it exports neither `wasi:http/incoming-handler` nor WASI 0.3's `wasi:http/handler`"
                ),
                format!(
                    "run a command with `skiff run {name}`; build handlers for the `wasi:http/proxy` world (e.g. with the `wstd` crate) or WASI 0.3's `wasi:http/service` (the `wasip3` crate)"
                ),
            ));
        }
        let grants = self.grants.merge(image)?;
        let options = HandlerOptions {
            grants: PreparedGrants::new(&grants).map_err(RunError::from)?,
            limits: skiff_image::merge_limits(image, &self.limits.resolve()),
            stdio: skiff_runtime::Stdio::Inherit,
            turns: None,
            rate: None,
            pause: None,
            peers: None,
            max_handles: *max_handles,
            core_dump: core_dump.clone(),
            stores: Default::default(),
        };
        app.check_grants(&options.grants)?;
        Ok(options)
    }
}

/// `wasmtime serve -H 'NAME: VALUE'` sets a request header, and Skiff's global `-H` is `--host`,
/// the daemon to talk to, which `skiff serve` does not use: after the verb `serve`, a `-H` whose
/// value is not a `unix://` address is read as `--header`, so that a `wasmtime serve` command
/// line runs unchanged.
pub fn header_for_wasmtime_h(args: &mut [std::ffi::OsString]) {
    let takes_value = ["--root", "-H", "--host"];
    let verb = (1..args.len())
        .find(|&i| args[i] == "serve" && !takes_value.iter().any(|flag| args[i - 1] == *flag));
    let Some(verb) = verb else { return };
    let mut i = verb + 1;
    while i < args.len() {
        if args[i] == "--" {
            return;
        }
        let is_host = |value: &std::ffi::OsString| value.to_string_lossy().starts_with("unix://");
        if args[i] == "-H" && args.get(i + 1).is_some_and(|value| !is_host(value)) {
            args[i] = "--header".into();
            i += 1;
        } else if let Some(value) = args[i].to_str().and_then(|a| a.strip_prefix("-H"))
            && !value.is_empty()
            && !value.starts_with("unix://")
        {
            args[i] = format!("--header={}", value.trim_start_matches('=')).into();
        }
        i += 1;
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::header_for_wasmtime_h;

    fn rewritten(args: &[&str]) -> Vec<String> {
        let mut args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        header_for_wasmtime_h(&mut args);
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn wasmtime_serves_h_is_a_header_after_serve_only() {
        assert_eq!(
            rewritten(&["skiff", "serve", "-H", "x: 1", "-Hy: 2", "app.wasm"]),
            [
                "skiff",
                "serve",
                "--header",
                "x: 1",
                "--header=y: 2",
                "app.wasm"
            ]
        );
        // Skiff's own `-H`: before the verb, a `unix://` address, or another verb.
        for args in [
            &["skiff", "-H", "x: 1", "serve", "app.wasm"][..],
            &["skiff", "serve", "-H", "unix:///run/s.sock", "app.wasm"],
            &["skiff", "--root", "serve", "ps", "-H", "x"],
        ] {
            assert_eq!(rewritten(args), args);
        }
    }
}
