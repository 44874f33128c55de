//! The Compose file as `skiff compose` reads it: the Compose Specification's format
//! (`services.NAME` with `image`/`build`, `command`, `environment`, `volumes`, `ports`, ...),
//! checked key by key. A key Skiff does not implement is an error naming it and its service,
//! never ignored: a file that runs here means what it says. Turning a service into the daemon's
//! request is `commands/compose.rs`'s, through the same code as `skiff run -d`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Map, Value};
use skiff_api::PullPolicy;

use crate::errors::user_error;

/// The file names tried in the current directory when `-f` is not given, in order.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// A loaded, validated project.
#[derive(Debug)]
pub struct Project {
    pub name: String,
    pub services: BTreeMap<String, Service>,
    /// The services left out because none of their `profiles` is enabled, with those profiles.
    pub inactive: BTreeMap<String, Vec<String>>,
}

/// What the command line adds to the file.
#[derive(Debug, Default)]
pub struct LoadOptions<'a> {
    /// `-p NAME`.
    pub project: Option<&'a str>,
    /// `--env-file FILE`.
    pub env_file: Option<&'a Path>,
    /// `--profile NAME`s, and `COMPOSE_PROFILES` (comma-separated); `*` enables every profile.
    pub profiles: Vec<String>,
}

/// When a service may start, relative to one it depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// Where a service's code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An image reference, as written.
    Image(String),
    /// A `.wasm`/`.wat` file (a Skiff extension of `image:`), absolute.
    File(PathBuf),
    /// A directory with a `skiff.toml` (or a Spin app's `spin.toml`), built into the image `tag`.
    Build { context: PathBuf, tag: String },
}

/// One service, normalised: paths absolute, lists and maps in one form each.
#[derive(Clone, Debug)]
pub struct Service {
    pub source: Source,
    pub command: Option<Vec<String>>,
    /// `KEY=VALUE`, or `KEY` to copy it from the environment of `skiff compose` (`-e` syntax).
    pub environment: Vec<String>,
    pub env_file: Vec<PathBuf>,
    /// `HOST:GUEST[:ro]` with an absolute host path (`-v` syntax).
    pub volumes: Vec<String>,
    /// `[ADDR:]PORT` (`-p` syntax).
    pub ports: Vec<String>,
    /// The container side of each of `ports` (`compose port`, TCP health checks).
    pub container_ports: Vec<u16>,
    pub restart: Option<String>,
    /// `working_dir` (`-w` syntax).
    pub working_dir: Option<String>,
    pub depends_on: BTreeMap<String, Condition>,
    /// The dependencies whose `depends_on` entry says `restart: true`: when `up` replaces or
    /// starts one of them, this service's app is restarted too.
    pub restart_with: BTreeSet<String>,
    /// The dependencies whose entry says `required: false`: one that is not in the project
    /// (left out by its profiles, or not in the file) is skipped with a warning.
    pub optional: BTreeSet<String>,
    /// `links`: the name the service calls another by -> that service (`SERVICE[:ALIAS]`).
    pub links: BTreeMap<String, String>,
    pub memory: Option<String>,
    /// `deploy.resources.limits.cpus` (`--cpus` syntax).
    pub cpus: Option<String>,
    /// `healthcheck`: an HTTP GET of the path its `test` names, or a TCP connect to the port (one
    /// of `ports`); `None` without one or disabled.
    pub healthcheck: Option<skiff_api::HealthCheck>,
    /// `labels`, kept with the app (`--label`).
    pub labels: BTreeMap<String, String>,
    /// `container_name`: the app's name instead of PROJECT-SERVICE.
    pub container_name: Option<String>,
    /// `stop_grace_period`, in whole seconds (`--stop-timeout`).
    pub stop_grace_period: Option<u64>,
    /// `pull_policy`: whether its `image` is pulled before `up` (`--pull`).
    pub pull_policy: PullPolicy,
    /// `networks`: the networks it is on, each with its aliases there. The services on a
    /// network may call each other, by service name and alias ([`Project::links`]).
    pub networks: BTreeMap<String, Vec<String>>,
    pub x_skiff: XSkiff,
}

/// Skiff's own settings of a service, under `x-skiff`.
#[derive(Clone, Debug, Default)]
pub struct XSkiff {
    /// Gateway routes (`--route`).
    pub routes: Vec<String>,
    /// `--cpu-time`.
    pub cpu_time: Option<String>,
    /// `--timeout`.
    pub timeout: Option<String>,
    /// `--network`.
    pub network: Option<String>,
    /// `--max-concurrency`.
    pub max_concurrency: Option<u32>,
}

const TOP_KEYS: &[&str] = &["name", "services", "version", "networks"];
const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "container_name",
    "environment",
    "env_file",
    "volumes",
    "ports",
    "restart",
    "stop_grace_period",
    "working_dir",
    "depends_on",
    "links",
    "networks",
    "deploy",
    "healthcheck",
    "labels",
    "mem_limit",
    "cpus",
    "platform",
    "network_mode",
    "profiles",
    "pull_policy",
    // Hardening every Wasm app has by construction (as `docker run`'s flags: docker_flags.rs).
    "read_only",
    "init",
    "cap_drop",
    "security_opt",
    "x-skiff",
];
const HEALTHCHECK_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const X_SKIFF_KEYS: &[&str] = &[
    "routes",
    "cpu-time",
    "timeout",
    "network",
    "max-concurrency",
];

/// Why a key Compose knows is refused, where Skiff has something better to say than "not supported".
fn unsupported_hint(key: &str) -> String {
    match key {
        "expose" | "network_mode" => {
            "services of a project call each other in-process, by service name \
             (`http://SERVICE/`), along `depends_on`, `links` and shared `networks`: no port or \
             network of a container to set"
                .into()
        }
        "configs" | "secrets" => {
            "mount the files as a read-only bind mount: `volumes: [\"./config:/config:ro\"]`".into()
        }
        "entrypoint" => "a Wasm app has one entry point; give its arguments with `command`".into(),
        "runtime" => {
            "Skiff is the runtime: remove `runtime` (a Wasm shim's name, for Docker)".into()
        }
        _ if let Some(why) = docker_flag(key).and_then(crate::docker_flags::refusal) => {
            format!("{why}; remove `{key}`")
        }
        _ => format!(
            "remove `{key}`; skiff compose supports {}",
            SERVICE_KEYS
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The `docker run` flag a service key stands for, where Skiff has a reason to refuse it.
fn docker_flag(key: &str) -> Option<&'static str> {
    Some(match key {
        "user" => "--user",
        "privileged" => "--privileged",
        "cap_add" => "--cap-add",
        "hostname" => "--hostname",
        "tmpfs" => "--tmpfs",
        "extra_hosts" => "--add-host",
        "dns" => "--dns",
        "memswap_limit" => "--memory-swap",
        "mem_reservation" => "--memory-reservation",
        "cpu_shares" => "--cpu-shares",
        "cpuset" => "--cpuset-cpus",
        "cpu_quota" => "--cpu-quota",
        "ulimits" => "--ulimit",
        "logging" => "--log-driver",
        "pids_limit" => "--pids-limit",
        "devices" => "--device",
        "sysctls" => "--sysctl",
        "shm_size" => "--shm-size",
        "pid" => "--pid",
        "ipc" => "--ipc",
        "userns_mode" => "--userns",
        "cgroup_parent" => "--cgroup-parent",
        _ => return None,
    })
}

/// Docker's normalisation of a project name: lowercase, only `a-z0-9_-`, starting with a letter
/// or digit.
pub fn normalise_project_name(raw: &str) -> String {
    raw.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

/// Finds the file: `-f FILE`, else the first of [`DEFAULT_FILES`] in the current directory.
pub fn find_file(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(file) = given {
        return std::path::absolute(file).context("cannot read the current directory");
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    DEFAULT_FILES
        .iter()
        .map(|name| cwd.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            user_error(
                format!("no Compose file in `{}`", cwd.display()),
                format!(
                    "write a `compose.yaml` here, or give one with `-f FILE` (tried {})",
                    DEFAULT_FILES.join(", ")
                ),
            )
        })
}

/// Reads and validates the file.
pub fn load(file: &Path, options: &LoadOptions) -> anyhow::Result<Project> {
    let env_file = options.env_file;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let mut doc: Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("`{}` is not valid YAML", file.display()))?;
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    // As Docker Compose: the project directory's `.env` (or `--env-file`), below the environment.
    let environment = |key: &str| std::env::var(key).ok();
    let dotenv_path = env_file.map_or_else(|| dir.join(".env"), Path::to_path_buf);
    let dotenv = match std::fs::read_to_string(&dotenv_path) {
        Ok(text) => read_dotenv(&text, &environment)
            .with_context(|| format!("invalid `{}`", dotenv_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && env_file.is_none() => BTreeMap::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read `{}`", dotenv_path.display()));
        }
    };
    interpolate(&mut doc, &|key| {
        environment(key).or_else(|| dotenv.get(key).cloned())
    })
    .with_context(|| format!("invalid `{}`", file.display()))?;
    parse(&doc, &dir, options).with_context(|| format!("invalid `{}`", file.display()))
}

fn parse(doc: &Value, dir: &Path, options: &LoadOptions) -> anyhow::Result<Project> {
    let project = options.project;
    let top = doc
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("the file must be a mapping with `services`"))?;
    for key in top.keys() {
        if !TOP_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
            let hint = match key.as_str() {
                "volumes" => "named volumes are not supported; bind a host directory in the \
                              service: `volumes: [\"./data:/data\"]`"
                    .to_string(),
                "configs" | "secrets" => unsupported_hint(key),
                _ => "the top level may hold `name`, `services` and `x-` extensions".to_string(),
            };
            return Err(user_error(
                format!("top-level key `{key}` is not supported by skiff compose"),
                hint,
            ));
        }
    }
    let raw_name = match (project, top.get("name")) {
        (Some(name), _) => name.to_string(),
        (None, Some(name)) => string(name, "name")?,
        (None, None) => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let name = normalise_project_name(&raw_name);
    if name.is_empty() {
        return Err(user_error(
            format!("`{raw_name}` makes an empty project name"),
            "name the project with `-p NAME` or `name:` (letters, digits, `_` and `-`)",
        ));
    }
    let services = top
        .get("services")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            user_error(
                "the file has no `services`",
                "add `services:` with at least one service that has an `image` or a `build`",
            )
        })?;
    let mut parsed = BTreeMap::new();
    let mut inactive = BTreeMap::new();
    for (service, body) in services {
        if !valid_service_name(service) {
            return Err(user_error(
                format!("invalid service name `{service}`"),
                "use letters, digits, `_`, `.` and `-`, starting with a letter or digit",
            ));
        }
        // As Compose: a service with `profiles` is part of the project only when one of them
        // is enabled.
        let profiles = strings(body.get("profiles"), "profiles")
            .with_context(|| format!("service `{service}`"))?;
        let enabled = |p: &String| options.profiles.iter().any(|e| e == p || e == "*");
        if !profiles.is_empty() && !profiles.iter().any(enabled) {
            inactive.insert(service.clone(), profiles);
            continue;
        }
        let parsed_service = parse_service(service, body, dir, &name)
            .with_context(|| format!("service `{service}`"))?;
        parsed.insert(service.clone(), parsed_service);
    }
    // A dependency that is not `required` and not in the project is skipped, as Compose does.
    for (service, body) in parsed.iter_mut() {
        let absent: Vec<String> = body
            .optional
            .iter()
            .filter(|d| !services.contains_key(*d) || inactive.contains_key(*d))
            .cloned()
            .collect();
        for dependency in absent {
            eprintln!(
                "warning: service `{service}` depends on `{dependency}`, which is not in the \
                 project; it is not required, so `{service}` starts without it"
            );
            body.depends_on.remove(&dependency);
            body.restart_with.remove(&dependency);
        }
    }
    let declared = parse_top_networks(top.get("networks"))?;
    for (service, body) in &parsed {
        if let Some(network) = body.networks.keys().find(|n| !declared.contains(*n)) {
            return Err(user_error(
                format!(
                    "service `{service}` is on the network `{network}`, which the file does not declare"
                ),
                format!("add it to the top-level `networks` (`networks: {{{network}: {{}}}}`)"),
            ));
        }
        for linked in body.links.values() {
            if !parsed.contains_key(linked) {
                return Err(user_error(
                    format!(
                        "service `{service}` links to `{linked}`, which is not a service of the file"
                    ),
                    format!("define `{linked}` under `services`, or remove it from `links`"),
                ));
            }
        }
        for dependency in body.depends_on.keys() {
            if let Some(profiles) = inactive.get(dependency) {
                return Err(user_error(
                    format!(
                        "service `{service}` depends on `{dependency}`, whose profiles ({}) are \
                         not enabled",
                        profiles.join(", ")
                    ),
                    format!("enable one with `--profile {}`", profiles[0]),
                ));
            }
            if !parsed.contains_key(dependency) {
                return Err(user_error(
                    format!(
                        "service `{service}` depends on `{dependency}`, which is not a service of the file"
                    ),
                    format!(
                        "define `{dependency}` under `services`, or remove it from `depends_on`"
                    ),
                ));
            }
        }
    }
    if parsed.is_empty() {
        let profiles: BTreeSet<&String> = inactive.values().flatten().collect();
        let profiles: Vec<&str> = profiles.into_iter().map(String::as_str).collect();
        return Err(user_error(
            "no service of the file is enabled: each has `profiles`, none of them enabled",
            format!(
                "enable one with `--profile NAME` (or COMPOSE_PROFILES); the file's are {}",
                profiles.join(", ")
            ),
        ));
    }
    let project = Project {
        name,
        services: parsed,
        inactive,
    };
    let mut names = BTreeMap::new();
    for service in project.services.keys() {
        if let Some(other) = names.insert(project.app_name(service), service) {
            return Err(user_error(
                format!(
                    "services `{other}` and `{service}` would both be the app `{}`",
                    project.app_name(service)
                ),
                "give each service its own `container_name`",
            ));
        }
    }
    project.start_order()?;
    Ok(project)
}

