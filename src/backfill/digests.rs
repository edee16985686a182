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
//! [`crate::alert::digest::finding`] makes of it. A local copy of the
//! bucket ([`verify_local`]) goes through the same run, read through
//! [`LocalDigests`].

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_s3::Client;
use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::dates::Window;
use super::list::Listing;
use super::{Counts, Output};
use crate::alert::digest::finding;
use crate::digest::keys_file::FileKeys;
use crate::digest::name::{utc_text, DigestName};
use crate::digest::{verify, DigestStore, Hour, Kind, Location, Problem, Report, VerifyError};
use crate::source::digests::{CloudTrailKeys, S3Digests};
use crate::source::local_digests::LocalDigests;
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

/// The time a digest's key carries: `_YYYYMMDDTHHMMSSZ` (the end of the
/// hour it covers, as CloudTrail names it).
pub fn digest_time(key: &str) -> Option<NaiveDateTime> {
    DigestName::parse(key).map(|name| name.end.naive_utc())
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
    let mut run = Run::new(store, keys, concurrency, counts, out);
    let mut listing_failed = false;
    'roots: for root in roots {
        let mut listing = Listing::digests(client, root, window);
        while let Some(page) = listing.next_page().await {
            let objects = match page {
                Ok(objects) => objects,
                Err(line) => {
                    run.out.problem(&line);
                    listing_failed = true;
                    break;
                }
            };
            for object in objects {
                if run.stopped() {
                    break 'roots;
                }
                Counts::add(&counts.listed, 1);
                if !selected(&object.key, &window) {
                    counts.skip(NOT_A_DIGEST);
                    continue;
                }
                if !run.submit(Location::new(object.bucket, object.key)).await {
                    break 'roots;
                }
            }
        }
    }
    run.finish(listing_failed).await
}

/// Verifies the digests in local copies of a trail's bucket (see
/// [`LocalDigests`]), as [`verify_digests`] does those in S3. A digest
/// whose signature the copy does not hold (the newest of its chain,
/// without a `.metadata.json`) is reported as not verifiable.
pub async fn verify_local(
    roots: &[PathBuf],
    keys: Keys,
    window: Window,
    concurrency: usize,
    counts: &Arc<Counts>,
    out: Arc<dyn Output>,
) -> DigestSummary {
    let opened = {
        let roots = roots.to_vec();
        tokio::task::spawn_blocking(move || LocalDigests::open(&roots)).await
    };
    let opened = match opened {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(err)) => Err(format!("cannot read the copy: {err}")),
        Err(err) => Err(format!("reading the copy stopped: {err}")),
    };
    let (store, digests) = match opened {
        Ok(opened) => opened,
        Err(line) => {
            out.problem(&line);
            return DigestSummary {
                listing_failed: true,
                ..DigestSummary::default()
            };
        }
    };
    let mut run = Run::new(Arc::new(store), keys, concurrency, counts, out);
    for digest in digests {
        if run.stopped() {
            break;
        }
        Counts::add(&counts.listed, 1);
        if !window.is_open() && !selected(&digest.at.key, &window) {
            counts.skip(NOT_A_DIGEST);
            continue;
        }
        if !digest.signed {
            Counts::add(&counts.failed, 1);
            run.out.problem(&format!(
                "{}: not verifiable: no later digest in the copy repeats its signature, \
                 which S3 keeps as object metadata a copy loses; save the output of \
                 `aws s3api head-object --bucket {} --key {}` as {}.metadata.json to verify it",
                digest.path.display(),
                digest.at.bucket.escape_debug(),
                digest.at.key.escape_debug(),
                digest.path.display(),
            ));
            continue;
        }
        if !run.submit(digest.at).await {
            break;
        }
    }
    run.finish(false).await
}

/// Digests verified side by side on blocking threads, at most
/// `concurrency` at a time, their reports taken as they come in.
struct Run {
    store: Arc<dyn DigestStore>,
    keys: Keys,
    permits: Arc<Semaphore>,
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Result<Report, VerifyError>>,
    links: Vec<Link>,
    counts: Arc<Counts>,
    out: Arc<dyn Output>,
}

