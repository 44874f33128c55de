//! Prints the sorted entry names of the directory argv[1] (default `/`), one per line. On error it prints `error: <io error>` to stderr and exits 1; the test expects exactly the entries it created, or that error.

fn main() {
    let path = std::env::args_os().nth(1).unwrap_or_else(|| "/".into());
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => names.push(entry.file_name().to_string_lossy().into_owned()),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    names.sort();
    for name in names {
        println!("{name}");
    }
}
