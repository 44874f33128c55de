//! (wasm32-wasip2, wasi:http/proxy) A handler written against Spin's host APIs
//! (`fermyon:spin@2.0.0`, as the Spin SDKs import them):
//! - `GET /var/NAME`: 200 `NAME=VALUE\n` from `variables.get`, else 404 with the error;
//! - `PUT /kv/LABEL/KEY` (body: the value): opens store LABEL, sets KEY, 200 `stored KEY\n`;
//! - `GET /kv/LABEL/KEY`: 200 with the value, 404 `no KEY\n`;
//! - `DELETE /kv/LABEL/KEY`: 200 `deleted KEY\n`;
//! - `GET /keys/LABEL`: 200 with the store's keys, sorted, one per line.
//!
//! A store that cannot be opened or written answers 403 (`access-denied`) or 500 with the error.
//! The path is Spin's `spin-path-info` where the host sets it (the path below the component's
//! route, as Spin SDK routers read it), else the request's.

#[path = "../http_util.rs"]
mod http_util;

use std::io::Read as _;

use wasi::http::types::{IncomingRequest, Method, ResponseOutparam};

wit_bindgen::generate!({
    inline: r"
        package skiff:test-programs;

        world spin-kv {
            import fermyon:spin/variables@2.0.0;
            import fermyon:spin/key-value@2.0.0;
        }

        package fermyon:spin@2.0.0 {
            interface variables {
                get: func(name: string) -> result<string, error>;
                variant error {
                    invalid-name(string),
                    undefined(string),
                    provider(string),
                    other(string),
                }
            }

            interface key-value {
                resource store {
                    open: static func(label: string) -> result<store, error>;
                    get: func(key: string) -> result<option<list<u8>>, error>;
                    set: func(key: string, value: list<u8>) -> result<_, error>;
                    delete: func(key: string) -> result<_, error>;
                    exists: func(key: string) -> result<bool, error>;
                    get-keys: func() -> result<list<string>, error>;
                }
                variant error {
                    store-table-full,
                    no-such-store,
                    access-denied,
                    other(string)
                }
            }
        }
    ",
    world: "spin-kv",
    generate_all,
});

use fermyon::spin::{key_value, variables};

fn body_of(request: &IncomingRequest) -> Vec<u8> {
    let body = request.consume().expect("body consumed once");
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().expect("body stream taken once");
        let _ = stream.read_to_end(&mut bytes);
    }
    bytes
}

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = match request.headers().get("spin-path-info").first() {
            Some(info) => String::from_utf8_lossy(info).into_owned(),
            None => request.path_with_query().unwrap_or_default(),
        };
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        let (status, body) = match (request.method(), &parts[..]) {
            (Method::Get, ["var", name]) => match variables::get(name) {
                Ok(value) => (200, format!("{name}={value}\n").into_bytes()),
                Err(e) => (404, format!("{e:?}\n").into_bytes()),
            },
            (Method::Get, ["keys", label]) => match key_value::Store::open(label) {
                Ok(store) => {
                    let mut keys = store.get_keys().expect("get-keys");
                    keys.sort();
                    (200, keys.iter().map(|k| format!("{k}\n")).collect::<String>().into_bytes())
                }
                Err(e) => failed(e),
            },
            (method, ["kv", label, key]) => match key_value::Store::open(label) {
                Ok(store) => match method {
                    Method::Put => match store.set(key, &body_of(&request)) {
                        Ok(()) => (200, format!("stored {key}\n").into_bytes()),
                        Err(e) => failed(e),
                    },
                    Method::Delete => {
                        store.delete(key).expect("delete");
                        (200, format!("deleted {key}\n").into_bytes())
                    }
                    _ => match store.get(key).expect("get") {
                        Some(value) => {
                            assert!(store.exists(key).expect("exists"));
                            (200, value)
                        }
                        None => {
                            assert!(!store.exists(key).expect("exists"));
                            (404, format!("no {key}\n").into_bytes())
                        }
                    },
                },
                Err(e) => failed(e),
            },
            _ => (400, b"unknown request\n".to_vec()),
        };
        http_util::respond_text(out, status, &body);
    }
}

fn failed(e: key_value::Error) -> (u16, Vec<u8>) {
    let status = match e {
        key_value::Error::AccessDenied => 403,
        _ => 500,
    };
    (status, format!("{e:?}\n").into_bytes())
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
