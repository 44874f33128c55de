//! Sleeps argv[1] milliseconds (default 0) with `std::thread::sleep`, then prints `done`. The test expects `done` after roughly that delay, or an interruption by a shorter host timeout.

fn main() {
    let millis = match std::env::args().nth(1) {
        None => 0,
        Some(arg) => match arg.trim().parse::<u64>() {
            Ok(ms) => ms,
            Err(e) => {
                eprintln!("error: invalid milliseconds {arg:?}: {e}");
                std::process::exit(2);
            }
        },
    };
    std::thread::sleep(std::time::Duration::from_millis(millis));
    println!("done");
}
