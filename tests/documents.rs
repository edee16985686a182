//! The JSON document is written field by field (`Alert::write_document`,
//! and `Finding::write_document` from a record borrowed from its text,
//! each rule's texts written once): the bytes are the same as the
//! document built the way it was before, through a `serde_json::Value` of
//! the alert (`document_before` below, kept as the reference). Checked for
//! every finding of the corpus, the differential edge records and a
//! findings-heavy generated log, and for alerts with a truncated event,
//! the record's text, a threshold, occurrences and the held-back summary.

mod common;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use trailwatch::alert::group::{Closed, Grouper};
use trailwatch::alert::{
    AccountNames, Alert, Finding, Occurrences, Record, RuleTexts, Sessions, Threshold,
};
use trailwatch::generate::{write_log_by, Callers, Spec};
use trailwatch::pipeline::{scan, Limits};
use trailwatch::record::Brief;
use trailwatch::rules::{Level, RuleConfig, RuleMeta, RuleSet};

/// `Alert::document` as it was written until the document was written
/// field by field: the alert made a `Value`, `summary` put after
/// `severity`, a cut event's and record text's excerpts after `event`.
fn document_before(alert: &Alert, raw_limit: usize) -> String {
    let event = serde_json::to_string(alert.event.as_ref()).unwrap_or_default();
    let truncated = event.len() > raw_limit;
    let text = alert.event_text.as_deref().unwrap_or_default();
    let text_truncated = text.len() > raw_limit;
    let fields = if truncated || text_truncated {
        let mut shell = alert.clone();
        if truncated {
            shell.event = Arc::new(Value::Null);
        }
        if text_truncated {
            shell.event_text = None;
        }
        serde_json::to_value(&shell)
    } else {
        serde_json::to_value(alert)
    };
    let Ok(Value::Object(fields)) = fields else {
        return "{}".to_string();
    };
    let mut doc = Map::with_capacity(fields.len() + 2);
    for (key, value) in fields {
        let after_severity = key == "severity";
        let after_event = key == "event";
        doc.insert(key, value);
        if after_severity {
            doc.insert("summary".to_string(), Value::String(alert.summary()));
        }
        if after_event && truncated {
            let excerpt = cut_bytes(&event, raw_limit);
            let cut = json!({ "bytes": event.len(), "excerpt": excerpt });
            doc.insert("event_truncated".to_string(), cut);
        }
        if after_event && text_truncated {
            let excerpt = cut_bytes(text, raw_limit);
            let cut = json!({ "bytes": text.len(), "excerpt": excerpt });
            doc.insert("event_text_truncated".to_string(), cut);
        }
    }
    serde_json::to_string(&doc).unwrap_or_else(|_| "{}".to_string())
}

fn cut_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const LIMITS: [usize; 5] = [usize::MAX, 4096, 300, 7, 0];

/// The alert's document at every limit, written alone and with a cache of
/// rule texts, against the reference.
fn assert_same(alert: &Alert, texts: &mut RuleTexts) {
    for limit in LIMITS {
        let want = document_before(alert, limit);
        assert_eq!(alert.document(limit), want, "limit {limit}");
        let mut out = b"before".to_vec();
        alert.write_document(&mut out, limit, Some(texts));
        assert_eq!(out, [b"before".as_slice(), want.as_bytes()].concat());
    }
    assert_eq!(alert.json(), document_before(alert, usize::MAX));
}

/// Every finding's document written from the record borrowed from its
/// text, before any alert parses the record, then against the reference.
/// With the accounts of `names()` named, too.
fn assert_findings(findings: &[Finding], texts: &mut RuleTexts) -> usize {
    let names = names();
    let written: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = findings
        .iter()
        .map(|finding| {
            let mut alone = Vec::new();
            finding.write_document(&mut alone, usize::MAX, None);
            let mut cached = Vec::new();
            finding.write_document(&mut cached, usize::MAX, Some(texts));
            let mut named = Vec::new();
            finding.write_named_document(&mut named, usize::MAX, Some(texts), &names);
            (alone, cached, named)
        })
        .collect();
    let mut was_named = 0;
    for (finding, (alone, cached, named)) in findings.iter().zip(&written) {
        let alert = finding.alert();
        let want = document_before(&alert, usize::MAX);
        assert_eq!(String::from_utf8_lossy(alone), want);
        assert_eq!(String::from_utf8_lossy(cached), want);
        let named_alert = names.named(&alert).unwrap_or(alert);
        was_named += usize::from(named_alert.account_name.is_some());
        assert_eq!(
            String::from_utf8_lossy(named),
            document_before(&named_alert, usize::MAX)
        );
    }
    assert!(was_named > 0 || findings.is_empty(), "no account named");
    findings.len()
}

