//! The events that start an invocation, turned into the objects to read.
//!
//! Deployments reach the function in many ways; each is decoded here, once,
//! into one of three shapes the handler answers differently:
//!
//! - a [`Notification`] (S3 notification, directly or wrapped in SNS; an
//!   EventBridge "Object Created" event; CloudTrail's own SNS message): the
//!   invocation fails on a transient error so Lambda retries it;
//! - a batch of [`QueueMessage`]s (SQS, holding any of the above): the
//!   function answers with the messages to retry (`batchItemFailures`);
//! - an S3 Batch Operations job ([`BatchJob`]): the function answers each
//!   task Succeeded, TemporaryFailure or PermanentFailure.
//!
//! Anything else is an error that says what arrived.
//!
//! The envelopes are `aws_lambda_events`' types (`SqsMessage`, `SnsRecord`,
//! `SnsMessage`, `EventBridgeEvent`, `S3Entity`, `S3BatchJobEvent`). Which
//! kind an event is stays a look at its JSON: the crate has no type for
//! "any event". Shims remain where the crate's types do not fit what
//! arrives, each with the sample that needs it in a test: `s3:TestEvent`
//! (no `Records`), CloudTrail's own SNS message, Batch Operations 2.0's
//! `s3Bucket`, and the S3 record (see `s3.rs`).

mod batch;
mod s3;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::{SnsMessage, SnsRecord};
use aws_lambda_events::sqs::SqsMessage;
use serde::Deserialize;
use serde_json::Value;

pub use batch::{BatchJob, BatchResponse, BatchTask, ResultCode, TaskResult};
pub use s3::decode_key;

use crate::object::ObjectRef;

/// Envelopes inside envelopes (SQS holding SNS holding S3) are at most
/// three deep; more is not an AWS event.
const MAX_NESTING: usize = 4;

/// What CloudTrail publishes to its SNS topic when the topic is set up.
const CLOUDTRAIL_VALIDATION: &str = "CloudTrail validation message.";

/// A decoded invocation event.
#[derive(Debug, PartialEq)]
pub enum Trigger {
    Notification(Notification),
    Queue(Vec<QueueMessage>),
    BatchOperations(BatchJob),
}

/// The objects one notification names.
#[derive(Debug, Default, PartialEq)]
pub struct Notification {
    /// Objects to read, in notification order.
    pub objects: Vec<ObjectRef>,
    /// Events about objects that are not new objects: (event, object).
    pub ignored: Vec<(String, String)>,
    /// Messages that only confirm a subscription works (S3's
    /// `s3:TestEvent`, CloudTrail's validation message).
    pub acknowledged: Vec<&'static str>,
    /// Records that name no object S3 can hold (a key too long, empty, or
    /// not URL encoding of UTF-8), with why: each a permanent error of its
    /// own, the other records read as usual.
    pub rejected: Vec<String>,
}

/// One SQS message and what it holds.
#[derive(Debug, PartialEq)]
pub struct QueueMessage {
    pub message_id: String,
    /// SQS's `ApproximateReceiveCount`: 1 the first time.
    pub receive_count: u32,
    /// An error here is permanent: the body can never be read.
    pub content: Result<Notification, TriggerError>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TriggerError {
    #[error("the event is not one trailwatch reads (an S3, SNS, SQS, EventBridge, CloudTrail or S3 Batch Operations event); it has {keys}")]
    Unrecognised { keys: String },
    #[error("S3 notification record {index} is malformed: {source}")]
    BadRecord {
        index: usize,
        #[source]
        source: SerdeError,
    },
    /// `key` as [`shown`] shows it.
    #[error(
        "S3 notification record {index} has a key that is not valid URL encoding of UTF-8: {key}"
    )]
    BadKey { index: usize, key: String },
    #[error("record {index} is an {origin} event, which trailwatch does not read (it reads S3 object notifications, directly or through SNS, SQS or EventBridge)")]
    ForeignRecord { index: usize, origin: String },
    #[error("{what} is malformed: {message}")]
    Malformed { what: &'static str, message: String },
    #[error("the message is neither JSON nor CloudTrail's validation message: {preview:?}")]
    NotJson { preview: String },
    #[error("envelopes are nested more than {MAX_NESTING} deep")]
    TooDeep,
}

