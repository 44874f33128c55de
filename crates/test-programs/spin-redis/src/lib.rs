//! A Redis trigger component as the Spin SDK writes one (`spin new -t redis-rust`, with a
//! key-value store): for each message, counts the messages in the store `default` (`count`) and
//! prints `message N: PAYLOAD` on stdout. A message `fail` makes the handler return an error
//! (after counting it), `trap` makes it panic and `spin` compute for ever (before counting it).

use bytes::Bytes;
use spin_sdk::key_value::Store;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    let payload = String::from_utf8_lossy(&message).into_owned();
    if payload == "trap" {
        panic!("asked to trap");
    }
    if payload == "spin" {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    let store = Store::open_default()?;
    let count = store
        .get("count")?
        .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    store.set("count", count.to_string().as_bytes())?;
    println!("message {count}: {payload}");
    if payload == "fail" {
        anyhow::bail!("asked to fail");
    }
    Ok(())
}
