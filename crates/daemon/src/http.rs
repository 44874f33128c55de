//! HTTP apps in the daemon: their listeners and gateway routes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_api::{HttpConfig, HttpInfo};
use skiff_http::{HttpApp, Route, RouteTable, Target};
use skiff_runtime::{App, RunOptions};
use tokio::sync::watch;

use crate::supervisor::Fail;

/// A Spin app's Redis trigger component, beside its HTTP ones: subscribed while the app is
/// published, and again, after a pause that grows, when its subscription ends (its server gone),
/// as the app's HTTP components go on serving.
pub struct Trigger {
    pub id: String,
    pub app: Arc<App>,
    /// Each run's (its grants, limits, the app's log, stores and pause); its `usage` counts
    /// what all its runs used.
    pub options: RunOptions,
}

/// A subscribed trigger: how to tell it to stop, and its task.
type Subscribed = (watch::Sender<Option<Duration>>, tokio::task::JoinHandle<()>);

/// An HTTP app's serving state.
pub struct HttpSlot {
    pub app: Arc<HttpApp>,
    /// Its routes; with no ports or routes of its own, the one its name gives
    /// (`NAME.localhost`), which `skiff rename` moves.
    routes: Mutex<Vec<Route>>,
    named_route: bool,
    ports: Vec<SocketAddr>,
    /// The listeners of its own ports while it is published.
    bound: Mutex<Vec<(SocketAddr, tokio::task::JoinHandle<()>)>>,
    /// A Spin app's Redis triggers, and their tasks while it is published.
    triggers: Vec<Trigger>,
    subscribed: Mutex<Vec<Subscribed>>,
}

impl HttpSlot {
    /// Checks the ports and routes of a request; nothing is bound yet.
    pub fn new(app: HttpApp, config: &HttpConfig, default_route: &str) -> Result<Self, Fail> {
        let ports = config
            .ports
            .iter()
            .map(|p| parse_port(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut routes = config
            .routes
            .iter()
            .map(|r| parse_route(r))
            .collect::<Result<Vec<_>, _>>()?;
        let named_route = ports.is_empty() && routes.is_empty();
        if named_route {
            routes.push(parse_route(default_route)?);
        }
        Ok(HttpSlot {
            app: Arc::new(app),
            routes: Mutex::new(routes),
            named_route,
            ports,
            bound: Mutex::new(Vec::new()),
            triggers: Vec::new(),
            subscribed: Mutex::new(Vec::new()),
        })
    }

    /// With a Spin app's Redis triggers, run while it is published.
    pub fn with_triggers(mut self, triggers: Vec<Trigger>) -> Self {
        self.triggers = triggers;
        self
    }

    /// What it has served, and used: its handlers' figures, with its Redis triggers' CPU time.
    pub fn stats(&self) -> skiff_api::HttpStats {
        let mut stats = self.app.stats().snapshot();
        stats.cpu_seconds += self.triggers_usage().0.as_secs_f64();
        stats
    }

    /// The CPU time its Redis triggers have used, and the memory they hold now.
    pub fn triggers_usage(&self) -> (Duration, u64) {
        let usage = self.triggers.iter().map(|t| &t.options.usage);
        (
            usage.clone().map(|u| u.cpu_time()).sum(),
            usage.map(|u| u.memory()).sum(),
        )
    }

    /// Binds its ports and adds its routes, all or nothing. (Whether it is published is the
    /// app's state, `serving`, which the supervisor keeps.)
    pub async fn publish(&self, gateway: &RouteTable) -> Result<(), Fail> {
        let mut listeners = Vec::new();
        for addr in &self.ports {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Fail::new(
                    409,
                    format!("cannot listen on {addr}: {e}"),
                    Some("choose another port with `-p`, or stop what is using it"),
                )
            })?;
            listeners.push(listener);
        }
        gateway
            .add(&self.routes.lock().unwrap(), &self.app)
            .map_err(|e| Fail::new(409, e.to_string(), Some(e.hint())))?;
        self.app.resume();
        let mut bound = self.bound.lock().unwrap();
        for listener in listeners {
            let addr = listener
                .local_addr()
                .expect("a bound listener has an address");
            let target = Target::App(self.app.clone());
            let task = tokio::spawn(skiff_http::serve(listener, target, std::future::pending()));
            bound.push((addr, task));
        }
        let mut subscribed = self.subscribed.lock().unwrap();
        for trigger in &self.triggers {
            let (stop, stopped) = watch::channel(None);
            let task = skiff_runtime::keep_subscribed(
                trigger.app.clone(),
                trigger.id.clone(),
                trigger.options.clone(),
                stopped,
            );
            subscribed.push((stop, tokio::spawn(task)));
        }
        Ok(())
    }

