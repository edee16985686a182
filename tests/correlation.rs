//! Thresholds (Sigma correlation rules): counted per group within the
//! timespan, across the records of one object and across the objects of one
//! invocation; time is the records' eventTime.

mod common;

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use common::memory::{Objects, Recorded};
use serde_json::{json, Value};
use trailwatch::alert::Alert;
use trailwatch::lambda::Handler;
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

const BURST: &str = "title: Denied Burst
id: 11111111-2222-4333-8444-555555555555
level: high
correlation:
  type: event_count
  rules:
    - a07c84b1-4bd1-4113-b630-91338225fe74
  group-by:
    - userIdentity.arn
  timespan: 5m
  condition:
    gte: 20
  generate: true
";

/// The built-in threshold on the same rule, left out where a test brings
/// its own.
const BUILTIN_BURST: &str = "6c2b9a57-0f3e-4b8e-9d6a-3f4e2a1b7c90";

fn rules_with(extra: &str) -> RuleSet {
    RuleSet::load(&RuleConfig {
        texts: vec![("test/burst.yml".to_string(), extra.to_string())],
        disabled: vec![BUILTIN_BURST.to_string()],
        ..RuleConfig::default()
    })
    .expect("rules load")
}

/// `n` denied calls by `user`, `step` seconds apart from `start` (seconds
/// after 08:00:00).
fn denied(user: &str, n: usize, start: u64, step: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let t = start + i as u64 * step;
            json!({"eventID": format!("{user}-{i}"),
                   "eventTime": format!("2026-11-23T08:{:02}:{:02}Z", t / 60, t % 60),
                   "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "errorCode": "AccessDenied",
                   "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::123456789012:user/{user}")}})
        })
        .collect()
}

fn log(records: Vec<Value>) -> Vec<u8> {
    json!({ "Records": records }).to_string().into_bytes()
}

