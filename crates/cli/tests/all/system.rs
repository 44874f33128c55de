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
