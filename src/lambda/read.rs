//! One object: open it, scan it on a blocking thread, hand its findings to
//! the invocation's grouper, and classify what went wrong.

use std::io::{self, Read};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use tokio_util::io::SyncIoBridge;

use super::{Handler, Invocation, Outcome};
use crate::alert::Alert;
use crate::object::{ObjectKind, ObjectRef};
use crate::pipe;
use crate::pipeline::{scan, ScanReport};
use crate::source::s3::ObjectBody;

/// The download reads ahead by up to `DOWNLOAD_AHEAD` chunks of
/// `DOWNLOAD_CHUNK` compressed bytes (about 8 MB, some 50 MB of log).
const DOWNLOAD_CHUNK: usize = 1 << 20;
const DOWNLOAD_AHEAD: usize = 8;

impl Handler {
    /// Reads one object and publishes its alerts. `Err` is a transient
    /// failure (retry); permanent ones are reported and are an `Outcome`.
    pub(super) async fn process(
        &self,
        object: &ObjectRef,
        inv: &mut Invocation,
    ) -> Result<Outcome, String> {
        let kind = ObjectKind::of(&object.key, object.size);
        if !kind.is_readable() {
            tracing::info!(bucket = %object.bucket, key = %object.key, kind = kind.as_str(), "skipped");
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
        let report = self.scan(object, body, inv).await?;
        let summary = &mut inv.summary;
        summary.objects_read += 1;
        summary.bytes_read += object.size.unwrap_or_default();
        summary.records += report.records;
        summary.records_evaluated += report.evaluated;
        summary.records_invalid += report.invalid;
        summary.findings += report.alerts;
        tracing::info!(
            bucket = %object.bucket,
            key = %object.key,
            kind = kind.as_str(),
            records = report.records,
            evaluated = report.evaluated,
            invalid = report.invalid,
            findings = report.alerts,
            "object read"
        );
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
    /// of distinct alerts, not with the number of matches.
    async fn scan(
        &self,
        object: &ObjectRef,
        body: ObjectBody,
        inv: &Invocation,
    ) -> Result<ScanReport, String> {
        // The download runs ahead on a thread of its own (it mostly waits
        // on the network), so it overlaps with inflating and the rules.
        let download = pipe::spawn(
            "trailwatch-download",
            SyncIoBridge::new(body),
            DOWNLOAD_CHUNK,
            DOWNLOAD_AHEAD,
        )
        .map_err(|err| format!("{object}: cannot start the download thread: {err}"))?;
        let reader = UntilDeadline {
            inner: download,
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
        tokio::task::spawn_blocking(move || {
            // Objects are read one after another: the locks are never contended.
            let mut correlator = correlator.lock().unwrap_or_else(PoisonError::into_inner);
            let mut grouper = grouper.lock().unwrap_or_else(PoisonError::into_inner);
            scan(reader, &label, &rules, &mut correlator, limits, |finding| {
                grouper.add(finding, unit);
                true
            })
        })
        .await
        .map_err(|err| format!("{object}: the scan task failed: {err}"))
    }

    /// Reports an object that can never be read: a log line, and an
    /// integrity alert, since an unreadable CloudTrail log may be tampering.
    /// Only a failure to send that alert makes it a retry.
    async fn permanent(
        &self,
        object: &ObjectRef,
        class: &str,
        cause: &str,
        inv: &mut Invocation,
    ) -> Result<Outcome, String> {
        tracing::error!(bucket = %object.bucket, key = %object.key, class = "permanent", kind = class, cause, "object cannot be read; skipped");
        let label = object.to_string();
        let alert = Alert::integrity(&label, class, cause);
        let (sent, result) = self.send(std::slice::from_ref(&alert), inv).await;
        result.map_err(|err| format!("{label}: sending the integrity alert failed: {err}"))?;
        inv.summary.integrity_alerts += sent;
        inv.summary
            .permanent_errors
            .push(format!("{label}: {cause}"));
        Ok(Outcome::Permanent(cause.to_string()))
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
