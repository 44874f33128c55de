//! An HTTP component as the Spin SDK writes one (`spin new -t http-rust`, with a key-value store
//! and a variable): counts its requests in the store `default` (`count`, which every request
//! reads and writes back one more) and answers `GREETING PATH count=N\n`, GREETING the variable
//! `greeting` (or the SDK's error, as `Debug`). A store it may not open answers 500 with the
//! SDK's error. A path ending in `/sql` is counted in the SQLite database `default` instead
//! (a row per request in `visits`): `visits=N\n`; one ending in `/sql3` the same through the
//! SDK's newer `sqlite3` module, and the row id of its insert: `visits=N rowid=R\n`. A path
//! ending in `/redis` increments `hits` on the Redis server at the variable `redis_address`:
//! `hits=N\n`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    if request.path().ends_with("/sql") {
        use spin_sdk::sqlite::{Connection, Value};
        let db = Connection::open_default()?;
        db.execute("CREATE TABLE IF NOT EXISTS visits (path TEXT)", &[])?;
        db.execute(
            "INSERT INTO visits VALUES (?)",
            &[Value::Text(request.path().to_string())],
        )?;
        let counted = db.execute("SELECT count(*) AS n FROM visits", &[])?;
        let visits: i64 = counted.rows().next().and_then(|r| r.get("n")).unwrap_or(-1);
        return Ok(Response::new(200, format!("visits={visits}\n")));
    }
    if request.path().ends_with("/redis") {
        let address = spin_sdk::variables::get("redis_address")?;
        let hits = spin_sdk::redis::Connection::open(&address)?.incr("hits")?;
        return Ok(Response::new(200, format!("hits={hits}\n")));
    }
    if request.path().ends_with("/sql3") {
        use spin_sdk::sqlite3::{Connection, Value};
        let db = Connection::open_default()?;
        db.execute("CREATE TABLE IF NOT EXISTS visits (path TEXT)", &[])?;
        db.execute(
            "INSERT INTO visits VALUES (?)",
            &[Value::Text(request.path().to_string())],
        )?;
        let rowid = db.last_insert_rowid();
        let counted = db.execute("SELECT count(*) AS n FROM visits", &[])?;
        let visits: i64 = counted.rows().next().and_then(|r| r.get("n")).unwrap_or(-1);
        return Ok(Response::new(200, format!("visits={visits} rowid={rowid}\n")));
    }
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
