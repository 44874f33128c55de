//! An app's idle database connections (PostgreSQL's, MySQL's). A Spin component opens its
//! connection on every request (a fresh instance each time); without a pool each request would
//! pay TCP, TLS and the password exchange again. Spin keeps a pool per address; Skiff keeps one
//! per app, and a connection goes back to the component that made it (the same grants, the same
//! address, credentials included, the same options), never to another app or another component
//! of the app.
//!
//! Nothing of one request's session reaches the next: a connection comes back only once the
//! server has reset it ([`Pooled::reset`]: its transaction rolled back, its session's settings,
//! temporary tables, prepared statements and locks gone), after the instance has answered; one
//! that fails that, or does not manage it within [`RESET_TIMEOUT`], or that a bound ended, is
//! closed instead.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use skiff_capabilities::egress::EgressRule;

/// How long a connection may wait unused before it is closed: an app that stops being
/// called holds no server connections for long (scale to zero).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many unused connections an app keeps (of each kind); one given back beyond that is
/// closed.
const MAX_IDLE: usize = 16;

/// How long the server may take to reset a connection given back (it finishes what the
/// instance left running first).
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an `open` waits for a connection of its key that is being reset, rather than make
/// a new one: a reset is one round trip, a new connection several, and TLS and the password
/// exchange besides. (An app's next request often comes while its last one's connection is
/// still being reset.)
const WAIT_FOR_RESET: Duration = Duration::from_millis(50);

/// A connection a pool can keep.
pub trait Pooled: Send + Sync + 'static {
    /// What it was made with besides its address (PostgreSQL's CA root).
    type Options: Clone + PartialEq + Send + Sync + 'static;

    /// Whether it can still be used: neither the server nor a bound ended it.
    fn is_open(&self) -> bool;

    /// Clears what the instance that held it left, on the server; whether that worked.
    fn reset(&self) -> impl Future<Output = bool> + Send + '_;
}

/// One app's idle connections of one kind, shared by its instances and components.
pub struct Pool<C: Pooled> {
    state: Mutex<State<C>>,
    /// Told each time a reset ends.
    reset: tokio::sync::Notify,
}

impl<C: Pooled> Default for Pool<C> {
    fn default() -> Self {
        Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                resetting: Vec::new(),
                reaping: false,
            }),
            reset: tokio::sync::Notify::new(),
        }
    }
}

struct State<C: Pooled> {
    /// Oldest given back first.
    idle: Vec<Idle<C>>,
    /// The keys of the connections being reset.
    resetting: Vec<Key<C::Options>>,
    /// Whether a task is closing the connections idle too long.
    reaping: bool,
}

struct Idle<C: Pooled> {
    key: Key<C::Options>,
    connection: C,
    since: Instant,
}

/// What a connection may be reused for: the grants it was made under (a component's own),
/// the address, credentials and all, exactly as the guest gave it, and its options.
#[derive(Clone)]
pub struct Key<O> {
    pub(crate) rule: Arc<EgressRule>,
    pub(crate) address: String,
    pub(crate) options: O,
}

impl<O: PartialEq> Key<O> {
    fn same(&self, other: &Key<O>) -> bool {
        Arc::ptr_eq(&self.rule, &other.rule)
            && self.address == other.address
            && self.options == other.options
    }
}

impl<C: Pooled> std::fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.state.lock().map_or(0, |state| state.idle.len());
        f.debug_struct("Pool").field("idle", &idle).finish()
    }
}

impl<C: Pooled> Pool<C> {
    /// The connection for `key` given back last, if one is still open, or one being reset
    /// once it is (waiting at most [`WAIT_FOR_RESET`]).
    pub(crate) async fn take(&self, key: &Key<C::Options>) -> Option<C> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_RESET;
        loop {
            let reset = self.reset.notified();
            tokio::pin!(reset);
            reset.as_mut().enable();
            {
                let mut state = self.lock();
                state.idle.retain(|idle| idle.connection.is_open());
                if let Some(at) = state.idle.iter().rposition(|idle| idle.key.same(key)) {
                    return Some(state.idle.remove(at).connection);
                }
                if !state.resetting.iter().any(|k| k.same(key)) {
                    return None;
                }
            }
            tokio::time::timeout_at(deadline, reset).await.ok()?;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `connection` back once the server has reset it, from a task of its own: called
    /// where an instance drops it, which must not wait for the server.
    pub(crate) fn give_back(self: &Arc<Self>, key: Key<C::Options>, connection: C) {
        if !connection.is_open() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.lock().resetting.push(key.clone());
        let pool = Arc::downgrade(self);
        runtime.spawn(async move {
            let reset = matches!(
                tokio::time::timeout(RESET_TIMEOUT, connection.reset()).await,
                Ok(true)
            ) && connection.is_open();
            if let Some(pool) = pool.upgrade() {
                pool.reset_ended(key, reset.then_some(connection));
            }
        });
    }

    fn reset_ended(self: &Arc<Self>, key: Key<C::Options>, connection: Option<C>) {
        let mut state = self.lock();
        if let Some(at) = state.resetting.iter().position(|k| k.same(&key)) {
            state.resetting.swap_remove(at);
        }
        if let Some(connection) = connection {
            if state.idle.len() == MAX_IDLE {
                state.idle.remove(0);
            }
            state.idle.push(Idle {
                key,
                connection,
                since: Instant::now(),
            });
            if !state.reaping {
                state.reaping = true;
                tokio::spawn(reap(Arc::downgrade(self)));
            }
        }
        drop(state);
        self.reset.notify_waiters();
    }
}

/// Closes the connections idle for [`IDLE_TIMEOUT`] while the pool has any (and lives).
async fn reap<C: Pooled>(pool: Weak<Pool<C>>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 4).await;
        let Some(pool) = pool.upgrade() else { return };
        let mut state = pool.lock();
        state
            .idle
            .retain(|idle| idle.connection.is_open() && idle.since.elapsed() < IDLE_TIMEOUT);
        if state.idle.is_empty() {
            state.reaping = false;
            return;
        }
    }
}