fn valid_service_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn parse_service(
    service: &str,
    body: &Value,
    dir: &Path,
    project: &str,
) -> anyhow::Result<Service> {
    let empty = Map::new();
    let body = match body {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => anyhow::bail!("a service must be a mapping"),
    };
    for key in body.keys() {
        if !SERVICE_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
            return Err(user_error(
                format!("`{key}` is not supported by skiff compose"),
                unsupported_hint(key),
            ));
        }
        // Other tools' extensions are theirs (the Compose Specification has every tool ignore
        // the ones it does not know); a misspelt `x-skiff` is not.
        let lower = key.to_ascii_lowercase();
        if key != "x-skiff" && (lower.starts_with("x-skif") || lower.starts_with("x_skiff")) {
            return Err(user_error(
                format!("unknown extension `{key}`"),
                "Skiff's own settings go under `x-skiff`",
            ));
        }
    }
    // Docker's Wasm compose files say `platform: wasi/wasm`; Skiff runs nothing else.
    if let Some(platform) = body.get("platform") {
        let platform = string(platform, "platform")?;
        crate::settings::parse_platform(&platform).map_err(|reason| {
            user_error(
                format!("`platform: {platform}` is not a WebAssembly platform"),
                reason,
            )
        })?;
    }
    let image = body.get("image").map(|v| string(v, "image")).transpose()?;
    let source = match (body.get("build"), image) {
        (Some(build), image) => {
            let context = match build {
                Value::String(s) => s.clone(),
                Value::Object(map) => {
                    if let Some(key) = map.keys().find(|k| *k != "context") {
                        return Err(user_error(
                            format!("`build.{key}` is not supported by skiff compose"),
                            "a build is a directory with a `skiff.toml` (or a Spin app's `spin.toml`): `build: ./dir` or `build: {context: ./dir}`",
                        ));
                    }
                    string(map.get("context").unwrap_or(&Value::Null), "build.context")?
                }
                _ => anyhow::bail!("`build` must be a directory or a mapping with `context`"),
            };
            Source::Build {
                context: resolve(dir, &context),
                tag: image.unwrap_or_else(|| format!("{project}-{service}:latest")),
            }
        }
        (None, Some(image)) if crate::commands::looks_like_file(&image) => {
            Source::File(resolve(dir, &image))
        }
        (None, Some(image)) => Source::Image(image),
        (None, None) => {
            return Err(user_error(
                "neither `image` nor `build`",
                "give an image reference or a .wasm file with `image:`, or a directory with a skiff.toml with `build:`",
            ));
        }
    };
    for key in ["read_only", "init"] {
        if body.get(key).is_some_and(|v| !v.is_boolean()) {
            anyhow::bail!("`{key}` must be true or false");
        }
    }
    strings(body.get("cap_drop"), "cap_drop")?;
    for opt in strings(body.get("security_opt"), "security_opt")? {
        if !crate::docker_flags::kept_security_opt(&opt) {
            let why = crate::docker_flags::refusal("--security-opt").unwrap_or_default();
            return Err(user_error(
                format!("`security_opt: {opt}` is not supported by skiff compose"),
                format!("{why}; remove it"),
            ));
        }
    }
    let networks = parse_networks(body.get("networks"))?;
    let pull_policy = match body.get("pull_policy") {
        None | Some(Value::Null) => PullPolicy::Missing,
        Some(value) => match string(value, "pull_policy")?.as_str() {
            "if_not_present" => PullPolicy::Missing,
            "build" => {
                return Err(user_error(
                    "`pull_policy: build` is not supported by skiff compose",
                    "rebuild the services with `build:` by `skiff compose up --build`",
                ));
            }
            policy => policy.parse().map_err(|e: String| {
                user_error(
                    format!("`pull_policy: {policy}`: {e}"),
                    "use `missing` (or `if_not_present`), `always` or `never`",
                )
            })?,
        },
    };
    let command = match body.get("command") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(split_command(s)?),
        Some(Value::Array(_)) => Some(strings(body.get("command"), "command")?),
        Some(_) => anyhow::bail!("`command` must be a string or a list of strings"),
    };
    let container_name = body
        .get("container_name")
        .map(|v| string(v, "container_name"))
        .transpose()?;
    if let Some(name) = &container_name
        && !valid_service_name(name)
    {
        return Err(user_error(
            format!("invalid `container_name: {name}`"),
            "use letters, digits, `_`, `.` and `-`, starting with a letter or digit",
        ));
    }
    let stop_grace_period = body
        .get("stop_grace_period")
        .map(|v| -> anyhow::Result<u64> {
            let text = string(v, "stop_grace_period")?;
            let period = skiff_capabilities::parse_duration(&text)
                .map_err(|e| anyhow::anyhow!("`stop_grace_period: {text}`: {e}"))?;
            // Whole seconds, never shorter than asked.
            Ok(period.as_secs() + u64::from(period.subsec_nanos() > 0))
        })
        .transpose()?;
    let environment = key_values(body.get("environment"), "environment")?;
    let mut labels = BTreeMap::new();
    for label in key_values(body.get("labels"), "labels")? {
        let (key, value) = label.split_once('=').unwrap_or((&label, ""));
        if key.starts_with("skiff.compose.") {
            return Err(user_error(
                format!("`labels: {key}` is one of the labels skiff compose keeps itself"),
                "choose a key outside `skiff.compose.`",
            ));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    let env_file = match body.get("env_file") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![resolve(dir, s)],
        Some(Value::Array(items)) => {
            let mut files = Vec::new();
            for item in items {
                match item {
                    // The long form: `{path, required}`; a file not required may be missing.
                    Value::Object(long) => {
                        if let Some(key) = long
                            .keys()
                            .find(|k| !["path", "required"].contains(&k.as_str()))
                        {
                            return Err(user_error(
                                format!("`env_file.{key}` is not supported by skiff compose"),
                                "give `path` and `required`",
                            ));
                        }
                        let path = resolve(
                            dir,
                            &string(long.get("path").unwrap_or(&Value::Null), "env_file.path")?,
                        );
                        let required = match long.get("required") {
                            None | Some(Value::Null) => true,
                            Some(Value::Bool(b)) => *b,
                            Some(_) => {
                                anyhow::bail!("`env_file.required` must be `true` or `false`")
                            }
                        };
                        if required || path.exists() {
                            files.push(path);
                        }
                    }
                    short => files.push(resolve(dir, &string(short, "env_file")?)),
                }
            }
            files
        }
        Some(_) => anyhow::bail!("`env_file` must be a file or a list of them"),
    };
    let volumes = match body.get("volumes") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(long) => bind_mount(&long_volume(long)?, dir),
                short => bind_mount(&string(short, "volumes")?, dir),
            })
            .collect::<anyhow::Result<_>>()?,
        other => strings(other, "volumes")?,
    };
    let port_specs = match body.get("ports") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(long) => long_port(long),
                short => string(short, "ports"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        other => strings(other, "ports")?,
    };
    let (ports, container_ports): (Vec<String>, Vec<u16>) = port_specs
        .iter()
        .map(|spec| publish(spec))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let restart = body
        .get("restart")
        .map(|v| string(v, "restart"))
        .transpose()?;
    if let Some(restart) = &restart {
        restart
            .parse::<skiff_api::RestartPolicy>()
            .map_err(|e| anyhow::anyhow!("`restart`: {e}"))?;
    }
    let working_dir = body
        .get("working_dir")
        .map(|v| string(v, "working_dir"))
        .transpose()?;
    let mut restart_with = BTreeSet::new();
    let mut optional = BTreeSet::new();
    let depends_on = match body.get("depends_on") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => {
            let mut depends_on = BTreeMap::new();
            for (dependency, spec) in map {
                let entry = dependency_entry(dependency, spec)?;
                if entry.restart {
                    restart_with.insert(dependency.clone());
                }
                if !entry.required {
                    optional.insert(dependency.clone());
                }
                depends_on.insert(dependency.clone(), entry.condition);
            }
            depends_on
        }
        Some(list) => strings(Some(list), "depends_on")?
            .into_iter()
            .map(|d| (d, Condition::Started))
            .collect(),
    };
    let mut links = BTreeMap::new();
    for spec in strings(body.get("links"), "links")? {
        let (linked, alias) = spec.split_once(':').unwrap_or((&spec, &spec));
        if !crate::settings::is_host_label(&alias.to_ascii_lowercase()) {
            return Err(user_error(
                format!("`links: {spec}`: `{alias}` cannot be a host name"),
                "give `SERVICE` or `SERVICE:ALIAS`, the alias of letters, digits and `-`",
            ));
        }
        links.insert(alias.to_ascii_lowercase(), linked.to_string());
    }
    // As in Compose, a link is also a dependency: the linked service starts first.
    let mut depends_on = depends_on;
    for linked in links.values() {
        depends_on
            .entry(linked.clone())
            .or_insert(Condition::Started);
    }
    let deploy = match body.get("deploy") {
        None | Some(Value::Null) => Deploy::default(),
        Some(deploy) => parse_deploy(deploy)?,
    };
    // The service-level forms Compose keeps from its version 2 files.
    let (memory, cpus) = (
        one_of(
            deploy.memory,
            body,
            "mem_limit",
            "deploy.resources.limits.memory",
        )?,
        one_of(deploy.cpus, body, "cpus", "deploy.resources.limits.cpus")?,
    );
    let restart = match (restart, deploy.restart) {
        (Some(_), Some(_)) => {
            return Err(user_error(
                "`restart` and `deploy.restart_policy` both say when the app restarts",
                "keep one of them",
            ));
        }
        (restart, from_deploy) => restart.or(from_deploy),
    };
    let healthcheck = match body.get("healthcheck") {
        None | Some(Value::Null) => None,
        Some(h) => parse_healthcheck(h, &ports, &container_ports)?,
    };
    let mut x_skiff = match body.get("x-skiff") {
        None => XSkiff::default(),
        Some(x) => parse_x_skiff(x)?,
    };
    // Docker's `network_mode`: `host` is the host's whole network (`--network host`), `none`
    // the default; services still call each other in-process along their edges.
    match body
        .get("network_mode")
        .map(|m| string(m, "network_mode"))
        .transpose()?
        .as_deref()
    {
        None | Some("none") => {}
        Some("host") if x_skiff.network.is_none() => x_skiff.network = Some("host".into()),
        Some("host") => {
            return Err(user_error(
                "`network_mode: host` and `x-skiff.network` both say what the service reaches",
                "keep one: `network_mode: host` grants the host's whole network",
            ));
        }
        Some(mode) => {
            return Err(user_error(
                format!("`network_mode: {mode}` is not supported by skiff compose"),
                format!(
                    "`network_mode` may be `host` (the host's whole network) or `none`; {}",
                    unsupported_hint("network_mode")
                ),
            ));
        }
    }
    Ok(Service {
        source,
        command,
        environment,
        env_file,
        volumes,
        ports,
        container_ports,
        restart,
        working_dir,
        depends_on,
        restart_with,
        optional,
        links,
        memory,
        cpus,
        healthcheck,
        labels,
        container_name,
        stop_grace_period,
        pull_policy,
        networks,
        x_skiff,
    })
}

