//! `skiff dashboard`: open the daemon's dashboard in the browser.

use std::process::{ExitCode, Stdio};

use anyhow::Context as _;
use clap::Args;

use crate::settings::GlobalFlags;

/// Open the daemon's dashboard in the browser (with `xdg-open`), or print its address where
/// there is no browser to open
///
/// The address carries the daemon's token once (the page keeps it in a cookie of its own and
/// takes it out of the address bar): anyone with the address can use the dashboard, as the
/// owner of the daemon can. docs/dashboard.md says what each view shows.
#[derive(Debug, Args)]
pub struct Dashboard {
    /// Print the address instead of opening it
    #[arg(long)]
    print: bool,
}

impl Dashboard {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let info = global
            .block_on(global.client().info())
            .context("failed to read the daemon's info")?;
        let (Some(url), Some(token)) = (info.dashboard, info.admin_token) else {
            anyhow::bail!(
                "the daemon has no admin listener (it was started with `--admin none`); \
                 restart it with `--admin 127.0.0.1:9090`"
            );
        };
        let address = format!("{url}?token={token}");
        if self.print || !open(&address) {
            println!("{address}");
        } else {
            eprintln!("Opened {url} in the browser");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Opens `address` with `xdg-open` where there is a display to open it on; false otherwise.
fn open(address: &str) -> bool {
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    display
        && std::process::Command::new("xdg-open")
            .arg(address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
