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
/// health_status.
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
        global.block_on(async {
            // The recorded events come first, so that following can skip what was already there
            // whether or not the daemon replays it.
            let mut last_seq = None;
            let mut open = true;
            client
                .events(false, |event| {
                    last_seq = last_seq.max(Some(event.seq));
                    if self.since_start || self.no_follow {
                        open = print(&event);
                    }
                    open
                })
                .await
                .context("failed to read the daemon's events")?;
            if self.no_follow || !open {
                return Ok(ExitCode::SUCCESS);
            }
            client
                .events(true, |event| Some(event.seq) <= last_seq || print(&event))
                .await
                .context("failed to follow the daemon's events")?;
            Ok(ExitCode::SUCCESS)
        })
    }
}
