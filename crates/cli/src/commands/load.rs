//! `skiff load`: read images from an OCI image-layout tar.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Load images from an OCI image-layout tarball (from stdin unless -i); every blob is verified
#[derive(Debug, Args)]
pub struct Load {
    /// Read from this file instead of stdin
    #[arg(short = 'i', long = "input")]
    input: Option<PathBuf>,
}

impl Load {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let loaded = match &self.input {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                skiff_image::load(&store, &mut std::io::BufReader::new(file))?
            }
            None => skiff_image::load(&store, &mut std::io::stdin().lock())?,
        };
        for name in loaded {
            println!("Loaded image: {}", skiff_image::display_name(&name));
        }
        Ok(ExitCode::SUCCESS)
    }
}