/// A service's `networks`: a list of names, or a mapping of names to nothing or to
/// `aliases` (the names the network's other services may also call it by).
fn parse_networks(value: Option<&Value>) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut networks = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Array(_)) => {
            for network in strings(value, "networks")? {
                networks.insert(network, Vec::new());
            }
        }
        Some(Value::Object(map)) => {
            for (network, attached) in map {
                let aliases = match attached {
                    Value::Null => Vec::new(),
                    Value::Object(options) => {
                        if let Some(key) = options.keys().find(|k| *k != "aliases") {
                            return Err(user_error(
                                format!(
                                    "`networks.{network}.{key}` is not supported by skiff compose"
                                ),
                                "a network here says which services may call each other (by name \
                                 and `aliases`); there are no addresses or interfaces to set",
                            ));
                        }
                        strings(options.get("aliases"), "aliases")?
                    }
                    _ => anyhow::bail!("`networks.{network}` must be a mapping"),
                };
                for alias in &aliases {
                    if !crate::settings::is_host_label(&alias.to_ascii_lowercase()) {
                        return Err(user_error(
                            format!("`networks.{network}.aliases: {alias}` cannot be a host name"),
                            "use letters, digits and `-`",
                        ));
                    }
                }
                let aliases = aliases.iter().map(|a| a.to_ascii_lowercase()).collect();
                networks.insert(network.clone(), aliases);
            }
        }
        Some(_) => anyhow::bail!("`networks` must be a list or a mapping"),
    }
    Ok(networks)
}

/// The top level's `networks`: their names. A network is a group of services that may call each
/// other; what Docker sets up for one (a driver, addresses) has no meaning here.
fn parse_top_networks(value: Option<&Value>) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::from(["default".to_string()]);
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(names);
    };
    let map = value
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("the top-level `networks` must be a mapping"))?;
    for (network, options) in map {
        let options = match options {
            Value::Null => continue,
            Value::Object(options) => options,
            _ => anyhow::bail!("network `{network}` must be a mapping"),
        };
        for (key, setting) in options {
            let kept = match key.as_str() {
                "name" | "labels" | "internal" | "attachable" => true,
                "driver" => matches!(setting.as_str(), Some("bridge" | "default")),
                _ => false,
            };
            if !kept {
                return Err(user_error(
                    format!("network `{network}`: `{key}` is not supported by skiff compose"),
                    "a network here only says which services may call each other in-process; \
                     `driver: bridge`, `name`, `labels`, `internal` and `attachable` are taken",
                ));
            }
        }
        names.insert(network.clone());
    }
    Ok(names)
}

/// A mapping or a list of `KEY=VALUE` strings, as Compose allows for `environment` and
/// `labels`: `KEY=VALUE` each (a mapping's null value gives `KEY` alone).
fn key_values(value: Option<&Value>, what: &str) -> anyhow::Result<Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| match value {
                Value::Null => Ok(key.clone()),
                Value::String(s) => Ok(format!("{key}={s}")),
                Value::Number(n) => Ok(format!("{key}={n}")),
                Value::Bool(b) => Ok(format!("{key}={b}")),
                _ => Err(anyhow::anyhow!("`{what}.{key}` must be a scalar")),
            })
            .collect(),
        Some(list) => strings(Some(list), what),
    }
}

