//! The engines and everything created once per engine.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::{Config, Engine, WasmFeatures};

use crate::cache::CompileCache;
use crate::limits::CpuTurns;
use crate::load::AppKind;
use crate::run::{ComponentHost, Exit, P1Host};

/// How often the epoch advances. Limits are checked, and a running guest yields to other tasks,
/// once per tick: it bounds how late a CPU-time limit fires and how long a busy guest can hold a
/// worker thread.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Where compiled native code is cached; `None` compiles in memory every time.
    pub cache_dir: Option<PathBuf>,
    /// The instance pool of the engine that serves HTTP handlers.
    pub pooling: Pooling,
    /// How many long runners (instances of any app whose current burst of CPU, since they last
    /// waited for I/O, passed [`crate::limits::LONG_BURST`]) may run guest code at once; `None`:
    /// no bound (one app per process: `skiff run`, `skiff serve`). A daemon gives all cores but
    /// one, so short requests and the API always find a core however many apps spin.
    pub long_runner_turns: Option<usize>,
    /// How a command app's guest is stopped at its CPU-time or wall-clock limit.
    pub interrupt: Interrupt,
    /// Also load components that export neither `wasi:cli/run` nor
    /// `wasi:http/incoming-handler` (libraries): only `skiff run --invoke` can call them.
    pub library_components: bool,
    /// What a program's imports that Skiff does not provide become.
    pub unknown_imports: UnknownImports,
    /// The WASI interfaces `-S NAME=n` left out: a program that imports one is refused.
    pub unlinked: Vec<Unlinked>,
    /// Core modules a module may import from, by the name it imports them under, as `wasmtime
    /// run --preload NAME=PATH` links them: instantiated in each run's store, before it.
    pub preloads: Vec<(String, PathBuf)>,
    /// Also run modules and components precompiled by `wasmtime compile`, given as files
    /// (`--allow-precompiled`): native code, trusted as the user says.
    pub allow_precompiled: bool,
    /// How this process's engines compile and run WebAssembly, as `wasmtime run`'s `-W`
    /// options ask (for a process that runs one app: the daemon's apps share its engines).
    pub wasm: WasmOptions,
}

/// `wasmtime run`'s `-W` options that are settings of an engine or of every store it makes,
/// with wasmtime's meaning; the defaults are wasmtime's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmOptions {
    /// The most stack a guest's WebAssembly may use, in bytes (`-W max-wasm-stack`); `None`:
    /// wasmtime's default (512 KiB).
    pub max_wasm_stack: Option<usize>,
    /// The stack an instance runs on, guest and host calls together (`-W async-stack-size`);
    /// `None`: 512 KiB above the guest's.
    pub async_stack_size: Option<usize>,
    /// Zero a stack before it is reused (`-W async-stack-zeroing`).
    pub async_stack_zeroing: bool,
    /// Fuel each instance starts with (`-W fuel=N`): most instructions burn one unit, and it
    /// traps when none is left. Compiled in: code with fuel checks has cache keys of its own.
    pub fuel: Option<u64>,
    /// Every NaN a float operation makes is the canonical one (`-W nan-canonicalization`).
    pub nan_canonicalization: bool,
    /// Relaxed SIMD gives the same results on every host (`-W relaxed-simd-deterministic`).
    pub relaxed_simd_deterministic: bool,
    /// Proposals wasmtime leaves off by default, turned on (`-W wide-arithmetic`, ...). Those
    /// that need the component model's concurrency are on only in the engines that have it.
    pub proposals: WasmFeatures,
    /// Proposals wasmtime turns on by default, turned off (`-W simd=n`, ...): a program that
    /// uses one is refused when it loads.
    pub proposals_off: WasmFeatures,
    /// Lay out code by the module's branch hints (`-W branch-hinting`; layout only).
    pub branch_hinting: bool,
    /// Limits on each store, as `wasmtime run`'s `StoreLimits` applies them.
    pub store: StoreLimits,
    /// How code is compiled and memories are laid out (`-O`, `-C`, `-D`).
    pub codegen: Codegen,
}

