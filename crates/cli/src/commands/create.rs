//! `skiff create`: an app made in the daemon and not started, as `docker create`.

use std::process::ExitCode;

use clap::Args;

use crate::settings::GlobalFlags;

/// Create an app in the daemon as `run -d` would, without starting it (`skiff start` starts it)
///
/// It takes `skiff run`'s flags. `skiff ps -a` shows it as created until it is started.
#[derive(Debug, Args)]
pub struct Create {
    #[command(flatten)]
    run: Box<super::run::Run>,
}

impl Create {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        (*self.run).create(global)
    }
}
