//! `skiff info`: the daemon, and where it serves HTTP apps, metrics and the dashboard.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Show the daemon's version, root, the addresses of its HTTP gateway, metrics endpoint and
/// dashboard, and the token the dashboard asks for
#[derive(Debug, Args)]
pub struct Info {
    /// `json` prints the API's object
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

impl Info {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let info = global
            .block_on(global.client().info())
            .context("failed to read the daemon's info")?;
        if self.format.as_deref() == Some("json") {
            println!("{}", serde_json::to_string_pretty(&info)?);
            return Ok(ExitCode::SUCCESS);
        }
        let none = || "none".to_string();
        println!("Version:   {}", info.version);
        println!("Root:      {}", info.root);
        println!(
            "Gateway:   {}",
            info.gateway.map_or_else(none, |a| format!("http://{a}/"))
        );
        println!(
            "Metrics:   {}",
            info.metrics
                .map_or_else(none, |a| format!("http://{a}/metrics"))
        );
        println!("Dashboard: {}", info.dashboard.unwrap_or_else(none));
        if let Some(token) = info.admin_token {
            println!("Token:     {token}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