/// `wasmtime run`'s `-O`, `-C` and `-D` options that Skiff takes, with wasmtime's meaning: how
/// fast code is compiled and runs, and what a debugger sees; never what a program computes.
/// `None`: Skiff's settings (wasmtime's defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Codegen {
    pub opt_level: Option<wasmtime::OptLevel>,
    pub parallel_compilation: Option<bool>,
    pub native_unwind_info: Option<bool>,
    /// DWARF for a native debugger (`-D debug-info`).
    pub debug_info: Option<bool>,
    pub address_map: Option<bool>,
    pub memory_reservation: Option<u64>,
    pub memory_guard_size: Option<u64>,
    pub memory_reservation_for_growth: Option<u64>,
    pub memory_may_move: Option<bool>,
    pub guard_before_linear_memory: Option<bool>,
    pub memory_init_cow: Option<bool>,
    pub table_lazy_init: Option<bool>,
    pub signals_based_traps: Option<bool>,
    /// Name compiled functions in `/tmp/perf-PID.map` for `perf` (`--profile=perfmap`).
    pub perfmap: bool,
    /// Capture the guest's state when it traps (`-D coredump`), for [`crate::RunOptions`]'s
    /// `core_dump` to write.
    pub coredump_on_trap: bool,
    /// The most frames a trap's backtrace shows (`-D max-backtrace=N`); 0, as in wasmtime:
    /// frames without their source files and lines.
    pub max_backtrace: Option<usize>,
    /// The pooling allocator's options (`-O pooling-allocator`, `-O pooling-*`).
    pub pool: PoolOptions,
    /// Cranelift or Winch, wasmtime's baseline compiler (`-C compiler`).
    pub compiler: Option<wasmtime::Strategy>,
    /// The collector of GC programs' heaps (`-C collector=drc|null|copying`).
    pub collector: Option<wasmtime::Collector>,
    pub regalloc_algorithm: Option<wasmtime::RegallocAlgorithm>,
    pub inlining: Option<wasmtime::Inlining>,
    pub cranelift_debug_verifier: Option<bool>,
    pub metadata_for_internal_asserts: Option<bool>,
    pub metadata_for_gc_heap_corruption: Option<bool>,
    pub gc_heap_may_move: Option<bool>,
    pub gc_heap_reservation: Option<u64>,
    pub gc_heap_reservation_for_growth: Option<u64>,
    pub gc_heap_guard_size: Option<u64>,
    pub gc_heap_initial_size: Option<u64>,
}

/// `wasmtime run`'s and `wasmtime serve`'s `-O pooling-*` options: the instance pool's sizes and
/// how its slots are reset, each replacing Skiff's setting (or wasmtime's default) where given.
/// An engine that pools takes them: the HTTP handlers' always; the commands' only when
/// `allocator` asks (`-O pooling-allocator`: wasmtime's default pool, as `wasmtime run` makes it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolOptions {
    pub allocator: Option<bool>,
    pub total_component_instances: Option<u32>,
    pub total_core_instances: Option<u32>,
    pub total_memories: Option<u32>,
    pub total_tables: Option<u32>,
    pub total_stacks: Option<u32>,
    pub total_gc_heaps: Option<u32>,
    pub max_memory_size: Option<usize>,
    pub table_elements: Option<usize>,
    pub max_core_instance_size: Option<usize>,
    pub max_component_instance_size: Option<usize>,
    pub max_core_instances_per_component: Option<u32>,
    pub max_memories_per_component: Option<u32>,
    pub max_tables_per_component: Option<u32>,
    pub max_tables_per_module: Option<u32>,
    pub max_memories_per_module: Option<u32>,
    pub memory_keep_resident: Option<usize>,
    pub table_keep_resident: Option<usize>,
    pub async_stack_keep_resident: Option<usize>,
    pub max_unused_warm_slots: Option<u32>,
    pub decommit_batch_size: Option<usize>,
    pub pagemap_scan: Option<wasmtime::Enabled>,
}

/// `$to.method(value)` for each of `$from`'s fields that holds a value: options given, set;
/// the rest left at the config's own.
macro_rules! set_given {
    ($from:ident => $to:ident: $($field:ident => $method:ident),* $(,)?) => {
        $(if let Some(value) = $from.$field {
            $to.$method(value);
        })*
    };
}

impl PoolOptions {
    fn apply(&self, pool: &mut wasmtime::PoolingAllocationConfig) {
        set_given! { self => pool:
            total_component_instances => total_component_instances,
            total_core_instances => total_core_instances,
            total_memories => total_memories,
            total_tables => total_tables,
            total_stacks => total_stacks,
            total_gc_heaps => total_gc_heaps,
            max_memory_size => max_memory_size,
            table_elements => table_elements,
            max_core_instance_size => max_core_instance_size,
            max_component_instance_size => max_component_instance_size,
            max_core_instances_per_component => max_core_instances_per_component,
            max_memories_per_component => max_memories_per_component,
            max_tables_per_component => max_tables_per_component,
            max_tables_per_module => max_tables_per_module,
            max_memories_per_module => max_memories_per_module,
            memory_keep_resident => linear_memory_keep_resident,
            table_keep_resident => table_keep_resident,
            async_stack_keep_resident => async_stack_keep_resident,
            max_unused_warm_slots => max_unused_warm_slots,
            decommit_batch_size => decommit_batch_size,
            pagemap_scan => pagemap_scan,
        }
    }
}

