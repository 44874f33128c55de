//! `skiff inspect`: an image's manifest, config, layers, grants and limits; or, when no local
//! image has the name, a daemon app's resolved grants, limits, state and exit history.

use std::process::ExitCode;

use clap::Args;
use skiff_api::{AppInfo, ClientError};
use skiff_capabilities::{Limits, NetworkPolicy};
use skiff_image::Image;

use crate::errors::user_error;
use crate::settings::GlobalFlags;
use crate::template::Template;

/// Show an image (manifest, config, layers, the grants and limits it asks for) or, if no local
/// image has that name, an app of the daemon (resolved grants, limits, state, exit history)
#[derive(Debug, Args)]
pub struct Inspect {
    /// Output format: `human`, `json`, or a Go template over the JSON, as Docker's
    /// (`'{{.State}}'`, `'{{json .Limits}}'`, `'{{index .Labels "team"}}'`)
    #[arg(short = 'f', long, default_value = "human", value_parser = crate::template::format_flag(&["human", "json"]))]
    format: String,
    /// Look only for an image or only for an app [default: an image, then an app]
    #[arg(long = "type", value_name = "TYPE", value_parser = ["image", "app"])]
    kind: Option<String>,
    /// Image name or digest (prefix), or app name
    #[arg(value_name = "IMAGE|APP")]
    name: String,
}

impl Inspect {
    /// As `docker image inspect`: a name that no local image has is an error, not an app.
    pub fn images_only(mut self) -> Self {
        self.kind = Some("image".to_string());
        self
    }

