//! `skiff events`: what happens to the apps, as it happens.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_api::Event;

use crate::settings::GlobalFlags;

/// Show the apps' events as they happen, one per line: AT APP KIND DETAIL
///
/// Kinds: created, started, exited, restarted, oom, limit-exceeded, stopped, removed,
/// renamed, health_status.
#[derive(Debug, Args)]
pub struct Events {
    /// First print the events the daemon recorded before this command started
    #[arg(long)]
    since_start: bool,
    /// Print the recorded events and exit instead of waiting for new ones
    #[arg(long)]
    no_follow: bool,
    /// Output format: `text`, or `json` (one event object per line)
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

impl Events {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        let json = self.format == "json";
        let mut stdout = std::io::stdout();
        let mut print = |event: &Event| {
            let written = if json {
                let line = serde_json::to_string(event).expect("events serialize");
                writeln!(stdout, "{line}")
            } else if event.detail.is_empty() {
                writeln!(stdout, "{} {} {}", event.at, event.app, event.kind)
            } else {
                let (at, app, kind, detail) = (&event.at, &event.app, &event.kind, &event.detail);
                writeln!(stdout, "{at} {app} {kind} {detail}")
            };
            // A closed reader (`skiff events | head`) ends the stream quietly.
            written.and_then(|()| stdout.flush()).is_ok()
        };
        global
            .block_on(async {
                match (self.no_follow, self.since_start) {
                    (true, _) => client.events(false, |event| print(&event)).await,
                    // The daemon's stream: what it has recorded, then each event as it comes.
                    (false, true) => client.events(true, |event| print(&event)).await,
                    (false, false) => client.events_from_now(|event| print(&event)).await,
                }
            })
            .context("failed to read the daemon's events")?;
        Ok(ExitCode::SUCCESS)
    }
}