impl Codegen {
    fn apply(&self, config: &mut Config) {
        set_given! { self => config:
            opt_level => cranelift_opt_level,
            parallel_compilation => parallel_compilation,
            native_unwind_info => native_unwind_info,
            debug_info => debug_info,
            address_map => generate_address_map,
            memory_reservation => memory_reservation,
            memory_guard_size => memory_guard_size,
            memory_reservation_for_growth => memory_reservation_for_growth,
            memory_may_move => memory_may_move,
            guard_before_linear_memory => guard_before_linear_memory,
            memory_init_cow => memory_init_cow,
            table_lazy_init => table_lazy_init,
            signals_based_traps => signals_based_traps,
            compiler => strategy,
            collector => collector,
            regalloc_algorithm => cranelift_regalloc_algorithm,
            inlining => compiler_inlining,
            cranelift_debug_verifier => cranelift_debug_verifier,
            metadata_for_internal_asserts => metadata_for_internal_asserts,
            metadata_for_gc_heap_corruption => metadata_for_gc_heap_corruption,
            gc_heap_may_move => gc_heap_may_move,
            gc_heap_reservation => gc_heap_reservation,
            gc_heap_reservation_for_growth => gc_heap_reservation_for_growth,
            gc_heap_guard_size => gc_heap_guard_size,
            gc_heap_initial_size => gc_heap_initial_size,
        }
        if self.perfmap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        config.coredump_on_trap(self.coredump_on_trap);
        match self.max_backtrace.map(std::num::NonZeroUsize::new) {
            None => {}
            Some(None) => {
                config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
            }
            Some(frames) => {
                config.wasm_backtrace_max_frames(frames);
            }
        }
    }
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            max_wasm_stack: None,
            async_stack_size: None,
            async_stack_zeroing: false,
            fuel: None,
            nan_canonicalization: false,
            relaxed_simd_deterministic: false,
            // Not `WasmFeatures::default()`, which is the validator's default set.
            proposals: WasmFeatures::empty(),
            proposals_off: WasmFeatures::empty(),
            branch_hinting: false,
            store: StoreLimits::default(),
            codegen: Codegen::default(),
        }
    }
}

/// `wasmtime run`'s per-store limits (`-W max-table-elements`, `max-instances`, `max-tables`,
/// `max-memories`, `trap-on-grow-failure`, and WASI's, from `-S`), beside Skiff's own
/// `--memory`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreLimits {
    /// The most elements any one table may hold; growing past it fails.
    pub max_table_elements: Option<usize>,
    /// The most instances, tables and memories a store may create (wasmtime's default: 10,000
    /// each).
    pub max_instances: Option<usize>,
    pub max_tables: Option<usize>,
    pub max_memories: Option<usize>,
    /// A failed `memory.grow` or `table.grow` traps instead of returning -1.
    pub trap_on_grow_failure: bool,
    /// WASI's limits on a store, as `wasmtime run -S` sets them: the most handles (open files,
    /// sockets, streams, pollables...) an instance holds at once (`-S max-resources`; `None`:
    /// [`MAX_HANDLES`](crate::MAX_HANDLES));
    pub max_resources: Option<usize>,
    /// the bytes a component's host calls may move (`-S hostcall-fuel`), and its live
    /// component-model handles (`-S max-component-handles`);
    pub hostcall_fuel: Option<usize>,
    pub max_component_handles: Option<usize>,
    /// the most random bytes one call may ask for (`-S max-random-size`), and the bytes of one
    /// set of HTTP headers or trailers (`-S max-http-fields-size`).
    pub max_random_size: Option<u64>,
    pub max_http_fields_size: Option<usize>,
    /// The writes to an HTTP body the guest writes that are buffered (`-S
    /// http-outgoing-body-buffer-chunks`), and the most bytes one may hold (`-S
    /// http-outgoing-body-chunk-size`).
    pub http_outgoing_body_buffer_chunks: Option<usize>,
    pub http_outgoing_body_chunk_size: Option<usize>,
}

/// Proposals that wasmtime turns on only with the component model's concurrency.
pub(crate) const NEED_CONCURRENCY: WasmFeatures = WasmFeatures::CM_ASYNC
    .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
    .union(WasmFeatures::CM_ASYNC_STACKFUL)
    .union(WasmFeatures::CM_THREADING)
    .union(WasmFeatures::CM_ERROR_CONTEXT);

/// What a program's imports that Skiff does not provide become: refused when it loads (the
/// default), or stubbed as `wasmtime run -W unknown-imports-trap` and `-W
/// unknown-imports-default` stub them, for a program that imports more than it calls (e.g. an
/// AssemblyScript module's `env::abort`). Only functions are stubbed; any other import Skiff does
/// not provide is still refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownImports {
    #[default]
    Refuse,
    /// Functions that trap when called, naming the import.
    Trap,
    /// Functions that return zeros and null references (core modules only, as in wasmtime).
    DefaultValues,
}

/// A WASI interface that `wasmtime run -S NAME=n` leaves out of its linker. Skiff links it
/// always; with the option, a program that imports it is refused when it loads, naming the
/// option, where wasmtime would fail to link it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unlinked {
    Http,
    Config,
    Keyvalue,
    Tls,
    /// WASI 0.3 (`-S p3=n`).
    P3,
    /// WASI's `wasi_unstable` module (`-S preview0=n`).
    Preview0,
}

impl Unlinked {
    /// The `-S` option's name.
    pub fn name(self) -> &'static str {
        match self {
            Unlinked::Http => "http",
            Unlinked::Config => "config",
            Unlinked::Keyvalue => "keyvalue",
            Unlinked::Tls => "tls",
            Unlinked::P3 => "p3",
            Unlinked::Preview0 => "preview0",
        }
    }

    /// The interface `-S NAME=n` leaves out, by its `-S` name.
    pub fn named(name: &str) -> Option<Unlinked> {
        [
            Unlinked::Http,
            Unlinked::Config,
            Unlinked::Keyvalue,
            Unlinked::Tls,
            Unlinked::P3,
            Unlinked::Preview0,
        ]
        .into_iter()
        .find(|u| u.name() == name)
    }

    /// Whether `import` (a component's import name, or a core module's import module) is of it.
    pub(crate) fn covers(self, import: &str) -> bool {
        let package = |prefix: &str| import.starts_with(prefix);
        match self {
            Unlinked::Http => package("wasi:http/"),
            Unlinked::Config => package("wasi:config/"),
            Unlinked::Keyvalue => package("wasi:keyvalue/"),
            Unlinked::Tls => package("wasi:tls/"),
            Unlinked::P3 => package("wasi:") && import.contains("@0.3."),
            Unlinked::Preview0 => import == "wasi_unstable",
        }
    }
}

