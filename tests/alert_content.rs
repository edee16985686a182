//! An alert never loses its content: a record that matched a rule but holds
//! a value that cannot be parsed in a field no rule read (a number beyond
//! f64, nesting past the limit, a duplicate key deep inside) is shown with
//! every field that can be read, names what could not be parsed and why,
//! and carries the record's text. Built through the real scan path: the
//! log scanned with the built-in pack, the finding turned into an alert.

mod common;

use std::path::Path;

use serde_json::Value;
use trailwatch::alert::message::{sns_message, MESSAGE_BUDGET};
use trailwatch::alert::Alert;

const LOG_OBJECT: &str = "s3://trailwatch-test-logs/AWSLogs/123456789012/CloudTrail/us-east-1/\
    2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0820Z_x.json.gz";

/// The golden Lambda Invoke record's text (compact, as CloudTrail writes
/// it) with `extra` added as the last top-level field, its value as given.
fn record_with(extra: &str) -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/lambda-invoke.record.json");
    let text = std::fs::read_to_string(&path).expect("the golden record");
    let record: Value = serde_json::from_str(&text).expect("the golden record is JSON");
    let compact = serde_json::to_string(&record).expect("JSON");
    let body = compact.strip_suffix('}').expect("an object");
    format!("{body},\"extra\":{extra}}}")
}

/// The Invoke alert the built-in pack raises for the record `text`.
fn invoke_alert(text: &str) -> Alert {
    common::alerts::invoke_alert(text, LOG_OBJECT)
}

fn deep(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// What cannot be parsed, and the reason a reader is told.
fn unreadable() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "a number beyond f64",
            "1e400".to_string(),
            "number out of range",
        ),
        (
            "nesting past the limit",
            deep(120),
            "nested deeper than 100 levels",
        ),
        (
            "a duplicate key deep inside",
            r#"{"a":{"b":{"c":1,"c":2}}}"#.to_string(),
            "duplicate key \"c\"",
        ),
    ]
}

#[test]
fn an_alert_shows_every_field_it_can_read_and_names_what_it_cannot() {
    for (case, extra, reason) in unreadable() {
        let text = record_with(&extra);
        let alert = invoke_alert(&text);

        // The fields the rule matched on are there, and the sentence says
        // what happened, then what could not be read.
        assert_eq!(alert.event_name.as_deref(), Some("Invoke"), "{case}");
        assert_eq!(alert.source_ip.as_deref(), Some("203.0.113.45"), "{case}");
        assert!(alert.user_agent.is_some(), "{case}");
        let summary = alert.summary();
        assert!(
            summary.starts_with(
                "arn:aws:iam::123456789012:user/alice (IAMUser) called lambda:Invoke on \
                 arn:aws:lambda:us-east-1:123456789012:function:trailwatch in us-east-1 \
                 from 203.0.113.45 at 2026-11-23T08:16:21Z"
            ),
            "{case}: {summary}"
        );
        assert!(
            summary.ends_with("; its field extra could not be parsed."),
            "{case}: {summary}"
        );

        // The email: the fields, what was not parsed and why, the text.
        let email = alert.text();
        for line in [
            "What:        Invoke on lambda.amazonaws.com\n",
            "Source IP:   203.0.113.45\n",
            "User agent:  aws-cli/",
        ] {
            assert!(email.contains(line), "{case}: {line:?} in\n{email}");
        }
        let not_parsed = "Not parsed:  extra: ";
        let at = email
            .find(not_parsed)
            .unwrap_or_else(|| panic!("{case}: no {not_parsed:?} in\n{email}"));
        let line = email[at..].lines().next().unwrap_or_default();
        assert!(line.contains(reason), "{case}: {line}");
        assert!(
            email.contains(&format!(
                "\nRecord text (as the log object has it; not all of it could be parsed):\n{text}\n"
            )),
            "{case}: the record's text in\n{email}"
        );
        let raw = email.split("\nRaw event:\n").nth(1).unwrap_or_default();
        assert!(raw.contains("\"eventName\": \"Invoke\""), "{case}: {raw}");

        // The document: the same fields, `unparsed`, and the text as a string.
        let doc: Value = serde_json::from_str(&alert.json()).expect("the document is JSON");
        assert_eq!(doc["event_name"], "Invoke", "{case}");
        assert_eq!(doc["source_ip"], "203.0.113.45", "{case}");
        assert_eq!(doc["unparsed"][0]["field"], "extra", "{case}: {doc}");
        let said = doc["unparsed"][0]["reason"].as_str().unwrap_or_default();
        assert!(said.contains(reason), "{case}: {said}");
        assert_eq!(doc["unparsed"].as_array().map(Vec::len), Some(1), "{case}");
        assert_eq!(doc["event"]["eventName"], "Invoke", "{case}");
        assert!(doc["event"].get("extra").is_none(), "{case}");
        assert_eq!(doc["event_text"], text.as_str(), "{case}");
    }
}

#[test]
fn a_record_that_parses_carries_no_text_and_no_unparsed() {
    let alert = invoke_alert(&record_with("{\"fine\":1}"));
    let doc: Value = serde_json::from_str(&alert.json()).expect("JSON");
    assert!(doc.get("unparsed").is_none(), "{doc}");
    assert!(doc.get("event_text").is_none(), "{doc}");
    assert_eq!(doc["event"]["extra"]["fine"], 1);
    let email = alert.text();
    assert!(!email.contains("Not parsed:"), "{email}");
    assert!(!email.contains("Record text"), "{email}");
}

/// A large record with an unparsable value still fits one SNS message: the
/// record's text is cut like the raw event, with a note, never dropped
/// silently, and the fields and what was not parsed are whole.
#[test]
fn the_record_text_is_cut_to_fit_the_message() {
    let padding = format!("\"{}\"", "p".repeat(300 * 1024));
    let text = record_with(&format!("[{padding},1e400]"));
    let alert = invoke_alert(&text);
    let message = sns_message(&alert);
    assert!(message.size() <= MESSAGE_BUDGET, "{}", message.size());
    let body: Value = serde_json::from_str(&message.message).expect("the body is JSON");
    let email = body["email"].as_str().unwrap_or_default();
    assert!(email.contains("Not parsed:  extra: "), "{email}");
    assert!(email.contains("[record text truncated: "), "{email}");
    let doc: Value =
        serde_json::from_str(body["default"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(doc["unparsed"][0]["field"], "extra");
    assert_eq!(doc["event_name"], "Invoke");
    let cut = &doc["event_text_truncated"];
    assert_eq!(cut["bytes"].as_u64(), Some(text.len() as u64), "{doc}");
    let excerpt = cut["excerpt"].as_str().unwrap_or_default();
    assert!(!excerpt.is_empty() && text.starts_with(excerpt));
}
