//! Recurses without bound (not a tail call). The test expects a stack-overflow trap rather than a host crash.

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // Opaque to the optimiser (and to the `unconditional_recursion` lint), but never true.
    if std::hint::black_box(depth == u64::MAX) {
        return depth;
    }
    let next = std::hint::black_box(depth + 1);
    // Using the result after the call keeps this from being turned into a loop.
    std::hint::black_box(recurse(next)).wrapping_add(depth)
}

fn main() {
    let result = recurse(std::hint::black_box(0));
    println!("{result}");
}
