//! (wasm32-wasip2 only) A UDP echo server: binds argv[1] (`ADDR:PORT`) with
//! `std::net::UdpSocket`, prints `listening on <ADDR:PORT>` to stdout once bound, then sends
//! every datagram back to whoever sent it, forever. If it cannot bind it prints
//! `error: <err>` to stderr and exits 1.

use std::io::Write;
use std::net::UdpSocket;

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("error: usage: p2_udp_echo_server ADDR:PORT");
        std::process::exit(1);
    };
    let socket = match UdpSocket::bind(&addr) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let mut buf = [0u8; 1500];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Err(e) = socket.send_to(&buf[..n], from) {
                    eprintln!("error: reply to {from}: {e}");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}
