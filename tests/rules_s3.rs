//! User rules in S3 (`RULES_S3_URI`), against moto: loaded at cold start,
//! and a rule that fails to load stops the function from starting.

mod common;

use std::process::Command;

use common::{unique, Stack};
use trailwatch::rules::{RuleConfig, RuleSet};
use trailwatch::source::rules_s3::{fetch, S3Prefix};

const GOOD: &str = "title: Topic Deleted\nid: 0b3e52a4-5b7c-4c59-9a57-0a1d2c8f0e11\nlevel: low\n\
    logsource: {product: aws, service: cloudtrail}\n\
    detection:\n  sel:\n    eventSource: sns.amazonaws.com\n    eventName: DeleteTopic\n  condition: sel\n";
const BROKEN: &str = "title: Broken\nlogsource: {product: aws}\ndetection:\n  condition: nothing\n";

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn rules_under_the_prefix_are_loaded_with_their_s3_origin() {
    let stack = Stack::new(&unique("rules")).await;
    stack.put("team/aws/topic-deleted.yml", GOOD.into()).await;
    stack
        .put("team/aws/README.md", b"not a rule".to_vec())
        .await;
    stack.put("other/broken.yml", BROKEN.into()).await;
    let client = s3_client(&common::sdk_config().await);
    let at = S3Prefix::parse(&format!("s3://{}/team/", stack.bucket)).expect("uri");
    let texts = fetch(&client, &at).await.expect("fetch");
    assert_eq!(texts.len(), 1);
    let rules = RuleSet::load(&RuleConfig {
        texts,
        ..RuleConfig::default()
    })
    .expect("load");
    let mine = rules
        .rules()
        .iter()
        .find(|r| r.meta.title == "Topic Deleted")
        .expect("the S3 rule is loaded");
    assert_eq!(
        mine.meta.origin,
        format!("s3://{}/team/aws/topic-deleted.yml", stack.bucket)
    );
}

/// Runs the binary as Lambda would start it; no runtime API listens, so a
/// function that got past loading stops at its first poll instead.
fn start_function(rules_uri: &str, topic: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("ALERT_TOPIC_ARN", topic)
        .env("RULES_S3_URI", rules_uri)
        .env("AWS_ENDPOINT_URL", common::endpoint())
        .output()
        .expect("run the function");
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_broken_rule_in_s3_stops_the_function_from_starting() {
    let stack = Stack::new(&unique("rules")).await;
    stack.put("rules/good.yml", GOOD.into()).await;
    let logs = start_function(&format!("s3://{}/rules/", stack.bucket), &stack.topic_arn);
    let builtin = RuleSet::load(&RuleConfig::default()).expect("pack").len();
    let ready = format!("\"message\":\"ready\",\"rules\":{}", builtin + 1);
    assert!(logs.contains(&ready), "{logs}");

    stack.put("rules/zz-broken.yml", BROKEN.into()).await;
    let logs = start_function(&format!("s3://{}/rules/", stack.bucket), &stack.topic_arn);
    assert!(!logs.contains("\"ready\""), "{logs}");
    assert!(
        logs.contains(&format!(
            "trailwatch stopped: s3://{}/rules/zz-broken.yml: rule \\\"Broken\\\" cannot be compiled",
            stack.bucket
        )),
        "{logs}"
    );
}
