//! CloudTrail digest chains written into moto S3 as CloudTrail writes them
//! (gzip, `x-amz-meta-signature`, the documented signing string), signed
//! with a key pair made for the test run, and that key as `aws cloudtrail
//! list-public-keys` prints it. The same layout as tests/digests_moto.rs.

use std::io::Write;
use std::sync::OnceLock;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};

use super::Stack;

pub const ACCOUNT: &str = "123456789012";
pub const FINGERPRINT: &str = "7f4bd6e2a1c3b5d7e9f0a2c4b6d8e0f1";
pub const REGION: &str = "eu-west-3";

pub fn key_pair() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("an RSA key pair"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest(&SHA256, bytes).as_ref())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

pub fn digest_key(hour: u32) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/11/23/\
         {ACCOUNT}_CloudTrail-Digest_{REGION}_trail_us-east-1_20261123T{hour:02}0131Z.json.gz"
    )
}

pub fn log_key(hour: u32, n: u32) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/11/23/\
         {ACCOUNT}_CloudTrail_{REGION}_20261123T{hour:02}{:02}Z_log{n}.json.gz",
        n * 10
    )
}

/// A log with one harmless record (no rule alerts on it).
pub fn log_content(hour: u32, n: u32) -> Vec<u8> {
    json!({"Records": [{
        "eventVersion": "1.08",
        "eventTime": format!("2026-11-23T{hour:02}:{:02}:00Z", n * 10),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "eventID": format!("00000000-0000-0000-0000-0000000{hour:02}{n:03}"),
        "awsRegion": REGION,
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
    }]})
    .to_string()
    .into_bytes()
}

/// One object of a chain as CloudTrail writes it: its key, its gzip
/// bytes and, for a digest, the signature it keeps as metadata.
pub struct Written {
    pub key: String,
    pub body: Vec<u8>,
    pub signature: Option<String>,
}

/// One hourly digest per hour of `hours` (consecutive) in `bucket`, each
/// listing two logs, chained and signed as CloudTrail does, with their
/// logs: in the order CloudTrail writes them.
pub fn chain_objects(bucket: &str, hours: &[u32]) -> Vec<Written> {
    chain_objects_under(bucket, "", hours)
}

/// [`chain_objects`] with keys under a prefix (`audit/`, say): the trail's
/// S3 key prefix.
pub fn chain_objects_under(bucket: &str, prefix: &str, hours: &[u32]) -> Vec<Written> {
    let log_key = |hour, n| format!("{prefix}{}", log_key(hour, n));
    let digest_key = |hour| format!("{prefix}{}", digest_key(hour));
    let mut objects = Vec::new();
    let mut previous: Option<(String, String, String)> = None;
    for &hour in hours {
        let mut logs = Vec::new();
        for n in 1..=2 {
            let content = log_content(hour, n);
            objects.push(Written {
                key: log_key(hour, n),
                body: gzip(&content),
                signature: None,
            });
            logs.push(json!({
                "s3Bucket": bucket,
                "s3Object": log_key(hour, n),
                "hashValue": sha256_hex(&content),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": format!("2026-11-23T{hour:02}:{:02}:00Z", n * 10),
                "oldestEventTime": format!("2026-11-23T{hour:02}:{:02}:00Z", n * 10),
            }));
        }
        let key = digest_key(hour);
        let (pk, ph, ps) = match &previous {
            Some((k, h, s)) => (json!(k), json!(h), json!(s)),
            None => (Value::Null, Value::Null, Value::Null),
        };
        let document = json!({
            "awsAccountId": ACCOUNT,
            "digestStartTime": format!("2026-11-23T{:02}:01:31Z", hour - 1),
            "digestEndTime": format!("2026-11-23T{hour:02}:01:31Z"),
            "digestS3Bucket": bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": FINGERPRINT,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": format!("2026-11-23T{hour:02}:20:00Z"),
            "oldestEventTime": format!("2026-11-23T{hour:02}:10:00Z"),
            "previousDigestS3Bucket": if previous.is_some() { json!(bucket) } else { Value::Null },
            "previousDigestS3Object": pk,
            "previousDigestHashValue": ph,
            "previousDigestHashAlgorithm": if previous.is_some() { json!("SHA-256") } else { Value::Null },
            "previousDigestSignature": ps,
            "logFiles": logs,
        });
        let text = serde_json::to_vec(&document).expect("JSON");
        let hash = sha256_hex(&text);
        let to_sign = format!(
            "2026-11-23T{hour:02}:01:31Z\n{bucket}/{key}\n{hash}\n{}",
            previous.as_ref().map_or("null", |(_, _, s)| s.as_str())
        );
        let mut signature = vec![0; key_pair().public_modulus_len()];
        key_pair()
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                to_sign.as_bytes(),
                &mut signature,
            )
            .expect("signing");
        let signature = hex(&signature);
        objects.push(Written {
            key: key.clone(),
            body: gzip(&text),
            signature: Some(signature.clone()),
        });
        previous = Some((key, hash, signature));
    }
    objects
}

/// Writes [`chain_objects`] into the stack's bucket, each digest with its
/// `x-amz-meta-signature` and `-signature-algorithm`.
pub async fn write_chain(stack: &Stack, hours: &[u32]) {
    for object in chain_objects(&stack.bucket, hours) {
        let mut put = stack
            .s3
            .put_object()
            .bucket(&stack.bucket)
            .key(&object.key)
            .body(ByteStream::from(object.body));
        if let Some(signature) = &object.signature {
            put = put
                .metadata("signature", signature)
                .metadata("signature-algorithm", "SHA256withRSA");
        }
        put.send().await.expect("put an object of the chain");
    }
}

/// The test's key as `aws cloudtrail list-public-keys` prints it (times in
/// RFC 3339), valid all of November 2026.
pub fn list_public_keys_output() -> String {
    json!({"PublicKeyList": [{
        "Value": base64_encode(key_pair().public_key().as_ref()),
        "ValidityStartTime": "2026-11-01T00:00:00+00:00",
        "ValidityEndTime": "2026-12-01T00:00:00+00:00",
        "Fingerprint": FINGERPRINT,
    }]})
    .to_string()
}

/// Base64 (standard alphabet, padded).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `ListPublicKeys` as CloudTrail answers it (JSON 1.1: `Value` base64 DER,
/// times in epoch seconds), for the HTTP mock: the test's key, valid all
/// of November 2026.
pub fn list_public_keys_rule() -> std::sync::Arc<super::mock_http::Rule> {
    use super::mock_http::{Answer, Rule, Seen};
    let body = json!({"PublicKeyList": [{
        "Value": base64_encode(key_pair().public_key().as_ref()),
        "ValidityStartTime": 1_793_491_200, // 2026-11-01
        "ValidityEndTime": 1_796_083_200,   // 2026-12-01
        "Fingerprint": FINGERPRINT,
    }]});
    Rule::always(
        "ListPublicKeys",
        |seen: &Seen| seen.target.ends_with("ListPublicKeys"),
        Answer::fixed(
            200,
            "application/x-amz-json-1.1",
            body.to_string().into_bytes(),
        ),
    )
}
