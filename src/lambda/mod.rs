//! The Lambda function: an event in, alerts out, an answer back.
//!
//! Error classes decide what AWS does next. A transient failure (S3 or SNS
//! unavailable, the connection dropped, too little time left before the
//! deadline) must be retried: the invocation fails (a notification), the
//! message is listed in `batchItemFailures` (SQS) or the task answered
//! TemporaryFailure (S3 Batch Operations). A permanent one (the object is
//! not a CloudTrail log, is corrupt, is gone) is logged with bucket, key
//! and cause, raises an integrity alert, and counts as done: retrying the
//! same bytes cannot help.
//!
//! Each object ends with one log line (what it held, how it ended), each
//! invocation with one more and its CloudWatch metrics ([`metrics`]).

pub mod metrics;
mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::alert::group::{Grouped, Grouper, Unit};
use crate::alert::Alert;
use crate::dedup::{self, Ledger};
use crate::digest::DigestStore;
use crate::pipeline::Limits;
use crate::pipeline::ScanReport;
use crate::rules::{Correlator, RuleSet};
use crate::sink::{AlertSink, SinkError};
use crate::source::digests::CloudTrailKeys;
use crate::source::s3::ObjectStore;
use crate::trigger::{
    self, BatchJob, BatchResponse, Notification, QueueMessage, ResultCode, TaskResult, Trigger,
    TriggerError,
};
use aws_lambda_events::sqs::SqsBatchResponse;
use metrics::{MetricsSink, NoMetrics};

/// What an invocation did; logged, turned into metrics, and returned for
/// notifications.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct InvocationSummary {
    pub objects_read: u64,
    /// Objects skipped on purpose, by kind (digest, folder, empty, other).
    pub objects_skipped: BTreeMap<String, u64>,
    /// Events about objects that are not new objects.
    pub events_ignored: u64,
    /// Subscription checks answered (`s3:TestEvent`, CloudTrail's
    /// validation message).
    pub acknowledged: Vec<String>,
    /// SQS messages dropped because they name no object (garbage, a shape
    /// not known): counted for the `MessagesDropped` metric and its alarm.
    pub messages_dropped: u64,
    pub bytes_read: u64,
    pub records: u64,
    pub records_evaluated: u64,
    pub records_invalid: u64,
    /// Rule matches and thresholds reached.
    pub findings: u64,
    /// Alerts delivered: findings grouped per rule and principal, plus a
    /// summary of those held back by the per-invocation cap.
    pub alerts: u64,
    /// Alerts not sent because an earlier (or concurrent) invocation sent
    /// them: S3 redelivery, Lambda retries (`DEDUP_TABLE`).
    pub alerts_suppressed: u64,
    /// Alerts sent without the dedup check, the table being unreachable;
    /// some may be duplicates.
    pub alerts_unchecked: u64,
    /// Alerts sent whose copy to the chat topic (`CHAT_TOPIC_ARN`) failed
    /// for good: logged with class `chat`, the invocation not failed.
    #[serde(skip_serializing_if = "is_zero")]
    pub chat_failed: u64,
    /// Objects that can never be read, with the reason.
    pub permanent_errors: Vec<String>,
    /// Integrity alerts sent for those objects.
    pub integrity_alerts: u64,
    /// Failures that must be retried, with the reason.
    pub transient_errors: Vec<String>,
    /// The latest `eventTime` among the records read (ISO 8601 UTC): how
    /// far behind the logs the function is.
    pub newest_event_time: Option<String>,
    /// Records matched, per rule id (one record may match several rules).
    pub matches_by_rule: BTreeMap<String, u64>,
    /// Digest files verified (`VERIFY_DIGESTS`), clean or not.
    pub digests_verified: u64,
    /// Problems those digests revealed: each one a critical alert.
    pub digest_problems: u64,
}

