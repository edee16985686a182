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
fn email_format_prints_readable_alerts() {
    let output = trailwatch(&[
        "scan",
        "--format",
        "email",
        "events/logs/lambda-invoke-data-events.json.gz",
    ]);
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

fn gunzip(path: &str) -> Vec<u8> {
    let file = std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(file), &mut out).expect(path);
    out
}

fn records_of(path: &str) -> Vec<Value> {
    let log: Value = serde_json::from_slice(&gunzip(path)).expect(path);
    log["Records"].as_array().cloned().unwrap_or_default()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A symlink loop, a symlink to a file also listed and overlapping
/// arguments: each file is read once, and the rest is said once.
#[test]
fn each_file_is_read_once_whatever_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("d");
    std::fs::create_dir_all(d.join("sub")).expect("mkdir");
    std::fs::copy(
        "events/logs/lambda-invoke-data-events.json.gz",
        d.join("log.json.gz"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(".", d.join("loop")).expect("symlink");
    std::os::unix::fs::symlink("../log.json.gz", d.join("sub/link.json.gz")).expect("symlink");
    let arg = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let (d_arg, sub_arg, log_arg) = (arg(&d), arg(&d.join("sub")), arg(&d.join("log.json.gz")));
    let output = trailwatch(&[
        "scan",
        "--format",
        "json",
        "--every-finding",
        &d_arg,
        &sub_arg,
        &log_arg,
        &log_arg,
    ]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 file(s), 2 record(s), 1 finding(s)"),
        "{stderr}"
    );
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not read again"))
        .collect();
    assert_eq!(
        said,
        [format!(
            "trailwatch: 5 path(s) not read again: each names a file or directory already \
             taken (through a symlink or overlapping arguments), such as {d_arg}/loop (the same as {d_arg})"
        )],
        "{stderr}"
    );
    assert_eq!(json_lines(&output).len(), 1);
}

/// A FIFO in a directory is named for what it is and not waited on; one
/// named on the command line (a `<(zcat log.gz)`) is read.
#[test]
fn a_fifo_is_named_for_what_it_is_and_read_when_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.json.gz");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    std::fs::copy(
        "events/logs/lambda-invoke-data-events.json.gz",
        dir.path().join("log.json.gz"),
    )
    .expect("copy");
    let output = trailwatch(&["scan", dir.path().to_str().expect("utf-8 path")]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: skipped (is a FIFO, not a log file)",
            fifo.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 file(s), 2 record(s)"), "{stderr}");

    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let log = gunzip("events/logs/lambda-invoke-data-events.json.gz");
            std::fs::write(&fifo, log).expect("write the FIFO");
        })
    };
    let output = trailwatch(&["scan", "--format", "json", fifo.to_str().expect("path")]);
    writer.join().expect("writer");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(json_lines(&output)[0]["source"], fifo.display().to_string());
}

/// What the console downloads and exports give: plain `{"Records":[...]}`,
/// a top-level array of records, one record per line; found in a directory
/// by their content, beside JSON that is not CloudTrail.
#[test]
fn a_directory_of_plain_json_logs_and_exports_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(
        root.join("console.json"),
        gunzip("events/logs/console-and-root.json.gz"),
    )
    .expect("write");
    let export = records_of("events/logs/sns-api.json.gz");
    std::fs::write(
        root.join("event_history.json"),
        serde_json::to_string_pretty(&export).expect("json"),
    )
    .expect("write");
    let lines: String = records_of("events/logs/lambda-management.json.gz")
        .iter()
        .map(|r| format!("{r}\n"))
        .collect();
    std::fs::write(root.join("athena-results"), lines).expect("write");
    std::fs::copy("events/s3-one-object.json", root.join("notification.json")).expect("copy");
    std::fs::write(root.join("config.json"), r#"{"fileVersion":"1.0"}"#).expect("write");
    // Looked at where each is read: on this thread with one, on the
    // read-ahead thread with two; the same either way.
    let scan = |threads: &str| {
        trailwatch(&[
            "scan",
            "--format",
            "json",
            "--threads",
            threads,
            root.to_str().expect("path"),
        ])
    };
    let (output, two) = (scan("1"), scan("2"));
    assert_eq!(output.stdout, two.stdout);
    assert_eq!(stderr_of(&output), stderr_of(&two));
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let records = records_of("events/logs/console-and-root.json.gz").len()
        + export.len()
        + records_of("events/logs/lambda-management.json.gz").len();
    assert!(
        stderr.contains(&format!("3 file(s), {records} record(s)")),
        "{stderr}"
    );
    assert!(stderr.contains("2 skipped"), "{stderr}");
    assert!(
        stderr.contains("notification.json: skipped (not a CloudTrail log: its first record is not a CloudTrail record"),
        "{stderr}"
    );
    let alerts = json_lines(&output);
    for (name, file) in [
        ("ListBuckets", "console.json"),
        ("CreateTopic", "event_history.json"),
        ("DeleteFunction20150331", "athena-results"),
    ] {
        assert!(
            alerts.iter().any(|a| a["event_name"] == name
                && a["source"].as_str().is_some_and(|s| s.ends_with(file))),
            "no alert for {name} from {file}: {alerts:#?}"
        );
    }
}

