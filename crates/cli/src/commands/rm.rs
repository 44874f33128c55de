//! `skiff rm`: remove apps, their state and their logs.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Remove one or more apps with their logs (a running app only with `--force`)
#[derive(Debug, Args)]
pub struct Rm {
    /// Stop a running app first instead of refusing to remove it
    #[arg(short = 'f', long)]
    force: bool,
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Rm {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        super::each_app(&self.names, |name| {
            global
                .block_on(client.remove(name, self.force))
                .with_context(|| format!("failed to remove `{name}`"))
        })
    }
}
