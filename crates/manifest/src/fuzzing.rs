//! The body of the `manifest` fuzz target (`fuzz/fuzz_targets/manifest.rs`), here so that the
//! fuzzer and `cargo test` run the same code: the unit test below replays the committed corpus
//! on every test run, without libFuzzer.

use crate::Manifest;

/// Parses `data` as a `skiff.toml`, and renders whatever comes out as the CLI would: a config,
/// or an error with its `skiff.toml:LINE:COLUMN` and hint. Any panic is a bug.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::from_str(text, "app/skiff.toml") {
        Ok(manifest) => {
            let config = manifest.resolve();
            assert_eq!(&config, manifest.config());
            let _ = (
                config.env_vec(),
                manifest.wasm_path(),
                format!("{config:?}"),
            );
        }
        Err(error) => {
            let _ = (error.to_string(), error.hint());
            if let Some(at) = error.location() {
                let _ = format!("{at:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replays_the_fuzz_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/manifest");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the corpus is committed") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| super::manifest(&data));
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
