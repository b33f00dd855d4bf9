//! Progress bars on a terminal, nothing otherwise: one place decides, every bar goes through it.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A set of progress bars drawn on stderr, or hidden.
#[derive(Clone, Debug)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars drawn on stderr when `enabled`; callers pass whether stderr is a terminal.
    pub fn new(enabled: bool) -> Progress {
        let multi = enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    /// No bars at all.
    pub fn hidden() -> Progress {
        Progress { multi: None }
    }

    /// A bar counting `len` bytes (a spinner with a byte count when `len` is 0, i.e. unknown).
    pub fn bytes(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = if len > 0 {
            ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{msg:28} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            )
        } else {
            ProgressBar::no_length().with_style(
                ProgressStyle::with_template("{msg:28} {spinner} {bytes:>10} {bytes_per_sec:>12}")
                    .expect("valid template"),
            )
        };
        multi.add(bar.with_message(message.into()))
    }
}
