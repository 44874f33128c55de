//! The Kubernetes path, as the kubelet drives it: CRI calls (gRPC `runtime.v1`) to the CRI plugin
//! of a real containerd 1.7, which runs pods whose RuntimeClass handler is `skiff` with the shim.
//! No kubelet, k3s or crictl can be installed here, so the test is the kubelet: it makes the calls
//! the kubelet makes for `docs/kubernetes/deployment.yaml`'s pod, through the `k8s-cri` crate's
//! generated client.
//!
//! The pods use the node's network (`hostNetwork: true`): no CNI plugin exists here. The sandbox
//! ("pause") image comes from the test's own registry, as a node that cannot reach the internet
//! would be configured; the shim runs nothing for it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use containerd_client::tonic::{self, transport::Channel};
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStats, ContainerStatsRequest,
    ContainerStatus, ContainerStatusRequest, CreateContainerRequest, ImageSpec, ImageStatusRequest,
    Int64Value, KeyValue, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListPodSandboxRequest, Mount, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest, PullImageRequest,
    RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopContainerRequest, StopPodSandboxRequest, VersionRequest,
};
use skiff_test_programs_artifacts::{
    P1_CLI_ENV, P1_CLI_EXIT_CODE, P1_CLI_HELLO, P1_CLI_MEMORY_BOMB, P1_CLI_READ_FILE, P1_CLI_SLEEP,
    P2_TCP_ECHO_CLIENT,
};

use crate::support::{Containerd, Form, Registry};

/// The RuntimeClass's `handler` (docs/kubernetes/runtimeclass.yaml).
const HANDLER: &str = "skiff";
/// The namespace containerd's CRI plugin keeps Kubernetes' containers and images in.
const CRI_NAMESPACE: &str = "k8s.io";
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

/// One node: a registry, a containerd with its CRI plugin on, and a CRI client of it.
struct Node {
    /// `None` once dropped (the CRI plugin's leftovers are cleaned after containerd is gone).
    containerd: Option<Containerd>,
    registry: Registry,
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// A pod sandbox, with the config CreateContainer needs again.
struct Pod {
    id: String,
    config: PodSandboxConfig,
}

impl Node {
    fn start() -> Node {
        let registry = Registry::start();
        let sandbox_image = format!("{}/k8s/pause:3.9", registry.addr);
        let containerd = Containerd::start_cri(&registry, &sandbox_image);
        containerd.publish_pause(&registry, "k8s/pause:3.9");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let channel = rt
            .block_on(containerd_client::connect(containerd.grpc_socket()))
            .unwrap();
        let mut node = Node {
            containerd: Some(containerd),
            registry,
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        };
        // The CRI plugin registers its service with the others, but say so if it did not: a
        // containerd built without it, or a config that disabled it.
        let version = node
            .rt
            .block_on(node.runtime.version(VersionRequest::default()))
            .unwrap_or_else(|e| {
                panic!(
                    "containerd's CRI plugin does not answer: {e}\n{}",
                    node.containerd().log()
                )
            })
            .into_inner();
        assert_eq!(version.runtime_name, "containerd", "{version:?}");
        node
    }

    fn containerd(&self) -> &Containerd {
        self.containerd.as_ref().unwrap()
    }

    /// Pushes `wasm` as a Skiff image `name` to the registry; the CRI plugin has not seen it.
    fn publish(&self, name: &str, wasm: &str) -> String {
        self.containerd()
            .publish(&self.registry, name, wasm, Form::Layer)
    }

    /// RunPodSandbox of a `hostNetwork: true` pod with `runtimeClassName: skiff`, as the kubelet
    /// asks it: the pod's log directory under the node's, the node's network and IPC, a PID
    /// namespace per container.
    fn run_pod(&mut self, name: &str) -> Pod {
        self.run_pod_annotated(name, &[])
    }

