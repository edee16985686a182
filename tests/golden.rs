//! How an alert reads, kept true: a realistic alert (a Lambda Invoke by an
//! IAM user, through the built-in pack and the real scan path) is rendered
//! as SNS sends it, subject, email and JSON document, and compared with the
//! golden files in tests/data/golden/; the README's "Alert examples" show
//! the same text, so they cannot drift either. So is its chat message
//! (`alert::chat`).
//!
//! After a deliberate change to the rendering, regenerate the golden files
//! and the README's examples with
//!
//! ```text
//! TRAILWATCH_BLESS=1 cargo test --test golden
//! ```
//!
//! and review the diff.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;
use trailwatch::alert::{Alert, Occurrences};

/// Where the record came from, as the Lambda names it (events/objects.tsv).
const LOG_OBJECT: &str = "s3://trailwatch-test-logs/AWSLogs/123456789012/CloudTrail/us-east-1/\
    2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0820Z_Lm34No56Pq78Rs90.json.gz";

const README_SECTION: &str = "## Alert examples";

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn golden_path(name: &str) -> PathBuf {
    path("tests/data/golden").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blessing() -> bool {
    std::env::var_os("TRAILWATCH_BLESS").is_some_and(|v| v == "1")
}

/// The alert the built-in pack raises for the golden record, built as the
/// Lambda builds it: the log scanned, the finding turned into an alert.
fn invoke_alert() -> Alert {
    let record: Value = serde_json::from_str(&read(&golden_path("lambda-invoke.record.json")))
        .expect("the golden record is JSON");
    // Compact, as CloudTrail writes it.
    common::alerts::invoke_alert(&record.to_string(), LOG_OBJECT)
}

/// The same alert standing for 37 findings of the rule by this principal.
fn grouped_alert() -> Alert {
    let mut alert = invoke_alert();
    let first = alert.event_id.clone().unwrap_or_default();
    let mut event_ids = vec![first];
    event_ids.extend((1..10).map(|i| format!("7c0d{i:04}-2f4e-4b8a-9d61-3e5f7a9b1c2d")));
    alert.occurrences = Some(Occurrences {
        count: 37,
        first_time: alert.event_time.clone(),
        last_time: Some("2026-11-23T09:42:57Z".to_string()),
        event_ids,
        sessions: None,
    });
    alert
}

/// The email as a subscriber gets it: the subject, a blank line, the body.
fn email_of(alert: &Alert) -> String {
    format!("Subject: {}\n\n{}", alert.subject(), alert.text())
}

/// The JSON document, pretty-printed for reading (SNS sends it on one
/// line; the fields and their order are the same).
fn json_of(alert: &Alert) -> String {
    let document = alert.json();
    assert!(!document.contains('\n'), "the document is one line");
    let value: Value = serde_json::from_str(&document).expect("the document is JSON");
    let pretty = serde_json::to_string_pretty(&value).expect("pretty JSON");
    format!("{pretty}\n")
}

/// The chat message (`CHAT_TOPIC_ARN`), pretty-printed for reading (SNS
/// sends it on one line).
fn chat_of(alert: &Alert) -> String {
    let value: Value = serde_json::from_str(&alert.chat_json()).expect("the chat message is JSON");
    let pretty = serde_json::to_string_pretty(&value).expect("pretty JSON");
    format!("{pretty}\n")
}

/// Compares `actual` with the golden file `name`, or rewrites it.
fn check(name: &str, actual: &str) {
    let file = golden_path(name);
    if blessing() {
        std::fs::write(&file, actual).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        return;
    }
    let expected = read(&file);
    assert!(
        expected == actual,
        "{name} differs from the rendering; if the change is intended, run \
         `TRAILWATCH_BLESS=1 cargo test --test golden` and review the diff.\n\
         --- golden\n{expected}\n--- rendered\n{actual}"
    );
}

#[test]
fn the_invoke_alert_reads_as_the_golden_files() {
    let alert = invoke_alert();
    check("alert-email.txt", &email_of(&alert));
    check("alert.json", &json_of(&alert));
}

#[test]
fn the_grouped_alert_reads_as_the_golden_files() {
    let alert = grouped_alert();
    check("alert-grouped-email.txt", &email_of(&alert));
    check("alert-grouped.json", &json_of(&alert));
}

#[test]
fn the_chat_messages_read_as_the_golden_files() {
    check("alert-chat.json", &chat_of(&invoke_alert()));
    check("alert-grouped-chat.json", &chat_of(&grouped_alert()));
}

#[test]
fn the_golden_email_is_what_a_person_should_read() {
    // The facts the issue asks for, whatever the wording around them.
    let email = email_of(&invoke_alert());
    for fact in [
        "Subject: [HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services \u{2014} user/alice\n",
        "arn:aws:iam::123456789012:user/alice (IAMUser) called lambda:Invoke on ",
        "Who:         arn:aws:iam::123456789012:user/alice (IAMUser)\n",
        "Access key:  AKIAR7EXAMPLEALICE01\n",
        "Parameters:  functionName: arn:aws:lambda:us-east-1:123456789012:function:trailwatch\n",
        "Where:       us-east-1\n",
        "When (UTC):  2026-11-23T08:16:21Z\n",
        &format!("Log object:  {LOG_OBJECT}\n"),
        "\nWhy it matters:\n",
        "\nRule: d8eac153-4cf8-47ee-a449-f038d53ddb97 (builtin/lambda_invoked_not_by_s3.yml) by trailwatch\n",
        "\nRaw event:\n{\n  \"eventVersion\": \"1.09\",\n",
    ] {
        assert!(email.contains(fact), "{fact:?} in\n{email}");
    }
}

/// The README's "Alert examples" section: from its heading to the next
/// heading of the same level.
fn readme_section(readme: &str) -> Option<(usize, usize)> {
    let start = readme.find(&format!("\n{README_SECTION}\n"))? + 1;
    let end = readme[start + README_SECTION.len()..]
        .find("\n## ")
        .map_or(readme.len(), |at| start + README_SECTION.len() + at + 1);
    Some((start, end))
}

/// The fenced block between `<!-- golden:NAME -->` and `<!-- /golden:NAME -->`.
fn block(name: &str, language: &str, text: &str) -> (String, String, String) {
    (
        format!("<!-- golden:{name} -->\n"),
        format!("```{language}\n{text}```\n"),
        format!("<!-- /golden:{name} -->"),
    )
}

/// The README with the golden text put between the markers of its
/// section, or why that cannot be done.
fn bless_readme(readme: &str, blocks: &[(String, String, String)]) -> Result<String, String> {
    let (start, end) = readme_section(readme).ok_or("no \"## Alert examples\" section")?;
    let mut section = readme[start..end].to_string();
    for (open, body, close) in blocks {
        let from = section.find(open.as_str()).ok_or(format!("no {open:?}"))? + open.len();
        let to = from
            + section[from..]
                .find(close.as_str())
                .ok_or(format!("no {close:?}"))?;
        section.replace_range(from..to, body);
    }
    Ok(format!("{}{section}{}", &readme[..start], &readme[end..]))
}

#[test]
fn the_readme_shows_the_golden_email_and_json() {
    let alert = invoke_alert();
    let blocks = [
        block("email", "text", &email_of(&alert)),
        block("json", "json", &json_of(&alert)),
        block("chat", "json", &chat_of(&alert)),
    ];
    let readme_path = path("README.md");
    let readme = read(&readme_path);
    if blessing() {
        let blessed = bless_readme(&readme, &blocks).unwrap_or_else(|e| panic!("README.md: {e}"));
        if blessed != readme {
            std::fs::write(&readme_path, blessed).expect("README.md written");
        }
        return;
    }
    let (start, end) = readme_section(&readme).expect("README.md has \"## Alert examples\"");
    let section = &readme[start..end];
    for (open, body, close) in &blocks {
        let whole = format!("{open}{body}{close}");
        assert!(
            section.contains(&whole),
            "README.md's \"Alert examples\" do not show the rendering between {open:?} and \
             {close:?}; run `TRAILWATCH_BLESS=1 cargo test --test golden` and review the diff"
        );
    }
}
