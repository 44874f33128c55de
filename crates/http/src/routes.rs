//! The gateway's routing table: `HOST/PATH`, `HOST` or `/PATH` to an app.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use crate::HttpApp;

/// Where requests go to an app on the shared gateway.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// `None` matches any `Host`.
    pub host: Option<String>,
    /// A path prefix matched on segment boundaries: `/shop` takes `/shop` and `/shop/cart`, not
    /// `/shopping`.
    pub prefix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("`{route}` is not a route: {reason}")]
    Invalid { route: String, reason: &'static str },
    #[error("route `{route}` is already taken by app `{app}`")]
    Taken { route: Route, app: String },
}

impl RouteError {
    pub fn hint(&self) -> &'static str {
        match self {
            RouteError::Invalid { .. } => {
                "write a route as `HOST/PATH` (`shop.localhost/`), `HOST` or `/PATH` (`/shop`)"
            }
            RouteError::Taken { .. } => {
                "pick another host or path, or remove the other app first (`skiff rm APP`)"
            }
        }
    }
}

impl FromStr for Route {
    type Err = RouteError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| RouteError::Invalid {
            route: spec.to_string(),
            reason,
        };
        if spec.contains("://") {
            return Err(invalid("give a host and path, without a scheme"));
        }
        if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains spaces or control characters"));
        }
        let (host, path) = match spec.find('/') {
            Some(0) => (None, spec),
            Some(i) => (Some(&spec[..i]), &spec[i..]),
            None => (Some(spec), "/"),
        };
        let host = match host {
            Some(host) => {
                if host.is_empty()
                    || !host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
                {
                    return Err(invalid("the host is not a host name"));
                }
                Some(host.to_ascii_lowercase())
            }
            None => None,
        };
        if path.contains(['?', '#']) {
            return Err(invalid(
                "a route is a path prefix, without query or fragment",
            ));
        }
        let prefix = match path.trim_end_matches('/') {
            "" => "/".to_string(),
            trimmed => trimmed.to_string(),
        };
        Ok(Route { host, prefix })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host}{}", self.prefix),
            None => f.write_str(&self.prefix),
        }
    }
}

/// The gateway's routes, changed as apps come and go while requests are being routed. Lookups
/// are hash lookups of the path's prefixes, so ten thousand routes cost no more than ten.
#[derive(Default)]
pub struct RouteTable {
    table: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    /// Host-specific routes: host -> path prefix -> app.
    by_host: HashMap<String, HashMap<String, Arc<HttpApp>>>,
    /// Routes for any host: path prefix -> app.
    any_host: HashMap<String, Arc<HttpApp>>,
}

impl Table {
    fn prefixes(&self, host: &Option<String>) -> Option<&HashMap<String, Arc<HttpApp>>> {
        match host {
            Some(host) => self.by_host.get(host),
            None => Some(&self.any_host),
        }
    }
}

impl RouteTable {
    /// Adds all of an app's routes, or none if any is taken.
    pub fn add(&self, routes: &[Route], app: &Arc<HttpApp>) -> Result<(), RouteError> {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        for route in routes {
            if let Some(other) = table
                .prefixes(&route.host)
                .and_then(|prefixes| prefixes.get(&route.prefix))
            {
                return Err(RouteError::Taken {
                    route: route.clone(),
                    app: other.name().to_string(),
                });
            }
        }
        for route in routes {
            let prefixes = match &route.host {
                Some(host) => table.by_host.entry(host.clone()).or_default(),
                None => &mut table.any_host,
            };
            prefixes.insert(route.prefix.clone(), app.clone());
        }
        Ok(())
    }

    /// Removes these routes where they lead to `app`.
    pub fn remove(&self, routes: &[Route], app: &Arc<HttpApp>) {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        for route in routes {
            let prefixes = match &route.host {
                Some(host) => match table.by_host.get_mut(host) {
                    Some(prefixes) => prefixes,
                    None => continue,
                },
                None => &mut table.any_host,
            };
            if prefixes
                .get(&route.prefix)
                .is_some_and(|routed| Arc::ptr_eq(routed, app))
            {
                prefixes.remove(&route.prefix);
            }
            if let Some(host) = &route.host
                && table.by_host.get(host).is_some_and(HashMap::is_empty)
            {
                table.by_host.remove(host);
            }
        }
    }

