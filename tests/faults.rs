//! S3 and SNS faults through the real SDK clients, whose HTTP is answered
//! from memory: the SDK's own retries, error parsing and classification
//! run as in Lambda, without a network or a moto server.
//!
//! The answers come from a small in-file mock HTTP client (rules matched
//! in order, each with a script of answers and a call count, in the manner
//! of aws-smithy-mocks). aws-smithy-mocks itself turns on
//! aws-smithy-http-client's `test-util` feature, which the normal build
//! does not have, so `cargo test` would build the whole AWS SDK a second
//! time: this mock needs only traits the SDK already builds.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::http::{HttpRequest, HttpResponse};
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RuntimeComponents};
use aws_sdk_s3::primitives::SdkBody;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use serde_json::{json, Value};
use trailwatch::lambda::{
    Handler, InvocationError, InvocationSummary, ItemFailure, QueueReply, Reply,
};
use trailwatch::logfile::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};
use trailwatch::sink::sns::SnsSink;
use trailwatch::source::s3::S3Store;

const BUCKET: &str = "trailwatch-test-logs";
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:trailwatch-alerts";
/// Attempts per request, the first one included.
const MAX_ATTEMPTS: usize = 3;
/// The sample log: two Invoke records, one by IAM user alice, which alerts.
const INVOKE_LOG: &str = "events/logs/lambda-invoke-data-events.json.gz";
const ALICE_SUBJECT: &str =
    "[HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services - user/alice";
const INTEGRITY_TITLE: &str = "CloudTrail Log Object Cannot Be Read";

// ---------------------------------------------------------------------------
// The mock HTTP client.

/// A request as the mock saw it; form bodies (SNS) decoded to text.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    body: String,
}

impl Seen {
    fn of(request: &HttpRequest) -> Seen {
        let raw = request.body().bytes().unwrap_or_default();
        let plus_as_space = String::from_utf8_lossy(raw).replace('+', " ");
        Seen {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            body: percent_encoding::percent_decode_str(&plus_as_space)
                .decode_utf8_lossy()
                .into_owned(),
        }
    }

    fn is_get_object(&self) -> bool {
        self.method == "GET" && self.uri.contains("x-id=GetObject")
    }

    fn is_publish(&self) -> bool {
        self.method == "POST" && self.body.contains("Action=Publish")
    }

    /// A form field of a query-protocol request (SNS), decoded.
    fn field(&self, name: &str) -> Option<&str> {
        // Values are decoded, so `&` inside a value would split it; the
        // fields read here (Subject) never hold one.
        self.body
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }
}

/// A canned HTTP answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Answer {
    fn to_response(&self) -> HttpResponse {
        let status = StatusCode::try_from(self.status).expect("a valid status code");
        let mut response = HttpResponse::new(status, SdkBody::from(self.body.clone()));
        response
            .headers_mut()
            .insert("content-type", self.content_type);
        response
            .headers_mut()
            .insert("content-length", self.body.len().to_string());
        response
            .headers_mut()
            .insert("x-amz-request-id", "FAULTS0000000001");
        response
    }
}

type Matcher = Box<dyn Fn(&Seen) -> bool + Send + Sync>;

/// Answers the requests it matches with its script, in order; the last
/// answer is repeated for ever when `repeat_last`, otherwise the rule is
/// spent and the next matching rule answers.
struct Rule {
    name: &'static str,
    matches: Matcher,
    answers: Vec<Answer>,
    repeat_last: bool,
    /// The requests this rule answered.
    seen: Mutex<Vec<Seen>>,
}

