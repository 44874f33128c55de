//! The egress rule, one for sockets and for outgoing HTTP (docs/decisions/0002-egress-rule.md):
//!
//! 1. The destination the guest names must be granted: a host name by a grant of that name and
//!    port; an IP address by a grant of that address, or of a range holding it, and port.
//! 2. Skiff resolves a granted name itself and connects only to an address it checked: a public
//!    address, or a special one (loopback, private, link-local, ...) that a grant names literally.
//!
//! So a name alone never reaches the host, the LAN or a cloud metadata service, whatever DNS
//! answers, now or later (DNS rebinding). This module is the rule as data and pure functions; the
//! lookups and connections are the runtime's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::{Endpoint, NetworkPolicy};

/// An IP address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`); one address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in the range; an IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    /// `ADDR` or `ADDR/PREFIX`; the address must have no bits set beyond the prefix, so that what
    /// is written is what is granted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        // `::ffff:127.0.0.1` is 127.0.0.1 on the wire: grant it as such.
        let addr = if prefix.is_none() {
            canonical(addr)
        } else {
            addr
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`/{p}` is not a prefix length (0-{max})"))?,
        };
        let net = IpNet { addr, prefix };
        let masked = IpNet {
            addr: match addr {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
                    u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
                )),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                    u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0),
                )),
            },
            prefix,
        };
        if masked != net {
            return Err(format!(
                "`{s}` has bits set beyond its prefix; write `{masked}`"
            ));
        }
        Ok(net)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it reaches.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The kind of a special address, which a grant by host name does not reach: `None` for a public
/// one. Loopback, private (RFC 1918, unique local `fc00::/7`), shared (CGNAT `100.64.0.0/10`),
/// link-local (`169.254.0.0/16` holds the cloud metadata service, `fe80::/10`), unspecified,
/// multicast and reserved ranges, in either family, IPv4-mapped and NAT64 (`64:ff9b::/96`) forms
/// of them included.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        (0, _) => "unspecified",
        (127, _) => "loopback",
        (10, _) | (172, 16..=31) | (192, 168) => "private",
        (100, 64..=127) => "shared (CGNAT)",
        (169, 254) => "link-local",
        (224..=239, _) => "multicast",
        (240..=255, _) => "reserved",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // Unique local (fc00::/7) and the deprecated site-local (fec0::/10).
        x if x & 0xfe00 == 0xfc00 || x & 0xffc0 == 0xfec0 => "private",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        // NAT64's well-known prefix reaches the IPv4 address it embeds.
        0x64 if s[1..6] == [0xff9b, 0, 0, 0, 0] => {
            let [.., hi, lo] = s;
            return special_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
        }
        // IPv4-compatible addresses (`::a.b.c.d`, deprecated).
        0 if s[1..6] == [0; 5] => "reserved",
        _ => return None,
    })
}

/// Why a connection was refused; the message ends with the `--network` value that allows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The destination is not granted at all.
    #[error("not in the app's network grants; allow it with `--network allow={destination}`")]
    NotGranted { destination: Endpoint },
    /// A granted name resolved only to special addresses that no grant names.
    #[error("{}", special_message(name, refused))]
    Special {
        /// The granted name and port.
        name: Endpoint,
        /// The addresses it resolved to, with their kind.
        refused: Vec<(IpAddr, &'static str)>,
    },
}