    /// The app for a request's `Host` (without port) and path: a route naming the host wins over
    /// one for any host, then the longest prefix.
    pub fn resolve(&self, host: Option<&str>, path: &str) -> Option<Arc<HttpApp>> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let host = host.map(str::to_ascii_lowercase);
        let by_host = host.as_ref().and_then(|h| table.by_host.get(h));
        by_host
            .and_then(|prefixes| longest_prefix(prefixes, path))
            .or_else(|| longest_prefix(&table.any_host, path))
            .cloned()
    }
}

/// The longest route prefix of `path`, on segment boundaries: `/a/b/c`, `/a/b`, `/a`, `/`.
fn longest_prefix<'t>(
    prefixes: &'t HashMap<String, Arc<HttpApp>>,
    path: &str,
) -> Option<&'t Arc<HttpApp>> {
    let mut candidate = path.trim_end_matches('/');
    loop {
        if candidate.is_empty() {
            return prefixes.get("/");
        }
        if let Some(app) = prefixes.get(candidate) {
            return Some(app);
        }
        candidate = &candidate[..candidate.rfind('/').unwrap_or(0)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let r: Route = "Shop.localhost/".parse().unwrap();
        assert_eq!(r.host.as_deref(), Some("shop.localhost"));
        assert_eq!(r.prefix, "/");
        let r: Route = "/shop/".parse().unwrap();
        assert_eq!((r.host, r.prefix.as_str()), (None, "/shop"));
        let r: Route = "api.example.com/v1".parse().unwrap();
        assert_eq!(r.to_string(), "api.example.com/v1");
        for bad in ["http://x/", "a b", "/x?y", "bad!host/"] {
            assert!(bad.parse::<Route>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let mut prefixes = HashMap::new();
        let app = |name: &str| {
            Arc::new(HttpApp::new(
                name.into(),
                Box::new(|| Box::pin(async { Err("unused".to_string()) })),
                Default::default(),
                Default::default(),
                &crate::Bounds::unshared(),
            ))
        };
        prefixes.insert("/shop".to_string(), app("shop"));
        prefixes.insert("/shop/admin".to_string(), app("admin"));
        let name = |prefixes: &HashMap<_, _>, path| {
            longest_prefix(prefixes, path).map(|a| a.name().to_string())
        };
        let p = &prefixes;
        assert_eq!(name(p, "/shop").as_deref(), Some("shop"));
        assert_eq!(name(p, "/shop/").as_deref(), Some("shop"));
        assert_eq!(name(p, "/shop/cart").as_deref(), Some("shop"));
        assert_eq!(name(p, "/shop/admin/users").as_deref(), Some("admin"));
        assert_eq!(name(p, "/shopping"), None);
        assert_eq!(name(p, "/"), None);
        prefixes.insert("/".to_string(), app("root"));
        assert_eq!(name(&prefixes, "/shopping").as_deref(), Some("root"));
    }

    #[test]
    fn a_host_route_wins_and_routes_are_exclusive() {
        let table = RouteTable::default();
        let app = |name: &str| {
            Arc::new(HttpApp::new(
                name.into(),
                Box::new(|| Box::pin(async { Err("unused".to_string()) })),
                Default::default(),
                Default::default(),
                &crate::Bounds::unshared(),
            ))
        };
        let route = |r: &str| r.parse::<Route>().unwrap();
        table.add(&[route("/")], &app("any")).unwrap();
        let shop = app("shop");
        table.add(&[route("shop.localhost")], &shop).unwrap();
        let name = |host, path| table.resolve(host, path).map(|a| a.name().to_string());
        assert_eq!(name(Some("SHOP.localhost"), "/x").as_deref(), Some("shop"));
        assert_eq!(name(Some("other"), "/x").as_deref(), Some("any"));
        assert!(matches!(
            table.add(&[route("/a"), route("/")], &app("late")),
            Err(RouteError::Taken { .. })
        ));
        // All or nothing: `/a` was not added either.
        assert_eq!(name(None, "/a").as_deref(), Some("any"));
        // Only where they lead to that app.
        table.remove(&[route("shop.localhost")], &app("shop"));
        assert_eq!(name(Some("shop.localhost"), "/x").as_deref(), Some("shop"));
        table.remove(&[route("shop.localhost")], &shop);
        assert_eq!(name(Some("shop.localhost"), "/x").as_deref(), Some("any"));
    }
}
