//! Exits with the status given as argv[1] (`wasi:cli/exit@0.3.0`'s `exit-with-code`); with no
//! argument, `run` returns an error, which is status 1.

use skiff_p3_programs::wasip3;

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        match wasip3::cli::environment::get_arguments().get(1) {
            Some(code) => {
                wasip3::cli::exit::exit_with_code(code.parse().expect("a status 0-255"));
                unreachable!("exit-with-code returned")
            }
            None => Err(()),
        }
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
