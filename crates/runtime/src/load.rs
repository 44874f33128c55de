//! From bytes to an [`App`]: detect the kind, compile or load from the cache, link, validate.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

use wasmparser::{Validator, WasmFeatures};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::Runtime;
use crate::engine::{ComponentExtras, Engines, Flavor, P1Extras, UnknownImports};
use crate::limits::CpuTurns;
use crate::run::{ComponentHost, P1Host, RunError};
use skiff_capabilities::wasi::PreparedGrants;

/// What kind of program an app is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// A WASI preview 1 core module: a command (`_start`) or a reactor (`_initialize`).
    Module,
    /// A WASI 0.2 or 0.3 component exporting `wasi:cli/run`.
    Component,
    /// A component exporting WASI 0.2's `wasi:http/incoming-handler` (the `wasi:http/proxy`
    /// world) or WASI 0.3's `wasi:http/handler` (the `wasi:http/service` world): served with a
    /// fresh instance per request.
    Http,
}

/// Reported around a compile, which can take minutes for large programs.
#[derive(Clone, Copy, Debug)]
pub enum CompileEvent {
    Started { wasm_bytes: usize },
    Finished { elapsed: Duration },
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("failed to read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{name}` is not a WebAssembly file: it is neither a binary (`\\0asm` header) nor text"
    )]
    NotWasm { name: String },
    /// An ELF file: a native program, or a module `wasmtime compile` made (`.cwasm`).
    #[error(
        "`{name}` is native code (an ELF file), not WebAssembly: a program built for this \
         machine, or a module precompiled by `wasmtime compile`"
    )]
    Native { name: String },
    /// `--allow-precompiled`, and wasmtime refuses the file for this engine.
    #[error("`{name}` was precompiled for another engine")]
    Precompiled {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{name}` is not valid WebAssembly text")]
    Wat {
        name: String,
        #[source]
        source: wat::Error,
    },
    #[error("`{name}` is not a valid WebAssembly {kind}")]
    Invalid {
        name: String,
        kind: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Valid WebAssembly, but it uses proposals that Skiff's engine leaves off: those `wasmtime
    /// run` of the same version leaves off by default too, and the component model's async ABI
    /// (docs/decisions/0003-wasm-features.md).
    #[error("`{name}` uses the WebAssembly {proposals}, which is not turned on")]
    Unsupported {
        name: String,
        /// E.g. "stack switching proposal", "wide arithmetic and custom page sizes proposals".
        proposals: String,
        /// What to do instead.
        hint: &'static str,
        /// Among them the component model's async ABI, which an engine with concurrency runs.
        async_abi: bool,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("`{name}` imports `{import}`, which Skiff does not provide")]
    UnknownImport { name: String, import: String },
    #[error(
        "`{name}` is a component: `-W unknown-imports-default` stubs the imports of core modules \
         only"
    )]
    DefaultValuesInComponent { name: String },
    #[error("`{name}` is a component: `--preload` links core modules only")]
    PreloadWithComponent { name: String },
    #[error("`{name}` needs imports that Skiff does not provide")]
    Link {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "`{name}` is neither a command nor an HTTP handler: it exports neither `wasi:cli/run` nor \
         `wasi:http/incoming-handler` (or WASI 0.3's `wasi:http/handler`){exports}"
    )]
    NotCommand { name: String, exports: String },
    #[error("`{name}` exports `{export}` of the wrong type")]
    BadExport {
        name: String,
        export: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot start the WebAssembly engine")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "`{name}` has an entry point of the wrong type: `{export}` must take and return nothing"
    )]
    BadEntry { name: String, export: String },
}

