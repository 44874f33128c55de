//! The benchmarks' front service: each request is answered with what a GET of `$UPSTREAM`
//! returned (200, `content-type: text/plain`), or 502 with the error. Used to time one call from
//! a service to another: in-process in Skiff, over loopback TCP, between Docker containers.
//!
//! - `--target wasm32-wasip2`: a `wasi:http/incoming-handler` component; the call goes out
//!   through `wasi:http/outgoing-handler`.
//! - native: `http-proxy [ADDR]` serves HTTP/1.1 on ADDR (default `127.0.0.1:8080`) with hyper
//!   1.x on a tokio current-thread runtime; upstream connections are pooled (keep-alive).

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::io::{Read as _, Write as _};

    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
        ResponseOutparam, Scheme,
    };

    fn get(url: &str) -> Result<Vec<u8>, String> {
        let rest = url.strip_prefix("http://").ok_or("UPSTREAM must be http://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let request = OutgoingRequest::new(Fields::new());
        request.set_method(&Method::Get).map_err(|()| "method")?;
        request.set_scheme(Some(&Scheme::Http)).map_err(|()| "scheme")?;
        request.set_authority(Some(authority)).map_err(|()| "authority")?;
        let path = if path.is_empty() { "/" } else { path };
        request.set_path_with_query(Some(path)).map_err(|()| "path")?;
        let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or("not ready")?
            .map_err(|()| "taken")?
            .map_err(|e| format!("{e:?}"))?;
        let body = response.consume().map_err(|()| "body")?;
        let mut bytes = Vec::new();
        body.stream()
            .map_err(|()| "stream")?
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    struct Handler;

    impl wasi::exports::http::incoming_handler::Guest for Handler {
        fn handle(_request: IncomingRequest, out: ResponseOutparam) {
            let upstream = std::env::var("UPSTREAM").unwrap_or_default();
            let (status, body) = match get(&upstream) {
                Ok(body) => (200, body),
                Err(e) => (502, format!("upstream {upstream}: {e}\n").into_bytes()),
            };
            let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
                .expect("valid response headers");
            let response = OutgoingResponse::new(headers);
            response.set_status_code(status).expect("valid status code");
            let out_body = response.body().expect("response body taken once");
            ResponseOutparam::set(out, Ok(response));
            {
                let mut stream = out_body.write().expect("body stream taken once");
                stream.write_all(&body).expect("write response body");
                stream.flush().expect("flush response body");
            }
            OutgoingBody::finish(out_body, None).expect("finish response body");
        }
    }

    wasi::http::proxy::export!(Handler);
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let upstream: hyper::Uri = match std::env::var("UPSTREAM").map(|u| u.parse()) {
        Ok(Ok(uri)) => uri,
        _ => {
            eprintln!("http-proxy: set UPSTREAM to an http:// URL");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(native::serve(&addr, upstream)) {
        eprintln!("http-proxy: {addr}: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Empty, Full};
    use hyper::body::Incoming;
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response, StatusCode, Uri};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio::net::TcpListener;

    type Upstream = Client<HttpConnector, Empty<Bytes>>;

    async fn proxy(client: Upstream, upstream: Uri) -> Response<Full<Bytes>> {
        let result = async {
            let response = client.get(upstream).await.map_err(|e| e.to_string())?;
            let body = response.into_body().collect().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(body.to_bytes())
        }
        .await;
        let (status, body) = match result {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => (StatusCode::BAD_GATEWAY, Bytes::from(format!("upstream: {e}\n"))),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        response
    }

    pub async fn serve(addr: &str, upstream: Uri) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
        eprintln!("http-proxy: listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let (client, upstream) = (client.clone(), upstream.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_request: Request<Incoming>| {
                    let (client, upstream) = (client.clone(), upstream.clone());
                    async move { Ok::<_, Infallible>(proxy(client, upstream).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}
