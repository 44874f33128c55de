//! From bytes to an [`App`]: detect the kind, compile or load from the cache, link, validate.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::Runtime;
use crate::run::{P1Host, P2Host};

/// What kind of program an app is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// A WASI preview 1 core module: a command (`_start`) or a reactor (`_initialize`).
    Module,
    /// A WASI 0.2 component exporting `wasi:cli/run`.
    Component,
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
    #[error("`{name}` imports `{import}`, which Skiff does not provide")]
    UnknownImport { name: String, import: String },
    #[error("`{name}` needs imports that Skiff does not provide")]
    Link {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{name}` is not a command component: it does not export `wasi:cli/run`{exports}")]
    NotCommand { name: String, exports: String },
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
            LoadError::Invalid { .. } => {
                "the file may be truncated or corrupt; rebuild it, and check it with `wasm-tools validate`"
            }
            LoadError::UnknownImport { .. } | LoadError::Link { .. } => {
                "Skiff provides WASI preview 1 (`wasi_snapshot_preview1`) to modules and WASI 0.2 \
                 (the `wasi:cli/command` world) to components; build for wasm32-wasip1 or wasm32-wasip2"
            }
            LoadError::NotCommand { .. } => {
                "`skiff run` runs `wasi:cli/command` components: build a binary crate for wasm32-wasip2"
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
}

pub(crate) enum Pre {
    Module {
        pre: wasmtime::InstancePre<P1Host>,
        entry: Option<&'static str>,
        initialize: bool,
    },
    Component(CommandPre<P2Host>),
}

impl App {
    pub fn kind(&self) -> AppKind {
        match self.pre {
            Pre::Module { .. } => AppKind::Module,
            Pre::Component(_) => AppKind::Component,
        }
    }

    /// The sha256 of the Wasm binary (for a `.wat` file, of the binary it assembles to).
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

impl Runtime {
    /// Reads and loads a `.wasm` or `.wat` file.
    pub fn load_file(
        &self,
        path: &Path,
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.load(&name, &bytes, on_compile)
    }

    /// Loads a program from its bytes, compiling it unless the cache holds its native code.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        on_compile: &mut dyn FnMut(CompileEvent),
    ) -> Result<App, LoadError> {
        let bytes = to_binary(name, bytes)?;
        let kind = detect(name, &bytes)?;
        let digest = crate::digest(&bytes);
        let pre = match kind {
            AppKind::Module => {
                let module = self.compile(name, &digest, &bytes, kind, on_compile, |e, p| {
                    // SAFETY: the artifact was produced by `precompile_module` of an engine with
                    // the same compatibility hash (its cache directory), and its bytes were just
                    // checked against the CRC written with it.
                    unsafe { Module::deserialize_file(e, p) }
                })?;
                self.link_module(name, &module)?
            }
            AppKind::Component => {
                let component = self.compile(name, &digest, &bytes, kind, on_compile, |e, p| {
                    // SAFETY: as for modules above.
                    unsafe { Component::deserialize_file(e, p) }
                })?;
                self.link_component(name, &component)?
            }
        };
        Ok(App {
            name: name.to_string(),
            digest,
            pre,
        })
    }

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
                AppKind::Component => "component",
            },
            source: e.into_boxed_dyn_error(),
        };
        if let Some(cache) = &self.cache
            && let Some(path) = cache.lookup(digest)
        {
            match deserialize(&self.engine, &path) {
                Ok(compiled) => return Ok(compiled),
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
            AppKind::Component => self.engine.precompile_component(bytes),
        }
        .map_err(invalid)?;
        on_compile(CompileEvent::Finished {
            elapsed: started.elapsed(),
        });
        if let Some(cache) = &self.cache {
            match cache.store(digest, &artifact) {
                Ok(path) => return deserialize(&self.engine, &path).map_err(invalid),
                Err(e) => tracing::warn!("cannot write the compile cache: {e}"),
            }
        }
        let path = tempfile::NamedTempFile::new()
            .and_then(|mut f| std::io::Write::write_all(&mut f, &artifact).map(|()| f))
            .map_err(|e| invalid(wasmtime::Error::new(e)))?;
        deserialize(&self.engine, path.path()).map_err(invalid)
    }

    fn link_module(&self, name: &str, module: &Module) -> Result<Pre, LoadError> {
        for import in module.imports() {
            if !["wasi_snapshot_preview1", "wasi_unstable"].contains(&import.module()) {
                return Err(LoadError::UnknownImport {
                    name: name.to_string(),
                    import: format!("{}::{}", import.module(), import.name()),
                });
            }
        }
        let pre = self
            .p1_linker()
            .instantiate_pre(module)
            .map_err(|e| LoadError::Link {
                name: name.to_string(),
                source: e.into_boxed_dyn_error(),
            })?;
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

    fn link_component(&self, name: &str, component: &Component) -> Result<Pre, LoadError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        if !exports.iter().any(|e| e.starts_with("wasi:cli/run@")) {
            let exports = if exports.is_empty() {
                " (it exports nothing)".to_string()
            } else {
                format!("; it exports `{}`", exports.join("`, `"))
            };
            return Err(LoadError::NotCommand {
                name: name.to_string(),
                exports,
            });
        }
        let link = |e: wasmtime::Error| LoadError::Link {
            name: name.to_string(),
            source: e.into_boxed_dyn_error(),
        };
        let pre = self.p2_linker().instantiate_pre(component).map_err(link)?;
        // Validates the `wasi:cli/run` export by its type, not just its name.
        let pre = CommandPre::new(pre).map_err(|e| LoadError::NotCommand {
            name: name.to_string(),
            exports: format!(": {e}"),
        })?;
        Ok(Pre::Component(pre))
    }
}

fn to_binary<'a>(name: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, LoadError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
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

/// Core module or component, from the header: `\0asm`, then a version and a layer field.
fn detect(name: &str, bytes: &[u8]) -> Result<AppKind, LoadError> {
    match bytes.get(4..8) {
        Some([1, 0, 0, 0]) => Ok(AppKind::Module),
        Some([_, _, 1, 0]) => Ok(AppKind::Component),
        _ => Err(LoadError::Invalid {
            name: name.to_string(),
            kind: "module",
            source: "the header has no known version; the file is truncated or not WebAssembly"
                .into(),
        }),
    }
}
