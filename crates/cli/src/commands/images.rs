//! `skiff images`: list the images in the local store.

use std::process::ExitCode;

use clap::Args;
use skiff_image::{Image, repository_and_tag};

use crate::settings::GlobalFlags;

/// List images: REPOSITORY TAG DIGEST SIZE CREATED
#[derive(Debug, Args)]
pub struct Images {
    /// Output format: `table` or `json`
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

impl Images {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let mut rows = Vec::new();
        for (name, entry) in store.names()? {
            let (repository, tag) = repository_and_tag(&name);
            let size = Image::open(&store, &entry.digest)
                .map(|image| image.size(&store))
                .unwrap_or(0);
            rows.push((
                repository.to_string(),
                tag.to_string(),
                entry.digest,
                size,
                entry.created,
            ));
        }
        if self.format == "json" {
            let json: Vec<_> = rows
                .iter()
                .map(|(repository, tag, digest, size, created)| {
                    serde_json::json!({"repository": repository, "tag": tag, "digest": digest, "size": size, "created": created})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&json)?);
            return Ok(ExitCode::SUCCESS);
        }
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(10);
        let tag_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(3);
        println!(
            "{:width$}  {:tag_width$}  {:19}  {:>10}  CREATED",
            "REPOSITORY", "TAG", "DIGEST", "SIZE"
        );
        for (repository, tag, digest, size, created) in rows {
            let short = &digest[..digest.len().min(19)];
            let size = skiff_capabilities::ByteSize(size).to_string();
            println!("{repository:width$}  {tag:tag_width$}  {short:19}  {size:>10}  {created}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
