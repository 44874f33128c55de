//! An idle long-running app: sleeps forever. Used by `benches/density.sh`.
use std::time::Duration;

fn main() {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
