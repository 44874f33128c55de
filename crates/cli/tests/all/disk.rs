//! The image store on a full disk and on a read-only one: a clear error with a hint, nothing
//! half-written kept, and everything works again once there is room.

use std::process::Command;

use skiff_test_programs_artifacts::P2_CLI_HELLO;

use crate::daemon::{Tmpfs, is_root};
use crate::registry::Registry;
use crate::support::{Skiff, path_str};

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_full_or_read_only_store_fails_clearly_and_keeps_nothing_half_written() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let registry = Registry::start();
    let publisher = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(P2_CLI_HELLO, dir.path().join("app.wasm")).unwrap();
    std::fs::write(
        dir.path().join("skiff.toml"),
        "manifest_version = 1\n\n[app]\nname = \"hello\"\nversion = \"1.0.0\"\n\n[build]\nwasm = \"app.wasm\"\n",
    )
    .unwrap();
    let remote = registry.url("disk/hello:1.0");
    publisher
        .run(&["build", "-t", &remote, path_str(dir.path())])
        .success();
    publisher.run(&["push", &remote]).success();

    let skiff = Skiff::new();
    let images = skiff.root().join("images");
    let disk = Tmpfs::mount(&images, "4m");
    skiff.run(&["images"]).success();

    // Full: the pull fails, says why and what to do, and keeps nothing.
    let filler = disk.fill();
    skiff
        .run(&["pull", &remote])
        .code(125)
        .stderr_has("No space left on device")
        .stderr_has("hint: the disk holding");
    assert!(entries(&images.join("blobs/sha256")).is_empty());
    assert!(entries(&images.join("tmp")).is_empty());
    skiff.run(&["images"]).success().stdout_lacks("disk/hello");

    // Room again: the same pull works, and the image runs.
    std::fs::remove_file(filler).unwrap();
    skiff.run(&["pull", &remote]).success();
    skiff
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n");

    // Read-only: what needs a write fails with the cause; what only reads still works.
    let remount = |mode: &str| {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&images)
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    };
    remount("ro");
    skiff
        .run(&["tag", &remote, "other:1.0"])
        .code(125)
        .stderr_has("Read-only file system")
        .stderr_has("hint:");
    skiff
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n");
    remount("rw");
    skiff
        .run(&["system", "check"])
        .success()
        .stdout_has("no problems");
    drop(disk);
}
