//! Spin's outbound PostgreSQL (`spin_sdk::pg`, `pg3`, `pg4`) against a real PostgreSQL server
//! the test starts (Debian's `postgresql`; scripts/install-test-deps.sh), with password
//! authentication (SCRAM) as a hosted database asks.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A PostgreSQL server of the test's own: its cluster in a temp dir, listening on 127.0.0.1 at
/// a free port, the user `postgres` with the password [`PASSWORD`].
struct PostgresServer {
    child: Child,
    port: u16,
    /// The certificate of the authority that signed its certificate (PEM), where one did.
    ca_root: Option<String>,
    _dir: tempfile::TempDir,
}

/// Whether and how a test's server speaks TLS.
#[derive(PartialEq)]
enum Tls {
    No,
    /// With a certificate for `localhost` that no root signed.
    SelfSigned,
    /// With a certificate for `localhost` that the test's own authority signed.
    SignedByCa,
}

const PASSWORD: &str = "s3cret";

/// Where Debian puts the server's programs: the newest installed major version.
fn postgres_bin() -> PathBuf {
    let mut versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL (Debian's postgresql; scripts/install-test-deps.sh)")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect::<Vec<_>>();
    versions.sort();
    let newest = versions
        .last()
        .expect("a PostgreSQL version in /usr/lib/postgresql");
    PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin"))
}

/// `program` with `args`, as the user `postgres` when the tests run as root (PostgreSQL refuses
/// to run as root).
fn as_postgres(program: PathBuf, args: &[&str]) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

impl PostgresServer {
    fn start() -> PostgresServer {
        PostgresServer::start_with(Tls::No)
    }

    /// With `tls`, the server also speaks TLS, with a certificate for `localhost`.
    fn start_with(tls: Tls) -> PostgresServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let password = dir.path().join("password");
        std::fs::write(&password, PASSWORD).unwrap();
        // Made before the directory is handed to the `postgres` user, which then owns the key.
        let (ca_root, (cert, key)) = match tls {
            Tls::No => Default::default(),
            Tls::SelfSigned => (None, crate::support::self_signed_certificate(dir.path())),
            Tls::SignedByCa => {
                let (ca, cert, key) = crate::support::certificate_signed_by_a_ca(dir.path());
                (Some(std::fs::read_to_string(ca).unwrap()), (cert, key))
            }
        };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let chowned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chowned.success());
        }
        let bin = postgres_bin();
        let (data, password) = (data.to_str().unwrap(), password.to_str().unwrap());
        let initdb = as_postgres(
            bin.join("initdb"),
            &[
                "-D",
                data,
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={password}"),
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = crate::support::free_port();
        let sockets = dir.path().to_str().unwrap();
        let port_arg = port.to_string();
        let mut args = vec![
            "-D",
            data,
            "-p",
            &port_arg,
            "-k",
            sockets,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ];
        let (cert_file, key_file);
        if tls != Tls::No {
            cert_file = format!("ssl_cert_file={}", cert.display());
            key_file = format!("ssl_key_file={}", key.display());
            args.extend(["-c", "ssl=on", "-c", &cert_file, "-c", &key_file]);
        }
        let child = as_postgres(bin.join("postgres"), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = PostgresServer {
            child,
            port,
            ca_root,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Spin app's component reaches the PostgreSQL server its `allowed_outbound_hosts` grants
/// (applied with `--network image`), by URL or by libpq's keywords (`connect_timeout=0`: no
/// limit, as libpq reads it), logs in with its password, and every value of every type
/// each SDK module has crosses both ways as Spin converts it; the server's errors reach the
/// guest as the server gave them; without the grant the connection is refused and the app's
/// log names the grant to add.
#[test]
fn spin_apps_query_postgres_through_their_grants() {
    let postgres = PostgresServer::start();
    let port = postgres.port;
    let app = crate::support::SpinApp::run(
        "ledger",
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "ledger"
version = "1.0.0"
[[trigger.http]]
route = "/url/..."
component = "url"
[[trigger.http]]
route = "/keywords/..."
component = "keywords"
[[trigger.http]]
route = "/ungranted/..."
component = "ungranted"
[[trigger.http]]
route = "/one/..."
component = "one"
[component.url]
source = "app.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1:{port}"]
variables = {{ pg_address = "postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres" }}
[component.one]
source = "app1.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1:{port}"]
[component.keywords]
source = "app.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1:{port}"]
variables = {{ pg_address = "host=127.0.0.1 port={port} user=postgres password={PASSWORD} dbname=postgres connect_timeout=0" }}
[component.ungranted]
source = "app.wasm"
variables = {{ pg_address = "postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres" }}
"#
        ),
        "image",
    );
    let get = |path: &str| app.get(path);

    // Spin 1's `outbound-pg` (Spin's Go SDK v2): the address in the call.
    assert_eq!(
        get(&format!(
            "/one/pg?postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
        )),
        (200, "answer 3 42\n".to_string())
    );

    let (status, body) = get("/url/pg4");
    assert_eq!(status, 200, "{body}");
    let expected = [
        "changed=1",
        "ok DbDataType::Boolean = DbValue::Boolean(true)",
        "small DbDataType::Int16 = DbValue::Int16(-7)",
        "whole DbDataType::Int32 = DbValue::Int32(2000000000)",
        "big DbDataType::Int64 = DbValue::Int64(-9000000000)",
        "real DbDataType::Floating32 = DbValue::Floating32(1.5)",
        "ratio DbDataType::Floating64 = DbValue::Floating64(0.25)",
        "name DbDataType::Str = DbValue::Str(\"Zoë\")",
        "code DbDataType::Str = DbValue::Str(\"ab\")",
        "raw DbDataType::Binary = DbValue::Binary([0, 255])",
        "born DbDataType::Date = DbValue::Date((2024, 2, 29))",
        "noon DbDataType::Time = DbValue::Time((12, 0, 1, 500000000))",
        "at DbDataType::Datetime = DbValue::Datetime((1999, 12, 31, 23, 59, 58, 123456000))",
        // TIMESTAMPTZ: the instant, in UTC (the server's time zone is not the guest's).
        "stamp DbDataType::Datetime = DbValue::Datetime((2023, 11, 14, 22, 13, 20, 0))",
        "uid DbDataType::Uuid = DbValue::Uuid(\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\")",
        // JSONB as the server keeps it, then compact, as Spin gives it.
        "meta DbDataType::Jsonb = DbValue::Jsonb([123, 34, 107, 34, 58, 91, 49, 44, 50, 46, 53, 44, 110, 117, 108, 108, 93, 125])",
        "amount DbDataType::Decimal = DbValue::Decimal(\"-123456789012345678901234567890.0500\")",
        // Ranges as the server normalises them: [1,5] is [1,6).
        "span DbDataType::RangeInt32 = DbValue::RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((6, RangeBoundKind::Exclusive))))",
        "wide DbDataType::RangeInt64 = DbValue::RangeInt64((None, Some((10, RangeBoundKind::Exclusive))))",
        "price DbDataType::RangeDecimal = DbValue::RangeDecimal((Some((\"0.5\", RangeBoundKind::Exclusive)), None))",
        "ints DbDataType::ArrayInt32 = DbValue::ArrayInt32([Some(1), None, Some(3)])",
        "longs DbDataType::ArrayInt64 = DbValue::ArrayInt64([Some(-1)])",
        "amounts DbDataType::ArrayDecimal = DbValue::ArrayDecimal([Some(\"1.10\"), None])",
        "tags DbDataType::ArrayStr = DbValue::ArrayStr([Some(\"a\"), None])",
        "wait DbDataType::Interval = DbValue::Interval(Interval { micros: 1500000, days: 2, months: 14 })",
        "nothing DbDataType::Int32 = DbValue::DbNull",
        // A type Spin has no case for: its name, and the server's bytes.
        "other DbDataType::Other(\"inet\") = DbValue::Unsupported([2, 32, 0, 4, 10, 0, 0, 1])",
        // The columns of a query that gives no rows.
        "empty: [Column { name: \"whole\", data-type: DbDataType::Int32 }] rows=0",
        "error: ERROR 42P01 relation \"no_such_table\" does not exist",
    ];
    let lines = body.lines().collect::<Vec<_>>();
    assert_eq!(lines[..expected.len()], expected, "{body}");
    let mismatch = lines[expected.len()];
    assert!(
        mismatch.contains("QueryFailed(QueryError::Text(")
            && mismatch
                .contains("a `str` value cannot be given where the statement takes a `int4`"),
        "{body}"
    );

    let (status, body) = get("/keywords/pg3");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "changed=1\n\
         name DbDataType::Str = DbValue::Str(\"Ada\")\n\
         born DbDataType::Date = DbValue::Date((1815, 12, 10))\n\
         at DbDataType::Datetime = DbValue::Datetime((2000, 1, 1, 0, 0, 0, 0))\n\
         amount DbDataType::Other = DbValue::Unsupported\n\
         error: ERROR: relation \"no_such_table\" does not exist\n"
    );

    let (status, body) = get("/url/pg");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "changed=1\n\
         name DbDataType::Str = DbValue::Str(\"one\")\n\
         n DbDataType::Int64 = DbValue::Int64(1)\n\
         at DbDataType::Other = DbValue::Unsupported\n\
         unsigned: Error::ValueConversionFailed(\"Postgres does not support unsigned integers\")\n"
    );

    // One query's rows are bounded in the host (a million rows of nothing are not free); the
    // same connection answers the next query.
    let query = |statement: &str| app.query("/url/pg4/query", statement);
    let (status, body) = query("SELECT NULL FROM generate_series(1, 2000000)");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("the result is larger than 32 MiB, the most one query may give"),
        "{body}"
    );
    assert_eq!(
        query("SELECT n FROM generate_series(1, 1000) AS n"),
        (200, "rows=1000\n".to_string())
    );
    // One value larger than that ends its connection before the host holds it.
    let (status, body) = query("SELECT repeat('x', 40000000)");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(
            "connection closed: the PostgreSQL server's reply is larger than 33 MiB, the most a \
             guest may read at once"
        ),
        "{body}"
    );

    // A component whose grants do not reach the server.
    let (status, body) = get("/ungranted/pg4");
    assert_eq!(status, 500, "{body}");
    crate::images::logs_with(
        &app.daemon,
        "ledger",
        &format!("blocked PostgreSQL connection to 127.0.0.1:{port}"),
    );
}

