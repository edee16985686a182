//! What the function says about an invocation, against real S3 and SNS
//! (moto): one log line per object, the invocation's line, and the
//! CloudWatch metrics (EMF) — and that they all add up: records read =
//! records evaluated + records invalid, per object and per invocation.
//!
//! The log lines are captured with a JSON subscriber on this test's thread
//! (`#[tokio::test]` runs the handler there); the metrics with an
//! `EmfWriter` writing to a buffer.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::memory::{Objects, Recorded};
use common::{unique, Stack};
use serde_json::{json, Value};
use trailwatch::lambda::metrics::{EmfWriter, MemoryWriter, MetricsConfig};
use trailwatch::lambda::{Handler, InvocationSummary, Reply};
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

const INVOKE_RULE: &str = "d8eac153-4cf8-47ee-a449-f038d53ddb97";
const CLOUDTRAIL_TAMPERING_RULE: &str = "05d49e8a-cef6-454b-b913-7d87b1414f69";
const ACCOUNT_PREFIX: &str = "AWSLogs/123456789012";

/// Every line written to `buffer`, parsed as JSON.
fn lines(buffer: &MemoryWriter) -> Vec<Value> {
    buffer
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

/// Log lines go to `logs` while the guard lives (this thread only), as the
/// function writes them: flat JSON objects.
fn capture_logs(logs: &MemoryWriter) -> tracing::subscriber::DefaultGuard {
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_default(subscriber)
}

fn metrics_to(buffer: &MemoryWriter) -> EmfWriter {
    let config = MetricsConfig {
        namespace: "Trailwatch".to_string(),
        function_name: Some("trailwatch-test".to_string()),
    };
    EmfWriter::new(config, Box::new(buffer.clone()))
}

/// An S3 notification of these objects (key, size).
fn created(bucket: &str, objects: &[(&str, u64)]) -> Value {
    let records: Vec<Value> = objects
        .iter()
        .map(|(key, size)| {
            json!({"eventName": "ObjectCreated:Put", "s3": {
                "bucket": {"name": bucket}, "object": {"key": key, "size": size}}})
        })
        .collect();
    json!({ "Records": records })
}

fn utc(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The sample log of two Lambda Invokes (one by alice: a finding; one by
/// S3), stamped minutes ago, gzipped; and its newest eventTime.
fn recent_invokes() -> (Vec<u8>, String) {
    let sample = common::read("events/logs/lambda-invoke-data-events.json.gz");
    let mut log: Value = serde_json::from_reader(flate2::read::GzDecoder::new(&sample[..]))
        .expect("the sample log is JSON");
    let now = SystemTime::now();
    let times = [
        utc(now - Duration::from_secs(180)),
        utc(now - Duration::from_secs(120)),
    ];
    let records = log["Records"].as_array_mut().expect("Records");
    assert_eq!(records.len(), times.len());
    for (record, time) in records.iter_mut().zip(&times) {
        record["eventTime"] = json!(time);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(log.to_string().as_bytes()).expect("gzip");
    (gz.finish().expect("gzip"), times[1].clone())
}

/// The lines that end an object, by key.
fn object_lines(logs: &[Value]) -> BTreeMap<String, Value> {
    logs.iter()
        .filter(|line| line.get("outcome").is_some())
        .map(|line| {
            (
                line["key"].as_str().unwrap_or_default().to_string(),
                line.clone(),
            )
        })
        .collect()
}

fn number(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {value}"))
}

/// The metric `name` of the EMF document with exactly these dimensions.
fn metric(documents: &[Value], dimensions: &[(&str, &str)], name: &str) -> Option<Value> {
    documents
        .iter()
        .find(|doc| {
            let keys = &doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
            let want: Vec<&str> = dimensions.iter().map(|(key, _)| *key).collect();
            keys == &json!(want) && dimensions.iter().all(|(key, value)| doc[*key] == *value)
        })
        .and_then(|doc| doc.get(name).cloned())
}

#[tokio::test]
async fn each_object_has_its_line_and_the_metrics_add_up() {
    let stack = Stack::new(&unique("logs")).await;
    let (good, newest) = recent_invokes();
    let bad = common::read("tests/data/bad/record-not-json.json.gz");
    let good_key = format!("{ACCOUNT_PREFIX}/CloudTrail/us-east-1/2026/11/23/recent.json.gz");
    let bad_key =
        format!("{ACCOUNT_PREFIX}/CloudTrail/us-east-1/2026/11/23/invalid-record.json.gz");
    let digest_key =
        format!("{ACCOUNT_PREFIX}/CloudTrail-Digest/us-east-1/2026/11/23/digest.json.gz");
    stack.put(&good_key, good.clone()).await;
    stack.put(&bad_key, bad.clone()).await;
    let event = created(
        &stack.bucket,
        &[
            (&good_key, good.len() as u64),
            (&bad_key, bad.len() as u64),
            (&digest_key, 700),
        ],
    );

    let (logs, emf) = (MemoryWriter::default(), MemoryWriter::default());
    let started = SystemTime::now();
    let summary = {
        let _capture = capture_logs(&logs);
        common::moto_handler(&stack)
            .await
            .handle_with_metrics(&event, None, &metrics_to(&emf))
            .await
            .expect("a permanent error does not fail the invocation")
            .summary
    };
    let ended = SystemTime::now();

    assert_summary(&summary, &newest);
    let logs = lines(&logs);
    let objects = object_lines(&logs);
    assert_eq!(objects.len(), 3, "one line per object: {logs:#?}");
    assert_good_line(&objects[&good_key], good.len());
    assert_bad_line(&objects[&bad_key], bad.len());
    assert_digest_line(&objects[&digest_key]);
    assert_lines_add_up(&objects, &summary);
    assert_invocation_line(&logs, &summary);

    let documents = lines(&emf);
    assert_totals(&documents, &summary);
    assert_breakdowns(&documents, &summary);
    assert_lag(&documents, &newest, started, ended);
}

fn assert_summary(summary: &InvocationSummary, newest: &str) {
    assert_eq!(summary.objects_read, 2, "{summary:#?}");
    assert_eq!(
        summary.objects_skipped.get("digest"),
        Some(&1),
        "{summary:#?}"
    );
    assert_eq!(
        (
            summary.records,
            summary.records_evaluated,
            summary.records_invalid
        ),
        (2 + 3, 2 + 2, 1),
        "{summary:#?}"
    );
    assert_eq!(summary.integrity_alerts, 1, "{summary:#?}");
    assert_eq!(summary.permanent_errors.len(), 1, "{summary:#?}");
    assert!(summary.transient_errors.is_empty(), "{summary:#?}");
    // The invalid-record file's events are older (2026-11-23T10:03Z) unless
    // this machine's clock says otherwise.
    let want = std::cmp::max(newest, "2026-11-23T10:03:00Z");
    assert_eq!(summary.newest_event_time.as_deref(), Some(want));
    assert_eq!(
        summary.matches_by_rule.get(INVOKE_RULE),
        Some(&1),
        "{summary:#?}"
    );
    assert_eq!(
        summary.matches_by_rule.get(CLOUDTRAIL_TAMPERING_RULE),
        Some(&1),
        "{summary:#?}"
    );
}

fn assert_good_line(line: &Value, size: usize) {
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["message"], "object read", "{line}");
    assert_eq!(
        (&line["outcome"], &line["kind"]),
        (&json!("read"), &json!("log")),
        "{line}"
    );
    assert_eq!(
        number(line, "bytes"),
        size as u64,
        "every byte read: {line}"
    );
    assert_eq!(
        (
            number(line, "records"),
            number(line, "records_evaluated"),
            number(line, "records_invalid")
        ),
        (2, 2, 0),
        "{line}"
    );
    assert_eq!(number(line, "findings"), 1, "{line}");
    assert!(line["duration_ms"].is_u64(), "{line}");
    assert!(
        line.get("cause").is_none() && line.get("class").is_none(),
        "{line}"
    );
}

fn assert_bad_line(line: &Value, size: usize) {
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["outcome"], "permanent", "{line}");
    assert_eq!(
        (&line["class"], &line["failure"]),
        (&json!("permanent"), &json!("corrupt")),
        "{line}"
    );
    assert_eq!(number(line, "bytes"), size as u64, "{line}");
    assert_eq!(
        (
            number(line, "records"),
            number(line, "records_evaluated"),
            number(line, "records_invalid")
        ),
        (3, 2, 1),
        "{line}"
    );
    assert_eq!(number(line, "integrity_alerts"), 1, "{line}");
    let cause = line["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("record 1: "),
        "the invalid record named: {line}"
    );
}

fn assert_digest_line(line: &Value) {
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(
        (&line["outcome"], &line["kind"]),
        (&json!("skipped"), &json!("digest")),
        "{line}"
    );
    assert_eq!(
        (number(line, "bytes"), number(line, "records")),
        (0, 0),
        "{line}"
    );
    assert_eq!(number(line, "size"), 700, "the notification's size: {line}");
}

/// Per object and summed over the objects: the invocation's numbers.
fn assert_lines_add_up(objects: &BTreeMap<String, Value>, summary: &InvocationSummary) {
    let sum = |field: &str| {
        objects
            .values()
            .map(|line| number(line, field))
            .sum::<u64>()
    };
    for line in objects.values() {
        assert_eq!(
            number(line, "records"),
            number(line, "records_evaluated") + number(line, "records_invalid"),
            "{line}"
        );
    }
    assert_eq!(sum("records"), summary.records);
    assert_eq!(sum("records_evaluated"), summary.records_evaluated);
    assert_eq!(sum("records_invalid"), summary.records_invalid);
    assert_eq!(sum("bytes"), summary.bytes_read);
    assert_eq!(sum("findings"), summary.findings);
    assert_eq!(sum("integrity_alerts"), summary.integrity_alerts);
}

fn assert_invocation_line(logs: &[Value], summary: &InvocationSummary) {
    let lines: Vec<&Value> = logs
        .iter()
        .filter(|line| line["message"] == "invocation done")
        .collect();
    let [line] = lines.as_slice() else {
        panic!("one invocation line: {logs:#?}");
    };
    let want = [
        ("objects_read", summary.objects_read),
        ("objects_skipped", 1),
        ("bytes_read", summary.bytes_read),
        ("records", summary.records),
        ("records_evaluated", summary.records_evaluated),
        ("records_invalid", summary.records_invalid),
        ("findings", summary.findings),
        ("alerts", summary.alerts),
        ("integrity_alerts", summary.integrity_alerts),
        ("permanent_errors", 1),
        ("transient_errors", 0),
    ];
    for (field, value) in want {
        assert_eq!(number(line, field), value, "{field} in {line}");
    }
    assert_eq!(line["skipped_kinds"], "digest=1", "{line}");
    assert_eq!(
        line["newest_event_time"].as_str(),
        summary.newest_event_time.as_deref()
    );
}

fn assert_totals(documents: &[Value], summary: &InvocationSummary) {
    let function = [("FunctionName", "trailwatch-test")];
    let total = |name: &str| {
        metric(documents, &function, name)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("{name} in {documents:#?}"))
    };
    assert_eq!(
        total("Records"),
        total("RecordsEvaluated") + total("RecordsInvalid")
    );
    let want = [
        ("Objects", summary.objects_read),
        ("Bytes", summary.bytes_read),
        ("Records", summary.records),
        ("RecordsEvaluated", summary.records_evaluated),
        ("RecordsInvalid", 1),
        ("Findings", summary.findings),
        ("AlertsSent", summary.alerts),
        ("AlertsSuppressed", 0),
        ("AlertsUnchecked", 0),
        ("IntegrityAlerts", 1),
        ("ObjectsSkipped", 1),
        ("Errors", 1),
    ];
    for (name, value) in want {
        assert_eq!(total(name), value, "{name}");
    }
    assert!(
        summary.alerts >= 2,
        "alice's Invoke and StopLogging: {summary:#?}"
    );
}

fn assert_breakdowns(documents: &[Value], summary: &InvocationSummary) {
    let by = |key: &'static str, value: &'static str, name: &str| {
        metric(
            documents,
            &[("FunctionName", "trailwatch-test"), (key, value)],
            name,
        )
    };
    assert_eq!(by("ErrorClass", "permanent", "Errors"), Some(json!(1)));
    assert_eq!(
        by("ErrorClass", "transient", "Errors"),
        None,
        "no zero breakdowns"
    );
    assert_eq!(by("Kind", "digest", "ObjectsSkipped"), Some(json!(1)));
    let rules: BTreeMap<String, u64> = documents
        .iter()
        .filter_map(|doc| {
            Some((
                doc["RuleId"].as_str()?.to_string(),
                doc["RecordsMatched"].as_u64()?,
            ))
        })
        .collect();
    assert_eq!(rules, summary.matches_by_rule, "{documents:#?}");
    assert_eq!(by("RuleId", INVOKE_RULE, "RecordsMatched"), Some(json!(1)));
    assert_eq!(
        by("RuleId", CLOUDTRAIL_TAMPERING_RULE, "RecordsMatched"),
        Some(json!(1))
    );
    let expected_documents = 1 + 1 + 1 + summary.matches_by_rule.len();
    assert_eq!(documents.len(), expected_documents, "{documents:#?}");
}

/// LagSeconds is the time from the newest event to the metrics' writing.
fn assert_lag(documents: &[Value], newest: &str, started: SystemTime, ended: SystemTime) {
    let function = [("FunctionName", "trailwatch-test")];
    let lag = metric(documents, &function, "LagSeconds")
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("LagSeconds in {documents:#?}"));
    let newest = chrono::DateTime::parse_from_rfc3339(newest).expect("RFC 3339");
    let since = |time: SystemTime| {
        (chrono::DateTime::<chrono::Utc>::from(time) - newest.to_utc()).num_milliseconds() as f64
            / 1000.0
    };
    // The newest event is stamped to the second, two minutes ago.
    assert!(
        since(started) - 1.0 <= lag && lag <= since(ended) + 1.0,
        "LagSeconds {lag} between {} and {}",
        since(started),
        since(ended)
    );
    assert!((119.0..200.0).contains(&lag), "about two minutes: {lag}");
}

