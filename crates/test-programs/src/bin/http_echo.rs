//! (wasm32-wasip2, wasi:http/proxy) Echoes the request: status 200 with the headers
//! `x-echo-method: <METHOD>` (e.g. `POST`) and `x-echo-path: <path with query>` (e.g. `/a/b?c=1`),
//! plus every request header whose name starts with `x-` as the same header with the same value(s);
//! the body is exactly the request body's bytes, streamed through (several MiB are fine). No other
//! headers are set (no content-type; the host chooses the framing).

#[path = "../http_util.rs"]
mod http_util;

use wasi::http::types::{IncomingBody, IncomingRequest, OutgoingBody, ResponseOutparam};
use wasi::io::streams::StreamError;

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = http_util::method_str(&request.method()).to_string();
        let path = request.path_with_query().unwrap_or_default();
        let entries = request.headers().entries();
        let mut headers: Vec<(&str, &[u8])> = entries
            .iter()
            .filter(|(name, _)| {
                let name = name.to_ascii_lowercase();
                name.starts_with("x-") && name != "x-echo-method" && name != "x-echo-path"
            })
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        headers.push(("x-echo-method", method.as_bytes()));
        headers.push(("x-echo-path", path.as_bytes()));

        let request_body = request.consume().expect("request body consumed once");
        let response_body = http_util::start_response(out, 200, &headers);
        {
            let input = request_body
                .stream()
                .expect("request body stream taken once");
            let output = response_body
                .write()
                .expect("response body stream taken once");
            loop {
                match output.blocking_splice(&input, 64 * 1024) {
                    Ok(_) => {}
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        panic!("echoing the body: {}", e.to_debug_string())
                    }
                }
            }
            output.blocking_flush().expect("flush response body");
        }
        drop(IncomingBody::finish(request_body));
        OutgoingBody::finish(response_body, None).expect("finish response body");
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
