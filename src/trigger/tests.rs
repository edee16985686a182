use serde_json::{json, Value};

use super::*;

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/notifications/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sample_event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn notification(event: &Value) -> Notification {
    match parse(event) {
        Ok(Trigger::Notification(n)) => n,
        other => panic!("not a notification: {other:?}"),
    }
}

fn keys(n: &Notification) -> Vec<String> {
    n.objects.iter().map(ToString::to_string).collect()
}

fn s3_record(event_name: &str, key: &str, size: u64) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event_name,
        "s3": {"bucket": {"name": "logs"}, "object": {"key": key, "size": size}}
    })
}

fn sns(message: &str) -> Value {
    json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": message}}]})
}

fn sqs(bodies: &[&str]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": body}))
        .collect();
    json!({ "Records": records })
}

const CLOUDTRAIL: &str = r#"{"s3Bucket":"trail","s3ObjectKey":["AWSLogs/1/CloudTrail/a.json.gz","AWSLogs/1/CloudTrail/b.json.gz"]}"#;

#[test]
fn every_s3_record_is_handled() {
    let event = json!({"Records": [
        s3_record("ObjectCreated:Put", "a+b.json.gz", 10),
        s3_record("ObjectRemoved:Delete", "gone.json.gz", 0),
        s3_record("ObjectCreated:CompleteMultipartUpload", "c%3Dd.json.gz", 20),
    ]});
    let n = notification(&event);
    assert_eq!(keys(&n), ["s3://logs/a b.json.gz", "s3://logs/c=d.json.gz"]);
    assert_eq!(n.objects[1].size, Some(20));
    assert_eq!(
        n.ignored,
        [(
            "ObjectRemoved:Delete".to_string(),
            "s3://logs/gone.json.gz".to_string()
        )]
    );
}

#[test]
fn each_delivery_path_names_the_same_objects() {
    let s3 = json!({"Records": [s3_record("ObjectCreated:Put", "k%2B1.json.gz", 5)]}).to_string();
    let sns_envelope = json!({"Type": "Notification", "MessageId": "x", "Message": s3}).to_string();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("SNS", sns(&s3), vec!["s3://logs/k+1.json.gz"]),
        (
            "CloudTrail SNS",
            sns(CLOUDTRAIL),
            vec![
                "s3://trail/AWSLogs/1/CloudTrail/a.json.gz",
                "s3://trail/AWSLogs/1/CloudTrail/b.json.gz",
            ],
        ),
        (
            "CloudTrail, bare",
            serde_json::from_str(CLOUDTRAIL).expect("json"),
            vec![
                "s3://trail/AWSLogs/1/CloudTrail/a.json.gz",
                "s3://trail/AWSLogs/1/CloudTrail/b.json.gz",
            ],
        ),
        (
            "EventBridge, key taken verbatim",
            sample("cloudtrail-rs__eventbridge-object-created-plus-key.json"),
            vec!["s3://ct-siem-sync/my+file.json.gz"],
        ),
        (
            "SNS sample",
            sample("cloudtrail-rs__sns-s3-event.json"),
            vec![],
        ),
    ];
    for (what, event, want) in cases {
        let n = notification(&event);
        if want.is_empty() {
            assert_eq!(n.objects.len(), 1, "{what}: {n:?}");
        } else {
            assert_eq!(keys(&n), want, "{what}");
        }
    }
    // SQS: raw delivery of each, and SNS-in-SQS.
    let Ok(Trigger::Queue(messages)) = parse(&sqs(&[&s3, &sns_envelope, CLOUDTRAIL])) else {
        panic!("not a queue batch");
    };
    let found: Vec<Vec<String>> = messages
        .iter()
        .map(|m| keys(m.content.as_ref().expect("readable")))
        .collect();
    assert_eq!(found[0], ["s3://logs/k+1.json.gz"]);
    assert_eq!(found[1], ["s3://logs/k+1.json.gz"]);
    assert_eq!(found[2].len(), 2);
}

#[test]
fn subscription_checks_are_acknowledged() {
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"logs"}"#;
    let direct = notification(&serde_json::from_str(test_event).expect("json"));
    assert_eq!(direct.acknowledged, ["s3:TestEvent"]);
    assert!(direct.objects.is_empty());
    assert_eq!(
        notification(&sample("cloudtrail-rs__sns-s3-test-event.json")).acknowledged,
        ["s3:TestEvent"]
    );
    assert_eq!(
        notification(&sns("CloudTrail validation message.")).acknowledged,
        ["CloudTrail validation message"]
    );
}

