//! One object: open it, scan it on a blocking thread, hand its findings to
//! the invocation's grouper, classify what went wrong, and log one line
//! saying what it held and how it ended.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use tracing::Level;

use super::{Handler, Invocation, InvocationSummary, Outcome};
use crate::alert::Alert;
use crate::object::{ObjectKind, ObjectRef};
use crate::pipeline::{scan, ScanReport};
use crate::source::s3::{read_ahead, ObjectBody};
use crate::trigger::ResultCode;

/// The download reads ahead by up to this many MiB of compressed bytes
/// (some 50 MB of log).
const DOWNLOAD_AHEAD: usize = 8;

impl Handler {
    /// Reads one object and logs its line; the answer says whether it must
    /// be retried.
    pub(super) async fn object(&self, object: &ObjectRef, inv: &mut Invocation) -> ResultCode {
        let started = Instant::now();
        let before = Tally::of(&inv.summary);
        let result = self.process(object, inv).await;
        let tally = Tally::of(&inv.summary).since(before);
        log_object(object, &result, tally, started.elapsed());
        match result {
            Ok(Outcome::Read | Outcome::Skipped) => ResultCode::Succeeded,
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
        let body = match self.store.open(object).await {
            Ok(body) => body,
            Err(err) if err.is_transient() => return Err(err.to_string()),
            Err(err) => {
                return self
                    .permanent(object, "unreadable", &err.to_string(), inv)
                    .await
            }
        };
        let (mut report, bytes) = self.scan(object, body, inv).await?;
        inv.summary.add_scan(&mut report, bytes);
        match report.error {
            Some(err) if err.is_transient() => Err(format!("{object}: {err}")),
            Some(err) => {
                self.permanent(object, "corrupt", &err.to_string(), inv)
                    .await
            }
            None => Ok(Outcome::Read),
        }
    }

    /// Runs the synchronous core on a blocking thread over the streaming
    /// body, so the object is never held whole. Findings are small (shared
    /// pointers) and are grouped as they come: memory grows with the number
    /// of distinct alerts, not with the number of matches. Returns the
    /// report and the bytes read from the body.
    async fn scan(
        &self,
        object: &ObjectRef,
        body: ObjectBody,
        inv: &Invocation,
    ) -> Result<(ScanReport, u64), String> {
        let download = read_ahead(object, body, DOWNLOAD_AHEAD)?;
        // Counted as the decoder takes them: a notification does not always
        // give the size (CloudTrail's, Batch Operations), and a failed read
        // takes less than the whole object.
        let bytes_read = Arc::new(AtomicU64::new(0));
        let reader = UntilDeadline {
            inner: Counted {
                inner: download,
                count: Arc::clone(&bytes_read),
            },
            stop_at: inv.stop_at,
        };
        let rules = Arc::clone(&self.rules);
        let label = object.to_string();
        let limits = self.limits;
        let (correlator, grouper, unit) = (
            Arc::clone(&inv.correlator),
            Arc::clone(&inv.grouper),
            inv.unit,
        );
        let report = tokio::task::spawn_blocking(move || {
            // Objects are read one after another: the locks are never contended.
            let mut correlator = correlator.lock().unwrap_or_else(PoisonError::into_inner);
            let mut grouper = grouper.lock().unwrap_or_else(PoisonError::into_inner);
            scan(reader, &label, &rules, &mut correlator, limits, |finding| {
                grouper.add(finding, unit);
                true
            })
        })
        .await
        .map_err(|err| format!("{object}: the scan task failed: {err}"))?;
        Ok((report, bytes_read.load(Ordering::Relaxed)))
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

/// A body that stops reading at a deadline. The decoder sees a read error
/// from the source, which is transient: the invocation ends cleanly, in
/// time to say so, and the object is read again on retry.
struct UntilDeadline<R> {
    inner: R,
    stop_at: Option<Instant>,
}

impl<R: Read> Read for UntilDeadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop_at.is_some_and(|stop| Instant::now() >= stop) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "stopped before the Lambda deadline; the object will be read again on retry",
            ));
        }
        self.inner.read(buf)
    }
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
