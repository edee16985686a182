//! The deadline holds whatever the object, through the handler's seams (an
//! object store in memory, its bodies made here): an object of tiny
//! records that inflates without end, a body that stalls, a store that
//! panics. Each invocation answers before its deadline, sends what it
//! found, and names the object it did not finish.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::memory::{Objects, Recorded};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};
use trailwatch::lambda::{Handler, InvocationError, Reply};
use trailwatch::object::ObjectRef;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};
use trailwatch::source::s3::{FetchError, ObjectBody, ObjectStore};

const BUCKET: &str = "logs";
const INTEGRITY_TITLE: &str = "CloudTrail Log Object Cannot Be Read";
const ROOT_TITLE: &str = "AWS Account Root User Activity";

fn key(name: &str) -> String {
    format!("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/{name}.json.gz")
}

/// A record the built-in rules alert on.
fn root_login() -> Value {
    json!({
        "eventVersion": "1.08", "eventID": "root-1", "eventTime": "2026-11-23T08:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1", "recipientAccountId": "123456789012",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// What the stores below hand out.
#[derive(Clone)]
enum Body {
    /// A gzip log of one alerting record then tiny records without end:
    /// gzip members of 16 MiB of `{},` each, some 16 KB compressed (1 MB
    /// of it is 1 GB of records).
    TinyRecords {
        head: Arc<Vec<u8>>,
        member: Arc<Vec<u8>>,
    },
    /// The first bytes of a log, then nothing more, ever.
    Stalled(Arc<Vec<u8>>),
    /// A whole log.
    Whole(Arc<Vec<u8>>),
    /// Opening it panics, as the SDK does on a URI past 64 KB.
    Panics,
}

impl Body {
    fn tiny_records() -> Body {
        let head = format!(r#"{{"Records":[{},"#, root_login());
        Body::TinyRecords {
            head: Arc::new(gzip(head.as_bytes())),
            member: Arc::new(gzip(&b"{},".repeat((16 << 20) / 3))),
        }
    }
}

/// Objects by key, with the size S3 would give.
struct Store(HashMap<String, (Body, u64)>);

#[async_trait]
impl ObjectStore for Store {
    async fn open_sized(
        &self,
        object: &ObjectRef,
    ) -> Result<(ObjectBody, Option<u64>), FetchError> {
        let (body, size) = self.0.get(&object.key).ok_or(FetchError::NotFound {
            object: object.to_string(),
        })?;
        let body: ObjectBody = match body {
            Body::TinyRecords { head, member } => Box::new(Members {
                head: Arc::clone(head),
                member: Arc::clone(member),
                at: 0,
            }),
            Body::Stalled(bytes) => Box::new(Stalls {
                bytes: Arc::clone(bytes),
                at: 0,
            }),
            Body::Whole(bytes) => Box::new(std::io::Cursor::new(bytes.to_vec())),
            Body::Panics => panic!(
                "called `Result::unwrap()` on an `Err` value: InvalidUri(TooLong) for {object}"
            ),
        };
        Ok((body, Some(*size)))
    }
}

/// `head`, then `member` again and again.
struct Members {
    head: Arc<Vec<u8>>,
    member: Arc<Vec<u8>>,
    /// Bytes handed out.
    at: usize,
}

impl AsyncRead for Members {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while buf.remaining() > 0 {
            let at = self.at;
            let part = match at.checked_sub(self.head.len()) {
                None => &self.head[at..],
                Some(into) => &self.member[into % self.member.len()..],
            };
            let n = part.len().min(buf.remaining());
            buf.put_slice(&part[..n]);
            self.at += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// `bytes`, then pending for ever (never woken: only a deadline ends it).
struct Stalls {
    bytes: Arc<Vec<u8>>,
    at: usize,
}

impl AsyncRead for Stalls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at >= self.bytes.len() {
            return Poll::Pending;
        }
        let n = (self.bytes.len() - self.at).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

fn handler(store: impl ObjectStore + 'static, sink: &Arc<Recorded>) -> Handler {
    Handler {
        store: Arc::new(store),
        sink: sink.clone(),
        rules: Arc::new(RuleSet::load(&RuleConfig::default()).expect("built-in pack")),
        limits: Limits::default(),
        deadline_margin: Duration::from_secs(1),
        max_alerts: None,
        ledger: None,
        digests: None,
    }
}

fn s3_record(key: &str) -> Value {
    json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 100}}})
}

fn notification(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys.iter().map(|key| s3_record(key)).collect();
    json!({ "Records": records })
}

/// An SQS batch of (message id, receive count, body).
fn sqs(messages: &[(&str, u32, Value)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, count, body)| {
            json!({"messageId": id, "eventSource": "aws:sqs",
            "attributes": {"ApproximateReceiveCount": count.to_string()}, "body": body.to_string()})
        })
        .collect();
    json!({ "Records": records })
}

fn titles(sink: &Recorded) -> Vec<String> {
    sink.delivered().into_iter().map(|a| a.title).collect()
}

/// Runs the handler against a deadline `seconds` away; fails the test
/// (rather than hang) when it is not answered within 20 s. Asserts it
/// answered before the deadline.
async fn invoke(
    handler: &Handler,
    event: &Value,
    seconds: f64,
) -> Result<trailwatch::lambda::Response, InvocationError> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        handler.handle_until(event, Some(deadline)),
    )
    .await
    .expect("the invocation is answered");
    let now = Instant::now();
    assert!(
        now <= deadline,
        "answered {:?} after the deadline",
        now - deadline
    );
    answer
}

