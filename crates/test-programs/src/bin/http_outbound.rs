//! (wasm32-wasip2, wasi:http/proxy) Proxies one GET: sends an outgoing request (wasi:http/outgoing-handler)
//! to the URL in the request header `x-target-url` (`http://HOST:PORT/path?query`, or `https://...`) and
//! answers 200 with the body `upstream <status>: <upstream body>` (upstream body bytes as received, e.g.
//! `upstream 200: hi\n`). If the outgoing request fails it answers 502 `outbound error: <ErrorCode:?>`,
//! e.g. `outbound error: ErrorCode::HttpRequestDenied` when the host does not grant outbound HTTP, or
//! `ErrorCode::ConnectionRefused` when nothing listens. A missing or unparsable header gets 400.

#[path = "../http_client.rs"]
mod http_client;
#[path = "../http_util.rs"]
mod http_util;

use http_client::{get, parse_url};
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let Some(url) = request.headers().get("x-target-url").into_iter().next() else {
            return http_util::respond_text(out, 400, b"missing x-target-url\n");
        };
        let url = String::from_utf8_lossy(&url).into_owned();
        let Some((scheme, authority, path)) = parse_url(&url) else {
            return http_util::respond_text(
                out,
                400,
                format!("bad x-target-url: {url}\n").as_bytes(),
            );
        };
        match get(&scheme, authority, &path) {
            Ok((status, upstream)) => {
                let mut body = format!("upstream {status}: ").into_bytes();
                body.extend_from_slice(&upstream);
                http_util::respond_text(out, 200, &body);
            }
            Err(e) => {
                http_util::respond_text(out, 502, format!("outbound error: {e:?}").as_bytes())
            }
        }
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
