//! Account names (`ACCOUNT_NAMES`, `trailwatch scan --account-names`):
//! from a file on the command line, and from S3 (moto) in what the
//! function publishes; a names file that cannot be read never stops the
//! function, but stops a scan that was given it.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{notification, unique, Stack};
use serde_json::Value;
use trailwatch::sink::sns::SnsSink;
use trailwatch::source::account_names::NamesAt;

/// The golden Lambda Invoke record: account 123456789012, raises the
/// built-in Invoke rule (ATT&CK T1648).
fn record() -> String {
    common::repo()
        .join("tests/data/golden/lambda-invoke.record.json")
        .display()
        .to_string()
}

fn scan(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .arg("scan")
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run trailwatch")
}

#[test]
fn a_names_file_names_the_account_in_the_email_and_the_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = dir.path().join("accounts.yaml");
    std::fs::write(&yaml, "# ours\n123456789012: prod-payments\n").expect("write");
    let json = dir.path().join("accounts.json");
    std::fs::write(&json, "{\n\t\"123456789012\": \"prod-payments\"\n}\n").expect("write");
    for names in [&yaml, &json] {
        let names = names.display().to_string();
        let text = scan(&["--account-names", &names, &record()]);
        assert!(text.status.success(), "{text:?}");
        let email = String::from_utf8_lossy(&text.stdout);
        assert!(
            email.contains("\nAccount:     prod-payments (123456789012)\n"),
            "{email}"
        );
        let json = scan(&["--format", "json", "--account-names", &names, &record()]);
        assert!(json.status.success(), "{json:?}");
        let document: Value = serde_json::from_slice(&json.stdout).expect("one document");
        assert_eq!(document["account"], "123456789012");
        assert_eq!(document["account_name"], "prod-payments");
    }
    // Without names: the id alone, no account_name.
    let plain = scan(&["--format", "json", &record()]);
    let document: Value = serde_json::from_slice(&plain.stdout).expect("one document");
    assert_eq!(document["account"], "123456789012");
    assert_eq!(document.get("account_name"), None);
}

#[test]
fn a_bad_names_file_given_on_the_command_line_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("accounts.yaml");
    std::fs::write(&list, "- 123456789012\n").expect("write");
    let short = dir.path().join("short.json");
    std::fs::write(&short, "{\"1234\": \"prod\"}").expect("write");
    let missing = dir.path().join("missing.yaml");
    let cases = [
        (&list, "not a YAML map of account ids to names"),
        (&short, "\"1234\" is not a 12-digit AWS account id"),
        (&missing, "No such file or directory"),
    ];
    for (path, why) in cases {
        let output = scan(&["--account-names", &path.display().to_string(), &record()]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = format!("trailwatch: --account-names: {}: ", path.display());
        assert!(stderr.starts_with(&named), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            output.stdout.is_empty(),
            "no alert printed without the names asked for"
        );
    }
}

#[tokio::test]
async fn names_from_s3_name_the_account_in_what_the_function_publishes() {
    let stack = Stack::new(&unique("names")).await;
    stack.upload_sample_logs().await;
    stack
        .put(
            "config/accounts.yaml",
            b"123456789012: payments\n111122223333: other\n".to_vec(),
        )
        .await;
    let at = NamesAt::parse(&format!("s3://{}/config/accounts.yaml", stack.bucket)).expect("uri");
    let config = common::sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let names = at.load(Some(&s3)).await.expect("names from S3");
    assert_eq!(names.len(), 2);

    let mut handler = common::moto_handler(&stack).await;
    handler.sink = Arc::new(
        SnsSink::new(aws_sdk_sns::Client::new(&config), stack.topic_arn.clone())
            .with_account_names(Arc::new(names)),
    );
    handler
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect("invocation succeeds");
    let alerts = stack.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    // Name and id do not fit in 99 characters after this title: the name.
    assert_eq!(
        subject,
        "[HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services \u{2014} user/alice in payments"
    );
    assert_eq!(doc["account"], "123456789012");
    assert_eq!(doc["account_name"], "payments");
    assert_eq!(doc["attack"]["techniques"][0]["id"], "T1648");

    // An object that is not there: an error naming it.
    let gone = NamesAt::parse(&format!("s3://{}/config/gone.yaml", stack.bucket)).expect("uri");
    let err = gone.load(Some(&s3)).await.expect_err("no such object");
    assert!(
        err.to_string()
            .starts_with(&format!("s3://{}/config/gone.yaml: ", stack.bucket)),
        "{err}"
    );
}

/// Runs the binary as Lambda would start it; no runtime API listens, so a
/// function that got past loading stops at its first poll instead.
fn start_function(names: &str, topic: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("ALERT_TOPIC_ARN", topic)
        .env("ACCOUNT_NAMES", names)
        .env("AWS_ENDPOINT_URL", common::endpoint())
        .output()
        .expect("run the function");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn names_that_cannot_be_read_are_logged_and_the_function_starts() {
    let stack = Stack::new(&unique("names")).await;
    stack
        .put("accounts.yaml", b"123456789012: payments\n".to_vec())
        .await;
    let logs = start_function(
        &format!("s3://{}/accounts.yaml", stack.bucket),
        &stack.topic_arn,
    );
    assert!(logs.contains("\"account_names\":1"), "{logs}");
    assert!(logs.contains("\"message\":\"ready\""), "{logs}");

    stack.put("broken.yaml", b"- not: a map\n".to_vec()).await;
    for (uri, why) in [
        (format!("s3://{}/missing.yaml", stack.bucket), "NoSuchKey"),
        (
            format!("s3://{}/broken.yaml", stack.bucket),
            "not a YAML map of account ids to names",
        ),
    ] {
        let logs = start_function(&uri, &stack.topic_arn);
        let warning = logs
            .lines()
            .find(|line| line.contains("account names not loaded"))
            .unwrap_or_else(|| panic!("no warning: {logs}"));
        assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
        assert!(warning.contains(&uri) && warning.contains(why), "{warning}");
        assert!(logs.contains("\"account_names\":0"), "{logs}");
        assert!(logs.contains("\"message\":\"ready\""), "{logs}");
    }
}
