//! The engine and everything created once per engine.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::cache::CompileCache;
use crate::run::{P1Host, P2Host};

/// How often the epoch advances. Limits are checked, and a running guest yields to other tasks,
/// once per tick: it bounds how late a CPU-time limit fires and how long a busy guest can hold a
/// worker thread.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Where compiled native code is cached; `None` compiles in memory every time.
    pub cache_dir: Option<PathBuf>,
}

/// One wasmtime engine and the machinery shared by every app it runs.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) cache: Option<CompileCache>,
    p1_linker: OnceLock<wasmtime::Linker<P1Host>>,
    p2_linker: OnceLock<wasmtime::component::Linker<P2Host>>,
    _ticker: EpochTicker,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut wasm = Config::new();
        // Epoch interruption, not fuel: a check at loop headers and function entries costs a load
        // and a compare, where fuel counts every instruction (see ARCHITECTURE.md).
        wasm.epoch_interruption(true);
        let engine = Engine::new(&wasm).map_err(anyhow::Error::from)?;
        let cache = config.cache_dir.map(|dir| CompileCache::new(dir, &engine));
        Ok(Runtime {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            cache,
            p1_linker: OnceLock::new(),
            p2_linker: OnceLock::new(),
        })
    }

    pub(crate) fn p1_linker(&self) -> &wasmtime::Linker<P1Host> {
        self.p1_linker.get_or_init(|| {
            let mut linker = wasmtime::Linker::new(&self.engine);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |host: &mut P1Host| &mut host.wasi)
                .expect("WASI preview 1 links into an empty linker");
            // `wasi_unstable`, for modules from older toolchains, as `wasmtime run` accepts.
            wasmtime_wasi::p0::add_to_linker_async(&mut linker, |host: &mut P1Host| &mut host.wasi)
                .expect("WASI preview 0 links beside preview 1");
            linker
        })
    }

    pub(crate) fn p2_linker(&self) -> &wasmtime::component::Linker<P2Host> {
        self.p2_linker.get_or_init(|| {
            let mut linker = wasmtime::component::Linker::new(&self.engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                .expect("WASI 0.2 links into an empty linker");
            linker
        })
    }
}

/// The one thread per engine that advances the epoch; stopped when the runtime is dropped.
/// (`wasmtime serve` once started one per request and lost orders of magnitude: wasmtime #11814.)
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("skiff-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .expect("failed to spawn the epoch thread");
        EpochTicker { stop: Some(stop) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.take();
    }
}
