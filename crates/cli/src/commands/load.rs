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
        for image in loaded {
            let name = skiff_image::display_name(&image.name);
            if let Some(old) = &image.replaced {
                eprintln!(
                    "The image {name} already existed as {}; the name now points at {} and the old image is untagged",
                    short(old),
                    short(&image.digest)
                );
            }
            println!("Loaded image: {name}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `sha256:` and the first 12 hex digits, as `docker images` shows IDs.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}
