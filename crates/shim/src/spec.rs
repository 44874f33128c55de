//! The OCI runtime spec (`config.json` of the bundle) translated into Skiff's own grants and
//! limits — the same `Grants` and `Limits` that `skiff run` resolves its flags into — or refused
//! field by field where Skiff cannot do what it asks.
//!
//! | spec                                   | Skiff                                             |
//! |----------------------------------------|---------------------------------------------------|
//! | `process.args`                         | the guest's arguments (`argv[0]` first)           |
//! | `process.env`                          | `-e` (after the image's own env; later wins)      |
//! | `process.cwd`                          | `-w`, unless it is the image's own `WORKDIR`, which |
//! |                                        | applies, as in `skiff run`, where a mount holds it |
//! | bind mount `SRC` at `DST` (dir)        | `-v SRC:DST`, `:ro` when the options say `ro`     |
//! | `linux.resources.memory.limit`         | `--memory`                                        |
//! | `linux.resources.cpu.quota` / `.period`| `--cpus` (quota ÷ period cores, as `docker --cpus`) |
//! | the runtime's own mounts (`/proc`, ...)| nothing: a Wasm app has no kernel to see          |
//! | annotation `skiff.dev/network`         | `--network`, the same values (`allow=HOST:PORT,...`, |
//! |                                        | `image`, `host`), for a container in the node's network |
//!
//! Refused, with the reason: a network grant for a container in a network namespace of its own
//! or its pod's (the shim connects from the node's network, so a grant there would reach the
//! node's loopback and neighbours, not the pod's), a working directory in no mount (other than the image's own), a user
//! other than root (the app runs inside the shim, as the shim's user), sysctls, tmpfs or other non-bind mounts at an app path, and bind mounts of single files other
//! than the ones Kubernetes adds to every container. Fields that only take powers away from a
//! Linux process (capabilities, seccomp, AppArmor, SELinux, rlimits, namespaces, devices, pids)
//! are met by a Wasm app, which has none of those powers, and are not checked.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};
use skiff_capabilities::{ByteSize, Cpus, DirGrant, Grants, Limits, NetworkFlag};

/// The annotation that grants a container network destinations, as `skiff run --network` does:
/// set by whoever runs the container (`ctr run --annotation`, a pod's annotations passed on by
/// the CRI plugin's `pod_annotations`), never by the image.
pub const NETWORK_ANNOTATION: &str = "skiff.dev/network";

/// What a container asks of Skiff, once the spec is read.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// `process.args`, `argv[0]` first (for a compat image, the path of the `.wasm` in the
    /// rootfs).
    pub args: Vec<String>,
    /// The spec's env and mounts, as `skiff run`'s `-e` and `-v` would give them.
    pub grants: Grants,
    /// As `skiff run --memory` and `--cpus`.
    pub limits: Limits,
    /// `image` in the network annotation: the image's declared destinations apply too.
    pub accept_image_network: bool,
}

/// One field of the spec that Skiff cannot honour.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refused {
    #[error(
        "running as uid {uid}, gid {gid} cannot be honoured: a Skiff app runs inside the shim, as the shim's user; remove `runAsUser`/`runAsGroup` (or `ctr run --user`)"
    )]
    User { uid: u32, gid: u32 },
    #[error("sysctls ({0}) cannot be honoured: a Wasm app has no kernel to tune; remove them")]
    Sysctl(String),
    #[error(
        "the `{kind}` mount at `{destination}` cannot be honoured: Skiff grants host directories (bind mounts); use a volume backed by a host directory"
    )]
    MountType { kind: String, destination: String },
    #[error(
        "the mount of `{host}` at `{destination}` cannot be honoured: Skiff grants directories, not single files; mount the directory that holds it"
    )]
    FileMount { host: String, destination: String },
    #[error("the mount at `{0}` has no source directory")]
    NoSource(String),
    #[error("the memory limit {0} is not a positive number of bytes")]
    Memory(i64),
    #[error("the annotation `{NETWORK_ANNOTATION}={value}` is not a network grant: {reason}")]
    Network { value: String, reason: String },
    #[error(
        "the annotation `{NETWORK_ANNOTATION}` grants destinations only to a container in the node's network (`hostNetwork: true`, `ctr run --net-host`): the shim connects from the node's network, where a grant would reach the node's loopback and neighbours rather than the pod's; run the pod with `hostNetwork: true`, or drop the annotation"
    )]
    NetworkNamespace,
}

/// Mounts every container runtime adds for a Linux process; a Wasm app sees none of them.
const RUNTIME_MOUNTS: &[&str] = &[
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
    "/run",
];

/// Files Kubernetes bind-mounts into every container. Not granted (a WASI grant is a directory),
/// and not refused, or no pod could start: Skiff resolves names itself, and the app has no use for
/// the node's `/etc/hosts`.
const KUBERNETES_FILES: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev/termination-log",
];

