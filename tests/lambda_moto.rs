//! The Lambda handler against real S3 and SNS (moto), reading the alerts
//! from an SQS queue subscribed to the topic, as a subscriber would.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{notification, unique, Stack};
use serde_json::json;
use trailwatch::lambda::{Handler, InvocationError};
use trailwatch::sink::sns::SnsSink;

const INVOKE_RULE_TITLE: &str =
    "Lambda Function Invoked By A Caller Other Than The Allowed Services";

async fn handler(stack: &Stack) -> Handler {
    common::moto_handler(stack).await
}

#[tokio::test]
async fn invoke_by_iam_user_alerts_and_invoke_by_s3_does_not() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let summary = handler(&stack)
        .await
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect("invocation succeeds")
        .summary;
    assert_eq!((summary.objects_read, summary.records), (1, 2));
    assert_eq!(summary.records_evaluated, 2);
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(subject, &format!("[HIGH] {INVOKE_RULE_TITLE} — user/alice"));
    assert_eq!(doc["principal"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(doc["principal_type"], "IAMUser");
    assert_eq!(
        (&doc["event_name"], &doc["event_source"]),
        (&json!("Invoke"), &json!("lambda.amazonaws.com"))
    );
    assert!(
        doc["source"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!("s3://{}/AWSLogs/", stack.bucket))),
        "{doc}"
    );
    // The sample's other Invoke, by S3, raised nothing.
    assert_eq!(doc["event"]["userIdentity"]["type"], "IAMUser", "{doc}");
}

#[tokio::test]
async fn several_objects_are_all_read_and_digest_and_folder_skipped() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let summary = handler(&stack)
        .await
        .handle(&notification("s3-several-objects.json", &stack.bucket))
        .await
        .expect("invocation succeeds")
        .summary;
    assert_eq!(summary.objects_read, 3, "{summary:?}");
    assert_eq!(summary.objects_skipped.get("digest"), Some(&1));
    assert_eq!(summary.objects_skipped.get("folder"), Some(&1));
    assert_eq!(summary.records, summary.records_evaluated);
    let alerts = stack
        .alerts(summary.alerts as usize, Duration::from_secs(10))
        .await;
    assert_eq!(alerts.len() as u64, summary.alerts);
    let subjects: Vec<&str> = alerts.iter().map(|(s, _)| s.as_str()).collect();
    for want in [
        "[LOW] AWS API Call Denied By Authorization — user/bob",
        "[MEDIUM] Lambda Function Created, Modified, Deleted Or Its Permissions Changed — user/bob",
        "[INFORMATIONAL] SNS Topic Created — user/bob",
        "[MEDIUM] Amazon Lex Bot, Alias Or Version Created, Updated Or Deleted — user/carol",
    ] {
        assert!(subjects.contains(&want), "{want} in {subjects:#?}");
    }
    assert_eq!(subjects.len(), 4, "{subjects:#?}");
}

#[tokio::test]
async fn url_encoded_key_with_space_and_equals_is_fetched() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let summary = handler(&stack)
        .await
        .handle(&notification("s3-encoded-key.json", &stack.bucket))
        .await
        .expect("invocation succeeds")
        .summary;
    assert_eq!(summary.objects_read, 1, "{summary:?}");
    assert!(summary.permanent_errors.is_empty(), "{summary:?}");
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].1["source"]
            .as_str()
            .is_some_and(|s| s.contains("/backfill run=1/")),
        "{}",
        alerts[0].1
    );
}

fn created(bucket: &str, key: &str, size: u64) -> serde_json::Value {
    json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": bucket}, "object": {"key": key, "size": size}}}]})
}

#[tokio::test]
async fn bad_objects_are_reported_by_name_and_not_retried() {
    let stack = Stack::new(&unique("logs")).await;
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "AWSLogs/1/CloudTrail/us-east-1/notgzip.json.gz",
            b"hello".to_vec(),
            "not a CloudTrail log",
        ),
        (
            "AWSLogs/1/CloudTrail/us-east-1/norecords.json.gz",
            b"{\"x\":1}".to_vec(),
            "no \"Records\" array",
        ),
        (
            "AWSLogs/1/CloudTrail/us-east-1/truncated.json.gz",
            {
                let full = common::read("events/logs/lambda-management.json.gz");
                full[..full.len() / 2].to_vec()
            },
            "truncated",
        ),
    ];
    let handler = handler(&stack).await;
    for (key, body, cause) in cases {
        stack.put(key, body.clone()).await;
        let summary = handler
            .handle(&created(&stack.bucket, key, body.len() as u64))
            .await
            .expect("a permanent error does not fail the invocation")
            .summary;
        let [error] = summary.permanent_errors.as_slice() else {
            panic!("one error for {key}: {summary:?}");
        };
        assert!(
            error.starts_with(&format!("s3://{}/{key}: ", stack.bucket)),
            "{error}"
        );
        assert!(error.contains(cause), "{error}");
    }
    let missing = "AWSLogs/1/CloudTrail/us-east-1/gone.json.gz";
    let summary = handler
        .handle(&created(&stack.bucket, missing, 10))
        .await
        .expect("a missing object is permanent")
        .summary;
    assert!(
        summary.permanent_errors[0].contains("no longer exists"),
        "{summary:?}"
    );
}

