//! Cross-invocation dedup: an alert already sent is not sent again when S3
//! delivers the same notification twice, an SQS message comes back, or
//! Lambda retries an invocation that failed after publishing.
//!
//! Each alert id is claimed in a ledger (`DEDUP_TABLE`, a DynamoDB table:
//! `dynamodb.rs`) before it is published, then marked sent, or released if
//! publishing failed so that the retry sends it. The design keeps the
//! product's rule, nothing is lost:
//!
//! - A claim is a lease that ends with the claiming invocation's deadline.
//!   Another invocation that finds a live lease leaves the alert to its
//!   holder; if the holder dies without a word, its retry starts after the
//!   deadline and can claim the alert again.
//! - A ledger that cannot be reached (throttled past the SDK's retries,
//!   table missing, no permission) does not stop an alert: it is sent
//!   unchecked, and the error is logged and counted. A possible duplicate
//!   is better than a lost alert.
//! - Records expire after `DEDUP_TTL_HOURS` (DynamoDB's TTL deletes them,
//!   lazily; the claim also ignores an expired record).
//!
//! An alert's id is that of its first finding (rule and eventID), so the
//! same log objects give the same ids on every retry. A retry whose SQS
//! batch holds fewer objects may group differently and send what the
//! missing objects contributed again: a duplicate, never a loss.

pub mod dynamodb;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::alert::Alert;
use crate::sink::{AlertSink, SinkError};

/// How long an alert id is remembered, unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the ledger says about an alert id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not sent before: this invocation sends it.
    Granted,
    /// Sent by an earlier invocation.
    Sent,
    /// Another invocation holds a live claim and is sending it.
    InFlight,
}

/// The ledger could not answer; names the table and the cause.
#[derive(Debug, thiserror::Error)]
#[error("dedup table {table}: {message}")]
pub struct LedgerError {
    pub table: String,
    pub message: String,
}

/// Where sent alert ids are remembered.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Claims `alert_id` until `lease_until`, unless it was sent or is
    /// claimed by someone else whose lease has not ended.
    async fn claim(
        &self,
        alert_id: &str,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Claim, LedgerError>;

    /// Records that `alert_id` was delivered.
    async fn sent(&self, alert_id: &str, now: SystemTime) -> Result<(), LedgerError>;

    /// Gives a claim back after a failed delivery, so a retry can send.
    async fn release(&self, alert_id: &str) -> Result<(), LedgerError>;
}

/// What publishing through the ledger did.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Alerts delivered.
    pub sent: u64,
    /// Alerts not sent because an earlier or concurrent invocation did.
    pub suppressed: u64,
    /// Alerts sent without a dedup check, the ledger being unreachable.
    pub unchecked: u64,
    /// The alerts that could not be delivered.
    pub failed: Option<SinkError>,
}

/// Publishes `alerts` through `sink`, skipping those the ledger says were
/// sent; without a ledger, publishes them all.
pub async fn publish_once(
    sink: &dyn AlertSink,
    ledger: Option<&Arc<dyn Ledger>>,
    alerts: &[Alert],
    lease_until: SystemTime,
) -> Delivery {
    let Some(ledger) = ledger else {
        let failed = sink.publish(alerts).await.err();
        return Delivery {
            sent: delivered(alerts.len(), failed.as_ref()),
            failed,
            ..Delivery::default()
        };
    };
    let now = SystemTime::now();
    let ids: Vec<String> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    let claims = for_each(ledger, &ids, move |ledger, id| async move {
        ledger.claim(&id, now, lease_until).await
    })
    .await;
    let mut delivery = Delivery::default();
    let mut to_send = Vec::new();
    let mut claimed = Vec::new();
    for (alert, claim) in alerts.iter().zip(claims) {
        let id = alert.alert_id.as_str();
        match claim {
            Ok(Claim::Granted) => {
                claimed.push(alert.alert_id.clone());
                to_send.push(alert.clone());
            }
            Ok(Claim::Sent) => {
                tracing::info!(alert_id = id, rule_id = %alert.rule_id, "alert already sent by an earlier invocation; not sent again");
                delivery.suppressed += 1;
            }
            Ok(Claim::InFlight) => {
                tracing::info!(alert_id = id, rule_id = %alert.rule_id, "alert being sent by another invocation; left to it");
                delivery.suppressed += 1;
            }
            Err(err) => {
                tracing::error!(alert_id = id, class = "dedup", "dedup check failed; sending the alert unchecked (it may be a duplicate): {err}");
                delivery.unchecked += 1;
                to_send.push(alert.clone());
            }
        }
    }
    if !to_send.is_empty() {
        delivery.failed = sink.publish(&to_send).await.err();
    }
    delivery.sent = delivered(to_send.len(), delivery.failed.as_ref());
    settle(ledger, claimed, delivery.failed.as_ref()).await;
    delivery
}

/// Marks the claimed alerts sent, or releases those not delivered. A
/// failure here is only logged: the lease ends with the invocation anyway.
async fn settle(ledger: &Arc<dyn Ledger>, claimed: Vec<String>, failed: Option<&SinkError>) {
    let failed: BTreeSet<&str> = failed
        .map(|err| err.failed.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let (released, sent): (Vec<String>, Vec<String>) = claimed
        .into_iter()
        .partition(|id| failed.contains(id.as_str()));
    let now = SystemTime::now();
    let marks = for_each(ledger, &sent, move |ledger, id| async move {
        ledger.sent(&id, now).await
    });
    let releases = for_each(ledger, &released, |ledger, id| async move {
        ledger.release(&id).await
    });
    let (marks, releases) = tokio::join!(marks, releases);
    for (id, result) in sent.iter().zip(marks) {
        if let Err(err) = result {
            tracing::warn!(alert_id = %id, class = "dedup", "alert sent but not recorded as sent; a retry after this invocation's deadline may send it again: {err}");
        }
    }
    for (id, result) in released.iter().zip(releases) {
        if let Err(err) = result {
            tracing::warn!(alert_id = %id, class = "dedup", "claim not released; a retry can send the alert once this invocation's deadline has passed: {err}");
        }
    }
}

fn delivered(attempted: usize, failed: Option<&SinkError>) -> u64 {
    (attempted - failed.map_or(0, |err| err.failed.len().min(attempted))) as u64
}

/// Runs `call` for every id at once (one ledger request each), answers in
/// the ids' order.
async fn for_each<T, F, Fut>(
    ledger: &Arc<dyn Ledger>,
    ids: &[String],
    call: F,
) -> Vec<Result<T, LedgerError>>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Ledger>, String) -> Fut,
    Fut: Future<Output = Result<T, LedgerError>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (index, id) in ids.iter().enumerate() {
        let call = call(Arc::clone(ledger), id.clone());
        tasks.spawn(async move { (index, call.await) });
    }
    let mut answers: Vec<Option<Result<T, LedgerError>>> = (0..ids.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        // A task that panicked leaves its slot empty: answered below.
        if let Some((slot, answer)) = joined
            .ok()
            .and_then(|(index, answer)| Some((answers.get_mut(index)?, answer)))
        {
            *slot = Some(answer);
        }
    }
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(LedgerError {
                    table: String::new(),
                    message: "the ledger request's task failed".to_string(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
