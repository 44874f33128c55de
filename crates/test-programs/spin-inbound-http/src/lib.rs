//! An HTTP handler exporting Spin's `fermyon:spin/inbound-http`, as Spin's Go SDK (v2) builds
//! one: answers `201` with the header `x-handler: inbound-http` and the lines `METHOD URI`,
//! `path-info=P` (the `spin-path-info` header the router set) and `body=B` (the request's body).
//! A path ending in `/env` answers the environment variable `GREETING` instead.

wit_bindgen::generate!({
    path: "wit",
    world: "http-trigger",
});

use exports::fermyon::spin::inbound_http::Guest;
use fermyon::spin::http_types::{Request, Response};

struct Handler;

impl Guest for Handler {
    fn handle_request(request: Request) -> Response {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| v.as_str())
        };
        let body = if request.uri.ends_with("/env") {
            format!("{}\n", std::env::var("GREETING").unwrap_or_default())
        } else {
            format!(
                "{:?} {}\npath-info={}\nbody={}\n",
                request.method,
                request.uri,
                header("spin-path-info"),
                String::from_utf8_lossy(request.body.as_deref().unwrap_or_default()),
            )
        };
        Response {
            status: 201,
            headers: Some(vec![("x-handler".into(), "inbound-http".into())]),
            body: Some(body.into_bytes()),
        }
    }
}

export!(Handler);
