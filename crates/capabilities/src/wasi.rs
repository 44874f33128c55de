//! Grants -> `WasiCtxBuilder`. The only place that decides what a guest can reach.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_keyvalue::WasiKeyValueCtx;

use crate::egress::{EgressRule, canonical};
use crate::{DirGrant, Endpoint, Grants, NetworkPolicy};

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("cannot mount `{host}` at `{guest}`: the host directory does not exist")]
    MissingDir { host: PathBuf, guest: String },
    #[error("cannot mount `{host}` at `{guest}`: it is not a directory")]
    NotADir { host: PathBuf, guest: String },
    #[error("cannot mount `{host}` at `{guest}`")]
    OpenDir {
        host: PathBuf,
        guest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the working directory `{0}` is not an absolute path without `..`")]
    WorkdirNotAbsolute(String),
    #[error("the working directory `{0}` is in no granted directory")]
    WorkdirNotGranted(String),
    #[error("the working directory `{workdir}` cannot be opened (`{host}` on the host)")]
    WorkdirMissing {
        workdir: String,
        host: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the working directory `{0}` and a directory mounted as `.` both say where relative paths go"
    )]
    WorkdirAndDot(String),
    #[error("cannot load the `{encoding}` model in `{dir}`: {reason}")]
    NnGraph {
        encoding: String,
        dir: PathBuf,
        reason: String,
    },
}

impl GrantError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            GrantError::MissingDir { .. } | GrantError::NotADir { .. } => {
                "create the directory on the host, or fix the host path given to `-v HOST:GUEST`"
            }
            GrantError::OpenDir { .. } => "check the host directory's permissions",
            GrantError::WorkdirNotAbsolute(_) => "give an absolute path, e.g. `-w /data`",
            GrantError::WorkdirNotGranted(_) => {
                "mount a directory there or above it (`-v HOST_DIR:/data -w /data`; a volume in \
                 Compose or Kubernetes), or use `/`"
            }
            GrantError::WorkdirMissing { .. } => {
                "create the directory in the mounted host directory (it may not be a symlink out \
                 of it), or fix the working directory"
            }
            GrantError::WorkdirAndDot(_) => "drop the working directory, or the mount at `.`",
            GrantError::NnGraph { .. } => {
                "an `openvino` model is a directory holding `model.xml` and `model.bin`; OpenVINO's \
                 C library (`libopenvino_c.so`) is found through `OPENVINO_INSTALL_DIR`, \
                 `LD_LIBRARY_PATH` or the system's library directories"
            }
        }
    }
}

/// Grants checked and resolved once — directories exist, granted host names looked up — so that
/// a WASI context per run, or per HTTP request, is built without repeating that work.
#[derive(Clone, Debug, Default)]
pub struct PreparedGrants {
    env: Arc<[(String, String)]>,
    dirs: Arc<[DirGrant]>,
    network: Arc<NetworkPolicy>,
    egress: Arc<EgressRule>,
    /// What the grants by host name resolve to, and from which name: the addresses a guest that
    /// looks a granted name up may connect its sockets to (public ones; special ones only
    /// through a grant that names them).
    resolved: Arc<Resolved>,
    /// Where it may listen: TCP, UDP.
    listen: Arc<[SocketAddr]>,
    listen_udp: Arc<[SocketAddr]>,
    sockets: crate::SocketSwitches,
    /// The working directory, preopened as `.`: where wasi-libc (C, C++, Rust) resolves a
    /// relative path.
    workdir: Option<Arc<Workdir>>,
    /// What `wasi:config/store` answers, and what `wasi:keyvalue` stores start with.
    data: Arc<DataInterfaces>,
    /// `wasi-nn`, when granted, with its models loaded.
    nn: Option<crate::nn::PreparedNn>,
}

/// What `wasi:config/store` answers an app and what its `wasi:keyvalue` stores start with, in
/// wasmtime's forms (which have no `Debug`).
pub struct DataInterfaces {
    pub config: WasiConfigVariables,
    pub keyvalue: WasiKeyValueCtx,
    /// The same values as `config`, for Spin's `fermyon:spin/variables`.
    pub variables: std::collections::HashMap<String, String>,
    /// The Spin key-value stores it may open, by label.
    pub spin_stores: Vec<String>,
    /// The Spin SQLite databases it may open, by label.
    pub spin_databases: Vec<String>,
}

