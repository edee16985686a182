//! One log object through the whole core: bytes -> records -> rules ->
//! alerts. Synchronous and free of AWS: the Lambda runs it on a blocking
//! thread over the S3 body, the CLI over files.

mod batch;
mod buffer;
pub mod decode;
mod evaluate;
mod limits;
pub mod pipe;
pub mod split;
mod window;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::alert::Finding;
use crate::record::RecordHead;
use crate::rules::{Correlator, RuleSet};
use batch::{Batch, Heads, Splitter, Within};
pub use decode::LogError;
use evaluate::Evaluation;
pub use limits::{Limits, ONE_THREAD_FIRST};
use split::Records;
pub use window::EventWindow;

/// What reading one object found. Records read = records evaluated +
/// records invalid, always: a record is never silently dropped.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Records found in the object.
    pub records: u64,
    /// Records evaluated against the rules.
    pub evaluated: u64,
    /// Records that were not valid JSON objects and could not be evaluated.
    pub invalid: u64,
    /// Records evaluated against no rule: their `eventTime` is outside the
    /// scan's window ([`Limits::event_window`]), or they have none.
    pub outside_window: u64,
    /// Matches per rule id.
    pub matches: BTreeMap<String, u64>,
    /// Findings handed to the caller (rules matched, thresholds reached).
    pub alerts: u64,
    /// The latest `eventTime` among the records read (CloudTrail writes
    /// ISO 8601 UTC, so text order is time order).
    pub newest_event_time: Option<String>,
    /// The caller asked to stop before the end of the object.
    pub stopped: bool,
    /// Why reading stopped early or records were unreadable, if it did.
    pub error: Option<ScanError>,
}

/// Why an object could not be read completely.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("{count} record(s) are not valid JSON; the first, record {index}: {message}")]
    InvalidRecords {
        count: u64,
        index: u64,
        message: String,
    },
}

impl ScanReport {
    /// Keeps the latest of the times as CloudTrail writes them.
    fn note_event_time(&mut self, time: &str) {
        keep_latest(&mut self.newest_event_time, time);
    }
}

/// Keeps in `newest` the later of it and `time` (CloudTrail's times are
/// ISO 8601 UTC: text order is time order).
fn keep_latest(newest: &mut Option<String>, time: &str) {
    if newest.as_deref().is_none_or(|kept| time > kept) {
        *newest = Some(time.to_string());
    }
}

impl ScanError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ScanError::Log(e) if e.is_transient())
    }
}

/// Reads one object and evaluates every record, handing each finding to
/// `on_finding` as soon as it is found, so memory does not grow with the
/// number of matches. `on_finding` returns false to stop reading (its
/// consumer has failed). Findings for records read before an error are
/// delivered: a truncated log still reports what it holds.
///
/// With one thread each record is evaluated as soon as it is split. With
/// two or more ([`Limits::threads`]) the records are split and their heads
/// read on a thread of their own while the calling thread evaluates the
/// ones some rule may match; findings come in log order either way.
pub fn scan<R: Read + Send + 'static>(
    source: R,
    label: &str,
    rules: &RuleSet,
    correlator: &mut Correlator,
    limits: Limits,
    on_finding: impl FnMut(Finding) -> bool,
) -> ScanReport {
    scan_with(
        source,
        label,
        rules,
        correlator,
        limits,
        Shedding::Adaptive,
        None,
        on_finding,
    )
}

