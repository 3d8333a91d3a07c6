//! A progress bar on stderr while tensors are written, only when stderr is a terminal
//! (logs and pipes get the report alone). Sizes in MiB, as the report's.

use std::io::IsTerminal;

use edgelm_compress::report::TensorReport;
use edgelm_compress::source::Checkpoint;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn new(ckpt: &Checkpoint) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let total: u64 = ckpt.tensors.iter().map(|t| t.src_bytes).sum();
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .expect("the template is valid"),
        );
        Bar(Some(bar))
    }

    pub fn tensor_done(&self, t: &TensorReport) {
        if let Some(b) = &self.0 {
            b.inc(t.bytes_before);
            b.set_message(t.name.clone());
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
