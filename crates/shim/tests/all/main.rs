//! End to end: a real containerd 1.7 (Debian trixie's, fetched by `scripts/fetch-containerd.sh`)
//! with its own config, root, state and socket under a temp dir, a real registry (Debian's
//! `docker-registry`), and the real `containerd-shim-skiff-v1`: images are pushed to the
//! registry, `ctr image pull --plain-http`ed, and run with `ctr run --runtime io.containerd.skiff.v1`.
//!
//! containerd needs root (mounts); the binaries are found in `SKIFF_CONTAINERD_DIR` or
//! `<target dir>/containerd/usr/bin`. Missing either is a failure with the fix, never a skip.

mod cri;
mod support;

use std::time::{Duration, Instant};

use skiff_test_programs_artifacts::{
    P1_CLI_EXIT_CODE, P1_CLI_HELLO, P1_CLI_MEMORY_BOMB, P1_CLI_READ_FILE, P1_CLI_SLEEP,
    P1_CLI_STDIN_UPPER, P1_CLI_WRITE_FILE, P2_CLI_HELLO, P2_CLI_READ_FILE, P2_HTTP_CPU,
    P2_HTTP_ENV, P2_HTTP_HELLO, P2_HTTP_LOG, P2_HTTP_OUTBOUND, P2_HTTP_SPIN_HEADERS, P2_HTTP_STATE,
    P2_NN, P2_TCP_ECHO_CLIENT, P3_ARGS_ENV, P3_STDIN_UPPER, SPIN_SDK_HTTP, SPIN_SDK_REDIS,
    SPIN_SDK7_HTTP,
};
use support::{COMPAT_WORKDIR, Containerd, Form, Registry};

#[test]
fn a_pulled_module_runs_with_its_output_and_exit_code() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let hello = containerd.publish(&registry, "team/hello:1.0", P1_CLI_HELLO, Form::Layer);
    let run = containerd.run(&hello, "hello1", &[], &["--name", "containerd"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Hello, containerd!\n", "{run:?}");

    let code = containerd.publish(&registry, "team/code:1.0", P1_CLI_EXIT_CODE, Form::Layer);
    let run = containerd.run(&code, "code1", &[], &["42"]);
    assert_eq!(run.code, 42, "{run:?}");
}

#[test]
fn a_component_and_the_compat_form_run() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let component = containerd.publish(&registry, "team/p2:1.0", P2_CLI_HELLO, Form::Layer);
    let run = containerd.run(&component, "p2", &[], &[]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Hello, world!\n"),
        "{run:?}"
    );
    // A WASI 0.3 component, as `wasmtime run` runs it.
    let p3 = containerd.publish(&registry, "team/p3:1.0", P3_ARGS_ENV, Form::Layer);
    let run = containerd.run(&p3, "p3", &[], &["one", "two"]);
    // Its arguments, then its environment: the spec's (ctr gives a container `PATH`).
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("one\ntwo\nPATH="), "{run:?}");

    // A `.wasm` inside an ordinary tar layer, named by the image's entrypoint. Its `WORKDIR`,
    // a directory of its file system, which the app is not given, is no reason to refuse it.
    let compat = containerd.publish(&registry, "team/compat:1.0", P1_CLI_HELLO, Form::Compat);
    let run = containerd.run(&compat, "compat", &[], &["--name", "compat"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Hello, compat!\n"),
        "{run:?}\n{}",
        containerd.log()
    );
    // Where a mount holds it, the `WORKDIR` is where the app starts, as in `skiff run`.
    let cat = containerd.publish(
        &registry,
        "team/cat-compat:1.0",
        P1_CLI_READ_FILE,
        Form::Compat,
    );
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("greeting.txt"), "from WORKDIR\n").unwrap();
    let mount = format!(
        "type=bind,src={},dst={COMPAT_WORKDIR},options=rbind:ro",
        data.path().display()
    );
    let run = containerd.run(&cat, "cat-compat", &["--mount", &mount], &["greeting.txt"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "from WORKDIR\n"),
        "{run:?}\n{}",
        containerd.log()
    );
}

#[test]
fn a_multi_platform_image_runs_its_wasm_entry() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let image = containerd.publish_multi_platform(&registry, "team/multi:1.0", P1_CLI_HELLO);
    // Pulled as ctr pulls by default, for the node's platform only: the start says what to pull.
    containerd.ctr(&["image", "pull", "--plain-http", &image]);
    let run = containerd.run(&image, "multi1", &[], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("ctr image pull --platform wasi/wasm"),
        "{run:?}\n{}",
        containerd.log()
    );
    // Its Wasm entry pulled: that is what runs.
    let platform = ["--platform", "wasi/wasm"];
    containerd.ctr(&[&["image", "pull", "--plain-http"][..], &platform, &[&image]].concat());
    let run = containerd.run(&image, "multi2", &platform, &["--name", "multi"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Hello, multi!\n"),
        "{run:?}\n{}",
        containerd.log()
    );
}