impl InvocationSummary {
    /// Adds what one object's scan found.
    fn add_scan(&mut self, report: &mut ScanReport, bytes: u64) {
        self.objects_read += 1;
        self.bytes_read += bytes;
        self.records += report.records;
        self.records_evaluated += report.evaluated;
        self.records_invalid += report.invalid;
        self.findings += report.alerts;
        for (rule, count) in std::mem::take(&mut report.matches) {
            *self.matches_by_rule.entry(rule).or_default() += count;
        }
        // CloudTrail writes eventTime as ISO 8601 UTC: text order is time order.
        if let Some(time) = report.newest_event_time.take() {
            if self
                .newest_event_time
                .as_ref()
                .is_none_or(|newest| &time > newest)
            {
                self.newest_event_time = Some(time);
            }
        }
    }
}

/// Why the invocation fails (and Lambda should retry it, or give up on an
/// event it can never read).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error("{} object(s) failed and must be retried: {}", .0.len(), .0.join("; "))]
    Transient(Vec<String>),
}

/// What goes back to the invoker.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// For notifications: the summary.
    Summary,
    /// For SQS: the messages to deliver again.
    Queue(SqsBatchResponse),
    /// For S3 Batch Operations: one result per task.
    BatchOperations(BatchResponse),
}

/// Lists a message for redelivery in the SQS partial batch response (the
/// function's event source mapping needs `ReportBatchItemFailures`), once.
fn fail(reply: &mut SqsBatchResponse, message_id: &str) {
    if !reply
        .batch_item_failures
        .iter()
        .any(|f| f.item_identifier == message_id)
    {
        reply.add_failure(message_id);
    }
}

/// An invocation's result: what it did and what to answer.
#[derive(Debug, PartialEq)]
pub struct Response {
    pub summary: InvocationSummary,
    pub reply: Reply,
}

impl Response {
    /// The JSON the function returns.
    pub fn to_json(&self) -> Value {
        let value = match &self.reply {
            Reply::Summary => serde_json::to_value(&self.summary),
            Reply::Queue(reply) => serde_json::to_value(reply),
            Reply::BatchOperations(reply) => serde_json::to_value(reply),
        };
        // Plain structs of strings and numbers always serialise.
        value.unwrap_or_default()
    }
}

/// The function's state, built once per cold start.
pub struct Handler {
    pub store: Arc<dyn ObjectStore>,
    pub sink: Arc<dyn AlertSink>,
    pub rules: Arc<RuleSet>,
    pub limits: Limits,
    /// Stop reading this long before the Lambda deadline, to publish what
    /// was found and answer before Lambda cuts the invocation off.
    pub deadline_margin: Duration,
    /// At most this many alerts per invocation, plus one summary of the
    /// rest; `None`: no limit.
    pub max_alerts: Option<usize>,
    /// Where sent alert ids are remembered across invocations
    /// (`DEDUP_TABLE`); `None`: every alert found is sent.
    pub ledger: Option<Arc<dyn Ledger>>,
    /// Where digest files are verified (`VERIFY_DIGESTS`); `None`: they
    /// are skipped.
    pub digests: Option<DigestCheck>,
}

/// What a digest is verified through ([`crate::digest::verify`]): S3 and
/// CloudTrail `ListPublicKeys` of the digest's region
/// ([`crate::source::digests`]). Both are called on a blocking thread.
#[derive(Clone)]
pub struct DigestCheck {
    pub store: Arc<dyn DigestStore>,
    pub keys: Arc<CloudTrailKeys>,
}

/// State of one invocation.
struct Invocation {
    summary: InvocationSummary,
    /// Thresholds count across all the objects of one invocation.
    correlator: Arc<Mutex<Correlator>>,
    /// Findings wait here until every object has been read.
    grouper: Arc<Mutex<Grouper>>,
    /// The SQS message or task being processed (0 for a notification).
    unit: Unit,
    /// How often SQS has delivered that message (1 for other events).
    receive_count: u32,
    /// When the invocation started: from then to `stop_at` is the time
    /// an invocation has to read.
    started: Instant,
    /// When to stop reading, if there is a deadline.
    stop_at: Option<Instant>,
    /// When to stop waiting for a read that did not stop at `stop_at`: a
    /// third of the margin later, two thirds left to send the alerts.
    give_up_at: Option<Instant>,
    /// Until when this invocation's dedup claims hold: its deadline.
    lease_until: SystemTime,
}

