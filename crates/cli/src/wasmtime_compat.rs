//! `wasmtime run`'s and `wasmtime serve`'s own options on `skiff run` and `skiff serve`, so that a
//! command line written for wasmtime (a test runner, a Makefile, a `CARGO_TARGET_*_RUNNER`) runs
//! under Skiff unchanged: the `-S` (WASI), `-W` (WebAssembly), `-O`, `-C` and `-D` (compiler)
//! option lists, `--config` (wasmtime's TOML file of them), `--preload`, `--allow-precompiled`
//! (and `run`'s `--argv0`, in its own file), and `wasmtime serve`'s own options. What has a Skiff
//! meaning takes it: `-S inherit-env` is `-e` for every variable, `-W timeout` is `--timeout`, `-W
//! max-memory-size` is `--memory`; what is always on in Skiff, as in wasmtime's defaults, is
//! accepted; the settings of an engine or a store (`-W fuel`, `-S max-resources`, `-O
//! opt-level`, ...) go to the runtime with wasmtime's meaning, for a process that runs one app;
//! anything else is refused naming what to do instead, never silently ignored.

use std::path::{Path, PathBuf};

use clap::Args;
use skiff_capabilities::{ByteSize, NetworkPolicy};
use skiff_runtime::{Codegen, PoolOptions, UnknownImports, Unlinked, WasmFeatures, WasmOptions};

use crate::errors::user_error;
use crate::settings::{GrantFlags, LimitFlags};

/// `wasmtime run` and `wasmtime serve` options, for command lines written for them.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "As `wasmtime run` and `wasmtime serve`")]
pub struct WasmtimeFlags {
    /// WASI options: `inherit-env` (grant every variable of this environment, as `-e` for each);
    /// `inherit-network` (the host's whole network, as `--network host`);
    /// `config-var=NAME=VALUE` (what `wasi:config/store` answers);
    /// `keyvalue-in-memory-data=KEY=VALUE` (what a `wasi:keyvalue` store starts with);
    /// `cwd=DIR` (as `-w`); `nn` (grant wasi-nn: models run on the host's OpenVINO) and
    /// `nn-graph=ENCODING::DIR` (a model loaded before the app starts, opened by DIR's name);
    /// `http`, `config`, `keyvalue`, `tls`, `p3`, `preview0` (linked already; `=n` leaves one
    /// out, refusing a program that imports it, as wasmtime); `cli-exit-with-code`,
    /// `network-error-code` (linked always); `tcp`, `udp`, `allow-ip-name-lookup` (sockets and
    /// name lookups, on where a grant reaches them; these switch them on or off as in wasmtime);
    /// `cli`, `preview2`, `inherit-stdin|stdout|stderr` (on already; where sockets may connect
    /// is `--network`);
    /// `threads` (a program that spawns threads is refused when it loads, naming the import);
    /// in the foreground and `skiff serve`, WASI's limits on each instance: `max-resources=N`
    /// (handles held at once), `max-random-size`, `max-http-fields-size`, `hostcall-fuel`,
    /// `max-component-handles`, `http-outgoing-body-buffer-chunks`,
    /// `http-outgoing-body-chunk-size`; repeatable or comma-separated
    #[arg(short = 'S', long = "wasi", value_name = "OPT[=y|n][,...]")]
    pub wasi: Vec<String>,
    /// WebAssembly options, as `wasmtime run` takes them: `timeout=DURATION` (as `--timeout`),
    /// `max-memory-size=BYTES` (as `--memory`, which counts all memories together); the
    /// proposals `wasmtime run` enables by default (on already, e.g. `gc`; `=n` turns one off) and
    /// those it leaves off (`wide-arithmetic`, `custom-page-sizes`, `component-model-*`,
    /// `all-proposals`); and, in the foreground: `fuel=N`, `max-wasm-stack=BYTES`,
    /// `async-stack-size=BYTES`, `max-table-elements=N`, `max-instances=N`, `max-tables=N`,
    /// `max-memories=N`, `trap-on-grow-failure`, `nan-canonicalization`,
    /// `relaxed-simd-deterministic`, `unknown-imports-trap` and `unknown-imports-default`
    /// (imported functions Skiff does not provide trap, or return zeros); repeatable or
    /// comma-separated
    #[arg(short = 'W', long = "wasm", value_name = "OPT[=VALUE][,...]")]
    pub wasm: Vec<String>,
    /// `wasmtime run`'s compiler, memory-layout and debugging options (`-O opt-level`, `-C
    /// cache`, `-D coredump=PATH`, ...): those Skiff takes have wasmtime's meaning, the rest are
    /// refused by name, with what to do instead (not clap's unknown-option error).
    #[arg(short = 'O', long = "optimize", hide = true)]
    optimize: Vec<String>,
    #[arg(short = 'C', long = "codegen", hide = true)]
    codegen: Vec<String>,
    #[arg(short = 'D', long = "debug", hide = true)]
    debug: Vec<String>,
    /// As `wasmtime run --profile=perfmap`: name the compiled functions in `/tmp/perf-PID.map`,
    /// so that `perf record` and `perf report` show the program's own functions
    #[arg(long, value_name = "perfmap")]
    profile: Option<String>,
    /// `wasmtime run`'s recording, cross-compilation and debugger (`-g`) options: taken only to
    /// be refused by name (not clap's unknown-option error).
    #[arg(short = 'R', long = "record", hide = true)]
    record: Vec<String>,
    #[arg(long, hide = true)]
    target: Option<String>,
    #[arg(short = 'g', long = "gdbstub", hide = true)]
    gdbstub: Option<String>,
    /// Also run a module or component `wasmtime compile` made (a `.cwasm`), as `wasmtime run
    /// --allow-precompiled` does: native code, to be trusted as your own (in the foreground)
    #[arg(long)]
    allow_precompiled: bool,
    /// A core module the app may import from, under NAME, as `wasmtime run --preload`: it is
    /// instantiated before the app, in the same sandbox (in the foreground); repeatable
    #[arg(long = "preload", value_name = "NAME=PATH", value_parser = parse_preload)]
    preloads: Vec<(String, PathBuf)>,
    /// wasmtime's TOML file of these options, as `wasmtime run --config`: its `[wasm]`, `[wasi]`,
    /// `[optimize]`, `[codegen]` and `[debug]` tables, taken as `-W`, `-S`, `-O`, `-C`, `-D`
    /// before those of the command line
    #[arg(long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
}

