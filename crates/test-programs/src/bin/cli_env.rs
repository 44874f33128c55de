//! Prints every environment variable as `KEY=VALUE`, sorted by key, one per line. The test expects exactly the variables the host granted (and no others).

fn main() {
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    vars.sort();
    for (key, value) in vars {
        println!("{key}={value}");
    }
}
