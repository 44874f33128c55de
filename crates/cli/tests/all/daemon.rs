//! `skiff daemon` end to end: a real daemon on a temp socket, driven by the real CLI.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use skiff_test_programs_artifacts::{
    P1_CLI_EXIT_CODE, P1_CLI_HELLO, P1_CLI_INFINITE_LOOP, P1_CLI_MEMORY_BOMB, P1_CLI_SLEEP,
    P2_CLI_STDOUT_STDERR,
};

use crate::support::{Outcome, Skiff};

pub struct Daemon {
    pub skiff: Skiff,
    pub socket: PathBuf,
    child: Option<Child>,
    flags: Vec<String>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// A daemon with these `skiff daemon` flags besides its own root, socket and free ports.
    pub fn start_with(flags: &[&str]) -> Daemon {
        let skiff = Skiff::new();
        let socket = skiff.root().join("run/skiff.sock");
        let mut daemon = Daemon {
            skiff,
            socket,
            child: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        daemon.spawn();
        daemon
    }

    /// Starts the daemon process on this root and socket, waiting until it answers.
    fn spawn(&mut self) {
        let log = std::fs::File::create(self.skiff.root().join("daemon.log")).unwrap();
        let child = self
            .skiff
            .command()
            .args(["daemon", "--socket"])
            .arg(&self.socket)
            // Free ports, so that tests run side by side; `info()` tells which.
            .args(["--gateway", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
            .args(&self.flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.run(&["ps"]).code == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not start: {}", self.log());
    }

    /// The CPU time the daemon process has used, from the kernel's accounting.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.child.as_ref().unwrap().id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // After the `(comm)` field: state is field 3, utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn restart_after_kill(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.skiff.root().join("daemon.log")).unwrap_or_default()
    }

    pub fn command(&self) -> Command {
        let mut cmd = self.skiff.command();
        cmd.env("SKIFF_HOST", format!("unix://{}", self.socket.display()));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        self.skiff.run_with(self.command().args(args), b"")
    }

    /// `skiff run -d --name NAME ARGS...`.
    pub fn run_d(&self, name: &str, args: &[&str]) -> Outcome {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// The daemon as `skiff info --format json` shows it.
    pub fn info(&self) -> serde_json::Value {
        let out = self.run(&["info", "--format", "json"]);
        out.success();
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// The app as `skiff inspect --format json` shows it.
    pub fn app(&self, name: &str) -> serde_json::Value {
        let out = self.run(&["inspect", "--format", "json", name]);
        out.success();
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// Waits until `check` holds for the app, or fails with its last state.
    #[track_caller]
    pub fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let app = self.app(name);
            if check(&app) {
                return app;
            }
            assert!(
                Instant::now() < deadline,
                "`{name}` never became {what}: {app:#}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn state(app: &serde_json::Value) -> &str {
    app["state"].as_str().unwrap()
}

fn exits(app: &serde_json::Value) -> Vec<i64> {
    app["exits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_i64().unwrap())
        .collect()
}

#[test]
fn lifecycle() {
    let daemon = Daemon::start();
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&daemon.socket).unwrap());
    assert_eq!(mode & 0o777, 0o600, "the API socket must be owner-only");

    daemon
        .run_d("sleeper", &["-e", "MODE=batch", P1_CLI_SLEEP, "600000"])
        .success()
        .stdout_is("sleeper\n");
    daemon.wait_for("sleeper", "running", |a| state(a) == "running");
    daemon
        .run(&["ps"])
        .success()
        .stdout_has("sleeper")
        .stdout_has("running");
    let app = daemon.app("sleeper");
    assert_eq!(
        app["grants"]["env"][0],
        serde_json::json!(["MODE", "batch"])
    );

    // Stop: the guest gets the grace period, then is ended.
    let out = daemon.run(&["stop", "-t", "1", "sleeper"]);
    out.success();
    assert!(out.elapsed >= Duration::from_millis(900), "{out:#?}");
    let app = daemon.wait_for("sleeper", "exited", |a| state(a) == "exited");
    assert_eq!(exits(&app), vec![137]);
    daemon.run(&["ps"]).success().stdout_lacks("sleeper");
    daemon.run(&["ps", "-a"]).success().stdout_has("sleeper");

    daemon.run(&["start", "sleeper"]).success();
    daemon.wait_for("sleeper", "running", |a| state(a) == "running");
    daemon.run(&["restart", "-t", "0", "sleeper"]).success();
    let app = daemon.wait_for("sleeper", "running", |a| state(a) == "running");
    assert_eq!(exits(&app), vec![137, 137]);

    daemon
        .run(&["rm", "sleeper"])
        .code(125)
        .stderr_has("is running")
        .stderr_has("skiff rm -f");
    daemon.run(&["rm", "-f", "sleeper"]).success();
    daemon.run(&["ps", "-a"]).success().stdout_lacks("sleeper");
    daemon.run(&["inspect", "sleeper"]).code(125);
}

#[test]
fn a_natural_exit_within_the_grace_period_is_not_forced() {
    let daemon = Daemon::start();
    daemon.run_d("short", &[P1_CLI_SLEEP, "1500"]).success();
    daemon.wait_for("short", "running", |a| state(a) == "running");
    daemon.run(&["stop", "-t", "20", "short"]).success();
    let app = daemon.wait_for("short", "exited", |a| state(a) == "exited");
    assert_eq!(exits(&app), vec![0]);
}

#[test]
fn restart_policies() {
    let daemon = Daemon::start();
    daemon
        .run_d(
            "fails",
            &["--restart", "on-failure:2", P1_CLI_EXIT_CODE, "3"],
        )
        .success();
    daemon.run_d("once", &[P1_CLI_EXIT_CODE, "3"]).success();
    daemon
        .run_d("ok", &["--restart", "on-failure", P1_CLI_EXIT_CODE, "0"])
        .success();
    daemon
        .run_d("again", &["--restart", "always", P1_CLI_EXIT_CODE, "0"])
        .success();

    let fails = daemon.wait_for("fails", "done retrying", |a| {
        state(a) == "exited" && exits(a).len() == 3
    });
    assert_eq!(fails["restarts"], 2);
    assert_eq!(exits(&fails), vec![3, 3, 3]);
    let once = daemon.wait_for("once", "exited", |a| state(a) == "exited");
    assert_eq!(exits(&once), vec![3]);
    let ok = daemon.wait_for("ok", "exited", |a| state(a) == "exited");
    assert_eq!(exits(&ok), vec![0]);
    daemon.wait_for("again", "restarted twice", |a| {
        a["restarts"].as_u64().unwrap() >= 2
    });

    let events = daemon
        .skiff
        .run_with(daemon.command().args(["events", "--no-follow"]), b"");
    events
        .success()
        .stdout_has("restarted")
        .stdout_has("exited");
    daemon.run(&["stop", "-t", "0", "again"]).success();
    let stopped = daemon.app("again");
    let restarts = stopped["restarts"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        daemon.app("again")["restarts"].as_u64().unwrap(),
        restarts,
        "a stopped app came back"
    );
}

#[test]
fn logs_are_kept_apart_and_followed() {
    let daemon = Daemon::start();
    daemon.run_d("both", &[P2_CLI_STDOUT_STDERR]).success();
    daemon.wait_for("both", "exited", |a| state(a) == "exited");
    let out = daemon.run(&["logs", "both"]);
    out.success().stdout_is("to stdout\n");
    assert_eq!(out.stderr, "to stderr\n");
    daemon
        .run(&["logs", "--tail", "0", "both"])
        .success()
        .stdout_is("");

    // `logs -f` shows lines as they come and ends when the app does.
    daemon.run_d("later", &[P1_CLI_SLEEP, "1500"]).success();
    daemon.wait_for("later", "running", |a| state(a) == "running");
    let follow = daemon.run(&["logs", "-f", "later"]);
    follow.success().stdout_is("done\n");
    assert!(follow.elapsed >= Duration::from_millis(500), "{follow:#?}");
}

#[test]
fn noisy_neighbours_are_stopped_by_their_own_limits() {
    let daemon = Daemon::start();
    daemon.run_d("steady", &[P1_CLI_SLEEP, "600000"]).success();
    daemon
        .run_d("spinner", &["--cpu-time", "500ms", P1_CLI_INFINITE_LOOP])
        .success();
    daemon
        .run_d("spinner2", &["--cpu-time", "500ms", P1_CLI_INFINITE_LOOP])
        .success();
    daemon
        .run_d("bomb", &["--memory", "32m", P1_CLI_MEMORY_BOMB])
        .success();

    // While they misbehave, the daemon keeps answering and neighbours keep running.
    for _ in 0..5 {
        let ps = daemon.run(&["ps"]);
        ps.success().stdout_has("steady");
        assert!(
            ps.elapsed < Duration::from_secs(5),
            "the daemon was slow to answer: {ps:#?}"
        );
        daemon.run(&["run", "-d", P1_CLI_HELLO]).success();
    }
    let spinner = daemon.wait_for("spinner", "stopped by its limit", |a| state(a) == "exited");
    assert_eq!(exits(&spinner), vec![152]);
    daemon.wait_for("spinner2", "stopped by its limit", |a| {
        exits(a) == vec![152]
    });
    let bomb = daemon.wait_for("bomb", "stopped by its limit", |a| state(a) == "exited");
    assert_eq!(exits(&bomb), vec![137]);
    assert_eq!(state(&daemon.app("steady")), "running");
    daemon
        .run(&["logs", "cli-hello-1"])
        .success()
        .stdout_is("Hello, world!\n");
    let events = daemon.run(&["events", "--no-follow"]);
    events
        .success()
        .stdout_has("oom")
        .stdout_has("limit-exceeded");
}

#[test]
fn bad_requests_change_nothing() {
    let daemon = Daemon::start();
    daemon
        .run(&["stop", "ghost"])
        .code(125)
        .stderr_has("no app named `ghost`");
    daemon.run_d("one", &[P1_CLI_SLEEP, "600000"]).success();
    daemon
        .run_d("one", &[P1_CLI_HELLO])
        .code(125)
        .stderr_has("already in use");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, "not wasm").unwrap();
    daemon
        .run_d("junk", &[junk.to_str().unwrap()])
        .code(125)
        .stderr_has("not a WebAssembly file");
    daemon
        .run_d("bad name!", &[P1_CLI_HELLO])
        .code(125)
        .stderr_has("invalid app name");

    // Malformed JSON straight to the socket: a 400, and the daemon carries on.
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    use std::io::{Read, Write};
    let body = "{not json";
    write!(
        stream,
        "POST /apps HTTP/1.1\r\nHost: skiff\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("malformed request"), "{response}");

    let ps = daemon.run(&["ps", "-a", "--format", "json"]);
    ps.success();
    let apps: Vec<serde_json::Value> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(apps.len(), 1, "{apps:#?}");
    assert_eq!(state(&daemon.app("one")), "running");
}

#[test]
fn no_daemon_says_how_to_start_one() {
    let skiff = Skiff::new();
    skiff
        .run_with(
            skiff
                .command()
                .env(
                    "SKIFF_HOST",
                    format!("unix://{}/none.sock", skiff.root().display()),
                )
                .arg("ps"),
            b"",
        )
        .code(125)
        .stderr_has("cannot connect to the Skiff daemon")
        .stderr_has("skiff daemon");
}

#[test]
fn kill_9_recovery() {
    let mut daemon = Daemon::start();
    let run = |args: &[&str]| daemon.run(args).success().stdout.clone();
    run(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        P1_CLI_SLEEP,
        "600000",
    ]);
    run(&[
        "run",
        "-d",
        "--name",
        "unless",
        "--restart",
        "unless-stopped",
        P1_CLI_SLEEP,
        "600000",
    ]);
    run(&[
        "run",
        "-d",
        "--name",
        "unless-stopped-by-user",
        "--restart",
        "unless-stopped",
        P1_CLI_SLEEP,
        "600000",
    ]);
    run(&["run", "-d", "--name", "no", P1_CLI_SLEEP, "600000"]);
    run(&["run", "-d", "--name", "finished", P1_CLI_EXIT_CODE, "0"]);
    for name in ["always", "unless", "unless-stopped-by-user", "no"] {
        daemon.wait_for(name, "running", |a| state(a) == "running");
    }
    daemon.wait_for("finished", "exited", |a| state(a) == "exited");
    run(&["stop", "-t", "0", "unless-stopped-by-user"]);

    // Kill the daemon at moments of our choosing and of chance, several times over.
    let mut rng = std::process::id() as u64;
    for round in 0..4 {
        if round > 0 {
            // Traffic in flight while the daemon dies.
            let mut busy: Vec<Child> = (0..3)
                .map(|_| {
                    daemon
                        .command()
                        .args(["run", "-d", P1_CLI_HELLO])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            std::thread::sleep(Duration::from_millis(rng >> 58));
            daemon.restart_after_kill();
            for child in &mut busy {
                let _ = child.wait();
            }
        } else {
            daemon.restart_after_kill();
        }
        daemon.wait_for("always", "running again", |a| state(a) == "running");
        daemon.wait_for("unless", "running again", |a| state(a) == "running");
        assert_eq!(state(&daemon.app("unless-stopped-by-user")), "exited");
        let no = daemon.app("no");
        assert_eq!(state(&no), "exited");
        let finished = daemon.app("finished");
        assert_eq!(state(&finished), "exited");
        assert_eq!(
            exits(&finished),
            vec![0],
            "a finished app must not be rerun"
        );
    }
    let no = daemon.app("no");
    assert!(
        no["exits"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("daemon died"),
        "{no:#}"
    );
    // The state is intact: every app is still known and answers.
    let ps = daemon.run(&["ps", "-a", "--format", "json"]);
    let apps: Vec<serde_json::Value> = serde_json::from_str(&ps.stdout).unwrap();
    assert!(apps.len() >= 5, "{apps:#?}");
}