impl Rule {
    fn new(
        name: &'static str,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        answers: Vec<Answer>,
        repeat_last: bool,
    ) -> Arc<Rule> {
        assert!(!answers.is_empty(), "rule {name} needs an answer");
        Arc::new(Rule {
            name,
            matches: Box::new(matches),
            answers,
            repeat_last,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// These answers, one per request, then the rule is spent.
    fn sequence(
        name: &'static str,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        answers: Vec<Answer>,
    ) -> Arc<Rule> {
        Rule::new(name, matches, answers, false)
    }

    /// This answer to every request.
    fn always(
        name: &'static str,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        answer: Answer,
    ) -> Arc<Rule> {
        Rule::new(name, matches, vec![answer], true)
    }

    fn num_calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The answer to `request`, if this rule takes it.
    fn take(&self, request: &Seen) -> Option<Answer> {
        if !(self.matches)(request) {
            return None;
        }
        let mut seen = self.seen.lock().unwrap();
        let answer = match self.answers.get(seen.len()) {
            Some(answer) => answer.clone(),
            None if self.repeat_last => self.answers.last()?.clone(),
            None => return None,
        };
        seen.push(request.clone());
        Some(answer)
    }
}

/// An SDK HTTP client that answers from its rules, first taker wins.
#[derive(Clone)]
struct MockHttp {
    rules: Arc<Vec<Arc<Rule>>>,
    /// One request at a time, so that a rule's script is followed in order.
    order: Arc<Mutex<()>>,
}

impl MockHttp {
    fn new(rules: &[&Arc<Rule>]) -> MockHttp {
        MockHttp {
            rules: Arc::new(rules.iter().map(|rule| Arc::clone(rule)).collect()),
            order: Arc::new(Mutex::new(())),
        }
    }

    fn answer(&self, request: &HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let _order = self.order.lock().unwrap();
        let seen = Seen::of(request);
        self.rules
            .iter()
            .find_map(|rule| rule.take(&seen))
            .map(|answer| answer.to_response())
            .ok_or_else(|| {
                let message = format!(
                    "no mock rule answers {} {} (body: {})",
                    seen.method, seen.uri, seen.body
                );
                ConnectorError::other(message.into(), None)
            })
    }
}

impl fmt::Debug for MockHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.rules.iter().map(|rule| rule.name).collect();
        f.debug_struct("MockHttp").field("rules", &names).finish()
    }
}

impl HttpConnector for MockHttp {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(self.answer(&request))
    }
}

impl HttpClient for MockHttp {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

// ---------------------------------------------------------------------------
// Answers.

fn s3_object(bytes: &[u8]) -> Answer {
    Answer {
        status: 200,
        content_type: "application/x-gzip",
        body: bytes.to_vec(),
    }
}

fn s3_error(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        content_type: "application/xml",
        body: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Error><Code>{code}</Code><Message>{message}</Message>\
             <RequestId>FAULTS0000000001</RequestId><HostId>faults</HostId></Error>"
        )
        .into_bytes(),
    }
}

fn s3_slow_down() -> Answer {
    s3_error(503, "SlowDown", "Please reduce your request rate.")
}

fn sns_published() -> Answer {
    Answer {
        status: 200,
        content_type: "text/xml",
        body: b"<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                <PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId></PublishResult>\
                <ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata>\
                </PublishResponse>"
            .to_vec(),
    }
}

/// SNS's throttling answer (query protocol: HTTP 400 and an ErrorResponse).
fn sns_throttled() -> Answer {
    Answer {
        status: 400,
        content_type: "text/xml",
        body: b"<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
                <RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId>\
                </ErrorResponse>"
            .to_vec(),
    }
}

// ---------------------------------------------------------------------------
// Clients, handler, events.

fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS as u32)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// Its own retry partition per client: tests do not share a retry token
/// bucket.
fn retry_partition(service: &str) -> RetryPartition {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    RetryPartition::new(format!(
        "faults-{service}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn credentials() -> Credentials {
    Credentials::new("AKIDFAULTS", "secret", None, None, "faults")
}

fn handler(s3: &[&Arc<Rule>], sns: &[&Arc<Rule>]) -> Handler {
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry_config())
        .retry_partition(retry_partition("s3"))
        .http_client(MockHttp::new(s3))
        .build();
    let sns = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry_config())
        .retry_partition(retry_partition("sns"))
        .http_client(MockHttp::new(sns))
        .build();
    Handler {
        store: Arc::new(S3Store::new(aws_sdk_s3::Client::from_conf(s3))),
        sink: Arc::new(SnsSink::new(
            aws_sdk_sns::Client::from_conf(sns),
            TOPIC_ARN.to_string(),
        )),
        rules: Arc::new(RuleSet::load(&RuleConfig::default()).expect("built-in rules")),
        limits: Limits::default(),
        deadline_margin: Duration::ZERO,
        max_alerts: None,
    }
}

fn invoke_log() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(INVOKE_LOG);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A CloudTrail log key in the layout CloudTrail writes.
fn log_key(suffix: &str) -> String {
    format!(
        "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/\
         123456789012_CloudTrail_us-east-1_20261123T0820Z_{suffix}.json.gz"
    )
}

fn object_url(key: &str) -> String {
    format!("s3://{BUCKET}/{key}")
}