/// Names for the accounts the corpus and the generated logs use most.
fn names() -> AccountNames {
    let mut names = AccountNames::default();
    names.insert("111122223333", "prod-payments");
    names.insert("123456789012", "sandbox \"quoted\"\n");
    names.insert("056392974792", "flaws");
    names
}

fn rules(sigmahq: bool) -> RuleSet {
    let mut config = RuleConfig::default();
    if sigmahq {
        config
            .dirs
            .push(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/sigmahq"));
    }
    RuleSet::load(&config).expect("the rules load")
}

/// Every finding of `log` with `rules`.
fn findings_of(log: Vec<u8>, rules: &RuleSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    let report = scan(
        Cursor::new(log),
        "s3://bucket/AWSLogs/log.json.gz",
        rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            findings.push(finding);
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    findings
}

fn lines(relative: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn rule() -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: "rule-\u{1f}1".into(),
        title: "A \"quoted\" title — é".into(),
        level: Level::High,
        description: "Why.\nSecond line\twith a tab, a \\ and \u{7}.".into(),
        falsepositives: vec!["Tests".into(), "😀 \u{2028}".into()],
        references: vec!["https://example.com/?a=1&b=<2>".into()],
        tags: vec![],
        author: None,
        origin: "tests/documents.rs".into(),
    })
}

#[test]
fn every_corpus_and_edge_record_writes_the_same_document() {
    let rule = rule();
    let mut texts = RuleTexts::default();
    let mut records = lines("tests/data/corpus-records.jsonl");
    records.extend(lines("tests/data/differential/edge-records.jsonl"));
    let findings: Vec<Finding> = records
        .iter()
        .map(|text| {
            let record = Record::from_text(text, Brief::default(), Arc::from("s3://b/k"));
            Finding::new(&rule, &Arc::new(record))
        })
        .collect();
    assert_eq!(assert_findings(&findings, &mut texts), 744);
}

#[test]
fn every_finding_of_the_corpus_scanned_writes_the_same_document() {
    let rules = rules(true);
    let log = format!("[{}]", lines("tests/data/corpus-records.jsonl").join(","));
    let findings = findings_of(log.into_bytes(), &rules);
    let mut texts = RuleTexts::default();
    let checked = assert_findings(&findings, &mut texts);
    assert!(checked > 100, "{checked} findings");
}

#[test]
fn every_finding_of_a_findings_heavy_log_writes_the_same_document() {
    let spec = Spec {
        records: 3_000,
        seed: 5,
        match_per_mille: 800,
    };
    let mut log = Vec::new();
    write_log_by(&spec, Callers::Crowd(500), &mut log).expect("generated");
    let rules = rules(true);
    let findings = findings_of(log, &rules);
    let mut texts = RuleTexts::default();
    assert!(assert_findings(&findings, &mut texts) > 2_400);
    // The grouped alerts of the same findings, with occurrences and
    // sessions, and the held-back summary past a cap.
    for cap in [None, Some(20)] {
        let mut grouper = Grouper::new(cap);
        for finding in &findings {
            grouper.add(finding.clone(), 0);
        }
        let alerts: Vec<Alert> = grouper.finish().into_iter().map(|g| g.alert).collect();
        assert!(alerts.iter().any(|a| a.occurrences.is_some()));
        assert_eq!(cap.is_some(), alerts.iter().any(|a| a.held_back.is_some()));
        for alert in &alerts {
            assert_same(alert, &mut texts);
        }
        // What the command line prints: a group of one written from its
        // finding, the same bytes, in the same order.
        let build = || {
            let mut grouper = Grouper::new(cap);
            for finding in &findings {
                grouper.add(finding.clone(), 0);
            }
            grouper
        };
        let built: Vec<String> = build().into_alerts().map(|g| g.alert.json()).collect();
        let mut ones = 0;
        let lean: Vec<String> = build()
            .into_closed()
            .map(|closed| match closed {
                Closed::One { finding, .. } => {
                    ones += 1;
                    let mut line = Vec::new();
                    finding.write_document(&mut line, usize::MAX, Some(&mut texts));
                    String::from_utf8(line).expect("UTF-8")
                }
                Closed::Several(grouped) => grouped.alert.json(),
            })
            .collect();
        assert!(ones > 0, "no group of one");
        assert_eq!(lean, built);
    }
}

