//! (wasm32-wasip2, wasi:http/proxy) Traps on every request: it reads the path, then executes the
//! wasm `unreachable` instruction before answering. The test expects the host to answer 500 for
//! each request, log the trap, and keep serving its other apps.

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, _out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        std::hint::black_box(path);
        core::arch::wasm32::unreachable()
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
