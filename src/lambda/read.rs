//! One object: open it, scan it on a blocking thread, hand its findings to
//! the invocation's grouper, classify what went wrong, and log one line
//! saying what it held and how it ended.

use std::future::Future;
use std::io::{self, Read};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio_util::io::SyncIoBridge;

use tokio::io::{AsyncRead, ReadBuf};
use tracing::Level;

use super::{DigestCheck, Handler, Invocation, InvocationSummary, Outcome};
use crate::alert::Alert;
use crate::digest::{self, Location, Until, VerifyError};
use crate::object::{ObjectKind, ObjectRef};
use crate::pipeline::{scan, ScanError, ScanReport};
use crate::pipeline::{Limits, LogError};
use crate::source::digests;
use crate::source::s3::{read_ahead, ObjectBody};
use crate::trigger::ResultCode;

/// The download reads ahead by up to this many MiB of compressed bytes
/// (some 50 MB of log).
const DOWNLOAD_AHEAD: usize = 8;
/// Objects of this size or less (as the notification gives it) are read
/// on the scan's thread, without a download thread ahead of it.
const READ_AHEAD_FROM: u64 = 1 << 20;

impl Handler {
    /// Reads one object and logs its line; the answer says whether it must
    /// be retried.
    pub(super) async fn object(&self, object: &ObjectRef, inv: &mut Invocation) -> ResultCode {
        let started = Instant::now();
        let before = Tally::of(&inv.summary);
        // The last line of defence: a panic while reading one object (a
        // bug, in trailwatch or the SDK) is that object's error, never the
        // whole invocation's crash.
        let result = match CatchUnwind(Box::pin(self.process(object, inv))).await {
            Ok(result) => result,
            Err(panic) => {
                let cause = format!(
                    "trailwatch failed while reading it ({}); this is a bug, please report it; \
                     read the object with `trailwatch scan {object}`",
                    panic_message(panic.as_ref())
                );
                self.permanent(object, "internal error", &cause, inv).await
            }
        };
        let tally = Tally::of(&inv.summary).since(before);
        log_object(object, &result, tally, started.elapsed());
        match result {
            Ok(Outcome::Read | Outcome::Skipped | Outcome::Verified) => ResultCode::Succeeded,
            Ok(Outcome::Permanent { .. }) => ResultCode::PermanentFailure,
            Err(message) => {
                inv.summary.transient_errors.push(message);
                ResultCode::TemporaryFailure
            }
        }
    }

    /// Reads one object and publishes its alerts. `Err` is a transient
    /// failure (retry); permanent ones are reported and are an `Outcome`.
    async fn process(&self, object: &ObjectRef, inv: &mut Invocation) -> Result<Outcome, String> {
        let kind = ObjectKind::of(&object.key, object.size);
        if let (ObjectKind::Digest, Some(check)) = (kind, &self.digests) {
            return self.digest(object, check, inv).await;
        }
        if !kind.is_readable() {
            *inv.summary
                .objects_skipped
                .entry(kind.as_str().to_string())
                .or_default() += 1;
            return Ok(Outcome::Skipped);
        }
        if inv.stop_at.is_some_and(|stop| Instant::now() >= stop) {
            return Err(format!(
                "{object}: not started, too little time left before the Lambda deadline"
            ));
        }
        let started = Instant::now();
        let bytes_read = Arc::new(AtomicU64::new(0));
        let opening = self.store.open_sized(object);
        let opened = match inv.give_up_at {
            Some(at) => tokio::time::timeout_at(at.into(), opening).await.ok(),
            None => Some(opening.await),
        };
        let (body, size) = match opened {
            Some(Ok(opened)) => opened,
            Some(Err(err)) if err.is_transient() => return Err(err.to_string()),
            Some(Err(err)) => {
                return self
                    .permanent(object, "unreadable", &err.to_string(), inv)
                    .await
            }
            None => return self.unfinished(object, None, 0, started, inv).await,
        };
        let size = size.or(object.size);
        let scanned = self
            .scan(object, body, Arc::clone(&bytes_read), inv)
            .await?;
        let bytes = bytes_read.load(Ordering::Relaxed);
        let Some(mut report) = scanned else {
            // The scan did not end by the time to give up waiting (a read
            // stuck below the checks): what it found is grouped already.
            inv.summary.bytes_read += bytes;
            return self.unfinished(object, size, bytes, started, inv).await;
        };
        inv.summary.add_scan(&mut report, bytes);
        let stopped = inv.stop_at.is_some_and(|stop| Instant::now() >= stop);
        match report.error {
            Some(ScanError::Log(LogError::OutOfTime { .. })) => {
                self.unfinished(object, size, bytes, started, inv).await
            }
            // A read that failed at the stop time is the stop: the body
            // is cut off there ([`UntilStop`]).
            Some(err) if err.is_transient() && stopped => {
                self.unfinished(object, size, bytes, started, inv).await
            }
            Some(err) if err.is_transient() => Err(format!("{object}: {err}")),
            Some(err) => {
                self.permanent(object, "corrupt", &err.to_string(), inv)
                    .await
            }
            None => Ok(Outcome::Read),
        }
    }

