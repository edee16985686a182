//! S3, SNS and DynamoDB faults through the real SDK clients, whose HTTP is answered
//! from memory: the SDK's own retries, error parsing and classification
//! run as in Lambda, without a network or a moto server. SNS is
//! `PublishBatch`: whole calls that fail (retried by the SDK) and single
//! entries that fail (retried by the sink, unless SNS blames the sender).
//!
//! The answers come from a small in-file mock HTTP client (rules matched
//! in order, each with a script of answers and a call count, in the manner
//! of aws-smithy-mocks). aws-smithy-mocks itself turns on
//! aws-smithy-http-client's `test-util` feature, which the normal build
//! does not have, so `cargo test` would build the whole AWS SDK a second
//! time: this mock needs only traits the SDK already builds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};
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
use trailwatch::alert::message::SNS_MAX_BYTES;
use trailwatch::alert::Alert;
use trailwatch::dedup::dynamodb::DynamoLedger;
use trailwatch::dedup::Ledger;
use trailwatch::lambda::{
    Handler, InvocationError, InvocationSummary, ItemFailure, QueueReply, Reply,
};
use trailwatch::pipeline::Limits;
use trailwatch::rules::{Level, RuleConfig, RuleMeta, RuleSet};
use trailwatch::sink::sns::{SnsSink, MAX_BATCH_ENTRIES};
use trailwatch::sink::AlertSink;
use trailwatch::source::s3::S3Store;

const BUCKET: &str = "trailwatch-test-logs";
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:trailwatch-alerts";
/// Attempts per request, the first one included.
const MAX_ATTEMPTS: usize = 3;
/// Rounds the sink sends an entry SNS failed, the first one included.
const SINK_ATTEMPTS: usize = 3;
/// The sample log: two Invoke records, one by IAM user alice, which alerts.
const INVOKE_LOG: &str = "events/logs/lambda-invoke-data-events.json.gz";
const ALICE_SUBJECT: &str =
    "[HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services \u{2014} user/alice";
const BOB_SUBJECT: &str =
    "[HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services \u{2014} user/bob";
const INTEGRITY_TITLE: &str = "CloudTrail Log Object Cannot Be Read";

// ---------------------------------------------------------------------------
// The mock HTTP client.

/// A request as the mock saw it; form bodies (SNS) decoded to text, and
/// to fields.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    body: String,
    /// The operation of a JSON-protocol request (`x-amz-target`, DynamoDB).
    target: String,
    /// The form fields of a query-protocol request (SNS), decoded.
    fields: Vec<(String, String)>,
}

/// One form field, decoded (`+` is a space).
fn form_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl Seen {
    fn of(request: &HttpRequest) -> Seen {
        let raw = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        let fields = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(name), form_decode(value))
            })
            .collect();
        Seen {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            body: form_decode(&raw),
            target: request
                .headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .to_string(),
            fields,
        }
    }

    fn is_get_object(&self) -> bool {
        self.method == "GET" && self.uri.contains("x-id=GetObject")
    }

    fn is_publish(&self) -> bool {
        self.method == "POST" && self.field("Action") == Some("PublishBatch")
    }

    /// A form field of a query-protocol request (SNS), decoded.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The entries of a `PublishBatch` request, in order.
    fn entries(&self) -> Vec<Entry> {
        let mut entries: BTreeMap<usize, Entry> = BTreeMap::new();
        // (entry, attribute) -> (name, data type, value)
        let mut attributes: BTreeMap<(usize, usize), [String; 3]> = BTreeMap::new();
        for (name, value) in &self.fields {
            let Some(rest) = name.strip_prefix("PublishBatchRequestEntries.member.") else {
                continue;
            };
            let (n, part) = rest.split_once('.').expect("member.N.Field");
            let n: usize = n.parse().expect("member number");
            let entry = entries.entry(n).or_default();
            let value = value.clone();
            match part {
                "Id" => entry.id = value,
                "Message" => entry.message = value,
                "Subject" => entry.subject = value,
                "MessageStructure" => entry.structure = value,
                _ => {
                    let rest = part
                        .strip_prefix("MessageAttributes.entry.")
                        .unwrap_or_else(|| panic!("unexpected entry field {name}"));
                    let (m, what) = rest.split_once('.').expect("entry.M.Field");
                    let slot = attributes
                        .entry((n, m.parse().expect("attribute number")))
                        .or_default();
                    match what {
                        "Name" => slot[0] = value,
                        "Value.DataType" => slot[1] = value,
                        "Value.StringValue" => slot[2] = value,
                        _ => panic!("unexpected attribute field {name}"),
                    }
                }
            }
        }
        for ((n, _), [name, data_type, value]) in attributes {
            assert_eq!(data_type, "String", "attribute {name}");
            if let Some(entry) = entries.get_mut(&n) {
                entry.attributes.insert(name, value);
            }
        }
        entries.into_values().collect()
    }
}