/// How a running command app is stopped at its CPU-time or wall-clock limit (HTTP handlers
/// always use epochs: a process that serves them serves many requests at once).
#[derive(Clone, Default)]
pub enum Interrupt {
    /// Epoch checks compiled into the guest's code (a load and a compare at each loop header
    /// and function entry: about a fifth more CPU on tight loops) and checked at every tick:
    /// the guest is stopped on its own, and yields its thread at each tick so other apps run.
    /// For any process that runs several apps: the daemon, the shim.
    #[default]
    Epochs,
    /// Nothing compiled in, so guest code runs at wasmtime's full speed; a watchdog thread
    /// checks the limits at every tick and, at one, calls `report` with how the run ended,
    /// then ends this whole process with that exit status. Only for a process that runs one
    /// command app, polled on one thread, and then exits: `skiff run` in the foreground
    /// (docs/decisions/0006-no-epochs-in-skiff-run.md).
    ExitProcess { report: LimitReport },
}

/// What each store starts with (see [`WasmOptions`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StoreOptions {
    pub(crate) fuel: Option<u64>,
    pub(crate) limits: StoreLimits,
}

/// Says how a run ended at a limit, before `Interrupt::ExitProcess` ends the process.
pub type LimitReport = Arc<dyn Fn(&Exit) + Send + Sync>;

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interrupt::Epochs => "Epochs",
            Interrupt::ExitProcess { .. } => "ExitProcess",
        })
    }
}

/// The size of the instance pool that HTTP handlers are instantiated from.
#[derive(Clone, Copy, Debug)]
pub struct Pooling {
    /// Handler instances alive at once, across all apps (each WASI 0.2 component counts once;
    /// the core instances, memories and tables inside it are sized from this).
    pub max_instances: u32,
}

impl Default for Pooling {
    fn default() -> Self {
        // As `wasmtime serve`: 1000 instances.
        Pooling {
            max_instances: 1000,
        }
    }
}

impl Pooling {
    /// wasmtime's pooling allocator sized for `max_instances` handlers, as the HTTP engine uses
    /// it (also `benches/floor`, so that the floor's instances cost what Skiff's do).
    pub fn allocation_config(self) -> wasmtime::PoolingAllocationConfig {
        let n = self.max_instances;
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        // A Rust WASI 0.2 component is a few core instances (the program, the WASI adapter,
        // shims) with two memories and a few tables.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            // A store that uses GC types or exceptions holds one GC heap, taken from the
            // memory slots; handlers that do not use them hold none.
            .total_gc_heaps(n)
            // Large programs (a C# or big Rust app) have tables of tens of thousands of
            // functions, and some toolchains emit several tables or memories per module;
            // slots are address space until used.
            .table_elements(100_000)
            .max_tables_per_module(4)
            .max_memories_per_module(2)
            .table_keep_resident(16 << 10);
        // Between two instances in a slot, reset only the pages the last one wrote, found
        // with the PAGEMAP_SCAN ioctl (Linux 6.7+), and keep the first MiB mapped: a Rust or
        // C guest's stack is at the top of its first MiB, so a request no longer faults its
        // stack pages in and has them unmapped again after it (about half of a hello
        // request's CPU time; docs/decisions/0007-pool-reset.md). Without the ioctl, the
        // whole kept region would be memset on every reset: keep 64 KiB then.
        let pagemap = wasmtime::PoolingAllocationConfig::is_pagemap_scan_available();
        pool.pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(if pagemap { 1 << 20 } else { 64 << 10 });
        pool
    }
}

/// The wasmtime engines and the machinery shared by every app they run.
///
/// Engines created when first needed: one allocating instances on demand, for command apps
/// (one instance that lives as long as the app: a CLI run, or a long-running service that would
/// hold a pool slot for days), and one with wasmtime's pooling allocator, for HTTP handlers (a
/// fresh instance per request: a slot reused with copy-on-write memory images, in microseconds).
/// Which one loads a program is decided by what the program exports. Each comes in two flavours:
/// without the component model's concurrency (core modules, WASI 0.2 components), and with it,
/// for components of WASI 0.3 (the async ABI). A store of an engine with concurrency support
/// sets up, and on drop tears down, the machinery of concurrent tasks, and every host call goes
/// through it: about a third of a WASI 0.2 hello request's CPU time, which WASI 0.2 programs
/// never use.
pub struct Runtime {
    config: RuntimeConfig,
    /// The turns of long runners, shared by every app this runtime loads.
    pub(crate) long_runners: Option<CpuTurns>,
    /// By [`Flavor::slot`]: commands, handlers, concurrent commands, concurrent handlers.
    engines: [Arc<OnceLock<Engines>>; 4],
    /// Started with the first engine that compiles epoch checks in.
    ticker: OnceLock<EpochTicker>,
}

