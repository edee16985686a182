//! Real CloudTrail records written by others (tests/data/README.md): every
//! one is read and evaluated, none lost, none crashes the decoder.

use std::io::Cursor;

use trailwatch::logfile::Limits;
use trailwatch::pipeline::scan;
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

#[test]
fn a_real_log_object_as_cloudtrail_wrote_it_is_read() {
    let name = "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz";
    let rules = RuleSet::load(&RuleConfig::default()).expect("rules");
    let report = scan(
        Cursor::new(data(name)),
        name,
        &rules,
        Limits::default(),
        |_| true,
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(report.records > 0);
    assert_eq!(report.records, report.evaluated);
}