/// One entry of a `PublishBatch` request.
#[derive(Debug, Clone, Default)]
struct Entry {
    id: String,
    subject: String,
    message: String,
    /// `MessageStructure`.
    structure: String,
    attributes: BTreeMap<String, String>,
}

impl Entry {
    /// The `default` document and the `email` text of the JSON message.
    fn parts(&self) -> (Value, String) {
        assert_eq!(self.structure, "json", "MessageStructure of {}", self.id);
        let body: Value = serde_json::from_str(&self.message).expect("the message is JSON");
        let default = body["default"].as_str().expect("a default document");
        let email = body["email"].as_str().expect("an email text");
        let document = serde_json::from_str(default).expect("the default part is JSON");
        (document, email.to_string())
    }
}

/// A canned HTTP response.
struct Canned {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

/// How a rule answers a request: canned, or made from the request (a
/// `PublishBatch` answer names the request's entries).
#[derive(Clone)]
struct Answer(Arc<dyn Fn(&Seen) -> Canned + Send + Sync>);

impl Answer {
    fn fixed(status: u16, content_type: &'static str, body: Vec<u8>) -> Answer {
        Answer(Arc::new(move |_: &Seen| Canned {
            status,
            content_type,
            body: body.clone(),
        }))
    }

    fn to_response(&self, request: &Seen) -> HttpResponse {
        let canned = (self.0)(request);
        let status = StatusCode::try_from(canned.status).expect("a valid status code");
        let length = canned.body.len().to_string();
        let mut response = HttpResponse::new(status, SdkBody::from(canned.body));
        response
            .headers_mut()
            .insert("content-type", canned.content_type);
        response.headers_mut().insert("content-length", length);
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
            .map(|answer| answer.to_response(&seen))
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
    Answer::fixed(200, "application/x-gzip", bytes.to_vec())
}

fn s3_error(status: u16, code: &str, message: &str) -> Answer {
    Answer::fixed(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Error><Code>{code}</Code><Message>{message}</Message>\
             <RequestId>FAULTS0000000001</RequestId><HostId>faults</HostId></Error>"
        )
        .into_bytes(),
    )
}

fn s3_slow_down() -> Answer {
    s3_error(503, "SlowDown", "Please reduce your request rate.")
}

/// How SNS fails one entry of a batch: code, message, sender's fault.
type EntryFault = (&'static str, &'static str, bool);

const INTERNAL_ERROR: EntryFault = ("InternalError", "Internal service error", false);
const INVALID_PARAMETER: EntryFault = (
    "InvalidParameter",
    "Invalid parameter: Message Reason: too long",
    true,
);

/// A `PublishBatch` answer: every entry published.
fn sns_published() -> Answer {
    sns_batch(|_| None)
}

/// A `PublishBatch` answer (HTTP 200) that fails the entries `fault`
/// names and publishes the rest, in the shape the SDK's deserializer reads
/// (`shape_publish_batch.rs`).
fn sns_batch(fault: impl Fn(&Entry) -> Option<EntryFault> + Send + Sync + 'static) -> Answer {
    Answer(Arc::new(move |seen: &Seen| {
        let (mut successful, mut failed) = (String::new(), String::new());
        for (n, entry) in seen.entries().iter().enumerate() {
            match fault(entry) {
                None => successful.push_str(&format!(
                    "<member><Id>{}</Id><MessageId>94f20ce6-13c5-43a0-9a9e-{n:012}</MessageId></member>",
                    entry.id
                )),
                Some((code, message, sender_fault)) => failed.push_str(&format!(
                    "<member><Id>{}</Id><Code>{code}</Code><Message>{message}</Message>\
                     <SenderFault>{sender_fault}</SenderFault></member>",
                    entry.id
                )),
            }
        }
        Canned {
            status: 200,
            content_type: "text/xml",
            body: format!(
                "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                 <PublishBatchResult><Successful>{successful}</Successful><Failed>{failed}</Failed>\
                 </PublishBatchResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a\
                 </RequestId></ResponseMetadata></PublishBatchResponse>"
            )
            .into_bytes(),
        }
    }))
}

/// SNS's throttling answer (query protocol: HTTP 400 and an ErrorResponse).
fn sns_throttled() -> Answer {
    Answer::fixed(
        400,
        "text/xml",
        b"<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
          <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
          <RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId>\
          </ErrorResponse>"
            .to_vec(),
    )
}

/// DynamoDB's throttling answer (JSON protocol: HTTP 400 and a `__type`).
fn dynamodb_throttled() -> Answer {
    Answer::fixed(
        400,
        "application/x-amz-json-1.0",
        br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#
            .to_vec(),
    )
}

fn dynamodb_ok() -> Answer {
    Answer::fixed(200, "application/x-amz-json-1.0", b"{}".to_vec())
}

fn any_put_item(seen: &Seen) -> bool {
    seen.target == "DynamoDB_20120810.PutItem"
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

/// The sink the handler uses, on the mock: the SDK retries whole calls
/// (`MAX_ATTEMPTS`), the sink failed entries (`SINK_ATTEMPTS`), quickly.
fn sns_sink(sns: &[&Arc<Rule>]) -> SnsSink {
    let sns = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry_config())
        .retry_partition(retry_partition("sns"))
        .http_client(MockHttp::new(sns))
        .build();
    SnsSink::new(aws_sdk_sns::Client::from_conf(sns), TOPIC_ARN.to_string())
        .with_retry(SINK_ATTEMPTS as u32, Duration::from_millis(1))
}

/// A dedup ledger on the mock DynamoDB.
fn ledger(dynamodb: &[&Arc<Rule>]) -> Arc<dyn Ledger> {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry_config())
        .retry_partition(retry_partition("dynamodb"))
        .http_client(MockHttp::new(dynamodb))
        .build();
    Arc::new(DynamoLedger::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "sent-alerts".to_string(),
        Duration::from_secs(3600),
    ))
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
    Handler {
        store: Arc::new(S3Store::new(aws_sdk_s3::Client::from_conf(s3))),
        sink: Arc::new(sns_sink(sns)),
        rules: Arc::new(RuleSet::load(&RuleConfig::default()).expect("built-in rules")),
        limits: Limits::default(),
        deadline_margin: Duration::ZERO,
        max_alerts: None,
        ledger: None,
    }
}

