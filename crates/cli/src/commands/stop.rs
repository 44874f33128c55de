//! `skiff stop`: stop running apps, gracefully first.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::{GlobalFlags, GraceFlags};

/// Stop one or more apps: ask each to end, and kill it after the grace period
///
/// A stopped app stays stopped (its restart policy does not apply) until `skiff start`.
#[derive(Debug, Args)]
pub struct Stop {
    #[command(flatten)]
    apps: GraceFlags,
}

impl Stop {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        super::each_app(&self.apps.names, |name| {
            global
                .block_on(client.stop(name, self.apps.time))
                .with_context(|| format!("failed to stop `{name}`"))?;
            Ok(())
        })
    }
}
