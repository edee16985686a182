//! Real CloudTrail records written by others (tests/data/README.md): every
//! one is read and evaluated, none lost, none crashes the decoder.

use std::io::Cursor;

use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .expect("corpus file")
}

#[test]
fn every_corpus_record_is_evaluated() {
    let text = String::from_utf8(data("corpus-records.jsonl")).expect("utf-8");
    let records: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(records.len(), 697);
    let log = format!("{{\"Records\":[{}]}}", records.join(","));
    let rules = RuleSet::load(&RuleConfig::default()).expect("rules");
    let mut alerts = 0u64;
    let report = scan(
        Cursor::new(log.into_bytes()),
        "corpus",
        &rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |_| {
            alerts += 1;
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.records, 697);
    assert_eq!(report.evaluated, 697);
    assert_eq!(report.alerts, alerts);
    // The corpus holds attack recordings: the pack finds them, and not
    // every record.
    assert!(alerts > 20 && alerts < 200, "{alerts} alerts");
}

/// The index only skips work: every (rule, record) pair that matches when
/// every rule is evaluated on every record also alerts through the index.
#[test]
fn the_rule_index_loses_no_match() {
    let text = String::from_utf8(data("corpus-records.jsonl")).expect("utf-8");
    let rules = RuleSet::load(&RuleConfig {
        dirs: vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/sigmahq")],
        ..RuleConfig::default()
    })
    .expect("rules");
    let mut brute_force = std::collections::BTreeSet::new();
    let mut records = Vec::new();
    for (line, record) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let mut event: serde_json::Value = serde_json::from_str(record).expect("json");
        event["eventID"] = serde_json::json!(format!("line-{line}"));
        records.push(event.to_string());
        trailwatch::record::normalize_event_name_in(&mut event);
        // Building blocks of thresholds (no `generate: true`) never alert on their own.
        for rule in rules
            .rules()
            .iter()
            .filter(|rule| rule.alerts && rule.matches(&event))
        {
            brute_force.insert((rule.meta.id.clone(), format!("line-{line}")));
        }
    }
    let log = format!("{{\"Records\":[{}]}}", records.join(","));
    let mut indexed = std::collections::BTreeSet::new();
    scan(
        Cursor::new(log.into_bytes()),
        "corpus",
        &rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            let alert = finding.alert();
            // Thresholds are not per-record matches: compared elsewhere.
            if alert.threshold.is_none() {
                indexed.insert((alert.rule_id, alert.event_id.unwrap_or_default()));
            }
            true
        },
    );
    assert!(brute_force.len() > 50, "{}", brute_force.len());
    assert_eq!(indexed, brute_force);
    let indexed_rules = rules
        .rules()
        .iter()
        .filter(|r| r.index_key.is_indexed())
        .count();
    assert!(
        indexed_rules * 10 >= rules.len() * 8,
        "{indexed_rules} of {} indexed",
        rules.len()
    );
}

#[test]
fn a_real_log_object_as_cloudtrail_wrote_it_is_read() {
    let name = "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz";
    let rules = RuleSet::load(&RuleConfig::default()).expect("rules");
    let report = scan(
        Cursor::new(data(name)),
        name,
        &rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |_| true,
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(report.records > 0);
    assert_eq!(report.records, report.evaluated);
}

/// The rules that read grants (trailwatch.public_grant and the other
/// derived fields) alert on exactly the corpus records that open a
/// resource to everyone or share it with an account: not on private ACLs,
/// conditioned "*" principals, a removed share or a redacted eventSource.
#[test]
fn the_grant_rules_alert_on_the_public_grants_of_the_corpus() {
    let text = String::from_utf8(data("corpus-records.jsonl")).expect("utf-8");
    let rules = RuleSet::load(&RuleConfig::default()).expect("rules");
    let expected: &[(&str, &[usize])] = &[
        // S3 Bucket Policy Or ACL Grants Public Access
        ("334bcf24-b445-48aa-80ba-7013425342fb", &[663, 675, 681]),
        // Resource Policy Grants Public Access (SQS, SNS, KMS, ...)
        (
            "488722b5-a224-4c29-9cd2-675f01627931",
            &[664, 665, 666, 667, 669, 670, 671, 672, 673, 674],
        ),
        // Lambda Function Or Layer Permission Granted To Everyone
        ("082c7a63-bae1-4339-a501-f6723add0e29", &[577]),
        // EBS Snapshot, AMI Or RDS Snapshot Made Public
        (
            "e450fd38-5802-48ba-bd35-e7dbb2bb75c2",
            &[654, 687, 688, 690],
        ),
        // EBS Snapshot, AMI Or RDS Snapshot Shared With Another AWS Account
        (
            "c5fd3fa6-2493-47bc-a7e4-aadfefea6bc6",
            &[541, 542, 543, 689],
        ),
    ];
    let records: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut event: serde_json::Value = serde_json::from_str(line).expect("json");
            trailwatch::record::normalize_event_name_in(&mut event);
            event
        })
        .collect();
    for (id, lines) in expected {
        let rule = rules
            .rules()
            .iter()
            .find(|rule| rule.meta.id == *id)
            .expect("a built-in rule");
        let matched: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, record)| rule.matches(record))
            .map(|(line, _)| line)
            .collect();
        assert_eq!(matched, *lines, "{}", rule.meta.title);
    }
}
