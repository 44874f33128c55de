//! `skiff system ...`: the health of Skiff's own files.

use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::GlobalFlags;

/// Check Skiff's store and caches, and show the disk they use
#[derive(Debug, Subcommand)]
pub enum System {
    /// Show the disk space Skiff uses, as `docker system df`: images (their blobs and extracted
    /// files), compiled code, and the daemon's app logs under this root
    Df,
    /// Verify every image blob, name, extracted file set and compile cache entry, as `git fsck`
    /// does; exits 1 if anything is wrong
    Check {
        /// Fix what can be fixed without losing what a name needs: corrupt blobs, broken
        /// extractions, broken cache entries and leftovers of interrupted writes are removed
        /// (a later pull, run or compile restores them). Names are never removed.
        #[arg(long)]
        repair: bool,
    },
}

impl System {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let repair = match self {
            System::Df => return df(global),
            System::Check { repair } => repair,
        };
        let store = global.image_store()?;
        let images = skiff_image::check::check(&store, repair)?;
        let (cached, cache_problems) =
            skiff_runtime::check_compile_cache(&global.compile_cache_dir(), repair)?;
        let mut unrepaired = 0;
        for problem in &images.problems {
            println!("{}: {}", problem.what, problem.action);
            unrepaired += usize::from(!problem.repaired);
        }
        for problem in &cache_problems {
            let action = if problem.removed {
                "removed (recompiled when next used)"
            } else if repair {
                "could not be removed"
            } else {
                "run `skiff system check --repair` to remove it"
            };
            println!(
                "compile cache `{}`: {}: {action}",
                problem.path.display(),
                problem.what
            );
            unrepaired += usize::from(!problem.removed);
        }
        let found = images.problems.len() + cache_problems.len();
        println!(
            "checked {} blobs, {} names, {} extracted file sets, {cached} compiled entries: {}",
            images.blobs,
            images.names,
            images.extracted,
            match (found, unrepaired) {
                (0, _) => "no problems".to_string(),
                (n, 0) => format!("{n} problems, all repaired"),
                (n, u) => format!("{n} problems, {u} not repaired"),
            }
        );
        Ok(if unrepaired == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// `skiff system df`: TYPE, how many, and the bytes on disk, under this root.
fn df(global: &GlobalFlags) -> anyhow::Result<ExitCode> {
    let root = global.root();
    let store = global.image_store()?;
    let images = store.names()?.len();
    let (_, image_bytes) = usage(&root.join("images"), |_| true);
    let (compiled, cache_bytes) = usage(&global.compile_cache_dir(), |path| {
        path.extension().is_some_and(|e| e == "cwasm")
    });
    let (logs, log_bytes) = usage(&root.join("daemon").join("logs"), |_| true);
    println!("{:<15} {:>7} {:>10}", "TYPE", "TOTAL", "SIZE");
    for (kind, total, bytes) in [
        ("Images", images, image_bytes),
        ("Compiled code", compiled, cache_bytes),
        ("App logs", logs, log_bytes),
    ] {
        let size = skiff_capabilities::ByteSize(bytes).to_string();
        println!("{kind:<15} {total:>7} {size:>10}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The files under `dir` that `count` names, and the bytes of all files there (none if it does
/// not exist). Links are not followed.
fn usage(dir: &std::path::Path, count: impl Fn(&std::path::Path) -> bool) -> (usize, u64) {
    let (mut counted, mut bytes) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
                counted += usize::from(count(&entry.path()));
            }
        }
    }
    (counted, bytes)
}
