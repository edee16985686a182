//! CloudWatch metrics in the embedded metric format (EMF): once per
//! invocation, JSON lines on stdout that CloudWatch Logs turns into metrics,
//! with no CloudWatch API call, permission or latency in the function.
//!
//! Each document carries one set of dimension values, so one invocation
//! writes several lines: the invocation's totals, then one per error class,
//! skip kind and rule that has something to count. Totals are written even
//! when zero, so graphs and alarms see quiet invocations as zeros; the
//! breakdowns only when they count something, as each new dimension value is
//! a new custom metric.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::InvocationSummary;

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "Trailwatch";

/// CloudWatch's limits: dimension values up to 1024 characters, namespaces
/// up to 255.
const MAX_DIMENSION_VALUE: usize = 1024;
const MAX_NAMESPACE: usize = 255;

/// Where the metrics go and under which names.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    pub namespace: String,
    /// The `FunctionName` dimension; without one (a local run) the metrics
    /// have no dimension.
    pub function_name: Option<String>,
}

impl MetricsConfig {
    /// From `METRICS_NAMESPACE` (default `Trailwatch`; empty: no metrics)
    /// and `AWS_LAMBDA_FUNCTION_NAME`. A namespace CloudWatch would refuse
    /// is an error now, not metrics silently dropped later.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let namespace = namespace.trim();
        if namespace.is_empty() {
            return Ok(None);
        }
        check_namespace(namespace)?;
        let function_name = get("AWS_LAMBDA_FUNCTION_NAME").filter(|name| !name.is_empty());
        Ok(Some(MetricsConfig {
            namespace: namespace.to_string(),
            function_name,
        }))
    }
}

/// CloudWatch namespaces: up to 255 of letters, digits and `.-_/#: `, not
/// starting with `AWS/` (reserved for AWS services).
fn check_namespace(namespace: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if let Some(bad) = namespace.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "METRICS_NAMESPACE {namespace:?}: {bad:?} is not allowed in a CloudWatch namespace \
             (letters, digits and . - _ / # : space)"
        ));
    }
    if namespace.len() > MAX_NAMESPACE {
        return Err(format!(
            "METRICS_NAMESPACE is {} characters long; CloudWatch allows {MAX_NAMESPACE}",
            namespace.len()
        ));
    }
    if namespace.starts_with("AWS/") {
        return Err(format!(
            "METRICS_NAMESPACE {namespace:?}: namespaces starting with AWS/ are reserved for AWS"
        ));
    }
    Ok(())
}

/// Where an invocation's metrics go: EMF lines on stdout in Lambda, a
/// buffer in tests, nowhere when metrics are off.
pub trait MetricsSink: Send + Sync {
    fn record(&self, summary: &InvocationSummary);
}

/// No metrics (`METRICS_NAMESPACE` empty, tests, local runs).
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn record(&self, _summary: &InvocationSummary) {}
}

/// Writes EMF documents, one JSON line each.
/// A writer that keeps what is written, to read back as text: for tests,
/// and for a caller that wants the metrics (or logs) in memory. Clones
/// share one buffer.
#[derive(Clone, Default)]
pub struct MemoryWriter(Arc<Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// Everything written so far (bytes that are not UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct EmfWriter {
    config: MetricsConfig,
    out: Mutex<Box<dyn Write + Send>>,
}

impl EmfWriter {
    pub fn new(config: MetricsConfig, out: Box<dyn Write + Send>) -> Self {
        EmfWriter {
            config,
            out: Mutex::new(out),
        }
    }
}

impl MetricsSink for EmfWriter {
    /// Each document is written whole in one call, so log lines written
    /// meanwhile to the same stdout cannot split it. Metrics that cannot be
    /// written are a warning: they never fail the invocation.
    fn record(&self, summary: &InvocationSummary) {
        let mut text = String::new();
        for document in documents(&self.config, summary, SystemTime::now()) {
            text.push_str(&document.to_string());
            text.push('\n');
        }
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!("the invocation's metrics could not be written: {err}");
        }
    }
}

/// CloudWatch units used here.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Count,
    Bytes,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One EMF document before rendering: dimension values and metrics.
struct Document<'a> {
    dimensions: Vec<(&'static str, &'a str)>,
    metrics: Vec<(&'static str, Unit, Value)>,
}

/// The invocation's EMF documents at `now`: the totals first, then the
/// breakdowns by error class, skip kind and rule.
pub fn documents(
    config: &MetricsConfig,
    summary: &InvocationSummary,
    now: SystemTime,
) -> Vec<Value> {
    let timestamp = millis(now);
    let function = config.function_name.as_deref();
    let mut list = vec![totals(summary, function, lag_seconds(summary, now))];
    list.extend(errors_by_class(summary, function));
    list.extend(skipped_by_kind(summary, function));
    list.extend(matches_by_rule(summary, function));
    list.extend(chat_failed(summary, function));
    list.iter()
        .map(|document| render(&config.namespace, timestamp, document))
        .collect()
}