    /// [`Node::run_pod`] of a pod with `annotations` (its `metadata.annotations`).
    fn run_pod_annotated(&mut self, name: &str, annotations: &[(&str, &str)]) -> Pod {
        let uid = format!("{name}-0000-uid");
        let log_directory = self
            .containerd()
            .dir()
            .join(format!("pods/default_{name}_{uid}"));
        std::fs::create_dir_all(&log_directory).unwrap();
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.to_string(),
                uid,
                namespace: "default".to_string(),
                attempt: 0,
            }),
            log_directory: log_directory.display().to_string(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            linux: Some(LinuxPodSandboxConfig {
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(host_network()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: HANDLER.to_string(),
        };
        let id = self
            .rt
            .block_on(self.runtime.run_pod_sandbox(request))
            .unwrap_or_else(|e| panic!("RunPodSandbox failed: {e}\n{}", self.log()))
            .into_inner()
            .pod_sandbox_id;
        Pod { id, config }
    }

    /// PullImage through CRI (the kubelet's pull), returning the image's id.
    fn pull(&mut self, image: &str, pod: &Pod) -> String {
        let request = PullImageRequest {
            image: Some(image_spec(image)),
            auth: None,
            sandbox_config: Some(pod.config.clone()),
        };
        self.rt
            .block_on(self.images.pull_image(request))
            .unwrap_or_else(|e| panic!("PullImage `{image}` failed: {e}\n{}", self.log()))
            .into_inner()
            .image_ref
    }

    /// Whether the CRI plugin has `image` (ImageStatus, as the kubelet asks before pulling).
    fn has_image(&mut self, image: &str) -> bool {
        let request = ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        self.rt
            .block_on(self.images.image_status(request))
            .unwrap()
            .into_inner()
            .image
            .is_some()
    }

    fn create(&mut self, pod: &Pod, config: ContainerConfig) -> Result<String, Box<tonic::Status>> {
        let request = CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        };
        let response = self
            .rt
            .block_on(self.runtime.create_container(request))
            .map_err(Box::new)?;
        Ok(response.into_inner().container_id)
    }

    fn start_container(&mut self, id: &str) -> Result<(), Box<tonic::Status>> {
        let request = StartContainerRequest {
            container_id: id.to_string(),
        };
        self.rt
            .block_on(self.runtime.start_container(request))
            .map_err(Box::new)?;
        Ok(())
    }

    /// CreateContainer then StartContainer, which must both succeed; the container's id.
    fn run(&mut self, pod: &Pod, config: ContainerConfig) -> String {
        let name = config.metadata.as_ref().unwrap().name.clone();
        let id = self
            .create(pod, config)
            .unwrap_or_else(|e| panic!("CreateContainer `{name}` failed: {e}\n{}", self.log()));
        self.start_container(&id)
            .unwrap_or_else(|e| panic!("StartContainer `{name}` failed: {e}\n{}", self.log()));
        id
    }

    fn status(&mut self, id: &str) -> ContainerStatus {
        let request = ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: false,
        };
        self.rt
            .block_on(self.runtime.container_status(request))
            .unwrap()
            .into_inner()
            .status
            .unwrap()
    }

    /// ContainerStats: what `kubectl top` and the kubelet's eviction read of a container.
    fn stats(&mut self, id: &str) -> ContainerStats {
        let request = ContainerStatsRequest {
            container_id: id.to_string(),
        };
        self.rt
            .block_on(self.runtime.container_stats(request))
            .unwrap_or_else(|e| panic!("ContainerStats failed: {e}\n{}", self.log()))
            .into_inner()
            .stats
            .unwrap()
    }