/// Reads the spec; every field Skiff cannot honour is an error, the first one found.
pub fn plan(spec: &Spec) -> Result<Plan, Refused> {
    let mut plan = Plan::default();
    if let Some(process) = spec.process() {
        plan.args = process.args().clone().unwrap_or_default();
        // `ctr run --cwd`, `workingDir`, the image's `WORKDIR`: in a mounted directory, as
        // `skiff run -w` (the grants refuse one outside them when they are prepared); the
        // image's own is told apart once the image is read (`instance.rs`).
        let cwd = process.cwd().to_string_lossy();
        if !cwd.is_empty() && cwd != "/" {
            plan.grants.workdir = Some(cwd.into_owned());
        }
        let user = process.user();
        if user.uid() != 0 || user.gid() != 0 {
            return Err(Refused::User {
                uid: user.uid(),
                gid: user.gid(),
            });
        }
        for entry in process.env().iter().flatten() {
            // `K=V`; an entry without `=` is an empty variable, as in a shell's `env`.
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            plan.grants.env.push((key.to_string(), value.to_string()));
        }
    }
    let network = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(NETWORK_ANNOTATION));
    if let Some(value) = network {
        let flag: NetworkFlag = value.parse().map_err(|e| Refused::Network {
            value: value.clone(),
            reason: match e {
                skiff_capabilities::ParseGrantError::Network { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
        if !crate::http::Network::of(spec).is_the_shims() {
            return Err(Refused::NetworkNamespace);
        }
        plan.grants.network = flag.policy;
        plan.accept_image_network = flag.accept_image;
    }
    for mount in spec.mounts().iter().flatten() {
        if let Some(grant) = grant(mount)? {
            plan.grants.dirs.push(grant);
        }
    }
    if let Some(linux) = spec.linux() {
        if let Some(sysctl) = linux.sysctl().as_ref().filter(|s| !s.is_empty()) {
            let mut names: Vec<&str> = sysctl.keys().map(String::as_str).collect();
            names.sort();
            return Err(Refused::Sysctl(names.join(", ")));
        }
        if let Some(resources) = linux.resources() {
            if let Some(limit) = resources.memory().as_ref().and_then(|m| m.limit()) {
                // -1 is "unlimited" in the runtime spec.
                match limit {
                    -1 => {}
                    n if n > 0 => plan.limits.memory = Some(ByteSize(n as u64)),
                    n => return Err(Refused::Memory(n)),
                }
            }
            // A CFS quota (what a Kubernetes CPU limit and `ctr run --cpus` become): that many
            // cores' worth of CPU time, held over each period as the kernel holds a cgroup.
            if let Some(cpu) = resources.cpu().as_ref()
                && let Some(quota) = cpu.quota().filter(|q| *q > 0)
            {
                let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
                let millis = (quota as u128 * 1000).div_ceil(period as u128);
                plan.limits.cpus = Some(Cpus(millis.clamp(1, u32::MAX as u128) as u32));
            }
        }
    }
    Ok(plan)
}

/// A mount as a directory grant: `None` for the runtime's own mounts.
fn grant(mount: &Mount) -> Result<Option<DirGrant>, Refused> {
    let destination = mount.destination().to_string_lossy().into_owned();
    let options = mount.options().clone().unwrap_or_default();
    let bind = mount.typ().as_deref() == Some("bind")
        || options.iter().any(|o| o == "bind" || o == "rbind");
    if RUNTIME_MOUNTS.contains(&destination.as_str()) {
        return Ok(None);
    }
    if !bind {
        return Err(Refused::MountType {
            kind: mount.typ().clone().unwrap_or_else(|| "none".to_string()),
            destination,
        });
    }
    let source: PathBuf = mount
        .source()
        .clone()
        .ok_or_else(|| Refused::NoSource(destination.clone()))?;
    if !is_dir(&source) {
        if KUBERNETES_FILES.contains(&destination.as_str()) {
            return Ok(None);
        }
        return Err(Refused::FileMount {
            host: source.display().to_string(),
            destination,
        });
    }
    Ok(Some(DirGrant {
        host: source,
        guest: destination,
        read_only: options.iter().any(|o| o == "ro"),
    }))
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "process": { "cwd": "/", "user": { "uid": 0, "gid": 0 }, "args": ["/app.wasm", "x"] },
        });
        merge(&mut base, json);
        serde_json::from_value(base).unwrap()
    }

    fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    merge(b.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (b, p) => *b = p,
        }
    }

    #[test]
    fn args_env_mounts_and_memory_become_grants_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().display().to_string();
        let plan = plan(&spec(serde_json::json!({
            "process": { "env": ["PATH=/bin", "GREETING=hi=there", "EMPTY"] },
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs" },
                { "destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"] },
                { "destination": "/out", "source": src, "options": ["rbind", "rw"] },
            ],
            "linux": { "resources": { "memory": { "limit": 67108864 }, "cpu": { "shares": 2, "quota": 50000, "period": 100000 } } },
        })))
        .unwrap();
        assert_eq!(plan.args, ["/app.wasm", "x"]);
        assert_eq!(
            plan.grants.env,
            [
                ("PATH".to_string(), "/bin".to_string()),
                ("GREETING".to_string(), "hi=there".to_string()),
                ("EMPTY".to_string(), String::new()),
            ]
        );
        assert_eq!(
            plan.grants.dirs,
            [
                DirGrant {
                    host: dir.path().to_path_buf(),
                    guest: "/data".to_string(),
                    read_only: true
                },
                DirGrant {
                    host: dir.path().to_path_buf(),
                    guest: "/out".to_string(),
                    read_only: false
                },
            ]
        );
        assert_eq!(plan.limits.memory, Some(ByteSize(64 << 20)));
        // A Kubernetes `cpu: 500m` limit, as the kubelet writes it.
        assert_eq!(plan.limits.cpus, Some(Cpus(500)));
    }

    /// The network annotation grants as `--network` does, to a container in the node's network
    /// only; an image's destinations apply only with `image`.
    #[test]
    fn the_network_annotation_is_the_network_flag() {
        let annotated = |value: &str, netns: Option<&str>| {
            let mut patch = serde_json::json!({ "annotations": { NETWORK_ANNOTATION: value } });
            if let Some(path) = netns {
                patch["linux"] =
                    serde_json::json!({ "namespaces": [{ "type": "network", "path": path }] });
            }
            plan(&spec(patch))
        };
        let plan_of = annotated("image,allow=api.example.com:443", None).unwrap();
        assert!(plan_of.accept_image_network);
        assert_eq!(
            plan_of.grants.network.to_string(),
            "allow=api.example.com:443"
        );
        let host = annotated("host", None).unwrap();
        assert!(!host.accept_image_network);
        assert_eq!(host.grants.network.to_string(), "host");
        // None asked: none given, the image's not accepted.
        let plain = plan(&spec(serde_json::json!({}))).unwrap();
        assert_eq!(
            plain.grants.network,
            skiff_capabilities::NetworkPolicy::None
        );
        assert!(!plain.accept_image_network);
        let bad = annotated("allow=nowhere", None).unwrap_err();
        assert!(
            bad.to_string()
                .contains("`skiff.dev/network=allow=nowhere`"),
            "{bad}"
        );
        // A pod's own namespace (not the shim's), and one of its own yet to be made.
        let pod = annotated("allow=10.0.0.1:80", Some("/run/netns/cni-0000")).unwrap_err();
        assert_eq!(pod, Refused::NetworkNamespace);
        assert!(pod.to_string().contains("hostNetwork: true"), "{pod}");
        let own = plan(&spec(serde_json::json!({
            "annotations": { NETWORK_ANNOTATION: "allow=10.0.0.1:80" },
            "linux": { "namespaces": [{ "type": "network" }] },
        })));
        assert_eq!(own.unwrap_err(), Refused::NetworkNamespace);
        // The shim's own (a `hostNetwork` pod's sandbox is the shim).
        let shims = annotated("allow=10.0.0.1:80", Some("/proc/self/ns/net")).unwrap();
        assert_eq!(shims.grants.network.to_string(), "allow=10.0.0.1:80");
    }

    #[test]
    fn what_cannot_be_honoured_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let file = file.path().display().to_string();
        for (patch, expected) in [
            (
                serde_json::json!({ "process": { "user": { "uid": 1000, "gid": 1000 } } }),
                "uid 1000",
            ),
            (
                serde_json::json!({ "linux": { "sysctl": { "net.core.somaxconn": "1024" } } }),
                "net.core.somaxconn",
            ),
            (
                serde_json::json!({ "mounts": [{ "destination": "/cache", "type": "tmpfs", "source": "tmpfs" }] }),
                "`tmpfs` mount at `/cache`",
            ),
            (
                serde_json::json!({ "mounts": [{ "destination": "/etc/app.conf", "type": "bind", "source": file, "options": ["rbind"] }] }),
                "not single files",
            ),
        ] {
            let err = plan(&spec(patch)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn the_working_directory_is_the_apps() {
        let plan_for = |cwd: &str| {
            plan(&spec(serde_json::json!({ "process": { "cwd": cwd } })))
                .unwrap()
                .grants
                .workdir
        };
        assert_eq!(plan_for("/data/in"), Some("/data/in".to_string()));
        assert_eq!(plan_for("/"), None);
    }

    #[test]
    fn kubernetes_file_mounts_are_neither_granted_nor_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let plan = plan(&spec(serde_json::json!({ "mounts": [
            { "destination": "/etc/hosts", "type": "bind", "source": file.path(), "options": ["rbind", "ro"] },
        ] })))
        .unwrap();
        assert!(plan.grants.dirs.is_empty());
    }
}
