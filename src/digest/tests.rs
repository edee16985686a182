//! A chain of three hourly digests, signed as CloudTrail signs them with a
//! key pair made here, and each kind of tampering it must reveal.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use super::hash::{hex, Sha256};
use super::*;

const BUCKET: &str = "trail-bucket";
const FINGERPRINT: &str = "31e8b5433410dfb61a9dc45cc65b22ff";
const HOURS: [u32; 3] = [14, 15, 16];

fn key_pair() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("an RSA key pair"))
}

fn other_key_pair() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("an RSA key pair"))
}

fn digest_at(hour: u32) -> Location {
    Location::new(
        BUCKET,
        format!("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_trail_us-east-2_20150817T{hour:02}0131Z.json.gz"),
    )
}

fn log_at(hour: u32, n: u32) -> Location {
    Location::new(
        BUCKET,
        format!("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T{hour:02}{:02}Z_log{n}.json.gz", n * 10),
    )
}

fn log_content(hour: u32, n: u32) -> Vec<u8> {
    format!(r#"{{"Records":[{{"eventTime":"2015-08-17T{hour:02}:{:02}:00Z","eventName":"ListBuckets"}}]}}"#, n * 10).into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn sign(key: &KeyPair, text: &str) -> String {
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        text.as_bytes(),
        &mut signature,
    )
    .expect("signing");
    hex(&signature)
}

/// Objects in memory: bytes and user metadata by place.
#[derive(Default)]
struct Store {
    objects: BTreeMap<Location, (Vec<u8>, BTreeMap<String, String>)>,
}

impl DigestStore for Store {
    fn get(&self, at: &Location, version: Option<&str>) -> Result<Option<Object>, Failure> {
        assert_eq!(version, None, "verification reads current objects");
        Ok(self.objects.get(at).map(|(bytes, metadata)| Object {
            body: Box::new(std::io::Cursor::new(bytes.clone())),
            metadata: metadata.clone(),
            version: Some("v1".to_string()),
        }))
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Failure> {
        Ok(self
            .objects
            .keys()
            .filter(|at| at.bucket == bucket && at.key.starts_with(prefix))
            .map(|at| at.key.clone())
            .collect())
    }
}

/// CloudTrail's keys: DER by fingerprint, valid through August 2015; the
/// ranges asked are kept.
struct Keys {
    keys: BTreeMap<String, Vec<u8>>,
    asked: Mutex<Vec<TimeRange>>,
}

impl PublicKeys for Keys {
    fn key(&self, fingerprint: &str, range: &TimeRange) -> Result<Option<Vec<u8>>, Failure> {
        self.asked.lock().expect("lock").push(*range);
        let valid = range.start.to_rfc3339().as_str() < "2015-09"
            && range.end.to_rfc3339().as_str() > "2015-08";
        Ok(self.keys.get(fingerprint).filter(|_| valid).cloned())
    }
}

struct World {
    store: Store,
    keys: Keys,
}

impl World {
    fn verify(&self, hour: u32) -> Report {
        verify(&self.store, &self.keys, &digest_at(hour)).expect("verified")
    }

    fn object(&mut self, at: &Location) -> &mut (Vec<u8>, BTreeMap<String, String>) {
        self.objects().get_mut(at).expect("an object")
    }

