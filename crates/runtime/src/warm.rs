//! The compiled apps a host keeps loaded while nothing runs them, so that the next request or
//! start of the same code maps nothing and compiles nothing: the daemon's idle HTTP handlers,
//! the shim's apps between containers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::App;

/// At most `capacity` apps by key, the least recently used dropped first.
pub struct WarmApps {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    tick: u64,
    apps: HashMap<String, (Arc<App>, u64)>,
}

impl WarmApps {
    pub fn new(capacity: usize) -> Self {
        WarmApps {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// The app kept under `key`, now the most recently used.
    pub fn get(&self, key: &str) -> Option<Arc<App>> {
        let mut lru = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        lru.tick += 1;
        let tick = lru.tick;
        let (app, used) = lru.apps.get_mut(key)?;
        *used = tick;
        Some(app.clone())
    }

    /// Keeps `app` under `key`, pushing out the least recently used one when full.
    pub fn insert(&self, key: &str, app: Arc<App>) {
        let mut lru = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
}