/// A 10 GB object of tiny records can never finish: it is read until the
/// stop time, its finding sent, and given up with an integrity alert that
/// says how to read it; the invocation succeeds, so it is not retried.
#[tokio::test(flavor = "multi_thread")]
async fn tiny_records_stop_at_the_stop_time_and_are_given_up() {
    let bomb = key("tiny");
    let store = Store(HashMap::from([(
        bomb.clone(),
        (Body::tiny_records(), 10_000_000_000),
    )]));
    let sink = Arc::new(Recorded::default());
    let handler = handler(store, &sink);
    let response = invoke(&handler, &notification(&[&bomb]), 3.0)
        .await
        .expect("given up, not retried");
    let summary = &response.summary;
    assert!(summary.records > 1, "{summary:#?}");
    assert!(summary.transient_errors.is_empty(), "{summary:#?}");
    let [error] = summary.permanent_errors.as_slice() else {
        panic!("one permanent error: {summary:#?}");
    };
    let url = format!("s3://{BUCKET}/{bomb}");
    assert!(
        error.starts_with(&format!("{url}: not finished by the stop time")),
        "{error}"
    );
    assert!(error.contains("of 10000000000 bytes read in"), "{error}");
    assert!(
        error.contains(&format!("`trailwatch scan {url}`")),
        "{error}"
    );
    assert!(error.contains("Raise the function's memory"), "{error}");
    let mut titles = titles(&sink);
    titles.sort();
    assert_eq!(
        titles,
        [ROOT_TITLE, INTEGRITY_TITLE],
        "what was found is sent"
    );
    let integrity = sink
        .delivered()
        .into_iter()
        .find(|a| a.title == INTEGRITY_TITLE)
        .expect("integrity alert");
    assert_eq!(integrity.source, url);
}

/// The same object in an SQS batch fails only itself (given up, not
/// listed for redelivery); the message after it, left unread for lack of
/// time, is listed.
#[tokio::test(flavor = "multi_thread")]
async fn in_an_sqs_batch_the_hopeless_object_does_not_hold_the_others() {
    let bomb = key("tiny");
    let good = key("good");
    let log = gzip(json!({"Records": [root_login()]}).to_string().as_bytes());
    let store = Store(HashMap::from([
        (bomb.clone(), (Body::tiny_records(), 10_000_000_000)),
        (good.clone(), (Body::Whole(Arc::new(log)), 100)),
    ]));
    let sink = Arc::new(Recorded::default());
    let handler = handler(store, &sink);
    let event = sqs(&[
        ("bomb", 1, notification(&[&bomb])),
        ("good", 1, notification(&[&good])),
    ]);
    let response = invoke(&handler, &event, 3.0).await.expect("a batch reply");
    let Reply::Queue(reply) = &response.reply else {
        panic!("an SQS reply");
    };
    let listed: Vec<&str> = reply
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(listed, ["good"], "{:#?}", response.summary);
    assert!(
        response.summary.transient_errors[0].contains("not started"),
        "{:#?}",
        response.summary
    );
}

