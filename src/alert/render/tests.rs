use super::*;
use crate::alert::fixtures::{event, rule};
use crate::alert::{HeldBackRule, Occurrences};
use serde_json::{json, Value};
use std::sync::Arc;

const HOSTILE_AGENT: &str = "evil\r\nBcc: x\u{1b}[2J\u{202e}gnp.exe";

/// The event with attacker-chosen text in every free-form field.
fn hostile_event() -> Value {
    let mut event = event();
    event["userAgent"] = json!(HOSTILE_AGENT);
    event["errorMessage"] = json!("denied\n\nFrom: it@example.com\u{2028}\u{85}x");
    event["requestParameters"] = json!({
        "functionName": "f\r\nSubject: pwned",
        "key\n\u{1b}]0;title\u{7}": ["\u{202e}fdp.exe", {"deep\u{2029}": "\u{200b}"}],
    });
    event
}

fn alert(event: Value) -> Alert {
    Alert::new(&rule(), event, "s3://b/k")
}

fn with_title(title: &str, event: Value) -> Alert {
    let mut meta = (*rule()).clone();
    meta.title = title.to_string();
    Alert::new(&Arc::new(meta), event, "s")
}

/// The email's raw event section, parsed.
fn raw_section(email: &str) -> Value {
    let (_, raw) = email
        .split_once("\nRaw event:\n")
        .expect("raw event section");
    serde_json::from_str(raw).expect("the raw event is JSON")
}

#[test]
fn subject_names_level_title_and_principal() {
    assert_eq!(
        alert(event()).subject(),
        "[HIGH] Lambda function invoked by a principal other than S3 \u{2014} user/alice"
    );
}

#[test]
fn subjects_are_printable_one_line_and_under_100_characters() {
    // 7 + 84 ASCII characters, then multibyte ones across the cut at 99.
    let long = format!("{}日本語é日本語é日本語", "x".repeat(84));
    let cut = format!("[HIGH] {}日本語é日本語é", "x".repeat(84));
    let cases: Vec<(String, Value, &str)> = vec![
        (long, event(), &cut),
        (
            "Tab\there — é".into(),
            event(),
            "[HIGH] Tab here — é \u{2014} user/alice",
        ),
        (
            "Bidi \u{202e}txt.exe\u{200b}".into(),
            event(),
            "[HIGH] Bidi txt.exe \u{2014} user/alice",
        ),
        (
            "t".into(),
            json!({"userIdentity": {"arn": "arn:aws:sts::1:assumed-role/Deploy/s\r\n\u{1b}[31mx\u{202e}y"}}),
            "[HIGH] t \u{2014} assumed-role/Deploy/s [31mxy",
        ),
        ("t".into(), json!({}), "[HIGH] t"),
        (
            "Title".into(),
            json!({"userIdentity": {"type": "AWSService", "invokedBy": "events.amazonaws.com"}}),
            "[HIGH] Title \u{2014} events.amazonaws.com",
        ),
    ];
    for (title, event, want) in cases {
        let subject = with_title(&title, event).subject();
        assert_eq!(subject, want);
        assert!(subject.chars().count() <= MAX_SUBJECT_CHARS, "{subject}");
        assert!(!subject.chars().any(|c| c.is_control()), "{subject:?}");
    }
    // A space at the cut is not left at the end.
    let spaced = with_title(&format!("{} y", "x".repeat(91)), json!({})).subject();
    assert_eq!(spaced, format!("[HIGH] {}", "x".repeat(91)));
}

#[test]
fn short_principals() {
    let cases = [
        ("arn:aws:iam::1:user/alice", "user/alice"),
        (
            "arn:aws:sts::1:assumed-role/Deploy/session",
            "assumed-role/Deploy/session",
        ),
        ("arn:aws:iam::1:root", "root"),
        ("arn:broken", "arn:broken"),
        ("s3.amazonaws.com", "s3.amazonaws.com"),
    ];
    for (principal, want) in cases {
        assert_eq!(short_principal(principal), want);
    }
}

