//! A `wasi:http` handler served by the shim, as `skiff serve` serves one: a fresh instance per
//! request, on a port of the container's network.
//!
//! The listener is bound inside the network namespace the spec names (a pod's, which CRI made),
//! from a thread that enters it just for the `bind`: the socket stays in that namespace, the shim
//! does not. With no network namespace in the spec (`ctr run --net-host`, `hostNetwork: true`),
//! it is the node's network.
//!
//! The address is `SKIFF_HTTP_LISTEN` from the container's env when given (`ADDR:PORT`);
//! otherwise port 8080 on every address of a pod's own network (a Service reaches it there), and
//! on loopback only in the node's network, where nothing should be exposed unless asked.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// The container's env variable that sets the address a handler is served on.
pub const LISTEN_ENV: &str = "SKIFF_HTTP_LISTEN";
const DEFAULT_PORT: u16 = 8080;

/// The network a container's handler is served in.
#[derive(Debug, PartialEq)]
pub enum Network {
    /// The node's own (no network namespace in the spec).
    Host,
    /// A namespace that already exists: a pod's.
    Joined(PathBuf),
    /// A namespace of its own, yet to be made: a container alone in it, as runc would make it,
    /// could not be reached by anyone.
    Private,
}

impl Network {
    pub fn of(spec: &Spec) -> Network {
        let namespace = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .and_then(|n| n.iter().find(|n| n.typ() == LinuxNamespaceType::Network));
        match namespace {
            None => Network::Host,
            Some(ns) => match ns.path() {
                Some(path) => Network::Joined(path.clone()),
                None => Network::Private,
            },
        }
    }
}

impl Network {
    /// Whether it is the shim's own network, where the connections the shim makes for the app
    /// are the container's: the node's, or a namespace that is the shim's (a `hostNetwork`
    /// pod's containers join their sandbox's, which for this shim is the shim's own process).
    pub fn is_the_shims(&self) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        match self {
            Network::Host => true,
            Network::Joined(path) => {
                let id = |path: &Path| std::fs::metadata(path).map(|m| (m.dev(), m.ino()));
                matches!(
                    (id(path), id(Path::new("/proc/self/ns/net"))),
                    (Ok(theirs), Ok(ours)) if theirs == ours
                )
            }
            Network::Private => false,
        }
    }
}

/// Where the handler listens: the env's `SKIFF_HTTP_LISTEN`, else the default for `network`.
pub fn address(env: &[(String, String)], network: &Network) -> anyhow::Result<SocketAddr> {
    if let Some((_, value)) = env.iter().rev().find(|(k, _)| k == LISTEN_ENV) {
        return value.parse().map_err(|_| {
            anyhow::anyhow!(
                "`{LISTEN_ENV}={value}` is not an address to listen on; give `ADDR:PORT`, e.g. \
                 `0.0.0.0:8080`"
            )
        });
    }
    let ip = match network {
        Network::Host => [127, 0, 0, 1],
        _ => [0, 0, 0, 0],
    };
    Ok(SocketAddr::from((ip, DEFAULT_PORT)))
}

/// Binds `address` in `network`.
pub fn bind(network: &Network, address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = match network {
        Network::Host => TcpListener::bind(address)?,
        Network::Joined(path) => bind_in(path, address)?,
        Network::Private => anyhow::bail!(
            "a wasi:http handler in a network of its own could not be reached; run it with the \
             node's network (`ctr run --net-host`) or in a pod, which has a network of its own \
             that Services reach"
        ),
    };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn bind_in(netns: &Path, address: SocketAddr) -> anyhow::Result<TcpListener> {
    let netns = File::open(netns).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the network namespace `{}`: {e}",
            netns.display()
        )
    })?;
    // A thread of its own enters the namespace and ends there: the shim's other threads, and
    // every other container's listener, stay where they are.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: `netns` is an open namespace file; setns changes this thread only.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    let e = std::io::Error::last_os_error();
                    anyhow::bail!("cannot enter the pod's network namespace: {e}");
                }
                Ok(TcpListener::bind(address)?)
            })
            .join()
            .unwrap_or_else(|_| anyhow::bail!("the thread binding the listener panicked"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_sets_the_address_and_the_default_depends_on_the_network() {
        let env = |v: &str| vec![(LISTEN_ENV.to_string(), v.to_string())];
        assert_eq!(
            address(&env("0.0.0.0:3000"), &Network::Host).unwrap(),
            "0.0.0.0:3000".parse().unwrap()
        );
        assert!(
            address(&env("3000"), &Network::Host)
                .unwrap_err()
                .to_string()
                .contains("ADDR:PORT")
        );
        assert_eq!(
            address(&[], &Network::Host).unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            address(&[], &Network::Joined("/var/run/netns/cni-1".into())).unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
    }
}
