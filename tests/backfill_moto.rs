//! `trailwatch scan s3://bucket/prefix` as a user runs it, against S3 on
//! the moto server over HTTP: every log under the prefix scanned, alerts on
//! stdout as for local files, problems on stderr naming the s3:// object,
//! a summary that adds up, and the exit status.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Output;

use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";

/// Runs the built binary against the moto server, with dummy keys and no
/// progress timer unless asked.
fn trailwatch(args: &[&str]) -> Output {
    common::trailwatch_on_moto(args)
        .output()
        .expect("run trailwatch")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn alerts(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON document per line"))
        .collect()
}

/// The event ids of the alerts printed (one per finding with
/// `--every-finding`).
fn event_ids(output: &Output) -> BTreeSet<String> {
    alerts(output)
        .iter()
        .filter_map(|alert| alert["event_id"].as_str().map(str::to_string))
        .collect()
}

/// The summary line: what follows `trailwatch: s3://...: `.
fn summary(output: &Output, uri: &str) -> String {
    let head = format!("trailwatch: {uri}: ");
    stderr(output)
        .lines()
        .find_map(|line| line.strip_prefix(&head).filter(|l| l.contains("listed")))
        .unwrap_or_else(|| panic!("no summary for {uri} in:\n{}", stderr(output)))
        .to_string()
}

/// A gzipped CloudTrail log: an SNS CreateTopic (which the built-in
/// "SNS Topic Created" rule reports) with event id `id`, and a read that
/// raises nothing.
fn log(id: &str, time: &str) -> Vec<u8> {
    let user = json!({
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEBACKFILL01",
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/backfill"),
        "accountId": ACCOUNT,
        "userName": "backfill"
    });
    let record = |name: &str, event_id: &str| {
        json!({
            "eventVersion": "1.09",
            "userIdentity": user,
            "eventTime": time,
            "eventSource": "sns.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.22.5",
            "requestParameters": {"name": "backfill-topic"},
            "responseElements": null,
            "eventID": event_id,
            "readOnly": name.starts_with("List"),
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management"
        })
    };
    let text = json!({"Records": [record("CreateTopic", id), record("ListTopics", &format!("{id}-read"))]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.to_string().as_bytes()).expect("gzip");
    gz.finish().expect("gzip")
}

/// `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_STAMP_x.json.gz`
/// for a stamp `YYYYMMDDTHHMMZ`, under `root` (`AWSLogs/` or `AWSLogs/o-org/`).
fn key(root: &str, region: &str, stamp: &str) -> String {
    let (y, m, d) = (&stamp[..4], &stamp[4..6], &stamp[6..8]);
    format!("{root}{ACCOUNT}/CloudTrail/{region}/{y}/{m}/{d}/{ACCOUNT}_CloudTrail_{region}_{stamp}_Xy12.json.gz")
}

/// `2024-03-01T06:00:00Z` of `20240301T0600Z`.
fn event_time(stamp: &str) -> String {
    format!(
        "{}-{}-{}T{}:{}:00Z",
        &stamp[..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13]
    )
}

/// A new bucket on moto.
async fn bucket(name: &str) -> (aws_sdk_s3::Client, String) {
    let config = common::sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = common::unique(name);
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    (s3, bucket)
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|err| panic!("put {key}: {err}"));
}

/// Puts a log whose finding has the event id `id`.
async fn put_log(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, id: &str, stamp: &str) {
    put(s3, bucket, key, log(id, &event_time(stamp))).await;
}

#[tokio::test]
async fn every_log_under_the_prefix_is_scanned_and_the_corrupt_one_named() {
    let (s3, bucket) = bucket("backfill-all").await;
    let mut want = BTreeSet::new();
    for day in 1..=4 {
        for hour in ["06", "18"] {
            let stamp = format!("202403{day:02}T{hour}00Z");
            let id = format!("us-east-1-{stamp}");
            put_log(
                &s3,
                &bucket,
                &key("AWSLogs/", "us-east-1", &stamp),
                &id,
                &stamp,
            )
            .await;
            want.insert(id);
        }
    }
    let corrupt = key("AWSLogs/", "us-east-1", "20240302T1200Z");
    put(&s3, &bucket, &corrupt, b"<Error>not a log</Error>".to_vec()).await;
    let digest = format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/03/02/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20240302T0100Z.json.gz");
    put(&s3, &bucket, &digest, b"{}".to_vec()).await;
    put(
        &s3,
        &bucket,
        &format!("AWSLogs/{ACCOUNT}/CloudTrail/"),
        Vec::new(),
    )
    .await;
    let config = format!("AWSLogs/{ACCOUNT}/Config/us-east-1/2024/03/02/ConfigSnapshot/x.json.gz");
    put(&s3, &bucket, &config, b"{}".to_vec()).await;
    let uri = format!("s3://{bucket}/AWSLogs/");

    let output = trailwatch(&["scan", "--format", "json", "--every-finding", &uri]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(event_ids(&output), want, "{err}");
    for alert in alerts(&output) {
        let source = alert["source"].as_str().unwrap_or_default();
        assert!(
            source.starts_with(&format!(
                "s3://{bucket}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/03/"
            )),
            "{alert}"
        );
        assert_eq!(alert["title"], "SNS Topic Created", "{alert}");
    }
    assert!(
        err.contains(&format!(
            "trailwatch: s3://{bucket}/{corrupt}: not a CloudTrail log"
        )),
        "{err}"
    );
    assert_eq!(
        summary(&output, &uri),
        "12 object(s) listed: 8 scanned, 1 failed, 3 skipped (1 digest, 1 folder, 1 other); 16 record(s), 8 finding(s), 8 alert(s)",
        "{err}"
    );

    // Grouped by default, as the Lambda function and a local scan group:
    // one principal, one rule, one alert for the eight findings.
    let output = trailwatch(&["scan", "--format", "json", &uri]);
    let grouped = alerts(&output);
    assert_eq!(grouped.len(), 1, "{grouped:#?}");
    assert_eq!(grouped[0]["occurrences"]["count"], 8, "{grouped:#?}");
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn the_alerts_are_the_ones_a_local_scan_of_the_same_logs_prints() {
    let (s3, bucket) = bucket("backfill-same").await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, key) in common::sample_objects() {
        let body = common::read(&path);
        std::fs::create_dir_all(dir.path().join(&key).parent().expect("parent")).expect("mkdir");
        std::fs::write(dir.path().join(&key), &body).expect("write");
        put(&s3, &bucket, &key, body).await;
    }
    let local = dir.path().to_string_lossy().into_owned();
    let uri = format!("s3://{bucket}/AWSLogs/");
    let from_files = trailwatch(&["scan", "--format", "text", &local]);
    assert_eq!(from_files.status.code(), Some(0), "{}", stderr(&from_files));
    // The same alerts, naming the object where a local scan names the file.
    let text = |output: &Output, source: &str| {
        String::from_utf8_lossy(&output.stdout).replace(source, "<source>/")
    };
    let want = text(&from_files, &format!("{local}/"));
    assert!(want.contains("SNS Topic Created"), "{want}");
    // One at a time, objects are read in key order, as files are: the
    // same text.
    let one = trailwatch(&["scan", "--format", "text", "--concurrency", "1", &uri]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(text(&one, &format!("s3://{bucket}/")), want);
    // Several at a time, objects finish in any order: so do the alerts,
    // and a grouped alert's example is whichever finding came first. What
    // they report is the same.
    let reported = |output: &Output| {
        let mut alerts: Vec<String> = alerts(output)
            .iter()
            .map(|alert| {
                let mut ids: Vec<&str> = alert["occurrences"]["event_ids"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_else(|| alert["event_id"].as_str().into_iter().collect());
                ids.sort_unstable();
                format!("{} {} {ids:?}", alert["rule_id"], alert["principal"])
            })
            .collect();
        alerts.sort();
        alerts
    };
    let many = trailwatch(&["scan", "--format", "json", &uri]);
    assert_eq!(many.status.code(), Some(0), "{}", stderr(&many));
    let files = trailwatch(&["scan", "--format", "json", &local]);
    assert_eq!(reported(&many), reported(&files));
    assert_eq!(reported(&many).len(), 6, "{:#?}", reported(&many));
}

#[tokio::test]
async fn since_and_until_select_exactly_the_days_asked_for() {
    let (s3, bucket) = bucket("backfill-dates").await;
    // Two regions, one of them an organization trail's; two logs a day
    // from February 28th to March 6th (2024 is a leap year).
    let days = [
        "20240228", "20240229", "20240301", "20240302", "20240303", "20240304", "20240305",
        "20240306",
    ];
    let roots = [
        ("AWSLogs/", "us-east-1"),
        ("AWSLogs/o-abc123def4/", "eu-west-1"),
    ];
    let mut stamps = Vec::new();
    for (root, region) in roots {
        for day in days {
            for hour in ["0600", "1800"] {
                let stamp = format!("{day}T{hour}Z");
                let id = format!("{region}-{stamp}");
                put_log(&s3, &bucket, &key(root, region, &stamp), &id, &stamp).await;
                stamps.push((id, stamp));
            }
        }
    }
    // A copy with no stamp in its name is dated by its folders (all day);
    // one with no date at all is scanned only when no dates are asked for.
    let copy = format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/03/03/copy.json.gz");
    put_log(&s3, &bucket, &copy, "copy-20240303", "20240303T1200Z").await;
    let undated = format!("AWSLogs/{ACCOUNT}/CloudTrail/misc.json.gz");
    put_log(&s3, &bucket, &undated, "undated", "20240303T1200Z").await;
    let digest = format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/03/02/{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20240302T0100Z.json.gz");
    put(&s3, &bucket, &digest, b"{}".to_vec()).await;
    let uri = format!("s3://{bucket}/AWSLogs/");
    let selected = |from: &str, to: &str, extra: &[&str]| -> BTreeSet<String> {
        stamps
            .iter()
            .filter(|(_, stamp)| stamp.as_str() >= from && stamp.as_str() < to)
            .map(|(id, _)| id.clone())
            .chain(extra.iter().map(|id| id.to_string()))
            .collect()
    };
    let scan = |since: &str, until: &str| {
        let args = [
            "scan",
            "--format",
            "json",
            "--every-finding",
            "--since",
            since,
            "--until",
            until,
            &uri,
        ];
        trailwatch(&args)
    };

    // Days: --since inclusive, --until exclusive: March 1st to 3rd.
    let output = scan("2024-03-01", "2024-03-04");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let want = selected("20240301", "20240304", &["copy-20240303"]);
    assert_eq!(event_ids(&output), want);
    // Listed: each region folder from a day before the window to a day
    // after it (February 29th to March 5th: 12 logs, and the copy), and
    // the undated key met on the way down; not February 28th, March 6th
    // or the digest folder. All of them accounted for.
    assert_eq!(
        summary(&output, &uri),
        "26 object(s) listed: 13 scanned, 0 failed, 13 skipped (12 outside dates, 1 undated); 26 record(s), 13 finding(s), 13 alert(s)",
        "{}",
        stderr(&output)
    );

    // Times, to the minute of the key's stamp: 12:00 on the 2nd to 12:00
    // on the 3rd, which the folder-dated copy (all of the 3rd) overlaps.
    let output = scan("2024-03-02T12:00:00Z", "2024-03-03T12:00:00Z");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let want = selected("20240302T1200Z", "20240303T1200Z", &["copy-20240303"]);
    assert_eq!(event_ids(&output), want);
    assert_eq!(want.len(), 5, "{want:?}");

    // No dates: everything, the undated key too.
    let output = trailwatch(&["scan", "--format", "json", "--every-finding", &uri]);
    assert_eq!(
        event_ids(&output).len(),
        stamps.len() + 2,
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn more_objects_than_workers_are_all_scanned_with_progress_lines() {
    let (s3, bucket) = bucket("backfill-many").await;
    let mut want = BTreeSet::new();
    for n in 0..20 {
        let stamp = format!("20240310T{:02}{:02}Z", n / 4, (n % 4) * 15);
        let id = format!("many-{stamp}");
        put_log(
            &s3,
            &bucket,
            &key("AWSLogs/", "us-east-1", &stamp),
            &id,
            &stamp,
        )
        .await;
        want.insert(id);
    }
    let uri = format!("s3://{bucket}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/");
    let output = trailwatch(&[
        "scan",
        "--format",
        "json",
        "--every-finding",
        "--concurrency",
        "3",
        "--progress-every",
        "0.01",
        &uri,
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(event_ids(&output), want);
    assert_eq!(
        summary(&output, &uri),
        "20 object(s) listed: 20 scanned, 0 failed, 0 skipped; 40 record(s), 20 finding(s), 20 alert(s)"
    );
    // stderr is not a terminal here: plain lines, done of listed so far.
    let progress: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("trailwatch: progress: "))
        .collect();
    assert!(!progress.is_empty(), "{err}");
    assert!(
        progress
            .iter()
            .all(|l| l.contains(" objects, ") && l.contains(" finding(s), ")),
        "{err}"
    );

    // --quiet: no progress, the same summary.
    let output = trailwatch(&[
        "scan",
        "--quiet",
        "--progress-every",
        "0.01",
        "--concurrency",
        "3",
        &uri,
    ]);
    assert!(
        !stderr(&output).contains("progress:"),
        "{}",
        stderr(&output)
    );
    assert!(summary(&output, &uri).starts_with("20 object(s) listed: 20 scanned"));
}

#[test]
fn a_missing_bucket_is_named_and_fails() {
    let uri = format!("s3://{}/AWSLogs/", common::unique("no-such-bucket"));
    let output = trailwatch(&["scan", &uri]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(output.stdout.is_empty());
    assert!(
        err.contains(&format!(
            "trailwatch: {uri}: cannot list the objects: the bucket does not exist"
        )),
        "{err}"
    );
    assert!(
        err.contains("the listing failed, so objects may be missing"),
        "{err}"
    );
}

#[test]
fn s3_usage_mistakes_are_refused_before_anything_is_read() {
    let cases: [(&[&str], &str); 5] = [
        (&["scan", "s3://b/AWSLogs/", "events/"], "not both"),
        (
            &["scan", "--since", "2024-03-01", "events/"],
            "apply to s3:// prefixes only",
        ),
        (
            &["scan", "--since", "2024-03-32", "s3://b/"],
            "neither a date",
        ),
        (
            &[
                "scan",
                "--since",
                "2024-03-02",
                "--until",
                "2024-03-01",
                "s3://b/",
            ],
            "must be after --since",
        ),
        (&["scan", "s3://"], "not an s3://bucket/prefix URI"),
    ];
    for (args, message) in cases {
        let output = trailwatch(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// Keys S3 allows but XML 1.0 cannot carry (control characters) are listed
/// URL-encoded and decoded, as the AWS CLI does: one such key no longer
/// fails the whole listing. Such keys are shown escaped, in alerts and in
/// errors; a space and a `+` come back as they were.
#[tokio::test]
async fn keys_with_control_characters_are_listed_read_and_shown_escaped() {
    let (s3, bucket) = bucket("backfill-keys").await;
    let stamp = "20240301T0600Z";
    let odd = "uploads/odd\u{1}key\u{b}.json.gz";
    let spaced = "uploads/run 1+2=3.json.gz";
    let plain = "uploads/plain.json.gz";
    let broken = "uploads/broken\u{1}.json.gz";
    for (key, id) in [(odd, "odd"), (spaced, "spaced"), (plain, "plain")] {
        put_log(&s3, &bucket, key, id, stamp).await;
    }
    put(&s3, &bucket, broken, b"<Error/>".to_vec()).await;
    let uri = format!("s3://{bucket}/uploads/");

    let output = trailwatch(&["scan", "--format", "json", "--every-finding", &uri]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(
        summary(&output, &uri),
        "4 object(s) listed: 3 scanned, 1 failed, 0 skipped; 6 record(s), 3 finding(s), 3 alert(s)",
        "{err}"
    );
    let sources: BTreeSet<String> = alerts(&output)
        .iter()
        .filter_map(|alert| alert["source"].as_str().map(str::to_string))
        .collect();
    let want: BTreeSet<String> = [
        format!("s3://{bucket}/uploads/odd\\u{{1}}key\\u{{b}}.json.gz"),
        format!("s3://{bucket}/{spaced}"),
        format!("s3://{bucket}/{plain}"),
    ]
    .into();
    assert_eq!(sources, want, "{err}");
    assert!(
        err.contains(&format!(
            "trailwatch: s3://{bucket}/uploads/broken\\u{{1}}.json.gz: not a CloudTrail log"
        )),
        "{err}"
    );
    assert!(
        !err.contains('\u{1}'),
        "a raw control character on stderr: {err:?}"
    );
}
