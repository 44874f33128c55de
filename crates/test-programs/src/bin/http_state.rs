//! (wasm32-wasip2, wasi:http/proxy) Counts requests in a global: each request increments
//! `static COUNTER` and answers 200 `count=N\n` with the new value. A host that gives every request a
//! fresh instance always answers `count=1`, which is what proves requests are isolated; a host that
//! reuses an instance would answer `count=2`, `count=3`, ...

#[path = "../http_util.rs"]
mod http_util;

use std::sync::atomic::{AtomicU64, Ordering};

use wasi::http::types::{IncomingRequest, ResponseOutparam};

static COUNTER: AtomicU64 = AtomicU64::new(0);

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let count = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        http_util::respond_text(out, 200, format!("count={count}\n").as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