/// Which engine runs a program: by its kind, and whether it uses the component model's
/// concurrency (WASI 0.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flavor {
    pub(crate) kind: AppKind,
    pub(crate) concurrent: bool,
}

impl Flavor {
    pub(crate) const COMMANDS: Flavor = Flavor {
        kind: AppKind::Module,
        concurrent: false,
    };

    fn slot(self) -> usize {
        usize::from(self.kind == AppKind::Http) + 2 * usize::from(self.concurrent)
    }
}

/// One engine with its linkers and its compile cache.
pub(crate) struct Engines {
    pub(crate) engine: Engine,
    pub(crate) cache: Option<CompileCache>,
    /// With the component model's concurrency: WASI 0.3 is linked.
    concurrent: bool,
    /// Compiled by Winch (`-C compiler=winch`), which leaves some proposals out.
    pub(crate) winch: bool,
    /// Proposals on by default that the user turned off (`-W simd=n`).
    pub(crate) proposals_off: WasmFeatures,
    /// WASI preview 1 linkers, by what they hold besides preview 1 (`P1Extras::index`).
    p1_linkers: [OnceLock<wasmtime::Linker<P1Host>>; 4],
    /// Component linkers, by the interfaces they hold besides WASI (`ComponentExtras::index`).
    component_linkers: [OnceLock<wasmtime::component::Linker<ComponentHost>>; 64],
}

/// What a WASI preview 1 linker holds besides preview 1, each only for the programs that import
/// it: building a linker is a good part of a cached start (each host function registers its
/// type with the engine), and wasi-nn's or preview 0's functions are imported by few programs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct P1Extras {
    /// `wasi_unstable`, for modules from older toolchains, as `wasmtime run` accepts them.
    pub(crate) preview0: bool,
    /// `wasi_ephemeral_nn`.
    pub(crate) nn: bool,
}

impl P1Extras {
    fn index(self) -> usize {
        usize::from(self.preview0) | usize::from(self.nn) << 1
    }
}

/// The interfaces a component linker holds besides WASI, each only for the components that
/// import it (any version): `wasi:http` alone is a hundred host functions to link.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ComponentExtras {
    pub(crate) http: bool,
    pub(crate) config: bool,
    pub(crate) keyvalue: bool,
    pub(crate) nn: bool,
    pub(crate) tls: bool,
    /// Spin's variables, key-value and SQLite interfaces (`fermyon:spin` 2.0.0, and on a
    /// concurrent engine SDK 7's `spin:variables`, `spin:key-value` and `spin:sqlite`).
    pub(crate) spin: bool,
}

impl ComponentExtras {
    /// What `component` imports of them.
    pub(crate) fn imported_by(component: &wasmtime::component::Component) -> Self {
        let mut extras = ComponentExtras::default();
        // The same families `-S NAME=n` leaves out (`Unlinked::covers`), and wasi-nn.
        for (name, _) in component.component_type().imports(component.engine()) {
            extras.http |= Unlinked::Http.covers(name);
            extras.config |= Unlinked::Config.covers(name);
            extras.keyvalue |= Unlinked::Keyvalue.covers(name);
            extras.tls |= Unlinked::Tls.covers(name);
            extras.nn |= name.starts_with("wasi:nn/");
            extras.spin |= [
                "fermyon:spin/",
                "spin:variables/",
                "spin:key-value/",
                "spin:sqlite/",
                "spin:redis/",
            ]
            .iter()
            .any(|family| name.starts_with(family));
        }
        extras
    }

    fn index(self) -> usize {
        [
            self.http,
            self.config,
            self.keyvalue,
            self.nn,
            self.tls,
            self.spin,
        ]
        .iter()
        .enumerate()
        .map(|(bit, &on)| usize::from(on) << bit)
        .sum()
    }
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let runtime = Runtime {
            ticker: OnceLock::new(),
            long_runners: config.long_runner_turns.map(CpuTurns::new),
            config,
            engines: Default::default(),
        };
        // Fail here, not at the first load, if this machine cannot run wasmtime at all.
        runtime.engines(Flavor::COMMANDS)?;
        Ok(runtime)
    }

    /// The engine that runs programs of this flavour.
    pub(crate) fn engines(&self, flavor: Flavor) -> anyhow::Result<&Engines> {
        let cell = &self.engines[flavor.slot()];
        if let Some(engines) = cell.get() {
            return Ok(engines);
        }
        let pooling = (flavor.kind == AppKind::Http).then_some(self.config.pooling);
        let epochs = pooling.is_some() || matches!(self.config.interrupt, Interrupt::Epochs);
        let engines = Engines::new(
            self.config.cache_dir.clone(),
            pooling,
            epochs,
            flavor.concurrent,
            &self.config.wasm,
        )?;
        if epochs {
            self.ticker
                .get_or_init(|| EpochTicker::start(self.engines.clone()));
        }
        Ok(cell.get_or_init(|| engines))
    }

    /// The engine that runs programs of this flavour, if it has been created.
    pub(crate) fn created_engines(&self, flavor: Flavor) -> Option<&Engines> {
        self.engines[flavor.slot()].get()
    }

    /// What stops a command app at its limits, when not epochs: the watchdog's report.
    pub(crate) fn library_components(&self) -> bool {
        self.config.library_components
    }

    pub(crate) fn unknown_imports(&self) -> UnknownImports {
        self.config.unknown_imports
    }

    pub(crate) fn unlinked(&self) -> &[Unlinked] {
        &self.config.unlinked
    }

    pub(crate) fn allow_precompiled(&self) -> bool {
        self.config.allow_precompiled
    }

    pub(crate) fn preloads(&self) -> &[(String, PathBuf)] {
        &self.config.preloads
    }

    /// What each store of this runtime starts with: its fuel and `wasmtime run`'s limits.
    pub(crate) fn store_options(&self) -> StoreOptions {
        StoreOptions {
            fuel: self.config.wasm.fuel,
            limits: self.config.wasm.store,
        }
    }

    pub(crate) fn exit_process(&self) -> Option<&LimitReport> {
        match &self.config.interrupt {
            Interrupt::Epochs => None,
            Interrupt::ExitProcess { report } => Some(report),
        }
    }
}