/// `healthcheck:` as Compose has it, for the `test` forms that amount to an HTTP GET of the
/// service itself, `["CMD", "curl", "-f", "http://localhost/PATH"]` (or `wget`), or a TCP
/// connect to one of its `ports`, `["CMD", "nc", "-z", "localhost", "PORT"]`: the same as
/// `CMD-SHELL` or a string, with `|| exit 1` allowed; `["NONE"]` and `disable: true` turn it off.
/// `ports` are the service's published ports, `container_ports` the container side of each.
fn parse_healthcheck(
    value: &Value,
    ports: &[String],
    container_ports: &[u16],
) -> anyhow::Result<Option<skiff_api::HealthCheck>> {
    use crate::settings::{
        HealthTarget, HealthTimes, health_check, health_target_from_command, parse_period,
    };
    const HEALTH_FORMS: &str = "skiff runs an HTTP service's healthcheck as an HTTP GET of a path \
        answered by its own handler: give `test: [\"CMD\", \"curl\", \"-f\", \"http://localhost/healthz\"]` \
        (or `wget -q --spider URL`); a command service that listens on one of its `ports` is \
        checked with a TCP connect: give `test: [\"CMD\", \"nc\", \"-z\", \"localhost\", \"PORT\"]`; \
        the same as `CMD-SHELL` works too; `test: [\"NONE\"]` or `disable: true` turn it off";
    let Some(map) = value.as_object() else {
        anyhow::bail!("`healthcheck` must be a mapping");
    };
    if let Some(key) = map.keys().find(|k| !HEALTHCHECK_KEYS.contains(&k.as_str())) {
        return Err(user_error(
            format!("`healthcheck.{key}` is not supported by skiff compose"),
            format!("`healthcheck` may hold {}", HEALTHCHECK_KEYS.join(", ")),
        ));
    }
    match map.get("disable") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => return Ok(None),
        Some(_) => anyhow::bail!("`healthcheck.disable` must be `true` or `false`"),
    }
    let refuse = |why: String| user_error(format!("`healthcheck.test`: {why}"), HEALTH_FORMS);
    let words = match map.get("test") {
        None => return Err(user_error("`healthcheck` has no `test`", HEALTH_FORMS)),
        Some(Value::String(shell)) => split_command(shell)?,
        Some(list @ Value::Array(_)) => {
            let list = strings(Some(list), "healthcheck.test")?;
            match list.split_first() {
                Some((kind, [])) if kind == "NONE" => return Ok(None),
                Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
                Some((kind, [shell])) if kind == "CMD-SHELL" => split_command(shell)?,
                _ => {
                    return Err(refuse(
                        "a list must be `[\"CMD\", PROGRAM, ARGS...]`, `[\"CMD-SHELL\", COMMAND]` or \
                         `[\"NONE\"]`"
                            .into(),
                    ));
                }
            }
        }
        Some(_) => anyhow::bail!("`healthcheck.test` must be a string or a list of strings"),
    };
    let target = match health_target_from_command(&words).map_err(refuse)? {
        HealthTarget::Port(port) => HealthTarget::Port(checked_port(port, ports, container_ports)?),
        path => path,
    };
    let duration = |key: &str, zero_ok: bool| -> anyhow::Result<Option<std::time::Duration>> {
        let Some(value) = map.get(key) else {
            return Ok(None);
        };
        let text = string(value, &format!("healthcheck.{key}"))?;
        let parsed = if zero_ok {
            parse_period(&text).map_err(|e| anyhow::anyhow!(e))
        } else {
            skiff_capabilities::parse_duration(&text).map_err(anyhow::Error::from)
        };
        parsed
            .map(Some)
            .with_context(|| format!("`healthcheck.{key}`"))
    };
    let retries = match map.get("retries") {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow::anyhow!("`healthcheck.retries` must be a number above 0"))?,
        ),
    };
    Ok(Some(health_check(
        target,
        HealthTimes {
            interval: duration("interval", false)?,
            timeout: duration("timeout", false)?,
            retries,
            start_period: duration("start_period", true)?,
            start_interval: duration("start_interval", false)?,
        },
    )?))
}

/// The port a TCP healthcheck connects to: one of the service's published `ports`, as the test
/// names it or, since a test in Docker runs inside the container, as the container side of one
/// (`ports: ["16379:6379"]` and `nc -z localhost 6379` check 16379, where a Wasm service listens).
fn checked_port(port: u16, ports: &[String], container_ports: &[u16]) -> anyhow::Result<u16> {
    let published: Vec<(u16, u16)> = ports
        .iter()
        .zip(container_ports)
        .filter_map(|(spec, container)| {
            skiff_capabilities::parse_publish(spec).map(|addr| (addr.port(), *container))
        })
        .collect();
    if let Some((host, _)) = published
        .iter()
        .find(|(host, _)| *host == port)
        .or_else(|| published.iter().find(|(_, container)| *container == port))
    {
        return Ok(*host);
    }
    Err(user_error(
        format!("`healthcheck.test` checks port {port}, which is not one of the service's `ports`"),
        format!(
            "a TCP check connects to a port the service listens on: add `ports: [\"{port}:{port}\"]`"
        ),
    ))
}

/// One entry of `depends_on`'s long form.
struct DependencyEntry {
    condition: Condition,
    /// `restart: true`.
    restart: bool,
    /// `required` (true unless `false`).
    required: bool,
}

fn dependency_entry(dependency: &str, spec: &Value) -> anyhow::Result<DependencyEntry> {
    let map = match spec {
        Value::Null => {
            return Ok(DependencyEntry {
                condition: Condition::Started,
                restart: false,
                required: true,
            });
        }
        Value::Object(map) => map,
        _ => anyhow::bail!("`depends_on.{dependency}` must be a mapping with `condition`"),
    };
    if let Some(key) = map
        .keys()
        .find(|k| !["condition", "restart", "required"].contains(&k.as_str()))
    {
        return Err(user_error(
            format!("`depends_on.{dependency}.{key}` is not supported by skiff compose"),
            "give `condition`, `restart` and `required`",
        ));
    }
    let flag = |key: &str, default: bool| match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(anyhow::anyhow!(
            "`depends_on.{dependency}.{key}` must be `true` or `false`"
        )),
    };
    let condition = match map
        .get("condition")
        .map(|c| string(c, "condition"))
        .transpose()?
        .as_deref()
    {
        None | Some("service_started") => Condition::Started,
        Some("service_healthy") => Condition::Healthy,
        Some("service_completed_successfully") => Condition::CompletedSuccessfully,
        Some(other) => {
            return Err(user_error(
                format!("unknown condition `{other}` in `depends_on.{dependency}`"),
                "use `service_started`, `service_healthy` or `service_completed_successfully`",
            ));
        }
    };
    Ok(DependencyEntry {
        condition,
        restart: flag("restart", false)?,
        required: flag("required", true)?,
    })
}

/// `deploy.resources.limits`: its memory and CPU share (`--memory` and `--cpus`).
/// What Skiff takes of `deploy`.
#[derive(Default)]
struct Deploy {
    memory: Option<String>,
    cpus: Option<String>,
    /// `restart_policy`, as a `--restart` policy.
    restart: Option<String>,
}

fn parse_deploy(deploy: &Value) -> anyhow::Result<Deploy> {
    let refuse = |path: &str, hint: &str| {
        Err(user_error(
            format!("`{path}` is not supported by skiff compose"),
            hint.to_string(),
        ))
    };
    let only = "of `deploy`, skiff compose supports `resources.limits.memory` and `.cpus`, \
                `restart_policy.condition` and `.max_attempts`, and `replicas: 1`";
    let Some(deploy) = deploy.as_object() else {
        anyhow::bail!("`deploy` must be a mapping");
    };
    if let Some(key) = deploy
        .keys()
        .find(|k| !["resources", "restart_policy", "replicas"].contains(&k.as_str()))
    {
        return refuse(&format!("deploy.{key}"), only);
    }
    match deploy.get("replicas") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => {
            return Err(user_error(
                format!("`deploy.replicas: {other}`: skiff compose runs one app per service"),
                "an HTTP service scales by itself (a fresh instance per request, up to \
                 `x-skiff.max-concurrency` at once); run more copies of a command as services \
                 of their own",
            ));
        }
    }
    let restart = match deploy.get("restart_policy") {
        None | Some(Value::Null) => None,
        Some(policy) => Some(restart_policy(policy)?),
    };
    let Some(resources) = deploy.get("resources").and_then(Value::as_object) else {
        return Ok(Deploy {
            restart,
            ..Deploy::default()
        });
    };
    if let Some(key) = resources.keys().find(|k| *k != "limits") {
        return refuse(&format!("deploy.resources.{key}"), only);
    }
    let Some(limits) = resources.get("limits").and_then(Value::as_object) else {
        return Ok(Deploy {
            restart,
            ..Deploy::default()
        });
    };
    if let Some(key) = limits.keys().find(|k| *k != "memory" && *k != "cpus") {
        return refuse(&format!("deploy.resources.limits.{key}"), only);
    }
    Ok(Deploy {
        memory: limit(limits.get("memory"), "deploy.resources.limits.memory")?,
        cpus: limit(limits.get("cpus"), "deploy.resources.limits.cpus")?,
        restart,
    })
}

/// `deploy.restart_policy` as the `--restart` policy it means: `condition` `none`, `on-failure`
/// (with `max_attempts`) or `any` (Compose's default).
fn restart_policy(policy: &Value) -> anyhow::Result<String> {
    let Some(policy) = policy.as_object() else {
        anyhow::bail!("`deploy.restart_policy` must be a mapping");
    };
    if let Some(key) = policy
        .keys()
        .find(|k| !["condition", "max_attempts"].contains(&k.as_str()))
    {
        return Err(user_error(
            format!("`deploy.restart_policy.{key}` is not supported by skiff compose"),
            "give `condition` and `max_attempts`; the daemon backs off between restarts itself",
        ));
    }
    let condition = policy
        .get("condition")
        .map(|c| string(c, "deploy.restart_policy.condition"))
        .transpose()?;
    let attempts = match policy.get("max_attempts") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
            anyhow::anyhow!("`deploy.restart_policy.max_attempts` must be a whole number")
        })?),
        Some(_) => anyhow::bail!("`deploy.restart_policy.max_attempts` must be a number"),
    };
    match (condition.as_deref().unwrap_or("any"), attempts) {
        ("none", _) => Ok("no".into()),
        ("on-failure", Some(n)) => Ok(format!("on-failure:{n}")),
        ("on-failure", None) => Ok("on-failure".into()),
        ("any", None) => Ok("always".into()),
        ("any", Some(_)) => Err(user_error(
            "`deploy.restart_policy`: `max_attempts` with `condition: any`",
            "Skiff counts attempts for `on-failure` only: use `condition: on-failure`",
        )),
        (other, _) => Err(user_error(
            format!("unknown `deploy.restart_policy.condition: {other}`"),
            "use `none`, `on-failure` or `any`",
        )),
    }
}

/// A memory or CPU limit (a number or a string), checked as `--memory` / `--cpus` read it.
fn limit(value: Option<&Value>, path: &str) -> anyhow::Result<Option<String>> {
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => string(other, path)?,
    };
    if path.ends_with("memory") || path == "mem_limit" {
        value
            .parse::<skiff_capabilities::ByteSize>()
            .map_err(|e| anyhow::anyhow!("`{path}`: {e}"))?;
    } else {
        value
            .parse::<skiff_capabilities::Cpus>()
            .map_err(|e| anyhow::anyhow!("`{path}`: {e}"))?;
    }
    Ok(Some(value))
}

