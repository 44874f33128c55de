//! The benchmarks' hello HTTP handler for WASI 0.3: every request gets status 200,
//! `content-type: text/plain` and the body `hello from skiff\n`, written to the response's body
//! stream by a task of its own after the head is returned, as WASI 0.3 handlers do.

use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_future, wit_stream};

const BODY: &[u8] = b"hello from skiff\n";

struct Handler;

impl wasip3::exports::http::handler::Guest for Handler {
    async fn handle(_request: Request) -> Result<Response, ErrorCode> {
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("valid response headers");
        let (mut body, contents) = wit_stream::new();
        let (_trailers_tx, trailers) = wit_future::new(|| Ok(None));
        let (response, _result) = Response::new(headers, Some(contents), trailers);
        wasip3::spawn(async move {
            body.write_all(BODY.to_vec()).await;
        });
        Ok(response)
    }
}

wasip3::http::service::export!(Handler);