impl Engines {
    fn new(
        cache_dir: Option<PathBuf>,
        pooling: Option<Pooling>,
        epochs: bool,
        concurrent: bool,
        options: &WasmOptions,
    ) -> anyhow::Result<Self> {
        let mut wasm = Config::new();
        if let Some(max) = options.max_wasm_stack {
            wasm.max_wasm_stack(max);
        }
        // The stack a guest runs on holds its WebAssembly frames and the host's calls below
        // them: as `wasmtime run` sizes it, 512 KiB more than the guest may use.
        let stack = options.async_stack_size.or(options
            .max_wasm_stack
            .map(|max| max.saturating_add(512 << 10)));
        if let Some(stack) = stack {
            // Each run maps one whole: a size this machine cannot map fails here, naming the
            // option, not at the first run as a bare "cannot allocate memory".
            memmap2::MmapOptions::new()
                .len(stack)
                .map_anon()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot map a stack of {stack} bytes for `-W max-wasm-stack` or `-W \
                         async-stack-size` ({e}); give a smaller size, e.g. `-W \
                         max-wasm-stack=67108864`"
                    )
                })?;
            wasm.async_stack_size(stack);
        }
        wasm.async_stack_zeroing(options.async_stack_zeroing)
            .consume_fuel(options.fuel.is_some())
            .cranelift_nan_canonicalization(options.nan_canonicalization)
            .relaxed_simd_deterministic(options.relaxed_simd_deterministic)
            .wasm_branch_hinting(options.branch_hinting);
        options.codegen.apply(&mut wasm);
        let proposals = match concurrent {
            true => options.proposals,
            false => options.proposals.difference(NEED_CONCURRENCY),
        };
        if !proposals.is_empty() {
            wasm.wasm_features(proposals, true);
        }
        if !options.proposals_off.is_empty() {
            wasm.wasm_features(options.proposals_off, false);
        }
        // The component model's concurrency (its async ABI, WASI 0.3) only where a program
        // needs it: see `Runtime`. Without it, those proposals are off and such a program is
        // loaded by the concurrent engine instead.
        wasm.concurrency_support(concurrent);
        // Epoch interruption, not fuel: a check at loop headers and function entries costs a load
        // and a compare, where fuel counts every instruction (see ARCHITECTURE.md). Compiled
        // code with and without the checks lives under different cache keys.
        wasm.epoch_interruption(epochs);
        // WebAssembly proposals: wasmtime's defaults, which are those of `wasmtime run` given
        // the same cargo features (the workspace's Cargo.toml); `wasm_features_match_the_cli`
        // below holds the two together. Skiff never runs less than its engine's CLI (issue 12).
        let pool = match pooling {
            Some(pooling) => Some(pooling.allocation_config()),
            None if options.codegen.pool.allocator == Some(true) => {
                Some(wasmtime::PoolingAllocationConfig::default())
            }
            None => None,
        };
        if let Some(mut pool) = pool {
            options.codegen.pool.apply(&mut pool);
            wasm.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm).map_err(anyhow::Error::from)?;
        Ok(Engines {
            cache: cache_dir.map(|dir| CompileCache::new(dir, &engine)),
            engine,
            concurrent,
            winch: options.codegen.compiler == Some(wasmtime::Strategy::Winch),
            proposals_off: options.proposals_off,
            p1_linkers: Default::default(),
            component_linkers: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    /// The linker for WASI preview 1 modules, with what `extras` asks for besides.
    pub(crate) fn p1_linker(&self, extras: P1Extras) -> &wasmtime::Linker<P1Host> {
        self.p1_linkers[extras.index()].get_or_init(|| {
            let mut linker = wasmtime::Linker::new(&self.engine);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |host: &mut P1Host| &mut host.wasi)
                .expect("WASI preview 1 links into an empty linker");
            if extras.preview0 {
                wasmtime_wasi::p0::add_to_linker_async(&mut linker, |host: &mut P1Host| {
                    &mut host.wasi
                })
                .expect("WASI preview 0 links beside preview 1");
            }
            if extras.nn {
                // wasi-nn's preview 1 form, as `wasmtime run -S nn` links it; a module that
                // imports it runs only with that grant (`App::check_grants`).
                wasmtime_wasi_nn::witx::add_to_linker(&mut linker, P1Host::nn)
                    .expect("wasi-nn links beside WASI preview 1");
            }
            linker
        })
    }

    /// The linker for components: all of WASI 0.2 (Rust's std imports `wasi:cli/*` even in
    /// HTTP handlers), on a concurrent engine WASI 0.3 too (as `wasmtime run` links them by
    /// default; the same `WasiCtx`, so the same grants), and each interface of `extras`.
    pub(crate) fn component_linker(
        &self,
        extras: ComponentExtras,
    ) -> &wasmtime::component::Linker<ComponentHost> {
        self.component_linkers[extras.index()].get_or_init(|| {
            let mut linker = wasmtime::component::Linker::new(&self.engine);
            // `wasi:sockets`' `network-error-code`, still unstable in 0.2, is linked as
            // `wasmtime run -S network-error-code` links it: a program that imports it runs.
            let mut options = wasmtime_wasi::p2::bindings::LinkOptions::default();
            options.network_error_code(true);
            wasmtime_wasi::p2::add_to_linker_with_options_async(&mut linker, &options)
                .expect("WASI 0.2 links into an empty linker");
            if self.concurrent {
                wasmtime_wasi::p3::add_to_linker(&mut linker).expect("WASI 0.3 links beside 0.2");
            }
            // `wasi:http`, whose outgoing requests pass the app's egress grants (one
            // `send_request` hook for both versions' requests).
            if extras.http {
                wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                    .expect("wasi:http links beside WASI 0.2");
                if self.concurrent {
                    wasmtime_wasi_http::p3::add_to_linker(&mut linker)
                        .expect("wasi:http 0.3 links beside WASI 0.3");
                }
            }
            // `wasi:config/store` and `wasi:keyvalue` (in memory), as `wasmtime run -S config`
            // and `-S keyvalue` link them: the app's `-S config-var`s and
            // `-S keyvalue-in-memory-data`.
            if extras.config {
                wasmtime_wasi_config::add_to_linker(&mut linker, ComponentHost::config)
                    .expect("wasi:config links beside WASI 0.2");
            }
            if extras.keyvalue {
                wasmtime_wasi_keyvalue::add_to_linker(&mut linker, ComponentHost::keyvalue)
                    .expect("wasi:keyvalue links beside WASI 0.2");
            }
            // `wasi:nn`, as `wasmtime run -S nn` links it; a component that imports it runs only
            // with that grant (`App::check_grants`).
            if extras.nn {
                wasmtime_wasi_nn::wit::add_to_linker(&mut linker, ComponentHost::nn)
                    .expect("wasi:nn links beside WASI 0.2");
            }
            // `wasi:tls`, as `wasmtime run -S tls` links it: TLS over a stream of `wasi:sockets`,
            // so only to destinations the app's `--network` grants.
            if extras.tls {
                let mut tls = wasmtime_wasi_tls::p2::LinkOptions::default();
                tls.tls(true);
                wasmtime_wasi_tls::p2::add_to_linker(&mut linker, &tls)
                    .expect("wasi:tls links beside WASI 0.2");
                if self.concurrent {
                    wasmtime_wasi_tls::p3::add_to_linker(&mut linker)
                        .expect("wasi:tls 0.3 links beside WASI 0.3");
                }
            }
            // Spin's host interfaces, for the components of Spin apps.
            if extras.spin {
                crate::spin::SpinHost::add_to_linker::<_, crate::spin::Spin>(
                    &mut linker,
                    ComponentHost::spin,
                )
                .expect("fermyon:spin links beside WASI 0.2");
                crate::spin::Spin1Host::add_to_linker::<_, crate::spin::Spin>(
                    &mut linker,
                    ComponentHost::spin,
                )
                .expect("Spin 1's unversioned fermyon:spin links beside 2.0.0");
                // SDK 7's interfaces where WASI 0.3 is; elsewhere SDK 5's `sqlite3` and `pg4`
                // (their `spin:sqlite` and `spin:postgres` versions are one package each: a
                // linker holds one of them, and the newer serves the older's imports).
                if self.concurrent {
                    crate::spin::Spin3Host::add_to_linker::<_, crate::spin::Spin>(
                        &mut linker,
                        ComponentHost::spin,
                    )
                    .expect("spin:*@3.0.0 links beside WASI 0.3");
                } else {
                    crate::spin::Spin5Host::add_to_linker::<_, crate::spin::Spin>(
                        &mut linker,
                        ComponentHost::spin,
                    )
                    .expect("spin:sqlite@3.0.0 and spin:postgres@4.0.0 link beside WASI 0.2");
                }
            }
            linker
        })
    }
}

