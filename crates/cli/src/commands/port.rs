//! `skiff port`: where an app can be reached, as `docker port`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::errors::user_error;
use crate::settings::GlobalFlags;

/// List an app's ports, or the addresses of one of them
///
/// An HTTP app is served on its ports; a command may listen on its own. A Wasm app has no port
/// of its own to map: each line is `PORT/PROTOCOL -> ADDRESS` with the address it is reached at.
#[derive(Debug, Args)]
pub struct Port {
    /// The app (see `skiff ps`)
    name: String,
    /// Only this port (`8080`, `8080/tcp`, `5353/udp`): print its addresses
    #[arg(value_name = "PORT[/PROTOCOL]")]
    port: Option<String>,
}

impl Port {
    pub fn execute(self, global: &GlobalFlags) -> anyhow::Result<ExitCode> {
        let app = global
            .block_on(global.client().get(&self.name))
            .with_context(|| format!("failed to read `{}`", self.name))?;
        let addresses: Vec<String> = match &app.http {
            Some(http) => http.ports.clone(),
            None => app.listen.clone(),
        };
        // (port, protocol, address)
        let ports: Vec<(String, &str, String)> = addresses
            .iter()
            .filter_map(|spec| {
                let (addr, protocol) = match spec.strip_suffix("/udp") {
                    Some(addr) => (addr, "udp"),
                    None => (spec.as_str(), "tcp"),
                };
                let port = addr.parse::<std::net::SocketAddr>().ok()?.port();
                Some((port.to_string(), protocol, addr.to_string()))
            })
            .collect();
        let Some(wanted) = &self.port else {
            for (port, protocol, addr) in &ports {
                println!("{port}/{protocol} -> {addr}");
            }
            return Ok(ExitCode::SUCCESS);
        };
        let (port, protocol) = match wanted.split_once('/') {
            Some((port, protocol)) => (port, protocol),
            None => (wanted.as_str(), "tcp"),
        };
        let found: Vec<&String> = ports
            .iter()
            .filter(|(p, proto, _)| p == port && *proto == protocol)
            .map(|(_, _, addr)| addr)
            .collect();
        if found.is_empty() {
            let published = match ports.is_empty() {
                true => "it has none".to_string(),
                false => {
                    let all: Vec<String> =
                        ports.iter().map(|(p, pr, _)| format!("{p}/{pr}")).collect();
                    format!("it has {}", all.join(", "))
                }
            };
            return Err(user_error(
                format!("no port {port}/{protocol} published for `{}`", self.name),
                format!("{published}; publish one with `skiff run -d -p PORT`"),
            ));
        }
        for addr in found {
            println!("{addr}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
