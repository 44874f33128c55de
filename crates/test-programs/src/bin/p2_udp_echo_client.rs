//! (wasm32-wasip2 only) Sends the datagram `ping` with `std::net::UdpSocket` to argv[1]
//! (`IP:PORT`), waits for one datagram back (no timeout: WASI's std has no
//! `SO_RCVTIMEO`) and prints `reply: <text>`. On any error it
//! prints `error: <err>` to stderr and exits 1.

use std::net::UdpSocket;

fn run(addr: &str) -> std::io::Result<String> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.send_to(b"ping", addr)?;
    let mut buf = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("error: usage: p2_udp_echo_client IP:PORT");
        std::process::exit(1);
    };
    match run(&addr) {
        Ok(reply) => println!("reply: {reply}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