fn parse_preload(spec: &str) -> Result<(String, PathBuf), String> {
    match spec.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "`{spec}` is not NAME=PATH (e.g. `--preload env=./libenv.wasm`)"
        )),
    }
}

/// How a program is loaded and run, as `wasmtime run`'s options ask: settings of the engine
/// and linker of a process that runs one app (so not of the daemon's, which all apps share).
#[derive(Debug)]
pub struct Loading {
    /// What the imports no host provides become (`-W unknown-imports-*`).
    pub unknown_imports: UnknownImports,
    /// The modules it may import from (`--preload`).
    pub preloads: Vec<(String, PathBuf)>,
    /// How its engine compiles and runs it (`-W fuel`, `max-wasm-stack`, `wide-arithmetic`...).
    pub wasm: WasmOptions,
    /// Whether compiled code is kept in Skiff's cache (`-C cache=n`: not).
    pub compile_cache: bool,
    /// Whether a precompiled `.cwasm` may run (`--allow-precompiled`).
    pub allow_precompiled: bool,
    /// Where a trap's core dump is written (`-D coredump=PATH`).
    pub core_dump: Option<PathBuf>,
    /// The WASI interfaces `-S NAME=n` leaves out (`http`, `p3`, ...).
    pub unlinked: Vec<Unlinked>,
    /// The first option that changed `wasm`, to name it.
    engine_option: Option<String>,
}

impl Loading {
    /// The flag that asked for something other than the default, if any.
    pub fn given(&self) -> Option<&str> {
        match self.unknown_imports {
            UnknownImports::Trap => return Some("-W unknown-imports-trap"),
            UnknownImports::DefaultValues => return Some("-W unknown-imports-default"),
            UnknownImports::Refuse => {}
        }
        if !self.preloads.is_empty() {
            return Some("--preload");
        }
        if self.allow_precompiled {
            return Some("--allow-precompiled");
        }
        if !self.unlinked.is_empty() {
            return Some("-S NAME=n");
        }
        self.engine_option.as_deref()
    }
}

/// `wasmtime serve`'s own options, for its command lines: what Skiff does already is taken.
#[derive(Debug, Args)]
#[command(next_help_heading = "As `wasmtime serve`")]
pub struct WasmtimeServeFlags {
    /// As `--max-concurrency` (beyond it, requests wait up to `--queue-timeout`)
    #[arg(long, value_name = "N")]
    max_concurrent_requests: Option<u32>,
    /// Taken: Skiff gives every request a fresh instance, which any reuse count allows
    #[arg(long, value_name = "N")]
    max_instance_reuse_count: Option<u64>,
    /// Taken: no instance serves two requests, at once or one after the other
    #[arg(long, value_name = "N")]
    max_instance_concurrent_reuse_count: Option<u64>,
    /// Taken: no instance waits between requests (it ends with its request)
    #[arg(long, value_name = "DURATION", value_parser = skiff_capabilities::parse_duration)]
    idle_instance_timeout: Option<std::time::Duration>,
    /// Taken: the handler's output is written as it is, with no prefix
    #[arg(long)]
    no_logging_prefix: bool,
    /// Set a request header before the handler sees it, replacing the client's (`NAME: VALUE`,
    /// or `@FILE` of one per line); repeatable
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Stop as on Ctrl-C when a connection is made to this address
    #[arg(long, value_name = "ADDR")]
    pub shutdown_addr: Option<std::net::SocketAddr>,
    /// The most connections held at once; more wait to be accepted
    #[arg(long, value_name = "N")]
    max_concurrent_connections: Option<usize>,
}

impl WasmtimeServeFlags {
    /// The headers `--header` sets, as `wasmtime serve` reads them.
    pub fn request_headers(&self) -> anyhow::Result<Vec<(http::HeaderName, http::HeaderValue)>> {
        let mut headers = Vec::new();
        for given in &self.headers {
            match given.strip_prefix('@') {
                Some(path) => {
                    let lines = std::fs::read_to_string(path).map_err(|e| {
                        user_error(
                            format!(
                                "cannot read the header file `{path}` of `--header @{path}`: {e}"
                            ),
                            "give a file of `NAME: VALUE` lines",
                        )
                    })?;
                    for line in lines.lines().filter(|line| !line.trim().is_empty()) {
                        headers.push(header(line)?);
                    }
                }
                None => headers.push(header(given)?),
            }
        }
        Ok(headers)
    }

    /// The most connections held at once, if a `wasmtime serve` option says.
    pub fn max_connections(&self) -> anyhow::Result<Option<usize>> {
        match self.max_concurrent_connections {
            Some(0) => Err(user_error(
                "`--max-concurrent-connections 0` would accept no connection",
                "give at least 1, e.g. `--max-concurrent-connections 100`",
            )),
            given => Ok(given),
        }
    }

    /// The handler instances alive at once, if a `wasmtime serve` option says.
    pub fn max_concurrency(&self) -> anyhow::Result<Option<u32>> {
        match self.max_concurrent_requests {
            Some(0) => Err(user_error(
                "`--max-concurrent-requests 0` would serve no request",
                "give at least 1, e.g. `--max-concurrent-requests 100`",
            )),
            given => Ok(given),
        }
    }
}

/// WASI interfaces Skiff always links (where sockets may connect is `--network`), and
/// `wasmtime run`'s defaults Skiff keeps (the app's stdio is the run's).
const WASI_ON_ALREADY: &[&str] = &[
    "cli",
    "common",
    "inherit-stdin",
    "inherit-stdout",
    "inherit-stderr",
    "preview2",
];