/// A limit given by `deploy` or by its service-level key (`mem_limit`, `cpus`), not both.
fn one_of(
    from_deploy: Option<String>,
    body: &Map<String, Value>,
    key: &str,
    deploy_path: &str,
) -> anyhow::Result<Option<String>> {
    let given = limit(body.get(key), key)?;
    match (from_deploy, given) {
        (Some(_), Some(_)) => Err(user_error(
            format!("`{key}` and `{deploy_path}` both limit the service"),
            "keep one of them",
        )),
        (from_deploy, given) => Ok(from_deploy.or(given)),
    }
}

fn parse_x_skiff(x: &Value) -> anyhow::Result<XSkiff> {
    let Some(map) = x.as_object() else {
        anyhow::bail!("`x-skiff` must be a mapping");
    };
    if let Some(key) = map.keys().find(|k| !X_SKIFF_KEYS.contains(&k.as_str())) {
        return Err(user_error(
            format!("`x-skiff.{key}` is not a Skiff setting"),
            format!("`x-skiff` may hold {}", X_SKIFF_KEYS.join(", ")),
        ));
    }
    let text = |key: &str| {
        map.get(key)
            .map(|v| string(v, &format!("x-skiff.{key}")))
            .transpose()
    };
    let x_skiff = XSkiff {
        routes: strings(map.get("routes"), "x-skiff.routes")?,
        cpu_time: text("cpu-time")?,
        timeout: text("timeout")?,
        network: text("network")?,
        max_concurrency: map
            .get("max-concurrency")
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| anyhow::anyhow!("`x-skiff.max-concurrency` must be a number"))
            })
            .transpose()?,
    };
    for (key, value) in [
        ("cpu-time", &x_skiff.cpu_time),
        ("timeout", &x_skiff.timeout),
    ] {
        if let Some(value) = value {
            skiff_capabilities::parse_duration(value)
                .map_err(|e| anyhow::anyhow!("`x-skiff.{key}`: {e}"))?;
        }
    }
    if let Some(network) = &x_skiff.network {
        network
            .parse::<skiff_capabilities::NetworkFlag>()
            .map_err(|e| anyhow::anyhow!("`x-skiff.network`: {e}"))?;
    }
    Ok(x_skiff)
}

/// A volume in the long syntax (`type: bind`, `source`, `target`, `read_only`) as the short one.
fn long_volume(long: &serde_json::Map<String, Value>) -> anyhow::Result<String> {
    let field = |key: &str| long.get(key).map(|v| string(v, &format!("volumes.{key}")));
    if let Some(key) = long
        .keys()
        .find(|k| !["type", "source", "target", "read_only"].contains(&k.as_str()))
    {
        return Err(user_error(
            format!("volume key `{key}` is not supported"),
            "a volume is a bind mount: `type: bind`, `source`, `target` and `read_only`",
        ));
    }
    let kind = field("type").transpose()?;
    if kind.as_deref() != Some("bind") {
        return Err(user_error(
            format!(
                "volume of type `{}` is not supported",
                kind.as_deref().unwrap_or("(none)")
            ),
            "bind a host directory: `type: bind`, `source: ./data`, `target: /data`",
        ));
    }
    let (Some(source), Some(target)) = (field("source").transpose()?, field("target").transpose()?)
    else {
        return Err(user_error(
            "a bind volume needs `source` and `target`",
            "e.g. `{type: bind, source: ./data, target: /data, read_only: true}`",
        ));
    };
    match long.get("read_only") {
        None | Some(Value::Bool(false)) => Ok(format!("{source}:{target}")),
        Some(Value::Bool(true)) => Ok(format!("{source}:{target}:ro")),
        Some(_) => anyhow::bail!("`volumes.read_only` must be true or false"),
    }
}

/// `HOST:CONTAINER[:ro|rw]` with HOST a path (relative to the file's directory).
fn bind_mount(spec: &str, dir: &Path) -> anyhow::Result<String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, guest, mode) = match parts.as_slice() {
        [host, guest] => (*host, *guest, None),
        [host, guest, mode] => (*host, *guest, Some(*mode)),
        _ => {
            return Err(user_error(
                format!("volume `{spec}` is not a bind mount"),
                "give `HOST_DIR:GUEST_DIR[:ro]`, e.g. `./data:/data:ro`",
            ));
        }
    };
    if !host.starts_with(['.', '/', '~']) {
        return Err(user_error(
            format!("volume `{spec}`: named volumes are not supported"),
            format!("bind a host directory instead, e.g. `./{host}:{guest}`"),
        ));
    }
    let host = match host.strip_prefix('~') {
        Some(rest) => dirs::home_dir()
            .context("cannot find the home directory")?
            .join(rest.trim_start_matches('/')),
        None => resolve(dir, host),
    };
    // The options (`ro`, and Docker's `z`, `cached`, ... that change nothing here) are `-v`'s.
    let spec = match mode {
        Some(mode) => format!("{}:{guest}:{mode}", host.display()),
        None => format!("{}:{guest}", host.display()),
    };
    spec.parse::<skiff_capabilities::DirGrant>()
        .map_err(|e| anyhow::anyhow!("volume `{spec}`: {e}"))?;
    Ok(spec)
}

/// `HOST:CONTAINER` / `ADDR:HOST:CONTAINER` → `-p [ADDR:]HOST`. A Wasm app has no container
/// port of its own to map: the daemon serves an HTTP handler on HOST, and a command listening
/// itself is allowed HOST. A lone `PORT` is that port on loopback (not, as in Docker, a port the
/// system picks): a command binds the very port it names.
/// A `ports` entry as `-p` takes it, and its container port.
/// A port in Compose's long form, `{target, published, host_ip, protocol, mode, name,
/// app_protocol}`, as the short form `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]` ([`publish`]
/// reads it). `mode`, `name` and `app_protocol` say nothing on one machine.
fn long_port(long: &Map<String, Value>) -> anyhow::Result<String> {
    const KEYS: &[&str] = &[
        "target",
        "published",
        "host_ip",
        "protocol",
        "mode",
        "name",
        "app_protocol",
    ];
    if let Some(key) = long.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(user_error(
            format!("`ports.{key}` is not supported by skiff compose"),
            format!("a port in the long form takes {}", KEYS.join(", ")),
        ));
    }
    let field = |key: &str| {
        long.get(key)
            .map(|v| string(v, &format!("ports.{key}")))
            .transpose()
    };
    let target = field("target")?.ok_or_else(|| anyhow::anyhow!("a port needs its `target`"))?;
    let mut spec = String::new();
    if let Some(ip) = field("host_ip")? {
        spec.push_str(&if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip
        });
        spec.push(':');
    }
    match field("published")? {
        Some(published) => spec.push_str(&format!("{published}:")),
        // No host port: the target is it (a lone `PORT`, see `publish`).
        None if !spec.is_empty() => spec.push_str(&format!("{target}:")),
        None => {}
    }
    spec.push_str(&target);
    if let Some(protocol) = field("protocol")? {
        spec.push_str(&format!("/{protocol}"));
    }
    Ok(spec)
}

fn publish(spec: &str) -> anyhow::Result<(String, u16)> {
    let (bare, udp) = match spec.strip_suffix("/udp") {
        Some(bare) => (bare, "/udp"),
        None => (spec.strip_suffix("/tcp").unwrap_or(spec), ""),
    };
    let refuse = |why: &str| {
        Err(user_error(
            format!("port `{spec}`: {why}"),
            "give `HOST_PORT:CONTAINER_PORT` or `ADDR:HOST_PORT:CONTAINER_PORT`",
        ))
    };
    if bare.contains('/') {
        return refuse("only TCP and UDP are supported");
    }
    if bare.contains('-') {
        return refuse("port ranges are not supported");
    }
    let (addr_host, container) = match bare.rsplit_once(':') {
        Some(split) => split,
        None => (bare, bare),
    };
    let Ok(container) = container.parse::<u16>() else {
        return refuse("not a port number");
    };
    let (addr, host) = match addr_host.rsplit_once(':') {
        Some((addr, host)) => (Some(addr.trim_matches(['[', ']'])), host),
        None => (None, addr_host),
    };
    if host.parse::<u16>().is_err() {
        return refuse("not a port number");
    }
    let published = match addr {
        Some(addr) if addr.contains(':') => format!("[{addr}]:{host}{udp}"),
        Some(addr) => format!("{addr}:{host}{udp}"),
        None => format!("{host}{udp}"),
    };
    Ok((published, container))
}