    /// Verifies a digest file on a blocking thread (it hashes every log it
    /// lists, and its seams call the SDK with `block_on`), and hands each
    /// problem to the grouper as a critical finding. A failure to read or
    /// to look the key up is the object's error, transient or permanent as
    /// for a log; a digest not verified by the stop time is retried.
    async fn digest(
        &self,
        object: &ObjectRef,
        check: &DigestCheck,
        inv: &mut Invocation,
    ) -> Result<Outcome, String> {
        if inv.stop_at.is_some_and(|stop| Instant::now() >= stop) {
            return Err(format!(
                "{object}: not verified, too little time left before the Lambda deadline"
            ));
        }
        let at = Location::new(&object.bucket, &object.key);
        let check = check.clone();
        let stop = inv.stop_at;
        let task = tokio::task::spawn_blocking(move || {
            let keys = check.keys.in_region(&at.key);
            match stop {
                // Past the stop time no read starts: a verification no
                // longer waited for ends at its next read.
                Some(stop) => digest::verify(&Until::new(check.store.as_ref(), stop), &keys, &at),
                None => digest::verify(check.store.as_ref(), &keys, &at),
            }
        });
        // Wait for it until the stop time, and retry the digest if it is
        // not done by then.
        let joined = match inv.stop_at {
            Some(stop) => match tokio::time::timeout_at(stop.into(), task).await {
                Ok(joined) => joined,
                Err(_) => {
                    return Err(format!(
                        "{object}: the digest was not verified by the stop time (the Lambda \
                         deadline less DEADLINE_MARGIN_SECS); retried"
                    ))
                }
            },
            None => task.await,
        };
        let verified = match joined {
            Ok(verified) => verified,
            // Caught where the object is handled ([`Handler::object`]).
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => return Err(format!("{object}: the verification task failed: {err}")),
        };
        let report = match verified {
            Ok(report) => report,
            Err(err) => {
                let source = match &err {
                    VerifyError::Read { source, .. } | VerifyError::Key { source, .. } => source,
                };
                if digests::is_transient(source.as_ref()) {
                    return Err(format!("{object}: {err}"));
                }
                return self
                    .permanent(object, "unverifiable", &err.to_string(), inv)
                    .await;
            }
        };
        for note in &report.notes {
            tracing::warn!(object = %object, "{note}");
        }
        inv.summary.digests_verified += 1;
        inv.summary.digest_problems += report.problems.len() as u64;
        let mut grouper = inv.grouper.lock().unwrap_or_else(PoisonError::into_inner);
        for problem in &report.problems {
            grouper.add(crate::alert::digest::finding(problem), inv.unit);
        }
        Ok(Outcome::Verified)
    }

