//! `trailwatch summary s3://bucket/prefix` against S3 on the moto server:
//! the rows a local summary of the same logs prints, and `--since` /
//! `--until` selecting objects as `scan` selects them.

mod common;

use std::process::Output;

use serde_json::Value;

fn trailwatch(args: &[&str]) -> Output {
    common::trailwatch_on_moto(args)
        .arg("--quiet")
        .output()
        .expect("run trailwatch")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The rows, each set's kept values sorted: objects read side by side
/// meet values in any order.
fn rows(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let mut row: Value = serde_json::from_str(line).expect("one JSON object per line");
            for set in [
                "sessions",
                "regions",
                "source_ips",
                "user_agents",
                "access_keys",
            ] {
                if let Some(values) = row[set]["values"].as_array_mut() {
                    values.sort_by_key(|v| v.to_string());
                }
            }
            row
        })
        .collect()
}

#[tokio::test]
async fn s3_prefixes_summarise_as_the_same_files_do() {
    let config = common::sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = common::unique("summary");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, key) in common::sample_objects() {
        let body = common::read(&path);
        let local = dir.path().join(&key);
        std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
        std::fs::write(&local, &body).expect("write");
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .unwrap_or_else(|err| panic!("put {key}: {err}"));
    }
    let local = dir.path().to_string_lossy().into_owned();
    let uri = format!("s3://{bucket}/AWSLogs/");

    let files = trailwatch(&["summary", "--format", "json", &local]);
    assert_eq!(files.status.code(), Some(0), "{}", stderr(&files));
    let want = rows(&files);
    assert_eq!(want.len(), 5, "{want:#?}");
    // One object at a time, in key order as the folder is read: with
    // several at a time, which values a row keeps first (five per set)
    // depends on whose records come first.
    let remote = trailwatch(&["summary", "--format", "json", "--concurrency", "1", &uri]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    assert_eq!(rows(&remote), want);
    assert!(
        stderr(&remote).contains("6 object(s) listed: 6 scanned, 0 failed"),
        "{}",
        stderr(&remote)
    );

    // A window the logs' keys are not in: nothing read, no row.
    let none = trailwatch(&["summary", "--format", "json", "--since", "2026-11-24", &uri]);
    assert_eq!(none.status.code(), Some(0), "{}", stderr(&none));
    assert!(
        rows(&none).is_empty(),
        "{}",
        String::from_utf8_lossy(&none.stdout)
    );
    assert!(
        stderr(&none).contains("0 principal(s)"),
        "{}",
        stderr(&none)
    );
}
