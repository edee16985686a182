//! The Lambda function: a notification in, alerts out, a summary back.
//!
//! Error classes decide what AWS does next. A transient failure (S3 or SNS
//! unavailable, the connection dropped) fails the invocation so Lambda
//! retries and, after its retries, hands the event to the failure
//! destination. A permanent one (the object is not a CloudTrail log, is
//! corrupt, is gone) is logged with bucket, key and cause, and the
//! invocation succeeds: retrying the same bytes cannot help.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::alert::Alert;
use crate::logfile::Limits;
use crate::object::{ObjectKind, ObjectRef};
use crate::pipeline::{scan, ScanReport};
use crate::rules::{Correlator, RuleSet};
use crate::sink::{AlertSink, SinkError};
use crate::source::s3::{ObjectBody, ObjectStore};
use crate::trigger::{self, TriggerError};

/// Alerts published per call to the sink.
const ALERT_BATCH: usize = 10;

/// What publishing an object's alerts did.
#[derive(Default)]
struct Published {
    sent: u64,
    error: Option<SinkError>,
}

/// What an invocation did; returned to the caller and logged.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct InvocationSummary {
    pub objects_read: u64,
    /// Objects skipped on purpose, by kind (digest, folder, empty).
    pub objects_skipped: BTreeMap<String, u64>,
    /// Notification records that were not object-created events.
    pub events_ignored: u64,
    pub test_event: bool,
    pub bytes_read: u64,
    pub records: u64,
    pub records_evaluated: u64,
    pub records_invalid: u64,
    pub alerts: u64,
    /// Objects that can never be read, with the reason.
    pub permanent_errors: Vec<String>,
}

/// Why the invocation fails (and Lambda should retry).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error("{} object(s) failed and must be retried: {}", .0.len(), .0.join("; "))]
    Transient(Vec<String>),
}

/// The function's state, built once per cold start.
pub struct Handler {
    pub store: Arc<dyn ObjectStore>,
    pub sink: Arc<dyn AlertSink>,
    pub rules: Arc<RuleSet>,
    pub limits: Limits,
}

impl Handler {
    pub async fn handle(&self, event: &Value) -> Result<InvocationSummary, InvocationError> {
        let trigger = trigger::parse(event)?;
        let mut summary = InvocationSummary {
            test_event: trigger.test_event,
            events_ignored: trigger.ignored.len() as u64,
            ..InvocationSummary::default()
        };
        if trigger.test_event {
            tracing::info!("s3:TestEvent received: the notification is configured");
        }
        for (event_name, object) in &trigger.ignored {
            tracing::info!(%object, event_name, "ignored: not an object-created event");
        }
        let mut transient = Vec::new();
        // Thresholds count across all the objects of one invocation.
        let correlator = Arc::new(Mutex::new(self.rules.correlations().correlator()));
        for object in &trigger.objects {
            if let Err(message) = self.process(object, &mut summary, &correlator).await {
                tracing::error!(bucket = %object.bucket, key = %object.key, class = "transient", "{message}");
                transient.push(message);
            }
        }
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "invocation done");
        if transient.is_empty() {
            Ok(summary)
        } else {
            Err(InvocationError::Transient(transient))
        }
    }

    /// Reads one object and publishes its alerts. `Err` is a transient
    /// failure; permanent ones are recorded in the summary.
    async fn process(
        &self,
        object: &ObjectRef,
        summary: &mut InvocationSummary,
        correlator: &Arc<Mutex<Correlator>>,
    ) -> Result<(), String> {
        let kind = ObjectKind::of(&object.key, object.size);
        if !kind.is_readable() {
            tracing::info!(bucket = %object.bucket, key = %object.key, kind = kind.as_str(), "skipped");
            *summary
                .objects_skipped
                .entry(kind.as_str().to_string())
                .or_default() += 1;
            return Ok(());
        }
        let body = match self.store.open(object).await {
            Ok(body) => body,
            Err(err) if err.is_transient() => return Err(err.to_string()),
            Err(err) => {
                self.permanent(object, &err.to_string(), summary);
                return Ok(());
            }
        };
        let (report, published) = self
            .scan_and_publish(object, body, Arc::clone(correlator))
            .await?;
        summary.objects_read += 1;
        summary.bytes_read += object.size.unwrap_or_default();
        summary.records += report.records;
        summary.records_evaluated += report.evaluated;
        summary.records_invalid += report.invalid;
        summary.alerts += published.sent;
        tracing::info!(
            bucket = %object.bucket,
            key = %object.key,
            records = report.records,
            evaluated = report.evaluated,
            invalid = report.invalid,
            alerts = published.sent,
            "object read"
        );
        if let Some(err) = published.error {
            return Err(format!("{object}: {err}"));
        }
        match report.error {
            Some(err) if err.is_transient() => Err(format!("{object}: {err}")),
            Some(err) => {
                self.permanent(object, &err.to_string(), summary);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Runs the synchronous core on a blocking thread over the streaming
    /// body, so the object is never held whole, and publishes alerts as
    /// they are found, in batches, through a bounded channel: memory stays
    /// flat however many records match.
    async fn scan_and_publish(
        &self,
        object: &ObjectRef,
        body: ObjectBody,
        correlator: Arc<Mutex<Correlator>>,
    ) -> Result<(ScanReport, Published), String> {
        let reader = SyncIoBridge::new(body);
        let rules = Arc::clone(&self.rules);
        let label = object.to_string();
        let limits = self.limits;
        let (tx, mut rx) = mpsc::channel::<Alert>(ALERT_BATCH * 4);
        let scanning = tokio::task::spawn_blocking(move || {
            // A closed channel means publishing failed: stop reading.
            // Objects are read one after another: the lock is never contended.
            let mut correlator = correlator.lock().unwrap_or_else(PoisonError::into_inner);
            scan(reader, &label, &rules, &mut correlator, limits, |alert| {
                tx.blocking_send(alert).is_ok()
            })
        });
        let mut published = Published::default();
        let mut batch = Vec::with_capacity(ALERT_BATCH);
        loop {
            let next = rx.recv().await;
            let done = next.is_none();
            batch.extend(next);
            if batch.len() == ALERT_BATCH || (done && !batch.is_empty()) {
                if let Err(err) = self.sink.publish(&batch).await {
                    published.error = Some(err);
                    rx.close();
                    break;
                }
                published.sent += batch.len() as u64;
                batch.clear();
            }
            if done {
                break;
            }
        }
        let report = scanning
            .await
            .map_err(|err| format!("{object}: the scan task failed: {err}"))?;
        Ok((report, published))
    }

    fn permanent(&self, object: &ObjectRef, cause: &str, summary: &mut InvocationSummary) {
        tracing::error!(bucket = %object.bucket, key = %object.key, class = "permanent", cause, "object cannot be read; skipped");
        summary.permanent_errors.push(format!("{object}: {cause}"));
    }
}
