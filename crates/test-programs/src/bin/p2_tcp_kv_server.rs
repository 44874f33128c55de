//! (wasm32-wasip2 only) A key-value server over TCP: listens on argv[1] (`ADDR:PORT`) with
//! `std::net::TcpListener`, prints `listening on <ADDR:PORT>` to stdout once bound, then serves
//! one connection at a time, one command per line, forever: `SET KEY VALUE` answers `OK`,
//! `GET KEY` answers the value or `NIL`, `PING` (any case) answers `PONG`, anything else
//! `ERR unknown command`. If it cannot listen it prints `error: <err>` to stderr and exits 1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn serve(stream: TcpStream, store: &mut HashMap<String, String>) -> std::io::Result<()> {
    // One stream read and written through shared references (`try_clone` is not supported on
    // WASI).
    let mut writer = &stream;
    for line in BufReader::new(&stream).lines() {
        let line = line?;
        let mut words = line.splitn(3, ' ');
        let reply = match (words.next().map(str::to_ascii_uppercase), words.next(), words.next()) {
            (Some(c), Some(key), Some(value)) if c == "SET" => {
                store.insert(key.to_string(), value.to_string());
                "OK".to_string()
            }
            (Some(c), Some(key), None) if c == "GET" => {
                store.get(key).cloned().unwrap_or_else(|| "NIL".into())
            }
            (Some(c), None, None) if c == "PING" => "PONG".into(),
            _ => "ERR unknown command".into(),
        };
        writer.write_all(format!("{reply}\n").as_bytes())?;
        writer.flush()?;
    }
    Ok(())
}

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("error: usage: p2_tcp_kv_server ADDR:PORT");
        std::process::exit(1);
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {addr}");
    let mut store = HashMap::new();
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(e) = serve(stream, &mut store) {
                    eprintln!("connection: {e}");
                }
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
