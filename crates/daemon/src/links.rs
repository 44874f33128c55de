//! In-process calls between apps: what an app's `wasi:http` request to `http://NAME/` reaches,
//! along the links it was created with (`--link`; compose's `depends_on` and `links`). A linked
//! name goes straight to that app's handler, with no socket and no port; a neighbour it was not
//! linked to, or any unknown `*.internal` name, is refused, naming the link to add; any other
//! name goes out to the network under the app's egress grants.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use http::{HeaderValue, StatusCode};
use skiff_api::{CallStats, Links};
use skiff_http::CALLER_HEADER;
use skiff_runtime::{PeerCall, Peers, WasiBody};

use crate::supervisor::Supervisor;

/// An app's in-process calls, by the name it called.
#[derive(Default)]
pub struct Calls(Mutex<BTreeMap<String, CallStats>>);

impl Calls {
    fn count(&self, to: &str, update: impl FnOnce(&mut CallStats)) {
        let mut calls = self.0.lock().unwrap();
        let stats = calls.entry(to.to_string()).or_insert_with(|| CallStats {
            to: to.to_string(),
            ..CallStats::default()
        });
        update(stats);
    }

    pub fn snapshot(&self) -> Vec<CallStats> {
        self.0.lock().unwrap().values().cloned().collect()
    }
}

/// The peers of one app.
pub struct Linked {
    /// The app's name and its links: `skiff rename` of it, or of an app it links to, changes
    /// them while it runs.
    pub names: Mutex<(String, Links)>,
    pub supervisor: Weak<Supervisor>,
    pub calls: Arc<Calls>,
}

impl Linked {
    pub fn new(caller: String, links: Links, supervisor: Weak<Supervisor>) -> Linked {
        Linked {
            names: Mutex::new((caller, links)),
            supervisor,
            calls: Arc::default(),
        }
    }
}

impl Peers for Linked {
    fn call(&self, host: &str, mut request: http::Request<WasiBody>) -> PeerCall {
        let internal = host.strip_suffix(".internal");
        let name = internal.unwrap_or(host);
        let (caller, app, refused) = {
            let names = self.names.lock().unwrap();
            let (caller, links) = &*names;
            (
                caller.clone(),
                links.calls.get(name).cloned(),
                links.refused.get(name).cloned(),
            )
        };
        if let Some(app) = app {
            let target = match self.supervisor.upgrade() {
                Some(supervisor) => supervisor.callee(&app),
                None => Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the daemon is stopping".into(),
                )),
            };
            let headers = request.headers_mut();
            headers.remove(CALLER_HEADER);
            if let Ok(caller) = HeaderValue::try_from(caller.as_str()) {
                headers.insert(CALLER_HEADER, caller);
            }
            let calls = self.calls.clone();
            let name = name.to_string();
            return PeerCall::Answer(Box::pin(async move {
                let response = match target {
                    Ok(app) => app.serve(request).await,
                    Err((status, message)) => skiff_http::error_response(status, &message),
                };
                let failed = response.status().is_server_error();
                calls.count(&name, |c| {
                    c.requests += 1;
                    c.errors += u64::from(failed);
                });
                Ok(response)
            }));
        }
        let hint = match refused {
            Some(hint) => hint,
            None if internal.is_some() => format!(
                "`.internal` names are the apps this one is linked to; link one with \
                 `skiff run -d --link APP:{name}` (compose: `depends_on` or `links`)"
            ),
            None => return PeerCall::Outside(Box::new(request)),
        };
        self.calls.count(name, |c| c.refused += 1);
        PeerCall::Refused(format!(
            "blocked call from `{caller}` to `{name}`: it is not linked to it; {hint}"
        ))
    }
}

/// A counter family of the calls: its name, its help text, and its value for one edge.
type Family = (&'static str, &'static str, fn(&CallStats) -> u64);

/// Prometheus text for the in-process calls, per edge (`app` called `to`).
pub fn render_prometheus(edges: &[(String, CallStats)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let families: [Family; 3] = [
        (
            "skiff_calls_total",
            "In-process calls from one app to another it is linked to.",
            |c| c.requests,
        ),
        (
            "skiff_call_errors_total",
            "In-process calls answered with a 5xx status.",
            |c| c.errors,
        ),
        (
            "skiff_calls_refused_total",
            "In-process calls refused: the caller is not linked to that name.",
            |c| c.refused,
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (app, calls) in edges {
            let _ = writeln!(
                out,
                "{name}{{app=\"{}\",to=\"{}\"}} {}",
                skiff_http::escape_label(app),
                skiff_http::escape_label(&calls.to),
                value(calls)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Weak;

    use http_body_util::{BodyExt as _, Empty};
    use skiff_api::Links;
    use skiff_runtime::{PeerCall, Peers, WasiBody};

    use super::Linked;

    fn front() -> Linked {
        Linked::new(
            "shop-front".into(),
            Links {
                calls: BTreeMap::from([("api".into(), "shop-api".into())]),
                refused: BTreeMap::from([("admin".into(), "add `admin` to `depends_on`".into())]),
            },
            // No daemon behind it: a linked call finds no app.
            Weak::new(),
        )
    }

    fn request() -> http::Request<WasiBody> {
        http::Request::new(Empty::new().map_err(|never| match never {}).boxed_unsync())
    }

    #[test]
    fn names_outside_the_links_go_to_the_network_and_neighbours_are_refused() {
        let front = front();
        assert!(matches!(
            front.call("example.com", request()),
            PeerCall::Outside(_)
        ));
        // Neither a neighbour named by the file nor any `.internal` name reaches DNS.
        let PeerCall::Refused(message) = front.call("admin", request()) else {
            panic!("a neighbour without an edge was not refused");
        };
        assert!(message.contains("`shop-front` to `admin`"), "{message}");
        assert!(message.contains("add `admin` to `depends_on`"), "{message}");
        let PeerCall::Refused(message) = front.call("db.internal", request()) else {
            panic!("an unknown .internal name was not refused");
        };
        assert!(message.contains("--link APP:db"), "{message}");
        let refused: Vec<_> = front
            .calls
            .snapshot()
            .iter()
            .map(|c| (c.to.clone(), c.refused))
            .collect();
        assert_eq!(refused, [("admin".into(), 1), ("db".into(), 1)]);
    }

    #[tokio::test]
    async fn a_linked_call_is_answered_and_counted_even_when_the_app_is_gone() {
        let front = front();
        for host in ["api", "api.internal"] {
            let PeerCall::Answer(response) = front.call(host, request()) else {
                panic!("{host}: a linked name was not called");
            };
            let response = response.await.unwrap();
            assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        }
        let calls = front.calls.snapshot();
        assert_eq!(
            (calls[0].to.as_str(), calls[0].requests, calls[0].errors),
            ("api", 2, 2)
        );
    }
}
