//! Exits with the integer code given as argv[1] (default 0) via `std::process::exit`. The test expects the host to report that exit code.

fn main() {
    let code = match std::env::args().nth(1) {
        None => 0,
        Some(arg) => match arg.trim().parse::<i32>() {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: invalid exit code {arg:?}: {e}");
                std::process::exit(2);
            }
        },
    };
    std::process::exit(code);
}