impl WasmtimeFlags {
    /// `-O`, `-C` and `-D`: how code is compiled and memories are laid out, and what a trap
    /// leaves behind (`-D coredump`: the file `core_dump` names), taken with wasmtime's meaning;
    /// whether compiled code is cached (`-C cache`). What Skiff cannot honour (another compiler or
    /// collector, a debugger) is refused.
    fn compiler_options(
        &self,
        codegen: &mut Codegen,
        core_dump: &mut Option<PathBuf>,
    ) -> anyhow::Result<bool> {
        let mut cache = true;
        match self.profile.as_deref() {
            None => {}
            Some("perfmap") => codegen.perfmap = true,
            Some(other) => {
                return Err(user_error(
                    format!("`--profile {other}` is a profiler Skiff does not have built in"),
                    "give `--profile=perfmap` and profile with `perf record` (it names the \
                     program's functions), or drop it",
                ));
            }
        }
        if let Some(option) = self.record.first() {
            return Err(user_error(
                format!("`-R {option}`: Skiff does not record runs for replay"),
                "drop it; `wasmtime run -R` records a run for `wasmtime replay`",
            ));
        }
        if let Some(address) = &self.gdbstub {
            return Err(user_error(
                format!("`-g {address}`: Skiff has no debugger stub built in"),
                "drop it; to step through the program, run it with `wasmtime run -g` (or \
                 `-D debug-info` and a native debugger)",
            ));
        }
        if let Some(target) = &self.target {
            return Err(user_error(
                format!("`--target {target}`: Skiff compiles for the machine it runs on"),
                "drop it",
            ));
        }
        for (flag, given) in [
            ("-O", &self.optimize),
            ("-C", &self.codegen),
            ("-D", &self.debug),
        ] {
            for (key, value) in options(given) {
                match (flag, key) {
                    ("-O", "opt-level") => {
                        codegen.opt_level = Some(match value {
                            Some("0") => skiff_runtime::OptLevel::None,
                            Some("1" | "2") => skiff_runtime::OptLevel::Speed,
                            Some("s") => skiff_runtime::OptLevel::SpeedAndSize,
                            _ => {
                                return Err(user_error(
                                    format!("`-O opt-level` takes 0, 1, 2 or s, not {value:?}"),
                                    "e.g. `-O opt-level=0`",
                                ));
                            }
                        });
                    }
                    ("-O", "memory-reservation") => {
                        codegen.memory_reservation = Some(number(flag, key, value, "4294967296")?);
                    }
                    ("-O", "memory-guard-size" | "dynamic-memory-guard-size") => {
                        codegen.memory_guard_size = Some(number(flag, key, value, "33554432")?);
                    }
                    ("-O", "memory-reservation-for-growth") => {
                        codegen.memory_reservation_for_growth =
                            Some(number(flag, key, value, "2147483648")?);
                    }
                    ("-O", "memory-may-move") => {
                        codegen.memory_may_move = Some(switch(flag, key, value)?);
                    }
                    ("-O", "guard-before-linear-memory") => {
                        codegen.guard_before_linear_memory = Some(switch(flag, key, value)?);
                    }
                    ("-O", "memory-init-cow") => {
                        codegen.memory_init_cow = Some(switch(flag, key, value)?);
                    }
                    ("-O", "table-lazy-init") => {
                        codegen.table_lazy_init = Some(switch(flag, key, value)?);
                    }
                    ("-O", "signals-based-traps") => {
                        codegen.signals_based_traps = Some(switch(flag, key, value)?);
                    }
                    ("-O", "pooling-allocator") => {
                        codegen.pool.allocator = Some(switch(flag, key, value)?);
                    }
                    ("-O", _) if key.starts_with("pooling-") => {
                        pool_option(&mut codegen.pool, key, value)?;
                    }
                    ("-C", "cache") => cache = switch(flag, key, value)?,
                    ("-C", "parallel-compilation") => {
                        codegen.parallel_compilation = Some(switch(flag, key, value)?);
                    }
                    ("-C", "native-unwind-info") => {
                        codegen.native_unwind_info = Some(switch(flag, key, value)?);
                    }
                    ("-C", "compiler") => {
                        codegen.compiler = Some(choice(
                            flag,
                            key,
                            value,
                            &[
                                ("cranelift", skiff_runtime::Strategy::Cranelift),
                                ("winch", skiff_runtime::Strategy::Winch),
                            ],
                        )?);
                    }
                    ("-C", "collector") => {
                        codegen.collector = Some(choice(
                            flag,
                            key,
                            value,
                            &[
                                ("copying", skiff_runtime::Collector::Copying),
                                ("drc", skiff_runtime::Collector::DeferredReferenceCounting),
                                ("null", skiff_runtime::Collector::Null),
                            ],
                        )?);
                    }
                    ("-O", "regalloc-algorithm") => {
                        codegen.regalloc_algorithm = Some(choice(
                            flag,
                            key,
                            value,
                            &[
                                (
                                    "backtracking",
                                    skiff_runtime::RegallocAlgorithm::Backtracking,
                                ),
                                ("single-pass", skiff_runtime::RegallocAlgorithm::SinglePass),
                            ],
                        )?);
                    }
                    ("-C", "inlining") => {
                        codegen.inlining = Some(match value {
                            None => skiff_runtime::Inlining::Yes,
                            Some(value) => value.parse().map_err(|_| {
                                user_error(
                                    format!("`-C inlining={value}`: not y, n, gc, inter-module or intrinsics"),
                                    "e.g. `-C inlining=y`",
                                )
                            })?,
                        });
                    }
                    ("-C", "cranelift-debug-verifier") => {
                        codegen.cranelift_debug_verifier = Some(switch(flag, key, value)?);
                    }
                    ("-C", "metadata-for-internal-asserts") => {
                        codegen.metadata_for_internal_asserts = Some(switch(flag, key, value)?);
                    }
                    ("-C", "metadata-for-gc-heap-corruption") => {
                        codegen.metadata_for_gc_heap_corruption = Some(switch(flag, key, value)?);
                    }
                    ("-O", "gc-heap-may-move") => {
                        codegen.gc_heap_may_move = Some(switch(flag, key, value)?);
                    }
                    ("-O", "gc-heap-reservation") => {
                        codegen.gc_heap_reservation = Some(number(flag, key, value, "4294967296")?);
                    }
                    ("-O", "gc-heap-reservation-for-growth") => {
                        codegen.gc_heap_reservation_for_growth =
                            Some(number(flag, key, value, "2147483648")?);
                    }
                    ("-O", "gc-heap-guard-size") => {
                        codegen.gc_heap_guard_size = Some(number(flag, key, value, "33554432")?);
                    }
                    ("-O", "gc-heap-initial-size") => {
                        codegen.gc_heap_initial_size = Some(number(flag, key, value, "65536")?);
                    }
                    ("-D", "debug-info") => codegen.debug_info = Some(switch(flag, key, value)?),
                    ("-D", "address-map") => {
                        codegen.address_map = Some(switch(flag, key, value)?);
                    }
                    // Skiff's diagnostics, filtered by `SKIFF_LOG` or wasmtime's `WASMTIME_LOG`;
                    // off with `=n` (`logging_off`).
                    ("-D", "logging") => {
                        switch(flag, key, value)?;
                    }
                    ("-D", "coredump") => {
                        let path =
                            value.ok_or_else(|| missing_value(flag, key, "./app.coredump"))?;
                        if path.contains('%') {
                            return Err(user_error(
                                format!(
                                    "`-D coredump={path}`: a pattern, which wasmtime does not take either"
                                ),
                                "give the file's path, e.g. `-D coredump=./app.coredump`",
                            ));
                        }
                        codegen.coredump_on_trap = true;
                        *core_dump = Some(PathBuf::from(path));
                    }
                    ("-D", "max-backtrace") => {
                        codegen.max_backtrace = Some(number(flag, key, value, "20")?);
                    }
                    _ => {
                        let option = value.map_or(key.to_string(), |v| format!("{key}={v}"));
                        return Err(user_error(
                            format!(
                                "`{flag} {option}` is a `wasmtime run` option Skiff does not take"
                            ),
                            "drop it: the program runs the same. Skiff takes `-O opt-level`, \
                             `memory-reservation`, `memory-guard-size`, `memory-may-move`, \
                             `table-lazy-init`, `signals-based-traps`, `regalloc-algorithm`, \
                             `gc-heap-*`, `pooling-allocator`, `pooling-*` (...), `-C compiler`, \
                             `collector`, `cache`, `parallel-compilation`, `inlining` (...), \
                             `-D debug-info`, `address-map`, `coredump`, `max-backtrace`, \
                             `logging`",
                        ));
                    }
                }
            }
        }
        Ok(cache)
    }
}