#[test]
fn eventbridge_events_other_than_object_created_are_ignored() {
    let n = notification(&sample("cloudtrail-rs__eventbridge-object-deleted.json"));
    assert!(n.objects.is_empty());
    assert_eq!(n.ignored.len(), 1);
    assert!(n.ignored[0].0.contains("Object Deleted"), "{:?}", n.ignored);
}

#[test]
fn a_garbage_queue_message_fails_alone() {
    let Ok(Trigger::Queue(messages)) =
        parse(&sample("cloudtrail-rs__sqs-batch-partial-garbage.json"))
    else {
        panic!("not a queue batch");
    };
    let readable: Vec<bool> = messages.iter().map(|m| m.content.is_ok()).collect();
    assert_eq!(readable, [true, false, true]);
    assert_eq!(
        messages[1].message_id,
        "bad00000-0000-0000-0000-000000000002"
    );
    let err = messages[1]
        .content
        .as_ref()
        .expect_err("garbage")
        .to_string();
    assert_eq!(
        err,
        "the message is neither JSON nor CloudTrail's validation message: \"this is not json at all {{{\""
    );
}

#[test]
fn batch_operations_tasks_of_both_schemas() {
    for (file, bucket) in [
        (
            "aws-lambda-go__s3-batch-job-event-request-1.0.json",
            "awsexamplebucket",
        ),
        (
            "aws-lambda-go__s3-batch-job-event-request-2.0.json",
            "awsexamplebucket",
        ),
    ] {
        let Ok(Trigger::BatchOperations(job)) = parse(&sample(file)) else {
            panic!("{file}: not a batch job");
        };
        assert_eq!(
            job.invocation_id,
            "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo"
        );
        let object = job.tasks[0].object.as_ref().expect("object");
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str()),
            (bucket, "customerImage1.jpg")
        );
        let answer = serde_json::to_value(job.respond(vec![TaskResult {
            task_id: job.tasks[0].task_id.clone(),
            result_code: ResultCode::Succeeded,
            result_string: "ok".to_string(),
        }]))
        .expect("json");
        assert_eq!(
            answer["invocationSchemaVersion"],
            job.schema_version.as_str()
        );
        assert_eq!(answer["treatMissingKeysAs"], "PermanentFailure");
        assert_eq!(answer["results"][0]["resultCode"], "Succeeded");
        assert_eq!(answer["results"][0]["taskId"], "dGFza2lkZ29lc2hlcmUK");
    }
    let bad = json!({"invocationSchemaVersion": "3.0", "invocationId": "i", "tasks": []});
    assert!(parse(&bad)
        .expect_err("schema")
        .to_string()
        .contains("\"3.0\" is not 1.0 or 2.0"));
}

#[test]
fn errors_name_what_arrived() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"detail": "x", "foo": 1}),
            "it has top-level keys: detail, foo",
        ),
        (json!([1]), "it has no keys: it is an array"),
        (
            json!({"Records": [{"eventName": "ObjectCreated:Put"}]}),
            "S3 notification record 0 is malformed",
        ),
        (
            sns("{\"s3Bucket\": 5}"),
            "CloudTrail notification is malformed: s3Bucket is not a string",
        ),
        (
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {}}]}),
            "SNS message is malformed: it has no Message text",
        ),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}),
            "EventBridge event is malformed",
        ),
        (
            sample_event("unknown-event.json"),
            "record 0 is an aws:dynamodb event, which trailwatch does not read",
        ),
    ];
    for (event, want) in cases {
        let err = parse(&event).expect_err("refused").to_string();
        assert!(err.contains(want), "{event}: {err}");
    }
}

#[test]
fn nesting_is_bounded() {
    let mut message = json!({"Records": [s3_record("ObjectCreated:Put", "k", 1)]}).to_string();
    for _ in 0..10 {
        message = json!({"Type": "Notification", "Message": message}).to_string();
    }
    assert_eq!(parse(&sns(&message)), Err(TriggerError::TooDeep));
}
