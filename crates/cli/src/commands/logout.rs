//! `skiff logout`: forget a registry's credentials.

use std::process::ExitCode;

use clap::Args;

use crate::settings::GlobalFlags;

/// Remove the stored credentials for a registry
#[derive(Debug, Args)]
pub struct Logout {
    registry: String,
}

impl Logout {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        if skiff_image::logout(&global.root(), &self.registry)? {
            eprintln!("Removed login credentials for {}", self.registry);
        } else {
            eprintln!("Not logged in to {}", self.registry);
        }
        Ok(ExitCode::SUCCESS)
    }
}
