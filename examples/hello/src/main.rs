//! The example app of the quick start: greets `--name NAME` (default: world), and shows the
//! sandbox by listing what it was granted.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .iter()
        .position(|a| a == "--name")
        .and_then(|i| args.get(i + 1))
        .map_or("world", String::as_str);
    println!("Hello, {name}!");

    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    println!("environment variables I can see: {env:?}");
    match std::fs::read_dir("/data") {
        Ok(entries) => {
            let names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            println!("files in /data: {names:?}");
        }
        Err(e) => println!("/data: {e}"),
    }
}
