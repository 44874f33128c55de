//! Enforcing [`Limits`]: memory (linear memories and tables together) through wasmtime's
//! `ResourceLimiter`, CPU time through the epoch callback and a per-poll CPU meter, wall-clock
//! time through a timer around the whole run; and taking turns on the CPU among an app's instances.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use skiff_capabilities::{ByteSize, Cpus, Limits};

use crate::engine::StoreOptions;

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
    /// When `--timeout` ends the instance.
    deadline: Option<Instant>,
    /// `wasmtime run`'s own limits, and the fuel the store starts with.
    pub(crate) store: StoreOptions,
    pub(crate) meter: Arc<Usage>,
}

impl Guard {
    pub(crate) fn new(limits: &Limits, meter: Arc<Usage>, store: StoreOptions) -> Self {
        Guard {
            memory_limit: limits.memory,
            memory_used: 0,
            cpu_limit: limits.cpu_time,
            deadline: limits.timeout.and_then(|t| Instant::now().checked_add(t)),
            store,
            meter,
        }
    }

    /// What a host call that does the guest's work on the instance's thread may take.
    pub(crate) fn budget(&self) -> Budget {
        Budget {
            meter: Some(self.meter.clone()),
            cpu_limit: self.cpu_limit,
            deadline: self.deadline,
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

impl Guard {
    /// A growth refused: `-1` to the guest, or with `-W trap-on-grow-failure` a trap.
    fn refuse(&self, what: &str, desired: usize) -> wasmtime::Result<bool> {
        match self.store.limits.trap_on_grow_failure {
            true => Err(wasmtime::format_err!(
                "forcing trap when growing {what} to {desired} (`-W trap-on-grow-failure`)"
            )),
            false => Ok(false),
        }
    }

    fn grow_failed(&self, error: wasmtime::Error) -> wasmtime::Result<()> {
        match self.store.limits.trap_on_grow_failure {
            true => Err(error.context("forcing a growth failure to be a trap")),
            false => Ok(()),
        }
    }
}

impl wasmtime::ResourceLimiter for Guard {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Beyond the memory's own maximum it fails anyway: nothing to charge.
        if maximum.is_some_and(|max| desired > max) {
            return self.refuse("memory", desired);
        }
        self.charge(desired.saturating_sub(current) as u64)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed(error)
    }

    /// Called for a table's initial size at instantiation too, so every element is counted.
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let cap = match (self.store.limits.max_table_elements, self.memory_limit) {
            (Some(max), _) => Some(max),
            (None, None) => Some(MAX_TABLE_ELEMENTS),
            (None, Some(_)) => None,
        };
        if cap.into_iter().chain(maximum).any(|max| desired > max) {
            return self.refuse("table", desired);
        }
        let elements = desired.saturating_sub(current) as u64;
        self.charge(elements.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.store.limits.max_instances.unwrap_or(DEFAULT_COUNT)
    }

    fn tables(&self) -> usize {
        self.store.limits.max_tables.unwrap_or(DEFAULT_COUNT)
    }

    fn memories(&self) -> usize {
        self.store.limits.max_memories.unwrap_or(DEFAULT_COUNT)
    }
}

/// What a host call may take that runs the guest's work on the thread polling its instance
/// (Spin's SQLite statements): the instance's CPU time limit, its wall-clock deadline and its
/// stop, which the epoch checks cannot enforce while the thread is in the host.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    meter: Option<Arc<Usage>>,
    cpu_limit: Option<Duration>,
    deadline: Option<Instant>,
}

impl Budget {
    /// Why the work must stop now, if it must. Called on the polling thread.
    pub(crate) fn exceeded(&self) -> Option<String> {
        if let Some(meter) = &self.meter {
            if meter.stopped.load(Ordering::SeqCst) {
                return Some("the app is being stopped".into());
            }
            if let Some(limit) = self.cpu_limit
                && meter.used_in_poll() > limit
            {
                return Some(LimitExceeded::CpuTime(limit).to_string());
            }
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                Some("the instance reached its wall-clock limit (`--timeout`)".into())
            }
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn unlimited() -> Self {
        Budget::default()
    }

    #[cfg(test)]
    pub(crate) fn until(deadline: Instant) -> Self {
        Budget {
            deadline: Some(deadline),
            ..Budget::default()
        }
    }
}

/// wasmtime's default for the instances, tables and memories of one store.
const DEFAULT_COUNT: usize = 10_000;

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
    /// Set by the epoch callback when the guest yields at a tick (see [`Usage::ticked`]).
    ticked: AtomicBool,
    /// Set by [`Usage::stop`]: the instance is to end now, wherever it is.
    stopped: AtomicBool,
    stop: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct MemoryClock {
    since: Option<Instant>,
    byte_seconds: f64,
}

impl Usage {
    /// Ends the instance metered by this, at its next await or epoch tick: what a stop does to
    /// a request still running when its app's grace period is over.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    /// Resolves once [`Usage::stop`] is called.
    pub(crate) async fn stopped(&self) {
        let notified = self.stop.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.stopped.load(Ordering::SeqCst) {
            notified.await;
        }
    }

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