/// Sees the head of every valid record of a scan, before the rules run on
/// it (so before its findings are handed on).
pub type Observer<'o> = &'o mut dyn FnMut(&RecordHead<'_>);

/// [`scan`], with `observer` shown the head of every record whose head
/// reads and whose `eventTime` is in [`Limits::event_window`], before the
/// rules run on it (the summary per principal reads
/// what it counts from them, in the same pass as the rules; a record a
/// rule then finds a bad value in is seen, and counted invalid in the
/// report). Read on one thread whatever [`Limits::threads`] says: the
/// batches of the threaded path keep only the records some rule may
/// match, and the rest would never be seen.
pub fn scan_observed<R: Read + Send + 'static>(
    source: R,
    label: &str,
    rules: &RuleSet,
    correlator: &mut Correlator,
    limits: Limits,
    observer: Observer<'_>,
    on_finding: impl FnMut(Finding) -> bool,
) -> ScanReport {
    scan_with(
        source,
        label,
        rules,
        correlator,
        limits,
        Shedding::Adaptive,
        Some(observer),
        on_finding,
    )
}

/// The records of the log object `source`, read within `limits`; gzip
/// inflates on a thread of its own from the start when they give three
/// threads ([`Limits::inflate_apart`]), or later if `Adaptive` says so.
pub fn open_log<R: Read + Send + 'static>(source: R, limits: Limits) -> Records {
    let content = decode::Content::open(source, &limits, limits.inflate_apart());
    Records::new(content, limits)
}

/// The records of the log object `source` read through small buffers, to
/// look at the first: only about that much is inflated.
pub fn peek_log<R: Read + Send + 'static>(source: R, limits: Limits) -> Records {
    let content = decode::Content::open_buffered(source, &limits, false, PEEK_BUFFER);
    Records::new(content, limits)
}

/// Buffers of [`peek_log`]: a CloudTrail record is about 1.5 KB.
const PEEK_BUFFER: usize = 4 << 10;

/// [`scan`], the heads read as `shedding` says once the threads started;
/// with an `observer`, on one thread ([`scan_observed`]).
#[allow(clippy::too_many_arguments)]
fn scan_with<R: Read + Send + 'static>(
    source: R,
    label: &str,
    rules: &RuleSet,
    correlator: &mut Correlator,
    limits: Limits,
    shedding: Shedding,
    observer: Option<Observer<'_>>,
    mut on_finding: impl FnMut(Finding) -> bool,
) -> ScanReport {
    // Threads are started only once the object proves large enough to
    // repay them: most log objects are a few KB, and starting threads and
    // their buffers costs more than reading those on one.
    let content = decode::Content::open(source, &limits, false);
    let mut splitter = Splitter::new(Records::new(content, limits), rules);
    let observed = observer.is_some();
    let mut evaluation = Evaluation::new(label, rules, correlator, limits.event_window);
    if let Some(observer) = observer {
        // Coerced here to the evaluation's lifetime (not through `Option`).
        evaluation.observer = Some(observer);
    }
    // One thread: no batches, each record evaluated where it was read, so
    // that its head read can build `userIdentity` for the rules (a value
    // borrowed from the inflate buffer, which a batch's copy of the record
    // would leave behind).
    let alone = if limits.parallel() && !observed {
        limits.one_thread_first
    } else {
        u64::MAX
    };
    let within = splitter.each_record_within(alone, |index, bytes, tokens| {
        evaluation.take_record(index, bytes, tokens, &mut on_finding)
    });
    let error = match within {
        Within::Ended(error) => error,
        Within::Grown => {
            if limits.inflate_apart() {
                splitter.inflate_apart();
            }
            split_on_a_thread(splitter, &mut evaluation, shedding, &mut on_finding)
        }
    };
    evaluation.finish();
    let Evaluation {
        mut report,
        first_invalid,
        ..
    } = evaluation;
    // Once the consumer has stopped, how the rest of the log would have
    // ended is no longer news.
    if !report.stopped {
        report.error = error.map(ScanError::from);
    }
    if report.error.is_none() {
        if let Some((index, message)) = first_invalid {
            report.error = Some(ScanError::InvalidRecords {
                count: report.invalid,
                index,
                message,
            });
        }
    }
    report
}

/// Batches waiting between the two halves: memory stays flat, and the
/// threads have slack enough not to wait on each other (four against two:
/// BENCHMARKS.md, "Threads on two CPUs").
const BATCHES_AHEAD: usize = 4;