fn totals<'a>(
    summary: &InvocationSummary,
    function: Option<&'a str>,
    lag: Option<f64>,
) -> Document<'a> {
    let count = |name, value: u64| (name, Unit::Count, json!(value));
    let mut metrics = vec![
        count("Objects", summary.objects_read),
        ("Bytes", Unit::Bytes, json!(summary.bytes_read)),
        count("Records", summary.records),
        count("RecordsEvaluated", summary.records_evaluated),
        count("RecordsInvalid", summary.records_invalid),
        count("Findings", summary.findings),
        count("AlertsSent", summary.alerts),
        count("AlertsSuppressed", summary.alerts_suppressed),
        count("AlertsUnchecked", summary.alerts_unchecked),
        count("IntegrityAlerts", summary.integrity_alerts),
        count("DigestsVerified", summary.digests_verified),
        count("DigestProblems", summary.digest_problems),
        count("ObjectsSkipped", summary.objects_skipped.values().sum()),
        count("MessagesDropped", summary.messages_dropped),
        count("Errors", errors(summary).iter().map(|(_, n)| n).sum()),
    ];
    if let Some(lag) = lag {
        metrics.push(("LagSeconds", Unit::Seconds, json!(lag)));
    }
    Document {
        dimensions: function_dimension(function),
        metrics,
    }
}

fn errors(summary: &InvocationSummary) -> [(&'static str, u64); 2] {
    [
        ("permanent", summary.permanent_errors.len() as u64),
        ("transient", summary.transient_errors.len() as u64),
    ]
}

fn errors_by_class<'a>(
    summary: &InvocationSummary,
    function: Option<&'a str>,
) -> impl Iterator<Item = Document<'a>> {
    errors(summary)
        .into_iter()
        .filter(|&(_, count)| count > 0)
        .map(move |(class, count)| breakdown(function, ("ErrorClass", class), "Errors", count))
}

fn skipped_by_kind<'a>(
    summary: &'a InvocationSummary,
    function: Option<&'a str>,
) -> impl Iterator<Item = Document<'a>> {
    summary
        .objects_skipped
        .iter()
        .filter(|&(kind, &count)| count > 0 && dimension_value_ok(kind))
        .map(move |(kind, &count)| breakdown(function, ("Kind", kind), "ObjectsSkipped", count))
}

fn matches_by_rule<'a>(
    summary: &'a InvocationSummary,
    function: Option<&'a str>,
) -> impl Iterator<Item = Document<'a>> {
    // A rule id CloudWatch cannot take as a dimension value is left out
    // rather than cut, which could merge two rules' counts.
    summary
        .matches_by_rule
        .iter()
        .filter(|&(rule, &count)| count > 0 && dimension_value_ok(rule))
        .map(move |(rule, &count)| breakdown(function, ("RuleId", rule), "RecordsMatched", count))
}

/// Only when some failed: most deployments have no chat topic, and a
/// metric written as zero by every invocation would be a metric for them.
fn chat_failed<'a>(summary: &InvocationSummary, function: Option<&'a str>) -> Option<Document<'a>> {
    (summary.chat_failed > 0).then(|| Document {
        dimensions: function_dimension(function),
        metrics: vec![("ChatFailed", Unit::Count, json!(summary.chat_failed))],
    })
}

fn dimension_value_ok(value: &str) -> bool {
    !value.trim().is_empty() && value.chars().count() <= MAX_DIMENSION_VALUE
}

/// One count under the function's dimension plus one more.
fn breakdown<'a>(
    function: Option<&'a str>,
    dimension: (&'static str, &'a str),
    name: &'static str,
    count: u64,
) -> Document<'a> {
    let mut dimensions = function_dimension(function);
    dimensions.push(dimension);
    Document {
        dimensions,
        metrics: vec![(name, Unit::Count, json!(count))],
    }
}

fn function_dimension(function: Option<&str>) -> Vec<(&'static str, &str)> {
    function
        .map(|name| ("FunctionName", name))
        .into_iter()
        .collect()
}

/// The document as CloudWatch reads it: `_aws` with one directive, and the
/// dimension values and metric values as members of the root.
fn render(namespace: &str, timestamp: u64, document: &Document<'_>) -> Value {
    let keys: Vec<&str> = document.dimensions.iter().map(|(key, _)| *key).collect();
    let definitions: Vec<Value> = document
        .metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".to_string(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [keys],
                "Metrics": definitions,
            }],
        }),
    );
    for (key, value) in &document.dimensions {
        root.insert((*key).to_string(), json!(value));
    }
    for (name, _, value) in &document.metrics {
        root.insert((*name).to_string(), value.clone());
    }
    Value::Object(root)
}

