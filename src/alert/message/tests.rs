use super::*;
use crate::alert::fixtures::{event, rule};
use serde_json::{json, Value};

/// The two parts of the body: (default document, email text).
fn parts(message: &SnsMessage) -> (Value, String) {
    let body: Value = serde_json::from_str(&message.message).expect("body is JSON");
    let keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["default", "email"]);
    let document = body["default"].as_str().expect("default is a string");
    let document = serde_json::from_str(document).expect("default is a JSON document");
    let email = body["email"]
        .as_str()
        .expect("email is a string")
        .to_string();
    (document, email)
}

fn attribute<'a>(message: &'a SnsMessage, name: &str) -> Option<&'a str> {
    message
        .attributes
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_normal_alert_is_sent_whole() {
    let alert = Alert::new(&rule(), event(), "s3://b/k");
    let message = sns_message(&alert);
    assert_eq!(message.id, alert.alert_id);
    assert_eq!(message.subject, alert.subject());
    let (document, email) = parts(&message);
    assert_eq!(email, alert.text());
    assert_eq!(
        document,
        serde_json::from_str::<Value>(&alert.json()).unwrap()
    );
    assert_eq!(document["event"], event());
    assert!(!email.contains("[raw event truncated:"));
    assert_eq!(
        message.attributes,
        [
            ("severity", "high".to_string()),
            ("rule_id", "rule-1".to_string()),
            ("account", "123456789012".to_string()),
            ("region", "us-east-1".to_string()),
            ("event_source", "lambda.amazonaws.com".to_string()),
        ]
    );
    assert!(message.size() < 4096, "{}", message.size());
}

#[test]
fn size_counts_message_subject_and_attributes() {
    let message = SnsMessage {
        id: "a".into(),
        subject: "12345".into(),
        message: "1234567890".into(),
        attributes: vec![("region", "eu-west-1".into())],
    };
    assert_eq!(
        message.size(),
        10 + 5 + "region".len() + 6 + "eu-west-1".len()
    );
}

#[test]
fn a_huge_record_is_cut_to_fit_and_keeps_the_facts() {
    let mut record = event();
    record["requestParameters"] = json!({ "blob": "x".repeat(300 * 1024) });
    let alert = Alert::new(&rule(), record, "s3://b/k");
    let message = sns_message(&alert);
    assert!(message.size() <= MESSAGE_BUDGET, "{} bytes", message.size());
    assert!(message.message.len() + message.subject.len() <= SNS_MAX_BYTES);
    let (document, email) = parts(&message);
    assert_eq!(document["rule_id"], "rule-1");
    assert_eq!(document["alert_id"], alert.alert_id.as_str());
    assert_eq!(
        document["principal"],
        "arn:aws:iam::123456789012:user/alice"
    );
    assert!(
        email.starts_with("[HIGH] Lambda function invoked"),
        "{email:.200}"
    );
    assert!(email.contains("Rule: rule-1 (builtin/x.yml) by Jane Doe"));
    assert!(email.contains("\n[raw event truncated:"), "{email:.2000}");
    assert_eq!(document["event"], Value::Null);
    assert!(document["event_truncated"]["bytes"].as_u64() > Some(300 * 1024));
    // As much of the raw event as fits, not just a token excerpt.
    assert!(
        message.size() > MESSAGE_BUDGET * 3 / 4,
        "{}",
        message.size()
    );
    assert_eq!(message.attributes.len(), 5);
}

#[test]
fn a_record_of_escapes_is_measured_not_guessed() {
    // Quotes and control characters grow when escaped, twice over.
    let mut record = event();
    record["requestParameters"] = json!({ "q": "\"\u{1}\\".repeat(60 * 1024) });
    let alert = Alert::new(&rule(), record, "s3://b/k");
    let message = sns_message(&alert);
    assert!(message.size() <= MESSAGE_BUDGET, "{}", message.size());
    let (document, _) = parts(&message);
    assert_eq!(document["rule_id"], "rule-1");
}

