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

/// An SNS message with every field SNS sends (aws_lambda_events'
/// `SnsMessage` requires them), as it arrives in an SQS body.
fn sns_message(message: &str) -> Value {
    json!({"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": message, "Timestamp": "2026-11-23T08:20:06.000Z", "SignatureVersion": "1",
        "Signature": "EXAMPLE", "SigningCertURL": "https://example.com/c.pem",
        "UnsubscribeURL": "https://example.com/u"})
}

/// An SNS record as SNS invokes the function.
fn sns(message: &str) -> Value {
    let mut sns = sns_message(message);
    // The Lambda form spells these two `…Url`.
    if let Some(fields) = sns.as_object_mut() {
        for (from, to) in [
            ("SigningCertURL", "SigningCertUrl"),
            ("UnsubscribeURL", "UnsubscribeUrl"),
        ] {
            if let Some(value) = fields.remove(from) {
                fields.insert(to.to_string(), value);
            }
        }
    }
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:1:t:s", "Sns": sns}]})
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
    let sns_envelope = sns_message(&s3).to_string();
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
        // The answer is the crate's S3BatchJobResponse, field for field
        // (trailwatch keeps its own type: a result code of three values,
        // not free text).
        let crate_answer: aws_lambda_events::s3_batch_job::S3BatchJobResponse =
            serde_json::from_value(answer.clone()).expect("the crate reads the answer");
        assert_eq!(serde_json::to_value(&crate_answer).expect("json"), answer);
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
            json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": "s", "Sns": {}}]}),
            "SNS message is malformed: record 0: missing field `Type`",
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
        message = sns_message(&message).to_string();
    }
    assert_eq!(parse(&sns(&message)), Err(TriggerError::TooDeep));
}

/// A key S3 cannot hold is that one record's permanent error, shown cut
/// short; the other records of the notification are read, whatever the
/// path the notification took.
#[test]
fn impossible_keys_are_rejected_one_record_at_a_time() {
    let long = "k".repeat(64 * 1024);
    // 1,025 bytes once decoded (`+` is a space).
    let long_encoded = format!("{}%C3%A9", "+".repeat(MAX_KEY_BYTES - 1));
    let event = json!({"Records": [
        s3_record("ObjectCreated:Put", &long, 10),
        s3_record("ObjectCreated:Put", "good.json.gz", 10),
        s3_record("ObjectCreated:Put", "", 10),
        s3_record("ObjectCreated:Put", "bad%FF", 10),
        s3_record("ObjectCreated:Put", &long_encoded, 10),
        s3_record("ObjectCreated:Put", &"é".repeat(MAX_KEY_BYTES / 2), 10),
    ]});
    let n = notification(&event);
    assert_eq!(
        keys(&n),
        [
            "s3://logs/good.json.gz".to_string(),
            format!("s3://logs/{}", "é".repeat(MAX_KEY_BYTES / 2))
        ]
    );
    let [long_key, empty, not_utf8, long_decoded] = n.rejected.as_slice() else {
        panic!("four rejected: {:?}", n.rejected);
    };
    assert!(
        long_key.contains("65536 bytes long, longer than S3's limit of 1024")
            && long_key.len() < 400,
        "{long_key}"
    );
    assert!(long_key.starts_with(&format!("s3://logs/\"{}\"…", "k".repeat(100))));
    assert!(empty.contains("the object key is empty"), "{empty}");
    assert!(
        not_utf8.contains("not valid URL encoding of UTF-8: \"bad%FF\""),
        "{not_utf8}"
    );
    assert!(long_decoded.contains("1025 bytes long"), "{long_decoded}");

    // Through SQS: the message is read, its bad record rejected.
    let body = json!({"Records": [s3_record("ObjectCreated:Put", &long, 10)]}).to_string();
    let Ok(Trigger::Queue(messages)) = parse(&sqs(&[&body, &body])) else {
        panic!("an SQS batch");
    };
    for message in &messages {
        let content = message.content.as_ref().expect("the message is read");
        assert_eq!((content.objects.len(), content.rejected.len()), (0, 1));
    }
    // EventBridge and CloudTrail's notification name keys as they are.
    let eventbridge = json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "logs"}, "object": {"key": long}}});
    assert_eq!(notification(&eventbridge).rejected.len(), 1);
    let cloudtrail = json!({"s3Bucket": "trail", "s3ObjectKey": [long, "AWSLogs/a.json.gz"]});
    let n = notification(&cloudtrail);
    assert_eq!((n.objects.len(), n.rejected.len()), (1, 1));
    let bad_bucket = json!({"s3Bucket": "b".repeat(300), "s3ObjectKey": ["a.json.gz"]});
    let n = notification(&bad_bucket);
    assert!(
        n.rejected[0].contains("(300 bytes) is not one S3 can have"),
        "{:?}",
        n.rejected
    );

    // A Batch Operations task with such a key fails alone.
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "i", "job": {"id": "j"},
        "tasks": [{"taskId": "t1", "s3Bucket": "logs", "s3Key": long}, {"taskId": "t2", "s3Bucket": "logs", "s3Key": "a.json.gz"}]});
    let Ok(Trigger::BatchOperations(job)) = parse(&job) else {
        panic!("a batch job");
    };
    let err = job.tasks[0].object.as_ref().expect_err("too long");
    assert!(err.contains("longer than S3's limit"), "{err}");
    assert!(job.tasks[1].object.is_ok());
}

