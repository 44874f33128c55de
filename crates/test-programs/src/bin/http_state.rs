//! (wasm32-wasip2, wasi:http/proxy) Counts requests in its memory: each request increments
//! `static COUNTER` (in the data segment, above the stack) and a word deep in the stack region
//! (below every frame; the low part of memory that hosts keep mapped between requests and reset
//! page by page), and answers 200 `count=N\n` with the larger new value. A host that gives every
//! request a fresh instance always answers `count=1`, which is what proves requests are isolated;
//! a host that reuses an instance, or leaves either region as the last request left it, would
//! answer `count=2`, `count=3`, ...

#[path = "../http_util.rs"]
mod http_util;

use std::sync::atomic::{AtomicU64, Ordering};

use wasi::http::types::{IncomingRequest, ResponseOutparam};

static COUNTER: AtomicU64 = AtomicU64::new(0);

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let count = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        // 256 KiB below this frame: inside the 1 MiB stack that Rust places first in memory,
        // far below anything this handler's calls use.
        let frame = 0u8;
        let deep = (std::ptr::addr_of!(frame) as usize - (256 << 10)) & !7;
        // SAFETY: linear memory from 0 up is mapped; nothing lives this deep in the stack.
        let in_stack = unsafe {
            let word = deep as *mut u64;
            let value = word.read_volatile() + 1;
            word.write_volatile(value);
            value
        };
        let count = count.max(in_stack);
        http_util::respond_text(out, 200, format!("count={count}\n").as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