/// Who reads the heads of the records in the splitter's next batch.
/// Reading heads costs about as much as inflating: on two CPUs the
/// splitting thread, which inflates too, reads them while the evaluation
/// keeps up and leaves them to it once it runs dry, which beats inflating
/// on a third thread where the evaluation is busy (every SigmaHQ rule on).
/// Where the evaluation keeps up even so (few records for it, as with the
/// built-in rules alone), the splitter is the slower half whoever reads
/// the heads, and a third thread is faster: then inflating moves to one
/// (figures in BENCHMARKS.md, "Threads on two CPUs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shedding {
    /// As the queue between the halves says ([`Adaptive`]).
    Adaptive,
    /// Always on the splitting thread, or always on the evaluating one
    /// (the tests' fixed choices).
    #[cfg(test)]
    Fixed(Heads),
}

impl Shedding {
    /// The heads' reader when it is fixed.
    fn fixed(self) -> Option<Heads> {
        match self {
            Shedding::Adaptive => None,
            #[cfg(test)]
            Shedding::Fixed(heads) => Some(heads),
        }
    }
}

/// Batches in a row whose heads were left to the evaluation, and the
/// queue never full, before inflating moves to a thread of its own: far
/// more than the 10 to 15 seen between full queues where evaluating is
/// the slower half.
const CALM_BATCHES: usize = 64;

/// [`Shedding::Adaptive`]: the evaluation is idle at first; a full queue
/// says it is the slower half, an empty one that the splitter is.
#[derive(Debug)]
struct Adaptive {
    heads: Heads,
    /// Batches sent in a row, heads left to the evaluation, none to a
    /// full queue.
    calm: usize,
    /// Inflating is on a thread of its own: the splitter reads the heads.
    apart: bool,
}

impl Adaptive {
    fn new(inflating_apart: bool) -> Adaptive {
        Adaptive {
            heads: if inflating_apart {
                Heads::Now
            } else {
                Heads::Later
            },
            calm: 0,
            apart: inflating_apart,
        }
    }

    /// A batch was handed on: `waiting` batches were waiting before it;
    /// `full`, the queue had no room for it. True when inflating should
    /// move to a thread of its own ([`Adaptive::moved`]).
    fn sent(&mut self, waiting: usize, full: bool) -> bool {
        if self.apart {
            return false;
        }
        if full {
            self.heads = Heads::Now;
            self.calm = 0;
        } else if waiting == 0 {
            self.heads = Heads::Later;
        }
        if self.heads == Heads::Later {
            self.calm += 1;
        }
        self.calm >= CALM_BATCHES
    }

    /// Inflating moved to a thread of its own, or could not (plain JSON):
    /// then the heads go on as before.
    fn moved(&mut self, moved: bool) {
        if moved {
            *self = Adaptive::new(true);
        } else {
            self.calm = 0;
        }
    }
}

/// Runs the splitter on a scoped thread, feeding `evaluation` on this one;
/// returns why the log ended early, if it did.
fn split_on_a_thread(
    mut splitter: Splitter<'_>,
    evaluation: &mut Evaluation<'_>,
    shedding: Shedding,
    on_finding: &mut impl FnMut(Finding) -> bool,
) -> Option<LogError> {
    splitter.find_identity(evaluation.finds_identity());
    // Batches handed on and not yet taken.
    let waiting = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (batches, arriving) = mpsc::sync_channel::<Batch>(BATCHES_AHEAD);
        // Emptied batches go back to be filled again.
        let (emptied, returned) = mpsc::sync_channel::<Batch>(BATCHES_AHEAD + 2);
        let waiting = &waiting;
        let spawned = std::thread::Builder::new()
            .name("trailwatch-split".to_string())
            .spawn_scoped(scope, move || {
                split(splitter, shedding, &batches, &returned, waiting)
            });
        let splitting = match spawned {
            Ok(handle) => handle,
            // The machine is out of threads: a transient failure (retry),
            // not a fault of the object.
            Err(err) => return Some(LogError::Source(err)),
        };
        for mut batch in arriving.iter() {
            waiting.fetch_sub(1, Ordering::Relaxed);
            if !evaluation.take(&mut batch, on_finding) {
                break;
            }
            // The splitter may have ended; then the batch is dropped.
            let _ = emptied.try_send(batch);
        }
        drop(arriving);
        splitting.join().unwrap_or_else(|_| {
            Some(LogError::Source(std::io::Error::other(
                "the thread splitting the records stopped unexpectedly",
            )))
        })
    })
}

