//! `skiff`: the command line. Each verb is a clap struct in `commands/<verb>.rs` with an
//! `execute`; this file parses, installs logging, and turns the outcome into output and an exit
//! code — errors are printed here and only here.

mod allocator;
mod commands;
mod compose;
mod display;
mod docker_flags;
mod errors;
mod filter;
mod progress;
mod settings;
mod template;
mod wasmtime_compat;

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "skiff",
    version,
    about = "Run WebAssembly apps in one shared, sandboxed runtime"
)]
struct Cli {
    #[command(flatten)]
    global: settings::GlobalFlags,
    #[command(subcommand)]
    command: commands::Command,
}

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

fn main() -> ExitCode {
    skiff_runtime::no_backtraces_in_errors();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(Unparsed::Refused(error)) => {
            errors::report(&error);
            return ExitCode::from(errors::EXIT_SKIFF_FAILED);
        }
        Err(Unparsed::Clap(e)) => {
            let _ = e.print();
            // Help and version are successes; a bad command line is Skiff's failure, and like
            // `docker run` we keep the guest's exit codes free by using 125 for it.
            return if e.use_stderr() {
                ExitCode::from(errors::EXIT_SKIFF_FAILED)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(cli.command.logging());
    match cli.command.execute(&cli.global) {
        Ok(code) => code,
        Err(error) => {
            errors::report(&error);
            ExitCode::from(errors::EXIT_SKIFF_FAILED)
        }
    }
}

/// Why the command line was not parsed.
enum Unparsed {
    Clap(clap::Error),
    /// A `docker run` flag refused, saying why ([`docker_flags`]).
    Refused(anyhow::Error),
}

/// The command line, as `Cli::try_parse` reads it, but building only the flags of the verb named
/// (`commands::Deferred`).
fn parse() -> Result<Cli, Unparsed> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::{CommandFactory as _, FromArgMatches as _};
    let mut args: Vec<_> = std::env::args_os().collect();
    commands::serve::header_for_wasmtime_h(&mut args);
    let mut cmd = Cli::command();
    commands::expand_for(&mut cmd, &args);
    let mut matches = loop {
        let error = match cmd.try_get_matches_from_mut(args.clone()) {
            Ok(matches) => break matches,
            Err(error) => error,
        };
        // A `docker run` flag clap does not know: dropped and parsed again, or refused.
        let unknown = match (error.kind(), error.get(ContextKind::InvalidArg)) {
            (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) => arg.clone(),
            _ => return Err(Unparsed::Clap(error)),
        };
        match docker_flags::recognise(&unknown, &mut args) {
            Ok(true) => continue,
            Ok(false) => return Err(Unparsed::Clap(error)),
            Err(refused) => return Err(Unparsed::Refused(refused)),
        }
    };
    // Freeing the argument tree here (~100k instructions) is cheaper than leaving it: clap
    // copied the global flags into every verb, and the engine, linker and module allocated
    // next reuse those ~140 KiB instead of faulting in fresh heap pages, 35 fewer per start
    // (docs/decisions/0012-startup-layout.md).
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| Unparsed::Clap(e.format(&mut cmd)))
}

/// Skiff's own diagnostics go to stderr, filtered by `SKIFF_LOG`, or else by wasmtime's
/// `WASMTIME_LOG` (e.g. `wasmtime_wasi=trace`: every WASI call, as under `wasmtime run`)
/// (default: the verb's level, warnings for all but the daemon), coloured only on a terminal;
/// guest output never passes through here. The daemon may ask for JSON lines instead of text.
fn init_tracing(logging: commands::Logging) {
    use std::io::IsTerminal;
    if logging.off {
        return;
    }
    // rustls-platform-verifier logs each certificate it rejects as an error of its own; the same
    // reason reaches the user once, as a cause of the error Skiff reports.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("WASMTIME_LOG"))
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "{},rustls_platform_verifier=off",
                logging.default_level
            ))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match (logging.json, logging.timestamps) {
        (true, _) => builder.json().init(),
        (false, true) => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init(),
        (false, false) => builder
            .with_ansi(std::io::stderr().is_terminal())
            .without_time()
            .with_target(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