    /// ContainerStatus until the container has EXITED, as the kubelet's status loop polls it.
    fn wait_exited(&mut self, id: &str) -> ContainerStatus {
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            let status = self.status(id);
            if status.state == ContainerState::ContainerExited as i32 {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} did not exit within {EXIT_DEADLINE:?}: {status:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_container(&mut self, id: &str, timeout_s: i64) {
        let request = StopContainerRequest {
            container_id: id.to_string(),
            timeout: timeout_s,
        };
        self.rt
            .block_on(self.runtime.stop_container(request))
            .unwrap_or_else(|e| panic!("StopContainer failed: {e}\n{}", self.log()));
    }

    fn remove_container(&mut self, id: &str) {
        let request = RemoveContainerRequest {
            container_id: id.to_string(),
        };
        self.rt
            .block_on(self.runtime.remove_container(request))
            .unwrap_or_else(|e| panic!("RemoveContainer failed: {e}\n{}", self.log()));
    }

    /// StopPodSandbox then RemovePodSandbox, as the kubelet does when a pod is deleted.
    fn remove_pod(&mut self, pod: &Pod) {
        let stop = StopPodSandboxRequest {
            pod_sandbox_id: pod.id.clone(),
        };
        self.rt
            .block_on(self.runtime.stop_pod_sandbox(stop))
            .unwrap_or_else(|e| panic!("StopPodSandbox failed: {e}\n{}", self.log()));
        let remove = RemovePodSandboxRequest {
            pod_sandbox_id: pod.id.clone(),
        };
        self.rt
            .block_on(self.runtime.remove_pod_sandbox(remove))
            .unwrap_or_else(|e| panic!("RemovePodSandbox failed: {e}\n{}", self.log()));
    }

    /// The tasks containerd runs for Kubernetes (`ctr -n k8s.io task ls -q`).
    fn tasks(&self) -> Vec<String> {
        let output = self
            .containerd()
            .ctr_in(CRI_NAMESPACE, &["task", "ls", "-q"]);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn log(&self) -> String {
        self.containerd().log()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let Some(containerd) = self.containerd.take() else {
            return;
        };
        // A test that failed half-way leaves pods: no shim may outlive its containerd.
        let tasks = containerd.ctr_in(CRI_NAMESPACE, &["task", "ls", "-q"]);
        for task in String::from_utf8_lossy(&tasks.stdout).lines() {
            containerd.ctr_in(CRI_NAMESPACE, &["task", "kill", "-s", "SIGKILL", task]);
        }
        let dir = containerd.dir().to_path_buf();
        drop(containerd);
        // And the pods' `/dev/shm` mounts the CRI plugin made under its state.
        unmount_under(&dir);
    }
}

/// Detaches every mount below `dir` (deepest first), so its temp dir can be removed.
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount in under {
        let _ = std::process::Command::new("umount")
            .args(["-l", mount])
            .status();
    }
}

/// `hostNetwork: true`: the node's network and IPC (the kubelet sets both for such a pod), a PID
/// namespace per container (Kubernetes' default).
fn host_network() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Node as i32,
        ..Default::default()
    }
}

fn image_spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.to_string(),
        ..Default::default()
    }
}