fn special_message(name: &Endpoint, refused: &[(IpAddr, &'static str)]) -> String {
    let addrs: Vec<String> = refused
        .iter()
        .map(|(ip, kind)| format!("{ip} ({kind})"))
        .collect();
    let mut fix = name.to_string();
    for (ip, _) in refused {
        let granted = Endpoint {
            host: ip.to_string(),
            port: name.port,
        };
        fix.push_str(&format!(",{granted}"));
    }
    format!(
        "`{}` resolves to {}, which a grant by host name does not reach; grant the address \
         itself: `--network allow={fix}`",
        name.host,
        addrs.join(", ")
    )
}

/// A network policy made ready to check addresses against: grants by name, and grants of
/// addresses and ranges, apart. Built once per app.
#[derive(Clone, Debug, Default)]
pub struct EgressRule {
    names: Vec<Endpoint>,
    nets: Vec<(IpNet, u16)>,
    /// `--network host`: every destination is granted, special addresses included.
    host: bool,
}

/// A destination the guest named, once granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An IP address that a grant names: connect to exactly it.
    Addr(SocketAddr),
    /// A granted host name: resolve it, then [`EgressRule::check_resolved`].
    Name(String),
}

impl EgressRule {
    pub fn new(policy: &NetworkPolicy) -> EgressRule {
        let mut rule = EgressRule {
            host: *policy == NetworkPolicy::Host,
            ..EgressRule::default()
        };
        for endpoint in policy.endpoints() {
            match endpoint.host.parse::<IpNet>() {
                Ok(net) => rule.nets.push((net, endpoint.port)),
                Err(_) => rule.names.push(endpoint.clone()),
            }
        }
        rule
    }

    /// Whether there is no grant at all (then every socket address is refused).
    pub fn is_empty(&self) -> bool {
        !self.host && self.names.is_empty() && self.nets.is_empty()
    }

    /// Whether the host's whole network is granted (`--network host`).
    pub fn is_host(&self) -> bool {
        self.host
    }

    /// The grants by host name.
    pub fn names(&self) -> &[Endpoint] {
        &self.names
    }

    /// Whether a grant names this address, or a range holding it, with this port.
    pub fn covers(&self, ip: IpAddr, port: u16) -> bool {
        self.host
            || self
                .nets
                .iter()
                .any(|(net, p)| *p == port && net.contains(ip))
    }

    /// Step 1: the destination as the guest named it (an HTTP request's host, `[v6]` allowed).
    pub fn check_destination(&self, host: &str, port: u16) -> Result<Destination, Denial> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match host.parse::<IpAddr>() {
            Ok(ip) if self.covers(ip, port) => Ok(Destination::Addr(SocketAddr::new(ip, port))),
            Ok(ip) => Err(Denial::NotGranted {
                destination: Endpoint {
                    host: canonical(ip).to_string(),
                    port,
                },
            }),
            Err(_) => {
                let granted = self.host
                    || self
                        .names
                        .iter()
                        .any(|e| e.port == port && e.host.eq_ignore_ascii_case(host));
                let destination = Endpoint {
                    host: host.to_ascii_lowercase(),
                    port,
                };
                if granted {
                    Ok(Destination::Name(destination.host))
                } else {
                    Err(Denial::NotGranted { destination })
                }
            }
        }
    }

    /// Step 2: of the addresses a granted `name` resolved to, those a connection may go to (in
    /// the resolver's order): public ones, and special ones a grant names. An error when none is
    /// left.
    pub fn check_resolved(
        &self,
        name: &str,
        port: u16,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Result<Vec<SocketAddr>, Denial> {
        let mut allowed = Vec::new();
        let mut refused = Vec::new();
        for ip in addrs {
            let ip = canonical(ip);
            match special_range(ip) {
                Some(kind) if !self.covers(ip, port) => {
                    if !refused.iter().any(|(r, _)| *r == ip) {
                        refused.push((ip, kind));
                    }
                }
                _ => {
                    let addr = SocketAddr::new(ip, port);
                    if !allowed.contains(&addr) {
                        allowed.push(addr);
                    }
                }
            }
        }
        if allowed.is_empty() && !refused.is_empty() {
            return Err(Denial::Special {
                name: Endpoint {
                    host: name.to_string(),
                    port,
                },
                refused,
            });
        }
        Ok(allowed)
    }

    /// For a socket, where the guest gives an address (having looked the name up itself):
    /// allowed if a grant names it, or if it is one the granted name `resolved_from` resolved to
    /// and not a special address.
    pub fn check_address(
        &self,
        addr: SocketAddr,
        resolved_from: Option<&str>,
    ) -> Result<(), Denial> {
        let ip = canonical(addr.ip());
        if self.covers(ip, addr.port()) {
            return Ok(());
        }
        match resolved_from {
            Some(name) => self.check_resolved(name, addr.port(), [ip]).map(drop),
            None => Err(Denial::NotGranted {
                destination: Endpoint {
                    host: ip.to_string(),
                    port: addr.port(),
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rule(spec: &str) -> EgressRule {
        EgressRule::new(&spec.parse::<NetworkPolicy>().unwrap())
    }

    #[test]
    fn ranges() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        let net: IpNet = "fd00::/8".parse().unwrap();
        assert!(net.contains(ip("fd12::1")));
        assert!(!net.contains(ip("fe80::1")));
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        let one: IpNet = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1");
        assert!(one.contains(ip("127.0.0.1")));
        assert_eq!(
            "10.0.0.1/8".parse::<IpNet>().unwrap_err(),
            "`10.0.0.1/8` has bits set beyond its prefix; write `10.0.0.0/8`"
        );
        for bad in ["10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn special_ranges() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fd00::1", "private"),
            ("fc00::1", "private"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("169.254.169.254", "link-local"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("fe80::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::7f00:1", "reserved"),
        ] {
            assert_eq!(special_range(ip(addr)), Some(kind), "{addr}");
        }
        for public in [
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
        ] {
            assert_eq!(special_range(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn destinations_must_be_granted() {
        let rule = rule("allow=Example.com:443,127.0.0.1:8080,10.0.0.0/8:5432,[::1]:80");
        assert_eq!(
            rule.check_destination("EXAMPLE.com", 443),
            Ok(Destination::Name("example.com".into()))
        );
        assert_eq!(
            rule.check_destination("10.9.8.7", 5432),
            Ok(Destination::Addr("10.9.8.7:5432".parse().unwrap()))
        );
        assert_eq!(
            rule.check_destination("[::1]", 80),
            Ok(Destination::Addr("[::1]:80".parse().unwrap()))
        );
        let denied = rule.check_destination("example.com", 80).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "not in the app's network grants; allow it with `--network allow=example.com:80`"
        );
        assert!(rule.check_destination("evil.example.com", 443).is_err());
        assert!(rule.check_destination("127.0.0.1", 8081).is_err());
        assert!(rule.check_destination("11.0.0.1", 5432).is_err());
        // The name `localhost` is not the address 127.0.0.1.
        assert!(rule.check_destination("localhost", 8080).is_err());
        assert!(
            EgressRule::new(&NetworkPolicy::None)
                .check_destination("example.com", 443)
                .is_err()
        );
    }

    #[test]
    fn names_do_not_reach_special_addresses() {
        let rule = rule("allow=rebind.example:80,10.0.0.5:80");
        // Public answers pass, in the resolver's order.
        assert_eq!(
            rule.check_resolved("rebind.example", 80, [ip("93.184.215.14"), ip("1.1.1.1")]),
            Ok(vec![
                "93.184.215.14:80".parse().unwrap(),
                "1.1.1.1:80".parse().unwrap()
            ])
        );
        // A special answer is dropped when there are others; granted ones stay.
        assert_eq!(
            rule.check_resolved(
                "rebind.example",
                80,
                [ip("127.0.0.1"), ip("10.0.0.5"), ip("1.1.1.1")]
            ),
            Ok(vec![
                "10.0.0.5:80".parse().unwrap(),
                "1.1.1.1:80".parse().unwrap()
            ])
        );
        let denied = rule
            .check_resolved(
                "rebind.example",
                80,
                [ip("169.254.169.254"), ip("::ffff:127.0.0.1")],
            )
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "`rebind.example` resolves to 169.254.169.254 (link-local), 127.0.0.1 (loopback), \
             which a grant by host name does not reach; grant the address itself: \
             `--network allow=rebind.example:80,169.254.169.254:80,127.0.0.1:80`"
        );
        let denied = rule
            .check_resolved("rebind.example", 80, [ip("fd00::1")])
            .unwrap_err();
        assert!(
            denied
                .to_string()
                .ends_with("`--network allow=rebind.example:80,[fd00::1]:80`"),
            "{denied}"
        );
    }

    #[test]
    fn socket_addresses() {
        let rule = rule("allow=localhost:8080,192.168.0.0/16:53");
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(rule.check_address(addr("192.168.4.4:53"), None), Ok(()));
        assert_eq!(
            rule.check_address(addr("[::ffff:192.168.4.4]:53"), None),
            Ok(())
        );
        assert!(rule.check_address(addr("192.168.4.4:54"), None).is_err());
        assert_eq!(
            rule.check_address(addr("1.2.3.4:8080"), Some("localhost")),
            Ok(())
        );
        let denied = rule
            .check_address(addr("127.0.0.1:8080"), Some("localhost"))
            .unwrap_err();
        assert!(matches!(denied, Denial::Special { .. }), "{denied}");
        assert_eq!(
            rule.check_address(addr("127.0.0.1:8080"), None)
                .unwrap_err()
                .to_string(),
            "not in the app's network grants; allow it with `--network allow=127.0.0.1:8080`"
        );
    }
}
