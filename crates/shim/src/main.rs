//! `containerd-shim-skiff-v1`: containerd (and Kubernetes, through containerd's CRI plugin) runs
//! Skiff images with `--runtime io.containerd.skiff.v1` / a RuntimeClass whose handler is `skiff`.
//!
//! It owns the translation of a container into a Skiff app: the OCI runtime spec into Skiff's
//! grants and limits (`spec`), the image in containerd's content store into a Skiff image
//! (`image`), and the task lifecycle containerd drives (`instance`). It deliberately re-implements
//! nothing of a run: loading, compiling, caching, granting and limiting are `skiff-runtime`'s,
//! `skiff-capabilities`'s and `skiff-image`'s, as for `skiff run`; and the containerd protocol
//! (ttrpc task service, shim start/delete, IO, events) is runwasi's `containerd-shimkit`.
//!
//! Not done yet: task stats of the app itself (containerd gets the shim process's), stdin.

mod http;
mod image;
mod instance;
mod spec;

fn main() {
    containerd_shimkit::sandbox::cli::shim_main::<instance::SkiffInstance>(
        "skiff",
        containerd_shimkit::shim_version!(),
        None,
    );
}
