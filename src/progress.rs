//! progress: what a long step tells the person watching it. On a terminal, one indicatif bar
//! per job and step (bytes, rate, ETA) drawn above the log; without a terminal (CI logs,
//! `2> build.log`), a plain line every few seconds and no escape codes. `--quiet` hides both.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a line is logged for a step in progress when there is no terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars on stderr (a terminal).
    Bars,
    /// A log line every few seconds.
    Lines,
    /// Nothing.
    Quiet,
}

static MODE: OnceLock<Mode> = OnceLock::new();
static MULTI: OnceLock<MultiProgress> = OnceLock::new();

/// The mode for this process: bars when stderr is a terminal, unless quiet. Set once.
pub fn init(quiet: bool) -> Mode {
    let mode = if quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bars
    } else {
        Mode::Lines
    };
    *MODE.get_or_init(|| mode)
}

fn mode() -> Mode {
    *MODE.get().unwrap_or(&Mode::Lines)
}

fn multi() -> &'static MultiProgress {
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Progress of one step measured in bytes.
#[derive(Debug)]
pub struct Bar {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Bar {
    /// A bar for `label` (`debian12/amd64: downloading`) over `total` bytes.
    pub fn bytes(label: &str, total: u64) -> Bar {
        let bar = (mode() == Mode::Bars).then(|| {
            let b = multi().add(ProgressBar::new(total));
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(label.to_string());
            b
        });
        Bar::with(bar, label, total)
    }

    /// A bar that shows nothing (tests, and steps too small to report).
    pub fn hidden() -> Bar {
        Bar::with(None, "", 0)
    }

    fn with(bar: Option<ProgressBar>, label: &str, total: u64) -> Bar {
        let now = Instant::now();
        Bar { bar, label: label.to_string(), total, done: AtomicU64::new(0), started: now, last_line: Mutex::new(now) }
    }

    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n);
            return;
        }
        if mode() != Mode::Lines || self.label.is_empty() {
            return;
        }
        let Ok(mut last) = self.last_line.lock() else { return };
        if last.elapsed() >= LINE_EVERY {
            *last = Instant::now();
            tracing::info!("{} {}", self.label, self.status(done));
        }
    }

    /// Bytes counted so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// `80.1 MiB of 176.0 MiB, 12.3 MiB/s`.
    fn status(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!("{} of {}, {}/s", mib(done), mib(self.total), mib((done as f64 / secs) as u64))
    }

    /// Remove the bar; returns the totals for the log (`176.0 MiB in 2.1 s, 83.8 MiB/s`).
    pub fn finish(&self) -> String {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
            multi().remove(b);
        }
        let done = self.done();
        let secs = self.started.elapsed().as_secs_f64();
        format!("{} in {secs:.1} s, {}/s", mib(done), mib((done as f64 / secs.max(0.001)) as u64))
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The log's writer: with bars on screen, each line is printed above them (not through them).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if mode() == Mode::Bars {
            if let Some(m) = MULTI.get() {
                return m.suspend(|| std::io::stderr().write(buf));
            }
        }
        std::io::stderr().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_counts_and_reports_totals() {
        let b = Bar::bytes("x: downloading", 3 * 1024 * 1024);
        b.inc(1024 * 1024);
        b.inc(2 * 1024 * 1024);
        assert_eq!(b.done(), 3 * 1024 * 1024);
        assert!(b.status(b.done()).starts_with("3.0 MiB of 3.0 MiB"), "{}", b.status(b.done()));
        assert!(b.finish().starts_with("3.0 MiB in "));
    }
}
