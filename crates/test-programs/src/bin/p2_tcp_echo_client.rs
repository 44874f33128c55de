//! (wasm32-wasip2 only) Connects to argv[1] (`HOST:PORT`, host names resolved via wasi:sockets/ip-name-lookup) with `std::net::TcpStream`, sends `ping\n`, reads one line and prints `reply: <line>`. On any error it prints `error: <err>` to stderr and exits 1; the test expects the echo reply, or that error when the network is not granted.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

fn run(addr: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"ping\n")?;
    stream.flush()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before a reply line",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("error: usage: p2_tcp_echo_client HOST:PORT");
        std::process::exit(1);
    };
    match run(&addr) {
        Ok(line) => println!("reply: {line}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