#[test]
fn stdin_reaches_the_app_and_ends_when_the_client_closes_it() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let upper = containerd.publish(&registry, "team/upper:1.0", P1_CLI_STDIN_UPPER, Form::Layer);
    let run = containerd.run_with_input(&upper, "upper", b"hello from ctr\n");
    assert_eq!(run.code, 0, "{run:?}\n{}", containerd.log());
    assert_eq!(run.stdout, "HELLO FROM CTR\n", "{run:?}");
    // WASI 0.3 reads it through its own stream.
    let upper = containerd.publish(&registry, "team/upper3:1.0", P3_STDIN_UPPER, Form::Layer);
    let run = containerd.run_with_input(&upper, "upper3", b"hello from p3\n");
    assert_eq!(run.code, 0, "{run:?}\n{}", containerd.log());
    assert_eq!(run.stdout, "HELLO FROM P3\n", "{run:?}");
}

#[test]
fn a_mount_is_granted_read_only_and_nothing_else_is_visible() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let image = containerd.publish(&registry, "team/cat:1.0", P1_CLI_READ_FILE, Form::Layer);
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("greeting.txt"), "from the host\n").unwrap();
    let mount = format!(
        "type=bind,src={},dst=/data,options=rbind:ro",
        data.path().display()
    );

    let run = containerd.run(
        &image,
        "cat1",
        &["--mount", &mount],
        &["/data/greeting.txt"],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "from the host\n"),
        "{run:?}"
    );

    // A working directory in the mount (`ctr run --cwd`, Kubernetes' `workingDir`): relative
    // paths resolve there, as with `skiff run -w`.
    let run = containerd.run(
        &image,
        "cat-cwd",
        &["--mount", &mount, "--cwd", "/data"],
        &["greeting.txt"],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "from the host\n"),
        "{run:?}\n{}",
        containerd.log()
    );

    // The shim's own files, the rootfs and the host are not granted.
    for path in ["/etc/passwd", "/proc/self/status", "/hello.wasm"] {
        let run = containerd.run(&image, "cat2", &["--mount", &mount], &[path]);
        assert_eq!(
            run.code,
            1,
            "{path} must not be readable: {run:?}\n{}",
            containerd.log()
        );
        assert!(
            run.stderr.starts_with("error: "),
            "{run:?}\n{}",
            containerd.log()
        );
    }
}

#[test]
fn a_read_only_mount_cannot_be_written_and_a_writable_one_can() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let data = tempfile::tempdir().unwrap();
    let image = containerd.publish(&registry, "team/write:1.0", P1_CLI_WRITE_FILE, Form::Layer);
    let mount = |options: &str| {
        format!(
            "type=bind,src={},dst=/data,options={options}",
            data.path().display()
        )
    };
    let run = containerd.run(
        &image,
        "ro1",
        &["--mount", &mount("rbind:ro")],
        &["/data/out.txt", "no"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(!data.path().join("out.txt").exists());

    let run = containerd.run(
        &image,
        "rw1",
        &["--mount", &mount("rbind:rw")],
        &["/data/out.txt", "yes"],
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "wrote\n"), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "yes"
    );
}

#[test]
fn the_memory_limit_stops_a_memory_bomb() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let bomb = containerd.publish(&registry, "team/bomb:1.0", P1_CLI_MEMORY_BOMB, Form::Layer);
    let started = Instant::now();
    let run = containerd.run(&bomb, "bomb1", &["--memory-limit", "67108864"], &[]);
    // 137, as `skiff run --memory 64m` and an OOM-killed container.
    assert_eq!(run.code, 137, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(60), "{run:?}");
}

#[test]
fn kill_ends_a_sleeping_app_within_a_second() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let sleep = containerd.publish(&registry, "team/sleep:1.0", P1_CLI_SLEEP, Form::Layer);
    let mut task = containerd.run_detached(&sleep, "sleeper", &[], &["600000"]);
    containerd.wait_running("sleeper");
    let killed = Instant::now();
    containerd.ctr(&["task", "kill", "sleeper"]);
    let status = task.wait().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "took {:?}",
        killed.elapsed()
    );
    // SIGTERM: 128 + 15.
    assert_eq!(status.code(), Some(143));
}

/// Grows its linear memory to exactly 64 MiB, writes a byte in every 4 KiB page, then computes
/// forever without a host call: a known amount of memory, and CPU time that grows with the wall.
const SPIN_IN_64_MIB: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start")
    (local $at i32)
    (drop (memory.grow (i32.const 1023)))
    (loop $touch
      (i32.store8 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $at) (i32.const 67108864))))
    (loop $spin (br $spin))))"#;

