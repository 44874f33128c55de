//! Crash consistency: `kill -9` of the daemon, and of `skiff pull`, at random moments during
//! deploys, restarts, removals and pulls. Afterwards every change the CLI reported as done is
//! still there, no app is duplicated, every blob verifies, no temp file is left, and
//! `skiff system check` finds nothing wrong.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use skiff_test_programs_artifacts::P2_CLI_HELLO;

use crate::daemon::Daemon;
use crate::registry::Registry;
use crate::support::{Skiff, path_str};

/// A small deterministic generator; the seed is printed so a failure can be replayed with
/// `SKIFF_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// What the test knows about an app from the answers the CLI gave.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Known {
    /// A `run -d` was acknowledged and no removal was tried since.
    Present,
    /// An `rm -f` was acknowledged and no deploy was tried since.
    Absent,
    /// A command about it was cut off by the kill: either outcome is correct.
    Unknown,
}

fn spawn(cmd: &mut std::process::Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// How `child` ended: `Some(success)` if it finished on its own within `wait`, `None` if it was
/// still running and was killed.
fn outcome(mut child: Child, wait: Duration) -> Option<bool> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.success());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn kill_9_at_random_moments_loses_and_corrupts_nothing() {
    let seed = std::env::var("SKIFF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("SKIFF_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    // An image in a registry: deploys pull it into the daemon's store; `skiff pull` as well.
    let registry = Registry::start();
    let publisher = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(P2_CLI_HELLO, dir.path().join("app.wasm")).unwrap();
    // Two images that share no blob but the Wasm: one to deploy, one for the CLI to pull.
    let remote = registry.url("crash/hello:1.0");
    let pulled = registry.url("crash/pulled:1.0");
    for (name, arg) in [(&remote, "world"), (&pulled, "pull")] {
        std::fs::write(
            dir.path().join("skiff.toml"),
            format!(
                "manifest_version = 1\n\n[app]\nname = \"hello\"\nversion = \"1.0.0\"\n\
                 args = [\"--name\", \"{arg}\"]\n\n[build]\nwasm = \"app.wasm\"\n"
            ),
        )
        .unwrap();
        publisher
            .run(&["build", "-t", name, path_str(dir.path())])
            .success();
        publisher.run(&["push", name]).success();
    }

    let mut daemon = Daemon::start();
    // How long a deploy and a removal take here, now: the kills are spread over twice that,
    // so that about half the commands finish and half are cut off, whatever the machine's load.
    daemon.run(&["pull", &remote]).success();
    let started = Instant::now();
    for _ in 0..3 {
        daemon
            .run(&["run", "-d", "--name", "probe", &remote])
            .success();
        daemon.run(&["rm", "-f", "probe"]).success();
    }
    let typical = started.elapsed() / 6;
    eprintln!("a command takes about {typical:?}");
    let mut known: BTreeMap<String, Known> = BTreeMap::new();
    let names: Vec<String> = (0..8).map(|i| format!("app{i}")).collect();
    let mut acknowledged = 0;
    for round in 0..100 {
        let name = &names[rng.below(names.len() as u64) as usize];
        let op = rng.below(4);
        let mut cli = daemon.command();
        let child = match op {
            0 => spawn(cli.args(["run", "-d", "--restart", "always", "--name", name, &remote])),
            1 => spawn(cli.args(["rm", "-f", name])),
            2 => spawn(cli.args(["restart", "-t", "0", name])),
            _ => {
                // A pull of the CLI's own, killed too; sometimes the image is dropped first so
                // that the pull has blobs to write.
                if rng.below(2) == 0 {
                    let _ = daemon.run(&["rmi", &pulled]);
                }
                spawn(cli.args(["pull", &pulled]))
            }
        };
        let delay = Duration::from_micros(rng.below(2 * typical.as_micros() as u64 + 1));
        let ended = outcome(child, delay);
        daemon.restart_after_kill();
        let entry = known.entry(name.clone()).or_insert(Known::Absent);
        *entry = match (op, ended) {
            (0, Some(true)) => Known::Present,
            (1, Some(true)) => Known::Absent,
            // Cut off: done or not, both are correct.
            (0 | 1, None) => Known::Unknown,
            // Refused (the name is taken, or there is no such app), or a restart or a pull:
            // presence is unchanged.
            _ => *entry,
        };
        acknowledged += usize::from(ended == Some(true));
        if round % 25 == 24 {
            eprintln!("round {round}: {known:?}");
        }
    }

    // The kills must have hit both sides of the acknowledgement, or this test proves nothing.
    assert!(
        (10..=90).contains(&acknowledged),
        "{acknowledged} of 100 commands finished before the kill; tune the delays"
    );

    // Nothing acknowledged was lost, nothing removed came back, and no name appears twice.
    let ps = daemon.run(&["ps", "-a", "--format", "json"]);
    ps.success();
    let apps: Vec<serde_json::Value> = serde_json::from_str(&ps.stdout).unwrap();
    let listed: Vec<&str> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "duplicated apps: {listed:?}");
    for (name, state) in &known {
        match state {
            Known::Present => assert!(
                listed.contains(&name.as_str()),
                "`{name}` was deployed (acknowledged) and is gone; seed {seed}: {listed:?}\n{}",
                daemon.log()
            ),
            Known::Absent => assert!(
                !listed.contains(&name.as_str()),
                "`{name}` was removed (acknowledged) and is back; seed {seed}: {listed:?}"
            ),
            Known::Unknown => {}
        }
    }
    // Every app still there can run its image: the store's blobs are whole.
    for name in &listed {
        daemon.run(&["restart", "-t", "0", name]).success();
    }

    // The store: every blob verifies, no leftovers (the daemon's start removes what a killed
    // writer left), nothing for `system check` to find.
    daemon.kill9();
    let images = daemon.skiff.root().join("images");
    let check = daemon.skiff.run(&["system", "check"]);
    check.success().stdout_has("no problems");
    let tmp: Vec<_> = std::fs::read_dir(images.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    daemon
        .skiff
        .run(&["run", &pulled])
        .success()
        .stdout_is("Hello, pull!\n");
}