/// Proposals `wasmtime run` 48 turns on by default, which Skiff runs too (decision 0003).
const ON_ALREADY: &[(&str, WasmFeatures)] = &[
    ("bulk-memory", WasmFeatures::BULK_MEMORY),
    ("multi-value", WasmFeatures::MULTI_VALUE),
    ("reference-types", WasmFeatures::REFERENCE_TYPES),
    ("simd", WasmFeatures::SIMD),
    ("relaxed-simd", WasmFeatures::RELAXED_SIMD),
    ("tail-call", WasmFeatures::TAIL_CALL),
    ("threads", WasmFeatures::THREADS),
    ("multi-memory", WasmFeatures::MULTI_MEMORY),
    ("memory64", WasmFeatures::MEMORY64),
    ("extended-const", WasmFeatures::EXTENDED_CONST),
    ("function-references", WasmFeatures::FUNCTION_REFERENCES),
    ("gc", WasmFeatures::GC),
    ("exceptions", WasmFeatures::EXCEPTIONS),
    ("component-model", WasmFeatures::COMPONENT_MODEL),
    ("component-model-async", WasmFeatures::CM_ASYNC),
];

impl WasmtimeFlags {
    /// Folds the `-S` and `-W` options into Skiff's own grant and limit flags; returns how the
    /// program is to be loaded.
    pub fn apply(
        &self,
        grants: &mut GrantFlags,
        limits: &mut LimitFlags,
    ) -> anyhow::Result<Loading> {
        match &self.config {
            Some(path) => self.with_config_file(path)?.apply_options(grants, limits),
            None => self.apply_options(grants, limits),
        }
    }

    /// `-D logging=n`: no diagnostics at all, as wasmtime then sets up no logger (a config file
    /// that cannot be read is reported when the options are applied).
    pub fn logging_off(&self) -> bool {
        let from_file = self
            .config
            .as_deref()
            .map(|path| self.with_config_file(path));
        let flags = match &from_file {
            Some(Ok(merged)) => merged,
            _ => self,
        };
        options(&flags.debug)
            .filter(|(key, _)| *key == "logging")
            .last()
            .is_some_and(|(_, value)| matches!(value, Some("n" | "no" | "false")))
    }