/// `ctr task metrics ID`'s table: the cgroup v2 rows (`cpu.usage_usec`, `memory.usage`, ...).
fn metrics(containerd: &Containerd, id: &str) -> std::collections::HashMap<String, u64> {
    let table = containerd.ctr(&["task", "metrics", id]);
    let rows: std::collections::HashMap<String, u64> = table
        .lines()
        .filter_map(|line| {
            let mut cells = line.split_whitespace();
            let (name, value) = (cells.next()?, cells.next()?);
            Some((name.to_string(), value.parse().ok()?))
        })
        .filter(|(name, _)| name.starts_with("cpu.") || name.starts_with("memory."))
        .collect();
    for row in ["cpu.usage_usec", "cpu.user_usec", "memory.usage"] {
        assert!(rows.contains_key(row), "no `{row}` in:\n{table}");
    }
    rows
}

/// `team/spin:1.0`: a guest that holds 64 MiB of linear memory and spins for ever.
fn publish_spin(registry: &Registry, containerd: &Containerd) -> String {
    let wasm = containerd.dir().join("spin.wasm");
    std::fs::write(&wasm, wat::parse_str(SPIN_IN_64_MIB).unwrap()).unwrap();
    containerd.publish(
        registry,
        "team/spin:1.0",
        wasm.to_str().unwrap(),
        Form::Layer,
    )
}

#[test]
fn task_metrics_are_the_apps_cpu_time_and_linear_memory() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let spin = publish_spin(&registry, &containerd);
    let limit = 128u64 << 20;
    let mut task =
        containerd.run_detached(&spin, "spin1", &["--memory-limit", &limit.to_string()], &[]);
    let started = Instant::now();
    containerd.wait_running("spin1");

    std::thread::sleep(Duration::from_millis(500));
    let first = metrics(&containerd, "spin1");
    let first_at = started.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    let second = metrics(&containerd, "spin1");
    let second_at = started.elapsed();

    // The guest's own linear memory, to the byte, and its `--memory`: not the shim process's
    // (tens of MiB of engine and runtime, the same for every container of a pod).
    assert_eq!(second["memory.usage"], 64 << 20, "{second:?}");
    assert_eq!(second["memory.usage_limit"], limit, "{second:?}");
    // CPU time grows while it spins: never more than the wall-clock time it has been running
    // (one guest runs on one thread at a time), and most of it, even on a busy machine.
    let usec = |d: Duration| d.as_micros() as u64;
    let (cpu1, cpu2) = (first["cpu.usage_usec"], second["cpu.usage_usec"]);
    assert!(
        cpu1 > 0 && cpu1 <= usec(first_at),
        "{cpu1} µs in {first_at:?}"
    );
    assert!(cpu2 <= usec(second_at), "{cpu2} µs in {second_at:?}");
    let wall = second_at.saturating_sub(first_at);
    assert!(
        cpu2.saturating_sub(cpu1) >= usec(wall) / 5,
        "{cpu1} µs then {cpu2} µs, {wall:?} apart"
    );
    assert_eq!(second["cpu.user_usec"], cpu2, "{second:?}");

    // `ctr task pause`: it stops at its next epoch tick, its CPU time stands still, and the
    // task reads as paused until resumed; a kill still ends it.
    containerd.ctr(&["task", "pause", "spin1"]);
    assert!(
        containerd.ctr(&["task", "ls"]).contains("PAUSED"),
        "{}",
        containerd.ctr(&["task", "ls"])
    );
    std::thread::sleep(Duration::from_millis(200));
    let paused = metrics(&containerd, "spin1")["cpu.usage_usec"];
    std::thread::sleep(Duration::from_millis(1000));
    let later = metrics(&containerd, "spin1")["cpu.usage_usec"];
    assert!(
        later <= paused + 20_000,
        "a paused task ran: {paused} µs, then {later} µs"
    );
    containerd.ctr(&["task", "resume", "spin1"]);
    std::thread::sleep(Duration::from_millis(700));
    let resumed = metrics(&containerd, "spin1")["cpu.usage_usec"];
    assert!(
        resumed >= later + 100_000,
        "a resumed task did not run: {later} µs, then {resumed} µs"
    );
    containerd.ctr(&["task", "pause", "spin1"]);

    containerd.ctr(&["task", "kill", "-s", "SIGKILL", "spin1"]);
    assert_eq!(task.wait().unwrap().code(), Some(137));
}

