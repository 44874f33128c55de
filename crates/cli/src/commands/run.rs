//! `skiff run`: run a command app in the foreground, stdio attached, exit code passed through.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_runtime::{Exit, LimitExceeded, RunOptions, Runtime, RuntimeConfig};

use crate::errors::user_error;
use crate::progress::CompileProgress;
use crate::settings::{GlobalFlags, GrantFlags, LimitFlags};

/// Exit codes for a guest that Skiff stopped, chosen to match what a shell user already knows.
const EXIT_TRAP: i32 = 128 + libc::SIGABRT; // 134, as `wasmtime run` reports a trap
const EXIT_MEMORY: i32 = 128 + libc::SIGKILL; // 137, as an OOM-killed container
const EXIT_CPU_TIME: i32 = 128 + libc::SIGXCPU; // 152, as RLIMIT_CPU
const EXIT_TIMEOUT: i32 = 124; // as `timeout(1)`

/// Run a WebAssembly app: a WASI preview 1 module or a WASI 0.2 command component (.wasm or .wat)
///
/// Exit status: the app's own exit code; 134 if it trapped; 137, 152 or 124 if it exceeded its
/// memory, CPU time or wall-clock limit; 125 if Skiff itself failed.
#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    grants: GrantFlags,
    #[command(flatten)]
    limits: LimitFlags,
    /// The app file, then the arguments passed to it (everything after the file goes to the app)
    #[arg(
        value_name = "FILE [ARGS]...",
        trailing_var_arg = true,
        required = true,
        num_args = 1..
    )]
    app_and_args: Vec<String>,
}

impl Run {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let file = PathBuf::from(&self.app_and_args[0]);
        if !file.is_file() {
            return Err(user_error(
                format!("`{}`: no such file", file.display()),
                "give the path of a .wasm or .wat file",
            ));
        }
        let options = RunOptions {
            args: self.app_and_args.clone(),
            grants: self.grants.resolve()?,
            limits: self.limits.resolve(),
        };
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(global.compile_cache_dir()),
        })?;
        let mut progress = CompileProgress::new(&self.app_and_args[0]);
        let app = runtime.load_file(&file, &mut |event| progress.on_event(event))?;
        let exit = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?
            .block_on(app.run(options))?;
        let code = report(&self.app_and_args[0], exit);
        // The guest's code may not fit in a u8 (`proc_exit(256)`); let the OS truncate it as it
        // would for a native process.
        std::process::exit(code)
    }
}

fn report(name: &str, exit: Exit) -> i32 {
    match exit {
        Exit::Code(code) => code,
        Exit::Trap {
            message,
            backtrace,
            stack_overflow,
        } => {
            eprintln!("error: `{name}` trapped: {message}");
            if let Some(backtrace) = backtrace {
                eprintln!("{}", backtrace.trim_end());
            }
            if stack_overflow {
                eprintln!(
                    "hint: the app overflowed its wasm stack, usually through unbounded recursion"
                );
            }
            EXIT_TRAP
        }
        Exit::Limit(limit) => {
            eprintln!("error: `{name}` was stopped: {limit}");
            eprintln!("hint: raise the limit with `{}`", limit.flag());
            match limit {
                LimitExceeded::Memory(_) => EXIT_MEMORY,
                LimitExceeded::CpuTime(_) => EXIT_CPU_TIME,
                LimitExceeded::Timeout(_) => EXIT_TIMEOUT,
            }
        }
    }
}
