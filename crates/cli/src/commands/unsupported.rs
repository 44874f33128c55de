//! Docker's verbs that have no meaning for a Wasm app, refused by name with what to do instead
//! (hidden from `--help`): a Docker user's first try gets an answer, not "unrecognized
//! subcommand".

use std::process::ExitCode;

use clap::Args;

use crate::errors::user_error;

/// A Docker verb Skiff does not have
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct Unsupported {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

impl Unsupported {
    /// `verb`: the command it was called by (`exec`, `compose exec`).
    pub fn refuse(&self, verb: &str) -> anyhow::Result<ExitCode> {
        let (why, instead) = match verb.rsplit(' ').next().unwrap_or(verb) {
            "exec" => (
                "an app is one WebAssembly program: it has no shell or other programs to run \
                 beside it",
                "run another program with the same grants: `skiff run -v HOST:GUEST PROGRAM.wasm`",
            ),
            "cp" => (
                "an app has no file system of its own: it sees only the host directories it was \
                 granted",
                "copy into or out of those directories on the host (`skiff inspect NAME` lists \
                 them as `Dir:`)",
            ),
            "top" => (
                "an app is not a set of processes",
                "see its CPU and memory with `skiff stats NAME`, its state with `skiff inspect NAME`",
            ),
            "commit" | "export" | "diff" => (
                "an app has no writable layer: what it writes goes to the host directories it \
                 was granted",
                "save its image with `skiff save IMAGE -o FILE`",
            ),
            "scale" => (
                "a service is one app: an HTTP service scales by itself (a fresh instance per \
                 request)",
                "for more copies of a command, give each a service of its own",
            ),
            "watch" => (
                "Skiff does not watch the files of a build",
                "rebuild and replace the changed services with `skiff compose up -d --build`",
            ),
            _ => ("Skiff has no such verb", "see `skiff --help`"),
        };
        Err(user_error(format!("`skiff {verb}`: {why}"), instead))
    }
}
