//! `skiff inspect`: an image's manifest, config, layers, grants and limits.

use std::process::ExitCode;

use clap::Args;
use skiff_image::Image;

use crate::settings::GlobalFlags;

/// Show an image: manifest, config, layers, and the grants and limits it asks for
#[derive(Debug, Args)]
pub struct Inspect {
    /// Output format: `human` or `json`
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    format: String,
    /// Image name, or digest (prefix)
    image: String,
}

impl Inspect {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let (name, digest) = crate::commands::pull::find_local(&store, &self.image)?;
        let image = Image::open(&store, &digest)?;
        let size = image.size(&store);
        if self.format == "json" {
            let json = serde_json::json!({
                "name": skiff_image::display_name(&name),
                "digest": digest,
                "size": size,
                "manifest": image.manifest,
                "config": image.config,
                "app": image.app,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!("Name:     {}", skiff_image::display_name(&name));
        println!("Digest:   {digest}");
        println!("Size:     {}", skiff_capabilities::ByteSize(size));
        println!(
            "Config:   {} (os: {})",
            image.manifest.config.media_type,
            image.os().unwrap_or("?")
        );
        println!("Layers:");
        for layer in &image.manifest.layers {
            println!(
                "  {}  {:>10}  {}",
                layer.digest,
                skiff_capabilities::ByteSize(layer.size.max(0) as u64).to_string(),
                layer.media_type
            );
        }
        if let Some(app) = &image.app {
            println!("App:      {} {} ({})", app.name, app.version, app.kind);
            if let Some(description) = &app.description {
                println!("          {description}");
            }
            if !app.args.is_empty() {
                println!("Args:     {:?}", app.args);
            }
            for (key, value) in &app.env {
                println!("Env:      {key}={value}");
            }
            for file in &app.files {
                println!("Files:    {} (read-only)", file.destination);
            }
            for volume in &app.volumes {
                println!("Volume:   {volume} (grant with -v HOST_DIR:{volume})");
            }
            println!("Network:  {}", app.network);
            let limits = &app.limits;
            let show = |d: Option<std::time::Duration>| {
                d.map_or("unlimited".to_string(), |d| {
                    humantime::format_duration(d).to_string()
                })
            };
            println!(
                "Limits:   memory {}, cpu-time {}, timeout {}",
                limits
                    .memory
                    .map_or("unlimited".to_string(), |m| m.to_string()),
                show(limits.cpu_time),
                show(limits.timeout)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
