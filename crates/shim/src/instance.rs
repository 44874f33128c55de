//! One container = one Skiff app, run inside the shim process by Skiff's runtime.
//!
//! runwasi's `containerd-shim-wasm` runs each container's Wasm inside a Linux container that
//! youki builds (namespaces, cgroups, a pivoted rootfs), and hands the engine only args, env and
//! the module: mounts and the memory limit reach the app only as the kernel's view of them. Skiff
//! implements runwasi's lower-level `containerd_shimkit::sandbox::Instance` instead, so the OCI
//! spec is translated into Skiff's own `Grants` and `Limits` (`crate::spec`) and a mount or a
//! memory limit means exactly what `-v` and `--memory` mean in `skiff run`; and every container of
//! a pod shares one engine and compile cache (docs/decisions/0004-containerd-shim.md).

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use containerd_shimkit::sandbox::sync::WaitableCell;
use containerd_shimkit::sandbox::{Error, Instance, InstanceConfig};
use oci_spec::runtime::Spec;
use skiff_image::{AppDefaults, Store, WasmSource};
use skiff_runtime::{App, AppKind, OutputSink, PreparedGrants, RunOptions, Runtime, Stdio};
use tokio::sync::watch;

use crate::image::Containerd;
use crate::spec;

/// Where the shim keeps the images it copied out of containerd and the compiled code, shared by
/// every shim process of the node; `SKIFF_SHIM_ROOT` in containerd's environment overrides it.
const DEFAULT_ROOT: &str = "/var/lib/skiff/shim";

/// Docker's "the engine failed" status, for a run that could not start.
const ENGINE_ERROR: u32 = 125;

fn root() -> PathBuf {
    std::env::var_os("SKIFF_SHIM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
}

/// One runtime per shim process (a pod's containers share one shim): the engine, its epoch
/// ticker, linkers and the on-disk compile cache are made once.
fn runtime() -> anyhow::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = Runtime::new(skiff_runtime::RuntimeConfig {
        cache_dir: Some(root().join("cache")),
        ..Default::default()
    })?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

pub struct SkiffInstance {
    id: String,
    /// `None` for a pod's sandbox container (CRI's "pause"), which runs nothing and only holds
    /// the pod until it is stopped.
    app: Option<Arc<App>>,
    options: RunOptions,
    cfg: InstanceConfig,
    rootfs: PathBuf,
    exit: WaitableCell<(u32, DateTime<Utc>)>,
    /// The signal the app was told to stop with, if any.
    stop: watch::Sender<Option<u32>>,
}

/// The Wasm to run and what its image brings.
struct Source {
    name: String,
    bytes: Vec<u8>,
    defaults: Option<AppDefaults>,
}

impl Instance for SkiffInstance {
    async fn new(id: String, cfg: &InstanceConfig) -> Result<Self, Error> {
        let spec = Spec::load(cfg.bundle.join("config.json"))?;
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| cfg.bundle.join(r.path()))
            .unwrap_or_else(|| cfg.bundle.join("rootfs"));
        if is_sandbox(&spec) {
            // The pause image is native code; there is nothing of it to run.
            return Ok(SkiffInstance {
                id,
                app: None,
                options: RunOptions::default(),
                cfg: cfg.clone(),
                rootfs,
                exit: WaitableCell::new(),
                stop: watch::channel(None).0,
            });
        }
        let plan = spec::plan(&spec).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let source = find_wasm(&id, cfg, &rootfs, plan.args.first().map(String::as_str))
            .await
            .map_err(|e| Error::FailedPrecondition(format!("{e:#}")))?;
        let defaults = source.defaults.as_ref();
        let grants = skiff_image::merge_grants(defaults, &plan.grants, false);
        let limits = skiff_image::merge_limits(defaults, &plan.limits);
        // A grant that cannot be made (a mount source that is gone) fails the create, where
        // containerd reports it, not the start.
        PreparedGrants::new(&grants)
            .map_err(|e| Error::InvalidArgument(format!("{e}; {}", e.hint())))?;
        let mut args = plan.args.clone();
        if args.is_empty() {
            args.push(source.name.clone());
            if let Some(d) = defaults {
                args.extend(d.app.args.iter().cloned());
            }
        }
        let name = source.name.clone();
        let app = tokio::task::spawn_blocking(move || -> anyhow::Result<App> {
            let runtime = runtime()?;
            Ok(runtime.load(&source.name, &source.bytes, &mut |_| {})?)
        })
        .await
        .map_err(|e| Error::Others(e.to_string()))?
        .map_err(|e| Error::FailedPrecondition(format!("failed to load `{name}`: {e:#}")))?;
        if app.kind() == AppKind::Http {
            return Err(Error::FailedPrecondition(format!(
                "`{name}` is a wasi:http handler; this shim runs command programs only (a \
                 `wasi:cli/run` component or a WASI preview 1 module): serve it with \
                 `skiff serve` or `skiff run -d` for now"
            )));
        }
        log::info!("container {id}: `{name}` loaded");
        Ok(SkiffInstance {
            id,
            app: Some(Arc::new(app)),
            options: RunOptions {
                args,
                grants,
                limits,
                ..Default::default()
            },
            cfg: cfg.clone(),
            rootfs,
            exit: WaitableCell::new(),
            stop: watch::channel(None).0,
        })
    }

    async fn start(&self) -> Result<u32, Error> {
        let stdout = sink(self.cfg.open_stdout())?;
        let stderr = sink(self.cfg.open_stderr())?;
        let mut options = self.options.clone();
        options.stdio = Stdio::Capture {
            stdout,
            stderr: stderr.clone(),
        };
        let app = self.app.clone();
        let exit = self.exit.clone();
        let mut stop = self.stop.subscribe();
        let id = self.id.clone();
        tokio::spawn(async move {
            // If the task dies (a panic), containerd still learns that the app ended.
            let _guard = exit.set_guard_with(|| (ENGINE_ERROR, Utc::now()));
            let run = async move {
                match &app {
                    Some(app) => app.run(options).await,
                    None => std::future::pending().await,
                }
            };
            let status = tokio::select! {
                ended = run => match ended {
                    Ok(ended) => ended.status() as u32,
                    Err(e) => {
                        stderr.write(format!("error: {e}\nhint: {}\n", e.hint()).as_bytes());
                        ENGINE_ERROR
                    }
                },
                // Dropping the run stops the guest at once: it yields to the executor at every
                // epoch tick (10 ms) and at every host call, so `ctr task kill` and pod deletion
                // never wait on a busy or sleeping guest.
                signal = stop.wait_for(Option::is_some) => {
                    128 + signal.ok().and_then(|s| *s).unwrap_or(libc::SIGKILL as u32)
                }
            };
            log::info!("container {id}: exited with {status}");
            let _ = exit.set((status, Utc::now()));
        });
        Ok(std::process::id())
    }

    async fn kill(&self, signal: u32) -> Result<(), Error> {
        // A Wasm app has no signal handlers: every signal that ends a process by default ends
        // it; the others (SIGWINCH, SIGCHLD, SIGUSR1...) cannot be delivered and are refused.
        let ends = [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGKILL,
            libc::SIGTERM,
        ];
        if !ends.iter().any(|s| *s as u32 == signal) {
            return Err(Error::InvalidArgument(format!(
                "signal {signal} cannot be delivered to a Wasm app; SIGTERM, SIGKILL, SIGINT, \
                 SIGHUP and SIGQUIT end it"
            )));
        }
        log::info!("container {}: signal {signal}", self.id);
        self.stop.send_replace(Some(signal));
        Ok(())
    }

    async fn delete(&self) -> Result<(), Error> {
        // The rootfs containerd's mounts were stacked on by shimkit at create.
        unmount(&self.rootfs);
        Ok(())
    }

    async fn wait(&self) -> (u32, DateTime<Utc>) {
        *self.exit.wait().await
    }
}

