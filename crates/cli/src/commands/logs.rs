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
    #[command(flatten)]
    times: Times,
    /// The app (see `skiff ps -a`)
    name: String,
}

/// Which lines by when they were written, and whether each shows it (`logs`, `compose logs`).
#[derive(Debug, Args)]
pub(crate) struct Times {
    /// Only lines since a time: a duration ago (`10m`, `1h30m`) or an RFC 3339 instant
    /// (`2025-01-02T15:04:05Z`)
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// Only lines before a time, given as `--since` is; following ends at the first line after it
    #[arg(long, value_name = "DURATION|TIME")]
    until: Option<String>,
    /// Prefix each line with the time it was written (RFC 3339, nanoseconds)
    #[arg(short = 't', long)]
    pub timestamps: bool,
}

impl Times {
    /// `--since` and `--until` as RFC 3339 instants in UTC.
    pub fn range(&self) -> anyhow::Result<(Option<String>, Option<String>)> {
        Times::range_of(&self.since, &self.until)
    }

    /// `--since` and `--until` of any verb, as [`Times::range`] reads them.
    pub fn range_of(
        since: &Option<String>,
        until: &Option<String>,
    ) -> anyhow::Result<(Option<String>, Option<String>)> {
        let at =
            |flag, spec: &Option<String>| spec.as_deref().map(|s| instant(flag, s)).transpose();
        Ok((at("--since", since)?, at("--until", until)?))
    }
}

impl Logs {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let (since, until) = self.times.range()?;
        let query = LogsQuery {
            follow: self.follow,
            tail: self.tail,
            since,
        };
        let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
        let client = global.client();
        global
            .block_on(client.logs(&self.name, &query, |line| {
                // Both RFC 3339 in UTC with nanoseconds: their order is their text's.
                if until
                    .as_ref()
                    .is_some_and(|until| line.at.as_str() >= until.as_str())
                {
                    return false;
                }
                let out: &mut dyn std::io::Write = if line.stream == "stderr" {
                    &mut stderr
                } else {
                    &mut stdout
                };
                let written = if self.times.timestamps {
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

/// Attached to a running app, as `docker attach` and `docker compose run` are: its output (the
/// lines written since `since`) until it exits, then its exit code; Ctrl-C stops it (within
/// its grace period) and still waits for its end.
pub(crate) fn attach(
    global: &GlobalFlags,
    name: &str,
    since: Option<String>,
) -> anyhow::Result<i32> {
    let client = global.client();
    let query = LogsQuery {
        follow: true,
        tail: None,
        since,
    };
    let interrupted = until_ctrl_c(
        global,
        client.logs(name, &query, |line| print_line("", &line)),
    )
    .with_context(|| format!("failed to read the output of `{name}`"))?;
    ended(global, &client, name, interrupted)
}

/// `docker start -a`: starts the app and shows its output from its start until it exits, then
/// gives its exit code (the daemon's, so an app removed as it ends still has one).
pub(crate) fn start_attached(global: &GlobalFlags, name: &str) -> anyhow::Result<i32> {
    let client = global.client();
    let mut code = None;
    let run = async {
        code = client
            .start_attached(name, |line| print_line("", &line))
            .await?;
        Ok(())
    };
    let interrupted =
        until_ctrl_c(global, run).with_context(|| format!("failed to start `{name}`"))?;
    match code {
        Some(code) => Ok(code),
        None => ended(global, &client, name, interrupted),
    }
}

/// A line of the app's output where it was written, its stdout or its stderr, after `prefix`;
/// `false` once the reader has gone (`| head`).
pub(crate) fn print_line(prefix: &str, line: &skiff_api::LogLine) -> bool {
    use std::io::Write as _;
    let written = if line.stream == "stderr" {
        writeln!(std::io::stderr(), "{prefix}{}", line.line)
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{prefix}{}", line.line).and_then(|()| out.flush())
    };
    written.is_ok()
}

/// Runs `output` to its end; `true` if Ctrl-C came first.
fn until_ctrl_c(
    global: &GlobalFlags,
    output: impl std::future::Future<Output = Result<(), skiff_api::ClientError>>,
) -> Result<bool, skiff_api::ClientError> {
    global.block_on(async {
        tokio::select! {
            ended = output => ended.map(|()| false),
            _ = tokio::signal::ctrl_c() => Ok(true),
        }
    })
}

/// The app's exit code once it has ended, stopping it first if `interrupted`.
fn ended(
    global: &GlobalFlags,
    client: &skiff_api::Client,
    name: &str,
    interrupted: bool,
) -> anyhow::Result<i32> {
    global
        .block_on(async {
            if interrupted {
                client.stop(name, None).await?;
            }
            // The output ends when the app does; its exit is recorded by then, or just after.
            loop {
                let app = match super::wait::app_or_exit(client, name).await? {
                    Ok(app) => app,
                    Err(code) => return Ok::<_, skiff_api::ClientError>(code),
                };
                if app.state == skiff_api::AppState::Exited {
                    return Ok(app.exits.last().map_or(0, |e| e.code));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .with_context(|| format!("failed to read how `{name}` ended"))
}

/// An exit code as this process's own: 0–255 as is, anything else 1.
pub(crate) fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `10m` → the RFC 3339 instant ten minutes ago; an RFC 3339 instant → itself, in UTC.
fn instant(flag: &str, spec: &str) -> anyhow::Result<String> {
    let at = if let Ok(ago) = humantime::parse_duration(spec.trim()) {
        let ago = chrono::Duration::from_std(ago)
            .with_context(|| format!("`{flag}` reaches too far back"))?;
        Utc::now() - ago
    } else if let Ok(at) = DateTime::parse_from_rfc3339(spec.trim()) {
        at.with_timezone(&Utc)
    } else {
        return Err(user_error(
            format!("invalid `{flag}` value `{spec}`"),
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
        let ago = instant("--since", "10m").unwrap();
        let ago = DateTime::parse_from_rfc3339(&ago).unwrap();
        let delta = Utc::now() - ago.with_timezone(&Utc);
        assert!((599..=601).contains(&delta.num_seconds()), "{delta}");
        assert_eq!(
            instant("--since", "2025-01-02T16:04:05+01:00").unwrap(),
            "2025-01-02T15:04:05.000000000Z"
        );
        assert!(instant("--since", "yesterday").is_err());
    }
}
