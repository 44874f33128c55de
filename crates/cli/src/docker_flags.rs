//! `docker run` flags that clap does not know, recognised only once clap has refused one, so that
//! they cost a `skiff run` nothing. Those whose promise a Wasm app keeps by construction
//! (`--read-only`: it has no root file system to write; `--init`: no processes to reap;
//! `--cap-drop`: no capabilities to drop; `--security-opt no-new-privileges`: nothing to gain
//! them by) are dropped and the command line is parsed again, so a hardened `docker run` line
//! runs as it is. The others are refused, saying why and what to do instead, where clap would
//! say only "unexpected argument".

use std::ffi::OsString;

use crate::errors::user_error;

/// What a Docker flag means here.
enum Meaning {
    /// Kept by every Wasm app: the flag (and its value) is dropped.
    Kept,
    /// Refused: why, and what to do instead.
    Refused(&'static str, &'static str),
}

/// `docker run` flags: the name, whether it takes a value, and what it means here.
const FLAGS: &[(&str, bool, Meaning)] = {
    use Meaning::{Kept, Refused};
    const NAMESPACES: Meaning = Refused(
        "a Wasm app has no namespaces to share: it sees only what its flags grant",
        "drop it",
    );
    const USER: Meaning = Refused(
        "a Wasm app has no user of its own: it reads and writes the directories it was granted \
         as the user running Skiff (the daemon's, with `-d`)",
        "drop the user; grant only the directories it needs, `:ro` where it need not write",
    );
    const NO_PROCESSES: Meaning = Refused(
        "a Wasm app is one program, with no processes, devices or kernel settings of its own",
        "drop it",
    );
    &[
        ("--read-only", false, Kept),
        ("--init", false, Kept),
        ("--cap-drop", true, Kept),
        (
            "--cap-add",
            true,
            Refused(
                "a Wasm app has no Linux capabilities: what it may do is granted by Skiff's flags",
                "grant directories with `-v`, destinations with `--network allow=HOST:PORT`, ports with `-p`",
            ),
        ),
        (
            "--privileged",
            false,
            Refused(
                "a Wasm app can be given none of the host's devices or capabilities",
                "grant what it needs: directories with `-v`, destinations with `--network`",
            ),
        ),
        (
            "--security-opt",
            true,
            Refused(
                "a Wasm app makes no system calls of its own: seccomp, AppArmor and SELinux \
                 profiles do not apply (only `no-new-privileges`, which it always has, is taken)",
                "drop it",
            ),
        ),
        ("--user", true, USER),
        ("-u", true, USER),
        (
            "--entrypoint",
            true,
            Refused(
                "an image's entry point is its Wasm program",
                "give the program's arguments after the image: `skiff run IMAGE ARGS...`",
            ),
        ),
        (
            "--hostname",
            true,
            Refused(
                "WASI has no host name for an app to read",
                "pass it as a variable: `-e HOSTNAME=NAME`",
            ),
        ),
        (
            "--tmpfs",
            true,
            Refused(
                "Skiff has no in-memory file system to mount",
                "grant a scratch directory of the host: `-v \"$(mktemp -d)\":/tmp`",
            ),
        ),
        (
            "--add-host",
            true,
            Refused(
                "an app's names are looked up by the host, under its `--network` grants",
                "grant the destination by address: `--network allow=IP:PORT`",
            ),
        ),
        (
            "--dns",
            true,
            Refused(
                "an app's names are looked up by the host, under its `--network` grants",
                "grant the destinations it needs with `--network allow=HOST:PORT`",
            ),
        ),
        (
            "--expose",
            true,
            Refused(
                "an app listens only on the ports it is given",
                "give them with `-p PORT`",
            ),
        ),
        (
            "--memory-swap",
            true,
            Refused(
                "an app's linear memory is never swapped out by Skiff",
                "limit it with `-m SIZE`",
            ),
        ),
        (
            "--memory-reservation",
            true,
            Refused(
                "Skiff has one memory limit, the most an app may hold",
                "limit it with `-m SIZE`",
            ),
        ),
        (
            "--cpu-shares",
            true,
            Refused(
                "Skiff limits CPU by a share of the cores, not by weights",
                "give `--cpus N` (at most N cores' worth), or `--cpu-time D` for a total",
            ),
        ),
        (
            "--cpuset-cpus",
            true,
            Refused(
                "apps share the runtime's threads, not pinned cores",
                "give `--cpus N` (at most N cores' worth)",
            ),
        ),
        (
            "--cpu-quota",
            true,
            Refused(
                "Skiff limits CPU as `--cpus` says it",
                "give `--cpus N` (at most N cores' worth in each 100 ms)",
            ),
        ),
        (
            "--ulimit",
            true,
            Refused(
                "an app has no process limits; the handles it may hold open are limited per instance",
                "for open files, sockets and streams: `-S max-resources=N`",
            ),
        ),
        (
            "--log-driver",
            true,
            Refused(
                "the daemon keeps each app's output itself (rotated at 10 MiB)",
                "read it with `skiff logs NAME`",
            ),
        ),
        (
            "--log-opt",
            true,
            Refused(
                "the daemon keeps each app's output itself (rotated at 10 MiB)",
                "read it with `skiff logs NAME`",
            ),
        ),
        ("--pids-limit", true, NO_PROCESSES),
        ("--device", true, NO_PROCESSES),
        ("--gpus", true, NO_PROCESSES),
        ("--sysctl", true, NO_PROCESSES),
        ("--shm-size", true, NO_PROCESSES),
        ("--pid", true, NAMESPACES),
        ("--ipc", true, NAMESPACES),
        ("--uts", true, NAMESPACES),
        ("--userns", true, NAMESPACES),
        ("--cgroupns", true, NAMESPACES),
        ("--cgroup-parent", true, NAMESPACES),
    ]
};

