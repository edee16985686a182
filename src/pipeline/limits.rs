//! What one object may cost, and how many threads read it: the one place
//! the scan's threading is decided.

use std::time::{Duration, Instant};

/// Limits that protect a 128 MB Lambda from hostile or broken objects.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single record accepted, in bytes. CloudTrail records are at
    /// most a few hundred KiB; anything far larger is not CloudTrail.
    pub max_record_bytes: usize,
    /// Largest decompressed object accepted (a gzip bomb stops here).
    pub max_decompressed_bytes: u64,
    /// Threads that read one object: 1 does everything on the calling
    /// thread; with 2, another inflates gzip and splits the records while
    /// the calling thread evaluates those some rule may match (the two
    /// share reading the records' heads); with 3 or more, gzip inflates on
    /// a thread of its own as well. 0: as many as the machine has CPUs, up
    /// to 3 (the Lambda function goes by its memory instead, as Lambda
    /// shows more CPUs than it gives time on: `config.rs`).
    pub threads: usize,
    /// Stop reading at this instant (the Lambda function's stop time):
    /// the object ends with [`super::LogError::OutOfTime`].
    pub stop_at: Option<Instant>,
    /// Stop reading an object this long after it was opened (the command
    /// line's `--timeout`).
    pub time_per_object: Option<Duration>,
    /// With more than one thread, the bytes of content read on the calling
    /// thread before the others start ([`ONE_THREAD_FIRST`]); 0 starts
    /// them at once (the tests and the fuzz target, to compare the ways
    /// of reading on small objects).
    pub one_thread_first: u64,
    /// Records are evaluated only when their `eventTime` is in this
    /// window (the command line's `--from` and `--to`); open by default.
    pub event_window: super::EventWindow,
}

/// Content read on the calling thread before the other threads start:
/// about 5 ms of work on one thread, against about 1 ms to start the
/// threads and their buffers (BENCHMARKS.md, "Issue 22: many small
/// objects"), so that more threads are never slower than one on a small
/// object.
pub const ONE_THREAD_FIRST: u64 = 2 << 20;

impl Limits {
    /// The threads to read with ([`Limits::threads`]): 1, 2 or 3.
    fn thread_count(&self) -> usize {
        let n = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        n.clamp(1, 3)
    }

    /// When reading an object opened now must stop, if ever: the earlier
    /// of the stop time and the time per object.
    pub fn stop_for_object(&self) -> Option<Instant> {
        let per_object = self
            .time_per_object
            .and_then(|time| Instant::now().checked_add(time));
        match (self.stop_at, per_object) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether to read with more than the calling thread.
    pub fn parallel(&self) -> bool {
        self.thread_count() >= 2
    }

    /// Whether gzip inflates on a thread of its own from the start. On two
    /// CPUs a third thread costs more than it brings once the two others
    /// share the heads (BENCHMARKS.md, "Threads on two CPUs"); the scan
    /// still moves inflating to one where that pays (`pipeline::Adaptive`).
    pub fn inflate_apart(&self) -> bool {
        self.thread_count() >= 3
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 16 << 20,
            max_decompressed_bytes: 8 << 30,
            threads: 0,
            stop_at: None,
            time_per_object: None,
            one_thread_first: ONE_THREAD_FIRST,
            event_window: super::EventWindow::default(),
        }
    }
}
