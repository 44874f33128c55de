//! The body of the `image_layout` fuzz target (`fuzz/fuzz_targets/image_layout.rs`), here so
//! that the fuzzer and `cargo test` run the same code: the unit test below replays the
//! committed corpus on every test run, without libFuzzer.

use skiff_capabilities::error_chain;

use crate::{Image, Store, check, load};

/// Loads `data` as an OCI image-layout tar into an empty store, as `skiff load -i` does, then
/// reads every image loaded as `skiff run` would (its defaults, its files extracted, its Wasm).
/// Any panic is a bug, and so is a store that `skiff system check` finds fault with afterwards:
/// a load either keeps whole images or nothing at all.
pub fn image_layout(data: &[u8]) {
    let root = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(root.path()).expect("an empty store opens");
    match load(&store, &mut &data[..]) {
        Ok(loaded) => {
            assert!(!loaded.is_empty(), "a load that succeeds loads an image");
            for image in loaded {
                // One image per component of a Spin app of several.
                let images = Image::components(&store, &image.digest).unwrap_or_else(|e| {
                    panic!("a loaded image does not open: {}", error_chain(&e))
                });
                for opened in images {
                    if let Err(e) = opened.defaults(&store) {
                        panic!("a loaded image has no defaults: {}", error_chain(&e));
                    }
                    let _ = (opened.wasm_bytes(&store), opened.size(&store), opened.os());
                }
            }
        }
        Err(e) => {
            let _ = error_chain(&e);
            assert!(
                store.refs().expect("the names").is_empty(),
                "a failed load named an image"
            );
            assert!(
                store.blobs().expect("the blobs").is_empty(),
                "a failed load kept blobs"
            );
        }
    }
    let report = check::check(&store, false).expect("the store can be checked");
    assert!(
        report.problems.is_empty(),
        "after a load, `skiff system check` finds: {:?}",
        report.problems
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn replays_the_fuzz_corpus() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/image_layout"
        );
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the corpus is committed") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| super::image_layout(&data));
            assert!(
                outcome.is_ok(),
                "{} makes the harness panic",
                path.display()
            );
            count += 1;
        }
        assert!(count > 0, "{dir} holds no inputs");
    }
}
