//! (wasm32-wasip2, wasi:http/proxy) Says who called it: answers 200 with the body
//! `caller: <value of the skiff-caller request header>\n`, or `caller: none\n` without one.

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let caller = request.headers().get("skiff-caller").into_iter().next();
        let caller = caller.map_or("none".into(), |c| String::from_utf8_lossy(&c).into_owned());
        http_util::respond_text(out, 200, format!("caller: {caller}\n").as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
