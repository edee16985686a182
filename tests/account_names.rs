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
        let text = scan(&["--format", "email", "--account-names", &names, &record()]);
        assert!(text.status.success(), "{text:?}");
        let email = String::from_utf8_lossy(&text.stdout);
        assert!(
            email.contains("\nAccount:     prod-payments (123456789012)\n"),
            "{email}"
        );
        // The terminal's line: the name and the id in the account column.
        let line = scan(&["--account-names", &names, &record()]);
        let lines = String::from_utf8_lossy(&line.stdout);
        assert!(
            lines.contains("  prod-payments (123456789012)  "),
            "{lines}"
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

    // AWS Organizations not answering: logged, and the file's names kept.
    let output = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("ALERT_TOPIC_ARN", &stack.topic_arn)
        .env(
            "ACCOUNT_NAMES",
            format!("s3://{}/accounts.yaml", stack.bucket),
        )
        .env("ACCOUNT_NAMES_FROM_ORGANIZATIONS", "true")
        .env("AWS_ENDPOINT_URL", common::endpoint())
        .env("AWS_ENDPOINT_URL_ORGANIZATIONS", "http://127.0.0.1:9")
        .output()
        .expect("run the function");
    let logs = String::from_utf8_lossy(&output.stdout);
    let warning = logs
        .lines()
        .find(|line| line.contains("account names not loaded (AWS Organizations)"))
        .unwrap_or_else(|| panic!("no warning: {logs}"));
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
    assert!(warning.contains("organizations:ListAccounts"), "{warning}");
    assert!(logs.contains("\"account_names\":1"), "{logs}");
    assert!(logs.contains("\"message\":\"ready\""), "{logs}");
}

fn organizations_client(config: &aws_config::SdkConfig) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(config)
}

/// An account named `name` in moto's organization (made if there is none
/// yet: tests share the server, and an account has one organization).
async fn organization_account(name: &str) -> String {
    use aws_sdk_organizations::error::ProvideErrorMetadata;
    use aws_sdk_organizations::types::OrganizationFeatureSet;
    let client = organizations_client(&common::sdk_config().await);
    if let Err(err) = client
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
    {
        let code = err.code().unwrap_or_default();
        assert_eq!(code, "AlreadyInOrganizationException", "{err:?}");
    }
    let created = client
        .create_account()
        .email(format!("{name}@example.com"))
        .account_name(name)
        .send()
        .await
        .expect("create account");
    created
        .create_account_status()
        .and_then(|status| status.account_id())
        .expect("moto creates the account at once")
        .to_string()
}

#[tokio::test]
async fn names_from_organizations_name_every_account_of_it() {
    use trailwatch::source::organizations::{account_names, LIST_TIMEOUT};
    let name = unique("team-data");
    let id = organization_account(&name).await;
    let config = common::sdk_config().await;
    let names = account_names(&organizations_client(&config), LIST_TIMEOUT)
        .await
        .expect("ListAccounts");
    assert_eq!(names.name(&id), Some(name.as_str()));
    // The management account is listed too.
    assert_eq!(names.name("123456789012"), Some("master"));

    // No answer: an error saying so, never a wait past the limit.
    let nowhere = aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(&config)
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let err = account_names(&nowhere, LIST_TIMEOUT)
        .await
        .expect_err("unreachable");
    assert!(err.starts_with("organizations:ListAccounts: "), "{err}");
    let slow = account_names(&organizations_client(&config), Duration::ZERO).await;
    assert_eq!(
        slow.expect_err("no time at all"),
        "organizations:ListAccounts: no answer within 0ns"
    );
}

#[tokio::test]
async fn the_function_and_the_command_line_take_names_from_organizations() {
    let stack = Stack::new(&unique("names")).await;
    let name = unique("team-web");
    organization_account(&name).await;
    stack
        .put("accounts.yaml", b"444455556666: sandbox\n".to_vec())
        .await;
    let output = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("ALERT_TOPIC_ARN", &stack.topic_arn)
        .env(
            "ACCOUNT_NAMES",
            format!("s3://{}/accounts.yaml", stack.bucket),
        )
        .env("ACCOUNT_NAMES_FROM_ORGANIZATIONS", "true")
        .env("AWS_ENDPOINT_URL", common::endpoint())
        .output()
        .expect("run the function");
    let logs = String::from_utf8_lossy(&output.stdout);
    let ready = logs
        .lines()
        .find(|line| line.contains("\"message\":\"ready\""))
        .unwrap_or_else(|| panic!("not ready: {logs}"));
    let ready: Value = serde_json::from_str(ready).expect("a JSON log line");
    // The file's one, the management account and at least ours.
    let count = ready["account_names"].as_u64().expect("counted");
    assert!(count >= 3, "{ready}");
    assert!(!logs.contains("not loaded"), "{logs}");

    // The command line: the organization's name, unless the file names it.
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "--format",
            "json",
            "--account-names-from-organizations",
        ];
        args.extend_from_slice(extra);
        let record = record();
        args.push(&record);
        let output = common::trailwatch_on_moto(&args).output().expect("run");
        assert!(output.status.success(), "{output:?}");
        let document: Value = serde_json::from_slice(&output.stdout).expect("one document");
        document["account_name"].clone()
    };
    assert_eq!(scan(&[]), "master");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("accounts.json");
    std::fs::write(&file, "{\"123456789012\": \"prod-payments\"}").expect("write");
    assert_eq!(
        scan(&["--account-names", &file.display().to_string()]),
        "prod-payments"
    );
}
