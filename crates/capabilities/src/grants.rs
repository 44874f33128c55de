//! What an app may see: directories, environment variables, network destinations.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything an app is allowed to see. The default grants nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Environment variables, in order; a later entry for the same name wins.
    pub env: Vec<(String, String)>,
    /// Host directories mounted into the guest's filesystem.
    pub dirs: Vec<DirGrant>,
    /// Where the app may connect to.
    pub network: NetworkPolicy,
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
        "invalid network policy `{spec}`: {reason}; expected `none` or `allow=HOST:PORT[,HOST:PORT...]`"
    )]
    Network { spec: String, reason: String },
}

/// A host directory made visible to the guest at `guest`, like `docker run -v host:guest[:ro]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
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
        let read_only = match parts.next() {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(_) => return Err(err("the mode must be `ro` or `rw`")),
        };
        if parts.next().is_some() {
            return Err(err("too many `:`"));
        }
        if host.is_empty() {
            return Err(err("the host directory is empty"));
        }
        if !guest.starts_with('/') {
            return Err(err("the guest directory must be absolute"));
        }
        if guest.split('/').any(|c| c == "..") {
            return Err(err("the guest directory must not contain `..`"));
        }
        Ok(DirGrant {
            host: PathBuf::from(host),
            guest: normalize_guest(guest),
            read_only,
        })
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

/// Network egress. The default is [`NetworkPolicy::None`]: no sockets at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPolicy {
    #[default]
    None,
    /// Outgoing TCP connections and UDP datagrams to exactly these destinations.
    Allow(Vec<Endpoint>),
}

impl NetworkPolicy {
    pub fn endpoints(&self) -> &[Endpoint] {
        match self {
            NetworkPolicy::None => &[],
            NetworkPolicy::Allow(endpoints) => endpoints,
        }
    }

    /// Whether a destination named by host and port (an outgoing HTTP request's authority) is
    /// granted: the same host, compared without case, and the same port.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        self.endpoints()
            .iter()
            .any(|e| e.port == port && e.host.eq_ignore_ascii_case(host))
    }
}

impl FromStr for NetworkPolicy {
    type Err = ParseGrantError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseGrantError::Network {
            spec: spec.to_string(),
            reason,
        };
        if spec == "none" {
            return Ok(NetworkPolicy::None);
        }
        let Some(list) = spec.strip_prefix("allow=") else {
            return Err(err("unknown policy".into()));
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

/// A destination: a host name or IP address, and a port.
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
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6,
            Some(_) => return Err(format!("`{s}` has no valid IPv6 address")),
            // `::1:80` is ambiguous: IPv6 addresses need brackets.
            None if host.contains(':') => {
                return Err(format!("`{s}`: write IPv6 addresses as `[ADDR]:PORT`"));
            }
            None => host,
        };
        if host.is_empty() || host.contains(['/', ' ', '[', ']']) {
            return Err(format!("`{s}` has no valid host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{port}` is not a port number (1-65535)"))?;
        Ok(Endpoint {
            host: host.to_ascii_lowercase(),
            port,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
        for bad in [
            "/data",
            "/a:rel",
            "/a:/b:rx",
            ":/b",
            "/a:/b:ro:x",
            "/a:/../etc",
        ] {
            assert!(bad.parse::<DirGrant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn network_allows_exact_destinations() {
        let policy: NetworkPolicy = "allow=Example.com:443,[::1]:8080".parse().unwrap();
        assert!(policy.allows("example.com", 443));
        assert!(policy.allows("EXAMPLE.COM", 443));
        assert!(policy.allows("[::1]", 8080));
        assert!(!policy.allows("example.com", 80));
        assert!(!policy.allows("evil.example.com", 443));
        assert!(!NetworkPolicy::None.allows("example.com", 443));
    }

    #[test]
    fn network() {
        assert_eq!(
            "none".parse::<NetworkPolicy>().unwrap(),
            NetworkPolicy::None
        );
        let p: NetworkPolicy = "allow=example.com:443,127.0.0.1:8080,[::1]:80"
            .parse()
            .unwrap();
        assert_eq!(p.endpoints().len(), 3);
        assert_eq!(p.endpoints()[2].host, "::1");
        assert_eq!(
            p.to_string(),
            "allow=example.com:443,127.0.0.1:8080,[::1]:80"
        );
        for bad in [
            "all",
            "allow=",
            "allow=host",
            "allow=host:0",
            "allow=::1:80",
            "allow=h:99999",
        ] {
            assert!(bad.parse::<NetworkPolicy>().is_err(), "{bad}");
        }
    }
}