#[test]
fn summaries_say_what_happened_in_one_sentence() {
    assert_eq!(
        alert(event()).summary(),
        "arn:aws:iam::123456789012:user/alice (IAMUser) called lambda:Invoke on \
         arn:aws:lambda:us-east-1:123456789012:function:f in us-east-1 from 203.0.113.7 \
         at 2026-11-23T08:15:02Z; it failed with AccessDenied."
    );
    let service = json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
        "userIdentity": {"type": "AWSService", "invokedBy": "events.amazonaws.com"}});
    assert_eq!(
        alert(service).summary(),
        "events.amazonaws.com (AWSService) called lambda:Invoke."
    );
    let role = json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/s",
        "invokedBy": "athena.amazonaws.com"}, "resources": [{"ARN": "a"}, {"ARN": "b"}, {"ARN": "c"}]});
    assert_eq!(
        alert(role).summary(),
        "arn:aws:sts::1:assumed-role/r/s (AssumedRole) called s3:GetObject on a and 2 more \
         resources through athena.amazonaws.com."
    );
    assert_eq!(
        alert(json!({})).summary(),
        "An unknown caller called an API."
    );
    assert_eq!(
        Alert::integrity("s3://b/k", "not-gzip", "bad header").summary(),
        "The log object s3://b/k (not-gzip) cannot be read, so none of its records were \
         checked: bad header."
    );
}

#[test]
fn email_reads_top_to_bottom_in_aligned_groups() {
    let text = alert(event()).text();
    let order = [
        "[HIGH] Lambda function invoked by a principal other than S3\n\n",
        "arn:aws:iam::123456789012:user/alice (IAMUser) called lambda:Invoke on ",
        "\n\nWho:         arn:aws:iam::123456789012:user/alice (IAMUser)\n",
        "Account:     123456789012\n",
        "Access key:  AKIAEXAMPLE\n\n",
        "What:        Invoke on lambda.amazonaws.com\n",
        "Parameters:  functionName: f\n",
        "             invocationType: RequestResponse\n",
        "Error:       AccessDenied: not allowed\n\n",
        "Where:       us-east-1\n",
        "Source IP:   203.0.113.7\n",
        "User agent:  aws-cli/2.22.5\n\n",
        "When (UTC):  2026-11-23T08:15:02Z\n\n",
        "Resource:    arn:aws:lambda:us-east-1:123456789012:function:f\n",
        "Event ID:    e-1\n",
        "Log object:  s3://b/k\n",
        "\nWhy it matters:\nWhy.\nSecond line of why.\n",
        "\nWhat to check (known false positives):\n  - Tests\n",
        "\nReferences:\n  - https://example.com\n",
        "\nRule: rule-1 (builtin/x.yml) by Jane Doe\n",
        "\nRaw event:\n{\n",
    ];
    let mut at = 0;
    for want in order {
        let found = text[at..]
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} after byte {at} in\n{text}"));
        at += found + want.len();
    }
    assert!(!text.contains("\n\n\n"), "{text}");
    assert_eq!(raw_section(&text), event());
}

#[test]
fn hostile_fields_cannot_break_the_email() {
    let email = alert(hostile_event()).text();
    for bad in [
        '\u{1b}', '\u{202e}', '\r', '\u{7}', '\u{85}', '\u{2028}', '\u{2029}', '\u{200b}',
    ] {
        assert!(!email.contains(bad), "{bad:?} in\n{email}");
    }
    // Same layout, line for line, as the benign alert.
    let benign = alert(event()).text();
    let head = |text: &str| -> usize {
        let (head, _) = text.split_once("\nRaw event:\n").expect("raw event");
        head.lines().count()
    };
    assert_eq!(
        head(&email),
        head(&benign) + 1,
        "one more parameter line:\n{email}"
    );
    for line in email.lines() {
        for forged in ["Bcc:", "From:", "Subject:"] {
            assert!(!line.starts_with(forged), "{line:?} in\n{email}");
        }
    }
    assert!(
        email.contains("User agent:  evil\\r\\nBcc: x\\u001b[2J\\u202egnp.exe\n"),
        "{email}"
    );
    assert!(email
        .contains("Error:       AccessDenied: denied\\n\\nFrom: it@example.com\\u2028\\u0085x\n"));
    assert!(email.contains("Parameters:  functionName: f\\r\\nSubject: pwned\n"));
    assert!(email.contains("             key\\n\\u001b]0;title\\u0007[0]: \\u202efdp.exe\n"));
    assert!(email.contains("             key\\n\\u001b]0;title\\u0007[1].deep\\u2029: \\u200b\n"));
    assert_eq!(raw_section(&email), hostile_event());
}

