//! What an app may see: directories, environment variables, network destinations.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::egress::IpNet;

/// Everything an app is allowed to see. The default grants nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Environment variables, in order; a later entry for the same name wins.
    pub env: Vec<(String, String)>,
    /// Host directories mounted into the guest's filesystem.
    pub dirs: Vec<DirGrant>,
    /// Where the app may connect to.
    pub network: NetworkPolicy,
    /// Where it may listen for TCP connections (`-p [ADDR:]PORT` on a command app): a server of
    /// its own, a cache, a database. An address of 127.0.0.1 (the default) does not let it
    /// listen on every interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<std::net::SocketAddr>,
    /// Where it may bind UDP sockets to serve (`-p [ADDR:]PORT/udp`): datagrams from anyone
    /// reach them, and it may answer those who wrote to it, as through a port Docker publishes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen_udp: Vec<std::net::SocketAddr>,
    /// The values a component reads through `wasi:config/store`, in order; a later entry for the
    /// same name wins (`wasmtime run -S config-var=NAME=VALUE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<(String, String)>,
    /// What a store opened through `wasi:keyvalue` holds when the instance opens it (in memory:
    /// an instance's writes are its own), as `wasmtime run -S keyvalue-in-memory-data=KEY=VALUE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyvalue: Vec<(String, String)>,
    /// The Spin key-value stores it may open (`fermyon:spin/key-value`), by label: a Spin
    /// component's `key_value_stores`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spin_stores: Vec<String>,
    /// The Spin SQLite databases it may open (`fermyon:spin/sqlite`), by label: a Spin
    /// component's `sqlite_databases`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spin_databases: Vec<String>,
    /// The Redis channels whose messages call the app (a Spin app's `[[trigger.redis]]`): each
    /// message a fresh instance's `handle-message`. Connected to under the app's network grants,
    /// as its own connections are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redis_channels: Vec<RedisChannel>,
    /// The working directory (`-w`, compose's `working_dir`, a container's `cwd`): `/` or an
    /// absolute path inside a granted directory. Relative paths resolve there, and a component
    /// reads it as `wasi:cli/environment`'s `initial-cwd` (`wasmtime run -S cwd=DIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// `workdir` came from `wasmtime run -S cwd=DIR`: as there, it is what `initial-cwd`
    /// answers wherever it is (relative paths resolve there only where a mount holds it),
    /// where `-w` refuses a directory outside the mounts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workdir_unchecked: bool,
    /// `wasi-nn` (`wasmtime run -S nn`): inference through the host's OpenVINO, which the first
    /// model an app loads brings into Skiff's own process, so only when granted. `None`: a
    /// program that imports it is refused before it starts, naming `-S nn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nn: Option<NnGrant>,
    /// WASI's socket interfaces switched on or off as `wasmtime run -S tcp|udp|allow-ip-name-lookup[=y|n]`
    /// switches them.
    #[serde(default, skip_serializing_if = "SocketSwitches::is_none")]
    pub sockets: SocketSwitches,
}

/// A channel of a Redis server (`redis://[USER:PASSWORD@]HOST[:PORT][/DB]`) an app subscribes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisChannel {
    pub address: String,
    pub channel: String,
}

impl RedisChannel {
    /// Its server's address without the user and password it may hold, to be shown.
    pub fn server(&self) -> String {
        let Some((scheme, rest)) = self.address.split_once("://") else {
            return self.address.clone();
        };
        let end = rest.find('/').unwrap_or(rest.len());
        match rest[..end].rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}{}", &rest[end..]),
            None => self.address.clone(),
        }
    }
}

/// Whether a program may create TCP and UDP sockets and look names up, as `wasmtime run`'s
/// `-S tcp`, `udp` and `allow-ip-name-lookup` say (off, creating one or looking a name up fails
/// with `access-denied`). `None`: Skiff's default, on where a grant reaches (sockets with any
/// network or listen grant, name lookups with a grant by name or `--network host`), as
/// `wasmtime run` turns sockets on with `-S inherit-network`. What a socket may reach is the
/// grants' either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketSwitches {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_name_lookup: Option<bool>,
}

impl SocketSwitches {
    pub fn is_none(&self) -> bool {
        *self == SocketSwitches::default()
    }
}

/// What `-S nn` grants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NnGrant {
    /// Models loaded before the app starts, which it opens by name (`load-by-name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graphs: Vec<NnGraph>,
}

