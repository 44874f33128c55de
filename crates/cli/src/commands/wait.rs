//! `skiff wait`: block until apps end, then print their exit codes, as `docker wait`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use skiff_api::AppState;

use crate::settings::GlobalFlags;

/// How often an app's state is read while waiting for it to end.
const POLL: Duration = Duration::from_millis(50);

/// Block until one or more apps end, then print their exit codes, one per line
///
/// An app run before this was called and already ended gives its last exit code at once. An app
/// with a restart policy counts as ended when it exits, before it is restarted.
#[derive(Debug, Args)]
pub struct Wait {
    /// The apps (see `skiff ps -a`)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

impl Wait {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let client = global.client();
        for name in &self.names {
            let code = global
                .block_on(async {
                    let mut app = client.get(name).await?;
                    // An exit recorded after this one is an end, even if a restart policy has
                    // started the app again between two reads.
                    let before = app.exits.last().map(|exit| exit.at.clone());
                    loop {
                        let last = app.exits.last();
                        // A created app (`skiff create`) ends after it has been started.
                        let ended = (matches!(app.state, AppState::Exited | AppState::Restarting)
                            && !crate::display::is_created(&app))
                            || last.map(|exit| &exit.at) != before.as_ref();
                        if ended {
                            return Ok::<_, skiff_api::ClientError>(last.map_or(0, |e| e.code));
                        }
                        tokio::time::sleep(POLL).await;
                        app = match client.get(name).await {
                            Ok(app) => app,
                            // Removed as it ended (`--rm`): its exit is in the daemon's events.
                            Err(skiff_api::ClientError::Api(e)) if e.status == 404 => {
                                return super::logs::last_exit_event(&client, name).await;
                            }
                            Err(e) => return Err(e),
                        };
                    }
                })
                .with_context(|| format!("failed to wait for `{name}`"))?;
            println!("{code}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
