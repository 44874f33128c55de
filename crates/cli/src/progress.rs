//! Feedback while a large program compiles (tens of MB of Wasm can take minutes on 2 cores).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use skiff_capabilities::ByteSize;
use skiff_runtime::CompileEvent;

/// Shows a spinner with the elapsed time on a terminal; elsewhere only logs.
pub struct CompileProgress {
    name: String,
    bar: Option<ProgressBar>,
}

impl CompileProgress {
    pub fn new(name: &str) -> Self {
        CompileProgress {
            name: name.to_string(),
            bar: None,
        }
    }

    pub fn on_event(&mut self, event: CompileEvent) {
        match event {
            CompileEvent::Started { wasm_bytes } => {
                let size = ByteSize(wasm_bytes as u64);
                tracing::info!("compiling {} ({size})", self.name);
                if std::io::stderr().is_terminal() {
                    let bar = ProgressBar::new_spinner().with_message(format!(
                        "Compiling {} ({size}) to native code; later runs start from the cache",
                        self.name
                    ));
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                            .expect("valid template"),
                    );
                    bar.enable_steady_tick(Duration::from_millis(100));
                    self.bar = Some(bar);
                }
            }
            CompileEvent::Finished { elapsed } => {
                tracing::info!("compiled {} in {elapsed:.2?}", self.name);
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

/// Push and pull progress: one line per blob, a spinner while it transfers on a terminal.
pub struct TransferProgress {
    verb: &'static str,
    bars: indicatif::MultiProgress,
    active: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>>,
    terminal: bool,
}

impl TransferProgress {
    pub fn new(verb: &'static str) -> Self {
        TransferProgress {
            verb,
            bars: indicatif::MultiProgress::new(),
            active: Default::default(),
            terminal: std::io::stderr().is_terminal(),
        }
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

impl skiff_image::Progress for TransferProgress {
    fn blob_started(&self, digest: &str, size: u64) {
        if !self.terminal {
            return;
        }
        let bar = self
            .bars
            .add(ProgressBar::new_spinner().with_message(format!(
                "{}: transferring {}",
                short(digest),
                ByteSize(size.max(1))
            )));
        bar.enable_steady_tick(Duration::from_millis(100));
        self.active.lock().unwrap().insert(digest.to_string(), bar);
    }

    fn blob_finished(&self, digest: &str, skipped: bool) {
        let line = if skipped {
            format!("{}: already exists", short(digest))
        } else {
            format!("{}: {}", short(digest), self.verb)
        };
        match self.active.lock().unwrap().remove(digest) {
            Some(bar) => bar.finish_with_message(line),
            None if self.terminal => {
                let _ = self.bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}