#[tokio::test]
async fn a_retried_object_is_an_error_line_and_a_transient_error_metric() {
    let stack = Stack::new(&unique("logs")).await;
    let handler = Handler {
        store: common::unreachable_s3().await,
        ..common::moto_handler(&stack).await
    };
    let key = format!("{ACCOUNT_PREFIX}/CloudTrail/us-east-1/2026/11/23/unreachable.json.gz");
    let (logs, emf) = (MemoryWriter::default(), MemoryWriter::default());
    let result = {
        let _capture = capture_logs(&logs);
        handler
            .handle_with_metrics(&created("logs", &[(&key, 10)]), None, &metrics_to(&emf))
            .await
    };
    assert!(result.is_err(), "S3 down fails the invocation: {result:?}");

    let objects = object_lines(&lines(&logs));
    let line = &objects[&key];
    assert_eq!(
        (&line["level"], &line["outcome"], &line["class"]),
        (&json!("ERROR"), &json!("transient"), &json!("transient")),
        "{line}"
    );
    let cause = line["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains(&format!("s3://logs/{key}: S3 request failed")),
        "{line}"
    );
    assert_eq!(
        (number(line, "records"), number(line, "bytes")),
        (0, 0),
        "{line}"
    );

    // The metrics are written though the invocation failed.
    let documents = lines(&emf);
    let function = [("FunctionName", "trailwatch-test")];
    assert_eq!(metric(&documents, &function, "Errors"), Some(json!(1)));
    assert_eq!(metric(&documents, &function, "Objects"), Some(json!(0)));
    assert_eq!(
        metric(&documents, &function, "LagSeconds"),
        None,
        "no event read"
    );
    let transient = [
        ("FunctionName", "trailwatch-test"),
        ("ErrorClass", "transient"),
    ];
    assert_eq!(metric(&documents, &transient, "Errors"), Some(json!(1)));
}

