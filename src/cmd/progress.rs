//! The audit's progress bar on stderr: the history source reports its stages and the work done
//! through [`Progress`]; drawing it is the command's business.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::source::history::{Progress, Unit};

/// The progress bar on stderr (a terminal only): commits walked and diffed, then blobs and
/// bytes scanned, with the rate. Disabled, it draws nothing.
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
    bytes: AtomicU64,
}

impl Bar {
    /// A bar drawn on stderr if `enabled` (the command decides: a terminal, not `--quiet`).
    pub fn new(enabled: bool) -> Self {
        Bar {
            bar: enabled.then(|| {
                let b = indicatif::ProgressBar::with_draw_target(
                    None,
                    indicatif::ProgressDrawTarget::stderr(),
                );
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            }),
            bytes: AtomicU64::new(0),
        }
    }
}

impl Progress for Bar {
    fn phase(&self, what: &str, total: Option<u64>, unit: Unit) {
        let Some(b) = &self.bar else {
            return;
        };
        b.reset();
        b.set_length(total.unwrap_or(0));
        let template = match (total, unit) {
            (None, _) => "{spinner} {msg}: {human_pos} commits",
            (Some(_), Unit::Commits) => {
                "{spinner} {msg} {wide_bar} {human_pos}/{human_len} commits, {eta}"
            }
            (Some(_), Unit::Blobs) => {
                "{spinner} {msg} {wide_bar} {human_pos}/{human_len} blobs, {eta}"
            }
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(what.to_owned());
    }

    fn inc(&self, n: u64, bytes: u64) {
        let Some(b) = &self.bar else {
            return;
        };
        b.inc(n);
        if bytes > 0 {
            let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
            let total = before + bytes;
            if before >> 26 != total >> 26 {
                let secs = b.elapsed().as_secs_f64().max(0.001);
                b.set_message(format!(
                    "scanning blobs: {}, {}/s",
                    indicatif::HumanBytes(total),
                    indicatif::HumanBytes((total as f64 / secs) as u64)
                ));
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
