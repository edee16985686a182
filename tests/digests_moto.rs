//! Digest files verified by the Lambda handler as they arrive: the logs and
//! digests in real S3 (moto), written as CloudTrail writes them (gzip,
//! `x-amz-meta-signature` and `-signature-algorithm`), signed with a key
//! pair made here; the public key served by the real CloudTrail client
//! through the HTTP-level mock (moto 5.2.5 has no `ListPublicKeys`). What
//! is checked is what a user sees: the alerts on the topic.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use common::digests::*;
use common::mock_http::{credentials, retry_config, retry_partition, Answer, MockHttp, Rule, Seen};
use common::{unique, Stack};
use serde_json::{json, Value};
use trailwatch::config::LambdaConfig;
use trailwatch::lambda::{DigestCheck, Handler, InvocationSummary};
use trailwatch::source::digests::{CloudTrailKeys, S3Digests};

const DIGEST_RULE: &str = "trailwatch-cloudtrail-digest-problem";

/// Hours 9 and 10, as these tests always wrote them.
async fn write_chain(stack: &Stack) {
    common::digests::write_chain(stack, &[9, 10]).await;
}

fn public_keys() -> Arc<Rule> {
    list_public_keys_rule()
}

/// The function's handler on moto, with digests verified as the function
/// sets it up when `VERIFY_DIGESTS` is `verify` (unset: the default).
async fn handler(stack: &Stack, keys: &Arc<Rule>, verify: Option<&str>) -> Handler {
    let mut env = vec![("ALERT_TOPIC_ARN", stack.topic_arn.as_str())];
    env.extend(verify.map(|v| ("VERIFY_DIGESTS", v)));
    let config = LambdaConfig::from_env(|name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("configuration");
    let sdk = common::sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let cloudtrail = aws_sdk_cloudtrail::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry_config())
        .retry_partition(retry_partition("cloudtrail"))
        .http_client(MockHttp::new(&[keys]))
        .build();
    let runtime = tokio::runtime::Handle::current();
    Handler {
        digests: config.verify_digests.then(|| DigestCheck {
            store: Arc::new(S3Digests::new(s3, runtime.clone())),
            keys: Arc::new(CloudTrailKeys::new(
                aws_sdk_cloudtrail::Client::from_conf(cloudtrail),
                runtime,
            )),
        }),
        ..common::moto_handler(stack).await
    }
}

/// An S3 notification of the digests of these hours.
fn notification(stack: &Stack, hours: &[u32]) -> Value {
    let records: Vec<Value> = hours
        .iter()
        .map(|hour| {
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.bucket, "arn": format!("arn:aws:s3:::{}", stack.bucket)},
                    "object": {"key": digest_key(*hour), "size": 900},
                },
            })
        })
        .collect();
    json!({ "Records": records })
}

async fn invoke(handler: &Handler, stack: &Stack, hours: &[u32]) -> InvocationSummary {
    handler
        .handle(&notification(stack, hours))
        .await
        .expect("the invocation succeeds")
        .summary
}

