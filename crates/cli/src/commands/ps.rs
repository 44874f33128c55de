//! `skiff ps`: list the daemon's apps.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_api::AppState;

use crate::settings::GlobalFlags;
use crate::template::Template;
use crate::{display, filter};

/// List apps: NAME IMAGE STATUS UPTIME RESTARTS CPU MEM PORTS (running ones, or all with `-a`)
#[derive(Debug, Args)]
pub struct Ps {
    /// Show all apps, also those that exited or were stopped
    #[arg(short = 'a', long)]
    all: bool,
    /// Only the names, one per line, for scripts (`skiff rm -f $(skiff ps -aq)`)
    #[arg(short = 'q', long, conflicts_with = "format")]
    quiet: bool,
    /// Output format: `table`, `json` (the daemon's full record of each app), or a Go template
    /// per app, as Docker's: the record's fields and the columns' (`.Names`, `.Image`,
    /// `.Status`, `.RunningFor`, `.Ports`), e.g. `'{{.Names}}: {{.Status}}'` or
    /// `'table {{.Names}}\t{{.Ports}}'`
    #[arg(long, default_value = "table", value_parser = crate::template::format_flag(&["table", "json"]))]
    format: String,
    /// Only the apps that match, as `docker ps --filter`: `name=PART` (`^` and `$` anchor it),
    /// `label=KEY[=VALUE]`, `status=running|serving|restarting|exited`,
    /// `health=starting|healthy|unhealthy|none`, `ancestor=IMAGE`, `exited=CODE`; a key given
    /// twice matches either value, different keys all must match; `status` and `exited` look
    /// at every app, as `-a` does
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE", value_parser = filter::parse)]
    filters: Vec<(String, String)>,
    /// Only the N apps created last, newest first, in any state
    #[arg(short = 'n', long = "last", value_name = "N")]
    last: Option<usize>,
    /// Only the app created last, in any state (`-n 1`)
    #[arg(short = 'l', long, conflicts_with = "last")]
    latest: bool,
    /// Taken, as `docker ps --no-trunc`: nothing is cut short
    #[arg(long)]
    no_trunc: bool,
}

impl Ps {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let filter = filter::Apps::new(&self.filters)?;
        let last = if self.latest { Some(1) } else { self.last };
        let all = self.all || filter.lists_all() || last.is_some();
        let mut apps = global
            .block_on(global.client().list(all))
            .context("failed to list the apps")?;
        apps.retain(|app| (all || app.state != AppState::Exited) && filter.matches(app));
        match last {
            Some(n) => {
                // Creation times are RFC 3339 in UTC: their order is their text's.
                apps.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
                apps.truncate(n);
            }
            None => apps.sort_by(|a, b| a.name.cmp(&b.name)),
        }
        if self.format == "json" {
            println!("{}", serde_json::to_string_pretty(&apps)?);
            return Ok(ExitCode::SUCCESS);
        }
        if self.format != "table" {
            let rows: Vec<serde_json::Value> = apps.iter().map(row).collect::<Result<_, _>>()?;
            print!("{}", Template::parse(&self.format)?.render_all(&rows)?);
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

/// An app as a template sees it: its record, and the table's columns under Docker's names.
pub(crate) fn row(app: &skiff_api::AppInfo) -> serde_json::Result<serde_json::Value> {
    let mut row = serde_json::to_value(app)?;
    if let Some(fields) = row.as_object_mut() {
        for (key, value) in [
            ("Names", app.name.clone()),
            ("ID", app.name.clone()),
            ("Image", display::image(&app.source)),
            ("Status", display::status(app)),
            ("RunningFor", display::uptime(app)),
            ("Ports", display::published(app)),
            ("CPU", display::cpu_column(app)),
            ("Mem", display::memory_column(app)),
        ] {
            fields.insert(key.to_string(), value.into());
        }
    }
    Ok(row)
}