/// A CPU quota (`ctr run --cpus`, a Kubernetes `limits.cpu`) holds a spinning app to its share,
/// as the kernel holds a container's cgroup: its task metrics say so.
#[test]
fn a_cpu_quota_holds_an_app_to_its_share() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let spin = publish_spin(&registry, &containerd);
    let mut task = containerd.run_detached(&spin, "capped", &["--cpus", "0.25"], &[]);
    containerd.wait_running("capped");
    std::thread::sleep(Duration::from_millis(300));
    let first = metrics(&containerd, "capped");
    let first_at = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    let second = metrics(&containerd, "capped");
    let wall = first_at.elapsed();
    let used = Duration::from_micros(second["cpu.usage_usec"] - first["cpu.usage_usec"]);
    eprintln!("--cpus 0.25: {used:?} of CPU in {wall:?}");
    assert!(
        used <= wall / 4 + Duration::from_millis(100),
        "a quarter of a core ran {used:?} in {wall:?}"
    );
    assert!(used > Duration::ZERO, "it did not run at all");

    containerd.ctr(&["task", "kill", "-s", "SIGKILL", "capped"]);
    assert_eq!(task.wait().unwrap().code(), Some(137));
}

#[test]
fn what_cannot_be_honoured_is_refused_with_the_reason() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let hello = containerd.publish(&registry, "team/hello:1.0", P1_CLI_HELLO, Form::Layer);
    let run = containerd.run(&hello, "cwd", &["--cwd", "/app"], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("working directory `/app`"), "{run:?}");
    // wasi-nn would load OpenVINO into the node's one shim: never granted here.
    let nn = containerd.publish(&registry, "team/nn:1.0", P2_NN, Form::Layer);
    let run = containerd.run(&nn, "nn", &[], &["--name", "add-one"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("the containerd shim does not grant wasi-nn"),
        "{run:?}\n{}",
        containerd.log()
    );
    // A CPU quota is honoured: the app gets that share of the CPU (`skiff run --cpus`).
    let run = containerd.run(&hello, "cpus", &["--cpus", "0.5"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Hello"), "{run:?}");
}

#[test]
fn a_handlers_running_requests_show_in_its_task_metrics_and_end_with_it() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let cpu = containerd.publish(&registry, "team/cpu:1.0", P2_HTTP_CPU, Form::Layer);
    let (mut task, port) = containerd.serve(&cpu, "cpu1");
    // A request that computes until its limit: it holds an instance the whole time.
    let spinning = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let _ = client
            .get(format!("http://127.0.0.1:{port}/?ms=forever"))
            .send();
    });
    // While it runs, the task's metrics are its instance's: CPU time that grows, and the
    // linear memory it holds (before, a handler reported only finished requests, memory 0).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (first, second) = loop {
        let first = metrics(&containerd, "cpu1");
        std::thread::sleep(Duration::from_millis(300));
        let second = metrics(&containerd, "cpu1");
        if (first["memory.usage"] > 0 && second["cpu.usage_usec"] > first["cpu.usage_usec"])
            || Instant::now() > deadline
        {
            break (first, second);
        }
    };
    assert!(first["memory.usage"] > 0, "{first:?}\n{}", task.output());
    assert!(
        second["cpu.usage_usec"] > first["cpu.usage_usec"] + 100_000,
        "{first:?} then {second:?}"
    );
    // Killed, the app runs no more in the shim, which outlives it: the request ends at once
    // (before, it spun on until its 60 s timeout).
    let killed = Instant::now();
    containerd.ctr(&["task", "kill", "-s", "SIGKILL", "cpu1"]);
    task.wait().unwrap();
    spinning.join().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "the request ran on for {:?} after its app was killed",
        killed.elapsed()
    );
}

