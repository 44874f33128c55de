//! Writes argv[2] to the file at argv[1] and prints `wrote`. On error it prints `error: <io error>` to stderr and exits 1; the test expects the file to hold the text, or that error for read-only/ungranted paths.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), Some(text)) = (args.next(), args.next()) else {
        eprintln!("error: usage: cli_write_file PATH TEXT");
        std::process::exit(1);
    };
    match std::fs::write(&path, text.as_encoded_bytes()) {
        Ok(()) => println!("wrote"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