    pub fn apps_only(mut self) -> Self {
        self.kind = Some("app".to_string());
        self
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let image = match self.kind.as_deref() {
            Some("app") => None,
            Some(_) => Some(crate::commands::pull::find_local(&store, &self.name)?),
            None => skiff_image::resolve_local(&store, &self.name)?,
        };
        let Some((name, digest)) = image else {
            return self.app(global);
        };
        // A Spin app of several components is an image per component, of one manifest.
        let images = Image::components(&store, &digest)?;
        let image = &images[0];
        let size = image.size(&store);
        if self.format != "human" {
            let json = serde_json::json!({
                "name": skiff_image::display_name(&name),
                "digest": digest,
                "size": size,
                "manifest": image.manifest,
                "config": image.config,
                "app": image.app,
            });
            print_json(&self.format, &json)?;
            return Ok(ExitCode::SUCCESS);
        }
        println!("Name:     {}", skiff_image::display_name(&name));
        println!("Digest:   {digest}");
        println!("Size:     {}", skiff_capabilities::ByteSize(size));
        println!(
            "Config:   {} (os: {})",
            image.manifest.config.media_type,
            image.os().unwrap_or("?")
        );
        println!("Layers:");
        for layer in &image.manifest.layers {
            println!(
                "  {}  {:>10}  {}",
                layer.digest,
                skiff_capabilities::ByteSize(layer.size.max(0) as u64).to_string(),
                layer.media_type
            );
        }
        let Some(app) = &image.app else {
            // Another tool's image: what a run takes from its OCI config, as `docker run` does.
            for image in &images {
                let mut defaults = image.defaults(&store)?;
                if let Some(component) = defaults.spin() {
                    println!("Component: {component}");
                }
                defaults.app.args = defaults.args(None);
                print_defaults(&defaults.app);
                // A Spin app's files, `wasi:config` values and outbound hosts.
                for file in &defaults.files {
                    println!("Files:    {} (read-only)", file.guest);
                }
                for (key, value) in defaults.config() {
                    println!("Config:   {key}={value}");
                }
                let stores = defaults.spin_stores();
                if !stores.is_empty() {
                    println!("Stores:   {} (Spin key-value)", stores.join(", "));
                }
                let databases = defaults.spin_databases();
                if !databases.is_empty() {
                    println!("Databases: {} (Spin SQLite)", databases.join(", "));
                }
                for channel in defaults.redis_channels() {
                    println!(
                        "Trigger:  Redis channel `{}` of {}",
                        channel.channel,
                        channel.server()
                    );
                }
                if defaults.app.network != NetworkPolicy::None {
                    println!(
                        "Network:  {} (applies with `--network image`)",
                        defaults.app.network
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        };
        println!("App:      {} {} ({})", app.name, app.version, app.kind);
        if let Some(description) = &app.description {
            println!("          {description}");
        }
        print_defaults(app);
        for file in &app.files {
            println!("Files:    {} (read-only)", file.destination);
        }
        for volume in &app.volumes {
            println!("Volume:   {volume} (grant with -v HOST_DIR:{volume})");
        }
        match &app.network {
            NetworkPolicy::None => println!("Network:  none"),
            // Declared, not granted: it applies when the user accepts it.
            declared => println!("Network:  {declared} (applies with `--network image`)"),
        }
        println!("Limits:   {}", limits(&app.limits));
        Ok(ExitCode::SUCCESS)
    }

    fn app(&self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let app = match global.block_on(global.client().get(&self.name)) {
            Ok(app) => app,
            Err(ClientError::Api(e)) if self.kind.is_none() => {
                return Err(user_error(
                    format!(
                        "no image `{}` in the local store, and no such app in the daemon: {}",
                        self.name, e.message
                    ),
                    "list the images with `skiff images` and the apps with `skiff ps -a`",
                ));
            }
            Err(e @ ClientError::NoDaemon { .. }) if self.kind.is_none() => {
                return Err(anyhow::Error::new(e).context(format!(
                    "no image `{}` in the local store, and no daemon to ask for an app of that name",
                    self.name
                )));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("failed to inspect the app `{}`", self.name)));
            }
        };
        if self.format != "human" {
            print_json(&self.format, &serde_json::to_value(&app)?)?;
        } else {
            print!("{}", describe(&app));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `json` pretty-printed, or the template's rendering of it.
fn print_json(format: &str, value: &serde_json::Value) -> anyhow::Result<()> {
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!(
            "{}",
            Template::parse(format)?.render_all(std::slice::from_ref(value))?
        );
    }
    Ok(())
}

/// What a run of an image gets unless its flags say otherwise: arguments, environment, and
/// working directory (which applies where the run mounts a directory at or above it).
fn print_defaults(app: &skiff_manifest::AppConfig) {
    if !app.args.is_empty() {
        println!("Args:     {:?}", app.args);
    }
    for (key, value) in &app.env {
        println!("Env:      {key}={value}");
    }
    if let Some(workdir) = &app.workdir {
        println!("Workdir:  {workdir}");
    }
}

/// The human form of an app: what it is, what it may do, and how its runs went.
fn describe(app: &AppInfo) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{:9} {value}", format!("{label}:"));
    };
    line("Name", &app.name);
    line("Source", &app.source);
    line("Digest", &app.digest);
    if !app.args.is_empty() {
        line("Args", &format!("{:?}", app.args));
    }
    let mut state = crate::display::status(app);
    if let (Some(started), true) = (&app.started_at, crate::display::is_live(app)) {
        let _ = write!(
            state,
            " since {started} (up {})",
            crate::display::uptime(app)
        );
    }
    if !app.desired_running
        && app.state != skiff_api::AppState::Running
        && !crate::display::is_created(app)
    {
        state.push_str(", stopped by the user");
    }
    line("State", &state);
    line("Created", &app.created);
    line(
        "Restart",
        &format!("{} ({} restarts so far)", app.restart, app.restarts),
    );
    for (key, value) in app.grants.effective_env() {
        line("Env", &format!("{key}={value}"));
    }
    for dir in &app.grants.dirs {
        let mode = if dir.read_only {
            "read-only"
        } else {
            "read-write"
        };
        line(
            "Dir",
            &format!("{} -> {} ({mode})", dir.host.display(), dir.guest),
        );
    }
    if let Some(workdir) = &app.grants.workdir {
        line("Workdir", workdir);
    }
    if let Some(nn) = &app.grants.nn {
        let graphs: Vec<String> = nn
            .graphs
            .iter()
            .map(|g| format!("{} {}", g.encoding, g.dir.display()))
            .collect();
        line(
            "Nn",
            &format!(
                "granted (-S nn){}",
                match graphs.is_empty() {
                    true => String::new(),
                    false => format!("; models: {}", graphs.join(", ")),
                }
            ),
        );
    }
    match &app.http {
        Some(http) => {
            if !http.ports.is_empty() {
                line("Ports", &format!("{} (served)", http.ports.join(", ")));
            }
            if !http.routes.is_empty() {
                line("Routes", &http.routes.join(", "));
            }
            for component in &http.components {
                let route = match &component.route {
                    Some(route) => format!("route `{route}`"),
                    None => format!("private: http://{}.spin.internal/", component.id),
                };
                line("Component", &format!("`{}` ({route})", component.id));
            }
        }
        None if !app.listen.is_empty() => {
            line(
                "Ports",
                &format!("{} (it may listen there)", app.listen.join(", ")),
            );
        }
        None => {}
    }
    line("Network", &app.grants.network);
    match app.http {
        Some(_) => line("Limits", &format!("{} (each request)", limits(&app.limits))),
        None => line("Limits", &limits(&app.limits)),
    }
    if let Some(secs) = app.stop_timeout {
        line(
            "Stop",
            &format!("killed {secs}s after a stop that names no time"),
        );
    }
    for (key, value) in &app.labels {
        line("Label", &format!("{key}={value}"));
    }
    if let Some(health) = &app.health {
        let check = &health.check;
        let ms = |ms: u64| humantime::format_duration(std::time::Duration::from_millis(ms));
        let mut described = format!(
            "{} every {}, timeout {}, {} retries, start period {}",
            check.target(),
            ms(check.interval_ms),
            ms(check.timeout_ms),
            check.retries,
            ms(check.start_period_ms)
        );
        if check.start_period_ms > 0 {
            let _ = write!(
                described,
                " (every {} until healthy)",
                ms(check.start_interval_ms)
            );
        }
        line("Check", &described);
        if crate::display::is_live(app) {
            let mut now = format!(
                "{} ({} failed in a row)",
                health.status, health.failing_streak
            );
            if let Some(reason) = &health.last_failure {
                let _ = write!(now, "; last failure: {reason}");
            }
            line("Health", &now);
        }
    }
    if crate::display::is_live(app) {
        line(
            "Usage",
            &format!(
                "cpu {}, memory {}",
                crate::display::cpu(app.cpu_ms),
                skiff_capabilities::ByteSize(app.memory_bytes)
            ),
        );
    }
    if app.exits.is_empty() {
        line("Exits", &"none");
    } else {
        let _ = writeln!(out, "Exits:");
        let rows: Vec<Vec<String>> = app
            .exits
            .iter()
            .map(|e| vec![e.at.clone(), e.code.to_string(), e.reason.clone()])
            .collect();
        for row in crate::display::table(&["AT", "CODE", "REASON"], &rows).lines() {
            let _ = writeln!(out, "  {row}");
        }
    }
    out
}

fn limits(limits: &Limits) -> String {
    let show = |d: Option<std::time::Duration>| {
        d.map_or("unlimited".to_string(), |d| {
            humantime::format_duration(d).to_string()
        })
    };
    format!(
        "memory {}, cpu-time {}, timeout {}",
        limits
            .memory
            .map_or("unlimited".to_string(), |m| m.to_string()),
        show(limits.cpu_time),
        show(limits.timeout)
    )
}
