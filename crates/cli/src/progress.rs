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
