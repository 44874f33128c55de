//! (wasm32-wasip2, wasi:http/proxy) Reports the headers Spin's HTTP trigger gives a request: answers
//! 200 with one line `NAME: VALUE` for each request header whose name starts with `spin-`, sorted
//! by name (`spin-path-info: /items/3`, ...), or an empty body without any.

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let mut lines: Vec<String> = request
            .headers()
            .entries()
            .into_iter()
            .filter(|(name, _)| name.starts_with("spin-"))
            .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(&value)))
            .collect();
        lines.sort();
        http_util::respond_text(out, 200, lines.concat().as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
