//! Prints what `wasi:config/store` answers: every `NAME=VALUE` of `get-all`, sorted, then for each
//! argument `NAME: VALUE` (or `NAME: none`) from `get`.

wit_bindgen::generate!({
    inline: r"
        package skiff:test-programs;

        world config {
            import wasi:config/store@0.2.0-rc.1;
        }

        package wasi:config@0.2.0-rc.1 {
            interface store {
                variant error {
                    upstream(string),
                    io(string),
                }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }
        }
    ",
    world: "config",
    generate_all,
});

use crate::wasi::config::store;

fn main() {
    let mut all = store::get_all().expect("get-all");
    all.sort();
    for (name, value) in all {
        println!("{name}={value}");
    }
    for name in std::env::args().skip(1) {
        match store::get(&name).expect("get") {
            Some(value) => println!("{name}: {value}"),
            None => println!("{name}: none"),
        }
    }
}
