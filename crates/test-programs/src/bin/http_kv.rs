//! (wasm32-wasip2, wasi:http/proxy) An HTTP API over the TCP key-value server
//! (`p2_tcp_kv_server`) at the address in the env var `KV_ADDR` (`ADDR:PORT`), one connection per
//! request with `std::net::TcpStream`: `PUT /KEY` with a body stores it (`SET KEY BODY`) and
//! answers 200 `stored KEY\n`; `GET /KEY` answers 200 with the value and a newline, or 404
//! `no KEY\n`. Without `KV_ADDR` it answers 500 `KV_ADDR is not set\n`; when the connection
//! fails, 502 `kv error: <err>\n`.

#[path = "../http_util.rs"]
mod http_util;

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::TcpStream;

use wasi::http::types::{IncomingRequest, Method, ResponseOutparam};

fn kv(addr: &str, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}

fn body_of(request: &IncomingRequest) -> String {
    let body = request.consume().expect("body consumed once");
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().expect("body stream taken once");
        let _ = stream.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).trim().to_string()
}

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let Ok(addr) = std::env::var("KV_ADDR") else {
            return http_util::respond_text(out, 500, b"KV_ADDR is not set\n");
        };
        let path = request.path_with_query().unwrap_or_default();
        let key = path.trim_start_matches('/').to_string();
        let (command, put) = match request.method() {
            Method::Put => (format!("SET {key} {}", body_of(&request)), true),
            _ => (format!("GET {key}"), false),
        };
        match kv(&addr, &command) {
            Ok(_) if put => http_util::respond_text(out, 200, format!("stored {key}\n").as_bytes()),
            Ok(reply) if reply == "NIL" => {
                http_util::respond_text(out, 404, format!("no {key}\n").as_bytes())
            }
            Ok(value) => http_util::respond_text(out, 200, format!("{value}\n").as_bytes()),
            Err(e) => http_util::respond_text(out, 502, format!("kv error: {e}\n").as_bytes()),
        }
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
