//! `skiff login`: check and store credentials for a registry.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::errors::user_error;
use crate::settings::GlobalFlags;

/// Log in to a registry; the password is read from stdin and stored in ROOT/auth.json (mode 0600)
#[derive(Debug, Args)]
pub struct Login {
    /// User name
    #[arg(short = 'u', long)]
    username: String,
    /// Read the password from stdin, as `docker login --password-stdin` (Skiff always does; this
    /// flag is accepted so Docker's scripts run unchanged)
    #[arg(long = "password-stdin")]
    _password_stdin: bool,
    /// Treat the registry as one on loopback: HTTPS without checking its certificate if it
    /// answers HTTPS, plain HTTP otherwise (Docker's insecure registries)
    #[arg(long)]
    insecure: bool,
    /// Registry address, e.g. 127.0.0.1:5000 or ghcr.io
    registry: String,
}

impl Login {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("Password: ");
        }
        let mut password = String::new();
        stdin
            .lock()
            .read_line(&mut password)
            .context("cannot read the password from stdin")?;
        let password = password.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            return Err(user_error(
                "no password given",
                "pipe it on stdin: `echo \"$PASSWORD\" | skiff login REGISTRY -u USER --password-stdin`",
            ));
        }
        global.block_on(skiff_image::login(
            &global.root(),
            &self.registry,
            &self.username,
            password,
            self.insecure,
        ))?;
        eprintln!("Login succeeded");
        Ok(ExitCode::SUCCESS)
    }
}