/// A model loaded for an app: `-S nn-graph=ENCODING::DIR`, named after DIR's last component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NnGraph {
    /// The model's format, as wasi-nn names it (`openvino`: DIR holds `model.xml` and
    /// `model.bin`).
    pub encoding: String,
    pub dir: PathBuf,
}

impl FromStr for NnGraph {
    type Err = String;

    /// `ENCODING::DIR`, as `wasmtime run -S nn-graph` takes it.
    fn from_str(spec: &str) -> Result<Self, String> {
        let (encoding, dir) = spec
            .split_once("::")
            .filter(|(e, d)| !e.is_empty() && !d.is_empty())
            .ok_or_else(|| format!("`{spec}` is not `ENCODING::DIR`"))?;
        Ok(NnGraph {
            encoding: encoding.to_string(),
            dir: PathBuf::from(dir),
        })
    }
}

impl Grants {
    /// The environment the guest sees: one entry per name, the last one given winning (so `-e`
    /// overrides `--env-file`, as in Docker), in first-given order.
    pub fn effective_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::with_capacity(self.env.len());
        for (name, value) in &self.env {
            match env.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => env.push((name.clone(), value.clone())),
            }
        }
        env
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseGrantError {
    #[error("invalid volume `{spec}`: {reason}; expected `HOST_DIR:GUEST_DIR[:ro|rw]`")]
    Volume { spec: String, reason: &'static str },
    #[error(
        "invalid network policy `{spec}`: {reason}; expected `none`, `image`, \
         `allow=HOST:PORT[,HOST:PORT...]`, `image,allow=...` or `host`"
    )]
    Network { spec: String, reason: String },
}

/// A host directory made visible to the guest at `guest`, like `docker run -v host:guest[:ro]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    pub host: PathBuf,
    /// Where the guest finds it: an absolute path (normalised: `/data/` is `/data`), or a
    /// relative name such as `data` or `.`, which is the WASI preopen's name exactly as given, as
    /// `wasmtime run --dir HOST::NAME` names it. Programs that look their directory up by its
    /// preopen name (the WASI testsuite's do) find it only under the name they were told.
    pub guest: String,
    pub read_only: bool,
}

/// Whether a directory is granted as `.`, which says where relative paths go as a working
/// directory would.
pub fn dot_granted(dirs: &[DirGrant]) -> bool {
    use std::path::{Component, Path};
    dirs.iter()
        .any(|d| Path::new(&d.guest).components().eq([Component::CurDir]))
}

/// The innermost directory granted at an absolute guest path that holds the absolute, normalised
/// guest path `path` (`-v a:/data -v b:/data/logs`: `/data/logs/x` is in `b`), and what of
/// `path` lies below it.
pub fn granted_dir_of<'a, 'p>(
    dirs: &'a [DirGrant],
    path: &'p std::path::Path,
) -> Option<(&'a DirGrant, &'p std::path::Path)> {
    dirs.iter()
        .filter(|d| d.guest.starts_with('/'))
        .filter_map(|d| Some((d, path.strip_prefix(&d.guest).ok()?)))
        .max_by_key(|(d, _)| std::path::Path::new(&d.guest).components().count())
}

impl DirGrant {
    /// `host` at `guest` (see [`DirGrant::guest`]); `Err` says what is wrong with `guest`.
    pub fn new(host: PathBuf, guest: &str, read_only: bool) -> Result<Self, &'static str> {
        if host.as_os_str().is_empty() {
            return Err("the host directory is empty");
        }
        if guest.is_empty() {
            return Err("missing the guest directory");
        }
        if guest.split('/').any(|c| c == "..") {
            return Err("the guest directory must not contain `..`");
        }
        let guest = if guest.starts_with('/') {
            normalize_guest(guest)
        } else {
            guest.to_string()
        };
        Ok(DirGrant {
            host,
            guest,
            read_only,
        })
    }
}