impl LoadError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            LoadError::Read { .. } => return None,
            LoadError::NotWasm { .. } | LoadError::Wat { .. } => {
                "give a `.wasm` binary (e.g. built with `cargo build --target wasm32-wasip1`) or a `.wat` text file"
            }
            LoadError::Native { .. } => {
                "give the `.wasm` it was built or compiled from: Skiff compiles a module once and \
                 keeps the machine code in its own cache, so nothing needs precompiling; or, for \
                 a module `wasmtime compile` made, run it as `wasmtime run` does, with \
                 `--allow-precompiled`"
            }
            LoadError::Precompiled { .. } => {
                "Skiff runs what `wasmtime compile` of wasmtime 48.0.8 makes with the `-W`, `-O` \
                 and `-C` options given to this run (and no `-W epoch-interruption`, nor `--cpus` \
                 here), as `wasmtime run --allow-precompiled` does; or give the `.wasm`"
            }
            LoadError::Invalid { .. } => {
                "the file may be truncated or corrupt; rebuild it, and check it with `wasm-tools validate`"
            }
            LoadError::Unsupported { hint, .. } => hint,
            LoadError::UnknownImport { import, .. } if import == "wasi::thread-spawn" => {
                "wasi-threads (`wasm32-wasip1-threads`; `wasmtime run -S threads`) is not \
                 supported: Skiff creates no shared memories (docs/decisions/0003); build for \
                 wasm32-wasip1, without threads"
            }
            // The wasi-testsuite's WASI 0.3 programs, and those of older `wasip3` crates.
            LoadError::Link { source, .. } if source.to_string().contains("@0.3.0-rc") => {
                "it was built against a release candidate of WASI 0.3 (`@0.3.0-rc-...` \
                 interfaces), which neither Skiff nor `wasmtime` 48 implements; rebuild it \
                 against WASI 0.3.0 (Rust: the `wasip3` crate 0.7) or 0.2 (wasm32-wasip2)"
            }
            // Components built with the Spin SDK that use Spin's host APIs Skiff lacks.
            LoadError::Link { source, .. }
                if ["`fermyon:spin/", "`spin:"]
                    .iter()
                    .any(|name| source.to_string().contains(name)) =>
            {
                "it uses a Spin host API Skiff does not provide (MQTT, or a newer one): Skiff \
                 provides Spin's variables, key-value stores, SQLite, outbound Redis, \
                 PostgreSQL, MySQL and HTTP, and LLM calls answered that no model runs here \
                 (Spin 1's unversioned `fermyon:spin`, `fermyon:spin` 2.0.0 of the Spin SDKs up \
                 to 5.x, the `spin:*` 3.x and 4.x of SDKs 5 and 7); run it with Spin, or keep to \
                 those, `wasi:http` and `wasi:cli`"
            }
            LoadError::PreloadWithComponent { .. } => {
                "compose the components into one instead (e.g. with `wac plug`), as `wasmtime \
                 run` would have you do"
            }
            LoadError::DefaultValuesInComponent { .. } => {
                "give `-W unknown-imports-trap` instead, as `wasmtime run` would have you do"
            }
            LoadError::UnknownImport { .. } => {
                "Skiff provides WASI preview 1 (`wasi_snapshot_preview1`) to modules; build for \
                 wasm32-wasip1, or, for a program that imports more than it calls, stub the rest \
                 as `wasmtime run` does: `-W unknown-imports-trap` (or `-W \
                 unknown-imports-default`)"
            }
            LoadError::Link { .. } => {
                "Skiff provides WASI preview 1 (`wasi_snapshot_preview1`) to modules and WASI 0.2 \
                 and 0.3.0 (the `wasi:cli/command` world, and `wasi:http`) to components; build \
                 for wasm32-wasip1 or wasm32-wasip2, or, for a program that imports more than it \
                 calls, stub the rest as `wasmtime run` does: `-W unknown-imports-trap`"
            }
            LoadError::NotCommand { .. } => {
                "build a binary crate for wasm32-wasip2 (a `wasi:cli/command`), or an HTTP handler \
                 exporting `wasi:http/incoming-handler` (e.g. with the `wstd` or `wasi` crates) or \
                 WASI 0.3's `wasi:http/handler` (the `wasip3` crate)"
            }
            LoadError::BadExport { .. } => {
                "rebuild it against WASI 0.2 or 0.3.0 (wasi:cli@0.2.x, wasi:cli@0.3.0, \
                 wasi:http@0.2.x, wasi:http@0.3.0)"
            }
            LoadError::Engine(_) => {
                "the HTTP engine reserves address space for its instance pool up front: check \
                 `ulimit -v`, or lower `skiff daemon --max-instances` / `skiff serve --max-concurrency`"
            }
            LoadError::BadEntry { .. } => {
                "export `_start` as a function with no parameters or results"
            }
        })
    }
}

/// A program compiled, linked and validated: ready to instantiate as many times as needed.
pub struct App {
    pub(crate) name: String,
    digest: String,
    pub(crate) pre: Pre,
    /// Its runtime's turns for long runners (see `RuntimeConfig::long_runner_turns`).
    pub(crate) long_runners: Option<CpuTurns>,
    /// Set when its code has no epoch checks: the report of `Interrupt::ExitProcess`.
    pub(crate) exit_process: Option<crate::LimitReport>,
    /// It imports wasi-nn, so runs only with `-S nn`.
    uses_nn: bool,
    /// An import of an interface `-S NAME=n` left out, and which.
    unlinked: Option<(String, crate::Unlinked)>,
    /// What each of its stores starts with: its runtime's fuel and `wasmtime run` limits.
    pub(crate) store: crate::engine::StoreOptions,
}

pub(crate) enum Pre {
    Module {
        pre: ModulePre,
        entry: Option<&'static str>,
        initialize: bool,
    },
    Component(Command),
    /// A component with neither world, for `--invoke` alone (`RuntimeConfig::library_components`).
    Library(wasmtime::component::InstancePre<ComponentHost>),
    Http(Http),
    /// A Spin app's Redis trigger component: run as a command whose run is its subscription.
    Redis(crate::spin::trigger::RedisHandler),
}

/// A core module, linked once; or, with preloaded modules (`RuntimeConfig::preloads`), linked in
/// each run's store, where the preloads are instantiated first, as `wasmtime run --preload` does.
pub(crate) enum ModulePre {
    Linked(wasmtime::InstancePre<P1Host>),
    Preloading {
        module: Module,
        linker: wasmtime::Linker<P1Host>,
        preloads: Vec<(String, Module)>,
    },
}

impl ModulePre {
    pub(crate) fn module(&self) -> &Module {
        match self {
            ModulePre::Linked(pre) => pre.module(),
            ModulePre::Preloading { module, .. } => module,
        }
    }

    /// The module and those preloaded for it.
    fn modules(&self) -> impl Iterator<Item = &Module> {
        let preloads = match self {
            ModulePre::Linked(_) => &[][..],
            ModulePre::Preloading { preloads, .. } => preloads,
        };
        std::iter::once(self.module()).chain(preloads.iter().map(|(_, module)| module))
    }

    pub(crate) async fn instantiate(
        &self,
        store: &mut wasmtime::Store<P1Host>,
    ) -> wasmtime::Result<wasmtime::Instance> {
        match self {
            ModulePre::Linked(pre) => pre.instantiate_async(store).await,
            ModulePre::Preloading {
                module,
                linker,
                preloads,
            } => {
                let mut linker = linker.clone();
                // A preload's exports replace the stubs `-W unknown-imports-trap` made for them.
                linker.allow_shadowing(true);
                // A command preload's exports other than functions are left out, not refused
                // (as `wasmtime run -W unknown-exports-allow`).
                linker.allow_unknown_exports(true);
                for (name, preload) in preloads {
                    linker
                        .module_async(&mut *store, name, preload)
                        .await
                        .map_err(|e| e.context(format!("failed to link the preload `{name}`")))?;
                }
                linker.instantiate_async(store, module).await
            }
        }
    }
}

/// An HTTP handler of WASI 0.2 or of WASI 0.3 (which `wasmtime serve` prefers when a component
/// exports both).
#[derive(Clone)]
pub(crate) enum Http {
    P2(wasmtime_wasi_http::p2::bindings::ProxyPre<ComponentHost>),
    P3(wasmtime_wasi_http::p3::bindings::ServicePre<ComponentHost>),
    /// Spin's `fermyon:spin/inbound-http` (Spin's Go SDK).
    Spin(crate::spin::inbound_http::InboundHttpPre),
}

