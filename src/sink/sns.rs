//! Alerts to an SNS topic, whose subscribers get them by email, SQS, etc.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::{AlertSink, SinkError};
use crate::alert::Alert;

pub struct SnsSink {
    client: Client,
    topic_arn: String,
}

impl SnsSink {
    pub fn new(client: Client, topic_arn: String) -> Self {
        SnsSink { client, topic_arn }
    }
}

fn attribute(value: &str) -> Option<MessageAttributeValue> {
    // SNS rejects empty attribute values; leave such attributes out.
    if value.is_empty() {
        return None;
    }
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

#[async_trait]
impl AlertSink for SnsSink {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        for alert in alerts {
            let mut request = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(alert.subject())
                .message(alert.text());
            let attributes = [
                ("severity", alert.severity),
                ("rule_id", alert.rule_id.as_str()),
                ("account", alert.account.as_deref().unwrap_or_default()),
                ("region", alert.region.as_deref().unwrap_or_default()),
                (
                    "event_source",
                    alert.event_source.as_deref().unwrap_or_default(),
                ),
            ];
            for (name, value) in attributes {
                if let Some(value) = attribute(value) {
                    request = request.message_attributes(name, value);
                }
            }
            request.send().await.map_err(|err| SinkError {
                failed: vec![alert.alert_id.clone()],
                message: aws_sdk_sns::error::DisplayErrorContext(&err).to_string(),
            })?;
        }
        Ok(())
    }
}
