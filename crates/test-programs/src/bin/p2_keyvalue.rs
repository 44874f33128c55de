//! Opens the `wasi:keyvalue` store `""` and prints its keys, sorted, as `KEY=VALUE`; then sets
//! `written` and prints what `get` and `exists` answer for it; then tries to open the store
//! `other` and prints the error.

wit_bindgen::generate!({
    inline: r"
        package skiff:test-programs;

        world keyvalue {
            import wasi:keyvalue/store@0.2.0-draft;
        }

        package wasi:keyvalue@0.2.0-draft {
            interface store {
                variant error {
                    no-such-store,
                    access-denied,
                    other(string)
                }
                record key-response {
                    keys: list<string>,
                    cursor: option<u64>
                }
                open: func(identifier: string) -> result<bucket, error>;
                resource bucket {
                    get: func(key: string) -> result<option<list<u8>>, error>;
                    set: func(key: string, value: list<u8>) -> result<_, error>;
                    delete: func(key: string) -> result<_, error>;
                    exists: func(key: string) -> result<bool, error>;
                    list-keys: func(cursor: option<u64>) -> result<key-response, error>;
                }
            }
        }
    ",
    world: "keyvalue",
    generate_all,
});

use crate::wasi::keyvalue::store;

fn main() {
    let bucket = store::open("").expect("open the default store");
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor).expect("list-keys");
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    keys.sort();
    for key in keys {
        let value = bucket.get(&key).expect("get").expect("a listed key has a value");
        println!("{key}={}", String::from_utf8_lossy(&value));
    }
    bucket.set("written", b"by the guest").expect("set");
    let value = bucket.get("written").expect("get").unwrap_or_default();
    println!("written: {}", String::from_utf8_lossy(&value));
    println!("exists: {}", bucket.exists("written").expect("exists"));
    match store::open("other") {
        Ok(_) => println!("other: opened"),
        Err(e) => println!("other: {e:?}"),
    }
}
