//! `trailwatch scan s3://bucket/prefix`: every CloudTrail log object under
//! S3 prefixes, several at a time — a backfill over months of logs.
//!
//! Each object is read as the Lambda function reads one: opened by
//! [`S3Store`] (same errors), downloaded ahead on a thread of its own
//! ([`crate::pipeline::pipe`]) and scanned by [`pipeline::scan`] on a blocking thread. What
//! the function skips is skipped here too, by [`ObjectKind`].
//!
//! Memory stays bounded whatever the number of keys: the listing is read a
//! page at a time into a queue of at most [`QUEUE`] keys, and each of the
//! `concurrency` workers holds one object, read ahead by at most
//! `DOWNLOAD_AHEAD` chunks of `DOWNLOAD_CHUNK` bytes.

pub mod dates;
pub mod digests;
pub mod list;
pub mod progress;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_s3::Client;
use tokio::sync::mpsc;

use self::dates::{KeyTime, Window};
use self::list::Listing;
use crate::alert::Finding;
use crate::object::{ObjectKind, ObjectRef};
use crate::pipeline::pipe::Pipe;
use crate::pipeline::Limits;
use crate::pipeline::{self, ScanReport};
use crate::record::RecordHead;
use crate::rules::{Correlator, RuleSet};
use crate::source::rules_s3::S3Prefix;
use crate::source::s3::{read_ahead, ObjectBody, ObjectStore, S3Store};

/// Keys listed but not yet taken by a worker: about one ListObjectsV2 page,
/// so the listing stays a page ahead and no further.
pub const QUEUE: usize = 1000;
/// Read-ahead per object in flight, in MiB: several typical log objects.
const DOWNLOAD_AHEAD: usize = 4;

/// Why an object listed was not read.
pub const OUTSIDE_DATES: &str = "outside dates";
pub const UNDATED: &str = "undated";

/// What to scan and how.
pub struct Backfill {
    pub rules: Arc<RuleSet>,
    pub window: Window,
    /// Objects read at a time (at least 1).
    pub concurrency: usize,
    pub limits: Limits,
}

/// What a backfill tells whoever runs it, as it happens. Called from the
/// scanning threads.
pub trait Output: Send + Sync {
    /// A finding, as soon as it is found; false stops the backfill (its
    /// findings have nowhere to go).
    fn finding(&self, finding: Finding) -> bool;
    /// An object that could not be read completely, or a listing that
    /// failed: one line naming it and saying why.
    fn problem(&self, line: &str);
    /// Whether [`Output::record`] is to see every record (the summary per
    /// principal): each object is then read on one thread
    /// ([`pipeline::scan_observed`]).
    fn observes_records(&self) -> bool {
        false
    }
    /// The head of each valid record, before its findings are handed on.
    fn record(&self, _head: &RecordHead<'_>) {}
}

/// Live counters (the progress display reads them). Every object listed
/// ends up scanned, failed or skipped, unless the backfill is stopped.
#[derive(Debug, Default)]
pub struct Counts {
    pub listed: AtomicU64,
    pub scanned: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Compressed bytes of the objects read.
    pub bytes: AtomicU64,
    pub records: AtomicU64,
    /// Records outside `scan --from/--to`: read, not evaluated.
    pub outside_window: AtomicU64,
    pub findings: AtomicU64,
    /// Listing is over: `listed` is the total.
    pub listing_done: AtomicBool,
    skipped_by: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counts {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn skip(&self, why: &'static str) {
        *self
            .skipped_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(why)
            .or_default() += 1;
        Counts::add(&self.skipped, 1);
    }

    /// Objects finished one way or another.
    pub fn done(&self) -> u64 {
        Counts::get(&self.scanned) + Counts::get(&self.failed) + Counts::get(&self.skipped)
    }

    fn summary(&self, listing_failed: bool, stopped: bool) -> Summary {
        let listed = Counts::get(&self.listed);
        Summary {
            listed,
            scanned: Counts::get(&self.scanned),
            failed: Counts::get(&self.failed),
            skipped: self
                .skipped_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            unread: listed.saturating_sub(self.done()),
            bytes: Counts::get(&self.bytes),
            records: Counts::get(&self.records),
            outside_window: Counts::get(&self.outside_window),
            findings: Counts::get(&self.findings),
            listing_failed,
            stopped,
        }
    }
}

/// How a backfill ended. `listed = scanned + failed + skipped + unread`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub listed: u64,
    /// Read completely.
    pub scanned: u64,
    /// Not read completely (unreadable, gone, corrupt): reported one by one.
    pub failed: u64,
    /// Not read on purpose, by reason: an [`ObjectKind`] name, [`OUTSIDE_DATES`]
    /// or [`UNDATED`].
    pub skipped: BTreeMap<&'static str, u64>,
    /// Listed but never started, because the backfill was stopped.
    pub unread: u64,
    pub bytes: u64,
    pub records: u64,
    /// Of `records`, those outside `scan --from/--to` (not evaluated).
    pub outside_window: u64,
    pub findings: u64,
    /// Some listing failed: there may be objects it never found.
    pub listing_failed: bool,
    /// Stopped early: the findings had nowhere to go.
    pub stopped: bool,
}

impl Summary {
    /// Every object listed was read, and the listing was complete.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && !self.listing_failed && !self.stopped
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let skipped: u64 = self.skipped.values().sum();
        write!(
            f,
            "{} object(s) listed: {} scanned, {} failed, {skipped} skipped",
            self.listed, self.scanned, self.failed
        )?;
        if skipped > 0 {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(why, n)| format!("{n} {why}"))
                .collect();
            write!(f, " ({})", reasons.join(", "))?;
        }
        if self.unread > 0 {
            write!(f, ", {} not read", self.unread)?;
        }
        write!(f, "; {} record(s)", self.records)?;
        if self.outside_window > 0 {
            write!(f, " ({} outside --from/--to)", self.outside_window)?;
        }
        write!(f, ", {} finding(s)", self.findings)
    }
}