/// An SQS message that names no object (garbage, a shape not known) is
/// dropped, not retried: the operator hears of it through the
/// `MessagesDropped` metric (and its alarm), not only a log line.
#[tokio::test]
async fn a_dropped_queue_message_is_counted_in_the_metrics() {
    let handler = Handler {
        store: Arc::new(Objects(HashMap::new())),
        sink: Arc::new(Recorded::default()),
        rules: Arc::new(RuleSet::load(&RuleConfig::default()).expect("built-in pack")),
        limits: Limits::default(),
        deadline_margin: Duration::ZERO,
        max_alerts: None,
        ledger: None,
        digests: None,
    };
    let message =
        |id: &str, body: &str| json!({"messageId": id, "eventSource": "aws:sqs", "body": body});
    let event = json!({"Records": [
        message("garbage", "this is not json at all {{{"),
        message("unknown", r#"{"what": "no object here"}"#),
        message("check", r#"{"Event": "s3:TestEvent"}"#),
    ]});
    let emf = MemoryWriter::default();
    let response = handler
        .handle_with_metrics(&event, None, &metrics_to(&emf))
        .await
        .expect("a batch answers");
    assert_eq!(response.summary.messages_dropped, 2);
    let Reply::Queue(reply) = &response.reply else {
        panic!("not a queue reply: {:?}", response.reply);
    };
    assert!(reply.batch_item_failures.is_empty(), "{reply:?}");
    let documents = lines(&emf);
    let function = [("FunctionName", "trailwatch-test")];
    assert_eq!(
        metric(&documents, &function, "MessagesDropped"),
        Some(json!(2))
    );
}
