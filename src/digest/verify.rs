//! One digest verified: its place, its signature, its link to the previous
//! digest and the logs it lists, through two seams that the Lambda and the
//! CLI back with S3 and CloudTrail `ListPublicKeys`.
//!
//! The order and the checks are the aws-cli's (`DigestTraverser.
//! _load_and_validate_digest`, `_download_log`) and the User Guide's
//! ("Custom validation implementation steps"): the digest must be where it
//! says it is, carry `x-amz-meta-signature` and `-algorithm` (and, for a
//! `_backfill` digest, `x-amz-meta-backfill-generation-timestamp`), name a
//! key CloudTrail had for its time, and verify; only then are its claims
//! about logs and the previous digest trusted and checked.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::file::{self, BadDigest, Digest, MAX_DIGEST_BYTES};
use super::hash::{hash_log, hex, same_hex, Sha256};
use super::location::Location;
use super::name::{utc_text, DigestName};
use super::sign::{self, Rejected, ALGORITHM};

/// An object as read: its body (streamed), its user metadata without the
/// `x-amz-meta-` prefix (as S3 GetObject returns it: `signature`,
/// `signature-algorithm`), and the version read where the bucket has them.
pub struct Object {
    pub body: Box<dyn Read + Send>,
    pub metadata: BTreeMap<String, String>,
    pub version: Option<String>,
}

/// Any failure of a seam that is not an answer (throttling, access denied).
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Where digests and logs are read.
pub trait DigestStore: Send + Sync {
    /// The object at `at` (the given version, or the current one);
    /// `Ok(None)` when there is no such key or version.
    fn get(&self, at: &Location, version: Option<&str>) -> Result<Option<Object>, Failure>;

    /// The keys in `bucket` that start with `prefix` (one day folder of
    /// one region's digests), in any order; empty when there are none.
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Failure>;
}

/// A time range, for which CloudTrail's signing keys are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// CloudTrail's public keys (`ListPublicKeys` for the region of the
/// digest). A key's fingerprint is the hex MD5 of its DER `Value`: so for
/// the keys `8eba5db5…` and `31e8b543…` of the User Guide's sample
/// `list-public-keys` response (checked by hand), which is how an adapter
/// can tell a cached key is the one named. A key never changes, so the
/// adapter may cache it by fingerprint.
pub trait PublicKeys: Send + Sync {
    /// The DER public key (PKCS#1, as `ListPublicKeys` returns `Value`)
    /// whose fingerprint is `fingerprint`, among the keys valid in `range`;
    /// `Ok(None)` when none is.
    fn key(&self, fingerprint: &str, range: &TimeRange) -> Result<Option<Vec<u8>>, Failure>;
}

/// The hour a digest covers, as it writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hour {
    pub start: String,
    pub end: String,
}

impl fmt::Display for Hour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {}",
            self.start.escape_debug(),
            self.end.escape_debug()
        )
    }
}

/// What is wrong with the trail's evidence, each found by one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The digest object is gone (deleted since it was announced).
    DigestMissing,
    /// Not a digest: not gzip, not JSON, a required field missing (the
    /// aws-cli's "invalid format").
    Unreadable { what: String },
    /// Its `digestS3Bucket`/`digestS3Object` name another place: a digest
    /// copied over another ("has been moved from its original location").
    WrongPlace { claimed: Location },
    /// No `x-amz-meta-signature` (or `-algorithm`) metadata.
    NoSignature,
    /// A signature algorithm other than `SHA256withRSA`.
    UnsupportedAlgorithm { algorithm: String },
    /// CloudTrail has no key with this fingerprint for the digest's time.
    UnknownKey { fingerprint: String },
    /// The key CloudTrail gave for the fingerprint is not an RSA key.
    BadKey { fingerprint: String },
    /// The signature does not verify: the digest (or its signature) was
    /// changed after CloudTrail signed it.
    BadSignature,
    /// The previous digest this one names is gone.
    PreviousMissing { previous: Location },
    /// The previous digest's uncompressed content no longer hashes to this
    /// digest's `previousDigestHashValue`.
    PreviousChanged {
        previous: Location,
        expected: String,
        actual: String,
    },
    /// The previous digest's signature (its metadata) is not the one this
    /// digest carries: the previous digest was replaced or re-signed.
    ChainBroken {
        previous: Location,
        expected: String,
        actual: Option<String>,
    },
    /// A listed log is gone.
    LogMissing { log: Location },
    /// A listed log's uncompressed content no longer hashes as listed.
    LogChanged {
        log: Location,
        version: Option<String>,
        expected: String,
        actual: String,
    },
    /// A listed log has data after its first gzip member (aws/aws-cli#10324).
    LogAppended {
        log: Location,
        version: Option<String>,
    },
    /// A listed log does not inflate.
    LogUnreadable {
        log: Location,
        version: Option<String>,
        what: String,
    },
    /// A hash algorithm other than `SHA-256` for a log or the previous
    /// digest: nothing to check it with.
    UnsupportedHash { of: Location, algorithm: String },
    /// This digest starts a new chain, and the chain's last digest before
    /// it (`after`, whose hour ends at `from`) is earlier than this one's
    /// hour starts (`to`): CloudTrail logging or log file validation was
    /// off in between, so those hours' logs (if any) are in no digest.
    /// Found by [`verify`] for a starting digest, looking back at most
    /// [`LOOK_BACK_DAYS`] day folders.
    Restarted {
        after: Location,
        from: String,
        to: String,
    },
    /// Hours with no digest between the digest `after` (whose hour ends at
    /// `from`) and this one (whose hour starts at `to`), which goes on the
    /// same chain (it does not start a new one): the digests of those hours
    /// are gone. Found over a range of digests (`trailwatch verify`), not
    /// by [`verify`].
    Gap {
        after: Location,
        from: String,
        to: String,
    },
}

