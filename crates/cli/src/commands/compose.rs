//! `skiff compose`: the services of a Compose file as apps of one daemon. Each service becomes
//! the same request `skiff run -d` sends ([`super::run::create_request`]), named
//! `PROJECT-SERVICE` and labelled with its project, its service and a hash of the request, so
//! `up` can leave an unchanged service alone and `down` removes exactly the project's apps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use sha2::{Digest as _, Sha256};
use skiff_api::{
    AppInfo, AppState, Client, CreateApp, HealthStatus, LogsQuery, PullPolicy, RestartPolicy,
};

use crate::compose::{Condition, Project, Service, Source};
use crate::display;
use crate::errors::user_error;
use crate::settings::{GlobalFlags, GrantFlags, LimitFlags};

/// The label naming an app's project.
pub const PROJECT_LABEL: &str = "skiff.compose.project";
/// The label naming an app's service.
pub const SERVICE_LABEL: &str = "skiff.compose.service";
/// The label holding the hash of the request an app was created from (and of its code).
pub const HASH_LABEL: &str = "skiff.compose.config-hash";
/// The label holding the Compose file an app was created from (`compose ls` shows it).
pub const FILE_LABEL: &str = "skiff.compose.config-file";
/// The label of an app `compose run` made: a one-off of its service, never its service's app.
pub const ONEOFF_LABEL: &str = "skiff.compose.oneoff";

