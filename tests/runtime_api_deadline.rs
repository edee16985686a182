//! The deadline, end to end: the trailwatch binary started as Lambda starts
//! it (no arguments, `AWS_LAMBDA_RUNTIME_API`), its S3 and SNS on moto, and
//! the Runtime API served by this test with a real deadline.
//!
//! `cargo lambda watch` cannot be used for this: its emulator hands every
//! invocation a `Lambda-Runtime-Deadline-Ms` of 600000 (a moment in 1970),
//! which the function takes for "no deadline".

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Stack;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The function, killed when the test ends.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the function posted back: the path (`.../response` or
/// `.../error`), the body, and when it arrived.
type Posted = (String, String, Instant);

/// One connection of the function's runtime client: each request answered
/// in turn. The first `next` gets the event; a later one is left waiting,
/// as Lambda leaves a function that has nothing to do.
async fn serve(stream: TcpStream, event: Option<(String, u64)>, posted: mpsc::Sender<Posted>) {
    let mut stream = BufReader::new(stream);
    let mut event = event;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match stream.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line),
            }
        }
        let request_line = head.first().cloned().unwrap_or_default();
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let length = head
            .iter()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let answer = if path.ends_with("/invocation/next") {
            let Some((payload, deadline_ms)) = event.take() else {
                // Nothing more to do: hold the long poll open.
                std::future::pending::<()>().await;
                return;
            };
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: req-1\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:trailwatch\r\n\
                 Content-Length: {}\r\n\r\n{payload}",
                payload.len()
            )
        } else {
            let _ = posted
                .send((
                    path,
                    String::from_utf8_lossy(&body).into_owned(),
                    Instant::now(),
                ))
                .await;
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_string()
        };
        if stream.get_mut().write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Gzip members, concatenated: one stream to a reader (as CloudTrail's
/// multi-member objects are), small to store, huge to inflate.
fn tiny_records_log(first: &Value, megabytes: usize) -> Vec<u8> {
    let member = |text: &[u8]| {
        let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
        gzip.write_all(text).expect("gzip");
        gzip.finish().expect("gzip")
    };
    let mut log = member(format!(r#"{{"Records":[{first},"#).as_bytes());
    let middle = member("{},".repeat((1 << 20) / 3).as_bytes());
    for _ in 0..megabytes {
        log.extend_from_slice(&middle);
    }
    log.extend_from_slice(&member(b"{}]}"));
    log
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_too_big_for_the_time_is_answered_before_the_deadline() {
    let stack = Stack::new(&common::unique("deadline")).await;
    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0820Z_tiny.json.gz";
    let root_login = json!({
        "eventVersion": "1.08", "eventID": "root-login-1", "eventTime": "2026-11-23T08:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
        "awsRegion": "us-east-1", "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.9",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"},
        "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "Yes"}
    });
    // 4 GiB of `{},` records in about 4 MB: far more than 8 s of reading.
    stack.put(key, tiny_records_log(&root_login, 4096)).await;
    let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": stack.bucket}, "object": {"key": key}}}]});

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("address");
    let (posted_tx, mut posted) = mpsc::channel::<Posted>(4);
    let deadline_in = Duration::from_secs(8);
    let handed_over = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let server = {
        let handed_over = handed_over.clone();
        let payload = event.to_string();
        tokio::spawn(async move {
            let mut event = Some(payload);
            while let Ok((stream, _)) = listener.accept().await {
                // The deadline counts from when the event is handed over.
                let this = event.take().map(|payload| {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .expect("clock")
                        .as_millis() as u64;
                    *handed_over.lock().expect("lock") = Some(Instant::now());
                    (payload, now + deadline_in.as_millis() as u64)
                });
                tokio::spawn(serve(stream, this, posted_tx.clone()));
            }
        })
    };

    let _function = Function(
        Command::new(env!("CARGO_BIN_EXE_trailwatch"))
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "trailwatch")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/trailwatch")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("ALERT_TOPIC_ARN", &stack.topic_arn)
            .env("DEADLINE_MARGIN_SECS", "3")
            .env("METRICS_NAMESPACE", "")
            .env_remove("DEDUP_TABLE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the function"),
    );

    let (path, body, at) = tokio::time::timeout(Duration::from_secs(60), posted.recv())
        .await
        .expect("the function answers")
        .expect("an answer");
    server.abort();
    let handed_over = handed_over
        .lock()
        .expect("lock")
        .expect("the event was handed over");
    let took = at.duration_since(handed_over);
    assert!(
        took < deadline_in,
        "answered {took:?} after the event, the deadline was {deadline_in:?}: {path} {body}"
    );
    // Stopped at the stop time (deadline less the 3 s margin), not long before.
    assert!(
        took >= Duration::from_secs(4),
        "answered after only {took:?}: {body}"
    );
    assert!(
        path.ends_with("/invocation/req-1/response") || path.ends_with("/invocation/req-1/error"),
        "{path}"
    );
    assert!(
        body.contains("not finished by the stop time") && body.contains(key),
        "{path}: {body}"
    );
    // What was found before the stop was sent.
    let alerts = stack.alerts(1, Duration::from_secs(20)).await;
    let subjects: Vec<&str> = alerts.iter().map(|(subject, _)| subject.as_str()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("AWS Account Root User Activity")),
        "{subjects:?}"
    );
}
