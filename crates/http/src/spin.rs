//! The headers Spin's HTTP trigger gives a component's request, so that a component written for
//! Spin finds them: `spin-full-url`, `spin-path-info` (the path below the component's route,
//! which Spin SDK routers and many apps read), `spin-matched-route`, `spin-raw-component-route`,
//! `spin-component-route`, `spin-base-path`, `spin-client-addr` (`0.0.0.0:0` for a call from
//! another component, as Spin), and a `spin-path-match-NAME` for each `:name` segment of the
//! route.

use std::net::SocketAddr;

use http::{HeaderName, HeaderValue, Request};

/// Every header Spin's trigger sets, but the `spin-path-match-*` ones.
const NAMES: [&str; 7] = [
    "spin-full-url",
    "spin-path-info",
    "spin-matched-route",
    "spin-raw-component-route",
    "spin-component-route",
    "spin-base-path",
    "spin-client-addr",
];

/// What Spin names the header of a route's `:name` segment: `spin-path-match-` and the name,
/// lowercase, `_` written `-`.
const PATH_MATCH: &str = "spin-path-match-";

/// A Spin component's HTTP route, as its locked app writes it (`/...`, `/api/...`, `/hello`,
/// `/users/:id/...`).
#[derive(Clone, Debug)]
pub struct SpinRoute {
    /// The route without its trailing wildcard (`` for `/...`, `/api` for `/api/...`).
    prefix: String,
    /// The headers every request gets alike, made once: the route's own.
    fixed: Vec<(HeaderName, HeaderValue)>,
    /// The header of each `:name` segment, in the route's order (`spin-path-match-NAME`;
    /// `None` for a name no header can have).
    matches: Vec<Option<HeaderName>>,
    /// Whether it ends in `/...` (the path and everything below), or is that path alone.
    wildcard: bool,
    raw: String,
}

