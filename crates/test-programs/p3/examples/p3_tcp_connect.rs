//! Connects to the IPv4 address and port in argv[1] (`127.0.0.1:8080`) over WASI 0.3's sockets
//! (`wasi:sockets@0.3.0`) and prints `connected`; on failure prints `error: ` and the WASI error
//! code (`AccessDenied` without a network grant) and exits 1.

use skiff_p3_programs::{fail, stdout, wasip3};
use wasip3::sockets::types::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket};

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        let arg = wasip3::cli::environment::get_arguments()
            .get(1)
            .cloned()
            .unwrap_or_default();
        let Ok(std::net::SocketAddr::V4(addr)) = arg.parse() else {
            fail(format!("usage: p3_tcp_connect IPV4:PORT (got `{arg}`)")).await
        };
        let socket = match TcpSocket::create(IpAddressFamily::Ipv4) {
            Ok(socket) => socket,
            Err(e) => fail(format!("{e:?}")).await,
        };
        let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: addr.port(),
            address: addr.ip().octets().into(),
        });
        match socket.connect(remote).await {
            Ok(()) => stdout("connected\n").await,
            Err(e) => fail(format!("{e:?}")).await,
        }
        Ok(())
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