/// A scan that finds nothing to read says so and fails.
#[test]
fn a_scan_that_finds_nothing_to_read_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy("events/sns-s3.json", dir.path().join("sns-s3.json")).expect("copy");
    let path = dir.path().to_str().expect("path");
    let output = trailwatch(&["scan", path]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "trailwatch: nothing to read: no CloudTrail log found in {path} (1 skipped, 0 error(s))"
        )),
        "{stderr}"
    );
}

/// Many files, read one after another (`--threads 1`) or each small one
/// read and inflated ahead on a thread of its own (2 threads): the same
/// alerts, errors and summary, bad files among them.
#[test]
fn small_files_read_ahead_say_what_they_said_one_by_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/07");
    std::fs::create_dir_all(&logs).expect("mkdir");
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).expect("gzip");
        e.finish().expect("gzip")
    };
    let samples = ["events/logs/console-and-root.json.gz"];
    let good = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(samples[0]))
        .expect("a sample log");
    let whole = gunzip(samples[0]);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("a", good.clone()),
        ("b-truncated", good[..good.len() / 2].to_vec()),
        ("c", good.clone()),
        ("d-empty-gzip", gz(b"")),
        ("e-gzip-in-gzip", gz(&good)),
        ("f-plain", whole.clone()),
        ("g-bad-json", gz(&whole[..whole.len() - 3])),
        ("h-utf16", gz(&[0xFF, 0xFE, b'{', 0])),
    ];
    files.push(("i", good));
    for (name, bytes) in &files {
        let path = logs.join(format!(
            "111122223333_CloudTrail_us-east-1_20261207T1000Z_{name}.json.gz"
        ));
        std::fs::write(path, bytes).expect("write");
    }
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let run = |threads: &str| {
        let output = trailwatch(&["scan", "--threads", threads, "--format", "json", &dir_arg]);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let one = run("1");
    assert_eq!(one.0, Some(1), "{}", one.2);
    assert!(
        one.2.contains("9 file(s)") && one.2.contains("5 error(s)"),
        "{}",
        one.2
    );
    assert!(!one.1.is_empty());
    for threads in ["2", "3"] {
        assert_eq!(run(threads), one, "--threads {threads}");
    }
}

/// `rules list` ends a rule's line with the ATT&CK techniques it is tagged
/// with, by id; a rule tagged with none has nothing after its origin.
#[test]
fn rules_list_names_each_rule_s_attack_techniques() {
    let list = trailwatch(&["rules", "list"]);
    assert!(list.status.success(), "{list:?}");
    let listing = String::from_utf8_lossy(&list.stdout);
    let line = |origin: &str| {
        listing
            .lines()
            .find(|line| line.contains(&format!("[builtin/{origin}]")))
            .unwrap_or_else(|| panic!("{origin} listed: {listing}"))
            .to_string()
    };
    assert!(
        line("lambda_invoked_not_by_s3.yml")
            .ends_with("[builtin/lambda_invoked_not_by_s3.yml]  T1648"),
        "{listing}"
    );
    let untagged = line("apigateway_config_changed.yml");
    assert!(
        untagged.ends_with("[builtin/apigateway_config_changed.yml]"),
        "{untagged:?}"
    );
}

#[test]
fn from_and_to_evaluate_only_the_records_of_their_window() {
    let (from, to) = ("2026-11-23T08:15:00Z", "2026-11-23T08:30:00Z");
    let all = json_lines(&trailwatch(&[
        "scan",
        "--format",
        "json",
        "--every-finding",
        "events/logs",
    ]));
    let output = trailwatch(&[
        "scan",
        "--format",
        "json",
        "--every-finding",
        "--from",
        from,
        "--to",
        to,
        "events/logs",
    ]);
    assert!(output.status.success());
    let inside = json_lines(&output);
    let expected: Vec<&Value> = all
        .iter()
        .filter(|alert| {
            alert["event_time"]
                .as_str()
                .is_some_and(|t| t >= from && t < to)
        })
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < all.len(),
        "a window that cuts"
    );
    assert_eq!(inside.iter().collect::<Vec<_>>(), expected);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("17 record(s) (9 outside --from/--to)"),
        "{stderr}"
    );
    // A window that holds nothing is a usage error when it is backwards.
    let backwards = trailwatch(&["scan", "--from", to, "--to", from, "events/logs"]);
    assert_eq!(backwards.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("is not before --to"));
}

#[test]
fn the_window_is_the_same_on_one_thread_and_two() {
    // Large enough (about 16 MB of records) that two threads start.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("big.json.gz");
    let log = log.to_str().expect("path");
    assert!(
        trailwatch(&["generate", log, "--records", "10000", "--seed", "7"])
            .status
            .success()
    );
    let scan = |threads: &str| {
        let output = trailwatch(&[
            "scan",
            "--format",
            "json",
            "--every-finding",
            "--threads",
            threads,
            "--from",
            "2025-03-03T08:00:30Z",
            "--to",
            "2025-03-03T08:01:10Z",
            log,
        ]);
        assert!(output.status.success(), "{output:?}");
        let last = String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        (json_lines(&output), last)
    };
    let (one, one_line) = scan("1");
    let (two, two_line) = scan("2");
    assert_eq!(one, two);
    assert_eq!(one_line, two_line);
    assert!(one_line.contains("outside --from/--to"), "{one_line}");
    for alert in &one {
        let time = alert["event_time"].as_str().expect("time");
        assert!(
            ("2025-03-03T08:00:30Z".."2025-03-03T08:01:10Z").contains(&time),
            "{time}"
        );
    }
}
