//! `wasmtime-floor`: the least that wasmtime 48 itself costs for what three of issue 14's goals
//! time, measured with the same wasmtime and features Skiff is built on, and nothing of Skiff's
//! (no sockets, no HTTP parsing, no limits, no metering, no cache lookup, no logs). When the
//! floor is already over a goal, no embedding of today's wasmtime meets it; when it is under,
//! the difference is what Skiff adds. `benches/floor.sh` runs it next to Skiff and the peers.
//!
//! - `http WASM`: a fresh instance of a `wasi:http` 0.2 handler per request, called with an
//!   in-memory request, its response body read whole: CPU per request, one thread.
//! - `idle WASM --apps N`: N instances of a WASI preview 1 command blocked in a sleep, each an
//!   async call on its own fiber (as a daemon holds idle apps without a thread each): the PSS
//!   they add, per app.
//! - `compile WASM OUT` then `run OUT`: a process that loads a precompiled preview 1 command and
//!   runs it once, the least a `skiff run` of a cached program can do (time it with hyperfine);
//!   with `FLOOR_TRACE` set, `run` prints on stderr when each step ended (engine, module, linker,
//!   instance, run), the split decision 0012 gives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use http_body_util::BodyExt;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

#[derive(Parser)]
#[command(about = "What wasmtime itself costs, without Skiff")]
enum Floor {
    /// CPU per request of a fresh instance per request of a wasi:http 0.2 handler.
    Http {
        wasm: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        requests: u32,
        #[arg(long, default_value_t = 2_000)]
        warmup: u32,
    },
    /// PSS per idle WASI preview 1 command, blocked in a sleep on its own fiber.
    Idle {
        wasm: PathBuf,
        #[arg(long, default_value_t = 1000)]
        apps: usize,
        /// Seconds to wait once all are started, before memory is read.
        #[arg(long, default_value_t = 3)]
        settle: u64,
    },
    /// Compiles a WASI preview 1 command for `run`, with `run`'s engine settings.
    Compile { wasm: PathBuf, out: PathBuf },
    /// Runs a command `compile` made, once, with stdout and stderr inherited.
    Run { cwasm: PathBuf },
}

fn main() -> anyhow::Result<()> {
    match Floor::parse() {
        Floor::Http {
            wasm,
            requests,
            warmup,
        } => runtime()?.block_on(http(&wasm, requests, warmup)),
        Floor::Idle { wasm, apps, settle } => {
            runtime()?.block_on(idle(&wasm, apps, Duration::from_secs(settle)))
        }
        Floor::Compile { wasm, out } => {
            let bytes = command_engine()?.precompile_module(&std::fs::read(&wasm)?)?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))
        }
        Floor::Run { cwasm } => run(&cwasm),
    }
}

/// One thread: the cheapest way to drive async calls, and CPU time that is all the floor's.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A command's engine as `skiff run` has it (docs/decisions/0006): on-demand instances, no
/// epoch checks, no component-model concurrency.
fn command_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.concurrency_support(false);
    Ok(Engine::new(&config)?)
}

fn run(cwasm: &Path) -> anyhow::Result<()> {
    let clock = Instant::now();
    let trace = std::env::var_os("FLOOR_TRACE").is_some();
    let step = |what: &str| {
        if trace {
            eprintln!("{what}: {:?}", clock.elapsed());
        }
    };
    let engine = command_engine()?;
    step("engine");
    // Safety: the file is this tool's own `compile` output, not changed while it runs.
    let module = unsafe { Module::deserialize_file(&engine, cwasm)? };
    step("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    step("linker");
    let wasi = WasiCtx::builder()
        .inherit_stdout()
        .inherit_stderr()
        .build_p1();
    let mut store = Store::new(&engine, wasi);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    step("instance");
    let result = start.call(&mut store, ());
    step("run");
    match result {
        Ok(()) => Ok(()),
        Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => std::process::exit(exit.0),
            None => Err(error.into()),
        },
    }
}

/// A component's store data: WASI 0.2 and `wasi:http`, nothing else.
struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

async fn http(wasm: &Path, requests: u32, warmup: u32) -> anyhow::Result<()> {
    // The pool as Skiff's handler engine sets it, so an instance costs here what it costs
    // there, the slot reset included; no epoch checks.
    let pool = skiff_runtime::Pooling { max_instances: 16 }.allocation_config();
    let mut config = Config::new();
    config.concurrency_support(false);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, wasm)?;
    let mut linker = wasmtime::component::Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;

    let mut body_bytes = 0;
    for _ in 0..warmup {
        body_bytes = request(&engine, &pre).await?;
    }
    let (cpu, wall) = (cpu_time(), Instant::now());
    for _ in 0..requests {
        request(&engine, &pre).await?;
    }
    let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
    let per = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(requests);
    println!(
        "http: {requests} requests ({body_bytes}-byte bodies): {:.2} us CPU per request, \
         {:.2} us wall per request, {:.0} requests/s on one thread",
        per(cpu),
        per(wall),
        f64::from(requests) / wall.as_secs_f64()
    );
    Ok(())
}

/// One request to a fresh instance; returns the response body's length.
async fn request(engine: &Engine, pre: &ProxyPre<Host>) -> anyhow::Result<usize> {
    let host = Host {
        wasi: WasiCtx::builder().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, host);
    let incoming = hyper::Request::builder()
        .uri("http://localhost/")
        .header(hyper::header::HOST, "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, incoming)?;
    let (sender, answer) = tokio::sync::oneshot::channel();
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let proxy = pre.instantiate_async(&mut store).await?;
    proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut store, incoming, out)
        .await?;
    drop(store);
    let response = answer.await?.map_err(|code| anyhow::anyhow!("{code:?}"))?;
    if response.status() != 200 {
        bail!("the handler answered {}", response.status());
    }
    let body = response.into_body().collect().await?.to_bytes();
    Ok(body.len())
}

async fn idle(wasm: &Path, apps: usize, settle: Duration) -> anyhow::Result<()> {
    let engine = command_engine()?;
    let module = Module::from_file(&engine, wasm)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |ctx| ctx)?;
    let pre = linker.instantiate_pre(&module)?;
    let start = |pre: wasmtime::InstancePre<WasiP1Ctx>| {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut store = Store::new(&engine, WasiCtx::builder().build_p1());
            let instance = pre.instantiate_async(&mut store).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await?;
            Ok::<(), wasmtime::Error>(())
        })
    };
    // One app first, so that what every app shares (the module's code, the runtime's first
    // fiber, the allocator's first pages) is in the base.
    let warm = start(pre.clone());
    tokio::time::sleep(settle).await;
    if warm.is_finished() {
        bail!("{} ended; an idle program must block", wasm.display());
    }
    let before = pss_kib()?;
    let started: Vec<_> = (0..apps).map(|_| start(pre.clone())).collect();
    tokio::time::sleep(settle).await;
    if let Some(ended) = started.iter().position(|app| app.is_finished()) {
        bail!("app {ended} ended; an idle program must block");
    }
    let after = pss_kib()?;
    println!(
        "idle: {apps} apps: PSS {before} -> {after} KiB: {:.1} KiB per app",
        (after - before) as f64 / apps as f64
    );
    Ok(())
}

/// This process's PSS, from `/proc/self/smaps_rollup`.
fn pss_kib() -> anyhow::Result<i64> {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup")?;
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .context("no Pss line in /proc/self/smaps_rollup")
}

/// User + system CPU time of this process, all threads.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // Safety: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}