fn url(stack: &Stack, key: &str) -> String {
    format!("s3://{}/{key}", stack.bucket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_chain_raises_nothing_and_the_key_is_asked_once() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    let keys = public_keys();
    let summary = invoke(&handler(&stack, &keys, None).await, &stack, &[9, 10]).await;
    assert_eq!(summary.digests_verified, 2, "{summary:#?}");
    assert_eq!(summary.digest_problems, 0, "{summary:#?}");
    assert!(summary.objects_skipped.is_empty(), "{summary:#?}");
    assert_eq!(summary.alerts, 0, "{summary:#?}");
    assert!(stack.alerts(0, Duration::from_secs(2)).await.is_empty());
    // Both digests name one fingerprint: one ListPublicKeys, in the
    // digests' region.
    assert_eq!(keys.num_calls(), 1);
    let asked = &keys.seen()[0].uri;
    assert!(asked.contains(&format!("cloudtrail.{REGION}.")), "{asked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_log_is_one_critical_alert_naming_it() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    let gone = log_key(10, 2);
    stack.delete(&gone).await;
    let summary = invoke(&handler(&stack, &public_keys(), None).await, &stack, &[10]).await;
    assert_eq!(
        (summary.digests_verified, summary.digest_problems),
        (1, 1),
        "{summary:#?}"
    );
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(subject, "[CRITICAL] CloudTrail Log File Deleted");
    assert_eq!(doc["rule_id"], DIGEST_RULE);
    assert_eq!(doc["source"], url(&stack, &gone));
    assert_eq!(doc["event"]["digest"], url(&stack, &digest_key(10)));
    assert_eq!(doc["event"]["hour_end"], "2026-11-23T10:01:31Z");
    let problem = doc["event"]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.ends_with(&format!("log {} is missing", url(&stack, &gone))),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_log_is_one_critical_alert() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    let edited = log_key(9, 1);
    let content = String::from_utf8(log_content(9, 1))
        .expect("text")
        .replace("ListBuckets", "GetObject");
    stack.put(&edited, gzip(content.as_bytes())).await;
    let summary = invoke(&handler(&stack, &public_keys(), None).await, &stack, &[9]).await;
    assert_eq!(summary.digest_problems, 1, "{summary:#?}");
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(subject, "[CRITICAL] CloudTrail Log File Changed");
    assert_eq!(doc["source"], url(&stack, &edited));
    let problem = doc["event"]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("changed: SHA-256"), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_off_a_digest_is_skipped_as_before() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    // Something to find, were it verified.
    stack.delete(&log_key(9, 1)).await;
    let keys = public_keys();
    let summary = invoke(&handler(&stack, &keys, Some("false")).await, &stack, &[9]).await;
    assert_eq!(
        summary.objects_skipped.get("digest"),
        Some(&1),
        "{summary:#?}"
    );
    assert_eq!(summary.digests_verified, 0);
    assert!(stack.alerts(0, Duration::from_secs(2)).await.is_empty());
    assert_eq!(keys.num_calls(), 0);
}

/// A CloudTrail JSON 1.1 error answer.
fn cloudtrail_error(status: u16, code: &str, message: &str) -> Answer {
    Answer::fixed(
        status,
        "application/x-amz-json-1.1",
        json!({"__type": code, "message": message})
            .to_string()
            .into_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lookup_denied_is_a_permanent_error_with_an_integrity_alert() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    let denied = Rule::always(
        "ListPublicKeys denied",
        |seen: &Seen| seen.target.ends_with("ListPublicKeys"),
        cloudtrail_error(400, "AccessDeniedException", "not authorized"),
    );
    let summary = invoke(&handler(&stack, &denied, None).await, &stack, &[9]).await;
    assert_eq!(summary.digests_verified, 0, "{summary:#?}");
    assert_eq!(summary.permanent_errors.len(), 1, "{summary:#?}");
    let error = &summary.permanent_errors[0];
    assert!(
        error.contains("cloudtrail:ListPublicKeys") && error.contains(&digest_key(9)),
        "{error}"
    );
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert!(subject.contains("Cannot Be Read"), "{subject}");
    assert_eq!(doc["event"]["class"], "unverifiable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lookup_throttled_is_retried() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    let throttled = Rule::always(
        "ListPublicKeys throttled",
        |seen: &Seen| seen.target.ends_with("ListPublicKeys"),
        cloudtrail_error(400, "ThrottlingException", "Rate exceeded"),
    );
    let result = handler(&stack, &throttled, None)
        .await
        .handle(&notification(&stack, &[9]))
        .await;
    let Err(err) = result else {
        panic!("a throttled key lookup fails the invocation: {result:?}");
    };
    let text = err.to_string();
    assert!(
        text.contains(&digest_key(9)) && text.contains("Throttling"),
        "{text}"
    );
    // The SDK's own retries first.
    assert_eq!(throttled.num_calls(), common::mock_http::MAX_ATTEMPTS);
    assert!(stack.alerts(0, Duration::from_secs(2)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_previous_digest_breaks_the_chain() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    stack.delete(&digest_key(9)).await;
    let summary = invoke(&handler(&stack, &public_keys(), None).await, &stack, &[10]).await;
    assert_eq!(summary.digest_problems, 1, "{summary:#?}");
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(subject, "[CRITICAL] CloudTrail Digest Chain Broken");
    assert_eq!(doc["source"], url(&stack, &digest_key(9)));
    assert_eq!(doc["event"]["digest"], url(&stack, &digest_key(10)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_digest_does_not_verify() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    // The digest rewritten without the log it listed, its metadata kept.
    let key = digest_key(10);
    let object = stack
        .s3
        .get_object()
        .bucket(&stack.bucket)
        .key(&key)
        .send()
        .await
        .expect("get digest");
    let metadata = object.metadata.clone().unwrap_or_default();
    let bytes = object.body.collect().await.expect("body").into_bytes();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .expect("gzip");
    let mut document: Value = serde_json::from_str(&text).expect("JSON");
    document["logFiles"]
        .as_array_mut()
        .expect("log files")
        .pop();
    stack
        .s3
        .put_object()
        .bucket(&stack.bucket)
        .key(&key)
        .set_metadata(Some(metadata))
        .body(ByteStream::from(gzip(document.to_string().as_bytes())))
        .send()
        .await
        .expect("put digest");
    let summary = invoke(&handler(&stack, &public_keys(), None).await, &stack, &[10]).await;
    assert_eq!(summary.digest_problems, 1, "{summary:#?}");
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(
        subject,
        "[CRITICAL] CloudTrail Digest File Not Signed By CloudTrail"
    );
    assert_eq!(doc["source"], url(&stack, &key));
    let problem = doc["event"]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.ends_with("the signature does not verify"),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_with_no_time_left_is_retried_unread() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    let keys = public_keys();
    let result = handler(&stack, &keys, None)
        .await
        .handle_until(&notification(&stack, &[9]), Some(std::time::Instant::now()))
        .await;
    let Err(err) = result else {
        panic!("no time left fails the invocation: {result:?}");
    };
    assert!(
        err.to_string()
            .contains("not verified, too little time left"),
        "{err}"
    );
    assert_eq!(keys.num_calls(), 0);
}

/// S3 Batch Operations over digests (a backfill of verification): each
/// task's result says what verifying its digest found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_operations_tasks_report_what_each_digest_revealed() {
    let stack = Stack::new(&unique("digests")).await;
    write_chain(&stack).await;
    stack.delete(&log_key(10, 1)).await;
    let task = |id: &str, hour: u32| json!({"taskId": id, "s3Key": digest_key(hour), "s3VersionId": null, "s3Bucket": stack.bucket});
    let job = json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "digests",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", "userArguments": {}},
        "tasks": [task("task-9", 9), task("task-10", 10)],
    });
    let response = handler(&stack, &public_keys(), None)
        .await
        .handle(&job)
        .await
        .expect("the invocation succeeds");
    let answer = response.to_json();
    let results = answer["results"].as_array().expect("results");
    let strings: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["resultCode"].as_str().unwrap_or_default(),
                r["resultString"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        strings,
        [
            (
                "Succeeded",
                format!(
                    "{}: digest verified, 0 problem(s)",
                    url(&stack, &digest_key(9))
                )
                .as_str()
            ),
            (
                "Succeeded",
                format!(
                    "{}: digest verified, 1 problem(s)",
                    url(&stack, &digest_key(10))
                )
                .as_str()
            ),
        ]
    );
    assert_eq!(stack.alerts(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_that_starts_again_after_hours_off_is_one_high_alert() {
    let stack = Stack::new(&unique("digests")).await;
    // The trail's digests stopped after 05:01 and a new chain starts with
    // the hour from 08:01.
    common::digests::write_chain(&stack, &[4, 5]).await;
    write_chain(&stack).await;
    let summary = invoke(
        &handler(&stack, &public_keys(), None).await,
        &stack,
        &[9, 10],
    )
    .await;
    assert_eq!(
        (summary.digests_verified, summary.digest_problems),
        (2, 1),
        "{summary:#?}"
    );
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(subject, "[HIGH] CloudTrail Logging Or Validation Was Off");
    assert_eq!(doc["rule_id"], DIGEST_RULE);
    assert_eq!(doc["event"]["digest"], url(&stack, &digest_key(9)));
    let problem = doc["event"]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&format!(
            "no digest from 2026-11-23T05:01:31Z to 2026-11-23T08:01:31Z (after {})",
            url(&stack, &digest_key(5))
        )),
        "{problem}"
    );
}
