//! The Redis trigger component of `../spin-redis` written with Spin SDK 7 (`#[redis_subscriber]`,
//! async): for each message, counts the messages in the store `default` (`count`) and prints
//! `message N: PAYLOAD` on stdout. A message `fail` makes the handler return an error (after
//! counting it), `trap` makes it panic (before counting it).

use bytes::Bytes;
use spin_sdk::key_value::Store;
use spin_sdk::redis_subscriber;

#[redis_subscriber]
async fn on_message(message: Bytes) -> anyhow::Result<()> {
    let payload = String::from_utf8_lossy(&message).into_owned();
    if payload == "trap" {
        panic!("asked to trap");
    }
    let store = Store::open_default().await?;
    let count = store
        .get("count")
        .await?
        .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    store.set("count", count.to_string().as_bytes()).await?;
    println!("message {count}: {payload}");
    if payload == "fail" {
        anyhow::bail!("asked to fail");
    }
    Ok(())
}
