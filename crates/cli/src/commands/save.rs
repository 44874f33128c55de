//! `skiff save`: write images to an OCI image-layout tar.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Save images to an OCI image-layout tarball (to stdout unless -o)
#[derive(Debug, Args)]
pub struct Save {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    #[arg(required = true)]
    images: Vec<String>,
}

impl Save {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let images = self
            .images
            .iter()
            .map(|i| crate::commands::pull::find_local(&store, i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        match &self.output {
            Some(path) => {
                // Written beside the target and renamed, so a failed save leaves no partial file.
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let mut tmp = tempfile::NamedTempFile::new_in(dir)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                skiff_image::save(
                    &store,
                    &images,
                    &mut std::io::BufWriter::new(tmp.as_file_mut()),
                )?;
                tmp.persist(path)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
            }
            None => {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                skiff_image::save(&store, &images, &mut out)?;
                out.flush()?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
