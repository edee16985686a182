//! S3 event notifications: every record (not just `Records[0]`), keys
//! URL-decoded the way S3 encodes them (`+` is a space, then `%XX`).

use serde::Deserialize;
use serde_json::Value;

use super::{Notification, SerdeError, TriggerError};
use crate::object::ObjectRef;

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

/// Adds one S3 notification record to `out`: object-created events are
/// objects to read, every other event is noted and ignored.
pub(super) fn add_record(
    index: usize,
    raw: &Value,
    out: &mut Notification,
) -> Result<(), TriggerError> {
    let record = S3Record::deserialize(raw).map_err(|source| TriggerError::BadRecord {
        index,
        source: SerdeError(source),
    })?;
    let Some(key) = decode_key(&record.s3.object.key) else {
        let err = TriggerError::BadKey {
            index,
            key: super::shown(&record.s3.object.key),
        };
        out.rejected.push(err.to_string());
        return Ok(());
    };
    let object = ObjectRef {
        bucket: record.s3.bucket.name,
        key,
        size: record.s3.object.size,
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
