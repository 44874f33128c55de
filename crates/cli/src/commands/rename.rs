//! `skiff rename`: give an app another name, as `docker rename`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Rename an app, running or not
///
/// Its logs, exit history and image go with it. An HTTP app served on the route its name gives
/// (`NAME.localhost`) is served on the new name's at once; apps linked to it keep reaching it
/// under the names they call it by.
#[derive(Debug, Args)]
pub struct Rename {
    /// The app (see `skiff ps -a`)
    #[arg(value_name = "NAME")]
    name: String,
    /// Its new name: letters, digits, `_`, `.` and `-`
    #[arg(value_name = "NEW_NAME")]
    new_name: String,
}

impl Rename {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        global
            .block_on(global.client().rename(&self.name, &self.new_name))
            .with_context(|| format!("failed to rename `{}`", self.name))?;
        Ok(ExitCode::SUCCESS)
    }
}