/// serde_json's error, comparable so trigger results can be compared in
/// tests (by message).
#[derive(Debug)]
pub struct SerdeError(pub serde_json::Error);

impl std::fmt::Display for SerdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SerdeError {}

impl PartialEq for SerdeError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

/// S3's longest object key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Longest bucket name: 63 bytes today, 255 for buckets made in us-east-1
/// before March 2018.
const MAX_BUCKET_BYTES: usize = 255;

/// Whether `bucket` and `key` can name an S3 object at all; if not, why,
/// showing what arrived (cut short: it may be 64 KB). Checked before any
/// request: the SDK panics on a URI past 64 KB.
pub fn check_object(bucket: &str, key: &str) -> Result<(), String> {
    let bucket_ok = !bucket.is_empty()
        && bucket.len() <= MAX_BUCKET_BYTES
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !bucket_ok {
        return Err(format!(
            "the bucket name {} is not one S3 can have",
            shown(bucket)
        ));
    }
    if key.is_empty() {
        return Err(format!("s3://{bucket}/: the object key is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "s3://{bucket}/{}: the object key is {} bytes long, longer than S3's limit of {MAX_KEY_BYTES}",
            shown(key),
            key.len()
        ));
    }
    Ok(())
}

/// Text from an event for a log line: escaped, and cut short past 100
/// characters (saying how long it was).
pub fn shown(text: &str) -> String {
    const SHOWN: usize = 100;
    let start: String = text.chars().take(SHOWN).collect();
    if start.len() == text.len() {
        format!("{text:?}")
    } else {
        format!("{start:?}… ({} bytes)", text.len())
    }
}

/// Adds an object to read, or the reason it cannot be one.
fn add_object(object: ObjectRef, out: &mut Notification) {
    match check_object(&object.bucket, &object.key) {
        Ok(()) => out.objects.push(object),
        Err(why) => out.rejected.push(why),
    }
}

/// Reads a Lambda event.
pub fn parse(event: &Value) -> Result<Trigger, TriggerError> {
    if event.get("invocationSchemaVersion").is_some() {
        return batch::parse(event).map(Trigger::BatchOperations);
    }
    if let Some(records) = records_from(event, "aws:sqs") {
        return Ok(Trigger::Queue(records.iter().map(queue_message).collect()));
    }
    let mut notification = Notification::default();
    read_value(event, 0, &mut notification)?;
    Ok(Trigger::Notification(notification))
}

/// The `Records` array when its first record comes from `source`.
fn records_from<'v>(event: &'v Value, source: &str) -> Option<&'v Vec<Value>> {
    let records = event.get("Records")?.as_array()?;
    let first = records.first()?;
    let from = first
        .get("eventSource")
        .or_else(|| first.get("EventSource"))
        .and_then(Value::as_str);
    (from == Some(source)).then_some(records)
}