/// How far behind the newest event read is: `now` minus its `eventTime`,
/// never below zero (an event stamped ahead of this clock is not read
/// early). `None` without an event time, or with one that is not RFC 3339.
pub fn lag_seconds(summary: &InvocationSummary, now: SystemTime) -> Option<f64> {
    let newest = summary.newest_event_time.as_deref()?;
    let event = chrono::DateTime::parse_from_rfc3339(newest).ok()?;
    let lag_ms = i128::from(millis(now)) - i128::from(event.timestamp_millis());
    Some(lag_ms.max(0) as f64 / 1000.0)
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// 2024-03-01T12:35:56Z
    const NOW_MS: u64 = 1_709_296_556_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW_MS)
    }

    fn config(function: Option<&str>) -> MetricsConfig {
        MetricsConfig {
            namespace: "Trailwatch".to_string(),
            function_name: function.map(str::to_string),
        }
    }

    fn summary() -> InvocationSummary {
        InvocationSummary {
            objects_read: 2,
            objects_skipped: BTreeMap::from([("digest".to_string(), 1)]),
            bytes_read: 2048,
            records: 5,
            records_evaluated: 4,
            records_invalid: 1,
            findings: 3,
            alerts: 2,
            alerts_suppressed: 1,
            integrity_alerts: 1,
            permanent_errors: vec!["s3://b/k: record 1: not JSON".to_string()],
            messages_dropped: 1,
            newest_event_time: Some("2024-03-01T12:34:56Z".to_string()),
            matches_by_rule: BTreeMap::from([("rule-a".to_string(), 2), ("rule-b".to_string(), 1)]),
            ..InvocationSummary::default()
        }
    }

    /// Dimension (key, value) pairs.
    type Dims = Vec<(String, String)>;
    /// One metric: its dimensions, name and value.
    type Row = (Dims, String, Value);

    /// Every metric in the documents.
    fn flatten(documents: &[Value]) -> Vec<Row> {
        let mut out = Vec::new();
        for doc in documents {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            let dimensions: Dims = directive["Dimensions"][0]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|key| {
                    (
                        key.to_string(),
                        doc[key].as_str().unwrap_or("?").to_string(),
                    )
                })
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or("?").to_string();
                out.push((dimensions.clone(), name.clone(), doc[&name].clone()));
            }
        }
        out
    }

    fn dims(pairs: &[(&str, &str)]) -> Dims {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_document_is_valid_emf() {
        for document in documents(&config(Some("fn")), &summary(), now()) {
            let aws = &document["_aws"];
            assert_eq!(aws["Timestamp"], NOW_MS, "{document}");
            let [directive] = aws["CloudWatchMetrics"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            else {
                panic!("one directive: {document}");
            };
            assert_eq!(directive["Namespace"], "Trailwatch");
            let sets = directive["Dimensions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(sets.len(), 1, "{document}");
            for key in sets[0].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                assert!(document[key].is_string(), "dimension {key} in {document}");
            }
            let metrics = directive["Metrics"].as_array().cloned().unwrap_or_default();
            assert!(!metrics.is_empty() && metrics.len() <= 100, "{document}");
            for metric in metrics {
                let name = metric["Name"].as_str().unwrap_or_default();
                assert!(document[name].is_number(), "metric {name} in {document}");
                assert!(metric["Unit"].is_string(), "{document}");
            }
        }
    }

    #[test]
    fn the_numbers_are_the_summary_s() {
        let table = flatten(&documents(&config(Some("fn")), &summary(), now()));
        let function = dims(&[("FunctionName", "fn")]);
        let want: Vec<(Dims, &str, Value)> = vec![
            (function.clone(), "Objects", json!(2)),
            (function.clone(), "Bytes", json!(2048)),
            (function.clone(), "Records", json!(5)),
            (function.clone(), "RecordsEvaluated", json!(4)),
            (function.clone(), "RecordsInvalid", json!(1)),
            (function.clone(), "Findings", json!(3)),
            (function.clone(), "AlertsSent", json!(2)),
            (function.clone(), "AlertsSuppressed", json!(1)),
            (function.clone(), "AlertsUnchecked", json!(0)),
            (function.clone(), "IntegrityAlerts", json!(1)),
            (function.clone(), "DigestsVerified", json!(0)),
            (function.clone(), "DigestProblems", json!(0)),
            (function.clone(), "ObjectsSkipped", json!(1)),
            (function.clone(), "MessagesDropped", json!(1)),
            (function.clone(), "Errors", json!(1)),
            (function.clone(), "LagSeconds", json!(60.0)),
            (
                dims(&[("FunctionName", "fn"), ("ErrorClass", "permanent")]),
                "Errors",
                json!(1),
            ),
            (
                dims(&[("FunctionName", "fn"), ("Kind", "digest")]),
                "ObjectsSkipped",
                json!(1),
            ),
            (
                dims(&[("FunctionName", "fn"), ("RuleId", "rule-a")]),
                "RecordsMatched",
                json!(2),
            ),
            (
                dims(&[("FunctionName", "fn"), ("RuleId", "rule-b")]),
                "RecordsMatched",
                json!(1),
            ),
        ];
        let want: Vec<Row> = want
            .into_iter()
            .map(|(d, n, v)| (d, n.to_string(), v))
            .collect();
        assert_eq!(table, want);
    }

    #[test]
    fn without_a_function_name_there_is_no_dimension() {
        let documents = documents(&config(None), &summary(), now());
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        let rule = documents.last().cloned().unwrap_or_default();
        assert_eq!(
            rule["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["RuleId"]])
        );
        assert_eq!(rule["RuleId"], "rule-b");
    }

    #[test]
    fn lag_is_now_minus_the_newest_event() {
        let cases: [(Option<&str>, Option<f64>); 6] = [
            (Some("2024-03-01T12:34:56Z"), Some(60.0)),
            (Some("2024-03-01T12:35:55.500Z"), Some(0.5)),
            (Some("2024-03-01T13:35:56+01:00"), Some(0.0)),
            (Some("2024-03-01T12:40:00Z"), Some(0.0)),
            (Some("yesterday"), None),
            (None, None),
        ];
        for (newest, want) in cases {
            let summary = InvocationSummary {
                newest_event_time: newest.map(str::to_string),
                ..InvocationSummary::default()
            };
            assert_eq!(lag_seconds(&summary, now()), want, "{newest:?}");
            let has_lag = documents(&config(None), &summary, now())[0]
                .get("LagSeconds")
                .is_some();
            assert_eq!(has_lag, want.is_some(), "{newest:?}");
        }
    }

    #[test]
    fn a_quiet_invocation_is_one_document_of_zeros() {
        let documents = documents(&config(Some("fn")), &InvocationSummary::default(), now());
        assert_eq!(documents.len(), 1, "{documents:?}");
        let zeros = flatten(&documents)
            .into_iter()
            .all(|(_, _, value)| value == json!(0));
        assert!(zeros, "{documents:?}");
    }

    #[test]
    fn unusable_rule_ids_are_left_out() {
        let long = "r".repeat(MAX_DIMENSION_VALUE + 1);
        let summary = InvocationSummary {
            matches_by_rule: BTreeMap::from([
                (long, 1),
                (" ".to_string(), 1),
                ("ok".to_string(), 0),
            ]),
            ..InvocationSummary::default()
        };
        assert_eq!(documents(&config(None), &summary, now()).len(), 1);
    }

    #[test]
    fn namespace_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        type Want = Result<Option<MetricsConfig>, &'static str>;
        let cases: [(&[(&str, &str)], Want); 6] = [
            (&[], Ok(Some(config(None)))),
            (
                &[("AWS_LAMBDA_FUNCTION_NAME", "fn")],
                Ok(Some(config(Some("fn")))),
            ),
            (&[("METRICS_NAMESPACE", "")], Ok(None)),
            (
                &[("METRICS_NAMESPACE", "Sec/Trail watch")],
                Ok(Some(MetricsConfig {
                    namespace: "Sec/Trail watch".to_string(),
                    function_name: None,
                })),
            ),
            (&[("METRICS_NAMESPACE", "AWS/Lambda")], Err("reserved")),
            (&[("METRICS_NAMESPACE", "a|b")], Err("'|' is not allowed")),
        ];
        for (vars, want) in cases {
            let got = MetricsConfig::from_env(env(vars));
            match (&got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, &want, "{vars:?}"),
                (Err(err), Err(want)) => assert!(err.contains(want), "{vars:?}: {err}"),
                _ => panic!("{vars:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_writer_writes_one_line_per_document() {
        let buffer = MemoryWriter::default();
        EmfWriter::new(config(Some("fn")), Box::new(buffer.clone())).record(&summary());
        let text = buffer.text();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_default())
            .collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines.iter().all(|line| line["_aws"].is_object()), "{text}");
    }

    #[test]
    fn failed_chat_copies_are_counted_only_when_some_failed() {
        let quiet = flatten(&documents(&config(Some("fn")), &summary(), now()));
        assert!(quiet.iter().all(|(_, name, _)| name != "ChatFailed"));
        let failed = InvocationSummary {
            chat_failed: 3,
            ..summary()
        };
        let table = flatten(&documents(&config(Some("fn")), &failed, now()));
        let chat: Vec<&Row> = table
            .iter()
            .filter(|(_, name, _)| name == "ChatFailed")
            .collect();
        assert_eq!(
            chat,
            [&(
                dims(&[("FunctionName", "fn")]),
                "ChatFailed".to_string(),
                json!(3)
            )]
        );
    }
}
