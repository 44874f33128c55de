//! `skiff version`: this program's version and the wasmtime it runs apps on, then the daemon's,
//! as `docker version` shows its client and its server.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Show the version of Skiff and of the wasmtime it runs apps on, for this program and for the
/// daemon
#[derive(Debug, Args)]
pub struct Version {
    /// `json` prints `{"client": {...}, "server": {...}}` (`server` null when no daemon answers)
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

impl Version {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "wasmtime": skiff_runtime::WASMTIME_VERSION,
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        });
        let server = global
            .block_on(global.client().info())
            .context("failed to read the daemon's version");
        if self.format.as_deref() == Some("json") {
            let json = serde_json::json!({"client": client, "server": server.as_ref().ok().map(|info| {
                serde_json::json!({"version": info.version, "wasmtime": info.wasmtime})
            })});
            println!("{}", serde_json::to_string_pretty(&json)?);
            return server.map(|_| ExitCode::SUCCESS);
        }
        println!("Client:");
        println!(" Version:   {}", env!("CARGO_PKG_VERSION"));
        println!(" Wasmtime:  {}", skiff_runtime::WASMTIME_VERSION);
        println!(
            " OS/Arch:   {}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        // As `docker version`: the client's part is printed, then the daemon's or why not.
        let info = server?;
        println!();
        println!("Server:");
        println!(" Version:   {}", info.version);
        println!(
            " Wasmtime:  {}",
            info.wasmtime.as_deref().unwrap_or("unknown")
        );
        println!(" Root:      {}", info.root);
        Ok(ExitCode::SUCCESS)
    }
}