#[test]
fn raw_event_escapes_what_serde_leaves_and_stays_the_same_json() {
    let event = json!({"a": "del\u{7f} csi\u{9b} ls\u{2028} lrm\u{200e} zw\u{feff} é"});
    let email = alert(event.clone()).text();
    assert!(
        email.contains(r#""a": "del\u007f csi\u009b ls\u2028 lrm\u200e zw\ufeff é""#),
        "{email}"
    );
    assert_eq!(raw_section(&email), event);
}

#[test]
fn the_document_is_faithful() {
    let doc: Value = serde_json::from_str(&alert(hostile_event()).json()).expect("JSON");
    assert_eq!(doc["user_agent"], HOSTILE_AGENT);
    assert_eq!(doc["event"], hostile_event());
    assert_eq!(doc["error_message"], hostile_event()["errorMessage"]);
    assert!(doc["summary"]
        .as_str()
        .is_some_and(|s| s.contains("it failed with AccessDenied")));
}

#[test]
fn the_document_has_the_documented_fields_on_one_line() {
    let json = alert(event()).json();
    assert!(!json.contains('\n'));
    let doc: Value = serde_json::from_str(&json).expect("valid JSON");
    for field in [
        "alert_id",
        "rule_id",
        "title",
        "severity",
        "summary",
        "description",
        "event_id",
        "event_source",
        "event_name",
        "event_time",
        "principal",
        "principal_type",
        "access_key_id",
        "account",
        "region",
        "source_ip",
        "user_agent",
        "error_code",
        "error_message",
        "resources",
        "source",
        "falsepositives",
        "references",
        "rule_author",
        "event",
    ] {
        assert!(
            doc.get(field).is_some_and(|v| !v.is_null()),
            "{field} in {doc}"
        );
    }
    for absent in [
        "event_truncated",
        "threshold",
        "occurrences",
        "held_back",
        "userAgent",
    ] {
        assert!(doc.get(absent).is_none(), "{absent} in {doc}");
    }
    let keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys[..5],
        ["alert_id", "rule_id", "title", "severity", "summary"]
    );
    assert_eq!(doc["event"], event());
}

/// A record of more than 300 KB (one huge request parameter).
fn huge_event() -> Value {
    let mut event = event();
    event["requestParameters"] = json!({"policy": "é".repeat(150_001)});
    event
}

#[test]
fn emails_cut_only_the_raw_event_and_say_so() {
    let whole = alert(huge_event()).text();
    assert!(whole.len() > 300_000 && !whole.contains("[raw event truncated"));
    let limit = 64 * 1024 + 1; // lands inside a two-byte character
    let email = alert(huge_event()).email(limit);
    let (head, raw) = email.split_once("\nRaw event:\n").expect("raw event");
    let (shown, note) = raw
        .rsplit_once('\n')
        .map(|(r, _)| r)
        .and_then(|r| r.rsplit_once('\n'))
        .expect("note");
    assert!(
        shown.len() <= limit && shown.len() >= limit - 1,
        "{}",
        shown.len()
    );
    let pretty = json_text(&serde_json::to_string_pretty(&huge_event()).expect("json"));
    assert!(pretty.starts_with(shown));
    assert_eq!(
        note,
        format!(
            "[raw event truncated: {} of its {} bytes are shown; read the whole record in the log object s3://b/k]",
            shown.len(),
            pretty.len()
        )
    );
    // The rest of the email is whole; the parameter line is cut to 200
    // characters with an ellipsis.
    assert!(whole.starts_with(head));
    assert!(head.contains(&format!("Parameters:  policy: {}…\n", "é".repeat(200))));
    assert!(email.len() < limit + 4096, "{}", email.len());
}

