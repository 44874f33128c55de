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
/// renamed, updated, paused, unpaused, health_status.
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
    /// The events since a time, as `docker events --since`: a duration ago (`10m`) or an RFC
    /// 3339 instant; then each new one
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// Stop at a time, given as `--since` is: one past prints the events before it and exits
    #[arg(long, value_name = "DURATION|TIME")]
    until: Option<String>,
    /// Only some events, as `docker events --filter`: `app=NAME` (or `container=NAME`),
    /// `event=KIND`; repeated, the same key means either, different keys both
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE", value_parser = crate::filter::parse_event)]
    filters: Vec<(String, String)>,
}

impl Events {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let filter = crate::filter::Events::new(&self.filters);
        let client = global.client();
        let json = self.format == "json";
        let (since, until) = super::logs::Times::range_of(&self.since, &self.until)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        // An end already past: what was recorded before it, and no waiting.
        let past = until.as_ref().is_some_and(|until| *until <= now);
        let mut stdout = std::io::stdout();
        let mut print = |event: &Event| {
            let after = since.as_ref().is_none_or(|since| event.at >= *since);
            if !after || !filter.matches(event) {
                return true;
            }
            if until.as_ref().is_some_and(|until| event.at >= *until) {
                return false;
            }
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
        let recorded = self.since_start || since.is_some();
        let wait = until.as_ref().filter(|_| !past).map(|until| {
            let until = chrono::DateTime::parse_from_rfc3339(until).expect("made by instant()");
            (until.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        });
        global
            .block_on(async {
                let events = async {
                    match (self.no_follow || past, recorded) {
                        (true, _) => client.events(false, |event| print(&event)).await,
                        // The daemon's stream: what it has recorded, then each event as it comes.
                        (false, true) => client.events(true, |event| print(&event)).await,
                        (false, false) => client.events_from_now(|event| print(&event)).await,
                    }
                };
                match wait {
                    Some(wait) => tokio::time::timeout(wait, events).await.unwrap_or(Ok(())),
                    None => events.await,
                }
            })
            .context("failed to read the daemon's events")?;
        Ok(ExitCode::SUCCESS)
    }
}
