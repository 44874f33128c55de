//! `skiff wait`: block until apps end, then print their exit codes, as `docker wait`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use skiff_api::{AppInfo, AppState, Client, ClientError};

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
                    let end = End::of(&client.get(name).await?);
                    loop {
                        if let Some(code) = end.code(&client).await? {
                            return Ok::<_, skiff_api::ClientError>(code);
                        }
                        tokio::time::sleep(POLL).await;
                    }
                })
                .with_context(|| format!("failed to wait for `{name}`"))?;
            println!("{code}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The end of an app's run, as `skiff wait` and `compose wait` watch for it: an exit recorded
/// after the one it had when watched (even if a restart policy has started the app again
/// between two reads), or an app that is not running (a created one, `skiff create`, ends only
/// after it has been started).
pub(crate) struct End {
    name: String,
    before: Option<String>,
}

impl End {
    pub fn of(app: &AppInfo) -> End {
        End {
            name: app.name.clone(),
            before: app.exits.last().map(|exit| exit.at.clone()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its exit code once it has ended, `None` before.
    pub async fn code(&self, client: &Client) -> Result<Option<i32>, ClientError> {
        let app = match app_or_exit(client, &self.name).await? {
            Ok(app) => app,
            Err(code) => return Ok(Some(code)),
        };
        let last = app.exits.last();
        let ended = (matches!(app.state, AppState::Exited | AppState::Restarting)
            && !crate::display::is_created(&app))
            || last.map(|exit| &exit.at) != self.before.as_ref();
        Ok(ended.then(|| last.map_or(0, |e| e.code)))
    }
}

/// The app, or, if it was removed as it ended (`--rm`), the code of its last exit, from the
/// daemon's events (their detail ends in `(CODE)`).
pub(crate) async fn app_or_exit(
    client: &Client,
    name: &str,
) -> Result<Result<AppInfo, i32>, ClientError> {
    match client.get(name).await {
        Ok(app) => Ok(Ok(app)),
        Err(ClientError::Api(e)) if e.status == 404 => {
            let mut code = None;
            client
                .events(false, |event| {
                    let exit = ["exited", "stopped", "oom", "limit-exceeded"]
                        .contains(&event.kind.as_str());
                    if event.app == name && exit {
                        let inner = event
                            .detail
                            .rsplit_once('(')
                            .map(|(_, c)| c.trim_end_matches(')'));
                        code = inner.and_then(|c| c.parse().ok()).or(code);
                    }
                    true
                })
                .await?;
            Ok(Err(code.unwrap_or(0)))
        }
        Err(e) => Err(e),
    }
}
