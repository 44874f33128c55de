//! Flags shared by several verbs, and resolving them (with the environment) into what the
//! runtime consumes. Clap structs only parse; the functions here decide.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use skiff_capabilities::{
    ByteSize, DirGrant, Grants, Limits, NetworkFlag, parse_duration, parse_env_assignment,
    parse_env_file,
};

#[derive(Debug, Args)]
pub struct GlobalFlags {
    /// Where Skiff keeps its store and caches [default: $XDG_DATA_HOME/skiff, or /var/lib/skiff
    /// for root]
    #[arg(long, global = true, env = "SKIFF_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The daemon to talk to: `unix:///path/to.sock` or a socket path [default:
    /// $XDG_RUNTIME_DIR/skiff/skiff.sock, or /run/skiff/skiff.sock for root]
    #[arg(
        short = 'H',
        long,
        global = true,
        env = "SKIFF_HOST",
        value_name = "unix:///PATH",
        value_parser = parse_host
    )]
    pub host: Option<PathBuf>,
}

impl GlobalFlags {
    pub fn root(&self) -> PathBuf {
        if let Some(root) = &self.root {
            return root.clone();
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/var/lib/skiff");
        }
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("skiff")
    }

    /// The daemon's API socket: `-H`/`SKIFF_HOST`, else the default one.
    pub fn socket(&self) -> PathBuf {
        self.host
            .clone()
            .unwrap_or_else(skiff_daemon::default_socket)
    }

    /// A client of the daemon at [`GlobalFlags::socket`]; it connects on each request.
    pub fn client(&self) -> skiff_api::Client {
        skiff_api::Client::new(self.socket())
    }

    pub fn compile_cache_dir(&self) -> PathBuf {
        self.root().join("cache").join("compiled")
    }

    pub fn image_store(&self) -> anyhow::Result<skiff_image::Store> {
        Ok(skiff_image::Store::open(&self.root())?)
    }

    /// Runs a future to completion on a single-threaded runtime (the CLI does one thing at a time).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime can always be built")
            .block_on(future)
    }
}

/// `unix:///path/to.sock` or a bare path; the daemon listens only on a Unix socket (no TCP).
pub fn parse_host(spec: &str) -> Result<PathBuf, String> {
    let path = match spec.split_once("://") {
        Some(("unix", path)) => path,
        Some((scheme, _)) => {
            return Err(format!(
                "unsupported scheme `{scheme}://`: the daemon listens only on a Unix socket, \
                 e.g. `unix:///run/skiff/skiff.sock`"
            ));
        }
        None => spec,
    };
    if path.is_empty() {
        return Err("empty socket path".to_string());
    }
    Ok(PathBuf::from(path))
}

/// What an app may see. Nothing is granted unless a flag grants it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Grants (deny by default)")]
pub struct GrantFlags {
    /// Set an environment variable: KEY=VALUE, or KEY to copy it from this environment
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file of KEY=VALUE lines (as `docker run --env-file`)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Mount a host directory: HOST_DIR:GUEST_DIR[:ro|rw] (read-write unless `:ro`)
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro]")]
    pub volumes: Vec<DirGrant>,
    /// Mount a host directory read-write, in `wasmtime run` syntax: HOST_DIR[::GUEST_DIR]
    /// (the guest path defaults to the host path)
    #[arg(long = "dir", value_name = "HOST[::GUEST]", value_parser = parse_wasmtime_dir)]
    pub dirs: Vec<DirGrant>,
    /// Network egress: `none`; `allow=HOST:PORT[,...]` for outgoing TCP/UDP/HTTP to exactly
    /// those destinations (HOST: a name, an IP, or a range like 10.0.0.0/8; a name never reaches
    /// loopback, private or link-local addresses unless they are granted too); `image` to accept
    /// the destinations the image declares, alone or as `image,allow=...` [default: none]
    #[arg(long, value_name = "POLICY")]
    pub network: Option<NetworkFlag>,
}

