//! `trailwatch scan` as a user runs it: files and directories in, alerts on
//! stdout, errors on stderr naming the file, exit status for "all read".

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn trailwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run trailwatch")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON document per line"))
        .collect()
}

/// (event_name, principal type) of each alert raised by `rule` title fragment.
fn raised<'a>(alerts: &'a [Value], title: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["title"].as_str().is_some_and(|t| t.contains(title)))
        .collect()
}

#[test]
fn scanning_the_bundled_samples_prints_the_expected_alerts() {
    let output = trailwatch(&["scan", "--format", "json", "events/"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alerts = json_lines(&output);
    for alert in &alerts {
        for field in [
            "rule_id",
            "title",
            "severity",
            "event_id",
            "event_source",
            "event_name",
            "event_time",
            "principal",
            "account",
            "region",
            "source",
        ] {
            assert!(alert.get(field).is_some(), "{field} missing in {alert}");
        }
    }
    // The Invoke by IAM user alice alerts, once for its two findings (the
    // sample and its copy under the key with a space, grouped as the Lambda
    // function groups them); the Invoke by S3 never does.
    let invokes = raised(
        &alerts,
        "Invoked By A Caller Other Than The Allowed Services",
    );
    assert_eq!(invokes.len(), 1, "{invokes:#?}");
    assert_eq!(
        invokes[0]["principal"],
        "arn:aws:iam::123456789012:user/alice"
    );
    assert_eq!(invokes[0]["severity"], "high");
    assert_eq!(invokes[0]["occurrences"]["count"], 2, "{invokes:#?}");
    assert!(alerts.iter().all(|a| a["invoked_by"] != "s3.amazonaws.com"));
    // Every documented sample raises what events/README.md says.
    let expect = [
        ("DeleteFunction20150331", "lambda.amazonaws.com"),
        ("GetFunction20150331", "lambda.amazonaws.com"),
        ("CreateTopic", "sns.amazonaws.com"),
        ("CreateBotAlias", "lex.amazonaws.com"),
        ("ListBuckets", "s3.amazonaws.com"),
    ];
    for (name, source) in expect {
        assert!(
            alerts
                .iter()
                .any(|a| a["event_name"] == name && a["event_source"] == source),
            "no alert for {name}: {alerts:#?}"
        );
    }
    // Read-only calls raise nothing.
    for quiet in [
        "GetTopicAttributes",
        "GetResource",
        "ListFunctions20150331",
        "DescribeInstances",
    ] {
        assert!(
            !alerts.iter().any(|a| a["event_name"] == quiet),
            "{quiet} alerted"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("6 file(s)"), "{stderr}");
}

#[test]
fn every_finding_prints_each_finding_and_max_alerts_holds_back_the_rest() {
    let each = json_lines(&trailwatch(&[
        "scan",
        "--format",
        "json",
        "--every-finding",
        "events/",
    ]));
    let grouped = json_lines(&trailwatch(&["scan", "--format", "json", "events/"]));
    let invokes = |alerts: &[Value]| {
        raised(
            alerts,
            "Invoked By A Caller Other Than The Allowed Services",
        )
        .len()
    };
    assert_eq!((invokes(&each), invokes(&grouped)), (2, 1));
    assert!(each.iter().all(|a| a.get("occurrences").is_none()));

    let capped = trailwatch(&["scan", "--format", "json", "--max-alerts", "2", "events/"]);
    let capped_alerts = json_lines(&capped);
    assert_eq!(capped_alerts.len(), 3, "2 alerts and the summary");
    let summary = &capped_alerts[2];
    assert_eq!(summary["rule_id"], "trailwatch-alerts-held-back");
    assert_eq!(
        summary["held_back"]["alerts"].as_u64(),
        Some(grouped.len() as u64 - 2),
        "{summary}"
    );
    let stderr = String::from_utf8_lossy(&capped.stderr);
    assert!(stderr.contains(" 3 alert(s)"), "{stderr}");
}

#[test]
fn text_format_prints_readable_alerts() {
    let output = trailwatch(&["scan", "events/logs/lambda-invoke-data-events.json.gz"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(
            "[HIGH] Lambda Function Invoked By A Caller Other Than The Allowed Services\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Who:         arn:aws:iam::123456789012:user/alice (IAMUser)"),
        "{text}"
    );
    assert!(
        text.contains("Log object:  events/logs/lambda-invoke-data-events.json.gz"),
        "{text}"
    );
    assert!(text.contains("Raw event:\n{"), "{text}");
}

#[test]
fn a_bad_file_is_named_on_stderr_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json.gz");
    std::fs::write(&bad, b"{\"Records\":[{\"eventName\":").expect("write");
    let good = Path::new("events/logs/lambda-invoke-data-events.json.gz");
    let bad_arg = bad.to_str().expect("utf-8 path");
    let output = trailwatch(&[
        "scan",
        "--format",
        "json",
        bad_arg,
        good.to_str().unwrap_or_default(),
        "missing.json.gz",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{bad_arg}: truncated")),
        "{stderr}"
    );
    assert!(stderr.contains("missing.json.gz: No such file"), "{stderr}");
    assert_eq!(
        json_lines(&output).len(),
        1,
        "the good file is still scanned"
    );
}

#[test]
fn stdin_and_user_rules_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("describe.yml"),
        "title: Instances described\nid: 5f0c8a52-2b1e-4a0e-9a51-0d1c6f3b7a11\nlevel: low\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  selection:\n    eventName: DescribeInstances\n  condition: selection\n",
    )
    .expect("write rule");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["scan", "--format", "json", "--rules"])
        .arg(dir.path())
        .arg("-")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let log = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("events/logs/lambda-management.json.gz"),
    )
    .expect("sample");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&log)
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alerts = json_lines(&output);
    let mine = raised(&alerts, "Instances described");
    assert_eq!(mine.len(), 1, "{alerts:#?}");
    assert_eq!(mine[0]["source"], "<stdin>");
    assert_eq!(mine[0]["severity"], "low");
}

