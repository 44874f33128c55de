//! `skiff stop`: stop running apps, gracefully first.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Stop one or more apps: ask each to end, and kill it after the grace period
///
/// A stopped app stays stopped (its restart policy does not apply) until `skiff start`.
#[derive(Debug, Args)]
pub struct Stop {
    /// Seconds to wait for an app to end before killing it
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    time: u64,
    /// The apps (see `skiff ps`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Stop {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        super::each_app(&self.names, |name| {
            global
                .block_on(client.stop(name, self.time))
                .with_context(|| format!("failed to stop `{name}`"))?;
            Ok(())
        })
    }
}
