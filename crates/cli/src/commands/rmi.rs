//! `skiff rmi`: remove image names; the blobs go at the next `skiff image prune`.

use std::process::ExitCode;

use clap::Args;

use crate::settings::GlobalFlags;

/// Remove one or more images from the local store (run `skiff image prune` to free their space)
#[derive(Debug, Args)]
pub struct Rmi {
    /// Taken, as `docker rmi -f`: a name is removed even while an app runs from its image
    /// (the app keeps the data it runs from until it is removed)
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

impl Rmi {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        for image in &self.images {
            let (name, digest) = crate::commands::pull::find_local(&store, image)?;
            store.remove_ref(&name)?;
            println!("Untagged: {} ({digest})", skiff_image::display_name(&name));
        }
        let (count, bytes) = store.prune()?;
        if count > 0 {
            println!(
                "Deleted {count} blobs ({})",
                skiff_capabilities::ByteSize(bytes.max(1))
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
