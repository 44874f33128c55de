//! The benchmarks' hello HTTP handler: every request gets status 200, `content-type: text/plain`
//! and the body `hello from skiff\n`, whatever its method, path or body.
//!
//! - `--target wasm32-wasip2`: a `wasi:http/incoming-handler` component (`wasi:http/proxy` world);
//!   it also exports `wasi:cli/run` (the empty `main`), which HTTP hosts ignore.
//! - native: `http-hello [ADDR [THREADS]]` serves HTTP/1.1 on ADDR (default `127.0.0.1:8080`) with
//!   hyper 1.x on a tokio current-thread runtime (one core, like the Wasm servers it is compared
//!   with), or a multi-thread one of THREADS workers.

const BODY: &[u8] = b"hello from skiff\n";

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::io::Write as _;

    use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

    struct Handler;

    impl wasi::exports::http::incoming_handler::Guest for Handler {
        fn handle(_request: IncomingRequest, out: ResponseOutparam) {
            let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
                .expect("valid response headers");
            let response = OutgoingResponse::new(headers);
            response.set_status_code(200).expect("valid status code");
            let body = response.body().expect("response body taken once");
            ResponseOutparam::set(out, Ok(response));
            {
                let mut stream = body.write().expect("body stream taken once");
                stream.write_all(super::BODY).expect("write response body");
                stream.flush().expect("flush response body");
            }
            OutgoingBody::finish(body, None).expect("finish response body");
        }
    }

    wasi::http::proxy::export!(Handler);
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    // `http-hello ADDR THREADS`: a multi-thread runtime of THREADS workers (benches/scaling.sh).
    let runtime = match args.next().map(|n| n.parse::<usize>()) {
        None => tokio::runtime::Builder::new_current_thread().enable_io().build(),
        Some(Ok(threads)) if threads > 0 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_io()
            .build(),
        Some(_) => {
            eprintln!("http-hello: THREADS must be a positive number (usage: http-hello [ADDR [THREADS]])");
            std::process::exit(2);
        }
    }
    .expect("tokio runtime");
    if let Err(e) = runtime.block_on(native::serve(&addr)) {
        eprintln!("http-hello: {addr}: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let mut response = Response::new(Full::new(Bytes::from_static(super::BODY)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok(response)
    }

    pub async fn serve(addr: &str) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        eprintln!("http-hello: listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and the like: keep serving the connections already open.
                    eprintln!("http-hello: accept: {e}");
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            // Without it, a response written in pieces waits for the client's delayed ACK.
            let _ = stream.set_nodelay(true);
            tokio::task::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    }
}
