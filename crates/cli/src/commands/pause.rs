//! `skiff pause` / `skiff unpause`: freeze running apps in place, as `docker pause`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Pause one or more running apps: their instances stop at their next epoch tick and run no
/// guest code until `skiff unpause`
///
/// A paused app uses no CPU; its memory is kept. Requests to a paused HTTP app wait. Its
/// wall-clock limits keep running, and a stop still gives it its grace period. A daemon restart
/// runs it unpaused.
#[derive(Debug, Args)]
pub struct Pause {
    /// The apps (see `skiff ps`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Pause {
    /// `paused`: pause them, else unpause them.
    pub fn execute(self, global: &GlobalFlags, paused: bool) -> anyhow::Result<ExitCode> {
        let client = global.client();
        let verb = if paused { "pause" } else { "unpause" };
        super::each_app(&self.names, |name| {
            global
                .block_on(client.pause(name, paused))
                .with_context(|| format!("failed to {verb} `{name}`"))?;
            Ok(())
        })
    }
}

/// Unpause one or more paused apps: they run on from where they stopped
#[derive(Debug, Args)]
pub struct Unpause {
    /// The apps (see `skiff ps`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Unpause {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        Pause { names: self.names }.execute(global, false)
    }
}
