//! `start-to-exit`: runs a container's program to its exit through containerd's API, RUNS times,
//! and prints how long each run took, as one JSON line per run.
//!
//! `benches/shim.sh` times the shims with it as a Kubernetes node runs containers: one client
//! that stays connected (the kubelet's CRI plugin is inside containerd), so that no `ctr`
//! process start or image resolution is in the figure, for either peer. Each run is a clone of a
//! template container that `ctr container create` made (its OCI spec, runtime, image and
//! snapshotter, exactly as `ctr run` would make them):
//!
//! timed:    container create, snapshot prepare, task create (stdout on a fifo, as `ctr` gives
//!           it), task start, and the wait for the task's exit;
//! untimed:  its output checked, then task delete, container delete and snapshot remove.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteTaskRequest, GetContainerRequest, StartRequest, WaitRequest,
};
use containerd_client::tonic::Request;
use containerd_client::tonic::transport::Channel;
use containerd_client::with_namespace;
use tokio::io::AsyncReadExt;

#[derive(Parser)]
struct Args {
    /// containerd's socket
    #[arg(long)]
    address: String,
    #[arg(long, default_value = "default")]
    namespace: String,
    /// The container to clone (made by `ctr container create --runtime RT IMAGE ID`)
    #[arg(long)]
    template: String,
    /// Timed runs
    #[arg(long, default_value_t = 20)]
    runs: u32,
    /// Untimed runs first
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Text the program's stdout must hold
    #[arg(long)]
    expect: String,
    /// Where the stdout fifos go
    #[arg(long)]
    fifo_dir: PathBuf,
}

