//! `containerd-shim-skiff-v1`: containerd (and Kubernetes, through containerd's CRI plugin) runs
//! Skiff images with `--runtime io.containerd.skiff.v1` / a RuntimeClass whose handler is `skiff`.
//!
//! It owns the translation of a container into a Skiff app: the OCI runtime spec into Skiff's
//! grants and limits (`spec`), the image in containerd's content store into a Skiff image
//! (`image`), and the task lifecycle containerd drives (`instance`). It deliberately re-implements
//! nothing of a run: loading, compiling, caching, granting and limiting are `skiff-runtime`'s,
//! `skiff-capabilities`'s and `skiff-image`'s, as for `skiff run`; and the containerd protocol
//! (ttrpc, shim start/delete, events) is `containerd-shim`'s. The task service is its own
//! (`task`), so that a task's stats are its app's (`stats`), not the shim process's, and on
//! ttrpc's async server, so that a node's shim runs no threads per container.

mod http;
mod image;
mod instance;
mod rootfs;
mod shimlog;
mod spec;
mod stats;
mod task;

use std::io::Write as _;

use containerd_shim::protos::protobuf::{Message as _, MessageField};
use containerd_shim::protos::types::introspection::{RuntimeInfo, RuntimeVersion};
use containerd_shimkit::AmbientRuntime as _;

const NAME: &str = "skiff";

fn main() {
    skiff_runtime::no_backtraces_in_errors();
    let args: Vec<_> = std::env::args_os().collect();
    let flags = match containerd_shim::parse(&args[1..]) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let version = containerd_shimkit::shim_version!();
    if flags.version {
        println!("containerd-shim-{NAME}-v1:");
        println!("  Runtime: {NAME}");
        println!("  Version: {}", version.version);
        println!("  Revision: {}", version.revision);
        return;
    }
    if flags.info {
        // containerd 2's runtime introspection: the shim's name and version, as protobuf.
        let info = RuntimeInfo {
            name: NAME.to_string(),
            version: MessageField::some(RuntimeVersion {
                version: version.version.to_string(),
                revision: version.revision.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = info.write_to_bytes().expect("a RuntimeInfo always encodes");
        std::io::stdout()
            .write_all(&bytes)
            .expect("failed to write the runtime info");
        return;
    }
    match flags.action.as_str() {
        "start" => match task::start(&flags) {
            Ok(address) => print!("{address}"),
            Err(e) => {
                eprintln!("containerd-shim-{NAME}-v1: {e}");
                std::process::exit(1);
            }
        },
        "delete" => {
            let bytes = task::deleted()
                .write_to_bytes()
                .expect("a DeleteResponse always encodes");
            std::io::stdout()
                .write_all(&bytes)
                .expect("failed to write the delete response");
        }
        _ => {
            if let Err(e) = task::serve(flags).block_on() {
                eprintln!("containerd-shim-{NAME}-v1: {e:#}");
                std::process::exit(1);
            }
        }
    }
}