/// How one object ended, when it did not need a retry.
#[derive(Debug, PartialEq)]
enum Outcome {
    Read,
    Skipped,
    /// A digest file verified; its problems, if any, are alerts.
    Verified,
    /// Never readable: `failure` is `unreadable` (could not be fetched),
    /// `corrupt` (fetched, not a good log) or `unverifiable` (a digest
    /// whose objects or key the function may not read).
    Permanent {
        failure: &'static str,
        cause: String,
    },
}

impl Handler {
    /// Handles an event with no deadline (tests, local runs).
    pub async fn handle(&self, event: &Value) -> Result<Response, InvocationError> {
        self.handle_until(event, None).await
    }

    /// Handles an event that must be answered by `deadline`.
    pub async fn handle_until(
        &self,
        event: &Value,
        deadline: Option<Instant>,
    ) -> Result<Response, InvocationError> {
        self.handle_with_metrics(event, deadline, &NoMetrics).await
    }

    /// Handles an event and hands the invocation's summary to `metrics`,
    /// whether it succeeded or must be retried (not for an event that is
    /// not understood: nothing was read, and the invocation's failure is in
    /// Lambda's own metrics).
    pub async fn handle_with_metrics(
        &self,
        event: &Value,
        deadline: Option<Instant>,
        metrics: &dyn MetricsSink,
    ) -> Result<Response, InvocationError> {
        let started = Instant::now();
        let trigger = trigger::parse(event)?;
        let stop_at = deadline.map(|deadline| self.stop_at(deadline));
        let give_up_at = deadline
            .zip(stop_at)
            .map(|(deadline, stop)| stop + deadline.saturating_duration_since(stop) / 3);
        let mut invocation = Invocation {
            summary: InvocationSummary::default(),
            correlator: Arc::new(Mutex::new(self.rules.correlations().correlator())),
            grouper: Arc::new(Mutex::new(Grouper::new(self.max_alerts))),
            unit: 0,
            receive_count: 1,
            started,
            stop_at,
            give_up_at,
            lease_until: lease_until(deadline),
        };
        let reply = self.run(trigger, &mut invocation).await;
        let summary = invocation.summary;
        log_summary(&summary, started.elapsed());
        metrics.record(&summary);
        if matches!(reply, Reply::Summary) && !summary.transient_errors.is_empty() {
            return Err(InvocationError::Transient(summary.transient_errors));
        }
        Ok(Response { summary, reply })
    }

    /// Reads the trigger's objects, then sends the alerts: once every
    /// object has been read, so that one rule's findings for one principal
    /// are one alert; a failed delivery fails exactly the messages or tasks
    /// whose findings it carried.
    async fn run(&self, trigger: Trigger, invocation: &mut Invocation) -> Reply {
        match trigger {
            Trigger::Notification(notification) => {
                self.notification(&notification, invocation).await;
                self.deliver(invocation).await;
                Reply::Summary
            }
            Trigger::Queue(messages) => {
                let mut reply = self.queue(&messages, invocation).await;
                for unit in self.deliver(invocation).await {
                    if let Some(message) = messages.get(unit) {
                        fail(&mut reply, &message.message_id);
                    }
                }
                Reply::Queue(reply)
            }
            Trigger::BatchOperations(job) => {
                let mut results = self.batch(&job, invocation).await;
                let failed = self.deliver(invocation).await;
                for unit in failed {
                    if let Some(result) = results.get_mut(unit) {
                        result.result_code = ResultCode::TemporaryFailure;
                        result.result_string =
                            last_error(&invocation.summary, ResultCode::TemporaryFailure);
                    }
                }
                Reply::BatchOperations(job.respond(results))
            }
        }
    }

    /// When to stop reading: the margin before the deadline, but never more
    /// than a quarter of the time the invocation has (a function with a
    /// 3-second timeout must still read small objects).
    fn stop_at(&self, deadline: Instant) -> Instant {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let margin = self.deadline_margin.min(remaining / 4);
        deadline.checked_sub(margin).unwrap_or(deadline)
    }

