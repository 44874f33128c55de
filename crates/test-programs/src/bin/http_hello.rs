//! (wasm32-wasip2, wasi:http/proxy) Answers every request with status 200, `content-type: text/plain`
//! and the body `hello from skiff\n`, whatever the method, path or body.

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        http_util::respond_text(out, 200, b"hello from skiff\n");
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
