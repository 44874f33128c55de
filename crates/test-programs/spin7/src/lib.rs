//! The Spin SDK guest of `../spin` written with Spin SDK 7 (`#[http_service]`, async): counts
//! its requests in the store `default` (`count`, which every request reads and writes back one
//! more) and answers `GREETING PATH count=N keys=K\n`, GREETING the variable `greeting` (or the
//! SDK's error, as `Debug`) and K how many keys the store's key stream gave. A store it may not
//! open answers 500 with the SDK's error. A path ending in `/sql` is counted in the SQLite
//! database `default` instead (a row per request in `visits`): `visits=N rowid=R\n`, R the row
//! id of its insert. A path ending in `/redis` increments `hits` on the Redis server at the
//! variable `redis_address`: `hits=N\n`. A path ending in `/pg` reaches the PostgreSQL server at
//! the variable `pg_address` through the SDK's `pg` module (`spin:postgres@4.2.0`; with the CA
//! root of the variable `pg_ca_root`, when it is set): writes a row of values of many types, reads
//! it back (its rows streamed) and answers each column as `NAME TYPE = VALUE` (the SDK's types, as
//! `Debug`), then what the server said of a query of a table that does not exist; a POST to a
//! path ending in `/pg/query` runs its body as a query and answers `rows=N` or the error. Paths
//! ending in `/mysql` and `/mysql/query` do the same with the MySQL server at the variable
//! `mysql_address` through the SDK's `mysql` module (`spin:mysql@3.0.0`).

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;

#[http_service]
async fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let path = request.uri().path().to_string();
    let database = ["/pg", "/mysql"]
        .into_iter()
        .find(|db| path.ends_with(db) || path.ends_with(&format!("{db}/query")));
    if let Some(database) = database {
        use spin_sdk::http::body::IncomingBodyExt as _;
        let body = request
            .into_body()
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let body = String::from_utf8_lossy(&body);
        let answer = match database {
            "/pg" => postgres::answer(&path, &body).await?,
            _ => mysql::answer(&path, &body).await?,
        };
        return Ok(Response::builder().status(200).body(answer)?);
    }
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

mod postgres {
    use std::fmt::Write as _;

    use spin_sdk::pg::{
        Certificate, Connection, Interval, OpenOptions, ParameterValue as P, RangeBoundKind,
    };

    pub async fn answer(path: &str, body: &str) -> anyhow::Result<String> {
        let address = spin_sdk::variables::get("pg_address").await?;
        let db = match spin_sdk::variables::get("pg_ca_root").await {
            Ok(pem) if !pem.is_empty() => {
                let options = OpenOptions {
                    ca_root: Some(Certificate::Text(pem)),
                };
                Connection::open_with_options(&address, options).await?
            }
            _ => Connection::open(&address).await?,
        };
        let mut out = String::new();
        if path.ends_with("/query") {
            match db.query(body, []).await {
                Ok(result) => writeln!(out, "rows={}", result.collect().await?.len())?,
                Err(e) => writeln!(out, "error: {e:?}")?,
            }
            return Ok(out);
        }
        db.execute(
            "CREATE TABLE IF NOT EXISTS v7 (id SERIAL PRIMARY KEY, whole INT4, name TEXT, \
             born DATE, amount NUMERIC, span INT4RANGE, tags TEXT[], wait INTERVAL, meta JSONB, \
             uid UUID, nothing INT4)",
            [],
        )
        .await?;
        let changed = db
            .execute(
                "INSERT INTO v7 (whole, name, born, amount, span, tags, wait, meta, uid, nothing) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [
                    P::Int32(7),
                    P::Str("Zoë".into()),
                    P::Date((2024, 2, 29)),
                    P::Decimal("-1.50".into()),
                    P::RangeInt32((
                        Some((1, RangeBoundKind::Inclusive)),
                        Some((5, RangeBoundKind::Inclusive)),
                    )),
                    P::ArrayStr(vec![Some("a".into()), None]),
                    P::Interval(Interval {
                        micros: 1_500_000,
                        days: 2,
                        months: 14,
                    }),
                    P::Jsonb(br#"{"k": [1]}"#.to_vec()),
                    P::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
                    P::DbNull,
                ],
            )
            .await?;
        writeln!(out, "changed={changed}")?;
        let result = db
            .query(
                "SELECT whole, name, born, amount, span, tags, wait, meta, uid, nothing FROM v7 \
                 ORDER BY id DESC LIMIT 1",
                [],
            )
            .await?;
        let columns = result.columns().to_vec();
        let rows = result.collect().await?;
        for (i, column) in columns.iter().enumerate() {
            writeln!(out, "{} {:?} = {:?}", column.name, column.data_type, rows[0][i])?;
        }
        match db.query("SELECT * FROM no_such_table", []).await {
            Ok(_) => writeln!(out, "error: none")?,
            Err(e) => writeln!(out, "error: {e:?}")?,
        }
        Ok(out)
    }
}

mod mysql {
    use std::fmt::Write as _;

    use spin_sdk::mysql::{Connection, ParameterValue as P};

    pub async fn answer(path: &str, body: &str) -> anyhow::Result<String> {
        let db = Connection::open(spin_sdk::variables::get("mysql_address").await?).await?;
        let mut out = String::new();
        if path.ends_with("/query") {
            match db.query(body, []).await {
                Ok(result) => writeln!(out, "rows={}", result.collect().await?.len())?,
                Err(e) => writeln!(out, "error: {e:?}")?,
            }
            return Ok(out);
        }
        db.execute(
            "CREATE TABLE IF NOT EXISTS v3 (id INT AUTO_INCREMENT PRIMARY KEY, tiny TINYINT \
             UNSIGNED, whole INT UNSIGNED, big BIGINT, name TEXT, raw BLOB, nothing INT)",
            [],
        )
        .await?;
        db.execute(
            "INSERT INTO v3 (tiny, whole, big, name, raw, nothing) VALUES (?, ?, ?, ?, ?, ?)",
            [
                P::Uint8(200),
                P::Uint32(4_000_000_000),
                P::Int64(-9_000_000_000),
                P::Str("Zoë".into()),
                P::Binary(vec![1, 2]),
                P::DbNull,
            ],
        )
        .await?;
        let result = db
            .query(
                "SELECT tiny, whole, big, name, raw, nothing FROM v3 ORDER BY id DESC LIMIT 1",
                [],
            )
            .await?;
        let columns = result.columns().to_vec();
        let rows = result.collect().await?;
        for (i, column) in columns.iter().enumerate() {
            writeln!(out, "{} {:?} = {:?}", column.name, column.data_type, rows[0][i])?;
        }
        match db.query("SELECT * FROM no_such_table", []).await {
            Ok(_) => writeln!(out, "error: none")?,
            Err(e) => writeln!(out, "error: {e:?}")?,
        }
        Ok(out)
    }
}
