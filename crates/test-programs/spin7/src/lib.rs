//! The Spin SDK guest of `../spin` written with Spin SDK 7 (`#[http_service]`, async): counts
//! its requests in the store `default` (`count`, which every request reads and writes back one
//! more) and answers `GREETING PATH count=N keys=K\n`, GREETING the variable `greeting` (or the
//! SDK's error, as `Debug`) and K how many keys the store's key stream gave. A store it may not
//! open answers 500 with the SDK's error. A path ending in `/sql` is counted in the SQLite
//! database `default` instead (a row per request in `visits`): `visits=N rowid=R\n`, R the row
//! id of its insert. A path ending in `/redis` increments `hits` on the Redis server at the
//! variable `redis_address`: `hits=N\n`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;

#[http_service]
async fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let path = request.uri().path().to_string();
    if path.ends_with("/redis") {
        let address = spin_sdk::variables::get("redis_address").await?;
        let redis = spin_sdk::redis::Connection::open(&address).await?;
        let hits = redis.incr("hits").await?;
        return Ok(Response::builder()
            .status(200)
            .body(format!("hits={hits}\n"))?);
    }
    if path.ends_with("/sql") {
        use spin_sdk::sqlite::{Connection, Value};
        let db = Connection::open_default().await?;
        db.execute("CREATE TABLE IF NOT EXISTS visits (path TEXT)", [])
            .await?
            .collect()
            .await?;
        db.execute("INSERT INTO visits VALUES (?)", [Value::Text(path)])
            .await?
            .collect()
            .await?;
        let rowid = db.last_insert_rowid().await;
        let counted = db
            .execute("SELECT count(*) FROM visits", [])
            .await?
            .collect()
            .await?;
        let visits = match counted.first().and_then(|row| row.values.first()) {
            Some(Value::Integer(n)) => *n,
            _ => -1,
        };
        return Ok(Response::builder()
            .status(200)
            .body(format!("visits={visits} rowid={rowid}\n"))?);
    }
    let store = Store::open_default().await?;
    let count = store
        .get("count")
        .await?
        .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    store.set("count", count.to_string().as_bytes()).await?;
    let keys = store.get_keys().await.collect().await?.len();
    let greeting = spin_sdk::variables::get("greeting")
        .await
        .unwrap_or_else(|e| format!("{e:?}"));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!(
            "{greeting} {} count={count} keys={keys}\n",
            request.uri().path()
        ))?)
}
