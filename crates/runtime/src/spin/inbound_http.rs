//! Spin's HTTP trigger as Spin's Go SDK (v2) exports it: `fermyon:spin/inbound-http`, called
//! with a request and answering a response, each whole (Spin's own executor, beside
//! `wasi:http`). Served as any HTTP handler is: a fresh instance per request, under the same
//! limits; the request as Spin gives it (its path and query as the `uri`, its headers with the
//! `spin-*` ones the router set, no `params`, the body whole).

use bytes::Bytes;
use http_body_util::BodyExt as _;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::handler::HandleError;
use crate::run::ComponentHost;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin",
        world: "spin-http-trigger",
        exports: { default: async },
    });
}

pub use bindings::fermyon::spin::http_types as types;

/// A component that exports `fermyon:spin/inbound-http`, ready to instantiate.
pub(crate) type InboundHttpPre = bindings::SpinHttpTriggerPre<ComponentHost>;

/// Spin's case for `method`; what it has none for is answered 405 without an instance, as Spin
/// does.
fn method(method: &http::Method) -> Option<types::Method> {
    use types::Method as M;
    Some(match *method {
        http::Method::GET => M::Get,
        http::Method::POST => M::Post,
        http::Method::PUT => M::Put,
        http::Method::DELETE => M::Delete,
        http::Method::PATCH => M::Patch,
        http::Method::HEAD => M::Head,
        http::Method::OPTIONS => M::Options,
        _ => return None,
    })
}

fn full(body: Bytes) -> HyperOutgoingBody {
    http_body_util::Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The request as Spin's interface takes it, its body read whole; or, for a method the
/// interface has no case for, the 405 to answer without an instance.
pub(crate) async fn request<B>(
    request: hyper::Request<B>,
) -> Result<Result<types::Request, hyper::Response<HyperOutgoingBody>>, HandleError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let (parts, body) = request.into_parts();
    let Some(method) = method(&parts.method) else {
        let mut refused = hyper::Response::new(full(Bytes::from_static(
            b"this handler takes GET, POST, PUT, DELETE, PATCH, HEAD and OPTIONS\n",
        )));
        *refused.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        return Ok(Err(refused));
    };
    let body = body
        .collect()
        .await
        .map_err(|e| HandleError::Body(e.into()))?
        .to_bytes();
    Ok(Ok(types::Request {
        method,
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.to_string(), ToString::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        params: Vec::new(),
        body: Some(body.to_vec()),
    }))
}

/// Instantiates the component in `store` and calls its handler with `request`; the response,
/// or why the handler's answer is not one.
pub(crate) async fn call(
    pre: &InboundHttpPre,
    store: &mut wasmtime::Store<ComponentHost>,
    request: &types::Request,
) -> wasmtime::Result<Result<hyper::Response<HyperOutgoingBody>, String>> {
    let trigger = pre.instantiate_async(&mut *store).await?;
    let answer = trigger
        .fermyon_spin_inbound_http()
        .call_handle_request(&mut *store, request)
        .await?;
    Ok(response(answer))
}

fn response(answer: types::Response) -> Result<hyper::Response<HyperOutgoingBody>, String> {
    let mut response = hyper::Response::builder().status(answer.status);
    for (name, value) in answer.headers.unwrap_or_default() {
        response = response.header(name, value);
    }
    response
        .body(full(answer.body.map(Bytes::from).unwrap_or_default()))
        .map_err(|e| format!("the handler's response is not one HTTP allows: {e}"))
}