    /// Takes it off its ports and routes, then lets requests in flight finish within `grace`.
    pub async fn unpublish(&self, gateway: &RouteTable, grace: Duration) {
        gateway.remove(&self.routes.lock().unwrap(), &self.app);
        for (_, task) in self.bound.lock().unwrap().drain(..) {
            task.abort();
        }
        // Its triggers end between messages at once; one handling a message gets the grace.
        let subscribed: Vec<Subscribed> = self.subscribed.lock().unwrap().drain(..).collect();
        for (stop, _) in &subscribed {
            stop.send_replace(Some(grace));
        }
        // A grace period too long to count is no deadline.
        let deadline = tokio::time::Instant::now().checked_add(grace);
        let unsubscribed = async {
            for (_, mut task) in subscribed {
                match deadline {
                    Some(deadline) => {
                        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                            task.abort();
                        }
                    }
                    None => {
                        let _ = task.await;
                    }
                }
            }
        };
        // The same grace period for both.
        tokio::join!(unsubscribed, self.app.drain(grace));
    }

    /// `skiff rename`: the app is called `name` from now on, and a route its old name gave
    /// becomes the new name's (`NAME.localhost`), moved on the gateway at once if `published`.
    pub fn rename(&self, gateway: &RouteTable, name: &str, published: bool) -> Result<(), Fail> {
        if self.named_route {
            let route = [parse_route(&format!("{name}.localhost"))?];
            let mut routes = self.routes.lock().unwrap();
            if published {
                gateway
                    .add(&route, &self.app)
                    .map_err(|e| Fail::new(409, e.to_string(), Some(e.hint())))?;
                gateway.remove(&routes, &self.app);
            }
            *routes = route.to_vec();
        }
        self.app.set_name(name);
        Ok(())
    }

    pub fn info(&self) -> HttpInfo {
        let bound = self.bound.lock().unwrap();
        HttpInfo {
            ports: if bound.is_empty() {
                self.ports.iter().map(ToString::to_string).collect()
            } else {
                bound.iter().map(|(addr, _)| addr.to_string()).collect()
            },
            routes: self
                .routes
                .lock()
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect(),
            limits: *self.app.limits(),
            stats: self.stats(),
            components: self
                .app
                .components()
                .into_iter()
                .map(|(id, route)| skiff_api::ComponentInfo { id, route })
                .collect(),
        }
    }
}

fn parse_route(route: &str) -> Result<Route, Fail> {
    route
        .parse()
        .map_err(|e: skiff_http::RouteError| Fail::new(400, e.to_string(), Some(e.hint())))
}

/// `PORT` (on 127.0.0.1: loopback unless told otherwise) or `ADDR:PORT`.
pub(crate) fn parse_port(spec: &str) -> Result<SocketAddr, Fail> {
    skiff_capabilities::parse_publish(spec).ok_or_else(|| {
        Fail::new(
            400,
            format!("`{spec}` is not a port"),
            Some("give `-p PORT` (served on 127.0.0.1) or `-p ADDR:PORT`, e.g. `-p 0.0.0.0:8081`"),
        )
    })
}