/// `spin registry push`'s form: a Wasm layer, data layers, the locked app as a layer of its own;
/// apps of one component and of several, and one written with Spin SDK 7 that uses its stores.
#[test]
fn a_spin_app_runs_with_its_files_and_its_requests_get_spins_headers() {
    const WASM: &str = "application/vnd.wasm.content.layer.v1+wasm";
    const DATA: &str = "application/vnd.wasm.content.layer.v1+data";
    const LOCKED: &str = "application/vnd.fermyon.spin.application.v1+config";
    let registry = Registry::start();
    let containerd = Containerd::start();
    let reader = std::fs::read(P2_CLI_READ_FILE).unwrap();
    let page = b"<h1>from a Spin data layer</h1>\n".repeat(8);
    let locked = format!(
        r#"{{"spin_lock_version":1,"triggers":[],"components":[{{"id":"site",
        "source":{{"content_type":"application/wasm","digest":"{}"}},
        "files":[{{"digest":"{}","path":"static/index.html"}}]}}]}}"#,
        skiff_image::digest_of(&reader),
        skiff_image::digest_of(&page),
    );
    let site = containerd.publish_layers(
        &registry,
        "spin/site:1",
        &[(WASM, &reader), (DATA, &page), (LOCKED, locked.as_bytes())],
    );
    let run = containerd.run(&site, "site1", &[], &["/static/index.html"]);
    assert_eq!(
        run.stdout,
        std::str::from_utf8(&page).unwrap(),
        "{}",
        containerd.log()
    );

    let headers = std::fs::read(P2_HTTP_SPIN_HEADERS).unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
        "triggers":[{{"id":"a","trigger_type":"http","trigger_config":{{"component":"api","route":"/api/..."}}}}],
        "components":[{{"id":"api","source":{{"content_type":"application/wasm","digest":"{}"}}}}]}}"#,
        skiff_image::digest_of(&headers),
    );
    let api = containerd.publish_layers(
        &registry,
        "spin/api:1",
        &[(WASM, &headers), (LOCKED, locked.as_bytes())],
    );
    let (mut task, port) = containerd.serve(&api, "api1");
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/api/v1"))
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", task.output(), containerd.log()));
    assert!(body.contains("spin-path-info: /v1\n"), "{body}");
    containerd.ctr(&["task", "kill", "api1"]);
    task.wait().unwrap();

    // An app of several components is one container, as `spin up` serves it: each component
    // on its route with its own environment, a private one reached only in-process by the
    // components allowed to call it.
    let env = std::fs::read(P2_HTTP_ENV).unwrap();
    let front = std::fs::read(P2_HTTP_OUTBOUND).unwrap();
    let inner = std::fs::read(P2_HTTP_HELLO).unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
        "triggers":[{{"id":"a","trigger_type":"http","trigger_config":{{"component":"env","route":"/..."}}}},
                    {{"id":"b","trigger_type":"http","trigger_config":{{"component":"front","route":"/front/..."}}}},
                    {{"id":"c","trigger_type":"http","trigger_config":{{"component":"inner","route":{{"private":true}}}}}}],
        "components":[{{"id":"env","source":{{"content_type":"application/wasm","digest":"{}"}},"env":{{"WHO":"env"}}}},
                      {{"id":"front","source":{{"content_type":"application/wasm","digest":"{}"}},
                        "metadata":{{"allowed_outbound_hosts":["http://inner.spin.internal"]}}}},
                      {{"id":"inner","source":{{"content_type":"application/wasm","digest":"{}"}}}}]}}"#,
        skiff_image::digest_of(&env),
        skiff_image::digest_of(&front),
        skiff_image::digest_of(&inner),
    );
    let three = containerd.publish_layers(
        &registry,
        "spin/three:1",
        &[
            (WASM, &env),
            (WASM, &front),
            (WASM, &inner),
            (LOCKED, locked.as_bytes()),
        ],
    );
    let (mut task, port) = containerd.serve(&three, "three1");
    let get = |path: &str, target: &str| {
        let response = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{port}{path}"))
            .header("x-target-url", target)
            .send()
            .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(get("/x?name=WHO", ""), (200, "WHO=env\n".into()));
    assert_eq!(
        get("/front/", "http://inner.spin.internal/"),
        (200, "upstream 200: hello from skiff\n".into())
    );
    // Not in its `allowed_outbound_hosts`: refused.
    assert_eq!(get("/front/", "http://env.spin.internal/").0, 502);
    containerd.ctr(&["task", "kill", "three1"]);
    task.wait().unwrap();

    // A component written with Spin SDK 7 (WASI 0.3), with its variable, its key-value store
    // and its SQLite database, which live as long as the container.
    let sdk7 = std::fs::read(SPIN_SDK7_HTTP).unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
        "triggers":[{{"id":"a","trigger_type":"http","trigger_config":{{"component":"app","route":"/..."}}}}],
        "components":[{{"id":"app","source":{{"content_type":"application/wasm","digest":"{}"}},
          "config":{{"greeting":"yo"}},
          "metadata":{{"key_value_stores":["default"],"sqlite_databases":["default"]}}}}]}}"#,
        skiff_image::digest_of(&sdk7),
    );
    let seven = containerd.publish_layers(
        &registry,
        "spin/seven:1",
        &[(WASM, &sdk7), (LOCKED, locked.as_bytes())],
    );
    let (mut task, port) = containerd.serve(&seven, "seven1");
    let get = |path: &str| {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}"))
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()))
    };
    assert_eq!(get("/a"), "yo /a count=1 keys=1\n");
    assert_eq!(get("/b"), "yo /b count=2 keys=1\n");
    assert_eq!(get("/sql"), "visits=1 rowid=1\n");
    assert_eq!(get("/sql"), "visits=2 rowid=2\n");
    containerd.ctr(&["task", "kill", "seven1"]);
    task.wait().unwrap();
}