    fn objects(&mut self) -> &mut BTreeMap<Location, (Vec<u8>, BTreeMap<String, String>)> {
        &mut self.store.objects
    }
}

/// How a digest of the chain is made, for the cases that make one
/// differently from CloudTrail.
struct Make {
    /// Changes the digest JSON of the hour before it is signed.
    edit: fn(u32, &mut Value),
    /// The key that signs the hour.
    signer: fn(u32) -> &'static KeyPair,
}

const AS_CLOUDTRAIL: Make = Make {
    edit: |_, _| {},
    signer: |_| key_pair(),
};

/// Three hourly digests, each listing two logs (the last hour none), chained
/// and signed as the User Guide describes.
fn chain(make: Make) -> World {
    let mut store = Store::default();
    let mut previous: Option<(Location, String, String)> = None;
    for hour in HOURS {
        let logs: Vec<Value> = (1..=2)
            .filter(|_| hour != 16)
            .map(|n| {
                let content = log_content(hour, n);
                let at = log_at(hour, n);
                store
                    .objects
                    .insert(at.clone(), (gzip(&content), BTreeMap::new()));
                json!({
                    "s3Bucket": at.bucket,
                    "s3Object": at.key,
                    "hashValue": hex(&Sha256::of(&content)),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": format!("2015-08-17T{hour:02}:{:02}:00Z", n * 10),
                    "oldestEventTime": format!("2015-08-17T{hour:02}:{:02}:00Z", n * 10),
                })
            })
            .collect();
        let at = digest_at(hour);
        let (pb, pk, ph, ps) = match &previous {
            Some((p, hash, signature)) => {
                (json!(p.bucket), json!(p.key), json!(hash), json!(signature))
            }
            None => (Value::Null, Value::Null, Value::Null, Value::Null),
        };
        let mut digest = json!({
            "awsAccountId": "111122223333",
            "digestStartTime": format!("2015-08-17T{:02}:01:31Z", hour - 1),
            "digestEndTime": format!("2015-08-17T{hour:02}:01:31Z"),
            "digestS3Bucket": at.bucket,
            "digestS3Object": at.key,
            "digestPublicKeyFingerprint": FINGERPRINT,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": if logs.is_empty() { Value::Null } else { json!("2015-08-17T13:20:00Z") },
            "oldestEventTime": if logs.is_empty() { Value::Null } else { json!("2015-08-17T13:10:00Z") },
            "previousDigestS3Bucket": pb,
            "previousDigestS3Object": pk,
            "previousDigestHashValue": ph,
            "previousDigestHashAlgorithm": if previous.is_some() { json!("SHA-256") } else { Value::Null },
            "previousDigestSignature": ps,
            "logFiles": logs,
        });
        (make.edit)(hour, &mut digest);
        let text = serde_json::to_vec(&digest).expect("JSON");
        let hash = hex(&Sha256::of(&text));
        // The documented signing string, written out here rather than taken
        // from `sign::signing_string`, so that this test pins it.
        let previous_signature = digest["previousDigestSignature"].as_str().unwrap_or("null");
        let to_sign = format!(
            "{}\n{}/{}\n{hash}\n{previous_signature}",
            digest["digestEndTime"].as_str().expect("an end time"),
            digest["digestS3Bucket"].as_str().expect("a bucket"),
            digest["digestS3Object"].as_str().expect("a key"),
        );
        let signature = sign((make.signer)(hour), &to_sign);
        let metadata = BTreeMap::from([
            ("signature".to_string(), signature.clone()),
            (
                "signature-algorithm".to_string(),
                "SHA256withRSA".to_string(),
            ),
        ]);
        store.objects.insert(at.clone(), (gzip(&text), metadata));
        previous = Some((at, hash, signature));
    }
    let keys = Keys {
        keys: BTreeMap::from([(
            FINGERPRINT.to_string(),
            key_pair().public_key().as_ref().to_vec(),
        )]),
        asked: Mutex::new(Vec::new()),
    };
    World { store, keys }
}

/// The kind's name, to compare lists of problems.
fn name(kind: &Kind) -> &'static str {
    match kind {
        Kind::DigestMissing => "DigestMissing",
        Kind::Unreadable { .. } => "Unreadable",
        Kind::WrongPlace { .. } => "WrongPlace",
        Kind::NoSignature => "NoSignature",
        Kind::UnsupportedAlgorithm { .. } => "UnsupportedAlgorithm",
        Kind::UnknownKey { .. } => "UnknownKey",
        Kind::BadKey { .. } => "BadKey",
        Kind::BadSignature => "BadSignature",
        Kind::PreviousMissing { .. } => "PreviousMissing",
        Kind::PreviousChanged { .. } => "PreviousChanged",
        Kind::ChainBroken { .. } => "ChainBroken",
        Kind::LogMissing { .. } => "LogMissing",
        Kind::LogChanged { .. } => "LogChanged",
        Kind::LogAppended { .. } => "LogAppended",
        Kind::LogUnreadable { .. } => "LogUnreadable",
        Kind::UnsupportedHash { .. } => "UnsupportedHash",
        Kind::Restarted { .. } => "Restarted",
        Kind::Gap { .. } => "Gap",
    }
}