/// CRI's pod sandbox container, as containerd's CRI plugin marks it.
fn is_sandbox(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get("io.kubernetes.cri.container-type"))
        .is_some_and(|t| t == "sandbox")
}

/// The regular file `path` names inside `rootfs`, if it is there: the image chose `path` (its
/// entrypoint), so neither `..` nor a symlink in the rootfs may lead outside it.
fn file_in(rootfs: &Path, path: &str) -> Option<std::path::PathBuf> {
    let root = rootfs.canonicalize().ok()?;
    let file = rootfs
        .join(path.trim_start_matches('/'))
        .canonicalize()
        .ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

/// Finds the Wasm of a container: the image's Wasm layer (read from containerd into the shim's
/// image store, with the image's Skiff defaults), else the compat form — the `.wasm` that
/// `argv[0]` names in the rootfs containerd unpacked.
async fn find_wasm(
    id: &str,
    cfg: &InstanceConfig,
    rootfs: &Path,
    argv0: Option<&str>,
) -> anyhow::Result<Source> {
    let in_rootfs = argv0.and_then(|a| file_in(rootfs, a));
    let containerd = Containerd::connect(&cfg.containerd_address, &cfg.namespace).await?;
    let Some(image) = containerd.image_of(id).await? else {
        let path = in_rootfs.context(
            "the container has no image, and its first argument names no file in its rootfs",
        )?;
        return from_rootfs(&path, None);
    };
    let store = Store::open(&root())
        .with_context(|| format!("failed to open the image store in `{}`", root().display()))?;
    let digest = containerd.copy_image(&image, &store).await?;
    match skiff_image::Image::open(&store, &digest) {
        Ok(opened) => {
            let defaults = Some(opened.defaults(&store)?);
            match (&opened.wasm, in_rootfs) {
                (WasmSource::InTar { .. }, Some(path)) => from_rootfs(&path, defaults),
                _ => Ok(Source {
                    name: skiff_image::display_name(&image).to_string(),
                    bytes: opened.wasm_bytes(&store)?,
                    defaults,
                }),
            }
        }
        Err(e) => match in_rootfs {
            Some(path) => from_rootfs(&path, None),
            None => Err(anyhow::Error::new(e).context(format!(
                "image `{image}` is not a Wasm image Skiff can run: it needs one Wasm layer \
                 (`application/wasm` or runwasi's component layer), or an entrypoint naming a \
                 `.wasm` file in its layers; a native image needs `--runtime io.containerd.runc.v2`"
            ))),
        },
    }
}

fn from_rootfs(path: &Path, defaults: Option<AppDefaults>) -> anyhow::Result<Source> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(Source {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
        defaults,
    })
}

/// A stream containerd reads (a fifo it made), or nowhere when it gave none.
fn sink(file: std::io::Result<File>) -> Result<Arc<dyn OutputSink>, Error> {
    match file {
        Ok(file) => Ok(Arc::new(Fifo(Mutex::new(file)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Arc::new(Discard)),
        Err(e) => Err(e.into()),
    }
}

struct Fifo(Mutex<File>);

impl OutputSink for Fifo {
    fn write(&self, bytes: &[u8]) {
        // A reader that went away (containerd restarting) loses output, not the app.
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = file.write_all(bytes);
    }
}

struct Discard;

impl OutputSink for Discard {
    fn write(&self, _: &[u8]) {}
}

fn unmount(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: a valid NUL-terminated path; MNT_DETACH only detaches the mount (EINVAL when
    // nothing is mounted there, which is fine).
    unsafe {
        libc::umount2(c_path.as_ptr(), libc::MNT_DETACH);
    }
}
