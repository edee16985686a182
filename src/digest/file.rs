//! The digest file: the JSON CloudTrail delivers each hour (gzipped), with
//! the fields the User Guide's "CloudTrail digest file structure" lists.

use std::io::{BufRead, Read};

use serde::Deserialize;

use super::hash::{hex, Sha256};
use super::location::Location;

/// Largest uncompressed digest read. A digest lists one hour's logs of one
/// account and region (about 400 bytes a log): far below this, which only
/// stops a decompression bomb.
pub const MAX_DIGEST_BYTES: u64 = 64 << 20;

/// One digest file. Times are kept as written: the signing string uses
/// `digestEndTime` verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    /// Null in a digest of an hour with no logs ("'Empty' digest files").
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    /// The `previousDigest*` fields are null in a starting digest (the
    /// first after validation or logging was turned on).
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    /// Present, maybe null: the aws-cli rejects a digest without the key
    /// (`required_digest_keys`), as this does.
    #[serde(deserialize_with = "Option::deserialize")]
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<LogFile>,
}

/// One log object a digest lists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFile {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the log's uncompressed content.
    pub hash_value: String,
    pub hash_algorithm: String,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A digest as read: its fields and the hex SHA-256 of its uncompressed
/// JSON, the hash the signing string and the next digest's
/// `previousDigestHashValue` are over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub digest: Digest,
    pub sha256: String,
}

/// Bytes that are not a digest: which object, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at} is not a CloudTrail digest: {}", what.escape_debug())]
pub struct BadDigest {
    pub at: Location,
    pub what: String,
}

/// Parses the bytes of the digest object at `at` (gzip, or plain JSON for
/// a local copy someone inflated).
pub fn parse(at: &Location, bytes: &[u8]) -> Result<Parsed, BadDigest> {
    let bad = |what| BadDigest {
        at: at.clone(),
        what,
    };
    let json = inflate(bytes).map_err(bad)?;
    let digest = serde_json::from_slice(&json).map_err(|e| bad(format!("not a digest: {e}")))?;
    Ok(Parsed {
        digest,
        sha256: hex(&Sha256::of(&json)),
    })
}

/// The uncompressed bytes of a digest object: one gzip member and nothing
/// after it, or the bytes themselves when they are not gzip.
pub fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut json = Vec::new();
    (&mut decoder)
        .take(MAX_DIGEST_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("not gzip: {e}"))?;
    if json.len() as u64 > MAX_DIGEST_BYTES {
        return Err(format!("larger than {MAX_DIGEST_BYTES} bytes inflated"));
    }
    let mut rest = decoder.into_inner();
    if !rest.fill_buf().map_or(true, |r| r.is_empty()) {
        return Err("data after the gzip stream".to_string());
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "tests/data/notifications/digest__aws-cloudtrail-user-guide__cloudtrail-log-file-validation-digest-file-structure__block2__cloudtrail-digest.json";
    const EMPTY: &str = "tests/data/notifications/digest__aws-cloudtrail-user-guide__cloudtrail-log-file-validation-digest-file-structure__block3__cloudtrail-digest.json";

    fn at() -> Location {
        Location::new("trail-bucket", "AWSLogs/1/CloudTrail-Digest/x.json.gz")
    }

    fn parse(bytes: &[u8]) -> Result<Parsed, BadDigest> {
        super::parse(&at(), bytes)
    }

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
    }

    #[test]
    fn the_user_guides_examples_parse() {
        let sample = parse(&read(DOC)).expect("the sample digest").digest;
        assert_eq!(sample.digest_end_time, "2015-08-17T15:01:31Z");
        assert_eq!(
            sample.digest_public_key_fingerprint,
            "31e8b5433410dfb61a9dc45cc65b22ff"
        );
        assert_eq!(sample.log_files.len(), 1);
        assert_eq!(sample.log_files[0].hash_algorithm, "SHA-256");
        assert!(sample.previous_digest_signature.is_some());

        let empty = parse(&read(EMPTY)).expect("the empty digest").digest;
        assert!(empty.log_files.is_empty());
        assert_eq!(empty.newest_event_time, None);
    }

    #[test]
    fn gzip_and_plain_hash_the_same_json() {
        let json = read(DOC);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &json).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(parse(&gz), parse(&json));
        assert_eq!(parse(&json).expect("plain").sha256, hex(&Sha256::of(&json)));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let json = read(DOC);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &json).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let mut appended = gz.clone();
        appended.extend_from_slice(&gz);
        let without_signature_key = String::from_utf8(json.clone())
            .expect("utf-8")
            .replace("\"previousDigestSignature\"", "\"other\"");
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("truncated gzip", gz[..gz.len() / 2].to_vec(), "not gzip"),
            ("appended", appended, "data after the gzip stream"),
            ("not JSON", b"<html>".to_vec(), "not a digest"),
            (
                "a log, not a digest",
                br#"{"Records":[]}"#.to_vec(),
                "missing field",
            ),
            (
                "no previousDigestSignature",
                without_signature_key.into_bytes(),
                "missing field `previousDigestSignature`",
            ),
        ];
        for (name, bytes, says) in cases {
            let error = parse(&bytes).expect_err(name);
            assert!(error.what.contains(says), "{name}: {error}");
            let shown = error.to_string();
            assert!(
                shown.starts_with("s3://trail-bucket/AWSLogs/1/CloudTrail-Digest/x.json.gz is not a CloudTrail digest: "),
                "{shown}"
            );
        }
    }
}
