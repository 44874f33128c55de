//! The gateway's routing table: `HOST/PATH`, `HOST` or `/PATH` to an app.

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

impl Route {
    fn matches(&self, host: Option<&str>, path: &str) -> bool {
        if let Some(want) = &self.host
            && host != Some(want.as_str())
        {
            return false;
        }
        self.prefix == "/"
            || path == self.prefix
            || path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// More specific routes win: a host over any host, then the longer prefix.
    fn specificity(&self) -> (bool, usize) {
        (self.host.is_some(), self.prefix.len())
    }
}

/// Most specific first; replaced whole (copy on write) so routing never waits on a change.
type Routes = Arc<Vec<(Route, Arc<HttpApp>)>>;

/// The gateway's routes, changed as apps come and go while requests are being routed.
#[derive(Default)]
pub struct RouteTable {
    routes: RwLock<Routes>,
}

impl RouteTable {
    /// Adds all of an app's routes, or none if any is taken.
    pub fn add(&self, routes: &[Route], app: &Arc<HttpApp>) -> Result<(), RouteError> {
        let mut table = self.routes.write().unwrap_or_else(|e| e.into_inner());
        for route in routes {
            if let Some((_, other)) = table.iter().find(|(r, _)| r == route) {
                return Err(RouteError::Taken {
                    route: route.clone(),
                    app: other.name().to_string(),
                });
            }
        }
        let mut next = Vec::clone(&table);
        next.extend(routes.iter().map(|r| (r.clone(), app.clone())));
        next.sort_by_key(|(r, _)| std::cmp::Reverse(r.specificity()));
        *table = Arc::new(next);
        Ok(())
    }

    /// Removes every route of the app with this name.
    pub fn remove(&self, name: &str) {
        let mut table = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let next: Vec<_> = table
            .iter()
            .filter(|(_, app)| app.name() != name)
            .cloned()
            .collect();
        *table = Arc::new(next);
    }

    /// The app for a request's `Host` (without port) and path.
    pub fn resolve(&self, host: Option<&str>, path: &str) -> Option<Arc<HttpApp>> {
        let table = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let host = host.map(|h| h.to_ascii_lowercase());
        table
            .iter()
            .find(|(route, _)| route.matches(host.as_deref(), path))
            .map(|(_, app)| app.clone())
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
        let r: Route = "/shop".parse().unwrap();
        assert!(r.matches(None, "/shop"));
        assert!(r.matches(Some("x"), "/shop/cart"));
        assert!(!r.matches(None, "/shopping"));
        let r: Route = "shop.localhost".parse().unwrap();
        assert!(r.matches(Some("shop.localhost"), "/anything"));
        assert!(!r.matches(Some("other.localhost"), "/anything"));
        assert!(!r.matches(None, "/anything"));
    }
}
