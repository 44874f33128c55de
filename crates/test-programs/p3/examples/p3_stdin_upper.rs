//! Copies stdin to stdout ASCII-uppercased, chunk by chunk, through WASI 0.3's streams
//! (`wasi:cli/stdin@0.3.0`); exits 0 at the end of stdin.

use skiff_p3_programs::{stdout, wasip3};
use wasip3::wit_bindgen::StreamResult;

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        let (mut stdin, _result) = wasip3::cli::stdin::read_via_stream();
        loop {
            let (status, mut chunk) = stdin.read(Vec::with_capacity(8192)).await;
            if !chunk.is_empty() {
                chunk.make_ascii_uppercase();
                stdout(chunk).await;
            }
            if let StreamResult::Dropped = status {
                return Ok(());
            }
        }
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
