//! One file per verb.

use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::GlobalFlags;

mod build;
mod image;
mod images;
mod inspect;
mod load;
mod login;
mod logout;
mod pull;
mod push;
mod rmi;
mod run;
mod save;
mod tag;

#[derive(Debug, Subcommand)]
pub enum Command {
    Run(run::Run),
    Build(build::Build),
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
}

impl Command {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(c) => c.execute(global),
            Command::Build(c) => c.execute(global),
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
        }
    }
}