    /// Reads a notification's objects; returns whether all of them are done
    /// (none needs a retry).
    async fn notification(&self, notification: &Notification, inv: &mut Invocation) -> bool {
        for check in &notification.acknowledged {
            tracing::info!("{check} received: the subscription works");
            inv.summary.acknowledged.push(check.to_string());
        }
        for (event, object) in &notification.ignored {
            tracing::info!(%object, event, "ignored: not an object-created event");
        }
        inv.summary.events_ignored += notification.ignored.len() as u64;
        // Retrying the same record cannot help: report it, read the rest.
        for why in &notification.rejected {
            tracing::error!(
                class = "permanent",
                "notification record names no object S3 can hold; dropped: {why}"
            );
            inv.summary.permanent_errors.push(why.clone());
        }
        let mut done = true;
        for object in &notification.objects {
            done &= self.object(object, inv).await != ResultCode::TemporaryFailure;
        }
        done
    }

    async fn queue(&self, messages: &[QueueMessage], inv: &mut Invocation) -> SqsBatchResponse {
        let mut reply = SqsBatchResponse::default();
        // The messages delivered most often first: one that keeps being
        // left unread behind others would reach the dead-letter queue
        // though it was never tried.
        let mut order: Vec<(Unit, &QueueMessage)> = messages.iter().enumerate().collect();
        order.sort_by_key(|(_, message)| std::cmp::Reverse(message.receive_count));
        for (unit, message) in order {
            inv.unit = unit;
            inv.receive_count = message.receive_count;
            match &message.content {
                Ok(notification) => {
                    if !self.notification(notification, inv).await {
                        fail(&mut reply, &message.message_id);
                    }
                }
                // Redelivering the same body cannot help: report, do not list.
                Err(err) => {
                    let cause = format!("SQS message {}: {err}", message.message_id);
                    tracing::error!(message_id = %message.message_id, class = "permanent", "message cannot be read; dropped: {err}");
                    inv.summary.permanent_errors.push(cause);
                    inv.summary.messages_dropped += 1;
                }
            }
        }
        reply
    }

    /// One result per task, in order.
    async fn batch(&self, job: &BatchJob, inv: &mut Invocation) -> Vec<TaskResult> {
        let mut results = Vec::with_capacity(job.tasks.len());
        inv.receive_count = 1;
        for (unit, task) in job.tasks.iter().enumerate() {
            inv.unit = unit;
            let (result_code, result_string) = match &task.object {
                Ok(object) => {
                    let before = inv.summary.findings;
                    let (verified, problems) =
                        (inv.summary.digests_verified, inv.summary.digest_problems);
                    let code = self.object(object, inv).await;
                    let text = match code {
                        // A digest's report says what verifying it found.
                        ResultCode::Succeeded if inv.summary.digests_verified > verified => {
                            format!(
                                "{object}: digest verified, {} problem(s)",
                                inv.summary.digest_problems - problems
                            )
                        }
                        ResultCode::Succeeded => {
                            format!("{object}: {} finding(s)", inv.summary.findings - before)
                        }
                        _ => last_error(&inv.summary, code),
                    };
                    (code, text)
                }
                Err(err) => {
                    tracing::error!(task_id = %task.task_id, class = "permanent", "task names no object: {err}");
                    (ResultCode::PermanentFailure, err.clone())
                }
            };
            results.push(TaskResult {
                task_id: task.task_id.clone(),
                result_code,
                result_string,
            });
        }
        results
    }