    /// An object not finished by the stop time. A retry gets an
    /// invocation's whole time: the object is retried when, at the rate it
    /// was read, that is enough to finish it; otherwise no retry can finish
    /// it, and it is given up with an integrity alert that says how to read
    /// it, rather than looping through every retry (and, in an SQS batch,
    /// holding healthy messages back until they reach the dead-letter
    /// queue).
    async fn unfinished(
        &self,
        object: &ObjectRef,
        size: Option<u64>,
        bytes: u64,
        started: Instant,
        inv: &mut Invocation,
    ) -> Result<Outcome, String> {
        let had = started.elapsed();
        let budget = inv
            .stop_at
            .map(|stop| stop.saturating_duration_since(inv.started));
        let read = match size {
            Some(size) => format!("{bytes} of {size} bytes"),
            None => format!("{bytes} bytes"),
        };
        let so_far = format!(
            "not finished by the stop time (the Lambda deadline less DEADLINE_MARGIN_SECS): \
             {read} read in {:.1} s",
            had.as_secs_f64()
        );
        let hopeless = match (budget, size) {
            (None, _) => None,
            (Some(budget), Some(size)) if bytes > 0 => {
                let needed = had.as_secs_f64() * size as f64 / bytes as f64;
                (needed > budget.as_secs_f64()).then(|| {
                    format!(
                        "at that rate it needs about {needed:.0} s, more than the {:.0} s an invocation has",
                        budget.as_secs_f64()
                    )
                })
            }
            // Nothing arrived: most likely the network, worth one retry;
            // hopeless once SQS has delivered the message before.
            (Some(_), _) if bytes == 0 => (inv.receive_count > 1).then(|| {
                format!(
                    "nothing arrived, and this is delivery {} of the message",
                    inv.receive_count
                )
            }),
            // No size to measure a rate against: hopeless when it already
            // had (nearly) an invocation's whole time.
            (Some(budget), _) => (had >= budget.mul_f64(0.9)).then(|| {
                format!(
                    "it had the invocation's whole {:.0} s",
                    budget.as_secs_f64()
                )
            }),
        };
        match hopeless {
            None => Err(format!(
                "{object}: {so_far}; retried: an invocation's whole time can finish it"
            )),
            Some(why) => {
                let cause = format!(
                    "{so_far}; {why}, so a retry cannot finish it either. The alerts from \
                     what was read were sent. Raise the function's memory (more CPU) or \
                     timeout, or read it with `trailwatch scan {object}`"
                );
                self.permanent(object, "unfinished", &cause, inv).await
            }
        }
    }

    /// Runs the synchronous core on a blocking thread over the streaming
    /// body, so the object is never held whole. Findings are small (shared
    /// pointers) and are grouped as they come: memory grows with the number
    /// of distinct alerts, not with the number of matches. Returns the
    /// report; `None` when the scan did not end by the time to give up
    /// waiting (its findings so far are grouped all the same). Counts the
    /// bytes the decoder takes in `bytes_read`.
    async fn scan(
        &self,
        object: &ObjectRef,
        body: ObjectBody,
        bytes_read: Arc<AtomicU64>,
        inv: &Invocation,
    ) -> Result<Option<ScanReport>, String> {
        // A body that stalls is cut off at the stop time: the scan sees a
        // read error there instead of waiting on the network for ever.
        let body: ObjectBody = match inv.stop_at {
            Some(stop) => Box::new(UntilStop {
                inner: body,
                stop: Box::pin(tokio::time::sleep_until(stop.into())),
            }),
            None => body,
        };
        // A small object arrives in a read or two: a download thread ahead
        // of the scan would cost more than it overlaps.
        let download: Box<dyn Read + Send> = match object.size {
            Some(size) if size <= READ_AHEAD_FROM => Box::new(SyncIoBridge::new(body)),
            _ => Box::new(read_ahead(object, body, DOWNLOAD_AHEAD)?),
        };
        // Counted as the decoder takes them: a notification does not always
        // give the size (CloudTrail's, Batch Operations), and a failed read
        // takes less than the whole object.
        let reader = Counted {
            inner: download,
            count: bytes_read,
        };
        let rules = Arc::clone(&self.rules);
        let label = object.to_string();
        let limits = Limits {
            stop_at: inv.stop_at,
            ..self.limits
        };
        let (correlator, grouper, unit) = (
            Arc::clone(&inv.correlator),
            Arc::clone(&inv.grouper),
            inv.unit,
        );
        let task = tokio::task::spawn_blocking(move || {
            // Objects are read one after another: the lock is never contended.
            let mut correlator = correlator.lock().unwrap_or_else(PoisonError::into_inner);
            // The grouper is locked per finding, never for the whole scan:
            // a scan given up on must not keep the alerts from being sent.
            scan(reader, &label, &rules, &mut correlator, limits, |finding| {
                grouper
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .add(finding, unit);
                true
            })
        });
        let joined = match inv.give_up_at {
            Some(at) => match tokio::time::timeout_at(at.into(), task).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::warn!(bucket = %object.bucket, key = %object.key, "the scan did not stop at the stop time; no longer waiting for it");
                    return Ok(None);
                }
            },
            None => task.await,
        };
        match joined {
            Ok(report) => Ok(Some(report)),
            // Caught where the object is handled ([`Handler::object`]).
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(format!("{object}: the scan task failed: {err}")),
        }
    }

    /// Reports an object that can never be read with an integrity alert,
    /// since an unreadable CloudTrail log may be tampering. Only a failure
    /// to send that alert makes it a retry.
    async fn permanent(
        &self,
        object: &ObjectRef,
        failure: &'static str,
        cause: &str,
        inv: &mut Invocation,
    ) -> Result<Outcome, String> {
        let label = object.to_string();
        let alert = Alert::integrity(&label, failure, cause);
        let (sent, result) = self.send(std::slice::from_ref(&alert), inv).await;
        // The retry's message keeps the cause: it is the only line saying
        // what is wrong with the object.
        result.map_err(|err| {
            format!("{label}: {cause}; sending the integrity alert failed: {err}")
        })?;
        inv.summary.integrity_alerts += sent;
        inv.summary
            .permanent_errors
            .push(format!("{label}: {cause}"));
        Ok(Outcome::Permanent {
            failure,
            cause: cause.to_string(),
        })
    }
}

