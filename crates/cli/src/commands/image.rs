//! `skiff image ...`: image housekeeping.

use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::GlobalFlags;

/// Manage images
#[derive(Debug, Subcommand)]
pub enum Image {
    /// Delete every blob that no image name refers to, and leftovers of interrupted writes
    Prune,
}

impl Image {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Image::Prune => {
                let (count, bytes) = global.image_store()?.prune()?;
                println!(
                    "Deleted {count} blobs, reclaimed {}",
                    skiff_capabilities::ByteSize(bytes.max(1))
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
