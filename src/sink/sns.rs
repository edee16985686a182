//! Alerts to an SNS topic, whose subscribers get them by email, SQS,
//! Lambda, HTTPS: `PublishBatch` calls of at most 10 entries and 256 KiB,
//! each entry one alert (`MessageStructure=json`, see `alert::message`).
//!
//! Retries: a whole call that fails is retried by the SDK itself (its
//! standard retry covers throttling, 5xx and timeouts) and is not retried
//! again here. Entries a successful call lists as failed are this sink's
//! to retry: those SNS blames on itself (`SenderFault` false, e.g.
//! `InternalError`, `Throttled`) are sent again, a few times with
//! exponential backoff; those it blames on the request (`SenderFault` true)
//! would fail the same way and are not. Every batch is tried before giving
//! up, and the error lists exactly the alerts not delivered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sns::Client;

use super::{AlertSink, SinkError};
use crate::alert::message::{sns_message, SnsMessage, ATTRIBUTE_TYPE, MESSAGE_BUDGET};
use crate::alert::{AccountNames, Alert};

/// Entries per `PublishBatch` call (the SNS maximum).
pub const MAX_BATCH_ENTRIES: usize = 10;

/// Bytes per `PublishBatch` call: SNS holds the sum of the entries to the
/// one-message limit, 262,144 bytes; the same 1 KiB margin is kept.
pub const BATCH_BUDGET: usize = MESSAGE_BUDGET;

/// Rounds of sending, the first included, for entries that failed.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// The wait before the first retry; it doubles on each further one.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(200);

/// No wait between rounds is longer than this.
const MAX_DELAY: Duration = Duration::from_secs(5);

pub struct SnsSink {
    client: Client,
    topic_arn: String,
    attempts: u32,
    base_delay: Duration,
    /// Names for the accounts alerts are about, added as they are sent.
    names: Arc<AccountNames>,
}

impl SnsSink {
    pub fn new(client: Client, topic_arn: String) -> Self {
        SnsSink {
            client,
            topic_arn,
            attempts: DEFAULT_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            names: Arc::default(),
        }
    }

    /// Alerts sent name their account from `names` where it knows it.
    pub fn with_account_names(mut self, names: Arc<AccountNames>) -> Self {
        self.names = names;
        self
    }

    /// Sends failed entries up to `attempts` times in all (at least once),
    /// waiting `base_delay`, then twice that, and so on, between rounds.
    pub fn with_retry(mut self, attempts: u32, base_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.base_delay = base_delay;
        self
    }

    /// The wait before round `round` (2 for the first retry).
    fn delay(&self, round: u32) -> Duration {
        let doublings = round.saturating_sub(2).min(16);
        self.base_delay
            .saturating_mul(1 << doublings)
            .min(MAX_DELAY)
    }

    /// Sends one batch; returns the entries that were not published.
    async fn send(&self, entries: &[Entry<'_>], batch: &[usize]) -> Vec<(usize, Failure)> {
        let mut failures = Vec::new();
        let mut request = self.client.publish_batch().topic_arn(&self.topic_arn);
        let mut sent = Vec::with_capacity(batch.len());
        for &index in batch {
            match request_entry(&entries[index].message) {
                Ok(entry) => {
                    request = request.publish_batch_request_entries(entry);
                    sent.push(index);
                }
                Err(err) => failures.push((
                    index,
                    Failure {
                        code: "InvalidEntry".to_string(),
                        message: err.to_string(),
                        retry: false,
                    },
                )),
            }
        }
        if sent.is_empty() {
            return failures;
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => {
                // The SDK has already retried what was worth retrying.
                let message = match err.code() {
                    Some(code) => format!("{code}: {}", err.message().unwrap_or_default()),
                    None => aws_sdk_sns::error::DisplayErrorContext(&err).to_string(),
                };
                failures.extend(sent.into_iter().map(|index| {
                    (
                        index,
                        Failure {
                            code: String::new(),
                            message: message.clone(),
                            retry: false,
                        },
                    )
                }));
                return failures;
            }
        };
        let id_of = |index: &usize| entries[*index].message.id.as_str();
        for failed in output.failed() {
            if let Some(&index) = sent.iter().find(|index| id_of(index) == failed.id()) {
                failures.push((
                    index,
                    Failure {
                        code: failed.code().to_string(),
                        message: failed.message().unwrap_or_default().to_string(),
                        retry: !failed.sender_fault(),
                    },
                ));
            }
        }
        // SNS answers for every entry; one it does not mention may or may
        // not have gone out, and a duplicate beats a lost alert.
        for index in &sent {
            let id = id_of(index);
            let answered = output.successful().iter().any(|ok| ok.id() == Some(id))
                || output.failed().iter().any(|failed| failed.id() == id);
            if !answered {
                failures.push((
                    *index,
                    Failure {
                        code: "NoResult".to_string(),
                        message: "SNS listed the entry neither as published nor as failed"
                            .to_string(),
                        retry: true,
                    },
                ));
            }
        }
        failures
    }
}

/// One alert on its way.
struct Entry<'a> {
    alert: &'a Alert,
    message: SnsMessage,
}

/// Why an entry was not published.
struct Failure {
    /// The SNS error code of a failed entry; empty when the call failed.
    code: String,
    message: String,
    /// Whether sending it again may succeed.
    retry: bool,
}

impl Failure {
    fn describe(&self) -> String {
        if self.code.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        }
    }
}

