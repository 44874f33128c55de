//! Runs a model through `wasi:nn`: `p2_nn DIR` loads `DIR/model.xml` and `DIR/model.bin`
//! (OpenVINO's IR, read from a granted directory), `p2_nn --name NAME` a graph the host preloaded;
//! then computes on the f32 tensor `[1, 2, 3, 4]` (shape `[1, 4]`) and prints the first output's
//! numbers. A `wasi:nn` error is printed as `error: CODE: MESSAGE` and exits 1.

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

use crate::wasi::nn::errors::Error;
use crate::wasi::nn::graph::{self, ExecutionTarget, GraphEncoding};
use crate::wasi::nn::tensor::{Tensor, TensorType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        println!("error: {:?}: {}", e.code(), e.data());
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let graph = match args {
        [flag, name] if flag == "--name" => graph::load_by_name(name)?,
        [dir] => {
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
        _ => panic!("usage: p2_nn DIR | p2_nn --name NAME"),
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
    println!("{}", numbers.join(" "));
    Ok(())
}
