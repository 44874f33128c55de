//! Allocates, touches and keeps 1 MiB chunks forever, printing the MiB count to stderr every 64 MiB. The test expects the host's memory limit to stop it (a trap or allocation failure), not the machine.

const MIB: usize = 1024 * 1024;

fn main() {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        // vec![1; n] writes every byte, so the pages are really committed.
        let chunk = std::hint::black_box(vec![1u8; MIB]);
        chunks.push(chunk);
        let count = chunks.len();
        if count % 64 == 0 {
            eprintln!("{count} MiB");
        }
        std::hint::black_box(&mut chunks);
    }
}