/// The one thread per runtime that advances the epoch of its engines; stopped when the runtime
/// is dropped. (`wasmtime serve` once started one per request and lost orders of magnitude:
/// wasmtime #11814.)
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
}

impl EpochTicker {
    fn start(engines: [Arc<OnceLock<Engines>>; 4]) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("skiff-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    for engines in engines.iter().filter_map(|e| e.get()) {
                        engines.engine.increment_epoch();
                    }
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

#[cfg(test)]
mod tests {
    use wasmtime::WasmFeatures;

    use super::*;

    /// What `wasmtime run` 48.0.8 enables by default on x86-64 Linux: wasmtime's
    /// `Config::features()` with the CLI's default cargo features (`gc`, `threads`,
    /// `component-model-async`, ...) and no `-W` flags.
    const WASMTIME_RUN_DEFAULTS: WasmFeatures = WasmFeatures::WASM3
        .union(WasmFeatures::GC_TYPES)
        .union(WasmFeatures::COMPONENT_MODEL)
        .union(WasmFeatures::CM_ASYNC);

    #[test]
    fn wasm_features_match_the_cli() {
        let pooling = Some(Pooling { max_instances: 2 });
        for (engines, concurrent) in [
            (
                Engines::new(None, None, true, true, &WasmOptions::default()),
                true,
            ),
            (
                Engines::new(None, None, false, true, &WasmOptions::default()),
                true,
            ),
            (
                Engines::new(None, pooling, true, true, &WasmOptions::default()),
                true,
            ),
            (
                Engines::new(None, None, true, false, &WasmOptions::default()),
                false,
            ),
            (
                Engines::new(None, pooling, true, false, &WasmOptions::default()),
                false,
            ),
        ] {
            let features = engines.unwrap().engine.get_wasm_features();
            // The engines without concurrency leave its proposal off; a program that uses it
            // is loaded by a concurrent one.
            let expected = match concurrent {
                true => WASMTIME_RUN_DEFAULTS,
                false => WASMTIME_RUN_DEFAULTS.difference(WasmFeatures::CM_ASYNC),
            };
            assert_eq!(
                features,
                expected,
                "missing: {:?}, extra: {:?}",
                WASMTIME_RUN_DEFAULTS.difference(features),
                features.difference(WASMTIME_RUN_DEFAULTS),
            );
        }
    }