#[test]
fn documents_drop_a_long_event_for_an_excerpt() {
    let compact = serde_json::to_string(&huge_event()).expect("json");
    let limit = 64 * 1024 + 1;
    let json = alert(huge_event()).document(limit);
    assert!(
        !json.contains('\n') && json.len() < limit + 4096,
        "{}",
        json.len()
    );
    let doc: Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(doc["event"], Value::Null);
    assert_eq!(doc["event_truncated"]["bytes"], compact.len());
    let excerpt = doc["event_truncated"]["excerpt"].as_str().expect("excerpt");
    assert!(excerpt.len() <= limit && excerpt.len() >= limit - 1);
    assert!(compact.starts_with(excerpt));
    assert_eq!(doc["rule_id"], "rule-1");
    // At the limit exactly, nothing is cut.
    let exact: Value =
        serde_json::from_str(&alert(huge_event()).document(compact.len())).expect("JSON");
    assert_eq!(exact["event"], huge_event());
    assert!(exact.get("event_truncated").is_none());
    let whole: Value = serde_json::from_str(&alert(huge_event()).json()).expect("JSON");
    assert_eq!(whole["event"], huge_event());
}

#[test]
fn parameters_are_flattened_capped_and_skipped_when_absent() {
    let many: serde_json::Map<String, Value> =
        (0..15).map(|i| (format!("k{i:02}"), json!(i))).collect();
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!(null), vec![]),
        (
            json!({"a": {"b": [1, {"c": true}], "e": {}, "f": []}, "g": null}),
            vec![
                "a.b[0]: 1".into(),
                "a.b[1].c: true".into(),
                "a.e: {}".into(),
                "a.f: []".into(),
                "g: null".into(),
            ],
        ),
        (json!("scalar"), vec!["scalar".into()]),
        (
            Value::Object(many),
            (0..12)
                .map(|i| format!("k{i:02}: {i}"))
                .chain(["(3 more in the raw event)".to_string()])
                .collect(),
        ),
    ];
    for (params, want) in cases {
        assert_eq!(parameter_lines(&params), want, "{params}");
    }
    let mut absent = event();
    absent
        .as_object_mut()
        .expect("object")
        .remove("requestParameters");
    assert!(!alert(absent).text().contains("Parameters:"));
    let mut null = event();
    null["requestParameters"] = Value::Null;
    assert!(!alert(null).text().contains("Parameters:"));
}

#[test]
fn grouped_findings_say_how_many_when_and_which() {
    let mut grouped = alert(event());
    grouped.occurrences = Some(Occurrences {
        count: 37,
        first_time: Some("2026-11-23T08:15:02Z".into()),
        last_time: Some("2026-11-23T09:40:11Z".into()),
        event_ids: (1..=10).map(|i| format!("e-{i}")).collect(),
        sessions: None,
    });
    let text = grouped.text();
    let want = "When (UTC):  2026-11-23T08:15:02Z\n\
                Seen:        37 times between 2026-11-23T08:15:02Z and 2026-11-23T09:40:11Z\n\
                Event IDs:   e-1\n             e-2\n";
    assert!(text.contains(want), "{text}");
    assert!(
        text.contains("             e-10\n             (the first 10 of 37)\n"),
        "{text}"
    );
    assert!(grouped
        .summary()
        .ends_with("; seen 37 times between 2026-11-23T08:15:02Z and 2026-11-23T09:40:11Z."));
    let doc: Value = serde_json::from_str(&grouped.json()).expect("JSON");
    assert_eq!(doc["occurrences"]["count"], 37);
    // All listed: no "first N".
    grouped.occurrences = Some(Occurrences {
        count: 2,
        event_ids: vec!["a".into(), "b".into()],
        ..Default::default()
    });
    let text = grouped.text();
    assert!(
        text.contains("Seen:        2 times\nEvent IDs:   a\n             b\n\n"),
        "{text}"
    );
}

