//! The SNS sink against a real SNS (moto): `PublishBatch` with
//! `MessageStructure=json`, as SQS subscribers receive it (raw delivery off:
//! the SNS envelope, whose `Message` is the `default` JSON document), and
//! the routing claim: a subscription filter policy on the `severity`
//! message attribute receives only the alerts it asks for.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::{unique, Stack};
use serde_json::{json, Value};
use trailwatch::alert::Alert;
use trailwatch::rules::{Level, RuleMeta};
use trailwatch::sink::sns::SnsSink;
use trailwatch::sink::AlertSink;

/// The filter policy the README shows: high and critical alerts only.
const HIGH_AND_CRITICAL: &str = r#"{"severity": ["high", "critical"]}"#;

const LEVELS: [Level; 5] = [
    Level::Informational,
    Level::Low,
    Level::Medium,
    Level::High,
    Level::Critical,
];

fn rule(level: Level) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: format!("sns-publish-{}", level.as_str()),
        title: format!("SNS Publish Test ({})", level.as_str()),
        level,
        description: "Raised by tests/sns_publish.rs.".into(),
        falsepositives: vec!["Tests".into()],
        references: vec![
            "https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering.html".into(),
        ],
        tags: vec![],
        author: Some("trailwatch".into()),
        origin: "tests/sns_publish.rs".into(),
    })
}

/// Alert `i`: levels in turn, each from its own account, region and
/// service, so every attribute value is checked.
fn alert(i: usize, blob: usize) -> Alert {
    let level = LEVELS[i % LEVELS.len()];
    let region = ["us-east-1", "eu-west-1", "ap-south-1"][i % 3];
    let event = json!({
        "eventVersion": "1.09",
        "eventID": format!("sns-publish-event-{i:03}"),
        "eventTime": "2026-11-23T08:16:21Z",
        "eventSource": format!("service{i}.amazonaws.com"),
        "eventName": "DoSomething",
        "awsRegion": region,
        "recipientAccountId": format!("{:012}", 100_000_000_000u64 + i as u64),
        "sourceIPAddress": "203.0.113.45",
        "userIdentity": {
            "type": "IAMUser",
            "arn": format!("arn:aws:iam::123456789012:user/user{i}")
        },
        "requestParameters": {"note": "quotes \" and newlines \n survive", "blob": "x".repeat(blob)},
    });
    Alert::new(
        &rule(level),
        event,
        "s3://sns-publish-test/AWSLogs/k.json.gz",
    )
}

/// The envelope's `Message` parsed: the alert's JSON document.
fn document(envelope: &Value) -> Value {
    let message = envelope["Message"].as_str().expect("a Message string");
    serde_json::from_str(message).unwrap_or_else(|err| panic!("{err}: {message:.500}"))
}

/// The envelope's message attributes, name to value.
fn attributes(envelope: &Value) -> BTreeMap<String, String> {
    envelope["MessageAttributes"]
        .as_object()
        .expect("MessageAttributes")
        .iter()
        .map(|(name, value)| {
            assert_eq!(value["Type"], "String", "{name}");
            let value = value["Value"].as_str().expect("a value").to_string();
            (name.clone(), value)
        })
        .collect()
}

