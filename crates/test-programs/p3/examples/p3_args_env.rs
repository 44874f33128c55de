//! Prints its arguments after argv[0], one per line, then its environment as `KEY=VALUE` lines,
//! through WASI 0.3 (`wasi:cli/environment@0.3.0`, `wasi:cli/stdout@0.3.0`); exits 0.

use skiff_p3_programs::{stdout, wasip3};

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        let mut out = String::new();
        for arg in wasip3::cli::environment::get_arguments().iter().skip(1) {
            out.push_str(&format!("{arg}\n"));
        }
        for (key, value) in wasip3::cli::environment::get_environment() {
            out.push_str(&format!("{key}={value}\n"));
        }
        stdout(out).await;
        Ok(())
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
