//! `skiff container ...`: the app verbs under Docker's management command (`docker container ls`,
//! `rm`, `logs`, ...), each the top-level verb it names, and `prune`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::Deferred;
use crate::settings::GlobalFlags;

/// Manage apps (Docker's containers)
#[derive(Debug, Subcommand)]
pub enum Container {
    /// Show a running app's output until it exits (`skiff attach`)
    Attach(Deferred<super::attach::Attach>),
    /// Create an app without starting it (`skiff create`)
    Create(Deferred<super::create::Create>),
    /// Show an app: resolved grants, limits, state, exit history (`skiff inspect`)
    Inspect(Deferred<super::inspect::Inspect>),
    /// Kill one or more running apps (`skiff kill`)
    Kill(Deferred<super::kill::Kill>),
    /// Show an app's output (`skiff logs`)
    Logs(Deferred<super::logs::Logs>),
    /// List apps (`skiff ps`)
    #[command(visible_aliases = ["list", "ps"])]
    Ls(Deferred<super::ps::Ps>),
    /// Pause one or more running apps (`skiff pause`)
    Pause(Deferred<super::pause::Pause>),
    /// List an app's ports (`skiff port`)
    Port(Deferred<super::port::Port>),
    /// Remove every app that has exited, with its logs
    Prune {
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
    },
    /// Rename an app (`skiff rename`)
    Rename(Deferred<super::rename::Rename>),
    /// Restart one or more apps (`skiff restart`)
    Restart(Deferred<super::restart::Restart>),
    /// Remove one or more apps (`skiff rm`)
    #[command(visible_alias = "remove")]
    Rm(Deferred<super::rm::Rm>),
    /// Run a WebAssembly app (`skiff run`)
    Run(Deferred<Box<super::run::Run>>),
    /// Start one or more stopped apps (`skiff start`)
    Start(Deferred<super::start::Start>),
    /// Show the apps' resource use (`skiff stats`)
    Stats(Deferred<super::stats::Stats>),
    /// Stop one or more apps (`skiff stop`)
    Stop(Deferred<super::stop::Stop>),
    /// Unpause one or more paused apps (`skiff unpause`)
    Unpause(Deferred<super::pause::Unpause>),
    /// Change the restart policy and limits of one or more apps (`skiff update`)
    Update(Deferred<super::update::Update>),
    /// Block until one or more apps end, then print their exit codes (`skiff wait`)
    Wait(Deferred<super::wait::Wait>),
}

impl Container {
    /// `container run -D logging=n`, as `run` takes it.
    pub fn logging_off(&self) -> bool {
        match self {
            Container::Run(c) => c.0.wasmtime.logging_off(),
            _ => false,
        }
    }

    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Container::Attach(c) => c.0.execute(global),
            Container::Create(c) => c.0.execute(global),
            Container::Inspect(c) => c.0.apps_only().execute(global),
            Container::Kill(c) => c.0.execute(global),
            Container::Logs(c) => c.0.execute(global),
            Container::Ls(c) => c.0.execute(global),
            Container::Pause(c) => c.0.execute(global, true),
            Container::Port(c) => c.0.execute(global),
            Container::Rename(c) => c.0.execute(global),
            Container::Restart(c) => c.0.execute(global),
            Container::Rm(c) => c.0.execute(global),
            Container::Run(c) => (*c.0).execute(global),
            Container::Start(c) => c.0.execute(global),
            Container::Stats(c) => c.0.execute(global),
            Container::Stop(c) => c.0.execute(global),
            Container::Unpause(c) => c.0.execute(global),
            Container::Update(c) => c.0.execute(global),
            Container::Wait(c) => c.0.execute(global),
            Container::Prune { force } => {
                println!("WARNING! This will remove all apps that have exited.");
                if !force && !super::system::confirmed()? {
                    return Ok(ExitCode::SUCCESS);
                }
                super::system::remove_exited_apps(global)
                    .context("failed to remove the apps that have exited")?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
