//! `skiff image ...`: the image verbs under Docker's management command (`docker image ls`, `rm`,
//! `inspect`, ...), each the top-level verb it names, and `prune`.

use std::process::ExitCode;

use clap::Subcommand;

use super::Deferred;
use crate::settings::GlobalFlags;

/// Manage images
#[derive(Debug, Subcommand)]
pub enum Image {
    /// Build an image from a directory holding a skiff.toml (`skiff build`)
    Build(Deferred<super::build::Build>),
    /// Show an image's manifest, config, layers, grants and limits (`skiff inspect`)
    Inspect(Deferred<super::inspect::Inspect>),
    /// Load images from an OCI image-layout tarball (`skiff load`)
    Load(Deferred<super::load::Load>),
    /// List images (`skiff images`)
    #[command(visible_alias = "list")]
    Ls(Deferred<super::images::Images>),
    /// Delete every blob that no image name refers to, and leftovers of interrupted writes
    Prune {
        /// Also remove every image no app of the daemon uses (their names, then their blobs),
        /// as `docker image prune -a`
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation (asked only with --all)
        #[arg(short, long)]
        force: bool,
    },
    /// Pull an image from a registry (`skiff pull`)
    Pull(Deferred<super::pull::Pull>),
    /// Push an image to a registry (`skiff push`)
    Push(Deferred<super::push::Push>),
    /// Remove one or more images from the local store (`skiff rmi`)
    #[command(visible_alias = "remove")]
    Rm(Deferred<super::rmi::Rmi>),
    /// Save images to an OCI image-layout tarball (`skiff save`)
    Save(Deferred<super::save::Save>),
    /// Create a name TARGET that refers to the image SOURCE (`skiff tag`)
    Tag(Deferred<super::tag::Tag>),
}

impl Image {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Image::Build(c) => c.0.execute(global),
            Image::Inspect(c) => c.0.images_only().execute(global),
            Image::Load(c) => c.0.execute(global),
            Image::Ls(c) => c.0.execute(global),
            Image::Pull(c) => c.0.execute(global),
            Image::Push(c) => c.0.execute(global),
            Image::Rm(c) => c.0.execute(global),
            Image::Save(c) => c.0.execute(global),
            Image::Tag(c) => c.0.execute(global),
            Image::Prune { all, force } => {
                if all {
                    println!("WARNING! This will remove all images no app uses.");
                    if !force && !super::system::confirmed()? {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                let (count, bytes) = prune_images(global, all)?;
                println!(
                    "Deleted {count} blobs, reclaimed {}",
                    skiff_capabilities::ByteSize(bytes.max(1))
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// With `all`, removes the names of images no app holds, printing each as Docker does; then every
/// blob no name reaches. Returns the blobs and bytes freed.
pub(crate) fn prune_images(global: &GlobalFlags, all: bool) -> anyhow::Result<(usize, u64)> {
    let store = global.image_store()?;
    if all {
        for name in store.remove_unused_names()? {
            println!("Untagged: {}", skiff_image::display_name(&name));
        }
    }
    Ok(store.prune()?)
}
