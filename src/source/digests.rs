//! The digest verifier's seams backed by AWS: objects from S3
//! ([`S3Digests`], a [`DigestStore`]) and CloudTrail's signing keys from
//! `ListPublicKeys` ([`CloudTrailKeys`], [`PublicKeys`]).
//!
//! [`crate::digest::verify`] is synchronous: it hashes logs as they stream
//! in, which is CPU work that belongs on a blocking thread, as the scan of
//! a log does. So the adapters are synchronous too, and call the async SDK
//! through the runtime's [`Handle`] (`block_on`), with bodies streamed
//! through [`SyncIoBridge`] as [`super::s3::read_ahead`] does: nothing is
//! held whole. The price is that they must be called off the runtime's
//! worker threads (`spawn_blocking`), where `block_on` is allowed; the
//! Lambda function does exactly that. An async seam would have made the
//! verifier async and split its hashing across tasks for no gain: one
//! digest's work is sequential anyway.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use aws_sdk_cloudtrail::config::http::HttpResponse;
use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::operation::list_public_keys::ListPublicKeysError;
use aws_sdk_cloudtrail::primitives::DateTime;
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use super::s3::{classify, FetchError};
use crate::digest::{DigestStore, Failure, Location, Object, PublicKeys, TimeRange};
use crate::object::ObjectRef;

/// Digests and logs read from S3 with GetObject.
pub struct S3Digests {
    client: aws_sdk_s3::Client,
    runtime: Handle,
}

impl S3Digests {
    /// Reads through `client` on `runtime` (the handle of the runtime the
    /// function runs on).
    pub fn new(client: aws_sdk_s3::Client, runtime: Handle) -> Self {
        S3Digests { client, runtime }
    }
}

impl DigestStore for S3Digests {
    /// A missing key or version is `Ok(None)` (the verifier's finding);
    /// any other failure is a [`FetchError`], transient or not as for a
    /// log ([`FetchError::is_transient`]). Call it off the runtime's worker
    /// threads (see the module's doc).
    fn get(&self, at: &Location, version: Option<&str>) -> Result<Option<Object>, Failure> {
        let object = ObjectRef {
            bucket: at.bucket.clone(),
            key: at.key.clone(),
            size: None,
        };
        let request = self
            .client
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .set_version_id(version.map(str::to_string));
        let response = match self.runtime.block_on(request.send()) {
            Ok(response) => response,
            Err(err) => {
                return match classify(&object, err) {
                    // NoSuchKey, NoSuchVersion: the answer "not there".
                    FetchError::NotFound { .. } => Ok(None),
                    err => Err(Box::new(err)),
                };
            }
        };
        // S3 gives user metadata without its `x-amz-meta-` prefix, as the
        // verifier wants it.
        let metadata: BTreeMap<String, String> =
            response.metadata.unwrap_or_default().into_iter().collect();
        let body =
            SyncIoBridge::new_with_handle(response.body.into_async_read(), self.runtime.clone());
        Ok(Some(Object {
            body: Box::new(body),
            metadata,
            version: response.version_id,
        }))
    }

