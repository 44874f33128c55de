//! The compiled apps a host keeps loaded while nothing runs them, so that the next request or
//! start of the same code maps nothing and compiles nothing: the daemon's idle HTTP handlers,
//! the shim's apps between containers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::App;

/// At most `capacity` apps by key, the least recently used dropped first.
pub struct WarmApps {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    tick: u64,
    apps: HashMap<String, Kept>,
}

struct Kept {
    app: Arc<App>,
    /// The tick of its last use, for the LRU.
    tick: u64,
    /// When it was last used; `None` once its code pages were given back since.
    used_at: Option<Instant>,
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
        let kept = lru.apps.get_mut(key)?;
        kept.tick = tick;
        kept.used_at = Some(Instant::now());
        Some(kept.app.clone())
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
                .min_by_key(|(_, kept)| kept.tick)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                lru.apps.remove(&oldest);
            }
        }
        let kept = Kept {
            app,
            tick,
            used_at: Some(Instant::now()),
        };
        lru.apps.insert(key.to_string(), kept);
    }

    /// Drops the app kept under `key`, if any.
    pub fn remove(&self, key: &str) {
        let mut lru = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        lru.apps.remove(key);
    }

    /// Gives back the code pages (`App::unmap_idle_code`) of each app not used for `idle`
    /// since it was last used: an app that served requests and then went quiet holds no more
    /// of its code than one never asked for. Its next use maps back what it runs.
    pub fn give_back_idle(&self, idle: Duration) {
        let quiet: Vec<Arc<App>> = {
            let mut lru = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            lru.apps
                .values_mut()
                .filter(|kept| kept.used_at.is_some_and(|at| at.elapsed() >= idle))
                .map(|kept| {
                    kept.used_at = None;
                    kept.app.clone()
                })
                .collect()
        };
        for app in quiet {
            app.unmap_idle_code();
        }
    }
}
