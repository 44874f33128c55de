//! (wasm32-wasip2 only) Prints what `wasi:cli/environment.initial-cwd` answers, or `none`. The
//! test expects the directory `-S cwd` / `-w` gave, whether or not a mount holds it.

fn main() {
    match wasi::cli::environment::initial_cwd() {
        Some(dir) => println!("{dir}"),
        None => println!("none"),
    }
}
