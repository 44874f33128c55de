//! A real containerd and a real registry for one test, each in its own temp dir, killed on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "skiff-test";
const RUNTIME: &str = "io.containerd.skiff.v1";
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Where `scripts/fetch-containerd.sh` puts containerd 1.7, unless `SKIFF_CONTAINERD_DIR` says
/// (`scripts/fetch-containerd.sh --suite sid` fetches 2.x).
/// A relative SKIFF_CONTAINERD_DIR is taken from the workspace's root, where cargo is run.
fn containerd_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("SKIFF_CONTAINERD_DIR") {
        Some(dir) => workspace.join(dir),
        None => target_dir().join("containerd/usr/bin"),
    };
    assert!(
        dir.join("containerd").is_file() && dir.join("ctr").is_file(),
        "containerd not found in `{}`: run scripts/fetch-containerd.sh (as .ci/run does), \
         or point SKIFF_CONTAINERD_DIR at a directory holding `containerd` and `ctr`",
        dir.display()
    );
    dir
}

/// containerd's major version (`containerd --version`: `... v1.7.24` or `... 2.1.9+unknown`).
fn containerd_major(bin: &Path) -> u32 {
    let out = Command::new(bin.join("containerd"))
        .arg("--version")
        .output()
        .expect("failed to run containerd --version");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .and_then(|v| v.trim_start_matches('v').split('.').next()?.parse().ok())
        .unwrap_or_else(|| panic!("cannot read containerd's version from {text:?}"))
}

fn shim() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_containerd-shim-skiff-v1"))
}

/// `<target>/debug/containerd-shim-skiff-v1` -> `<target>`.
fn target_dir() -> PathBuf {
    shim()
        .parent()
        .and_then(Path::parent)
        .expect("the shim binary is in <target>/<profile>/")
        .to_path_buf()
}

/// containerd's config: root, state and sockets under `dir`; `disabled` (quoted plugin ids, each
/// followed by `, `) off besides the snapshotters and tracing that do not work or are not needed here.
fn base_config(dir: &Path, disabled: &str) -> String {
    format!(
        "version = 2\nroot = '{root}'\nstate = '{state}'\n\
         disabled_plugins = [{disabled}'io.containerd.snapshotter.v1.btrfs', \
         'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper', \
         'io.containerd.snapshotter.v1.aufs', 'io.containerd.tracing.processor.v1.otlp', \
         'io.containerd.internal.v1.tracing']\n\
         [grpc]\n  address = '{sock}'\n[ttrpc]\n  address = '{sock}.ttrpc'\n",
        root = dir.join("root").display(),
        state = dir.join("state").display(),
        sock = dir.join("c.sock").display(),
    )
}

/// How an image carries its Wasm.
pub enum Form {
    /// An `application/wasm` layer (as Skiff and runwasi publish), with an OCI image config
    /// (`architecture: wasm`) that `ctr run` accepts.
    Layer,
    /// The compat form: `/app.wasm` inside an ordinary tar layer, named by the entrypoint, and
    /// `WORKDIR /app`, as Dockerfiles often set it (containerd puts it in the spec's `cwd`).
    Compat,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Containerd {
    dir: tempfile::TempDir,
    bin: PathBuf,
    child: Child,
    env: Vec<(String, String)>,
}

impl Containerd {
    pub fn start() -> Containerd {
        Containerd::start_with_env(&[])
    }

    /// A containerd whose environment (which its shims inherit) also holds `env`.
    pub fn start_with_env(env: &[(&str, &str)]) -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let config = base_config(dir.path(), "'io.containerd.grpc.v1.cri', ");
        Containerd::launch(dir, &config, env)
    }