impl SpinRoute {
    pub fn new(raw: &str) -> SpinRoute {
        let wildcard = raw.ends_with("/...");
        let prefix = raw.strip_suffix("/...").unwrap_or(raw).to_string();
        let fixed = [
            ("spin-matched-route", raw),
            ("spin-raw-component-route", raw),
            ("spin-component-route", &prefix),
            ("spin-base-path", "/"),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::try_from(value).ok()?,
            ))
        })
        .collect();
        let matches = prefix
            .split('/')
            .filter_map(|segment| segment.strip_prefix(':'))
            .map(|name| {
                let name = name.to_ascii_lowercase().replace('_', "-");
                HeaderName::try_from(format!("{PATH_MATCH}{name}")).ok()
            })
            .collect();
        SpinRoute {
            prefix,
            fixed,
            matches,
            wildcard,
            raw: raw.to_string(),
        }
    }

    /// Whether `path` is on the route, and if so how specifically, for choosing between the
    /// routes of an app's components as Spin's router does: the most specific route that
    /// matches wins. Segment by segment a literal beats a `:name`, a longer route a shorter
    /// one, and the route of exactly that path its `/...` (Spin refuses an app with two
    /// routes alike, so there are no ties).
    pub fn specificity(&self, path: &str) -> Option<(Vec<u8>, bool)> {
        let mut rest = path.split('/').filter(|s| !s.is_empty());
        let mut rank = Vec::new();
        for segment in self.prefix.split('/').filter(|s| !s.is_empty()) {
            let given = rest.next()?;
            if segment.starts_with(':') {
                rank.push(1);
            } else if given == segment {
                rank.push(2);
            } else {
                return None;
            }
        }
        if !self.wildcard && rest.next().is_some() {
            return None;
        }
        Some((rank, !self.wildcard))
    }

    /// The route as Spin writes it (`/api/...`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// What of `path` lies below the route (Spin's `spin-path-info`): after as many segments
    /// as the route has, a `:name` one matching any; the whole path if the route does not match.
    /// With it, what each `:name` segment matched, in the route's order.
    fn path_info<'p>(&self, path: &'p str) -> (&'p str, Vec<&'p str>) {
        let mut rest = path;
        let mut matched = Vec::new();
        for segment in self.prefix.split('/').filter(|s| !s.is_empty()) {
            let Some(after) = rest.strip_prefix('/') else {
                return (path, Vec::new());
            };
            let end = after.find('/').unwrap_or(after.len());
            let matches = if segment.starts_with(':') {
                matched.push(&after[..end]);
                end > 0
            } else {
                &after[..end] == segment
            };
            if !matches {
                return (path, Vec::new());
            }
            rest = &after[end..];
        }
        (rest, matched)
    }

    /// Sets Spin's headers on `request` from the client at `client` (`None`: another component
    /// of the process), replacing any the client sent.
    pub(crate) fn set_headers<B>(&self, request: &mut Request<B>, client: Option<SocketAddr>) {
        let uri = request.uri();
        let host = match uri.authority() {
            Some(authority) => authority.as_str(),
            None => request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default(),
        };
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let full_url = HeaderValue::try_from(format!("http://{host}{path_and_query}"));
        let (path_info, matched) = self.path_info(uri.path());
        let path_info = HeaderValue::try_from(path_info);
        let matched: Vec<_> = matched.into_iter().map(HeaderValue::try_from).collect();
        // A call from another component (in-process) has no client: Spin says `0.0.0.0:0`.
        let client = match client {
            Some(addr) => HeaderValue::try_from(addr.to_string()).ok(),
            None => Some(HeaderValue::from_static("0.0.0.0:0")),
        };
        let headers = request.headers_mut();
        // A client's own go, even where the route's cannot be written as a header.
        for name in NAMES {
            headers.remove(name);
        }
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with(PATH_MATCH))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
        for (name, value) in [("spin-full-url", full_url), ("spin-path-info", path_info)] {
            if let Ok(value) = value {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        if let Some(client) = client {
            headers.insert(HeaderName::from_static("spin-client-addr"), client);
        }
        for (name, value) in self.matches.iter().zip(matched) {
            if let (Some(name), Ok(value)) = (name, value) {
                headers.insert(name.clone(), value);
            }
        }
        for (name, value) in &self.fixed {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(route: &str, uri: &str) -> Vec<String> {
        let mut request = Request::builder()
            .uri(uri)
            .header("host", "example.com:3000")
            .header("spin-path-info", "/forged")
            .body(())
            .unwrap();
        SpinRoute::new(route).set_headers(&mut request, None);
        assert_eq!(request.headers()["spin-client-addr"], "0.0.0.0:0");
        [
            "spin-full-url",
            "spin-path-info",
            "spin-matched-route",
            "spin-component-route",
        ]
        .iter()
        .map(|name| request.headers()[*name].to_str().unwrap().to_string())
        .collect()
    }

    #[test]
    fn headers_are_spins() {
        assert_eq!(
            headers("/api/...", "/api/items/3?x=1"),
            [
                "http://example.com:3000/api/items/3?x=1",
                "/items/3",
                "/api/...",
                "/api"
            ]
        );
        assert_eq!(
            headers("/...", "/env/api"),
            ["http://example.com:3000/env/api", "/env/api", "/...", ""]
        );
        assert_eq!(
            headers("/hello", "/hello"),
            ["http://example.com:3000/hello", "", "/hello", "/hello"]
        );
        assert_eq!(
            headers("/users/:id/...", "/users/42/cart"),
            [
                "http://example.com:3000/users/42/cart",
                "/cart",
                "/users/:id/...",
                "/users/:id"
            ]
        );
        // Not below the route (a gateway sent it for another reason): the whole path.
        assert_eq!(headers("/api/...", "/apis/x")[1], "/apis/x");
    }

    #[test]
    fn named_segments_and_the_client_are_said() {
        let mut request = Request::builder()
            .uri("/users/42/orders/7/items")
            .header("host", "example.com")
            .header("spin-path-match-admin", "true")
            .header("spin-client-addr", "10.0.0.1:1")
            .body(())
            .unwrap();
        let client: SocketAddr = "127.0.0.1:8777".parse().unwrap();
        SpinRoute::new("/users/:userId/orders/:order_id/...")
            .set_headers(&mut request, Some(client));
        let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap());
        assert_eq!(header("spin-path-match-userid"), Some("42"));
        assert_eq!(header("spin-path-match-order-id"), Some("7"));
        assert_eq!(header("spin-path-info"), Some("/items"));
        assert_eq!(header("spin-client-addr"), Some("127.0.0.1:8777"));
        assert_eq!(
            header("spin-path-match-admin"),
            None,
            "a client's own was kept"
        );
        assert_eq!(
            header("spin-component-route"),
            Some("/users/:userId/orders/:order_id")
        );
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = [
            "/...",
            "/api/...",
            "/api/items",
            "/api/:kind",
            "/users/:id/...",
        ];
        let pick = |path: &str| {
            routes
                .iter()
                .filter_map(|r| Some((SpinRoute::new(r).specificity(path)?, *r)))
                .max()
                .map(|(_, route)| route)
        };
        assert_eq!(pick("/"), Some("/..."));
        assert_eq!(pick("/elsewhere/x"), Some("/..."));
        assert_eq!(pick("/api"), Some("/api/..."));
        assert_eq!(pick("/api/items"), Some("/api/items"));
        assert_eq!(pick("/api/items/"), Some("/api/items"));
        assert_eq!(pick("/api/other"), Some("/api/:kind"));
        assert_eq!(pick("/api/items/3"), Some("/api/..."));
        assert_eq!(pick("/users/42/cart"), Some("/users/:id/..."));
        assert_eq!(pick("/users"), Some("/..."));
        // An exact route takes its path alone.
        assert_eq!(SpinRoute::new("/hello").specificity("/hello/x"), None);
        assert!(SpinRoute::new("/hello").specificity("/hello").is_some());
        assert_eq!(SpinRoute::new("/api/...").raw(), "/api/...");
    }
}
