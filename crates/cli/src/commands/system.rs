//! `skiff system ...`: the health of Skiff's own files.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::settings::GlobalFlags;

/// Check Skiff's store and caches, show the disk they use, and remove what nothing uses
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
    /// Remove what nothing uses, as `docker system prune`: apps in the daemon that have exited,
    /// image data no image name refers to, and code compiled by other versions of Skiff
    Prune {
        /// Also remove every image no app uses, and all compiled code, not only other versions'
        /// (each program is compiled again when next run)
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

impl System {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let repair = match self {
            System::Df => return df(global),
            System::Check { repair } => repair,
            System::Prune { all, force } => return prune(global, all, force),
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

/// `skiff system prune`: what it will remove, a confirmation unless `force`, then each part in
/// turn. Without a daemon there are no apps to remove; the rest is this root's files.
fn prune(global: &GlobalFlags, all: bool, force: bool) -> anyhow::Result<ExitCode> {
    let (images, code) = match all {
        true => ("all images no app uses", "all compiled code"),
        false => (
            "image data no image name refers to",
            "code compiled by other versions of Skiff",
        ),
    };
    println!(
        "WARNING! This will remove:\n  - all apps in the daemon that have exited\n  \
         - {images}\n  - {code}"
    );
    if !force && !confirmed()? {
        return Ok(ExitCode::SUCCESS);
    }
    match remove_exited_apps(global) {
        Err(skiff_api::ClientError::NoDaemon { .. }) => {}
        result => {
            result.context("failed to list the daemon's apps")?;
        }
    }
    let (blobs, image_bytes) = super::image::prune_images(global, all)?;
    let cache = global.compile_cache_dir();
    let compiled = skiff_runtime::prune_compile_cache(&cache, all)
        .with_context(|| format!("failed to remove compiled code under `{}`", cache.display()))?;
    println!(
        "Deleted {blobs} image blobs and {} compiled programs\nTotal reclaimed space: {}",
        compiled.entries,
        skiff_capabilities::ByteSize(image_bytes + compiled.bytes)
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes every app of the daemon that has exited, printing their names as Docker does.
pub(crate) fn remove_exited_apps(global: &GlobalFlags) -> Result<(), skiff_api::ClientError> {
    let client = global.client();
    let apps = global.block_on(client.list(true))?;
    let mut removed = Vec::new();
    for app in apps
        .iter()
        .filter(|app| app.state == skiff_api::AppState::Exited)
    {
        // One that restarted meanwhile is refused by the daemon, and kept.
        match global.block_on(client.remove(&app.name, false)) {
            Ok(()) => removed.push(app.name.as_str()),
            Err(e) => tracing::warn!("kept `{}`: {e}", app.name),
        }
    }
    if !removed.is_empty() {
        println!("Deleted apps:\n{}", removed.join("\n"));
    }
    Ok(())
}

/// Asks on the terminal, as `docker system prune` does; anything but `y`/`yes` (or end of input)
/// is a no.
pub(crate) fn confirmed() -> anyhow::Result<bool> {
    use std::io::Write as _;
    print!("Are you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
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