/// Why a listed object is not read, if it is not: what the Lambda function
/// skips, then what the window leaves out.
fn skip_reason(object: &ObjectRef, window: &Window) -> Option<&'static str> {
    let kind = ObjectKind::of(&object.key, object.size);
    if !kind.is_readable() {
        return Some(kind.as_str());
    }
    if window.is_open() {
        return None;
    }
    match KeyTime::of(&object.key) {
        // With dates asked for, an object that has none cannot be placed.
        None => Some(UNDATED),
        Some(time) if !window.contains(time) => Some(OUTSIDE_DATES),
        Some(_) => None,
    }
}

impl Backfill {
    /// Lists the roots one after another and reads what they hold,
    /// `concurrency` objects at a time. Problems go to `out` as they
    /// happen; the backfill goes on past them.
    pub async fn run(
        &self,
        client: &Client,
        roots: &[S3Prefix],
        counts: &Arc<Counts>,
        out: Arc<dyn Output>,
    ) -> Summary {
        let worker = Arc::new(Worker::new(self, client, counts, Arc::clone(&out)));
        let (queue, taken) = mpsc::channel(QUEUE);
        let taken = Arc::new(tokio::sync::Mutex::new(taken));
        let workers: Vec<_> = (0..self.concurrency.max(1))
            .map(|_| tokio::spawn(Arc::clone(&worker).work(Arc::clone(&taken))))
            .collect();
        // The workers own the receiver: when they stop, sending fails.
        drop(taken);
        let mut listing_failed = false;
        for root in roots {
            listing_failed |= self.list(client, root, &worker, &queue).await;
        }
        counts.listing_done.store(true, Ordering::Relaxed);
        drop(queue);
        for handle in workers {
            if let Err(err) = handle.await {
                out.problem(&format!("a worker stopped: {err}"));
            }
        }
        counts.summary(listing_failed, worker.stopped())
    }

    /// Lists one root into the queue; true if the listing failed.
    async fn list(
        &self,
        client: &Client,
        root: &S3Prefix,
        worker: &Worker,
        queue: &mpsc::Sender<ObjectRef>,
    ) -> bool {
        let mut listing = Listing::new(client, root, self.window);
        while let Some(page) = listing.next_page().await {
            let objects = match page {
                Ok(objects) => objects,
                Err(line) => {
                    worker.out.problem(&line);
                    return true;
                }
            };
            for object in objects {
                if worker.stopped() {
                    return false;
                }
                Counts::add(&worker.counts.listed, 1);
                if let Some(why) = skip_reason(&object, &self.window) {
                    worker.counts.skip(why);
                } else if queue.send(object).await.is_err() {
                    return false;
                }
            }
        }
        false
    }
}

/// What every worker shares.
struct Worker {
    store: S3Store,
    rules: Arc<RuleSet>,
    limits: Limits,
    /// Thresholds count across objects, so with any loaded the objects
    /// share one correlator and their scans take turns (downloads still
    /// overlap); without, each object gets its own and scans run side by side.
    correlator: Option<Arc<Mutex<Correlator>>>,
    counts: Arc<Counts>,
    out: Arc<dyn Output>,
    stop: AtomicBool,
}