#[test]
fn huge_title_and_description_are_cut_not_dropped() {
    let mut meta = (*rule()).clone();
    meta.title = "T".repeat(1024 * 1024);
    meta.description = "D".repeat(1024 * 1024);
    let mut record = event();
    record["userAgent"] = json!("u".repeat(200 * 1024));
    let alert = Alert::new(&Arc::new(meta), record, "s3://b/k");
    let message = sns_message(&alert);
    assert!(message.size() <= MESSAGE_BUDGET, "{}", message.size());
    let (document, email) = parts(&message);
    assert_eq!(document["rule_id"], "rule-1");
    assert_eq!(document["alert_id"], alert.alert_id.as_str());
    let description = document["description"].as_str().expect("description");
    assert!(description.starts_with("DDDD"), "{description:.100}");
    assert!(description.ends_with(CUT_NOTE), "{description:.100}");
    assert!(email.contains("[cut]") && email.contains(CUT_NOTE));
    assert_eq!(
        message.subject.chars().count(),
        super::super::MAX_SUBJECT_CHARS
    );
}

#[test]
fn every_field_huge_still_fits() {
    let big = "\u{1}\"é".repeat(40 * 1024);
    let mut meta = (*rule()).clone();
    meta.title = big.clone();
    meta.description = big.clone();
    meta.origin = big.clone();
    meta.author = Some(big.clone());
    meta.falsepositives = vec![big.clone(); 20];
    meta.references = vec![big.clone(); 20];
    meta.id = big.clone();
    // 20,000 distinct technique ids, unknown to the table.
    meta.tags = (0..20_000)
        .map(|i| format!("attack.t{:04}.{:03}", i / 1000, i % 1000))
        .collect();
    let record = json!({
        "eventID": big, "eventSource": big, "eventName": big, "eventTime": big,
        "awsRegion": big, "recipientAccountId": big, "sourceIPAddress": big,
        "userAgent": big, "errorCode": big, "errorMessage": big,
        "userIdentity": {"type": big, "arn": big, "accessKeyId": big, "invokedBy": big},
        "resources": vec![json!({"ARN": big}); 30],
    });
    let mut alert = Alert::new(&Arc::new(meta), record, &big);
    alert.account_name = Some(big.clone());
    let message = sns_message(&alert);
    assert!(message.size() <= MESSAGE_BUDGET, "{}", message.size());
    let (document, _) = parts(&message);
    assert!(document["rule_id"].as_str().is_some());
    assert!(message.id.len() <= MAX_ENTRY_ID_CHARS);
    for (name, value) in &message.attributes {
        assert!(
            !value.is_empty() && value.len() <= MAX_ATTRIBUTE_BYTES,
            "{name}"
        );
        assert!(!value.chars().any(char::is_control), "{name}: {value:?}");
    }
}

#[test]
fn attribute_values_are_never_empty() {
    let mut record = event();
    record["awsRegion"] = json!("");
    record["eventSource"] = json!(" \n\t ");
    record.as_object_mut().unwrap().remove("recipientAccountId");
    record["userIdentity"]
        .as_object_mut()
        .unwrap()
        .remove("accountId");
    let message = sns_message(&Alert::new(&rule(), record, "s3://b/k"));
    let names: Vec<&str> = message.attributes.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["severity", "rule_id"]);
    assert!(message.attributes.iter().all(|(_, v)| !v.is_empty()));
    assert_eq!(attribute(&message, "severity"), Some("high"));
}

#[test]
fn entry_ids_are_valid_batch_ids() {
    assert_eq!(entry_id("0123456789abcdef"), "0123456789abcdef");
    assert_eq!(entry_id("a b/c:é"), "a_b_c__");
    assert_eq!(entry_id(""), "alert");
    assert_eq!(entry_id(&"x".repeat(200)).len(), MAX_ENTRY_ID_CHARS);
}

#[test]
fn cut_text_keeps_characters_whole() {
    let mut text = "ééé".to_string();
    assert!(cut_text(&mut text, 3));
    assert_eq!(text, format!("é{CUT_MARK}"));
    let mut short = "abc".to_string();
    assert!(!cut_text(&mut short, 3));
    assert_eq!(short, "abc");
}