#[test]
fn a_truncated_event_a_record_text_a_threshold_and_a_held_back_alert() {
    let mut texts = RuleTexts::default();
    // A record with a field that cannot be parsed: `unparsed` and the
    // record's text (`event_text`), cut at the smaller limits.
    let text = r#"{"eventID":"e-1","eventTime":"2026-11-23T08:15:02Z","eventSource":"lambda.amazonaws.com","eventName":"Invoke","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/é\"x"},"resources":[{"ARN":"arn:1"},{"arn":"arn:2"},{"ARN":3}],"extra":1e400}"#;
    let record = Arc::new(Record::from_text(text, Brief::default(), Arc::from("f")));
    let finding = Finding::new(&rule(), &record);
    let alert = finding.alert();
    assert!(!alert.unparsed.is_empty() && alert.event_text.is_some());
    assert_same(&alert, &mut texts);
    let mut written = Vec::new();
    finding.write_document(&mut written, usize::MAX, Some(&mut texts));
    assert_eq!(String::from_utf8_lossy(&written), alert.json());

    // A threshold, occurrences with sessions, a rule without an author.
    let record = Arc::new(Record::from_text(
        &text.replace(",\"extra\":1e400", ""),
        Brief::default(),
        Arc::from("f"),
    ));
    let mut alert = Finding::new(&rule(), &record).alert();
    assert!(alert.unparsed.is_empty());
    alert.threshold = Some(Threshold {
        count: 12,
        window_secs: 300,
        group: vec![("userIdentity.arn".into(), "arn:aws:iam::1:user/é\"x".into())],
    });
    alert.occurrences = Some(Occurrences {
        count: 3,
        first_time: Some("2026-11-23T08:15:02Z".into()),
        last_time: None,
        event_ids: vec!["e-1".into(), "e\n2".into()],
        sessions: Some(Sessions {
            actor: "arn:aws:iam::1:role/r".into(),
            count: 10_000,
            more: true,
            names: vec!["s1".into()],
        }),
    });
    assert_same(&alert, &mut texts);

    // Texts that are no longer the rule's (as an alert cut to fit an SNS
    // message has): written as the alert has them, not from the cache.
    alert.description.push_str(" [cut]");
    alert.references.clear();
    alert.rule_author = Some("someone".into());
    assert_same(&alert, &mut texts);

    // The integrity alert, its summary read from its event.
    assert_same(
        &Alert::integrity("s3://b/k", "not-gzip", "bad \"header\""),
        &mut texts,
    );

    // A held-back summary: a cap of 1, three actors.
    let mut grouper = Grouper::new(Some(1));
    for who in ["a", "b", "c"] {
        let event =
            json!({"eventID": who, "userIdentity": {"arn": format!("arn:aws:iam::1:user/{who}")}});
        let record = Arc::new(Record::new(
            event,
            Arc::from(format!("s3://b/{who}").as_str()),
        ));
        grouper.add(Finding::new(&rule(), &record), 0);
    }
    let alerts: Vec<Alert> = grouper.finish().into_iter().map(|g| g.alert).collect();
    assert!(alerts.last().is_some_and(|a| a.held_back.is_some()));
    for alert in &alerts {
        assert_same(alert, &mut texts);
    }
}
