//! The shim's own log, which containerd copies into its log. containerd reads the `log` fifo of a
//! task's bundle while that task exists, so a shim serving many containers (a node's, by
//! default) writes to the fifo of its newest container still there: its lines keep reaching
//! containerd after the container it was started for is gone. A line no reader takes (a full
//! pipe, a reader gone) is dropped: the shim never waits on its log.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};

struct ShimLog {
    /// The open fifos, by container id, newest last.
    fifos: Mutex<Vec<(String, File)>>,
}

static LOG: ShimLog = ShimLog {
    fifos: Mutex::new(Vec::new()),
};

/// Logs to the fifo of the bundle the shim was started in (the working directory), for the
/// container `id`, at `RUST_LOG`'s level (info by default; debug with containerd's `-debug`).
pub fn init(id: &str, debug: bool) -> std::io::Result<()> {
    add(id, Path::new("."))?;
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    log::set_max_level(if debug {
        level.max(log::LevelFilter::Debug)
    } else {
        level
    });
    log::set_logger(&LOG).map_err(std::io::Error::other)
}

/// Also logs to the fifo of container `id`'s bundle, from now on rather than the others.
pub fn add(id: &str, bundle: &Path) -> std::io::Result<()> {
    if lock().iter().any(|(fifo_id, _)| fifo_id == id) {
        return Ok(());
    }
    // Non-blocking: opening fails rather than waits when containerd has no reader on it.
    let fifo = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(bundle.join("log"))?;
    lock().push((id.to_string(), fifo));
    Ok(())
}

/// Stops logging to container `id`'s fifo: containerd stops reading it when the task is deleted.
pub fn remove(id: &str) {
    lock().retain(|(fifo_id, _)| fifo_id != id);
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(String, File)>> {
    LOG.fifos.lock().unwrap_or_else(|e| e.into_inner())
}

impl log::Log for ShimLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // The form containerd's own shims write (logrus' text format).
        let line = format!(
            "time=\"{}\" level={} msg=\"{}\"\n",
            Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            record.level().as_str().to_lowercase(),
            record
                .args()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        );
        let mut fifos = lock();
        // The newest fifo that takes it; one whose reader is gone is dropped.
        while let Some((_, fifo)) = fifos.last_mut() {
            match fifo.write_all(line.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    fifos.pop();
                }
                _ => return,
            }
        }
    }

    fn flush(&self) {}
}