    /// Meters `future`; with `rate`, each poll first waits while the app has used its CPU
    /// share of the period (see [`CpuRate`]); with `turns`, each poll of it first takes one of its app's turns on the
    /// CPU, in the order the app's instances arrived (see [`CpuTurns`]); with `long_runners`, a
    /// poll in a burst of CPU longer than [`LONG_BURST`] also takes one of those (after the
    /// app's, and given up with it, so that no instance waits for the app's turn while holding
    /// a long runner's).
    pub(crate) fn meter_in_turns<F: Future>(
        self: &Arc<Self>,
        future: F,
        rate: Option<&CpuRate>,
        turns: Option<&CpuTurns>,
        long_runners: Option<&CpuTurns>,
    ) -> Metered<F> {
        Metered {
            future: Box::pin(future),
            meter: self.clone(),
            rate: rate.cloned(),
            held: None,
            turn: turns.map(|turns| Turn::new(turns.0.clone())),
            long_runners: long_runners.map(|turns| turns.0.clone()),
            long_turn: None,
            burst: Duration::ZERO,
            pause: None,
        }
    }

    /// Said by the epoch callback just before the guest yields at a tick: the poll that returns
    /// next is a time slice ending, not a wait for I/O.
    pub(crate) fn ticked(&self) {
        self.ticked.store(true, Ordering::Relaxed);
    }
}

/// How long an instance may run on without giving its app's turn to an instance that arrived
/// after it. Within a slice it still yields the thread at every epoch tick, so other apps run;
/// it just keeps its place ahead of its own app's later requests. Long enough that a request of
/// a few tens of milliseconds runs to its end in arrival order, short enough that a request
/// that runs for seconds cannot hold its app's later requests back for long.
pub const TURN_SLICE: Duration = Duration::from_millis(50);

/// A burst of CPU (run without waiting for I/O or a timer) longer than this makes an instance a
/// long runner: in a daemon, long runners of all apps together run on all cores but one, so a
/// short request never waits behind spinning neighbours for more than its turn on a free core.
/// Two epoch ticks: a request that computes for a few milliseconds never counts as one.
pub const LONG_BURST: Duration = Duration::from_millis(20);

/// Turns on the CPU shared by all instances of one app: at most this many of them run guest
/// code at the same moment, whatever the number of instances alive. A turn is held while an
/// instance is being polled, and across its yields at epoch ticks for up to [`TURN_SLICE`] of CPU
/// time; it is given up when the instance waits for I/O or a timer, finishes, or has used its
/// slice. A turn given up while instances wait is handed to the one that arrived first (an
/// instance that used up its slice goes to the back of the line): first come, first served
/// within the app, so a burst of requests finishes in arrival order instead of all late
/// together. Between apps, fairness is tokio's: every instance yields the thread at each tick.
/// So an app with a thousand busy instances has as many runnable tasks as an app with one busy
/// instance per worker thread: its neighbours (and the daemon's API) wait behind a few of its
/// time slices, not a thousand of them.
///
/// While nobody waits, taking and giving up a turn are an atomic operation each, with no lock:
/// the line is kept only while all turns are held. A turn is handed over, never left free for
/// the first in line to come and take: a free turn with instances waiting would leave a core
/// idle until the first of them is polled, and every later arrival would queue behind it (a
/// convoy that served an app on one core at a time however many it had).
#[derive(Clone, Debug)]
pub struct CpuTurns(Arc<TurnQueue>);

impl CpuTurns {
    /// `turns` instances may run guest code at once (at least one).
    pub fn new(turns: usize) -> Self {
        CpuTurns(Arc::new(TurnQueue {
            free: AtomicUsize::new(turns.max(1)),
            waiters: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            line: Mutex::default(),
        }))
    }
}

#[derive(Debug)]
pub struct TurnQueue {
    /// Turns neither held nor handed to a waiter.
    free: AtomicUsize,
    /// Instances in `line.waiting`, counted before they look for a free turn, so that a turn
    /// given up meanwhile is handed to them (see [`TurnQueue::give_back`]).
    waiters: AtomicUsize,
    next_id: AtomicU64,
    line: Mutex<Line>,
}

/// An instance's place in its app's line: when it arrived (or its last slice ended), then its id.
type Place = (Instant, u64);

#[derive(Debug, Default)]
struct Line {
    /// Instances waiting for a turn, by place in line.
    waiting: BTreeMap<Place, Waker>,
    /// Instances handed a turn that have not been polled since.
    handed: BTreeSet<Place>,
}

impl TurnQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_take_free(&self) -> bool {
        self.free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Gives a turn back: to the first in line if anyone waits, else to the free ones.
    fn give_back(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
        // An instance counts itself a waiter before it looks for a free turn: either it sees
        // this one, or this sees it.
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let waker = {
            let mut line = self.lock();
            let Some(entry) = line.waiting.first_entry() else {
                return;
            };
            // Taken meanwhile by an instance ahead in line: it hands this back in turn.
            if !self.try_take_free() {
                return;
            }
            let (place, waker) = entry.remove_entry();
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            line.handed.insert(place);
            waker
        };
        waker.wake();
    }
}

/// One instance's place with its app's turns.
struct Turn {
    queue: Arc<TurnQueue>,
    /// Its place in line: when it arrived, or when its last slice ended.
    place: Place,
    holding: bool,
    /// In the line (waiting, or handed a turn it has not taken yet).
    queued: bool,
    /// CPU time run since it took its turn.
    ran: Duration,
}

impl Turn {
    fn new(queue: Arc<TurnQueue>) -> Self {
        let id = queue.next_id.fetch_add(1, Ordering::Relaxed);
        Turn {
            queue,
            place: (Instant::now(), id),
            holding: false,
            queued: false,
            ran: Duration::ZERO,
        }
    }

