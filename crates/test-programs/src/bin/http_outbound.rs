//! (wasm32-wasip2, wasi:http/proxy) Proxies one GET: sends an outgoing request (wasi:http/outgoing-handler)
//! to the URL in the request header `x-target-url` (`http://HOST:PORT/path?query`, or `https://...`) and
//! answers 200 with the body `upstream <status>: <upstream body>` (upstream body bytes as received, e.g.
//! `upstream 200: hi\n`). If the outgoing request fails it answers 502 `outbound error: <ErrorCode:?>`,
//! e.g. `outbound error: ErrorCode::HttpRequestDenied` when the host does not grant outbound HTTP, or
//! `ErrorCode::ConnectionRefused` when nothing listens. A missing or unparsable header gets 400.

#[path = "../http_util.rs"]
mod http_util;

use std::io::Read as _;

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingRequest, ResponseOutparam,
    Scheme,
};

/// `scheme://authority[/path][?query]` -> (scheme, authority, path with query).
fn parse_url(url: &str) -> Option<(Scheme, &str, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return None;
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((scheme, authority, path))
}

/// Sends the GET and returns the upstream status and body.
fn get(scheme: &Scheme, authority: &str, path: &str) -> Result<(u16, Vec<u8>), ErrorCode> {
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).expect("GET is valid");
    request.set_scheme(Some(scheme)).expect("valid scheme");
    request
        .set_authority(Some(authority))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;

    let future = outgoing_handler::handle(request, None)?;
    future.subscribe().block();
    let response = future
        .get()
        .expect("response is ready after the pollable fired")
        .expect("response is taken once")?;

    let status = response.status();
    let body = response.consume().expect("response body consumed once");
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().expect("response body stream taken once");
        stream
            .read_to_end(&mut bytes)
            .map_err(|e| ErrorCode::InternalError(Some(format!("reading upstream body: {e}"))))?;
    }
    drop(IncomingBody::finish(body));
    Ok((status, bytes))
}

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