    /// A containerd whose CRI plugin serves the kubelet's API on its socket, as on a Kubernetes
    /// node: runtime handler `skiff` = `io.containerd.skiff.v1`; images from `registry` pulled
    /// over plain HTTP (a `hosts.toml` under the registry config path, as a node's config names a
    /// private registry); the pod sandbox ("pause") image is `sandbox_image`, which the caller
    /// pushes there (nothing can be pulled from the internet here). CNI's directories are empty
    /// ones of its own: only host-network pods can run, and the plugin's complaint about the
    /// missing CNI config at startup is expected.
    pub fn start_cri(registry: &Registry, sandbox_image: &str) -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // containerd's registry host config (`config_path`; the older `mirrors` table is
        // deprecated in 1.7 and gone in 2.1): plain HTTP to the loopback registry.
        let hosts = d.join("certs.d").join(&registry.addr);
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(
            hosts.join("hosts.toml"),
            format!(
                "server = 'http://{addr}'\n[host.'http://{addr}']\n  capabilities = ['pull', 'resolve']\n",
                addr = registry.addr
            ),
        )
        .unwrap();
        let mut config = base_config(d, "");
        let (cni, certs) = (d.join("cni"), d.join("certs.d"));
        // A node's config keeps runc (the default runtime) beside `skiff`: the CRI plugin refuses
        // to load when `default_runtime_name` names no runtime. containerd 2 splits the CRI
        // plugin in two and has a config version of its own (3), which docs/kubernetes gives.
        if containerd_major(&containerd_bin()) >= 2 {
            config = config.replacen("version = 2", "version = 3", 1);
            config.push_str(&format!(
                "[plugins.'io.containerd.cri.v1.images']\n  [plugins.'io.containerd.cri.v1.images'.pinned_images]\n    sandbox = '{sandbox_image}'\n\
                 [plugins.'io.containerd.cri.v1.images'.registry]\n    config_path = '{certs}'\n\
                 [plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = ['{cni}/bin']\n  conf_dir = '{cni}/net.d'\n\
                 [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n\
                 [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.skiff]\n  runtime_type = '{RUNTIME}'\n  pod_annotations = ['skiff.dev/*']\n",
                cni = cni.display(),
                certs = certs.display(),
            ));
        } else {
            config.push_str(&format!(
                "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = '{sandbox_image}'\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = '{cni}/bin'\n  conf_dir = '{cni}/net.d'\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.skiff]\n  runtime_type = '{RUNTIME}'\n  pod_annotations = ['skiff.dev/*']\n\
                 [plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = '{certs}'\n",
                cni = cni.display(),
                certs = certs.display(),
            ));
        }
        Containerd::launch(dir, &config, &[])
    }

    /// The temp dir this containerd keeps its config, root, state, socket and log in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's gRPC socket (the CRI plugin's too, when it is on).
    pub fn grpc_socket(&self) -> PathBuf {
        self.socket()
    }

    /// Starts containerd with `config` (its paths all under `dir`) and waits until it answers.
    fn launch(dir: tempfile::TempDir, config_text: &str, env: &[(&str, &str)]) -> Containerd {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "containerd needs root (it mounts the rootfs of each container): run the tests as root"
        );
        std::fs::write(dir.path().join("config.toml"), config_text).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>();
        let bin = containerd_bin();
        let child = spawn(&bin, dir.path(), &env);
        let mut containerd = Containerd {
            dir,
            bin,
            child,
            env,
        };
        containerd.wait_up();
        containerd
    }

    /// Stops containerd (SIGTERM, as systemd does on an upgrade) and starts it again on the same
    /// root, state and socket; its shims live on, as they do on a node.
    pub fn restart(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        self.child = spawn(&self.bin, self.dir.path(), &self.env);
        self.wait_up();
    }

    /// `ctr events` in the background, printing into the returned file what containerd
    /// publishes from now on (what the CRI plugin's event monitor sees).
    pub fn events(&self) -> (Child, PathBuf) {
        let out = self.dir.path().join("events.out");
        let child = self
            .command(&["events"])
            .stdout(File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, out)
    }

    fn wait_up(&mut self) {
        let containerd = self;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = containerd.child.try_wait().unwrap() {
                panic!("containerd exited with {status}:\n{}", containerd.log());
            }
            if containerd.socket().exists() && containerd.try_ctr(&["version"]).status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer within {START_DEADLINE:?}:\n{}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.bin.join("ctr"));
        command
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", NAMESPACE])
            .args(args);
        command
    }

    fn try_ctr(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("failed to run ctr")
    }

    /// Runs `ctr ARGS`, which must succeed; returns its stdout.
    pub fn ctr(&self, args: &[&str]) -> String {
        let output = self.try_ctr(args);
        assert!(
            output.status.success(),
            "ctr {args:?} failed: {}\n{}\ncontainerd log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Builds an image of `wasm` in `form`, pushes it to `registry` as `name` (through
    /// `ctr image import` and `ctr image push`), deletes it here and pulls it back, as a node
    /// would; returns the full reference.
    pub fn publish(&self, registry: &Registry, name: &str, wasm: &str, form: Form) -> String {
        let (reference, layout) = self.layout_for(registry, name);
        let (_, tag) = reference.rsplit_once(':').unwrap();
        write_layout(&layout, &std::fs::read(wasm).unwrap(), tag, form);
        self.push_layout(&layout, &reference);
        self.ctr(&["image", "rm", "--sync", &reference]);
        self.ctr(&["image", "pull", "--plain-http", &reference]);
        reference
    }

    /// Pushes to `registry` as `name` an image of `layers` (media type, bytes) with an empty
    /// Wasm config, as `spin registry push` lays a Spin app out; containerd pulls it. Returns
    /// the reference.
    pub fn publish_layers(
        &self,
        registry: &Registry,
        name: &str,
        layers: &[(&str, &[u8])],
    ) -> String {
        let (reference, layout) = self.layout_for(registry, name);
        let (_, tag) = reference.rsplit_once(':').unwrap();
        let config = serde_json::json!({"architecture": "wasm", "os": "wasip1", "config": {}});
        write_oci_layout_of(&layout, tag, &config, layers);
        self.push_layout(&layout, &reference);
        self.ctr(&["image", "rm", "--sync", &reference]);
        self.ctr(&["image", "pull", "--plain-http", &reference]);
        reference
    }

    /// The full reference of `name` in `registry`, and a directory for its layout.
    fn layout_for(&self, registry: &Registry, name: &str) -> (String, PathBuf) {
        let layout = self
            .dir
            .path()
            .join(format!("layout-{}", name.replace(['/', ':'], "-")));
        (format!("{}/{name}", registry.addr), layout)
    }

    /// Pushes to `registry` as `name` a multi-platform image, as `docker buildx --platform
    /// linux/amd64,wasi/wasm` does: an index of a native `linux/amd64` image and of `wasm` as a
    /// `wasi/wasm` one (the layer form); nothing of it is left here. Returns the reference.
    pub fn publish_multi_platform(&self, registry: &Registry, name: &str, wasm: &str) -> String {
        let (reference, layout) = self.layout_for(registry, name);
        let (_, tag) = reference.rsplit_once(':').unwrap();
        // Each image is written as a layout of its own into the same directory (the blobs add
        // up), and its index entry kept with its platform.
        let entry = |os: &str, architecture: &str| {
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
            let mut entry = index["manifests"][0].clone();
            entry["annotations"] = serde_json::json!({});
            entry["platform"] = serde_json::json!({ "os": os, "architecture": architecture });
            entry
        };
        let layer = tar_of("pause", PAUSE);
        let config = native_config(&layer);
        write_oci_layout(&layout, tag, &config, TAR_LAYER, &layer);
        let native = entry("linux", "amd64");
        write_layout(&layout, &std::fs::read(wasm).unwrap(), tag, Form::Layer);
        let wasm = entry("wasi", "wasm");
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [native, wasm],
        })
        .to_string();
        let digest = skiff_image::digest_of(index.as_bytes());
        std::fs::write(
            layout.join("blobs/sha256").join(&digest["sha256:".len()..]),
            &index,
        )
        .unwrap();
        let top = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": OCI_INDEX,
                "digest": digest,
                "size": index.len(),
                "annotations": { "org.opencontainers.image.ref.name": tag },
            }],
        });
        std::fs::write(layout.join("index.json"), top.to_string()).unwrap();
        self.push_layout(&layout, &reference);
        self.ctr(&["image", "rm", "--sync", &reference]);
        reference
    }

    /// Pushes to `registry` as `name` a native linux/amd64 image of one file, `/pause`, to be CRI's
    /// pod sandbox image: the shim runs nothing for a sandbox container, but containerd still
    /// pulls and unpacks the image; returns the full reference.
    pub fn publish_pause(&self, registry: &Registry, name: &str) -> String {
        let reference = format!("{}/{name}", registry.addr);
        let layout = self.dir.path().join("layout-pause");
        let (_, tag) = reference.rsplit_once(':').unwrap();
        let layer = tar_of("pause", PAUSE);
        write_oci_layout(&layout, tag, &native_config(&layer), TAR_LAYER, &layer);
        self.push_layout(&layout, &reference);
        reference
    }

    /// `ctr --namespace NAMESPACE ARGS` (the CRI plugin's namespace is `k8s.io`); its output,
    /// whether it succeeded or not.
    pub fn ctr_in(&self, namespace: &str, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("ctr"))
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", namespace])
            .args(args)
            .output()
            .expect("failed to run ctr")
    }

    /// Imports the OCI layout `layout` as `reference` (REPO:TAG, the tag named in the layout's
    /// index) and pushes it to its registry over plain HTTP.
    fn push_layout(&self, layout: &Path, reference: &str) {
        let tar = layout.with_extension("tar");
        let (repo, _) = reference.rsplit_once(':').unwrap();
        let status = Command::new("tar")
            .arg("-C")
            .arg(layout)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        self.ctr(&[
            "image",
            "import",
            "--all-platforms",
            "--no-unpack",
            "--base-name",
            repo,
            tar.to_str().unwrap(),
        ]);
        self.ctr(&["image", "push", "--plain-http", reference]);
    }

    /// `ctr run --rm --runtime io.containerd.skiff.v1 FLAGS IMAGE ID ARGS`, to its end.
    pub fn run(&self, image: &str, id: &str, flags: &[&str], args: &[&str]) -> Run {
        let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
        all.extend_from_slice(flags);
        all.push(image);
        all.push(id);
        if !args.is_empty() {
            // The image's entrypoint first, as `docker run IMAGE ARGS` replaces only the command.
            all.push(entrypoint(image));
            all.extend_from_slice(args);
        }
        let output = self.try_ctr(&all);
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `ctr run --rm --runtime io.containerd.skiff.v1 IMAGE ID` with `input` on its stdin, as
    /// `echo input | ctr run ...` gives it, to its end.
    pub fn run_with_input(&self, image: &str, id: &str, input: &[u8]) -> Run {
        let mut child = self
            .command(&["run", "--rm", "--runtime", RUNTIME, image, id])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to run ctr");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `ctr run FLAGS IMAGE ID ARGS` in the background; the returned child ends when the task
    /// does, and its output is kept for `DetachedRun::output`.
    pub fn run_detached(
        &self,
        image: &str,
        id: &str,
        flags: &[&str],
        args: &[&str],
    ) -> DetachedRun {
        let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
        all.extend_from_slice(flags);
        all.extend([image, id]);
        if !args.is_empty() {
            all.push(entrypoint(image));
            all.extend_from_slice(args);
        }
        let out = self.dir.path().join(format!("{id}.out"));
        let file = File::create(&out).unwrap();
        let child = self
            .command(&all)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        DetachedRun { child, out }
    }

    /// `ctr run -d`: the task runs with no client attached (a client's `--rm` would end it if
    /// its connection to containerd broke).
    pub fn run_d(&self, image: &str, id: &str, args: &[&str]) {
        let mut all = vec!["run", "-d", "--runtime", RUNTIME, image, id];
        if !args.is_empty() {
            all.push(entrypoint(image));
            all.extend_from_slice(args);
        }
        self.ctr(&all);
    }

    /// A handler image served with the node's network on a free loopback port, running: the
    /// task and its port.
    pub fn serve(&self, image: &str, id: &str) -> (DetachedRun, u16) {
        let port = free_port();
        let listen = format!("SKIFF_HTTP_LISTEN=127.0.0.1:{port}");
        let task = self.run_detached(image, id, &["--net-host", "--env", &listen], &[]);
        self.wait_running(id);
        (task, port)
    }

    /// Waits until `ctr task ls` shows `id` RUNNING.
    pub fn wait_running(&self, id: &str) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let tasks = String::from_utf8_lossy(&self.try_ctr(&["task", "ls"]).stdout).into_owned();
            if tasks
                .lines()
                .any(|l| l.starts_with(id) && l.contains("RUNNING"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never ran: {tasks}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks first, so no shim outlives its containerd: killed and deleted (a shim exits once
        // its last task is deleted; one whose `ctr run --rm` was cut short by a failed assertion
        // would otherwise wait for a delete forever, holding its rootfs mount).
        let tasks =
            String::from_utf8_lossy(&self.try_ctr(&["task", "ls", "-q"]).stdout).into_owned();
        for task in tasks.lines() {
            let _ = self.try_ctr(&["task", "delete", "--force", task]);
        }
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        // A node's shim waits a minute for more containers before it exits, and one whose
        // containerd is gone may wait much longer: end this containerd's shims with it.
        let address = self.socket().display().to_string();
        for shim in processes_naming(&address) {
            // SAFETY: signalling a shim this test's containerd started.
            unsafe {
                libc::kill(shim, libc::SIGKILL);
            }
        }
    }
}

/// containerd on the config in `dir`, its shims (`containerd-shim-skiff-v1` first on its
/// `PATH`) inheriting `env`, logging to `dir/containerd.log` (appended to, across restarts).
fn spawn(bin: &Path, dir: &Path, env: &[(String, String)]) -> Child {
    let path = format!(
        "{}:{}:{}",
        shim().parent().unwrap().display(),
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("containerd.log"))
        .unwrap();
    Command::new(bin.join("containerd"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .env("PATH", path)
        .env("SKIFF_SHIM_ROOT", dir.join("skiff"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("failed to start containerd")
}

/// The processes whose command line has `needle` as one of its arguments.
fn processes_naming(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == needle.as_bytes())
            })
        })
        .collect()
}

pub struct DetachedRun {
    child: Child,
    out: PathBuf,
}

impl DetachedRun {
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// What `ctr run` printed so far: the app's stdout and stderr, then ctr's own.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for DetachedRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
/// A TCP server on loopback that answers each connection's first line with that line; its
/// address.
pub fn echo_server() -> String {
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = echo.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in echo.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            if std::io::BufRead::read_line(&mut reader, &mut line).is_ok() {
                let _ = std::io::Write::write_all(&mut stream, line.as_bytes());
            }
        }
    });
    addr
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// The native image's one file.
const PAUSE: &[u8] = b"#!/bin/sh\nexec sleep infinity\n";

/// The OCI config of a native linux/amd64 image of `layer`, running `/pause`.
fn native_config(layer: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Entrypoint": ["/pause"] },
        "rootfs": { "type": "layers", "diff_ids": [skiff_image::digest_of(layer)] },
    })
}