/// One problem: the digest it was found through, its hour, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub digest: Location,
    /// `None` when the digest could not be read.
    pub hour: Option<Hour>,
    pub kind: Kind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "digest {}", self.digest)?;
        if let Some(hour) = &self.hour {
            write!(f, " ({hour})")?;
        }
        f.write_str(": ")?;
        let version = |v: &Option<String>| match v {
            Some(v) => format!(" (version {})", v.escape_debug()),
            None => String::new(),
        };
        match &self.kind {
            Kind::DigestMissing => write!(f, "the digest is missing"),
            Kind::Unreadable { what } => write!(f, "unreadable: {}", what.escape_debug()),
            Kind::WrongPlace { claimed } => write!(f, "the digest says it belongs at {claimed}"),
            Kind::NoSignature => write!(f, "no signature metadata"),
            Kind::UnsupportedAlgorithm { algorithm } => {
                write!(
                    f,
                    "unsupported signature algorithm {}",
                    algorithm.escape_debug()
                )
            }
            Kind::UnknownKey { fingerprint } => {
                write!(
                    f,
                    "CloudTrail has no public key {}",
                    fingerprint.escape_debug()
                )
            }
            Kind::BadKey { fingerprint } => {
                write!(
                    f,
                    "public key {} is not an RSA key",
                    fingerprint.escape_debug()
                )
            }
            Kind::BadSignature => write!(f, "the signature does not verify"),
            Kind::PreviousMissing { previous } => {
                write!(f, "the previous digest {previous} is missing")
            }
            Kind::PreviousChanged {
                previous,
                expected,
                actual,
            } => write!(
                f,
                "the previous digest {previous} changed: SHA-256 {}, listed {}",
                actual.escape_debug(),
                expected.escape_debug()
            ),
            Kind::ChainBroken {
                previous,
                expected,
                actual,
            } => write!(
                f,
                "the previous digest {previous} is signed {}, not {} as this digest says",
                actual.as_deref().unwrap_or("(no signature)").escape_debug(),
                expected.escape_debug()
            ),
            Kind::LogMissing { log } => write!(f, "log {log} is missing"),
            Kind::LogChanged {
                log,
                version: v,
                expected,
                actual,
            } => write!(
                f,
                "log {log}{} changed: SHA-256 {}, listed {}",
                version(v),
                actual.escape_debug(),
                expected.escape_debug()
            ),
            Kind::LogAppended { log, version: v } => {
                write!(f, "log {log}{} has data appended", version(v))
            }
            Kind::LogUnreadable {
                log,
                version: v,
                what,
            } => {
                write!(
                    f,
                    "log {log}{} is unreadable: {}",
                    version(v),
                    what.escape_debug()
                )
            }
            Kind::UnsupportedHash { of, algorithm } => write!(
                f,
                "{of} is hashed with {}, which cannot be checked",
                algorithm.escape_debug()
            ),
            Kind::Restarted { after, from, to } => write!(
                f,
                "no digest from {} to {} (after {after}): the chain starts again, as after \
                 logging or log file validation was turned off",
                from.escape_debug(),
                to.escape_debug()
            ),
            Kind::Gap { after, from, to } => write!(
                f,
                "no digest from {} to {} (after {after}), though the chain goes on",
                from.escape_debug(),
                to.escape_debug()
            ),
        }
    }
}

