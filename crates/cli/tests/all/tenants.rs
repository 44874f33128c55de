//! Hostile tenants in one daemon (issue 9): next to a well-behaved HTTP app and a well-behaved
//! command app, every kind of misbehaviour a tenant can try at once — CPU, memory, tables, the
//! stack, output, file descriptors, instances, `-v` escapes, egress, slow and huge requests, a
//! handler that traps on every request. The neighbours' latency is measured on the quiet daemon
//! and again under all of it; each hostile app must be stopped by its own limit, with a message
//! that names it. `docs/security.md` has the table of what stops what.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use skiff_test_programs_artifacts::{
    P1_CLI_DEEP_RECURSION, P1_CLI_HELLO, P1_CLI_INFINITE_LOOP, P1_CLI_LIST_DIR, P1_CLI_MEMORY_BOMB,
    P1_CLI_READ_FILE, P1_CLI_SLEEP, P2_HTTP_CPU, P2_HTTP_ECHO, P2_HTTP_HELLO, P2_HTTP_MEMORY,
    P2_HTTP_OUTBOUND, P2_HTTP_TRAP, P2_TCP_ECHO_CLIENT,
};

use crate::daemon::{Daemon, state};
use crate::support::{dir_with, path_str};

/// The instance pool of the suite's daemon: each app may hold half of it (32).
const POOL: &str = "64";
const SHARE: i64 = 32;
/// Neighbour requests per measurement.
const SAMPLES: usize = 200;
/// A log is rotated at 10 MiB and one old file is kept (`crates/daemon/src/logs.rs`).
const LOG_BOUND: u64 = 2 * (10 << 20);

/// A table bomb: 4 million funcref elements are 32 MiB of host memory.
const TABLE_BOMB: &str = r#"(module
  (table 1 funcref)
  (func (export "_start")
    (if (i32.eq (table.grow (ref.null func) (i32.const 4000000)) (i32.const -1))
      (then unreachable))))"#;

/// An output flood: 64 KiB of `x` to stdout, forever.
const OUTPUT_FLOOD: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (memory.fill (i32.const 1024) (i32.const 120) (i32.const 65536))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $flood
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $flood))))"#;

/// File-descriptor exhaustion: opens the file `f` of its first preopened directory (fd 3) again
/// and again, keeping every descriptor; when an open fails it holds what it has and spins.
const FD_BOMB: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "f")
  (func (export "_start")
    (block $refused
      (loop $more
        (br_if $refused
          (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 0)
            (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
        (br $more)))
    (loop $hold (br $hold))))"#;

fn exits(app: &serde_json::Value) -> Vec<(i64, String)> {
    app["exits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            (e["code"].as_i64().unwrap(), reason)
        })
        .collect()
}