impl FromStr for DirGrant {
    type Err = ParseGrantError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseGrantError::Volume {
            spec: spec.to_string(),
            reason,
        };
        let mut parts = spec.split(':');
        let (Some(host), Some(guest)) = (parts.next(), parts.next()) else {
            return Err(err("missing the guest directory"));
        };
        // Docker's options, comma-separated: `ro`/`rw`, and those that change nothing for a
        // directory the app reaches through Skiff's own process (SELinux relabelling `z`/`Z`,
        // mount propagation, `nocopy`, macOS's consistency hints), taken as Docker takes them.
        let mut read_only = None;
        for option in parts.next().into_iter().flat_map(|o| o.split(',')) {
            let ro = match option {
                "ro" => true,
                "rw" => false,
                "z" | "Z" | "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
                | "nocopy" | "consistent" | "cached" | "delegated" => continue,
                _ => {
                    return Err(err("the options must be `ro` or `rw` (Docker's `z`, `Z`, \
                                     propagation, `nocopy` and `cached` are taken)"));
                }
            };
            if read_only.is_some_and(|was| was != ro) {
                return Err(err("both `ro` and `rw`"));
            }
            read_only = Some(ro);
        }
        let read_only = read_only.unwrap_or(false);
        if parts.next().is_some() {
            return Err(err("too many `:`"));
        }
        // `-v /data:ro` has a mode where the guest directory belongs; Docker refuses it as a
        // relative path, and it must not become a read-write preopen named `ro`.
        if guest == "ro" || guest == "rw" {
            return Err(err(
                "the mode comes after the guest directory, e.g. `HOST_DIR:/data:ro`",
            ));
        }
        DirGrant::new(PathBuf::from(host), guest, read_only).map_err(err)
    }
}

fn normalize_guest(guest: &str) -> String {
    let parts: Vec<&str> = guest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

impl fmt::Display for DirGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.read_only { ":ro" } else { "" };
        write!(f, "{}:{}{mode}", self.host.display(), self.guest)
    }
}

/// Network egress. The default is [`NetworkPolicy::None`]: no address a socket may reach. How
/// an address is checked against it is [`crate::egress`]'s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPolicy {
    #[default]
    None,
    /// Outgoing TCP connections, UDP datagrams and HTTP requests to exactly these destinations.
    Allow(Vec<Endpoint>),
    /// The host's whole network, as `docker run --network host` and `wasmtime run -S
    /// inherit-network` give it: any destination (loopback and the LAN included), name lookups,
    /// and listening on any port. Only a user grants it: an image cannot declare it.
    Host,
}

impl NetworkPolicy {
    pub fn endpoints(&self) -> &[Endpoint] {
        match self {
            NetworkPolicy::None | NetworkPolicy::Host => &[],
            NetworkPolicy::Allow(endpoints) => endpoints,
        }
    }

    /// The destinations of both, each once, `self`'s first; the host's network if either is.
    pub fn union(&self, other: &NetworkPolicy) -> NetworkPolicy {
        if [self, other].contains(&&NetworkPolicy::Host) {
            return NetworkPolicy::Host;
        }
        let mut endpoints = self.endpoints().to_vec();
        for endpoint in other.endpoints() {
            if !endpoints.contains(endpoint) {
                endpoints.push(endpoint.clone());
            }
        }
        if endpoints.is_empty() {
            NetworkPolicy::None
        } else {
            NetworkPolicy::Allow(endpoints)
        }
    }

    /// The destinations of `self` that `granted` does not hold.
    pub fn without(&self, granted: &NetworkPolicy) -> Vec<Endpoint> {
        if *granted == NetworkPolicy::Host {
            return Vec::new();
        }
        self.endpoints()
            .iter()
            .filter(|e| !granted.endpoints().contains(e))
            .cloned()
            .collect()
    }
}

/// What `--network` says: the user's own grants, and whether the destinations an image declares
/// are accepted. An image never grants itself network access: its list applies only when the
/// user accepts it with `image` (docs/decisions/0002-egress-rule.md).
///
/// `none`, `image`, `allow=HOST:PORT[,HOST:PORT...]`, `image,allow=HOST:PORT[,...]`, or `host`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkFlag {
    /// Apply the image's declared destinations as well.
    pub accept_image: bool,
    /// The user's own grants.
    pub policy: NetworkPolicy,
}