    /// These options with those of wasmtime's TOML configuration file first.
    fn with_config_file(&self, path: &Path) -> anyhow::Result<WasmtimeFlags> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            user_error(
                format!("cannot read `--config {}`: {e}", path.display()),
                "give wasmtime's TOML file of options, e.g. `[wasm]` and `fuel = 1000000`",
            )
        })?;
        let bad = |why: String| {
            user_error(
                format!("`--config {}`: {why}", path.display()),
                "as `wasmtime run --config`: tables `[wasm]`, `[wasi]`, `[optimize]`, \
                 `[codegen]`, `[debug]` of `key = value` (e.g. `[wasm]` and `fuel = 1000000`)",
            )
        };
        let table: toml::Table = text.parse().map_err(|e| bad(format!("{e}")))?;
        let mut merged = self.clone();
        merged.config = None;
        for (section, options) in table {
            let list = match section.as_str() {
                "wasm" => &mut merged.wasm,
                "wasi" => &mut merged.wasi,
                "optimize" => &mut merged.optimize,
                "codegen" => &mut merged.codegen,
                "debug" => &mut merged.debug,
                _ => return Err(bad(format!("`[{section}]` is not a table Skiff takes"))),
            };
            let toml::Value::Table(options) = options else {
                return Err(bad(format!("`{section}` is not a table")));
            };
            let mut given = Vec::new();
            for (key, value) in options {
                toml_option(&key, &value, &mut given).map_err(|()| {
                    bad(format!(
                        "`{key}` in `[{section}]` has a value Skiff cannot read"
                    ))
                })?;
            }
            list.splice(0..0, given);
        }
        Ok(merged)
    }

    fn apply_options(
        &self,
        grants: &mut GrantFlags,
        limits: &mut LimitFlags,
    ) -> anyhow::Result<Loading> {
        let mut unknown_imports = UnknownImports::Refuse;
        let mut unlinked = Vec::new();
        let mut wasm = WasmOptions::default();
        let mut core_dump = None;
        let compile_cache = self.compiler_options(&mut wasm.codegen, &mut core_dump)?;
        let mut engine_option =
            (wasm != WasmOptions::default() || !compile_cache).then(|| "-O, -C or -D".to_string());
        for (key, value) in options(&self.wasi) {
            let before = wasm.clone();
            match key {
                "inherit-env" => {
                    if switch("-S", key, value)? {
                        // `-e KEY` for each, first: a `-e` given beside it still wins.
                        let keys = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
                        grants.env.splice(0..0, keys);
                    }
                }
                // wasi-threads only links `thread-spawn` for a program that imports it: for any
                // other it changes nothing, in wasmtime too, and Skiff refuses one that does
                // when it loads, naming the import (shared memories: decision 0003).
                "threads" => {
                    switch("-S", key, value)?;
                }
                // wasi-nn is a grant: it loads a native runtime (OpenVINO) into this process.
                "nn" => {
                    grants.nn =
                        switch("-S", key, value)?.then(|| grants.nn.take().unwrap_or_default());
                }
                "nn-graph" => {
                    let spec =
                        value.ok_or_else(|| missing_value("-S", key, "openvino::./model"))?;
                    let graph = spec.parse().map_err(|reason| {
                        user_error(
                            format!("`-S nn-graph={spec}`: {reason}"),
                            "give `-S nn-graph=ENCODING::DIR`, e.g. `openvino::./mobilenet` (a \
                             directory of `model.xml` and `model.bin`, loaded as `mobilenet`)",
                        )
                    })?;
                    grants.nn.get_or_insert_default().graphs.push(graph);
                }
                "config-var" | "keyvalue-in-memory-data" => {
                    let (name, value) = value.and_then(|v| v.split_once('=')).ok_or_else(|| {
                        user_error(
                            format!("`-S {key}` needs a name and a value"),
                            format!("give `-S {key}=NAME=VALUE`"),
                        )
                    })?;
                    let list = match key {
                        "config-var" => &mut grants.config,
                        _ => &mut grants.keyvalue,
                    };
                    list.push((name.to_string(), value.to_string()));
                }
                // WASI's limits on each store, as wasmtime sets them.
                "max-resources" => {
                    wasm.store.max_resources = Some(number("-S", key, value, "4096")?);
                }
                "hostcall-fuel" => {
                    wasm.store.hostcall_fuel = Some(number("-S", key, value, "134217728")?);
                }
                "max-component-handles" => {
                    wasm.store.max_component_handles = Some(number("-S", key, value, "100000")?);
                }
                "max-random-size" => {
                    wasm.store.max_random_size = Some(number("-S", key, value, "67108864")?);
                }
                "max-http-fields-size" => {
                    wasm.store.max_http_fields_size = Some(number("-S", key, value, "131072")?);
                }
                "http-outgoing-body-buffer-chunks" => {
                    wasm.store.http_outgoing_body_buffer_chunks =
                        Some(number("-S", key, value, "4")?);
                }
                "http-outgoing-body-chunk-size" => {
                    wasm.store.http_outgoing_body_chunk_size =
                        Some(number("-S", key, value, "4194304")?);
                }
                // wasmtime's `initial-cwd`; Skiff's `-w` also resolves relative paths there.
                "cwd" => {
                    let dir = value.ok_or_else(|| missing_value("-S", key, "/data"))?;
                    set_once(&mut grants.workdir, dir.to_string(), "-S cwd", "-w")?;
                    grants.workdir_unchecked = true;
                }
                // Left out as wasmtime leaves it out: a program that imports it is refused.
                _ if let Some(interface) = Unlinked::named(key) => {
                    let off = !switch("-S", key, value)?;
                    unlinked.retain(|u| *u != interface);
                    if off {
                        unlinked.push(interface);
                    }
                }
                // wasmtime 48 cannot turn `cli-exit-with-code` off (it warns), and links
                // `network-error-code` only when asked; Skiff links both, whatever the switch.
                "cli-exit-with-code" | "network-error-code" => {
                    switch("-S", key, value)?;
                }
                _ if WASI_ON_ALREADY.contains(&key) => {
                    if !switch("-S", key, value)? {
                        return Err(user_error(
                            format!("`-S {key}=n`: Skiff cannot turn {key} off"),
                            "drop the option; an app reaches only what its grants allow (`--network`, `-v`, `-e`)",
                        ));
                    }
                }
                // A socket interface switched on or off, whatever the grants reach.
                "tcp" => grants.sockets.tcp = Some(switch("-S", key, value)?),
                "udp" => grants.sockets.udp = Some(switch("-S", key, value)?),
                "allow-ip-name-lookup" => {
                    grants.sockets.ip_name_lookup = Some(switch("-S", key, value)?);
                }
                // The host's whole network, as wasmtime gives it: `--network host`.
                "inherit-network" => {
                    if switch("-S", key, value)? {
                        let flag = grants.network.get_or_insert_default();
                        flag.policy = NetworkPolicy::Host;
                    }
                }
                _ => {
                    return Err(user_error(
                        format!("`-S {key}` is a `wasmtime run` option Skiff does not support"),
                        "drop it: Skiff takes `-S inherit-env`, `threads`, `nn`, `nn-graph`, \
                         WASI's limits (`max-resources`, ...) and the options it has on already (`cli`, `http`, `p3`, `tcp`, ...); `skiff run --help` \
                         lists them, and Skiff's own grants and limits",
                    ));
                }
            }
            if wasm != before {
                engine_option.get_or_insert(format!("-S {key}"));
            }
        }
        for (key, value) in options(&self.wasm) {
            let before = wasm.clone();
            match key {
                "timeout" => {
                    let value = value.ok_or_else(|| missing_value("-W", key, "10s"))?;
                    let timeout = skiff_capabilities::parse_duration(value).map_err(|e| {
                        user_error(
                            format!("`-W timeout={value}`: {e}"),
                            "e.g. `-W timeout=10s`",
                        )
                    })?;
                    set_once(&mut limits.timeout, timeout, "-W timeout", "--timeout")?;
                }
                "max-memory-size" => {
                    let size = bytes("-W", key, value, "67108864")?;
                    set_once(&mut limits.memory, size, "-W max-memory-size", "--memory")?;
                }
                // Both given: traps, as in wasmtime (which stubs with traps first).
                "unknown-imports-trap" | "unknown-imports-default" => {
                    if switch("-W", key, value)? {
                        unknown_imports = match (key, unknown_imports) {
                            ("unknown-imports-trap", _) | (_, UnknownImports::Trap) => {
                                UnknownImports::Trap
                            }
                            _ => UnknownImports::DefaultValues,
                        };
                    }
                }
                "max-wasm-stack" => {
                    wasm.max_wasm_stack = Some(stack_bytes(key, value, "8388608")?);
                }
                "async-stack-size" => {
                    wasm.async_stack_size = Some(stack_bytes(key, value, "9437184")?);
                }
                "fuel" => wasm.fuel = Some(number("-W", key, value, "1000000000")?),
                "max-table-elements" => {
                    wasm.store.max_table_elements = Some(number("-W", key, value, "100000")?);
                }
                "max-instances" => {
                    wasm.store.max_instances = Some(number("-W", key, value, "100")?)
                }
                "max-tables" => wasm.store.max_tables = Some(number("-W", key, value, "100")?),
                "max-memories" => wasm.store.max_memories = Some(number("-W", key, value, "100")?),
                "trap-on-grow-failure" => {
                    wasm.store.trap_on_grow_failure = switch("-W", key, value)?;
                }
                "async-stack-zeroing" => wasm.async_stack_zeroing = switch("-W", key, value)?,
                "nan-canonicalization" => wasm.nan_canonicalization = switch("-W", key, value)?,
                "relaxed-simd-deterministic" => {
                    wasm.relaxed_simd_deterministic = switch("-W", key, value)?;
                }
                "branch-hinting" => wasm.branch_hinting = switch("-W", key, value)?,
                // Where epoch checks are compiled in is Skiff's choice (they stop a guest at its
                // limits); with no limit they change nothing, in wasmtime too.
                "epoch-interruption" => {
                    switch("-W", key, value)?;
                }
                // A command preload's other exports are left out, not refused, always.
                "unknown-exports-allow" => {
                    switch("-W", key, value)?;
                }
                "all-proposals" => {
                    if !switch("-W", key, value)? {
                        return Err(user_error(
                            "`-W all-proposals=n`: Skiff runs every proposal `wasmtime run` \
                             enables by default, and cannot turn them off",
                            "drop `-W all-proposals=n`",
                        ));
                    }
                    wasm.proposals |= OFF_BY_DEFAULT
                        .iter()
                        .filter(|(name, _)| *name != "component-model-gc")
                        .fold(WasmFeatures::empty(), |all, (_, f)| all | *f);
                }
                "stack-switching" | "shared-memory" | "shared-everything-threads" | "wmemcheck" => {
                    return Err(user_error(
                        format!("`-W {key}` is a `wasmtime run` option Skiff does not support"),
                        match key {
                            "wmemcheck" => {
                                "drop it: it is a debugging aid of wasmtime's, not \
                                            built into Skiff"
                            }
                            "stack-switching" => {
                                "build the program without stack switching \
                                                  (a tier-3 proposal of wasmtime's, for x86-64 \
                                                  only, not built into Skiff)"
                            }
                            _ => {
                                "build the program single-threaded: Skiff creates no shared \
                                  memories (docs/decisions/0003)"
                            }
                        },
                    ));
                }
                proposal => {
                    let named = |table: &'static [(&str, WasmFeatures)]| {
                        table
                            .iter()
                            .find(|(name, _)| *name == proposal)
                            .map(|(_, f)| *f)
                    };
                    match (named(ON_ALREADY), named(OFF_BY_DEFAULT)) {
                        // One on by default, turned off as in wasmtime: a program that uses it
                        // is refused when it loads, naming it.
                        (Some(feature), _) => {
                            wasm.proposals_off.set(feature, !switch("-W", key, value)?);
                        }
                        (None, Some(feature)) => {
                            wasm.proposals.set(feature, switch("-W", key, value)?);
                        }
                        (None, None) => {
                            return Err(user_error(
                                format!("`-W {key}` is not a `wasmtime run` 48 option Skiff knows"),
                                "`skiff run --help` lists the `-W` options; Skiff's own limits are \
                                 `--memory`, `--cpu-time` and `--timeout`",
                            ));
                        }
                    }
                }
            }
            if wasm != before {
                engine_option.get_or_insert(format!("-W {key}"));
            }
        }
        Ok(Loading {
            unknown_imports,
            preloads: self.preloads.clone(),
            wasm,
            compile_cache,
            allow_precompiled: self.allow_precompiled,
            core_dump,
            unlinked,
            engine_option,
        })
    }
}

