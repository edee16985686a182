//! Shared by the integration tests that talk to the moto server that
//! `scripts/test` starts on 127.0.0.1 (S3, SNS and an SQS queue subscribed
//! to the alert topic, which is how a test reads the alerts), and by tests
//! that need no server: [`memory`] (the handler's seams in memory) and
//! [`mock_http`] (the SDK clients answered from memory over HTTP).
#![allow(dead_code)]

pub mod alerts;
pub mod digests;
pub mod memory;
pub mod mock_http;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The moto endpoint. These tests need it: run them with `scripts/test`.
pub fn endpoint() -> String {
    std::env::var("TRAILWATCH_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TRAILWATCH_TEST_ENDPOINT is not set: this test needs the moto server \
             that scripts/test starts (run scripts/test, not bare cargo test)"
        )
    })
}

/// The `trailwatch` binary with `args`, its AWS calls going to moto (and
/// nothing of the user's AWS set-up, nor a Lambda runtime, in its way).
pub fn trailwatch_on_moto(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    command
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_PROFILE")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// A bucket, a topic and a queue subscribed to it, with unique names so
/// tests can run side by side on one moto server.
pub struct Stack {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub bucket: String,
    pub topic_arn: String,
    pub queue_url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A new queue subscribed to the topic (raw delivery off), with this
/// filter policy if any; its URL.
pub async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    name: &str,
    filter_policy: Option<&str>,
) -> String {
    let queue_url = sqs
        .create_queue()
        .queue_name(unique(name))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue arn");
    let subscription = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .return_subscription_arn(true)
        .send()
        .await
        .expect("subscribe queue")
        .subscription_arn
        .expect("subscription arn");
    if let Some(policy) = filter_policy {
        sns.set_subscription_attributes()
            .subscription_arn(&subscription)
            .attribute_name("FilterPolicy")
            .attribute_value(policy)
            .send()
            .await
            .expect("set the filter policy");
    }
    queue_url
}

impl Stack {
    pub async fn new(bucket: &str) -> Stack {
        let config = sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
        let topic_arn = sns
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn");
        let queue_url = subscribe_queue(&sns, &sqs, &topic_arn, "inbox", None).await;
        Stack {
            s3,
            sns,
            sqs,
            bucket: bucket.to_string(),
            topic_arn,
            queue_url,
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }

    pub async fn delete(&self, key: &str) {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("delete object");
    }

    /// Uploads every log in events/objects.tsv to its key.
    pub async fn upload_sample_logs(&self) {
        for (path, key) in sample_objects() {
            let body = std::fs::read(repo().join(&path)).expect("read sample log");
            self.put(&key, body).await;
        }
    }

    /// Alerts that reached the queue: the subject and the JSON document
    /// (the message's `default` part) of each SNS envelope, waiting as
    /// [`Stack::envelopes`] does.
    pub async fn alerts(&self, want: usize, wait: Duration) -> Vec<(String, Value)> {
        self.envelopes(&self.queue_url, want, wait)
            .await
            .into_iter()
            .map(|envelope| {
                let document = envelope["Message"].as_str().unwrap_or_default();
                (
                    envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    serde_json::from_str(document).expect("the alert's JSON document"),
                )
            })
            .collect()
    }

    /// The SNS envelopes that reached `queue_url`, each deleted once read:
    /// waits until `want` arrived or `wait` passed, then drains a little
    /// longer so that extra ones are seen too.
    pub async fn envelopes(&self, queue_url: &str, want: usize, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        loop {
            let done = got.len() >= want;
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(if done { 0 } else { 1 })
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() && (done || Instant::now() > deadline) {
                return got;
            }
            for message in messages {
                let body = message.body().unwrap_or_default();
                got.push(serde_json::from_str(body).expect("an SNS envelope"));
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
    }
}

/// A dedup table (`DEDUP_TABLE`) as template.yaml makes it: key `alert_id`, TTL on `expires_at`.
pub async fn create_dedup_table() -> String {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = unique("sent-alerts");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("alert_id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("alert_id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(&table)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("ttl");
    table
}

/// (local path, S3 key) of every sample log, from events/objects.tsv.
pub fn sample_objects() -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string(repo().join("events/objects.tsv")).expect("objects.tsv");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (path, key) = line.split_once('\t').expect("path<TAB>key");
            (PathBuf::from(path), key.to_string())
        })
        .collect()
}

/// A sample notification from events/, pointed at another bucket.
pub fn notification(file: &str, bucket: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("events").join(file)).expect("notification");
    let text = text.replace("trailwatch-test-logs", bucket);
    serde_json::from_str(&text).expect("notification JSON")
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(repo().join(path)).expect("read file")
}

/// The Lambda handler as the function builds it, on the moto S3 and SNS,
/// publishing to the stack's topic, with the built-in rules and no deadline.
/// An S3 store at a port where nothing listens, trying once: S3 down.
pub async fn unreachable_s3() -> Arc<trailwatch::source::s3::S3Store> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9") // discard port: nothing listens
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    Arc::new(trailwatch::source::s3::S3Store::new(
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        ),
    ))
}

pub async fn moto_handler(stack: &Stack) -> trailwatch::lambda::Handler {
    use trailwatch::rules::{RuleConfig, RuleSet};
    let config = sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    trailwatch::lambda::Handler {
        store: Arc::new(trailwatch::source::s3::S3Store::new(s3)),
        sink: Arc::new(trailwatch::sink::sns::SnsSink::new(
            aws_sdk_sns::Client::new(&config),
            stack.topic_arn.clone(),
        )),
        rules: Arc::new(RuleSet::load(&RuleConfig::default()).expect("rules")),
        limits: trailwatch::pipeline::Limits::default(),
        deadline_margin: Duration::ZERO,
        max_alerts: None,
        ledger: None,
        digests: None,
    }
}
