//! Cross-invocation dedup (`DEDUP_TABLE`) against moto's DynamoDB: a
//! notification delivered twice sends its alerts once, a failed delivery
//! leaves the alerts to the retry, and a table that cannot be reached
//! never stops an alert.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use common::{create_dedup_table as create_table, notification, unique, Stack};
use trailwatch::dedup::dynamodb::DynamoLedger;
use trailwatch::dedup::{Claim, Ledger};
use trailwatch::lambda::{Handler, InvocationError};

const TTL: Duration = Duration::from_secs(24 * 3600);

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&common::sdk_config().await)
}

async fn ledger(table: &str, ttl: Duration) -> Arc<DynamoLedger> {
    Arc::new(DynamoLedger::new(dynamodb().await, table.to_string(), ttl))
}

async fn handler(stack: &Stack, table: &str) -> Handler {
    let mut handler = common::moto_handler(stack).await;
    handler.ledger = Some(ledger(table, TTL).await as Arc<dyn Ledger>);
    handler
}

/// Every item of the table, by alert id.
async fn items(table: &str) -> HashMap<String, HashMap<String, AttributeValue>> {
    let out = dynamodb()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan");
    out.items()
        .iter()
        .map(|item| {
            let id = item["alert_id"].as_s().expect("alert_id").clone();
            (id, item.clone())
        })
        .collect()
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn a_notification_delivered_twice_sends_its_alerts_once() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let table = create_table().await;
    let event = notification("s3-several-objects.json", &stack.bucket);
    let first = handler(&stack, &table)
        .await
        .handle(&event)
        .await
        .expect("first invocation")
        .summary;
    assert!(first.alerts >= 4, "{first:?}");
    assert_eq!((first.alerts_suppressed, first.alerts_unchecked), (0, 0));
    // S3 delivers the same notification again, to a fresh cold start.
    let again = handler(&stack, &table)
        .await
        .handle(&event)
        .await
        .expect("second invocation")
        .summary;
    assert_eq!(
        again.findings, first.findings,
        "the objects were read again"
    );
    assert_eq!((again.alerts, again.alerts_suppressed), (0, first.alerts));
    // The subscriber got each alert once.
    let received = stack
        .alerts(first.alerts as usize + 1, Duration::from_secs(5))
        .await;
    assert_eq!(received.len() as u64, first.alerts, "{received:#?}");
    // The table remembers each alert as sent, for the TTL.
    let items = items(&table).await;
    assert_eq!(items.len() as u64, first.alerts);
    for (subject, doc) in &received {
        let id = doc["alert_id"].as_str().expect("alert_id");
        let item = items.get(id).unwrap_or_else(|| panic!("{subject}: {id}"));
        assert_eq!(item["state"].as_s().map(String::as_str), Ok("sent"));
        let expires: u64 = item["expires_at"].as_n().expect("n").parse().expect("u64");
        let now = epoch_now();
        assert!(expires.abs_diff(now + TTL.as_secs()) < 120, "{item:?}");
    }
}

#[tokio::test]
async fn alerts_that_could_not_be_delivered_are_sent_by_the_retry() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let table = create_table().await;
    let event = notification("s3-one-object.json", &stack.bucket);
    // The first invocation publishes to a topic that does not exist.
    let mut broken = handler(&stack, &table).await;
    let missing_topic = format!("{}-gone", stack.topic_arn);
    broken.sink = Arc::new(trailwatch::sink::sns::SnsSink::new(
        stack.sns.clone(),
        missing_topic,
    ));
    let err = broken.handle(&event).await.expect_err("publishing fails");
    assert!(matches!(err, InvocationError::Transient(_)), "{err}");
    assert!(items(&table).await.is_empty(), "the claim was released");
    // Lambda retries: the alert goes out.
    let retry = handler(&stack, &table)
        .await
        .handle(&event)
        .await
        .expect("retry")
        .summary;
    assert_eq!((retry.alerts, retry.alerts_suppressed), (1, 0));
    assert_eq!(stack.alerts(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test]
async fn a_table_that_cannot_be_reached_never_stops_an_alert() {
    let stack = Stack::new(&unique("logs")).await;
    stack.upload_sample_logs().await;
    let table = unique("no-such-table");
    let err = ledger(&table, TTL)
        .await
        .claim("id", SystemTime::now(), SystemTime::now())
        .await
        .expect_err("no table");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("dedup table {table}: ")),
        "{text}"
    );
    assert!(text.contains("ResourceNotFoundException"), "{text}");
    let summary = handler(&stack, &table)
        .await
        .handle(&notification("s3-one-object.json", &stack.bucket))
        .await
        .expect("invocation succeeds")
        .summary;
    assert_eq!((summary.alerts, summary.alerts_unchecked), (1, 1));
    assert_eq!(stack.alerts(1, Duration::from_secs(10)).await.len(), 1);
}

/// The claim's condition, case by case, as DynamoDB evaluates it.
#[tokio::test]
async fn claims_follow_the_lease_and_the_ttl() {
    let table = create_table().await;
    let ledger = ledger(&table, TTL).await;
    let now = SystemTime::now();
    let minute = Duration::from_secs(60);
    let claim = |id: &'static str, at: SystemTime, lease: SystemTime| {
        let ledger = Arc::clone(&ledger);
        async move { ledger.claim(id, at, lease).await.expect("claim") }
    };
    // A live claim is left to its holder; a sent alert is not sent again.
    assert_eq!(claim("a", now, now + minute).await, Claim::Granted);
    assert_eq!(claim("a", now, now + minute).await, Claim::InFlight);
    ledger.sent("a", now).await.expect("sent");
    assert_eq!(claim("a", now + minute, now + minute).await, Claim::Sent);
    // Releasing never forgets a sent alert.
    ledger.release("a").await.expect("release");
    assert_eq!(claim("a", now, now + minute).await, Claim::Sent);
    // A claim whose holder died (its deadline passed) is taken over.
    assert_eq!(claim("b", now, now + minute).await, Claim::Granted);
    assert_eq!(
        claim("b", now + 2 * minute, now + 3 * minute).await,
        Claim::Granted
    );
    // A released claim can be taken at once.
    assert_eq!(claim("c", now, now + minute).await, Claim::Granted);
    ledger.release("c").await.expect("release");
    assert_eq!(claim("c", now, now + minute).await, Claim::Granted);
    // Past the TTL, a sent alert may be sent again (DynamoDB deletes
    // expired items lazily; the claim does not wait for it).
    assert_eq!(claim("d", now, now + minute).await, Claim::Granted);
    ledger.sent("d", now).await.expect("sent");
    let later = now + TTL + minute;
    assert_eq!(claim("d", later, later + minute).await, Claim::Granted);
}
