//! `skiff system check`: what it finds in a damaged store, and what `--repair` fixes; `skiff
//! system df`: what the store and caches hold.

use crate::support::{Skiff, build_reader_with_files};

/// `reader:1.0`: the file-reading guest with `data/hello.txt` packaged at `/data`, run once so
/// that its files are extracted and its code compiled.
fn store_with_an_image() -> Skiff {
    let skiff = Skiff::new();
    build_reader_with_files(&skiff, "reader:1.0");
    skiff
        .run(&["run", "reader:1.0", "/data/hello.txt"])
        .success()
        .stdout_is("packaged\n");
    skiff
}

fn only_entry(dir: &std::path::Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

#[test]
fn check_finds_damage_and_repair_fixes_what_it_can() {
    let skiff = store_with_an_image();
    skiff
        .run(&["system", "check"])
        .success()
        .stdout_has("names, 1 extracted file sets, 1 compiled entries: no problems");

    // Someone edits an extracted file, a write was interrupted, a cache entry rotted.
    let unpacked = only_entry(&skiff.root().join("images/unpacked"));
    std::fs::write(unpacked.join("data/hello.txt"), "tampered\n").unwrap();
    std::fs::write(skiff.root().join("images/tmp/.tmpXYZ"), "half").unwrap();
    let engine = only_entry(&skiff.root().join("cache/compiled"));
    let cwasm = std::fs::read_dir(&engine)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&cwasm).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&cwasm, bytes).unwrap();

    let out = skiff.run(&["system", "check"]);
    out.code(1)
        .stdout_has("`data/hello.txt` was changed")
        .stdout_has("compiled code that does not match its checksum")
        .stdout_has("2 problems, 2 not repaired");
    // What an interrupted write left is removed whenever the store is opened with no writer
    // at work, so the check never even sees it.
    assert!(!skiff.root().join("images/tmp/.tmpXYZ").exists());
    skiff
        .run(&["system", "check", "--repair"])
        .success()
        .stdout_has("2 problems, all repaired");
    skiff
        .run(&["system", "check"])
        .success()
        .stdout_has("no problems");
    // The run extracts and compiles again, and sees the packaged content.
    skiff
        .run(&["run", "reader:1.0", "/data/hello.txt"])
        .success()
        .stdout_is("packaged\n");
}

#[test]
fn a_corrupt_blob_is_removed_and_the_name_it_broke_is_reported() {
    let skiff = store_with_an_image();
    let inspect = skiff.run(&["inspect", "--format", "json", "reader:1.0"]);
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    let wasm = json["manifest"]["layers"][0]["digest"].as_str().unwrap();
    let path = skiff
        .root()
        .join("images/blobs/sha256")
        .join(&wasm["sha256:".len()..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();

    skiff
        .run(&["system", "check"])
        .code(1)
        .stdout_has(&format!("blob `{wasm}` is corrupt"))
        .stdout_has("`docker.io/library/reader:1.0`: blob");
    // The blob goes; the name stays, reported with what to do.
    skiff
        .run(&["system", "check", "--repair"])
        .code(1)
        .stdout_has("repaired")
        .stdout_has(&format!("blob `{wasm}` is missing"))
        .stdout_has("pull the image again");
    assert!(!path.exists());
}

/// `system df`, as `docker system df`: nothing in a new root; then the image and the code compiled
/// for it, their sizes the bytes on disk.
#[test]
fn df_shows_what_the_store_and_caches_hold() {
    let empty = Skiff::new();
    empty.run(&["system", "df"]).success().stdout_is(
        "TYPE              TOTAL       SIZE\n\
         Images                0        0 B\n\
         Compiled code         0        0 B\n\
         App logs              0        0 B\n",
    );
    let skiff = store_with_an_image();
    let out = skiff.run(&["system", "df"]);
    out.success();
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..2], ["Images", "1"], "{}", out.stdout);
    assert_ne!(rows[0][2], "0", "{}", out.stdout);
    assert_eq!(rows[1][..3], ["Compiled", "code", "1"], "{}", out.stdout);
    assert_ne!(rows[1][3], "0", "{}", out.stdout);
}

