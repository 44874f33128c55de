//! Spins forever doing CPU work with no host calls inside the loop. The test expects the host's time/fuel/epoch limit to interrupt it.

fn main() {
    let mut x: u64 = std::hint::black_box(1);
    loop {
        x = std::hint::black_box(
            x.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        );
    }
}
