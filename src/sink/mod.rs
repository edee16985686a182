//! Where alerts go: an SNS topic under Lambda (`sns.rs`: `PublishBatch`,
//! entry-level retries, one message per alert cut to the SNS size limit),
//! stdout in the CLI.

pub mod chat;
pub mod sns;

use async_trait::async_trait;

use crate::alert::Alert;

/// Publishing some alerts failed for good (after retries); the invocation,
/// or the work items those alerts came from, must fail so Lambda retries.
#[derive(Debug, thiserror::Error)]
#[error("publishing {} alert(s) failed (first: {}): {message}", failed.len(), failed.first().map(String::as_str).unwrap_or("-"))]
pub struct SinkError {
    /// The alert ids that were not delivered.
    pub failed: Vec<String>,
    pub message: String,
}

#[async_trait]
pub trait AlertSink: Send + Sync {
    /// Delivers every alert it can; the error lists those it could not.
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError>;

    /// Alerts delivered whose chat copy (`chat.rs`) failed for good since
    /// the last call, which resets the count: they fail nothing, and the
    /// invocation counts them here.
    fn take_chat_failures(&self) -> u64 {
        0
    }
}
