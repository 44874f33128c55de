//! `skiff daemon`: the host of many apps in one process and one wasmtime engine.
//!
//! Owns the supervisor (a tokio task per app, restart policies with backoff, stop with a grace
//! period), the apps' logs (JSON lines per app, rotated), the API server (HTTP/JSON on a Unix
//! socket readable only by its owner), the admin listener (`/metrics` and the dashboard, a page in
//! the browser) and the reconciliation of the durable state with reality
//! at startup. Apps run through `skiff-runtime` with the same grants and limits as `skiff run`;
//! nothing here knows wasmtime.

mod api;
mod code;
mod dashboard;
mod health;
mod http;
mod kv;
mod links;
mod logs;
mod supervisor;

use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use skiff_api::DaemonInfo;

pub use api::UnsafeSocketDir;
pub use dashboard::Prices;
pub use kv::open_in as open_spin_stores;

pub struct DaemonConfig {
    /// Skiff's root: the image store, the compile cache, and `daemon/` (state, logs, lock).
    pub root: PathBuf,
    /// The API socket; created mode 0600.
    pub socket: PathBuf,
    /// The shared HTTP gateway's address, if any.
    pub gateway: Option<SocketAddr>,
    /// The admin listener's address (Prometheus `/metrics` and the dashboard), if any.
    pub admin: Option<SocketAddr>,
    /// What the dashboard bills a request, a CPU-second and a GB-second at, if anything.
    pub prices: Option<Prices>,
    /// Compiled HTTP handlers kept in memory (least recently used dropped first).
    pub loaded_handlers: usize,
    /// How long a loaded HTTP handler serves no request before it gives back its code pages.
    pub code_idle_after: std::time::Duration,
    /// HTTP handler instances alive at once, all apps together (the instance pool).
    pub max_instances: u32,
    /// What one HTTP app may hold at most: instances of the pool, and time per request.
    pub bounds: skiff_http::Bounds,
}

/// Where the CLI and the daemon meet by default: `$XDG_RUNTIME_DIR/skiff/skiff.sock`, or
/// `/run/skiff/skiff.sock` for root; without XDG_RUNTIME_DIR, `/tmp/skiff-UID/skiff.sock`, a
/// directory of each user's own (the daemon refuses one that another user made first).
pub fn default_socket() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/skiff/skiff.sock");
    }
    match dirs::runtime_dir() {
        Some(dir) => dir.join("skiff/skiff.sock"),
        None => std::env::temp_dir().join(format!("skiff-{uid}/skiff.sock")),
    }
}

/// Creates `dir` if missing and makes it owner-only (0700): the daemon's directories hold the
/// state and the logs, and so the apps' `-e` values. Created with that mode, so it is never
/// open to others whatever the umask; an existing one (an older skiff's, a mount) is set to it.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let context = || format!("cannot create the directory `{}`", dir.display());
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(context)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(context),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(context)
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(config: DaemonConfig) -> anyhow::Result<()> {
    let files = skiff_http::raise_fd_limit();
    tracing::debug!(?files, "open-file limit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("skiff-daemon")
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: DaemonConfig) -> anyhow::Result<()> {
    let dir = config.root.join("daemon");
    private_dir(&dir)?;
    let _lock = lock(&dir)?;
    let supervisor = Arc::new(
        supervisor::Supervisor::open(
            &config.root,
            config.loaded_handlers,
            config.max_instances,
            config.bounds,
        )
        .await?,
    );
    let listener = api::bind(&config.socket)?;
    let mut info = DaemonInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        wasmtime: Some(skiff_runtime::WASMTIME_VERSION.to_string()),
        root: config.root.display().to_string(),
        gateway: None,
        metrics: None,
        dashboard: None,
        admin_token: None,
    };
    if let Some(addr) = config.gateway {
        let gateway = bind_tcp(addr, "--gateway").await?;
        info.gateway = Some(gateway.local_addr()?.to_string());
        let target = skiff_http::Target::Gateway(supervisor.gateway.clone());
        tokio::spawn(skiff_http::serve(gateway, target, std::future::pending()));
    }
    if let Some(addr) = config.admin {
        let admin = bind_tcp(addr, "--admin").await?;
        let bound = admin.local_addr()?;
        let token = dashboard::token(&dir)?;
        let access = dashboard::Access::new(token.clone(), bound)
            .context("cannot read random bytes for the dashboard")?;
        info.metrics = Some(bound.to_string());
        info.dashboard = Some(dashboard::url(bound));
        info.admin_token = Some(token);
        let router = dashboard::router(
            supervisor.clone(),
            config.root.clone(),
            access,
            config.prices,
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, router).await {
                tracing::error!("the admin listener failed: {e}");
            }
        });
    }
    // Handlers that went quiet give back their code pages, checked twice per period.
    let code = supervisor.code.clone();
    let idle = config.code_idle_after;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval((idle / 2).max(std::time::Duration::from_millis(10)));
        loop {
            ticks.tick().await;
            skiff_runtime::off_worker(|| code.give_back_idle(idle));
        }
    });
    tracing::info!(gateway = ?info.gateway, admin = ?info.metrics, "HTTP listeners");
    supervisor.set_info(info);
    tracing::info!(socket = %config.socket.display(), root = %config.root.display(), "skiff daemon listening");
    supervisor.clone().recover().await;
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM can be handled");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    axum::serve(listener, api::router(supervisor.clone()))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the API server failed")?;
    tracing::info!("shutting down: stopping apps");
    supervisor.shutdown().await;
    let _ = std::fs::remove_file(&config.socket);
    Ok(())
}

async fn bind_tcp(addr: SocketAddr, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}; choose another `{flag} ADDR`, or `{flag} none`")
    })
}

/// One daemon per root: a second one would run every app twice.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another skiff daemon is using `{}`; stop it, or give this one its own `--root`",
            dir.parent().unwrap_or(dir).display()
        )
    })?;
    Ok(file)
}