/// Proposals `wasmtime run` 48 leaves off unless asked, which Skiff turns on as it does.
const OFF_BY_DEFAULT: &[(&str, WasmFeatures)] = &[
    ("wide-arithmetic", WasmFeatures::WIDE_ARITHMETIC),
    ("custom-page-sizes", WasmFeatures::CUSTOM_PAGE_SIZES),
    (
        "component-model-more-async-builtins",
        WasmFeatures::CM_MORE_ASYNC_BUILTINS,
    ),
    (
        "component-model-async-stackful",
        WasmFeatures::CM_ASYNC_STACKFUL,
    ),
    ("component-model-threading", WasmFeatures::CM_THREADING),
    (
        "component-model-error-context",
        WasmFeatures::CM_ERROR_CONTEXT,
    ),
    ("component-model-gc", WasmFeatures::CM_GC),
    ("component-model-map", WasmFeatures::CM_MAP),
    ("component-model-memory64", WasmFeatures::CM64),
    (
        "component-model-fixed-length-lists",
        WasmFeatures::CM_FIXED_LENGTH_LISTS,
    ),
    ("component-model-implements", WasmFeatures::CM_IMPLEMENTS),
];

/// `NAME: VALUE`, as `wasmtime serve --header` reads it.
fn header(given: &str) -> anyhow::Result<(http::HeaderName, http::HeaderValue)> {
    let bad = |why: &str| {
        user_error(
            format!("`--header {given}`: {why}"),
            "give `NAME: VALUE`, e.g. `--header 'x-tenant: blue'`",
        )
    };
    let (name, value) = given.split_once(':').ok_or_else(|| bad("no `:`"))?;
    Ok((
        http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad("not a header name"))?,
        http::HeaderValue::from_str(value.trim_start()).map_err(|_| bad("not a header value"))?,
    ))
}

