//! Alerts built as the Lambda builds them: a log scanned through the real
//! scan path with the built-in pack, each finding turned into an alert.

use std::io::Cursor;

use trailwatch::alert::Alert;
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

/// "Lambda Function Invoked By A Caller Other Than The Allowed Services".
pub const INVOKE_RULE_ID: &str = "d8eac153-4cf8-47ee-a449-f038d53ddb97";

/// The one Invoke alert the built-in pack raises for the record `text`,
/// read from the log object `source`.
pub fn invoke_alert(text: &str, source: &str) -> Alert {
    let mut invokes: Vec<Alert> = alerts_of(&[text], source)
        .into_iter()
        .filter(|a| a.rule_id == INVOKE_RULE_ID)
        .collect();
    assert_eq!(invokes.len(), 1, "one Invoke alert");
    invokes.remove(0)
}

/// Every alert the built-in pack raises, one per finding, on a log of the
/// records `texts` read from the log object `source`.
pub fn alerts_of(texts: &[&str], source: &str) -> Vec<Alert> {
    let log = format!("{{\"Records\":[{}]}}", texts.join(","));
    let rules = RuleSet::load(&RuleConfig::default()).expect("the built-in pack loads");
    let mut alerts = Vec::new();
    let report = scan(
        Cursor::new(log.into_bytes()),
        source,
        &rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            alerts.push(finding.alert());
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    alerts
}
