//! How far a backfill is, on stderr: a bar redrawn in place when stderr is
//! a terminal, a plain line every so often when it is a log. Other stderr
//! lines go through [`Progress::println`] so that they never land in the
//! middle of the bar.

use std::io::{self, Write};
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

/// How often the bar is redrawn.
const BAR_EVERY: Duration = Duration::from_millis(200);
const BAR_WIDTH: u64 = 24;

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
}

#[derive(Default)]
struct State {
    /// The bar is on screen (the cursor is at its end).
    drawn: bool,
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
        let shared = Arc::new(Shared {
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
    /// at the next redraw.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut state = self.shared.lock();
        Shared::clear(&mut state);
        f()
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
        Shared::clear(&mut self.shared.lock());
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
            self.draw(&mut state);
        }
    }

    fn draw(&self, state: &mut State) {
        let text = status(&self.counts, self.unit, self.started.elapsed());
        let mut stderr = io::stderr().lock();
        // A display that cannot be written is not worth failing for.
        let _ = match self.style {
            Style::Bar => {
                let bar = bar(
                    self.counts.done(),
                    self.counts.listed.load(Ordering::Relaxed),
                );
                state.drawn = true;
                write!(stderr, "\r\x1b[2K[{bar}] {text}")
            }
            Style::Lines(_) => writeln!(stderr, "trailwatch: progress: {text}"),
            Style::Off => Ok(()),
        };
        let _ = stderr.flush();
    }

    fn clear(state: &mut State) {
        if state.drawn {
            let _ = write!(io::stderr(), "\r\x1b[2K");
            state.drawn = false;
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

/// `#########---------------`: the share of the listed objects done.
fn bar(done: u64, listed: u64) -> String {
    let filled = done
        .min(listed)
        .saturating_mul(BAR_WIDTH)
        .checked_div(listed)
        .unwrap_or_default();
    let filled = usize::try_from(filled).unwrap_or_default();
    let width = usize::try_from(BAR_WIDTH).unwrap_or_default();
    format!("{}{}", "#".repeat(filled), "-".repeat(width - filled))
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
    fn the_bar_fills_with_the_share_done() {
        assert_eq!(bar(0, 0), "-".repeat(24));
        assert_eq!(bar(1, 2), format!("{}{}", "#".repeat(12), "-".repeat(12)));
        assert_eq!(bar(9, 3), "#".repeat(24));
    }
}
