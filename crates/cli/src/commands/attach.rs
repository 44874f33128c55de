//! `skiff attach`: follow a running app's output to its end, as `docker attach`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_api::AppState;

use crate::errors::user_error;
use crate::settings::GlobalFlags;

/// Show a running app's output from now until it exits, then exit with its code
///
/// Ctrl-C stops the app, as `docker attach` passes it on. An app run by the daemon reads no
/// stdin, so nothing typed reaches it.
#[derive(Debug, Args)]
pub struct Attach {
    /// The app (see `skiff ps`)
    name: String,
}

impl Attach {
    /// Attached to this app (`compose attach`).
    pub fn of(name: String) -> Attach {
        Attach { name }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let app = global
            .block_on(global.client().get(&self.name))
            .with_context(|| format!("failed to read `{}`", self.name))?;
        if app.state == AppState::Exited {
            return Err(user_error(
                format!("`{}` is not running", self.name),
                format!(
                    "start it attached with `skiff start -a {}`, or read its output with `skiff logs {}`",
                    self.name, self.name
                ),
            ));
        }
        let code = super::logs::attach(global, &self.name, Some(since))?;
        Ok(super::logs::exit_code(code))
    }
}