fn invoke_log() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(INVOKE_LOG);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The sample log with bob in place of alice, under other event ids: a
/// finding of its own (another principal, another alert id).
fn bob_log() -> Vec<u8> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&invoke_log()[..])
        .read_to_string(&mut text)
        .expect("the sample log is gzip");
    assert!(text.contains("user/alice"), "the sample log names alice");
    let text = text
        .replace("alice", "bob")
        .replace("ALICE", "BOB")
        .replace("\"eventID\": \"", "\"eventID\": \"b0b-")
        .replace("\"eventID\":\"", "\"eventID\":\"b0b-");
    assert!(text.contains("b0b-"), "event ids rewritten");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(text.as_bytes()).expect("gzip");
    gzip.finish().expect("gzip")
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

/// The entries a rule was sent, call after call.
fn entries(rule: &Rule) -> Vec<Entry> {
    rule.seen().iter().flat_map(Seen::entries).collect()
}

/// The ids of the entries of each call a rule answered.
fn calls(rule: &Rule) -> Vec<Vec<String>> {
    rule.seen()
        .iter()
        .map(|seen| seen.entries().into_iter().map(|e| e.id).collect())
        .collect()
}

fn subjects(rule: &Rule) -> Vec<String> {
    entries(rule)
        .into_iter()
        .map(|entry| entry.subject)
        .collect()
}