/// A body that stops sending is cut off at the stop time. When nothing
/// arrived, the first time, it is retried (the network may be at fault),
/// naming the object and how far it got; when SQS has delivered it
/// before, it is given up with an integrity alert. When some of it came
/// and then nothing, the rate it came at says no retry can finish it.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_is_cut_off_at_the_stop_time() {
    let stalled = key("stalled");
    let store = |bytes: Vec<u8>| {
        Store(HashMap::from([(
            stalled.clone(),
            (Body::Stalled(Arc::new(bytes)), 1_000_000),
        )]))
    };
    let url = format!("s3://{BUCKET}/{stalled}");
    let sink = Arc::new(Recorded::default());
    let err = invoke(
        &handler(store(Vec::new()), &sink),
        &notification(&[&stalled]),
        2.0,
    )
    .await
    .expect_err("retried");
    let InvocationError::Transient(errors) = err else {
        panic!("transient: {err:?}");
    };
    assert!(
        errors[0].starts_with(&format!(
            "{url}: not finished by the stop time (the Lambda deadline less DEADLINE_MARGIN_SECS): \
             0 of 1000000 bytes read in"
        )),
        "{errors:?}"
    );
    assert!(sink.delivered().is_empty());

    let event = sqs(&[("again", 2, notification(&[&stalled]))]);
    let response = invoke(&handler(store(Vec::new()), &sink), &event, 2.0)
        .await
        .expect("a batch reply");
    assert_eq!(response.reply, Reply::Queue(Default::default()));
    let summary = &response.summary;
    assert!(
        summary.permanent_errors[0]
            .contains("nothing arrived, and this is delivery 2 of the message"),
        "{summary:#?}"
    );
    assert_eq!(titles(&sink), [INTEGRITY_TITLE]);

    // Some bytes, then a stall.
    let head = gzip(format!(r#"{{"Records":[{},"#, root_login()).as_bytes());
    let sink = Arc::new(Recorded::default());
    let response = invoke(
        &handler(store(head), &sink),
        &notification(&[&stalled]),
        2.0,
    )
    .await
    .expect("given up");
    let summary = &response.summary;
    // The budget is the time from the invocation's start to its stop time
    // (under 2 s here; how far under depends on the machine's load).
    let error = &summary.permanent_errors[0];
    assert!(
        error.contains(", more than the ") && error.contains(" s an invocation has"),
        "{summary:#?}"
    );
    // The record that arrived before the stall was read: its alert is sent
    // with the integrity alert.
    let mut sent = titles(&sink);
    sent.sort();
    assert_eq!(sent, ["AWS Account Root User Activity", INTEGRITY_TITLE]);
}

/// A panic while one object is read (here the store's, as the SDK's on a
/// 64 KB key) is that object's error, named, with an integrity alert; the
/// other message of the batch is read and alerted on.
#[tokio::test(flavor = "multi_thread")]
async fn a_panic_reading_one_object_is_that_object_s_error() {
    let panics = key("panics");
    let good = key("good");
    let log = gzip(json!({"Records": [root_login()]}).to_string().as_bytes());
    let store = Store(HashMap::from([
        (panics.clone(), (Body::Panics, 100)),
        (good.clone(), (Body::Whole(Arc::new(log)), 100)),
    ]));
    let sink = Arc::new(Recorded::default());
    let handler = handler(store, &sink);
    let event = sqs(&[
        ("panics", 1, notification(&[&panics])),
        ("good", 1, notification(&[&good])),
    ]);
    let response = handler.handle(&event).await.expect("a batch reply");
    assert_eq!(response.reply, Reply::Queue(Default::default()));
    let summary = &response.summary;
    let [error] = summary.permanent_errors.as_slice() else {
        panic!("one permanent error: {summary:#?}");
    };
    let url = format!("s3://{BUCKET}/{panics}");
    assert!(
        error.starts_with(&format!(
            "{url}: trailwatch failed while reading it (panic: "
        )) && error.contains("InvalidUri(TooLong)"),
        "{error}"
    );
    let mut titles = titles(&sink);
    titles.sort();
    assert_eq!(titles, [ROOT_TITLE, INTEGRITY_TITLE]);
}

/// Without a deadline nothing changes: the memory store's objects read.
#[tokio::test]
async fn without_a_deadline_objects_are_read_whole() {
    let good = key("good");
    let log = gzip(json!({"Records": [root_login()]}).to_string().as_bytes());
    let sink = Arc::new(Recorded::default());
    let handler = handler(Objects(HashMap::from([(good.clone(), log)])), &sink);
    let response = handler.handle(&notification(&[&good])).await.expect("read");
    assert_eq!(response.summary.records, 1);
    assert_eq!(titles(&sink), [ROOT_TITLE]);
}
