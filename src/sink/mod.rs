//! Where alerts go: an SNS topic under Lambda (`sns.rs`), stdout in the CLI.

pub mod sns;

use async_trait::async_trait;

use crate::alert::Alert;

/// Publishing failed; the invocation must fail so Lambda retries.
#[derive(Debug, thiserror::Error)]
#[error("publishing alert {alert_id} ({rule_id}) failed: {message}")]
pub struct SinkError {
    pub alert_id: String,
    pub rule_id: String,
    pub message: String,
}

#[async_trait]
pub trait AlertSink: Send + Sync {
    /// Delivers every alert or returns the first failure.
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError>;
}
