//! A WASI command: `skiff run` calls `main` once and passes on its exit code.

fn main() {
    println!("Hello from Rust!");
}
