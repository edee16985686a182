//! One log object through the whole core: bytes -> records -> rules ->
//! alerts. Synchronous and free of AWS: the Lambda runs it on a blocking
//! thread over the S3 body, the CLI over files.

mod batch;
mod evaluate;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{mpsc, Arc};

use crate::alert::Finding;
use crate::logfile::{self, Limits, LogError};
use crate::rules::{Correlator, RuleSet};
use batch::{Batch, Splitter};
use evaluate::Evaluation;

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
/// With two or more threads ([`Limits::threads`]) the records are split
/// and their heads read on a thread of their own while the calling thread
/// evaluates the ones some rule may match; findings come in log order
/// either way.
pub fn scan<R: Read + Send + 'static>(
    source: R,
    label: &str,
    rules: &RuleSet,
    correlator: &mut Correlator,
    limits: Limits,
    mut on_finding: impl FnMut(Finding) -> bool,
) -> ScanReport {
    let mut splitter = Splitter::new(logfile::open(source, limits), rules);
    let mut evaluation = Evaluation {
        label: Arc::from(label),
        rules,
        correlator,
        report: ScanReport::default(),
        first_invalid: None,
    };
    let error = if limits.parallel() {
        split_on_a_thread(splitter, &mut evaluation, &mut on_finding)
    } else {
        let mut spare = Batch::default();
        while let Some(mut batch) = splitter.next_batch(spare) {
            if !evaluation.take(&mut batch, &mut on_finding) {
                break;
            }
            spare = batch;
        }
        splitter.into_error()
    };
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

/// Batches waiting between the two halves: memory stays flat. Four, not
/// two, gave the threads slack enough to be 5% faster on two CPUs (three
/// more megabytes at the peak).
const BATCHES_AHEAD: usize = 4;

/// Runs the splitter on a scoped thread, feeding `evaluation` on this one;
/// returns why the log ended early, if it did.
fn split_on_a_thread(
    mut splitter: Splitter<'_>,
    evaluation: &mut Evaluation<'_>,
    on_finding: &mut impl FnMut(Finding) -> bool,
) -> Option<LogError> {
    std::thread::scope(|scope| {
        let (batches, arriving) = mpsc::sync_channel::<Batch>(BATCHES_AHEAD);
        // Emptied batches go back to be filled again.
        let (emptied, returned) = mpsc::sync_channel::<Batch>(BATCHES_AHEAD + 2);
        let spawned = std::thread::Builder::new()
            .name("trailwatch-split".to_string())
            .spawn_scoped(scope, move || {
                let spare = || returned.try_recv().unwrap_or_default();
                while let Some(batch) = splitter.next_batch(spare()) {
                    // The evaluation stopped: nothing more to read.
                    if batches.send(batch).is_err() {
                        return None;
                    }
                }
                splitter.into_error()
            });
        let splitting = match spawned {
            Ok(handle) => handle,
            // The machine is out of threads: a transient failure (retry),
            // not a fault of the object.
            Err(err) => return Some(LogError::Source(err)),
        };
        for mut batch in arriving.iter() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::rules::RuleConfig;
    use std::io::Cursor;

    fn rules() -> RuleSet {
        RuleSet::load(&RuleConfig::default()).expect("built-in rules load")
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
    fn generated(records: u64) -> Vec<u8> {
        let spec = crate::generate::Spec {
            records,
            seed: 3,
            match_per_mille: 20,
        };
        let mut out = Vec::new();
        crate::generate::write_gzip_log(&spec, &mut out).expect("generated");
        out
    }

    /// (rule, eventID) of each finding, the report's counts.
    fn findings_with(log: &[u8], threads: usize, stop_after: usize) -> (Vec<String>, ScanReport) {
        let rules = rules();
        let mut seen = Vec::new();
        let report = scan(
            Cursor::new(log.to_vec()),
            "generated",
            &rules,
            &mut rules.correlations().correlator(),
            Limits {
                threads,
                ..Limits::default()
            },
            |finding| {
                let id = finding.record.event_id().map(|id| id.into_owned());
                seen.push(format!("{} {id:?}", finding.rule.id));
                seen.len() < stop_after
            },
        );
        (seen, report)
    }

    /// The records travel in batches, split on another thread with 2:
    /// what is found, and in which order, does not depend on it.
    #[test]
    fn threads_find_the_same_in_the_same_order() {
        let log = generated(6000);
        let (one, report_one) = findings_with(&log, 1, usize::MAX);
        let (two, report_two) = findings_with(&log, 2, usize::MAX);
        assert!(one.len() > 50, "{} findings", one.len());
        assert_eq!(one, two);
        for report in [&report_one, &report_two] {
            assert!(report.error.is_none(), "{:?}", report.error);
            assert_eq!((report.records, report.evaluated), (6000, 6000));
            assert_eq!(report.alerts, one.len() as u64);
        }
        assert_eq!(report_one.matches, report_two.matches);
        assert_eq!(report_one.newest_event_time, report_two.newest_event_time);
        assert!(report_one.newest_event_time.is_some());
    }

    #[test]
    fn a_stop_ends_the_split_too_and_the_counts_add_up() {
        let log = generated(6000);
        for threads in [1, 2] {
            let (seen, report) = findings_with(&log, threads, 5);
            assert_eq!(seen.len(), 5);
            assert!(report.stopped);
            assert!(report.error.is_none(), "{:?}", report.error);
            assert!(report.records < 6000, "{}", report.records);
            assert_eq!(report.records, report.evaluated + report.invalid);
        }
    }
}
