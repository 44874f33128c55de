//! (wasm32-wasip2, wasi:http/proxy) Logs and answers: prints `handled <path>` to stdout and
//! `warn <path>` to stderr (path with query, e.g. `handled /a?b=1`), then answers 200 `logged\n`, so a
//! test can assert where a handler's stdout and stderr end up.

#[path = "../http_util.rs"]
mod http_util;

use std::io::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        println!("handled {path}");
        eprintln!("warn {path}");
        let _ = std::io::stdout().flush();
        http_util::respond_text(out, 200, b"logged\n");
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
