//! `skiff tag`: give a stored image another name.

use std::process::ExitCode;

use clap::Args;

use crate::settings::GlobalFlags;

/// Create a name TARGET that refers to the image SOURCE
#[derive(Debug, Args)]
pub struct Tag {
    source: String,
    target: String,
}

impl Tag {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let (_, digest) = crate::commands::pull::find_local(&store, &self.source)?;
        let target = skiff_image::parse_reference(&self.target)?;
        store.set_ref(&target.whole(), &digest)?;
        Ok(ExitCode::SUCCESS)
    }
}