    /// Sends the invocation's alerts; returns the units whose alerts could
    /// not be delivered (their failure is recorded as transient).
    async fn deliver(&self, inv: &mut Invocation) -> BTreeSet<Unit> {
        let grouper = std::mem::replace(
            &mut *inv.grouper.lock().unwrap_or_else(PoisonError::into_inner),
            Grouper::new(self.max_alerts),
        );
        let grouped = grouper.finish();
        if grouped.is_empty() {
            return BTreeSet::new();
        }
        let alerts: Vec<Alert> = grouped.iter().map(|g| g.alert.clone()).collect();
        let (sent, result) = self.send(&alerts, inv).await;
        inv.summary.alerts += sent;
        let Err(err) = result else {
            return BTreeSet::new();
        };
        let failed: BTreeSet<&str> = err.failed.iter().map(String::as_str).collect();
        let undelivered: Vec<Grouped> = grouped
            .into_iter()
            .filter(|g| failed.contains(g.alert.alert_id.as_str()))
            .collect();
        // Name the objects whose findings did not reach anyone.
        let sources: BTreeSet<&str> = undelivered
            .iter()
            .map(|g| g.alert.source.as_str())
            .collect();
        let message = format!("{}: {err}", Vec::from_iter(sources).join(", "));
        tracing::error!(class = "transient", "{message}");
        inv.summary.transient_errors.push(message);
        undelivered.into_iter().flat_map(|g| g.units).collect()
    }

    /// Publishes alerts not sent before (with a ledger); returns how many
    /// were delivered, and those that were not.
    async fn send(&self, alerts: &[Alert], inv: &mut Invocation) -> (u64, Result<(), SinkError>) {
        let delivery = dedup::publish_once(
            self.sink.as_ref(),
            self.ledger.as_ref(),
            alerts,
            inv.lease_until,
        )
        .await;
        inv.summary.alerts_suppressed += delivery.suppressed;
        inv.summary.alerts_unchecked += delivery.unchecked;
        inv.summary.chat_failed += self.sink.take_chat_failures();
        (delivery.sent, delivery.failed.map_or(Ok(()), Err))
    }
}

/// Claims last until the invocation's deadline (a second more, for the
/// clocks); without one, as long as Lambda's longest timeout.
fn lease_until(deadline: Option<Instant>) -> SystemTime {
    const LONGEST_INVOCATION: Duration = Duration::from_secs(15 * 60);
    let left = deadline.map_or(LONGEST_INVOCATION, |deadline| {
        deadline.saturating_duration_since(Instant::now())
    });
    SystemTime::now() + left + Duration::from_secs(1)
}

/// The reason recorded for the object that just failed.
fn last_error(summary: &InvocationSummary, code: ResultCode) -> String {
    let list = match code {
        ResultCode::TemporaryFailure => &summary.transient_errors,
        _ => &summary.permanent_errors,
    };
    list.last().cloned().unwrap_or_default()
}

/// The invocation's line: its totals as fields of their own, so that Logs
/// Insights can filter and add them up (the lists of errors are in the
/// objects' lines; here they are counted).
fn log_summary(summary: &InvocationSummary, took: Duration) {
    if summary.records != summary.records_evaluated + summary.records_invalid {
        // The pipeline accounts for every record; a gap is a bug to hear of.
        tracing::error!(
            records = summary.records,
            records_evaluated = summary.records_evaluated,
            records_invalid = summary.records_invalid,
            "records read do not add up to records evaluated + records invalid"
        );
    }
    tracing::info!(
        objects_read = summary.objects_read,
        objects_skipped = summary.objects_skipped.values().sum::<u64>(),
        skipped_kinds = %counts(&summary.objects_skipped),
        events_ignored = summary.events_ignored,
        acknowledged = summary.acknowledged.len(),
        bytes_read = summary.bytes_read,
        records = summary.records,
        records_evaluated = summary.records_evaluated,
        records_invalid = summary.records_invalid,
        findings = summary.findings,
        alerts = summary.alerts,
        alerts_suppressed = summary.alerts_suppressed,
        alerts_unchecked = summary.alerts_unchecked,
        chat_failed = summary.chat_failed,
        integrity_alerts = summary.integrity_alerts,
        digests_verified = summary.digests_verified,
        digest_problems = summary.digest_problems,
        permanent_errors = summary.permanent_errors.len(),
        transient_errors = summary.transient_errors.len(),
        newest_event_time = summary.newest_event_time.as_deref(),
        rules_matched = %counts(&summary.matches_by_rule),
        duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "invocation done"
    );
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `a=1 b=2`: counts by name, compact in one field.
fn counts(map: &BTreeMap<String, u64>) -> String {
    let pairs: Vec<String> = map.iter().map(|(name, n)| format!("{name}={n}")).collect();
    pairs.join(" ")
}
