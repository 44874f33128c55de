//! `-S nn` in wasmtime-wasi-nn's terms: a context per instance, with the models the grant names
//! loaded once, when the grants are prepared, and shared by every instance.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime_wasi_nn::wit::{ExecutionTarget, GraphEncoding};
use wasmtime_wasi_nn::{Graph, GraphRegistry, Registry};

use crate::grants::NnGrant;
use crate::wasi::GrantError;

/// The granted models, loaded.
#[derive(Clone, Default)]
pub struct PreparedNn {
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
            graphs: Arc::new(graphs),
        })
    }

    /// A context for one instance of a component (`wasi:nn`): every backend, and the models.
    pub fn wit(&self) -> wasmtime_wasi_nn::wit::WasiNnCtx {
        wasmtime_wasi_nn::wit::WasiNnCtx::new(wasmtime_wasi_nn::backend::list(), self.registry())
    }

    /// A context for one instance of a module (`wasi_ephemeral_nn`).
    pub fn witx(&self) -> wasmtime_wasi_nn::witx::WasiNnCtx {
        wasmtime_wasi_nn::witx::WasiNnCtx::new(wasmtime_wasi_nn::backend::list(), self.registry())
    }

    fn registry(&self) -> Registry {
        Registry::from(Graphs(self.graphs.as_ref().clone()))
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
