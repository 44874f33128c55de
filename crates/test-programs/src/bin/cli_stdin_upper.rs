//! Copies stdin to stdout ASCII-uppercased, chunk by chunk (a streaming filter). The test expects the uppercased input on stdout and exit code 0 at EOF.

use std::io::{ErrorKind, Read, Write};

fn main() {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        buf[..n].make_ascii_uppercase();
        if let Err(e) = stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
