//! Writes the line `to stdout` to stdout and the line `to stderr` to stderr. The test expects each stream to carry only its own line.

fn main() {
    println!("to stdout");
    eprintln!("to stderr");
}