impl FromStr for NetworkFlag {
    type Err = ParseGrantError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut accept_image = false;
        let mut rest = spec;
        if let Some(after) = spec.strip_prefix("image")
            && (after.is_empty() || after.starts_with(','))
        {
            accept_image = true;
            rest = after.strip_prefix(',').unwrap_or(after);
        }
        let policy = match rest {
            "" if spec == "image" => NetworkPolicy::None,
            "none" if accept_image => {
                return Err(ParseGrantError::Network {
                    spec: spec.to_string(),
                    reason: "`none` cannot be combined with `image`".into(),
                });
            }
            _ => rest.parse::<NetworkPolicy>().map_err(|e| match e {
                ParseGrantError::Network { reason, .. } => ParseGrantError::Network {
                    spec: spec.to_string(),
                    reason,
                },
                other => other,
            })?,
        };
        Ok(NetworkFlag {
            accept_image,
            policy,
        })
    }
}

impl fmt::Display for NetworkFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.accept_image, &self.policy) {
            (true, NetworkPolicy::None) => f.write_str("image"),
            (true, policy) => write!(f, "image,{policy}"),
            (false, policy) => write!(f, "{policy}"),
        }
    }
}

impl FromStr for NetworkPolicy {
    type Err = ParseGrantError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseGrantError::Network {
            spec: spec.to_string(),
            reason,
        };
        match spec {
            "none" => return Ok(NetworkPolicy::None),
            "host" => return Ok(NetworkPolicy::Host),
            _ => {}
        }
        let Some(list) = spec.strip_prefix("allow=") else {
            // Docker's network names (`bridge`, a user-defined network, `container:NAME`): an
            // app has no network interface to attach; it reaches what it is granted.
            return Err(err(
                "unknown policy (Skiff has no container networks: an app reaches only the \
                 destinations it is granted, and apps of the daemon call each other with \
                 `--link`)"
                    .into(),
            ));
        };
        let endpoints = list
            .split(',')
            .map(|e| Endpoint::parse_grant(e.trim()).map_err(&err))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetworkPolicy::Allow(endpoints))
    }
}

impl fmt::Display for NetworkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkPolicy::None => f.write_str("none"),
            NetworkPolicy::Host => f.write_str("host"),
            NetworkPolicy::Allow(endpoints) => {
                f.write_str("allow=")?;
                for (i, e) in endpoints.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// A destination: a host name, an IP address or an address range (`10.0.0.0/8`), and a port.
/// A name grants its public addresses only; special ones (loopback, private, link-local...) are
/// reached through a grant that names the address or its range ([`crate::egress`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}` has no port"))?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => match v6.parse::<IpNet>() {
                Ok(net) if v6.contains(':') => net.to_string(),
                Ok(_) => return Err(format!("`{s}`: write IPv4 addresses without brackets")),
                Err(reason) if v6.contains('/') => return Err(reason),
                Err(_) => return Err(format!("`{s}` has no valid IPv6 address")),
            },
            // `::1:80` is ambiguous: IPv6 addresses need brackets.
            None if host.contains(':') => {
                return Err(format!("`{s}`: write IPv6 addresses as `[ADDR]:PORT`"));
            }
            // An address range, `10.0.0.0/8`.
            None if host.contains('/') => host.parse::<IpNet>()?.to_string(),
            None => host.to_ascii_lowercase(),
        };
        if host.is_empty() || host.contains([' ', '[', ']']) {
            return Err(format!("`{s}` has no valid host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{port}` is not a port number (1-65535)"))?;
        Ok(Endpoint { host, port })
    }
}

