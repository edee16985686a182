//! The chat topic beside the alert topic (`CHAT_TOPIC_ARN`): every alert
//! the alert topic took is also published, in its chat form, to a topic
//! that AWS Chatbot maps to a Slack or Microsoft Teams channel.
//!
//! The alert topic comes first and decides the outcome: the chat copy
//! goes only for the alerts it delivered (one that failed is retried with
//! the invocation, and its chat copy goes then, once), and a chat copy
//! that fails for good (after the same retries as the alert topic's) is
//! logged with `class = "chat"` and the alert id and counted (the
//! invocation's `chat_failed`, the `ChatFailed` metric), not returned as
//! an error. Failing the invocation for it would send the email again on
//! the retry for a message the email subscribers already have.
//!
//! Under dedup (`DEDUP_TABLE`) this sink is what `dedup::publish_once`
//! calls with the alerts it claimed: an alert suppressed as already sent
//! reaches neither topic.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::{AlertSink, SinkError};
use crate::alert::Alert;

pub struct WithChat {
    alerts: Arc<dyn AlertSink>,
    chat: Arc<dyn AlertSink>,
    /// Chat copies that failed for good, until taken. A Lambda process runs
    /// one invocation at a time, so what is taken after a publish is its own.
    failed: AtomicU64,
}

impl WithChat {
    /// `alerts` (the alert topic) mirrored to `chat` (the chat topic).
    pub fn new(alerts: Arc<dyn AlertSink>, chat: Arc<dyn AlertSink>) -> Self {
        WithChat {
            alerts,
            chat,
            failed: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl AlertSink for WithChat {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let result = self.alerts.publish(alerts).await;
        let failed: BTreeSet<&str> = match &result {
            Ok(()) => BTreeSet::new(),
            Err(err) => err.failed.iter().map(String::as_str).collect(),
        };
        let delivered: Vec<Alert> = alerts
            .iter()
            .filter(|alert| !failed.contains(alert.alert_id.as_str()))
            .cloned()
            .collect();
        if !delivered.is_empty() {
            if let Err(err) = self.chat.publish(&delivered).await {
                self.failed
                    .fetch_add(err.failed.len() as u64, Ordering::Relaxed);
                for alert_id in &err.failed {
                    tracing::error!(
                        class = "chat",
                        alert_id = %alert_id,
                        "the alert went to the alert topic but not to the chat topic: {}",
                        err.message
                    );
                }
            }
        }
        result
    }

    fn take_chat_failures(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }
}
