//! `skiff kill`: end running apps at once, as `docker kill`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::errors::user_error;
use crate::settings::GlobalFlags;

/// Kill one or more running apps: end them at once, with no grace period
///
/// As `skiff stop -t 0`: an HTTP app's requests in flight end now. A killed app stays stopped
/// (its restart policy does not apply) until `skiff start`.
#[derive(Debug, Args)]
pub struct Kill {
    /// As `docker kill -s`: KILL (the default) ends the app at once; TERM or INT stop it as
    /// `skiff stop` does, after its grace period of 10 s
    #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
    signal: String,
    /// The apps (see `skiff ps`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Kill {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let signal = self.signal.trim_start_matches("SIG").to_ascii_uppercase();
        let grace = match signal.as_str() {
            "KILL" | "9" => Some(0),
            // As `skiff stop`: the app's own stop timeout.
            "TERM" | "15" | "INT" | "2" => None,
            _ => {
                return Err(user_error(
                    format!("`-s {}`: a Wasm app has no signal handlers", self.signal),
                    "Skiff ends an app at once (`-s KILL`, the default) or stops it after a grace \
                     period (`-s TERM`, or `skiff stop -t SECONDS`)",
                ));
            }
        };
        let client = global.client();
        super::each_app(&self.names, |name| {
            global
                .block_on(client.stop(name, grace))
                .with_context(|| format!("failed to kill `{name}`"))?;
            Ok(())
        })
    }
}