/// What verifying one digest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub digest: Location,
    pub hour: Option<Hour>,
    pub problems: Vec<Problem>,
    /// A starting digest (no previous one): validation or logging was
    /// (re)started, so the hours before it may have no digest.
    pub starts_chain: bool,
    /// A `_backfill` digest, on a chain of its own.
    pub backfill: bool,
    /// Its signature verified: what it says (its hour, its logs, its
    /// previous digest) is CloudTrail's word.
    pub signed: bool,
    /// The logs hashed (missing ones aside).
    pub logs_checked: usize,
    /// What could not be checked though the digest verified (a failed
    /// look-back for a restarted chain), for the operator's log.
    pub notes: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A failure that leaves the digest unverified (not a finding about it).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading {at}: {source}")]
    Read { at: Location, source: Failure },
    #[error("looking up CloudTrail public key {fingerprint} for {at}: {source}")]
    Key {
        at: Location,
        fingerprint: String,
        source: Failure,
    },
}

/// How far either side of a backfill digest's generation time its signing
/// key is looked for (the aws-cli asks `ListPublicKeys` for one hour either
/// side).
const BACKFILL_KEY_SLACK: Duration = Duration::hours(1);
/// How far past `digestEndTime` the signing key is looked for: a digest is
/// signed after its hour ends, and the aws-cli widened its own range by two
/// hours for keys rotated at that moment (aws/aws-cli#10073).
const SIGNING_KEY_SLACK: Duration = Duration::hours(2);

/// Verifies the digest at `at`: every problem found, or an error when the
/// store or the key lookup failed.
pub fn verify(
    store: &dyn DigestStore,
    keys: &dyn PublicKeys,
    at: &Location,
) -> Result<Report, VerifyError> {
    let backfill = at.key.ends_with("_backfill.json.gz");
    let mut report = Report {
        digest: at.clone(),
        hour: None,
        problems: Vec::new(),
        starts_chain: false,
        backfill,
        signed: false,
        logs_checked: 0,
        notes: Vec::new(),
    };
    let problem = |report: &mut Report, kind| {
        report.problems.push(Problem {
            digest: report.digest.clone(),
            hour: report.hour.clone(),
            kind,
        })
    };

    let read = |at: &Location, source| VerifyError::Read {
        at: at.clone(),
        source,
    };
    let Some(object) = store.get(at, None).map_err(|e| read(at, e))? else {
        problem(&mut report, Kind::DigestMissing);
        return Ok(report);
    };
    let bytes = read_capped(object.body).map_err(|e| read(at, e))?;
    let parsed = match file::parse(at, &bytes) {
        Ok(parsed) => parsed,
        Err(BadDigest { what, .. }) => {
            problem(&mut report, Kind::Unreadable { what });
            return Ok(report);
        }
    };
    let digest = &parsed.digest;
    report.hour = Some(Hour {
        start: digest.digest_start_time.clone(),
        end: digest.digest_end_time.clone(),
    });

    let claimed = Location::new(&digest.digest_s3_bucket, &digest.digest_s3_object);
    if claimed != *at {
        problem(&mut report, Kind::WrongPlace { claimed });
        return Ok(report);
    }
    let (Some(signature), Some(algorithm)) = (
        object.metadata.get("signature"),
        object.metadata.get("signature-algorithm"),
    ) else {
        problem(&mut report, Kind::NoSignature);
        return Ok(report);
    };
    if algorithm != ALGORITHM {
        let algorithm = algorithm.clone();
        problem(&mut report, Kind::UnsupportedAlgorithm { algorithm });
        return Ok(report);
    }
    let range = match key_range(digest, backfill, &object.metadata) {
        Ok(range) => range,
        Err(what) => {
            problem(&mut report, Kind::Unreadable { what });
            return Ok(report);
        }
    };
    let fingerprint = &digest.digest_public_key_fingerprint;
    let key = keys
        .key(fingerprint, &range)
        .map_err(|source| VerifyError::Key {
            at: at.clone(),
            fingerprint: fingerprint.clone(),
            source,
        })?;
    let Some(key) = key else {
        let fingerprint = fingerprint.clone();
        problem(&mut report, Kind::UnknownKey { fingerprint });
        return Ok(report);
    };
    let signed = sign::signing_string(digest, &parsed.sha256);
    match sign::check(&key, &signed, signature) {
        Ok(()) => {}
        Err(Rejected::Key) => {
            let fingerprint = fingerprint.clone();
            problem(&mut report, Kind::BadKey { fingerprint });
            return Ok(report);
        }
        Err(Rejected::Signature) => {
            problem(&mut report, Kind::BadSignature);
            return Ok(report);
        }
    }

    // The digest is CloudTrail's: what it says can be held against the rest.
    report.signed = true;
    match previous(store, digest).map_err(|(at, e)| read(&at, e))? {
        Link::Starts => {
            report.starts_chain = true;
            if !backfill {
                // A failed look-back leaves the digest verified: it is
                // noted, not retried (listing may not be allowed at all).
                match restarted(store, at, digest) {
                    Ok(Some(kind)) => problem(&mut report, kind),
                    Ok(None) => {}
                    Err((at, e)) => report.notes.push(format!(
                        "could not look for the digest before this chain's start at {at}: {e}"
                    )),
                }
            }
        }
        Link::Holds => {}
        Link::Broken(kind) => problem(&mut report, kind),
    }
    for log in &digest.log_files {
        let at = Location::new(&log.s3_bucket, &log.s3_object);
        if !log.hash_algorithm.eq_ignore_ascii_case("SHA-256") {
            let algorithm = log.hash_algorithm.clone();
            problem(&mut report, Kind::UnsupportedHash { of: at, algorithm });
            continue;
        }
        let Some(object) = store.get(&at, None).map_err(|e| read(&at, e))? else {
            problem(&mut report, Kind::LogMissing { log: at });
            continue;
        };
        let version = object.version;
        let hash = match hash_log(object.body) {
            Ok(hash) => hash,
            // A body that does not inflate is evidence; a failed read is not.
            Err(e) if is_format_error(&e) => {
                let what = e.to_string();
                problem(
                    &mut report,
                    Kind::LogUnreadable {
                        log: at,
                        version,
                        what,
                    },
                );
                continue;
            }
            Err(e) => return Err(read(&at, Box::new(e))),
        };
        report.logs_checked += 1;
        let actual = hex(&hash.sha256);
        if !same_hex(&actual, &log.hash_value) {
            let expected = log.hash_value.clone();
            problem(
                &mut report,
                Kind::LogChanged {
                    log: at,
                    version,
                    expected,
                    actual,
                },
            );
        } else if hash.appended {
            problem(&mut report, Kind::LogAppended { log: at, version });
        }
    }
    Ok(report)
}

