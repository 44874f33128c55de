//! An HTTP component as the Spin SDK writes one (`spin new -t http-rust`, with a key-value store
//! and a variable): counts its requests in the store `default` (`count`, which every request
//! reads and writes back one more) and answers `GREETING PATH count=N\n`, GREETING the variable
//! `greeting` (or the SDK's error, as `Debug`). A store it may not open answers 500 with the
//! SDK's error. A path ending in `/sql` is counted in the SQLite database `default` instead
//! (a row per request in `visits`): `visits=N\n`; one ending in `/sql3` the same through the
//! SDK's newer `sqlite3` module, and the row id of its insert: `visits=N rowid=R\n`. A path
//! ending in `/redis` increments `hits` on the Redis server at the variable `redis_address`:
//! `hits=N\n`. Paths ending in `/pg`, `/pg3` and `/pg4` reach the PostgreSQL server at the
//! variable `pg_address` through the SDK's `pg` (`fermyon:spin/postgres@2.0.0`), `pg3` and `pg4`
//! modules: each writes a row of values of every type its version has, reads it back and
//! answers each column as `NAME TYPE = VALUE` (the SDK's types, as `Debug`), then what the
//! server said of a query of a table that does not exist. A POST to a path ending in
//! `/pg4/query` runs its body as a query and answers `rows=N` or the error. A path ending in
//! `/mysql` does the same with the MySQL server at the variable `mysql_address` through the SDK's
//! `mysql` module (`fermyon:spin/mysql@2.0.0`), and a POST to one ending in `/mysql/query`.

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
    if request.path().ends_with("/mysql/query") {
        let statement = String::from_utf8_lossy(request.body()).into_owned();
        return Ok(Response::new(200, mysql::count(&statement)?));
    }
    if request.path().ends_with("/mysql") {
        return Ok(Response::new(200, mysql::values()?));
    }
    if request.path().ends_with("/pg4/query") {
        let statement = String::from_utf8_lossy(request.body()).into_owned();
        return Ok(Response::new(200, postgres::count(&statement)?));
    }
    if request.path().ends_with("/pg4") {
        return Ok(Response::new(200, postgres::v4()?));
    }
    if request.path().ends_with("/pg3") {
        return Ok(Response::new(200, postgres::v3()?));
    }
    if request.path().ends_with("/pg") {
        return Ok(Response::new(200, postgres::v2()?));
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
        return Ok(Response::new(
            200,
            format!("visits={visits} rowid={rowid}\n"),
        ));
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

mod postgres {
    use std::fmt::Write as _;

    fn address() -> anyhow::Result<String> {
        Ok(spin_sdk::variables::get("pg_address")?)
    }

    pub fn v4() -> anyhow::Result<String> {
        use spin_sdk::pg4::{Connection, Interval, ParameterValue as P, RangeBoundKind};
        let db = Connection::open(&address()?)?;
        db.execute(
            "CREATE TABLE IF NOT EXISTS v4 (id SERIAL PRIMARY KEY, ok BOOL, small INT2, \
             whole INT4, big INT8, real FLOAT4, ratio FLOAT8, name TEXT, code VARCHAR(8), \
             raw BYTEA, born DATE, noon TIME, at TIMESTAMP, stamp TIMESTAMPTZ, uid UUID, \
             meta JSONB, amount NUMERIC, span INT4RANGE, wide INT8RANGE, price NUMRANGE, \
             ints INT4[], longs INT8[], amounts NUMERIC[], tags TEXT[], wait INTERVAL, \
             nothing INT4)",
            &[],
        )?;
        let changed = db.execute(
            "INSERT INTO v4 (ok, small, whole, big, real, ratio, name, code, raw, born, noon, \
             at, stamp, uid, meta, amount, span, wide, price, ints, longs, amounts, tags, wait, \
             nothing) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
            &[
                P::Boolean(true),
                P::Int16(-7),
                P::Int32(2_000_000_000),
                P::Int64(-9_000_000_000),
                P::Floating32(1.5),
                P::Floating64(0.25),
                P::Str("Zoë".into()),
                P::Str("ab".into()),
                P::Binary(vec![0, 255]),
                P::Date((2024, 2, 29)),
                P::Time((12, 0, 1, 500_000_000)),
                P::Datetime((1999, 12, 31, 23, 59, 58, 123_456_000)),
                P::Timestamp(1_700_000_000),
                P::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
                P::Jsonb(br#"{"k": [1, 2.5, null]}"#.to_vec()),
                P::Decimal("-123456789012345678901234567890.0500".into()),
                P::RangeInt32((
                    Some((1, RangeBoundKind::Inclusive)),
                    Some((5, RangeBoundKind::Inclusive)),
                )),
                P::RangeInt64((None, Some((10, RangeBoundKind::Exclusive)))),
                P::RangeDecimal((Some(("0.5".into(), RangeBoundKind::Exclusive)), None)),
                P::ArrayInt32(vec![Some(1), None, Some(3)]),
                P::ArrayInt64(vec![Some(-1)]),
                P::ArrayDecimal(vec![Some("1.10".into()), None]),
                P::ArrayStr(vec![Some("a".into()), None]),
                P::Interval(Interval {
                    micros: 1_500_000,
                    days: 2,
                    months: 14,
                }),
                P::DbNull,
            ],
        )?;
        let rows = db.query(
            "SELECT ok, small, whole, big, real, ratio, name, code, raw, born, noon, at, stamp, \
             uid, meta, amount, span, wide, price, ints, longs, amounts, tags, wait, nothing, \
             '10.0.0.1'::inet AS other FROM v4 ORDER BY id DESC LIMIT 1",
            &[],
        )?;
        let mut out = format!("changed={changed}\n");
        for (column, value) in rows.columns.iter().zip(&rows.rows[0]) {
            writeln!(out, "{} {:?} = {:?}", column.name, column.data_type, value)?;
        }
        let none = db.query("SELECT whole FROM v4 WHERE false", &[])?;
        writeln!(out, "empty: {:?} rows={}", none.columns, none.rows.len())?;
        match db.query("SELECT * FROM no_such_table", &[]) {
            Err(spin_sdk::pg4::PgError::QueryFailed(spin_sdk::pg4::QueryError::DbError(e))) => {
                writeln!(out, "error: {} {} {}", e.severity, e.code, e.message)?
            }
            other => writeln!(out, "error: {other:?}")?,
        }
        match db.query("SELECT $1::INT4", &[P::Str("one".into())]) {
            Err(e) => writeln!(out, "mismatch: {e:?}")?,
            Ok(rows) => writeln!(out, "mismatch: {rows:?}")?,
        }
        Ok(out)
    }

    /// The rows `statement` gives, counted, or the error it met.
    pub fn count(statement: &str) -> anyhow::Result<String> {
        let db = spin_sdk::pg4::Connection::open(&address()?)?;
        Ok(match db.query(statement, &[]) {
            Ok(rows) => format!("rows={}\n", rows.rows.len()),
            Err(e) => format!("error: {e:?}\n"),
        })
    }

    pub fn v3() -> anyhow::Result<String> {
        use spin_sdk::pg3::{Connection, ParameterValue as P};
        let db = Connection::open(&address()?)?;
        db.execute(
            "CREATE TABLE IF NOT EXISTS v3 (id SERIAL PRIMARY KEY, name TEXT, born DATE, \
             at TIMESTAMP, amount NUMERIC)",
            &[],
        )?;
        let changed = db.execute(
            "INSERT INTO v3 (name, born, at, amount) VALUES ($1, $2, $3, 1.5)",
            &[
                P::Str("Ada".into()),
                P::Date((1815, 12, 10)),
                P::Datetime((2000, 1, 1, 0, 0, 0, 0)),
            ],
        )?;
        let rows = db.query(
            "SELECT name, born, at, amount FROM v3 ORDER BY id DESC LIMIT 1",
            &[],
        )?;
        let mut out = format!("changed={changed}\n");
        for (column, value) in rows.columns.iter().zip(&rows.rows[0]) {
            writeln!(out, "{} {:?} = {:?}", column.name, column.data_type, value)?;
        }
        match db.query("SELECT * FROM no_such_table", &[]) {
            Err(spin_sdk::pg3::PgError::QueryFailed(e)) => writeln!(out, "error: {e}")?,
            other => writeln!(out, "error: {other:?}")?,
        }
        Ok(out)
    }

    pub fn v2() -> anyhow::Result<String> {
        use spin_sdk::pg::{Connection, ParameterValue as P};
        let db = Connection::open(&address()?)?;
        db.execute("CREATE TABLE IF NOT EXISTS v2 (name TEXT, n INT8)", &[])?;
        let changed = db.execute(
            "INSERT INTO v2 VALUES ($1, $2)",
            &[P::Str("one".into()), P::Int64(1)],
        )?;
        let rows = db.query("SELECT name, n, now() AS at FROM v2 LIMIT 1", &[])?;
        let mut out = format!("changed={changed}\n");
        for (column, value) in rows.columns.iter().zip(&rows.rows[0]) {
            writeln!(out, "{} {:?} = {:?}", column.name, column.data_type, value)?;
        }
        match db.execute(
            "INSERT INTO v2 VALUES ($1, $2)",
            &[P::Str("two".into()), P::Uint8(2)],
        ) {
            Err(e) => writeln!(out, "unsigned: {e:?}")?,
            Ok(n) => writeln!(out, "unsigned: {n}")?,
        }
        Ok(out)
    }
}

mod mysql {
    use std::fmt::Write as _;

    use spin_sdk::mysql::{Connection, ParameterValue as P};

    fn open() -> anyhow::Result<Connection> {
        Ok(Connection::open(&spin_sdk::variables::get("mysql_address")?)?)
    }

    /// The rows `statement` gives, counted, or the error it met.
    pub fn count(statement: &str) -> anyhow::Result<String> {
        Ok(match open()?.query(statement, &[]) {
            Ok(rows) => format!("rows={}\n", rows.rows.len()),
            Err(e) => format!("error: {e:?}\n"),
        })
    }

    pub fn values() -> anyhow::Result<String> {
        let db = open()?;
        db.execute(
            "CREATE TABLE IF NOT EXISTS v2 (id INT AUTO_INCREMENT PRIMARY KEY, ok BOOLEAN, \
             tiny TINYINT, small SMALLINT UNSIGNED, whole INT, big BIGINT UNSIGNED, real_ FLOAT, \
             ratio DOUBLE, name VARCHAR(20), raw VARBINARY(4), amount DECIMAL(10,2), born DATE, \
             at DATETIME(6), wait TIME, nothing INT)",
            &[],
        )?;
        db.execute(
            "INSERT INTO v2 (ok, tiny, small, whole, big, real_, ratio, name, raw, amount, born, \
             at, wait, nothing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                P::Boolean(true),
                P::Int8(-7),
                P::Uint16(65000),
                P::Int32(-2_000_000_000),
                P::Uint64(18_000_000_000_000_000_000),
                P::Floating32(1.5),
                P::Floating64(0.25),
                P::Str("Zoë".into()),
                P::Binary(vec![0, 255]),
                P::Str("-1.50".into()),
                P::Str("2024-02-29".into()),
                P::Str("1999-12-31 23:59:58.123456".into()),
                P::Str("-838:59:59".into()),
                P::DbNull,
            ],
        )?;
        let set = db.query(
            "SELECT ok, tiny, small, whole, big, real_, ratio, name, raw, amount, born, at, \
             wait, nothing FROM v2 ORDER BY id DESC LIMIT 1",
            &[],
        )?;
        let mut out = String::new();
        for (column, value) in set.columns.iter().zip(&set.rows[0]) {
            writeln!(out, "{} {:?} = {:?}", column.name, column.data_type, value)?;
        }
        match db.query("SELECT * FROM no_such_table", &[]) {
            Ok(_) => writeln!(out, "error: none")?,
            Err(e) => writeln!(out, "error: {e:?}")?,
        }
        Ok(out)
    }
}
