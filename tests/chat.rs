//! Alerts in chat (`CHAT_TOPIC_ARN`, `alert::chat`): every chat message
//! fits the schema AWS documents for Chatbot's custom notifications
//! (`tests/data/chatbot-custom-notification.schema.json`); against moto, the
//! chat topic gets the chat form as a plain message while the alert topic
//! gets its usual message, a failing chat topic costs no alert, and an alert
//! dedup suppressed reaches neither topic.
//!
//! The tests that build a `Stack` need the moto server (`scripts/test`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::schema::{chat_schema, violations};
use common::{notification, subscribe_queue, unique, Stack};
use serde_json::Value;
use trailwatch::alert::Alert;
use trailwatch::dedup::dynamodb::DynamoLedger;
use trailwatch::dedup::Ledger;
use trailwatch::lambda::{Handler, InvocationError};
use trailwatch::sink::chat::WithChat;
use trailwatch::sink::sns::SnsSink;
use trailwatch::sink::AlertSink;

const LOG_OBJECT: &str = "s3://trailwatch-test-logs/AWSLogs/123456789012/CloudTrail/us-east-1/\
    2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0820Z_x.json.gz";

fn assert_fits(message: &Value) {
    let broken = violations(&chat_schema(), message);
    assert!(broken.is_empty(), "{broken:#?}\nin {message:#}");
}

fn chat_of(alert: &Alert) -> Value {
    serde_json::from_str(&alert.chat_json()).expect("the chat message is JSON")
}

/// Every alert the built-in pack raises on the records of the corpus.
fn corpus_alerts() -> Vec<Alert> {
    let path = common::repo().join("tests/data/corpus-records.jsonl");
    let text = std::fs::read_to_string(path).expect("the corpus");
    let records: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    common::alerts::alerts_of(&records, LOG_OBJECT)
}

/// Makes a good message break the schema.
type Break = fn(&mut Value);

#[test]
fn the_schema_checker_refuses_what_the_schema_does_not_allow() {
    // A check that cannot fail proves nothing: each break is caught.
    let good = chat_of(&common::alerts::invoke_alert(&golden_record(), LOG_OBJECT));
    assert_fits(&good);
    let breaks: [(&str, Break); 6] = [
        ("/version", |m| m["version"] = "2.0".into()),
        ("required source", |m| {
            m.as_object_mut().map(|o| o.remove("source"));
        }),
        ("/content: unknown field colour", |m| {
            m["content"]["colour"] = "red".into()
        }),
        ("/content/textType", |m| {
            m["content"]["textType"] = "markdown".into()
        }),
        ("/content/keywords/0", |m| {
            m["content"]["keywords"][0] = 7.into()
        }),
        ("/metadata/summary: 100 characters", |m| {
            m["metadata"]["summary"] = "x".repeat(100).into()
        }),
    ];
    for (want, break_it) in breaks {
        let mut message = good.clone();
        break_it(&mut message);
        let found = violations(&chat_schema(), &message);
        assert!(
            found
                .iter()
                .any(|v| v.contains(want.split(": ").last().unwrap_or(want))),
            "{want}: {found:?}"
        );
    }
}

/// The golden Lambda Invoke record's text.
fn golden_record() -> String {
    let path = common::repo().join("tests/data/golden/lambda-invoke.record.json");
    let text = std::fs::read_to_string(path).expect("the golden record");
    let record: Value = serde_json::from_str(&text).expect("JSON");
    serde_json::to_string(&record).expect("JSON")
}

#[test]
fn every_alert_of_the_corpus_fits_the_schema() {
    let alerts = corpus_alerts();
    assert!(alerts.len() >= 20, "{} alerts", alerts.len());
    let mut levels: Vec<&str> = alerts.iter().map(|a| a.severity).collect();
    levels.sort_unstable();
    levels.dedup();
    assert!(levels.len() >= 3, "several levels: {levels:?}");
    for alert in &alerts {
        let message = chat_of(alert);
        assert_fits(&message);
        assert_eq!(message["metadata"]["summary"], alert.subject().as_str());
        let size = alert.chat_sns_message().size();
        assert!(size < 16 * 1024, "{} is {size} bytes", alert.alert_id);
    }
}

