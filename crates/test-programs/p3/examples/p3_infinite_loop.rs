//! Spins forever without calling the host: only a CPU-time or wall-clock limit stops it.

use skiff_p3_programs::{stdout, wasip3};

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        stdout("spinning\n").await;
        let mut x: u64 = 1;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