fn stats(daemon: &Daemon, app: &str) -> serde_json::Value {
    daemon.app(app)["http"]["stats"].clone()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// `SAMPLES` requests to the neighbour from 4 clients at once, each request on a new connection
/// (a daemon out of file descriptors could still answer on a kept-alive one); every one must
/// succeed.
fn neighbour_latencies(gw: &str) -> Vec<Duration> {
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let gw = gw.to_string();
            std::thread::spawn(move || {
                let client = Client::builder()
                    .timeout(Duration::from_secs(30))
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                (0..SAMPLES / 4)
                    .map(|i| {
                        let started = Instant::now();
                        let response = client.get(format!("http://{gw}/calm")).send();
                        let response =
                            response.unwrap_or_else(|e| panic!("neighbour request {c}.{i}: {e}"));
                        let status = response.status();
                        let body = response.text().unwrap();
                        assert_eq!(
                            (status, body.as_str()),
                            (StatusCode::OK, "hello from skiff\n"),
                            "neighbour request {c}.{i}"
                        );
                        started.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut times: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    times.sort();
    times
}

/// The `p` quantile (0–1) of `sorted`, nearest rank.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Polls `check` until it holds, or fails with `what` after `secs`.
#[track_caller]
fn eventually(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Clients that repeat `one` until `stop`, tallying its results.
struct Load {
    threads: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(
        stop: &Arc<AtomicBool>,
        clients: usize,
        one: impl Fn() -> String + Send + Sync + 'static,
    ) -> Load {
        let one = Arc::new(one);
        let threads = (0..clients)
            .map(|_| {
                let (stop, one) = (stop.clone(), one.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        seen.push(one());
                    }
                    seen
                })
            })
            .collect();
        Load { threads }
    }

    /// Every result, once the clients have stopped.
    fn results(self) -> Vec<String> {
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

/// A raw request; returns the status line (or what ended the connection).
fn raw(addr: &str, head: &[u8], body: &[u8]) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return "connect failed".into();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    if stream
        .write_all(head)
        .and_then(|()| stream.write_all(body))
        .is_err()
    {
        return "write failed".into();
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    response.lines().next().unwrap_or("closed").to_string()
}

#[test]
pub(crate) fn hostile_tenants_in_one_daemon() {
    let started = Instant::now();
    let daemon = Daemon::start_with(&["--max-instances", POOL]);
    let pid = daemon.pid();
    let gw = daemon.info()["gateway"].as_str().unwrap().to_string();

    // The neighbours: an HTTP app and a long-running command app.
    daemon
        .run_d("calm", &["--route", "/calm", P2_HTTP_HELLO])
        .success();
    daemon.run_d("steady", &[P1_CLI_SLEEP, "600000"]).success();
    daemon.wait_for("steady", "running", |a| state(a) == "running");
    neighbour_latencies(&gw); // warm: the handler compiled and loaded
    let quiet = neighbour_latencies(&gw);
    let fds_quiet = open_fds(pid);

    // ---- the hostile apps, each with its own limits ---------------------------------------------
    let files = dir_with(&[
        ("tables.wat", TABLE_BOMB),
        ("flood.wat", OUTPUT_FLOOD),
        ("fds.wat", FD_BOMB),
        ("secret.txt", "SECRET outside the grant\n"),
        ("granted/ok.txt", "inside the grant\n"),
        ("fdbomb/f", "one file, opened many times\n"),
    ]);
    let base = files.path();
    let granted = base.join("granted");
    std::os::unix::fs::symlink("..", granted.join("up")).unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), granted.join("abs")).unwrap();
    std::os::unix::fs::symlink("/", granted.join("root")).unwrap();
    let wat = |name: &str| path_str(&base.join(name)).to_string();
    let (tables, flood, fds) = (wat("tables.wat"), wat("flood.wat"), wat("fds.wat"));
    let grant = format!("{}:/data:ro", path_str(&granted));
    let fd_grant = format!("{}:/d", path_str(&base.join("fdbomb")));

    // Egress targets: a listener that must never see a connection.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap();
    upstream.set_nonblocking(true).unwrap();
    let up_addr = up.to_string();
    let up_name = format!("localhost:{}", up.port());
    let allow_name = format!("allow={up_name}");

    let hostile_commands: &[(&str, Vec<&str>)] = &[
        ("loop", vec!["--cpu-time", "5s", P1_CLI_INFINITE_LOOP]),
        ("membomb", vec!["--memory", "32MiB", P1_CLI_MEMORY_BOMB]),
        ("tablebomb", vec!["--memory", "16MiB", &tables]),
        ("recursion", vec![P1_CLI_DEEP_RECURSION]),
        ("sleeper", vec!["--timeout", "1s", P1_CLI_SLEEP, "600000"]),
        ("flood", vec!["--cpu-time", "3s", &flood]),
        ("fdbomb", vec!["--cpu-time", "3s", "-v", &fd_grant, &fds]),
        (
            "dotdot",
            vec!["-v", &grant, P1_CLI_READ_FILE, "/data/../secret.txt"],
        ),
        ("abslink", vec!["-v", &grant, P1_CLI_READ_FILE, "/data/abs"]),
        (
            "uplink",
            vec!["-v", &grant, P1_CLI_READ_FILE, "/data/up/secret.txt"],
        ),
        (
            "rootlink",
            vec!["-v", &grant, P1_CLI_LIST_DIR, "/data/root"],
        ),
        ("egress", vec![P2_TCP_ECHO_CLIENT, &up_addr]),
        (
            "rebind",
            vec!["--network", &allow_name, P2_TCP_ECHO_CLIENT, &up_name],
        ),
    ];
    let hostile_http: &[(&str, Vec<&str>)] = &[
        // Instances and CPU: far more requests than its share, each spinning until its limit.
        (
            "spin",
            vec![
                "--route",
                "/spin",
                "--max-concurrency",
                "100",
                "--cpu-time",
                "300ms",
                P2_HTTP_CPU,
            ],
        ),
        (
            "hmem",
            vec!["--route", "/hmem", "--memory", "16MiB", P2_HTTP_MEMORY],
        ),
        ("trap", vec!["--route", "/trap", P2_HTTP_TRAP]),
        (
            "echo",
            vec![
                "--route",
                "/echo",
                "--max-body",
                "1MiB",
                "--body-timeout",
                "1s",
                P2_HTTP_ECHO,
            ],
        ),
        ("proxy", vec!["--route", "/proxy", P2_HTTP_OUTBOUND]),
        (
            "rebind-http",
            vec![
                "--route",
                "/rebind",
                "--network",
                &allow_name,
                P2_HTTP_OUTBOUND,
            ],
        ),
    ];
    for (name, args) in hostile_http.iter() {
        daemon.run_d(name, args).success();
    }

    // ---- the load from hostile clients --------------------------------------------------------
    let stop = Arc::new(AtomicBool::new(false));
    let spin = {
        let gw = gw.clone();
        // Its share running, as many waiting in its queue, and a few more turned away. A
        // client turned away waits 50 ms before it tries again: an instant 503 in a tight loop
        // would measure this machine's two cores shared with the load generator, not Skiff.
        Load::start(&stop, 2 * SHARE as usize + 8, move || {
            let head = b"GET /spin?ms=forever HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            let status = raw(&gw, head, b"");
            if status.starts_with("HTTP/1.1 503") {
                std::thread::sleep(Duration::from_millis(50));
            }
            status
        })
    };
    let trap = {
        let gw = gw.clone();
        Load::start(&stop, 4, move || {
            raw(
                &gw,
                b"GET /trap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"",
            )
        })
    };
    let hmem = {
        let gw = gw.clone();
        Load::start(&stop, 2, move || {
            let head = b"GET /hmem?mb=64 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            raw(&gw, head, b"")
        })
    };
    // Huge bodies, declared and chunked.
    let huge = {
        let gw = gw.clone();
        let flip = AtomicUsize::new(0);
        Load::start(&stop, 1, move || {
            let body = vec![b'x'; 4 << 20];
            if flip.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                // Refused from its head: the body is never read.
                let head = format!(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                raw(&gw, head.as_bytes(), b"")
            } else {
                let mut chunked = Vec::new();
                for chunk in body.chunks(64 << 10) {
                    chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    chunked.extend_from_slice(chunk);
                    chunked.extend_from_slice(b"\r\n");
                }
                chunked.extend_from_slice(b"0\r\n\r\n");
                let head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
                let started = Instant::now();
                let status = raw(&gw, head, &chunked);
                // The echo answers its head at once, so the cut shows as a short body or a
                // closed connection; what matters is that it ends.
                if started.elapsed() < Duration::from_secs(10) {
                    "chunked ended".into()
                } else {
                    format!("chunked held: {status}")
                }
            }
        })
    };
    // Slow bodies: 3 bytes of 100, then nothing.
    let slow_body = {
        let gw = gw.clone();
        Load::start(&stop, 4, move || {
            let started = Instant::now();
            let head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
            raw(&gw, head, b"abc");
            format!("{}", started.elapsed().as_millis())
        })
    };
    // Slowloris: connections that send their request head a byte at a time, forever.
    let slowloris: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(&gw).unwrap();
            s.write_all(b"GET /calm HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    let slowloris_opened = Instant::now();
    let dribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut open: Vec<Option<TcpStream>> = slowloris.into_iter().map(Some).collect();
            let mut lifetimes = Vec::new();
            while !stop.load(Ordering::Relaxed) || open.iter().any(Option::is_some) {
                for slot in open.iter_mut() {
                    if let Some(s) = slot
                        && s.write_all(b"X").is_err()
                    {
                        lifetimes.push(slowloris_opened.elapsed());
                        *slot = None;
                    }
                }
                if slowloris_opened.elapsed() > Duration::from_secs(30) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            (lifetimes, open.iter().filter(|s| s.is_some()).count())
        })
    };
    for (name, args) in hostile_commands.iter() {
        daemon.run_d(name, args).success();
    }

    eprintln!(
        "TENANTS: hostile apps deployed after {:?}",
        started.elapsed()
    );
    // Measure only once the load is there: the spinning app holds its whole share, the trap
    // and memory apps have failed requests, the command spinners and the flood are running, the
    // fd bomb holds descriptors.
    eventually("the spinning app holds its share of the pool", 30, || {
        stats(&daemon, "spin")["instances"] == SHARE
    });
    eventually("the trapping and memory-bomb handlers are hit", 30, || {
        stats(&daemon, "trap")["errors"].as_i64() > Some(5)
            && stats(&daemon, "hmem")["errors"].as_i64() > Some(2)
    });
    for name in ["loop", "flood"] {
        assert_eq!(
            state(&daemon.app(name)),
            "running",
            "{name} ended before the measurement"
        );
    }
    let fds_loaded = open_fds(pid);
    eprintln!("TENANTS: the load is there after {:?}", started.elapsed());
    let loaded = neighbour_latencies(&gw);
    // A command neighbour starts and runs to completion under the load too.
    daemon.run_d("hello", &[P1_CLI_HELLO]).success();
    let instances_under_load = stats(&daemon, "spin")["instances"].clone();
    stop.store(true, Ordering::Relaxed);

    // ---- the neighbours were not slowed -------------------------------------------------------
    let (q50, q99) = (percentile(&quiet, 0.5), percentile(&quiet, 0.99));
    let (l50, l99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
    eprintln!(
        "TENANTS: neighbour over {SAMPLES} requests: quiet p50 {q50:?} p99 {q99:?}; loaded p50 {l50:?} \
         p99 {l99:?}; daemon fds quiet {fds_quiet}, loaded {fds_loaded}"
    );
    // The goal (issue 9) is 1.5x the quiet p99, but never less than 5 ms above it: on a shared
    // 2-core machine a quiet p99 of a few milliseconds moves by a few ms with whatever else the
    // machine runs, which is noise, not a tenant getting through. It is NOT met (see
    // docs/security.md): a CPU-bound handler holding its share of the pool keeps one instance
    // running per core, and a busy guest yields only at each 10 ms epoch tick, to the back of
    // the run queue, so a neighbour's request waits behind the spinners at each of its polls
    // (p50 ~0.8 ms -> ~160 ms here with that tenant alone). What holds, and is asserted: no
    // neighbour request fails, and none is starved (each within 5 s; a starved one would wait
    // for the spinners' limits or the client's 30 s timeout).
    let goal = (q99 * 3 / 2).max(q99 + Duration::from_millis(5));
    eprintln!(
        "TENANTS: goal p99 <= {goal:?}: {}",
        if l99 <= goal { "met" } else { "MISSED" }
    );
    let slowest = *loaded.last().unwrap();
    assert!(
        slowest < Duration::from_secs(5),
        "a neighbour request waited {slowest:?} under hostile tenants (quiet p99 {q99:?})"
    );

    // ---- each hostile HTTP app was stopped by its own limit ------------------------------------
    let spin = spin.results();
    let count =
        |results: &[String], prefix: &str| results.iter().filter(|r| r.starts_with(prefix)).count();
    eprintln!(
        "TENANTS: spin: {} answers, {} 500 (CPU limit), {} 503 (beyond its share); {instances_under_load} instances at the end",
        spin.len(),
        count(&spin, "HTTP/1.1 500"),
        count(&spin, "HTTP/1.1 503")
    );
    // (A hostile client may also find its connection dropped from a full accept queue.)
    assert!(
        spin.iter().all(|r| r.starts_with("HTTP/1.1 500")
            || r.starts_with("HTTP/1.1 503")
            || r == "closed"),
        "{:?}",
        spin.iter()
            .filter(|r| !r.starts_with("HTTP/1.1 50"))
            .collect::<Vec<_>>()
    );
    assert!(
        count(&spin, "HTTP/1.1 500") > 0 && count(&spin, "HTTP/1.1 503") > 0,
        "{spin:?}"
    );
    let trap = trap.results();
    assert!(
        trap.iter().all(|r| r.starts_with("HTTP/1.1 500")),
        "{trap:?}"
    );
    let hmem = hmem.results();
    assert!(
        hmem.iter().all(|r| r.starts_with("HTTP/1.1 500")),
        "{hmem:?}"
    );
    let huge = huge.results();
    assert!(
        huge.iter()
            .all(|r| r.starts_with("HTTP/1.1 413") || r == "chunked ended"),
        "{huge:?}"
    );
    let slow_body = slow_body.results();
    let slowest_body = slow_body
        .iter()
        .map(|ms| ms.parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert!(
        slowest_body < 10_000,
        "a stalled body held its connection {slowest_body} ms"
    );
    let (lifetimes, never_closed) = dribbler.join().unwrap();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    eprintln!(
        "TENANTS: trap: {} x 500; hmem: {} x 500; huge: {} refused; slow bodies: {} cut, the slowest after {slowest_body} ms; \
         slowloris: {} closed by the server, the last after {longest:?}",
        trap.len(),
        hmem.len(),
        huge.len(),
        slow_body.len(),
        lifetimes.len()
    );
    assert_eq!(never_closed, 0, "slowloris connections were never closed");
    assert!(
        longest < Duration::from_secs(15),
        "a slowloris connection lived {longest:?}"
    );

    let logs = |name: &str| {
        let out = daemon.run(&["logs", name]);
        out.success();
        format!("{}{}", out.stdout, out.stderr)
    };
    assert!(logs("spin").contains("CPU time limit of 300ms (raise it with `--cpu-time`)"));
    assert!(logs("spin").contains("--max-app-concurrency"));
    assert!(logs("trap").contains("unreachable"));
    assert!(logs("hmem").contains("memory limit of 16 MiB"));
    // Egress from a handler: denied without a grant; a name granted, but resolving to loopback
    // (rebinding), is refused.
    let proxy = |route: &str, target: &str| {
        let head = format!(
            "GET {route} HTTP/1.1\r\nHost: x\r\nx-target-url: http://{target}/\r\nConnection: close\r\n\r\n"
        );
        let mut stream = TcpStream::connect(&gw).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let denied = proxy("/proxy", &up_addr);
    assert!(
        denied.starts_with("HTTP/1.1 502") && denied.contains("HttpRequestDenied"),
        "{denied}"
    );
    let rebound = proxy("/rebind", &up_name);
    assert!(
        rebound.starts_with("HTTP/1.1 502") && rebound.contains("DestinationIpProhibited"),
        "{rebound}"
    );
    assert!(logs("proxy").contains(&format!("--network allow={up_addr}")));

    // ---- each hostile command app was stopped by its own limit ---------------------------------
    let ended = |name: &str| daemon.wait_for(name, "stopped", |a| state(a) == "exited");
    let expect = [
        ("loop", 152, "CPU time limit of 5s"),
        ("membomb", 137, "memory limit of 32 MiB"),
        ("tablebomb", 137, "memory limit of 16 MiB"),
        ("recursion", 134, "call stack exhausted"),
        ("sleeper", 124, "wall-clock limit of 1s"),
        ("flood", 152, "CPU time limit of 3s"),
    ];
    for (name, code, reason) in expect {
        let app = ended(name);
        let exits = exits(&app);
        assert_eq!(exits.len(), 1, "{name}: {app:#}");
        assert_eq!(exits[0].0, code, "{name}: {app:#}");
        assert!(exits[0].1.contains(reason), "{name}: {app:#}");
    }
    // The fd bomb ran into the handle limit of its instance long before the daemon's own
    // descriptors ran out (it took all 20,000 of them before that limit).
    let fdbomb = exits(&ended("fdbomb"));
    assert_eq!(fdbomb.len(), 1, "{fdbomb:?}");
    assert_eq!(fdbomb[0].0, 134, "{fdbomb:?}");
    assert!(fdbomb[0].1.contains("holds 1024 handles"), "{fdbomb:?}");
    // The flood's output is bounded on disk: rotated, one old file kept.
    let log_dir = daemon.skiff.root().join("daemon/logs");
    let flood_bytes: u64 = ["flood.log", "flood.log.1"]
        .iter()
        .map(|f| std::fs::metadata(log_dir.join(f)).map_or(0, |m| m.len()))
        .sum();
    eprintln!("TENANTS: the flood's logs hold {flood_bytes} bytes on disk");
    assert!(
        log_dir.join("flood.log.1").exists(),
        "the flood never filled a log"
    );
    assert!(
        flood_bytes <= LOG_BOUND,
        "the flood's logs hold {flood_bytes} bytes"
    );
    // `-v` escapes see nothing outside the grant.
    for name in ["dotdot", "abslink", "uplink", "rootlink"] {
        let app = ended(name);
        assert_eq!(exits(&app)[0].0, 1, "{name}: {app:#}");
        let out = logs(name);
        assert!(out.contains("error:"), "{name}: {out}");
        assert!(
            !out.contains("SECRET"),
            "{name} read outside its grant: {out}"
        );
    }
    // Egress: denied without a grant; a granted name that resolves to loopback is refused.
    assert_eq!(exits(&ended("egress"))[0].0, 1);
    assert_eq!(exits(&ended("rebind"))[0].0, 1);
    // A socket denial is logged by the daemon (its own log, not yet the app's: `skiff logs`
    // shows the guest's `Permission denied` only).
    assert!(logs("rebind").contains("Permission denied"));
    assert!(
        daemon.log().contains("resolves to 127.0.0.1 (loopback)"),
        "{}",
        daemon.log()
    );
    assert!(
        upstream.accept().is_err(),
        "a denied guest reached the upstream"
    );

    // ---- and the neighbours are fine ----------------------------------------------------------
    assert_eq!(state(&daemon.app("steady")), "running");
    let hello = daemon.wait_for("hello", "done", |a| state(a) == "exited");
    assert_eq!(exits(&hello)[0].0, 0);
    assert_eq!(logs("hello"), "Hello, world!\n");
    assert_eq!(stats(&daemon, "calm")["errors"], 0);
    // Nothing leaked: once the hostile apps are gone, so are their descriptors.
    // (Each app that wrote output keeps its log file open: one descriptor per app.)
    let apps = hostile_commands.len() + hostile_http.len() + 1;
    eventually("the daemon's descriptors come back down", 20, || {
        open_fds(pid) <= fds_quiet + apps + 10
    });
    eprintln!("TENANTS: the suite took {:?}", started.elapsed());
}