#[test]
fn a_hostile_record_fits_the_schema_and_mentions_no_one() {
    let hostile = golden_record().replacen(
        "\"userAgent\":\"",
        "\"userAgent\":\"<!here> @channel <https://evil.example|Reset your password> ``` \u{202e}",
        1,
    );
    assert_ne!(hostile, golden_record(), "the record has a userAgent");
    let alert = common::alerts::invoke_alert(&hostile, LOG_OBJECT);
    let message = chat_of(&alert);
    assert_fits(&message);
    let text = message["content"]["description"]
        .as_str()
        .unwrap_or_default();
    for banned in ["<!here>", "@channel", "<https://", "```", "\u{202e}"] {
        assert!(!text.contains(banned), "{banned:?} in {text}");
    }
    assert!(
        text.contains("*User agent:* `‹!here› ＠channel ‹https://evil.example|Reset your password› ˋˋˋ \\u202e"),
        "{text}"
    );
}

#[test]
fn an_alert_of_huge_fields_fits_the_schema() {
    let big = "\u{1f600}".repeat(100_000);
    let huge = golden_record().replacen("\"userAgent\":\"", &format!("\"userAgent\":\"{big}"), 1);
    let mut alert = common::alerts::invoke_alert(&huge, LOG_OBJECT);
    alert.title = big.clone();
    alert.falsepositives = vec![big.clone(); 9];
    alert.resources = vec![big; 30];
    assert_fits(&chat_of(&alert));
    assert!(alert.chat_sns_message().size() < 64 * 1024);
}

/// A topic with a queue subscribed (raw delivery off): its ARN and the
/// queue's URL.
async fn chat_topic(stack: &Stack) -> (String, String) {
    let arn = stack
        .sns
        .create_topic()
        .name(unique("chat"))
        .send()
        .await
        .expect("create the chat topic")
        .topic_arn
        .expect("topic arn");
    let queue = subscribe_queue(&stack.sns, &stack.sqs, &arn, "chat-inbox", None).await;
    (arn, queue)
}

fn with_chat(stack: &Stack, alert_topic: &str, chat_topic: &str) -> Arc<dyn AlertSink> {
    let sns = stack.sns.clone();
    Arc::new(WithChat::new(
        Arc::new(SnsSink::new(sns.clone(), alert_topic.to_string())),
        Arc::new(SnsSink::chat(sns, chat_topic.to_string()).with_retry(2, Duration::ZERO)),
    ))
}

async fn handler(stack: &Stack, sink: Arc<dyn AlertSink>) -> Handler {
    Handler {
        sink,
        ..common::moto_handler(stack).await
    }
}

#[tokio::test]
async fn the_chat_topic_gets_the_chat_form_and_the_alert_topic_its_usual_message() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let (chat_arn, chat_queue) = chat_topic(&stack).await;
    let sink = with_chat(&stack, &stack.topic_arn, &chat_arn);
    let summary = handler(&stack, sink)
        .await
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect("invocation succeeds")
        .summary;
    assert_eq!((summary.alerts, summary.chat_failed), (1, 0), "{summary:?}");
    // The alert topic: as before, the JSON document for the queue.
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, document) = &alerts[0];
    assert_eq!(
        document["principal"],
        "arn:aws:iam::123456789012:user/alice"
    );
    // The chat topic: the chat JSON as the plain message, nothing else.
    let envelopes = stack
        .envelopes(&chat_queue, 1, Duration::from_secs(10))
        .await;
    assert_eq!(envelopes.len(), 1, "{envelopes:#?}");
    assert_eq!(envelopes[0]["Subject"], subject.as_str());
    let text = envelopes[0]["Message"].as_str().expect("a message");
    let chat: Value = serde_json::from_str(text).expect("the plain message is the chat JSON");
    assert_fits(&chat);
    assert_eq!(chat["id"], document["alert_id"]);
    assert_eq!(chat["metadata"]["summary"], subject.as_str());
    assert_eq!(
        chat["content"]["title"],
        "\u{1f534} HIGH \u{b7} Lambda Function Invoked By A Caller Other Than The Allowed Services"
    );
    let keywords = chat["content"]["keywords"].as_array().expect("keywords");
    for want in ["high", "123456789012", "us-east-1", "Invoke"] {
        assert!(keywords.iter().any(|k| k == want), "{want} in {keywords:?}");
    }
    let description = chat["content"]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("*Who:* `arn:aws:iam::123456789012:user/alice` (`IAMUser`)"),
        "{description}"
    );
    // The message attributes are the alert topic's: filter policies work alike.
    assert_eq!(
        envelopes[0]["MessageAttributes"]["severity"]["Value"], "high",
        "{:#}",
        envelopes[0]
    );
}