fn thresholds(alerts: &[Alert]) -> Vec<(String, u64, String)> {
    alerts
        .iter()
        .filter_map(|a| {
            let t = a.threshold.as_ref()?;
            Some((
                a.principal.clone().unwrap_or_default(),
                t.count,
                a.event_id.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

fn scan_logs(rules: &RuleSet, logs: Vec<Vec<u8>>) -> Vec<Alert> {
    let mut correlator = rules.correlations().correlator();
    let mut alerts = Vec::new();
    for (i, bytes) in logs.into_iter().enumerate() {
        let report = scan(
            Cursor::new(bytes),
            &format!("log-{i}"),
            rules,
            &mut correlator,
            Limits::default(),
            |a| {
                alerts.push(a.alert());
                true
            },
        );
        assert!(report.error.is_none(), "{:?}", report.error);
    }
    alerts
}

#[test]
fn twenty_denied_calls_within_five_minutes_raise_one_threshold_alert() {
    let rules = rules_with(BURST);
    let mut records = denied("mallory", 25, 0, 5);
    records.extend(denied("bob", 19, 0, 5));
    // Twenty calls, but spread over more than five minutes.
    records.extend(denied("slow", 20, 0, 20));
    let alerts = scan_logs(&rules, vec![log(records)]);
    assert_eq!(
        thresholds(&alerts),
        [(
            "arn:aws:iam::123456789012:user/mallory".to_string(),
            20,
            "mallory-19".to_string()
        )]
    );
    let alert = alerts
        .iter()
        .find(|a| a.threshold.is_some())
        .expect("threshold alert");
    assert_eq!(alert.title, "Denied Burst");
    assert!(alert.text().contains("Threshold:   20 matching records within 300 s for userIdentity.arn=arn:aws:iam::123456789012:user/mallory"), "{}", alert.text());
    // generate: true: each denied call still alerts on its own.
    assert_eq!(
        alerts.iter().filter(|a| a.threshold.is_none()).count(),
        25 + 19 + 20
    );
}

#[test]
fn thresholds_count_across_the_objects_of_one_run() {
    let rules = rules_with(BURST);
    let records = denied("mallory", 20, 0, 5);
    let (first, second) = records.split_at(12);
    let alerts = scan_logs(&rules, vec![log(first.to_vec()), log(second.to_vec())]);
    assert_eq!(thresholds(&alerts).len(), 1);
    assert_eq!(
        alerts
            .iter()
            .find(|a| a.threshold.is_some())
            .map(|a| a.source.as_str()),
        Some("log-1")
    );
}

#[test]
fn without_generate_the_counted_rule_does_not_alert_on_its_own() {
    let rules = rules_with(&BURST.replace("  generate: true\n", ""));
    let alerts = scan_logs(&rules, vec![log(denied("mallory", 20, 0, 5))]);
    assert_eq!(alerts.len(), 1, "only the threshold alert");
    assert!(alerts[0].threshold.is_some());
}

#[test]
fn a_correlation_naming_an_unknown_rule_stops_loading() {
    let err = RuleSet::load(&RuleConfig {
        texts: vec![(
            "test/burst.yml".to_string(),
            BURST.replace("a07c84b1-4bd1-4113-b630-91338225fe74", "no-such-rule"),
        )],
        ..RuleConfig::default()
    })
    .err()
    .expect("unknown reference");
    assert!(
        err.to_string().starts_with(
            "test/burst.yml: correlation \"Denied Burst\" refers to rule \"no-such-rule\""
        ),
        "{err}"
    );
}

#[tokio::test]
async fn thresholds_count_across_the_objects_of_one_invocation() {
    let records = denied("mallory", 20, 0, 5);
    let (first, second) = records.split_at(10);
    let store = Objects(HashMap::from([
        (
            "AWSLogs/1/CloudTrail/us-east-1/a.json.gz".to_string(),
            log(first.to_vec()),
        ),
        (
            "AWSLogs/1/CloudTrail/us-east-1/b.json.gz".to_string(),
            log(second.to_vec()),
        ),
    ]));
    let sink = Arc::new(Recorded::default());
    let handler = Handler {
        store: Arc::new(store),
        sink: sink.clone(),
        rules: Arc::new(rules_with(BURST)),
        limits: Limits::default(),
        deadline_margin: std::time::Duration::ZERO,
        max_alerts: None,
        ledger: None,
        digests: None,
    };
    let record = |key: &str| json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "logs"}, "object": {"key": key, "size": 100}}});
    let event = json!({"Records": [record("AWSLogs/1/CloudTrail/us-east-1/a.json.gz"), record("AWSLogs/1/CloudTrail/us-east-1/b.json.gz")]});
    let summary = handler.handle(&event).await.expect("invocation").summary;
    // 20 denials by one principal: one grouped alert, and the threshold.
    assert_eq!((summary.findings, summary.alerts), (21, 2));
    let alerts = sink.delivered();
    assert_eq!(thresholds(&alerts).len(), 1);
    let grouped = alerts
        .iter()
        .find_map(|a| a.occurrences.as_ref())
        .expect("the denials grouped");
    assert_eq!(grouped.count, 20);

    // A second invocation starts from zero: ten more calls are not twenty.
    let again = json!({"Records": [record("AWSLogs/1/CloudTrail/us-east-1/b.json.gz")]});
    handler.handle(&again).await.expect("invocation");
    assert_eq!(thresholds(&sink.delivered()).len(), 1);
}

#[test]
fn the_builtin_denied_burst_threshold_fires_at_twenty_within_five_minutes() {
    let rules = RuleSet::load(&RuleConfig::default()).expect("built-in pack");
    let mut records = denied("mallory", 20, 0, 10);
    records.extend(denied("bob", 19, 0, 5));
    records.extend(denied("slow", 25, 0, 16));
    let alerts = scan_logs(&rules, vec![log(records)]);
    let fired: Vec<_> = alerts.iter().filter(|a| a.threshold.is_some()).collect();
    assert_eq!(fired.len(), 1, "{:?}", thresholds(&alerts));
    assert_eq!(
        fired[0].title,
        "Many Denied AWS API Calls From One Principal"
    );
    assert_eq!(fired[0].severity, "high");
    assert_eq!(
        fired[0].principal.as_deref(),
        Some("arn:aws:iam::123456789012:user/mallory")
    );
}

#[test]
fn threshold_examples_run_through_the_rules_and_name_the_one_that_fails() {
    let builtin = RuleSet::load(&RuleConfig::default()).expect("rules load");
    let burst = &builtin.correlations().thresholds()[0];
    assert_eq!(burst.meta.id, BUILTIN_BURST);
    let positives = burst.examples.iter().filter(|e| e.expect_match).count();
    assert!(positives >= 1 && burst.examples.len() > positives);
    assert!(builtin.check_threshold_examples().is_empty());

    // Ten denials cannot reach 20: an example that says they do fails,
    // named by file, rule and example.
    let mut wrong = BURST.to_string();
    wrong.push_str(
        "custom_attributes:
  rsigma.exemplars:
    - name: ten is not twenty
      expect: match
      events:
",
    );
    for i in 0..10 {
        wrong.push_str(&format!(
            "        - offset: {i}s
          event: {{eventSource: s3.amazonaws.com, eventName: GetObject, errorCode: AccessDenied, userIdentity: {{arn: 'arn:aws:iam::1:user/a'}}}}
"
        ));
    }
    let failures = rules_with(&wrong).check_threshold_examples();
    let shown: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["test/burst.yml (11111111-2222-4333-8444-555555555555): example \"ten is not twenty\" should match but did not"]
    );
}

#[test]
fn a_threshold_example_without_offsets_is_a_load_error_naming_the_file() {
    let bad = format!(
        "{BURST}custom_attributes:\n  rsigma.exemplars:\n    - name: single\n      expect: match\n      event: {{errorCode: AccessDenied}}\n"
    );
    let err = RuleSet::load(&RuleConfig {
        texts: vec![("test/burst.yml".to_string(), bad)],
        ..RuleConfig::default()
    })
    .err()
    .expect("refused")
    .to_string();
    assert!(err.starts_with("test/burst.yml: "), "{err}");
    assert!(err.contains("events"), "{err}");
}
