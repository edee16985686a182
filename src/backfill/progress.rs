//! How far a backfill is, on stderr: an `indicatif` bar redrawn in place
//! when stderr is a terminal, a plain line every so often when it is a
//! log. Other stderr lines go through [`Progress::println`] so that they
//! never land in the middle of the bar.

use std::io::{self, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::Counts;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
    /// A line every so often (stderr is a file or a pipe).
    Lines(Duration),
    Off,
}

/// What the objects counted are: logs scanned, or digests verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Logs,
    Digests,
}

/// How often the bar is given the counts.
const BAR_EVERY: Duration = Duration::from_millis(200);
/// The bar: the share of the listed objects done, then the counts.
const BAR_TEMPLATE: &str = "[{bar:24}] {msg}";

/// The progress display, and the way to print other lines around it.
pub struct Progress {
    shared: Arc<Shared>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    counts: Arc<Counts>,
    style: Style,
    unit: Unit,
    started: Instant,
    state: Mutex<State>,
    wake: Condvar,
    /// The bar, for [`Style::Bar`]: indicatif redraws it in place and
    /// takes it off the screen for other lines.
    bar: Option<ProgressBar>,
}

#[derive(Default)]
struct State {
    finished: bool,
}

impl Progress {
    /// Starts showing the counts of logs scanned. Progress is a
    /// convenience: if its thread cannot start, the backfill runs without it.
    pub fn start(counts: Arc<Counts>, style: Style) -> Progress {
        Progress::start_for(counts, style, Unit::Logs)
    }

    /// [`Progress::start`], the counts being of `unit`.
    pub fn start_for(counts: Arc<Counts>, style: Style, unit: Unit) -> Progress {
        Progress::start_drawn(counts, style, unit, ProgressDrawTarget::stderr())
    }

    /// [`Progress::start_for`], a bar drawn to `target` (the tests' hidden
    /// one).
    fn start_drawn(
        counts: Arc<Counts>,
        style: Style,
        unit: Unit,
        target: ProgressDrawTarget,
    ) -> Progress {
        let bar = (style == Style::Bar).then(|| {
            let look = ProgressStyle::with_template(BAR_TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#-");
            ProgressBar::with_draw_target(None, target).with_style(look)
        });
        let shared = Arc::new(Shared {
            bar,
            counts,
            style,
            unit,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let ticker = (style != Style::Off)
            .then(|| {
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name("trailwatch-progress".to_string())
                    .spawn(move || shared.tick())
                    .ok()
            })
            .flatten();
        Progress {
            shared,
            ticker: Mutex::new(ticker),
        }
    }

    /// Prints a line on stderr, clearing the bar first.
    pub fn println(&self, line: &str) {
        self.suspend(|| eprintln!("{line}"));
    }

    /// Runs `f` (which prints) with the bar off the screen; it comes back
    /// at once.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.shared.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Stops the display and clears the bar. Later calls do nothing.
    pub fn finish(&self) {
        self.shared.lock().finished = true;
        self.shared.wake.notify_all();
        let ticker = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(ticker) = ticker {
            let _ = ticker.join();
        }
        if let Some(bar) = &self.shared.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The display thread: redraws until finished.
    fn tick(&self) {
        let every = match self.style {
            Style::Bar => BAR_EVERY,
            Style::Lines(every) => every,
            Style::Off => return,
        };
        let mut state = self.lock();
        loop {
            state = self
                .wake
                .wait_timeout_while(state, every, |state| !state.finished)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if state.finished {
                return;
            }
            self.draw();
        }
    }

    fn draw(&self) {
        let text = status(&self.counts, self.unit, self.started.elapsed());
        if let Some(bar) = &self.bar {
            bar.set_message(text);
            // Nothing listed yet: no length, not a full bar of nothing.
            match self.counts.listed.load(Ordering::Relaxed) {
                0 => bar.unset_length(),
                listed => bar.set_length(listed),
            }
            bar.set_position(self.counts.done());
            return;
        }
        if let Style::Lines(_) = self.style {
            let mut stderr = io::stderr().lock();
            // A display that cannot be written is not worth failing for.
            let _ = writeln!(stderr, "trailwatch: progress: {text}");
            let _ = stderr.flush();
        }
    }
}

/// `120/500+ objects, 12.3 MB, 4 finding(s), 0 failed, 40/s`: done of
/// listed so far (`+` while listing goes on); for digests,
/// `120/500+ digests, 1440 log(s) checked, 1 problem(s), 0 not verifiable, 40/s`.
fn status(counts: &Counts, unit: Unit, elapsed: Duration) -> String {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let done = counts.done();
    let more = if counts.listing_done.load(Ordering::Relaxed) {
        ""
    } else {
        "+"
    };
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    if unit == Unit::Digests {
        // (What verifying counts: `records` are the logs checked.)
        return format!(
            "{done}/{}{more} digests, {} log(s) checked, {} problem(s), {} not verifiable, {rate:.0}/s",
            load(&counts.listed),
            load(&counts.records),
            load(&counts.findings),
            load(&counts.failed),
        );
    }
    format!(
        "{done}/{}{more} objects, {}, {} finding(s), {} failed, {rate:.0}/s",
        load(&counts.listed),
        megabytes(load(&counts.bytes)),
        load(&counts.findings),
        load(&counts.failed),
    )
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_reads_done_of_listed_so_far() {
        let counts = Counts::default();
        counts.listed.store(500, Ordering::Relaxed);
        counts.scanned.store(100, Ordering::Relaxed);
        counts.skipped.store(20, Ordering::Relaxed);
        counts.bytes.store(12_345_678, Ordering::Relaxed);
        counts.findings.store(4, Ordering::Relaxed);
        assert_eq!(
            status(&counts, Unit::Logs, Duration::from_secs(3)),
            "120/500+ objects, 12.3 MB, 4 finding(s), 0 failed, 40/s"
        );
        counts.records.store(1440, Ordering::Relaxed);
        assert_eq!(
            status(&counts, Unit::Digests, Duration::from_secs(3)),
            "120/500+ digests, 1440 log(s) checked, 4 problem(s), 0 not verifiable, 40/s"
        );
        counts.listing_done.store(true, Ordering::Relaxed);
        let status = status(&counts, Unit::Logs, Duration::from_secs(3));
        assert!(status.starts_with("120/500 objects"), "{status}");
    }

    #[test]
    fn the_bar_follows_the_counts_and_lines_pass_it() {
        let counts = Arc::new(Counts::default());
        counts.listed.store(4, Ordering::Relaxed);
        counts.scanned.store(1, Ordering::Relaxed);
        let progress = Progress::start_drawn(
            Arc::clone(&counts),
            Style::Bar,
            Unit::Logs,
            ProgressDrawTarget::hidden(),
        );
        progress.shared.draw();
        let bar = progress.shared.bar.clone().expect("a bar");
        assert_eq!((bar.position(), bar.length()), (1, Some(4)));
        assert!(
            bar.message().starts_with("1/4+ objects"),
            "{}",
            bar.message()
        );
        // Printing around the bar runs what prints, and returns its value.
        assert_eq!(progress.suspend(|| 7), 7);
        progress.finish();
        assert!(bar.is_finished());
        // Lines and off: no bar.
        let lines = Progress::start_for(counts, Style::Off, Unit::Logs);
        assert!(lines.shared.bar.is_none());
    }
}
