//! The body of the `api_json` fuzz target (`fuzz/fuzz_targets/api_json.rs`), here so that the
//! fuzzer and `cargo test` run the same code: the unit test below replays the committed corpus
//! on every test run, without libFuzzer.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ApiError, AppInfo, CreateApp, DaemonInfo, Event, HttpStats, LogLine, UpdateApp};

/// Reads `data` as each JSON body the API carries: `POST /apps` and `POST /apps/{name}/update`
/// (the bodies the daemon accepts) and every response the CLI's client reads. Whatever parses must survive the trip
/// back: what the CLI writes, the daemon reads as the same value. Any panic is a bug.
pub fn api_json(data: &[u8]) {
    round_trip::<CreateApp>(data);
    round_trip::<UpdateApp>(data);
    round_trip::<AppInfo>(data);
    round_trip::<Vec<AppInfo>>(data);
    round_trip::<DaemonInfo>(data);
    round_trip::<Vec<Event>>(data);
    round_trip::<LogLine>(data);
    round_trip::<ApiError>(data);
    round_trip::<HttpStats>(data);
}

fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let json = serde_json::to_string(&value).expect("a parsed body serializes");
    let again: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("`{json}` does not parse back as {}: {e}", type_name::<T>()));
    assert_eq!(
        serde_json::to_string(&again).expect("serializes"),
        json,
        "{} changes on a round trip",
        type_name::<T>()
    );
}

fn type_name<T>() -> &'static str {
    std::any::type_name::<T>()
}

#[cfg(test)]
mod tests {
    #[test]
    fn replays_the_fuzz_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/api_json");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the corpus is committed") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| super::api_json(&data));
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
