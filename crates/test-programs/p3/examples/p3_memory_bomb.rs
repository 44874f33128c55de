//! Allocates 1 MiB blocks and touches them until the allocator fails; only a memory limit stops
//! it before the 4 GiB of a 32-bit memory.

use skiff_p3_programs::{stdout, wasip3};

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        stdout("allocating\n").await;
        let mut blocks = Vec::new();
        loop {
            blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