/// A `command:` string split as a shell would split words, with `'...'`/`"..."` quoting.
fn split_command(command: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => word.extend(chars.next()),
                        Some(other) => word.push(other),
                        None => anyhow::bail!("unterminated quote in `command`: `{command}`"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The Compose Specification's interpolation in every string of the file: `$VAR`, `${VAR}`,
/// `${VAR:-default}` / `${VAR-default}` (when unset or empty / unset), `${VAR:+other}` /
/// `${VAR+other}` (when set and not empty / set), `${VAR:?message}` / `${VAR?message}` (an
/// error when unset or empty / unset), defaults themselves interpolated, and `$$` for `$`.
fn interpolate(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    match value {
        Value::String(s) => *s = interpolate_str(s, lookup)?,
        Value::Array(items) => {
            for item in items {
                interpolate(item, lookup)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                interpolate(item, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn interpolate_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = closing_brace(braced)
                .ok_or_else(|| anyhow::anyhow!("unterminated `${{` in `{s}`"))?;
            out.push_str(&substitute(&braced[..end], s, lookup)?);
            rest = &braced[end + 1..];
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..end]).unwrap_or_default());
            }
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the `}` that closes a `${` is, past any `${...}` nested in its default.
fn closing_brace(braced: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = braced.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The value of one `${EXPR}` of the string `s`.
fn substitute(
    expr: &str,
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let name_end = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_end);
    let (if_empty, op) = match op.strip_prefix(':') {
        Some(op) => (true, op),
        None => (false, op),
    };
    let unsupported = || {
        user_error(
            format!("unsupported interpolation `${{{expr}}}` in `{s}`"),
            "skiff compose supports `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, \
             `${VAR:+other}`, `${VAR+other}`, `${VAR:?message}`, `${VAR?message}` and `$$`",
        )
    };
    if name.is_empty() || (if_empty && op.is_empty()) {
        return Err(unsupported());
    }
    let value = lookup(name);
    // What `:` adds: an empty value counts as unset.
    let set = value
        .as_deref()
        .is_some_and(|v| !(if_empty && v.is_empty()));
    let mut chars = op.chars();
    let word = || interpolate_str(&op[1..], lookup);
    Ok(match chars.next() {
        None => value.unwrap_or_default(),
        Some('-') if set => value.unwrap_or_default(),
        Some('-') => word()?,
        Some('+') if set => word()?,
        Some('+') => String::new(),
        Some('?') if set => value.unwrap_or_default(),
        Some('?') => {
            let message = word()?;
            return Err(user_error(
                format!("the variable `{name}` is required: {message}"),
                format!("set `{name}` in the environment or in the project's `.env` file"),
            ));
        }
        Some(_) => return Err(unsupported()),
    })
}

/// A Compose `.env` file: `KEY=VALUE` lines (`export` before one is allowed), `#` comments, a
/// value in single quotes taken as it is, one in double quotes or none interpolated with what
/// came before it and the environment (`\n` and `\"` in double quotes); an unquoted value ends
/// at ` #`.
fn read_dotenv(
    text: &str,
    environment: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, raw)) = line.split_once('=') else {
            anyhow::bail!("line {}: `{line}` is not KEY=VALUE", number + 1);
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            anyhow::bail!("line {}: `{key}` is not a variable name", number + 1);
        }
        let raw = raw.trim_start();
        let lookup = |k: &str| vars.get(k).cloned().or_else(|| environment(k));
        let value = if let Some(quoted) = raw.strip_prefix('\'') {
            let end = quoted
                .find('\'')
                .ok_or_else(|| anyhow::anyhow!("line {}: unterminated `'`", number + 1))?;
            quoted[..end].to_string()
        } else if let Some(quoted) = raw.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.chars();
            loop {
                match chars.next() {
                    None => anyhow::bail!("line {}: unterminated `\"`", number + 1),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some(c) => text.push(c),
                        None => anyhow::bail!("line {}: unterminated `\"`", number + 1),
                    },
                    Some(c) => text.push(c),
                }
            }
            interpolate_str(&text, &lookup)?
        } else {
            let value = raw.split(" #").next().unwrap_or_default().trim_end();
            interpolate_str(value, &lookup)?
        };
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

/// `path` relative to the file's directory, without `.` components.
fn resolve(dir: &Path, path: &str) -> PathBuf {
    dir.join(path)
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect()
}

fn string(value: &Value, key: &str) -> anyhow::Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => anyhow::bail!("`{key}` must be a string"),
    }
}

fn strings(value: Option<&Value>, key: &str) -> anyhow::Result<Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|item| string(item, key)).collect(),
        Some(_) => anyhow::bail!("`{key}` must be a list"),
    }
}

