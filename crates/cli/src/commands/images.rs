//! `skiff images`: list the images in the local store.

use std::process::ExitCode;

use clap::Args;

use crate::filter;
use crate::settings::GlobalFlags;

/// List images: REPOSITORY TAG DIGEST SIZE CREATED
#[derive(Debug, Args)]
pub struct Images {
    /// Only the names (`REPOSITORY:TAG`), one per line, for scripts (`skiff rmi $(skiff images
    /// -q)`)
    #[arg(short = 'q', long, conflicts_with = "format")]
    quiet: bool,
    /// Output format: `table`, `json`, or a Go template per image, as Docker's: the JSON's
    /// fields and `.ID`, `.Size` (in units), `.CreatedAt`, e.g. `'{{.Repository}}:{{.Tag}}'`
    #[arg(long, default_value = "table", value_parser = crate::template::format_flag(&["table", "json"]))]
    format: String,
    /// Only the images that match, as `docker images --filter`: `reference=PATTERN` (the name,
    /// `*` standing for any part between `/`s: `team/*`, `*:1.0`), `dangling=true|false`
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE", value_parser = filter::parse)]
    filters: Vec<(String, String)>,
    /// The whole digest, not its first 12 digits (also `.ID` in a template)
    #[arg(long)]
    no_trunc: bool,
    /// Taken, as `docker images --digests`: the digest is always shown
    #[arg(long)]
    digests: bool,
    /// Taken, as `docker images -a`: Skiff keeps no intermediate images to show
    #[arg(short = 'a', long)]
    all: bool,
}

impl Images {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let filter = filter::Images::new(&self.filters)?;
        let mut rows = skiff_image::list_images(&store)?;
        rows.retain(|row| filter.matches(&row.repository, &row.tag));
        if self.format == "json" {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(ExitCode::SUCCESS);
        }
        if self.format != "table" {
            let mut values = Vec::new();
            for row in &rows {
                let mut value = serde_json::to_value(row)?;
                if let Some(fields) = value.as_object_mut() {
                    fields.insert("ID".into(), self.digest(&row.digest).into());
                    fields.insert(
                        "Size".into(),
                        skiff_capabilities::ByteSize(row.size).to_string().into(),
                    );
                    fields.insert("CreatedAt".into(), row.created.clone().into());
                }
                values.push(value);
            }
            let template = crate::template::Template::parse(&self.format)?;
            print!("{}", template.render_all(&values)?);
            return Ok(ExitCode::SUCCESS);
        }
        if self.quiet {
            for row in rows {
                match row.tag.as_str() {
                    "<none>" => println!("{}@{}", row.repository, row.digest),
                    tag => println!("{}:{tag}", row.repository),
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let width = rows
            .iter()
            .map(|r| r.repository.len())
            .max()
            .unwrap_or(0)
            .max(10);
        let tag_width = rows.iter().map(|r| r.tag.len()).max().unwrap_or(0).max(3);
        let digest_width = if self.no_trunc { 71 } else { 19 };
        println!(
            "{:width$}  {:tag_width$}  {:digest_width$}  {:>10}  CREATED",
            "REPOSITORY", "TAG", "DIGEST", "SIZE"
        );
        for row in &rows {
            let (repository, tag, created) = (&row.repository, &row.tag, &row.created);
            let digest = self.digest(&row.digest);
            let size = skiff_capabilities::ByteSize(row.size).to_string();
            println!(
                "{repository:width$}  {tag:tag_width$}  {digest:digest_width$}  {size:>10}  {created}"
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The digest as shown: `sha256:` and 12 digits, or all of it with `--no-trunc`.
    fn digest<'a>(&self, digest: &'a str) -> &'a str {
        match self.no_trunc {
            true => digest,
            false => &digest[..digest.len().min(19)],
        }
    }
}
