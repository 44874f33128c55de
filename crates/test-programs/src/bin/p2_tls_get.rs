//! Fetches `/` over TLS with `wasi:tls`: connects with `wasi:sockets` to argv[1] (`IP:PORT`),
//! shakes hands for the server name argv[2], sends an HTTP/1.0 GET and prints the response's
//! status line as `status: <line>`. On any error it prints `error: <what failed>: <err>` to
//! stderr and exits 1 (the handshake's error names a certificate this runtime did not accept).

wit_bindgen::generate!({
    inline: r"
        package skiff:test-programs;

        world tls {
            import wasi:tls/types@0.2.0-draft;
        }

        package wasi:io@0.2.4 {
            interface error {
                resource error {
                    to-debug-string: func() -> string;
                }
            }
            interface poll {
                resource pollable {
                    ready: func() -> bool;
                    block: func();
                }
                poll: func(in: list<borrow<pollable>>) -> list<u32>;
            }
            interface streams {
                use error.{error};
                use poll.{pollable};
                variant stream-error {
                    last-operation-failed(error),
                    closed,
                }
                resource input-stream {
                    read: func(len: u64) -> result<list<u8>, stream-error>;
                    blocking-read: func(len: u64) -> result<list<u8>, stream-error>;
                    skip: func(len: u64) -> result<u64, stream-error>;
                    blocking-skip: func(len: u64) -> result<u64, stream-error>;
                    subscribe: func() -> pollable;
                }
                resource output-stream {
                    check-write: func() -> result<u64, stream-error>;
                    write: func(contents: list<u8>) -> result<_, stream-error>;
                    blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
                    flush: func() -> result<_, stream-error>;
                    blocking-flush: func() -> result<_, stream-error>;
                    subscribe: func() -> pollable;
                    write-zeroes: func(len: u64) -> result<_, stream-error>;
                    blocking-write-zeroes-and-flush: func(len: u64) -> result<_, stream-error>;
                    splice: func(src: borrow<input-stream>, len: u64) -> result<u64, stream-error>;
                    blocking-splice: func(src: borrow<input-stream>, len: u64) -> result<u64, stream-error>;
                }
            }
        }

        package wasi:tls@0.2.0-draft {
            interface types {
                use wasi:io/streams@0.2.4.{input-stream, output-stream};
                use wasi:io/poll@0.2.4.{pollable};
                use wasi:io/error@0.2.4.{error as io-error};

                resource client-handshake {
                    constructor(server-name: string, input: input-stream, output: output-stream);
                    finish: static func(this: client-handshake) -> future-client-streams;
                }
                resource client-connection {
                    close-output: func();
                }
                resource future-client-streams {
                    subscribe: func() -> pollable;
                    get: func() -> option<result<result<tuple<client-connection, input-stream, output-stream>, io-error>>>;
                }
            }
        }
    ",
    world: "tls",
    with: {
        "wasi:io/error@0.2.4": ::wasi::io::error,
        "wasi:io/poll@0.2.4": ::wasi::io::poll,
        "wasi:io/streams@0.2.4": ::wasi::io::streams,
        "wasi:io/streams@0.2.4/stream-error": ::wasi::io::streams::StreamError,
    },
    generate_all,
});

use crate::wasi::tls::types::{ClientHandshake, FutureClientStreams};
use ::wasi::io::streams::{InputStream, OutputStream, StreamError};
use ::wasi::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use ::wasi::sockets::{instance_network, tcp_create_socket};

fn fail(what: &str, error: impl std::fmt::Debug) -> ! {
    eprintln!("error: {what}: {error:?}");
    std::process::exit(1);
}

fn connect(addr: std::net::SocketAddrV4) -> (InputStream, OutputStream) {
    let network = instance_network::instance_network();
    let socket = tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
        .unwrap_or_else(|e| fail("socket", e));
    let [a, b, c, d] = addr.ip().octets();
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: addr.port(),
        address: (a, b, c, d),
    });
    socket
        .start_connect(&network, remote)
        .unwrap_or_else(|e| fail("connect", e));
    socket.subscribe().block();
    let streams = socket.finish_connect().unwrap_or_else(|e| fail("connect", e));
    // The socket must outlive its streams; this program ends before either is dropped.
    std::mem::forget(socket);
    streams
}

fn handshake(name: &str, input: InputStream, output: OutputStream) -> (InputStream, OutputStream) {
    let future: FutureClientStreams =
        ClientHandshake::finish(ClientHandshake::new(name, input, output));
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok((connection, input, output)))) => {
            std::mem::forget(connection);
            (input, output)
        }
        Some(Ok(Err(e))) => fail("handshake", e.to_debug_string()),
        other => fail("handshake", other.map(|_| "no result")),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(name)) = (args.next(), args.next()) else {
        fail("usage", "p2_tls_get IP:PORT SERVER-NAME");
    };
    let addr: std::net::SocketAddrV4 = addr.parse().unwrap_or_else(|e| fail("address", e));
    let (input, output) = connect(addr);
    let (input, output) = handshake(&name, input, output);

    let request = format!("GET / HTTP/1.0\r\nHost: {name}\r\n\r\n");
    output
        .blocking_write_and_flush(request.as_bytes())
        .unwrap_or_else(|e| fail("write", e));
    let mut response = Vec::new();
    while !response.contains(&b'\n') {
        match input.blocking_read(4096) {
            Ok(bytes) => response.extend(bytes),
            Err(StreamError::Closed) => break,
            Err(e) => fail("read", e),
        }
    }
    let response = String::from_utf8_lossy(&response);
    let line = response.lines().next().unwrap_or("");
    println!("status: {line}");
}