impl Project {
    /// The services in an order where each comes after those it depends on (ties by name); a
    /// cycle is an error naming it.
    pub fn start_order(&self) -> anyhow::Result<Vec<String>> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        for name in self.services.keys() {
            self.visit(name, &mut Vec::new(), &mut done, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(at) = path.iter().position(|p| p == name) {
            let mut cycle = path[at..].to_vec();
            cycle.push(name.to_string());
            return Err(user_error(
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "remove one of these `depends_on` entries",
            ));
        }
        path.push(name.to_string());
        for dependency in self.services[name].depends_on.keys() {
            self.visit(dependency, path, done, order)?;
        }
        path.pop();
        done.insert(name.to_string());
        order.push(name.to_string());
        Ok(())
    }

    /// The app that runs `service`.
    pub fn app_name(&self, service: &str) -> String {
        match self
            .services
            .get(service)
            .and_then(|s| s.container_name.clone())
        {
            Some(name) => name,
            None => format!("{}-{service}", self.name),
        }
    }

    /// What the service may call in-process: the services it names in `depends_on` (by their
    /// names) and in `links` (by alias); every other service of the project is refused, with
    /// the edge to add.
    pub fn links(&self, service: &str) -> skiff_api::Links {
        let calls: BTreeMap<String, String> = self
            .peers(service)
            .into_iter()
            .map(|(name, peer)| (name, self.app_name(&peer)))
            .collect();
        let refused = self
            .services
            .keys()
            .map(|other| other.to_ascii_lowercase())
            .filter(|other| other != &service.to_ascii_lowercase() && !calls.contains_key(other))
            .map(|other| {
                let hint = format!(
                    "add `{other}` to `depends_on` (or `links`) of service `{service}` in the \
                     Compose file, or put both on one of its `networks`"
                );
                (other, hint)
            })
            .collect();
        skiff_api::Links { calls, refused }
    }

    /// The services `service` has an edge to, by each name it may call them: those it names in
    /// `depends_on` (by name) and `links` (by alias), and those it shares a network with (by
    /// name, and by their aliases on that network).
    fn peers(&self, service: &str) -> BTreeMap<String, String> {
        let spec = &self.services[service];
        let mut peers = BTreeMap::new();
        for network in spec.networks.keys() {
            for (other, other_spec) in &self.services {
                let Some(aliases) = other_spec.networks.get(network) else {
                    continue;
                };
                if other != service {
                    peers.insert(other.to_ascii_lowercase(), other.clone());
                    for alias in aliases {
                        peers.insert(alias.clone(), other.clone());
                    }
                }
            }
        }
        for dependency in spec.depends_on.keys() {
            peers.insert(dependency.to_ascii_lowercase(), dependency.clone());
        }
        for (alias, linked) in &spec.links {
            peers.insert(alias.clone(), linked.clone());
        }
        peers
    }

    /// The ports of the services `service` has an edge to (TCP and UDP), as network grants: a
    /// service listening itself (`ports` of a command) is reached over loopback, and only along
    /// edges.
    pub fn edge_ports(&self, service: &str) -> Vec<skiff_capabilities::Endpoint> {
        let linked: BTreeSet<String> = self.peers(service).into_values().collect();
        let mut endpoints = Vec::new();
        for other in &linked {
            for port in &self.services[other].ports {
                let Some(addr) = skiff_capabilities::parse_listen(port).map(|l| l.addr()) else {
                    continue;
                };
                let ip = if addr.ip().is_unspecified() {
                    std::net::IpAddr::from([127, 0, 0, 1])
                } else {
                    addr.ip()
                };
                endpoints.push(skiff_capabilities::Endpoint {
                    host: ip.to_string(),
                    port: addr.port(),
                });
            }
        }
        endpoints
    }

    /// The project as `skiff compose config` prints it: normalised, paths absolute.
    pub fn to_value(&self) -> Value {
        let mut services = Map::new();
        for (name, s) in &self.services {
            let mut out = Map::new();
            match &s.source {
                Source::Image(image) => {
                    out.insert("image".into(), image.clone().into());
                }
                Source::File(file) => {
                    out.insert("image".into(), file.display().to_string().into());
                }
                Source::Build { context, tag } => {
                    out.insert("image".into(), tag.clone().into());
                    out.insert(
                        "build".into(),
                        serde_json::json!({"context": context.display().to_string()}),
                    );
                }
            }
            if let Some(command) = &s.command {
                out.insert("command".into(), command.clone().into());
            }
            let mut put = |key: &str, list: Vec<String>| {
                if !list.is_empty() {
                    out.insert(key.into(), list.into());
                }
            };
            put("environment", s.environment.clone());
            put(
                "env_file",
                s.env_file.iter().map(|f| f.display().to_string()).collect(),
            );
            put("volumes", s.volumes.clone());
            put("ports", s.ports.clone());
            put(
                "links",
                s.links
                    .iter()
                    .map(|(alias, linked)| {
                        if alias == linked {
                            linked.clone()
                        } else {
                            format!("{linked}:{alias}")
                        }
                    })
                    .collect(),
            );
            if let Some(restart) = &s.restart {
                out.insert("restart".into(), restart.clone().into());
            }
            if let Some(secs) = s.stop_grace_period {
                out.insert("stop_grace_period".into(), format!("{secs}s").into());
            }
            if let Some(name) = &s.container_name {
                out.insert("container_name".into(), name.clone().into());
            }
            if !s.networks.is_empty() {
                let networks: Map<String, Value> = s
                    .networks
                    .iter()
                    .map(|(name, aliases)| match aliases.is_empty() {
                        true => (name.clone(), Value::Null),
                        false => (name.clone(), serde_json::json!({ "aliases": aliases })),
                    })
                    .collect();
                out.insert("networks".into(), networks.into());
            }
            if !s.pull_policy.is_missing() {
                out.insert("pull_policy".into(), serde_json::json!(s.pull_policy));
            }
            if !s.labels.is_empty() {
                out.insert("labels".into(), serde_json::json!(s.labels));
            }
            if let Some(working_dir) = &s.working_dir {
                out.insert("working_dir".into(), working_dir.clone().into());
            }
            if !s.depends_on.is_empty() {
                let deps: Map<String, Value> = s
                    .depends_on
                    .iter()
                    .map(|(d, c)| {
                        let mut entry = serde_json::json!({"condition": c.as_str()});
                        if s.restart_with.contains(d) {
                            entry["restart"] = true.into();
                        }
                        if s.optional.contains(d) {
                            entry["required"] = false.into();
                        }
                        (d.clone(), entry)
                    })
                    .collect();
                out.insert("depends_on".into(), deps.into());
            }
            let mut limits = serde_json::Map::new();
            if let Some(memory) = &s.memory {
                limits.insert("memory".into(), memory.clone().into());
            }
            if let Some(cpus) = &s.cpus {
                limits.insert("cpus".into(), cpus.clone().into());
            }
            if !limits.is_empty() {
                out.insert(
                    "deploy".into(),
                    serde_json::json!({"resources": {"limits": limits}}),
                );
            }
            if let Some(check) = &s.healthcheck {
                let ms = |ms: u64| {
                    humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
                };
                let test = match check.port {
                    Some(port) => {
                        serde_json::json!(["CMD", "nc", "-z", "localhost", port.to_string()])
                    }
                    None => serde_json::json!([
                        "CMD",
                        "curl",
                        "-f",
                        format!("http://localhost{}", check.path)
                    ]),
                };
                out.insert(
                    "healthcheck".into(),
                    serde_json::json!({
                        "test": test,
                        "interval": ms(check.interval_ms),
                        "timeout": ms(check.timeout_ms),
                        "retries": check.retries,
                        "start_period": ms(check.start_period_ms),
                        "start_interval": ms(check.start_interval_ms),
                    }),
                );
            }
            let x = &s.x_skiff;
            let mut xs = Map::new();
            if !x.routes.is_empty() {
                xs.insert("routes".into(), x.routes.clone().into());
            }
            for (key, value) in [
                ("cpu-time", &x.cpu_time),
                ("timeout", &x.timeout),
                ("network", &x.network),
            ] {
                if let Some(value) = value {
                    xs.insert(key.into(), value.clone().into());
                }
            }
            if let Some(n) = x.max_concurrency {
                xs.insert("max-concurrency".into(), n.into());
            }
            if !xs.is_empty() {
                out.insert("x-skiff".into(), xs.into());
            }
            services.insert(name.clone(), out.into());
        }
        let networks: Map<String, Value> = self
            .services
            .values()
            .flat_map(|s| s.networks.keys())
            .filter(|n| *n != "default")
            .map(|n| (n.clone(), Value::Object(Map::new())))
            .collect();
        let mut project = serde_json::json!({"name": self.name, "services": services});
        if !networks.is_empty() {
            project["networks"] = networks.into();
        }
        project
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> anyhow::Result<Project> {
        let doc: Value = serde_saphyr::from_str(yaml).unwrap();
        parse(&doc, Path::new("/srv/My Shop"), &LoadOptions::default())
    }

    fn error(yaml: &str) -> String {
        format!("{:#}", project(yaml).unwrap_err())
    }

    #[test]
    fn a_full_service_is_normalised() {
        let p = project(
            r#"
services:
  web:
    image: ./web.wasm
    command: serve --dir "/a b"
    environment: {MODE: prod, N: 3, FROM_HOST: null}
    env_file: web.env
    volumes: ["./data:/data:ro"]
    ports: ["8080:80", "0.0.0.0:9090:80", "80", "5353:53/udp"]
    restart: on-failure:3
    working_dir: /data
    depends_on:
      db: {condition: service_healthy}
    deploy: {resources: {limits: {memory: 64m, cpus: '0.5'}}}
    x-skiff: {routes: [/shop], cpu-time: 2s, network: "allow=example.com:443"}
  db:
    image: ghcr.io/acme/db:1
    network_mode: host
"#,
        )
        .unwrap();
        assert_eq!(p.name, "myshop");
        let web = &p.services["web"];
        assert_eq!(web.source, Source::File("/srv/My Shop/web.wasm".into()));
        assert_eq!(web.command.as_ref().unwrap(), &["serve", "--dir", "/a b"]);
        assert_eq!(web.environment, ["FROM_HOST", "MODE=prod", "N=3"]);
        assert_eq!(web.volumes, ["/srv/My Shop/data:/data:ro"]);
        assert_eq!(web.ports, ["8080", "0.0.0.0:9090", "80", "5353/udp"]);
        assert_eq!(web.working_dir.as_deref(), Some("/data"));
        assert_eq!(web.memory.as_deref(), Some("64m"));
        assert_eq!(web.cpus.as_deref(), Some("0.5"));
        assert_eq!(web.depends_on["db"], Condition::Healthy);
        assert_eq!(p.start_order().unwrap(), ["db", "web"]);
        assert_eq!(p.app_name("web"), "myshop-web");
        assert_eq!(p.services["db"].x_skiff.network.as_deref(), Some("host"));
    }

    #[test]
    fn hardening_and_pull_policies_are_taken_and_dockers_other_keys_refused_saying_why() {
        let p = project(
            r#"
services:
  web:
    image: ghcr.io/acme/web:1
    read_only: true
    init: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    pull_policy: always
  db:
    image: ghcr.io/acme/db:1
    pull_policy: if_not_present
"#,
        )
        .unwrap();
        assert_eq!(p.services["web"].pull_policy, PullPolicy::Always);
        assert_eq!(p.services["db"].pull_policy, PullPolicy::Missing);
        let config = p.to_value();
        assert_eq!(config["services"]["web"]["pull_policy"], "always");
        assert!(config["services"]["db"].get("pull_policy").is_none());

        let service =
            |body: &str| error(&format!("services:\n  web:\n    image: a:1\n    {body}\n"));
        let refused = service("security_opt: [\"seccomp=unconfined\"]");
        assert!(
            refused.contains("`security_opt: seccomp=unconfined` is not supported"),
            "{refused}"
        );
        assert!(service("user: \"1000\"").contains("`user` is not supported"));
        let hint = unsupported_hint("user");
        assert!(
            hint.contains("no user of its own") && hint.ends_with("; remove `user`"),
            "{hint}"
        );
        let refused = service("pull_policy: daily");
        assert!(refused.contains("`pull_policy: daily`"), "{refused}");
        assert!(service("pull_policy: build").contains("`pull_policy: build` is not supported"));
        assert!(service("read_only: yes please").contains("`read_only` must be true or false"));
        // Docker's volume options that change nothing here are taken, `ro` among them counts.
        let p = project(
            "services:\n  web:\n    image: a:1\n    volumes: ['./d:/d:ro,z', './e:/e:cached']\n",
        )
        .unwrap();
        assert_eq!(
            p.services["web"].volumes,
            ["/srv/My Shop/d:/d:ro,z", "/srv/My Shop/e:/e:cached"]
        );
        assert!(service("volumes: ['./d:/d:rx']").contains("the options must be `ro` or `rw`"));
    }

    #[test]
    fn healthchecks_become_http_checks_of_a_path() {
        let check = |yaml: &str| {
            let p = project(&format!(
                "services:\n  web:\n    image: a\n    healthcheck: {yaml}\n"
            ));
            p.map(|p| p.services["web"].healthcheck.clone())
        };
        let c = check(
            r#"{test: ["CMD", "curl", "-f", "http://localhost:8080/healthz"], interval: 5s, timeout: 1s, retries: 2, start_period: 1m30s, start_interval: 500ms}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                c.path.as_str(),
                c.port,
                c.interval_ms,
                c.timeout_ms,
                c.retries,
                c.start_period_ms,
                c.start_interval_ms
            ),
            ("/healthz", None, 5000, 1000, 2, 90_000, 500)
        );
        // Docker's defaults for what is not given.
        let c = check(r#"{test: "wget -q --spider http://127.0.0.1/ready || exit 1"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            c,
            skiff_api::HealthCheck {
                path: "/ready".into(),
                ..Default::default()
            }
        );
        let c = check(r#"{test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}"#);
        assert_eq!(c.unwrap().unwrap().path, "/");
        assert_eq!(check(r#"{test: ["NONE"]}"#).unwrap(), None);
        assert_eq!(
            check(r#"{test: ["CMD", "curl", "http://localhost/"], disable: true}"#).unwrap(),
            None
        );
        for (bad, says) in [
            (
                r#"{test: ["CMD", "pg_isready"]}"#,
                "`pg_isready` cannot run here",
            ),
            (
                r#"{test: ["CMD-SHELL", "curl -f http://localhost/ && x"]}"#,
                "shell syntax",
            ),
            (r#"{test: ["bogus"]}"#, "`[\"CMD\", PROGRAM, ARGS...]`"),
            (
                r#"{test: ["CMD", "curl", "http://db/"]}"#,
                "only reach the app itself",
            ),
            (
                r#"{test: ["CMD", "curl", "http://localhost/"], start_interval: 0s}"#,
                "`healthcheck.start_interval`",
            ),
            (
                r#"{test: ["CMD", "redis-cli", "ping"]}"#,
                "`redis-cli` cannot run here",
            ),
            (
                r#"{test: ["CMD", "nc", "-z", "localhost", "6379"]}"#,
                "checks port 6379, which is not one of the service's `ports`",
            ),
            (
                r#"{test: ["CMD", "nc", "localhost", "6379"]}"#,
                "only a port check",
            ),
            (
                r#"{test: ["CMD", "curl", "http://localhost/"], timeout: 1s, start_timeout: 1s}"#,
                "`healthcheck.start_timeout` is not supported",
            ),
            (
                r#"{test: ["CMD", "curl", "http://localhost/"], retries: 0}"#,
                "above 0",
            ),
            (
                r#"{test: ["CMD", "curl", "http://localhost/"], interval: soon}"#,
                "`healthcheck.interval`",
            ),
            (r#"{interval: 5s}"#, "no `test`"),
        ] {
            let e = format!("{:#}", check(bad).unwrap_err());
            assert!(
                e.contains(says) && e.contains("service `web`"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn port_healthchecks_become_tcp_checks_of_a_published_port() {
        let check = |ports: &str, test: &str| {
            let p = project(&format!(
                "services:\n  kv:\n    image: a\n    ports: {ports}\n    healthcheck: {{test: {test}}}\n"
            ));
            p.map(|p| p.services["kv"].healthcheck.clone().unwrap())
        };
        let c = check(r#"["6379"]"#, r#"["CMD", "nc", "-z", "localhost", "6379"]"#).unwrap();
        assert_eq!((c.path.as_str(), c.port), ("", Some(6379)));
        // As inside a container: the container side of a mapping is the published port.
        let c = check(
            r#"["127.0.0.1:16379:6379"]"#,
            r#"["CMD-SHELL", "nc -zv 127.0.0.1 6379 || exit 1"]"#,
        )
        .unwrap();
        assert_eq!(c.port, Some(16379));
        let c = check(r#"["16379:6379"]"#, r#""nc -z localhost 16379""#).unwrap();
        assert_eq!(c.port, Some(16379));
        let e = format!(
            "{:#}",
            check(
                r#"["8080:80"]"#,
                r#"["CMD", "nc", "-z", "localhost", "6379"]"#
            )
            .unwrap_err()
        );
        assert!(e.contains("service `kv`") && e.contains("port 6379"), "{e}");
    }

    #[test]
    fn unsupported_keys_are_named() {
        let e = error("services:\n  web:\n    image: a\n    privileged: true\n");
        assert!(e.contains("`privileged` is not supported"), "{e}");
        let e = error(
            "services:\n  web:\n    image: a\n    deploy: {resources: {limits: {pids: 10}}}\n",
        );
        assert!(e.contains("deploy.resources.limits.pids"), "{e}");
        let e = error(
            "services:\n  web:\n    image: a\n    deploy: {resources: {limits: {cpus: 'lots'}}}\n",
        );
        assert!(e.contains("invalid CPU share `lots`"), "{e}");
        let e = error("services:\n  web:\n    image: a\n    x-skiff: {gpu: 1}\n");
        assert!(e.contains("`x-skiff.gpu`"), "{e}");
        let e = error("volumes: {db: {}}\nservices:\n  web:\n    image: a\n");
        assert!(e.contains("top-level key `volumes`"), "{e}");
        let e = error("services:\n  web:\n    image: a\n    volumes: ['db:/data']\n");
        assert!(e.contains("named volumes"), "{e}");
        let e = error(
            "services:\n  web:\n    image: a\n    volumes: [{type: volume, source: db, target: /data}]\n",
        );
        assert!(e.contains("type `volume` is not supported"), "{e}");
        let e = error(
            "services:\n  web:\n    image: a\n    volumes: [{type: bind, source: ./d, target: /d, bind: {propagation: rshared}}]\n",
        );
        assert!(e.contains("volume key `bind` is not supported"), "{e}");
        let e = error("services:\n  web:\n    image: a\n    volumes: [{type: bind, target: /d}]\n");
        assert!(e.contains("needs `source` and `target`"), "{e}");
    }

    /// The Compose Specification's long volume syntax, beside the short one.
    #[test]
    fn long_volume_syntax_binds_as_the_short_one() {
        let p = project(
            r#"
services:
  web:
    image: ./web.wasm
    volumes:
      - {type: bind, source: ./data, target: /data, read_only: true}
      - type: bind
        source: /var/cache/web
        target: /cache
      - ./logs:/logs
"#,
        )
        .unwrap();
        assert_eq!(
            p.services["web"].volumes,
            [
                "/srv/My Shop/data:/data:ro",
                "/var/cache/web:/cache",
                "/srv/My Shop/logs:/logs"
            ]
        );
    }

    #[test]
    fn dockers_wasm_keys_platform_and_runtime() {
        // Docker's Wasm compose files: `platform: wasi/wasm` is taken; `runtime` names a shim.
        assert!(project("services:\n  web:\n    image: a\n    platform: wasi/wasm\n").is_ok());
        let e = error("services:\n  web:\n    image: a\n    platform: linux/amd64\n");
        assert!(
            e.contains("`platform: linux/amd64` is not a WebAssembly platform"),
            "{e}"
        );
        let e = error("services:\n  web:\n    image: a\n    runtime: io.containerd.wasmedge.v1\n");
        assert!(e.contains("`runtime` is not supported"), "{e}");
        assert!(unsupported_hint("runtime").contains("Skiff is the runtime"));
    }

    #[test]
    fn cycles_and_missing_dependencies_are_refused() {
        let e = error(
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
        );
        assert!(e.contains("dependency cycle: a -> b -> c -> a"), "{e}");
        let e = error("services:\n  a: {image: x, depends_on: [nope]}\n");
        assert!(e.contains("`nope`"), "{e}");
    }

    #[test]
    fn other_tools_extensions_are_theirs_and_a_misspelt_x_skiff_is_refused() {
        let p =
            project("services:\n  a: {image: x, x-traefik: {port: 80}, x-skiff: {routes: [/a]}}\n");
        assert_eq!(p.unwrap().services["a"].x_skiff.routes, ["/a"]);
        let e = error("services:\n  a: {image: x, x-skif: {routes: [/a]}}\n");
        assert!(e.contains("unknown extension `x-skif`"), "{e}");
    }

    #[test]
    fn deploy_and_the_version_2_limits() {
        let p = project(
            "services:\n  a:\n    image: x\n    mem_limit: 64m\n    cpus: 0.5\n    deploy:\n      \
             replicas: 1\n      restart_policy: {condition: on-failure, max_attempts: 3}\n  \
             b:\n    image: x\n    deploy: {restart_policy: {}}\n",
        )
        .unwrap();
        let a = &p.services["a"];
        assert_eq!(
            (a.memory.as_deref(), a.cpus.as_deref()),
            (Some("64m"), Some("0.5"))
        );
        assert_eq!(a.restart.as_deref(), Some("on-failure:3"));
        assert_eq!(p.services["b"].restart.as_deref(), Some("always"));
        for (yaml, message) in [
            ("deploy: {replicas: 3}", "runs one app per service"),
            (
                "{mem_limit: 1g, deploy: {resources: {limits: {memory: 1g}}}}",
                "both limit",
            ),
            (
                "{restart: always, deploy: {restart_policy: {condition: any}}}",
                "both say when",
            ),
            (
                "deploy: {restart_policy: {delay: 5s}}",
                "`deploy.restart_policy.delay`",
            ),
            ("mem_limit: lots", "`mem_limit`"),
        ] {
            let body = match yaml.strip_prefix('{') {
                Some(inline) => format!("{{image: x, {}", inline),
                None => format!("{{image: x, {yaml}}}"),
            };
            let e = error(&format!("services:\n  a: {body}\n"));
            assert!(e.contains(message), "{yaml}: {e}");
        }
    }

    #[test]
    fn long_forms_of_ports_and_env_files() {
        let p = project(
            "services:\n  a:\n    image: x\n    ports:\n      - {target: 80, published: \"8080\", host_ip: 0.0.0.0}\n      \
             - {target: 9000}\n      - {target: 53, published: 5353, protocol: udp, mode: host, name: dns}\n      \
             - {target: 81, host_ip: \"::1\"}\n    env_file:\n      - {path: ./no-such.env, required: false}\n      \
             - {path: ./must.env}\n",
        )
        .unwrap();
        let a = &p.services["a"];
        assert_eq!(a.ports, ["0.0.0.0:8080", "9000", "5353/udp", "[::1]:81"]);
        assert_eq!(a.env_file, [PathBuf::from("/srv/My Shop/must.env")]);
        let e = error("services:\n  a:\n    image: x\n    ports: [{target: 80, ip: x}]\n");
        assert!(e.contains("`ports.ip` is not supported"), "{e}");
    }

    #[test]
    fn profiles_leave_services_out_until_enabled() {
        let yaml = "services:\n  app: {image: a}\n  debug: {image: d, profiles: [dev, debug]}\n  \
                    tools: {image: t, profiles: [tools], depends_on: [debug]}\n";
        let doc: Value = serde_saphyr::from_str(yaml).unwrap();
        let with = |profiles: &[&str]| {
            let options = LoadOptions {
                profiles: profiles.iter().map(|p| p.to_string()).collect(),
                ..LoadOptions::default()
            };
            parse(&doc, Path::new("/srv/p"), &options)
        };
        let services = |p: Project| p.services.keys().cloned().collect::<Vec<_>>();
        assert_eq!(services(with(&[]).unwrap()), ["app"]);
        assert_eq!(services(with(&["dev"]).unwrap()), ["app", "debug"]);
        assert_eq!(services(with(&["*"]).unwrap()), ["app", "debug", "tools"]);
        let e = format!("{:#}", with(&["tools"]).unwrap_err());
        assert!(
            e.contains("depends on `debug`, whose profiles (dev, debug)"),
            "{e}"
        );
        assert_eq!(with(&[]).unwrap().inactive["tools"], ["tools"]);
    }

    #[test]
    fn names_and_interpolation() {
        assert_eq!(normalise_project_name("My_App.v2"), "my_appv2");
        assert_eq!(normalise_project_name("-x"), "x");
        let lookup = |k: &str| (k == "TAG").then(|| "1.2".to_string());
        assert_eq!(
            interpolate_str("app:${TAG} ${NO:-d} $TAG $$HOME ${EMPTY-e}", &lookup).unwrap(),
            "app:1.2 d 1.2 $HOME e"
        );
        let e = interpolate_str("${X:?must be set}", &lookup)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`X` is required: must be set"), "{e}");
        assert!(interpolate_str("${TAG?no}", &lookup).is_ok());
        assert_eq!(
            interpolate_str("${TAG:+set} ${NO:+set}|${NO:-${TAG}-x}|${NO:-{a}}", &lookup).unwrap(),
            "set |1.2-x|{a}"
        );
        assert!(interpolate_str("${TAG:}", &lookup).is_err());
        assert!(interpolate_str("${TAG/x}", &lookup).is_err());
    }

    #[test]
    fn dotenv_files_read_as_compose_reads_them() {
        let environment = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let vars = read_dotenv(
            "# comment\n\nexport TAG=1.0\nA = plain value # note\nB='$TAG ${X}'\nC=\"x\\ny $TAG\"\nD=${HOME}/d\nE=\n",
            &environment,
        )
        .unwrap();
        assert_eq!(vars["TAG"], "1.0");
        assert_eq!(vars["A"], "plain value");
        assert_eq!(vars["B"], "$TAG ${X}");
        assert_eq!(vars["C"], "x\ny 1.0");
        assert_eq!(vars["D"], "/root/d");
        assert_eq!(vars["E"], "");
        assert!(read_dotenv("NOEQUALS\n", &environment).is_err());
        assert!(read_dotenv("A=\"open\n", &environment).is_err());
    }
}
