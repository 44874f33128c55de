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
    /// Mount a host directory: HOST_DIR:GUEST_DIR[:ro|rw] (read-write unless `:ro`); a relative
    /// GUEST_DIR (`data`, `.`) is the name the app sees it under, as `wasmtime run --dir` gives it
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro]")]
    pub volumes: Vec<DirGrant>,
    /// Mount a host directory read-write, in `wasmtime run` syntax: HOST_DIR[::GUEST_DIR]
    /// (the guest path defaults to the host path)
    #[arg(long = "dir", value_name = "HOST[::GUEST]", value_parser = parse_wasmtime_dir)]
    pub dirs: Vec<DirGrant>,
    /// Mount a host directory, in `docker run --mount` syntax:
    /// type=bind,source=HOST_DIR,target=GUEST_DIR[,readonly]
    #[arg(long = "mount", value_name = "type=bind,source=..,target=..", value_parser = parse_docker_mount)]
    pub mounts: Vec<DirGrant>,
    /// Network egress: `none`; `allow=HOST:PORT[,...]` for outgoing TCP/UDP/HTTP to exactly
    /// those destinations (HOST: a name, an IP, or a range like 10.0.0.0/8; a name never reaches
    /// loopback, private or link-local addresses unless they are granted too); `image` to accept
    /// the destinations the image declares, alone or as `image,allow=...`; `host` for the host's
    /// whole network, as `docker run --network host` (any destination, listening on any port)
    /// [default: none]
    #[arg(long, value_name = "POLICY")]
    pub network: Option<NetworkFlag>,
    /// The working directory: `/` or an absolute path inside a mounted directory (as `docker
    /// run -w`); relative paths resolve there
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// `wasi:config/store` values, from `-S config-var=NAME=VALUE` (as `wasmtime run`).
    #[arg(skip)]
    pub config: Vec<(String, String)>,
    /// What `wasi:keyvalue` stores start with, from `-S keyvalue-in-memory-data=KEY=VALUE`.
    #[arg(skip)]
    pub keyvalue: Vec<(String, String)>,
    /// `wasi-nn`, from `-S nn` and `-S nn-graph=ENCODING::DIR` (as `wasmtime run`).
    #[arg(skip)]
    pub nn: Option<skiff_capabilities::NnGrant>,
    /// WASI's socket interfaces turned off, from `-S tcp=n`, `udp=n`, `allow-ip-name-lookup=n`.
    #[arg(skip)]
    pub sockets: skiff_capabilities::SocketSwitches,
    /// The working directory is `-S cwd`'s (as `wasmtime run`: anywhere), not `-w`'s.
    #[arg(skip)]
    pub workdir_unchecked: bool,
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
        // `-v NAME:/data` is a named volume to a Docker user; here it is the directory `./NAME`
        // (as `wasmtime run --dir` takes it), so one that does not exist says both.
        if let Some(grant) = self.volumes.iter().find(|g| {
            let host = g.host.to_string_lossy();
            !host.starts_with(['.', '/', '~']) && !host.contains('/') && !cwd.join(&g.host).exists()
        }) {
            let name = grant.host.display();
            return Err(crate::errors::user_error(
                format!(
                    "`-v {name}:{}`: no directory `./{name}` to mount (Skiff has no named volumes)",
                    grant.guest
                ),
                format!(
                    "mount a host directory: create `./{name}`, or give its path (`-v /srv/{name}:{}`)",
                    grant.guest
                ),
            ));
        }
        let dirs = self
            .volumes
            .iter()
            .chain(&self.dirs)
            .chain(&self.mounts)
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
            listen_udp: Vec::new(),
            config: self.config.clone(),
            keyvalue: self.keyvalue.clone(),
            // A Spin app's own (`key_value_stores`), from its image.
            spin_stores: Vec::new(),
            spin_databases: Vec::new(),
            redis_channels: Vec::new(),
            workdir: self.workdir.clone(),
            nn: self.nn.clone().map(|mut nn| {
                for graph in &mut nn.graphs {
                    graph.dir = absolute(&cwd, &graph.dir);
                }
                nn
            }),
            sockets: self.sockets,
            workdir_unchecked: self.workdir_unchecked,
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