/// A `key = value` of a wasmtime TOML file as the options it stands for: `true` is `key`,
/// `false` is `key=n`, a number or string is `key=VALUE`, an array one option per item (a
/// `{ key, value }` table is `key=KEY=VALUE`, as `-S config-var=NAME=VALUE`).
fn toml_option(key: &str, value: &toml::Value, out: &mut Vec<String>) -> Result<(), ()> {
    match value {
        toml::Value::Boolean(true) => out.push(key.to_string()),
        toml::Value::Boolean(false) => out.push(format!("{key}=n")),
        toml::Value::Integer(n) => out.push(format!("{key}={n}")),
        toml::Value::String(s) => out.push(format!("{key}={s}")),
        toml::Value::Array(items) => {
            for item in items {
                match item {
                    toml::Value::Table(pair) => match (pair.get("key"), pair.get("value")) {
                        (Some(toml::Value::String(k)), Some(toml::Value::String(v))) => {
                            out.push(format!("{key}={k}={v}"));
                        }
                        _ => return Err(()),
                    },
                    item => toml_option(key, item, out)?,
                }
            }
        }
        _ => return Err(()),
    }
    Ok(())
}

/// `a,b=c` lists, as wasmtime splits them: (key, value if any).
fn options(lists: &[String]) -> impl Iterator<Item = (&str, Option<&str>)> {
    lists
        .iter()
        .flat_map(|list| list.split(','))
        .filter(|option| !option.is_empty())
        .map(|option| match option.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (option, None),
        })
}

/// A `-W` option's size in bytes (`example`: what the hint suggests).
fn bytes(flag: &str, key: &str, value: Option<&str>, example: &str) -> anyhow::Result<ByteSize> {
    let value = value.ok_or_else(|| missing_value(flag, key, example))?;
    value.parse().map_err(|e| {
        user_error(
            format!("`{flag} {key}={value}`: {e}"),
            format!("give bytes, e.g. `{flag} {key}={example}`"),
        )
    })
}

/// A stack size in bytes.
fn stack_bytes(key: &str, value: Option<&str>, example: &str) -> anyhow::Result<usize> {
    Ok(usize::try_from(bytes("-W", key, value, example)?.0).unwrap_or(usize::MAX))
}

/// An option's count (`example`: what the hint suggests), written as wasmtime reads one: in
/// decimal or `0x` hex, `_` between digits allowed (`4_294_967_296`).
fn number<T: TryFrom<u64>>(
    flag: &str,
    key: &str,
    value: Option<&str>,
    example: &str,
) -> anyhow::Result<T> {
    let value = value.ok_or_else(|| missing_value(flag, key, example))?;
    let digits = value.replace('_', "");
    let parsed = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    parsed
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            user_error(
                format!("`{flag} {key}={value}` is not a whole number this option can hold"),
                format!("e.g. `{flag} {key}={example}`"),
            )
        })
}

/// An option's value among `choices` (wasmtime's spelling, and what it means).
fn choice<T: Copy>(
    flag: &str,
    key: &str,
    value: Option<&str>,
    choices: &[(&str, T)],
) -> anyhow::Result<T> {
    let found = choices.iter().find(|(name, _)| Some(*name) == value);
    found.map(|&(_, meaning)| meaning).ok_or_else(|| {
        let names: Vec<String> = choices
            .iter()
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        user_error(
            format!(
                "`{flag} {key}` takes {}, not `{}`",
                names.join(", "),
                value.unwrap_or("")
            ),
            format!("e.g. `{flag} {key}={}`", choices[0].0),
        )
    })
}

/// `-O pooling-KEY=VALUE`: one of the pooling allocator's sizes or settings, as wasmtime names it.
fn pool_option(pool: &mut PoolOptions, key: &str, value: Option<&str>) -> anyhow::Result<()> {
    let name = key.strip_prefix("pooling-").unwrap_or(key);
    let n = |example| number::<u32>("-O", key, value, example).map(Some);
    let size = |example| number::<usize>("-O", key, value, example).map(Some);
    match name {
        "total-component-instances" => pool.total_component_instances = n("1000")?,
        "total-core-instances" => pool.total_core_instances = n("1000")?,
        "total-memories" => pool.total_memories = n("1000")?,
        "total-tables" => pool.total_tables = n("1000")?,
        "total-stacks" => pool.total_stacks = n("1000")?,
        "total-gc-heaps" => pool.total_gc_heaps = n("1000")?,
        "max-memory-size" => pool.max_memory_size = size("4294967296")?,
        "table-elements" => pool.table_elements = size("20000")?,
        "max-core-instance-size" => pool.max_core_instance_size = size("1048576")?,
        "max-component-instance-size" => pool.max_component_instance_size = size("1048576")?,
        "max-core-instances-per-component" => {
            pool.max_core_instances_per_component = n("50")?;
        }
        "max-memories-per-component" => pool.max_memories_per_component = n("20")?,
        "max-tables-per-component" => pool.max_tables_per_component = n("20")?,
        "max-tables-per-module" => pool.max_tables_per_module = n("1")?,
        "max-memories-per-module" => pool.max_memories_per_module = n("1")?,
        "memory-keep-resident" => pool.memory_keep_resident = size("65536")?,
        "table-keep-resident" => pool.table_keep_resident = size("65536")?,
        "async-stack-keep-resident" => pool.async_stack_keep_resident = size("65536")?,
        "max-unused-warm-slots" => pool.max_unused_warm_slots = n("100")?,
        "decommit-batch-size" => pool.decommit_batch_size = size("1")?,
        "pagemap-scan" => {
            pool.pagemap_scan = Some(match value {
                Some("auto") => skiff_runtime::Enabled::Auto,
                _ if switch("-O", key, value)? => skiff_runtime::Enabled::Yes,
                _ => skiff_runtime::Enabled::No,
            });
        }
        "memory-protection-keys" | "max-memory-protection-keys" => {
            return Err(user_error(
                format!("`-O {key}`: Skiff's wasmtime is built without memory protection keys"),
                "drop it: each instance's memory is kept apart by guard regions instead",
            ));
        }
        _ => {
            return Err(user_error(
                format!("`-O {key}` is not an option of wasmtime's pooling allocator"),
                "e.g. `-O pooling-total-memories=1000`, `-O pooling-max-memory-size=4294967296`",
            ));
        }
    }
    Ok(())
}