/// How a digest links to the one before it.
enum Link {
    /// A starting digest: its `previousDigest*` fields are null.
    Starts,
    Holds,
    Broken(Kind),
}

/// Checks the previous digest a verified digest names: that it is there,
/// hashes (uncompressed) to `previousDigestHashValue`, and carries the
/// signature `previousDigestSignature` repeats.
fn previous(store: &dyn DigestStore, digest: &Digest) -> Result<Link, (Location, Failure)> {
    let (Some(bucket), Some(key), Some(expected)) = (
        &digest.previous_digest_s3_bucket,
        &digest.previous_digest_s3_object,
        &digest.previous_digest_signature,
    ) else {
        return Ok(Link::Starts);
    };
    let previous = Location::new(bucket, key);
    let Some(object) = store
        .get(&previous, None)
        .map_err(|e| (previous.clone(), e))?
    else {
        return Ok(Link::Broken(Kind::PreviousMissing { previous }));
    };
    let bytes = read_capped(object.body).map_err(|e| (previous.clone(), e))?;
    if let Some(listed) = &digest.previous_digest_hash_value {
        let algorithm = digest
            .previous_digest_hash_algorithm
            .as_deref()
            .unwrap_or("SHA-256");
        if !algorithm.eq_ignore_ascii_case("SHA-256") {
            let algorithm = algorithm.to_string();
            return Ok(Link::Broken(Kind::UnsupportedHash {
                of: previous,
                algorithm,
            }));
        }
        let actual = match file::inflate(&bytes) {
            Ok(json) => hex(&Sha256::of(&json)),
            Err(what) => format!("(unreadable: {what})"),
        };
        if !same_hex(&actual, listed) {
            let expected = listed.clone();
            return Ok(Link::Broken(Kind::PreviousChanged {
                previous,
                expected,
                actual,
            }));
        }
    }
    let actual = object.metadata.get("signature");
    if !actual.is_some_and(|actual| same_hex(actual, expected)) {
        return Ok(Link::Broken(Kind::ChainBroken {
            previous,
            expected: expected.clone(),
            actual: actual.cloned(),
        }));
    }
    Ok(Link::Holds)
}

