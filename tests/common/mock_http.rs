//! An HTTP client for the AWS SDK that answers from memory: the real SDK
//! clients (S3, SNS, DynamoDB) run their own retries, error parsing and
//! classification as in Lambda, without a network or a moto server.
//!
//! Rules are matched in order, each with a script of answers and a record
//! of the requests it answered, in the manner of aws-smithy-mocks.
//! aws-smithy-mocks itself turns on aws-smithy-http-client's `test-util`
//! feature, which the normal build does not have, so `cargo test` would
//! build the whole AWS SDK a second time: this mock needs only traits the
//! SDK already builds.
//!
//! A client takes it as its `http_client`, with [`credentials`],
//! [`retry_config`] (quick, [`MAX_ATTEMPTS`] attempts) and its own
//! [`retry_partition`]:
//!
//! ```ignore
//! let get = Rule::always("GetObject", any_get_object, s3_object(&bytes));
//! let config = aws_sdk_s3::Config::builder()
//!     .http_client(MockHttp::new(&[&get]))
//!     // ...
//!     .build();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::http::{HttpRequest, HttpResponse};
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_s3::config::{Credentials, RuntimeComponents};
use aws_sdk_s3::primitives::SdkBody;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use serde_json::Value;

/// Attempts per request of a client on [`retry_config`], the first one
/// included.
pub const MAX_ATTEMPTS: usize = 3;

