//! `trailwatch verify s3://bucket/prefix`: every CloudTrail digest under S3
//! prefixes verified with [`crate::digest::verify`], several at a time —
//! what `aws cloudtrail validate-logs` does, concurrently.
//!
//! The digest folders are listed as [`Listing::digests`] walks them (by
//! date folder when a window is given), each digest is verified on a
//! blocking thread through the same adapters as in the Lambda function
//! ([`S3Digests`], and [`CloudTrailKeys`] in the digest's region or the keys
//! of a `list-public-keys` file), at most `concurrency` at a time, and each
//! problem goes to the [`Output`] as the finding
//! [`crate::alert::digest::finding`] makes of it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_s3::Client;
use chrono::NaiveDateTime;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::dates::Window;
use super::list::Listing;
use super::{Counts, Output};
use crate::alert::digest::finding;
use crate::digest::keys_file::FileKeys;
use crate::digest::{verify, Location, Report};
use crate::source::digests::{CloudTrailKeys, S3Digests};
use crate::source::rules_s3::S3Prefix;

/// Why a listed object is not verified.
pub const NOT_A_DIGEST: &str = "not a digest";

/// Where the public keys come from.
#[derive(Clone)]
pub enum Keys {
    /// CloudTrail `ListPublicKeys`, in each digest's region.
    CloudTrail(Arc<CloudTrailKeys>),
    /// A `list-public-keys` file.
    File(Arc<FileKeys>),
}

/// How a verification ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestSummary {
    /// Objects listed in the digest folders.
    pub listed: u64,
    /// Digests verified (clean or not).
    pub verified: u64,
    /// Digests that could not be verified (a read or key lookup failed):
    /// reported one by one.
    pub failed: u64,
    /// Objects listed but not verified: not digests, or outside the dates.
    pub skipped: u64,
    /// Logs hashed.
    pub logs_checked: u64,
    /// Problems found (each an alert).
    pub problems: u64,
    /// Some listing failed: there may be digests it never found.
    pub listing_failed: bool,
    /// Stopped early: the alerts had nowhere to go.
    pub stopped: bool,
}

impl DigestSummary {
    /// Everything listed was verified and nothing was wrong.
    pub fn is_clean(&self) -> bool {
        self.problems == 0 && self.failed == 0 && !self.listing_failed && !self.stopped
    }
}

impl fmt::Display for DigestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} digest(s) verified, {} log(s) checked, {} problem(s), {} not verifiable",
            self.verified, self.logs_checked, self.problems, self.failed
        )?;
        if self.skipped > 0 {
            write!(f, " ({} other object(s) skipped)", self.skipped)?;
        }
        Ok(())
    }
}

