//! `skiff pull`: fetch an image from a registry into the local store.

use std::process::ExitCode;

use clap::Args;
use skiff_image::Store;

use crate::errors::user_error;
use crate::progress::TransferProgress;
use crate::settings::GlobalFlags;

/// Pull an image from a registry (over HTTPS; a loopback registry, or one given --insecure, over
/// plain HTTP if it does not answer HTTPS)
#[derive(Debug, Args)]
pub struct Pull {
    /// Treat the registry as one on loopback: HTTPS without checking its certificate if it
    /// answers HTTPS, plain HTTP otherwise (Docker's insecure registries)
    #[arg(long)]
    insecure: bool,
    /// A Wasm platform, as `docker pull --platform wasi/wasm`; of a multi-platform image the
    /// Wasm entry is pulled whether or not this is given
    #[arg(long, value_name = "OS/ARCH", value_parser = crate::settings::parse_platform)]
    platform: Option<String>,
    /// No progress: print only the image's digest, as `docker pull -q` prints its name
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG] or NAME@sha256:DIGEST, e.g. 127.0.0.1:5000/team/hello:1.0
    image: String,
}

impl Pull {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let store = global.image_store()?;
        let digest = pull(global, &store, &self.image, self.insecure, self.quiet)?;
        println!("{digest}");
        Ok(ExitCode::SUCCESS)
    }
}

/// Pulls `image` with the stored credentials, showing progress unless `quiet`; returns the
/// manifest digest.
pub fn pull(
    global: &GlobalFlags,
    store: &Store,
    image: &str,
    insecure: bool,
    quiet: bool,
) -> anyhow::Result<String> {
    let reference = skiff_image::parse_reference(image)?;
    let auth = skiff_image::auth_for(&global.root(), reference.resolve_registry())?;
    if quiet {
        let pulled = skiff_image::pull(store, &reference, &auth, insecure, &skiff_image::Quiet);
        return Ok(global.block_on(pulled)?);
    }
    let progress = TransferProgress::new("pulled");
    let digest = global.block_on(skiff_image::pull(
        store, &reference, &auth, insecure, &progress,
    ))?;
    eprintln!(
        "Pulled {} ({digest})",
        skiff_image::display_name(&reference.whole())
    );
    Ok(digest)
}

/// The digest of `image` as `policy` has it (`--pull`, compose's `pull_policy`): the stored one,
/// else pulled (`missing`); pulled whatever is stored (`always`); the stored one, else the error
/// `never` makes (`never`). `quiet`: no progress.
pub fn by_policy(
    global: &GlobalFlags,
    store: &Store,
    image: &str,
    (policy, quiet): (skiff_api::PullPolicy, bool),
    never: impl FnOnce() -> anyhow::Error,
) -> anyhow::Result<String> {
    use skiff_api::PullPolicy;
    if policy != PullPolicy::Always
        && let Some((_, digest)) = skiff_image::resolve_local(store, image)?
    {
        return Ok(digest);
    }
    if policy == PullPolicy::Never {
        return Err(never());
    }
    if policy == PullPolicy::Missing && !quiet {
        eprintln!("Unable to find image `{image}` locally");
    }
    pull(global, store, image, false, quiet)
}

/// A stored image by name or digest, or an error saying how to get it.
pub fn find_local(store: &Store, image: &str) -> anyhow::Result<(String, String)> {
    skiff_image::resolve_local(store, image)?.ok_or_else(|| {
        user_error(
            format!("no image `{image}` in the local store"),
            "list the images with `skiff images`, or get it with `skiff pull` or `skiff build`",
        )
    })
}
