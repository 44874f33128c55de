//! `skiff stats`: the apps' resource use, live.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use skiff_api::{AppInfo, AppState, Client};

use skiff_capabilities::ByteSize;

use crate::display;
use crate::settings::GlobalFlags;
use crate::template::Template;

/// Show the apps' resource use, refreshed every second
///
/// Commands: NAME CPU MEM RESTARTS STATE, where CPU is the CPU time of the current run and MEM its
/// linear memory. HTTP apps: requests, 5xx errors, 503s for overload, latency to the response
/// head (p50, p99), instances alive, and what a serverless bill is made of: CPU-seconds and
/// GB-seconds (linear memory integrated over each instance's lifetime) since the daemon started.
/// Calls: each app's in-process calls to the apps it is linked to, by the name it called.
#[derive(Debug, Args)]
pub struct Stats {
    /// Print the figures once and exit
    #[arg(long)]
    no_stream: bool,
    /// `table`, `json` (each app's figures, one object per line), or a Go template as `docker
    /// stats --format` takes it: `{{.Name}}`, `{{.CPUPerc}}` (CPU in the last second),
    /// `{{.MemUsage}}`, `{{.MemPerc}}` (of its memory limit), `{{.CPUTime}}`, and the fields of
    /// `skiff inspect --format json` (`{{.http.stats.requests}}`)
    #[arg(long, default_value = "table", value_parser = crate::template::format_flag(&["table", "json"]))]
    format: String,
    /// Only these apps, running or not [default: all running apps]
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

impl Stats {
    /// The figures of these apps (`compose stats`).
    pub fn of(names: Vec<String>, no_stream: bool) -> Stats {
        Stats {
            no_stream,
            format: "table".into(),
            names,
        }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        let tty = std::io::stdout().is_terminal();
        let template = (self.format != "table" && self.format != "json")
            .then(|| Template::parse(&self.format))
            .transpose()?;
        let mut before = HashMap::new();
        global.block_on(async {
            // A share of the CPU needs two readings: the first a second before the figures shown.
            if self.format == "json" || self.format.contains("CPUPerc") {
                before = cpu_readings(&self.sample(&client).await?);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            loop {
                let apps = self.sample(&client).await?;
                let mut out = String::new();
                if tty && !self.no_stream && self.format == "table" {
                    // Home the cursor and clear the screen, as `docker stats` and `top` do.
                    out.push_str("\x1b[H\x1b[2J");
                }
                let now = cpu_readings(&apps);
                let rows = || apps.iter().map(|app| row(app, &before, &now));
                match &template {
                    Some(template) => {
                        out.push_str(&template.render_all(&rows().collect::<Result<Vec<_>, _>>()?)?)
                    }
                    None if self.format == "json" => {
                        for row in rows() {
                            out.push_str(&serde_json::to_string(&row?)?);
                            out.push('\n');
                        }
                    }
                    None => out.push_str(&render(&apps)),
                }
                before = now;
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(out.as_bytes())
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    // The reader went away (`skiff stats | head`): nothing more to do.
                    return Ok(ExitCode::SUCCESS);
                }
                if self.no_stream {
                    return Ok(ExitCode::SUCCESS);
                }
                if !tty && self.format == "table" {
                    let _ = writeln!(stdout);
                }
                drop(stdout);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    async fn sample(&self, client: &Client) -> anyhow::Result<Vec<AppInfo>> {
        if self.names.is_empty() {
            let mut apps = client
                .list(false)
                .await
                .context("failed to list the apps")?;
            apps.retain(|app| app.state != AppState::Exited);
            apps.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(apps);
        }
        let mut apps = Vec::with_capacity(self.names.len());
        for name in &self.names {
            apps.push(
                client
                    .get(name)
                    .await
                    .with_context(|| format!("failed to read the stats of `{name}`"))?,
            );
        }
        Ok(apps)
    }
}

/// Each app's CPU time (ms) and when it was read.
fn cpu_readings(apps: &[AppInfo]) -> HashMap<String, (u64, Instant)> {
    let now = Instant::now();
    apps.iter()
        .map(|app| (app.name.clone(), (app.cpu_ms, now)))
        .collect()
}

/// An app's figures for `--format`: `skiff ps`'s row (the app as `inspect --format json` has
/// it, and Docker's names) and `docker stats`'s names.
fn row(
    app: &AppInfo,
    before: &HashMap<String, (u64, Instant)>,
    now: &HashMap<String, (u64, Instant)>,
) -> serde_json::Result<serde_json::Value> {
    let mut row = super::ps::row(app)?;
    let cpu_perc = match (before.get(&app.name), now.get(&app.name)) {
        (Some((cpu0, t0)), Some((cpu1, t1))) if t1 > t0 && display::is_live(app) => {
            let used = cpu1.saturating_sub(*cpu0) as f64 / 1e3;
            format!("{:.2}%", used / (*t1 - *t0).as_secs_f64() * 100.0)
        }
        _ => "--".into(),
    };
    let limit = app.limits.memory.map(|m| m.0);
    let mem_usage = format!(
        "{} / {}",
        display::memory_column(app),
        limit.map_or("unlimited".into(), |l| ByteSize(l).to_string())
    );
    let mem_perc = match limit {
        Some(limit) if limit > 0 && display::is_live(app) => {
            format!("{:.2}%", app.memory_bytes as f64 / limit as f64 * 100.0)
        }
        _ => "--".into(),
    };
    if let Some(fields) = row.as_object_mut() {
        for (key, value) in [
            ("Name", app.name.clone()),
            ("Container", app.name.clone()),
            ("CPUPerc", cpu_perc),
            ("CPUTime", display::cpu_column(app)),
            ("MemUsage", mem_usage),
            ("MemPerc", mem_perc),
        ] {
            fields.insert(key.to_string(), value.into());
        }
    }
    Ok(row)
}

fn render(apps: &[AppInfo]) -> String {
    let (http, commands): (Vec<&AppInfo>, Vec<&AppInfo>) =
        apps.iter().partition(|app| app.http.is_some());
    let mut out = String::new();
    if !commands.is_empty() || http.is_empty() {
        out.push_str(&render_commands(&commands));
    }
    if !http.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&render_http(&http));
    }
    if apps.iter().any(|app| !app.calls.is_empty()) {
        out.push('\n');
        out.push_str(&render_calls(apps));
    }
    out
}

/// In-process calls between apps, per edge: the caller, the name it called.
fn render_calls(apps: &[AppInfo]) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .flat_map(|app| {
            app.calls.iter().map(|call| {
                vec![
                    app.name.clone(),
                    call.to.clone(),
                    call.requests.to_string(),
                    call.errors.to_string(),
                    call.refused.to_string(),
                ]
            })
        })
        .collect();
    display::table(&["CALLER", "CALLS", "REQUESTS", "ERRORS", "REFUSED"], &rows)
}

fn render_http(apps: &[&AppInfo]) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .filter_map(|app| {
            let s = &app.http.as_ref()?.stats;
            Some(vec![
                app.name.clone(),
                s.requests.to_string(),
                s.errors.to_string(),
                s.rejected.to_string(),
                format!("{:.2}ms", s.p50_ms),
                format!("{:.2}ms", s.p99_ms),
                s.instances.to_string(),
                format!("{:.6}", s.cpu_seconds),
                format!("{:.9}", s.gb_seconds),
                app.state.to_string(),
            ])
        })
        .collect();
    display::table(
        &[
            "NAME",
            "REQUESTS",
            "ERRORS",
            "REJECTED",
            "P50",
            "P99",
            "INSTANCES",
            "CPU-SECONDS",
            "GB-SECONDS",
            "STATE",
        ],
        &rows,
    )
}

fn render_commands(apps: &[&AppInfo]) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|app| {
            vec![
                app.name.clone(),
                display::cpu_column(app),
                display::memory_column(app),
                app.restarts.to_string(),
                app.state.to_string(),
            ]
        })
        .collect();
    display::table(&["NAME", "CPU", "MEM", "RESTARTS", "STATE"], &rows)
}
