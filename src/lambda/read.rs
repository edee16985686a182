//! One object: open it, scan it on a blocking thread, publish its alerts
//! as they are found, and classify what went wrong.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use super::{Handler, Invocation, Outcome};
use crate::alert::Alert;
use crate::object::{ObjectKind, ObjectRef};
use crate::pipeline::{scan, ScanReport};
use crate::rules::Correlator;
use crate::sink::SinkError;
use crate::source::s3::ObjectBody;

/// Alerts published per call to the sink.
const ALERT_BATCH: usize = 10;

/// What publishing an object's alerts did.
#[derive(Default)]
struct Published {
    sent: u64,
    error: Option<SinkError>,
}

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
        let (report, published) = self
            .scan_and_publish(object, body, Arc::clone(&inv.correlator), inv.stop_at)
            .await?;
        let summary = &mut inv.summary;
        summary.objects_read += 1;
        summary.bytes_read += object.size.unwrap_or_default();
        summary.records += report.records;
        summary.records_evaluated += report.evaluated;
        summary.records_invalid += report.invalid;
        summary.alerts += published.sent;
        tracing::info!(
            bucket = %object.bucket,
            key = %object.key,
            kind = kind.as_str(),
            records = report.records,
            evaluated = report.evaluated,
            invalid = report.invalid,
            alerts = published.sent,
            "object read"
        );
        if let Some(err) = published.error {
            return Err(format!("{object}: {err}"));
        }
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
    /// body, so the object is never held whole, and publishes alerts as
    /// they are found, in batches, through a bounded channel: memory stays
    /// flat however many records match.
    async fn scan_and_publish(
        &self,
        object: &ObjectRef,
        body: ObjectBody,
        correlator: Arc<Mutex<Correlator>>,
        stop_at: Option<Instant>,
    ) -> Result<(ScanReport, Published), String> {
        let reader = UntilDeadline {
            inner: SyncIoBridge::new(body),
            stop_at,
        };
        let rules = Arc::clone(&self.rules);
        let label = object.to_string();
        let limits = self.limits;
        let (tx, mut rx) = mpsc::channel::<Alert>(ALERT_BATCH * 4);
        let scanning = tokio::task::spawn_blocking(move || {
            // A closed channel means publishing failed: stop reading.
            // Objects are read one after another: the lock is never contended.
            let mut correlator = correlator.lock().unwrap_or_else(PoisonError::into_inner);
            scan(reader, &label, &rules, &mut correlator, limits, |finding| {
                tx.blocking_send(finding.alert()).is_ok()
            })
        });
        let mut published = Published::default();
        let mut batch = Vec::with_capacity(ALERT_BATCH);
        loop {
            let next = rx.recv().await;
            let done = next.is_none();
            batch.extend(next);
            if batch.len() == ALERT_BATCH || (done && !batch.is_empty()) {
                if let Err(err) = self.sink.publish(&batch).await {
                    published.error = Some(err);
                    rx.close();
                    break;
                }
                published.sent += batch.len() as u64;
                batch.clear();
            }
            if done {
                break;
            }
        }
        let report = scanning
            .await
            .map_err(|err| format!("{object}: the scan task failed: {err}"))?;
        Ok((report, published))
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
        self.sink
            .publish(std::slice::from_ref(&alert))
            .await
            .map_err(|err| format!("{label}: sending the integrity alert failed: {err}"))?;
        inv.summary.integrity_alerts += 1;
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