impl GrantFlags {
    /// The grants the flags give: env (env files first, `-e` after) and directories with absolute
    /// host paths. An image's defaults are merged by `skiff_image::merge_grants`.
    pub fn resolve(&self) -> anyhow::Result<Grants> {
        let lookup = |key: &str| std::env::var(key).ok();
        let mut env = Vec::new();
        for file in &self.env_file {
            env.extend(parse_env_file(file, lookup)?);
        }
        for spec in &self.env {
            env.extend(parse_env_assignment(spec, lookup)?);
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let dirs = self
            .volumes
            .iter()
            .chain(&self.dirs)
            .map(|grant| DirGrant {
                host: absolute(&cwd, &grant.host),
                ..grant.clone()
            })
            .collect();
        Ok(Grants {
            env,
            dirs,
            network: self
                .network
                .as_ref()
                .map(|n| n.policy.clone())
                .unwrap_or_default(),
            listen: Vec::new(),
        })
    }

    /// Whether `--network image` accepts the destinations the image declares.
    pub fn accept_image_network(&self) -> bool {
        self.network.as_ref().is_some_and(|n| n.accept_image)
    }

    /// An image's defaults merged with these flags (`skiff_image::merge_grants`), after telling
    /// the user on stderr what network access the image asks for and the run does not grant.
    pub fn merge(&self, image: Option<&skiff_image::AppDefaults>) -> anyhow::Result<Grants> {
        let flags = self.resolve()?;
        let accept = self.accept_image_network();
        if let Some(notice) = skiff_image::network_notice(image, &flags.network, accept) {
            eprintln!("{notice}");
        }
        Ok(skiff_image::merge_grants(image, &flags, accept))
    }
}

fn parse_wasmtime_dir(spec: &str) -> Result<DirGrant, String> {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    let guest = if guest.starts_with('/') {
        guest.to_string()
    } else {
        // wasmtime allows relative guest names such as `.`; Skiff's guests see absolute paths.
        format!("/{}", guest.trim_start_matches("./"))
    };
    format!("{host}:{guest}")
        .parse::<DirGrant>()
        .map_err(|e| e.to_string())
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

/// How much an app may use. Unlimited unless a flag sets a limit.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitFlags {
    /// Maximum linear memory, all memories together: bytes or k/m/g units, e.g. 64m or 64MiB
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<ByteSize>,
    /// Maximum CPU time the app may use, e.g. 2s or 500ms
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub cpu_time: Option<Duration>,
    /// Maximum wall-clock time from start to exit, e.g. 10s or 1m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

impl LimitFlags {
    pub fn resolve(&self) -> Limits {
        Limits {
            memory: self.memory,
            cpu_time: self.cpu_time,
            timeout: self.timeout,
        }
    }
}

/// Per-app HTTP limits, for `skiff serve` and HTTP apps under the daemon.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP limits")]
pub struct HttpLimitFlags {
    /// Handler instances alive at once; more requests wait up to --queue-timeout, then get 503
    #[arg(long, value_name = "N", default_value_t = skiff_api::HttpLimits::default().max_concurrency)]
    pub max_concurrency: u32,
    /// How long a request waits for a free instance before it gets 503, e.g. 1s or 200ms
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub queue_timeout: Duration,
    /// Largest request body; larger ones get 413
    #[arg(long, value_name = "SIZE", default_value = "10MiB")]
    pub max_body: ByteSize,
    /// How long the handler may wait for the next piece of the request body before the request
    /// ends (408, or its connection closed) and its instance is freed, e.g. 10s
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub body_timeout: Duration,
}

impl HttpLimitFlags {
    pub fn resolve(&self) -> skiff_api::HttpLimits {
        skiff_api::HttpLimits {
            max_concurrency: self.max_concurrency,
            queue_timeout_ms: self.queue_timeout.as_millis() as u64,
            max_body_bytes: self.max_body.0,
            body_timeout_ms: self.body_timeout.as_millis() as u64,
        }
    }
}

/// The apps a graceful verb acts on (`stop`, `restart`), and their grace period.
#[derive(Debug, Args)]
pub struct GraceFlags {
    /// Seconds to wait for an app to end before killing it (an HTTP app: for requests in flight)
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    pub time: u64,
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

/// One DNS label: what `http://NAME/` can name (`--link`, compose's `links`).
pub fn is_host_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