/// The `PublishBatch` entry for one message.
fn request_entry(
    message: &SnsMessage,
) -> Result<PublishBatchRequestEntry, aws_sdk_sns::error::BuildError> {
    let mut attributes = HashMap::with_capacity(message.attributes.len());
    for (name, value) in &message.attributes {
        let value = MessageAttributeValue::builder()
            .data_type(ATTRIBUTE_TYPE)
            .string_value(value)
            .build()?;
        attributes.insert((*name).to_string(), value);
    }
    PublishBatchRequestEntry::builder()
        .id(&message.id)
        .subject(&message.subject)
        .message(&message.message)
        .message_structure("json")
        .set_message_attributes(Some(attributes))
        .build()
}

/// The pending entries in calls of at most [`MAX_BATCH_ENTRIES`] entries
/// and [`BATCH_BUDGET`] bytes, in order; entries with the same id (the same
/// alert twice) go in different calls, since ids must be distinct in one.
fn batches(entries: &[Entry<'_>], pending: &[usize]) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut batch: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for &index in pending {
        let message = &entries[index].message;
        let size = message.size();
        let full = batch.len() == MAX_BATCH_ENTRIES
            || bytes + size > BATCH_BUDGET
            || batch.iter().any(|&i| entries[i].message.id == message.id);
        if full && !batch.is_empty() {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        batch.push(index);
        bytes += size;
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

#[async_trait]
impl AlertSink for SnsSink {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let entries: Vec<Entry> = alerts
            .iter()
            .map(|alert| Entry {
                alert,
                message: match self.names.named(alert) {
                    Some(named) => sns_message(&named),
                    None => sns_message(alert),
                },
            })
            .collect();
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        let mut undelivered: Vec<usize> = Vec::new();
        let mut last_failure = String::new();
        let mut round = 1;
        while !pending.is_empty() {
            if round > 1 {
                tokio::time::sleep(self.delay(round)).await;
            }
            let mut retry = Vec::new();
            for batch in batches(&entries, &pending) {
                for (index, failure) in self.send(&entries, &batch).await {
                    let alert = entries[index].alert;
                    let cause = failure.describe();
                    if failure.retry && round < self.attempts {
                        tracing::warn!(
                            alert_id = %alert.alert_id,
                            rule_id = %alert.rule_id,
                            attempt = round,
                            cause = %cause,
                            "publishing the alert failed; retrying"
                        );
                        retry.push(index);
                    } else {
                        tracing::error!(
                            alert_id = %alert.alert_id,
                            rule_id = %alert.rule_id,
                            attempts = round,
                            cause = %cause,
                            "publishing the alert failed for good"
                        );
                        undelivered.push(index);
                    }
                    last_failure = cause;
                }
            }
            pending = retry;
            round += 1;
        }
        if undelivered.is_empty() {
            return Ok(());
        }
        undelivered.sort_unstable();
        Err(SinkError {
            failed: undelivered
                .into_iter()
                .map(|index| entries[index].alert.alert_id.clone())
                .collect(),
            message: last_failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Level, RuleMeta};
    use serde_json::json;

    fn alert(event_id: &str, blob: usize) -> Alert {
        let rule = Arc::new(RuleMeta {
            id: "rule-1".into(),
            title: "Title".into(),
            level: Level::High,
            description: "Why.".into(),
            falsepositives: vec![],
            references: vec![],
            tags: vec![],
            author: None,
            origin: "builtin/x.yml".into(),
        });
        let event = json!({"eventID": event_id, "blob": "x".repeat(blob)});
        Alert::new(&rule, event, "s3://b/k")
    }

    fn entries(alerts: &[Alert]) -> Vec<Entry<'_>> {
        alerts
            .iter()
            .map(|alert| Entry {
                alert,
                message: sns_message(alert),
            })
            .collect()
    }

    fn lengths(batches: &[Vec<usize>]) -> Vec<usize> {
        batches.iter().map(Vec::len).collect()
    }

    #[test]
    fn batches_hold_at_most_ten_entries_in_order() {
        let alerts: Vec<Alert> = (0..23).map(|i| alert(&format!("e-{i}"), 0)).collect();
        let entries = entries(&alerts);
        let pending: Vec<usize> = (0..23).collect();
        let batches = batches(&entries, &pending);
        assert_eq!(lengths(&batches), [10, 10, 3]);
        assert_eq!(batches.concat(), pending);
    }

    #[test]
    fn batches_stay_under_the_aggregate_size_limit() {
        // About 100 KB each: two fit in a call, three do not.
        let alerts: Vec<Alert> = (0..5).map(|i| alert(&format!("e-{i}"), 45_000)).collect();
        let entries = entries(&alerts);
        let batches = batches(&entries, &[0, 1, 2, 3, 4]);
        assert_eq!(lengths(&batches), [2, 2, 1]);
        for batch in &batches {
            let bytes: usize = batch.iter().map(|&i| entries[i].message.size()).sum();
            assert!(bytes <= BATCH_BUDGET, "{bytes}");
        }
    }

    #[test]
    fn the_same_alert_twice_goes_in_two_calls() {
        let alerts = [alert("e-1", 0), alert("e-2", 0), alert("e-1", 0)];
        let entries = entries(&alerts);
        assert_eq!(batches(&entries, &[0, 1, 2]), [vec![0, 1], vec![2]]);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .build();
        let sink = SnsSink::new(Client::from_conf(config), "arn".into())
            .with_retry(0, Duration::from_millis(100));
        assert_eq!(sink.attempts, 1);
        assert_eq!(sink.delay(2), Duration::from_millis(100));
        assert_eq!(sink.delay(3), Duration::from_millis(200));
        assert_eq!(sink.delay(4), Duration::from_millis(400));
        assert_eq!(sink.delay(30), MAX_DELAY);
    }
}