/// The compat form's `WORKDIR`.
pub const COMPAT_WORKDIR: &str = "/app";

/// Where the test images put their Wasm (the compat form's entrypoint; a name for layer images).
const ENTRYPOINT: &str = "/app.wasm";

fn entrypoint(_image: &str) -> &'static str {
    ENTRYPOINT
}

/// An OCI image layout of one image: manifest, an OCI image config (`architecture: wasm`,
/// `os: wasip1`), and the Wasm as a layer of its own or inside a tar layer.
fn write_layout(dir: &Path, wasm: &[u8], tag: &str, form: Form) {
    let (layer_type, layer) = match form {
        Form::Layer => ("application/wasm", wasm.to_vec()),
        Form::Compat => (
            "application/vnd.oci.image.layer.v1.tar",
            tar_of("app.wasm", wasm),
        ),
    };
    let layer_digest = skiff_image::digest_of(&layer);
    // containerd checks an unpacked tar layer against the config's diff ids.
    let diff_ids = match form {
        Form::Layer => serde_json::json!([]),
        Form::Compat => serde_json::json!([layer_digest]),
    };
    // CRI names an image by its config's digest: two images with the same config are one image
    // to it (the second pull re-points the first's name), so each config names its own Wasm, as
    // Skiff's own configs do (`layer_digests`).
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {
            "Entrypoint": [ENTRYPOINT],
            "WorkingDir": match form { Form::Layer => "/", Form::Compat => COMPAT_WORKDIR },
            "Labels": { "dev.skiff.wasm": layer_digest },
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    write_oci_layout(dir, tag, &config, layer_type, &layer);
}

/// An OCI image layout in `dir` of one image, tagged `tag`: `config` and one layer.
fn write_oci_layout(
    dir: &Path,
    tag: &str,
    config: &serde_json::Value,
    layer_type: &str,
    layer: &[u8],
) {
    write_oci_layout_of(dir, tag, config, &[(layer_type, layer)]);
}

/// An OCI layout of one image: its config and `layers` (media type, bytes), tagged `tag`.
fn write_oci_layout_of(
    dir: &Path,
    tag: &str,
    config: &serde_json::Value,
    layers: &[(&str, &[u8])],
) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = skiff_image::digest_of(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).unwrap();
        (digest, bytes.len())
    };
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(media_type, bytes)| {
            let (digest, size) = put(bytes);
            serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size })
        })
        .collect();
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A tar holding one file, built by the system's `tar` (root-owned, mode 0644).
fn tar_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), bytes).unwrap();
    let output = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .args(["--owner=0", "--group=0", "--mode=0644", "-cf", "-", name])
        .output()
        .unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Debian's `docker-registry` on a loopback port, plain HTTP, storage in a temp dir.
pub struct Registry {
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let child = match Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("docker-registry not found: apt-get install docker-registry (see .ci/run)")
            }
            Err(e) => panic!("failed to start docker-registry: {e}"),
        };
        let registry = Registry {
            addr,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + START_DEADLINE;
        while !registry.ready() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }

    fn ready(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(&self.addr) else {
            return false;
        };
        let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
        let mut response = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut response).is_ok()
            && response.starts_with("HTTP/1.")
            && response[8..].starts_with(" 200")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