/// How many day folders before its own a starting digest's predecessor on
/// its chain is looked for. A chain that restarts after a longer silence
/// is not reported here; the delivery-silence alarm saw the logs stop.
pub const LOOK_BACK_DAYS: u32 = 31;

/// For a starting digest (a verified one), the chain's last digest before
/// it, when that one's hour ends before this one's starts: the hours in
/// between have no digest ([`Kind::Restarted`]). The day folders are
/// listed from the digest's own day back, and the first that holds an
/// earlier digest of the same trail and region ends the search.
fn restarted(
    store: &dyn DigestStore,
    at: &Location,
    digest: &Digest,
) -> Result<Option<Kind>, (Location, Failure)> {
    let (Some(name), Some(start)) = (
        DigestName::parse(&at.key),
        parse_time(&digest.digest_start_time),
    ) else {
        return Ok(None);
    };
    let mut day = name.end.date_naive();
    for _ in 0..=LOOK_BACK_DAYS {
        let folder = name.day_folder(day);
        let keys = store
            .list(&at.bucket, &folder)
            .map_err(|e| (Location::new(&at.bucket, &folder), e))?;
        let last = keys
            .iter()
            .filter_map(|key| Some((DigestName::parse(key)?, key)))
            .filter(|(other, _)| {
                other.chain() == name.chain() && !other.backfill && other.end < name.end
            })
            .max_by_key(|(other, _)| other.end);
        if let Some((last, key)) = last {
            let after = Location::new(&at.bucket, key);
            // Its own `digestEndTime` when it can be read; else its name's.
            let (from, from_text) = match store.get(&after, None).map_err(|e| (after.clone(), e))? {
                Some(object) => {
                    let bytes = read_capped(object.body).map_err(|e| (after.clone(), e))?;
                    file::parse(&after, &bytes)
                        .ok()
                        .and_then(|p| {
                            Some((
                                parse_time(&p.digest.digest_end_time)?,
                                p.digest.digest_end_time,
                            ))
                        })
                        .unwrap_or_else(|| (last.end, utc_text(last.end)))
                }
                None => (last.end, utc_text(last.end)),
            };
            if from >= start {
                return Ok(None);
            }
            return Ok(Some(Kind::Restarted {
                after,
                from: from_text,
                to: digest.digest_start_time.clone(),
            }));
        }
        let Some(before) = day.pred_opt() else {
            break;
        };
        day = before;
    }
    Ok(None)
}

/// The range `ListPublicKeys` is asked for the digest's signing key: its
/// hour (and a margin for a key rotated as it was signed), or for a
/// backfill digest the hours around its generation time, which its
/// metadata must give (the aws-cli fails a backfill digest without it).
fn key_range(
    digest: &Digest,
    backfill: bool,
    metadata: &BTreeMap<String, String>,
) -> Result<TimeRange, String> {
    if backfill {
        let Some(generated) = metadata.get("backfill-generation-timestamp") else {
            return Err("a backfill digest without backfill-generation-timestamp metadata".into());
        };
        let generated = parse_time(generated)
            .ok_or_else(|| format!("backfill-generation-timestamp {generated:?} is not a time"))?;
        return Ok(TimeRange {
            start: generated - BACKFILL_KEY_SLACK,
            end: generated + BACKFILL_KEY_SLACK,
        });
    }
    let time = |name: &str, value: &str| {
        parse_time(value).ok_or_else(|| format!("{name} {value:?} is not a time"))
    };
    let start = time("digestStartTime", &digest.digest_start_time)?;
    let end = time("digestEndTime", &digest.digest_end_time)?;
    Ok(TimeRange {
        start,
        end: end + SIGNING_KEY_SLACK,
    })
}

/// A UTC time as CloudTrail writes it: `2015-08-17T15:01:31Z` (or another
/// RFC 3339 time), or the key timestamp form `20150817T150131Z`.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// A digest object's bytes, refusing one past the size no digest reaches
/// compressed either.
pub fn read_capped(body: Box<dyn Read + Send>) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    body.take(MAX_DIGEST_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DIGEST_BYTES {
        return Err(format!("larger than {MAX_DIGEST_BYTES} bytes: not a digest").into());
    }
    Ok(bytes)
}

/// An error of inflating (flate2 and the gzip header parser), not of reading.
fn is_format_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    matches!(error.kind(), InvalidData | InvalidInput | UnexpectedEof)
}
