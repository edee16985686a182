//! S3 event notifications: every record (not just `Records[0]`), keys
//! URL-decoded the way S3 encodes them (`+` is a space, then `%XX`).

use aws_lambda_events::s3::S3Entity;
use serde::de::Error as _;
use serde::Deserialize;
use serde_json::Value;

use super::{Notification, SerdeError, TriggerError};
use crate::object::ObjectRef;

/// One S3 notification record: aws_lambda_events' `S3Entity` (bucket and
/// object) under the event name. A shim, not its `S3EventRecord`: that one
/// requires `eventTime`, `userIdentity` and `requestParameters`, which
/// every AWS sample has but records built by hand (the tests', a
/// `cargo lambda invoke` payload) often do not, and which trailwatch never
/// reads.
#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

/// Adds one S3 notification record to `out`: object-created events are
/// objects to read, every other event is noted and ignored.
pub(super) fn add_record(
    index: usize,
    raw: &Value,
    out: &mut Notification,
) -> Result<(), TriggerError> {
    let bad_record = |source| TriggerError::BadRecord {
        index,
        source: SerdeError(source),
    };
    let record = S3Record::deserialize(raw).map_err(bad_record)?;
    // The crate makes both optional; S3 always sends them.
    let bucket = record
        .s3
        .bucket
        .name
        .ok_or_else(|| bad_record(serde_json::Error::missing_field("name")))?;
    let raw_key = record
        .s3
        .object
        .key
        .ok_or_else(|| bad_record(serde_json::Error::missing_field("key")))?;
    let Some(key) = decode_key(&raw_key) else {
        let err = TriggerError::BadKey {
            index,
            key: super::shown(&raw_key),
        };
        out.rejected.push(err.to_string());
        return Ok(());
    };
    let object = ObjectRef {
        bucket,
        key,
        // A negative size is no size.
        size: record
            .s3
            .object
            .size
            .and_then(|size| u64::try_from(size).ok()),
    };
    if record.event_name.starts_with("ObjectCreated:") {
        super::add_object(object, out);
    } else {
        out.ignored.push((record.event_name, object.to_string()));
    }
    Ok(())
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
}
