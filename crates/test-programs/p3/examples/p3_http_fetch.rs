//! Sends `GET` to the `http://HOST:PORT/PATH` in argv[1] over WASI 0.3's `wasi:http/client` and
//! prints `STATUS BODY`; a request the host refuses prints `error: ` and the WASI error code
//! (`HttpRequestDenied` without a network grant) and exits 1.

use skiff_p3_programs::{fail, stdout, wasip3};
use wasip3::http::types::{Fields, Request, Response, Scheme};
use wasip3::wit_future;

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        let url = wasip3::cli::environment::get_arguments()
            .get(1)
            .cloned()
            .unwrap_or_default();
        let Some(rest) = url.strip_prefix("http://") else {
            fail(format!(
                "usage: p3_http_fetch http://HOST:PORT/PATH (got `{url}`)"
            ))
            .await
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };

        let (_, trailers) = wit_future::new(|| Ok(None));
        let (request, _sent) = Request::new(Fields::new(), None, trailers, None);
        request
            .set_scheme(Some(&Scheme::Http))
            .expect("a valid scheme");
        request
            .set_authority(Some(authority))
            .expect("a valid authority");
        request
            .set_path_with_query(Some(path))
            .expect("a valid path");
        let response = match wasip3::http::client::send(request).await {
            Ok(response) => response,
            Err(e) => fail(format!("{e:?}")).await,
        };
        let status = response.get_status_code();
        let (_, result) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Response::consume_body(response, result);
        let body = body.collect().await;
        stdout(format!("{status} {}", String::from_utf8_lossy(&body))).await;
        Ok(())
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
