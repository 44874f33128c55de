//! `skiff start`: start stopped apps again.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::errors::user_error;
use crate::settings::GlobalFlags;

/// Start one or more stopped apps, with the grants and limits they were created with
#[derive(Debug, Args)]
pub struct Start {
    /// Attach: show the app's output until it exits, then exit with its code (Ctrl-C stops it)
    #[arg(short = 'a', long)]
    attach: bool,
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Start {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        if self.attach {
            let [name] = &self.names[..] else {
                return Err(user_error(
                    "`-a` attaches to one app at a time",
                    "start the others with `skiff start NAME...` first",
                ));
            };
            let code = super::logs::start_attached(global, name)?;
            return Ok(super::logs::exit_code(code));
        }
        super::each_app(&self.names, |name| {
            global
                .block_on(client.start(name))
                .with_context(|| format!("failed to start `{name}`"))?;
            Ok(())
        })
    }
}