#[tokio::test]
async fn a_failing_chat_topic_costs_no_alert_and_fails_nothing() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let sink = with_chat(
        &stack,
        &stack.topic_arn,
        "arn:aws:sns:us-east-1:123456789012:no-such-chat-topic",
    );
    let summary = handler(&stack, sink)
        .await
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect("a chat failure does not fail the invocation")
        .summary;
    assert_eq!(summary.alerts, 1, "{summary:?}");
    assert!(summary.transient_errors.is_empty(), "{summary:?}");
    assert_eq!(summary.chat_failed, 1, "counted: {summary:?}");
    assert_eq!(stack.alerts(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test]
async fn an_alert_the_alert_topic_refused_is_not_posted_to_chat() {
    // Its retry posts it, once.
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let (chat_arn, chat_queue) = chat_topic(&stack).await;
    let sink = with_chat(
        &stack,
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
        &chat_arn,
    );
    let err = handler(&stack, sink)
        .await
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect_err("the alert topic's failure fails the invocation");
    assert!(matches!(err, InvocationError::Transient(_)), "{err}");
    let envelopes = stack
        .envelopes(&chat_queue, 0, Duration::from_secs(2))
        .await;
    assert!(envelopes.is_empty(), "{envelopes:#?}");
}

#[tokio::test]
async fn an_alert_dedup_suppressed_reaches_neither_topic() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let (chat_arn, chat_queue) = chat_topic(&stack).await;
    let table = common::create_dedup_table().await;
    let event = notification("s3-one-object.json", &stack.bucket);
    for _ in 0..2 {
        let mut handler = handler(&stack, with_chat(&stack, &stack.topic_arn, &chat_arn)).await;
        let client = aws_sdk_dynamodb::Client::new(&common::sdk_config().await);
        handler.ledger = Some(Arc::new(DynamoLedger::new(
            client,
            table.clone(),
            Duration::from_secs(3600),
        )) as Arc<dyn Ledger>);
        handler.handle(&event).await.expect("invocation succeeds");
    }
    assert_eq!(stack.alerts(1, Duration::from_secs(10)).await.len(), 1);
    let envelopes = stack
        .envelopes(&chat_queue, 1, Duration::from_secs(10))
        .await;
    assert_eq!(envelopes.len(), 1, "once in chat too: {envelopes:#?}");
}

#[test]
fn the_integrity_and_held_back_alerts_fit_the_schema() {
    let integrity = Alert::integrity(
        "s3://logs/AWSLogs/1/CloudTrail/us-east-1/x.json.gz",
        "corrupt",
        "not gzip <!here>",
    );
    let message = chat_of(&integrity);
    assert_fits(&message);
    let text = message["content"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("*Error message:* `not gzip ‹!here›`"),
        "{text}"
    );
    assert!(!text.contains("console.aws.amazon.com"), "{text}");

    let mut held = common::alerts::invoke_alert(&golden_record(), LOG_OBJECT);
    held.held_back = Some(trailwatch::alert::HeldBack {
        alerts: 120,
        findings: 900,
        cap: 50,
        rules: Vec::new(),
        objects: vec![LOG_OBJECT.to_string()],
        object_count: 1,
        more_objects: false,
    });
    let message = chat_of(&held);
    assert_fits(&message);
    assert_eq!(
        message["content"]["nextSteps"][0],
        "Raise MAX_ALERTS_PER_INVOCATION, or rescan the log objects with trailwatch scan"
    );
}