/// `HOST[::GUEST]` as `wasmtime run --dir` takes it: the guest name is the host path unless
/// given, and is kept as given (`.`, `data`, `/data`), as wasmtime names its preopens.
fn parse_wasmtime_dir(spec: &str) -> Result<DirGrant, String> {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    DirGrant::new(PathBuf::from(host), guest, false).map_err(|reason| {
        format!("invalid directory `{spec}`: {reason}; expected `HOST_DIR[::GUEST_DIR]`")
    })
}

/// `type=bind,source=HOST,target=GUEST[,readonly]` as `docker run --mount` takes it (`src`,
/// `destination`/`dst`, `ro` and `readonly=true|false|1|0` too). Only bind mounts: a Wasm app
/// has no volumes or tmpfs of its own, and what Skiff cannot honour is refused by name.
fn parse_docker_mount(spec: &str) -> Result<DirGrant, String> {
    let (mut kind, mut source, mut target, mut read_only) = (None, None, None, false);
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (field, None),
        };
        match (key, value) {
            ("type", Some(value)) => kind = Some(value),
            ("source" | "src", Some(value)) => source = Some(value),
            ("target" | "destination" | "dst", Some(value)) => target = Some(value),
            ("readonly" | "ro", None | Some("true" | "1")) => read_only = true,
            ("readonly" | "ro", Some("false" | "0")) => read_only = false,
            _ => {
                return Err(format!(
                    "`{field}` is not an option Skiff takes in `--mount` (it takes type=bind, \
                     source, target and readonly)"
                ));
            }
        }
    }
    if kind != Some("bind") {
        return Err(format!(
            "`--mount {spec}`: only bind mounts of host directories are supported, given as \
             `type=bind,source=HOST_DIR,target=GUEST_DIR[,readonly]` (a Wasm app has no volumes \
             or tmpfs of its own)"
        ));
    }
    let (Some(source), Some(target)) = (source, target) else {
        return Err(format!(
            "`--mount {spec}` needs both `source=HOST_DIR` and `target=GUEST_DIR`"
        ));
    };
    DirGrant::new(PathBuf::from(source), target, read_only)
        .map_err(|reason| format!("invalid mount `{spec}`: {reason}"))
}

/// `--platform OS/ARCH`, as `docker run` and `docker pull` take it (Docker's Wasm guides write
/// `--platform wasi/wasm`): a Wasm platform is accepted, as Skiff takes an image index's Wasm
/// entry anyway (`skiff_image::wasm_entry`); any other is refused.
pub fn parse_platform(spec: &str) -> Result<String, String> {
    let mut parts = spec.split('/');
    let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if os.starts_with("wasi") || arch.starts_with("wasm") {
        Ok(spec.to_string())
    } else {
        Err(format!(
            "Skiff runs WebAssembly only: give a Wasm platform such as `wasi/wasm` (an image's \
             Wasm entry is taken), or leave it out; `{spec}` is not one"
        ))
    }
}

/// `--runtime NAME` of a `docker run` command line for Wasm (`io.containerd.wasmedge.v1`, ...):
/// always refused, saying why, rather than as an unknown flag.
pub fn refuse_runtime(name: &str) -> Result<String, String> {
    Err(format!(
        "Skiff is the runtime: drop `--runtime {name}` (a Docker Wasm shim's name)"
    ))
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
    /// A share of the CPU, as `docker run --cpus`: at most N cores' worth of CPU time in each
    /// 100 ms, all of the app's instances together, e.g. 0.5 or 2; the app is slowed, not stopped
    #[arg(long, value_name = "N")]
    pub cpus: Option<skiff_capabilities::Cpus>,
}

