//! `skiff restart`: stop apps (gracefully first) and start them again.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::{GlobalFlags, GraceFlags};

/// Restart one or more apps: stop each (killing it after the grace period), then start it
#[derive(Debug, Args)]
pub struct Restart {
    #[command(flatten)]
    apps: GraceFlags,
}

impl Restart {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        super::each_app(&self.apps.names, |name| {
            global
                .block_on(client.restart(name, self.apps.time))
                .with_context(|| format!("failed to restart `{name}`"))?;
            Ok(())
        })
    }
}
