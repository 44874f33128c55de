//! Shared by the guest programs that make outgoing HTTP requests (not a program itself): a URL
//! parser and a blocking GET over wasi:http/outgoing-handler.

use std::io::Read as _;

use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, IncomingBody, Method, OutgoingRequest, Scheme};

/// `scheme://authority[/path][?query]` -> (scheme, authority, path with query).
pub fn parse_url(url: &str) -> Option<(Scheme, &str, String)> {
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
pub fn get(scheme: &Scheme, authority: &str, path: &str) -> Result<(u16, Vec<u8>), ErrorCode> {
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