/// TLS as the address's `sslmode` asks, the server's certificate checked as for a guest's
/// HTTPS: `require` to a server whose certificate no root signed is refused naming the
/// certificate; `disable` reaches the same server in the clear.
#[test]
fn a_postgres_connection_checks_the_servers_certificate() {
    let postgres = PostgresServer::start_with(Tls::SelfSigned);
    let port = postgres.port;
    let address = format!("postgres://postgres:{PASSWORD}@localhost:{port}/postgres");
    // The name the certificate is checked against, and the loopback address it resolves to.
    let grant = format!("allow=localhost:{port},127.0.0.1:{port}");
    let app = crate::support::SpinApp::run(
        "secure",
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "secure"
version = "1.0.0"
[[trigger.http]]
route = "/require/..."
component = "require"
[[trigger.http]]
route = "/disable/..."
component = "disable"
[component.require]
source = "app.wasm"
variables = {{ pg_address = "{address}?sslmode=require" }}
[component.disable]
source = "app.wasm"
variables = {{ pg_address = "{address}?sslmode=disable" }}
"#
        ),
        &grant,
    );
    let get = |path: &str| app.get(path);
    let (status, body) = get("/require/pg");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("ConnectionFailed") && body.contains("certificate"),
        "{body}"
    );
    let (status, body) = get("/disable/pg");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("changed=1\n"), "{body}");
}