#[test]
fn an_http_handler_is_served_a_fresh_instance_per_request_until_killed() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let state = containerd.publish(&registry, "team/state:1.0", P2_HTTP_STATE, Form::Layer);
    let (mut task, port) = containerd.serve(&state, "state1");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // Each request its own instance: the guest's counter never gets past 1.
    for _ in 0..3 {
        let response = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .unwrap_or_else(|e| panic!("{e}\n{}\n{}", task.output(), containerd.log()));
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().unwrap(), "count=1\n");
    }
    // Its stats count the CPU time of the instances that are gone (each is counted when it
    // is), and no memory: it holds no instance between requests.
    let deadline = Instant::now() + Duration::from_secs(10);
    let served = loop {
        let rows = metrics(&containerd, "state1");
        if rows["cpu.usage_usec"] > 0 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(served["cpu.usage_usec"] > 0, "{served:?}");
    assert_eq!(served["memory.usage"], 0, "{served:?}");

    let killed = Instant::now();
    containerd.ctr(&["task", "kill", "state1"]);
    let status = task.wait().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "took {:?}",
        killed.elapsed()
    );
    // Stopped cleanly, as `skiff serve` on SIGTERM: nothing was in flight.
    assert_eq!(status.code(), Some(0), "{}", task.output());
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .is_err()
    );
}

#[test]
fn a_handler_logs_through_containerd_and_a_listener_it_cannot_have_is_refused() {
    let registry = Registry::start();
    let containerd = Containerd::start();
    let log = containerd.publish(&registry, "team/log:1.0", P2_HTTP_LOG, Form::Layer);
    let (mut task, port) = containerd.serve(&log, "log1");
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/from-ctr"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "logged\n");
    containerd.ctr(&["task", "kill", "log1"]);
    task.wait().unwrap();
    let output = task.output();
    assert!(output.contains("handled /from-ctr"), "{output}");
    assert!(output.contains("warn /from-ctr"), "{output}");

    // A port already taken fails the start, and says how to pick another.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("SKIFF_HTTP_LISTEN={}", taken.local_addr().unwrap());
    let run = containerd.run(&log, "log2", &["--net-host", "--env", &listen], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("SKIFF_HTTP_LISTEN"), "{run:?}");
    // In a network of its own (no `--net-host`), nobody could reach it: refused, with the fix.
    let run = containerd.run(&log, "log3", &[], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("--net-host"), "{run:?}");
}