impl Http {
    pub(crate) fn engine(&self) -> &Engine {
        match self {
            Http::P2(pre) => pre.engine(),
            Http::P3(pre) => pre.engine(),
            Http::Spin(pre) => pre.engine(),
        }
    }

    fn instance_pre(&self) -> &wasmtime::component::InstancePre<ComponentHost> {
        match self {
            Http::P2(pre) => pre.instance_pre(),
            Http::P3(pre) => pre.instance_pre(),
            Http::Spin(pre) => pre.instance_pre(),
        }
    }
}

impl Pre {
    fn component(&self) -> Option<&Component> {
        match self {
            Pre::Module { .. } => None,
            Pre::Component(command) => Some(command.instance_pre().component()),
            Pre::Library(pre) => Some(pre.component()),
            Pre::Http(http) => Some(http.instance_pre().component()),
            Pre::Redis(handler) => Some(handler.instance_pre().component()),
        }
    }

    /// The names it imports: a component's, or the modules its core modules import from.
    fn imports(&self) -> Vec<String> {
        match (self, self.component()) {
            (_, Some(component)) => component
                .component_type()
                .imports(component.engine())
                .map(|(name, _)| name.to_string())
                .collect(),
            (Pre::Module { pre, .. }, None) => pre
                .modules()
                .flat_map(|module| module.imports().map(|i| i.module().to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Where its compiled code is mapped.
    fn image_range(&self) -> std::ops::Range<*const u8> {
        match (self, self.component()) {
            (_, Some(component)) => component.image_range(),
            (Pre::Module { pre, .. }, None) => pre.module().image_range(),
            _ => std::ptr::null()..std::ptr::null(),
        }
    }
}

use crate::spin::v1::module as spin1;

/// wasi-nn's preview 1 module.
const NN_MODULE: &str = "wasi_ephemeral_nn";

/// A component exporting `wasi:cli/run`, of WASI 0.2 or of WASI 0.3 (which `wasmtime run`
/// prefers when a component exports both).
pub(crate) enum Command {
    P2(wasmtime_wasi::p2::bindings::CommandPre<ComponentHost>),
    P3(wasmtime_wasi::p3::bindings::CommandPre<ComponentHost>),
}

impl Command {
    pub(crate) fn instance_pre(&self) -> &wasmtime::component::InstancePre<ComponentHost> {
        match self {
            Command::P2(pre) => pre.instance_pre(),
            Command::P3(pre) => pre.instance_pre(),
        }
    }
}

impl App {
    pub fn kind(&self) -> AppKind {
        match self.pre {
            Pre::Module { .. } => AppKind::Module,
            Pre::Component(_) | Pre::Library(_) | Pre::Redis(_) => AppKind::Component,
            Pre::Http(_) => AppKind::Http,
        }
    }

    /// Whether it is a Spin Redis trigger's component: a command whose run is its subscription
    /// to the channels of its grants ([`skiff_capabilities::Grants::redis_channels`]).
    pub fn handles_redis_messages(&self) -> bool {
        matches!(self.pre, Pre::Redis(_))
    }

    /// The sha256 of the Wasm binary (for a `.wat` file, of the binary it assembles to).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Gives back this process's mappings of the app's compiled code, for an app about to wait
    /// (the daemon's HTTP handlers until their first request). Loading reads a few parts of the
    /// code's file (its metadata, unwind tables), and the kernel maps much of the rest with
    /// them (fault-around, read-ahead): for a small handler the whole file, all of it counted
    /// against the process while the app waits. The pages stay in the page cache, where the
    /// kernel may reclaim them, and the app's first instance maps back (minor faults) those it
    /// runs.
    pub fn unmap_idle_code(&self) {
        let range = self.pre.image_range();
        let len = (range.end as usize).saturating_sub(range.start as usize);
        if len == 0 {
            return;
        }
        // SAFETY: `MADV_DONTNEED` on a private file mapping drops its page-table entries; the
        // next access maps the file's pages again, so what the range holds does not change as
        // long as nothing was written to it. Every app's code is such a mapping of a file
        // (`Engines::compile` deserializes from a file, never from memory), and wasmtime
        // writes nothing to it once loaded: it refuses code with relocations (but for DWARF
        // sections, which Skiff's engines never emit), and makes the whole image read-only
        // before use (`CodeMemory::publish`). The range is that mapping, and page-aligned.
        let advised = unsafe { libc::madvise(range.start as *mut _, len, libc::MADV_DONTNEED) };
        if advised != 0 {
            tracing::debug!(
                "cannot give back `{}`'s code pages: {}",
                self.name,
                std::io::Error::last_os_error()
            );
        }
    }

    /// Refuses a run or a deployment whose grants lack what the app imports and Skiff links
    /// only when granted: wasi-nn, which brings a native runtime into this process.
    pub fn check_grants(&self, grants: &PreparedGrants) -> Result<(), RunError> {
        if self.uses_nn && grants.nn().is_none() {
            return Err(RunError::NnNotGranted(self.name.clone()));
        }
        if let Some((import, unlinked)) = &self.unlinked {
            return Err(RunError::Unlinked {
                app: self.name.clone(),
                import: import.clone(),
                option: unlinked.name(),
            });
        }
        Ok(())
    }
}

impl Runtime {
    /// Reads and loads a `.wasm` or `.wat` file; a command whose code the cache holds from an
    /// earlier load of the same, unchanged file is loaded without reading it again.
    pub fn load_file(
        &self,
        path: &Path,
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let read_error = |source| LoadError::Read {
            path: path.display().to_string(),
            source,
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let metadata = std::fs::metadata(path).map_err(read_error)?;
        let cache = self
            .engines(Flavor::COMMANDS)
            .ok()
            .and_then(|engines| engines.cache.as_ref());
        if let Some(app) = cache
            .and_then(|cache| cache.file_digest(&metadata))
            .and_then(|digest| self.load_cached(&name, &digest))
        {
            tracing::debug!("`{name}` unchanged since it was compiled; not read again");
            return Ok(app);
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        if self.allow_precompiled() && Engine::detect_precompiled(&bytes).is_some() {
            return self.load_precompiled(&name, &bytes, on_compile);
        }
        let app = self.load(&name, &bytes, on_compile)?;
        if let Some(cache) = cache {
            cache.remember_file(&metadata, app.digest());
        }
        Ok(app)
    }

    /// Loads the program whose Wasm binary has the sha256 `digest` from the compile cache alone,
    /// without its bytes: `None` unless the cache holds its code and the code loads and links as
    /// it did when it was compiled (then load it with [`Runtime::load`], which reports what is
    /// wrong). For an image, whose Wasm layer is named by that digest. HTTP handlers are found
    /// only once this runtime has loaded one of their kind (a pooled engine is not created just
    /// to look).
    pub fn load_cached(&self, name: &str, digest: &str) -> Option<App> {
        if !self.preloads().is_empty() {
            return None;
        }
        let lookup = |engines: &Engines| engines.cache.as_ref()?.lookup(digest);
        // The engines without concurrency first, then those with it (WASI 0.3): each command
        // engine created to look (on-demand instances: no pool to set up; a WASI 0.3 command
        // needs its engine anyway, and one found nowhere is compiled, which costs far more).
        let (commands, handlers, entry) = [false, true].into_iter().find_map(|concurrent| {
            let commands = self
                .engines(Flavor {
                    kind: AppKind::Module,
                    concurrent,
                })
                .ok();
            let handlers = self.created_engines(Flavor {
                kind: AppKind::Http,
                concurrent,
            });
            let entry = commands
                .and_then(lookup)
                .or_else(|| handlers.and_then(lookup))?;
            Some((commands, handlers, entry))
        })?;
        // The engine of its kind (two engines with the same compatibility hash share a cache
        // directory; wasmtime refuses an artifact of another).
        let engines = match entry.kind? {
            AppKind::Http => handlers?,
            AppKind::Module | AppKind::Component => commands?,
        };
        let pre = match entry.kind? {
            AppKind::Module => {
                // SAFETY: as in `load`: the cache's own artifact, checked against its CRC.
                let module = unsafe { Module::deserialize_file(&engines.engine, &entry.path) };
                engines
                    .link_module(name, &module.ok()?, self.unknown_imports(), Vec::new())
                    .ok()?
            }
            kind @ (AppKind::Component | AppKind::Http) => {
                // SAFETY: as above.
                let component =
                    unsafe { Component::deserialize_file(&engines.engine, &entry.path) };
                engines
                    .link_component(
                        name,
                        &component.ok()?,
                        kind,
                        self.library_components(),
                        self.unknown_imports(),
                    )
                    .ok()?
            }
        };
        Some(self.app(name, digest.to_string(), pre))
    }

    fn app(&self, name: &str, digest: String, pre: Pre) -> App {
        let imports = pre.imports();
        App {
            name: name.to_string(),
            digest,
            exit_process: match pre {
                Pre::Http(_) => None,
                _ => self.exit_process().cloned(),
            },
            // wasi-nn: `wasi_ephemeral_nn` or `wasi:nn/*`.
            uses_nn: imports
                .iter()
                .any(|name| name.starts_with("wasi:nn/") || name == NN_MODULE),
            unlinked: imports.into_iter().find_map(|import| {
                let unlinked = self.unlinked().iter().find(|u| u.covers(&import))?;
                Some((import, *unlinked))
            }),
            pre,
            long_runners: self.long_runners.clone(),
            store: self.store_options(),
        }
    }

    /// Loads a program from its bytes, compiling it unless the cache holds its native code.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let bytes = to_binary(name, bytes)?;
        if exports_component_world(&bytes) || spin1::is_spin1_module(&bytes) {
            return self.load_componentized(name, &bytes, on_compile);
        }
        let flavor = detect(name, &bytes, self.library_components())?;
        if uses_shared_memory(&bytes) {
            // Valid (threads are on), but wasmtime would fail each instantiation, as a trap.
            return Err(LoadError::Unsupported {
                name: name.to_string(),
                proposals: "threads proposal's shared memory".to_string(),
                async_abi: false,
                hint: "`wasmtime run` creates shared memories only with `-W shared-memory`, a \
                       tier-2 feature without security fixes, and Skiff not at all; build the \
                       program single-threaded (without `-pthread` or a `-threads` target)",
                source: None,
            });
        }
        let digest = crate::digest(&bytes);
        match self.load_as(name, &bytes, digest.clone(), flavor, on_compile) {
            // The async ABI without WASI 0.3's names: the concurrent engine runs it.
            Err(LoadError::Unsupported {
                async_abi: true, ..
            }) if !flavor.concurrent => {
                let concurrent = Flavor {
                    concurrent: true,
                    ..flavor
                };
                self.load_as(name, &bytes, digest, concurrent, on_compile)
            }
            loaded => loaded,
        }
    }

    /// A core module built as an HTTP or Redis trigger component (a Spin SDK guest for
    /// wasm32-wasip1: it exports `wasi:http/incoming-handler`'s function, or Spin's
    /// `inbound-redis`'s, and carries the component's type in a custom section; or a Spin 1
    /// module, described first by [`spin1::describe`]) is made the component it describes, WASI
    /// preview 1 adapted to 0.2 by wasmtime's own adapter, as Spin and `wasm-tools component
    /// new` make it; its code is cached under the module's digest, so a second load neither
    /// describes, adapts nor compiles.
    fn load_componentized(
        &self,
        name: &str,
        module: &[u8],
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let digest = crate::digest(module);
        if let Some(app) = self.load_cached(name, &digest) {
            return Ok(app);
        }
        // Spin 1's module is given the names of the component it describes first.
        let described;
        let module = if spin1::is_spin1_module(module) {
            described = spin1::describe(module).map_err(|e| LoadError::Invalid {
                name: name.to_string(),
                kind: "Spin 1 module",
                source: format!(
                    "it exports a trigger of Spin 1's SDKs (`handle-http-request` or \
                     `handle-redis-message`, as Spin's Go SDK v2 builds them) but cannot be made \
                     a component: {e}"
                )
                .into(),
            })?;
            &described[..]
        } else {
            module
        };
        let adapter =
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
        let component = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(module)
            .and_then(|encoder| encoder.adapter("wasi_snapshot_preview1", adapter))
            .and_then(|mut encoder| encoder.encode())
            .map_err(|e| LoadError::Invalid {
                name: name.to_string(),
                kind: "module built as a component",
                source: format!(
                    "it was built as a component (it exports `wasi:http/incoming-handler` or \
                     one of Spin's triggers) but cannot be made one: {e:#}"
                )
                .into(),
            })?;
        let flavor = detect(name, &component, self.library_components())?;
        self.load_as(name, &component, digest, flavor, on_compile)
    }

    fn load_as(
        &self,
        name: &str,
        bytes: &[u8],
        digest: String,
        flavor: Flavor,
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let kind = flavor.kind;
        let engines = self
            .engines(flavor)
            .map_err(|e| LoadError::Engine(e.into()))?;
        let pre = match kind {
            AppKind::Module => {
                let module = engines.compile_module(name, &digest, bytes, on_compile)?;
                let preloads = self.compile_preloads(engines, on_compile)?;
                engines.link_module(name, &module, self.unknown_imports(), preloads)?
            }
            _ if !self.preloads().is_empty() => {
                return Err(LoadError::PreloadWithComponent {
                    name: name.to_string(),
                });
            }
            AppKind::Component | AppKind::Http => {
                let component =
                    engines.compile(name, &digest, bytes, kind, on_compile, |e, p| {
                        // SAFETY: as for modules above.
                        unsafe { Component::deserialize_file(e, p) }
                    })?;
                engines.link_component(
                    name,
                    &component,
                    kind,
                    self.library_components(),
                    self.unknown_imports(),
                )?
            }
        };
        Ok(self.app(name, digest, pre))
    }
}

impl Runtime {
    /// The `--preload` modules, compiled by `engines`.
    fn compile_preloads(
        &self,
        engines: &Engines,
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<Vec<(String, Module)>, LoadError> {
        self.preloads()
            .iter()
            .map(|(as_name, path)| {
                let read = std::fs::read(path).map_err(|source| LoadError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let file = path.display().to_string();
                let wasm = to_binary(&file, &read)?;
                let digest = crate::digest(&wasm);
                let module = engines.compile_module(&file, &digest, &wasm, on_compile)?;
                Ok((as_name.clone(), module))
            })
            .collect()
    }

    /// Loads a module or component `wasmtime compile` made, as `wasmtime run
    /// --allow-precompiled` does: into the engine that matches `wasmtime run`'s defaults (a
    /// command engine with concurrency, without epoch checks).
    fn load_precompiled(
        &self,
        name: &str,
        bytes: &[u8],
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let engines = self
            .engines(Flavor {
                kind: AppKind::Module,
                concurrent: true,
            })
            .map_err(|e| LoadError::Engine(e.into()))?;
        let incompatible = |e: wasmtime::Error| LoadError::Precompiled {
            name: name.to_string(),
            source: e.into_boxed_dyn_error(),
        };
        let pre = match Engine::detect_precompiled(bytes) {
            Some(wasmtime::Precompiled::Module) => {
                // SAFETY: native code the user vouched for with `--allow-precompiled`, as in
                // wasmtime; its header is checked against this engine's settings.
                let module =
                    unsafe { Module::deserialize(&engines.engine, bytes) }.map_err(incompatible)?;
                let preloads = self.compile_preloads(engines, on_compile)?;
                engines.link_module(name, &module, self.unknown_imports(), preloads)?
            }
            Some(wasmtime::Precompiled::Component) => {
                // SAFETY: as above.
                let component = unsafe { Component::deserialize(&engines.engine, bytes) }
                    .map_err(incompatible)?;
                engines.link_component(
                    name,
                    &component,
                    AppKind::Component,
                    self.library_components(),
                    self.unknown_imports(),
                )?
            }
            None => {
                return Err(LoadError::Native {
                    name: name.to_string(),
                });
            }
        };
        Ok(self.app(name, crate::digest(bytes), pre))
    }
}

impl Engines {
    fn compile_module(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<Module, LoadError> {
        self.compile(name, digest, bytes, AppKind::Module, on_compile, |e, p| {
            // SAFETY: the artifact was produced by `precompile_module` of an engine with the
            // same compatibility hash (its cache directory), and its bytes were just checked
            // against the CRC written with it.
            unsafe { Module::deserialize_file(e, p) }
        })
    }

    /// Compiled code, from the cache or compiled now. Always deserialized from a file, so that
    /// the code is a private mapping of it (`App::unmap_idle_code` relies on this).
    fn compile<T>(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
        kind: AppKind,
        on_compile: &mut dyn FnMut(CompileEvent),
        deserialize: impl Fn(&Engine, &Path) -> wasmtime::Result<T>,
    ) -> Result<T, LoadError> {
        let invalid = |e: wasmtime::Error| LoadError::Invalid {
            name: name.to_string(),
            kind: match kind {
                AppKind::Module => "module",
                AppKind::Component | AppKind::Http => "component",
            },
            source: e.into_boxed_dyn_error(),
        };
        if let Some(cache) = &self.cache
            && let Some(entry) = cache.lookup(digest)
        {
            match deserialize(&self.engine, &entry.path) {
                Ok(compiled) => {
                    if entry.kind.is_none() {
                        cache.record_kind(digest, kind);
                    }
                    return Ok(compiled);
                }
                Err(e) => {
                    tracing::warn!("cached code for `{name}` did not load ({e}); recompiling");
                    cache.discard(digest);
                }
            }
        }
        on_compile(CompileEvent::Started {
            wasm_bytes: bytes.len(),
        });
        let started = Instant::now();
        let artifact = match kind {
            AppKind::Module => self.engine.precompile_module(bytes),
            AppKind::Component | AppKind::Http => self.engine.precompile_component(bytes),
        }
        .map_err(|e| match proposals_left_off(&self.engine, bytes) {
            Some(missing) => LoadError::Unsupported {
                name: name.to_string(),
                proposals: describe(missing),
                // The engines with concurrency are the only ones that run these.
                async_abi: missing.intersects(crate::engine::NEED_CONCURRENCY),
                hint: if missing.intersects(self.proposals_off) {
                    "it was turned off by `-W NAME=n` (as `wasmtime run` turns it off); drop that \
                     option to run the program"
                } else if self.winch {
                    "Winch, wasmtime's baseline compiler, compiles no GC, exceptions, tail calls, \
                     typed function references or relaxed SIMD, as in `wasmtime run -C \
                     compiler=winch`; drop `-C compiler=winch` (Cranelift compiles them)"
                } else if missing.intersects(COMPONENT_ASYNC) {
                    "Skiff runs the component model's async ABI as `wasmtime run` does by default \
                     (WASI 0.3 components); its proposals beyond that (stackful async, threading, \
                     the extra async builtins) are on, as in `wasmtime run`, only when asked: \
                     `skiff run -W component-model-async-stackful` (in the foreground), or build \
                     the program for WASI 0.3 or 0.2 without them"
                } else if missing.contains(WasmFeatures::LEGACY_EXCEPTIONS) {
                    "Skiff runs the standard (exnref) form of exception handling, as `wasmtime \
                     run` does by default; have the compiler emit it (clang or `zig c++`: add \
                     `-mllvm -wasm-use-legacy-eh=false` to `-fwasm-exceptions`)"
                } else {
                    "Skiff runs every proposal that `wasmtime run` enables by default, and one it \
                     leaves off when asked as it does: `skiff run -W NAME` (e.g. `-W \
                     wide-arithmetic`, in the foreground); or build the program without it (turn \
                     off the compiler's target feature for it)"
                },
                source: Some(e.into_boxed_dyn_error()),
            },
            None => invalid(e),
        })?;
        on_compile(CompileEvent::Finished {
            elapsed: started.elapsed(),
        });
        if let Some(cache) = &self.cache {
            match cache.store(digest, &artifact, kind) {
                Ok(path) => return deserialize(&self.engine, &path).map_err(invalid),
                Err(e) => tracing::warn!("cannot write the compile cache: {e}"),
            }
        }
        let path = tempfile::NamedTempFile::new()
            .and_then(|mut f| std::io::Write::write_all(&mut f, &artifact).map(|()| f))
            .map_err(|e| invalid(wasmtime::Error::new(e)))?;
        deserialize(&self.engine, path.path()).map_err(invalid)
    }

    fn link_module(
        &self,
        name: &str,
        module: &Module,
        unknown: UnknownImports,
        preloads: Vec<(String, Module)>,
    ) -> Result<Pre, LoadError> {
        let link = |e: wasmtime::Error| LoadError::Link {
            name: name.to_string(),
            source: e.into_boxed_dyn_error(),
        };
        // What the program and its preloads import besides preview 1.
        let programs = || std::iter::once(module).chain(preloads.iter().map(|(_, m)| m));
        let imports = |name: &str| programs().any(|m| m.imports().any(|i| i.module() == name));
        let linker = self.p1_linker(P1Extras {
            preview0: imports("wasi_unstable"),
            nn: imports(NN_MODULE),
        });
        // The engine's linker, or, with stubs, one of this program's own.
        let linker: Cow<'_, wasmtime::Linker<P1Host>> = match unknown {
            UnknownImports::Refuse => {
                for import in module.imports() {
                    let preloaded = preloads
                        .iter()
                        .find(|(as_name, _)| as_name == import.module());
                    let provided = match preloaded {
                        Some((_, preload)) => preload.get_export(import.name()).is_some(),
                        None => ["wasi_snapshot_preview1", "wasi_unstable", NN_MODULE]
                            .contains(&import.module()),
                    };
                    if !provided {
                        return Err(LoadError::UnknownImport {
                            name: name.to_string(),
                            import: format!("{}::{}", import.module(), import.name()),
                        });
                    }
                }
                Cow::Borrowed(linker)
            }
            UnknownImports::Trap => {
                let mut linker = linker.clone();
                linker
                    .define_unknown_imports_as_traps(module)
                    .map_err(link)?;
                Cow::Owned(linker)
            }
            UnknownImports::DefaultValues => Cow::Owned(with_default_functions(linker, module)),
        };
        let pre = match preloads.is_empty() {
            true => ModulePre::Linked(linker.instantiate_pre(module).map_err(link)?),
            false => ModulePre::Preloading {
                module: module.clone(),
                linker: linker.into_owned(),
                preloads,
            },
        };
        // As the wasmtime CLI does: `_start` for commands, else the default export `""`; a
        // reactor's `_initialize` runs first.
        let entry = ["_start", ""]
            .into_iter()
            .find(|export| module.get_export(export).is_some());
        let initialize = module.get_export("_initialize").is_some();
        for export in entry
            .iter()
            .copied()
            .chain(initialize.then_some("_initialize"))
        {
            let ty = module.get_export(export).and_then(|e| e.func().cloned());
            if !ty.is_some_and(|ty| ty.params().len() == 0 && ty.results().len() == 0) {
                return Err(LoadError::BadEntry {
                    name: name.to_string(),
                    export: export.to_string(),
                });
            }
        }
        Ok(Pre::Module {
            pre,
            entry,
            initialize,
        })
    }

    fn link_component(
        &self,
        name: &str,
        component: &Component,
        kind: AppKind,
        libraries: bool,
        unknown: UnknownImports,
    ) -> Result<Pre, LoadError> {
        let link = |e: wasmtime::Error| LoadError::Link {
            name: name.to_string(),
            source: e.into_boxed_dyn_error(),
        };
        let bad_export = |export, e: wasmtime::Error| LoadError::BadExport {
            name: name.to_string(),
            export,
            source: e.into_boxed_dyn_error(),
        };
        let linker = self.component_linker(ComponentExtras::imported_by(component));
        let pre = match unknown {
            UnknownImports::Refuse => linker.instantiate_pre(component),
            UnknownImports::Trap => {
                let mut linker = linker.clone();
                linker
                    .define_unknown_imports_as_traps(component)
                    .and_then(|()| linker.instantiate_pre(component))
            }
            UnknownImports::DefaultValues => {
                return Err(LoadError::DefaultValuesInComponent {
                    name: name.to_string(),
                });
            }
        }
        .map_err(link)?;
        // Both worlds are validated by the type of their export, not just its name.
        Ok(match kind {
            AppKind::Http => Pre::Http(
                match wasmtime_wasi_http::p3::bindings::ServicePre::new(pre.clone()) {
                    Ok(service) => Http::P3(service),
                    Err(_) => match wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre.clone()) {
                        Ok(proxy) => Http::P2(proxy),
                        Err(e) => match crate::spin::inbound_http::InboundHttpPre::new(pre) {
                            Ok(spin) => Http::Spin(spin),
                            Err(_) => return Err(bad_export("wasi:http/incoming-handler", e)),
                        },
                    },
                },
            ),
            _ => match wasmtime_wasi::p3::bindings::CommandPre::new(pre.clone()) {
                Ok(command) => Pre::Component(Command::P3(command)),
                Err(_) if let Some(handler) = crate::spin::trigger::RedisHandler::of(&pre) => {
                    Pre::Redis(handler)
                }
                Err(_) => match wasmtime_wasi::p2::bindings::CommandPre::new(pre.clone()) {
                    Ok(command) => Pre::Component(Command::P2(command)),
                    Err(_) if libraries => Pre::Library(pre),
                    Err(e) => return Err(bad_export("wasi:cli/run", e)),
                },
            },
        })
    }
}

/// `linker` and, for each function `module` imports that it lacks, one that returns zeros and
/// null references, or traps where a result has no default: `wasmtime run -W
/// unknown-imports-default`. (wasmtime's own `define_unknown_imports_as_default_values` makes
/// them in a store, and an app's linker is shared by all its stores.)
fn with_default_functions(
    linker: &wasmtime::Linker<P1Host>,
    module: &Module,
) -> wasmtime::Linker<P1Host> {
    let mut stubbed = linker.clone();
    for import in module.imports() {
        let wasmtime::ExternType::Func(ty) = import.ty() else {
            continue;
        };
        let results = ty
            .results()
            .map(|ty| wasmtime::Val::default_for_ty(&ty))
            .collect::<Option<Vec<_>>>();
        let (module_name, name) = (import.module().to_string(), import.name().to_string());
        // Defining a name the linker has already fails (it never shadows): that import is
        // provided, and left as it is.
        let _provided = stubbed
            .func_new(import.module(), import.name(), ty, move |_, _, out| {
                match &results {
                    Some(results) => out.clone_from_slice(results),
                    None => wasmtime::bail!(
                        "`{module_name}::{name}` is not provided, and returns a reference with \
                         no default value"
                    ),
                }
                Ok(())
            })
            .is_err();
    }
    stubbed
}

/// Whether a module (or a module inside a component) defines or imports a shared memory.
/// Invalid input is left for the compiler to report.
fn uses_shared_memory(bytes: &[u8]) -> bool {
    use wasmparser::{Payload, TypeRef};
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let shared = match payload {
            Ok(Payload::MemorySection(memories)) => memories
                .into_iter()
                .any(|memory| memory.is_ok_and(|m| m.shared)),
            Ok(Payload::ImportSection(imports)) => imports
                .into_imports()
                .any(|import| import.is_ok_and(|i| matches!(i.ty, TypeRef::Memory(m) if m.shared))),
            Ok(_) => false,
            Err(_) => return false,
        };
        if shared {
            return true;
        }
    }
    false
}

/// What builds on the component model's async ABI (which is on, for WASI 0.3) and `wasmtime run`
/// leaves off by default.
const COMPONENT_ASYNC: WasmFeatures = WasmFeatures::CM_ASYNC_STACKFUL
    .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
    .union(WasmFeatures::CM_THREADING);

/// When `bytes` failed to compile because it uses proposals `engine` leaves off, which ones
/// (`None` if it is invalid whatever is enabled). Only on the error path: it validates again.
fn proposals_left_off(engine: &Engine, bytes: &[u8]) -> Option<WasmFeatures> {
    let enabled = engine.get_wasm_features();
    let validate = |features| Validator::new_with_features(features).validate_all(bytes);
    // First the features the validator names itself, one at a time (cheap for a big program
    // that needs one or two)...
    let mut needed = WasmFeatures::empty();
    loop {
        match validate(enabled | needed) {
            Ok(_) => return (!needed.is_empty()).then_some(needed),
            Err(e) => match e.missing_wasm_feature() {
                Some(feature) if !(enabled | needed).contains(feature) => needed |= feature,
                _ => break,
            },
        }
    }
    // ...then, where its message names none, each left-off feature without which a fully
    // enabled validator rejects the program.
    validate(WasmFeatures::all()).ok()?;
    let needed = WasmFeatures::all()
        .difference(enabled)
        .iter()
        .filter(|&f| validate(WasmFeatures::all().difference(f)).is_err())
        .fold(needed, WasmFeatures::union);
    (!needed.is_empty()).then_some(needed)
}

/// "stack switching proposal", "wide arithmetic and custom page sizes proposals".
fn describe(features: WasmFeatures) -> String {
    let names: Vec<String> = features
        .iter_names()
        .map(|(name, _)| {
            let words = name.to_lowercase().replace('_', " ");
            match words.strip_prefix("cm") {
                Some(rest) => format!(
                    "component model{}",
                    if rest == "64" { " 64-bit" } else { rest }
                ),
                None => words,
            }
        })
        .collect();
    match names.as_slice() {
        [one] => format!("{one} proposal"),
        [rest @ .., last] => format!("{} and {last} proposals", rest.join(", ")),
        [] => "proposals".to_string(),
    }
}

fn to_binary<'a>(name: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, LoadError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
    }
    if bytes.starts_with(b"\x7fELF") {
        return Err(LoadError::Native {
            name: name.to_string(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::NotWasm {
        name: name.to_string(),
    })?;
    // Only try the text parser on something that looks like WAT, so a random file gets the
    // "not WebAssembly" message rather than a parse error at line 1.
    let looks_like_wat = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(";;"))
        .is_some_and(|l| l.starts_with('('));
    if !looks_like_wat {
        return Err(LoadError::NotWasm {
            name: name.to_string(),
        });
    }
    wat::parse_str(text)
        .map(Cow::Owned)
        .map_err(|source| LoadError::Wat {
            name: name.to_string(),
            source,
        })
}

/// Whether `bytes` is a core module that exports a function of `wasi:http/incoming-handler` or
/// of Spin's triggers (`fermyon:spin/inbound-redis`, `fermyon:spin/inbound-http`), as wit-bindgen
/// names a component's exports in the module it builds it from: a Spin SDK guest built for
/// wasm32-wasip1.
fn exports_component_world(bytes: &[u8]) -> bool {
    module_exports_any(bytes, |name| {
        name.starts_with("wasi:http/incoming-handler@0.2.")
            || name.starts_with("fermyon:spin/inbound-redis#")
            || name.starts_with("fermyon:spin/inbound-http#")
    })
}

/// Whether `bytes` is a core module with an export whose name `matches`.
pub(crate) fn module_exports_any(bytes: &[u8], matches: impl Fn(&str) -> bool) -> bool {
    use wasmparser::{Parser, Payload};
    if bytes.get(4..8) != Some(&[1, 0, 0, 0]) {
        return false;
    }
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::ExportSection(exports)) => {
                return exports
                    .into_iter()
                    .any(|export| export.is_ok_and(|e| matches(e.name)));
            }
            // The export section comes before the code: no need to read further.
            Ok(Payload::CodeSectionStart { .. }) | Err(_) => return false,
            _ => {}
        }
    }
    false
}

/// Core module or component from the header (`\0asm`, then a version and a layer field); for a
/// component, command or HTTP handler from its exports, before anything is compiled, since the
/// two are compiled by different engines.
fn detect(name: &str, bytes: &[u8], libraries: bool) -> Result<Flavor, LoadError> {
    match bytes.get(4..8) {
        Some([1, 0, 0, 0]) => Ok(Flavor::COMMANDS),
        Some([_, _, 1, 0]) => component_kind(name, bytes, libraries),
        _ => Err(LoadError::Invalid {
            name: name.to_string(),
            kind: "module",
            source: "the header has no known version; the file is truncated or not WebAssembly"
                .into(),
        }),
    }
}

/// Reads the names a component imports and exports at its top level (nested modules and
/// components are skipped, not parsed) and picks the world: an HTTP handler if it exports
/// `wasi:http/incoming-handler` (0.2) or `wasi:http/handler` (0.3) or Spin's
/// `fermyon:spin/inbound-http` (Rust's std also adds
/// `wasi:cli/run` to such programs), a command
/// if it exports `wasi:cli/run`; with `libraries`, a component of neither world too (a command
/// whose functions only `--invoke` calls). A component that imports or exports an interface of
/// WASI 0.3 (`@0.3.`) is loaded by a concurrent engine.
fn component_kind(name: &str, bytes: &[u8], libraries: bool) -> Result<Flavor, LoadError> {
    use wasmparser::{Parser, Payload};
    let mut exports = Vec::new();
    let mut wasi_0_3 = false;
    let mut parser = Parser::new(0);
    let mut offset = 0;
    loop {
        let invalid = |e: wasmparser::BinaryReaderError| LoadError::Invalid {
            name: name.to_string(),
            kind: "component",
            source: e.into(),
        };
        let (consumed, payload) = match parser.parse(&bytes[offset..], true).map_err(invalid)? {
            wasmparser::Chunk::Parsed { consumed, payload } => (consumed, payload),
            wasmparser::Chunk::NeedMoreData(_) => unreachable!("the whole binary is given"),
        };
        offset += consumed;
        match payload {
            Payload::ComponentExportSection(section) => {
                for export in section {
                    exports.push(export.map_err(invalid)?.name.name.to_string());
                }
            }
            Payload::ComponentImportSection(section) => {
                for import in section {
                    wasi_0_3 |= import.map_err(invalid)?.name.name.contains("@0.3.");
                }
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                offset = unchecked_range.end;
            }
            Payload::End(_) => break,
            _ => {}
        }
    }
    let exports_any = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
    // Spin SDK 7's Redis trigger export is an `async` function.
    let redis3 = exports_any("spin:redis/inbound-redis@");
    let concurrent = wasi_0_3 || redis3 || exports.iter().any(|e| e.contains("@0.3."));
    let flavor = |kind| Ok(Flavor { kind, concurrent });
    if exports_any("wasi:http/incoming-handler@")
        || exports_any("wasi:http/handler@")
        || exports.iter().any(|e| e == "fermyon:spin/inbound-http")
    {
        flavor(AppKind::Http)
    } else if exports_any("wasi:cli/run@")
        || libraries
        || redis3
        || exports.iter().any(|e| e == "fermyon:spin/inbound-redis")
    {
        // A Spin Redis trigger's component runs as a command whose run is its subscription.
        flavor(AppKind::Component)
    } else {
        Err(LoadError::NotCommand {
            name: name.to_string(),
            exports: if exports.is_empty() {
                " (it exports nothing)".to_string()
            } else {
                format!("; it exports `{}`", exports.join("`, `"))
            },
        })
    }
}