impl LimitFlags {
    pub fn resolve(&self) -> Limits {
        Limits {
            memory: self.memory,
            cpu_time: self.cpu_time,
            timeout: self.timeout,
            cpus: self.cpus,
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
    /// Seconds to wait for an app to end before killing it (an HTTP app: for requests in
    /// flight) [default: the app's `--stop-timeout`, else 10]
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS"
    )]
    pub time: Option<u64>,
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

/// An app's health check (`run -d`), with Docker's flag names. An HTTP app's check is an HTTP
/// GET of a path answered by its own handler in-process, so `--health-path` names it; a
/// command's is a TCP connect to one of its `-p` ports (`--health-port`). `--health-cmd` takes
/// Docker's usual `curl`/`wget`/`nc -z` commands and checks what they name.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Health check (with -d)")]
pub struct HealthFlags {
    /// Check an HTTP app's health: an HTTP GET of PATH answered by its own handler in-process
    /// (no socket; it counts as a request), healthy on 2xx and 3xx, e.g. /healthz
    #[arg(long, value_name = "PATH", conflicts_with_all = ["health_cmd", "health_port"])]
    pub health_path: Option<String>,
    /// Check a command that listens itself: a TCP connect to PORT, one of its `-p` ports, healthy
    /// when it is accepted (Docker's `nc -z localhost PORT`)
    #[arg(long, value_name = "PORT", conflicts_with = "health_cmd",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub health_port: Option<u16>,
    /// Docker's form of --health-path: `curl -f http://localhost/PATH` or `wget -q --spider
    /// http://localhost/PATH` (the URL's path is checked); or of --health-port: `nc -z localhost
    /// PORT`
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between checks, the first one this long after the start (within a start period,
    /// --health-start-interval until one passes) [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_interval: Option<Duration>,
    /// How long a check may take before it counts as failed [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_timeout: Option<Duration>,
    /// Failed checks in a row that make the app unhealthy [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub health_retries: Option<u32>,
    /// Time after the start during which failed checks do not count, until one passes
    /// [default: 0s]
    #[arg(long, value_name = "DURATION", value_parser = parse_period)]
    pub health_start_period: Option<Duration>,
    /// Time between checks during the start period, until one passes [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_start_interval: Option<Duration>,
}

impl HealthFlags {
    /// The first health flag given, to name in a refusal.
    pub fn given(&self) -> Option<&'static str> {
        [
            (self.health_path.is_some(), "--health-path"),
            (self.health_port.is_some(), "--health-port"),
            (self.health_cmd.is_some(), "--health-cmd"),
            (self.health_interval.is_some(), "--health-interval"),
            (self.health_timeout.is_some(), "--health-timeout"),
            (self.health_retries.is_some(), "--health-retries"),
            (self.health_start_period.is_some(), "--health-start-period"),
            (
                self.health_start_interval.is_some(),
                "--health-start-interval",
            ),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// The check, if a path, a port or a command is given; Docker's defaults for the rest.
    pub fn resolve(&self) -> anyhow::Result<Option<skiff_api::HealthCheck>> {
        let target = match (&self.health_path, self.health_port, &self.health_cmd) {
            (Some(path), _, _) => HealthTarget::Path(path.clone()),
            (None, Some(port), _) => HealthTarget::Port(port),
            (None, None, Some(command)) => {
                let words: Vec<String> = command.split_whitespace().map(String::from).collect();
                health_target_from_command(&words).map_err(|e| {
                    crate::errors::user_error(
                        format!("`--health-cmd {command}`: {e}"),
                        HEALTH_FORMS,
                    )
                })?
            }
            (None, None, None) => {
                return match self.given() {
                    None => Ok(None),
                    Some(flag) => Err(crate::errors::user_error(
                        format!("`{flag}` needs a health check to apply to"),
                        "give what to check: `--health-path /healthz` (an HTTP app) or \
                         `--health-port PORT` (a command listening on a `-p` port)",
                    )),
                };
            }
        };
        Ok(Some(health_check(
            target,
            HealthTimes {
                interval: self.health_interval,
                timeout: self.health_timeout,
                retries: self.health_retries,
                start_period: self.health_start_period,
                start_interval: self.health_start_interval,
            },
        )?))
    }
}

/// What a health check may be, for hints.
const HEALTH_FORMS: &str = "an HTTP app is checked with an HTTP GET of a path answered by its \
    own handler: give `--health-path /healthz`, or Docker's `--health-cmd \"curl -f \
    http://localhost/healthz\"` (or `wget -q --spider URL`); a command that listens on a `-p` \
    port is checked with a TCP connect to it: give `--health-port PORT`, or `--health-cmd \"nc -z \
    localhost PORT\"`";

/// What a check asks: an HTTP app's path, or a command's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthTarget {
    Path(String),
    Port(u16),
}

/// A check's knobs, `None` for Docker's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct HealthTimes {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
}

/// A check of `target`, with Docker's defaults for what is not given.
pub fn health_check(
    target: HealthTarget,
    times: HealthTimes,
) -> anyhow::Result<skiff_api::HealthCheck> {
    let (path, port) = match target {
        HealthTarget::Path(path) => {
            if !path.starts_with('/')
                || path.contains(|c: char| c.is_whitespace() || c.is_control())
            {
                return Err(crate::errors::user_error(
                    format!("`{path}` is not a path to check"),
                    "give a path starting with `/`, e.g. `--health-path /healthz`",
                ));
            }
            (path, None)
        }
        HealthTarget::Port(port) => (String::new(), Some(port)),
    };
    let defaults = skiff_api::HealthCheck::default();
    let ms = |d: Duration| d.as_millis().try_into().unwrap_or(u64::MAX);
    Ok(skiff_api::HealthCheck {
        path,
        port,
        interval_ms: times.interval.map_or(defaults.interval_ms, ms),
        timeout_ms: times.timeout.map_or(defaults.timeout_ms, ms),
        retries: times.retries.unwrap_or(defaults.retries),
        start_period_ms: times.start_period.map_or(defaults.start_period_ms, ms),
        start_interval_ms: times.start_interval.map_or(defaults.start_interval_ms, ms),
    })
}

/// A duration that may be zero (`0s`), as a start period may.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|_| {
        format!("invalid duration `{s}`: give a number with a unit, e.g. 30s, 1m30s or 500ms")
    })
}

