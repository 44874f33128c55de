//! Runs a model through `wasi:nn`: `p2_nn DIR` loads `DIR/model.xml` and `DIR/model.bin`
//! (OpenVINO's IR, read from a granted directory), `p2_nn --name NAME` a graph the host preloaded;
//! then computes on the f32 tensor `[1, 2, 3, 4]` (shape `[1, 4]`) and prints the first output's
//! numbers. A `wasi:nn` error is printed as `error: CODE: MESSAGE` and exits 1.

#[path = "../nn.rs"]
mod nn;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = match &args[..] {
        [flag, name] if flag == "--name" => nn::Model::Name(name),
        [dir] => nn::Model::Dir(dir),
        _ => panic!("usage: p2_nn DIR | p2_nn --name NAME"),
    };
    match nn::compute(model) {
        Ok(numbers) => println!("{numbers}"),
        Err(e) => {
            println!("error: {e}");
            std::process::exit(1);
        }
    }
}