impl Worker {
    fn new(
        backfill: &Backfill,
        client: &Client,
        counts: &Arc<Counts>,
        out: Arc<dyn Output>,
    ) -> Worker {
        let correlations = backfill.rules.correlations();
        Worker {
            store: S3Store::new(client.clone()),
            rules: Arc::clone(&backfill.rules),
            limits: backfill.limits,
            correlator: (!correlations.is_empty())
                .then(|| Arc::new(Mutex::new(correlations.correlator()))),
            counts: Arc::clone(counts),
            out,
            stop: AtomicBool::new(false),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    async fn work(self: Arc<Self>, taken: Arc<tokio::sync::Mutex<mpsc::Receiver<ObjectRef>>>) {
        while !self.stopped() {
            // The lock is held only while waiting for the next key.
            let next = taken.lock().await.recv().await;
            let Some(object) = next else { return };
            self.read(&object).await;
        }
    }

    /// Reads one object; counts it scanned or failed (reported).
    async fn read(self: &Arc<Self>, object: &ObjectRef) {
        let body = match self.store.open(object).await {
            Ok(body) => body,
            // Transient errors were retried by the SDK already.
            Err(err) => return self.fail(&err.to_string()),
        };
        let report = match self.scan(object, body).await {
            Ok(report) => report,
            Err(line) => return self.fail(&line),
        };
        Counts::add(&self.counts.records, report.records);
        Counts::add(&self.counts.outside_window, report.outside_window);
        Counts::add(&self.counts.bytes, object.size.unwrap_or_default());
        if report.stopped {
            // Neither scanned nor failed: counted as not read.
            self.stop.store(true, Ordering::Relaxed);
            return;
        }
        match report.error {
            Some(err) => self.fail(&format!("{object}: {err}")),
            None => Counts::add(&self.counts.scanned, 1),
        }
    }

    fn fail(&self, line: &str) {
        Counts::add(&self.counts.failed, 1);
        self.out.problem(line);
    }

    /// The body through the core on a blocking thread, the download running
    /// ahead on a thread of its own, as the Lambda function reads an object.
    async fn scan(
        self: &Arc<Self>,
        object: &ObjectRef,
        body: ObjectBody,
    ) -> Result<ScanReport, String> {
        let download = read_ahead(object, body, DOWNLOAD_AHEAD)?;
        let worker = Arc::clone(self);
        let label = object.to_string();
        tokio::task::spawn_blocking(move || worker.scan_now(download, &label))
            .await
            .map_err(|err| format!("{object}: the scan task failed: {err}"))
    }

    fn scan_now(&self, source: Pipe, label: &str) -> ScanReport {
        let (mut own, mut shared);
        let correlator = match &self.correlator {
            Some(correlator) => {
                shared = correlator.lock().unwrap_or_else(PoisonError::into_inner);
                &mut *shared
            }
            None => {
                own = self.rules.correlations().correlator();
                &mut own
            }
        };
        let on_finding = |finding| {
            Counts::add(&self.counts.findings, 1);
            self.out.finding(finding)
        };
        if self.out.observes_records() {
            let mut observer = |head: &RecordHead<'_>| self.out.record(head);
            return pipeline::scan_observed(
                source,
                label,
                &self.rules,
                correlator,
                self.limits,
                &mut observer,
                on_finding,
            );
        }
        pipeline::scan(
            source,
            label,
            &self.rules,
            correlator,
            self.limits,
            on_finding,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_skipped_as_the_function_skips_them_then_by_date() {
        let bound = |s: &str| dates::parse_bound(s).ok();
        let march = Window::new(bound("2024-03-01"), bound("2024-04-01")).expect("window");
        let object = |key: &str, size| ObjectRef {
            bucket: "b".to_string(),
            key: key.to_string(),
            size: Some(size),
        };
        let log = "AWSLogs/1/CloudTrail/us-east-1/2024/03/05/1_CloudTrail_us-east-1_20240305T0815Z_x.json.gz";
        let april = "AWSLogs/1/CloudTrail/us-east-1/2024/04/01/1_CloudTrail_us-east-1_20240401T0000Z_x.json.gz";
        let digest = "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/05/1_CloudTrail-Digest_us-east-1_x_20240305T0815Z.json.gz";
        let cases = [
            (object(log, 10), Window::default(), None),
            (object(log, 10), march, None),
            (object(log, 0), march, Some("empty")),
            (object(digest, 10), march, Some("digest")),
            (object(april, 10), march, Some(OUTSIDE_DATES)),
            (object(april, 10), Window::default(), None),
            (object("uploads/log.json.gz", 10), march, Some(UNDATED)),
            (object("uploads/log.json.gz", 10), Window::default(), None),
            (object("AWSLogs/1/CloudTrail/", 0), march, Some("folder")),
        ];
        for (object, window, want) in cases {
            assert_eq!(
                skip_reason(&object, &window),
                want,
                "{} {window:?}",
                object.key
            );
        }
    }

    #[test]
    fn the_summary_reconciles() {
        let summary = Summary {
            listed: 12,
            scanned: 7,
            failed: 1,
            skipped: BTreeMap::from([("digest", 2), (OUTSIDE_DATES, 1)]),
            unread: 1,
            bytes: 0,
            records: 40,
            outside_window: 0,
            findings: 3,
            listing_failed: false,
            stopped: true,
        };
        assert_eq!(
            summary.to_string(),
            "12 object(s) listed: 7 scanned, 1 failed, 3 skipped (2 digest, 1 outside dates), 1 not read; 40 record(s), 3 finding(s)"
        );
        assert!(!summary.is_complete());
    }
}
