//! `skiff logs`: an app's output, stdout and stderr kept apart.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use skiff_api::LogsQuery;

use crate::errors::user_error;
use crate::settings::GlobalFlags;

/// Show an app's output: its stdout lines on stdout, its stderr lines on stderr
#[derive(Debug, Args)]
pub struct Logs {
    /// Keep printing new lines as the app writes them, until interrupted
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines [default: all]
    #[arg(short = 'n', long, value_name = "N")]
    tail: Option<usize>,
    /// Only lines since a time: a duration ago (`10m`, `1h30m`) or an RFC 3339 instant
    /// (`2025-01-02T15:04:05Z`)
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// Prefix each line with the time it was written (RFC 3339, nanoseconds)
    #[arg(short = 't', long)]
    timestamps: bool,
    /// The app (see `skiff ps -a`)
    name: String,
}

impl Logs {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let since = self.since.as_deref().map(since_instant).transpose()?;
        let query = LogsQuery {
            follow: self.follow,
            tail: self.tail,
            since,
        };
        let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
        let client = global.client();
        global
            .block_on(client.logs(&self.name, &query, |line| {
                let out: &mut dyn std::io::Write = if line.stream == "stderr" {
                    &mut stderr
                } else {
                    &mut stdout
                };
                let written = if self.timestamps {
                    writeln!(out, "{} {}", line.at, line.line)
                } else {
                    writeln!(out, "{}", line.line)
                };
                // A closed reader (`skiff logs -f app | head`) ends the stream quietly.
                written.and_then(|()| out.flush()).is_ok()
            }))
            .with_context(|| format!("failed to read the logs of `{}`", self.name))?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `10m` → the RFC 3339 instant ten minutes ago; an RFC 3339 instant → itself, in UTC.
fn since_instant(spec: &str) -> anyhow::Result<String> {
    let at = if let Ok(ago) = humantime::parse_duration(spec.trim()) {
        let ago = chrono::Duration::from_std(ago).context("`--since` reaches too far back")?;
        Utc::now() - ago
    } else if let Ok(at) = DateTime::parse_from_rfc3339(spec.trim()) {
        at.with_timezone(&Utc)
    } else {
        return Err(user_error(
            format!("invalid `--since` value `{spec}`"),
            "give a duration such as `10m` or `1h30m`, or an RFC 3339 time such as `2025-01-02T15:04:05Z`",
        ));
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_values() {
        let ago = since_instant("10m").unwrap();
        let ago = DateTime::parse_from_rfc3339(&ago).unwrap();
        let delta = Utc::now() - ago.with_timezone(&Utc);
        assert!((599..=601).contains(&delta.num_seconds()), "{delta}");
        assert_eq!(
            since_instant("2025-01-02T16:04:05+01:00").unwrap(),
            "2025-01-02T15:04:05.000000000Z"
        );
        assert!(since_instant("yesterday").is_err());
    }
}
