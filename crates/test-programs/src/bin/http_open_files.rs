//! (wasm32-wasip2, wasi:http/proxy) Opens `/d/f` again and again, keeping each open, until an open
//! fails; answers 200 with `opened N` (a host that ends the instance at its handle limit answers
//! first, with the limit).

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut files = Vec::new();
        while let Ok(file) = std::fs::File::open("/d/f") {
            files.push(file);
        }
        http_util::respond_text(out, 200, format!("opened {}\n", files.len()).as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