/// Every entry the rule saw is one alert as SNS wants it: an id, a
/// subject, `MessageStructure=json` with `default` (the alert's document)
/// and `email` parts, at most 256 KiB with its attributes, and the routing
/// attributes; at most 10 entries and 256 KiB per call.
#[track_caller]
fn assert_well_formed(rule: &Rule) {
    for seen in rule.seen() {
        assert_eq!(seen.field("TopicArn"), Some(TOPIC_ARN));
        let entries = seen.entries();
        assert!(
            (1..=MAX_BATCH_ENTRIES).contains(&entries.len()),
            "{} entries",
            entries.len()
        );
        let ids: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), entries.len(), "entry ids are distinct in a call");
        let mut call_bytes = 0;
        for entry in &entries {
            assert!(
                !entry.id.is_empty() && !entry.subject.is_empty(),
                "{entry:?}"
            );
            let (document, email) = entry.parts();
            assert_eq!(document["alert_id"], entry.id.as_str());
            assert_eq!(
                document["rule_id"].as_str(),
                entry.attributes.get("rule_id").map(String::as_str)
            );
            assert_eq!(
                document["severity"].as_str(),
                entry.attributes.get("severity").map(String::as_str)
            );
            assert!(email.contains(document["title"].as_str().expect("a title")));
            for name in ["severity", "rule_id", "account", "region", "event_source"] {
                assert!(
                    entry.attributes.get(name).is_some_and(|v| !v.is_empty()),
                    "attribute {name} of {}: {:?}",
                    entry.id,
                    entry.attributes
                );
            }
            let attributes: usize = entry
                .attributes
                .iter()
                .map(|(name, value)| name.len() + "String".len() + value.len())
                .sum();
            let bytes = entry.message.len() + entry.subject.len() + attributes;
            assert!(bytes <= SNS_MAX_BYTES, "{} bytes", bytes);
            call_bytes += bytes;
        }
        assert!(
            call_bytes <= SNS_MAX_BYTES,
            "{call_bytes} bytes in one call"
        );
    }
}

/// An alert of a test rule about the event `event_id`, with a field of
/// `blob` bytes.
fn alert(event_id: &str, blob: usize) -> Alert {
    static RULE: std::sync::OnceLock<Arc<RuleMeta>> = std::sync::OnceLock::new();
    let rule = RULE.get_or_init(|| {
        Arc::new(RuleMeta {
            id: "faults-rule".into(),
            title: "Faults Test Rule".into(),
            level: Level::High,
            description: "Raised by tests/faults.rs.".into(),
            falsepositives: vec![],
            references: vec![],
            tags: vec![],
            author: None,
            origin: "tests/faults.rs".into(),
        })
    });
    let event = json!({
        "eventID": event_id,
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
        "requestParameters": {"blob": "x".repeat(blob)},
    });
    Alert::new(rule, event, &object_url(&log_key("SinkTest0001")))
}

