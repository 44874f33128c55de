//! Enforcing [`Limits`]: memory (linear memories and tables together) through wasmtime's
//! `ResourceLimiter`, CPU time through the epoch callback and a per-poll CPU meter, wall-clock
//! time through a timer around the whole run; and taking turns on the CPU among an app's instances.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use skiff_capabilities::{ByteSize, Limits};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A limit an app ran into. Carried as the error that ends the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("the app exceeded its memory limit of {0}")]
    Memory(ByteSize),
    #[error("the app exceeded its CPU time limit of {}", humantime::format_duration(*.0))]
    CpuTime(Duration),
    #[error("the app exceeded its wall-clock limit of {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}

impl LimitExceeded {
    /// The flag that raises this limit.
    pub fn flag(&self) -> &'static str {
        match self {
            LimitExceeded::Memory(_) => "--memory",
            LimitExceeded::CpuTime(_) => "--cpu-time",
            LimitExceeded::Timeout(_) => "--timeout",
        }
    }
}

/// Table elements are host memory too: without a cap a guest could grow a table to 2^32
/// elements. Without `--memory` this caps each table; with it, elements count against it.
const MAX_TABLE_ELEMENTS: usize = 10_000_000;

/// What one table element costs the host, as counted against `--memory`: a funcref is a pointer
/// (and an externref less), so a table of N elements holds at least 8 N bytes of host memory.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Per-store enforcement state.
pub(crate) struct Guard {
    memory_limit: Option<ByteSize>,
    /// Linear memories and tables together, in bytes: what `--memory` bounds.
    memory_used: u64,
    cpu_limit: Option<Duration>,
    pub(crate) meter: Arc<Usage>,
}

impl Guard {
    pub(crate) fn new(limits: &Limits, meter: Arc<Usage>) -> Self {
        Guard {
            memory_limit: limits.memory,
            memory_used: 0,
            cpu_limit: limits.cpu_time,
            meter,
        }
    }

    /// Called from the epoch callback, on the thread running the guest.
    pub(crate) fn check_cpu(&self) -> Result<(), LimitExceeded> {
        match self.cpu_limit {
            Some(limit) if self.meter.used_in_poll() > limit => Err(LimitExceeded::CpuTime(limit)),
            _ => Ok(()),
        }
    }
}

impl Guard {
    /// Charges `bytes` more of memory (linear or table) against the limit.
    fn charge(&mut self, bytes: u64) -> wasmtime::Result<bool> {
        let total = self.memory_used.saturating_add(bytes);
        if let Some(limit) = self.memory_limit
            && total > limit.0
        {
            // An error, not `Ok(false)`: the guest is stopped like an OOM-killed container
            // instead of limping on with a failed allocation it may not check.
            return Err(LimitExceeded::Memory(limit).into());
        }
        self.memory_used = total;
        self.meter.set_memory(total);
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for Guard {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.charge(desired.saturating_sub(current) as u64)
    }

    /// Called for a table's initial size at instantiation too, so every element is counted.
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if self.memory_limit.is_none() && desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        let elements = desired.saturating_sub(current) as u64;
        self.charge(elements.saturating_mul(TABLE_ELEMENT_BYTES))
    }
}

/// What a run has used, readable while it runs (for `stats` and metering).
///
/// CPU time is measured with the thread CPU clock around each poll of the app's future, so it
/// counts exactly the time the app ran on whichever worker thread polled it.
#[derive(Debug, Default)]
pub struct Usage {
    used_ns: AtomicU64,
    poll_started_ns: AtomicU64,
    memory: AtomicU64,
    /// Memory integrated over time: linear memory only grows, so this is exact, updated at each
    /// growth (rare) rather than sampled.
    memory_clock: Mutex<MemoryClock>,
}

#[derive(Debug, Default)]
struct MemoryClock {
    since: Option<Instant>,
    byte_seconds: f64,
}

impl Usage {
    /// CPU time used so far (completed polls).
    pub fn cpu_time(&self) -> Duration {
        Duration::from_nanos(self.used_ns.load(Ordering::Relaxed))
    }

