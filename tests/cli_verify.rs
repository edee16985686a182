//! `trailwatch verify s3://bucket/prefix` as a user runs it: the real
//! binary against S3 on the moto server, with CloudTrail's public key read
//! from a `list-public-keys` file (`--public-keys`: a separate process
//! cannot use the in-process ListPublicKeys mock, and moto has no
//! ListPublicKeys). A chain of three signed hourly digests, each listing
//! two logs.

mod common;

use std::process::Output;

use common::digests::{digest_key, list_public_keys_output, log_key, write_chain};
use common::{unique, Stack};
use serde_json::Value;

const DIGEST_RULE: &str = "trailwatch-cloudtrail-digest-problem";

struct Setup {
    stack: Stack,
    keys: tempfile::NamedTempFile,
}

async fn setup() -> Setup {
    let stack = Stack::new(&unique("verify")).await;
    write_chain(&stack, &[9, 10, 11]).await;
    let keys = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(keys.path(), list_public_keys_output()).expect("write keys");
    Setup { stack, keys }
}

impl Setup {
    /// `trailwatch verify s3://BUCKET/ --public-keys FILE ARGS...` on moto.
    fn verify(&self, args: &[&str]) -> Output {
        let bucket = format!("s3://{}/", self.stack.bucket);
        let keys = self.keys.path().to_string_lossy().into_owned();
        common::trailwatch_on_moto(&["verify", &bucket, "--public-keys", &keys])
            .args(args)
            .output()
            .expect("run trailwatch")
    }

    async fn delete(&self, key: &str) {
        self.stack.delete(key).await;
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_good_chain_exits_0_with_no_alert() {
    let setup = setup().await;
    let output = setup.verify(&["--quiet"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("3 digest(s) verified, 6 log(s) checked, 0 problem(s), 0 not verifiable"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_deleted_log_is_an_alert_and_exit_1() {
    let setup = setup().await;
    setup.delete(&log_key(10, 2)).await;
    let output = setup.verify(&["--quiet"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("CloudTrail Log File Deleted"), "{stdout}");
    assert!(stdout.contains(&log_key(10, 2)), "{stdout}");
    assert!(stdout.contains(&digest_key(10)), "{stdout}");
    assert!(
        stderr.contains("3 digest(s) verified, 5 log(s) checked, 1 problem(s)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn since_and_until_narrow_the_digests_checked() {
    let setup = setup().await;
    setup.delete(&log_key(10, 2)).await;
    // Hour 11's digest (named 11:01:31) only: its previous (hour 10's)
    // digest is there, the log deleted from hour 10 is not checked.
    let output = setup.verify(&[
        "--quiet",
        "--since",
        "2026-11-23T11:00:00Z",
        "--until",
        "2026-11-23T12:00:00Z",
    ]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("1 digest(s) verified, 2 log(s) checked, 0 problem(s)"),
        "{stderr}"
    );
    // Hours 9 and 10: the deleted log is found.
    let output = setup.verify(&[
        "--quiet",
        "--since",
        "2026-11-23",
        "--until",
        "2026-11-23T11:00:00Z",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 digest(s) verified, 3 log(s) checked, 1 problem(s)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_output_is_one_alert_document_per_line() {
    let setup = setup().await;
    setup.delete(&log_key(9, 1)).await;
    let output = setup.verify(&["--quiet", "--format", "json"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let alerts: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON alert per line"))
        .collect();
    assert_eq!(alerts.len(), 1, "{stdout}");
    assert!(alerts[0].to_string().contains(DIGEST_RULE), "{stdout}");
    assert!(alerts[0].to_string().contains(&log_key(9, 1)), "{stdout}");
}

#[tokio::test]
async fn a_public_keys_file_that_is_not_one_is_a_usage_error() {
    let setup = setup().await;
    std::fs::write(setup.keys.path(), "{}").expect("write");
    let output = setup.verify(&["--quiet"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("PublicKeyList"));
}

#[tokio::test]
async fn a_deleted_digest_is_a_broken_chain_and_a_gap_of_its_hour() {
    let setup = setup().await;
    setup.delete(&digest_key(10)).await;
    let output = setup.verify(&["--quiet"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("CloudTrail Digest Chain Broken"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CloudTrail Digest Hours Missing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no digest from 2026-11-23T09:01:31Z to 2026-11-23T10:01:31Z"),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 digest(s) verified, 4 log(s) checked, 2 problem(s)"),
        "{stderr}"
    );
}

/// What a verification told its output.
#[derive(Default)]
struct Recorded {
    findings: std::sync::Mutex<Vec<trailwatch::alert::Finding>>,
    problems: std::sync::Mutex<Vec<String>>,
}

impl trailwatch::backfill::Output for Recorded {
    fn finding(&self, finding: trailwatch::alert::Finding) -> bool {
        self.findings.lock().unwrap().push(finding);
        true
    }

    fn problem(&self, line: &str) {
        self.problems.lock().unwrap().push(line.to_string());
    }
}

/// Without `--public-keys` the keys are asked of CloudTrail in each
/// digest's region, once per fingerprint: the library the command runs,
/// with CloudTrail answered by the HTTP mock (which the binary cannot use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_asked_of_cloudtrail_in_the_digests_region_once() {
    use aws_config::{BehaviorVersion, Region};
    use common::mock_http::{credentials, retry_config, retry_partition, MockHttp};
    use std::sync::Arc;
    use trailwatch::backfill::digests::{verify_digests, Keys};
    use trailwatch::backfill::{dates::Window, Counts};
    use trailwatch::source::digests::CloudTrailKeys;
    use trailwatch::source::rules_s3::S3Prefix;

    let setup = setup().await;
    setup.delete(&log_key(11, 1)).await;
    let rule = common::digests::list_public_keys_rule();
    let cloudtrail = aws_sdk_cloudtrail::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry_config())
        .retry_partition(retry_partition("cloudtrail-verify"))
        .http_client(MockHttp::new(&[&rule]))
        .build();
    let keys = Keys::CloudTrail(Arc::new(CloudTrailKeys::new(
        aws_sdk_cloudtrail::Client::from_conf(cloudtrail),
        tokio::runtime::Handle::current(),
    )));
    let root = S3Prefix::parse(&format!("s3://{}/AWSLogs/", setup.stack.bucket)).expect("URI");
    let out = Arc::new(Recorded::default());
    let counts = Arc::new(Counts::default());
    let summary = verify_digests(
        &setup.stack.s3,
        keys,
        &[root],
        Window::default(),
        4,
        &counts,
        out.clone(),
    )
    .await;
    assert_eq!(
        (
            summary.verified,
            summary.logs_checked,
            summary.problems,
            summary.failed
        ),
        (3, 5, 1, 0),
        "{summary:?} {:?}",
        out.problems.lock().unwrap()
    );
    assert!(!summary.is_clean());
    let findings = out.findings.lock().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule.title, "CloudTrail Log File Deleted");
    assert_eq!(rule.num_calls(), 1);
    let asked = &rule.seen()[0].uri;
    assert!(
        asked.contains(&format!("cloudtrail.{}.", common::digests::REGION)),
        "{asked}"
    );
}