/// A connection an instance opened, or took from its app's pool: given back when it drops it,
/// unless a call of it is under way then (SDK 7's calls are async: the guest may drop the
/// connection while one runs), in which case it is closed once that call ends.
pub struct Lease<C: Pooled> {
    /// `None` only once dropped.
    connection: Option<Arc<C>>,
    pool: Arc<Pool<C>>,
    key: Key<C::Options>,
}

impl<C: Pooled> Lease<C> {
    /// `connection`, for `key`, to go back to `pool`.
    pub(crate) fn new(connection: C, pool: &Arc<Pool<C>>, key: Key<C::Options>) -> Self {
        Lease {
            connection: Some(Arc::new(connection)),
            pool: pool.clone(),
            key,
        }
    }
}

impl<C: Pooled> Drop for Lease<C> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take().and_then(Arc::into_inner) {
            self.pool.give_back(self.key.clone(), connection);
        }
    }
}

impl<C: Pooled> std::ops::Deref for Lease<C> {
    type Target = Arc<C>;

    fn deref(&self) -> &Arc<C> {
        self.connection
            .as_ref()
            .expect("a connection is taken only when it drops")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A connection whose reset works as told.
    struct Fake {
        id: u32,
        resets: bool,
        open: AtomicBool,
    }

    impl Pooled for Fake {
        type Options = ();

        fn is_open(&self) -> bool {
            self.open.load(Ordering::Relaxed)
        }

        async fn reset(&self) -> bool {
            tokio::task::yield_now().await;
            self.resets
        }
    }

    fn fake(id: u32, resets: bool) -> Fake {
        Fake {
            id,
            resets,
            open: AtomicBool::new(true),
        }
    }

    fn key(rule: &Arc<EgressRule>, address: &str) -> Key<()> {
        Key {
            rule: rule.clone(),
            address: address.into(),
            options: (),
        }
    }

    #[tokio::test]
    async fn a_connection_goes_back_only_to_its_component_and_address_once_reset() {
        let pool = Arc::new(Pool::<Fake>::default());
        let (one, other) = (
            Arc::new(EgressRule::default()),
            Arc::new(EgressRule::default()),
        );
        drop(Lease::new(fake(1, true), &pool, key(&one, "db")));
        // Being reset: an open of the same key waits for it.
        let taken = pool
            .take(&key(&one, "db"))
            .await
            .expect("the reset connection");
        assert_eq!(taken.id, 1);

        drop(Lease::new(taken, &pool, key(&one, "db")));
        // Another component's grants (another rule), or another address: never this one.
        assert!(pool.take(&key(&other, "db")).await.is_none());
        assert!(pool.take(&key(&one, "db2")).await.is_none());
        assert_eq!(pool.take(&key(&one, "db")).await.map(|c| c.id), Some(1));

        // One whose reset fails, or that closed while idle, is not kept.
        drop(Lease::new(fake(2, false), &pool, key(&one, "db")));
        assert!(pool.take(&key(&one, "db")).await.is_none());
        drop(Lease::new(fake(3, true), &pool, key(&one, "db")));
        tokio::time::sleep(Duration::from_millis(10)).await;
        pool.lock().idle[0]
            .connection
            .open
            .store(false, Ordering::Relaxed);
        assert!(pool.take(&key(&one, "db")).await.is_none());
    }

    #[tokio::test]
    async fn a_connection_still_leased_by_a_call_is_not_given_back() {
        let pool = Arc::new(Pool::<Fake>::default());
        let rule = Arc::new(EgressRule::default());
        let lease = Lease::new(fake(1, true), &pool, key(&rule, "db"));
        // A call under way (SDK 7's are async) holds the connection the guest dropped.
        let in_use = Arc::clone(&lease);
        drop(lease);
        assert!(pool.take(&key(&rule, "db")).await.is_none());
        drop(in_use);
    }

    #[tokio::test]
    async fn an_app_keeps_at_most_its_bound_of_idle_connections() {
        let pool = Arc::new(Pool::<Fake>::default());
        let rule = Arc::new(EgressRule::default());
        for id in 0..MAX_IDLE as u32 + 4 {
            drop(Lease::new(fake(id, true), &pool, key(&rule, "db")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(pool.lock().idle.len(), MAX_IDLE);
    }
}