fn queue_message(record: &Value) -> QueueMessage {
    let message = match SqsMessage::deserialize(record) {
        Ok(message) => message,
        Err(err) => {
            return QueueMessage {
                // What can be read of it, so the error names the message.
                message_id: record
                    .get("messageId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                receive_count: 1,
                content: Err(TriggerError::Malformed {
                    what: "SQS message",
                    message: err.to_string(),
                }),
            };
        }
    };
    let content = match message.body.as_deref() {
        Some(body) => {
            let mut notification = Notification::default();
            read_text(body, 1, &mut notification).map(|()| notification)
        }
        None => Err(TriggerError::Malformed {
            what: "SQS message",
            message: "it has no text body".to_string(),
        }),
    };
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(1);
    QueueMessage {
        message_id: message.message_id.unwrap_or_default(),
        receive_count,
        content,
    }
}

/// Reads a message that arrived as text (an SNS `Message`, an SQS `body`).
fn read_text(text: &str, depth: usize, out: &mut Notification) -> Result<(), TriggerError> {
    if text.trim() == CLOUDTRAIL_VALIDATION {
        out.acknowledged.push("CloudTrail validation message");
        return Ok(());
    }
    let value: Value = serde_json::from_str(text).map_err(|_| TriggerError::NotJson {
        preview: text.chars().take(80).collect(),
    })?;
    read_value(&value, depth, out)
}

/// Reads a notification of any kind that names objects.
fn read_value(event: &Value, depth: usize, out: &mut Notification) -> Result<(), TriggerError> {
    if depth > MAX_NESTING {
        return Err(TriggerError::TooDeep);
    }
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        out.acknowledged.push("s3:TestEvent");
        return Ok(());
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        for (index, record) in records.iter().enumerate() {
            let source = record
                .get("eventSource")
                .or_else(|| record.get("EventSource"))
                .and_then(Value::as_str);
            match (record.get("Sns"), source) {
                (Some(_), _) => {
                    let sns =
                        SnsRecord::deserialize(record).map_err(|err| sns_malformed(index, err))?;
                    read_text(&sns.sns.message, depth + 1, out)?
                }
                (None, Some("aws:s3") | None) => s3::add_record(index, record, out)?,
                (None, Some(other)) => {
                    return Err(TriggerError::ForeignRecord {
                        index,
                        origin: other.to_string(),
                    })
                }
            }
        }
        return Ok(());
    }
    // An SNS message delivered to SQS without raw message delivery.
    if event.get("Type").and_then(Value::as_str) == Some("Notification") {
        let sns = SnsMessage::deserialize(event).map_err(|err| TriggerError::Malformed {
            what: "SNS message",
            message: err.to_string(),
        })?;
        return read_text(&sns.message, depth + 1, out);
    }
    if event.get("detail-type").is_some() && event.get("detail").is_some() {
        return read_eventbridge(event, out);
    }
    if let Some(bucket) = event.get("s3Bucket") {
        return read_cloudtrail(bucket, event.get("s3ObjectKey"), out);
    }
    Err(unrecognised(event))
}

fn sns_malformed(index: usize, err: serde_json::Error) -> TriggerError {
    TriggerError::Malformed {
        what: "SNS message",
        message: format!("record {index}: {err}"),
    }
}

/// An EventBridge event from S3. Its key is not URL-encoded (unlike S3
/// notifications), so it is taken as it is.
fn read_eventbridge(event: &Value, out: &mut Notification) -> Result<(), TriggerError> {
    let malformed = |message: String| TriggerError::Malformed {
        what: "EventBridge event",
        message,
    };
    // The detail stays JSON: the crate has no type for S3's.
    let event =
        EventBridgeEvent::<Value>::deserialize(event).map_err(|err| malformed(err.to_string()))?;
    let text = |pointer: &str| event.detail.pointer(pointer).and_then(Value::as_str);
    let (detail_type, source) = (&event.detail_type, &event.source);
    let (Some(bucket), Some(key)) = (text("/bucket/name"), text("/object/key")) else {
        return Err(malformed(format!(
            "{detail_type:?} from {source:?} has no detail.bucket.name and detail.object.key"
        )));
    };
    let object = ObjectRef {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: event.detail.pointer("/object/size").and_then(Value::as_u64),
    };
    if source == "aws.s3" && detail_type == "Object Created" {
        add_object(object, out);
    } else {
        out.ignored
            .push((format!("{source} {detail_type}"), object.to_string()));
    }
    Ok(())
}

/// CloudTrail's own SNS notification: one bucket, the keys it just wrote
/// (not URL-encoded).
fn read_cloudtrail(
    bucket: &Value,
    keys: Option<&Value>,
    out: &mut Notification,
) -> Result<(), TriggerError> {
    let malformed = |message: &str| TriggerError::Malformed {
        what: "CloudTrail notification",
        message: message.to_string(),
    };
    let bucket = bucket
        .as_str()
        .ok_or_else(|| malformed("s3Bucket is not a string"))?;
    let keys = keys
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("s3ObjectKey is not a list of keys"))?;
    for key in keys {
        let key = key
            .as_str()
            .ok_or_else(|| malformed("an s3ObjectKey entry is not a string"))?;
        add_object(
            ObjectRef {
                bucket: bucket.to_string(),
                key: key.to_string(),
                size: None,
            },
            out,
        );
    }
    Ok(())
}

fn unrecognised(event: &Value) -> TriggerError {
    let keys = match event {
        Value::Object(map) => {
            let mut keys: Vec<&str> = map.keys().map(String::as_str).take(10).collect();
            keys.sort_unstable();
            format!("top-level keys: {}", keys.join(", "))
        }
        other => format!("no keys: it is {}", json_kind(other)),
    };
    TriggerError::Unrecognised { keys }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
