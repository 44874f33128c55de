//! Grants -> `WasiCtxBuilder`. The only place that decides what a guest can reach.

use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::{DirGrant, Endpoint, Grants, NetworkPolicy};

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("cannot mount `{host}` at `{guest}`: the host directory does not exist")]
    MissingDir { host: PathBuf, guest: String },
    #[error("cannot mount `{host}` at `{guest}`: it is not a directory")]
    NotADir { host: PathBuf, guest: String },
    #[error("cannot mount `{host}` at `{guest}`")]
    OpenDir {
        host: PathBuf,
        guest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot resolve `{endpoint}` from the network grants")]
    Resolve {
        endpoint: Endpoint,
        #[source]
        source: std::io::Error,
    },
}

impl GrantError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            GrantError::MissingDir { .. } | GrantError::NotADir { .. } => {
                "create the directory on the host, or fix the host path given to `-v HOST:GUEST`"
            }
            GrantError::OpenDir { .. } => "check the host directory's permissions",
            GrantError::Resolve { .. } => {
                "check the host name in `--network allow=HOST:PORT`, or give an IP address"
            }
        }
    }
}

/// Grants checked and resolved once — directories exist, granted host names looked up — so that
/// a WASI context per run, or per HTTP request, is built without repeating that work.
#[derive(Clone, Debug, Default)]
pub struct PreparedGrants {
    env: Arc<[(String, String)]>,
    dirs: Arc<[DirGrant]>,
    network: Arc<NetworkPolicy>,
    /// The addresses the network grants resolve to; `None` when there are none (no sockets).
    allowed: Option<Arc<HashSet<SocketAddr>>>,
    /// Whether a grant names a host, so the guest may look names up.
    by_name: bool,
}

impl PreparedGrants {
    pub fn new(grants: &Grants) -> Result<Self, GrantError> {
        for dir in &grants.dirs {
            let (host, guest) = (dir.host.clone(), dir.guest.clone());
            match std::fs::metadata(&dir.host) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(GrantError::MissingDir { host, guest });
                }
                Err(source) => {
                    return Err(GrantError::OpenDir {
                        host,
                        guest,
                        source,
                    });
                }
                Ok(meta) if !meta.is_dir() => return Err(GrantError::NotADir { host, guest }),
                Ok(_) => {}
            }
        }
        let endpoints = grants.network.endpoints();
        let allowed = if endpoints.is_empty() {
            None
        } else {
            Some(Arc::new(resolve(endpoints)?))
        };
        Ok(PreparedGrants {
            env: grants.effective_env().into(),
            dirs: grants.dirs.clone().into(),
            network: Arc::new(grants.network.clone()),
            allowed,
            by_name: endpoints
                .iter()
                .any(|e| e.host.parse::<std::net::IpAddr>().is_err()),
        })
    }

    /// The egress policy, which also governs outgoing HTTP requests.
    pub fn network(&self) -> &Arc<NetworkPolicy> {
        &self.network
    }

    /// A WASI context builder holding exactly the grants: the env vars, the directories
    /// (read-only ones refuse writes), and a socket check that admits only the allowed
    /// destinations. Arguments and stdio are the caller's to add.
    pub fn builder(&self) -> Result<WasiCtxBuilder, GrantError> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.envs(&self.env);
        for dir in self.dirs.iter() {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| GrantError::OpenDir {
                    host: dir.host.clone(),
                    guest: dir.guest.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        if let Some(allowed) = &self.allowed {
            let allowed = allowed.clone();
            wasi.allow_tcp(true)
                .allow_udp(true)
                // Name lookups can carry data out (DNS exfiltration): only when a grant names a
                // host.
                .allow_ip_name_lookup(self.by_name)
                .socket_addr_check(move |addr, use_| {
                    let ok = egress_allowed(&allowed, addr, use_);
                    Box::pin(async move { ok })
                });
        }
        Ok(wasi)
    }
}

fn resolve(endpoints: &[Endpoint]) -> Result<HashSet<SocketAddr>, GrantError> {
    let mut allowed = HashSet::new();
    for endpoint in endpoints {
        let addrs = (endpoint.host.as_str(), endpoint.port)
            .to_socket_addrs()
            .map_err(|source| GrantError::Resolve {
                endpoint: endpoint.clone(),
                source,
            })?;
        allowed.extend(addrs);
    }
    Ok(allowed)
}

fn egress_allowed(allowed: &HashSet<SocketAddr>, addr: SocketAddr, use_: SocketAddrUse) -> bool {
    let ok = match use_ {
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
            allowed.contains(&addr)
        }
        // The implicit bind that precedes a connect or a send uses an ephemeral port; binding a
        // chosen port, listening and accepting are serving, which egress grants do not allow.
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => addr.port() == 0,
        SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
    };
    if !ok && !matches!(use_, SocketAddrUse::UdpReceive) {
        tracing::warn!(
            "blocked {use_:?} to {addr}: not in the app's network grants; allow it with `--network allow={addr}`"
        );
    }
    ok
}
