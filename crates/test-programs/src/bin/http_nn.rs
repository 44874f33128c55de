//! (wasm32-wasip2, wasi:http/proxy) Runs the f32 tensor `[1, 2, 3, 4]` through the model the host
//! preloaded under the name the request's path gives (`/add-one`), with a fresh instance per
//! request as every handler: 200 and the output's numbers, or 500 and the wasi-nn error.

#[path = "../http_util.rs"]
mod http_util;
#[path = "../nn.rs"]
mod nn;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let name = path.trim_start_matches('/');
        match nn::compute(nn::Model::Name(name)) {
            Ok(numbers) => http_util::respond_text(out, 200, format!("{numbers}\n").as_bytes()),
            Err(e) => http_util::respond_text(out, 500, format!("error: {e}\n").as_bytes()),
        }
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