    /// A module `wasmtime compile` makes (wasmtime's default settings) runs with
    /// `--allow-precompiled` in the engine `skiff run` uses in the foreground, and is refused as
    /// native code without it.
    #[tokio::test]
    async fn precompiled_modules_of_wasmtimes_defaults_run_when_allowed() {
        let wasm = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                (memory (export "memory") 1)
                (func (export "_start") (call $exit (i32.const 7))))"#,
        )
        .unwrap();
        let cwasm = Engine::default().precompile_module(&wasm).unwrap();
        let path = std::env::temp_dir().join(format!("skiff-{}.cwasm", std::process::id()));
        std::fs::write(&path, cwasm).unwrap();
        let runtime = |allow_precompiled| {
            Runtime::new(RuntimeConfig {
                allow_precompiled,
                interrupt: Interrupt::ExitProcess {
                    report: Arc::new(|_| {}),
                },
                ..RuntimeConfig::default()
            })
            .unwrap()
        };
        let app = runtime(true).load_file(&path, &mut |_| {});
        let refused = runtime(false).load_file(&path, &mut |_| {});
        std::fs::remove_file(&path).unwrap();
        let exit = app
            .unwrap()
            .run(crate::RunOptions::default())
            .await
            .unwrap();
        assert!(matches!(exit, Exit::Code(7)), "{exit:?}");
        assert!(matches!(refused, Err(crate::LoadError::Native { .. })));
    }

    /// HTTP handlers come from the instance pool: GC heaps (which exceptions use too), 64-bit
    /// and several memories must fit its slots.
    #[tokio::test]
    async fn pooled_instances_use_gc_exceptions_and_memories() {
        let engines = Engines::new(
            None,
            Some(Pooling { max_instances: 2 }),
            true,
            false,
            &WasmOptions::default(),
        )
        .unwrap();
        let wasm = wat::parse_str(
            r#"(module
                (type $box (struct (field i64)))
                (tag $found (param (ref $box)))
                (memory $small 1)
                (memory $wide i64 1)
                (func (export "run") (result i64)
                    (i64.store $wide (i64.const 8) (i64.const 40))
                    (i64.store $small (i32.const 8) (i64.const 2))
                    (block $caught (result (ref $box))
                        (try_table (catch $found $caught)
                            (throw $found (struct.new $box
                                (i64.add (i64.load $wide (i64.const 8))
                                    (i64.load $small (i32.const 8))))))
                        unreachable)
                    (struct.get $box 0)))"#,
        )
        .unwrap();
        let module = wasmtime::Module::new(&engines.engine, wasm).unwrap();
        // Twice, so the second instance reuses the first one's slots.
        for _ in 0..2 {
            let mut store = wasmtime::Store::new(&engines.engine, ());
            // No ticker here: the epoch stays 0.
            store.set_epoch_deadline(1);
            let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
                .await
                .unwrap();
            let run = instance
                .get_typed_func::<(), i64>(&mut store, "run")
                .unwrap();
            assert_eq!(run.call_async(&mut store, ()).await.unwrap(), 42);
        }
    }
}
