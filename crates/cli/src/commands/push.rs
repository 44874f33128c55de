//! `skiff push`: send a stored image to a registry.

use std::process::ExitCode;

use clap::Args;

use crate::progress::TransferProgress;
use crate::settings::GlobalFlags;

/// Push an image to a registry; blobs the registry already has are skipped
#[derive(Debug, Args)]
pub struct Push {
    /// Treat the registry as one on loopback: HTTPS without checking its certificate if it
    /// answers HTTPS, plain HTTP otherwise (Docker's insecure registries)
    #[arg(long)]
    insecure: bool,
    /// The stored image to push; its name says where, e.g. 127.0.0.1:5000/team/hello:1.0
    image: String,
}

impl Push {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let (name, digest) = crate::commands::pull::find_local(&store, &self.image)?;
        let target = skiff_image::parse_reference(&name)?;
        let auth = skiff_image::auth_for(&global.root(), target.resolve_registry())?;
        let progress = TransferProgress::new("pushed");
        global.block_on(skiff_image::push(
            &store,
            &digest,
            &target,
            &auth,
            self.insecure,
            &progress,
        ))?;
        eprintln!("Pushed {}", skiff_image::display_name(&name));
        println!("{digest}");
        Ok(ExitCode::SUCCESS)
    }
}