/// The time a digest's file name carries: `_YYYYMMDDTHHMMSSZ` (the end of
/// the hour it covers, as CloudTrail names it).
pub fn digest_time(key: &str) -> Option<NaiveDateTime> {
    let name = key.rsplit('/').next()?;
    name.split(['_', '.'])
        .find_map(|part| NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%M%SZ").ok())
}

/// Whether a listed key is a digest to verify, given the window (its file
/// name's time in `[since, until)`).
fn selected(key: &str, window: &Window) -> bool {
    if !key.contains("/CloudTrail-Digest/") || !key.ends_with(".json.gz") {
        return false;
    }
    if window.is_open() {
        return true;
    }
    digest_time(key).is_some_and(|at| {
        window.since.is_none_or(|since| at >= since) && window.until.is_none_or(|until| at < until)
    })
}

/// Lists the digests under `roots` and verifies them, `concurrency` at a
/// time; counts go to `counts` (for the progress display), alerts and
/// problems to `out`.
pub async fn verify_digests(
    client: &Client,
    keys: Keys,
    roots: &[S3Prefix],
    window: Window,
    concurrency: usize,
    counts: &Arc<Counts>,
    out: Arc<dyn Output>,
) -> DigestSummary {
    let store = Arc::new(S3Digests::new(client.clone(), Handle::current()));
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    let mut summary = DigestSummary::default();
    'roots: for root in roots {
        let mut listing = Listing::digests(client, root, window);
        while let Some(page) = listing.next_page().await {
            let objects = match page {
                Ok(objects) => objects,
                Err(line) => {
                    out.problem(&line);
                    summary.listing_failed = true;
                    break;
                }
            };
            for object in objects {
                if stop.load(Ordering::Relaxed) {
                    break 'roots;
                }
                Counts::add(&counts.listed, 1);
                if !selected(&object.key, &window) {
                    counts.skip(NOT_A_DIGEST);
                    continue;
                }
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break 'roots;
                };
                let at = Location::new(object.bucket, object.key);
                let (store, keys) = (Arc::clone(&store), keys.clone());
                tasks.spawn_blocking(move || {
                    let report = match &keys {
                        Keys::CloudTrail(keys) => {
                            verify(store.as_ref(), &keys.in_region(&at.key), &at)
                        }
                        Keys::File(keys) => verify(store.as_ref(), keys.as_ref(), &at),
                    };
                    drop(permit);
                    report
                });
                // Reports already in are taken as the listing goes on.
                while let Some(done) = tasks.try_join_next() {
                    take(done, counts, &out, &stop);
                }
            }
        }
    }
    counts.listing_done.store(true, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        take(done, counts, &out, &stop);
    }
    let skipped = Counts::get(&counts.skipped);
    summary.listed = Counts::get(&counts.listed);
    summary.verified = Counts::get(&counts.scanned);
    summary.failed = Counts::get(&counts.failed);
    summary.skipped = skipped;
    summary.logs_checked = Counts::get(&counts.records);
    summary.problems = Counts::get(&counts.findings);
    summary.stopped = stop.load(Ordering::Relaxed);
    summary
}

type Done = Result<Result<Report, crate::digest::VerifyError>, tokio::task::JoinError>;

/// One digest's outcome into the counts and the output.
fn take(done: Done, counts: &Counts, out: &Arc<dyn Output>, stop: &AtomicBool) {
    match done {
        Ok(Ok(report)) => {
            Counts::add(&counts.scanned, 1);
            Counts::add(&counts.records, report.logs_checked as u64);
            for problem in &report.problems {
                Counts::add(&counts.findings, 1);
                if !out.finding(finding(problem)) {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        Ok(Err(err)) => {
            Counts::add(&counts.failed, 1);
            out.problem(&format!("not verified: {err}"));
        }
        Err(err) => {
            Counts::add(&counts.failed, 1);
            out.problem(&format!("a verification stopped: {err}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::dates::parse_bound;

    const DIGEST: &str = "AWSLogs/1/CloudTrail-Digest/eu-west-3/2026/11/23/\
        1_CloudTrail-Digest_eu-west-3_trail_us-east-1_20261123T100131Z.json.gz";

    #[test]
    fn a_digest_is_dated_by_its_file_name() {
        assert_eq!(
            digest_time(DIGEST),
            Some(parse_bound("2026-11-23T10:01:31Z").unwrap())
        );
        assert_eq!(digest_time("AWSLogs/1/x.json.gz"), None);
    }

    #[test]
    fn only_digests_in_the_window_are_selected() {
        let window = |since: &str, until: &str| {
            Window::new(
                Some(parse_bound(since).unwrap()),
                Some(parse_bound(until).unwrap()),
            )
            .unwrap()
        };
        assert!(selected(DIGEST, &Window::default()));
        assert!(selected(
            DIGEST,
            &window("2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z")
        ));
        assert!(!selected(
            DIGEST,
            &window("2026-11-23T10:02:00Z", "2026-11-24")
        ));
        assert!(!selected(
            DIGEST,
            &window("2026-11-23", "2026-11-23T10:01:31Z")
        ));
        let log = "AWSLogs/1/CloudTrail/eu-west-3/2026/11/23/1_CloudTrail_eu-west-3_20261123T1000Z_a.json.gz";
        assert!(!selected(log, &Window::default()));
    }
}
