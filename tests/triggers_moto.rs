//! Every trigger sample in events/ through the handler, against real S3
//! and SNS (moto): what each delivery path reads, and what it answers.

mod common;

use std::time::{Duration, Instant};

use common::{notification, unique, Stack};
use trailwatch::lambda::{Handler, InvocationError, Reply, Response};

async fn handler(stack: &Stack) -> Handler {
    common::moto_handler(stack).await
}

async fn run(stack: &Stack, file: &str) -> Response {
    handler(stack)
        .await
        .handle(&notification(file, &stack.bucket))
        .await
        .unwrap_or_else(|err| panic!("{file}: {err}"))
}

fn failures(response: &Response) -> Vec<&str> {
    match &response.reply {
        Reply::Queue(reply) => reply
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect(),
        other => panic!("not a queue reply: {other:?}"),
    }
}

#[tokio::test]
async fn notifications_through_sns_eventbridge_and_cloudtrail_read_their_objects() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    // (sample, objects read, alerts)
    let cases = [
        ("sns-s3.json", 1, 1),
        ("eventbridge-object-created.json", 1, 1),
        ("cloudtrail-sns.json", 2, 2),
    ];
    let mut expected_alerts = 0;
    for (file, objects, alerts) in cases {
        let response = run(&stack, file).await;
        let summary = &response.summary;
        assert_eq!(response.reply, Reply::Summary, "{file}");
        assert_eq!(
            (summary.objects_read, summary.alerts),
            (objects, alerts),
            "{file}: {summary:?}"
        );
        assert!(summary.permanent_errors.is_empty(), "{file}: {summary:?}");
        expected_alerts += alerts as usize;
    }
    let received = stack.alerts(expected_alerts, Duration::from_secs(20)).await;
    assert_eq!(received.len(), expected_alerts);
}

#[tokio::test]
async fn subscription_checks_are_acknowledged_without_alerts() {
    let stack = Stack::new(&unique("logs")).await;
    for (file, check) in [
        ("s3-test-event.json", "s3:TestEvent"),
        ("sns-s3-test-event.json", "s3:TestEvent"),
        (
            "cloudtrail-sns-validation.json",
            "CloudTrail validation message",
        ),
    ] {
        let response = run(&stack, file).await;
        assert_eq!(response.summary.acknowledged, [check], "{file}");
        assert_eq!(response.summary.objects_read, 0);
        assert_eq!(response.to_json()["acknowledged"][0], check);
    }
    assert!(stack.alerts(0, Duration::from_millis(500)).await.is_empty());
}

#[tokio::test]
async fn sqs_batches_list_only_messages_to_retry() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    // Two readable messages and one that is not a notification: it is
    // reported and dropped, not redelivered forever.
    let response = run(&stack, "sqs-s3.json").await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(response.summary.objects_read, 2);
    let [dropped] = response.summary.permanent_errors.as_slice() else {
        panic!("{:?}", response.summary);
    };
    assert!(
        dropped.starts_with(
            "SQS message 11111111-0000-4000-8000-000000000002: the message is neither JSON"
        ),
        "{dropped}"
    );
    assert_eq!(
        response.to_json(),
        serde_json::json!({"batchItemFailures": []})
    );

    let response = run(&stack, "sqs-sns-s3.json").await;
    assert_eq!(
        (failures(&response).len(), response.summary.objects_read),
        (0, 1)
    );
    let response = run(&stack, "sqs-cloudtrail-sns.json").await;
    assert_eq!(response.summary.objects_read, 2);
    assert_eq!(
        response.summary.acknowledged,
        ["CloudTrail validation message"]
    );
}

#[tokio::test]
async fn batch_operations_answer_each_task() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let response = run(&stack, "batch-operations-1.0.json").await;
    let answer = response.to_json();
    assert_eq!(answer["invocationSchemaVersion"], "1.0");
    assert_eq!(answer["invocationId"], "invocation-1.0");
    assert_eq!(answer["treatMissingKeysAs"], "PermanentFailure");
    let codes: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["resultCode"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(codes, ["Succeeded", "Succeeded", "PermanentFailure"]);
    let missing = answer["results"][2]["resultString"]
        .as_str()
        .unwrap_or_default();
    assert!(missing.contains("NotThere00000000.json.gz"), "{missing}");
    // The missing log is an integrity alert; the first object's Invoke by
    // alice is a rule alert, grouped with the backfill copy's.
    assert_eq!(response.summary.integrity_alerts, 1);
    let alerts = stack.alerts(2, Duration::from_secs(20)).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(
        alerts
            .iter()
            .any(|(subject, _)| subject == "[HIGH] CloudTrail Log Object Cannot Be Read"),
        "{alerts:#?}"
    );

    let response = run(&stack, "batch-operations-2.0.json").await;
    let answer = response.to_json();
    assert_eq!(answer["invocationSchemaVersion"], "2.0");
    assert_eq!(answer["results"][1]["resultCode"], "Succeeded");
}

#[tokio::test]
async fn an_unknown_event_is_an_error_that_names_it() {
    let stack = Stack::new(&unique("logs")).await;
    let err = handler(&stack)
        .await
        .handle(&notification("unknown-event.json", &stack.bucket))
        .await
        .expect_err("refused");
    assert!(matches!(err, InvocationError::Trigger(_)));
    assert!(err.to_string().contains("aws:dynamodb"), "{err}");
}

#[tokio::test]
async fn no_object_is_started_too_close_to_the_deadline() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let handler = handler(&stack).await;
    let past = Some(Instant::now());
    let err = handler
        .handle_until(&notification("sns-s3.json", &stack.bucket), past)
        .await
        .expect_err("must be retried");
    assert!(
        err.to_string()
            .contains("too little time left before the Lambda deadline"),
        "{err}"
    );
    let response = handler
        .handle_until(&notification("sqs-s3.json", &stack.bucket), past)
        .await
        .expect("a queue batch answers");
    assert_eq!(
        failures(&response),
        [
            "11111111-0000-4000-8000-000000000001",
            "11111111-0000-4000-8000-000000000003"
        ]
    );
}
