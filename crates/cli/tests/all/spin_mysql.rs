//! Spin's outbound MySQL (`spin_sdk::mysql` of SDK 5 and of SDK 7) against a real MySQL server
//! the test starts (Debian's `mariadb-server`; scripts/install-test-deps.sh), with a user who
//! logs in with a password, as a hosted database asks.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A MariaDB server of the test's own: its data in a temp dir, listening on 127.0.0.1 at a
/// free port, the user `spin` with the password [`PASSWORD`] and the database `app`.
struct MysqlServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

const PASSWORD: &str = "s3cret";

impl MysqlServer {
    fn start() -> MysqlServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let init = crate::support::write_file(
            dir.path(),
            "init.sql",
            format!(
                "CREATE USER IF NOT EXISTS 'spin'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO 'spin'@'%';\n\
                 CREATE DATABASE IF NOT EXISTS app;\n"
            ),
        );
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 {
            "root".to_string()
        } else {
            std::env::var("USER").unwrap_or_default()
        };
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .output()
            .expect("mariadb-install-db (Debian's mariadb-server; scripts/install-test-deps.sh)");
        assert!(
            installed.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let port = crate::support::free_port();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("socket").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--user={user}"))
            .arg(format!("--init-file={}", init.display()))
            .args(["--skip-log-bin", "--innodb-flush-log-at-trx-commit=0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = MysqlServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mariadbd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for MysqlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Spin app's components, of Spin SDK 5 and of SDK 7, reach the MySQL server their
/// `allowed_outbound_hosts` grant (applied with `--network image`), log in with a password, and
/// values of every type each SDK has cross both ways (integers by their column's type and sign;
/// DECIMAL, dates and times as the server writes them); the server's errors reach the guest;
/// one query's rows are bounded in the host; an app's requests reuse its connections, reset
/// between them; without the grant the connection is refused and the app's log names the grant
/// to add.
#[test]
fn spin_apps_query_mysql_through_their_grants() {
    let mysql = MysqlServer::start();
    let port = mysql.port;
    let app = crate::support::SpinApp::run(
        "shop",
        &format!(
            r#"spin_manifest_version = 2
[application]
name = "shop"
version = "1.0.0"
[variables]
mysql_address = {{ default = "mysql://spin:{PASSWORD}@127.0.0.1:{port}/app" }}
[[trigger.http]]
route = "/five/..."
component = "five"
[[trigger.http]]
route = "/seven/..."
component = "seven"
[[trigger.http]]
route = "/ungranted/..."
component = "ungranted"
[[trigger.http]]
route = "/one/..."
component = "one"
[component.one]
source = "app1.wasm"
allowed_outbound_hosts = ["mysql://127.0.0.1:{port}"]
[component.five]
source = "app.wasm"
allowed_outbound_hosts = ["mysql://127.0.0.1:{port}"]
variables = {{ mysql_address = "{{{{ mysql_address }}}}" }}
[component.seven]
source = "app7.wasm"
allowed_outbound_hosts = ["mysql://127.0.0.1:{port}"]
variables = {{ mysql_address = "{{{{ mysql_address }}}}" }}
[component.ungranted]
source = "app.wasm"
variables = {{ mysql_address = "{{{{ mysql_address }}}}" }}
"#
        ),
        "image",
    );
    let get = |path: &str| app.get(path);
    let query = |path: &str, statement: &str| app.query(path, statement);

    // Spin 1's `outbound-mysql` (Spin's Go SDK v2): the address in the call.
    assert_eq!(
        get(&format!(
            "/one/mysql?mysql://spin:{PASSWORD}@127.0.0.1:{port}/app"
        )),
        (200, "answer 3 42\n".to_string())
    );

    let (status, body) = get("/five/mysql");
    assert_eq!(status, 200, "{body}");
    let expected = [
        "ok DbDataType::Int8 = DbValue::Int8(1)",
        "tiny DbDataType::Int8 = DbValue::Int8(-7)",
        "small DbDataType::Uint16 = DbValue::Uint16(65000)",
        "whole DbDataType::Int32 = DbValue::Int32(-2000000000)",
        "big DbDataType::Uint64 = DbValue::Uint64(18000000000000000000)",
        "real_ DbDataType::Floating32 = DbValue::Floating32(1.5)",
        "ratio DbDataType::Floating64 = DbValue::Floating64(0.25)",
        "name DbDataType::Str = DbValue::Str(\"Zoë\")",
        "raw DbDataType::Binary = DbValue::Binary([0, 255])",
        "amount DbDataType::Str = DbValue::Str(\"-1.50\")",
        "born DbDataType::Str = DbValue::Str(\"2024-02-29\")",
        "at DbDataType::Str = DbValue::Str(\"1999-12-31 23:59:58.123456\")",
        "wait DbDataType::Str = DbValue::Str(\"-838:59:59\")",
        "nothing DbDataType::Int32 = DbValue::DbNull",
    ];
    let lines = body.lines().collect::<Vec<_>>();
    assert_eq!(lines[..expected.len()], expected, "{body}");
    let error = lines[expected.len()];
    assert!(
        error.starts_with("error: ") && error.contains("no_such_table") && error.contains("1146"),
        "{body}"
    );

    let (status, body) = get("/seven/mysql");
    assert_eq!(status, 200, "{body}");
    let expected = [
        "tiny DbDataType::Uint8 = DbValue::Uint8(200)",
        "whole DbDataType::Uint32 = DbValue::Uint32(4000000000)",
        "big DbDataType::Int64 = DbValue::Int64(-9000000000)",
        "name DbDataType::Str = DbValue::Str(\"Zoë\")",
        "raw DbDataType::Binary = DbValue::Binary([1, 2])",
        "nothing DbDataType::Int32 = DbValue::DbNull",
    ];
    let lines = body.lines().collect::<Vec<_>>();
    assert_eq!(lines[..expected.len()], expected, "{body}");
    assert!(lines[expected.len()].contains("1146"), "{body}");

    // One query's rows are bounded in the host (a million rows of nothing are not free); the
    // next query is answered.
    let many = "SELECT NULL FROM seq_1_to_3000000";
    for prefix in ["/five", "/seven"] {
        let (status, body) = query(&format!("{prefix}/mysql/query"), many);
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("the result is larger than 32 MiB, the most one query may give"),
            "{body}"
        );
        assert_eq!(
            query(
                &format!("{prefix}/mysql/query"),
                "SELECT seq FROM seq_1_to_1000"
            ),
            (200, "rows=1000\n".to_string())
        );
    }

    // Each request opens its connection; the app's next request gets the one the last
    // dropped (one server connection for all of them), with nothing of its session.
    let five = |statement: &str| {
        let (status, body) = query("/five/mysql/query", statement);
        assert_eq!(status, 200, "{statement}: {body}");
        body
    };
    assert_eq!(five("CREATE TABLE ids (id BIGINT)"), "rows=0\n");
    for _ in 0..10 {
        assert_eq!(five("INSERT INTO ids SELECT CONNECTION_ID()"), "rows=0\n");
    }
    assert_eq!(
        five("SELECT DISTINCT id FROM ids"),
        "rows=1\n",
        "ten requests, one connection"
    );
    assert_eq!(five("SELECT @left := 'over'"), "rows=1\n");
    assert_eq!(
        five("SELECT 1 FROM DUAL WHERE @left = 'over'"),
        "rows=0\n",
        "a variable of the last request's session"
    );
    assert_eq!(five("INSERT INTO ids SELECT CONNECTION_ID()"), "rows=0\n");
    assert_eq!(five("SELECT DISTINCT id FROM ids"), "rows=1\n");

    // A component whose grants do not reach the server.
    let (status, body) = get("/ungranted/mysql");
    assert_eq!(status, 500, "{body}");
    crate::images::logs_with(
        &app.daemon,
        "shop",
        &format!("blocked MySQL connection to 127.0.0.1:{port}"),
    );
}