#[test]
fn held_back_summaries_list_the_rules_and_what_to_do() {
    let mut summary = alert(json!({}));
    summary.held_back = Some(HeldBack {
        alerts: 120,
        findings: 450,
        cap: 100,
        rules: vec![
            HeldBackRule {
                rule_id: "r-1".into(),
                title: "Noisy\nrule".into(),
                severity: "high",
                alerts: 80,
                findings: 300,
            },
            HeldBackRule {
                rule_id: "r-2".into(),
                title: "Other".into(),
                severity: "informational",
                alerts: 40,
                findings: 150,
            },
        ],
        ..HeldBack::default()
    });
    let text = summary.text();
    let want = "\n\nHeld back:   120 alerts (450 findings); the cap is 100 alerts per invocation\n\
        \x20   alerts  findings  level          rule\n\
        \x20       80       300  high           Noisy\\nrule (r-1)\n\
        \x20       40       150  informational  Other (r-2)\n\
        What to do:  raise MAX_ALERTS_PER_INVOCATION, or read the log objects of this invocation\n\
        \x20            with `trailwatch scan` to see every finding.\n";
    assert!(text.contains(want), "{text}");
    assert_eq!(
        summary.summary(),
        "120 alerts (450 findings) of 2 rules were not sent: the invocation reached its cap of 100 alerts."
    );
    let doc: Value = serde_json::from_str(&summary.json()).expect("JSON");
    assert_eq!(doc["held_back"]["rules"][1]["findings"], 150);
}

/// An operator rescans what was held back: the summary names its log
/// objects (the first ones, then how many more).
#[test]
fn held_back_summaries_name_the_log_objects_to_rescan() {
    let mut summary = alert(json!({}));
    let held = |objects: &[&str], count: u64, more: bool| HeldBack {
        alerts: 3,
        findings: 9,
        cap: 2,
        rules: Vec::new(),
        objects: objects.iter().map(|o| o.to_string()).collect(),
        object_count: count,
        more_objects: more,
    };
    summary.held_back = Some(held(&["s3://b/AWSLogs/1.json.gz"], 1, false));
    let text = summary.text();
    assert!(
        text.contains(
            "with `trailwatch scan` to see every finding.\nLog objects: s3://b/AWSLogs/1.json.gz\n"
        ),
        "{text}"
    );
    assert_eq!(
        summary.summary(),
        "3 alerts (9 findings) of 0 rules in 1 log object were not sent: the invocation reached its cap of 2 alerts."
    );
    let doc: Value = serde_json::from_str(&summary.json()).expect("JSON");
    assert_eq!(
        doc["held_back"]["objects"],
        json!(["s3://b/AWSLogs/1.json.gz"])
    );
    assert_eq!(doc["held_back"]["object_count"], 1);

    summary.held_back = Some(held(&["s3://b/a\nb", "s3://b/c"], 25, false));
    let text = summary.text();
    assert!(
        text.contains(
            "Log objects: s3://b/a\\nb\n             s3://b/c\n             ... and 23 more (25 in all)\n"
        ),
        "{text}"
    );
    assert!(
        summary.summary().contains(" in 25 log objects "),
        "{}",
        summary.summary()
    );

    summary.held_back = Some(held(&["s3://b/c"], 10_000, true));
    assert!(summary
        .text()
        .contains("... and 9999+ more (10000+ in all)"));
    assert!(summary.summary().contains(" in 10000+ log objects "));
}

#[test]
fn multi_line_rule_texts_keep_their_lines_made_safe() {
    let mut meta = (*rule()).clone();
    meta.description = "One.\r\nTwo \u{1b}[1m.\n".into();
    meta.falsepositives = vec!["first\nsecond".into()];
    let text = Alert::new(&Arc::new(meta), event(), "s").text();
    assert!(
        text.contains("\nWhy it matters:\nOne.\nTwo \\u001b[1m.\n\n"),
        "{text}"
    );
    assert!(text.contains("  - first\n    second\n"), "{text}");
}

#[test]
fn alert_ids_are_stable_per_rule_and_event() {
    let a = Alert::new(&rule(), event(), "s3://b/k");
    let b = Alert::new(&rule(), event(), "elsewhere");
    assert_eq!(a.alert_id, b.alert_id);
    let mut other = (*rule()).clone();
    other.id = "rule-2".into();
    assert_ne!(
        a.alert_id,
        Alert::new(&Arc::new(other), event(), "s").alert_id
    );
}

