//! How long a warm invocation of the function spends in trailwatch's own
//! code: the Lambda handler, built as `src/main.rs` builds it, handles an
//! S3 notification of a one-record log object again and again, against S3
//! and SNS on a local endpoint (moto), and the time of every HTTP call the
//! SDK makes is taken off the invocation's.
//!
//!   AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing \
//!   AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
//!   cargo run --release --example lambda_warm -- [INVOCATIONS]
//!
//! Prints, for an object whose record no rule matches and for one whose
//! record raises an alert (one SNS publish), the median, 90th percentile
//! and largest time outside the calls, and the calls' own median, in
//! milliseconds. What is outside the calls is everything the process does
//! for the invocation: reading the event, the SDK's request building and
//! signing, the scan, grouping and rendering the alert, the runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpRequest;
use aws_sdk_s3::config::RuntimeComponents;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use serde_json::json;
use trailwatch::config::LambdaConfig;
use trailwatch::lambda::Handler;
use trailwatch::rules::RuleSet;
use trailwatch::sink::sns::SnsSink;
use trailwatch::source::s3::S3Store;

/// The SDK's own HTTP client, with the time spent in its calls added up.
#[derive(Debug, Clone)]
struct Timed {
    inner: SharedHttpClient,
    nanos: Arc<AtomicU64>,
}

#[derive(Debug)]
struct TimedConnector {
    inner: SharedHttpConnector,
    nanos: Arc<AtomicU64>,
}

impl HttpConnector for TimedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = self.inner.call(request);
        let nanos = Arc::clone(&self.nanos);
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            let answer = call.await;
            nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            answer
        })
    }
}

impl HttpClient for Timed {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(TimedConnector {
            inner: self.inner.http_connector(settings, components),
            nanos: Arc::clone(&self.nanos),
        })
    }
}

fn record(event_name: &str, invoked_by: Option<&str>) -> serde_json::Value {
    let mut identity = json!({
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/app/session",
        "accountId": "111122223333",
    });
    if let Some(by) = invoked_by {
        identity["invokedBy"] = json!(by);
    }
    json!({
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": "2026-12-07T10:00:00Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"functionName": "billing"},
        "responseElements": null,
        "eventID": "5d2c3a8e-0000-4000-8000-000000000001",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn notification(bucket: &str, key: &str, size: usize) -> serde_json::Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": size},
        },
    }]})
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("lambda_warm: set AWS_ENDPOINT_URL to a local S3 and SNS (moto): no AWS endpoint is measured");
        std::process::exit(2);
    }
    let invocations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let sdk = trailwatch::aws::sdk_config().await;
    let nanos = Arc::new(AtomicU64::new(0));
    // The client the SDK builds by default (hyper 1, rustls with aws-lc).
    use aws_smithy_http_client::tls;
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let sdk = sdk
        .to_builder()
        .http_client(Timed {
            inner,
            nanos: Arc::clone(&nanos),
        })
        .build();
    let s3 = trailwatch::aws::s3_client(&sdk);
    let sns = trailwatch::aws::sns_client(&sdk);

    let name = format!("lambda-warm-{}", std::process::id());
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create the bucket");
    let topic = sns
        .create_topic()
        .name(&name)
        .send()
        .await
        .expect("create the topic");
    let topic_arn = topic.topic_arn().unwrap_or_default().to_string();

    let objects = [
        ("no alert", "quiet", record("ListFunctions20150331", None)),
        ("one alert", "alert", record("Invoke", Some("203.0.113.7"))),
    ];
    let mut keys = Vec::new();
    for (what, stem, record) in &objects {
        let key = format!("AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/07/111122223333_CloudTrail_us-east-1_20261207T1000Z_{stem}.json.gz");
        let body = gzip(json!({"Records": [record]}).to_string().as_bytes());
        let size = body.len();
        s3.put_object()
            .bucket(&name)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put the object");
        keys.push((*what, key, size));
    }

    // As the function builds its state on a cold start (src/main.rs).
    let topic_for_env = topic_arn.clone();
    let config = LambdaConfig::from_env(move |var| match var {
        "ALERT_TOPIC_ARN" => Some(topic_for_env.clone()),
        other => std::env::var(other).ok(),
    })
    .expect("configuration");
    let handler = Handler {
        store: Arc::new(S3Store::new(s3.clone())),
        sink: Arc::new(SnsSink::new(sns.clone(), config.topic_arn.clone())),
        rules: Arc::new(RuleSet::load(&config.rules).expect("rules")),
        limits: config.limits,
        deadline_margin: config.deadline_margin,
        max_alerts: config.max_alerts,
        ledger: None,
        digests: None,
    };

    println!(
        "{invocations} warm invocations each; milliseconds outside the S3 and SNS calls (own), and in them (calls)"
    );
    for (what, key, size) in &keys {
        let event = notification(&name, key, *size);
        let mut own = Vec::with_capacity(invocations);
        let mut calls = Vec::with_capacity(invocations);
        // Warm-up: the first invocations build the clients' connections.
        for round in 0..invocations + 20 {
            let before = nanos.load(Ordering::Relaxed);
            let started = Instant::now();
            let response = handler
                .handle(&event)
                .await
                .expect("the invocation succeeds");
            let total = started.elapsed();
            let spent = Duration::from_nanos(nanos.load(Ordering::Relaxed) - before);
            let expected = u64::from(*what == "one alert");
            if response.summary.alerts != expected {
                eprintln!(
                    "lambda_warm: {what}: {} alert(s), not {expected}",
                    response.summary.alerts
                );
                std::process::exit(1);
            }
            if round >= 20 {
                own.push(total.saturating_sub(spent));
                calls.push(spent);
            }
        }
        own.sort();
        calls.sort();
        let at = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
        println!(
            "one-record object, {what}: own median {:.3} ms, p90 {:.3} ms, max {:.3} ms; calls median {:.3} ms",
            millis(at(&own, 0.5)),
            millis(at(&own, 0.9)),
            millis(at(&own, 1.0)),
            millis(at(&calls, 0.5)),
        );
    }
}
