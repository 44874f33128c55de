//! A Redis trigger's handler as Spin's Go SDK v2 (and Spin 1's SDKs) build one: a core module in
//! wit-bindgen 0.2's canonical ABI exporting `handle-redis-message`. As `spin-redis` does: for
//! each message, counts the messages in the store `default` and prints `message N: PAYLOAD` on
//! stdout. A message `fail` makes the handler return an error (after counting it), `trap` makes
//! it panic and `spin` compute for ever (before counting it).

use skiff_spin1_programs::{count, take};

/// The message as the host lowered it; the result (`expected<unit, error>`) in a return area:
/// its case at 0, the error's (`error` is 1) at 1.
#[unsafe(export_name = "handle-redis-message")]
unsafe extern "C" fn handle_redis_message(payload: usize, payload_len: usize) -> *mut u8 {
    let payload = String::from_utf8(take(payload, payload_len)).unwrap();
    if payload == "trap" {
        panic!("asked to trap");
    }
    if payload == "spin" {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    let failed = match count() {
        Ok(n) => {
            println!("message {n}: {payload}");
            payload == "fail"
        }
        Err((tag, _)) => {
            println!("the store failed: error {tag}");
            true
        }
    };
    let area: &mut [u8; 2] = Box::leak(Box::new([u8::from(failed), u8::from(failed)]));
    area.as_mut_ptr()
}
