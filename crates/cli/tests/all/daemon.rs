//! `skiff daemon` end to end: a real daemon on a temp socket, driven by the real CLI.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use skiff_test_programs_artifacts::{
    P1_CLI_EXIT_CODE, P1_CLI_HELLO, P1_CLI_INFINITE_LOOP, P1_CLI_MEMORY_BOMB, P1_CLI_READ_FILE,
    P1_CLI_SLEEP, P1_CLI_STDIN_UPPER, P2_CLI_STDOUT_STDERR, P2_HTTP_HELLO, P2_HTTP_MEMORY,
    P2_TCP_KV_SERVER,
};

use crate::support::{Outcome, Skiff, dir_with};

pub struct Daemon {
    pub skiff: Skiff,
    pub socket: PathBuf,
    child: Option<Child>,
    flags: Vec<String>,
    /// The daemon's file-creation mask, if not the test's own.
    pub umask: Option<libc::mode_t>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// A daemon with these `skiff daemon` flags besides its own root, socket and free ports.
    pub fn start_with(flags: &[&str]) -> Daemon {
        let mut daemon = Daemon::prepare(flags);
        daemon.spawn();
        daemon
    }

    /// A daemon on a fresh root, not started yet: [`Daemon::spawn`] starts it.
    pub fn prepare(flags: &[&str]) -> Daemon {
        let skiff = Skiff::new();
        let socket = skiff.root().join("run/skiff.sock");
        Daemon {
            skiff,
            socket,
            child: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            umask: None,
        }
    }

    /// Starts the daemon process on this root and socket, waiting until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::File::create(self.skiff.root().join("daemon.log")).unwrap();
        let mut command = self.skiff.command();
        if let Some(mask) = self.umask {
            // SAFETY: umask is async-signal-safe and only changes the child's own mask.
            unsafe {
                command.pre_exec(move || {
                    libc::umask(mask);
                    Ok(())
                });
            }
        }
        command.args(["daemon", "--socket"]).arg(&self.socket);
        // Free ports, so that tests run side by side (`info()` tells which), unless the test
        // chooses.
        for names in [&["--gateway"][..], &["--admin", "--metrics"]] {
            if !self.flags.iter().any(|f| names.contains(&f.as_str())) {
                command.args([names[0], "127.0.0.1:0"]);
            }
        }
        let child = command
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

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The CPU time the daemon process has used, from the kernel's accounting.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.pid();
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

