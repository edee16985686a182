//! The dedup ledger in a DynamoDB table (`DEDUP_TABLE`).
//!
//! The table's partition key is `alert_id` (a string); its TTL attribute
//! is `expires_at` (epoch seconds). One item per alert id:
//!
//! | attribute     | meaning                                              |
//! |---------------|------------------------------------------------------|
//! | `alert_id`    | the alert's id (rule and first eventID, hashed)      |
//! | `state`       | `sending` (claimed) or `sent`                        |
//! | `lease_until` | epoch seconds: a `sending` claim is dead after this  |
//! | `expires_at`  | epoch seconds: forgotten after this (TTL)            |
//! | `sent_at`     | epoch seconds, once sent                             |
//!
//! A claim is one conditional `PutItem`: it succeeds when no item exists,
//! the item has expired (TTL deletes lazily), or it is a `sending` claim
//! whose lease has ended. Calls: `dynamodb:PutItem` and
//! `dynamodb:DeleteItem` on the table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use super::{Claim, Ledger, LedgerError};

const SENDING: &str = "sending";
const SENT: &str = "sent";

/// Claim anew when there is no record, it expired, or its claim is dead.
const CLAIM_CONDITION: &str = "attribute_not_exists(alert_id) OR expires_at < :now \
     OR (#state = :sending AND lease_until < :now)";

pub struct DynamoLedger {
    client: Client,
    table: String,
    ttl: Duration,
}

impl DynamoLedger {
    /// `ttl`: how long a sent alert id is remembered.
    pub fn new(client: Client, table: String, ttl: Duration) -> Self {
        DynamoLedger { client, table, ttl }
    }

    fn error(&self, err: impl std::error::Error) -> LedgerError {
        LedgerError {
            table: self.table.clone(),
            message: DisplayErrorContext(&err).to_string(),
        }
    }

    fn expires_at(&self, now: SystemTime) -> AttributeValue {
        number(epoch_seconds(now).saturating_add(self.ttl.as_secs()))
    }
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn claim(
        &self,
        alert_id: &str,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Claim, LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("alert_id", AttributeValue::S(alert_id.to_string()))
            .item("state", AttributeValue::S(SENDING.to_string()))
            .item("lease_until", number(epoch_seconds(lease_until)))
            .item("expires_at", self.expires_at(now))
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", number(epoch_seconds(now)))
            .expression_attribute_values(":sending", AttributeValue::S(SENDING.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Granted),
            Err(SdkError::ServiceError(service)) => match service.err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let state = failed
                        .item()
                        .and_then(|item| item.get("state"))
                        .and_then(|state| state.as_s().ok());
                    // Only a record that says `sent` was sent; anything else
                    // is a live claim.
                    Ok(match state.map(String::as_str) {
                        Some(SENT) => Claim::Sent,
                        _ => Claim::InFlight,
                    })
                }
                _ => Err(self.error(SdkError::ServiceError(service))),
            },
            Err(err) => Err(self.error(err)),
        }
    }

    async fn sent(&self, alert_id: &str, now: SystemTime) -> Result<(), LedgerError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("alert_id", AttributeValue::S(alert_id.to_string()))
            .item("state", AttributeValue::S(SENT.to_string()))
            .item("sent_at", number(epoch_seconds(now)))
            .item("expires_at", self.expires_at(now))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.error(err))
    }

    async fn release(&self, alert_id: &str) -> Result<(), LedgerError> {
        // Only a claim is given back, never a record of a sent alert.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("alert_id", AttributeValue::S(alert_id.to_string()))
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", AttributeValue::S(SENDING.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(self.error(err)),
        }
    }
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