/// A container as the kubelet makes it from a pod spec's container: `args` (the image's
/// entrypoint stays), its log at `NAME/0.log` in the pod's log directory.
fn container(name: &str, image: &str, args: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.to_string(),
            attempt: 0,
        }),
        image: Some(image_spec(image)),
        args: args.iter().map(|a| a.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources::default()),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(host_network()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn resources(config: &mut ContainerConfig) -> &mut LinuxContainerResources {
    config
        .linux
        .as_mut()
        .unwrap()
        .resources
        .get_or_insert_default()
}

/// A ConfigMap volume as the kubelet writes it: the files in a timestamped directory, `..data`
/// a symlink to it, and each key a symlink through `..data` (so an update is one rename).
fn config_map(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let volume = dir.join("volumes/kubernetes.io~configmap/config");
    let data = volume.join("..2026_01_01_00_00_00.000000000");
    std::fs::create_dir_all(&data).unwrap();
    for (name, text) in files {
        std::fs::write(data.join(name), text).unwrap();
        std::os::unix::fs::symlink(format!("..data/{name}"), volume.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(data.file_name().unwrap(), volume.join("..data")).unwrap();
    volume
}

/// The lines of a container's log in the CRI format (`TIMESTAMP STREAM TAG TEXT`, TAG `F` for a
/// full line, `P` for a partial one), as `(stream, text)`; a malformed line fails the test.
fn cri_log(path: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no container log at `{path}`: {e}"));
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let (Some(time), Some(stream), Some(tag), Some(text)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                panic!("not a CRI log line: {line:?}");
            };
            assert!(
                chrono::DateTime::parse_from_rfc3339(time).is_ok(),
                "not an RFC 3339 timestamp in {line:?}"
            );
            assert!(matches!(stream, "stdout" | "stderr"), "{line:?}");
            assert_eq!(tag, "F", "a partial line in {line:?}");
            (stream.to_string(), text.to_string())
        })
        .collect()
}

fn stdout_of(status: &ContainerStatus) -> Vec<String> {
    cri_log(&status.log_path)
        .into_iter()
        .filter(|(stream, _)| stream == "stdout")
        .map(|(_, text)| text)
        .collect()
}

/// docs/kubernetes/deployment.yaml's pod, call by call: the kubelet pulls the images, runs the
/// sandbox, creates and starts each container; the apps' output is in their CRI logs; deleting
/// the pod leaves nothing running.
#[test]
fn the_deployments_pod_runs_through_cri_and_logs_its_output() {
    let mut node = Node::start();
    let hello = node.publish("team/hello:1.0", P1_CLI_HELLO);
    let cat = node.publish("team/cat:1.0", P1_CLI_READ_FILE);
    let volumes = tempfile::tempdir().unwrap();
    let config = config_map(volumes.path(), &[("greeting.txt", "from a ConfigMap\n")]);
    let config_mount = Mount {
        container_path: "/config".to_string(),
        host_path: config.display().to_string(),
        readonly: true,
        ..Default::default()
    };

    let pod = node.run_pod("hello-7d4b9c-x2x9z");
    let status = node
        .rt
        .block_on(node.runtime.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.id.clone(),
            verbose: false,
        }))
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(status.state, PodSandboxState::SandboxReady as i32);
    assert_eq!(status.runtime_handler, HANDLER);
    // The sandbox is the shim's: a task of `io.containerd.skiff.v1` that runs nothing.
    assert_eq!(node.tasks(), std::slice::from_ref(&pod.id));

    // The CRI plugin has not seen the images: the kubelet's pull fetches them from the registry.
    for image in [&hello, &cat] {
        assert!(!node.has_image(image), "{image} was there before the pull");
        let id = node.pull(image, &pod);
        assert!(id.starts_with("sha256:"), "{id}");
        assert!(node.has_image(image));
    }

    let mut hello_config = container("hello", &hello, &["--name", "kubernetes"]);
    hello_config.envs = vec![KeyValue {
        key: "GREETING".to_string(),
        value: "hello".to_string(),
    }];
    hello_config.mounts = vec![config_mount.clone()];
    resources(&mut hello_config).memory_limit_in_bytes = 64 << 20;
    let hello_id = node.run(&pod, hello_config);

    let mut cat_config = container("config", &cat, &["/config/greeting.txt"]);
    cat_config.mounts = vec![config_mount];
    let cat_id = node.run(&pod, cat_config);

    let status = node.wait_exited(&hello_id);
    assert_eq!(status.exit_code, 0, "{status:?}");
    assert_eq!(stdout_of(&status), ["Hello, kubernetes!"], "{status:?}");
    let status = node.wait_exited(&cat_id);
    assert_eq!(status.exit_code, 0, "{status:?}");
    // Through the kubelet's symlinks (`greeting.txt` -> `..data/greeting.txt`), inside the grant.
    assert_eq!(stdout_of(&status), ["from a ConfigMap"], "{status:?}");
    // Read-only, so the app cannot change what every replica reads.
    assert_eq!(
        std::fs::read_to_string(config.join("greeting.txt")).unwrap(),
        "from a ConfigMap\n"
    );

    // Deleting the pod: its containers removed, its sandbox stopped and removed.
    for id in [&hello_id, &cat_id] {
        node.remove_container(id);
    }
    node.remove_pod(&pod);
    let pods = node
        .rt
        .block_on(
            node.runtime
                .list_pod_sandbox(ListPodSandboxRequest::default()),
        )
        .unwrap()
        .into_inner()
        .items;
    assert!(pods.is_empty(), "{pods:?}");
    assert!(node.tasks().is_empty(), "{:?}", node.tasks());
}

/// A pod's `skiff.dev/network` annotation (passed on by the CRI plugin's `pod_annotations`, as
/// docs/kubernetes configures it) grants its app network destinations, as `skiff run --network`
/// does; a pod without one reaches nothing.
#[test]
fn a_pods_network_annotation_grants_its_destinations() {
    let addr = crate::support::echo_server();
    let mut node = Node::start();
    let client = node.publish("team/client:1.0", P2_TCP_ECHO_CLIENT);
    let grant = format!("allow={addr}");
    for (name, annotations, code, out) in [
        (
            "granted",
            vec![("skiff.dev/network", grant.as_str())],
            0,
            vec!["reply: ping"],
        ),
        ("ungranted", vec![], 1, vec![]),
    ] {
        let pod = node.run_pod_annotated(name, &annotations);
        node.pull(&client, &pod);
        let id = node.run(&pod, container("client", &client, &[&addr]));
        let status = node.wait_exited(&id);
        assert_eq!(status.exit_code, code, "{name}: {status:?}");
        assert_eq!(stdout_of(&status), out, "{name}: {status:?}");
        node.remove_container(&id);
        node.remove_pod(&pod);
    }
}