#[tokio::test]
async fn sns_failure_fails_the_invocation_so_lambda_retries() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let mut handler = handler(&stack).await;
    let config = common::sdk_config().await;
    handler.sink = Arc::new(SnsSink::new(
        aws_sdk_sns::Client::new(&config),
        "arn:aws:sns:us-east-1:123456789012:no-such-topic".to_string(),
    ));
    let err = handler
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect_err("SNS failure must fail the invocation");
    assert!(matches!(err, InvocationError::Transient(_)), "{err}");
    assert!(
        err.to_string().contains("publishing 1 alert(s) failed"),
        "{err}"
    );
}

#[tokio::test]
async fn s3_unreachable_fails_the_invocation() {
    let stack = Stack::new(&unique("logs")).await;
    let handler = Handler {
        store: common::unreachable_s3().await,
        ..handler(&stack).await
    };
    let err = handler
        .handle(&created(
            "logs",
            "AWSLogs/1/CloudTrail/us-east-1/f.json.gz",
            10,
        ))
        .await
        .expect_err("S3 down must fail the invocation");
    assert!(
        err.to_string()
            .contains("s3://logs/AWSLogs/1/CloudTrail/us-east-1/f.json.gz: S3 request failed"),
        "{err}"
    );
}

#[tokio::test]
async fn many_matches_are_all_published_in_batches() {
    // 25 principals, so 25 alerts (one principal's would be grouped): three
    // PublishBatch calls.
    let stack = Stack::new(&unique("logs")).await;
    let summary = handle_create_topics(&stack, "many", |i| format!("bob{i}")).await;
    assert_eq!((summary.records, summary.alerts), (25, 25), "{summary:?}");
    let alerts = stack.alerts(25, Duration::from_secs(20)).await;
    assert_eq!(alerts.len(), 25);
    let mut ids: Vec<&str> = alerts
        .iter()
        .filter_map(|(_, doc)| doc["event_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 25, "each record once: {ids:?}");
}

/// Uploads a log of 25 CreateTopic calls (one a second from 08:00:00), the
/// i-th by user `user(i)`, and hands the handler its notification.
async fn handle_create_topics(
    stack: &Stack,
    name: &str,
    user: impl Fn(usize) -> String,
) -> trailwatch::lambda::InvocationSummary {
    let records: Vec<serde_json::Value> = (0..25)
        .map(|i| {
            json!({"eventID": format!("e-{i}"), "eventSource": "sns.amazonaws.com",
                   "eventTime": format!("2026-11-23T08:00:{i:02}Z"),
                   "eventName": "CreateTopic", "userIdentity": {"type": "IAMUser",
                   "arn": format!("arn:aws:iam::123456789012:user/{}", user(i))}})
        })
        .collect();
    let body = json!({ "Records": records }).to_string().into_bytes();
    let key = format!("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/{name}.json");
    stack.put(&key, body.clone()).await;
    handler(stack)
        .await
        .handle(&created(&stack.bucket, &key, body.len() as u64))
        .await
        .expect("invocation succeeds")
        .summary
}

#[tokio::test]
async fn one_principal_s_many_matches_are_one_alert_with_a_count() {
    let stack = Stack::new(&unique("logs")).await;
    let summary = handle_create_topics(&stack, "one", |_| "bob".to_string()).await;
    assert_eq!((summary.findings, summary.alerts), (25, 1), "{summary:?}");
    let alerts = stack.alerts(1, Duration::from_secs(20)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let occurrences = &alerts[0].1["occurrences"];
    assert_eq!(occurrences["count"], 25);
    assert_eq!(occurrences["first_time"], "2026-11-23T08:00:00Z");
    assert_eq!(occurrences["last_time"], "2026-11-23T08:00:24Z");
    assert_eq!(occurrences["event_ids"].as_array().map(Vec::len), Some(10));
}
