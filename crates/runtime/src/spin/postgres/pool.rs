//! An app's idle PostgreSQL connections. A Spin component opens its connection on every request
//! (a fresh instance each time); without a pool each request would pay TCP, TLS and the
//! password exchange again. Spin keeps a pool per address; Skiff keeps one per app, and a
//! connection goes back to the component that made it (the same grants, the same address,
//! credentials included), never to another app or another component of the app.
//!
//! Nothing of one request's session reaches the next: a connection comes back only once the
//! server has rolled back what its last instance left open and run `DISCARD ALL` (settings,
//! temporary tables, prepared statements, advisory locks, `LISTEN`s), after the instance has
//! answered; one that fails that, or does not manage it within [`RESET_TIMEOUT`], or that a
//! bound ended, is closed instead.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use skiff_capabilities::egress::EgressRule;

use super::Connection;

/// How long a connection may wait unused before it is closed: an app that stops being
/// called holds no server connections for long (scale to zero).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many unused connections an app keeps; one given back beyond that is closed.
const MAX_IDLE: usize = 16;

/// How long the server may take to reset a connection given back (it finishes what the
/// instance left running first).
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an `open` waits for a connection of its key that is being reset, rather than make
/// a new one: a reset is one round trip, a new connection several, and TLS and the password
/// exchange besides. (An app's next request often comes while its last one's connection is
/// still being reset.)
const WAIT_FOR_RESET: Duration = Duration::from_millis(50);

/// One app's idle PostgreSQL connections, shared by its instances and components.
#[derive(Default)]
pub struct PostgresPool {
    state: Mutex<State>,
    /// Told each time a reset ends.
    reset: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    /// Oldest given back first.
    idle: Vec<Idle>,
    /// The keys of the connections being reset.
    resetting: Vec<Key>,
    /// Whether a task is closing the connections idle too long.
    reaping: bool,
}

struct Idle {
    key: Key,
    connection: Connection,
    since: Instant,
}

/// What a connection may be reused for: the grants it was made under (a component's own),
/// the address, credentials and all, exactly as the guest gave it, and the roots its TLS trusts.
#[derive(Clone)]
pub(super) struct Key {
    pub(super) rule: Arc<EgressRule>,
    pub(super) address: String,
    pub(super) options: super::Options,
}

impl Key {
    fn same(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.rule, &other.rule)
            && self.address == other.address
            && self.options == other.options
    }
}

impl std::fmt::Debug for PostgresPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.state.lock().map_or(0, |state| state.idle.len());
        f.debug_struct("PostgresPool").field("idle", &idle).finish()
    }
}

impl PostgresPool {
    /// The connection for `key` given back last, if one is still open, or one being reset
    /// once it is (waiting at most [`WAIT_FOR_RESET`]).
    pub(super) async fn take(&self, key: &Key) -> Option<Connection> {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `connection` back once the server has reset it, from a task of its own: called
    /// where an instance drops it, which must not wait for the server.
    pub(super) fn give_back(self: &Arc<Self>, key: Key, connection: Connection) {
        if !connection.is_open() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.lock().resetting.push(key.clone());
        let pool = Arc::downgrade(self);
        runtime.spawn(async move {
            let client = connection.client();
            let reset = async {
                // Pipelined: one round trip. `ROLLBACK` outside a transaction is only a warning.
                let (rollback, discard) = tokio::join!(
                    client.batch_execute("ROLLBACK"),
                    client.batch_execute("DISCARD ALL")
                );
                rollback.and(discard)
            };
            let reset = matches!(
                tokio::time::timeout(RESET_TIMEOUT, reset).await,
                Ok(Ok(())) if connection.is_open()
            );
            if let Some(pool) = pool.upgrade() {
                pool.reset_ended(key, reset.then_some(connection));
            }
        });
    }

    fn reset_ended(self: &Arc<Self>, key: Key, connection: Option<Connection>) {
        let mut state = self.lock();
        if let Some(at) = state.resetting.iter().position(|k| k.same(&key)) {
            state.resetting.swap_remove(at);
        }
        if let Some(connection) = connection {
            self.keep(&mut state, key, connection);
        }
        drop(state);
        self.reset.notify_waiters();
    }

    fn keep(self: &Arc<Self>, state: &mut State, key: Key, connection: Connection) {
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
}

/// Closes the connections idle for [`IDLE_TIMEOUT`] while the pool has any (and lives).
async fn reap(pool: Weak<PostgresPool>) {
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
