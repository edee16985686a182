//! End to end as a user tests locally: moto (S3, SNS, an SQS inbox), the
//! function served by `cargo lambda watch`, a sample notification from
//! events/ sent with `cargo lambda invoke`, and the alert read from the
//! queue subscribed to the topic.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Stack;

/// `cargo lambda watch`, stopped when the test ends.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `cargo` command without the variables `cargo test` sets for this test
/// (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, ...): build scripts such as ring's
/// watch them, and inheriting them would make the nested build recompile
/// the AWS SDK — and the next plain build recompile it back.
fn cargo() -> Command {
    let mut command = Command::new("cargo");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_test = name == "CARGO"
            || [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_BIN_",
                "CARGO_CRATE_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if set_by_cargo_test {
            command.env_remove(name.as_ref());
        }
    }
    command
}

fn invoke(port: u16, data_file: &str) -> Output {
    cargo()
        .args([
            "lambda",
            "invoke",
            "trailwatch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .args(["--data-file", data_file])
        .current_dir(common::repo())
        .output()
        .expect("run cargo lambda invoke (is cargo-lambda on PATH? run scripts/test)")
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_by_iam_user_alerts_through_cargo_lambda() {
    // The sample notifications name this bucket.
    let stack = Stack::new("trailwatch-test-logs").await;
    stack.upload_sample_logs().await;
    let dedup_table = common::create_dedup_table().await;
    let port = free_port();
    // What the function prints to stdout (its metrics), in a file outside
    // the work tree: `cargo lambda watch` restarts on changes inside it.
    let function_out = tempfile::NamedTempFile::new().expect("temp file");
    let _watch = Watch(
        cargo()
            // --ignore-changes: an edit in the work tree must not restart the
            // function mid-test.
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .current_dir(common::repo())
            .env("ALERT_TOPIC_ARN", &stack.topic_arn)
            .env("DEDUP_TABLE", &dedup_table)
            .env("AWS_ENDPOINT_URL", common::endpoint())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(function_out.reopen().expect("temp file"))
            .spawn()
            .expect("start cargo lambda watch (is cargo-lambda on PATH? run scripts/test)"),
    );
    // The first invoke waits for the function to build and start.
    let deadline = Instant::now() + Duration::from_secs(600);
    let output = loop {
        let output = invoke(port, "events/s3-one-object.json");
        if output.status.success() || Instant::now() > deadline {
            break output;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary JSON");
    assert_eq!(summary["objects_read"], 1, "{summary}");
    assert_eq!(summary["records"], 2, "{summary}");
    assert_eq!(summary["alerts"], 1, "{summary}");

    let alerts = stack.alerts(1, Duration::from_secs(20)).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (subject, doc) = &alerts[0];
    assert_eq!(
        subject,
        "[HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services — user/alice"
    );
    assert_eq!(
        doc["principal"], "arn:aws:iam::123456789012:user/alice",
        "{doc}"
    );
    assert_eq!(doc["principal_type"], "IAMUser", "{doc}");

    // The URL-encoded key (a space and `=`) is fetched and read.
    let output = invoke(port, "events/s3-encoded-key.json");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alerts = stack.alerts(1, Duration::from_secs(20)).await;
    assert_eq!(
        alerts.len(),
        1,
        "the key with a space raises its own alert: {alerts:#?}"
    );
    assert!(
        alerts[0].1["source"]
            .as_str()
            .is_some_and(|s| s.contains("/backfill run=1/")),
        "{}",
        alerts[0].1
    );

    // S3 delivers the first notification again: the table remembers its
    // alert, which is not sent twice.
    let output = invoke(port, "events/s3-one-object.json");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary JSON");
    assert_eq!(
        (&summary["alerts"], &summary["alerts_suppressed"]),
        (&serde_json::json!(0), &serde_json::json!(1)),
        "{summary}"
    );
    let alerts = stack.alerts(1, Duration::from_secs(3)).await;
    assert!(alerts.is_empty(), "sent again: {alerts:#?}");

    // Each invocation printed its metrics in embedded metric format, which
    // CloudWatch reads from the log group.
    let printed = std::fs::read_to_string(function_out.path()).expect("function stdout");
    let totals: Vec<serde_json::Value> = printed
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|doc| doc["_aws"].is_object() && doc.get("Objects").is_some())
        .collect();
    let [first, _, last] = totals.as_slice() else {
        panic!("one metrics document per invocation, 3: {printed}");
    };
    assert_eq!(
        (&first["Objects"], &first["Records"], &first["AlertsSent"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(2),
            &serde_json::json!(1)
        ),
        "{first}"
    );
    assert_eq!(last["AlertsSuppressed"], 1, "{last}");
}