#[tokio::test]
async fn alerts_arrive_as_json_documents_with_routing_attributes() {
    let stack = Stack::new(&unique("sns-publish")).await;
    let filtered = common::subscribe_queue(
        &stack.sns,
        &stack.sqs,
        &stack.topic_arn,
        "filtered",
        Some(HIGH_AND_CRITICAL),
    )
    .await;
    let alerts: Vec<Alert> = (0..23).map(|i| alert(i, 0)).collect();
    SnsSink::new(stack.sns.clone(), stack.topic_arn.clone())
        .publish(&alerts)
        .await
        .expect("every alert published");

    let by_id: BTreeMap<&str, &Alert> = alerts.iter().map(|a| (a.alert_id.as_str(), a)).collect();
    assert_eq!(by_id.len(), 23, "distinct alert ids");
    let got = stack
        .envelopes(&stack.queue_url, 23, Duration::from_secs(20))
        .await;
    assert_eq!(got.len(), 23, "one message per alert");
    let mut seen = BTreeSet::new();
    for envelope in &got {
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["TopicArn"], stack.topic_arn.as_str());
        let doc = document(envelope);
        let id = doc["alert_id"].as_str().expect("an alert id");
        let alert = by_id
            .get(id)
            .unwrap_or_else(|| panic!("unknown alert {id}"));
        assert!(seen.insert(id.to_string()), "{id} delivered twice");
        assert_eq!(doc["rule_id"], alert.rule_id.as_str());
        assert_eq!(doc["severity"], alert.severity);
        assert_eq!(doc["event"], *alert.event, "the raw event, whole");
        assert_eq!(
            doc,
            serde_json::from_str::<Value>(&alert.json()).expect("the document"),
            "the default part is the alert's document"
        );
        assert_eq!(envelope["Subject"], alert.subject().as_str());
        let want = BTreeMap::from([
            ("severity".to_string(), alert.severity.to_string()),
            ("rule_id".to_string(), alert.rule_id.clone()),
            (
                "account".to_string(),
                alert.account.clone().expect("account"),
            ),
            ("region".to_string(), alert.region.clone().expect("region")),
            (
                "event_source".to_string(),
                alert.event_source.clone().expect("event source"),
            ),
        ]);
        assert_eq!(attributes(envelope), want, "{id}");
    }

    // The filter policy: high and critical only.
    let urgent: BTreeSet<&str> = alerts
        .iter()
        .filter(|a| matches!(a.severity, "high" | "critical"))
        .map(|a| a.alert_id.as_str())
        .collect();
    assert_eq!(urgent.len(), 8, "alerts 3, 4, 8, 9, 13, 14, 18 and 19");
    let got = stack
        .envelopes(&filtered, urgent.len(), Duration::from_secs(20))
        .await;
    let ids: BTreeSet<String> = got
        .iter()
        .map(|envelope| {
            let severity = &attributes(envelope)["severity"];
            assert!(severity == "high" || severity == "critical", "{severity}");
            document(envelope)["alert_id"]
                .as_str()
                .expect("an alert id")
                .to_string()
        })
        .collect();
    assert_eq!(got.len(), urgent.len(), "no duplicates, nothing else");
    assert_eq!(
        ids.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        urgent
    );
}

#[tokio::test]
async fn a_huge_alert_is_delivered_cut_to_fit() {
    let stack = Stack::new(&unique("sns-publish")).await;
    // A 300 KB field, and two alerts of normal size in the same call.
    let alerts = vec![alert(0, 0), alert(3, 300 * 1024), alert(4, 0)];
    SnsSink::new(stack.sns.clone(), stack.topic_arn.clone())
        .publish(&alerts)
        .await
        .expect("published, cut rather than dropped");

    let got = stack
        .envelopes(&stack.queue_url, 3, Duration::from_secs(20))
        .await;
    assert_eq!(got.len(), 3);
    let huge = got
        .iter()
        .map(document)
        .find(|doc| doc["alert_id"] == alerts[1].alert_id.as_str())
        .expect("the huge alert arrived");
    assert_eq!(huge["rule_id"], "sns-publish-high");
    assert_eq!(huge["principal"], "arn:aws:iam::123456789012:user/user3");
    assert_eq!(huge["event"], Value::Null);
    let truncated = &huge["event_truncated"];
    assert!(
        truncated["bytes"].as_u64() > Some(300 * 1024),
        "{truncated}"
    );
    let excerpt = truncated["excerpt"].as_str().expect("an excerpt");
    assert!(
        excerpt.starts_with("{\"eventVersion\":\"1.09\""),
        "{excerpt:.200}"
    );
    assert!(
        excerpt.len() > 50 * 1024,
        "as much as fits: {}",
        excerpt.len()
    );
}
