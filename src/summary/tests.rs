use std::io::Cursor;

use super::*;
use crate::pipeline::{scan, scan_observed, Limits};
use crate::record::{HeadReader, IdentityRead};
use crate::rules::{RuleConfig, RuleSet};

fn rules() -> RuleSet {
    RuleSet::load(&RuleConfig::default()).expect("built-in rules load")
}

/// A record by `who` (an ARN; `issuer`, the session issuer's), with
/// `extra` top-level members.
fn record(who: &str, issuer: Option<&str>, name: &str, extra: &str) -> String {
    let session = issuer.map_or(String::new(), |arn| {
        format!(r#","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"{arn}"}}}}"#)
    });
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"AssumedRole","arn":"{who}","accessKeyId":"ASIAEXAMPLE"{session}}},"eventTime":"2024-03-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"cli"{extra}}}"#
    )
}

/// Counts each record into a summary from its head, as the scan shows it.
fn summarize_records(records: &[String], max_principals: usize) -> Summary {
    let mut summary = Summary::new(max_principals);
    let mut reader = HeadReader::default();
    for text in records {
        let head = reader
            .read(text.as_bytes(), None, IdentityRead::TypeAndArn)
            .expect("a record");
        summary.record(&head);
    }
    summary
}

#[test]
fn two_sessions_of_one_role_are_one_row() {
    let role = "arn:aws:iam::111122223333:role/deploy";
    let records = [
        record(
            "arn:aws:sts::111122223333:assumed-role/deploy/alice",
            Some(role),
            "ListUsers",
            r#","readOnly":true"#,
        ),
        record(
            "arn:aws:sts::111122223333:assumed-role/deploy/bob",
            Some(role),
            "ListUsers",
            r#","readOnly":true"#,
        ),
    ];
    let rows = summarize_records(&records, 10).into_rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.principal.as_deref(), Some(role));
    assert_eq!(row.principal_type.as_deref(), Some("AssumedRole"));
    assert_eq!(row.events, 2);
    assert_eq!(row.sessions.kept(), ["alice", "bob"]);
    assert_eq!(row.access_keys.kept(), ["ASIAEXAMPLE"]);
    assert_eq!(row.regions.kept(), ["us-east-1"]);
    assert_eq!(row.source_ips.kept(), ["192.0.2.1"]);
    assert_eq!(row.sensitive, Calls::default(), "reads are not sensitive");
}

#[test]
fn first_and_last_are_the_earliest_and_latest_event_times() {
    let user = "arn:aws:iam::1:user/u";
    let at = |time: &str| record(user, None, "ListUsers", "").replace("2024-03-01T10:00:00Z", time);
    let records = [
        at("2024-03-02T00:00:00Z"),
        at("2024-03-01T00:00:00Z"),
        at("2024-03-03T00:00:00Z"),
    ];
    let rows = summarize_records(&records, 10).into_rows();
    assert_eq!(rows[0].first_time.as_deref(), Some("2024-03-01T00:00:00Z"));
    assert_eq!(rows[0].last_time.as_deref(), Some("2024-03-03T00:00:00Z"));
}

