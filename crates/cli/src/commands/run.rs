//! `skiff run`: run a command app in the foreground, stdio attached, exit code passed through.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use skiff_runtime::{Exit, LimitExceeded, RunOptions, Runtime, RuntimeConfig};

use crate::errors::user_error;
use crate::progress::CompileProgress;
use skiff_capabilities::DirGrant;

use crate::settings::{GlobalFlags, GrantFlags, ImageDefaults, LimitFlags};

/// Exit codes for a guest that Skiff stopped, chosen to match what a shell user already knows.
const EXIT_TRAP: i32 = 128 + libc::SIGABRT; // 134, as `wasmtime run` reports a trap
const EXIT_MEMORY: i32 = 128 + libc::SIGKILL; // 137, as an OOM-killed container
const EXIT_CPU_TIME: i32 = 128 + libc::SIGXCPU; // 152, as RLIMIT_CPU
const EXIT_TIMEOUT: i32 = 124; // as `timeout(1)`

/// Run a WebAssembly app: a .wasm/.wat file (WASI preview 1 module or 0.2 command component) or an image
///
/// Exit status: the app's own exit code; 134 if it trapped; 137, 152 or 124 if it exceeded its
/// memory, CPU time or wall-clock limit; 125 if Skiff itself failed.
#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    grants: GrantFlags,
    #[command(flatten)]
    limits: LimitFlags,
    /// The app file or image, then the arguments passed to it (everything after it goes to the app;
    /// for an image, they replace its default arguments)
    #[arg(
        value_name = "FILE|IMAGE [ARGS]...",
        trailing_var_arg = true,
        required = true,
        num_args = 1..
    )]
    app_and_args: Vec<String>,
}

impl Run {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let target = &self.app_and_args[0];
        let mut args = self.app_and_args.clone();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(global.compile_cache_dir()),
        })?;
        let mut progress = CompileProgress::new(target);
        let mut on_compile = |event| progress.on_event(event);
        let (app, image) = if looks_like_file(target) {
            let file = PathBuf::from(target);
            if !file.is_file() {
                return Err(user_error(
                    format!("`{target}`: no such file"),
                    "give the path of a .wasm or .wat file, or an image name (see `skiff images`)",
                ));
            }
            (runtime.load_file(&file, &mut on_compile)?, None)
        } else {
            let (wasm, defaults) = image_app(global, target)?;
            if args.len() == 1 {
                args.extend(defaults.app.args.iter().cloned());
            }
            (
                runtime.load(target, &wasm, &mut on_compile)?,
                Some(defaults),
            )
        };
        let options = RunOptions {
            args,
            grants: self.grants.resolve(image.as_ref())?,
            limits: self.limits.resolve(image.as_ref()),
        };
        let exit = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?
            .block_on(app.run(options))?;
        let code = report(target, exit);
        // The guest's code may not fit in a u8 (`proc_exit(256)`); let the OS truncate it as it
        // would for a native process.
        std::process::exit(code)
    }
}

/// A path rather than an image name: an existing file, or something spelled like a path.
fn looks_like_file(target: &str) -> bool {
    let path = std::path::Path::new(target);
    path.is_file()
        || target.starts_with(['.', '/'])
        || path.extension().is_some_and(|e| e == "wasm" || e == "wat")
}

/// The Wasm and the defaults of a stored image, pulled first if it is not in the store (as
/// `docker run` does).
fn image_app(global: &GlobalFlags, image: &str) -> anyhow::Result<(Vec<u8>, ImageDefaults)> {
    let store = global.image_store()?;
    let digest = match skiff_image::resolve_local(&store, image)? {
        Some((_, digest)) => digest,
        None => {
            eprintln!("Unable to find image `{image}` locally");
            crate::commands::pull::pull(global, &store, image, false)?
        }
    };
    let image = skiff_image::Image::open(&store, &digest)?;
    let wasm = image.wasm_bytes(&store)?;
    let app = image
        .app
        .clone()
        .unwrap_or_else(|| skiff_manifest::AppConfig {
            name: image.digest.clone(),
            ..Default::default()
        });
    let mut files = Vec::new();
    if let Some(layer) = image.files_layer() {
        let root = skiff_image::materialize_files(&store, layer)?;
        let mut tops: Vec<String> = app
            .files
            .iter()
            .filter_map(|f| {
                f.destination
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .map(str::to_string)
            })
            .collect();
        tops.sort();
        tops.dedup();
        for top in tops {
            files.push(DirGrant {
                host: root.join(&top),
                guest: format!("/{top}"),
                read_only: true,
            });
        }
    }
    Ok((wasm, ImageDefaults { app, files }))
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