    /// Takes a turn if one is free and nobody waits ahead of this one; else waits in line
    /// until one is handed to it.
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.holding {
            return Poll::Ready(());
        }
        let queue = &*self.queue;
        if !self.queued && queue.waiters.load(Ordering::SeqCst) == 0 && queue.try_take_free() {
            return self.took();
        }
        let mut line = queue.lock();
        let took = if line.handed.remove(&self.place) {
            true
        } else {
            if !self.queued {
                queue.waiters.fetch_add(1, Ordering::SeqCst);
            }
            let ahead = line
                .waiting
                .keys()
                .next()
                .is_some_and(|first| *first < self.place);
            if !ahead && queue.try_take_free() {
                line.waiting.remove(&self.place);
                queue.waiters.fetch_sub(1, Ordering::SeqCst);
                true
            } else {
                line.waiting.insert(self.place, cx.waker().clone());
                false
            }
        };
        drop(line);
        self.queued = !took;
        if took { self.took() } else { Poll::Pending }
    }

    fn took(&mut self) -> Poll<()> {
        self.holding = true;
        self.ran = Duration::ZERO;
        Poll::Ready(())
    }

    /// After a poll that ran for `spent` and did not finish: keeps the turn across a tick's
    /// yield within the slice; otherwise gives it up (to the back of the line if the slice is
    /// used up).
    fn after_pending(&mut self, spent: Duration, ticked: bool) {
        self.ran += spent;
        if ticked && self.ran < TURN_SLICE {
            return;
        }
        if self.ran >= TURN_SLICE {
            self.place.0 = Instant::now();
        }
        self.give_up();
    }

