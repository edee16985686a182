//! Notifications that start an invocation, turned into the objects to read.
//!
//! Every record of a notification is handled (not just `Records[0]`), and
//! keys are URL-decoded the way S3 encodes them in notifications: `+` is a
//! space, then `%XX` escapes.

use serde::Deserialize;
use serde_json::Value;

use crate::object::ObjectRef;

/// What a notification asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Trigger {
    /// Objects to read, in notification order.
    pub objects: Vec<ObjectRef>,
    /// Records that were not object-created events: (eventName, object).
    pub ignored: Vec<(String, String)>,
    /// The `s3:TestEvent` S3 sends when a notification is configured.
    pub test_event: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("the event is not an S3 notification (top-level keys: {keys})")]
    Unrecognised { keys: String },
    #[error("S3 notification record {index} is malformed: {source}")]
    BadRecord {
        index: usize,
        source: serde_json::Error,
    },
    #[error(
        "S3 notification record {index} has a key that is not valid URL encoding of UTF-8: {key:?}"
    )]
    BadKey { index: usize, key: String },
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    size: Option<u64>,
}

/// Reads a Lambda event. Accepts the S3 event notification and S3's test
/// event; anything else is an error that names what arrived.
pub fn parse(event: &Value) -> Result<Trigger, TriggerError> {
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Trigger {
            test_event: true,
            ..Trigger::default()
        });
    }
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Err(unrecognised(event));
    };
    let mut trigger = Trigger::default();
    for (index, raw) in records.iter().enumerate() {
        let record = S3Record::deserialize(raw)
            .map_err(|source| TriggerError::BadRecord { index, source })?;
        let key = decode_key(&record.s3.object.key).ok_or_else(|| TriggerError::BadKey {
            index,
            key: record.s3.object.key.clone(),
        })?;
        let object = ObjectRef {
            bucket: record.s3.bucket.name,
            key,
            size: record.s3.object.size,
        };
        if record.event_name.starts_with("ObjectCreated:") {
            trigger.objects.push(object);
        } else {
            trigger
                .ignored
                .push((record.event_name, object.to_string()));
        }
    }
    Ok(trigger)
}

fn unrecognised(event: &Value) -> TriggerError {
    let keys = match event {
        Value::Object(map) => {
            let mut keys: Vec<&str> = map.keys().map(String::as_str).take(10).collect();
            keys.sort_unstable();
            keys.join(", ")
        }
        other => format!("not an object but {}", json_kind(other)),
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

/// Decodes an object key as S3 writes it into notifications: form encoding,
/// where `+` is a space and `%2B` a plus. Returns `None` for bytes that are
/// not UTF-8 once decoded.
pub fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_decode_as_s3_encodes_them() {
        let cases = [
            ("plain/key.json.gz", "plain/key.json.gz"),
            (
                "backfill+run%3D1/file.json.gz",
                "backfill run=1/file.json.gz",
            ),
            ("a%2Bb", "a+b"),
            ("a+%2B+b", "a + b"),
            ("caf%C3%A9", "café"),
            ("100%25", "100%"),
            // A lone % that is not an escape stays as it is.
            ("50%off", "50%off"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_key(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(decode_key("bad%FF"), None);
    }

    fn record(event_name: &str, key: &str, size: u64) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event_name,
            "s3": {"bucket": {"name": "logs"}, "object": {"key": key, "size": size}}
        })
    }

    #[test]
    fn every_record_is_handled() {
        let event = json!({"Records": [
            record("ObjectCreated:Put", "a+b.json.gz", 10),
            record("ObjectRemoved:Delete", "gone.json.gz", 0),
            record("ObjectCreated:CompleteMultipartUpload", "c%3Dd.json.gz", 20),
        ]});
        let trigger = parse(&event).expect("valid");
        let keys: Vec<&str> = trigger.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a b.json.gz", "c=d.json.gz"]);
        assert_eq!(trigger.objects[1].size, Some(20));
        assert_eq!(
            trigger.ignored,
            [(
                "ObjectRemoved:Delete".to_string(),
                "s3://logs/gone.json.gz".to_string()
            )]
        );
    }

    #[test]
    fn test_event_is_acknowledged() {
        let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "logs"});
        assert!(parse(&event).expect("valid").test_event);
    }

    #[test]
    fn errors_name_what_arrived() {
        let err = parse(&json!({"detail-type": "x", "source": "aws.s3"})).expect_err("not s3");
        assert_eq!(
            err.to_string(),
            "the event is not an S3 notification (top-level keys: detail-type, source)"
        );
        let err = parse(&json!([1])).expect_err("array");
        assert!(
            err.to_string().contains("not an object but an array"),
            "{err}"
        );
        let err =
            parse(&json!({"Records": [{"eventName": "ObjectCreated:Put"}]})).expect_err("no s3");
        assert!(err.to_string().contains("record 0 is malformed"), "{err}");
    }
}
