//! `skiff ps`: list the daemon's apps.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_api::AppState;

use crate::display;
use crate::settings::GlobalFlags;

/// List apps: NAME IMAGE STATUS UPTIME RESTARTS CPU MEM PORTS (running ones, or all with `-a`)
#[derive(Debug, Args)]
pub struct Ps {
    /// Show all apps, also those that exited or were stopped
    #[arg(short = 'a', long)]
    all: bool,
    /// Only the names, one per line, for scripts (`skiff rm -f $(skiff ps -aq)`)
    #[arg(short = 'q', long, conflicts_with = "format")]
    quiet: bool,
    /// Output format: `table`, or `json` (the daemon's full record of each app)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

impl Ps {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let mut apps = global
            .block_on(global.client().list(self.all))
            .context("failed to list the apps")?;
        if !self.all {
            apps.retain(|app| app.state != AppState::Exited);
        }
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        if self.format == "json" {
            println!("{}", serde_json::to_string_pretty(&apps)?);
            return Ok(ExitCode::SUCCESS);
        }
        if self.quiet {
            for app in &apps {
                println!("{}", app.name);
            }
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = apps
            .iter()
            .map(|app| {
                vec![
                    app.name.clone(),
                    display::image(&app.source),
                    display::status(app),
                    display::uptime(app),
                    app.restarts.to_string(),
                    display::cpu_column(app),
                    display::memory_column(app),
                    display::published(app),
                ]
            })
            .collect();
        print!(
            "{}",
            display::table(
                &[
                    "NAME", "IMAGE", "STATUS", "UPTIME", "RESTARTS", "CPU", "MEM", "PORTS"
                ],
                &rows
            )
        );
        Ok(ExitCode::SUCCESS)
    }
}
