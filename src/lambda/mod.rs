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

mod read;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::logfile::Limits;
use crate::object::ObjectRef;
use crate::rules::{Correlator, RuleSet};
use crate::sink::AlertSink;
use crate::source::s3::ObjectStore;
use crate::trigger::{
    self, BatchJob, BatchResponse, Notification, QueueMessage, ResultCode, TaskResult, Trigger,
    TriggerError,
};

/// What an invocation did; logged, and returned for notifications.
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
    pub bytes_read: u64,
    pub records: u64,
    pub records_evaluated: u64,
    pub records_invalid: u64,
    pub alerts: u64,
    /// Objects that can never be read, with the reason.
    pub permanent_errors: Vec<String>,
    /// Integrity alerts sent for those objects.
    pub integrity_alerts: u64,
    /// Failures that must be retried, with the reason.
    pub transient_errors: Vec<String>,
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
    Queue(QueueReply),
    /// For S3 Batch Operations: one result per task.
    BatchOperations(BatchResponse),
}

/// SQS partial batch response (the function's event source mapping needs
/// `ReportBatchItemFailures`).
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct QueueReply {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
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
}

/// State of one invocation.
struct Invocation {
    summary: InvocationSummary,
    /// Thresholds count across all the objects of one invocation.
    correlator: Arc<Mutex<Correlator>>,
    /// When to stop reading, if there is a deadline.
    stop_at: Option<Instant>,
}

/// How one object ended, when it did not need a retry.
#[derive(Debug, PartialEq)]
enum Outcome {
    Read,
    Skipped,
    Permanent(String),
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
        let trigger = trigger::parse(event)?;
        let mut invocation = Invocation {
            summary: InvocationSummary::default(),
            correlator: Arc::new(Mutex::new(self.rules.correlations().correlator())),
            stop_at: deadline.map(|deadline| self.stop_at(deadline)),
        };
        let reply = match trigger {
            Trigger::Notification(notification) => {
                self.notification(&notification, &mut invocation).await;
                Reply::Summary
            }
            Trigger::Queue(messages) => Reply::Queue(self.queue(&messages, &mut invocation).await),
            Trigger::BatchOperations(job) => {
                Reply::BatchOperations(self.batch(&job, &mut invocation).await)
            }
        };
        let summary = invocation.summary;
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "invocation done");
        if matches!(reply, Reply::Summary) && !summary.transient_errors.is_empty() {
            return Err(InvocationError::Transient(summary.transient_errors));
        }
        Ok(Response { summary, reply })
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
        let mut done = true;
        for object in &notification.objects {
            done &= self.object(object, inv).await != ResultCode::TemporaryFailure;
        }
        done
    }

    async fn queue(&self, messages: &[QueueMessage], inv: &mut Invocation) -> QueueReply {
        let mut reply = QueueReply::default();
        for message in messages {
            match &message.content {
                Ok(notification) => {
                    if !self.notification(notification, inv).await {
                        reply.batch_item_failures.push(ItemFailure {
                            item_identifier: message.message_id.clone(),
                        });
                    }
                }
                // Redelivering the same body cannot help: report, do not list.
                Err(err) => {
                    let cause = format!("SQS message {}: {err}", message.message_id);
                    tracing::error!(message_id = %message.message_id, class = "permanent", "message cannot be read; dropped: {err}");
                    inv.summary.permanent_errors.push(cause);
                }
            }
        }
        reply
    }

    async fn batch(&self, job: &BatchJob, inv: &mut Invocation) -> BatchResponse {
        let mut results = Vec::with_capacity(job.tasks.len());
        for task in &job.tasks {
            let (result_code, result_string) = match &task.object {
                Ok(object) => {
                    let before = inv.summary.alerts;
                    let code = self.object(object, inv).await;
                    let text = match code {
                        ResultCode::Succeeded => {
                            format!("{object}: {} alert(s)", inv.summary.alerts - before)
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
        job.respond(results)
    }

    /// Reads one object; the answer says whether it must be retried.
    async fn object(&self, object: &ObjectRef, inv: &mut Invocation) -> ResultCode {
        match self.process(object, inv).await {
            Ok(Outcome::Read | Outcome::Skipped) => ResultCode::Succeeded,
            Ok(Outcome::Permanent(_)) => ResultCode::PermanentFailure,
            Err(message) => {
                tracing::error!(bucket = %object.bucket, key = %object.key, class = "transient", "{message}");
                inv.summary.transient_errors.push(message);
                ResultCode::TemporaryFailure
            }
        }
    }
}

/// The reason recorded for the object that just failed.
fn last_error(summary: &InvocationSummary, code: ResultCode) -> String {
    let list = match code {
        ResultCode::TemporaryFailure => &summary.transient_errors,
        _ => &summary.permanent_errors,
    };
    list.last().cloned().unwrap_or_default()
}
