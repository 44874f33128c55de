//! One file per verb.

use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::GlobalFlags;

mod build;
mod compose;
mod daemon;
mod dashboard;
mod events;
mod image;
mod images;
mod info;
mod inspect;
mod load;
mod login;
mod logout;
mod logs;
mod new;
mod ps;
mod pull;
mod push;
mod restart;
mod rm;
mod rmi;
mod run;
mod save;
mod serve;
mod start;
mod stats;
mod stop;
mod system;
mod tag;

pub(crate) use run::looks_like_file;

#[derive(Debug, Subcommand)]
pub enum Command {
    // Boxed: its flags (grants, limits, HTTP limits, health check) make it larger than any
    // other verb by far (clippy's large_enum_variant). Not a doc comment: that would be its help.
    Run(Box<run::Run>),
    Serve(serve::Serve),
    Ps(ps::Ps),
    Logs(logs::Logs),
    Stats(stats::Stats),
    Stop(stop::Stop),
    Start(start::Start),
    Restart(restart::Restart),
    Rm(rm::Rm),
    Events(events::Events),
    Build(build::Build),
    New(new::New),
    Images(images::Images),
    Inspect(inspect::Inspect),
    Tag(tag::Tag),
    Login(login::Login),
    Logout(logout::Logout),
    Push(push::Push),
    Pull(pull::Pull),
    Rmi(rmi::Rmi),
    #[command(subcommand)]
    Image(image::Image),
    Save(save::Save),
    Load(load::Load),
    Daemon(daemon::Daemon),
    Compose(compose::Compose),
    Info(info::Info),
    Dashboard(dashboard::Dashboard),
    #[command(subcommand)]
    System(system::System),
}

/// How a verb wants Skiff's own diagnostics written, decided before logging starts.
pub struct Logging {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// The filter when `SKIFF_LOG` is unset.
    pub default_level: &'static str,
    /// Whether text lines carry the time (a long-running process wants it; a command does not).
    pub timestamps: bool,
}

impl Command {
    pub fn logging(&self) -> Logging {
        match self {
            Command::Daemon(c) => c.logging(),
            _ => Logging {
                json: false,
                default_level: "warn",
                timestamps: false,
            },
        }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(c) => (*c).execute(global),
            Command::Serve(c) => c.execute(global),
            Command::Info(c) => c.execute(global),
            Command::Dashboard(c) => c.execute(global),
            Command::Ps(c) => c.execute(global),
            Command::Logs(c) => c.execute(global),
            Command::Stats(c) => c.execute(global),
            Command::Stop(c) => c.execute(global),
            Command::Start(c) => c.execute(global),
            Command::Restart(c) => c.execute(global),
            Command::Rm(c) => c.execute(global),
            Command::Events(c) => c.execute(global),
            Command::Build(c) => c.execute(global),
            Command::New(c) => c.execute(global),
            Command::Images(c) => c.execute(global),
            Command::Inspect(c) => c.execute(global),
            Command::Tag(c) => c.execute(global),
            Command::Login(c) => c.execute(global),
            Command::Logout(c) => c.execute(global),
            Command::Push(c) => c.execute(global),
            Command::Pull(c) => c.execute(global),
            Command::Rmi(c) => c.execute(global),
            Command::Image(c) => c.execute(global),
            Command::Save(c) => c.execute(global),
            Command::Load(c) => c.execute(global),
            Command::Daemon(c) => c.execute(global),
            Command::Compose(c) => c.execute(global),
            Command::System(c) => c.execute(global),
        }
    }
}

/// Runs `action` on each named app, as `docker stop a b c` does: a failure is reported and the
/// rest still go; the exit status is 125 if any failed.
fn each_app(
    names: &[String],
    mut action: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for name in names {
        match action(name) {
            Ok(()) => println!("{name}"),
            // Without a daemon every other name would fail the same way.
            Err(error) if no_daemon(&error) => return Err(error),
            Err(error) => {
                crate::errors::report(&error);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(crate::errors::EXIT_SKIFF_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn no_daemon(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<skiff_api::ClientError>(),
            Some(skiff_api::ClientError::NoDaemon { .. })
        )
    })
}
