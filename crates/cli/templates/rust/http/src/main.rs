//! A WASI 0.2 HTTP handler: `skiff serve` calls `main` once per request, in a fresh instance.

use wstd::http::{Body, Request, Response, StatusCode};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, wstd::http::Error> {
    let body = match request.uri().path() {
        "/" => "Hello from Rust!\n".to_string(),
        path => format!("Hello from Rust! You asked for {path}\n"),
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(Body::from(body))?)
}