/// Why a `docker run` flag means nothing for a Wasm app, if Skiff refuses it.
pub fn refusal(flag: &str) -> Option<&'static str> {
    FLAGS.iter().find_map(|(name, _, meaning)| match meaning {
        Meaning::Refused(why, _) if *name == flag => Some(*why),
        _ => None,
    })
}

/// Whether `--security-opt VALUE` is one every Wasm app keeps.
pub fn kept_security_opt(value: &str) -> bool {
    matches!(
        value,
        "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
    )
}

/// The verbs that take `docker run`'s flags.
fn runs(args: &[OsString]) -> bool {
    let mut words = args
        .iter()
        .skip(1)
        .map(|a| a.to_str().unwrap_or(""))
        .scan(false, |value_next, word| {
            // Skiff's global flags, with their values, come before the verb.
            let is_value =
                std::mem::replace(value_next, matches!(word, "--root" | "-H" | "--host"));
            Some((is_value, word))
        })
        .filter(|(is_value, word)| !is_value && !word.starts_with('-'))
        .map(|(_, word)| word);
    match words.next() {
        Some("run" | "create") => true,
        Some("container") => matches!(words.next(), Some("run" | "create")),
        _ => false,
    }
}

/// Called with the argument clap did not know (`--cap-drop` or `--cap-drop=ALL`): `Ok(true)` if
/// it was dropped from `args` (parse them again), `Ok(false)` if it is no Docker flag Skiff
/// knows, or the refusal.
pub fn recognise(unknown: &str, args: &mut Vec<OsString>) -> anyhow::Result<bool> {
    if !runs(args) {
        return Ok(false);
    }
    let name = unknown.split_once('=').map_or(unknown, |(name, _)| name);
    let Some((_, takes_value, meaning)) = FLAGS.iter().find(|(flag, ..)| *flag == name) else {
        return Ok(false);
    };
    // Where it is: `--flag`, or `--flag=VALUE` (clap names either as `--flag`).
    let at = args.iter().position(|a| {
        a.to_str()
            .is_some_and(|a| a == name || a.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
    });
    let inline = at.and_then(|i| {
        args[i]
            .to_str()?
            .split_once('=')
            .map(|(_, v)| v.to_string())
    });
    let value = match (inline.clone(), takes_value) {
        (Some(value), _) => Some(value),
        (None, true) => at
            .and_then(|i| args.get(i + 1))
            .map(|v| v.to_string_lossy().into_owned()),
        (None, false) => None,
    };
    let kept = match (meaning, name, value.as_deref()) {
        (Meaning::Kept, ..) => true,
        (_, "--security-opt", Some(opt)) => kept_security_opt(opt),
        _ => false,
    };
    match (kept, at) {
        (true, Some(at)) => {
            let end = if inline.is_none() && *takes_value {
                at + 2
            } else {
                at + 1
            };
            args.drain(at..end.min(args.len()));
            Ok(true)
        }
        (true, None) => Ok(false),
        (false, _) => {
            let Meaning::Refused(why, instead) = meaning else {
                unreachable!("a kept flag is dropped above");
            };
            let given = match &value {
                Some(value) => format!("{name} {value}"),
                None => name.to_string(),
            };
            Err(user_error(
                format!("`{given}` (docker run): {why}"),
                *instead,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn kept_flags_are_dropped_with_their_values() {
        let mut line = args("skiff --root /r run --cap-drop ALL -e A=1 app.wasm");
        assert!(recognise("--cap-drop", &mut line).unwrap());
        assert_eq!(line, args("skiff --root /r run -e A=1 app.wasm"));
        let mut line =
            args("skiff container create --read-only --security-opt=no-new-privileges x");
        assert!(recognise("--read-only", &mut line).unwrap());
        assert!(recognise("--security-opt", &mut line).unwrap());
        assert_eq!(line, args("skiff container create x"));
    }

    #[test]
    fn other_flags_and_verbs_are_refused_or_left_to_clap() {
        let error = recognise("--user", &mut args("skiff run --user 1000 app.wasm")).unwrap_err();
        assert!(
            error.to_string().contains("`--user 1000` (docker run)"),
            "{error}"
        );
        let error = recognise(
            "--security-opt",
            &mut args("skiff run --security-opt seccomp=unconfined app.wasm"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("seccomp"), "{error}");
        // Not a Docker flag, or not a verb that runs an app: clap's own error stands.
        assert!(!recognise("--frobnicate", &mut args("skiff run --frobnicate x")).unwrap());
        assert!(!recognise("--read-only", &mut args("skiff ps --read-only")).unwrap());
    }
}
