//! The tail-latency benchmark's CPU-heavy handler: `?rounds=N` million rounds of a xorshift hash
//! (default 4), then 200 `worked N\n`.

use std::hint::black_box;
use std::io::Write as _;

use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

fn work(millions: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..millions * 1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let rounds = path
            .split_once("rounds=")
            .and_then(|(_, n)| n.split('&').next()?.parse().ok())
            .unwrap_or(4);
        let _ = work(rounds);
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("valid response headers");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(200).expect("valid status code");
        let body = response.body().expect("response body taken once");
        ResponseOutparam::set(out, Ok(response));
        {
            let mut stream = body.write().expect("body stream taken once");
            stream
                .write_all(format!("worked {rounds}\n").as_bytes())
                .expect("write response body");
            stream.flush().expect("flush response body");
        }
        OutgoingBody::finish(body, None).expect("finish response body");
    }
}

wasi::http::proxy::export!(Handler);

fn main() {}