/// Run the services of a Compose file (compose.yaml) as apps of the daemon (see docs/compose.md)
#[derive(Debug, Args)]
pub struct Compose {
    /// The Compose file [default: compose.yaml, compose.yml, docker-compose.yaml or
    /// docker-compose.yml in the current directory]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The project name; apps are named PROJECT-SERVICE [default: `name:` in the file, else the
    /// file's directory name, lowercased, keeping only a-z, 0-9, `_` and `-`]
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    project: Option<String>,
    /// The variables the file's `${VAR}`s may use, below the environment's [default: `.env` in
    /// the file's directory, if there is one]
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Enable the services of a profile (the file's `profiles`) besides those without one;
    /// repeatable; `*` enables them all [env: COMPOSE_PROFILES, comma-separated]
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Check the file and print it resolved (paths absolute, one form per key) as YAML
    #[command(alias = "convert")]
    Config {
        /// Only the service names, one per line, in start order
        #[arg(long)]
        services: bool,
        /// Only check the file: print nothing, exit 0 if it is valid
        #[arg(short = 'q', long, conflicts_with = "services")]
        quiet: bool,
    },
    /// Create or update the services' apps in dependency order; unchanged ones are left running
    Up(Up),
    /// Create the services' apps without starting them (`up --no-start`)
    Create {
        /// Build the images of services with `build:` even if they exist
        #[arg(long)]
        build: bool,
        /// Replace every service's app, also those whose file entry did not change
        #[arg(long)]
        force_recreate: bool,
        /// Only these services (and what they depend on) [default: all]
        services: Vec<String>,
    },
    /// List the project's apps: NAME SERVICE STATUS UPTIME PORTS
    Ps {
        /// Also the apps that ended or were stopped
        #[arg(short = 'a', long)]
        all: bool,
        /// Only the apps' names
        #[arg(short = 'q', long, conflicts_with_all = ["services", "format"])]
        quiet: bool,
        /// Only the services' names
        #[arg(long, conflicts_with = "format")]
        services: bool,
        /// Only the apps in this state: `running`, `serving`, `restarting`, `exited`,
        /// `created` or `paused` (repeatable; implies -a)
        #[arg(long, value_name = "STATE")]
        status: Vec<String>,
        /// `table`, `json`, or a Go template per app, as `skiff ps --format`
        #[arg(long, default_value = "table", value_parser = crate::template::format_flag(&["table", "json"]))]
        format: String,
    },
    /// The services' output, each line prefixed with its service
    Logs {
        /// Keep printing new lines until interrupted
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines of each service
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<usize>,
        #[command(flatten)]
        times: super::logs::Times,
        #[command(flatten)]
        shown: Shown,
        /// The services [default: all]
        services: Vec<String>,
    },
    /// Stop the services' apps (dependents first)
    Stop(Grace),
    /// Start the services' stopped apps (dependencies first)
    Start {
        /// The services [default: all]
        services: Vec<String>,
    },
    /// Stop, then start, the services' apps
    Restart(Grace),
    /// Kill the services' apps at once, with no grace period
    Kill {
        /// The services [default: all]
        services: Vec<String>,
    },
    /// Remove the services' apps that have ended or were stopped, with their logs
    Rm {
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
        /// Stop the running apps first (each within its grace period), so that they are
        /// removed too
        #[arg(short, long)]
        stop: bool,
        /// The services [default: all]
        services: Vec<String>,
    },
    /// Run a one-off command of a service in the daemon (its dependencies started first), show
    /// its output until it exits, and exit with its code, as `docker compose run` does
    Run(RunOnce),
    /// Show a service's app's output from now until it exits, then exit with its code
    Attach {
        /// The service
        service: String,
    },
    /// The address a service's port is published at (`ports: ["8081:80"]`: `port web 80`
    /// prints 127.0.0.1:8081)
    Port {
        /// `tcp` or `udp`
        #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp"])]
        protocol: String,
        /// The service
        service: String,
        /// The port, as the service's `ports` name it (the container side)
        port: u16,
    },
    /// The images (or files) the project's apps run: NAME SERVICE IMAGE DIGEST
    Images {
        /// The services [default: all]
        services: Vec<String>,
    },
    /// The events of the services' apps as they happen, one per line: AT SERVICE APP KIND
    /// DETAIL (`skiff events`)
    Events {
        /// One JSON object per line, with the service
        #[arg(long)]
        json: bool,
        /// The services [default: all]
        services: Vec<String>,
    },
    /// Block until the first of the services' apps ends, and exit with its code
    Wait {
        /// Then take the project down (`compose down`)
        #[arg(long)]
        down_project: bool,
        /// The services [default: all]
        services: Vec<String>,
    },
    /// The resource use of the project's running apps (`skiff stats`)
    Stats {
        /// Print the figures once and exit
        #[arg(long)]
        no_stream: bool,
        /// The services [default: all]
        services: Vec<String>,
    },
    #[command(hide = true)]
    Exec(super::unsupported::Unsupported),
    #[command(hide = true)]
    Cp(super::unsupported::Unsupported),
    #[command(hide = true)]
    Top(super::unsupported::Unsupported),
    /// Pause the services' running apps (`skiff pause`)
    Pause {
        /// The services [default: all]
        services: Vec<String>,
    },
    /// Unpause the services' paused apps
    Unpause {
        /// The services [default: all]
        services: Vec<String>,
    },
    #[command(hide = true)]
    Scale(super::unsupported::Unsupported),
    #[command(hide = true)]
    Watch(super::unsupported::Unsupported),
    /// Build the images of the services with `build:`
    Build {
        /// The services [default: all with `build:`]
        services: Vec<String>,
    },
    /// Pull the images of the services whose `image:` is a registry reference
    Pull {
        /// The services [default: all with an image reference]
        services: Vec<String>,
    },
    /// Print the version of `skiff compose` (Skiff's own)
    Version {
        /// Only the number
        #[arg(long)]
        short: bool,
    },
    /// List the projects that have apps in the daemon: NAME STATUS CONFIG FILE (no file needed)
    Ls {
        /// Also projects whose apps have all ended or were stopped
        #[arg(short = 'a', long)]
        all: bool,
        /// Only the project names, one per line
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Stop and remove the project's apps (all apps labelled with the project, also services no
    /// longer in the file)
    Down {
        /// Also remove images: `local` those built by `build:`, `all` every image the services use
        #[arg(long, value_name = "TYPE", value_parser = ["local", "all"])]
        rmi: Option<String>,
        /// Seconds to wait for an app to end before killing it [default: its
        /// `stop_grace_period`, else 10]
        #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
        time: Option<u64>,
        /// Taken, as `docker compose down -v`: a project has no volumes of its own to remove
        /// (its services' `volumes` are host directories, left as they are)
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Taken: `down` always removes the apps of services no longer in the file
        #[arg(long)]
        remove_orphans: bool,
    },
}

/// How the services' lines look, as `docker compose logs` and an attached `up` take it.
#[derive(Debug, Default, Args)]
struct Shown {
    /// The lines without their service's name in front
    #[arg(long)]
    no_log_prefix: bool,
    /// Taken, as `docker compose` has it: Skiff prints no colours
    #[arg(long)]
    no_color: bool,
}

/// Which of the services' lines `logs` shows, and how.
#[derive(Clone, Debug, Default)]
struct LogView {
    query: LogsQuery,
    /// Lines at or after this instant (RFC 3339) end a stream.
    until: Option<String>,
    timestamps: bool,
    /// Each line after its service's name.
    prefix: bool,
}

#[derive(Debug, Default, Args)]
struct Up {
    /// Detach: return once the apps are up [default: follow their logs; Ctrl-C stops them]
    #[arg(short = 'd', long)]
    detach: bool,
    /// Return once every service is running (serving, for an HTTP app) and healthy if it has a
    /// health check; an error names the first that is not (implies -d)
    #[arg(long)]
    wait: bool,
    /// With --wait: the most seconds to wait for all of them
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    wait_timeout: Option<u64>,
    /// Replace every service's app, also those whose file entry did not change
    #[arg(long)]
    force_recreate: bool,
    /// Build the images of services with `build:` even if they exist
    #[arg(long)]
    build: bool,
    /// Remove the project's apps whose service is no longer in the file
    #[arg(long)]
    remove_orphans: bool,
    /// Create the services' apps without starting them (`compose start` starts them)
    #[arg(long, conflicts_with_all = ["wait", "detach"])]
    no_start: bool,
    /// Pull the services' images first: `missing`, `always` or `never` [default: each
    /// service's `pull_policy`, else missing]
    #[arg(long, value_name = "POLICY")]
    pull: Option<PullPolicy>,
    /// Stop every app once one of them ends, and exit with its code (a test run: `up
    /// --abort-on-container-exit`)
    #[arg(long, conflicts_with_all = ["detach", "wait", "no_start"])]
    abort_on_container_exit: bool,
    /// Stop every app once one of them ends with a failure (a code other than 0), and exit with
    /// its code
    #[arg(long, conflicts_with_all = ["detach", "wait", "no_start"])]
    abort_on_container_failure: bool,
    /// Exit with this service's code; implies --abort-on-container-exit
    #[arg(long, value_name = "SERVICE", conflicts_with_all = ["detach", "wait", "no_start"])]
    exit_code_from: Option<String>,
    /// Only the services named, not what they depend on
    #[arg(long)]
    no_deps: bool,
    /// Leave the apps that exist as they are, also those whose file entry changed
    #[arg(long, conflicts_with = "force_recreate")]
    no_recreate: bool,
    /// Seconds a stop (attached: on Ctrl-C or an abort; a dependent restarted with its
    /// dependency) waits for an app to end [default: its `stop_grace_period`, else 10]
    #[arg(short = 't', long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Pull images without showing progress
    #[arg(long)]
    quiet_pull: bool,
    /// Attached: prefix each line with the time it was written
    #[arg(long)]
    timestamps: bool,
    /// Attached: show only these services' output (repeatable) [default: all]
    #[arg(long, value_name = "SERVICE")]
    attach: Vec<String>,
    /// Attached: do not show these services' output (repeatable)
    #[arg(long, value_name = "SERVICE")]
    no_attach: Vec<String>,
    #[command(flatten)]
    shown: Shown,
    /// Only these services (and what they depend on) [default: all]
    services: Vec<String>,
}

#[derive(Debug, Args)]
struct RunOnce {
    /// Detach: print the app's name and return
    #[arg(short = 'd', long)]
    detach: bool,
    /// Remove the app when it exits
    #[arg(long)]
    rm: bool,
    /// The app's name [default: PROJECT-SERVICE-run-RANDOM]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Set an environment variable, besides the service's (`KEY=VALUE`, or `KEY` to pass
    /// yours)
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Add a label (`KEY=VALUE`, or `KEY` for an empty value)
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]", value_parser = super::run::parse_label)]
    labels: Vec<(String, String)>,
    /// Grant a directory besides the service's volumes (`HOST:GUEST[:ro]`)
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro]")]
    volumes: Vec<String>,
    /// The working directory inside the app
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// Publish these ports (`[ADDR:]HOST[:CONTAINER]`) [default: none]
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    publish: Vec<String>,
    /// Publish the service's own ports and gateway routes (by default a one-off has none, so
    /// that it can run beside the service's app)
    #[arg(short = 'P', long)]
    service_ports: bool,
    /// Do not start the services it depends on
    #[arg(long)]
    no_deps: bool,
    /// Build the service's image first, even if it exists
    #[arg(long)]
    build: bool,
    /// Pull the service's image first: `missing`, `always` or `never` [default: its
    /// `pull_policy`, else missing]
    #[arg(long, value_name = "POLICY")]
    pull: Option<PullPolicy>,
    /// Taken for Docker's sake: Skiff allocates no terminal
    #[arg(short = 'T', long = "no-TTY", hide = true)]
    no_tty: bool,
    /// The service
    service: String,
    /// The command's arguments, in place of the service's `command`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
struct Grace {
    /// Seconds to wait for an app to end before killing it [default: its `stop_grace_period`,
    /// else 10]
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    time: Option<u64>,
    /// The services [default: all]
    services: Vec<String>,
}

impl Compose {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        // The projects are the daemon's: no file is read.
        match self.verb {
            Verb::Ls { all, quiet } => return ls(global, all, quiet),
            Verb::Version { short } => {
                let version = env!("CARGO_PKG_VERSION");
                match short {
                    true => println!("{version}"),
                    false => println!("skiff compose version {version}"),
                }
                return Ok(ExitCode::SUCCESS);
            }
            _ => {}
        }
        let file = crate::compose::find_file(self.file.as_deref())?;
        let mut profiles = self.profiles.clone();
        if let Ok(listed) = std::env::var("COMPOSE_PROFILES") {
            let listed = listed.split(',').map(str::trim).filter(|p| !p.is_empty());
            profiles.extend(listed.map(String::from));
        }
        let options = crate::compose::LoadOptions {
            project: self.project.as_deref(),
            env_file: self.env_file.as_deref(),
            profiles,
        };
        let project = crate::compose::load(&file, &options)?;
        match self.verb {
            Verb::Ls { .. } | Verb::Version { .. } => {
                unreachable!("answered before the file is read")
            }
            Verb::Config { quiet: true, .. } => Ok(ExitCode::SUCCESS),
            Verb::Config { services: true, .. } => {
                for service in project.start_order()? {
                    println!("{service}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Verb::Config { .. } => {
                let yaml = serde_saphyr::to_string(&project.to_value())
                    .map_err(|e| anyhow::anyhow!("cannot print the file as YAML: {e}"))?;
                print!("{yaml}");
                Ok(ExitCode::SUCCESS)
            }
            Verb::Up(up) => up.execute(global, &project, &file),
            Verb::Create {
                build,
                force_recreate,
                services,
            } => Up {
                force_recreate,
                build,
                no_start: true,
                services,
                ..Up::default()
            }
            .execute(global, &project, &file),
            Verb::Ps {
                all,
                quiet,
                services,
                status,
                format,
            } => {
                let filters: Vec<(String, String)> = status
                    .into_iter()
                    .map(|s| ("status".to_string(), s))
                    .collect();
                let filter = crate::filter::Apps::new(&filters)?;
                let mut apps = global.block_on(project_apps(&global.client(), &project.name))?;
                apps.retain(|app| {
                    (all || filter.lists_all() || app.state != AppState::Exited)
                        && filter.matches(app)
                });
                if quiet || services {
                    let names: std::collections::BTreeSet<&str> = apps
                        .iter()
                        .map(|app| {
                            if quiet {
                                app.name.as_str()
                            } else {
                                service_of(app)
                            }
                        })
                        .collect();
                    for name in names {
                        println!("{name}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                ps(&apps, &format)
            }
            Verb::Logs {
                follow,
                tail,
                times,
                shown,
                services,
            } => {
                let (since, until) = times.range()?;
                let view = LogView {
                    query: LogsQuery {
                        follow,
                        tail,
                        since,
                    },
                    until,
                    timestamps: times.timestamps,
                    prefix: !shown.no_log_prefix,
                };
                let apps = global.block_on(project_apps(&global.client(), &project.name))?;
                let apps = select(&project, apps, &services)?;
                global.block_on(logs(global, apps, &view))
            }
            Verb::Stop(grace) => each(global, &project, &grace.services, true, |client, app| {
                Box::pin(async move { client.stop(&app, grace.time).await.map(drop) })
            }),
            Verb::Start { services } => each(global, &project, &services, false, |client, app| {
                Box::pin(async move { client.start(&app).await.map(drop) })
            }),
            Verb::Restart(grace) => {
                each(global, &project, &grace.services, false, |client, app| {
                    Box::pin(async move { client.restart(&app, grace.time).await.map(drop) })
                })
            }
            Verb::Kill { services } => each(global, &project, &services, true, |client, app| {
                Box::pin(async move { client.stop(&app, Some(0)).await.map(drop) })
            }),
            Verb::Rm {
                force,
                stop,
                services,
            } => rm(global, &project, &services, force, stop),
            Verb::Run(once) => once.execute(global, &project, &file),
            Verb::Attach { service } => {
                let apps = global.block_on(project_apps(&global.client(), &project.name))?;
                let Some(app) = select(&project, apps, std::slice::from_ref(&service))?
                    .into_iter()
                    .find(|app| !app.labels.contains_key(ONEOFF_LABEL))
                else {
                    return Err(user_error(
                        format!("service `{service}` has no app"),
                        "start it with `skiff compose up -d`",
                    ));
                };
                let attach = super::attach::Attach::of(app.name);
                attach.execute(global)
            }
            Verb::Port {
                protocol,
                service,
                port,
            } => port_of(&project, &service, port, &protocol),
            Verb::Images { services } => images(global, &project, &services),
            Verb::Events { json, services } => events(global, &project, &services, json),
            Verb::Wait {
                down_project,
                services,
            } => {
                let code = wait_first(global, &project, &services)?;
                if down_project {
                    down(global, &project, None, None)?;
                }
                Ok(super::logs::exit_code(code))
            }
            Verb::Stats {
                no_stream,
                services,
            } => {
                let apps = global.block_on(project_apps(&global.client(), &project.name))?;
                let names = select(&project, apps, &services)?
                    .into_iter()
                    .filter(|app| app.state != AppState::Exited)
                    .map(|app| app.name)
                    .collect();
                super::stats::Stats::of(names, no_stream).execute(global)
            }
            Verb::Exec(c) => c.refuse("compose exec"),
            Verb::Cp(c) => c.refuse("compose cp"),
            Verb::Top(c) => c.refuse("compose top"),
            Verb::Pause { services } => each(global, &project, &services, false, |client, app| {
                Box::pin(async move { client.pause(&app, true).await.map(drop) })
            }),
            Verb::Unpause { services } => {
                each(global, &project, &services, false, |client, app| {
                    Box::pin(async move { client.pause(&app, false).await.map(drop) })
                })
            }
            Verb::Scale(c) => c.refuse("compose scale"),
            Verb::Watch(c) => c.refuse("compose watch"),
            Verb::Build { services } => {
                let store = global.image_store()?;
                for service in chosen(&project, &services)? {
                    let spec = &project.services[&service];
                    if let Source::Build { .. } = spec.source {
                        prepare_code(global, &store, spec, true, (PullPolicy::Missing, false))
                            .with_context(|| format!("service `{service}`"))?;
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Verb::Pull { services } => {
                let store = global.image_store()?;
                for service in chosen(&project, &services)? {
                    if let Source::Image(image) = &project.services[&service].source {
                        super::pull::pull(global, &store, image, false, false)
                            .with_context(|| format!("service `{service}`"))?;
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Verb::Down { rmi, time, .. } => down(global, &project, rmi.as_deref(), time),
        }
    }
}

/// The named services, or all of them, in start order.
fn chosen(project: &Project, services: &[String]) -> anyhow::Result<Vec<String>> {
    if let Some(unknown) = services.iter().find(|s| !project.services.contains_key(*s)) {
        return Err(no_such_service(project, unknown));
    }
    let mut order = project.start_order()?;
    order.retain(|s| services.is_empty() || services.contains(s));
    Ok(order)
}

/// `compose rm`: the selected apps that are not running (all of them, stopped first, with
/// `--stop`), after asking unless `force`.
fn rm(
    global: &GlobalFlags,
    project: &Project,
    services: &[String],
    force: bool,
    stop: bool,
) -> anyhow::Result<ExitCode> {
    let client = global.client();
    let apps = global.block_on(project_apps(&client, &project.name))?;
    let mut apps = select(project, apps, services)?;
    if stop {
        for app in apps.iter().filter(|a| a.state != AppState::Exited) {
            global
                .block_on(client.stop(&app.name, None))
                .with_context(|| format!("failed to stop `{}`", app.name))?;
        }
    } else {
        apps.retain(|app| app.state == AppState::Exited);
    }
    let names: Vec<String> = apps.into_iter().map(|app| app.name).collect();
    if names.is_empty() {
        println!("No stopped apps");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Going to remove {}", names.join(", "));
    if !force && !super::system::confirmed()? {
        return Ok(ExitCode::SUCCESS);
    }
    super::each_app(&names, |name| {
        global
            .block_on(client.remove(name, stop))
            .with_context(|| format!("failed to remove `{name}`"))
    })
}

/// `compose ls`: the projects the daemon's apps are labelled with, and how many of each
/// project's apps are in each state.
fn ls(global: &GlobalFlags, all: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    let apps = global
        .block_on(global.client().list(true))
        .context("failed to list the apps")?;
    let mut projects: BTreeMap<&str, (BTreeMap<String, usize>, Option<&str>)> = BTreeMap::new();
    for app in &apps {
        let Some(project) = app.labels.get(PROJECT_LABEL) else {
            continue;
        };
        let entry = projects.entry(project).or_default();
        *entry.0.entry(app.state.to_string()).or_default() += 1;
        entry.1 = entry.1.or(app.labels.get(FILE_LABEL).map(String::as_str));
    }
    let rows: Vec<Vec<String>> = projects
        .into_iter()
        .filter(|(_, (states, _))| all || states.keys().any(|state| state != "exited"))
        .map(|(name, (states, file))| {
            let status = states
                .iter()
                .map(|(state, n)| format!("{state}({n})"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![name.to_string(), status, file.unwrap_or("-").to_string()]
        })
        .collect();
    if quiet {
        for row in rows {
            println!("{}", row[0]);
        }
    } else {
        print!(
            "{}",
            crate::display::table(&["NAME", "STATUS", "CONFIG FILE"], &rows)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `compose port`: where the service's `ports` entry for the container side `port` is
/// published (a lone `PORT` is its own container side).
fn port_of(
    project: &Project,
    service: &str,
    port: u16,
    protocol: &str,
) -> anyhow::Result<ExitCode> {
    let Some(spec) = project.services.get(service) else {
        return Err(no_such_service(project, service));
    };
    for (entry, inside) in spec.ports.iter().zip(&spec.container_ports) {
        let (entry, is_udp) = match entry.strip_suffix("/udp") {
            Some(entry) => (entry, true),
            None => (entry.as_str(), false),
        };
        if *inside == port
            && is_udp == (protocol == "udp")
            && let Some(addr) = skiff_capabilities::parse_publish(entry)
        {
            println!("{addr}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    Err(user_error(
        format!("service `{service}` publishes no port {port}/{protocol}"),
        format!(
            "its ports are {}",
            match spec.ports.is_empty() {
                true => "none".to_string(),
                false => spec
                    .ports
                    .iter()
                    .zip(&spec.container_ports)
                    .map(|(published, inside)| format!("{inside} (published at {published})"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        ),
    ))
}

/// `compose events`: the daemon's events from now on, of the apps of the chosen services
/// (their own, and their one-offs), found by name, so apps created later are followed too.
fn events(
    global: &GlobalFlags,
    project: &Project,
    services: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let apps: Vec<(String, String)> = chosen(project, services)?
        .into_iter()
        .map(|service| (project.app_name(&service), service))
        .collect();
    let service_of_app = |app: &str| {
        apps.iter()
            .find(|(name, _)| {
                app == name
                    || app
                        .strip_prefix(name.as_str())
                        .is_some_and(|r| r.starts_with("-run-"))
            })
            .map(|(_, service)| service.clone())
    };
    let client = global.client();
    let mut stdout = std::io::stdout();
    // Only what happens from now on, as `docker compose events`.
    global
        .block_on(client.events_from_now(|event| {
            use std::io::Write as _;
            let Some(service) = service_of_app(&event.app) else {
                return true;
            };
            let written = if json {
                let mut value = serde_json::to_value(&event).expect("events serialize");
                value["service"] = service.into();
                writeln!(stdout, "{value}")
            } else {
                let (at, app, kind, detail) = (&event.at, &event.app, &event.kind, &event.detail);
                writeln!(stdout, "{at} {service} {app} {kind} {detail}")
            };
            written.and_then(|()| stdout.flush()).is_ok()
        }))
        .context("failed to follow the daemon's events")?;
    Ok(ExitCode::SUCCESS)
}

/// `compose wait`: the exit code of the first of the services' apps to end (an exit recorded
/// after the wait began, or one that had ended already).
fn wait_first(global: &GlobalFlags, project: &Project, services: &[String]) -> anyhow::Result<i32> {
    let client = global.client();
    let apps = global.block_on(project_apps(&client, &project.name))?;
    let apps: Vec<AppInfo> = select(project, apps, services)?
        .into_iter()
        .filter(|app| !app.labels.contains_key(ONEOFF_LABEL))
        .collect();
    if apps.is_empty() {
        return Err(user_error(
            "the services have no apps to wait for",
            "start them with `skiff compose up -d`",
        ));
    }
    let ends: Vec<_> = apps
        .iter()
        .map(|app| (super::wait::End::of(app), true))
        .collect();
    global
        .block_on(first_end(&client, &ends))
        .map(|(_, code)| code)
}

/// `compose images`: what each of the project's apps runs.
fn images(
    global: &GlobalFlags,
    project: &Project,
    services: &[String],
) -> anyhow::Result<ExitCode> {
    let apps = global.block_on(project_apps(&global.client(), &project.name))?;
    let rows: Vec<Vec<String>> = select(project, apps, services)?
        .iter()
        .map(|app| {
            vec![
                app.name.clone(),
                service_of(app).to_string(),
                app.source.clone(),
                app.digest[..app.digest.len().min(19)].to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        display::table(&["NAME", "SERVICE", "IMAGE", "DIGEST"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

/// The project's apps, found by their label, by service name.
async fn project_apps(client: &Client, project: &str) -> anyhow::Result<Vec<AppInfo>> {
    let mut apps = client.list(true).await.context("failed to list the apps")?;
    apps.retain(|app| app.labels.get(PROJECT_LABEL).map(String::as_str) == Some(project));
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

fn service_of(app: &AppInfo) -> &str {
    app.labels
        .get(SERVICE_LABEL)
        .map(String::as_str)
        .unwrap_or("")
}

/// The apps of the named services (all when none is named), in the file's start order.
fn select(
    project: &Project,
    apps: Vec<AppInfo>,
    services: &[String],
) -> anyhow::Result<Vec<AppInfo>> {
    for service in services {
        if !project.services.contains_key(service) {
            return Err(no_such_service(project, service));
        }
    }
    let order = project.start_order()?;
    let rank = |app: &AppInfo| order.iter().position(|s| s == service_of(app));
    let mut apps: Vec<AppInfo> = apps
        .into_iter()
        .filter(|app| services.is_empty() || services.iter().any(|s| s == service_of(app)))
        .collect();
    apps.sort_by_key(|app| (rank(app).unwrap_or(usize::MAX), app.name.clone()));
    Ok(apps)
}

fn no_such_service(project: &Project, service: &str) -> anyhow::Error {
    if let Some(profiles) = project.inactive.get(service) {
        return user_error(
            format!(
                "the service `{service}` is not enabled: it has the profiles {}",
                profiles.join(", ")
            ),
            format!(
                "enable it with `skiff compose --profile {} ...`",
                profiles[0]
            ),
        );
    }
    user_error(
        format!("no service `{service}` in the project `{}`", project.name),
        format!(
            "the services are {}",
            project
                .services
                .keys()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

type ClientFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), skiff_api::ClientError>>>>;

/// `stop`/`start`/`restart`: each selected app in start order (reversed for `stop`), as
/// `docker compose` does; a failure is reported and the rest still go.
fn each(
    global: &GlobalFlags,
    project: &Project,
    services: &[String],
    reverse: bool,
    action: impl Fn(Client, String) -> ClientFuture,
) -> anyhow::Result<ExitCode> {
    let apps = global.block_on(project_apps(&global.client(), &project.name))?;
    let mut apps = select(project, apps, services)?;
    if reverse {
        apps.reverse();
    }
    let names: Vec<String> = apps.into_iter().map(|app| app.name).collect();
    super::each_app(&names, |name| {
        global
            .block_on(action(global.client(), name.to_string()))
            .with_context(|| format!("failed on `{name}`"))
    })
}

impl Up {
    fn execute(
        self,
        global: &GlobalFlags,
        project: &Project,
        file: &std::path::Path,
    ) -> anyhow::Result<ExitCode> {
        // Attached, the output from here on, as Docker attaches before it starts a container.
        let began = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut order = wanted(project, &self.services)?;
        if self.no_deps && !self.services.is_empty() {
            order.retain(|service| self.services.contains(service));
        }
        // Everything that can fail without the daemon fails before anything starts: builds,
        // pulls, files, grants.
        let store = global.image_store()?;
        let mut plans = Vec::new();
        for service in &order {
            let spec = &project.services[service];
            let pull = self.pull.unwrap_or(spec.pull_policy);
            let code = prepare_code(global, &store, spec, self.build, (pull, self.quiet_pull))
                .with_context(|| format!("service `{service}`"))?;
            let mut request = request(project, service, spec, &code)
                .with_context(|| format!("service `{service}`"))?;
            request
                .labels
                .insert(FILE_LABEL.into(), file.display().to_string());
            // Not part of the hash: a later `up` starts the app it created, unchanged.
            request.no_start = self.no_start;
            plans.push((service.clone(), request));
        }
        let client = global.client();
        global.block_on(async {
            let existing = client
                .list(true)
                .await
                .context("failed to list the apps")?;
            let existing: BTreeMap<String, AppInfo> =
                existing.into_iter().map(|a| (a.name.clone(), a)).collect();
            for (_, request) in &plans {
                let name = request.name.as_deref().unwrap_or_default();
                if let Some(app) = existing.get(name)
                    && app.labels.get(PROJECT_LABEL) != Some(&project.name)
                {
                    return Err(user_error(
                        format!("an app named `{name}` exists and is not part of the project `{}`", project.name),
                        format!("remove it with `skiff rm -f {name}`, or choose another project name with `-p`"),
                    ));
                }
            }
            // The services whose app this `up` replaced, created or started.
            let mut changed = std::collections::BTreeSet::new();
            for (service, request) in &plans {
                // Nothing starts with `--no-start`: nothing to wait for.
                let waited = if self.no_start { None } else { Some(&project.services[service].depends_on) };
                // With `--no-deps`, a dependency not started here is not waited for.
                let waited = waited.into_iter().flatten().filter(|(dependency, _)| {
                    !self.no_deps || plans.iter().any(|(planned, _)| planned == *dependency)
                });
                for (dependency, condition) in waited {
                    wait_for(&client, &project.app_name(dependency), *condition)
                        .await
                        .with_context(|| {
                            format!("service `{service}` cannot start: it depends on `{dependency}`")
                        })?;
                }
                let name = request.name.clone().unwrap_or_default();
                // The service's app under an earlier `container_name`: replaced by this one.
                for renamed in existing.values().filter(|app| {
                    app.name != name
                        && app.labels.get(PROJECT_LABEL) == Some(&project.name)
                        && service_of(app) == service
                        && !app.labels.contains_key(ONEOFF_LABEL)
                }) {
                    client
                        .remove(&renamed.name, true)
                        .await
                        .with_context(|| format!("failed to remove the old `{}`", renamed.name))?;
                    eprintln!(" App {}  Removed", renamed.name);
                }
                let hash = &request.labels[HASH_LABEL];
                let done = match existing.get(&name) {
                    Some(app)
                        if (app.labels.get(HASH_LABEL) == Some(hash) || self.no_recreate)
                            && !self.force_recreate
                            && self.no_start =>
                    {
                        "Unchanged"
                    }
                    Some(app)
                        if (app.labels.get(HASH_LABEL) == Some(hash) || self.no_recreate)
                            && !self.force_recreate =>
                    {
                        // `depends_on: {X: {restart: true}}`: X was just replaced or started.
                        let spec = &project.services[service];
                        if let Some(dependency) =
                            spec.restart_with.iter().find(|d| changed.contains(*d))
                        {
                            client
                                .restart(&name, self.timeout)
                                .await
                                .with_context(|| format!("failed to restart `{name}`"))?;
                            eprintln!(" App {name}  Restarted (`{dependency}` changed)");
                            changed.insert(service.clone());
                            continue;
                        }
                        // An app that ended (or was stopped) runs again, as `docker compose up`
                        // starts an exited container.
                        if app.desired_running && app.state != AppState::Exited {
                            "Running"
                        } else {
                            client
                                .start(&name)
                                .await
                                .with_context(|| format!("failed to start `{name}`"))?;
                            "Started"
                        }
                    }
                    Some(_) => {
                        client
                            .remove(&name, true)
                            .await
                            .with_context(|| format!("failed to remove the old `{name}`"))?;
                        client
                            .create(request)
                            .await
                            .with_context(|| format!("failed to start service `{service}`"))?;
                        "Recreated"
                    }
                    None => {
                        client
                            .create(request)
                            .await
                            .with_context(|| format!("failed to start service `{service}`"))?;
                        "Created"
                    }
                };
                if done != "Running" && done != "Unchanged" {
                    changed.insert(service.clone());
                }
                eprintln!(" App {name}  {done}");
            }
            let orphans: Vec<&AppInfo> = existing
                .values()
                .filter(|app| {
                    app.labels.get(PROJECT_LABEL) == Some(&project.name)
                        && !project.services.contains_key(service_of(app))
                        && !project.inactive.contains_key(service_of(app))
                })
                .collect();
            for orphan in orphans {
                if self.remove_orphans {
                    client
                        .remove(&orphan.name, true)
                        .await
                        .with_context(|| format!("failed to remove `{}`", orphan.name))?;
                    eprintln!(" App {}  Removed", orphan.name);
                } else {
                    eprintln!(
                        "warning: `{}` belongs to the project but its service `{}` is no longer in the file; remove it with `skiff compose up --remove-orphans` or `skiff compose down`",
                        orphan.name,
                        service_of(orphan)
                    );
                }
            }
            anyhow::Ok(())
        })?;
        if self.wait {
            let all = async {
                for (service, request) in &plans {
                    let name = request.name.as_deref().unwrap_or_default();
                    wait_for(&client, name, Condition::Healthy)
                        .await
                        .with_context(|| format!("service `{service}` is not up"))?;
                }
                anyhow::Ok(())
            };
            let limit = self.wait_timeout.map_or(Duration::MAX, Duration::from_secs);
            return match global.block_on(async { tokio::time::timeout(limit, all).await }) {
                Ok(done) => done.map(|()| ExitCode::SUCCESS),
                Err(_) => Err(user_error(
                    format!(
                        "the services were not all up within {}",
                        humantime::format_duration(limit)
                    ),
                    "see `skiff compose ps` and `skiff compose logs`",
                )),
            };
        }
        if self.detach || self.no_start {
            return Ok(ExitCode::SUCCESS);
        }
        // Attached, as `docker compose up`: the services' output until they have all ended or
        // Ctrl-C, then stop them; with `--abort-on-container-exit` (or `-failure`), until the
        // first one ends (with a failure).
        let apps = global.block_on(project_apps(&client, &project.name))?;
        let apps: Vec<AppInfo> = select(project, apps, &self.services)?
            .into_iter()
            .filter(|app| !app.labels.contains_key(ONEOFF_LABEL))
            .collect();
        let code_from = match &self.exit_code_from {
            Some(service) => match apps.iter().find(|app| service_of(app) == service) {
                Some(app) => Some(app.name.clone()),
                None => return Err(no_such_service(project, service)),
            },
            None => None,
        };
        let abort = self.abort_on_container_exit || code_from.is_some();
        let watched = abort || self.abort_on_container_failure;
        // A service another waits for to complete is meant to end: its success ends nothing.
        let completes = |app: &AppInfo| {
            project.services.values().any(|other| {
                other.depends_on.get(service_of(app)) == Some(&Condition::CompletedSuccessfully)
            })
        };
        let ends: Vec<(super::wait::End, bool)> = apps
            .iter()
            .map(|app| (super::wait::End::of(app), abort && !completes(app)))
            .collect();
        let names: Vec<String> = apps.iter().rev().map(|a| a.name.clone()).collect();
        let code = global.block_on(async {
            let view = LogView {
                query: LogsQuery {
                    follow: true,
                    since: Some(began),
                    ..LogsQuery::default()
                },
                until: None,
                timestamps: self.timestamps,
                prefix: !self.shown.no_log_prefix,
            };
            let shown: Vec<AppInfo> = apps
                .into_iter()
                .filter(|app| {
                    let service = service_of(app).to_string();
                    (self.attach.is_empty() || self.attach.contains(&service))
                        && !self.no_attach.contains(&service)
                })
                .collect();
            // With no output to show, until Ctrl-C (or an abort).
            let showing = !shown.is_empty();
            let output = logs(global, shown, &view);
            tokio::pin!(output);
            let ended = tokio::select! {
                result = &mut output, if showing => return result.map(|_| None),
                _ = tokio::signal::ctrl_c() => None,
                ended = first_end(&client, &ends), if watched => Some(ended?),
            };
            if let Some((name, code)) = &ended {
                eprintln!("{name} exited with code {code}");
                eprintln!("Aborting on container exit...");
            }
            // The others' last lines are still shown while they stop.
            let stopping = async {
                eprintln!("Stopping...");
                for name in &names {
                    client
                        .stop(name, self.timeout)
                        .await
                        .with_context(|| format!("failed to stop `{name}`"))?;
                }
                anyhow::Ok(())
            };
            if showing {
                let (shown, stopped) = tokio::join!(output, stopping);
                shown.and(stopped)?;
            } else {
                stopping.await?;
            }
            anyhow::Ok(ended.map(|(_, code)| code))
        })?;
        let code = match &code_from {
            Some(name) => Some(
                global
                    .block_on(super::wait::app_or_exit(&client, name))?
                    .map_or_else(|code| code, |app| app.exits.last().map_or(0, |e| e.code)),
            ),
            None => code,
        };
        Ok(code.map_or(ExitCode::SUCCESS, super::logs::exit_code))
    }
}

/// The first of the apps to end (with a code other than 0 unless its `any` is set): its name
/// and code.
async fn first_end(
    client: &Client,
    ends: &[(super::wait::End, bool)],
) -> anyhow::Result<(String, i32)> {
    loop {
        for (end, any) in ends {
            let code = end
                .code(client)
                .await
                .with_context(|| format!("failed to wait for `{}`", end.name()))?;
            if let Some(code) = code.filter(|code| *any || *code != 0) {
                return Ok((end.name().to_string(), code));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl RunOnce {
    fn execute(
        self,
        global: &GlobalFlags,
        project: &Project,
        file: &std::path::Path,
    ) -> anyhow::Result<ExitCode> {
        let Some(spec) = project.services.get(&self.service) else {
            return Err(no_such_service(project, &self.service));
        };
        if let Some((key, _)) = self
            .labels
            .iter()
            .find(|(k, _)| k.starts_with("skiff.compose."))
        {
            return Err(user_error(
                format!("the label `{key}` is Skiff's own"),
                "choose a key outside `skiff.compose.`",
            ));
        }
        // The service as this run changes it: its command, more grants, no restart policy, and
        // none of its ports or routes unless asked (they are its app's).
        let mut spec = spec.clone();
        if !self.command.is_empty() {
            spec.command = Some(self.command.clone());
        }
        spec.environment.extend(self.env.iter().cloned());
        spec.volumes.extend(self.volumes.iter().cloned());
        if self.workdir.is_some() {
            spec.working_dir = self.workdir.clone();
        }
        if !self.service_ports {
            spec.ports.clear();
            spec.x_skiff.routes.clear();
        }
        spec.ports.extend(self.publish.iter().cloned());
        spec.restart = None;
        let store = global.image_store()?;
        let pull = self.pull.unwrap_or(spec.pull_policy);
        let code = prepare_code(global, &store, &spec, self.build, (pull, false))
            .with_context(|| format!("service `{}`", self.service))?;
        let mut request = request(project, &self.service, &spec, &code)
            .with_context(|| format!("service `{}`", self.service))?;
        let name = self.name.clone().unwrap_or_else(|| {
            use std::hash::{BuildHasher as _, Hasher as _};
            let random = std::hash::RandomState::new().build_hasher().finish();
            format!(
                "{}-run-{:012x}",
                project.app_name(&self.service),
                random >> 16
            )
        });
        request.name = Some(name.clone());
        request.labels.extend(self.labels.iter().cloned());
        request.labels.extend([
            (FILE_LABEL.to_string(), file.display().to_string()),
            (ONEOFF_LABEL.to_string(), "true".to_string()),
        ]);
        request.auto_remove = self.rm && self.detach;

        if !self.no_deps {
            let dependencies: Vec<String> = wanted(project, std::slice::from_ref(&self.service))?
                .into_iter()
                .filter(|s| *s != self.service)
                .collect();
            if !dependencies.is_empty() {
                let up = Up {
                    detach: true,
                    build: self.build,
                    pull: self.pull,
                    services: dependencies,
                    ..Up::default()
                };
                let status = up.execute(global, project, file)?;
                if status != ExitCode::SUCCESS {
                    return Ok(status);
                }
            }
        }
        let client = global.client();
        global.block_on(async {
            let waited = if self.no_deps {
                None
            } else {
                Some(&spec.depends_on)
            };
            for (dependency, condition) in waited.into_iter().flatten() {
                wait_for(&client, &project.app_name(dependency), *condition)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot run `{}`: it depends on `{dependency}`",
                            self.service
                        )
                    })?;
            }
            client
                .create(&request)
                .await
                .with_context(|| format!("failed to run service `{}`", self.service))
        })?;
        if self.detach {
            println!("{name}");
            return Ok(ExitCode::SUCCESS);
        }
        // Attached, as `docker compose run`: its output until it exits (Ctrl-C stops it), then
        // its exit code.
        let code = super::logs::attach(global, &name, None)?;
        if self.rm {
            global
                .block_on(client.remove(&name, true))
                .with_context(|| format!("failed to remove `{name}`"))?;
        }
        Ok(super::logs::exit_code(code))
    }
}

/// The services to bring up in start order: all, or the named ones and what they depend on.
fn wanted(project: &Project, services: &[String]) -> anyhow::Result<Vec<String>> {
    let order = project.start_order()?;
    if services.is_empty() {
        return Ok(order);
    }
    let mut needed = std::collections::BTreeSet::new();
    let mut stack: Vec<String> = services.to_vec();
    while let Some(service) = stack.pop() {
        let spec = project
            .services
            .get(&service)
            .ok_or_else(|| no_such_service(project, &service))?;
        if needed.insert(service.clone()) {
            stack.extend(spec.depends_on.keys().cloned());
        }
    }
    Ok(order.into_iter().filter(|s| needed.contains(s)).collect())
}

/// The service's code made available: a built image (built if missing or `--build`), a pulled
/// one (as `pull` says), or a file. Returns what identifies the code (its digest), part of the
/// request's hash.
fn prepare_code(
    global: &GlobalFlags,
    store: &skiff_image::Store,
    service: &Service,
    force_build: bool,
    (pull, quiet): (PullPolicy, bool),
) -> anyhow::Result<String> {
    match &service.source {
        Source::File(file) => {
            let bytes = std::fs::read(file)
                .with_context(|| format!("cannot read `{}` (its `image:`)", file.display()))?;
            Ok(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
        }
        Source::Image(image) => super::pull::by_policy(global, store, image, (pull, quiet), || {
            user_error(
                format!("no image `{image}` in the local store, and its pull policy is `never`"),
                "pull it first with `skiff compose pull`, or change `pull_policy` or `--pull`",
            )
        }),
        Source::Build { context, tag } => {
            if !force_build && let Some((_, digest)) = skiff_image::resolve_local(store, tag)? {
                return Ok(digest);
            }
            // A directory with a `skiff.toml`, or a Spin app's `spin.toml` (as `skiff build`).
            let manifest = context.join(skiff_manifest::FILE_NAME);
            let spin = context.join("spin.toml");
            let built = if !manifest.exists() && spin.exists() {
                skiff_image::build_spin(store, &spin, Some(tag), true)
            } else {
                skiff_image::build(store, &manifest, Some(tag))
            }
            .with_context(|| format!("failed to build `{}`", context.display()))?;
            eprintln!("Built {tag} ({})", built.digest);
            Ok(built.digest)
        }
    }
}

/// The daemon's request for a service, built by `run -d`'s own function from the same flag
/// structs, and labelled.
fn request(
    project: &Project,
    service: &str,
    spec: &Service,
    code: &str,
) -> anyhow::Result<CreateApp> {
    let target = match &spec.source {
        Source::Image(image) => image.clone(),
        Source::File(file) => file.display().to_string(),
        Source::Build { tag, .. } => tag.clone(),
    };
    let mut app_and_args = vec![target];
    app_and_args.extend(spec.command.iter().flatten().cloned());
    let grants = GrantFlags {
        env: spec.environment.clone(),
        env_file: spec.env_file.clone(),
        volumes: spec
            .volumes
            .iter()
            .map(|v| v.parse())
            .collect::<Result<_, _>>()?,
        dirs: Vec::new(),
        mounts: Vec::new(),
        network: spec
            .x_skiff
            .network
            .as_deref()
            .map(str::parse)
            .transpose()?,
        workdir: spec.working_dir.clone(),
        config: Vec::new(),
        keyvalue: Vec::new(),
        nn: None,
        sockets: Default::default(),
        workdir_unchecked: false,
    };
    let parse_duration = |d: &Option<String>| -> anyhow::Result<Option<Duration>> {
        Ok(d.as_deref()
            .map(skiff_capabilities::parse_duration)
            .transpose()?)
    };
    let limits = LimitFlags {
        memory: spec.memory.as_deref().map(str::parse).transpose()?,
        cpu_time: parse_duration(&spec.x_skiff.cpu_time)?,
        timeout: parse_duration(&spec.x_skiff.timeout)?,
        cpus: spec.cpus.as_deref().map(str::parse).transpose()?,
    };
    let restart: RestartPolicy = match &spec.restart {
        Some(policy) => policy.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        None => RestartPolicy::No,
    };
    let mut http_limits = skiff_api::HttpLimits::default();
    if let Some(n) = spec.x_skiff.max_concurrency {
        http_limits.max_concurrency = n;
    }
    let http = skiff_api::HttpConfig {
        ports: spec.ports.clone(),
        routes: spec.x_skiff.routes.clone(),
        limits: http_limits,
        spin_route: None,
        spin_component: None,
        spin_calls: Vec::new(),
    };
    let mut request = super::run::create_request(
        Some(project.app_name(service)),
        &app_and_args,
        &grants,
        &limits,
        restart,
        http,
    )?;
    request.links = project.links(service);
    request.health = spec.healthcheck.clone();
    request.labels = spec.labels.clone();
    request.stop_timeout = spec.stop_grace_period;
    let edges = project.edge_ports(service);
    if !edges.is_empty() {
        let edges = skiff_capabilities::NetworkPolicy::Allow(edges);
        request.grants.network = request.grants.network.union(&edges);
    }
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&request).expect("requests serialize"));
    hasher.update(code.as_bytes());
    request.labels.extend([
        (PROJECT_LABEL.to_string(), project.name.clone()),
        (SERVICE_LABEL.to_string(), service.to_string()),
        (HASH_LABEL.to_string(), hex::encode(hasher.finalize())),
    ]);
    Ok(request)
}

/// Waits until the dependency's app meets the condition: started (it exists and was started),
/// healthy (its health check passed; without one, an HTTP app serving, a command app running),
/// or completed successfully (exited 0).
async fn wait_for(client: &Client, app: &str, condition: Condition) -> anyhow::Result<()> {
    let mut deadline = None;
    loop {
        let info = client
            .get(app)
            .await
            .with_context(|| format!("cannot read the state of `{app}`"))?;
        let last_exit = info.exits.last();
        // Long enough for the check to pass or fail `retries` times after the start period,
        // and never less than a minute.
        let patience = info.health.as_ref().map_or(Duration::ZERO, |h| {
            let c = &h.check;
            Duration::from_millis(
                c.start_period_ms.saturating_add(
                    c.interval_ms
                        .saturating_add(c.timeout_ms)
                        .saturating_mul(u64::from(c.retries) + 1),
                ),
            )
        });
        let deadline =
            *deadline.get_or_insert_with(|| Instant::now() + patience.max(Duration::from_secs(60)));
        match condition {
            Condition::Started => return Ok(()),
            Condition::Healthy => match (info.state, &info.health) {
                (AppState::Serving | AppState::Running, None) => return Ok(()),
                (AppState::Serving | AppState::Running, Some(health)) => match health.status {
                    HealthStatus::Healthy => return Ok(()),
                    HealthStatus::Unhealthy => {
                        return Err(user_error(
                            format!(
                                "`{app}` is unhealthy: {}",
                                health.last_failure.as_deref().unwrap_or("its check failed")
                            ),
                            format!(
                                "its check is `{}`; see `skiff inspect {app}` and `skiff logs {app}`",
                                health.check.target()
                            ),
                        ));
                    }
                    HealthStatus::Starting if Instant::now() > deadline => {
                        let why = match &health.last_failure {
                            Some(reason) => format!("; its last check failed: {reason}"),
                            None => "; no check has ended yet".to_string(),
                        };
                        return Err(user_error(
                            format!(
                                "`{app}` did not become healthy within {}{why}",
                                humantime::format_duration(patience.max(Duration::from_secs(60)))
                            ),
                            format!(
                                "its check is `{}`; see `skiff inspect {app}` and `skiff logs {app}`",
                                health.check.target()
                            ),
                        ));
                    }
                    HealthStatus::Starting => {}
                },
                (AppState::Exited, _) => {
                    return Err(user_error(
                        format!(
                            "`{app}` exited ({}) instead of becoming healthy",
                            last_exit.map(|e| e.reason.as_str()).unwrap_or("no run")
                        ),
                        format!("see its output with `skiff logs {app}`"),
                    ));
                }
                (AppState::Restarting, _) => {}
            },
            Condition::CompletedSuccessfully => {
                if info.state == AppState::Exited {
                    return match last_exit {
                        Some(exit) if exit.code == 0 => Ok(()),
                        exit => Err(user_error(
                            format!(
                                "`{app}` did not complete successfully (exit {})",
                                exit.map(|e| e.code.to_string()).unwrap_or("none".into())
                            ),
                            format!("see its output with `skiff logs {app}`"),
                        )),
                    };
                }
                if info.http.is_some() {
                    return Err(user_error(
                        format!("`{app}` is an HTTP app: it never completes"),
                        "use `condition: service_started` or `service_healthy` for it",
                    ));
                }
            }
        }
        // A one-shot dependency (a migration) may take its time; a health check should not.
        if condition == Condition::Healthy && Instant::now() > deadline {
            anyhow::bail!("`{app}` did not become healthy within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ps(apps: &[AppInfo], format: &str) -> anyhow::Result<ExitCode> {
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(apps)?);
        return Ok(ExitCode::SUCCESS);
    }
    if format != "table" {
        let rows: Vec<serde_json::Value> = apps
            .iter()
            .map(|app| {
                let mut row = super::ps::row(app)?;
                if let Some(fields) = row.as_object_mut() {
                    fields.insert("Service".into(), service_of(app).into());
                }
                Ok(row)
            })
            .collect::<serde_json::Result<_>>()?;
        print!(
            "{}",
            crate::template::Template::parse(format)?.render_all(&rows)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|app| {
            vec![
                app.name.clone(),
                service_of(app).to_string(),
                display::status(app),
                display::uptime(app),
                display::published(app),
            ]
        })
        .collect();
    print!(
        "{}",
        display::table(&["NAME", "SERVICE", "STATUS", "UPTIME", "PORTS"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

/// The apps' output, each line prefixed with its service; stdout lines on stdout, stderr on
/// stderr. Without `follow`, each app's lines in turn; with it, all at once until interrupted.
async fn logs(
    global: &GlobalFlags,
    apps: Vec<AppInfo>,
    view: &LogView,
) -> anyhow::Result<ExitCode> {
    let width = apps.iter().map(|a| service_of(a).len()).max().unwrap_or(0);
    let streams = apps.iter().map(|app| {
        let client = global.client();
        let prefix = match view.prefix {
            true => format!("{:width$} | ", service_of(app)),
            false => String::new(),
        };
        let name = app.name.clone();
        let view = view.clone();
        async move {
            client
                .logs(&name, &view.query, |line| {
                    // Both RFC 3339 in UTC with nanoseconds: their order is their text's.
                    if view.until.as_ref().is_some_and(|until| line.at >= *until) {
                        return false;
                    }
                    match view.timestamps {
                        true => super::logs::print_line(&format!("{prefix}{} ", line.at), &line),
                        false => super::logs::print_line(&prefix, &line),
                    }
                })
                .await
                .with_context(|| format!("failed to read the logs of `{name}`"))
        }
    });
    if view.query.follow {
        let mut set = tokio::task::JoinSet::new();
        let local = tokio::task::LocalSet::new();
        for stream in streams {
            set.spawn_local_on(stream, &local);
        }
        local
            .run_until(async {
                while let Some(done) = set.join_next().await {
                    done.context("a log stream failed")??;
                }
                anyhow::Ok(())
            })
            .await?;
    } else {
        for stream in streams {
            stream.await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn down(
    global: &GlobalFlags,
    project: &Project,
    rmi: Option<&str>,
    time: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let client = global.client();
    let apps = global.block_on(project_apps(&client, &project.name))?;
    let order = project.start_order()?;
    let mut apps = apps;
    // Dependents first; apps of services no longer in the file last.
    apps.sort_by_key(|app| {
        std::cmp::Reverse(
            order
                .iter()
                .position(|s| s == service_of(app))
                .map(|p| p + 1)
                .unwrap_or(0),
        )
    });
    let names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
    let status = super::each_app(&names, |name| {
        global.block_on(async {
            // Gracefully first; an app that already ended has nothing to stop.
            let _ = client.stop(name, time).await;
            client
                .remove(name, true)
                .await
                .with_context(|| format!("failed to remove `{name}`"))
        })
    })?;
    if let Some(rmi) = rmi {
        let store = global.image_store()?;
        for service in project.services.values() {
            let image = match (&service.source, rmi) {
                (Source::Build { tag, .. }, _) => tag,
                (Source::Image(image), "all") => image,
                _ => continue,
            };
            match skiff_image::resolve_local(&store, image)? {
                Some((name, _)) => {
                    store.remove_ref(&name)?;
                    println!("Untagged: {}", skiff_image::display_name(&name));
                }
                None => continue,
            }
        }
        store.prune()?;
    }
    Ok(status)
}