/// The hosts a Docker health command may name: the app itself.
const LOCALHOST: [&str; 5] = ["localhost", "127.0.0.1", "[::1]", "::1", "0.0.0.0"];

/// What a Docker health command checks, for the forms that amount to an HTTP GET of the app
/// itself or a TCP connect to it: `curl [OPTIONS] URL` or `wget [OPTIONS] URL`, the URL on
/// `localhost` (or `127.0.0.1`, `[::1]`, `0.0.0.0`, any port), checked as a GET of the URL's path
/// answered by the app's handler; `nc -z [-v] [-w SECS] localhost PORT`, checked as a TCP connect
/// to PORT. Optionally followed by `|| exit 1`. The programs' options are not applied (a check
/// passes on 2xx and 3xx, as `curl -f` does; its timeout is the check's).
pub fn health_target_from_command(words: &[String]) -> Result<HealthTarget, String> {
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    for tail in [&["||", "exit", "1"][..], &["||", "false"], &["||", "exit"]] {
        if words.ends_with(tail) {
            words.truncate(words.len() - tail.len());
            break;
        }
    }
    let Some((program, args)) = words.split_first() else {
        return Err("the command is empty".into());
    };
    let program = program.rsplit('/').next().unwrap_or(program);
    if !["curl", "wget", "nc", "ncat", "netcat"].contains(&program) {
        return Err(format!(
            "`{program}` cannot run here: only a `curl` or `wget` of a localhost URL, or \
             `nc -z localhost PORT`, is supported"
        ));
    }
    if let Some(word) = args
        .iter()
        .find(|w| w.contains([';', '|', '&', '`', '$', '>', '<']))
    {
        return Err(format!(
            "`{word}`: shell syntax other than a final `|| exit 1` is not supported"
        ));
    }
    if !["curl", "wget"].contains(&program) {
        return port_from_nc(program, args).map(HealthTarget::Port);
    }
    let urls: Vec<&&str> = args.iter().filter(|w| w.contains("://")).collect();
    let [url] = urls.as_slice() else {
        return Err(format!(
            "give `{program}` one URL, such as http://localhost/healthz"
        ));
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only an `http://` URL of the app itself is supported"))?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => authority,
    };
    if !LOCALHOST.contains(&host) {
        return Err(format!(
            "`{url}`: the check can only reach the app itself, at `localhost`"
        ));
    }
    Ok(HealthTarget::Path(match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    }))
}