#[test]
fn sensitive_calls_are_split_into_failed_and_succeeded() {
    let user = "arn:aws:iam::1:user/u";
    let records = [
        record(user, None, "CreateAccessKey", r#","readOnly":false"#),
        record(
            user,
            None,
            "CreateAccessKey",
            r#","readOnly":false,"errorCode":"AccessDenied""#,
        ),
        // A high-value read, though CloudTrail calls it read-only.
        record(user, None, "GetSecretValue", r#","readOnly":true"#),
        // No readOnly: the verb decides.
        record(user, None, "DeleteTrail", r#","errorCode":"AccessDenied""#),
        // Neither.
        record(user, None, "DescribeTrails", r#","readOnly":true"#),
        record(user, None, "ListUsers", ""),
        // Read-only by CloudTrail's word, whatever the verb.
        record(user, None, "CreateToken", r#","readOnly":true"#),
    ];
    let rows = summarize_records(&records, 10).into_rows();
    let row = &rows[0];
    assert_eq!(row.events, 7);
    assert_eq!(
        row.sensitive,
        Calls {
            succeeded: 2,
            failed: 2
        }
    );
    let apis: Vec<(&str, u64, u64)> = row
        .apis
        .iter()
        .map(|(api, calls)| (api.as_str(), calls.succeeded, calls.failed))
        .collect();
    assert_eq!(
        apis,
        [
            ("iam:CreateAccessKey", 1, 1),
            ("iam:DeleteTrail", 0, 1),
            ("iam:GetSecretValue", 1, 0)
        ]
    );
}

#[test]
fn the_sensitive_list_is_what_the_docs_say() {
    assert!(is_sensitive("ConsoleLogin", Some(false)));
    assert!(is_sensitive("StopLogging", None));
    assert!(is_sensitive("PutBucketPolicy", None));
    assert!(is_sensitive("Decrypt", Some(true)));
    assert!(!is_sensitive("Decrypt2", Some(true)));
    assert!(!is_sensitive("GetObject", Some(true)));
    assert!(!is_sensitive("Settle", None), "a verb must end a word");
    assert!(!is_sensitive("DescribeInstances", None));
}

#[test]
fn principals_past_the_cap_share_one_row_and_values_are_capped() {
    let records: Vec<String> = (0..10)
        .flat_map(|n| {
            let user = format!("arn:aws:iam::1:user/u{n}");
            [
                record(&user, None, "ListUsers", ""),
                record(&user, None, "ListUsers", ""),
            ]
        })
        .chain((0..150).map(|n| {
            record("arn:aws:iam::1:user/u0", None, "ListUsers", "")
                .replace("192.0.2.1", &format!("10.0.0.{n}"))
        }))
        .collect();
    let summary = summarize_records(&records, 3);
    assert_eq!(summary.principals(), 3);
    let rows = summary.into_rows();
    assert_eq!(rows.len(), 4, "three principals and the others");
    let u0 = &rows[0];
    assert_eq!(u0.principal.as_deref(), Some("arn:aws:iam::1:user/u0"));
    assert_eq!(u0.events, 152);
    assert_eq!(u0.source_ips.count(), MAX_COUNTED);
    assert!(u0.source_ips.more());
    assert_eq!(u0.source_ips.kept().len(), MAX_KEPT);
    assert_eq!(u0.source_ips.shown_count(), "100+");
    let other = rows.last().expect("the other principals' row");
    assert_eq!(other.principal, None);
    assert_eq!((other.others, other.events), (7, 14));
    let events: u64 = rows.iter().map(|row| row.events).sum();
    assert_eq!(events, records.len() as u64, "every record counted once");
}

#[test]
fn a_long_value_is_cut_to_show_but_counted_whole() {
    let user = "arn:aws:iam::1:user/u";
    let long = "é".repeat(MAX_VALUE_BYTES);
    let records = [
        record(user, None, "ListUsers", "").replace("\"cli\"", &format!("\"{long}1\"")),
        record(user, None, "ListUsers", "").replace("\"cli\"", &format!("\"{long}2\"")),
    ];
    let rows = summarize_records(&records, 10).into_rows();
    assert_eq!(rows[0].user_agents.count(), 2);
    assert!(rows[0]
        .user_agents
        .kept()
        .iter()
        .all(|kept| kept.len() == MAX_VALUE_BYTES));
    // A crafted principal longer than any ARN: its row is named by the
    // first bytes.
    let huge = format!("arn:aws:iam::1:user/{}", "x".repeat(10_000));
    let rows = summarize_records(&[record(&huge, None, "ListUsers", "")], 10).into_rows();
    assert_eq!(
        rows[0].principal.as_ref().map(String::len),
        Some(MAX_PRINCIPAL_BYTES)
    );
}

/// The alert's actor: the sessions' role or issuer where it grouped
/// several, the session issuer for one session, else its principal.
pub(super) fn actor_of(alert: &crate::alert::Alert) -> String {
    let folded = alert
        .occurrences
        .as_ref()
        .and_then(|o| o.sessions.as_ref())
        .map(|sessions| sessions.actor.clone());
    let principal = alert.principal.clone().unwrap_or_default();
    let session = principal.contains(":assumed-role/") || principal.contains(":federated-user/");
    folded
        .or_else(|| alert.session_issuer.clone().filter(|_| session))
        .unwrap_or(principal)
}

/// (actor, rule id) of each alert `scan` makes of `log`, grouped as it
/// groups them by default, and the findings in each.
fn scan_pairs(log: &[u8], rules: &RuleSet) -> BTreeMap<(String, String), u64> {
    let mut grouper = crate::alert::group::Grouper::new(None);
    scan(
        Cursor::new(log.to_vec()),
        "log",
        rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            grouper.add(finding, 0);
            true
        },
    );
    let mut pairs = BTreeMap::new();
    for closed in grouper.into_closed() {
        let alert = match closed {
            crate::alert::group::Closed::One { finding, .. } => finding.alert(),
            crate::alert::group::Closed::Several(grouped) => grouped.alert,
        };
        let count = alert.occurrences.as_ref().map_or(1, |o| o.count);
        let previous = pairs.insert((actor_of(&alert), alert.rule_id.clone()), count);
        assert_eq!(previous, None, "one alert per rule and actor");
    }
    pairs
}

#[test]
fn the_alerts_column_holds_what_scan_finds() {
    let spec = crate::generate::Spec {
        records: 3000,
        seed: 5,
        match_per_mille: 50,
    };
    let mut log = Vec::new();
    crate::generate::write_log_by(&spec, crate::generate::Callers::Crowd(40), &mut log)
        .expect("generated");
    let rules = rules();
    let mut summary = Summary::default();
    let cell = std::cell::RefCell::new(&mut summary);
    let report = scan_observed(
        Cursor::new(log.clone()),
        "log",
        &rules,
        &mut rules.correlations().correlator(),
        Limits {
            threads: 2,
            ..Limits::default()
        },
        &mut |head| cell.borrow_mut().record(head),
        |finding| {
            cell.borrow_mut().finding(&finding);
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(summary.unplaced_findings, 0);
    let rows = summary.into_rows();
    assert_eq!(rows.iter().map(|row| row.events).sum::<u64>(), 3000);
    let mut found = BTreeMap::new();
    for row in &rows {
        for (rule, count) in &row.alerts {
            let principal = row.principal.clone().unwrap_or_default();
            found.insert((principal, rule.clone()), count.findings);
        }
    }
    let expected = scan_pairs(&log, &rules);
    assert!(expected.len() > 40, "{} pairs", expected.len());
    assert_eq!(found, expected);
}

#[test]
fn csv_cells_are_quoted_and_formulas_disarmed() {
    assert_eq!(csv_cell("plain"), r#""plain""#);
    assert_eq!(csv_cell(r#"say "hi", then"#), r#""say ""hi"", then""#);
    assert_eq!(csv_cell("=HYPERLINK(\"x\")"), r#""'=HYPERLINK(""x"")""#);
    for armed in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
        assert!(csv_cell(armed).starts_with("\"'"), "{armed:?}");
    }
    assert_eq!(csv_cell("a\nb"), "\"a\nb\"");
}

#[test]
fn the_table_escapes_what_a_terminal_would_obey() {
    let user = "arn:aws:iam::1:user/\u{1b}[31mred";
    let records = [
        record(&user.replace('\u{1b}', "\\u001b"), None, "ListUsers", "")
            .replace("192.0.2.1", "\\u001b]0;title\\u0007"),
    ];
    let rows = summarize_records(&records, 10).into_rows();
    assert_eq!(rows[0].principal.as_deref(), Some(user));
    let mut out = Vec::new();
    write_table(&mut out, &rows).expect("written");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(text.contains(r"user/\u001b[31mred"), "{text}");
}

/// Records naming no principal have a row of their own, last, and the
/// findings on them are counted there.
#[test]
fn records_naming_no_principal_share_a_row() {
    let log = concat!(
        r#"{"Records":["#,
        r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction","readOnly":false},"#,
        r#"{"eventTime":"2024-03-01T11:00:00Z","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u"}}"#,
        r#"]}"#,
    );
    let rules = rules();
    let mut summary = Summary::default();
    let cell = std::cell::RefCell::new(&mut summary);
    let report = scan_observed(
        Cursor::new(log.as_bytes().to_vec()),
        "log",
        &rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        &mut |head| cell.borrow_mut().record(head),
        |finding| {
            cell.borrow_mut().finding(&finding);
            true
        },
    );
    assert_eq!(report.alerts, 2);
    let rows = summary.into_rows();
    let shown: Vec<(Option<&str>, u64, u64)> = rows
        .iter()
        .map(|row| (row.principal.as_deref(), row.events, row.findings()))
        .collect();
    assert_eq!(shown, [(Some("arn:aws:iam::1:user/u"), 1, 1), (None, 1, 1)]);
    assert_eq!(rows[1].sensitive.succeeded, 1);
}