/// The PID `ctr task ls` shows for a running task: its shim's, since the app runs inside it.
fn task_pid(containerd: &Containerd, id: &str) -> u32 {
    let tasks = containerd.ctr(&["task", "ls"]);
    tasks
        .lines()
        .find_map(|l| {
            let mut fields = l.split_whitespace();
            (fields.next() == Some(id)).then(|| fields.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no task `{id}` in:\n{tasks}"))
}

/// How many times the shims of `containerd` compiled, mapped from the compile cache, and found
/// loaded already.
fn loads(containerd: &Containerd) -> (usize, usize, usize) {
    let log = containerd.log();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    (
        count(": compiled `"),
        count("loaded from the compile cache"),
        count("is loaded already"),
    )
}

/// Publishes the hello program and runs it three times, one after another; returns the image.
fn hello_three_times(containerd: &Containerd, registry: &Registry) -> String {
    let hello = containerd.publish(registry, "team/hello:1.0", P1_CLI_HELLO, Form::Layer);
    for id in ["first", "second", "third"] {
        let run = containerd.run(&hello, id, &[], &["--name", id]);
        assert_eq!(run.stdout, format!("Hello, {id}!\n"), "{run:?}");
    }
    hello
}

#[test]
fn a_nodes_containers_share_one_shim_and_its_loaded_code() {
    let registry = Registry::start();
    let containerd = Containerd::start_with_env(&[("SKIFF_SHIM_IDLE_EXIT", "2")]);
    let hello = hello_three_times(&containerd, &registry);
    // One shim for the node's namespace, which outlives each container for the next: compiled
    // once, then found loaded.
    assert_eq!(loads(&containerd), (1, 0, 2), "{}", containerd.log());

    // Two containers at once (not of one pod) are one process.
    let sleep = containerd.publish(&registry, "team/sleep:1.0", P1_CLI_SLEEP, Form::Layer);
    let mut tasks: Vec<_> = ["s1", "s2"]
        .iter()
        .map(|id| {
            let task = containerd.run_detached(&sleep, id, &[], &["600000"]);
            containerd.wait_running(id);
            task
        })
        .collect();
    let shim = task_pid(&containerd, "s1");
    assert_eq!(task_pid(&containerd, "s2"), shim);
    for (id, task) in ["s1", "s2"].iter().zip(&mut tasks) {
        containerd.ctr(&["task", "kill", id]);
        assert!(!task.wait().unwrap().success());
    }
    // With no container left it exits after SKIFF_SHIM_IDLE_EXIT, taking its socket with it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{shim}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the shim {shim} did not exit with no containers left:\n{}",
            containerd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = containerd.run(&hello, "after", &[], &["--name", "again"]);
    assert_eq!(run.stdout, "Hello, again!\n", "{run:?}");
}

#[test]
fn a_node_shim_that_outlived_a_containerd_restart_still_reports_exits() {
    let registry = Registry::start();
    let mut containerd = Containerd::start();
    let sleep = containerd.publish(&registry, "team/sleep:1.0", P1_CLI_SLEEP, Form::Layer);
    let hello = containerd.publish(&registry, "team/hello:1.0", P1_CLI_HELLO, Form::Layer);
    // A running container keeps the node's shim up while containerd restarts (an upgrade).
    containerd.run_d(&sleep, "keep", &["600000"]);
    containerd.wait_running("keep");
    let shim = task_pid(&containerd, "keep");
    containerd.restart();
    let tasks = containerd.ctr(&["task", "ls"]);
    assert!(
        tasks.contains("keep"),
        "containerd lost the task across its restart: {tasks}\n{}",
        containerd.log()
    );
    let (mut events, out) = containerd.events();

    let run = containerd.run(&hello, "after", &[], &["--name", "restart"]);
    assert_eq!(run.stdout, "Hello, restart!\n", "{run:?}");
    assert_eq!(task_pid(&containerd, "keep"), shim, "not the same shim");
    // containerd learns of an exit from the shim's event, and so does the CRI plugin, which
    // would otherwise show the kubelet a container that ended as running.
    let deadline = Instant::now() + Duration::from_secs(5);
    let exited = loop {
        let seen = std::fs::read_to_string(&out).unwrap_or_default();
        if seen
            .lines()
            .any(|l| l.contains("/tasks/exit") && l.contains("\"after\""))
            || Instant::now() > deadline
        {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = events.kill();
    let _ = events.wait();
    assert!(
        exited.contains("/tasks/exit"),
        "no /tasks/exit event for `after`; containerd saw:\n{exited}\n{}",
        containerd.log()
    );
}

#[test]
fn a_shim_per_container_still_compiles_once_per_node() {
    let registry = Registry::start();
    let containerd = Containerd::start_with_env(&[("SKIFF_SHIM_GROUP", "container")]);
    hello_three_times(&containerd, &registry);
    // Each `ctr run` is a shim process of its own; the node's compile cache is shared by all.
    assert_eq!(loads(&containerd), (1, 2, 0), "{}", containerd.log());
}

#[test]
fn a_bad_shim_setting_fails_the_start_naming_it() {
    let registry = Registry::start();
    let containerd = Containerd::start_with_env(&[("SKIFF_SHIM_GROUP", "rack")]);
    let hello = containerd.publish(&registry, "team/hello:1.0", P1_CLI_HELLO, Form::Layer);
    let run = containerd.run(&hello, "bad", &[], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("SKIFF_SHIM_GROUP=`rack`") && run.stderr.contains("`pod`"),
        "{run:?}"
    );
}

/// A container reaches the network only where its `skiff.dev/network` annotation grants, as
/// `skiff run --network` grants: the same refusal without it, the same connection with it.
#[test]
fn the_network_annotation_grants_destinations_as_the_network_flag() {
    let addr = support::echo_server();
    let registry = Registry::start();
    let containerd = Containerd::start();
    let client = containerd.publish(
        &registry,
        "team/client:1.0",
        P2_TCP_ECHO_CLIENT,
        Form::Layer,
    );
    let run = containerd.run(&client, "net1", &["--net-host"], &[&addr]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("error:"), "{run:?}");
    let grant = format!("skiff.dev/network=allow={addr}");
    let flags = ["--net-host", "--annotation", &grant];
    let run = containerd.run(&client, "net2", &flags, &[&addr]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "reply: ping\n"),
        "{run:?}"
    );
    // In a network namespace of its own, the shim's connections would not be the container's.
    let run = containerd.run(&client, "net3", &["--annotation", &grant], &[&addr]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("hostNetwork: true"), "{run:?}");
}

/// A Spin app's Redis trigger runs in containerd as in the daemon: subscribed under the grant
/// its pod gives (`skiff.dev/network=image` accepts the server its image declares), each
/// message a fresh instance; its server's end ends the container as a failure.
#[test]
fn a_spin_redis_trigger_runs_under_its_pods_network_grant() {
    const WASM: &str = "application/vnd.wasm.content.layer.v1+wasm";
    const LOCKED: &str = "application/vnd.fermyon.spin.application.v1+config";
    let port = support::free_port();
    let mut redis = redis_server(port);
    let publish = |payload: &str| publish(port, payload);
    let registry = Registry::start();
    let containerd = Containerd::start();
    let wasm = std::fs::read(SPIN_SDK_REDIS).unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
        "metadata":{{"triggers":{{"redis":{{"address":"redis://127.0.0.1:{port}"}}}}}},
        "triggers":[{{"id":"r","trigger_type":"redis","trigger_config":{{"component":"worker","channel":"events"}}}}],
        "components":[{{"id":"worker","source":{{"content_type":"application/wasm","digest":"{}"}},
        "metadata":{{"key_value_stores":["default"]}}}}]}}"#,
        skiff_image::digest_of(&wasm),
    );
    let image = containerd.publish_layers(
        &registry,
        "spin/worker:1",
        &[(WASM, &wasm), (LOCKED, locked.as_bytes())],
    );
    let flags = ["--net-host", "--annotation", "skiff.dev/network=image"];
    let mut task = containerd.run_detached(&image, "worker1", &flags, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while publish("probe") == 0 {
        assert!(
            Instant::now() < deadline,
            "never subscribed: {}",
            task.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(publish("hello"), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !task.output().contains(": hello") {
        assert!(Instant::now() < deadline, "{}", task.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = redis.kill();
    let _ = redis.wait();
    let status = task.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", task.output());
}

/// A `redis-server` on loopback `port`, saving nothing.
fn redis_server(port: u16) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian's redis-server; scripts/install-test-deps.sh)")
}

/// Publishes `payload` on the channel `events` of the Redis server at `port` (waiting for it to
/// listen); how many subscribers received it.
fn publish(port: u16, payload: &str) -> u64 {
    use std::io::{BufRead as _, Write as _};
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let command = format!(
        "*3\r\n$7\r\nPUBLISH\r\n$6\r\nevents\r\n${}\r\n{payload}\r\n",
        payload.len()
    );
    stream.write_all(command.as_bytes()).unwrap();
    let mut reply = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut reply)
        .unwrap();
    reply.trim().trim_start_matches(':').parse().unwrap()
}

/// A Spin app of an HTTP component and a Redis trigger's is one container, as `spin up` runs
/// it: the trigger subscribed while the handler serves, both counting in one key-value store.
#[test]
fn a_spin_apps_redis_trigger_runs_beside_its_http_component() {
    const WASM: &str = "application/vnd.wasm.content.layer.v1+wasm";
    const LOCKED: &str = "application/vnd.fermyon.spin.application.v1+config";
    let redis_port = support::free_port();
    let mut redis = redis_server(redis_port);
    let registry = Registry::start();
    let containerd = Containerd::start();
    let web = std::fs::read(SPIN_SDK_HTTP).unwrap();
    let worker = std::fs::read(SPIN_SDK_REDIS).unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
        "metadata":{{"triggers":{{"redis":{{"address":"redis://127.0.0.1:{redis_port}"}}}}}},
        "triggers":[
            {{"id":"h","trigger_type":"http","trigger_config":{{"component":"web","route":"/..."}}}},
            {{"id":"r","trigger_type":"redis","trigger_config":{{"component":"worker","channel":"events"}}}}],
        "components":[
            {{"id":"web","source":{{"content_type":"application/wasm","digest":"{}"}},
              "metadata":{{"key_value_stores":["default"]}}}},
            {{"id":"worker","source":{{"content_type":"application/wasm","digest":"{}"}},
              "metadata":{{"key_value_stores":["default"]}}}}]}}"#,
        skiff_image::digest_of(&web),
        skiff_image::digest_of(&worker),
    );
    let image = containerd.publish_layers(
        &registry,
        "spin/mixed:1",
        &[(WASM, &web), (WASM, &worker), (LOCKED, locked.as_bytes())],
    );
    let port = support::free_port();
    let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
    let flags = [
        "--net-host",
        "--env",
        &listen,
        "--annotation",
        "skiff.dev/network=image",
    ];
    let task = containerd.run_detached(&image, "mixed1", &flags, &[]);
    containerd.wait_running("mixed1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while publish(redis_port, "probe") == 0 {
        assert!(
            Instant::now() < deadline,
            "never subscribed: {}",
            task.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let get = || {
        let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .text()
            .unwrap();
        let count = body.split("count=").nth(1).map(|c| c.trim().parse::<u64>());
        count.unwrap_or_else(|| panic!("{body}")).unwrap()
    };
    let before = get();
    assert_eq!(publish(redis_port, "hello"), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !task
        .output()
        .contains(&format!("message {}: hello", before + 1))
    {
        assert!(Instant::now() < deadline, "{}", task.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(), before + 2);
    let _ = redis.kill();
    let _ = redis.wait();
}