/// The port of `nc -z [-v] [-n] [-w SECS] localhost PORT`: a port scan of the app itself.
fn port_from_nc(program: &str, args: &[&str]) -> Result<u16, String> {
    let usage = format!("give `{program} -z localhost PORT`");
    let mut scan = false;
    let mut operands = Vec::new();
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        let Some(flags) = arg.strip_prefix('-') else {
            operands.push(arg);
            continue;
        };
        // `-w SECS` (or `-wSECS`) is nc's own timeout: the check's applies instead.
        if let Some(secs) = flags.strip_prefix('w') {
            let secs = if secs.is_empty() {
                args.next()
            } else {
                Some(&secs)
            };
            if secs.is_some_and(|s| s.parse::<f64>().is_ok()) {
                continue;
            }
        } else if !flags.is_empty() && flags.chars().all(|c| "zvn46".contains(c)) {
            scan |= flags.contains('z');
            continue;
        }
        return Err(format!(
            "`{program}` option `{arg}` is not supported: {usage}"
        ));
    }
    if !scan {
        return Err(format!(
            "only a port check, `{program} -z`, is supported: {usage}"
        ));
    }
    let [host, port] = operands[..] else {
        return Err(format!("`{program}` needs a host and one port: {usage}"));
    };
    if !LOCALHOST.contains(&host) {
        return Err(format!(
            "`{host}`: the check can only reach the app itself, at `localhost`"
        ));
    }
    port.parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| format!("`{port}` is not a port: {usage}"))
}

#[cfg(test)]
mod health_tests {
    use super::*;

    fn target(command: &str) -> Result<HealthTarget, String> {
        let words: Vec<String> = command.split_whitespace().map(String::from).collect();
        health_target_from_command(&words)
    }

    fn path(command: &str) -> Result<String, String> {
        match target(command)? {
            HealthTarget::Path(path) => Ok(path),
            port => Err(format!("{port:?}")),
        }
    }

    #[test]
    fn docker_health_commands_become_paths() {
        assert_eq!(
            path("curl -f http://localhost/healthz").unwrap(),
            "/healthz"
        );
        assert_eq!(
            path("curl -fsS http://127.0.0.1:8080/ready?full=1 || exit 1").unwrap(),
            "/ready?full=1"
        );
        assert_eq!(
            path("/usr/bin/wget -q --spider http://localhost:80").unwrap(),
            "/"
        );
        assert_eq!(path("curl http://[::1]:80/h").unwrap(), "/h");
        for (bad, says) in [
            ("pg_isready -U postgres", "`pg_isready` cannot run here"),
            ("redis-cli ping", "or `nc -z localhost PORT`, is supported"),
            ("curl -f https://localhost/healthz", "only an `http://` URL"),
            ("curl -f http://db:5432/", "only reach the app itself"),
            ("curl -f", "one URL"),
            ("curl -f http://localhost/ && echo ok", "shell syntax"),
            ("", "empty"),
        ] {
            let e = path(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn docker_port_checks_become_ports() {
        for good in [
            "nc -z localhost 6379",
            "nc -zv 127.0.0.1 6379 || exit 1",
            "/usr/bin/nc -v -z -w 2 localhost 6379",
            "ncat -z -w1 ::1 6379",
        ] {
            assert_eq!(target(good), Ok(HealthTarget::Port(6379)), "{good}");
        }
        for (bad, says) in [
            ("nc localhost 6379", "only a port check, `nc -z`"),
            ("nc -z db 6379", "only reach the app itself"),
            ("nc -z localhost", "a host and one port"),
            ("nc -z localhost 6379 6380", "a host and one port"),
            ("nc -z localhost redis", "`redis` is not a port"),
            ("nc -z localhost 0", "`0` is not a port"),
            ("nc -zu localhost 53", "option `-zu` is not supported"),
            ("nc -z -w soon localhost 1", "option `-w` is not supported"),
        ] {
            let e = target(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