#[test]
fn a_broken_user_rule_stops_the_scan_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("broken.yml");
    std::fs::write(&rule, "title: x\ndetection:\n  condition: nothing\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["scan", "--rules"])
        .arg(dir.path())
        .arg("events/")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&rule.display().to_string()), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// The limits the Lambda function has, on the command line: a file of
/// tiny records that would take minutes stops at `--timeout` and is
/// reported as not finished; `--max-decompressed-bytes` and
/// `--max-record-bytes` stop what they bound. Each is an error naming the
/// file (exit 1), and the scan goes on with the next file.
#[test]
fn limits_are_set_on_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tiny = dir.path().join("tiny.json.gz");
    // Gzip members one after the other: 400 MiB of `{},` made of one
    // 16 MiB member written 25 times.
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).expect("gzip");
        gz.finish().expect("gzip")
    };
    let mut log = gzip(br#"{"Records":["#);
    let member = gzip(&b"{},".repeat((16 << 20) / 3));
    for _ in 0..25 {
        log.extend_from_slice(&member);
    }
    log.extend(gzip(b"{}]}"));
    std::fs::write(&tiny, log).expect("write");
    let tiny = tiny.to_str().expect("utf-8 path");

    let started = std::time::Instant::now();
    let output = trailwatch(&["scan", "--timeout", "0.5", tiny, "events/logs"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{tiny}: not finished: reading stopped at the time limit after"
        )),
        "{stderr}"
    );
    assert!(!json_lines(&trailwatch(&["scan", "--format", "json", "events/logs"])).is_empty());

    let output = trailwatch(&["scan", "--max-decompressed-bytes", "1000", tiny]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{tiny}: decompressed size exceeds the limit of 1000 bytes"
        )),
        "{stderr}"
    );
    let sample = "events/logs/lambda-invoke-data-events.json.gz";
    let output = trailwatch(&["scan", "--max-record-bytes", "100", sample]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is larger than the limit of 100 bytes"),
        "{stderr}"
    );
}