/// A Spin component opens its connection on every request (a fresh instance each time): the
/// next request of the app gets the connection the last one dropped (one server backend for
/// all of them), with nothing of the last one's session: not its settings, not a transaction
/// it left open, nor that transaction's failure.
#[test]
fn a_spin_apps_requests_reuse_its_connections_with_nothing_of_the_last_session() {
    let postgres = PostgresServer::start();
    let port = postgres.port;
    let app = crate::support::SpinApp::run(
        "pooled",
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "pooled"
version = "1.0.0"
[[trigger.http]]
route = "/..."
component = "pooled"
[component.pooled]
source = "app.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1:{port}"]
variables = {{ pg_address = "postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres" }}
"#
        ),
        "image",
    );
    let query = |statement: &str| {
        let (status, body) = app.query("/pg4/query", statement);
        assert_eq!(status, 200, "{statement}: {body}");
        body
    };
    let backends = || query("SELECT DISTINCT pid FROM backends");

    assert_eq!(query("CREATE TABLE backends (pid INT)"), "rows=0\n");
    for _ in 0..10 {
        assert_eq!(
            query("INSERT INTO backends SELECT pg_backend_pid()"),
            "rows=0\n"
        );
    }
    assert_eq!(backends(), "rows=1\n", "ten requests, one connection");

    assert_eq!(
        query("SELECT set_config('skiff.left', 'over', false)"),
        "rows=1\n"
    );
    assert_eq!(
        query("SELECT 1 WHERE current_setting('skiff.left', true) = 'over'"),
        "rows=0\n",
        "a setting of the last request's session"
    );

    assert_eq!(query("BEGIN"), "rows=0\n");
    let failed = query("SELECT 1 / 0");
    assert!(failed.contains("division by zero"), "{failed}");
    assert_eq!(
        query("SELECT 1"),
        "rows=1\n",
        "the last request's failed transaction"
    );
    assert_eq!(
        query("INSERT INTO backends SELECT pg_backend_pid()"),
        "rows=0\n"
    );
    assert_eq!(backends(), "rows=1\n", "reset connections are kept");
}

