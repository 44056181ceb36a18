//! progress: what a long step tells the person watching it. On a terminal, one indicatif bar
//! per job and step drawn below the log: a spinner with the phase and elapsed time while
//! resolving, bytes, rate and ETA while downloading, packages read while indexing. Without a
//! terminal (CI logs, `2> build.log`), a plain line every few seconds and no escape codes.
//! `--quiet` hides both.

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

/// What a bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Bytes,
    /// Items, named in the plural (`packages`).
    Items(&'static str),
}

/// Progress of one step.
#[derive(Debug)]
pub struct Bar {
    bar: Option<ProgressBar>,
    unit: Unit,
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Bar {
    /// A bar for `label` (`debian12/amd64: downloading`) over `total` bytes.
    pub fn bytes(label: &str, total: u64) -> Bar {
        let template = "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";
        Bar::with(drawn(label, Some(total), template), Unit::Bytes, label, total)
    }

    /// A bar for `label` (`debian12/amd64: indexing`) over `total` items called `unit`.
    pub fn items(label: &str, total: u64, unit: &'static str) -> Bar {
        let template = format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} ETA {{eta}}");
        Bar::with(drawn(label, Some(total), &template), Unit::Items(unit), label, total)
    }

    /// A spinner for a step of unknown length (`debian12/amd64: resolving`): its phase
    /// (see [`Bar::phase`]) and the time it has taken. Only ever drawn on a terminal: the
    /// log says what each phase does.
    pub fn spinner(label: &str, phase: &str) -> Bar {
        let bar = drawn(label, None, "{spinner} {prefix} {msg} ({elapsed})");
        if let Some(b) = &bar {
            b.set_message(phase.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
        }
        Bar::with(bar, Unit::Items("steps"), "", 0)
    }

    /// The phase a spinner shows (`apt-get update`).
    pub fn phase(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
        }
    }

    /// A bar that shows nothing (tests, and steps too small to report).
    pub fn hidden() -> Bar {
        Bar::with(None, Unit::Bytes, "", 0)
    }

    fn with(bar: Option<ProgressBar>, unit: Unit, label: &str, total: u64) -> Bar {
        let now = Instant::now();
        let (label, done, last_line) = (label.to_string(), AtomicU64::new(0), Mutex::new(now));
        Bar { bar, unit, label, total, done, started: now, last_line }
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

    /// `80.1 MiB of 176.0 MiB, 12.3 MiB/s`, `120 of 342 packages`.
    fn status(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        match self.unit {
            Unit::Bytes => format!("{} of {}, {}/s", mib(done), mib(self.total), mib((done as f64 / secs) as u64)),
            Unit::Items(unit) => format!("{done} of {} {unit}", self.total),
        }
    }

    /// Remove the bar; returns the totals for the log (`176.0 MiB in 2.1 s, 83.8 MiB/s`,
    /// `342 packages in 0.3 s`).
    pub fn finish(&self) -> String {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
            multi().remove(b);
        }
        let done = self.done();
        let secs = self.started.elapsed().as_secs_f64();
        match self.unit {
            Unit::Bytes => format!("{} in {secs:.1} s, {}/s", mib(done), mib((done as f64 / secs.max(0.001)) as u64)),
            Unit::Items(unit) => format!("{done} {unit} in {secs:.1} s"),
        }
    }
}

impl Drop for Bar {
    /// A bar of a step that failed half-way does not stay on screen.
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
            multi().remove(&b);
        }
    }
}

/// An indicatif bar (or spinner, without `total`) for `label` when bars are drawn.
fn drawn(label: &str, total: Option<u64>, template: &str) -> Option<ProgressBar> {
    (mode() == Mode::Bars).then(|| {
        let b = multi().add(total.map_or_else(ProgressBar::new_spinner, ProgressBar::new));
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        b.set_style(style.progress_chars("=> "));
        b.set_prefix(label.to_string());
        b
    })
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
        let p = Bar::items("x: indexing", 342, "packages");
        p.inc(120);
        assert_eq!(p.status(p.done()), "120 of 342 packages");
        assert!(p.finish().starts_with("120 packages in "), "{}", p.finish());
    }
}
