//! A WASI 0.3 HTTP handler (the `wasi:http/service` world, exporting `wasi:http/handler@0.3.0`):
//! answers every request 200, `content-type: text/plain`, with the body
//! `hello from WASI 0.3: METHOD PATH\n`, streamed from a task of its own after the response head.

use skiff_p3_programs::wasip3;
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response};
use wasip3::{wit_future, wit_stream};

struct Handler;

impl wasip3::exports::http::handler::Guest for Handler {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let method = match request.get_method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".to_string(),
            Method::Post => "POST".to_string(),
            Method::Put => "PUT".to_string(),
            Method::Delete => "DELETE".to_string(),
            Method::Connect => "CONNECT".to_string(),
            Method::Options => "OPTIONS".to_string(),
            Method::Trace => "TRACE".to_string(),
            Method::Patch => "PATCH".to_string(),
            Method::Other(other) => other,
        };
        let path = request.get_path_with_query().unwrap_or_default();
        let body = format!("hello from WASI 0.3: {method} {path}\n");

        let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
            .expect("a valid header");
        let (mut contents_tx, contents_rx) = wit_stream::new();
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _result) = Response::new(headers, Some(contents_rx), trailers_rx);
        wasip3::spawn(async move {
            contents_tx.write_all(body.into_bytes()).await;
            drop(contents_tx);
            trailers_tx.write(Ok(None)).await.ok();
        });
        Ok(response)
    }
}

wasip3::http::service::export!(Handler with_types_in wasip3);