fn names(report: &Report) -> Vec<&'static str> {
    report.problems.iter().map(|p| name(&p.kind)).collect()
}

#[test]
fn a_good_chain_passes() {
    let world = chain(AS_CLOUDTRAIL);
    for hour in HOURS {
        let report = world.verify(hour);
        assert!(report.is_clean(), "{hour}: {:?}", report.problems);
        assert_eq!(report.starts_chain, hour == 14, "{hour}");
        assert!(report.signed && !report.backfill);
        assert_eq!(
            report.logs_checked,
            if hour == 16 { 0 } else { 2 },
            "{hour}"
        );
        assert_eq!(
            report.hour,
            Some(Hour {
                start: format!("2015-08-17T{:02}:01:31Z", hour - 1),
                end: format!("2015-08-17T{hour:02}:01:31Z"),
            })
        );
    }
    // The key was asked for the digest's hour, with room after it.
    let asked = world.keys.asked.lock().expect("lock");
    assert_eq!(asked[0].start.to_rfc3339(), "2015-08-17T13:01:31+00:00");
    assert_eq!(asked[0].end.to_rfc3339(), "2015-08-17T16:01:31+00:00");
}

/// Each case breaks one thing in a good chain and verifies one digest.
#[test]
fn each_tampering_raises_exactly_its_problem() {
    type Tamper = fn(&mut World);
    let cases: Vec<(&str, Make, Tamper, u32, Vec<&str>)> = vec![
        (
            "a deleted log",
            AS_CLOUDTRAIL,
            |w| {
                w.objects().remove(&log_at(15, 2));
            },
            15,
            vec!["LogMissing"],
        ),
        (
            "an edited log",
            AS_CLOUDTRAIL,
            |w| {
                let mut content = log_content(15, 1);
                content[20] ^= 1;
                w.object(&log_at(15, 1)).0 = gzip(&content);
            },
            15,
            vec!["LogChanged"],
        ),
        (
            "a log with a gzip member appended",
            AS_CLOUDTRAIL,
            |w| {
                let extra = gzip(br#"{"Records":[]}"#);
                w.object(&log_at(14, 1)).0.extend_from_slice(&extra);
            },
            14,
            vec!["LogAppended"],
        ),
        (
            "a log that no longer inflates",
            AS_CLOUDTRAIL,
            |w| {
                let bytes = &mut w.object(&log_at(14, 2)).0;
                bytes.truncate(bytes.len() - 12);
            },
            14,
            vec!["LogUnreadable"],
        ),
        (
            "an edited digest",
            AS_CLOUDTRAIL,
            |w| {
                let (bytes, _) = w.object(&digest_at(15));
                let json =
                    String::from_utf8(file::inflate(bytes).expect("a digest")).expect("UTF-8");
                let edited = json.replace("_log2.json.gz", "_log3.json.gz");
                assert_ne!(edited, json);
                *bytes = gzip(edited.as_bytes());
            },
            15,
            vec!["BadSignature"],
        ),
        (
            "a digest signed with the right key for another hour",
            AS_CLOUDTRAIL,
            |w| {
                let other = w.object(&digest_at(14)).1["signature"].clone();
                w.object(&digest_at(15)).1.insert("signature".into(), other);
            },
            15,
            vec!["BadSignature"],
        ),
        (
            "a signature that is not hex",
            AS_CLOUDTRAIL,
            |w| {
                w.object(&digest_at(15))
                    .1
                    .insert("signature".into(), "not hex".into());
            },
            15,
            vec!["BadSignature"],
        ),
        (
            "a digest signed by another key under CloudTrail's fingerprint",
            Make {
                edit: |_, _| {},
                signer: |hour| {
                    if hour == 16 {
                        other_key_pair()
                    } else {
                        key_pair()
                    }
                },
            },
            |_| {},
            16,
            vec!["BadSignature"],
        ),
        (
            "a digest naming a key CloudTrail does not have",
            Make {
                edit: |hour, digest| {
                    if hour == 16 {
                        digest["digestPublicKeyFingerprint"] =
                            json!("00000000000000000000000000000000");
                    }
                },
                signer: |hour| {
                    if hour == 16 {
                        other_key_pair()
                    } else {
                        key_pair()
                    }
                },
            },
            |_| {},
            16,
            vec!["UnknownKey"],
        ),
        (
            "a key that is not an RSA key",
            AS_CLOUDTRAIL,
            |w| {
                w.keys.keys.insert(FINGERPRINT.into(), b"not DER".to_vec());
            },
            15,
            vec!["BadKey"],
        ),
        (
            "a digest without signature metadata",
            AS_CLOUDTRAIL,
            |w| {
                w.object(&digest_at(15)).1.clear();
            },
            15,
            vec!["NoSignature"],
        ),
        (
            "another signature algorithm",
            AS_CLOUDTRAIL,
            |w| {
                w.object(&digest_at(15))
                    .1
                    .insert("signature-algorithm".into(), "SHA1withRSA".into());
            },
            15,
            vec!["UnsupportedAlgorithm"],
        ),
        (
            "a deleted previous digest",
            AS_CLOUDTRAIL,
            |w| {
                w.objects().remove(&digest_at(15));
            },
            16,
            vec!["PreviousMissing"],
        ),
        (
            "an edited previous digest",
            AS_CLOUDTRAIL,
            |w| {
                let (bytes, _) = w.object(&digest_at(14));
                let json = file::inflate(bytes).expect("a digest");
                let edited = String::from_utf8(json)
                    .expect("UTF-8")
                    .replace("\"logFiles\":[{", "\"logFiles\":[{\"x\":1,");
                *bytes = gzip(edited.as_bytes());
            },
            15,
            vec!["PreviousChanged"],
        ),
        (
            "a previous digest signed differently than this one says",
            Make {
                edit: |hour, digest| {
                    if hour == 16 {
                        digest["previousDigestSignature"] = json!("00ff");
                    }
                },
                signer: |_| key_pair(),
            },
            |_| {},
            16,
            vec!["ChainBroken"],
        ),
        (
            "a previous digest that lost its signature",
            AS_CLOUDTRAIL,
            |w| {
                w.object(&digest_at(14)).1.remove("signature");
            },
            15,
            vec!["ChainBroken"],
        ),
        (
            "a digest copied over another",
            AS_CLOUDTRAIL,
            |w| {
                let copy = w.object(&digest_at(14)).clone();
                w.objects().insert(digest_at(15), copy);
            },
            15,
            vec!["WrongPlace"],
        ),
        (
            "a deleted digest",
            AS_CLOUDTRAIL,
            |w| {
                w.objects().remove(&digest_at(16));
            },
            16,
            vec!["DigestMissing"],
        ),
        (
            "a digest replaced by something else",
            AS_CLOUDTRAIL,
            |w| {
                w.object(&digest_at(16)).0 = gzip(br#"{"Records":[]}"#);
            },
            16,
            vec!["Unreadable"],
        ),
        (
            "a log hashed with another algorithm",
            Make {
                edit: |hour, digest| {
                    if hour == 15 {
                        digest["logFiles"][0]["hashAlgorithm"] = json!("MD5");
                    }
                },
                signer: |_| key_pair(),
            },
            |_| {},
            15,
            vec!["UnsupportedHash"],
        ),
        (
            "both logs of an hour deleted",
            AS_CLOUDTRAIL,
            |w| {
                w.objects().remove(&log_at(14, 1));
                w.objects().remove(&log_at(14, 2));
            },
            14,
            vec!["LogMissing", "LogMissing"],
        ),
    ];
    for (case, make, tamper, hour, expected) in cases {
        let mut world = chain(make);
        tamper(&mut world);
        let report = world.verify(hour);
        assert_eq!(names(&report), expected, "{case}: {:?}", report.problems);
        for problem in &report.problems {
            assert_eq!(problem.digest, digest_at(hour), "{case}");
            let shown = problem.to_string();
            assert!(
                shown.starts_with(&format!("digest {}", digest_at(hour))),
                "{case}: {shown}"
            );
        }
        // The other digests of the chain are untouched unless the case broke
        // the one before them.
        if expected == ["LogMissing"] {
            assert!(world.verify(16).is_clean(), "{case}");
        }
    }
}

#[test]
fn a_changed_log_is_named_with_both_hashes_and_the_version_read() {
    let mut world = chain(AS_CLOUDTRAIL);
    world.object(&log_at(15, 1)).0 = gzip(b"{\"Records\":[]}");
    let report = world.verify(15);
    let [problem] = &report.problems[..] else {
        panic!("one problem: {:?}", report.problems);
    };
    assert_eq!(
        problem.kind,
        Kind::LogChanged {
            log: log_at(15, 1),
            version: Some("v1".to_string()),
            expected: hex(&Sha256::of(&log_content(15, 1))),
            actual: hex(&Sha256::of(b"{\"Records\":[]}")),
        }
    );
    let shown = problem.to_string();
    for part in [
        digest_at(15).to_string(),
        "2015-08-17T14:01:31Z to 2015-08-17T15:01:31Z".to_string(),
        log_at(15, 1).to_string(),
        "(version v1)".to_string(),
    ] {
        assert!(shown.contains(&part), "{shown} lacks {part}");
    }
}

#[test]
fn a_backfill_digest_is_checked_with_the_key_of_its_generation_time() {
    let mut world = chain(AS_CLOUDTRAIL);
    // A backfill digest: same content rules, its own key (`_backfill`),
    // signed when it was generated, which its metadata says.
    let (bytes, mut metadata) = world.object(&digest_at(15)).clone();
    let json = String::from_utf8(file::inflate(&bytes).expect("a digest")).expect("UTF-8");
    let at = Location::new(
        BUCKET,
        digest_at(15).key.replace(".json.gz", "_backfill.json.gz"),
    );
    let json = json.replace(&digest_at(15).key, &at.key);
    let to_sign = format!(
        "2015-08-17T15:01:31Z\n{BUCKET}/{}\n{}\n{}",
        at.key,
        hex(&Sha256::of(json.as_bytes())),
        world.object(&digest_at(14)).1["signature"],
    );
    metadata.insert("signature".into(), sign(key_pair(), &to_sign));
    metadata.insert(
        "backfill-generation-timestamp".into(),
        "2015-08-20T10:00:00Z".into(),
    );
    world
        .objects()
        .insert(at.clone(), (gzip(json.as_bytes()), metadata.clone()));

    let report = verify(&world.store, &world.keys, &at).expect("verified");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.backfill);
    let asked = *world
        .keys
        .asked
        .lock()
        .expect("lock")
        .last()
        .expect("a key lookup");
    assert_eq!(asked.start.to_rfc3339(), "2015-08-20T09:00:00+00:00");
    assert_eq!(asked.end.to_rfc3339(), "2015-08-20T11:00:00+00:00");

    // Without the generation time the aws-cli calls it an invalid format.
    metadata.remove("backfill-generation-timestamp");
    world
        .objects()
        .insert(at.clone(), (gzip(json.as_bytes()), metadata));
    let report = verify(&world.store, &world.keys, &at).expect("verified");
    assert_eq!(names(&report), ["Unreadable"]);
}

#[test]
fn keys_are_taken_in_pkcs1_or_x509_der() {
    use aws_lc_rs::encoding::AsDer;
    let mut world = chain(AS_CLOUDTRAIL);
    let x509 = key_pair().public_key().as_der().expect("X.509 DER");
    world
        .keys
        .keys
        .insert(FINGERPRINT.into(), x509.as_ref().to_vec());
    assert!(world.verify(15).is_clean());
}

#[test]
fn a_plain_json_digest_verifies_as_its_gzip_does() {
    let mut world = chain(AS_CLOUDTRAIL);
    let (bytes, _) = world.object(&digest_at(15));
    *bytes = file::inflate(bytes).expect("a digest");
    assert!(world.verify(15).is_clean());
}

#[test]
fn a_store_failure_is_an_error_naming_the_object() {
    struct Failing;
    impl DigestStore for Failing {
        fn get(&self, _: &Location, _: Option<&str>) -> Result<Option<Object>, Failure> {
            Err("AccessDenied".into())
        }
        fn list(&self, _: &str, _: &str) -> Result<Vec<String>, Failure> {
            Err("AccessDenied".into())
        }
    }
    let world = chain(AS_CLOUDTRAIL);
    let error = verify(&Failing, &world.keys, &digest_at(15)).expect_err("a failure");
    let shown = error.to_string();
    assert!(
        shown.contains(&digest_at(15).to_string()) && shown.contains("AccessDenied"),
        "{shown}"
    );
}

#[test]
fn a_failed_key_lookup_or_log_read_is_an_error_naming_what_failed() {
    struct NoKeys;
    impl PublicKeys for NoKeys {
        fn key(&self, _: &str, _: &TimeRange) -> Result<Option<Vec<u8>>, Failure> {
            Err("ThrottlingException".into())
        }
    }
    let world = chain(AS_CLOUDTRAIL);
    let error = verify(&world.store, &NoKeys, &digest_at(15)).expect_err("a failure");
    let shown = error.to_string();
    assert!(
        shown.contains(FINGERPRINT) && shown.contains("ThrottlingException"),
        "{shown}"
    );

    /// Serves the chain, but a log's body breaks off after a few bytes.
    struct BrokenLog(Store);
    impl DigestStore for BrokenLog {
        fn get(&self, at: &Location, version: Option<&str>) -> Result<Option<Object>, Failure> {
            let mut object = self.0.get(at, version)?;
            if *at == log_at(15, 1) {
                if let Some(object) = &mut object {
                    let head = std::io::Cursor::new(vec![0x1f, 0x8b, 8, 0]);
                    let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
                    object.body = Box::new(head.chain(Failing(Some(cut))));
                }
            }
            Ok(object)
        }
        fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Failure> {
            self.0.list(bucket, prefix)
        }
    }
    struct Failing(Option<std::io::Error>);
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(self
                .0
                .take()
                .unwrap_or_else(|| std::io::Error::other("again")))
        }
    }
    use std::io::Read as _;
    let error =
        verify(&BrokenLog(world.store), &world.keys, &digest_at(15)).expect_err("a failure");
    let shown = error.to_string();
    assert!(
        shown.contains(&log_at(15, 1).to_string()) && shown.contains("reset"),
        "{shown}"
    );
}

