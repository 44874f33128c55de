//! Prints `Hello, world!`; with arguments `--name Ada` prints `Hello, Ada!`. The test expects exactly that line on stdout and exit code 0.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut name = String::from("world");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--name" {
            if let Some(value) = it.next() {
                name = value.clone();
            }
        } else if let Some(value) = arg.strip_prefix("--name=") {
            name = value.to_string();
        }
    }
    println!("Hello, {name}!");
}
