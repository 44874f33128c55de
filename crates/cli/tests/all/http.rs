//! HTTP handlers end to end: `skiff serve` and HTTP apps in the daemon, driven by a real HTTP
//! client (reqwest) and raw sockets for what clients should not do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use skiff_test_programs_artifacts::{
    P2_CLI_HELLO, P2_HTTP_CPU, P2_HTTP_ECHO, P2_HTTP_ENV, P2_HTTP_HELLO, P2_HTTP_LOG,
    P2_HTTP_MEMORY, P2_HTTP_NN, P2_HTTP_OPEN_FILES, P2_HTTP_OUTBOUND, P2_HTTP_STATE, foreach_http,
};

use crate::daemon::{Daemon, state};
use crate::support::{Skiff, free_port, path_str};
use crate::tenants::percentile;

// The test of each handler program: a program without one is a compile error.
use self::a_misbehaving_app_does_not_slow_its_neighbours as p2_http_log;
use self::an_apps_instances_share_half_of_the_daemons_descriptors as p2_http_open_files;
use self::every_request_gets_a_fresh_instance as p2_http_state;
use self::grants_apply_to_handlers as p2_http_env;
use self::metering_counts_cpu_time_and_memory_time_per_app as p2_http_cpu;
use self::outbound_http_needs_a_network_grant as p2_http_outbound;
use self::request_bodies_and_headers_stream_through as p2_http_echo;
use self::serve_answers_with_the_handler as p2_http_hello;
use self::the_memory_limit_is_per_instance as p2_http_memory;
use crate::health::a_failing_check_is_unhealthy_after_its_retries_with_the_reason as p2_http_ready_after;
use crate::images::spin_apps_run_with_their_files_env_and_variables as p2_http_spin_headers;
use crate::images::spin_apps_use_spins_variables_and_key_value_stores as p2_http_spin_kv;
use crate::images::spin_sqlite_is_confined_to_the_apps_database_and_its_limits as p2_http_spin_sql;
use crate::links::a_front_an_api_and_a_tcp_service_in_one_project as p2_http_kv;
use crate::links::linked_apps_call_each_other_in_process as p2_http_caller;
use crate::tenants::hostile_tenants_in_one_daemon as p2_http_trap;
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports, reason = "the import is the check")]
        use self::$name as _;
    };
}
foreach_http!(assert_test_exists);

/// `skiff serve ARGS` on a free loopback port, until dropped.
pub(crate) struct Server {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl Server {
    pub(crate) fn start(skiff: &Skiff, args: &[&str]) -> Server {
        Server::start_in(skiff.command(), args)
    }

    /// As [`Server::start`], from `skiff.command()` with more set on it (its environment).
    pub(crate) fn start_in(mut command: Command, args: &[&str]) -> Server {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its handlers' output, for the tests that read it.
        let stdout = Arc::new(Mutex::new(String::new()));
        let pipe = child.stdout.take().unwrap();
        let out = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut out = out.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split("on http://")
                    .nth(1)
                    .and_then(|rest| rest.strip_suffix('/'))
                {
                    let _ = tx.send(addr.to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            // Compiling a big component (an interpreter: Python, JavaScript) comes first.
            .recv_timeout(Duration::from_secs(240))
            .unwrap_or_else(|_| panic!("skiff serve did not start: {}", stderr.lock().unwrap()));
        Server {
            child,
            addr,
            stderr,
            stdout,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its stderr once it has printed `needle` (read by another thread), or after 10 s.
    pub(crate) fn stderr_with(&self, needle: &str) -> String {
        wait_for_text(&self.stderr, needle)
    }

    /// Its stdout (its handlers') once it has printed `needle`, or after 10 s.
    pub(crate) fn stdout_with(&self, needle: &str) -> String {
        wait_for_text(&self.stdout, needle)
    }
}

fn wait_for_text(text: &Mutex<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = text.lock().unwrap().clone();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub(crate) fn get(url: &str) -> (StatusCode, String) {
    let response = client().get(url).send().unwrap();
    (response.status(), response.text().unwrap())
}

/// A plain upstream server answering every request with 200 `upstream ok`.
pub(crate) fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nupstream ok",
            );
        }
    });
    addr
}

#[test]
fn serve_answers_with_the_handler() {
    let server = Server::start(&Skiff::new(), &[P2_HTTP_HELLO]);
    let response = client().get(server.url("/any/path")).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.text().unwrap(), "hello from skiff\n");
}

/// wasi-nn in a handler, as `wasmtime serve -S nn` runs it: a model loaded once, when the app is
/// served (`-S nn-graph`), and opened by name by the fresh instance of every request.
#[test]
fn p2_http_nn() {
    let skiff = Skiff::new();
    let graph = format!(
        "nn-graph=openvino::{}",
        path_str(&crate::support::nn_model_dir())
    );
    let mut command = skiff.command();
    command.env("LD_LIBRARY_PATH", crate::support::openvino_dir());
    let server = Server::start_in(command, &["-S", &graph, P2_HTTP_NN]);
    for _ in 0..3 {
        assert_eq!(
            get(&server.url("/add-one")),
            (StatusCode::OK, "2 3 4 5\n".to_string())
        );
    }
    let (status, body) = get(&server.url("/other"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("ErrorCode::NotFound"), "{body}");
    // Not granted: refused before it serves, naming the flag; by the daemon too.
    skiff
        .run(&["serve", "--listen", "127.0.0.1:0", P2_HTTP_NN])
        .code(125)
        .stderr_has("`-S nn`");
    let daemon = Daemon::start();
    let out = daemon.run_d("nn", &[P2_HTTP_NN]);
    assert_ne!(out.code, 0, "{out:#?}");
    out.stderr_has("uses wasi-nn").stderr_has("`-S nn`");
    let kept = daemon.run(&["inspect", "nn"]);
    assert_ne!(kept.code, 0, "a refused app was kept: {kept:#?}");
}

#[test]
fn every_request_gets_a_fresh_instance() {
    let server = Server::start(&Skiff::new(), &[P2_HTTP_STATE]);
    let url = server.url("/");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || (0..10).map(|_| get(&url).1).collect::<Vec<_>>())
        })
        .collect();
    for thread in threads {
        for body in thread.join().unwrap() {
            assert_eq!(body, "count=1\n", "state leaked between requests");
        }
    }
}

