//! One log object through the whole core: bytes -> records -> rules ->
//! alerts. Synchronous and free of AWS: the Lambda runs it on a blocking
//! thread over the S3 body, the CLI over files.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use crate::alert::{Finding, Record};
use crate::logfile::{self, Limits, LogError};
use crate::record::RecordHead;
use crate::rules::{Correlator, KeyValues, LazyRecord, RecordEvent, RuleSet};

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
    fn note_event_time(&mut self, time: &str) {
        if self
            .newest_event_time
            .as_deref()
            .is_none_or(|newest| time > newest)
        {
            self.newest_event_time = Some(time.to_string());
        }
    }
}

impl ScanError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ScanError::Log(e) if e.is_transient())
    }
}

/// Reads one object and evaluates every record, handing each alert to
/// `on_alert` as soon as it is found, so memory does not grow with the
/// number of matches. `on_alert` returns false to stop reading (its
/// consumer has failed). Alerts for records read before an error are
/// delivered: a truncated log still reports what it holds.
pub fn scan<R: Read + Send + 'static>(
    source: R,
    label: &str,
    rules: &RuleSet,
    correlator: &mut Correlator,
    limits: Limits,
    mut on_finding: impl FnMut(Finding) -> bool,
) -> ScanReport {
    let mut report = ScanReport::default();
    let mut first_invalid: Option<(u64, String)> = None;
    let label: Arc<str> = Arc::from(label);
    let mut records = logfile::open(source, limits);
    while let Some(next) = records.next_record() {
        let bytes = match next {
            Ok(bytes) => bytes,
            Err(err) => {
                report.error = Some(err.into());
                break;
            }
        };
        let index = report.records;
        report.records += 1;
        let mut context = Context {
            label: &label,
            rules,
            correlator: &mut *correlator,
            report: &mut report,
        };
        match context.evaluate(bytes, &mut on_finding) {
            Ok(true) => report.evaluated += 1,
            Ok(false) => {
                report.evaluated += 1;
                report.stopped = true;
                break;
            }
            Err(err) => {
                report.invalid += 1;
                first_invalid.get_or_insert((index, err.to_string()));
            }
        }
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

/// What evaluating one record needs besides the record.
struct Context<'a> {
    label: &'a Arc<str>,
    rules: &'a RuleSet,
    correlator: &'a mut Correlator,
    report: &'a mut ScanReport,
}

impl Context<'_> {
    /// Evaluates one record; returns whether to go on.
    fn evaluate(
        &mut self,
        bytes: &[u8],
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> Result<bool, serde_json::Error> {
        // Most records have no candidate rule: read their head and move on.
        let mut head = RecordHead::read(bytes)?;
        if let Some(time) = head.event_time.as_deref() {
            self.report.note_event_time(time);
        }
        let candidates = self.rules.candidates(&KeyValues::of_head(&head));
        if candidates.is_empty() {
            return Ok(true);
        }
        let record = LazyRecord::new(head.text, std::mem::take(&mut head.fields));
        let event = RecordEvent::lazy(&record);
        let mut hits = Vec::new();
        let mut detections = Vec::new();
        for rule in candidates {
            let Some(detection) = rule.evaluate_event(&event) else {
                continue;
            };
            *self.report.matches.entry(rule.meta.id.clone()).or_default() += 1;
            if rule.alerts {
                hits.push(&rule.meta);
            }
            if rule.feeds_correlation {
                detections.push(detection);
            }
        }
        // A value some rule read could not be read: what the rules said of
        // the record means nothing, and no threshold may count it.
        invalid_if(record.problem())?;
        let thresholds = if detections.is_empty() {
            Vec::new()
        } else {
            self.correlator.feed(&event, detections)
        };
        invalid_if(record.problem())?;
        if hits.is_empty() && thresholds.is_empty() {
            return Ok(true);
        }
        drop(event);
        let text = record.text();
        let record = Arc::new(Record::from_text(
            text,
            record.into_brief(),
            Arc::clone(self.label),
        ));
        let findings = hits
            .into_iter()
            .map(|meta| Finding::new(meta, &record))
            .chain(
                thresholds
                    .into_iter()
                    .map(|hit| Finding::threshold(hit, &record)),
            );
        for finding in findings {
            self.report.alerts += 1;
            if !on_finding(finding) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn invalid_if(problem: Option<String>) -> Result<(), serde_json::Error> {
    match problem {
        Some(problem) => Err(serde::de::Error::custom(problem)),
        None => Ok(()),
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
}
