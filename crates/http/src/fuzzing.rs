//! The body of the `gateway` fuzz target (`fuzz/fuzz_targets/gateway.rs`), here so that the
//! fuzzer and `cargo test` run the same code: the unit test below replays the committed corpus
//! on every test run, without libFuzzer.
//!
//! An input is the gateway's routes, one app per line (its `--route` values, comma-separated),
//! then an empty line, then the raw bytes a client sends on one connection:
//!
//! ```text
//! shop.localhost/,/shop
//! /api/v1
//!
//! GET /api/v1/users HTTP/1.1\r\nHost: example.com:8080\r\n\r\n
//! ```
//!
//! The apps have no code (loading one fails, so a routed request ends in 500): what is fuzzed is
//! everything before a handler runs — route parsing, hyper's parsing of the request, the choice
//! of app by `Host` and path, and the app's limits (body size, `Host` checks, its queue).

use std::sync::Arc;
use std::time::Duration;

use skiff_api::HttpLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Bounds, HttpApp, Route, RouteTable, Target};

/// Routes `data` (see the module's documentation) through the gateway. Any panic is a bug, and
/// so is a connection the gateway has not finished with a second after the client's last byte.
pub fn gateway(data: &[u8]) {
    tolerate_hyper_debug_assertion();
    let (routes, request) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let table = Arc::new(RouteTable::default());
    for (i, line) in routes.split(|&b| b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let mut parsed = Vec::new();
        for spec in line.split(',') {
            match spec.parse::<Route>() {
                Ok(route) => {
                    // What `skiff ps` shows is a route the user can give again.
                    let shown = route.to_string();
                    let again = shown.parse::<Route>();
                    assert_eq!(
                        again.ok().as_ref(),
                        Some(&route),
                        "`{spec}` shown as `{shown}`"
                    );
                    parsed.push(route);
                }
                Err(e) => {
                    let _ = (e.to_string(), e.hint());
                }
            }
        }
        if let Err(e) = table.add(&parsed, &app(i)) {
            let _ = (e.to_string(), e.hint());
        }
    }
    if request.is_empty() {
        return;
    }
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(request.len() + 1);
            let connection = tokio::spawn(crate::server::serve_connection(
                server,
                None,
                Target::Gateway(table),
                std::future::pending(),
            ));
            client
                .write_all(request)
                .await
                .expect("the duplex has room");
            client.shutdown().await.expect("the duplex closes");
            let mut response = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(1), async {
                let _ = client.read_to_end(&mut response).await;
                let _ = connection.await;
            });
            read.await
                .expect("the gateway finishes a connection once the client has sent everything");
            // An HTTP/1.0 request is answered in HTTP/1.0, as hyper (rightly) does.
            assert!(
                response.is_empty()
                    || response.starts_with(b"HTTP/1.1 ")
                    || response.starts_with(b"HTTP/1.0 "),
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&response)
            );
        });
    });
}

/// hyper 1.12 asserts, in debug builds only, that it has no answer left to flush when a
/// pipelined request that follows it turns out malformed (`conn.rs`: `can_write_head` in
/// `encode_head`, from `on_parse_error`). Its first libFuzzer campaign found inputs that do that.
/// A release build (what Skiff ships) does not compile the assertion in and answers those bytes
/// with well-formed responses (the first request's, then a 400 with `connection: close`). This
/// hook lets that one panic unwind (tokio ends the connection's task) instead of libFuzzer's hook
/// aborting on it; every other panic still reaches libFuzzer's.
fn tolerate_hyper_debug_assertion() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let hyper_assertion = info.location().is_some_and(|at| {
                at.file().ends_with("hyper-1.12.0/src/proto/h1/conn.rs")
                    && info
                        .payload()
                        .downcast_ref::<&str>()
                        .is_some_and(|m| m.contains("self.can_write_head()"))
            });
            if !hyper_assertion {
                previous(info);
            }
        }));
    });
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
}

/// An app without code, with small limits so that inputs reach them.
fn app(i: usize) -> Arc<HttpApp> {
    Arc::new(HttpApp::new(
        format!("app{i}"),
        Box::new(|| Box::pin(async { Err("an app without code".to_string()) })),
        Default::default(),
        HttpLimits {
            max_concurrency: 1,
            queue_timeout_ms: 10,
            max_body_bytes: 64,
            body_timeout_ms: 10,
        },
        &Bounds::unshared(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn replays_the_fuzz_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/gateway");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the corpus is committed") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| super::gateway(&data));
            assert!(
                outcome.is_ok(),
                "{} makes the harness panic",
                path.display()
            );
            count += 1;
        }
        assert!(count > 0, "{dir} holds no inputs");
    }
}
