//! (wasm32-wasip2, wasi:http/proxy) Reports one environment variable, named by the query `?name=VAR`
//! (taken as is, no percent-decoding): 200 with `VAR=value\n` if the handler sees it, `VAR unset\n` if
//! not, so a test can assert that the app's env grants apply to HTTP handlers too. Without `name`: 400.

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let Some(name) = http_util::query_param(&path, "name").filter(|n| !n.is_empty()) else {
            return http_util::respond_text(out, 400, b"missing ?name=VAR\n");
        };
        let body = match std::env::var_os(name) {
            Some(value) => format!("{name}={}\n", value.to_string_lossy()),
            None => format!("{name} unset\n"),
        };
        http_util::respond_text(out, 200, body.as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
