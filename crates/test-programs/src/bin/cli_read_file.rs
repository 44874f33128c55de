//! Prints the contents of the file at argv[1] to stdout. On error it prints `error: <io error>` to stderr and exits 1; the test expects either the exact contents or that error (e.g. for paths outside granted directories).

use std::io::Write;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("error: usage: cli_read_file PATH");
        std::process::exit(1);
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
