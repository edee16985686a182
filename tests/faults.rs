//! S3, SNS and DynamoDB faults through the real SDK clients, whose HTTP is answered
//! from memory: the SDK's own retries, error parsing and classification
//! run as in Lambda, without a network or a moto server. SNS is
//! `PublishBatch`: whole calls that fail (retried by the SDK) and single
//! entries that fail (retried by the sink, unless SNS blames the sender).
//!
//! The answers come from the mock HTTP client of tests/common/mock_http.rs
//! (rules matched in order, each with a script of answers and a call
//! count, in the manner of aws-smithy-mocks).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsBatchResponse;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use common::mock_http::{
    any_get_object, any_publish, any_put_item, calls, credentials, dynamodb_ok, dynamodb_throttled,
    entries, get_object, retry_config, retry_partition, s3_error, s3_object, s3_slow_down,
    sns_batch, sns_published, sns_throttled, subjects, MockHttp, Rule, Seen, INTERNAL_ERROR,
    INVALID_PARAMETER, MAX_ATTEMPTS,
};
use serde_json::{json, Value};
use trailwatch::alert::message::SNS_MAX_BYTES;
use trailwatch::alert::Alert;
use trailwatch::dedup::dynamodb::DynamoLedger;
use trailwatch::dedup::Ledger;
use trailwatch::lambda::{Handler, InvocationError, InvocationSummary, Reply};
use trailwatch::pipeline::Limits;
use trailwatch::rules::{Level, RuleConfig, RuleMeta, RuleSet};
use trailwatch::sink::sns::{SnsSink, MAX_BATCH_ENTRIES};
use trailwatch::sink::AlertSink;
use trailwatch::source::s3::S3Store;

const BUCKET: &str = "trailwatch-test-logs";
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:trailwatch-alerts";
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
// Clients, handler, events.

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
        digests: None,
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

    let mut redeliver = SqsBatchResponse::default();
    redeliver.add_failure("message-failing");
    assert_eq!(response.reply, Reply::Queue(redeliver));
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
        Reply::Queue(SqsBatchResponse::default()),
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
