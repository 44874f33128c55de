//! (wasm32-wasip2, a command) GETs the URL given as its first argument over wasi:http and prints
//! `status <code>` and the body to stdout (exit 0); if the request fails it prints
//! `request failed: <ErrorCode:?>` to stderr and exits 1 (e.g. `HttpRequestDenied` without a
//! network grant). Shows that commands get outgoing HTTP under the same grants as handlers.

#[path = "../http_client.rs"]
mod http_client;

use std::io::Write as _;

fn main() {
    let url = std::env::args().nth(1).expect("usage: p2_http_get URL");
    let (scheme, authority, path) = http_client::parse_url(&url).expect("an http(s) URL");
    match http_client::get(&scheme, authority, &path) {
        Ok((status, body)) => {
            println!("status {status}");
            std::io::stdout().write_all(&body).unwrap();
        }
        Err(code) => {
            eprintln!("request failed: {code:?}");
            std::process::exit(1);
        }
    }
}
