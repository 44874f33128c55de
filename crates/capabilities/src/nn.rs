//! `-S nn` in wasmtime-wasi-nn's terms: a context per instance, with the backends (OpenVINO's
//! `Core`, costly to make) and the models the grant names made once, when the grants are
//! prepared, and shared by every instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime_wasi_nn::backend::{BackendError, BackendFromDir, BackendInner};
use wasmtime_wasi_nn::wit::{ExecutionTarget, GraphEncoding};
use wasmtime_wasi_nn::{Backend, Graph, GraphRegistry, Registry};

use crate::grants::NnGrant;
use crate::wasi::GrantError;

/// The granted models, loaded.
#[derive(Clone, Default)]
pub struct PreparedNn {
    /// Each backend with its encoding, read once here rather than under its lock per instance.
    backends: Arc<[(GraphEncoding, Arc<Mutex<Backend>>)]>,
    graphs: Arc<HashMap<String, Graph>>,
}

impl std::fmt::Debug for PreparedNn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.graphs.keys()).finish()
    }
}

impl PreparedNn {
    /// Loads each model of the grant with its encoding's backend, named after its directory.
    pub(crate) fn new(grant: &NnGrant) -> Result<Self, GrantError> {
        let mut backends = wasmtime_wasi_nn::backend::list();
        let mut graphs = HashMap::new();
        for graph in &grant.graphs {
            let failed = |reason: String| GrantError::NnGraph {
                encoding: graph.encoding.clone(),
                dir: graph.dir.clone(),
                reason,
            };
            let encoding: GraphEncoding = graph.encoding.parse().map_err(|_| {
                failed(
                    "Skiff loads `openvino` models (a directory of `model.xml` and `model.bin`)"
                        .into(),
                )
            })?;
            let backend = backends
                .iter_mut()
                .find(|b| b.encoding() == encoding)
                .and_then(|b| b.as_dir_loadable())
                .ok_or_else(|| {
                    failed(format!(
                        "Skiff has no {} backend that loads a directory",
                        graph.encoding
                    ))
                })?;
            let name = graph
                .dir
                .file_name()
                .ok_or_else(|| failed("the directory has no name to load the model under".into()))?
                .to_string_lossy()
                .into_owned();
            let loaded = backend
                .load_from_dir(&graph.dir, ExecutionTarget::Cpu)
                .map_err(|e| failed(crate::error_chain(&e)))?;
            graphs.insert(name, loaded);
        }
        Ok(PreparedNn {
            backends: backends
                .into_iter()
                .map(|b| (b.encoding(), Arc::new(Mutex::new(b))))
                .collect(),
            graphs: Arc::new(graphs),
        })
    }

    /// A context for one instance of a component (`wasi:nn`): every backend, and the models.
    pub fn wit(&self) -> wasmtime_wasi_nn::wit::WasiNnCtx {
        wasmtime_wasi_nn::wit::WasiNnCtx::new(self.backends(), self.registry())
    }

    /// A context for one instance of a module (`wasi_ephemeral_nn`).
    pub fn witx(&self) -> wasmtime_wasi_nn::witx::WasiNnCtx {
        wasmtime_wasi_nn::witx::WasiNnCtx::new(self.backends(), self.registry())
    }

    /// Handles to the app's backends, one per encoding.
    fn backends(&self) -> Vec<Backend> {
        self.backends
            .iter()
            .map(|(encoding, b)| Backend::from(Shared(*encoding, b.clone())))
            .collect()
    }

    fn registry(&self) -> Registry {
        Registry::from(Graphs(self.graphs.as_ref().clone()))
    }
}

/// One of the app's backends, shared by its instances: a model a guest loads is compiled by the
/// same OpenVINO `Core` for every instance, not by a new one per instance.
struct Shared(GraphEncoding, Arc<Mutex<Backend>>);

impl BackendInner for Shared {
    fn encoding(&self) -> GraphEncoding {
        self.0
    }

    fn load(&mut self, builders: &[&[u8]], target: ExecutionTarget) -> Result<Graph, BackendError> {
        self.1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .load(builders, target)
    }

    fn as_dir_loadable(&mut self) -> Option<&mut dyn BackendFromDir> {
        // Directories are loaded once, by `PreparedNn::new`; guests load by bytes or by name.
        None
    }
}

/// An instance's own map of the shared models (a `Graph` is a handle to one).
struct Graphs(HashMap<String, Graph>);

impl GraphRegistry for Graphs {
    fn get(&self, name: &str) -> Option<&Graph> {
        self.0.get(name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Graph> {
        self.0.get_mut(name)
    }
}
