//! (wasm32-wasip2, wasi:http/proxy) Allocates `mb` MiB (query `?mb=N`, default 1) and writes a byte in
//! every 4 KiB page of it, then answers 200 `allocated N MiB\n`. If the allocation fails (the host's
//! memory limit refused to grow linear memory) it answers 500 `allocation of N MiB failed\n` instead;
//! a host that traps on a refused memory.grow ends the request before that. A non-numeric `mb` gets
//! 400 `bad mb\n`.

#[path = "../http_util.rs"]
mod http_util;

use std::hint::black_box;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

const PAGE: usize = 4096;

/// Allocates `mb` MiB and writes every page, or `None` if the memory cannot be had.
fn allocate(mb: u64) -> Option<Vec<u8>> {
    let len = usize::try_from(mb).ok()?.checked_mul(1 << 20)?;
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(len).ok()?;
    buf.resize(len, 0);
    for i in (0..len).step_by(PAGE) {
        buf[i] = (i / PAGE) as u8 | 1;
    }
    Some(black_box(buf))
}

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let mb = match http_util::query_param(&path, "mb").map(str::parse::<u64>) {
            None => 1,
            Some(Ok(n)) => n,
            Some(Err(_)) => return http_util::respond_text(out, 400, b"bad mb\n"),
        };
        match allocate(mb) {
            Some(buf) => {
                black_box(&buf);
                http_util::respond_text(out, 200, format!("allocated {mb} MiB\n").as_bytes());
            }
            None => http_util::respond_text(
                out,
                500,
                format!("allocation of {mb} MiB failed\n").as_bytes(),
            ),
        }
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