impl Default for DataInterfaces {
    fn default() -> Self {
        DataInterfaces {
            config: WasiConfigVariables::new(),
            keyvalue: WasiKeyValueCtx::builder().build(),
            variables: Default::default(),
            spin_stores: Vec::new(),
            spin_databases: Vec::new(),
        }
    }
}

impl std::fmt::Debug for DataInterfaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataInterfaces { .. }")
    }
}

impl PreparedGrants {
    pub fn new(grants: &Grants) -> Result<Self, GrantError> {
        for dir in &grants.dirs {
            let (host, guest) = (dir.host.clone(), dir.guest.clone());
            match std::fs::metadata(&dir.host) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(GrantError::MissingDir { host, guest });
                }
                Err(source) => {
                    return Err(GrantError::OpenDir {
                        host,
                        guest,
                        source,
                    });
                }
                Ok(meta) if !meta.is_dir() => return Err(GrantError::NotADir { host, guest }),
                Ok(_) => {}
            }
        }
        let workdir = match &grants.workdir {
            Some(workdir) => Some(Arc::new(
                match (working_dir(workdir, &grants.dirs), grants.workdir_unchecked) {
                    (Ok(checked), _) => checked,
                    (Err(_), true) => Workdir {
                        guest: workdir.as_str().into(),
                        dir: None,
                    },
                    (Err(e), false) => return Err(e),
                },
            )),
            None => None,
        };
        let egress = EgressRule::new(&grants.network);
        let resolved = Resolved::new(egress.names());
        Ok(PreparedGrants {
            env: grants.effective_env().into(),
            dirs: grants.dirs.clone().into(),
            network: Arc::new(grants.network.clone()),
            egress: Arc::new(egress),
            resolved: Arc::new(resolved),
            listen: grants.listen.clone().into(),
            listen_udp: grants.listen_udp.clone().into(),
            sockets: grants.sockets,
            workdir,
            data: Arc::new(DataInterfaces {
                config: grants.config.iter().cloned().collect(),
                keyvalue: WasiKeyValueCtx::builder()
                    .in_memory_data(grants.keyvalue.iter().cloned())
                    .build(),
                variables: grants.config.iter().cloned().collect(),
                spin_stores: grants.spin_stores.clone(),
                spin_databases: grants.spin_databases.clone(),
            }),
            nn: grants
                .nn
                .as_ref()
                .map(crate::nn::PreparedNn::new)
                .transpose()?,
        })
    }

    /// `wasi-nn`, when granted.
    pub fn nn(&self) -> Option<&crate::nn::PreparedNn> {
        self.nn.as_ref()
    }

    /// What `wasi:config/store` answers the app (the last value given for each name), and what
    /// its `wasi:keyvalue` stores start with.
    pub fn data_interfaces(&self) -> &Arc<DataInterfaces> {
        &self.data
    }

    /// The egress policy as granted.
    pub fn network(&self) -> &Arc<NetworkPolicy> {
        &self.network
    }

    /// The egress rule, which governs sockets and outgoing HTTP requests alike.
    pub fn egress(&self) -> &Arc<EgressRule> {
        &self.egress
    }

    /// A WASI context builder holding exactly the grants: the env vars, the directories
    /// (read-only ones refuse writes), and a socket check that admits only the allowed
    /// destinations. Arguments and stdio are the caller's to add. A blocked socket is logged;
    /// `report`, if given, is told too (the daemon writes it into the app's own log).
    pub fn builder(
        &self,
        report: Option<Report>,
        file_io: FileIo,
    ) -> Result<WasiCtxBuilder, GrantError> {
        let mut wasi = WasiCtxBuilder::new();
        // Before the preopens: each directory takes the setting when it is added.
        wasi.allow_blocking_current_thread(file_io == FileIo::CurrentThread);
        wasi.envs(&self.env);
        for dir in self.dirs.iter() {
            wasi.preopened_dir(&dir.host, &dir.guest, perms(dir))
                .map_err(|e| GrantError::OpenDir {
                    host: dir.host.clone(),
                    guest: dir.guest.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        if let Some(workdir) = &self.workdir {
            wasi.initial_cwd(&*workdir.guest);
            if let Some(dir) = &workdir.dir {
                use std::os::fd::AsRawFd as _;
                // wasmtime-wasi opens a preopen by path: the descriptor's own, which is the
                // directory opened when the grants were prepared, whatever its names are now.
                let path = format!("/proc/self/fd/{}", dir.file.as_raw_fd());
                wasi.preopened_dir(&path, ".", dir.perms)
                    .map_err(|e| GrantError::OpenDir {
                        host: dir.host.clone(),
                        guest: ".".to_string(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
            }
        }
        // Sockets where a grant reaches, or as `-S tcp|udp|allow-ip-name-lookup` switch them;
        // the check admits each address a socket binds, connects or sends to only as the grants
        // say, and logs a refusal with the grant that would allow it.
        let granted =
            !self.egress.is_empty() || !self.listen.is_empty() || !self.listen_udp.is_empty();
        let (tcp, udp) = (
            self.sockets.tcp.unwrap_or(granted),
            self.sockets.udp.unwrap_or(granted),
        );
        // Name lookups can carry data out (DNS exfiltration): by default only when a grant
        // names a host.
        let lookups = self
            .sockets
            .ip_name_lookup
            .unwrap_or(self.egress.is_host() || !self.egress.names().is_empty());
        wasi.allow_tcp(tcp)
            .allow_udp(udp)
            .allow_ip_name_lookup(lookups);
        // With no socket at all (most HTTP requests), wasmtime's own check, which refuses
        // everything, stands: nothing to set up per instance.
        if tcp || udp {
            let check = Arc::new(SocketCheck {
                egress: self.egress.clone(),
                resolved: self.resolved.clone(),
                listen: Listening {
                    tcp: self.listen.clone(),
                    udp: self.listen_udp.clone(),
                    heard: Mutex::default(),
                },
                report,
            });
            wasi.socket_addr_check(move |addr, use_| {
                let checked = check.allowed(addr, use_);
                // An address no grant reached: a granted name may have resolved to it since.
                if checked.is_err()
                    && matches!(use_, SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend)
                    && check.resolved.may_refresh()
                {
                    let check = check.clone();
                    return Box::pin(async move {
                        let resolved = check.resolved.clone();
                        let _ = tokio::task::spawn_blocking(move || resolved.refresh()).await;
                        check.tell(check.allowed(addr, use_))
                    });
                }
                let ok = check.tell(checked);
                Box::pin(async move { ok })
            });
        }
        Ok(wasi)
    }
}

/// The working directory, checked: `/`, or an absolute path in the granted directory whose guest
/// path is the longest prefix of it, which must hold it as a directory.
fn working_dir(workdir: &str, dirs: &[DirGrant]) -> Result<Workdir, GrantError> {
    use std::path::{Component, Path};
    let path = Path::new(workdir);
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => parts.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(GrantError::WorkdirNotAbsolute(workdir.to_string()));
            }
        }
    }
    if !path.has_root() {
        return Err(GrantError::WorkdirNotAbsolute(workdir.to_string()));
    }
    let normalized: PathBuf = std::iter::once(Path::new("/").as_os_str())
        .chain(parts.iter().copied())
        .collect();
    let guest = normalized.to_string_lossy().into_owned();
    if crate::grants::dot_granted(dirs) {
        return Err(GrantError::WorkdirAndDot(guest));
    }
    if parts.is_empty() {
        return Ok(Workdir {
            guest: guest.into(),
            dir: None,
        });
    }
    let (grant, below) = crate::grants::granted_dir_of(dirs, &normalized)
        .ok_or_else(|| GrantError::WorkdirNotGranted(guest.clone()))?;
    let host = grant.host.join(below);
    // Opened down from the grant's directory without leaving it (a symlink on the way out of it,
    // which the app itself may have made, is refused), once: every instance gets this directory.
    let below = if below.as_os_str().is_empty() {
        Path::new(".")
    } else {
        below
    };
    let file =
        cap_primitives::fs::open_ambient_dir(&grant.host, cap_primitives::ambient_authority())
            .and_then(|base| cap_primitives::fs::open_dir(&base, below));
    match file {
        Ok(file) => Ok(Workdir {
            guest: guest.into(),
            dir: Some(WorkdirDir {
                file,
                perms: perms(grant),
                host,
            }),
        }),
        Err(source) => Err(GrantError::WorkdirMissing {
            workdir: guest,
            host,
            source,
        }),
    }
}

/// A checked working directory.
#[derive(Debug)]
struct Workdir {
    /// As `initial-cwd` reports it.
    guest: Arc<str>,
    /// Its directory, open; none for `/`.
    dir: Option<WorkdirDir>,
}

#[derive(Debug)]
struct WorkdirDir {
    file: std::fs::File,
    /// Those of the grant it is in.
    perms: FsPerms,
    /// Where it was on the host, for errors.
    host: PathBuf,
}

fn perms(dir: &DirGrant) -> FsPerms {
    if dir.read_only {
        FsPerms::ReadOnly
    } else {
        FsPerms::ReadWrite
    }
}

/// What the grants by host name resolve to: looked up when the app starts, and again when the
/// guest connects or sends to an address they did not give (at most once a second), so that a
/// name that did not resolve then, or that has moved since, is reached as an HTTP request
/// reaches it (HTTP looks the name up for each request). Each address keeps the first name it
/// came from.
#[derive(Debug, Default)]
struct Resolved {
    names: Vec<Endpoint>,
    addrs: RwLock<Arc<HashMap<SocketAddr, String>>>,
    /// When the names were last looked up.
    at: Mutex<Option<Instant>>,
}

impl Resolved {
    const REFRESH_AFTER: Duration = Duration::from_secs(1);

    fn new(names: &[Endpoint]) -> Resolved {
        let resolved = Resolved {
            names: names.to_vec(),
            ..Resolved::default()
        };
        if resolved.refresh() {
            *resolved.at.lock().unwrap() = Some(Instant::now());
        }
        resolved
    }

    fn current(&self) -> Arc<HashMap<SocketAddr, String>> {
        self.addrs.read().unwrap().clone()
    }

    /// Whether the names may be looked up again now; if so, the next call says no for a while.
    fn may_refresh(&self) -> bool {
        if self.names.is_empty() {
            return false;
        }
        let mut at = self.at.lock().unwrap();
        if at.is_some_and(|at| at.elapsed() < Self::REFRESH_AFTER) {
            return false;
        }
        *at = Some(Instant::now());
        true
    }

    /// Looks every name up (blocking), keeping the addresses found before (up to a bound): a
    /// connection to one of them stays allowed. A name that does not resolve is logged, not
    /// fatal: the app starts, and its sockets reach the name once it resolves. Whether every
    /// name resolved.
    fn refresh(&self) -> bool {
        const KEEP_AT_MOST: usize = 4096;
        let mut addrs = HashMap::new();
        let mut all = true;
        for endpoint in &self.names {
            match (endpoint.host.as_str(), endpoint.port).to_socket_addrs() {
                Ok(found) => {
                    for addr in found {
                        let addr = SocketAddr::new(canonical(addr.ip()), addr.port());
                        addrs.entry(addr).or_insert_with(|| endpoint.host.clone());
                    }
                }
                Err(e) => {
                    all = false;
                    tracing::warn!(
                        "the granted name `{endpoint}` does not resolve now ({e}); connections \
                         to it are refused until it does"
                    );
                }
            }
        }
        let mut current = self.addrs.write().unwrap();
        if current.len() < KEEP_AT_MOST {
            for (addr, name) in current.iter() {
                addrs.entry(*addr).or_insert_with(|| name.clone());
            }
        }
        *current = Arc::new(addrs);
        all
    }
}

/// Where the guest's file system calls run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileIo {
    /// On tokio's blocking pool, so the thread that polls the guest keeps polling the others:
    /// for a process that runs many apps (the daemon, HTTP handlers, the shim).
    BlockingPool,
    /// On the thread that runs the guest, as `wasmtime run` does: for a process that runs one
    /// app (`skiff run`). A trip to the blocking pool and back for each call cost `fd_readdir`
    /// of the WASI testsuite 17 times `wasmtime run`'s wall time (5.7 s vs 0.33 s; wasmtime
    /// issue #7973, PR #8190).
    CurrentThread,
}

/// Told of each blocked socket, with the message that names the grant to add.
pub type Report = Arc<dyn Fn(&str) + Send + Sync>;

/// One instance's socket check: the grants, and where refusals are reported.
struct SocketCheck {
    egress: Arc<EgressRule>,
    resolved: Arc<Resolved>,
    listen: Listening,
    report: Option<Report>,
}

impl SocketCheck {
    fn allowed(&self, addr: SocketAddr, use_: SocketAddrUse) -> Result<(), String> {
        socket_allowed(
            &self.egress,
            &self.resolved.current(),
            &self.listen,
            addr,
            use_,
        )
    }

    /// Logs a refusal (with the grant that would allow it) and says whether it was allowed.
    fn tell(&self, checked: Result<(), String>) -> bool {
        if let Err(message) = &checked
            && !message.is_empty()
        {
            tracing::warn!("{message}");
            if let Some(report) = &self.report {
                report(message);
            }
        }
        checked.is_ok()
    }
}

/// Where one instance may serve: its `-p` grants, and the peers that sent a datagram to it,
/// which it may answer (the most recent [`Listening::HEARD`]).
#[derive(Debug)]
struct Listening {
    tcp: Arc<[SocketAddr]>,
    udp: Arc<[SocketAddr]>,
    heard: Mutex<(HashSet<SocketAddr>, VecDeque<SocketAddr>)>,
}

impl Listening {
    const HEARD: usize = 4096;

    fn hear(&self, peer: SocketAddr) {
        let (set, order) = &mut *self.heard.lock().unwrap();
        if set.insert(peer) {
            order.push_back(peer);
            if order.len() > Self::HEARD
                && let Some(oldest) = order.pop_front()
            {
                set.remove(&oldest);
            }
        }
    }

    fn heard(&self, peer: SocketAddr) -> bool {
        self.heard.lock().unwrap().0.contains(&peer)
    }
}

/// Whether the guest may use `addr` so; `Err` holds why not, for the logs. (A refused
/// `UdpReceive`, a datagram from a stranger, is dropped silently: `Err("")`.)
fn socket_allowed(
    egress: &EgressRule,
    resolved: &HashMap<SocketAddr, String>,
    listen: &Listening,
    addr: SocketAddr,
    use_: SocketAddrUse,
) -> Result<(), String> {
    if egress.is_host() {
        return Ok(());
    }
    let addr = SocketAddr::new(canonical(addr.ip()), addr.port());
    let checked = match use_ {
        // A UDP server hears anyone, and may answer whoever wrote to it (a published port).
        SocketAddrUse::UdpReceive if !listen.udp.is_empty() => {
            listen.hear(addr);
            Ok(())
        }
        SocketAddrUse::UdpSend if listen.heard(addr) => Ok(()),
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
            egress.check_address(addr, resolved.get(&addr).map(String::as_str))
        }
        // The implicit bind that precedes a connect or a send (the unspecified address, an
        // ephemeral port), or a client's own bind before it connects out where it may.
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind
            if addr.port() == 0 && (addr.ip().is_unspecified() || !egress.is_empty()) =>
        {
            Ok(())
        }
        // Serving: only where a listen grant says. Whoever reaches a granted listener may
        // connect to it (as to a Docker container's published port).
        SocketAddrUse::TcpBind | SocketAddrUse::TcpListen => {
            return listen_allowed(&listen.tcp, addr, use_, "");
        }
        SocketAddrUse::UdpBind => return listen_allowed(&listen.udp, addr, use_, "/udp"),
        SocketAddrUse::TcpAccept if !listen.tcp.is_empty() => Ok(()),
        SocketAddrUse::TcpAccept => Err(crate::egress::Denial::NotGranted {
            destination: Endpoint {
                host: addr.ip().to_string(),
                port: addr.port(),
            },
        }),
    };
    checked.map_err(|denial| {
        if matches!(use_, SocketAddrUse::UdpReceive) {
            String::new()
        } else {
            format!("blocked {use_:?} to {addr}: {denial}")
        }
    })
}

