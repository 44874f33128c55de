//! One file per verb.

use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::GlobalFlags;

mod run;

#[derive(Debug, Subcommand)]
pub enum Command {
    Run(run::Run),
}

impl Command {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(run) => run.execute(global),
        }
    }
}
