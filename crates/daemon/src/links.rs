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
    pub caller: String,
    pub links: Links,
    pub supervisor: Weak<Supervisor>,
    pub calls: Arc<Calls>,
}

impl Peers for Linked {
    fn call(&self, host: &str, mut request: http::Request<WasiBody>) -> PeerCall {
        let internal = host.strip_suffix(".internal");
        let name = internal.unwrap_or(host);
        if let Some(app) = self.links.calls.get(name) {
            let target = match self.supervisor.upgrade() {
                Some(supervisor) => supervisor.callee(app),
                None => Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the daemon is stopping".into(),
                )),
            };
            let headers = request.headers_mut();
            headers.remove(CALLER_HEADER);
            if let Ok(caller) = HeaderValue::try_from(self.caller.as_str()) {
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
        let hint = match self.links.refused.get(name) {
            Some(hint) => hint.clone(),
            None if internal.is_some() => format!(
                "`.internal` names are the apps this one is linked to; link one with \
                 `skiff run -d --link APP:{name}` (compose: `depends_on` or `links`)"
            ),
            None => return PeerCall::Outside(request),
        };
        self.calls.count(name, |c| c.refused += 1);
        PeerCall::Refused(format!(
            "blocked call from `{}` to `{name}`: it is not linked to it; {hint}",
            self.caller
        ))
    }
}

/// Prometheus text for the in-process calls, per edge (`app` called `to`).
pub fn render_prometheus(edges: &[(String, CallStats)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let families: [(&str, &str, fn(&CallStats) -> u64); 3] = [
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
