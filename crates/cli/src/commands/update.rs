//! `skiff update`: change a daemon app's restart policy and limits, as `docker update`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_api::{RestartPolicy, UpdateApp};

use crate::errors::user_error;
use crate::settings::{GlobalFlags, LimitFlags};

/// Change the restart policy and limits of one or more apps
///
/// The restart policy applies from the app's next exit. New limits apply to an HTTP app's next
/// request, and to a command's next run: a run in progress keeps the limits it started with
/// (`skiff restart` applies them at once). What is not given is kept.
#[derive(Debug, Args)]
pub struct Update {
    /// When the daemon restarts the app after it ends: `no`, `on-failure[:MAX_RETRIES]`,
    /// `always` or `unless-stopped`
    #[arg(long, value_name = "POLICY")]
    restart: Option<RestartPolicy>,
    #[command(flatten)]
    limits: LimitFlags,
    /// Seconds a stop waits for the app to end before killing it, when `skiff stop` names none
    #[arg(long, value_name = "SECONDS")]
    stop_timeout: Option<u64>,
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Update {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let update = UpdateApp {
            restart: self.restart,
            limits: self.limits.resolve(),
            stop_timeout: self.stop_timeout,
        };
        if update == UpdateApp::default() {
            return Err(user_error(
                "nothing to update",
                "give --restart, a limit (--memory, --cpus, --cpu-time, --timeout) or \
                 --stop-timeout",
            ));
        }
        let client = global.client();
        super::each_app(&self.names, |name| {
            global
                .block_on(client.update(name, &update))
                .with_context(|| format!("failed to update `{name}`"))?;
            Ok(())
        })
    }
}