    /// Gives up the turn it holds, or its place in line (and a turn handed to it meanwhile).
    fn give_up(&mut self) {
        if std::mem::take(&mut self.holding) {
            self.queue.give_back();
        } else if std::mem::take(&mut self.queued) {
            let handed = {
                let mut line = self.queue.lock();
                if line.waiting.remove(&self.place).is_some() {
                    self.queue.waiters.fetch_sub(1, Ordering::SeqCst);
                }
                line.handed.remove(&self.place)
            };
            if handed {
                self.queue.give_back();
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.give_up();
    }
}

/// The period of a CPU share, as the Linux scheduler's default (`cpu.cfs_period_us`).
pub const CPU_PERIOD: Duration = Duration::from_millis(100);

/// An app's share of the CPU (`--cpus`), shared by all its instances: the CPU time they ran in
/// the current [`CPU_PERIOD`]. Once that reaches the share, each of them waits for the next
/// period at its next poll (a busy guest polls again at every epoch tick, so it runs at most a
/// tick past the share). What ran over the share in one period is owed by the next, so over
/// time the app gets its share and no more, as a cgroup's CPU quota gives it.
#[derive(Clone, Debug)]
pub struct CpuRate(Arc<RateState>);

#[derive(Debug)]
struct RateState {
    quota: Duration,
    window: Mutex<RateWindow>,
}

#[derive(Debug)]
struct RateWindow {
    start: Instant,
    used: Duration,
}

impl CpuRate {
    pub fn new(cpus: Cpus) -> Self {
        CpuRate(Arc::new(RateState {
            quota: cpus.per(CPU_PERIOD),
            window: Mutex::new(RateWindow {
                start: Instant::now(),
                used: Duration::ZERO,
            }),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateWindow> {
        self.0.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the app may run again, if it has used its share of the period `now` is in.
    fn held_until(&self, now: Instant) -> Option<Instant> {
        let mut window = self.lock();
        let elapsed = now.saturating_duration_since(window.start);
        if elapsed >= CPU_PERIOD {
            let periods = (elapsed.as_nanos() / CPU_PERIOD.as_nanos()) as u32;
            window.start += CPU_PERIOD * periods;
            window.used = window.used.saturating_sub(self.0.quota * periods);
        }
        (window.used >= self.0.quota).then(|| window.start + CPU_PERIOD)
    }

    fn charge(&self, spent: Duration) {
        self.lock().used += spent;
    }
}

/// An app's pause switch (`skiff pause`, as `docker pause`): while it is on, none of the app's
/// instances runs guest code. Each stops at its next poll (a busy guest at its next epoch tick),
/// gives up its turns on the CPU, and waits until the switch is off. Its CPU meter stands still;
/// wall-clock limits keep running, as timers do in a frozen container.
///
/// Checked at every poll of every instance, so an app that is not paused pays one atomic load:
/// the lock is taken only to pause, to resume, and by instances while paused.
#[derive(Clone, Debug, Default)]
pub struct Pause(Arc<PauseState>);

#[derive(Debug, Default)]
struct PauseState {
    /// Written only with `waiting` locked, so no instance parks after its resumption.
    paused: AtomicBool,
    waiting: Mutex<Vec<Waker>>,
}

impl Pause {
    pub fn set(&self, paused: bool) {
        let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
        self.0.paused.store(paused, Ordering::Relaxed);
        if !paused {
            for waker in waiting.drain(..) {
                waker.wake();
            }
        }
    }

    pub fn is_paused(&self) -> bool {
        self.0.paused.load(Ordering::Relaxed)
    }

    /// Ready unless paused; while paused, `cx` is woken when it is switched off.
    fn poll_resumed(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.is_paused() {
            return Poll::Ready(());
        }
        let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if !self.is_paused() {
            return Poll::Ready(());
        }
        if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

pub(crate) struct Metered<F> {
    future: Pin<Box<F>>,
    meter: Arc<Usage>,
    /// The app's CPU share, and the wait for its next period while it has used it up.
    rate: Option<CpuRate>,
    held: Option<Pin<Box<tokio::time::Sleep>>>,
    turn: Option<Turn>,
    /// The runtime's long-runner turns, and this instance's place with them while it is one.
    long_runners: Option<Arc<TurnQueue>>,
    long_turn: Option<Turn>,
    /// CPU run since it last waited for I/O or a timer.
    burst: Duration,
    pause: Option<Pause>,
}

impl<F> Metered<F> {
    /// The app's pause switch, checked before each poll.
    pub(crate) fn paused_by(mut self, pause: Option<&Pause>) -> Self {
        self.pause = pause.cloned();
        self
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if let Some(pause) = &this.pause
            && pause.poll_resumed(cx).is_pending()
        {
            // Paused: the CPU turns it holds go to other instances and apps meanwhile.
            if let Some(turn) = &mut this.turn {
                turn.give_up();
            }
            this.long_turn = None;
            return Poll::Pending;
        }
        while let Some(rate) = &this.rate {
            if let Some(held) = &mut this.held {
                std::task::ready!(held.as_mut().poll(cx));
                this.held = None;
            }
            let Some(until) = rate.held_until(Instant::now()) else {
                break;
            };
            // Held back: its turns go to others meanwhile (its own app's wait too).
            if let Some(turn) = &mut this.turn {
                turn.give_up();
            }
            this.long_turn = None;
            this.held = Some(Box::pin(tokio::time::sleep_until(until.into())));
        }
        if let Some(turn) = &mut this.turn {
            std::task::ready!(turn.poll_take(cx));
        }
        if this.burst >= LONG_BURST
            && let Some(queue) = &this.long_runners
        {
            let long = this
                .long_turn
                .get_or_insert_with(|| Turn::new(queue.clone()));
            std::task::ready!(long.poll_take(cx));
        }
        this.meter.ticked.store(false, Ordering::Relaxed);
        let start = thread_cpu_ns();
        this.meter.poll_started_ns.store(start, Ordering::Relaxed);
        let result = this.future.as_mut().poll(cx);
        let spent = thread_cpu_ns().saturating_sub(start);
        this.meter.used_ns.fetch_add(spent, Ordering::Relaxed);
        let spent = Duration::from_nanos(spent);
        if let Some(rate) = &this.rate {
            rate.charge(spent);
        }
        match result {
            Poll::Ready(_) => {
                if let Some(turn) = &mut this.turn {
                    turn.give_up();
                }
                this.long_turn = None;
            }
            Poll::Pending => {
                let ticked = this.meter.ticked.swap(false, Ordering::Relaxed);
                if let Some(turn) = &mut this.turn {
                    turn.after_pending(spent, ticked);
                }
                if ticked {
                    this.burst += spent;
                } else {
                    // It waits for I/O or a timer: its next poll starts a new burst.
                    this.burst = Duration::ZERO;
                    this.long_turn = None;
                }
                if let Some(long) = &mut this.long_turn {
                    // Never held without the app's turn (see `meter_in_turns`).
                    if this.turn.as_ref().is_some_and(|t| !t.holding) {
                        long.give_up();
                    } else {
                        long.after_pending(spent, ticked);
                    }
                }
            }
        }
        result
    }
}

fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec. A clock that does not exist (a thread's that
    // has exited) leaves it zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Stops a run at its CPU-time or wall-clock limit when no epoch checks are compiled into the
/// guest (`Interrupt::ExitProcess`): a thread that wakes at every epoch tick, reads the CPU
/// clock of the thread the run is polled on (the run's whole CPU time, as the meter counts it,
/// even in the middle of a long poll), and, past a limit, reports how the run ended and ends
/// the process with its exit status. Stopped when dropped (the run ended first).
pub(crate) struct Watchdog {
    _stop: mpsc::Sender<()>,
}

impl Watchdog {
    /// `None` when there is nothing to watch. Must be called on the thread that polls the run.
    pub(crate) fn start(limits: &Limits, report: crate::LimitReport) -> Option<Watchdog> {
        if limits.cpu_time.is_none() && limits.timeout.is_none() {
            return None;
        }
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self()` is this live thread and `clock` a valid out-pointer.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } != 0 {
            clock = libc::CLOCK_PROCESS_CPUTIME_ID;
        }
        let cpu_start = clock_ns(clock);
        let started = Instant::now();
        let (cpu_limit, timeout) = (limits.cpu_time, limits.timeout);
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("skiff-watchdog".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(crate::engine::EPOCH_TICK)
                {
                    let cpu = Duration::from_nanos(clock_ns(clock).saturating_sub(cpu_start));
                    let limit = match (cpu_limit, timeout) {
                        (Some(limit), _) if cpu > limit => LimitExceeded::CpuTime(limit),
                        (_, Some(limit)) if started.elapsed() > limit => {
                            LimitExceeded::Timeout(limit)
                        }
                        _ => continue,
                    };
                    let exit = crate::Exit::Limit(limit);
                    report(&exit);
                    std::process::exit(exit.status());
                }
            })
            .expect("failed to spawn the watchdog thread");
        Some(Watchdog { _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{
        CPU_PERIOD, CpuRate, CpuTurns, Cpus, LONG_BURST, TURN_SLICE, Turn, Usage, thread_cpu_ns,
    };

    fn take(turn: &mut Turn) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        turn.poll_take(&mut cx) == Poll::Ready(())
    }

    #[test]
    fn a_free_turn_goes_to_the_first_to_arrive_and_is_kept_within_a_slice() {
        let turns = CpuTurns::new(1);
        let mut first = Turn::new(turns.0.clone());
        let mut second = Turn::new(turns.0.clone());
        let mut third = Turn::new(turns.0.clone());

        // The third takes the free turn; the others queue.
        assert!(take(&mut third));
        assert!(!take(&mut second));
        assert!(!take(&mut first));
        // It waits for I/O: the turn goes to the first to arrive, not the first to queue.
        third.after_pending(Duration::from_millis(1), false);
        assert!(!take(&mut second));
        assert!(take(&mut first));

        // Yielding at ticks within its slice, it keeps the turn.
        first.after_pending(Duration::from_millis(10), true);
        assert!(take(&mut first));
        assert!(!take(&mut second));
        // Its slice used up, it goes to the back of the line: behind the third too.
        first.after_pending(TURN_SLICE, true);
        assert!(!take(&mut first));
        assert!(!take(&mut third));
        assert!(take(&mut second));
        second.after_pending(Duration::ZERO, false);
        assert!(!take(&mut first));
        assert!(take(&mut third));

        // A waiter that goes away (its request cancelled) leaves the line; a holder that goes
        // away frees its turn.
        drop(third);
        assert!(take(&mut first));
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn woken() -> (Arc<Woken>, Waker) {
        let woken = Arc::new(Woken::default());
        (woken.clone(), Waker::from(woken))
    }

    /// Turns given up while instances wait go to as many of them at once: each waiter is woken
    /// holding its turn, none waits for the one ahead of it to be polled first (which served
    /// a busy app one instance at a time however many cores it had).
    #[test]
    fn turns_given_up_go_to_as_many_waiters_at_once() {
        let turns = CpuTurns::new(2);
        let (mut a, mut b) = (Turn::new(turns.0.clone()), Turn::new(turns.0.clone()));
        let (mut c, mut d) = (Turn::new(turns.0.clone()), Turn::new(turns.0.clone()));
        assert!(take(&mut a) && take(&mut b));
        let (c_woken, c_waker) = woken();
        let (d_woken, d_waker) = woken();
        assert!(c.poll_take(&mut Context::from_waker(&c_waker)).is_pending());
        assert!(d.poll_take(&mut Context::from_waker(&d_waker)).is_pending());

        a.after_pending(Duration::ZERO, false);
        b.after_pending(Duration::ZERO, false);
        assert_eq!(c_woken.0.load(Ordering::Relaxed), 1);
        assert_eq!(d_woken.0.load(Ordering::Relaxed), 1, "D was not woken");
        // D runs first (another core picked it up): its turn is there, C's stays C's.
        assert!(take(&mut d));
        let mut e = Turn::new(turns.0.clone());
        assert!(!take(&mut e), "a newcomer took the turn handed to C");
        assert!(take(&mut c));

        // A waiter that leaves before it is polled passes the turn handed to it on.
        c.after_pending(Duration::ZERO, false);
        let mut f = Turn::new(turns.0.clone());
        assert!(!take(&mut f));
        d.after_pending(Duration::ZERO, false);
        drop(e);
        assert!(take(&mut f));
        // Nobody waits: a turn given up is free for whoever comes.
        f.after_pending(Duration::ZERO, false);
        assert!(take(&mut Turn::new(turns.0.clone())));
        assert!(take(&mut Turn::new(turns.0.clone())));
    }

    /// Many instances taking and giving up turns on several threads at once: never more turns
    /// held than there are, and every one of them gets its turns (a turn given up while one
    /// registers as a waiter, never handed to it, would leave it waiting for ever: this test
    /// would then time out).
    #[test]
    fn turns_are_never_lost_or_doubled_between_threads() {
        use std::sync::atomic::AtomicUsize;
        const TURNS: usize = 3;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_time()
            .build()
            .unwrap();
        let turns = CpuTurns::new(TURNS);
        let held = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        runtime.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let (queue, held, most) = (turns.0.clone(), held.clone(), most.clone());
                    tokio::spawn(async move {
                        let mut turn = Turn::new(queue);
                        for round in 0..200 {
                            std::future::poll_fn(|cx| turn.poll_take(cx)).await;
                            let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            if (i + round) % 3 == 0 {
                                tokio::task::yield_now().await;
                            }
                            held.fetch_sub(1, Ordering::SeqCst);
                            turn.after_pending(Duration::ZERO, false);
                            if (i + round) % 7 == 0 {
                                // Leaves: a new arrival takes its place.
                                turn = Turn::new(turn.queue.clone());
                            }
                        }
                    })
                })
                .collect();
            let all = futures_all(tasks);
            tokio::time::timeout(Duration::from_secs(60), all)
                .await
                .expect("an instance waited for a turn for ever");
        });
        assert!(
            most.load(Ordering::SeqCst) <= TURNS,
            "more turns held than there are"
        );
        assert_eq!(
            most.load(Ordering::SeqCst),
            TURNS,
            "the turns were never all used"
        );
        assert_eq!(
            turns.0.free.load(Ordering::SeqCst),
            TURNS,
            "a turn was lost"
        );
        assert_eq!(turns.0.waiters.load(Ordering::SeqCst), 0);
    }

    async fn futures_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
        for task in tasks {
            task.await.expect("a task panicked");
        }
    }

    /// A guest that computes for `per_poll` of CPU and then yields at an epoch tick, or, once
    /// `waits` is set, waits for I/O.
    struct Busy {
        usage: Arc<Usage>,
        per_poll: Duration,
        waits: Arc<AtomicBool>,
    }

    impl Future for Busy {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            let start = thread_cpu_ns();
            while thread_cpu_ns() - start < self.per_poll.as_nanos() as u64 {}
            if !self.waits.load(Ordering::Relaxed) {
                self.usage.ticked();
            }
            Poll::Pending
        }
    }

    /// A share holds the app back once it has used its quota of the period, and what it ran
    /// over the quota is owed by the periods after: over time it gets its share and no more.
    #[test]
    fn a_cpu_share_is_kept_over_periods_with_overruns_owed() {
        let rate = CpuRate::new(Cpus(500));
        let start = rate.lock().start;
        let ms = Duration::from_millis;
        assert_eq!(rate.held_until(start), None);
        rate.charge(ms(50));
        assert_eq!(rate.held_until(start + ms(10)), Some(start + CPU_PERIOD));
        assert_eq!(rate.held_until(start + CPU_PERIOD), None);
        // 130 ms in the second period: 80 owed to the third, which it uses up too.
        rate.charge(ms(130));
        assert_eq!(rate.held_until(start + ms(150)), Some(start + ms(200)));
        assert_eq!(rate.held_until(start + ms(200)), Some(start + ms(300)));
        assert_eq!(rate.held_until(start + ms(300)), None);
        // Idle periods do not bank a share to spend later.
        assert_eq!(rate.held_until(start + ms(1000)), None);
        rate.charge(ms(50));
        assert_eq!(rate.held_until(start + ms(1010)), Some(start + ms(1100)));
    }

    #[test]
    fn long_runners_share_their_turns_and_short_bursts_never_wait_for_them() {
        let long_runners = CpuTurns::new(1);
        let busy = |per_poll: Duration| {
            let usage = Arc::new(Usage::default());
            let waits = Arc::new(AtomicBool::new(false));
            let future = usage.meter_in_turns(
                Busy {
                    usage: usage.clone(),
                    per_poll,
                    waits: waits.clone(),
                },
                None,
                None,
                Some(&long_runners),
            );
            (usage, waits, Box::pin(future))
        };
        let poll = |future: &mut Pin<Box<super::Metered<Busy>>>| {
            let _ = future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
        };
        let burst = LONG_BURST + Duration::from_millis(5);
        let (a_usage, a_waits, mut a) = busy(burst);
        let (b_usage, _, mut b) = busy(burst);
        let (c_usage, _, mut c) = busy(Duration::from_millis(1));

        // Both run their first burst; then A takes the one long runner's turn and B waits.
        poll(&mut a);
        poll(&mut b);
        poll(&mut a);
        let b_before = b_usage.cpu_time();
        poll(&mut b);
        assert_eq!(
            b_usage.cpu_time(),
            b_before,
            "B ran beside the long runner A"
        );
        // A short burst runs whatever the long runners do.
        for _ in 0..3 {
            let before = c_usage.cpu_time();
            poll(&mut c);
            assert!(c_usage.cpu_time() > before);
        }
        // A waits for I/O: its turn goes to B, and its next burst starts short again.
        a_waits.store(true, Ordering::Relaxed);
        poll(&mut a);
        let b_before = b_usage.cpu_time();
        poll(&mut b);
        assert!(b_usage.cpu_time() > b_before, "B never got the free turn");
        let a_before = a_usage.cpu_time();
        poll(&mut a);
        assert!(a_usage.cpu_time() > a_before, "A's new burst waited");
    }
}