    /// Memory currently allocated (linear memories and tables), in bytes.
    pub fn memory(&self) -> u64 {
        self.memory.load(Ordering::Relaxed)
    }

    /// Linear memory integrated over time since it was first allocated, in byte-seconds.
    pub fn memory_time(&self) -> f64 {
        let clock = self.memory_clock.lock().unwrap_or_else(|e| e.into_inner());
        let current = clock.since.map_or(0.0, |since| {
            self.memory() as f64 * since.elapsed().as_secs_f64()
        });
        clock.byte_seconds + current
    }

    fn set_memory(&self, bytes: u64) {
        let mut clock = self.memory_clock.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(since) = clock.since {
            clock.byte_seconds += self.memory() as f64 * (now - since).as_secs_f64();
        }
        clock.since = Some(now);
        self.memory.store(bytes, Ordering::Relaxed);
    }

    /// Time used including the poll in progress; only meaningful on the polling thread.
    fn used_in_poll(&self) -> Duration {
        let running = thread_cpu_ns().saturating_sub(self.poll_started_ns.load(Ordering::Relaxed));
        self.cpu_time() + Duration::from_nanos(running)
    }

    pub(crate) fn meter<F: Future>(self: &Arc<Self>, future: F) -> Metered<F> {
        self.meter_in_turns(future, None)
    }

    /// Meters `future`; with `turns`, each poll of it first takes one of its app's turns on the
    /// CPU.
    pub(crate) fn meter_in_turns<F: Future>(
        self: &Arc<Self>,
        future: F,
        turns: Option<&CpuTurns>,
    ) -> Metered<F> {
        Metered {
            future: Box::pin(future),
            meter: self.clone(),
            turns: turns.map(|turns| Turn {
                turns: turns.0.clone(),
                waiting: None,
            }),
        }
    }
}

/// Turns on the CPU shared by all instances of one app: at most this many of them run guest
/// code at the same moment, whatever the number of instances alive. A turn is held only while
/// an instance is being polled (not while it waits on I/O or a timer) and given up at each epoch
/// tick, to the app's next instance in FIFO order. So an app with a thousand busy instances has
/// as many runnable tasks as an app with one busy instance per worker thread: its neighbours (and
/// the daemon's API) wait behind a few of its time slices, not a thousand of them.
#[derive(Clone, Debug)]
pub struct CpuTurns(Arc<Semaphore>);

impl CpuTurns {
    /// `turns` instances may run guest code at once (at least one).
    pub fn new(turns: usize) -> Self {
        CpuTurns(Arc::new(Semaphore::new(turns.max(1))))
    }
}

type Acquire =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>> + Send>>;

struct Turn {
    turns: Arc<Semaphore>,
    /// Queued for a turn (FIFO, behind the app's other instances).
    waiting: Option<Acquire>,
}

impl Turn {
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<OwnedSemaphorePermit> {
        if self.waiting.is_none() {
            // Fails while others are queued, so nobody jumps the line.
            if let Ok(permit) = self.turns.clone().try_acquire_owned() {
                return Poll::Ready(permit);
            }
            self.waiting = Some(Box::pin(self.turns.clone().acquire_owned()));
        }
        let waiting = self.waiting.as_mut().expect("queued above");
        let permit = std::task::ready!(waiting.as_mut().poll(cx));
        self.waiting = None;
        Poll::Ready(permit.expect("the semaphore is never closed"))
    }
}

pub(crate) struct Metered<F> {
    future: Pin<Box<F>>,
    meter: Arc<Usage>,
    turns: Option<Turn>,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Held for this poll only; dropped (handed to the next instance in line) when it returns.
        let _turn = match &mut self.turns {
            None => None,
            Some(turn) => Some(std::task::ready!(turn.poll_take(cx))),
        };
        let start = thread_cpu_ns();
        self.meter.poll_started_ns.store(start, Ordering::Relaxed);
        let result = self.future.as_mut().poll(cx);
        let spent = thread_cpu_ns().saturating_sub(start);
        self.meter.used_ns.fetch_add(spent, Ordering::Relaxed);
        result
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
