//! Progress bars (indicatif) with rate and ETA; hidden under `--quiet` or when stderr is not a terminal, in which
//! case one summary line is printed at the end instead (unless quiet).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `len` items.
pub struct Progress {
    bar: ProgressBar,
    name: String,
    unit: &'static str,
    quiet: bool,
    start: Instant,
}

impl Progress {
    pub fn new(len: u64, name: &str, unit: &'static str, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let template = format!("{{msg:<24}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}");
            let style = ProgressStyle::with_template(&template)
                .expect("valid template")
                .progress_chars("=> ");
            ProgressBar::new(len).with_style(style)
        };
        bar.set_message(name.to_string());
        Progress {
            bar,
            name: name.to_string(),
            unit,
            quiet,
            start: Instant::now(),
        }
    }

    /// A progress bar over `len` bytes, shown as MiB/GiB with the transfer rate.
    pub fn bytes(len: u64, name: &str, quiet: bool) -> Self {
        let progress = Progress::new(len, name, "bytes", quiet);
        if !progress.bar.is_hidden() {
            let style = ProgressStyle::with_template(
                "{msg:<24} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> ");
            progress.bar.set_style(style);
        }
        progress
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the position (items done so far).
    pub fn set(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Extra text after the name, e.g. the current loss.
    pub fn set_status(&self, status: &str) {
        self.bar.set_message(format!("{} {status}", self.name));
    }

    pub fn finish(self) {
        let secs = self.start.elapsed().as_secs_f64();
        let n = self.bar.position();
        self.bar.finish_and_clear();
        if !self.quiet {
            eprintln!(
                "{}: {n} {} in {secs:.1} s ({:.1}/s)",
                self.name,
                self.unit,
                n as f64 / secs.max(1e-9)
            );
        }
    }
}
