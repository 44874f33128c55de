//! Apps' output: one file of JSON lines per app (`{"at","stream","line"}`), rotated at a size
//! limit, and a broadcast channel for `logs -f`. The writes happen on the guest's own task, so a
//! guest flooding its output slows only itself.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use skiff_api::LogLine;
use skiff_runtime::OutputSink;
use tokio::sync::broadcast;

/// A log file is rotated to `<name>.log.1` when it reaches this size; one old file is kept.
const ROTATE_BYTES: u64 = 10 << 20;
/// A line longer than this is split, so one runaway line cannot hold memory.
const MAX_LINE: usize = 16 << 10;

pub struct AppLog {
    inner: Mutex<Inner>,
    /// Created by the first `logs -f`: a channel's buffer is ~100 KiB, too much to give every
    /// one of thousands of apps up front.
    followers: OnceLock<broadcast::Sender<LogLine>>,
}

struct Inner {
    /// `<dir>/<app>.log`; `skiff rename` moves it.
    path: PathBuf,
    file: Option<File>,
    size: u64,
    partial: [Vec<u8>; 2],
}

impl AppLog {
    pub fn open(dir: &Path, app: &str) -> Arc<AppLog> {
        let path = dir.join(format!("{app}.log"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Arc::new(AppLog {
            inner: Mutex::new(Inner {
                path,
                file: None,
                size,
                partial: [Vec::new(), Vec::new()],
            }),
            followers: OnceLock::new(),
        })
    }

    /// Lines written from now on.
    pub fn follow(&self) -> broadcast::Receiver<LogLine> {
        self.followers
            .get_or_init(|| broadcast::channel(1024).0)
            .subscribe()
    }

    /// A sink for one of the app's streams (0 = stdout, 1 = stderr).
    pub fn sink(self: &Arc<Self>, stream: usize) -> Arc<dyn OutputSink> {
        Arc::new(StreamSink {
            log: self.clone(),
            stream,
        })
    }

    fn write(&self, stream: usize, bytes: &[u8]) {
        let mut inner = self.lock();
        inner.partial[stream].extend_from_slice(bytes);
        loop {
            let buf = &inner.partial[stream];
            let end = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if buf.len() >= MAX_LINE => MAX_LINE,
                None => break,
            };
            let raw: Vec<u8> = inner.partial[stream].drain(..end).collect();
            let text = String::from_utf8_lossy(&raw);
            self.emit(&mut inner, stream, text.trim_end_matches(['\n', '\r']));
        }
    }

    /// Writes what is left of unterminated lines (when a run ends).
    pub fn flush(&self) {
        let mut inner = self.lock();
        for stream in 0..2 {
            if !inner.partial[stream].is_empty() {
                let raw = std::mem::take(&mut inner.partial[stream]);
                self.emit(&mut inner, stream, &String::from_utf8_lossy(&raw));
            }
        }
    }

    fn emit(&self, inner: &mut Inner, stream: usize, line: &str) {
        let line = LogLine {
            at: skiff_state::now(),
            stream: if stream == 0 { "stdout" } else { "stderr" }.to_string(),
            line: line.to_string(),
        };
        let mut json = serde_json::to_vec(&line).expect("log lines serialize");
        json.push(b'\n');
        // Disk I/O (a rename, an open, a write the kernel may throttle) on the guest's task:
        // the worker's other tasks move to another thread meanwhile, so a slow disk or a log
        // flood stalls only the app writing, never the API or other apps.
        skiff_runtime::off_worker(|| {
            if inner.size + json.len() as u64 > ROTATE_BYTES {
                inner.file = None;
                let _ = std::fs::rename(&inner.path, inner.path.with_extension("log.1"));
                inner.size = 0;
            }
            if inner.file.is_none() {
                // Owner-only from the first byte (the output may echo `-e` values), and set so
                // on a file an older skiff left open to others.
                inner.file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&inner.path)
                    .and_then(|file| {
                        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                        Ok(file)
                    })
                    .map_err(|e| {
                        tracing::warn!("cannot write the log `{}`: {e}", inner.path.display())
                    })
                    .ok();
            }
            if let Some(file) = &mut inner.file
                && file.write_all(&json).is_ok()
            {
                inner.size += json.len() as u64;
            }
        });
        if let Some(followers) = self.followers.get() {
            let _ = followers.send(line);
        }
    }

    /// Stored lines, oldest first: the rotated file, then the current one.
    pub fn read(&self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for path in self.files() {
            let Ok(file) = File::open(&path) else {
                continue;
            };
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                if let Ok(line) = serde_json::from_str(&line) {
                    lines.push(line);
                }
            }
        }
        lines
    }

    pub fn remove(&self) {
        for path in self.files() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// `skiff rename`: its files take the app's new name. What is open stays open (a rename
    /// keeps the file), so no line is lost.
    pub fn rename(&self, app: &str) -> std::io::Result<()> {
        let mut inner = self.lock();
        let path = inner.path.with_file_name(format!("{app}.log"));
        // No app has that name: what is left of one that had it is not this app's.
        let _ = std::fs::remove_file(path.with_extension("log.1"));
        for (from, to) in [
            (
                inner.path.with_extension("log.1"),
                path.with_extension("log.1"),
            ),
            (inner.path.clone(), path.clone()),
        ] {
            match std::fs::rename(&from, &to) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        inner.path = path;
        Ok(())
    }

    /// The rotated file, then the current one.
    fn files(&self) -> [PathBuf; 2] {
        let path = self.lock().path.clone();
        [path.with_extension("log.1"), path]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct StreamSink {
    log: Arc<AppLog>,
    stream: usize,
}

impl OutputSink for StreamSink {
    fn write(&self, bytes: &[u8]) {
        self.log.write(self.stream, bytes);
    }
}
