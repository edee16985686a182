//! The views of `trailwatch scan` a person reads: one aligned line per
//! alert (coloured on request), CSV for a spreadsheet, and the results
//! summary on stderr.

use std::path::Path;
use std::process::{Command, Output};

fn trailwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("NO_COLOR");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run trailwatch");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

/// A log whose caller wrote what it liked where it could: a user name with
/// a terminal escape, a formula, commas, quotes and a newline, invoking a
/// function (the built-in rule fires on it).
fn hostile_log(dir: &Path) -> String {
    let user = "=HYPERLINK(\"http://evil\",\"x\"),\u{1b}[2J\u{1b}]0;owned\u{7}\"quoted\"\nnext";
    let record = serde_json::json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": format!("arn:aws:iam::123456789012:user/{user}"),
            "accountId": "123456789012",
            "userName": user
        },
        "eventTime": "2026-11-23T08:16:21Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "@203.0.113.45",
        "userAgent": "-1+1",
        "requestParameters": {"functionName": "f"},
        "eventID": "fb2e461e-0586-4804-a922-49e3cb69909c",
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012"
    });
    let path = dir.join("hostile.json");
    std::fs::write(&path, serde_json::json!({"Records": [record]}).to_string()).expect("write");
    path.to_str().expect("UTF-8 path").to_string()
}

#[test]
fn the_default_view_is_one_aligned_line_per_alert_under_a_header() {
    let output = trailwatch(&["scan", "events/logs"], &[]);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[0];
    assert!(header.starts_with("EVENT TIME"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour into a pipe: {text:?}");
    // One line per alert, as many as the JSON view's documents.
    let json = stdout(&trailwatch(
        &["scan", "--format", "json", "events/logs"],
        &[],
    ));
    assert_eq!(lines.len() - 1, json.lines().count(), "{text}");
    let invoke = lines
        .iter()
        .find(|line| line.contains("Lambda Function Invoked By"))
        .expect("the invoke alert");
    for (column, value) in [
        ("LEVEL", "HIGH"),
        ("PRINCIPAL", "user/alice"),
        ("ACCOUNT", "123456789012"),
        ("REGION", "us-east-1"),
    ] {
        // Columns are aligned in characters (a cut title ends in `…`).
        let at = header.find(column).expect("column");
        let shown: String = invoke
            .chars()
            .skip(at)
            .take(value.chars().count())
            .collect();
        assert_eq!(shown, value, "{column}: {invoke}");
    }
    assert!(invoke.starts_with("2026-11-23T08:16:21Z"), "{invoke}");
    assert!(invoke.ends_with(" 2"), "two invocations grouped: {invoke}");
}

#[test]
fn colour_is_on_when_asked_and_off_for_no_color() {
    let args = ["scan", "--color", "always", "events/logs"];
    let coloured = stdout(&trailwatch(&args, &[]));
    assert!(coloured.contains("\u{1b}[31mHIGH\u{1b}[0m"), "{coloured:?}");
    assert!(
        coloured.contains("\u{1b}[33mMEDIUM\u{1b}[0m"),
        "{coloured:?}"
    );
    // NO_COLOR turns `auto` off; `never` is never coloured.
    for (args, env) in [
        (
            ["scan", "--color", "auto", "events/logs"],
            [("NO_COLOR", "1")],
        ),
        (
            ["scan", "--color", "never", "events/logs"],
            [("NO_COLOR", "")],
        ),
    ] {
        assert!(!stdout(&trailwatch(&args, &env)).contains('\u{1b}'));
    }
}

#[test]
fn text_is_still_the_email_view() {
    let text = stdout(&trailwatch(
        &["scan", "--format", "text", "events/logs"],
        &[],
    ));
    let email = stdout(&trailwatch(
        &["scan", "--format", "email", "events/logs"],
        &[],
    ));
    assert_eq!(text, email);
    assert!(email.contains("Raw event:\n{"), "{email}");
}

#[test]
fn a_hostile_record_cannot_steer_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = hostile_log(dir.path());
    let output = trailwatch(&["scan", "--color", "always", &log], &[]);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "the header and one line: {text:?}");
    // The only escapes are the level's colour.
    let plain = lines[1].replace("\u{1b}[31m", "").replace("\u{1b}[0m", "");
    assert!(!plain.chars().any(char::is_control), "{plain:?}");
    assert!(plain.contains("user/=HYPERLINK"), "{plain}");
    // Nor the summary on stderr.
    let summary = stderr(&output);
    assert!(
        !summary
            .replace("\u{1b}[31m", "")
            .replace("\u{1b}[0m", "")
            .contains('\u{1b}'),
        "{summary:?}"
    );
}

#[test]
fn csv_quotes_what_a_record_holds_and_defuses_formulas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = hostile_log(dir.path());
    let output = trailwatch(&["scan", "--format", "csv", &log], &[]);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header[..6],
        [
            "first_time",
            "last_time",
            "level",
            "rule_id",
            "title",
            "principal"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV record")).collect();
    assert_eq!(rows.len(), 1);
    let field = |name: &str| {
        let at = header.iter().position(|h| h == name).expect(name);
        rows[0][at].to_string()
    };
    // The whole value comes back, quotes, commas and newline included: the
    // principal as a line shows it (`user/...`) does not start a formula,
    // the source IP (`@...`) would and is defused.
    let principal = field("principal");
    assert!(
        principal.starts_with("user/=HYPERLINK(\"http://evil\",\"x\"),"),
        "{principal:?}"
    );
    assert!(principal.ends_with("\"quoted\"\nnext"), "{principal:?}");
    assert_eq!(field("source_ip"), "'@203.0.113.45");
    assert_eq!(field("level"), "high");
    assert_eq!(field("count"), "1");
    // No alert: still the header, a table with no rows.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"Records":[]}"#).expect("write");
    let none = trailwatch(
        &["scan", "--format", "csv", empty.to_str().expect("path")],
        &[],
    );
    assert_eq!(stdout(&none).lines().count(), 1);
}

#[test]
fn the_summary_goes_to_stderr_unless_quiet() {
    let output = trailwatch(&["scan", "--format", "json", "events/logs"], &[]);
    let summary = stderr(&output);
    assert!(summary.contains("alert(s) from"), "{summary}");
    assert!(summary.contains("by level"), "{summary}");
    assert!(summary.contains("principals"), "{summary}");
    assert!(summary.contains("user/bob"), "{summary}");
    // stdout stays the documents alone.
    for line in stdout(&output).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a JSON document");
    }
    let quiet = stderr(&trailwatch(
        &["scan", "--quiet", "--format", "json", "events/logs"],
        &[],
    ));
    assert!(!quiet.contains("by level"), "{quiet}");
    assert!(quiet.contains("6 file(s)"), "the last line stays: {quiet}");
}