impl Endpoint {
    /// A grant: `HOST:PORT`, or a URL origin `https://HOST[:PORT]` (443 by default) /
    /// `http://HOST[:PORT]` (80). The grant is a host and port, nothing narrower, so a URL with a
    /// path is refused rather than silently widened.
    pub fn parse_grant(entry: &str) -> Result<Endpoint, String> {
        if entry.is_empty() {
            return Err("the entry is empty".into());
        }
        let (authority, default_port) = match entry.split_once("://") {
            Some((scheme, rest)) => {
                let port = match scheme.to_ascii_lowercase().as_str() {
                    "https" => 443,
                    "http" => 80,
                    _ => return Err(format!("unsupported scheme `{scheme}`")),
                };
                let authority = rest.strip_suffix('/').unwrap_or(rest);
                if authority.contains(['/', '?', '#']) {
                    return Err("a grant is a host and port: paths, queries and fragments \
                                are not enforced, so leave them out"
                        .into());
                }
                if authority.contains('@') {
                    return Err("user information (`user@`) is not allowed".into());
                }
                (authority, Some(port))
            }
            None => (entry, None),
        };
        // Egress grants are resolved to addresses when the app starts: a pattern cannot be.
        if authority.contains('*') {
            return Err("wildcards are not supported; list each host".into());
        }
        let has_port = match authority.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => authority.contains(':'),
        };
        match default_port {
            Some(port) if !has_port => format!("{authority}:{port}").parse(),
            _ => authority.parse(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `-p PORT` (on 127.0.0.1: loopback unless told otherwise) or `-p ADDR:PORT`: where an HTTP app
/// is served, or a command app may listen. Docker's `HOST_PORT:CONTAINER_PORT` and
/// `ADDR:HOST_PORT:CONTAINER_PORT` (and a `/tcp` suffix) are read as the host side: an HTTP app
/// has no port of its own, and a command listens on the host's port itself (as `skiff compose`
/// reads `ports`).
pub fn parse_publish(spec: &str) -> Option<std::net::SocketAddr> {
    let spec = spec.strip_suffix("/tcp").unwrap_or(spec);
    if spec.ends_with("/udp") {
        return None;
    }
    let loopback = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if let Ok(port) = spec.parse::<u16>() {
        return Some(loopback(port));
    }
    if let Ok(addr) = spec.parse() {
        return Some(addr);
    }
    // Docker's forms: the last part is the container's port.
    let (host_side, container) = spec.rsplit_once(':')?;
    container.parse::<u16>().ok()?;
    match host_side.parse::<u16>() {
        Ok(port) => Some(loopback(port)),
        Err(_) => host_side.parse().ok(),
    }
}

/// A `-p` of a command, where it may listen itself: `[ADDR:]PORT` (TCP, as [`parse_publish`]
/// reads it) or `[ADDR:]PORT/udp`, Docker's spelling of a UDP port.
pub fn parse_listen(spec: &str) -> Option<Listen> {
    match spec.strip_suffix("/udp") {
        Some(udp) => parse_publish(udp).map(Listen::Udp),
        None => parse_publish(spec).map(Listen::Tcp),
    }
}

/// What to give when a `-p` of a command is not a port.
pub const LISTEN_HINT: &str = "give `-p PORT` (127.0.0.1) or `-p ADDR:PORT`, e.g. `-p 0.0.0.0:6379`, and `/udp` after it \
     for UDP";

/// Where a command may listen: a TCP port, or a UDP one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp(std::net::SocketAddr),
    Udp(std::net::SocketAddr),
}

impl Listen {
    pub fn addr(self) -> std::net::SocketAddr {
        match self {
            Listen::Tcp(addr) | Listen::Udp(addr) => addr,
        }
    }
}

impl Grants {
    /// Grants `-p` specs of a command: each a TCP or UDP port it may listen on. The first spec
    /// that is not a port is the error.
    pub fn add_listen<'a>(
        &mut self,
        specs: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), &'a str> {
        for spec in specs {
            match parse_listen(spec).ok_or(spec.as_str())? {
                Listen::Tcp(addr) => self.listen.push(addr),
                Listen::Udp(addr) => self.listen_udp.push(addr),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_redis_server_is_shown_without_its_credentials() {
        for (address, shown) in [
            ("redis://:secret@db:6379/2", "redis://db:6379/2"),
            ("redis://user:p@ss@db", "redis://db"),
            ("redis://db:6379", "redis://db:6379"),
            ("db:6379", "db:6379"),
        ] {
            let channel = super::RedisChannel {
                address: address.into(),
                channel: "c".into(),
            };
            assert_eq!(channel.server(), shown);
        }
    }

    use super::*;

    #[test]
    fn publish_takes_skiffs_and_dockers_forms() {
        let at = |s: &str| parse_publish(s).map(|a| a.to_string());
        assert_eq!(at("8080").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(at("0.0.0.0:8080").as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(at("[::1]:8080").as_deref(), Some("[::1]:8080"));
        assert_eq!(at("8080:80").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(at("8080:80/tcp").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(at("0.0.0.0:8080:80").as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(at("[::1]:8080:80").as_deref(), Some("[::1]:8080"));
        for bad in [
            "",
            "http",
            "8080:http",
            "8080:80/udp",
            "70000",
            "1.2.3:80:80",
            "80-90",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn volumes() {
        let v: DirGrant = "./data:/data".parse().unwrap();
        assert_eq!(
            v,
            DirGrant {
                host: "./data".into(),
                guest: "/data".into(),
                read_only: false
            }
        );
        let v: DirGrant = "/cfg:/etc/app/:ro".parse().unwrap();
        assert_eq!(v.guest, "/etc/app");
        assert!(v.read_only);
        assert_eq!(v.to_string(), "/cfg:/etc/app:ro");
        // A relative guest directory is a WASI preopen name, kept as given (as wasmtime's).
        for (spec, name) in [("./data:data", "data"), ("/a:.", "."), ("/a:./b/", "./b/")] {
            let v: DirGrant = spec.parse().unwrap();
            assert_eq!(v.guest, name, "{spec}");
        }
        // Docker's other options change nothing here and are taken; `ro` among them counts.
        for (spec, read_only) in [
            ("/a:/b:z", false),
            ("/a:/b:ro,Z", true),
            ("/a:/b:cached", false),
            ("/a:/b:rprivate,ro", true),
        ] {
            let v: DirGrant = spec.parse().unwrap();
            assert_eq!((v.guest.as_str(), v.read_only), ("/b", read_only), "{spec}");
        }
        for bad in [
            "/data",
            "/data:",
            "/data:ro",
            "/data:rw",
            "/a:rel/../x",
            "/a:/b:rx",
            "/a:/b:ro,rw",
            "/a:/b:ro,",
            ":/b",
            "/a:/b:ro:x",
            "/a:/../etc",
        ] {
            assert!(bad.parse::<DirGrant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn network_flag_accepts_the_image_only_when_told() {
        let flag = |s: &str| s.parse::<NetworkFlag>();
        assert_eq!(flag("none").unwrap(), NetworkFlag::default());
        let image = flag("image").unwrap();
        assert!(image.accept_image);
        assert_eq!(image.policy, NetworkPolicy::None);
        let both = flag("image,allow=example.com:443,10.0.0.0/8:5432").unwrap();
        assert!(both.accept_image);
        assert_eq!(both.policy.endpoints().len(), 2);
        assert_eq!(
            both.to_string(),
            "image,allow=example.com:443,10.0.0.0/8:5432"
        );
        let own = flag("allow=image:80").unwrap();
        assert!(!own.accept_image);
        assert_eq!(own.policy.endpoints()[0].host, "image");
        for bad in ["image,none", "images", "image,", "image,example.com:443"] {
            assert!(flag(bad).is_err(), "{bad}");
        }
        // Docker's network names say what Skiff has instead.
        let bridge = flag("bridge").unwrap_err().to_string();
        assert!(bridge.contains("no container networks"), "{bridge}");
    }

    #[test]
    fn union_keeps_each_destination_once() {
        let user: NetworkPolicy = "allow=a.example:443".parse().unwrap();
        let image: NetworkPolicy = "allow=b.example:443,a.example:443".parse().unwrap();
        assert_eq!(
            user.union(&image).to_string(),
            "allow=a.example:443,b.example:443"
        );
        assert_eq!(
            NetworkPolicy::None.union(&NetworkPolicy::None),
            NetworkPolicy::None
        );
        assert_eq!(image.without(&user), vec!["b.example:443".parse().unwrap()]);
    }

    #[test]
    fn network() {
        assert_eq!(
            "none".parse::<NetworkPolicy>().unwrap(),
            NetworkPolicy::None
        );
        let p: NetworkPolicy =
            "allow=example.com:443,127.0.0.1:8080,[::1]:80,10.0.0.0/8:5432,[FD00::/8]:53"
                .parse()
                .unwrap();
        assert_eq!(p.endpoints().len(), 5);
        assert_eq!(p.endpoints()[2].host, "::1");
        assert_eq!(p.endpoints()[4].host, "fd00::/8");
        assert_eq!(
            p.to_string(),
            "allow=example.com:443,127.0.0.1:8080,[::1]:80,10.0.0.0/8:5432,[fd00::/8]:53"
        );
        for bad in [
            "all",
            "allow=",
            "allow=host",
            "allow=host:0",
            "allow=::1:80",
            "allow=h:99999",
            "allow=10.0.0.1/8:80",
            "allow=10.0.0.0/40:80",
            "allow=a/b:80",
            "allow=[10.0.0.1]:80",
        ] {
            assert!(bad.parse::<NetworkPolicy>().is_err(), "{bad}");
        }
    }
}