struct Client {
    channel: Channel,
    namespace: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client {
        channel: containerd_client::connect(&args.address)
            .await
            .with_context(|| format!("failed to connect to containerd at `{}`", args.address))?,
        namespace: args.namespace.clone(),
    };
    let template = client.container(&args.template).await?;
    let parent = client.parent_snapshot(&template).await?;
    for i in 0..args.warmup + args.runs {
        let id = format!("{}-{}-{i}", args.template, std::process::id());
        let run = client
            .run(&template, &parent, &id, &args.fifo_dir, &args.expect)
            .await
            .with_context(|| format!("run `{id}` failed"))?;
        if i >= args.warmup {
            println!(
                "{{\"total_ms\": {:.3}, \"task_create_ms\": {:.3}, \"start_to_exit_ms\": {:.3}, \"teardown_ms\": {:.3}}}",
                ms(run.total),
                ms(run.task_create),
                ms(run.start_to_exit),
                ms(run.teardown)
            );
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Run {
    total: Duration,
    task_create: Duration,
    start_to_exit: Duration,
    teardown: Duration,
}

impl Client {
    async fn container(&self, id: &str) -> anyhow::Result<Container> {
        let request = with_namespace!(GetContainerRequest { id: id.to_string() }, self.namespace);
        ContainersClient::new(self.channel.clone())
            .get(request)
            .await
            .with_context(|| format!("no template container `{id}`"))?
            .into_inner()
            .container
            .with_context(|| format!("containerd returned no container `{id}`"))
    }

    /// The image's top snapshot: the template's own snapshot's parent ("" for an image with no
    /// tar layers, such as a Wasm image).
    async fn parent_snapshot(&self, template: &Container) -> anyhow::Result<String> {
        let request = with_namespace!(
            StatSnapshotRequest {
                snapshotter: template.snapshotter.clone(),
                key: template.snapshot_key.clone(),
            },
            self.namespace
        );
        let info = SnapshotsClient::new(self.channel.clone())
            .stat(request)
            .await
            .context("failed to stat the template's snapshot")?
            .into_inner()
            .info
            .context("containerd returned no snapshot info")?;
        Ok(info.parent)
    }

    async fn run(
        &self,
        template: &Container,
        parent: &str,
        id: &str,
        fifo_dir: &Path,
        expect: &str,
    ) -> anyhow::Result<Run> {
        let ns = &self.namespace;
        let mut containers = ContainersClient::new(self.channel.clone());
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        let mut tasks = TasksClient::new(self.channel.clone());
        let (fifo, mut stdout) = open_fifo(&fifo_dir.join(format!("{id}.stdout")))?;
        let (fifo_err, stderr) = open_fifo(&fifo_dir.join(format!("{id}.stderr")))?;

        let start = Instant::now();
        let container = Container {
            id: id.to_string(),
            snapshot_key: id.to_string(),
            created_at: None,
            updated_at: None,
            ..template.clone()
        };
        containers
            .create(with_namespace!(
                CreateContainerRequest {
                    container: Some(container)
                },
                ns
            ))
            .await
            .context("container create")?;
        let mounts = snapshots
            .prepare(with_namespace!(
                PrepareSnapshotRequest {
                    snapshotter: template.snapshotter.clone(),
                    key: id.to_string(),
                    parent: parent.to_string(),
                    labels: Default::default(),
                },
                ns
            ))
            .await
            .context("snapshot prepare")?
            .into_inner()
            .mounts;
        let created = Instant::now();
        tasks
            .create(with_namespace!(
                CreateTaskRequest {
                    container_id: id.to_string(),
                    rootfs: mounts,
                    stdout: fifo.display().to_string(),
                    stderr: fifo_err.display().to_string(),
                    ..Default::default()
                },
                ns
            ))
            .await
            .context("task create")?;
        let task_created = Instant::now();
        tasks
            .start(with_namespace!(
                StartRequest {
                    container_id: id.to_string(),
                    exec_id: String::new(),
                },
                ns
            ))
            .await
            .context("task start")?;
        let status = tasks
            .wait(with_namespace!(
                WaitRequest {
                    container_id: id.to_string(),
                    exec_id: String::new(),
                },
                ns
            ))
            .await
            .context("task wait")?
            .into_inner()
            .exit_status;
        let exited = Instant::now();

        let mut output = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&output).contains(expect) {
                let n = stdout.read(&mut buf).await?;
                output.extend_from_slice(&buf[..n]);
            }
            anyhow::Ok(())
        })
        .await;
        if status != 0 || !matches!(read, Ok(Ok(()))) {
            bail!(
                "exit status {status}; stdout {:?} does not hold {expect:?}",
                String::from_utf8_lossy(&output)
            );
        }

        tasks
            .delete(with_namespace!(
                DeleteTaskRequest {
                    container_id: id.to_string()
                },
                ns
            ))
            .await
            .context("task delete")?;
        // The snapshot before its container, as `ctr` does: once the container is gone,
        // containerd's garbage collector may take the snapshot first.
        snapshots
            .remove(with_namespace!(
                RemoveSnapshotRequest {
                    snapshotter: template.snapshotter.clone(),
                    key: id.to_string(),
                },
                ns
            ))
            .await
            .context("snapshot remove")?;
        containers
            .delete(with_namespace!(
                DeleteContainerRequest { id: id.to_string() },
                ns
            ))
            .await
            .context("container delete")?;
        let done = Instant::now();
        drop((stdout, stderr));
        std::fs::remove_file(&fifo).ok();
        std::fs::remove_file(&fifo_err).ok();
        Ok(Run {
            total: exited - start,
            task_create: task_created - created,
            start_to_exit: exited - task_created,
            teardown: done - exited,
        })
    }
}

/// A fifo for the task's output, made and opened for reading before the clock starts, as ctr
/// does before it creates a task; read-write, so that it is not at its end before the shim
/// opens it.
fn open_fifo(path: &Path) -> anyhow::Result<(PathBuf, tokio::net::unix::pipe::Receiver)> {
    mkfifo(path)?;
    let receiver = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    Ok((path.to_path_buf(), receiver))
}

fn mkfifo(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("failed to make the fifo {}", path.display()));
    }
    Ok(())
}
