//! A CPU-bound guest for measuring the cost of CPU-limit mechanisms (epoch interruption, fuel):
//! a sieve of Eratosthenes (loads and stores in linear memory) followed by a tight integer
//! mixing loop (arithmetic only, one loop back-edge per few instructions). No I/O until the end,
//! where it prints a checksum, so every run does the same work and its result can be checked.
//!
//! Usage: cpu [SCALE]   (SCALE defaults to 30, about 1 s; the work grows linearly with it)

use std::hint::black_box;

/// Counts the primes below `limit` and folds their positions into a checksum.
fn sieve(limit: usize) -> u64 {
    let mut composite = vec![false; limit];
    let mut sum: u64 = 0;
    let mut i = 2;
    while i < limit {
        if !composite[i] {
            sum = sum.wrapping_mul(31).wrapping_add(i as u64);
            // In u64: `i * i` overflows a 32-bit usize (wasm32) long before `i` reaches `limit`.
            let mut j = (i as u64) * (i as u64);
            while j < limit as u64 {
                composite[j as usize] = true;
                j += i as u64;
            }
        }
        i += 1;
    }
    sum
}

/// A splitmix64-style mixing loop: `rounds` iterations of multiply, xor and shift.
fn mix(seed: u64, rounds: u64) -> u64 {
    let mut x = seed;
    let mut acc: u64 = 0;
    for n in 0..rounds {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        acc = acc.rotate_left(5) ^ z ^ n;
    }
    acc
}

fn main() {
    let scale: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SCALE must be a positive integer"))
        .unwrap_or(30);
    let scale = black_box(scale);
    let mut checksum = 0u64;
    for round in 0..scale {
        checksum ^= sieve(black_box(2_000_000)).rotate_left(round as u32);
        checksum ^= mix(black_box(round), black_box(10_000_000));
    }
    println!("checksum {checksum:016x}");
}
