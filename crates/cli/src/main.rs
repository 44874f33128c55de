//! `skiff`: the command line. Each verb is a clap struct in `commands/<verb>.rs` with an
//! `execute`; this file parses, installs logging, and turns the outcome into output and an exit
//! code — errors are printed here and only here.

mod commands;
mod compose;
mod display;
mod errors;
mod progress;
mod settings;
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

/// jemalloc rather than glibc's malloc: in the daemon, cheaper requests that allocate much (an
/// in-process call 43 against 48 µs of CPU) for about glibc's memory per idle app, with the
/// option below (docs/decisions/0010-jemalloc.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before its first allocation (the crate's build prefixes the symbol):
/// one arena per CPU rather than four, so an app's small allocations, made from whichever thread
/// served it, share slabs instead of leaving a part-used slab in each arena (7-25 % less memory
/// per idle app in the daemon than the defaults, decision 0010). `_RJEM_MALLOC_CONF` overrides it.
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: &[u8; 20] = b"percpu_arena:percpu\0";

fn main() -> ExitCode {
    skiff_runtime::no_backtraces_in_errors();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
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

/// Skiff's own diagnostics go to stderr, filtered by `SKIFF_LOG` (default: the verb's level,
/// warnings for all but the daemon), coloured only on a terminal; guest output never passes
/// through here. The daemon may ask for JSON lines instead of text.
fn init_tracing(logging: commands::Logging) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(logging.default_level));
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