/// A digest key of this test's trail (or another) ending at `day` `hour`.
fn digest_named(trail: &str, month: u32, day: u32, hour: u32) -> Location {
    Location::new(
        BUCKET,
        format!("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/{month:02}/{day:02}/111122223333_CloudTrail-Digest_us-east-2_{trail}_us-east-2_2015{month:02}{day:02}T{hour:02}0131Z.json.gz"),
    )
}

#[test]
fn a_chain_that_starts_again_after_hours_without_digests_says_which() {
    // The chain's digest of 14:01 starts a chain; its hour starts 13:01.
    /// The case, the earlier digests in the bucket, and the restart seen
    /// (the digest it follows and when that one ended).
    type Case = (
        &'static str,
        Vec<Location>,
        Option<(Location, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        ("no earlier digest: the trail's first", vec![], None),
        (
            "the last digest before it ended at 11:01",
            vec![
                digest_named("trail", 8, 17, 10),
                digest_named("trail", 8, 17, 11),
            ],
            Some((digest_named("trail", 8, 17, 11), "2015-08-17T11:01:31Z")),
        ),
        (
            "the last one was the day before",
            vec![digest_named("trail", 8, 16, 23)],
            Some((digest_named("trail", 8, 16, 23), "2015-08-16T23:01:31Z")),
        ),
        (
            "the last one ended as this one's hour starts",
            vec![digest_named("trail", 8, 17, 13)],
            None,
        ),
        (
            "only another trail's and a backfill digest are earlier",
            vec![
                digest_named("other", 8, 17, 9),
                Location::new(
                    BUCKET,
                    digest_named("trail", 8, 17, 9)
                        .key
                        .replace(".json.gz", "_backfill.json.gz"),
                ),
            ],
            None,
        ),
        (
            "the last one was on the last day looked at",
            vec![digest_named("trail", 7, 17, 1)],
            Some((digest_named("trail", 7, 17, 1), "2015-07-17T01:01:31Z")),
        ),
        (
            "the last one is older than the look-back",
            vec![digest_named("trail", 7, 16, 23)],
            None,
        ),
    ];
    // July 16 is past the look-back from August 17; July 17 is not.
    assert_eq!(LOOK_BACK_DAYS, 31);
    for (case, earlier, expected) in cases {
        let mut world = chain(AS_CLOUDTRAIL);
        for at in earlier {
            // Not read as a digest: the name's time is used.
            world
                .objects()
                .insert(at, (b"junk".to_vec(), BTreeMap::new()));
        }
        let report = world.verify(14);
        assert!(report.starts_chain, "{case}");
        match expected {
            None => assert!(report.is_clean(), "{case}: {:?}", report.problems),
            Some((after, from)) => {
                assert_eq!(names(&report), ["Restarted"], "{case}");
                assert_eq!(
                    report.problems[0].kind,
                    Kind::Restarted {
                        after,
                        from: from.to_string(),
                        to: "2015-08-17T13:01:31Z".to_string(),
                    },
                    "{case}"
                );
            }
        }
        // A digest that goes on a chain is not looked back from.
        assert!(world.verify(15).is_clean(), "{case}");
    }
}

#[test]
fn a_restart_reads_the_earlier_digest_for_its_end_time() {
    let mut world = chain(AS_CLOUDTRAIL);
    // The hour of 16 copied as a digest named 11:01 that says it ends
    // 11:00:05: that time is the gap's start.
    let (bytes, _) = world.object(&digest_at(16)).clone();
    let json = String::from_utf8(file::inflate(&bytes).expect("a digest")).expect("UTF-8");
    let edited = json.replace("2015-08-17T16:01:31Z", "2015-08-17T11:00:05Z");
    world.objects().insert(
        digest_named("trail", 8, 17, 11),
        (gzip(edited.as_bytes()), BTreeMap::new()),
    );
    let report = world.verify(14);
    let Kind::Restarted { from, .. } = &report.problems[0].kind else {
        panic!("{:?}", report.problems);
    };
    assert_eq!(from, "2015-08-17T11:00:05Z");
    let shown = report.problems[0].to_string();
    assert!(
        shown.contains("no digest from 2015-08-17T11:00:05Z to 2015-08-17T13:01:31Z"),
        "{shown}"
    );
}

#[test]
fn a_failed_look_back_is_noted_and_leaves_the_digest_verified() {
    struct NoListing(Store);
    impl DigestStore for NoListing {
        fn get(&self, at: &Location, version: Option<&str>) -> Result<Option<Object>, Failure> {
            self.0.get(at, version)
        }
        fn list(&self, _: &str, _: &str) -> Result<Vec<String>, Failure> {
            Err("AccessDenied (listing needs s3:ListBucket)".into())
        }
    }
    let world = chain(AS_CLOUDTRAIL);
    let report = verify(&NoListing(world.store), &world.keys, &digest_at(14)).expect("verified");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.logs_checked, 2);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(
        report.notes[0].contains("AccessDenied")
            && report.notes[0].contains("CloudTrail-Digest/us-east-2/2015/08/17/"),
        "{}",
        report.notes[0]
    );
}