/// Exit codes, env, the memory limit and StopContainer of a long-running app, through CRI.
#[test]
fn exit_codes_env_limits_and_stop_reach_the_kubelet() {
    let mut node = Node::start();
    let code = node.publish("team/code:1.0", P1_CLI_EXIT_CODE);
    let env = node.publish("team/env:1.0", P1_CLI_ENV);
    let bomb = node.publish("team/bomb:1.0", P1_CLI_MEMORY_BOMB);
    let sleep = node.publish("team/sleep:1.0", P1_CLI_SLEEP);
    let pod = node.run_pod("apps");
    for image in [&code, &env, &bomb, &sleep] {
        node.pull(image, &pod);
    }

    let id = node.run(&pod, container("code", &code, &["42"]));
    let status = node.wait_exited(&id);
    assert_eq!(status.exit_code, 42, "{status:?}");

    let mut config = container("env", &env, &[]);
    config.envs = vec![KeyValue {
        key: "GREETING".to_string(),
        value: "hello".to_string(),
    }];
    let id = node.run(&pod, config);
    let status = node.wait_exited(&id);
    assert_eq!(status.exit_code, 0, "{status:?}");
    let vars = stdout_of(&status);
    assert!(vars.contains(&"GREETING=hello".to_string()), "{vars:?}");

    // `limits.memory: 64Mi`: the guest's `memory.grow` fails there; 137 as for an OOM kill.
    let mut config = container("bomb", &bomb, &[]);
    resources(&mut config).memory_limit_in_bytes = 64 << 20;
    let id = node.run(&pod, config);
    let status = node.wait_exited(&id);
    assert_eq!(status.exit_code, 137, "{status:?}");

    // Pod deletion stops a sleeping app at once (SIGTERM, 128 + 15), not after the grace period.
    let id = node.run(&pod, container("sleep", &sleep, &["600000"]));
    let status = node.status(&id);
    assert_eq!(
        status.state,
        ContainerState::ContainerRunning as i32,
        "{status:?}"
    );
    // Its stats are the app's own (`kubectl top`): a sleeper's linear memory (a MiB or two, all
    // of it working set) and next to no CPU; not the shim process's.
    let stats = node.stats(&id);
    let memory = stats.memory.as_ref().expect("memory stats");
    let working_set = memory.working_set_bytes.as_ref().map_or(0, |v| v.value);
    let usage = memory.usage_bytes.as_ref().map_or(0, |v| v.value);
    assert!(working_set > 0 && working_set < 8 << 20, "{stats:?}");
    assert_eq!(working_set, usage, "{stats:?}");
    let cpu = stats
        .cpu
        .as_ref()
        .and_then(|c| c.usage_core_nano_seconds.as_ref());
    assert!(cpu.is_some_and(|c| c.value < 1_000_000_000), "{stats:?}");
    let stopping = Instant::now();
    node.stop_container(&id, 30);
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(2), "StopContainer took {took:?}");
    let status = node.wait_exited(&id);
    assert_eq!(status.exit_code, 143, "{status:?}");

    node.remove_pod(&pod);
    assert!(node.tasks().is_empty(), "{:?}", node.tasks());
}

/// What the shim cannot honour fails the container's start, and the kubelet sees why (it shows
/// the error in `kubectl describe pod`); a CPU limit, which it can, runs.
#[test]
fn a_user_is_refused_through_cri_with_the_reason_and_a_cpu_limit_runs() {
    let mut node = Node::start();
    let hello = node.publish("team/hello:1.0", P1_CLI_HELLO);
    let pod = node.run_pod("refused");
    node.pull(&hello, &pod);

    // `limits.cpu: 500m`, as the kubelet passes it: the app's share of the CPU (`--cpus 0.5`).
    let mut config = container("cpu", &hello, &["--name", "capped"]);
    let cpu = resources(&mut config);
    cpu.cpu_period = 100_000;
    cpu.cpu_quota = 50_000;
    let id = node.run(&pod, config);
    let status = node.wait_exited(&id);
    assert_eq!(
        (status.exit_code, stdout_of(&status)),
        (0, vec!["Hello, capped!".to_string()]),
        "{status:?}"
    );

    // `securityContext.runAsUser: 1000`.
    let mut config = container("user", &hello, &[]);
    config
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .run_as_user = Some(Int64Value { value: 1000 });
    let id = node.create(&pod, config).expect("CreateContainer");
    let err = node.start_container(&id).unwrap_err();
    assert!(err.message().contains("uid 1000"), "{err:?}");

    // The pod itself is unharmed: a container that asks nothing refused still runs.
    let id = node.run(&pod, container("ok", &hello, &["--name", "pod"]));
    let status = node.wait_exited(&id);
    assert_eq!(
        (status.exit_code, stdout_of(&status)),
        (0, vec!["Hello, pod!".to_string()]),
        "{status:?}"
    );
    node.remove_pod(&pod);
}