/// A body cut off at the stop time: past it, a read that has no data
/// fails, however long the network would have kept it waiting.
struct UntilStop {
    inner: ObjectBody,
    stop: Pin<Box<tokio::time::Sleep>>,
}

impl AsyncRead for UntilStop {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the stop time came before the rest of the object",
            )));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// A future whose panic is caught and returned.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// What a panic said, for the object's error.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    format!("panic: {}", crate::pipeline::pipe::panic_text(panic))
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What one object added to the invocation's summary: taken as the
/// difference of the totals before and after it, so the objects' lines
/// always add up to the invocation's, whichever way the object ended.
#[derive(Debug, Clone, Copy)]
struct Tally {
    bytes: u64,
    records: u64,
    evaluated: u64,
    invalid: u64,
    findings: u64,
    integrity_alerts: u64,
    digest_problems: u64,
}

impl Tally {
    fn of(summary: &InvocationSummary) -> Tally {
        Tally {
            bytes: summary.bytes_read,
            records: summary.records,
            evaluated: summary.records_evaluated,
            invalid: summary.records_invalid,
            findings: summary.findings,
            integrity_alerts: summary.integrity_alerts,
            digest_problems: summary.digest_problems,
        }
    }

    fn since(self, before: Tally) -> Tally {
        Tally {
            bytes: self.bytes.saturating_sub(before.bytes),
            records: self.records.saturating_sub(before.records),
            evaluated: self.evaluated.saturating_sub(before.evaluated),
            invalid: self.invalid.saturating_sub(before.invalid),
            findings: self.findings.saturating_sub(before.findings),
            integrity_alerts: self
                .integrity_alerts
                .saturating_sub(before.integrity_alerts),
            digest_problems: self.digest_problems.saturating_sub(before.digest_problems),
        }
    }
}

/// One line per object, however it ended. Failures are ERROR lines with a
/// `class` (`permanent`, `transient`), like every error line of the
/// function, and their `cause`.
fn log_object(object: &ObjectRef, result: &Result<Outcome, String>, tally: Tally, took: Duration) {
    let kind = ObjectKind::of(&object.key, object.size).as_str();
    let duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    // `tracing` fixes an event's level where it is written: one expansion
    // per level, the fields written once.
    macro_rules! line {
        ($level:expr, $outcome:expr, $class:expr, $failure:expr, $cause:expr, $message:expr) => {
            tracing::event!(
                $level,
                bucket = %object.bucket,
                key = %object.key,
                kind,
                size = object.size,
                outcome = $outcome,
                bytes = tally.bytes,
                records = tally.records,
                records_evaluated = tally.evaluated,
                records_invalid = tally.invalid,
                findings = tally.findings,
                integrity_alerts = tally.integrity_alerts,
                digest_problems = tally.digest_problems,
                duration_ms,
                class = $class,
                failure = $failure,
                cause = $cause,
                $message
            )
        };
    }
    let none: Option<&str> = None;
    match result {
        Ok(Outcome::Read) => line!(Level::INFO, "read", none, none, none, "object read"),
        Ok(Outcome::Skipped) => line!(Level::INFO, "skipped", none, none, none, "object skipped"),
        // A digest with problems is a WARN line: the alerts say the rest.
        Ok(Outcome::Verified) if tally.digest_problems > 0 => line!(
            Level::WARN,
            "verified",
            none,
            none,
            none,
            "digest verified: problems found"
        ),
        Ok(Outcome::Verified) => {
            line!(Level::INFO, "verified", none, none, none, "digest verified")
        }
        Ok(Outcome::Permanent { failure, cause }) => line!(
            Level::ERROR,
            "permanent",
            Some("permanent"),
            Some(*failure),
            Some(cause.as_str()),
            "object cannot be read; skipped"
        ),
        Err(cause) => line!(
            Level::ERROR,
            "transient",
            Some("transient"),
            none,
            Some(cause.as_str()),
            "object not read; to be retried"
        ),
    }
}