/// A boolean option's value as wasmtime reads it: none, `y`, `yes` or `true` is on.
fn switch(flag: &str, key: &str, value: Option<&str>) -> anyhow::Result<bool> {
    match value {
        None | Some("y" | "yes" | "true") => Ok(true),
        Some("n" | "no" | "false") => Ok(false),
        Some(other) => Err(user_error(
            format!("`{flag} {key}={other}`: expected y or n"),
            format!("give `{flag} {key}` or `{flag} {key}=n`"),
        )),
    }
}

fn missing_value(option: &str, key: &str, example: &str) -> anyhow::Error {
    user_error(
        format!("`{option} {key}` needs a value"),
        format!("e.g. `{option} {key}={example}`"),
    )
}

fn set_once<T>(slot: &mut Option<T>, value: T, given: &str, flag: &str) -> anyhow::Result<()> {
    if slot.is_some() {
        return Err(user_error(
            format!("`{given}` and `{flag}` both set the same thing"),
            format!("give only `{flag}`"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        grants: GrantFlags,
        #[command(flatten)]
        limits: LimitFlags,
        #[command(flatten)]
        wasmtime: WasmtimeFlags,
    }

    fn apply(args: &[&str]) -> anyhow::Result<(GrantFlags, LimitFlags)> {
        let cli = Cli::try_parse_from(std::iter::once("skiff").chain(args.iter().copied()))?;
        let (mut grants, mut limits) = (cli.grants, cli.limits);
        cli.wasmtime.apply(&mut grants, &mut limits)?;
        Ok((grants, limits))
    }

    #[test]
    fn linking_options_are_taken() {
        let cli = Cli::try_parse_from([
            "skiff",
            "--preload",
            "env=lib.wasm",
            "-W",
            "unknown-imports-default",
        ])
        .unwrap();
        let (mut grants, mut limits) = (cli.grants, cli.limits);
        let loading = cli.wasmtime.apply(&mut grants, &mut limits).unwrap();
        assert_eq!(loading.unknown_imports, UnknownImports::DefaultValues);
        assert_eq!(
            loading.preloads,
            [("env".to_string(), PathBuf::from("lib.wasm"))]
        );
        assert_eq!(loading.given(), Some("-W unknown-imports-default"));
    }

    #[test]
    fn limits_map_onto_skiffs_own() {
        let (_, limits) = apply(&["-W", "timeout=3s,max-memory-size=65536", "-W", "gc"]).unwrap();
        assert_eq!(limits.timeout, Some(Duration::from_secs(3)));
        assert_eq!(limits.memory, Some(ByteSize(65536)));
        let twice = apply(&["--timeout", "1s", "-W", "timeout=3s"]).unwrap_err();
        assert!(twice.to_string().contains("both set"), "{twice}");
    }

    /// What Skiff does already is taken: it compiles at `opt-level=2` and caches the code.
    #[test]
    fn compiler_options_skiff_follows_already_are_taken() {
        apply(&["-O", "opt-level=2", "-C", "cache", "-C", "cache=y"]).unwrap();
    }

    #[test]
    fn inherit_env_grants_every_variable_before_the_flags() {
        let (grants, _) = apply(&["-S", "inherit-env", "-e", "PATH=/x"]).unwrap();
        let path = grants.env.iter().position(|e| e == "PATH").unwrap();
        let flag = grants.env.iter().position(|e| e == "PATH=/x").unwrap();
        assert!(path < flag, "{:?}", grants.env);
        let (none, _) = apply(&["-S", "inherit-env=n,cli"]).unwrap();
        assert!(none.env.is_empty());
    }

    #[test]
    fn the_network_is_the_hosts_or_its_sockets_as_asked() {
        let (grants, _) = apply(&["-S", "inherit-network", "--network", "image"]).unwrap();
        let flag = grants.network.unwrap();
        assert_eq!(
            (flag.policy, flag.accept_image),
            (NetworkPolicy::Host, true)
        );
        let (grants, _) = apply(&["-S", "tcp=n,udp,allow-ip-name-lookup=n"]).unwrap();
        assert_eq!(
            grants.sockets,
            skiff_capabilities::SocketSwitches {
                tcp: Some(false),
                udp: Some(true),
                ip_name_lookup: Some(false)
            }
        );
    }

    #[test]
    fn nn_is_granted_with_its_graphs() {
        let (grants, _) = apply(&["-S", "nn"]).unwrap();
        assert_eq!(grants.nn, Some(Default::default()));
        let (grants, _) = apply(&["-S", "nn-graph=openvino::m/add-one,nn=y"]).unwrap();
        let graphs = grants.nn.unwrap().graphs;
        assert_eq!(graphs.len(), 1);
        assert_eq!(
            (graphs[0].encoding.as_str(), graphs[0].dir.to_str()),
            ("openvino", Some("m/add-one"))
        );
        let (grants, _) = apply(&["-S", "nn,nn=n"]).unwrap();
        assert_eq!(grants.nn, None);
    }

    #[test]
    fn what_skiff_cannot_honour_is_refused_naming_its_own_flag() {
        for (args, hint) in [
            (&["-W", "stack-switching"][..], "without stack switching"),
            (&["-W", "fuel"][..], "`-W fuel="),
            (&["-W", "all-proposals=n"][..], "drop `-W all-proposals=n`"),
            (&["-S", "nn-graph=openvino"][..], "ENCODING::DIR"),
            // An option with a value is named as unsupported, not taken for a bad `y|n`.
            (&["-S", "tcplisten=127.0.0.1:9000"][..], "inherit-env"),
            (&["-W", "no-such-option"][..], "--memory"),
            (
                &["-O", "pooling-no-such-size=1"][..],
                "pooling-total-memories",
            ),
            (
                &["-O", "pooling-total-memories=-1"][..],
                "pooling-total-memories=1000",
            ),
            (&["-C", "cranelift-opt_level=none"][..], "drop it"),
            (&["-D", "debugger=dbg.wasm"][..], "-D debug-info"),
            (
                &["-D", "coredump=core-%p"][..],
                "-D coredump=./app.coredump",
            ),
            (&["-O", "opt-level=3"][..], "opt-level=0"),
            (&["-g", "1234"][..], "wasmtime run -g"),
        ] {
            let e = apply(args).unwrap_err();
            let hint_text = &e.downcast_ref::<crate::errors::UserError>().unwrap().hint;
            assert!(hint_text.contains(hint), "{args:?}: {e} / {hint_text}");
        }
    }
}
