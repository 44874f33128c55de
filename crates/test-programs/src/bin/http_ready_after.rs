//! (wasm32-wasip2, wasi:http/proxy) Becomes ready after a number of requests: it counts every
//! request in the file `/state/requests` (a granted read-write directory; each request is a fresh
//! instance, so the count must live outside it) and answers 503 `not ready (I of N)\n` to the first
//! N, N from the env var `NOT_READY_FOR` (0 if unset), then 200 `ready\n`. Without the directory
//! it answers 500 with the error.

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

const COUNT: &str = "/state/requests";

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let not_ready_for: u64 = std::env::var("NOT_READY_FOR")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let seen: u64 = std::fs::read_to_string(COUNT)
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let this = seen + 1;
        if let Err(e) = std::fs::write(COUNT, this.to_string()) {
            return http_util::respond_text(out, 500, format!("cannot count: {e}\n").as_bytes());
        }
        if this <= not_ready_for {
            let body = format!("not ready ({this} of {not_ready_for})\n");
            http_util::respond_text(out, 503, body.as_bytes());
        } else {
            http_util::respond_text(out, 200, b"ready\n");
        }
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
