//! (wasm32-wasip2, wasi:http/proxy) A handler that runs the SQL it is sent on a Spin SQLite
//! database (`fermyon:spin/sqlite@2.0.0`, as the Spin SDKs import it): `POST /sql/LABEL` with a
//! statement as the body opens database LABEL and executes it; 200 with the rows, one per line,
//! their values joined by `|` (text as is, integers and reals in decimal, blobs as their length,
//! null as `NULL`); 403 for `access-denied`, else 500 with the error as `Debug`.

#[path = "../http_util.rs"]
mod http_util;

use std::io::Read as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

wit_bindgen::generate!({
    inline: r"
        package skiff:test-programs;

        world spin-sql {
            import fermyon:spin/sqlite@2.0.0;
        }

        package fermyon:spin@2.0.0 {
            interface sqlite {
                resource connection {
                    open: static func(database: string) -> result<connection, error>;
                    execute: func(statement: string, parameters: list<value>) -> result<query-result, error>;
                }
                variant error {
                    no-such-database,
                    access-denied,
                    invalid-connection,
                    database-full,
                    io(string)
                }
                record query-result {
                    columns: list<string>,
                    rows: list<row-result>,
                }
                record row-result {
                    values: list<value>
                }
                variant value {
                    integer(s64),
                    real(f64),
                    text(string),
                    blob(list<u8>),
                    null
                }
            }
        }
    ",
    world: "spin-sql",
    generate_all,
});

use fermyon::spin::sqlite::{Connection, Error, Value};

fn body_of(request: &IncomingRequest) -> String {
    let body = request.consume().expect("body consumed once");
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().expect("body stream taken once");
        let _ = stream.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn text(value: &Value) -> String {
    match value {
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => b.len().to_string(),
        Value::Null => "NULL".into(),
    }
}

fn run(label: &str, statement: &str) -> Result<String, Error> {
    let result = Connection::open(label)?.execute(statement, &[])?;
    let lines = result.rows.iter().map(|row| {
        let values: Vec<String> = row.values.iter().map(text).collect();
        values.join("|") + "\n"
    });
    Ok(lines.collect())
}

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match path.strip_prefix("/sql/") {
            Some(label) => match run(label, &body_of(&request)) {
                Ok(rows) => (200, rows),
                Err(Error::AccessDenied) => (403, "AccessDenied\n".into()),
                Err(e) => (500, format!("{e:?}\n")),
            },
            None => (400, "unknown request\n".into()),
        };
        http_util::respond_text(out, status, body.as_bytes());
    }
}

wasi::http::proxy::export!(Handler);

/// The component also exports wasi:cli/run (a no-op); hosts serve the HTTP export.
fn main() {}