#[test]
fn sqs_receive_counts_are_read() {
    let event = json!({"Records": [
        {"messageId": "a", "eventSource": "aws:sqs", "body": CLOUDTRAIL, "attributes": {"ApproximateReceiveCount": "3"}},
        {"messageId": "b", "eventSource": "aws:sqs", "body": CLOUDTRAIL},
    ]});
    let Ok(Trigger::Queue(messages)) = parse(&event) else {
        panic!("an SQS batch");
    };
    let counts: Vec<u32> = messages.iter().map(|m| m.receive_count).collect();
    assert_eq!(counts, [3, 1]);
}

/// The objects `aws_lambda_events`' own types find in an event, layer by
/// layer (`s3://bucket/key`, keys decoded), or the text no crate type
/// reads. Independent of `parse`, so the two can be compared.
fn crate_objects(text: &str) -> Result<Vec<String>, String> {
    use aws_lambda_events::{
        eventbridge::EventBridgeEvent, s3::S3Event, s3_batch_job::S3BatchJobEvent, sns::SnsEvent,
        sns::SnsMessage, sqs::SqsEvent,
    };
    let all = |texts: Vec<&str>| -> Result<Vec<String>, String> {
        let mut found = Vec::new();
        for text in texts {
            found.extend(crate_objects(text)?);
        }
        Ok(found)
    };
    if let Ok(job) = serde_json::from_str::<S3BatchJobEvent>(text) {
        let arn_bucket = |arn: &str| arn.rsplit(':').next().map(str::to_string);
        return job
            .tasks
            .iter()
            .map(|task| match (task.s3_bucket_arn.as_deref(), &task.s3_key) {
                (Some(arn), Some(key)) => Ok(format!(
                    "s3://{}/{}",
                    arn_bucket(arn).unwrap_or_default(),
                    decode_key(key).unwrap_or_default()
                )),
                _ => Err(format!("a task without s3BucketArn: {text:.60}")),
            })
            .collect();
    }
    if let Ok(queue) = serde_json::from_str::<SqsEvent>(text) {
        if queue
            .records
            .iter()
            .all(|r| r.event_source.as_deref() == Some("aws:sqs"))
        {
            let bodies = queue.records.iter();
            return all(bodies.filter_map(|r| r.body.as_deref()).collect());
        }
    }
    if let Ok(sns) = serde_json::from_str::<SnsEvent>(text) {
        return all(sns.records.iter().map(|r| r.sns.message.as_str()).collect());
    }
    if let Ok(sns) = serde_json::from_str::<SnsMessage>(text) {
        return crate_objects(&sns.message);
    }
    if let Ok(s3) = serde_json::from_str::<S3Event>(text) {
        let records = s3.records.iter();
        let created = records.filter(|r| {
            r.event_name
                .as_deref()
                .is_some_and(|name| name.starts_with("ObjectCreated:"))
        });
        return Ok(created
            .map(|r| {
                let key = r.s3.object.key.as_deref().unwrap_or_default();
                let bucket = r.s3.bucket.name.as_deref().unwrap_or_default();
                format!("s3://{bucket}/{}", decode_key(key).unwrap_or_default())
            })
            .collect());
    }
    if let Ok(event) = serde_json::from_str::<EventBridgeEvent>(text) {
        let text = |pointer: &str| event.detail.pointer(pointer).and_then(Value::as_str);
        return Ok(vec![format!(
            "s3://{}/{}",
            text("/bucket/name").unwrap_or_default(),
            text("/object/key").unwrap_or_default()
        )]);
    }
    // Cut short; enough to name what it is.
    Err(text.chars().take(80).collect())
}