/// An S3 object-created notification for these keys.
fn notification(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-23T08:20:05.871Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAR7EXAMPLECTDELIV:regionalDeliverySession"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "trailwatch-object-created",
                    "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
                    "object": {
                        "key": key,
                        "size": 869,
                        "eTag": "cf0be378b6267313a945c505bb4c6d75",
                        "sequencer": "00673F8D2E1A9C4D03"
                    }
                }
            })
        })
        .collect();
    json!({ "Records": records })
}

/// An SQS batch whose messages are (message id, S3 notification).
fn sqs_batch(messages: &[(&str, Value)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("AQEB{id}"),
                "body": body.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "00000000000000000000000000000000",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:trailwatch-log-delivery",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn get_object(key: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    let key = key.to_string();
    move |seen: &Seen| seen.is_get_object() && seen.uri.contains(&key)
}

fn any_get_object(seen: &Seen) -> bool {
    seen.is_get_object()
}

fn any_publish(seen: &Seen) -> bool {
    seen.is_publish()
}

/// Publishes of alerts about this object (the alert text names it).
fn publish_about(key: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    let url = object_url(key);
    move |seen: &Seen| seen.is_publish() && seen.body.contains(&url)
}

fn subjects(rule: &Rule) -> Vec<String> {
    rule.seen()
        .iter()
        .map(|seen| seen.field("Subject").unwrap_or_default().to_string())
        .collect()
}

#[track_caller]
fn assert_read_one_alert(summary: &InvocationSummary) {
    assert_eq!(
        (summary.objects_read, summary.records, summary.alerts),
        (1, 2, 1),
        "{summary:#?}"
    );
    assert!(summary.transient_errors.is_empty(), "{summary:#?}");
    assert!(summary.permanent_errors.is_empty(), "{summary:#?}");
}

// ---------------------------------------------------------------------------
// The cases.

#[tokio::test]
async fn s3_slow_down_once_is_retried_by_the_sdk() {
    let key = log_key("SlowDown0001");
    let get = Rule::sequence(
        "GetObject: 503 SlowDown, then the log",
        get_object(&key),
        vec![s3_slow_down(), s3_object(&invoke_log())],
    );
    let publish = Rule::always("Publish", any_publish, sns_published());
    let response = handler(&[&get], &[&publish])
        .handle(&notification(&[&key]))
        .await
        .expect("the retry reads the object: the invocation succeeds");

    assert_eq!(response.reply, Reply::Summary);
    assert_read_one_alert(&response.summary);
    assert_eq!(get.num_calls(), 2, "one 503, one success");
    assert_eq!(subjects(&publish), [ALICE_SUBJECT]);
    assert!(
        publish.seen()[0].body.contains(&object_url(&key)),
        "the alert names its log object: {}",
        publish.seen()[0].body
    );
}

#[tokio::test]
async fn s3_unavailable_past_the_retries_fails_the_invocation() {
    let key = log_key("Unavailable1");
    let get = Rule::always(
        "GetObject: 503",
        any_get_object,
        s3_error(
            503,
            "ServiceUnavailable",
            "Service is unable to handle request.",
        ),
    );
    let publish = Rule::always("Publish", any_publish, sns_published());
    let err = handler(&[&get], &[&publish])
        .handle(&notification(&[&key]))
        .await
        .expect_err("S3 never answers: Lambda must retry");

    let InvocationError::Transient(errors) = err else {
        panic!("not a transient failure: {err:?}");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    let url = object_url(&key);
    assert!(
        errors[0].starts_with(&format!("{url}: S3 request failed")),
        "{errors:?}"
    );
    assert_eq!(get.num_calls(), MAX_ATTEMPTS, "every attempt was made");
    assert_eq!(publish.num_calls(), 0, "no alert, no integrity alert");
}

#[tokio::test]
async fn no_such_key_is_permanent_and_raises_an_integrity_alert() {
    let key = log_key("NoSuchKey001");
    let get = Rule::always(
        "GetObject: 404 NoSuchKey",
        get_object(&key),
        s3_error(404, "NoSuchKey", "The specified key does not exist."),
    );
    let publish = Rule::always("Publish", any_publish, sns_published());
    let response = handler(&[&get], &[&publish])
        .handle(&notification(&[&key]))
        .await
        .expect("a deleted object is not retried: the invocation succeeds");

    let summary = &response.summary;
    assert_eq!(get.num_calls(), 1, "a 404 is not retried by the SDK");
    assert_eq!(summary.objects_read, 0, "{summary:#?}");
    assert_eq!(summary.alerts, 0, "{summary:#?}");
    assert_eq!(summary.integrity_alerts, 1, "{summary:#?}");
    assert!(summary.transient_errors.is_empty(), "{summary:#?}");
    let url = object_url(&key);
    assert_eq!(summary.permanent_errors.len(), 1, "{summary:#?}");
    assert!(
        summary.permanent_errors[0].starts_with(&url)
            && summary.permanent_errors[0].ends_with("the object no longer exists"),
        "{summary:#?}"
    );
    assert_eq!(subjects(&publish), [format!("[HIGH] {INTEGRITY_TITLE}")]);
    let body = &publish.seen()[0].body;
    assert!(
        body.contains(&url),
        "the integrity alert names the object: {body}"
    );
}

#[tokio::test]
async fn sns_throttling_once_is_retried_and_the_alert_delivered() {
    let key = log_key("Throttled001");
    let get = Rule::always("GetObject", get_object(&key), s3_object(&invoke_log()));
    let throttled = Rule::sequence(
        "Publish: Throttling once",
        any_publish,
        vec![sns_throttled()],
    );
    let publish = Rule::always("Publish", any_publish, sns_published());
    let response = handler(&[&get], &[&throttled, &publish])
        .handle(&notification(&[&key]))
        .await
        .expect("the retried publish succeeds: so does the invocation");

    assert_read_one_alert(&response.summary);
    assert_eq!(throttled.num_calls(), 1);
    assert_eq!(subjects(&throttled), [ALICE_SUBJECT]);
    assert_eq!(
        subjects(&publish),
        [ALICE_SUBJECT],
        "delivered on the retry"
    );
}

#[tokio::test]
async fn sns_failing_past_the_retries_fails_the_invocation() {
    let key = log_key("SnsDown00001");
    let get = Rule::always("GetObject", get_object(&key), s3_object(&invoke_log()));
    let throttled = Rule::always("Publish: Throttling", any_publish, sns_throttled());
    let err = handler(&[&get], &[&throttled])
        .handle(&notification(&[&key]))
        .await
        .expect_err("the alert was not delivered: Lambda must retry");

    let InvocationError::Transient(errors) = err else {
        panic!("not a transient failure: {err:?}");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    let url = object_url(&key);
    assert!(
        errors[0].starts_with(&format!("{url}: publishing alert")),
        "the error names the object: {errors:?}"
    );
    assert!(
        errors[0].contains("Throttling"),
        "and the cause: {errors:?}"
    );
    assert_eq!(
        throttled.num_calls(),
        MAX_ATTEMPTS,
        "every attempt was made"
    );
}

#[tokio::test]
async fn sqs_batch_lists_only_the_message_whose_alerts_failed() {
    let failing = log_key("Failing00001");
    let healthy = log_key("Healthy00001");
    let get = Rule::always("GetObject", any_get_object, s3_object(&invoke_log()));
    let refused = Rule::always(
        "Publish about the failing object: Throttling",
        publish_about(&failing),
        sns_throttled(),
    );
    let publish = Rule::always("Publish", any_publish, sns_published());
    // The failing message first: the batch goes on past it.
    let event = sqs_batch(&[
        ("message-failing", notification(&[&failing])),
        ("message-healthy", notification(&[&healthy])),
    ]);
    let response = handler(&[&get], &[&refused, &publish])
        .handle(&event)
        .await
        .expect("an SQS batch answers which messages to redeliver");

    assert_eq!(
        response.reply,
        Reply::Queue(QueueReply {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "message-failing".to_string()
            }]
        })
    );
    assert_eq!(
        response.to_json(),
        json!({"batchItemFailures": [{"itemIdentifier": "message-failing"}]})
    );
    let summary = &response.summary;
    assert_eq!(summary.objects_read, 2, "{summary:#?}");
    assert_eq!(
        summary.alerts, 1,
        "the healthy object's alert: {summary:#?}"
    );
    assert_eq!(summary.transient_errors.len(), 1, "{summary:#?}");
    assert!(
        summary.transient_errors[0].starts_with(&object_url(&failing)),
        "{summary:#?}"
    );
    assert_eq!(get.num_calls(), 2);
    assert_eq!(refused.num_calls(), MAX_ATTEMPTS);
    assert_eq!(subjects(&publish), [ALICE_SUBJECT]);
    assert!(publish.seen()[0].body.contains(&object_url(&healthy)));
}
