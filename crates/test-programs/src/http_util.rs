//! Helpers shared by the `http_*` handler programs (included by each with `#[path]`; not a program).

#![allow(dead_code, reason = "each handler uses only some of these helpers")]

use std::io::Write as _;

use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// Sends a complete response: `status`, `headers` (name, value), then `body`, and finishes the body.
pub fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])], body: &[u8]) {
    let response = start_response(out, status, headers);
    write_body(response, body);
}

/// `respond` with `content-type: text/plain`.
pub fn respond_text(out: ResponseOutparam, status: u16, body: &[u8]) {
    respond(out, status, &[("content-type", b"text/plain")], body);
}

/// Sets the response head on `out` and returns its (still open) body. The head must be sent before
/// a large body is written: the host only starts draining the body once it has the response.
pub fn start_response(
    out: ResponseOutparam,
    status: u16,
    headers: &[(&str, &[u8])],
) -> OutgoingBody {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_string(), value.to_vec()))
        .collect();
    let fields = Fields::from_list(&list).expect("valid response headers");
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).expect("valid status code");
    let body = response.body().expect("response body taken once");
    ResponseOutparam::set(out, Ok(response));
    body
}

/// Writes all of `bytes` to `body` and finishes it.
pub fn write_body(body: OutgoingBody, bytes: &[u8]) {
    {
        let mut stream = body.write().expect("body stream taken once");
        stream.write_all(bytes).expect("write response body");
        stream.flush().expect("flush response body");
    }
    OutgoingBody::finish(body, None).expect("finish response body");
}

/// The value of `key` in the query of a path-with-query (`/p?a=1&b=2`), without percent-decoding.
/// A key given without `=` has the empty value.
pub fn query_param<'a>(path_with_query: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = path_with_query.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// The method as it appears on the request line (`GET`, `POST`, or the extension method as sent).
pub fn method_str(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}