/// Spin SDK 7's `pg` module (`spin:postgres@4.2.0`, async, a query's rows streamed): values of
/// many types cross both ways as with SDK 5's `pg4`, the server's errors reach the guest, and
/// a connection opened with a CA root (`OpenOptions::ca_root`, the builder's `set-ca-root`)
/// trusts a server whose certificate that authority signed, which the same address without it
/// refuses.
#[test]
fn spin_sdk7_apps_query_postgres_with_their_own_ca_root() {
    let postgres = PostgresServer::start_with(Tls::SignedByCa);
    let port = postgres.port;
    let ca_root = postgres.ca_root.as_deref().unwrap().replace('\n', "\\n");
    let address = format!("postgres://postgres:{PASSWORD}@localhost:{port}/postgres");
    let app = crate::support::SpinApp::run(
        "seven",
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "seven"
version = "1.0.0"
[[trigger.http]]
route = "/plain/..."
component = "plain"
[[trigger.http]]
route = "/trusting/..."
component = "trusting"
[[trigger.http]]
route = "/untrusting/..."
component = "untrusting"
[component.plain]
source = "app7.wasm"
variables = {{ pg_address = "{address}?sslmode=disable" }}
[component.trusting]
source = "app7.wasm"
variables = {{ pg_address = "{address}?sslmode=require", pg_ca_root = "{ca_root}" }}
[component.untrusting]
source = "app7.wasm"
variables = {{ pg_address = "{address}?sslmode=require" }}
"#
        ),
        &format!("allow=localhost:{port},127.0.0.1:{port}"),
    );

    let (status, body) = app.get("/plain/pg");
    assert_eq!(status, 200, "{body}");
    let expected = [
        "changed=1",
        "whole DbDataType::Int32 = DbValue::Int32(7)",
        "name DbDataType::Str = DbValue::Str(\"Zoë\")",
        "born DbDataType::Date = DbValue::Date((2024, 2, 29))",
        "amount DbDataType::Decimal = DbValue::Decimal(\"-1.50\")",
        "span DbDataType::RangeInt32 = DbValue::RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((6, RangeBoundKind::Exclusive))))",
        "tags DbDataType::ArrayStr = DbValue::ArrayStr([Some(\"a\"), None])",
        "wait DbDataType::Interval = DbValue::Interval(Interval { micros: 1500000, days: 2, months: 14 })",
        "meta DbDataType::Jsonb = DbValue::Jsonb([123, 34, 107, 34, 58, 91, 49, 93, 125])",
        "uid DbDataType::Uuid = DbValue::Uuid(\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\")",
        "nothing DbDataType::Int32 = DbValue::DbNull",
    ];
    let lines = body.lines().collect::<Vec<_>>();
    assert_eq!(lines[..expected.len()], expected, "{body}");
    assert!(
        lines[expected.len()].starts_with("error: ") && lines[expected.len()].contains("42P01"),
        "{body}"
    );
    assert_eq!(
        app.query(
            "/plain/pg/query",
            "SELECT n FROM generate_series(1, 1000) AS n"
        ),
        (200, "rows=1000\n".to_string())
    );

    let (status, body) = app.get("/trusting/pg");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("changed=1\n"), "{body}");
    let (status, body) = app.get("/untrusting/pg");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("ConnectionFailed") && body.contains("certificate"),
        "{body}"
    );
}
