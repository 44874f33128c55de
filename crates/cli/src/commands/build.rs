//! `skiff build`: package the app described by `skiff.toml` (or a Spin app's `spin.toml`) into an
//! image in the local store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::settings::GlobalFlags;

/// Build an image from a directory holding a skiff.toml (see docs/manifest.md), or a Spin app's
/// spin.toml (built as `spin registry push` lays a Spin app out)
#[derive(Debug, Args)]
pub struct Build {
    /// Name and tag for the image [default: NAME:VERSION from the manifest]
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tag: Option<String>,
    /// Manifest file to use instead of DIR/skiff.toml (or DIR/spin.toml)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The app's directory
    #[arg(default_value = ".")]
    dir: PathBuf,
}

impl Build {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        if let Some(tag) = &self.tag {
            skiff_image::parse_reference(tag)?;
        }
        let manifest = self.file.unwrap_or_else(|| {
            let skiff = self.dir.join(skiff_manifest::FILE_NAME);
            let spin = self.dir.join("spin.toml");
            if !skiff.exists() && spin.exists() {
                spin
            } else {
                skiff
            }
        });
        let store = global.image_store()?;
        let built = if skiff_image::is_spin_manifest(&manifest) {
            skiff_image::build_spin(&store, &manifest, self.tag.as_deref(), true)?
        } else {
            skiff_image::build(&store, &manifest, self.tag.as_deref())?
        };
        let name = self
            .tag
            .unwrap_or_else(|| format!("{}:{}", built.app.name, built.app.version));
        eprintln!(
            "Built {name} ({}, {})",
            built.digest,
            skiff_capabilities::ByteSize(built.size)
        );
        println!("{}", built.digest);
        Ok(ExitCode::SUCCESS)
    }
}
