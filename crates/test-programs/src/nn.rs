//! Shared by the wasi-nn guests: the `wasi:nn` imports (the interfaces wasmtime-wasi-nn
//! implements), and one computation: the f32 tensor `[1, 2, 3, 4]` (shape `[1, 4]`, named `x`)
//! through a model, the first output's numbers joined by spaces. Included by each with
//! `#[path]`; not a program.

#![allow(dead_code, reason = "the handler opens models by name only")]

wit_bindgen::generate!({
    inline: r"
        package skiff:test-programs;

        world nn {
            import wasi:nn/graph@0.2.0-rc-2024-10-28;
        }

        package wasi:nn@0.2.0-rc-2024-10-28 {
            interface tensor {
                type tensor-dimensions = list<u32>;
                enum tensor-type { FP16, FP32, FP64, BF16, U8, I32, I64 }
                type tensor-data = list<u8>;
                resource tensor {
                    constructor(dimensions: tensor-dimensions, ty: tensor-type, data: tensor-data);
                    dimensions: func() -> tensor-dimensions;
                    ty: func() -> tensor-type;
                    data: func() -> tensor-data;
                }
            }
            interface graph {
                use errors.{error};
                use tensor.{tensor};
                use inference.{graph-execution-context};
                resource graph {
                    init-execution-context: func() -> result<graph-execution-context, error>;
                }
                enum graph-encoding { openvino, onnx, tensorflow, pytorch, tensorflowlite, ggml, autodetect }
                enum execution-target { cpu, gpu, tpu }
                type graph-builder = list<u8>;
                load: func(builder: list<graph-builder>, encoding: graph-encoding, target: execution-target) -> result<graph, error>;
                load-by-name: func(name: string) -> result<graph, error>;
            }
            interface inference {
                use errors.{error};
                use tensor.{tensor};
                type named-tensor = tuple<string, tensor>;
                resource graph-execution-context {
                    compute: func(inputs: list<named-tensor>) -> result<list<named-tensor>, error>;
                }
            }
            interface errors {
                enum error-code {
                    invalid-argument, invalid-encoding, timeout, runtime-error,
                    unsupported-operation, too-large, not-found, security, unknown
                }
                resource error {
                    code: func() -> error-code;
                    data: func() -> string;
                }
            }
        }
    ",
    world: "nn",
    generate_all,
});

use self::wasi::nn::errors::Error;
use self::wasi::nn::graph::{self, ExecutionTarget, GraphEncoding};
use self::wasi::nn::tensor::{Tensor, TensorType};

/// Where the model comes from.
pub enum Model<'a> {
    /// `DIR/model.xml` and `DIR/model.bin` (OpenVINO's IR), read from a granted directory.
    Dir(&'a str),
    /// A model the host preloaded (`-S nn-graph`).
    Name(&'a str),
}

/// Runs `[1, 2, 3, 4]` through the model; a wasi-nn error as `CODE: MESSAGE`.
pub fn compute(model: Model) -> Result<String, String> {
    run(model).map_err(|e| format!("{:?}: {}", e.code(), e.data()))
}

fn run(model: Model) -> Result<String, Error> {
    let graph = match model {
        Model::Name(name) => graph::load_by_name(name)?,
        Model::Dir(dir) => {
            let read = |file: &str| {
                std::fs::read(format!("{dir}/{file}"))
                    .unwrap_or_else(|e| panic!("cannot read {dir}/{file}: {e}"))
            };
            graph::load(
                &[read("model.xml"), read("model.bin")],
                GraphEncoding::Openvino,
                ExecutionTarget::Cpu,
            )?
        }
    };
    let context = graph.init_execution_context()?;
    let input: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let tensor = Tensor::new(&[1, 4], TensorType::Fp32, &input);
    let outputs = context.compute(vec![("x".to_string(), tensor)])?;
    let (_, output) = outputs.into_iter().next().expect("one output");
    let numbers: Vec<String> = output
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()).to_string())
        .collect();
    Ok(numbers.join(" "))
}
