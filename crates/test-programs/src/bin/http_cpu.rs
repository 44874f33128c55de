//! (wasm32-wasip2, wasi:http/proxy) Burns CPU: computes (a hash chain the optimizer cannot drop) until
//! `std::time::Instant` says `ms` milliseconds have passed, `ms` taken from the query `?ms=N`
//! (default 50), then answers 200 `spun N ms\n`. `?ms=forever` computes forever and never answers,
//! so a test can assert that the host's CPU/time limit ends the request. A non-numeric `ms` gets 400
//! `bad ms\n`.

#[path = "../http_util.rs"]
mod http_util;

use std::hint::black_box;
use std::time::{Duration, Instant};

use wasi::http::types::{IncomingRequest, ResponseOutparam};

/// One round of a xorshift-multiply hash; `black_box` keeps every round.
fn step(state: u64) -> u64 {
    let mut x = black_box(state);
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    black_box(x)
}

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let ms = match http_util::query_param(&path, "ms") {
            None => 50,
            Some("forever") => loop {
                state = step(state);
            },
            Some(n) => match n.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return http_util::respond_text(out, 400, b"bad ms\n"),
            },
        };
        let budget = Duration::from_millis(ms);
        let start = Instant::now();
        while start.elapsed() < budget {
            state = step(state);
        }
        black_box(state);
        http_util::respond_text(out, 200, format!("spun {ms} ms\n").as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