/// Binding or listening on `addr`: granted if a listen grant names its port and its address,
/// or names its port on every interface (`0.0.0.0`, `::`). `udp`: what `-p` says after the
/// port for the protocol (`/udp`, or nothing for TCP).
fn listen_allowed(
    listen: &[SocketAddr],
    addr: SocketAddr,
    use_: SocketAddrUse,
    udp: &str,
) -> Result<(), String> {
    let granted = listen.iter().any(|grant| {
        grant.port() == addr.port()
            && (grant.ip().is_unspecified() || canonical(grant.ip()) == addr.ip())
    });
    if !granted {
        let port = addr.port();
        let hint = if port == 0 {
            format!(
                "an ephemeral port serves connecting out, to the destinations `--network \
                 allow=HOST:PORT` grants; a server listens on a port granted with `-p PORT{udp}`"
            )
        } else if listen.iter().any(|grant| grant.port() == port) {
            format!(
                "it may listen on {} only; listen there, or grant `-p {addr}{udp}`",
                listen
                    .iter()
                    .filter(|grant| grant.port() == port)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("grant it with `-p {port}{udp}` (127.0.0.1) or `-p {addr}{udp}`")
        };
        return Err(format!(
            "blocked {use_:?} on {addr}: not a port the app may listen on; {hint}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{GrantError, working_dir};
    use crate::DirGrant;

    fn grant(host: &Path, guest: &str) -> DirGrant {
        DirGrant {
            host: host.to_path_buf(),
            guest: guest.to_string(),
            read_only: true,
        }
    }

    #[test]
    fn the_working_directory_is_opened_in_the_innermost_grant_and_never_outside_it() {
        let host = std::env::temp_dir().join(format!("skiff-workdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&host);
        std::fs::create_dir_all(host.join("data/logs/2026")).unwrap();
        std::fs::create_dir_all(host.join("other/x")).unwrap();
        std::os::unix::fs::symlink("logs", host.join("data/inside")).unwrap();
        std::os::unix::fs::symlink(&host, host.join("data/outside")).unwrap();
        let dirs = [
            grant(&host.join("data"), "/data"),
            grant(&host.join("other"), "/data/logs"),
        ];

        let workdir = working_dir("/data//logs/./x/", &dirs).unwrap();
        assert_eq!(&*workdir.guest, "/data/logs/x");
        assert_eq!(workdir.dir.unwrap().host, host.join("other").join("x"));
        let workdir = working_dir("/data", &dirs).unwrap();
        assert_eq!(workdir.dir.unwrap().host, host.join("data").join(""));
        assert!(working_dir("/", &dirs).unwrap().dir.is_none());
        // A symlink that stays in the grant is followed; one out of it is not.
        working_dir("/data/inside/2026", &dirs[..1]).unwrap();
        assert!(matches!(
            working_dir("/data/outside", &dirs[..1]),
            Err(GrantError::WorkdirMissing { .. })
        ));
        assert!(matches!(
            working_dir("/data/../other", &dirs),
            Err(GrantError::WorkdirNotAbsolute(_))
        ));
        assert!(matches!(
            working_dir("/srv", &dirs),
            Err(GrantError::WorkdirNotGranted(_))
        ));
        let dot = [grant(&host.join("data"), ".")];
        assert!(matches!(
            working_dir("/", &dot),
            Err(GrantError::WorkdirAndDot(_))
        ));
        std::fs::remove_dir_all(&host).unwrap();
    }
}
