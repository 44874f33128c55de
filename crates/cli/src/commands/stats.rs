//! `skiff stats`: the apps' resource use, live.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use skiff_api::{AppInfo, AppState, Client};

use crate::display;
use crate::settings::GlobalFlags;

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
    /// Only these apps, running or not [default: all running apps]
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

impl Stats {
    /// The figures of these apps (`compose stats`).
    pub fn of(names: Vec<String>, no_stream: bool) -> Stats {
        Stats { no_stream, names }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        let tty = std::io::stdout().is_terminal();
        global.block_on(async {
            loop {
                let apps = self.sample(&client).await?;
                let mut out = String::new();
                if tty && !self.no_stream {
                    // Home the cursor and clear the screen, as `docker stats` and `top` do.
                    out.push_str("\x1b[H\x1b[2J");
                }
                out.push_str(&render(&apps));
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
                if !tty {
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
