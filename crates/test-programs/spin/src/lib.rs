//! An HTTP component as the Spin SDK writes one (`spin new -t http-rust`, with a key-value store
//! and a variable): counts its requests in the store `default` (`count`, which every request
//! reads and writes back one more) and answers `GREETING PATH count=N\n`, GREETING the variable
//! `greeting` (or the SDK's error, as `Debug`). A store it may not open answers 500 with the
//! SDK's error.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let store = Store::open_default()?;
    let count = store
        .get("count")?
        .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    store.set("count", count.to_string().as_bytes())?;
    let greeting = spin_sdk::variables::get("greeting").unwrap_or_else(|e| format!("{e:?}"));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("{greeting} {} count={count}\n", request.path()))
        .build())
}