impl Run {
    fn new(
        store: Arc<dyn DigestStore>,
        keys: Keys,
        concurrency: usize,
        counts: &Arc<Counts>,
        out: Arc<dyn Output>,
    ) -> Run {
        Run {
            store,
            keys,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            stop: Arc::new(AtomicBool::new(false)),
            tasks: JoinSet::new(),
            links: Vec::new(),
            counts: Arc::clone(counts),
            out,
        }
    }

    /// The alerts had nowhere to go.
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Starts verifying the digest at `at` once a permit is free; false
    /// when the run is to stop.
    async fn submit(&mut self, at: Location) -> bool {
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return false;
        };
        let (store, keys) = (Arc::clone(&self.store), self.keys.clone());
        self.tasks.spawn_blocking(move || {
            let report = match &keys {
                Keys::CloudTrail(keys) => verify(store.as_ref(), &keys.in_region(&at.key), &at),
                Keys::File(keys) => verify(store.as_ref(), keys.as_ref(), &at),
            };
            drop(permit);
            report
        });
        // Reports already in are taken as the listing goes on.
        while let Some(done) = self.tasks.try_join_next() {
            take(done, &self.counts, &self.out, &self.stop, &mut self.links);
        }
        !self.stopped()
    }

    /// Waits for the rest, reports the gaps between the digests verified,
    /// and sums up.
    async fn finish(mut self, listing_failed: bool) -> DigestSummary {
        let counts = &self.counts;
        counts.listing_done.store(true, Ordering::Relaxed);
        while let Some(done) = self.tasks.join_next().await {
            take(done, counts, &self.out, &self.stop, &mut self.links);
        }
        if !self.stopped() {
            for problem in gaps(std::mem::take(&mut self.links)) {
                Counts::add(&counts.findings, 1);
                if !self.out.finding(finding(&problem)) {
                    self.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        DigestSummary {
            listed: Counts::get(&counts.listed),
            verified: Counts::get(&counts.scanned),
            failed: Counts::get(&counts.failed),
            skipped: Counts::get(&counts.skipped),
            logs_checked: Counts::get(&counts.records),
            problems: Counts::get(&counts.findings),
            listing_failed,
            stopped: self.stopped(),
        }
    }
}

type Done = Result<Result<Report, VerifyError>, tokio::task::JoinError>;

/// One digest's outcome into the counts and the output, and its place on
/// its chain into `links`.
fn take(
    done: Done,
    counts: &Counts,
    out: &Arc<dyn Output>,
    stop: &AtomicBool,
    links: &mut Vec<Link>,
) {
    match done {
        Ok(Ok(report)) => {
            links.extend(Link::of(&report));
            for note in &report.notes {
                out.problem(&format!("{}: {note}", report.digest));
            }
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

/// A verified digest's place on its chain.
#[derive(Debug, Clone)]
struct Link {
    /// The bucket, the digest folder of one region and the trail's file
    /// name stem: one chain.
    chain: (String, String, String),
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    hour: Hour,
    starts_chain: bool,
    at: Location,
}

impl Link {
    /// `None` for a backfill digest (a chain of its own, not hourly) or a
    /// key not named as a digest's. The hour is the digest's word when it
    /// is CloudTrail's; else (a forged, moved or unreadable digest, reported
    /// already) the hour its name ends, so that it is not also a gap.
    fn of(report: &Report) -> Option<Link> {
        if report.backfill {
            return None;
        }
        let name = DigestName::parse(&report.digest.key)?;
        let time = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let signed_hour = report
            .hour
            .as_ref()
            .filter(|_| report.signed)
            .and_then(|hour| Some((time(&hour.start)?, time(&hour.end)?, hour.clone())));
        let (start, end, hour) = match signed_hour {
            Some(hour) => hour,
            None => {
                let start = name.end - chrono::Duration::hours(1);
                let hour = Hour {
                    start: utc_text(start),
                    end: utc_text(name.end),
                };
                (start, name.end, hour)
            }
        };
        Some(Link {
            chain: (
                report.digest.bucket.clone(),
                name.region_folder.to_string(),
                name.stem.to_string(),
            ),
            start,
            end,
            hour,
            starts_chain: report.starts_chain,
            at: report.digest.clone(),
        })
    }
}

/// The gaps between digests of one chain: a digest that does not start a
/// new chain and whose hour starts after the previous digest listed ends
/// (CloudTrail starts each digest's hour where the previous one ended).
/// Before the first digest of a chain and after the last there is no gap:
/// digests that stop are the delivery-silence alarm's business.
fn gaps(mut links: Vec<Link>) -> Vec<Problem> {
    links.sort_by(|a, b| (&a.chain, a.start).cmp(&(&b.chain, b.start)));
    links
        .windows(2)
        .filter(|pair| pair[0].chain == pair[1].chain)
        .filter(|pair| !pair[1].starts_chain && pair[1].start > pair[0].end)
        .map(|pair| Problem {
            digest: pair[1].at.clone(),
            hour: Some(pair[1].hour.clone()),
            kind: Kind::Gap {
                after: pair[0].at.clone(),
                from: pair[0].hour.end.clone(),
                to: pair[1].hour.start.clone(),
            },
        })
        .collect()
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

    fn report(region: &str, hour: u32, starts_chain: bool) -> Report {
        Report {
            digest: Location::new(
                "b",
                format!("AWSLogs/1/CloudTrail-Digest/{region}/2026/11/23/1_CloudTrail-Digest_{region}_t_r_20261123T{hour:02}0131Z.json.gz"),
            ),
            hour: Some(Hour {
                start: format!("2026-11-23T{:02}:01:31Z", hour - 1),
                end: format!("2026-11-23T{hour:02}:01:31Z"),
            }),
            problems: Vec::new(),
            starts_chain,
            backfill: false,
            signed: true,
            logs_checked: 0,
            notes: Vec::new(),
        }
    }

    fn links(reports: &[Report]) -> Vec<Link> {
        reports.iter().filter_map(Link::of).collect()
    }

    #[test]
    fn hours_missing_between_two_digests_of_a_chain_are_a_gap() {
        let found = gaps(links(&[
            report("eu-west-3", 12, false),
            report("eu-west-3", 9, true),
            report("eu-west-3", 10, false),
        ]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].digest, report("eu-west-3", 12, false).digest);
        assert_eq!(
            found[0].kind,
            Kind::Gap {
                after: report("eu-west-3", 10, false).digest,
                from: "2026-11-23T10:01:31Z".into(),
                to: "2026-11-23T11:01:31Z".into(),
            }
        );
        assert!(found[0]
            .to_string()
            .contains("no digest from 2026-11-23T10:01:31Z to 2026-11-23T11:01:31Z"));
    }

    #[test]
    fn a_new_chain_other_regions_and_a_clean_run_are_no_gap() {
        // Logging was off from 10 to 12: the digest of 13 starts a chain.
        assert!(gaps(links(&[
            report("eu-west-3", 10, false),
            report("eu-west-3", 13, true)
        ]))
        .is_empty());
        // Another region's digests are another chain.
        assert!(gaps(links(&[
            report("eu-west-3", 10, false),
            report("us-east-1", 13, false)
        ]))
        .is_empty());
        assert!(gaps(links(&[
            report("eu-west-3", 9, true),
            report("eu-west-3", 10, false),
            report("eu-west-3", 11, false),
        ]))
        .is_empty());
        // A digest that is there but not CloudTrail's (its hour unknown or
        // not to be trusted) holds its name's hour: a problem, not a gap.
        let forged = Report {
            hour: None,
            signed: false,
            ..report("eu-west-3", 10, false)
        };
        assert!(gaps(links(&[
            report("eu-west-3", 9, true),
            forged,
            report("eu-west-3", 11, false),
        ]))
        .is_empty());
    }
}
