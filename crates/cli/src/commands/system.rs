//! `skiff system ...`: the health of Skiff's own files.

use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::GlobalFlags;

/// Check Skiff's store and caches
#[derive(Debug, Subcommand)]
pub enum System {
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
        let System::Check { repair } = self;
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