/// A finding's document is written from the record borrowed from its
/// text: the record is not parsed into a `Value` for it, and the document
/// is the alert's.
#[test]
fn a_findings_document_leaves_its_record_unparsed() {
    let text = serde_json::to_string(&event()).expect("JSON");
    let record = Arc::new(crate::alert::Record::from_text(
        &text,
        crate::record::Brief::default(),
        Arc::from("s3://b/k"),
    ));
    let finding = crate::alert::Finding::new(&rule(), &record);
    let mut texts = RuleTexts::default();
    let mut first = Vec::new();
    finding.write_document(&mut first, usize::MAX, Some(&mut texts));
    let mut again = Vec::new();
    finding.write_document(&mut again, usize::MAX, Some(&mut texts));
    assert!(record.event.get().is_none(), "the record was parsed");
    assert_eq!(first, again);
    assert_eq!(
        String::from_utf8(first).expect("UTF-8"),
        finding.alert().json()
    );
    assert!(record.event.get().is_some());
}

#[test]
fn attack_tags_read_as_technique_names_and_tactics() {
    let mut meta = (*rule()).clone();
    meta.tags = [
        "attack.persistence",
        "attack.privilege-escalation",
        "attack.t1078.004",
        "attack.t1098",
        "attack.t1999",
        "attack.s0002",
    ]
    .map(String::from)
    .to_vec();
    let tagged = Alert::new(&Arc::new(meta), event(), "s3://b/k");
    let email = tagged.text();
    assert!(
        email.contains(
            "\nATT&CK:      T1078.004 Valid Accounts: Cloud Accounts\n\
             \x20            T1098 Account Manipulation\n\
             \x20            T1999\n\
             Tactics:     Persistence, Privilege Escalation\n"
        ),
        "{email}"
    );
    let document: Value = serde_json::from_str(&tagged.json()).expect("JSON");
    assert_eq!(
        document["attack"],
        json!({
            "tactics": [
                {"id": "TA0003", "name": "Persistence"},
                {"id": "TA0004", "name": "Privilege Escalation"}
            ],
            "techniques": [
                {"id": "T1078.004", "name": "Valid Accounts: Cloud Accounts"},
                {"id": "T1098", "name": "Account Manipulation"},
                {"id": "T1999", "name": null}
            ]
        })
    );
    // A rule without ATT&CK tags: neither the lines nor the field.
    let plain = alert(event());
    assert!(!plain.text().contains("ATT&CK"), "{}", plain.text());
    assert!(!plain.json().contains("\"attack\""), "{}", plain.json());
}

#[test]
fn a_named_account_reads_as_name_and_id() {
    let mut names = crate::alert::AccountNames::default();
    names.insert("123456789012", "prod-payments");
    let plain = alert(event());
    let named = names.named(&plain).expect("the account is named");
    // Name and id when they fit in the subject, the name alone when only
    // it does.
    let short = names
        .named(&with_title("Root login", event()))
        .expect("named");
    assert_eq!(
        short.subject(),
        "[HIGH] Root login \u{2014} user/alice in prod-payments (123456789012)"
    );
    assert_eq!(
        named.subject(),
        "[HIGH] Lambda function invoked by a principal other than S3 \u{2014} user/alice in prod-payments"
    );
    // A name from the file cannot break the subject or the email.
    let mut hostile = crate::alert::AccountNames::default();
    hostile.insert("123456789012", "prod\r\nBcc: x\u{202e}");
    let hostile = hostile.named(&plain).expect("named");
    assert!(!hostile.subject().chars().any(char::is_control));
    assert!(
        hostile
            .text()
            .contains("\nAccount:     prod\\r\\nBcc: x\\u202e (123456789012)\n"),
        "{}",
        hostile.text()
    );
    let email = named.text();
    assert!(
        email.contains("\nAccount:     prod-payments (123456789012)\n"),
        "{email}"
    );
    let document: Value = serde_json::from_str(&named.json()).expect("JSON");
    assert_eq!(document["account"], json!("123456789012"));
    assert_eq!(document["account_name"], json!("prod-payments"));
    // Unnamed: the id alone, and no account_name field.
    assert!(plain.text().contains("\nAccount:     123456789012\n"));
    assert!(!plain.json().contains("account_name"));
    assert!(names.named(&named).is_none(), "named already");
}
