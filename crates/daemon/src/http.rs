//! HTTP apps in the daemon: their listeners and gateway routes, and the LRU of compiled handlers
//! that lets thousands of them scale to zero (an idle app holds no instance, and its compiled code
//! only while it is among the most recently used).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_api::{HttpConfig, HttpInfo};
use skiff_http::{HttpApp, Loader, Route, RouteTable, Target};
use skiff_runtime::{App, Runtime};

use crate::supervisor::Fail;

/// An HTTP app's serving state.
pub struct HttpSlot {
    pub app: Arc<HttpApp>,
    routes: Vec<Route>,
    ports: Vec<SocketAddr>,
    /// The listeners of its own ports while it is published.
    bound: Mutex<Vec<(SocketAddr, tokio::task::JoinHandle<()>)>>,
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
            .map(|r| {
                r.parse::<Route>()
                    .map_err(|e| Fail::new(400, e.to_string(), Some(e.hint())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ports.is_empty() && routes.is_empty() {
            routes.push(default_route.parse().map_err(|e: skiff_http::RouteError| {
                Fail::new(400, e.to_string(), Some(e.hint()))
            })?);
        }
        Ok(HttpSlot {
            app: Arc::new(app),
            routes,
            ports,
            bound: Mutex::new(Vec::new()),
        })
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
            .add(&self.routes, &self.app)
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
        Ok(())
    }

    /// Takes it off its ports and routes, then lets requests in flight finish within `grace`.
    pub async fn unpublish(&self, gateway: &RouteTable, grace: Duration) {
        gateway.remove(&self.routes, self.app.name());
        for (_, task) in self.bound.lock().unwrap().drain(..) {
            task.abort();
        }
        self.app.drain(grace).await;
    }

    pub fn info(&self) -> HttpInfo {
        let bound = self.bound.lock().unwrap();
        HttpInfo {
            ports: if bound.is_empty() {
                self.ports.iter().map(ToString::to_string).collect()
            } else {
                bound.iter().map(|(addr, _)| addr.to_string()).collect()
            },
            routes: self.routes.iter().map(ToString::to_string).collect(),
            limits: *self.app.limits(),
            stats: self.app.stats().snapshot(),
        }
    }
}

/// `PORT` (on 127.0.0.1: loopback unless told otherwise) or `ADDR:PORT`.
fn parse_port(spec: &str) -> Result<SocketAddr, Fail> {
    let parsed = match spec.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => spec.parse::<SocketAddr>(),
    };
    parsed.map_err(|_| {
        Fail::new(
            400,
            format!("`{spec}` is not a port"),
            Some("give `-p PORT` (served on 127.0.0.1) or `-p ADDR:PORT`, e.g. `-p 0.0.0.0:8081`"),
        )
    })
}

/// Compiled handlers, most recently used kept, by the digest of the app's code.
pub struct Handlers {
    runtime: Arc<Runtime>,
    root: PathBuf,
    capacity: usize,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    tick: u64,
    apps: HashMap<String, (Arc<App>, u64)>,
}

impl Handlers {
    pub fn new(runtime: Arc<Runtime>, root: PathBuf, capacity: usize) -> Arc<Self> {
        Arc::new(Handlers {
            runtime,
            root,
            capacity: capacity.max(1),
            lru: Mutex::default(),
        })
    }

    fn get(&self, key: &str) -> Option<Arc<App>> {
        let mut lru = self.lru.lock().unwrap();
        lru.tick += 1;
        let tick = lru.tick;
        let (app, used) = lru.apps.get_mut(key)?;
        *used = tick;
        Some(app.clone())
    }

    pub fn put(&self, key: &str, app: Arc<App>) {
        let mut lru = self.lru.lock().unwrap();
        lru.tick += 1;
        let tick = lru.tick;
        if lru.apps.len() >= self.capacity && !lru.apps.contains_key(key) {
            let oldest = lru
                .apps
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                lru.apps.remove(&oldest);
            }
        }
        lru.apps.insert(key.to_string(), (app, tick));
    }

    /// Loads on a miss from the app's source (the compile cache makes that a map of the
    /// compiled file, not a compile).
    pub fn loader(self: &Arc<Self>, key: String, source: String) -> Loader {
        let handlers = self.clone();
        Box::new(move || {
            let handlers = handlers.clone();
            let (key, source) = (key.clone(), source.clone());
            Box::pin(async move {
                if let Some(app) = handlers.get(&key) {
                    return Ok(app);
                }
                let loading = handlers.clone();
                let app = tokio::task::spawn_blocking(move || {
                    let (bytes, name, _, _) = crate::supervisor::read_app(&loading.root, &source)
                        .map_err(|f| f.error.message)?;
                    loading
                        .runtime
                        .load(&name, &bytes, &mut |_| {})
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())??;
                handlers.put(&key, app.clone());
                Ok(app)
            })
        })
    }
}