    /// Every page of ListObjectsV2 under `prefix`. Call it off the
    /// runtime's worker threads (see the module's doc).
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Failure> {
        let at = || format!("s3://{bucket}/{prefix}");
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = self.runtime.block_on(pages.next()) {
            let page = page.map_err(|err| {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let error: Failure = if status == Some(403) || err.code() == Some("AccessDenied") {
                    Box::new(FetchError::AccessDenied {
                        object: at(),
                        hint: " (listing needs s3:ListBucket on the bucket)",
                    })
                } else {
                    Box::new(FetchError::Transient {
                        object: at(),
                        message: DisplayErrorContext(&err).to_string(),
                    })
                };
                error
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }
}

/// Why CloudTrail's public keys could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("CloudTrail ListPublicKeys failed: {message}{hint}")]
pub struct KeyLookupError {
    pub message: String,
    hint: &'static str,
    transient: bool,
}

impl KeyLookupError {
    /// Throttling, a CloudTrail error on its side, a dropped connection:
    /// worth a retry. Access denied and bad requests are not.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// A key as `ListPublicKeys` gave it, with the time it was valid.
#[derive(Debug, Clone)]
struct Key {
    der: Vec<u8>,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
}

impl Key {
    /// Whether the key was valid at some time in `range` (a bound
    /// CloudTrail did not give does not limit it).
    fn valid_in(&self, range: &TimeRange) -> bool {
        self.valid_from
            .is_none_or(|from| from <= range.end.timestamp())
            && self
                .valid_until
                .is_none_or(|until| until >= range.start.timestamp())
    }
}

/// CloudTrail's signing keys, by region and fingerprint, kept for the life
/// of the function instance: a key never changes, so an hour of digests
/// costs one `ListPublicKeys` per region, not one per digest.
///
/// Each region signs its own digests with its own keys, and a multi-region
/// trail delivers every region's digests to one bucket: a digest's key is
/// asked of CloudTrail in the digest's region ([`CloudTrailKeys::in_region`],
/// as `aws cloudtrail validate-logs` does), never the function's.
pub struct CloudTrailKeys {
    /// The function's client: its region is the default, its settings
    /// (credentials, endpoint, retries) every region's.
    client: aws_sdk_cloudtrail::Client,
    runtime: Handle,
    /// A client per region asked, made from `client`.
    clients: Mutex<HashMap<String, aws_sdk_cloudtrail::Client>>,
    /// (region, fingerprint in lower-case hex) to key.
    cache: Mutex<HashMap<(String, String), Key>>,
    /// Held while CloudTrail is asked: digests verified side by side that
    /// miss the cache together ask once, the others then find the key.
    lookup: Mutex<()>,
}

/// [`CloudTrailKeys`] of one region: the [`PublicKeys`] one digest is
/// verified with.
pub struct InRegion<'k> {
    keys: &'k CloudTrailKeys,
    region: String,
}

impl CloudTrailKeys {
    pub fn new(client: aws_sdk_cloudtrail::Client, runtime: Handle) -> Self {
        CloudTrailKeys {
            client,
            runtime,
            clients: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            lookup: Mutex::new(()),
        }
    }

    /// The keys of the region the digest at `key` was written for (its
    /// `CloudTrail-Digest/REGION/` folder); the client's own region when
    /// the key does not say.
    pub fn in_region(&self, key: &str) -> InRegion<'_> {
        let region = region_of_digest(key)
            .map(str::to_string)
            .or_else(|| self.client.config().region().map(|r| r.to_string()))
            .unwrap_or_default();
        InRegion { keys: self, region }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        if region.is_empty() {
            return self.client.clone();
        }
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = self
                    .client
                    .config()
                    .to_builder()
                    .region(aws_sdk_cloudtrail::config::Region::new(region.to_string()))
                    .build();
                aws_sdk_cloudtrail::Client::from_conf(config)
            })
            .clone()
    }

    fn cached(&self, region: &str, fingerprint: &str, range: &TimeRange) -> Option<Vec<u8>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(&(region.to_string(), fingerprint.to_string()))
            .filter(|key| key.valid_in(range))
            .map(|key| key.der.clone())
    }

    /// Every key of `region` valid in `range`, page after page, into the
    /// cache.
    fn list(&self, region: &str, range: &TimeRange) -> Result<(), KeyLookupError> {
        let client = self.client(region);
        let mut token: Option<String> = None;
        loop {
            let request = client
                .list_public_keys()
                .start_time(DateTime::from_secs(range.start.timestamp()))
                .end_time(DateTime::from_secs(range.end.timestamp()))
                .set_next_token(token.take());
            let page = self.runtime.block_on(request.send()).map_err(key_error)?;
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            for key in page.public_key_list.unwrap_or_default() {
                let (Some(fingerprint), Some(value)) = (key.fingerprint(), key.value()) else {
                    continue;
                };
                cache.insert(
                    (region.to_string(), fingerprint.to_ascii_lowercase()),
                    Key {
                        der: value.as_ref().to_vec(),
                        valid_from: key.validity_start_time().map(DateTime::secs),
                        valid_until: key.validity_end_time().map(DateTime::secs),
                    },
                );
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(()),
            }
        }
    }
}