fn alerts(n: usize) -> Vec<Alert> {
    (0..n).map(|i| alert(&format!("event-{i:02}"), 0)).collect()
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
    assert_well_formed(&publish);
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
async fn dynamodb_throttling_once_is_retried_and_the_alert_recorded() {
    let key = log_key("DedupThrot01");
    let get = Rule::always("GetObject", get_object(&key), s3_object(&invoke_log()));
    let publish = Rule::always("Publish", any_publish, sns_published());
    let throttled = Rule::sequence(
        "PutItem: throttled once",
        any_put_item,
        vec![dynamodb_throttled()],
    );
    let put = Rule::always("PutItem", any_put_item, dynamodb_ok());
    let mut handler = handler(&[&get], &[&publish]);
    handler.ledger = Some(ledger(&[&throttled, &put]));
    let response = handler
        .handle(&notification(&[&key]))
        .await
        .expect("the retried claim succeeds");

    assert_read_one_alert(&response.summary);
    assert_eq!(response.summary.alerts_unchecked, 0);
    assert_eq!(subjects(&publish), [ALICE_SUBJECT]);
    // The claim (retried by the SDK), then the record of the alert sent.
    let bodies: Vec<String> = put.seen().into_iter().map(|seen| seen.body).collect();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert!(bodies[0].contains("ConditionExpression"), "{}", bodies[0]);
    assert!(
        bodies[1].contains(r#""state":{"S":"sent"}"#),
        "{}",
        bodies[1]
    );
}

#[tokio::test]
async fn dynamodb_throttled_past_the_retries_sends_the_alert_unchecked() {
    let key = log_key("DedupThrot02");
    let get = Rule::always("GetObject", get_object(&key), s3_object(&invoke_log()));
    let publish = Rule::always("Publish", any_publish, sns_published());
    let throttled = Rule::always("PutItem: throttled", any_put_item, dynamodb_throttled());
    let mut handler = handler(&[&get], &[&publish]);
    handler.ledger = Some(ledger(&[&throttled]));
    let response = handler
        .handle(&notification(&[&key]))
        .await
        .expect("the dedup table never fails an invocation");

    assert_read_one_alert(&response.summary);
    assert_eq!(response.summary.alerts_unchecked, 1);
    assert_eq!(
        subjects(&publish),
        [ALICE_SUBJECT],
        "sent without the check"
    );
    assert_eq!(
        throttled.num_calls(),
        MAX_ATTEMPTS,
        "only the claim, retried"
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
        errors[0].starts_with(&format!("{url}: publishing 1 alert(s) failed")),
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
    let get_failing = Rule::always(
        "GetObject: alice's log",
        get_object(&failing),
        s3_object(&invoke_log()),
    );
    let get_healthy = Rule::always(
        "GetObject: bob's log",
        get_object(&healthy),
        s3_object(&bob_log()),
    );
    // SNS fails the entry about the failing object, every time, and
    // publishes the others.
    let failing_url = object_url(&failing);
    let publish = Rule::always(
        "PublishBatch: the failing object's alert fails",
        any_publish,
        sns_batch(move |entry| {
            entry
                .message
                .contains(&failing_url)
                .then_some(INTERNAL_ERROR)
        }),
    );
    // The failing message first: the batch goes on past it.
    let event = sqs_batch(&[
        ("message-failing", notification(&[&failing])),
        ("message-healthy", notification(&[&healthy])),
    ]);
    let response = handler(&[&get_failing, &get_healthy], &[&publish])
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
    assert!(
        summary.transient_errors[0].contains("InternalError"),
        "{summary:#?}"
    );
    assert_eq!((get_failing.num_calls(), get_healthy.num_calls()), (1, 1));
    // Alice's alert was sent on every round, bob's once.
    let sent = subjects(&publish);
    let count = |subject: &str| sent.iter().filter(|s| *s == subject).count();
    assert_eq!(count(ALICE_SUBJECT), SINK_ATTEMPTS, "{sent:#?}");
    assert_eq!(count(BOB_SUBJECT), 1, "{sent:#?}");
    assert_eq!(sent.len(), SINK_ATTEMPTS + 1, "{sent:#?}");
    let bob = entries(&publish)
        .into_iter()
        .find(|entry| entry.subject == BOB_SUBJECT)
        .expect("bob's alert");
    assert!(bob.message.contains(&object_url(&healthy)));
    assert_well_formed(&publish);
}

// ---------------------------------------------------------------------------
// The sink on its own: entry-level failures, batching, size.

fn ids(alerts: &[Alert]) -> Vec<String> {
    alerts.iter().map(|alert| alert.alert_id.clone()).collect()
}

#[tokio::test]
async fn an_entry_failing_once_is_retried_alone_and_delivered() {
    let alerts = alerts(5);
    let flaky = alerts[2].alert_id.clone();
    let failing_id = flaky.clone();
    let first = Rule::sequence(
        "PublishBatch: the third entry fails once",
        any_publish,
        vec![sns_batch(move |entry| {
            (entry.id == failing_id).then_some(INTERNAL_ERROR)
        })],
    );
    let publish = Rule::always("PublishBatch", any_publish, sns_published());
    sns_sink(&[&first, &publish])
        .publish(&alerts)
        .await
        .expect("delivered on the retry");

    assert_eq!(calls(&first), [ids(&alerts)], "one call with all five");
    assert_eq!(
        calls(&publish),
        [vec![flaky]],
        "exactly one retry, with only the failed entry"
    );
    assert_well_formed(&first);
    assert_well_formed(&publish);
    let first_entries = entries(&first);
    for (entry, alert) in first_entries.iter().zip(&alerts) {
        let (document, email) = entry.parts();
        assert_eq!(
            document["event"]["eventID"],
            alert.event_id.as_deref().unwrap()
        );
        assert_eq!(email, alert.text());
        assert_eq!(entry.subject, alert.subject());
        assert_eq!(
            entry.attributes,
            BTreeMap::from([
                ("account".to_string(), "123456789012".to_string()),
                ("event_source".to_string(), "iam.amazonaws.com".to_string()),
                ("region".to_string(), "us-east-1".to_string()),
                ("rule_id".to_string(), "faults-rule".to_string()),
                ("severity".to_string(), "high".to_string()),
            ])
        );
    }
}

#[tokio::test]
async fn an_entry_failing_every_time_is_reported_and_the_rest_delivered() {
    // Twelve alerts: calls of ten and two.
    let alerts = alerts(12);
    let doomed = alerts[4].alert_id.clone();
    let failing_id = doomed.clone();
    let publish = Rule::always(
        "PublishBatch: the fifth entry always fails",
        any_publish,
        sns_batch(move |entry| (entry.id == failing_id).then_some(INTERNAL_ERROR)),
    );
    let err = sns_sink(&[&publish])
        .publish(&alerts)
        .await
        .expect_err("one alert was never delivered");

    assert_eq!(err.failed, std::slice::from_ref(&doomed));
    assert_eq!(err.message, "InternalError: Internal service error");
    assert!(err.to_string().contains(&doomed), "{err}");
    let calls = calls(&publish);
    let all = ids(&alerts);
    assert_eq!(calls.len(), 2 + (SINK_ATTEMPTS - 1), "{calls:#?}");
    assert_eq!(calls[0], all[..10], "ten per call, in order");
    assert_eq!(calls[1], all[10..], "the second call was made all the same");
    for retry in &calls[2..] {
        assert_eq!(
            retry,
            std::slice::from_ref(&doomed),
            "retries carry only the failed entry"
        );
    }
    assert_well_formed(&publish);
}

#[tokio::test]
async fn an_entry_sns_blames_on_the_sender_is_reported_not_retried() {
    let alerts = alerts(3);
    let refused = alerts[1].alert_id.clone();
    let failing_id = refused.clone();
    let publish = Rule::always(
        "PublishBatch: the second entry is invalid",
        any_publish,
        sns_batch(move |entry| (entry.id == failing_id).then_some(INVALID_PARAMETER)),
    );
    let err = sns_sink(&[&publish])
        .publish(&alerts)
        .await
        .expect_err("the invalid entry was not delivered");

    assert_eq!(err.failed, [refused]);
    assert!(err.message.starts_with("InvalidParameter: "), "{err}");
    assert_eq!(calls(&publish), [ids(&alerts)], "no retry");
}

#[tokio::test]
async fn a_call_failing_past_the_sdk_retries_does_not_stop_the_next_call() {
    let alerts = alerts(12);
    let first_id = alerts[0].alert_id.clone();
    let throttled = Rule::always(
        "PublishBatch of the first ten: Throttling",
        move |seen: &Seen| seen.is_publish() && seen.entries().iter().any(|e| e.id == first_id),
        sns_throttled(),
    );
    let publish = Rule::always("PublishBatch", any_publish, sns_published());
    let err = sns_sink(&[&throttled, &publish])
        .publish(&alerts)
        .await
        .expect_err("the first ten were not delivered");

    let all = ids(&alerts);
    assert_eq!(err.failed, all[..10]);
    assert!(err.message.contains("Throttling"), "{err}");
    assert_eq!(
        throttled.num_calls(),
        MAX_ATTEMPTS,
        "the SDK's retries, none more"
    );
    assert_eq!(calls(&publish), [all[10..].to_vec()]);
}

#[tokio::test]
async fn huge_alerts_are_cut_to_fit_and_sent_one_per_call() {
    // Records of 600 KB: each alert alone is close to the limit.
    let alerts: Vec<Alert> = (0..3)
        .map(|i| alert(&format!("huge-{i}"), 600 * 1024))
        .collect();
    let publish = Rule::always("PublishBatch", any_publish, sns_published());
    sns_sink(&[&publish])
        .publish(&alerts)
        .await
        .expect("cut, not dropped");

    let all = ids(&alerts);
    assert_eq!(
        calls(&publish),
        [[all[0].clone()], [all[1].clone()], [all[2].clone()]]
    );
    assert_well_formed(&publish);
    for entry in entries(&publish) {
        let (document, email) = entry.parts();
        assert_eq!(document["rule_id"], "faults-rule");
        assert_eq!(document["event"], Value::Null);
        assert!(document["event_truncated"]["bytes"].as_u64() > Some(600 * 1024));
        assert!(email.contains("\n[raw event truncated:"), "{email:.3000}");
    }
}

/// A notification naming a 64 KB key (the SDK panics building such a
/// URI): in an SQS batch that message is a permanent error of its own,
/// shown cut short, no request is made for it, and the other message's
/// object is read and alerted on.
#[tokio::test]
async fn a_key_longer_than_s3_allows_fails_only_its_message() {
    let long = log_key(&"k".repeat(64 * 1024));
    let key = log_key("GoodKey00001");
    let get = Rule::always("GetObject", get_object(&key), s3_object(&invoke_log()));
    let publish = Rule::always("Publish", any_publish, sns_published());
    let event = sqs_batch(&[
        ("long", notification(&[&long])),
        ("good", notification(&[&key])),
    ]);
    let response = handler(&[&get], &[&publish])
        .handle(&event)
        .await
        .expect("the batch is answered");

    assert_eq!(
        response.reply,
        Reply::Queue(QueueReply::default()),
        "nothing to redeliver"
    );
    assert_read_one_alert_but(&response.summary, 1);
    let error = &response.summary.permanent_errors[0];
    assert!(
        error.starts_with(&format!("s3://{BUCKET}/\"{}", &long[..100]))
            && error.ends_with(&format!(
                "\"… ({} bytes): the object key is {} bytes long, longer than S3's limit of 1024",
                long.len(),
                long.len()
            )),
        "{error}"
    );
    assert!(
        error.len() < 400,
        "cut short for the log: {} bytes",
        error.len()
    );
    assert_eq!(get.num_calls(), 1, "only the good key is fetched");
    assert_eq!(subjects(&publish), [ALICE_SUBJECT]);
}

#[track_caller]
fn assert_read_one_alert_but(summary: &InvocationSummary, permanent: usize) {
    assert_eq!(
        (summary.objects_read, summary.records, summary.alerts),
        (1, 2, 1),
        "{summary:#?}"
    );
    assert!(summary.transient_errors.is_empty(), "{summary:#?}");
    assert_eq!(summary.permanent_errors.len(), permanent, "{summary:#?}");
}