/// What `parse` finds in an event, in the same terms (a queue's messages
/// that cannot be read are left out, as the crate's walk leaves them).
fn parsed_objects(event: &Value) -> Result<Vec<String>, String> {
    let strings = |n: &Notification| {
        n.objects
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    match parse(event).map_err(|e| e.to_string())? {
        Trigger::Notification(n) => Ok(strings(&n)),
        Trigger::Queue(messages) => Ok(messages
            .iter()
            .filter_map(|m| m.content.as_ref().ok())
            .flat_map(strings)
            .collect()),
        Trigger::BatchOperations(job) => Ok(job
            .tasks
            .iter()
            .filter_map(|t| t.object.as_ref().ok().map(ToString::to_string))
            .collect()),
    }
}

/// Every sample in events/ through `aws_lambda_events`: its types alone
/// name the same objects as `parse`, or the sample is one a shim in
/// `parse` exists for, named here.
#[test]
fn every_events_sample_reads_through_aws_lambda_events() {
    // (sample, objects it names, the shim it needs: a text in what the
    // crate's types leave unread)
    let table: &[(&str, usize, Option<&str>)] = &[
        ("batch-operations-1.0.json", 3, None),
        (
            "batch-operations-2.0.json",
            2,
            Some("a task without s3BucketArn"),
        ),
        (
            "cloudtrail-sns-validation.json",
            0,
            Some("CloudTrail validation message."),
        ),
        ("cloudtrail-sns.json", 2, Some("s3Bucket")),
        ("eventbridge-object-created.json", 1, None),
        ("s3-encoded-key.json", 1, None),
        ("s3-one-object.json", 1, None),
        ("s3-several-objects.json", 5, None),
        ("s3-test-event.json", 0, Some("s3:TestEvent")),
        ("sns-s3-test-event.json", 0, Some("s3:TestEvent")),
        ("sns-s3.json", 1, None),
        ("sqs-cloudtrail-sns.json", 2, Some("s3Bucket")),
        // The second message is not JSON: both walks stop at it.
        ("sqs-s3.json", 2, Some("this is not a notification")),
        ("sqs-sns-s3.json", 1, None),
        ("unknown-event.json", 0, Some("aws:dynamodb")),
    ];
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = table.iter().map(|(file, ..)| *file).collect();
    assert_eq!(
        on_disk, listed,
        "every events/*.json sample is in the table"
    );

    let logs = std::fs::read_to_string(format!("{dir}/objects.tsv")).expect("objects.tsv");
    let known: Vec<String> = logs
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split('\t').nth(1))
        .map(|key| format!("s3://trailwatch-test-logs/{key}"))
        .collect();
    for &(file, count, shim) in table {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("sample");
        let event: Value = serde_json::from_str(&text).expect("JSON");
        let parsed = parsed_objects(&event);
        match (crate_objects(&text), shim) {
            (Ok(found), None) => assert_eq!(Ok(found), parsed, "{file}"),
            (Err(left), Some(shim)) => assert!(left.contains(shim), "{file}: {left}"),
            (found, shim) => panic!("{file}: the crate's types give {found:?}, shim {shim:?}"),
        }
        if file == "unknown-event.json" {
            assert!(parsed.is_err(), "{file}: {parsed:?}");
            continue;
        }
        let parsed = parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parsed.len(), count, "{file}: {parsed:?}");
        // The objects are the sample logs, but for those that are not on
        // purpose: batch 1.0's missing key, a digest and a folder marker.
        let missing: Vec<&String> = parsed.iter().filter(|o| !known.contains(o)).collect();
        let want_missing = match file {
            "batch-operations-1.0.json" => 1,
            "s3-several-objects.json" => 2,
            _ => 0,
        };
        assert_eq!(missing.len(), want_missing, "{file}: {missing:?}");
    }
}

/// A message `SqsMessage` cannot read (a body that is not text) is that
/// message's permanent error, under its id; the others are read.
#[test]
fn a_queue_message_of_the_wrong_shape_fails_alone() {
    let event = json!({"Records": [
        {"messageId": "odd", "eventSource": "aws:sqs", "body": 5},
        {"messageId": "none", "eventSource": "aws:sqs"},
        {"messageId": "fine", "eventSource": "aws:sqs", "body": CLOUDTRAIL},
    ]});
    let Ok(Trigger::Queue(messages)) = parse(&event) else {
        panic!("an SQS batch");
    };
    let errors: Vec<(&str, String)> = messages
        .iter()
        .filter_map(|m| Some((m.message_id.as_str(), m.content.as_ref().err()?.to_string())))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "odd",
                "SQS message is malformed: invalid type: integer `5`, expected a string"
                    .to_string()
            ),
            (
                "none",
                "SQS message is malformed: it has no text body".to_string()
            ),
        ]
    );
    assert!(messages[2].content.is_ok());
}