impl PublicKeys for InRegion<'_> {
    /// Call it off the runtime's worker threads (see the module's doc).
    fn key(&self, fingerprint: &str, range: &TimeRange) -> Result<Option<Vec<u8>>, Failure> {
        let (keys, region) = (self.keys, self.region.as_str());
        let fingerprint = fingerprint.to_ascii_lowercase();
        if let Some(der) = keys.cached(region, &fingerprint, range) {
            return Ok(Some(der));
        }
        // (A blocking thread's lock, held across the request: see the
        // module's doc.)
        let _asking = keys.lookup.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(der) = keys.cached(region, &fingerprint, range) {
            return Ok(Some(der));
        }
        keys.list(region, range)?;
        Ok(keys.cached(region, &fingerprint, range))
    }
}

/// The region folder of a digest key:
/// `[prefix/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/...`.
fn region_of_digest(key: &str) -> Option<&str> {
    let (_, rest) = key.split_once("/CloudTrail-Digest/")?;
    let region = rest.split('/').next()?;
    let plausible = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    plausible.then_some(region)
}

fn key_error(err: SdkError<ListPublicKeysError, HttpResponse>) -> KeyLookupError {
    let code = err.code().unwrap_or_default().to_string();
    let message = DisplayErrorContext(&err).to_string();
    let transient = match &err {
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || code.contains("Throttl")
                || code == "TooManyRequestsException"
        }
        // Not sent, timed out, or an answer that could not be read.
        _ => true,
    };
    let hint = if code == "AccessDeniedException" || code == "AccessDenied" {
        " (the function's role needs cloudtrail:ListPublicKeys)"
    } else {
        ""
    };
    KeyLookupError {
        message,
        hint,
        transient,
    }
}

/// Whether a failure that left a digest unverified is worth a retry:
/// S3 and CloudTrail failures as they classify themselves, a read cut off
/// mid-stream yes; anything else (a digest larger than any digest) no.
pub fn is_transient(failure: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(err) = failure.downcast_ref::<FetchError>() {
        return err.is_transient();
    }
    if let Some(err) = failure.downcast_ref::<KeyLookupError>() {
        return err.is_transient();
    }
    failure.downcast_ref::<std::io::Error>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn range(start: i64, end: i64) -> TimeRange {
        TimeRange {
            start: Utc.timestamp_opt(start, 0).unwrap(),
            end: Utc.timestamp_opt(end, 0).unwrap(),
        }
    }

    #[test]
    fn a_key_is_valid_in_a_range_it_overlaps() {
        let key = Key {
            der: Vec::new(),
            valid_from: Some(100),
            valid_until: Some(200),
        };
        assert!(key.valid_in(&range(150, 160)));
        assert!(key.valid_in(&range(50, 100)));
        assert!(key.valid_in(&range(200, 300)));
        assert!(!key.valid_in(&range(201, 300)));
        assert!(!key.valid_in(&range(0, 99)));
        let open = Key {
            valid_until: None,
            ..key
        };
        assert!(open.valid_in(&range(5000, 6000)));
    }

    #[test]
    fn a_digest_s_region_is_its_folder() {
        for (key, want) in [
            (
                "AWSLogs/111122223333/CloudTrail-Digest/eu-west-3/2026/11/23/d.json.gz",
                Some("eu-west-3"),
            ),
            (
                "p/AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-gov-west-1/2026/d.json.gz",
                Some("us-gov-west-1"),
            ),
            ("AWSLogs/1/CloudTrail-Digest/EU WEST/d.json.gz", None),
            ("AWSLogs/1/CloudTrail/us-east-1/x.json.gz", None),
        ] {
            assert_eq!(region_of_digest(key), want, "{key}");
        }
    }

    #[test]
    fn failures_say_whether_a_retry_can_help() {
        let transient = FetchError::Transient {
            object: "s3://b/k".into(),
            message: "SlowDown".into(),
        };
        let denied = FetchError::AccessDenied {
            object: "s3://b/k".into(),
            hint: "",
        };
        assert!(is_transient(&transient));
        assert!(!is_transient(&denied));
        let cut = std::io::Error::other("connection reset");
        assert!(is_transient(&cut));
        let big: Failure = "larger than 1 bytes: not a digest".into();
        assert!(!is_transient(big.as_ref()));
    }
}
