//! `skiff start`: start stopped apps again.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Start one or more stopped apps, with the grants and limits they were created with
#[derive(Debug, Args)]
pub struct Start {
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Start {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        super::each_app(&self.names, |name| {
            global
                .block_on(client.start(name))
                .with_context(|| format!("failed to start `{name}`"))?;
            Ok(())
        })
    }
}