/// The SDK's standard retries, [`MAX_ATTEMPTS`] attempts, with backoffs of
/// a few milliseconds.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS as u32)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// Its own retry partition per client: tests do not share a retry token
/// bucket.
pub fn retry_partition(service: &str) -> RetryPartition {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    RetryPartition::new(format!(
        "mock-http-{service}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Static credentials: the mock checks no signature.
pub fn credentials() -> Credentials {
    Credentials::new("AKIDFAULTS", "secret", None, None, "faults")
}

// ---------------------------------------------------------------------------
// The mock HTTP client.

/// A request as the mock saw it; form bodies (SNS) decoded to text, and
/// to fields.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub body: String,
    /// The operation of a JSON-protocol request (`x-amz-target`, DynamoDB).
    pub target: String,
    /// The form fields of a query-protocol request (SNS), decoded.
    pub fields: Vec<(String, String)>,
}

/// One form field, decoded (`+` is a space).
fn form_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl Seen {
    pub fn of(request: &HttpRequest) -> Seen {
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

    pub fn is_get_object(&self) -> bool {
        self.method == "GET" && self.uri.contains("x-id=GetObject")
    }

    pub fn is_publish(&self) -> bool {
        self.method == "POST" && self.field("Action") == Some("PublishBatch")
    }

    /// A form field of a query-protocol request (SNS), decoded.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The entries of a `PublishBatch` request, in order.
    pub fn entries(&self) -> Vec<Entry> {
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
pub struct Entry {
    pub id: String,
    pub subject: String,
    pub message: String,
    /// `MessageStructure`.
    pub structure: String,
    pub attributes: BTreeMap<String, String>,
}

impl Entry {
    /// The `default` document and the `email` text of the JSON message.
    pub fn parts(&self) -> (Value, String) {
        assert_eq!(self.structure, "json", "MessageStructure of {}", self.id);
        let body: Value = serde_json::from_str(&self.message).expect("the message is JSON");
        let default = body["default"].as_str().expect("a default document");
        let email = body["email"].as_str().expect("an email text");
        let document = serde_json::from_str(default).expect("the default part is JSON");
        (document, email.to_string())
    }
}

/// A canned HTTP response.
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// How a rule answers a request: canned, or made from the request (a
/// `PublishBatch` answer names the request's entries).
#[derive(Clone)]
pub struct Answer(pub Arc<dyn Fn(&Seen) -> Canned + Send + Sync>);

impl Answer {
    pub fn fixed(status: u16, content_type: &'static str, body: Vec<u8>) -> Answer {
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

/// Which requests a rule takes.
pub type Matcher = Box<dyn Fn(&Seen) -> bool + Send + Sync>;

/// Answers the requests it matches with its script, in order; the last
/// answer is repeated for ever when `repeat_last`, otherwise the rule is
/// spent and the next matching rule answers.
pub struct Rule {
    name: &'static str,
    matches: Matcher,
    answers: Vec<Answer>,
    repeat_last: bool,
    /// The requests this rule answered.
    seen: Mutex<Vec<Seen>>,
}

impl Rule {
    pub fn new(
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
    pub fn sequence(
        name: &'static str,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        answers: Vec<Answer>,
    ) -> Arc<Rule> {
        Rule::new(name, matches, answers, false)
    }

    /// This answer to every request.
    pub fn always(
        name: &'static str,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        answer: Answer,
    ) -> Arc<Rule> {
        Rule::new(name, matches, vec![answer], true)
    }

    pub fn num_calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
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
pub struct MockHttp {
    rules: Arc<Vec<Arc<Rule>>>,
    /// One request at a time, so that a rule's script is followed in order.
    order: Arc<Mutex<()>>,
}

impl MockHttp {
    pub fn new(rules: &[&Arc<Rule>]) -> MockHttp {
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

/// A `GetObject` answer: these bytes, gzip.
pub fn s3_object(bytes: &[u8]) -> Answer {
    Answer::fixed(200, "application/x-gzip", bytes.to_vec())
}

/// An S3 error answer (REST-XML protocol: an `<Error>` document).
pub fn s3_error(status: u16, code: &str, message: &str) -> Answer {
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

/// S3's throttling answer.
pub fn s3_slow_down() -> Answer {
    s3_error(503, "SlowDown", "Please reduce your request rate.")
}

/// How SNS fails one entry of a batch: code, message, sender's fault.
pub type EntryFault = (&'static str, &'static str, bool);

pub const INTERNAL_ERROR: EntryFault = ("InternalError", "Internal service error", false);
pub const INVALID_PARAMETER: EntryFault = (
    "InvalidParameter",
    "Invalid parameter: Message Reason: too long",
    true,
);

/// A `PublishBatch` answer: every entry published.
pub fn sns_published() -> Answer {
    sns_batch(|_| None)
}

/// A `PublishBatch` answer (HTTP 200) that fails the entries `fault`
/// names and publishes the rest, in the shape the SDK's deserializer reads
/// (`shape_publish_batch.rs`).
pub fn sns_batch(fault: impl Fn(&Entry) -> Option<EntryFault> + Send + Sync + 'static) -> Answer {
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
pub fn sns_throttled() -> Answer {
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
pub fn dynamodb_throttled() -> Answer {
    Answer::fixed(
        400,
        "application/x-amz-json-1.0",
        br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#
            .to_vec(),
    )
}

/// A DynamoDB success with an empty body (as `PutItem` answers).
pub fn dynamodb_ok() -> Answer {
    Answer::fixed(200, "application/x-amz-json-1.0", b"{}".to_vec())
}

// ---------------------------------------------------------------------------
// Matchers, and what a rule was sent.

/// A `GetObject` of a key containing `key`.
pub fn get_object(key: &str) -> impl Fn(&Seen) -> bool + Send + Sync + 'static {
    let key = key.to_string();
    move |seen: &Seen| seen.is_get_object() && seen.uri.contains(&key)
}

/// Any `GetObject`.
pub fn any_get_object(seen: &Seen) -> bool {
    seen.is_get_object()
}

/// Any SNS `PublishBatch`.
pub fn any_publish(seen: &Seen) -> bool {
    seen.is_publish()
}

/// Any DynamoDB `PutItem`.
pub fn any_put_item(seen: &Seen) -> bool {
    seen.target == "DynamoDB_20120810.PutItem"
}

/// The entries a rule was sent, call after call.
pub fn entries(rule: &Rule) -> Vec<Entry> {
    rule.seen().iter().flat_map(Seen::entries).collect()
}

/// The ids of the entries of each call a rule answered.
pub fn calls(rule: &Rule) -> Vec<Vec<String>> {
    rule.seen()
        .iter()
        .map(|seen| seen.entries().into_iter().map(|e| e.id).collect())
        .collect()
}

/// The subjects of the entries a rule was sent, call after call.
pub fn subjects(rule: &Rule) -> Vec<String> {
    entries(rule)
        .into_iter()
        .map(|entry| entry.subject)
        .collect()
}
