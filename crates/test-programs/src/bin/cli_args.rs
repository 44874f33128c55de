//! Prints each argument after argv[0] on its own line. The test expects stdout to be exactly the arguments it passed, one per line.

fn main() {
    for arg in std::env::args_os().skip(1) {
        println!("{}", arg.to_string_lossy());
    }
}