#[test]
fn request_bodies_and_headers_stream_through() {
    let server = Server::start(&Skiff::new(), &[P2_HTTP_ECHO]);
    let body: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    let response = client()
        .put(server.url("/upload?x=1"))
        .header("x-trace", "abc")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-echo-method"], "PUT");
    assert_eq!(response.headers()["x-echo-path"], "/upload?x=1");
    assert_eq!(response.headers()["x-trace"], "abc");
    assert!(
        response.bytes().unwrap() == body,
        "the body came back changed"
    );
}

#[test]
fn grants_apply_to_handlers() {
    let server = Server::start(&Skiff::new(), &["-e", "GREETING=hi", P2_HTTP_ENV]);
    assert_eq!(get(&server.url("/?name=GREETING")).1, "GREETING=hi\n");
    // Deny by default: the host's environment is not the guest's.
    assert_eq!(get(&server.url("/?name=HOME")).1, "HOME unset\n");
}

#[test]
fn the_timeout_is_per_request_and_stops_cpu_bound_handlers() {
    let server = Server::start(&Skiff::new(), &["--timeout", "500ms", P2_HTTP_CPU]);
    let started = Instant::now();
    let (status, body) = get(&server.url("/?ms=forever"));
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body.contains("--timeout"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The next request is unaffected.
    assert_eq!(
        get(&server.url("/?ms=10")),
        (StatusCode::OK, "spun 10 ms\n".into())
    );
}

/// `-W fuel=N` on `skiff serve`, as on `wasmtime serve`: each request's instance starts with N,
/// so a request that burns it all fails, and the next one has its own.
#[test]
fn fuel_is_per_request() {
    let server = Server::start(&Skiff::new(), &["-W", "fuel=500000000", P2_HTTP_CPU]);
    let (status, body) = get(&server.url("/?ms=forever"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let log = server.stderr_with("all fuel consumed");
    assert!(log.contains("all fuel consumed"), "{log}");
    assert_eq!(
        get(&server.url("/?ms=1")),
        (StatusCode::OK, "spun 1 ms\n".into())
    );
}

#[test]
fn the_memory_limit_is_per_instance() {
    let server = Server::start(&Skiff::new(), &["--memory", "32m", P2_HTTP_MEMORY]);
    let (status, body) = get(&server.url("/?mb=64"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("memory limit"), "{body}");
    let log = server.stderr_with("memory limit");
    assert!(log.contains("memory limit"), "{log}");
    // Each instance starts from the same small memory: 8 MiB twice is fine.
    for _ in 0..2 {
        assert_eq!(
            get(&server.url("/?mb=8")),
            (StatusCode::OK, "allocated 8 MiB\n".into())
        );
    }
}

#[test]
fn oversized_bodies_get_413() {
    let server = Server::start(&Skiff::new(), &["--max-body", "1KiB", P2_HTTP_ECHO]);
    let response = client()
        .post(server.url("/"))
        .body(vec![b'x'; 4096])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A chunked body has no length up front: it is cut off at the limit while it streams.
    // The server answers either way: 413 if the handler had not answered yet, else the
    // response it began is cut short, never with more than the limit echoed.
    let chunks = chunked(vec![vec![b'y'; 1024]; 4]);
    let response = client()
        .post(server.url("/"))
        .body(chunks)
        .send()
        .expect("the server answers an oversized chunked body");
    let status = response.status();
    match response.bytes() {
        Ok(echoed) => assert!(
            status == StatusCode::PAYLOAD_TOO_LARGE || echoed.len() <= 1024,
            "{status}: {} bytes echoed past a 1 KiB limit",
            echoed.len()
        ),
        Err(cut) => assert!(status.is_success(), "{status}, then {cut}"),
    }
    let small = client().post(server.url("/")).body("ok").send().unwrap();
    assert_eq!(small.text().unwrap(), "ok");
}

/// A request body without a length (sent chunked).
fn chunked(chunks: Vec<Vec<u8>>) -> reqwest::blocking::Body {
    struct Chunks(std::collections::VecDeque<u8>);
    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    reqwest::blocking::Body::new(Chunks(chunks.concat().into()))
}

#[test]
fn excess_requests_queue_briefly_then_get_503() {
    let server = Server::start(
        &Skiff::new(),
        &[
            "--max-concurrency",
            "1",
            "--queue-timeout",
            "200ms",
            P2_HTTP_CPU,
        ],
    );
    serves_one_request_at_a_time(&server);
}

/// With a `P2_HTTP_CPU` server given one instance and a 200 ms queue: a request while another
/// runs gets 503 (and `Retry-After`), and the next one after it is served.
fn serves_one_request_at_a_time(server: &Server) {
    let slow = server.url("/?ms=3000");
    let busy = std::thread::spawn(move || get(&slow));
    std::thread::sleep(Duration::from_millis(700));
    let response = client().get(server.url("/?ms=1")).send().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(busy.join().unwrap().0, StatusCode::OK);
    assert_eq!(get(&server.url("/?ms=1")).0, StatusCode::OK);
}

/// `wasmtime serve`'s `-O pooling-*` options size the pool of handler instances, as in wasmtime:
/// a pool of one component instance serves one request at a time, whatever the concurrency
/// limit; the pool cannot be turned off.
#[test]
fn pooling_options_size_the_pool_as_wasmtime_serve_sizes_it() {
    let server = Server::start(
        &Skiff::new(),
        &[
            "-O",
            "pooling-allocator,pooling-total-component-instances=1",
            "-O",
            "pooling-memory-keep-resident=0,pooling-max-unused-warm-slots=1,pooling-pagemap-scan=auto",
            P2_HTTP_CPU,
        ],
    );
    serves_one_request_at_a_time(&server);
    Skiff::new()
        .run(&["serve", "-O", "pooling-allocator=n", P2_HTTP_CPU])
        .code(125)
        .stderr_has("`-O pooling-*` sizes the pool");
}

/// `wasmtime serve`'s own options are taken: `--max-concurrent-requests` is
/// `--max-concurrency`, and the limits on instance reuse hold, since Skiff reuses none.
#[test]
fn a_wasmtime_serve_command_line_serves_unchanged() {
    let server = Server::start(
        &Skiff::new(),
        &[
            "-Scli",
            // Skiff pools its handler instances always.
            "-O",
            "pooling-allocator",
            "--max-concurrent-requests",
            "1",
            "--max-instance-reuse-count",
            "128",
            "--max-instance-concurrent-reuse-count",
            "16",
            "--idle-instance-timeout",
            "5s",
            "--no-logging-prefix",
            "--queue-timeout",
            "200ms",
            P2_HTTP_CPU,
        ],
    );
    serves_one_request_at_a_time(&server);
    Skiff::new()
        .run(&["serve", "--max-concurrent-requests", "0", P2_HTTP_CPU])
        .code(125)
        .stderr_has("would serve no request");
}

/// Sends a bare GET over `stream` and reads the whole answer (the server closes after it).
fn raw_get(mut stream: TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// `wasmtime serve`'s `-H`/`--header`, `--max-concurrent-connections` and `--shutdown-addr`, with
/// its meaning: the handler sees the headers set (the client's values replaced), a second
/// connection waits until the first closes, and a connection to the shutdown address stops
/// the server.
#[test]
fn wasmtime_serves_connection_options_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let headers = crate::support::write_file(dir.path(), "headers", "x-b: 2\n\nx-b: 3\n");
    let shutdown = format!("127.0.0.1:{}", free_port());
    let file = format!("@{}", path_str(&headers));
    let mut server = Server::start(
        &Skiff::new(),
        &[
            // wasmtime's spelling (Skiff's global `-H` is `--host`, which `serve` does not use).
            "-H",
            "x-a: 1",
            "--header",
            &file,
            "--max-concurrent-connections",
            "1",
            "--shutdown-addr",
            &shutdown,
            P2_HTTP_ECHO,
        ],
    );
    let response = client()
        .get(server.url("/"))
        .header("x-a", "from the client")
        .header("x-b", "from the client")
        .header("connection", "close")
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-a"], "1");
    let b: Vec<_> = response.headers().get_all("x-b").iter().collect();
    assert_eq!(b, ["2", "3"]);
    drop(response);
    // One connection at a time: the second is answered only once the first has closed.
    let first = TcpStream::connect(&server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let second = TcpStream::connect(&server.addr).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let waited = raw_get(second.try_clone().unwrap());
    assert_eq!(waited, "", "answered while another connection was held");
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = (&second).read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A connection to the shutdown address stops it.
    drop(TcpStream::connect(&shutdown).unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "still serving after --shutdown-addr"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.child.wait().unwrap().success());
}

#[test]
fn outbound_http_needs_a_network_grant() {
    let upstream = upstream();
    let skiff = Skiff::new();
    let denied = Server::start(&skiff, &[P2_HTTP_OUTBOUND]);
    let response = client()
        .get(denied.url("/"))
        .header("x-target-url", format!("http://{upstream}/"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().unwrap().contains("HttpRequestDenied"));
    let log = denied.stderr_with("--network allow=");
    assert!(
        log.contains(&format!("--network allow={upstream}")),
        "the log does not say which grant allows it: {log}"
    );

    let allowed = Server::start(
        &skiff,
        &["--network", &format!("allow={upstream}"), P2_HTTP_OUTBOUND],
    );
    let response = client()
        .get(allowed.url("/"))
        .header("x-target-url", format!("http://{upstream}/"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().unwrap(), "upstream 200: upstream ok");
}

#[test]
fn serve_and_run_refuse_the_other_world() {
    let skiff = Skiff::new();
    skiff
        .run(&["serve", "--listen", "127.0.0.1:0", P2_CLI_HELLO])
        .code(125)
        .stderr_has("is not an HTTP handler")
        .stderr_has("skiff run");
    skiff
        .run(&["run", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("is an HTTP handler")
        .stderr_has("skiff serve");
}

#[test]
fn malformed_and_slow_clients_do_not_stop_the_server() {
    let server = Server::start(&Skiff::new(), &[P2_HTTP_HELLO]);
    // Garbage instead of a request line.
    let mut garbage = TcpStream::connect(&server.addr).unwrap();
    garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = garbage.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // A request with no Host header.
    let mut hostless = TcpStream::connect(&server.addr).unwrap();
    hostless.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = hostless.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer:?}");
    // Slowloris: headers that never end, on many connections.
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(get(&server.url("/")).0, StatusCode::OK);
    }
    // The slow ones are cut off after the header timeout (10 s).
    let stream = &mut slow[0];
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(25),
        "a slow client held its connection for {waited:?}"
    );
    assert_eq!(get(&server.url("/")).0, StatusCode::OK);
}

// ---- the daemon ---------------------------------------------------------------------------------

fn gateway(daemon: &Daemon) -> String {
    daemon.info()["gateway"].as_str().unwrap().to_string()
}

pub(crate) fn via_gateway(gateway: &str, host: &str, path: &str) -> (StatusCode, String) {
    let response = client()
        .get(format!("http://{gateway}{path}"))
        .header("host", host)
        .send()
        .unwrap();
    (response.status(), response.text().unwrap())
}

/// One app's instances together hold at most half of the daemon's open files: each instance gets
/// its share (of its `--max-concurrency` many), so a handler that opens files in a loop at full
/// concurrency cannot take every descriptor (500 instances of 1024 handles, against a limit of
/// 20,000 here). `skiff serve` runs one app: its instances hold 1024 each, as a daemon's
/// command, or what `-S max-resources` says.
#[test]
fn an_apps_instances_share_half_of_the_daemons_descriptors() {
    let dir = crate::support::dir_with(&[("f", "opened again and again\n")]);
    let grant = format!("{}:/d:ro", path_str(dir.path()));
    let server = Server::start(&Skiff::new(), &["-v", &grant, P2_HTTP_OPEN_FILES]);
    let (status, body) = get(&server.url("/"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("holds 1024 handles"), "{body}");
    // As `wasmtime serve`, `-S max-resources` sets it.
    let fewer = Server::start(
        &Skiff::new(),
        &["-S", "max-resources=100", "-v", &grant, P2_HTTP_OPEN_FILES],
    );
    let (status, body) = get(&fewer.url("/"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("holds 100 handles"), "{body}");

    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon
        .run_d(
            "files",
            &[
                "-p",
                &port,
                "-v",
                &grant,
                "--max-concurrency",
                "100",
                P2_HTTP_OPEN_FILES,
            ],
        )
        .success();
    // The daemon's hard limit is the test's (inherited): half of it, shared by 100 instances.
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1 << 30);
    let share = (hard / 2 / 100).clamp(64, 1024);
    let (status, body) = get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.contains(&format!("holds {share} handles")),
        "{share}: {body}"
    );
    // The daemon still answers, and the app's next request gets a fresh instance.
    daemon.run(&["ps"]).success().stdout_has("files");
    let (status, _) = get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn daemon_serves_http_apps_on_ports_and_routes() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon
        .run_d("api", &["-p", &port, P2_HTTP_HELLO])
        .success()
        .stdout_is("api\n");
    daemon
        .run_d(
            "shop",
            &[
                "--route",
                "shop.localhost/",
                "--route",
                "/shop",
                P2_HTTP_ECHO,
            ],
        )
        .success();
    daemon.run_d("counter", &[P2_HTTP_STATE]).success();
    // Docker's `-p HOST_PORT:CONTAINER_PORT`: served on the host port (a handler has no port).
    let docker_port = free_port().to_string();
    daemon
        .run_d(
            "docker-style",
            &["-p", &format!("{docker_port}:80"), P2_HTTP_HELLO],
        )
        .success();
    assert_eq!(
        get(&format!("http://127.0.0.1:{docker_port}/")),
        (StatusCode::OK, "hello from skiff\n".into())
    );
    let gw = gateway(&daemon);

    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/")),
        (StatusCode::OK, "hello from skiff\n".into())
    );
    let response = client()
        .get(format!("http://{gw}/cart?id=7"))
        .header("host", "shop.localhost:8080")
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-echo-path"], "/cart?id=7");
    let response = client()
        .get(format!("http://{gw}/shop/cart"))
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-echo-path"], "/shop/cart");
    // Without -p or --route an app is at NAME.localhost.
    assert_eq!(
        via_gateway(&gw, "counter.localhost", "/"),
        (StatusCode::OK, "count=1\n".into())
    );
    let (status, body) = via_gateway(&gw, "nobody.localhost", "/shopping");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let app = daemon.app("api");
    assert_eq!(state(&app), "serving");
    assert_eq!(app["http"]["ports"][0], format!("127.0.0.1:{port}"));
    daemon
        .run(&["ps"])
        .success()
        .stdout_has("serving")
        .stdout_has("PORTS")
        .stdout_has(&format!("127.0.0.1:{port}"))
        .stdout_has("shop.localhost/, /shop")
        .stdout_has("counter.localhost/");

    // Bad requests change nothing.
    daemon
        .run_d("thief", &["--route", "/shop", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("route `/shop` is already taken by app `shop`");
    daemon
        .run_d("cmd", &["--route", "/cmd", P2_CLI_HELLO])
        .code(125)
        .stderr_has("a command, not an HTTP handler: it cannot be routed");
    daemon
        .run_d("clash", &["-p", &port, P2_HTTP_HELLO])
        .code(125)
        .stderr_has("cannot listen");
    daemon
        .run_d("bad", &["--route", "http://x/", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("not a route");
    for name in ["thief", "cmd", "clash", "bad"] {
        daemon.run(&["inspect", name]).code(125);
    }
    assert_eq!(via_gateway(&gw, "x", "/shop/a").0, StatusCode::OK);

    // stop takes it off its port and routes; start brings it back.
    daemon.run(&["stop", "api"]).success();
    // Nothing answers there as `api` any more (a parallel test may have taken the freed port,
    // so "connection refused" is not the only right answer).
    let after_stop = client().get(format!("http://127.0.0.1:{port}/")).send();
    assert!(
        after_stop.map_or(true, |r| r.text().unwrap_or_default()
            != "hello from skiff\n"),
        "`api` still answers on its port after `stop`"
    );
    daemon.run(&["start", "api"]).success();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/")).0, StatusCode::OK);
    daemon.run(&["rm", "-f", "shop"]).success();
    assert_eq!(via_gateway(&gw, "x", "/shop/a").0, StatusCode::NOT_FOUND);
}

/// `--cpus` on an HTTP app: all of its instances together get that share of the CPU, as a
/// container's tasks share its quota; its requests are slowed, not refused.
#[test]
fn a_cpu_share_holds_all_of_an_apps_instances_together() {
    let daemon = Daemon::start();
    daemon
        .run_d(
            "capped",
            &["--cpus", "0.25", "--route", "/capped", P2_HTTP_CPU],
        )
        .success();
    let gw = gateway(&daemon);
    let started = std::time::Instant::now();
    // Four requests at once, each spinning for 1 s of wall time: 4 CPU-s if they could.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || via_gateway(&gw, "x", "/capped?ms=1000"))
        })
        .collect();
    for client in clients {
        let (status, body) = client.join().unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = daemon.app("capped")["http"]["stats"]["cpu_seconds"]
        .as_f64()
        .unwrap();
    eprintln!("4 requests under --cpus 0.25: {cpu:.3} CPU-s in {wall:.2} s");
    // A quarter of a core over the ~1 s they ran, plus a tick per instance of slack.
    assert!(
        cpu <= 0.25 * wall + 0.1,
        "the app used {cpu:.3} CPU-s in {wall:.2} s"
    );
}

#[test]
fn metering_counts_cpu_time_and_memory_time_per_app() {
    let daemon = Daemon::start();
    daemon
        .run_d("spin", &["--route", "/spin", P2_HTTP_CPU])
        .success();
    daemon
        .run_d("idle", &["--route", "/idle", P2_HTTP_HELLO])
        .success();
    let gw = gateway(&daemon);
    let before = daemon.cpu_time();
    for _ in 0..5 {
        assert_eq!(via_gateway(&gw, "x", "/spin?ms=100").0, StatusCode::OK);
    }
    let os = (daemon.cpu_time() - before).as_secs_f64();
    let stats = &daemon.app("spin")["http"]["stats"];
    assert_eq!(stats["requests"], 5);
    assert_eq!(stats["invocations"], 5);
    assert_eq!(stats["errors"], 0);
    // The handler spins 5 x 100 ms of wall time; how much CPU it got depends on the machine's
    // load, but the bill must match what the kernel says the daemon spent on it: all of it
    // but the daemon's own HTTP and API work, within the kernel's 10 ms accounting ticks.
    let cpu = stats["cpu_seconds"].as_f64().unwrap();
    eprintln!("metered {cpu:.3} CPU-s; the kernel counted {os:.3} s for the daemon");
    assert!(
        cpu > 0.1,
        "metered only {cpu} CPU-seconds for 5 x 100 ms of spinning"
    );
    assert!(
        cpu <= os + 0.03,
        "metered {cpu} s, more than the daemon used ({os} s)"
    );
    assert!(
        cpu >= 0.85 * os - 0.03,
        "metered {cpu} s of the daemon's {os} s"
    );
    let wall = stats["wall_seconds"].as_f64().unwrap();
    assert!(wall >= 0.5, "instances lived {wall} s");
    let gb_seconds = stats["gb_seconds"].as_f64().unwrap();
    // At least the instances' initial memory (over a MiB) for 0.5 s.
    assert!(gb_seconds > 0.5 * 1e6 / 1e9, "{gb_seconds} GB-s");
    // The idle neighbour was not billed for it.
    let idle = &daemon.app("idle")["http"]["stats"];
    assert_eq!(idle["requests"], 0);
    assert_eq!(idle["cpu_seconds"], 0.0);

    daemon
        .run(&["stats", "--no-stream", "spin"])
        .success()
        .stdout_has("CPU-SECONDS")
        .stdout_has("GB-SECONDS");
    let metrics = daemon.info()["metrics"].as_str().unwrap().to_string();
    let (status, text) = get(&format!("http://{metrics}/metrics"));
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("skiff_http_requests_total{app=\"spin\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("skiff_http_cpu_seconds_total{app=\"spin\"}"),
        "{text}"
    );
    assert!(
        text.contains("skiff_http_memory_gb_seconds_total{app=\"idle\"} 0"),
        "{text}"
    );
}

#[test]
fn a_misbehaving_app_does_not_slow_its_neighbours() {
    let daemon = Daemon::start();
    daemon
        .run_d(
            "wild",
            &[
                "--route",
                "/wild",
                "--timeout",
                "3s",
                "--memory",
                "64m",
                P2_HTTP_CPU,
            ],
        )
        .success();
    daemon
        .run_d("calm", &["--route", "/calm", P2_HTTP_HELLO])
        .success();
    daemon
        .run_d("logs", &["--route", "/log", P2_HTTP_LOG])
        .success();
    let gw = gateway(&daemon);
    assert_eq!(via_gateway(&gw, "x", "/calm").0, StatusCode::OK);
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let gw = gw.clone();
            std::thread::spawn(move || via_gateway(&gw, "x", "/wild?ms=forever").0)
        })
        .collect();
    // Measure only once all four spinners hold an instance.
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.app("wild")["http"]["stats"]["instances"].as_u64() != Some(4) {
        assert!(Instant::now() < deadline, "the spinners never all started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(via_gateway(&gw, "x", "/calm").0, StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }
    eprintln!("the slowest of 20 neighbour requests took {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "a neighbour waited {slowest:?} behind four spinning handlers"
    );
    for spinner in spinners {
        assert_eq!(spinner.join().unwrap(), StatusCode::GATEWAY_TIMEOUT);
    }
    let wild = &daemon.app("wild")["http"]["stats"];
    assert_eq!(wild["errors"], 4);
    // The handler's own output and Skiff's messages about it go to the app's log.
    assert_eq!(via_gateway(&gw, "x", "/log/a").1, "logged\n");
    let logs = daemon.run(&["logs", "logs"]);
    logs.success()
        .stdout_has("handled /log/a")
        .stderr_has("warn /log/a");
    daemon
        .run(&["logs", "wild"])
        .success()
        .stderr_has("wall-clock limit");
}

#[test]
fn stop_lets_requests_in_flight_finish() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon.run_d("slow", &["-p", &port, P2_HTTP_CPU]).success();
    let url = format!("http://127.0.0.1:{port}/?ms=1500");
    let in_flight = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(500));
    daemon.run(&["stop", "-t", "10", "slow"]).success();
    assert_eq!(
        in_flight.join().unwrap(),
        (StatusCode::OK, "spun 1500 ms\n".into())
    );
    assert_eq!(state(&daemon.app("slow")), "exited");
    // Removing a serving app lets its requests in flight finish too.
    daemon.run(&["start", "slow"]).success();
    let url = format!("http://127.0.0.1:{port}/?ms=1500");
    let in_flight = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(500));
    let removed = daemon.run(&["rm", "-f", "slow"]);
    removed.success();
    // It waited for the request (about a second left), not just for the listener to close.
    assert!(
        removed.elapsed > Duration::from_millis(500),
        "rm returned after {:?}, before the request in flight ended",
        removed.elapsed
    );
    assert_eq!(
        in_flight.join().unwrap(),
        (StatusCode::OK, "spun 1500 ms\n".into())
    );
    daemon.run(&["inspect", "slow"]).code(125);
}

#[test]
fn stop_ends_requests_still_running_after_the_grace_period() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon.run_d("busy", &["-p", &port, P2_HTTP_CPU]).success();
    let url = format!("http://127.0.0.1:{port}/?ms=forever");
    let in_flight = std::thread::spawn(move || get(&url));
    eventually_instances(&daemon, "busy", 1);
    // As `docker stop -t 1`: a second of grace, then the request is ended, not left to spin
    // until its 60 s timeout holding a slot of the pool.
    let stopped = daemon.run(&["stop", "-t", "1", "busy"]);
    stopped.success();
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("stopped"), "{body}");
    assert!(
        stopped.elapsed < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed
    );
    assert_eq!(daemon.app("busy")["http"]["stats"]["instances"], 0);
}

#[test]
fn a_request_whose_client_went_away_before_the_answer_ends_its_instance() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon.run_d("busy", &["-p", &port, P2_HTTP_CPU]).success();
    // A request that would spin until its 60 s timeout, from a client that gives up on it.
    let mut client = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    client
        .write_all(b"GET /?ms=forever HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    eventually_instances(&daemon, "busy", 1);
    let gone = std::time::Instant::now();
    drop(client);
    // Ended at once, not after a minute of computing for nobody ahead of later requests.
    eventually_instances(&daemon, "busy", 0);
    assert!(
        gone.elapsed() < Duration::from_secs(5),
        "{:?}",
        gone.elapsed()
    );
    // The client's leaving is not the app's failure.
    daemon
        .run(&["logs", "busy"])
        .success()
        .stdout_lacks("GET /")
        .stderr_lacks("GET /");
}

/// Waits until the app `name` runs `count` instances.
fn eventually_instances(daemon: &Daemon, name: &str, count: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while daemon.app(name)["http"]["stats"]["instances"] != count {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never ran {count} instances"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn http_apps_come_back_after_kill_9() {
    let mut daemon = Daemon::start();
    let port = free_port().to_string();
    daemon
        .run_d("api", &["-p", &port, "--route", "/api", P2_HTTP_HELLO])
        .success();
    daemon
        .run_d("off", &["--route", "/off", P2_HTTP_HELLO])
        .success();
    daemon.run(&["stop", "off"]).success();
    daemon.restart_after_kill();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/")).0, StatusCode::OK);
    let gw = gateway(&daemon);
    assert_eq!(via_gateway(&gw, "x", "/api").0, StatusCode::OK);
    assert_eq!(via_gateway(&gw, "x", "/off").0, StatusCode::NOT_FOUND);
    assert_eq!(state(&daemon.app("off")), "exited");
}

#[test]
fn a_full_instance_pool_gets_503_and_frees_up() {
    let daemon = Daemon::start_with(&["--max-instances", "1"]);
    daemon
        .run_d("slow", &["--route", "/slow", P2_HTTP_CPU])
        .success();
    daemon
        .run_d("other", &["--route", "/other", P2_HTTP_HELLO])
        .success();
    let gw = gateway(&daemon);
    let holder = {
        let gw = gw.clone();
        std::thread::spawn(move || via_gateway(&gw, "x", "/slow?ms=2000"))
    };
    std::thread::sleep(Duration::from_millis(700));
    let response = client().get(format!("http://{gw}/other")).send().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(holder.join().unwrap().0, StatusCode::OK);
    assert_eq!(via_gateway(&gw, "x", "/other").0, StatusCode::OK);
    assert_eq!(daemon.app("other")["http"]["stats"]["rejected"], 1);
}

#[test]
fn an_image_of_a_handler_brings_its_grants_and_limits() {
    let daemon = Daemon::start();
    let project = crate::support::dir_with(&[(
        "skiff.toml",
        r#"manifest_version = 1
[app]
name = "greeter"
version = "1.0.0"
kind = "http"
[build]
wasm = "app.wasm"
[env]
GREETING = "from the image"
[limits]
memory = "16MiB"
"#,
    )]);
    std::fs::copy(P2_HTTP_ENV, project.path().join("app.wasm")).unwrap();
    daemon
        .run(&[
            "build",
            "-t",
            "greeter:1.0",
            crate::support::path_str(project.path()),
        ])
        .success();
    daemon
        .run_d("greeter", &["--route", "/hi", "greeter:1.0"])
        .success();
    let gw = gateway(&daemon);
    assert_eq!(
        via_gateway(&gw, "x", "/hi?name=GREETING"),
        (StatusCode::OK, "GREETING=from the image\n".into())
    );
    let app = daemon.app("greeter");
    assert_eq!(app["limits"]["memory"], 16 << 20, "{app:#}");
    // The same image in the foreground.
    let server = Server::start(&daemon.skiff, &["greeter:1.0"]);
    assert_eq!(
        get(&server.url("/?name=GREETING")).1,
        "GREETING=from the image\n"
    );
}

// ---- what one tenant may hold of what all share (issue 9, items 6 and 7) ------------------------

/// Polls `check` until it holds, or fails with `what` after 30 s.
#[track_caller]
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a raw request and returns the socket (the response unread).
fn send_raw(addr: &str, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    stream
}

/// Reads until the end of a response head (or the connection closes).
fn read_head(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn one_app_cannot_take_every_instance_of_the_pool() {
    // A pool of 4: one app may hold 2 of them, whatever its `--max-concurrency` says.
    let daemon = Daemon::start_with(&["--max-instances", "4"]);
    daemon
        .run_d(
            "greedy",
            &[
                "--route",
                "/greedy",
                "--max-concurrency",
                "4",
                "--timeout",
                "20s",
                P2_HTTP_CPU,
            ],
        )
        .success();
    daemon
        .run_d("calm", &["--route", "/calm", P2_HTTP_HELLO])
        .success();
    let gw = gateway(&daemon);
    // Four requests that never end by themselves: two get instances, two wait in the app's own
    // queue (then 503).
    let spinners: Vec<TcpStream> = (0..4)
        .map(|_| {
            send_raw(
                &gw,
                b"GET /greedy?ms=forever HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .collect();
    eventually("the greedy app holds its instances", || {
        daemon.app("greedy")["http"]["stats"]["instances"] == 2
    });
    // The neighbour is still served, while the greedy app is saturated.
    for _ in 0..5 {
        let (status, body) = via_gateway(&gw, "x", "/calm");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let greedy = daemon.app("greedy");
    assert_eq!(greedy["http"]["stats"]["instances"], 2, "{greedy:#}");
    assert_eq!(greedy["http"]["limits"]["max_concurrency"], 2, "{greedy:#}");
    daemon
        .run(&["logs", "greedy"])
        .success()
        .stderr_has("--max-app-concurrency");
    // Beyond its share, the greedy app's own requests wait in its queue, then get 503.
    let response = client()
        .get(format!("http://{gw}/greedy?ms=1"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    drop(spinners);
}

#[test]
fn a_busy_app_does_not_starve_its_neighbours_or_the_api() {
    let daemon = Daemon::start();
    daemon
        .run_d(
            "busy",
            &[
                "--route",
                "/busy",
                "--max-concurrency",
                "100",
                "--timeout",
                "30s",
                P2_HTTP_CPU,
            ],
        )
        .success();
    daemon
        .run_d("calm", &["--route", "/calm", P2_HTTP_HELLO])
        .success();
    let gw = gateway(&daemon);
    // The neighbour's latency, one request at a time, each on a new connection (sorted).
    let neighbour = |n: usize| {
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let started = Instant::now();
                assert_eq!(via_gateway(&gw, "x", "/calm").0, StatusCode::OK);
                started.elapsed()
            })
            .collect();
        times.sort();
        times
    };
    neighbour(5); // its code loaded
    let quiet = neighbour(100);
    let spinners: Vec<TcpStream> = (0..100)
        .map(|_| {
            send_raw(
                &gw,
                b"GET /busy?ms=forever HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .collect();
    eventually("a hundred instances spin", || {
        daemon.app("busy")["http"]["stats"]["instances"] == 100
    });
    let loaded = neighbour(100);
    let (quiet99, loaded99) = (percentile(&quiet, 0.99), percentile(&loaded, 0.99));
    // Issue 15's goal, 1.5x the quiet p99, is reported rather than asserted: a timed assertion
    // would be flaky on a shared machine (docs/benchmarks.md has the benchmarks).
    eprintln!(
        "NEIGHBOUR: p99 quiet {quiet99:?}, beside 100 spinning requests {loaded99:?}: {:.2}x \
         (goal 1.5x)",
        loaded99.as_secs_f64() / quiet99.as_secs_f64()
    );
    let slowest = *loaded.last().unwrap();
    let started = Instant::now();
    daemon
        .run_d("late", &["--route", "/late", P2_HTTP_HELLO])
        .success();
    let deploy = started.elapsed();
    eprintln!("neighbour: slowest of 100 requests {slowest:?}; a deploy took {deploy:?}");
    assert!(
        slowest < Duration::from_millis(1500),
        "a neighbour waited {slowest:?} behind a hundred spinning instances"
    );
    assert!(
        deploy < Duration::from_secs(3),
        "`run -d` took {deploy:?} behind a hundred spinning instances"
    );
    drop(spinners);
}

#[test]
fn a_slow_request_body_frees_its_instance() {
    let server = Server::start(
        &Skiff::new(),
        &[
            "--max-concurrency",
            "1",
            "--queue-timeout",
            "8s",
            "--body-timeout",
            "1s",
            P2_HTTP_ECHO,
        ],
    );
    // Promises 100 bytes, sends 3, then nothing. The echo handler answers at once and then
    // waits for the body, on the app's only instance.
    let mut slow = send_raw(
        &server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    );
    let head = read_head(&mut slow);
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
    // The next request waits for that instance: it is freed by the body timeout, not by the
    // 60 s request timeout (which would leave this one with 503 after its 8 s in the queue).
    let started = Instant::now();
    let response = client().post(server.url("/")).body("fast").send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().unwrap(), "fast");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    // The slow client's connection was closed, its echo cut off.
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_slow_request_body_gets_408_before_the_handler_answers() {
    // A body that stalls before it starts: a handler that reads it gets nothing to answer
    // with, so Skiff answers 408 and closes the connection.
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon
        .run_d("echo", &["-p", &port, "--body-timeout", "1s", P2_HTTP_ECHO])
        .success();
    daemon
        .run_d("calm", &["--route", "/calm", P2_HTTP_HELLO])
        .success();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut slow = send_raw(
        &addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    // The neighbour is served meanwhile.
    assert_eq!(
        via_gateway(&gateway(&daemon), "x", "/calm").0,
        StatusCode::OK
    );
    let head = read_head(&mut slow);
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    // The echo handler sends its head before it reads; either way the connection ends soon.
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.1 408"),
        "{head:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "the slow body was held {waited:?}"
    );
    eventually("the instance is freed", || {
        daemon.app("echo")["http"]["stats"]["instances"] == 0
    });
}

#[test]
fn handlers_have_a_memory_limit_by_default() {
    let skiff = Skiff::new();
    let server = Server::start(&skiff, &[P2_HTTP_MEMORY]);
    let (status, body) = get(&server.url("/?mb=200"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("memory limit of 128 MiB"), "{body}");
    assert!(body.contains("`--memory`"), "{body}");
    assert_eq!(
        get(&server.url("/?mb=64")),
        (StatusCode::OK, "allocated 64 MiB\n".into())
    );
    let raised = Server::start(&skiff, &["--memory", "256MiB", P2_HTTP_MEMORY]);
    assert_eq!(
        get(&raised.url("/?mb=160")),
        (StatusCode::OK, "allocated 160 MiB\n".into())
    );
}

#[test]
fn a_non_ascii_host_does_not_hold_up_stop() {
    let daemon = Daemon::start();
    let port = free_port().to_string();
    daemon.run_d("api", &["-p", &port, P2_HTTP_HELLO]).success();
    let mut stream = send_raw(
        &format!("127.0.0.1:{port}"),
        b"GET / HTTP/1.1\r\nHost: caf\xc3\xa9.localhost\r\nConnection: close\r\n\r\n",
    );
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 400"), "{head:?}");
    assert_eq!(daemon.app("api")["http"]["stats"]["instances"], 0);
    // With no request in flight, stop does not wait out its 10 s grace period.
    let stopped = daemon.run(&["stop", "-t", "10", "api"]);
    stopped.success();
    assert!(
        stopped.elapsed < Duration::from_secs(5),
        "stop took {:?}",
        stopped.elapsed
    );
}

#[test]
fn tables_count_against_the_memory_limit() {
    // A table bomb: 4 million funcref elements are 32 MiB of host memory.
    let dir = crate::support::dir_with(&[(
        "tables.wat",
        r#"(module
  (table 1 funcref)
  (func (export "_start")
    (if (i32.eq (table.grow (ref.null func) (i32.const 4000000)) (i32.const -1))
      (then unreachable))))"#,
    )]);
    let wat = dir.path().join("tables.wat");
    let wat = crate::support::path_str(&wat);
    let skiff = Skiff::new();
    skiff
        .run(&["run", "--memory", "16MiB", wat])
        .code(137)
        .stderr_has("exceeded its memory limit of 16 MiB")
        .stderr_has("`--memory`");
    skiff.run(&["run", "--memory", "64MiB", wat]).success();
}

/// With room for one compiled handler, two apps take turns: each request evicts the other's code
/// and loads its own again from the compile cache, and both keep answering correctly.
#[test]
fn evicted_handlers_are_loaded_again_on_their_next_request() {
    let daemon = Daemon::start_with(&["--max-loaded-handlers", "1"]);
    daemon
        .run_d("hello", &["--route", "/hello", P2_HTTP_HELLO])
        .success();
    daemon
        .run_d("echo", &["--route", "/echo", P2_HTTP_ECHO])
        .success();
    let gw = gateway(&daemon);
    for round in 0..5 {
        let (status, body) = via_gateway(&gw, "x", "/hello");
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        let echoed = client()
            .post(format!("http://{gw}/echo"))
            .header("host", "x")
            .body(format!("round {round}"))
            .send()
            .unwrap();
        assert_eq!(echoed.status(), StatusCode::OK);
        assert_eq!(echoed.text().unwrap(), format!("round {round}"));
    }
}

/// The daemon's mappings of compiled code (`.cwasm` files): (resident, size) in KiB.
fn mapped_code(daemon: &Daemon) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", daemon.pid())).unwrap();
    let (mut rss, mut size, mut in_code) = (0, 0, false);
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        let kib = || words.clone().next().and_then(|v| v.parse::<u64>().ok());
        match first {
            // A mapping's header: `START-END PERMS OFFSET DEV INODE [PATH]`.
            _ if !first.ends_with(':') => in_code = line.ends_with(".cwasm"),
            "Size:" if in_code => size += kib().unwrap(),
            "Rss:" if in_code => rss += kib().unwrap(),
            _ => {}
        }
    }
    (rss, size)
}

/// An idle handler holds none of its compiled code in the daemon's memory (loading it maps the
/// whole file, by the kernel's fault-around): its first request maps back what it runs, and once
/// it has served nothing for `--code-idle-after`, it gives that back too.
#[test]
fn a_handler_holds_its_code_only_while_it_serves() {
    let daemon = Daemon::start_with(&["--code-idle-after", "1s"]);
    daemon
        .run_d("hello", &["--route", "/hello", P2_HTTP_HELLO])
        .success();
    let (idle, size) = mapped_code(&daemon);
    assert!(size > 0, "the daemon maps no compiled code");
    assert!(
        idle * 4 <= size,
        "an idle handler keeps {idle} KiB of its {size} KiB of code mapped"
    );
    let (status, body) = via_gateway(&gateway(&daemon), "x", "/hello");
    assert_eq!(status, StatusCode::OK, "{body}");
    let (serving, _) = mapped_code(&daemon);
    assert!(serving > idle, "a request maps no code ({serving} KiB)");
    eventually("the handler, quiet again, gives back its code", || {
        mapped_code(&daemon).0 * 4 <= size
    });
    let (status, body) = via_gateway(&gateway(&daemon), "x", "/hello");
    assert_eq!(status, StatusCode::OK, "{body}");
    // Removed, it holds nothing at all: its code is unmapped.
    daemon.run(&["rm", "-f", "hello"]).success();
    eventually("the removed handler's code is unmapped", || {
        mapped_code(&daemon).1 == 0
    });
}