    /// `skiff run -d --name NAME ARGS...` of a program that ends, then `skiff logs NAME` once it
    /// has exited.
    pub fn run_to_exit(&self, name: &str, args: &[&str]) -> Outcome {
        self.run_d(name, args).success();
        self.wait_for(name, "exited", |app| state(app) == "exited");
        self.run(&["logs", name])
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

pub(crate) fn exits(app: &serde_json::Value) -> Vec<i64> {
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

/// `docker ps --filter` and `docker container ...`, as scripts use them: labels given at
/// `run -d`, filters on them and on the name, state, exit code and image, and the app verbs
/// under `container`.
#[test]
fn labels_filters_and_the_container_verbs() {
    let daemon = Daemon::start();
    daemon
        .run(&[
            "run",
            "-d",
            "--name",
            "web-1",
            "-l",
            "tier=front",
            "--label",
            "team",
            P1_CLI_SLEEP,
            "600000",
        ])
        .success();
    daemon
        .run(&[
            "run",
            "-d",
            "--name",
            "api-1",
            "-l",
            "tier=back",
            P1_CLI_SLEEP,
            "600000",
        ])
        .success();
    daemon.run_d("job", &[P1_CLI_EXIT_CODE, "3"]).success();
    daemon.wait_for("job", "exited", |a| state(a) == "exited");
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "-q"];
        for filter in filters {
            args.extend(["--filter", filter]);
        }
        daemon.run(&args).success().stdout.clone()
    };
    assert_eq!(ps(&["label=tier"]), "api-1\nweb-1\n");
    assert_eq!(ps(&["label=tier=front"]), "web-1\n");
    assert_eq!(
        ps(&["label=team", "label=tier=back"]),
        "",
        "different keys all match"
    );
    assert_eq!(ps(&["name=-1$"]), "api-1\nweb-1\n");
    assert_eq!(
        ps(&["name=^web", "name=^api"]),
        "api-1\nweb-1\n",
        "a key twice: either"
    );
    // A filter on the state or the exit code looks at every app, as `-a` does.
    assert_eq!(ps(&["status=exited"]), "job\n");
    assert_eq!(ps(&["exited=3"]), "job\n");
    assert_eq!(ps(&["exited=0"]), "");
    assert_eq!(
        ps(&["status=running", "ancestor=cli_sleep.wasm"]),
        "api-1\nweb-1\n"
    );
    daemon
        .run(&["ps", "--filter", "colour=red"])
        .code(125)
        .stderr_has("`colour` is not a filter")
        .stderr_has("`label`");
    daemon
        .run(&["ps", "--filter", "status=sleepy"])
        .code(125)
        .stderr_has("`status` takes");
    daemon
        .run(&["inspect", "web-1"])
        .success()
        .stdout_has("Label:    team=")
        .stdout_has("Label:    tier=front");
    daemon
        .run(&["run", "-l", "tier=front", P1_CLI_HELLO])
        .code(125)
        .stderr_has("`--label` applies only to an app run by the daemon");

    // `--stop-timeout`: how long a stop that names no time waits before killing the app.
    daemon
        .run(&[
            "run",
            "-d",
            "--name",
            "slow",
            "--stop-timeout",
            "1",
            P1_CLI_SLEEP,
            "600000",
        ])
        .success();
    daemon.wait_for("slow", "running", |a| state(a) == "running");
    daemon
        .run(&["inspect", "slow"])
        .success()
        .stdout_has("Stop:     killed 1s after");
    let stopped = daemon.run(&["stop", "slow"]);
    stopped.success();
    assert!(
        stopped.elapsed >= Duration::from_millis(900) && stopped.elapsed < Duration::from_secs(8),
        "a stop of an app given 1 s took {:?}",
        stopped.elapsed
    );
    daemon.run(&["rm", "slow"]).success();

    // `container ...`: the same verbs, and `prune` for the apps that have exited.
    daemon
        .run(&["container", "ls", "-q"])
        .success()
        .stdout_is("api-1\nweb-1\n");
    daemon
        .run(&["container", "stop", "-t", "0", "api-1"])
        .success();
    daemon
        .run(&["container", "inspect", "api-1"])
        .success()
        .stdout_has("exited");
    daemon
        .run(&["container", "prune", "-f"])
        .success()
        .stdout_has("api-1")
        .stdout_has("job");
    daemon
        .run(&["container", "list", "-aq"])
        .success()
        .stdout_is("web-1\n");
    daemon.run(&["container", "rm", "-f", "web-1"]).success();
    daemon.run(&["ps", "-aq"]).success().stdout_is("");
}

/// What Docker users type out of habit: `ps -q` in scripts (`skiff rm -f $(skiff ps -aq)`), and
/// `run -it --rm` in the foreground, which is what a foreground run is; with `-d`, `-it` is
/// refused, naming what to do instead.
#[test]
fn docker_habits() {
    let daemon = Daemon::start();
    daemon.run_d("one", &[P1_CLI_SLEEP, "600000"]).success();
    daemon.run_d("two", &[P1_CLI_HELLO]).success();
    daemon.wait_for("one", "running", |a| state(a) == "running");
    daemon.wait_for("two", "exited", |a| state(a) == "exited");
    daemon.run(&["ps", "-q"]).success().stdout_is("one\n");
    let all = daemon.run(&["ps", "-aq"]);
    all.success().stdout_is("one\ntwo\n");
    let mut rm = vec!["rm", "-f"];
    rm.extend(all.stdout.lines());
    daemon.run(&rm).success();
    daemon.run(&["ps", "-aq"]).success().stdout_is("");

    let skiff = &daemon.skiff;
    skiff
        .run_with(
            skiff
                .command()
                .args(["run", "-it", "--rm", P1_CLI_STDIN_UPPER]),
            b"hi\n",
        )
        .success()
        .stdout_is("HI\n");
    daemon
        .run(&["run", "-d", "-it", P1_CLI_HELLO])
        .code(125)
        .stderr_has("skiff logs -f NAME");
    daemon.run(&["ps", "-aq"]).success().stdout_is("");

    // `kill`: at once, as `docker kill`; a signal a Wasm app cannot take is refused by name.
    daemon.run_d("sleeper", &[P1_CLI_SLEEP, "600000"]).success();
    daemon.wait_for("sleeper", "running", |a| state(a) == "running");
    daemon
        .run(&["kill", "-s", "HUP", "sleeper"])
        .code(125)
        .stderr_has("no signal handlers");
    let killed = daemon.run(&["kill", "sleeper"]);
    killed.success().stdout_is("sleeper\n");
    assert!(
        killed.elapsed < std::time::Duration::from_secs(5),
        "{killed:#?}"
    );
    daemon.run(&["ps", "-q"]).success().stdout_is("");

    // `wait`: until each app ends, then its exit code, as `docker wait`.
    daemon.run_d("three", &[P1_CLI_EXIT_CODE, "3"]).success();
    daemon.run_d("nap", &[P1_CLI_SLEEP, "1000"]).success();
    let waited = daemon.run(&["wait", "nap", "three"]);
    waited.success().stdout_is("0\n3\n");
    assert!(
        waited.elapsed >= std::time::Duration::from_millis(500),
        "`wait` returned before `nap` ended: {waited:#?}"
    );
    daemon
        .run(&["wait", "nobody"])
        .code(125)
        .stderr_has("failed to wait for `nobody`");

    // `version`: this program's and the daemon's, with the wasmtime each runs apps on.
    let (version, wasmtime) = (env!("CARGO_PKG_VERSION"), skiff_runtime::WASMTIME_VERSION);
    let client = format!(
        "Client:\n Version:   {version}\n Wasmtime:  {wasmtime}\n OS/Arch:   {}/{}\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    daemon
        .run(&["version"])
        .success()
        .stdout_has(&client)
        .stdout_has(&format!(
            "Server:\n Version:   {version}\n Wasmtime:  {wasmtime}\n"
        ));
    let json = daemon.run(&["version", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.success().stdout).unwrap();
    assert_eq!(json["server"]["wasmtime"], wasmtime);
    // With no daemon: the client's part, then why there is no server's, as `docker version`.
    let gone = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}/skiff.sock", gone.path().display());
    skiff
        .run(&["-H", &socket, "version"])
        .code(125)
        .stdout_is(&client)
        .stderr_has("cannot connect to the Skiff daemon");
}

/// `run -d --rm`, as Docker's: the app and its logs are removed once it has exited (on its own,
/// or stopped; not by `skiff restart`), and one the daemon died under is removed at the next
/// start. A restart policy or an HTTP app is refused with it.
#[test]
fn an_app_run_with_rm_is_removed_once_it_has_exited() {
    let mut daemon = Daemon::start();
    let root = daemon.skiff.root().to_path_buf();
    let log = |name: &str| root.join(format!("daemon/logs/{name}.log"));
    daemon.run_d("kept", &[P1_CLI_HELLO]).success();
    daemon.run_d("once", &["--rm", P1_CLI_HELLO]).success();
    daemon
        .run_d("sleeper", &["--rm", P1_CLI_SLEEP, "600000"])
        .success();
    daemon
        .run_d("long", &["--rm", P1_CLI_SLEEP, "600000"])
        .success();
    daemon.wait_for("sleeper", "running", |a| state(a) == "running");
    daemon.wait_for("long", "running", |a| state(a) == "running");
    let gone = |name: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while daemon.run(&["ps", "-aq"]).stdout.lines().any(|n| n == name) {
            assert!(Instant::now() < deadline, "`{name}` was not removed");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!log(name).exists(), "the log of `{name}` was kept");
    };
    gone("once");
    daemon.wait_for("kept", "exited", |a| state(a) == "exited");
    assert!(log("kept").exists(), "an app without `--rm` keeps its log");
    daemon.run(&["rm", "kept"]).success();
    // `--timeout`, as newer Docker spells `-t`; `ps --no-trunc` is taken.
    daemon.run(&["stop", "--timeout", "0", "sleeper"]).success();
    gone("sleeper");
    daemon
        .run(&["ps", "-aq", "--no-trunc"])
        .success()
        .stdout_is("long\n");
    // A restart is not an exit: the app stays.
    daemon.run(&["restart", "-t", "0", "long"]).success();
    daemon.wait_for("long", "running", |a| state(a) == "running");
    daemon.restart_after_kill();
    daemon.run(&["ps", "-aq"]).success().stdout_is("");

    daemon
        .run(&["run", "-d", "--rm", "--restart", "always", P1_CLI_HELLO])
        .code(125)
        .stderr_has("`--rm` and `--restart` conflict");
    daemon
        .run(&["run", "-d", "--rm", "-p", "0", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("skiff rm -f NAME");
    daemon.run(&["ps", "-aq"]).success().stdout_is("");
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
    // Longer than the backoff a next restart would have waited (100 ms doubling per restart).
    let backoff = Duration::from_millis((100u64 << restarts.min(7)).min(10_000));
    std::thread::sleep(backoff + Duration::from_millis(500));
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
    // Following an app that has already ended prints its lines and returns, as `docker logs -f`
    // of a stopped container does (it waited for an exit that had come).
    let mut follow = daemon
        .command()
        .args(["logs", "-f", "both"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while follow.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if follow.try_wait().unwrap().is_none() {
        follow.kill().unwrap();
        panic!("`skiff logs -f` of an exited app was still following after 10 s");
    }
    let out = follow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to stdout\n");

    // `logs -f` shows lines as they come and ends when the app does.
    daemon.run_d("later", &[P1_CLI_SLEEP, "1500"]).success();
    daemon.wait_for("later", "running", |a| state(a) == "running");
    let follow = daemon.run(&["logs", "-f", "later"]);
    follow.success().stdout_is("done\n");
    assert!(follow.elapsed >= Duration::from_millis(500), "{follow:#?}");
}

#[test]
fn a_working_directory_means_what_it_means_in_the_foreground() {
    let daemon = Daemon::start();
    let host = dir_with(&[("data/logs/today.txt", "from the workdir\n")]);
    let grant = format!("{}:/data:ro", host.path().join("data").display());
    daemon
        .run_to_exit(
            "reader",
            &[
                "-v",
                &grant,
                "-w",
                "/data/logs",
                P1_CLI_READ_FILE,
                "today.txt",
            ],
        )
        .success()
        .stdout_is("from the workdir\n");
    // A command app's grants are checked at each start, as a missing `-v` directory is: the
    // start fails with the same words as `skiff run`, in the app's log.
    daemon
        .run_to_exit("lost", &["-v", &grant, "-w", "/srv", P1_CLI_READ_FILE, "x"])
        .success();
    let exit = &daemon.app("lost")["exits"][0];
    assert_eq!(exit["code"], 125, "{exit}");
    let reason = exit["reason"].as_str().unwrap();
    assert!(
        reason.contains("the working directory `/srv` is in no granted directory"),
        "{reason}"
    );
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

    // Malformed JSON straight to the socket: a 400, and the daemon carries on. An update with a
    // key it does not know, or a CPU share of nothing, changes nothing either.
    for (path, body) in [
        ("/apps", "{not json"),
        ("/apps/one/update", r#"{"restrat": {"policy": "always"}}"#),
        ("/apps/one/update", r#"{"limits": {"cpus": 0}}"#),
    ] {
        let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: skiff\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(response.contains("malformed request"), "{response}");
    }
    assert_eq!(daemon.app("one")["restart"]["policy"], "no");

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
    // Runs in flight when the daemon dies: one that was answered must be kept; one that was
    // not may or may not have been saved, but nothing else may appear.
    let (mut acknowledged, mut in_flight) = (Vec::new(), Vec::new());
    for round in 0..4 {
        if round > 0 {
            // Traffic in flight while the daemon dies.
            let mut busy: Vec<(String, Child)> = (0..3)
                .map(|i| {
                    let name = format!("busy-{round}-{i}");
                    let child = daemon
                        .command()
                        .args(["run", "-d", "--name", &name, P1_CLI_HELLO])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    (name, child)
                })
                .collect();
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            std::thread::sleep(Duration::from_millis(rng >> 58));
            daemon.restart_after_kill();
            for (name, child) in &mut busy {
                if child.wait().unwrap().success() {
                    acknowledged.push(name.clone());
                }
                in_flight.push(name.clone());
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
    let mut names: Vec<&str> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
    names.sort();
    for name in &acknowledged {
        assert!(
            names.contains(&name.as_str()),
            "`{name}` was acknowledged and then lost: {names:?}"
        );
    }
    names.retain(|n| !in_flight.iter().any(|f| f == n));
    assert_eq!(
        names,
        [
            "always",
            "finished",
            "no",
            "unless",
            "unless-stopped-by-user"
        ],
        "{apps:#?}"
    );
}

// Issue 9, item 5: a run that ends at once must not be overwritten by the record of its own
// launch. The launch used to save the app as `running` after its task had already saved the
// exit, so the next daemon start recorded "daemon died" and ran it again.
#[test]
fn a_quick_exit_stays_recorded_across_a_daemon_restart() {
    let mut daemon = Daemon::start();
    let names: Vec<String> = (0..24).map(|i| format!("quick-{i}")).collect();
    // Side by side, so that runs end while other launches are being saved.
    let children: Vec<Child> = names
        .iter()
        .map(|name| {
            daemon
                .command()
                .args(["run", "-d", "--name", name, "--restart", "on-failure"])
                .args([P1_CLI_EXIT_CODE, "0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for name in &names {
        daemon.wait_for(name, "exited", |a| state(a) == "exited");
    }
    daemon.restart_after_kill();
    for name in &names {
        let app = daemon.app(name);
        assert_eq!(
            exits(&app),
            vec![0],
            "an app that exited 0 was recorded as still running: {app:#}"
        );
        assert_eq!(state(&app), "exited", "{app:#}");
    }
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A small tmpfs, unmounted when dropped.
pub(crate) struct Tmpfs(pub(crate) PathBuf);

impl Tmpfs {
    pub(crate) fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cannot mount a tmpfs on {}",
            dir.display()
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fills the file system with one file, until a write fails for want of space.
    pub(crate) fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 64 << 10];
        loop {
            if let Err(e) = file.write_all(&chunk).and_then(|()| file.flush()) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                // Then page by page, so not even a few bytes are left.
                for _ in 0..64 {
                    let _ = file.write_all(&[0u8; 512]);
                }
                return path;
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

// Issue 9, item 5: after one failed commit, redb refuses every later write until the database
// is reopened, while the API went on answering success. A change that cannot be saved must fail
// with the cause, and once there is room again changes must be saved without a daemon restart.
#[test]
fn a_change_that_cannot_be_saved_fails_and_saving_resumes_when_the_disk_has_room() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let mut daemon = Daemon::prepare(&[]);
    let disk = Tmpfs::mount(&daemon.skiff.root().join("daemon"), "16m");
    daemon.spawn();
    daemon
        .run_d(
            "keeper",
            &["--restart", "unless-stopped", P1_CLI_SLEEP, "600000"],
        )
        .success();
    daemon.wait_for("keeper", "running", |a| state(a) == "running");

    // A new app whose record needs fresh pages (a large env value) while the disk is full.
    let env_file = daemon.skiff.root().join("big.env");
    std::fs::write(&env_file, format!("BIG={}\n", "x".repeat(1 << 20))).unwrap();
    let filler = disk.fill();
    daemon
        .run_d(
            "big",
            &[
                "--env-file",
                env_file.to_str().unwrap(),
                P1_CLI_SLEEP,
                "600000",
            ],
        )
        .code(125)
        .stderr_has("cannot save")
        .stderr_has("No space left on device")
        .stderr_has("hint:");
    daemon
        .run(&["inspect", "big"])
        .code(125)
        .stderr_has("no app named `big`");
    // Room again: changes are saved, with no daemon restart.
    std::fs::remove_file(filler).unwrap();
    daemon.run(&["stop", "-t", "0", "keeper"]).success();
    daemon
        .run_d(
            "big",
            &[
                "--env-file",
                env_file.to_str().unwrap(),
                P1_CLI_SLEEP,
                "600000",
            ],
        )
        .success();
    daemon.wait_for("big", "running", |a| state(a) == "running");

    // What was answered as done is what the next daemon finds.
    daemon.restart_after_kill();
    let keeper = daemon.app("keeper");
    assert_eq!(
        state(&keeper),
        "exited",
        "a saved stop was lost: {keeper:#}"
    );
    assert_eq!(keeper["desired_running"], false);
    let big = daemon.app("big");
    assert_eq!(big["grants"]["env"][0][0], "BIG", "{big:#}");
    drop(daemon);
    drop(disk);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

// Issue 9, item 7: the state and the logs hold `-e` values; they must be owner-only from the
// moment they are created, whatever the umask.
#[test]
fn the_state_and_logs_are_owner_only_whatever_the_umask() {
    let mut daemon = Daemon::prepare(&[]);
    daemon.umask = Some(0);
    daemon.spawn();
    daemon
        .run_d("secret", &["-e", "SECRET=hunter2", P1_CLI_HELLO])
        .success();
    daemon.wait_for("secret", "exited", |a| state(a) == "exited");
    let dir = daemon.skiff.root().join("daemon");
    for (path, expected) in [
        (dir.clone(), 0o700),
        (dir.join("state.redb"), 0o600),
        (dir.join("lock"), 0o600),
        (dir.join("logs"), 0o700),
        (dir.join("logs/secret.log"), 0o600),
        (daemon.socket.parent().unwrap().to_path_buf(), 0o700),
        (daemon.socket.clone(), 0o600),
    ] {
        assert_eq!(
            mode(&path),
            expected,
            "`{}` has mode {:o}",
            path.display(),
            mode(&path)
        );
    }
}

/// Runs `command`, killing it if it has not ended within `limit`.
fn run_within(command: &mut Command, limit: Duration) -> Option<crate::support::Outcome> {
    use std::io::Read as _;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            let mut stderr = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            let outcome = crate::support::Outcome {
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
                elapsed: started.elapsed(),
            };
            eprintln!("{outcome:#?}");
            return Some(outcome);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `nobody`, which owns nothing of ours.
const NOBODY: u32 = 65534;

// Issue 9, item 7: another user can pre-create the socket's directory (`/tmp/skiff` when
// XDG_RUNTIME_DIR is unset) and then swap the socket; the daemon must refuse such a directory.
#[test]
fn the_daemon_refuses_a_socket_directory_others_control() {
    if !is_root() {
        eprintln!("skipped: giving a directory to another user needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let skiff = Skiff::new();
    let theirs = skiff.root().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let open = skiff.root().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    for (dir, why) in [(&theirs, "owned by uid 65534"), (&open, "writable by")] {
        let socket = dir.join("skiff.sock");
        let out = run_within(
            skiff
                .command()
                .args([
                    "daemon",
                    "--gateway",
                    "none",
                    "--metrics",
                    "none",
                    "--socket",
                ])
                .arg(&socket),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("the daemon served on a socket in `{}`", dir.display()));
        out.code(125).stderr_has(why).stderr_has("hint:");
        assert!(!socket.exists());
    }
}

// Issue 9, item 7: the client must not send anything (such as `-e` values) to a socket that
// another user owns.
#[test]
fn the_client_refuses_a_socket_another_user_owns() {
    if !is_root() {
        eprintln!("skipped: giving a socket to another user needs root");
        return;
    }
    let skiff = Skiff::new();
    let socket = skiff.root().join("impostor.sock");
    let impostor = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    impostor.set_nonblocking(true).unwrap();
    std::os::unix::fs::chown(&socket, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = run_within(
        skiff
            .command()
            .env("SKIFF_HOST", format!("unix://{}", socket.display()))
            .args(["run", "-d", "-e", "SECRET=hunter2", P1_CLI_HELLO]),
        Duration::from_secs(20),
    )
    .expect("the client talked to a socket of another user");
    out.code(125)
        .stderr_has("owned by uid 65534")
        .stderr_has("hint:");
    let accepted = impostor.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the client connected: {accepted:?}"
    );
}

/// `skiff update`, as `docker update`: a new restart policy applies at the app's next exit, new
/// limits to an HTTP app's next request; what is not given is kept, and the change is saved.
#[test]
fn update_changes_the_restart_policy_and_limits() {
    let mut daemon = Daemon::start();
    daemon.run_d("job", &[P1_CLI_SLEEP, "700"]).success();
    daemon
        .run(&[
            "update",
            "--restart",
            "always",
            "--stop-timeout",
            "3",
            "job",
        ])
        .success()
        .stdout_is("job\n");
    let job = daemon.wait_for("job", "restarted", |app| {
        app["restarts"].as_u64() >= Some(1)
    });
    assert_eq!(job["restart"]["policy"], "always", "{job:#}");
    assert_eq!(job["stop_timeout"], 3, "{job:#}");

    let port = crate::programs::free_port().to_string();
    daemon
        .run_d("mem", &["-p", &port, "--memory", "64m", P2_HTTP_MEMORY])
        .success();
    let get = |mb: u32| {
        let response = reqwest::blocking::get(format!("http://127.0.0.1:{port}/?mb={mb}")).unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(get(32), (200, "allocated 32 MiB\n".into()));
    daemon
        .run(&["update", "-m", "16m", "mem"])
        .success()
        .stdout_is("mem\n");
    let (status, body) = get(32);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("memory limit of 16 MiB"), "{body}");
    daemon
        .run(&["events", "--no-follow"])
        .success()
        .stdout_has("mem updated memory 16 MiB");

    // Saved: the daemon comes back with the new limit.
    daemon.restart_after_kill();
    daemon.wait_for("mem", "serving", |app| app["state"] == "serving");
    assert_eq!(get(32).0, 500);
    assert_eq!(daemon.app("job")["restart"]["policy"], "always");

    // Nothing to change, no such app, and a restart policy for an app removed when it exits.
    daemon
        .run(&["update", "mem"])
        .code(125)
        .stderr_has("nothing to update");
    daemon
        .run(&["update", "--cpus", "1", "nope"])
        .code(125)
        .stderr_has("no app named `nope`");
    daemon
        .run(&["run", "-d", "--rm", "--name", "once", P1_CLI_SLEEP, "60000"])
        .success();
    daemon
        .run(&["update", "--restart", "always", "once"])
        .code(125)
        .stderr_has("it is never restarted");
    daemon.run(&["rm", "-f", "job", "mem", "once"]).success();
}

/// Where an app is reached shows in `ps`, `inspect` and `skiff port` (as `docker port`): an HTTP
/// app's ports and routes, and a command's `-p` ports, which were shown nowhere; an HTTP app's
/// limits are those its requests get, Skiff's defaults included.
#[test]
fn ports_show_where_an_app_is_reached() {
    let daemon = Daemon::start();
    let (web, kv) = (
        crate::programs::free_port().to_string(),
        crate::programs::free_port().to_string(),
    );
    daemon
        .run_d("web", &["-p", &web, "--route", "/web", P2_HTTP_HELLO])
        .success();
    let listen = format!("127.0.0.1:{kv}");
    daemon
        .run_d("kv", &["-p", &kv, P2_TCP_KV_SERVER, &listen])
        .success();
    daemon
        .run(&["ps"])
        .success()
        .stdout_has(&format!("127.0.0.1:{web}, /web"))
        .stdout_has(&listen);
    daemon
        .run(&["port", "web"])
        .success()
        .stdout_is(&format!("{web}/tcp -> 127.0.0.1:{web}\n"));
    daemon
        .run(&["port", "kv", &kv])
        .success()
        .stdout_is(&format!("{listen}\n"));
    daemon
        .run(&["port", "web", "80/udp"])
        .code(125)
        .stderr_has("no port 80/udp published for `web`")
        .stderr_has(&format!("it has {web}/tcp"));
    daemon
        .run(&["inspect", "kv"])
        .success()
        .stdout_has(&format!("Ports:    {listen} (it may listen there)"));
    daemon
        .run(&["inspect", "web"])
        .success()
        .stdout_has("Routes:   /web")
        .stdout_has("Limits:   memory 128 MiB, cpu-time unlimited, timeout 1m (each request)");
    // Docker's Go templates, over the same fields `--format json` shows.
    daemon
        .run(&["inspect", "-f", "{{.State}} {{json .Http.Routes}}", "web"])
        .success()
        .stdout_is("serving [\"/web\"]\n");
    daemon
        .run(&["ps", "--format", "{{.Names}}: {{.Status}} {{len .Listen}}"])
        .success()
        .stdout_is("kv: running 1\nweb: serving 0\n");
    daemon
        .run(&["ps", "--format", "{{.Names"])
        .code(125)
        .stderr_has("has no `}}`");
    daemon.run(&["rm", "-f", "web", "kv"]).success();
}

/// More of what a Docker user types: `start -a` and `attach` show the output and give the exit
/// code, `ps -n`/`-l` the apps created last, `logs --until` the lines before a time, and the
/// verbs a Wasm app has no use for say so, with what to do instead.
#[test]
fn attach_last_until_and_the_verbs_that_mean_nothing_here() {
    let daemon = Daemon::start();
    daemon.run_to_exit("three", &[P1_CLI_EXIT_CODE, "3"]);
    daemon.run_to_exit("both", &[P2_CLI_STDOUT_STDERR]);
    // Only this start's output, and its code.
    let attached = daemon.run(&["start", "-a", "both"]);
    attached.success().stdout_is("to stdout\n");
    assert_eq!(attached.stderr, "to stderr\n");
    daemon.run(&["start", "-a", "three"]).code(3);
    daemon
        .run(&["start", "-a", "three", "both"])
        .code(125)
        .stderr_has("one app at a time");

    daemon.run_d("later", &[P1_CLI_SLEEP, "1000"]).success();
    let attached = daemon.run(&["attach", "later"]);
    attached.success().stdout_is("done\n");
    daemon
        .run(&["attach", "later"])
        .code(125)
        .stderr_has("`later` is not running")
        .stderr_has("skiff start -a later");

    daemon
        .run(&["ps", "-l", "-q"])
        .success()
        .stdout_is("later\n");
    daemon
        .run(&["ps", "-n", "2", "-q"])
        .success()
        .stdout_is("later\nboth\n");

    // `--until`: the lines before a time; `both` wrote its last lines just now.
    daemon
        .run(&["logs", "--until", "1h", "both"])
        .success()
        .stdout_is("");
    daemon
        .run(&["logs", "--until", "2099-01-01T00:00:00Z", "both"])
        .success()
        .stdout_is("to stdout\nto stdout\n");

    for (verb, instead) in [
        ("exec", "skiff run -v HOST:GUEST"),
        ("cp", "skiff inspect NAME"),
        ("top", "skiff stats NAME"),
        ("commit", "skiff save IMAGE"),
    ] {
        daemon
            .run(&[verb, "later", "sh"])
            .code(125)
            .stderr_has(&format!("`skiff {verb}`: "))
            .stderr_has(instead);
    }
}

/// `skiff create`, as `docker create`: the app is made as `run -d` makes it, shown as created,
/// and runs only once started; a daemon restart keeps it created, `--rm` and all.
#[test]
fn create_makes_an_app_that_start_runs() {
    let mut daemon = Daemon::start();
    daemon
        .run(&["create", "--name", "later", "--rm", P1_CLI_EXIT_CODE, "4"])
        .success()
        .stdout_is("later\n");
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .success()
        .stdout_is("later created\n");
    daemon
        .run(&["ps", "-q", "--filter", "status=created"])
        .success()
        .stdout_is("later\n");
    daemon
        .run(&["ps", "-q", "--filter", "status=exited"])
        .success()
        .stdout_is("");
    daemon
        .run(&["events", "--no-follow"])
        .success()
        .stdout_has("later created")
        .stdout_lacks("later started");
    daemon.restart_after_kill();
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .success()
        .stdout_is("later created\n");
    // `wait` waits for a created app to be started and to end, as `docker wait` does.
    let waiting = daemon
        .command()
        .args(["wait", "later"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Started (attached): it runs, its code comes back, and `--rm` removes it.
    daemon.run(&["start", "-a", "later"]).code(4);
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&waited.stdout), "4\n", "{waited:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.run(&["ps", "-aq"]).stdout.contains("later") {
        assert!(Instant::now() < deadline, "`later` was not removed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `skiff pause` / `unpause`, as Docker's: a paused app runs no guest code (its CPU time stands
/// still, a request to it waits) until unpaused, and a stop still ends it.
#[test]
fn pause_freezes_an_app_until_it_is_unpaused() {
    let daemon = Daemon::start();
    daemon.run_d("spin", &[P1_CLI_INFINITE_LOOP]).success();
    daemon.wait_for("spin", "running", |a| state(a) == "running");
    std::thread::sleep(Duration::from_millis(300));
    daemon.run(&["pause", "spin"]).success().stdout_is("spin\n");
    daemon
        .run(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .success()
        .stdout_is("spin running (paused)\n");
    daemon
        .run(&["ps", "-q", "--filter", "status=paused"])
        .success()
        .stdout_is("spin\n");
    daemon
        .run(&["ps", "-q", "--filter", "status=running"])
        .success()
        .stdout_is("");
    daemon
        .run(&["pause", "spin"])
        .code(125)
        .stderr_has("`spin` is already paused");
    // It stops at its next epoch tick; from then on its CPU time stands still.
    std::thread::sleep(Duration::from_millis(200));
    let cpu = |daemon: &Daemon| daemon.app("spin")["cpu_ms"].as_u64().unwrap();
    let paused = cpu(&daemon);
    std::thread::sleep(Duration::from_secs(1));
    let later = cpu(&daemon);
    assert!(
        later <= paused + 20,
        "a paused app ran: {paused} ms, then {later} ms"
    );
    daemon.run(&["unpause", "spin"]).success();
    std::thread::sleep(Duration::from_millis(700));
    let running = cpu(&daemon);
    assert!(
        running >= later + 200,
        "an unpaused app did not run: {later} ms, then {running} ms"
    );

    // A request to a paused HTTP app waits, and is answered once it is unpaused.
    let port = crate::programs::free_port().to_string();
    daemon.run_d("web", &["-p", &port, P2_HTTP_HELLO]).success();
    daemon.run(&["pause", "web"]).success();
    let url = format!("http://127.0.0.1:{port}/");
    let request = std::thread::spawn(move || {
        let started = Instant::now();
        let response = reqwest::blocking::Client::new()
            .get(url)
            .timeout(Duration::from_secs(20))
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.text().unwrap(),
            started.elapsed(),
        )
    });
    std::thread::sleep(Duration::from_millis(700));
    daemon.run(&["unpause", "web"]).success();
    let (status, body, waited) = request.join().unwrap();
    assert_eq!((status, body.as_str()), (200, "hello from skiff\n"));
    assert!(
        waited >= Duration::from_millis(600),
        "answered while paused: {waited:?}"
    );

    // A stop ends a paused app within its grace period.
    daemon.run(&["pause", "spin"]).success();
    daemon.run(&["stop", "-t", "1", "spin"]).success();
    assert_eq!(state(&daemon.app("spin")), "exited");
    daemon
        .run(&["pause", "spin"])
        .code(125)
        .stderr_has("`spin` is not running");
    daemon.run(&["rm", "-f", "spin", "web"]).success();
}

/// A stop's grace period comes from the API (`?t=`, `--stop-timeout`): one too long to add to
/// the clock is no deadline, not a panic that left the app unpublished but reading as serving.
#[test]
fn a_grace_period_too_long_to_count_is_no_deadline() {
    let daemon = Daemon::start();
    let port = crate::programs::free_port().to_string();
    daemon.run_d("web", &["-p", &port, P2_HTTP_HELLO]).success();
    daemon
        .run(&["stop", "-t", &u64::MAX.to_string(), "web"])
        .success()
        .stdout_is("web\n");
    assert_eq!(state(&daemon.app("web")), "exited");
    daemon.run(&["start", "web"]).success();
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "hello from skiff\n");
}

/// `skiff events` as `docker events` filters it: `--filter app=|container=|event=` (the same key
/// twice means either), `--since` (the recorded ones from then, then new ones) and `--until` (one
/// past: what came before it, then it returns; one ahead: it returns then).
#[test]
fn events_are_filtered_by_app_kind_and_time() {
    let daemon = Daemon::start();
    daemon.run_to_exit("one", &[P1_CLI_HELLO]).success();
    daemon
        .run_to_exit("two", &[P1_CLI_EXIT_CODE, "3"])
        .success();
    let kinds = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        let out = daemon.run(&all);
        out.success()
            .stdout
            .lines()
            .map(|line| {
                line.split(' ')
                    .skip(1)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    assert_eq!(
        kinds(&["--no-follow", "--filter", "app=one"]),
        ["one created", "one started", "one exited"]
    );
    assert_eq!(
        kinds(&["--no-follow", "-f", "container=two", "-f", "event=exited"]),
        ["two exited"]
    );
    assert_eq!(
        kinds(&["--no-follow", "-f", "event=created", "-f", "event=exited"]),
        ["one created", "one exited", "two created", "two exited"]
    );
    // A past `--until`: the recorded events before it, and no waiting.
    assert_eq!(
        kinds(&["--since", "1h", "--until", "0s", "-f", "app=two"]).len(),
        3
    );
    assert!(kinds(&["--until", "2000-01-01T00:00:00Z"]).is_empty());
    // One ahead: it follows until then. (A duration is before now, as in Docker.)
    let ahead = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let started = Instant::now();
    assert_eq!(
        kinds(&[
            "--since",
            "1h",
            "--until",
            &ahead,
            "-f",
            "app=one",
            "-f",
            "event=exited"
        ]),
        ["one exited"]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    daemon
        .run(&["events", "--filter", "image=x"])
        .code(125)
        .stderr_has("expected `app=NAME`");
}

/// `skiff stats --format`, as `docker stats --no-stream --format` is scripted: a spinning app's
/// share of the CPU over the last second, a sleeping one's none; memory against its limit; and
/// `json`, one object per app.
#[test]
fn stats_take_dockers_format() {
    let daemon = Daemon::start();
    daemon
        .run_d("spinner", &["--cpus", "0.5", P1_CLI_INFINITE_LOOP])
        .success();
    daemon
        .run_d("sleeper", &["-m", "64m", P1_CLI_SLEEP, "600000"])
        .success();
    let out = daemon.run(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}}",
        "sleeper",
        "spinner",
    ]);
    let lines: Vec<&str> = out.success().stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    // e.g. `sleeper 0.00% 1.1 MiB / 64 MiB 1.66%`
    assert!(lines[0].starts_with("sleeper 0.00% "), "{lines:?}");
    assert!(lines[0].contains(" MiB / 64 MiB "), "{lines:?}");
    assert!(lines[0].ends_with('%'), "{lines:?}");
    // Spinning, it used some CPU; `--cpus 0.5` keeps it near half a core at most (75 % leaves
    // room for the second's edges), however loaded the machine is.
    let spinner: Vec<&str> = lines[1].split(' ').collect();
    let share: f64 = spinner[1].trim_end_matches('%').parse().unwrap();
    assert!(share > 1.0 && share < 75.0, "{lines:?}");
    assert!(lines[1].ends_with("/ unlimited --"), "{lines:?}");

    let json = daemon.run(&["stats", "--no-stream", "--format", "json", "spinner"]);
    let row: serde_json::Value = serde_json::from_str(json.success().stdout.trim()).unwrap();
    assert_eq!(row["Name"], "spinner");
    assert!(row["CPUPerc"].as_str().unwrap().ends_with('%'), "{row}");
    daemon
        .run(&["stats", "--no-stream", "--format", "{{.Name"])
        .code(125)
        .stderr_has("`{{` has no `}}`");
}

/// An app whose program is gone when the daemon starts (a file moved, an image removed by
/// another tool) is not lost, nor left in the daemon unseen: `ps -a` lists it as exited with the
/// reason, `inspect` shows it, its name stays taken, `start` says why it still cannot run and
/// runs it once its program is back, and `rm` removes it, as Docker keeps a container whose
/// image is gone.
#[test]
fn an_app_whose_program_is_gone_is_kept_and_can_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("hello.wasm");
    let moved = dir.path().join("moved.wasm");
    std::fs::copy(P2_HTTP_HELLO, &program).unwrap();
    let program = program.to_str().unwrap();
    let mut daemon = Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon.run_d("web", &["-p", &port, program]).success();
    daemon.run_d("other", &["-p", "0", program]).success();
    daemon.run(&["stop", "other"]).success();
    let cli = dir.path().join("cli.wasm");
    std::fs::copy(P1_CLI_HELLO, &cli).unwrap();
    daemon
        .run_to_exit("cli", &[cli.to_str().unwrap()])
        .success()
        .stdout_has("Hello");
    daemon.kill9();
    std::fs::rename(program, &moved).unwrap();
    std::fs::remove_file(&cli).unwrap();
    daemon.spawn();
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .success()
        .stdout_has("web exited (125)")
        .stdout_has("other exited (125)");
    let web = daemon.app("web");
    let reason = web["exits"].as_array().unwrap().last().unwrap()["reason"].clone();
    assert!(reason.as_str().unwrap().contains("cannot read"), "{web:#}");
    daemon
        .run(&["run", "-d", "--name", "web", P2_HTTP_HELLO])
        .code(125)
        .stderr_has("already in use");
    daemon
        .run(&["start", "web"])
        .code(125)
        .stderr_has("`web` cannot be loaded")
        .stderr_has("skiff rm");
    // Its log as it left it, as `docker logs` of a container whose image is gone.
    daemon.run(&["logs", "cli"]).success().stdout_has("Hello");
    std::fs::rename(&moved, program).unwrap();
    daemon.run(&["start", "web"]).success();
    let (status, _) = crate::http::get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status.as_u16(), 200);
    daemon.run(&["rm", "other", "cli"]).success();
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}}"])
        .success()
        .stdout_is("web\n");
    // Removed for good: not back after another start of the daemon.
    daemon.restart_after_kill();
    daemon
        .run(&["ps", "-a", "--format", "{{.Names}}"])
        .success()
        .stdout_is("web\n");
}