/// The compile cache's directories of other Skiff versions: one whose `BUILD` names another
/// version, and one made before versions were recorded.
fn other_versions_code(skiff: &Skiff) -> [std::path::PathBuf; 2] {
    let compiled = skiff.root().join("cache/compiled");
    let dirs = [
        compiled.join("00000000000000aa"),
        compiled.join("00000000000000bb"),
    ];
    for dir in &dirs {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("ab.cwasm"), vec![0u8; 4096]).unwrap();
        std::fs::write(dir.join("ab.crc"), "4096 00000000 module\n").unwrap();
    }
    std::fs::write(dirs[0].join("BUILD"), "skiff 0.0.1 wasmtime 40.0.0\n").unwrap();
    dirs
}

/// `system prune`, as `docker system prune`: asks first (a no removes nothing), then removes the
/// code other Skiff versions compiled and keeps this version's, so the image still runs without
/// compiling; `--all` removes this version's code too, and the next run compiles it again.
#[test]
fn prune_removes_other_versions_code_and_keeps_what_this_one_uses() {
    let skiff = store_with_an_image();
    let ours = only_entry(&skiff.root().join("cache/compiled"));
    let stale = other_versions_code(&skiff);

    let declined = skiff.run_with(skiff.command().args(["system", "prune"]), b"n\n");
    declined
        .success()
        .stdout_has("code compiled by other versions of Skiff")
        .stdout_has("Are you sure you want to continue? [y/N]")
        .stdout_lacks("reclaimed");
    assert!(stale.iter().all(|dir| dir.exists()));

    let pruned = skiff.run_with(skiff.command().args(["system", "prune"]), b"y\n");
    pruned
        .success()
        .stdout_has("Deleted 0 image blobs and 2 compiled programs")
        .stdout_has("Total reclaimed space: 8.");
    assert!(stale.iter().all(|dir| !dir.exists()), "{}", pruned.stdout);
    assert!(ours.join("BUILD").exists());
    skiff
        .run(&["system", "check"])
        .success()
        .stdout_has("1 compiled entries: no problems");

    // `--all`: this version's code too, and every image no app uses.
    skiff
        .run(&["system", "prune", "--all", "--force"])
        .success()
        .stdout_lacks("Are you sure")
        .stdout_has("all images no app uses")
        .stdout_has("Untagged: reader:1.0")
        .stdout_has("and 1 compiled programs");
    assert!(!ours.exists());
    skiff.run(&["images"]).success().stdout_lacks("reader");
    skiff
        .run(&["run", skiff_test_programs_artifacts::P1_CLI_HELLO])
        .success();
    assert!(
        ours.join("BUILD").exists(),
        "compiled again, in this version's directory"
    );
}

/// `system prune` with a daemon: the apps that exited go, with their logs; a running one stays,
/// and with `-a` so does the image it runs, while an image no app uses is removed.
#[test]
fn prune_removes_exited_apps_and_images_no_app_uses() {
    use skiff_test_programs_artifacts::{P1_CLI_HELLO, P1_CLI_SLEEP};
    let daemon = crate::daemon::Daemon::start();
    let sleepy = crate::support::app_dir(P1_CLI_SLEEP, "", &[]);
    daemon
        .run(&[
            "build",
            "-t",
            "sleepy:1",
            crate::support::path_str(sleepy.path()),
        ])
        .success();
    let _unused = crate::support::build_reader_with_files(&daemon.skiff, "unused:1");
    daemon.run_to_exit("done", &[P1_CLI_HELLO]).success();
    daemon.run_d("sleeper", &["sleepy:1", "600000"]).success();

    daemon
        .run(&["system", "prune", "-f"])
        .success()
        .stdout_has("Deleted apps:\ndone\n")
        .stdout_lacks("Untagged");
    daemon
        .run(&["ps", "-a"])
        .success()
        .stdout_has("sleeper")
        .stdout_lacks("done");
    daemon.run(&["logs", "done"]).code(125).stderr_has("done");

    daemon
        .run(&["system", "prune", "-a", "-f"])
        .success()
        .stdout_has("Untagged: unused:1")
        .stdout_lacks("sleepy");
    daemon
        .run(&["images"])
        .success()
        .stdout_has("sleepy")
        .stdout_lacks("unused");
    daemon.run(&["ps"]).success().stdout_has("sleeper");
}