/// The splitting thread: batches into `batches` until the log ends (then
/// why it ended early, if it did) or the evaluation stops taking them.
fn split(
    mut splitter: Splitter<'_>,
    shedding: Shedding,
    batches: &mpsc::SyncSender<Batch>,
    returned: &mpsc::Receiver<Batch>,
    waiting: &AtomicUsize,
) -> Option<LogError> {
    let mut adaptive = Adaptive::new(splitter.inflating_apart());
    loop {
        let heads = shedding.fixed().unwrap_or(adaptive.heads);
        let spare = returned.try_recv().unwrap_or_default();
        let Some(batch) = splitter.next_batch(spare, heads) else {
            return splitter.into_error();
        };
        let before = waiting.fetch_add(1, Ordering::Relaxed);
        let full = match batches.try_send(batch) {
            Ok(()) => false,
            Err(mpsc::TrySendError::Full(batch)) => {
                // The evaluation stopped: nothing more to read.
                if batches.send(batch).is_err() {
                    return None;
                }
                true
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return None,
        };
        if adaptive.sent(before, full) {
            adaptive.moved(splitter.inflate_apart());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::rules::RuleConfig;
    use std::io::Cursor;

    fn rules() -> RuleSet {
        RuleSet::load(&RuleConfig::default()).expect("built-in rules load")
    }

    /// The built-in pack and the repository's SigmaHQ rules.
    pub(super) fn sigmahq_rules() -> RuleSet {
        RuleSet::load(&RuleConfig {
            dirs: vec!["rules/sigmahq".into()],
            ..RuleConfig::default()
        })
        .expect("the SigmaHQ rules load")
    }

    fn scan_str(text: &str) -> (ScanReport, Vec<Alert>) {
        let mut alerts = Vec::new();
        let rules = rules();
        let report = scan(
            Cursor::new(text.as_bytes().to_vec()),
            "test.json",
            &rules,
            &mut rules.correlations().correlator(),
            Limits::default(),
            |finding| {
                alerts.push(finding.alert());
                true
            },
        );
        (report, alerts)
    }

    #[test]
    fn version_suffixed_names_match_and_alerts_keep_the_original() {
        let (report, alerts) = scan_str(
            r#"{"Records":[{"eventID":"1","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction20150331","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}}]}"#,
        );
        assert!(report.error.is_none(), "{:?}", report.error);
        assert_eq!((report.records, report.evaluated, report.alerts), (1, 1, 1));
        let alert = alerts.first().expect("one alert");
        assert_eq!(alert.event_name.as_deref(), Some("DeleteFunction20150331"));
        assert_eq!(alert.source, "test.json");
    }

    #[test]
    fn invalid_records_are_counted_and_the_rest_evaluated() {
        let (report, alerts) = scan_str(
            r#"{"Records":[{"a":tru},{"eventID":"2","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction20150331"},{"b":[1,]}]}"#,
        );
        assert_eq!(
            (report.records, report.evaluated, report.invalid),
            (3, 1, 2)
        );
        assert_eq!((report.alerts, alerts.len()), (1, 1));
        let err = report.error.expect("invalid records reported").to_string();
        assert!(
            err.starts_with("2 record(s) are not valid JSON; the first, record 0:"),
            "{err}"
        );
    }

    #[test]
    fn the_consumer_can_stop_the_scan() {
        let log = r#"{"Records":[{"eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction"},{"eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction"}]}"#;
        let rules = rules();
        let report = scan(
            Cursor::new(log.as_bytes().to_vec()),
            "t",
            &rules,
            &mut rules.correlations().correlator(),
            Limits::default(),
            |_| false,
        );
        assert!(report.stopped);
        assert_eq!((report.records, report.alerts), (1, 1));
    }

    #[test]
    fn alerts_before_a_truncation_are_kept() {
        let (report, alerts) = scan_str(
            r#"{"Records":[{"eventID":"1","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction"},{"eventID":"2","#,
        );
        assert_eq!(alerts.len(), 1);
        assert!(matches!(
            report.error,
            Some(ScanError::Log(LogError::Truncated(_)))
        ));
    }

    /// A generated log of `records` records, gzipped.
    pub(super) fn generated(records: u64) -> Vec<u8> {
        let spec = crate::generate::Spec {
            records,
            seed: 3,
            match_per_mille: 20,
        };
        let mut out = Vec::new();
        crate::generate::write_gzip_log(&spec, &mut out).expect("generated");
        out
    }

    /// A way of reading a log: threads, who reads the heads, and the
    /// content read on the calling thread before the others start.
    type Way = (usize, (Shedding, u64));

    /// Every way of reading a log: on one thread (each record where it
    /// was read, no batches), on two (the heads read by the splitter, by
    /// the evaluation, or as the queue says; from the start, or after a
    /// start on one thread), on three.
    const WAYS: [Way; 7] = [
        (1, (Shedding::Adaptive, u64::MAX)),
        (2, (Shedding::Adaptive, 0)),
        (2, (Shedding::Fixed(Heads::Now), 0)),
        (2, (Shedding::Fixed(Heads::Later), 0)),
        (3, (Shedding::Adaptive, 0)),
        (2, (Shedding::Adaptive, 100)),
        (3, (Shedding::Adaptive, ONE_THREAD_FIRST)),
    ];

    /// (rule, eventID) of each finding, the report's counts.
    fn findings_with(log: &[u8], way: Way, stop_after: usize) -> (Vec<String>, ScanReport) {
        findings_with_rules(log, way, stop_after, &rules())
    }

    /// [`findings_with`] under `rules`.
    /// A finding as these tests compare them: its rule, its record's
    /// event id, and who did it (as alerts group them).
    fn described(finding: &crate::alert::Finding) -> String {
        let id = finding.record.event_id().map(|id| id.into_owned());
        let actor = finding
            .record
            .actor()
            .map(|(who, via)| format!("{who} {via:?}"));
        format!("{} {id:?} {actor:?}", finding.rule.id)
    }

    fn findings_with_rules(
        log: &[u8],
        (threads, (shedding, one_thread_first)): Way,
        stop_after: usize,
        rules: &RuleSet,
    ) -> (Vec<String>, ScanReport) {
        let mut seen = Vec::new();
        let report = scan_with(
            Cursor::new(log.to_vec()),
            "generated",
            rules,
            &mut rules.correlations().correlator(),
            Limits {
                threads,
                one_thread_first,
                ..Limits::default()
            },
            shedding,
            None,
            |finding| {
                seen.push(described(&finding));
                seen.len() < stop_after
            },
        );
        (seen, report)
    }

    /// The records travel in batches, split on another thread with 2 or
    /// more, their heads read on either: what is found, and in which
    /// order, does not depend on it.
    #[test]
    fn every_way_finds_the_same_in_the_same_order() {
        let log = generated(6000);
        let (one, report_one) = findings_with(&log, WAYS[0], usize::MAX);
        assert!(one.len() > 50, "{} findings", one.len());
        assert!(report_one.newest_event_time.is_some());
        for way in WAYS {
            let (found, report) = findings_with(&log, way, usize::MAX);
            assert_eq!(found, one, "{way:?}");
            assert!(report.error.is_none(), "{way:?}: {:?}", report.error);
            assert_eq!((report.records, report.evaluated), (6000, 6000), "{way:?}");
            assert_eq!(report.alerts, one.len() as u64, "{way:?}");
            assert_eq!(report.matches, report_one.matches, "{way:?}");
            assert_eq!(
                report.newest_event_time, report_one.newest_event_time,
                "{way:?}"
            );
        }
    }

    /// With SigmaHQ's rules nearly every record has a rule reading members
    /// of its `userIdentity`, which the head reads find; with a rule that
    /// reads the whole of it too, the heads read on the evaluating thread
    /// build it as they go instead (not those the splitter reads): the
    /// same findings, naming the same principals, every way.
    #[test]
    fn every_way_finds_the_same_where_the_identity_is_built() {
        let found_only = sigmahq_rules();
        let whole = "title: Identity mentions a role\nid: 5f0c6a3e-9d0e-4c55-8a59-1f3b7f1f0d12\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    userIdentity|contains: 'role'\n  condition: selection\nlevel: low\n";
        let built = RuleSet::load(&RuleConfig {
            dirs: vec!["rules/sigmahq".into()],
            texts: vec![("whole.yml".into(), whole.into())],
            ..RuleConfig::default()
        })
        .expect("the rules load");
        let log = generated(3000);
        let (one, _) = findings_with_rules(&log, WAYS[0], usize::MAX, &found_only);
        assert!(one.len() > 2000, "{} findings", one.len());
        for rules in [&found_only, &built] {
            for way in WAYS {
                let (found, report) = findings_with_rules(&log, way, usize::MAX, rules);
                let sigmahq: Vec<&String> = found
                    .iter()
                    .filter(|finding| !finding.starts_with("5f0c6a3e"))
                    .collect();
                assert_eq!(sigmahq, one.iter().collect::<Vec<_>>(), "{way:?}");
                assert_eq!((report.records, report.evaluated), (3000, 3000), "{way:?}");
            }
        }
    }

    /// Invalid records, escapes and records no rule can match, read every
    /// way: the same counts, the same first invalid record, the same
    /// findings.
    #[test]
    fn every_way_reports_invalid_records_alike() {
        let log = concat!(
            r#"{"Records":[{"a":tru},"#,
            r#"{"eventID":"1","eventTime":"2024-03-01T10:00:00Z","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction20150331","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a\u00e9"}},"#,
            r#"{"eventID":"2","eventTime":"2024-03-02T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"},"#,
            r#"{"b":[1,]},"#,
            r#"{"eventID":"3","eventTime":"2024-03-01T11:00:00Z","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction"}]}"#,
        );
        let outcomes = WAYS.map(|way| {
            let (found, report) = findings_with(log.as_bytes(), way, usize::MAX);
            let counts = (
                report.records,
                report.evaluated,
                report.invalid,
                report.alerts,
            );
            let error = report.error.map(|err| err.to_string());
            (found, counts, error, report.newest_event_time)
        });
        let (found, counts, error, newest) = &outcomes[0];
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(*counts, (5, 3, 2, 2));
        let error = error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("2 record(s) are not valid JSON; the first, record 0:"),
            "{error}"
        );
        assert_eq!(newest.as_deref(), Some("2024-03-02T10:00:00Z"));
        for (way, outcome) in WAYS.iter().zip(&outcomes) {
            assert_eq!(outcome, &outcomes[0], "{way:?}");
        }
    }

    #[test]
    fn a_stop_ends_the_split_too_and_the_counts_add_up() {
        let log = generated(6000);
        for way in WAYS {
            let (seen, report) = findings_with(&log, way, 5);
            assert_eq!(seen.len(), 5, "{way:?}");
            assert!(report.stopped, "{way:?}");
            assert!(report.error.is_none(), "{way:?}: {:?}", report.error);
            assert!(report.records < 6000, "{way:?}: {}", report.records);
            assert_eq!(report.records, report.evaluated + report.invalid, "{way:?}");
        }
    }

    /// An observer sees every valid record once, before its findings,
    /// whatever the threads asked for; the findings are those of `scan`.
    #[test]
    fn an_observer_sees_every_record_once_before_its_findings() {
        let log = generated(6000);
        let rules = rules();
        let (plain, _) = findings_with(&log, WAYS[1], usize::MAX);
        let mut found = Vec::new();
        let events = std::cell::RefCell::new(Vec::new());
        let report = scan_observed(
            Cursor::new(log),
            "generated",
            &rules,
            &mut rules.correlations().correlator(),
            Limits {
                threads: 3,
                one_thread_first: 0,
                ..Limits::default()
            },
            &mut |head| {
                let id = head.text.split("\"eventID\":\"").nth(1).unwrap_or_default();
                let id = id.split('"').next().unwrap_or_default().to_string();
                events.borrow_mut().push(id);
            },
            |finding| {
                let id = finding.record.event_id().unwrap_or_default().into_owned();
                // The record was seen before its findings came.
                assert_eq!(events.borrow().last(), Some(&id));
                found.push(described(&finding));
                true
            },
        );
        assert!(report.error.is_none(), "{:?}", report.error);
        assert_eq!((report.records, report.evaluated), (6000, 6000));
        let seen = events.into_inner();
        assert_eq!(seen.len(), 6000);
        let distinct: std::collections::HashSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), 6000, "each record once");
        assert_eq!(found, plain);
    }

    /// The splitter reads the heads while the evaluation keeps up, and
    /// leaves them to it once it has run dry.
    #[test]
    fn the_heads_are_read_where_there_is_time() {
        let mut adaptive = Adaptive::new(false);
        assert_eq!(
            adaptive.heads,
            Heads::Later,
            "the evaluation is idle at first"
        );
        // (batches waiting before the one sent, the queue full, heads then)
        for (waiting, full, heads) in [
            (1, false, Heads::Later),
            (BATCHES_AHEAD, true, Heads::Now),
            (2, false, Heads::Now),
            (1, false, Heads::Now),
            (0, false, Heads::Later),
            (3, false, Heads::Later),
        ] {
            assert!(!adaptive.sent(waiting, full));
            assert_eq!(
                adaptive.heads, heads,
                "after {waiting} waiting, full: {full}"
            );
        }
    }

    /// Where the evaluation keeps up with every head left to it, inflating
    /// moves to a thread of its own and the splitter reads the heads; a
    /// full queue now and then keeps things as they are.
    #[test]
    fn inflating_moves_apart_once_the_evaluation_keeps_up() {
        let mut busy = Adaptive::new(false);
        for sent in 0..CALM_BATCHES * 4 {
            let full = sent % 15 == 14;
            assert!(!busy.sent(usize::from(!full), full), "batch {sent}");
        }
        let mut calm = Adaptive::new(false);
        let moved_at = (1..=CALM_BATCHES * 2).find(|_| calm.sent(0, false));
        assert_eq!(moved_at, Some(CALM_BATCHES));
        calm.moved(true);
        assert_eq!(calm.heads, Heads::Now);
        assert!(!calm.sent(0, false), "moved once");
        let mut plain = Adaptive::new(false);
        let asked = (0..CALM_BATCHES).filter(|_| plain.sent(0, false)).count();
        assert_eq!(asked, 1);
        plain.moved(false);
        assert_eq!(
            plain.heads,
            Heads::Later,
            "nothing to move: heads shed as before"
        );
        let apart = Adaptive::new(true);
        assert_eq!(apart.heads, Heads::Now);
    }
}
