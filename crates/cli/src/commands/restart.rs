//! `skiff restart`: stop apps (gracefully first) and start them again.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Restart one or more apps: stop each (killing it after the grace period), then start it
#[derive(Debug, Args)]
pub struct Restart {
    /// Seconds to wait for an app to end before killing it
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    time: u64,
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Restart {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        super::each_app(&self.names, |name| {
            global
                .block_on(client.restart(name, self.time))
                .with_context(|| format!("failed to restart `{name}`"))?;
            Ok(())
        })
    }
}
