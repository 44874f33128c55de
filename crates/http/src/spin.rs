//! The headers Spin's HTTP trigger gives a component's request, so that a component written for
//! Spin finds them: `spin-full-url`, `spin-path-info` (the path below the component's route,
//! which Spin SDK routers and many apps read), `spin-matched-route`, `spin-raw-component-route`,
//! `spin-component-route` and `spin-base-path`.

use http::{HeaderName, HeaderValue, Request};

/// A Spin component's HTTP route, as its locked app writes it (`/...`, `/api/...`, `/hello`,
/// `/users/:id/...`).
#[derive(Clone, Debug)]
pub struct SpinRoute {
    raw: String,
    /// The route without its trailing wildcard (`` for `/...`, `/api` for `/api/...`).
    prefix: String,
}

impl SpinRoute {
    pub fn new(raw: &str) -> SpinRoute {
        let prefix = raw.strip_suffix("/...").unwrap_or(raw).to_string();
        SpinRoute {
            raw: raw.to_string(),
            prefix,
        }
    }

    /// The path prefix a gateway routes to it: its literal segments, up to the first `:name`
    /// one (which Spin matches to any segment), `/` for none.
    pub fn gateway_prefix(&self) -> String {
        let literal: Vec<&str> = self
            .prefix
            .split('/')
            .filter(|s| !s.is_empty())
            .take_while(|s| !s.starts_with(':'))
            .collect();
        format!("/{}", literal.join("/"))
    }

    /// What of `path` lies below the route (Spin's `spin-path-info`): after as many segments
    /// as the route has, a `:name` one matching any; the whole path if the route does not match.
    fn path_info<'p>(&self, path: &'p str) -> &'p str {
        let mut rest = path;
        for segment in self.prefix.split('/').filter(|s| !s.is_empty()) {
            let Some(after) = rest.strip_prefix('/') else {
                return path;
            };
            let end = after.find('/').unwrap_or(after.len());
            let matches = if segment.starts_with(':') {
                end > 0
            } else {
                &after[..end] == segment
            };
            if !matches {
                return path;
            }
            rest = &after[end..];
        }
        rest
    }

    /// Sets Spin's headers on `request`, replacing any the client sent.
    pub(crate) fn set_headers<B>(&self, request: &mut Request<B>) {
        let path = request.uri().path().to_string();
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                let host = request.headers().get(http::header::HOST)?;
                host.to_str().ok().map(str::to_string)
            })
            .unwrap_or_default();
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let path_info = self.path_info(&path);
        let headers = [
            ("spin-full-url", format!("http://{host}{path_and_query}")),
            ("spin-path-info", path_info.to_string()),
            ("spin-matched-route", self.raw.clone()),
            ("spin-raw-component-route", self.raw.clone()),
            ("spin-component-route", self.prefix.clone()),
            ("spin-base-path", "/".to_string()),
        ];
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::try_from(value) {
                request
                    .headers_mut()
                    .insert(HeaderName::from_static(name), value);
            }
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
        SpinRoute::new(route).set_headers(&mut request);
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
    fn a_gateway_routes_the_literal_part() {
        for (route, prefix) in [
            ("/...", "/"),
            ("/api/...", "/api"),
            ("/hello", "/hello"),
            ("/users/:id/...", "/users"),
            ("/:tenant/items", "/"),
        ] {
            assert_eq!(SpinRoute::new(route).gateway_prefix(), prefix, "{route}");
        }
    }
}
