//! The Lambda handler groups findings into alerts and caps them per
//! invocation; a failed delivery retries exactly the work behind it.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::memory::{Objects, Recorded};
use serde_json::{json, Value};
use trailwatch::alert::group::HELD_BACK_RULE_ID;
use trailwatch::alert::Alert;
use trailwatch::lambda::{Handler, Reply};
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:iam::123456789012:user/bob";
const CAROL: &str = "arn:aws:iam::123456789012:user/carol";

/// `n` denied calls by `arn`, 20 s apart (never 20 within 5 minutes, so
/// the built-in burst threshold stays quiet).
fn denied(arn: &str, n: u32) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "eventVersion": "1.08", "eventID": format!("{arn}-{i}"),
                "eventTime": format!("2026-11-23T08:{:02}:{:02}Z", i * 20 / 60, i * 20 % 60),
                "eventSource": "iam.amazonaws.com", "eventName": "ListUsers",
                "awsRegion": "us-east-1", "errorCode": "AccessDenied",
                "recipientAccountId": "123456789012",
                "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": "123456789012"},
            })
        })
        .collect()
}

fn root_login() -> Value {
    json!({
        "eventVersion": "1.08", "eventID": "root-1", "eventTime": "2026-11-23T08:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1", "recipientAccountId": "123456789012",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
    })
}

fn key(name: &str) -> String {
    format!("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/{name}.json")
}

fn handler(objects: &[(&str, Vec<Value>)], sink: &Arc<Recorded>, cap: Option<usize>) -> Handler {
    let objects = objects
        .iter()
        .map(|(name, records)| {
            let body = serde_json::to_vec(&json!({ "Records": records })).unwrap_or_default();
            (key(name), body)
        })
        .collect::<HashMap<_, _>>();
    Handler {
        store: Arc::new(Objects(objects)),
        sink: sink.clone(),
        rules: Arc::new(RuleSet::load(&RuleConfig::default()).expect("built-in pack")),
        limits: Limits::default(),
        deadline_margin: Duration::ZERO,
        max_alerts: cap,
        ledger: None,
        digests: None,
    }
}

fn notification(names: &[&str]) -> Value {
    let records: Vec<Value> = names
        .iter()
        .map(|name| json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "logs"}, "object": {"key": key(name), "size": 100}}}))
        .collect();
    json!({ "Records": records })
}

fn sqs(messages: &[(&str, Value)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| json!({"messageId": id, "eventSource": "aws:sqs", "body": body.to_string()}))
        .collect();
    json!({ "Records": records })
}

/// (rule title, principal, findings) of each alert.
fn shown(alerts: &[Alert]) -> Vec<(String, String, u64)> {
    alerts
        .iter()
        .map(|a| {
            let count = a.occurrences.as_ref().map_or(1, |o| o.count);
            (
                a.title.clone(),
                a.principal.clone().unwrap_or_default(),
                count,
            )
        })
        .collect()
}

const DENIED: &str = "AWS API Call Denied By Authorization";

#[tokio::test]
async fn one_alert_per_rule_and_principal_with_a_count() {
    let sink = Arc::new(Recorded::default());
    let mut records = denied(ALICE, 30);
    records.extend(denied(BOB, 5));
    let handler = handler(&[("a", records)], &sink, None);
    let summary = handler
        .handle(&notification(&["a"]))
        .await
        .expect("invocation")
        .summary;
    assert_eq!((summary.findings, summary.alerts), (35, 2));
    let alerts = sink.delivered();
    assert_eq!(
        shown(&alerts),
        [
            (DENIED.to_string(), ALICE.to_string(), 30),
            (DENIED.to_string(), BOB.to_string(), 5),
        ]
    );
    let alice = alerts[0].occurrences.as_ref().expect("grouped");
    assert_eq!(alice.first_time.as_deref(), Some("2026-11-23T08:00:00Z"));
    assert_eq!(alice.last_time.as_deref(), Some("2026-11-23T08:09:40Z"));
    assert_eq!(alice.event_ids.len(), 10);
}

#[tokio::test]
async fn past_the_cap_the_most_severe_go_out_and_one_summary_counts_the_rest() {
    let sink = Arc::new(Recorded::default());
    let mut records = denied(ALICE, 3);
    records.extend(denied(BOB, 5));
    records.push(root_login());
    let handler = handler(&[("a", records)], &sink, Some(2));
    let summary = handler
        .handle(&notification(&["a"]))
        .await
        .expect("invocation")
        .summary;
    assert_eq!((summary.findings, summary.alerts), (9, 3));
    let alerts = sink.delivered();
    let rules: Vec<&str> = alerts.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(rules[0], DENIED, "alice's, first in");
    assert_eq!(rules[1], "AWS Account Root User Activity", "high beats low");
    let held = alerts[2].held_back.as_ref().expect("the summary is last");
    assert_eq!(alerts[2].rule_id, HELD_BACK_RULE_ID);
    assert_eq!((held.alerts, held.findings, held.cap), (1, 5, 2));
    assert_eq!(held.rules[0].title, DENIED);
    // What to rescan to see them.
    assert_eq!(held.objects, [format!("s3://logs/{}", key("a"))]);
    assert_eq!(held.object_count, 1);
}

#[tokio::test]
async fn a_failed_delivery_lists_only_the_messages_behind_it() {
    // Bob's alert is refused: only his message is redelivered. Carol's
    // alert groups findings of two messages: both are.
    let sink = Arc::new(Recorded::refusing(|alert| {
        alert.principal.as_deref() == Some(BOB) || alert.principal.as_deref() == Some(CAROL)
    }));
    let handler = handler(
        &[
            ("alice", denied(ALICE, 2)),
            ("bob", denied(BOB, 2)),
            ("carol1", denied(CAROL, 1)),
            ("carol2", denied(CAROL, 1)),
        ],
        &sink,
        None,
    );
    let event = sqs(&[
        ("m-alice", notification(&["alice"])),
        ("m-bob", notification(&["bob"])),
        ("m-carol1", notification(&["carol1"])),
        ("m-carol2", notification(&["carol2"])),
    ]);
    let response = handler.handle(&event).await.expect("a batch answers");
    let Reply::Queue(reply) = &response.reply else {
        panic!("not a queue reply: {:?}", response.reply);
    };
    let listed: Vec<&str> = reply
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(listed, ["m-bob", "m-carol1", "m-carol2"]);
    assert_eq!(shown(&sink.delivered())[0].1, ALICE);
    assert_eq!(response.summary.alerts, 1);
    let errors = &response.summary.transient_errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("bob.json") && errors[0].contains("carol1.json"),
        "the error names the objects: {errors:?}"
    );
}

#[tokio::test]
async fn a_failed_delivery_fails_a_notification() {
    let sink = Arc::new(Recorded::refusing(|_| true));
    let handler = handler(&[("a", denied(ALICE, 1))], &sink, None);
    let err = handler
        .handle(&notification(&["a"]))
        .await
        .expect_err("Lambda must retry");
    assert!(err.to_string().contains("refused by the test"), "{err}");
}

/// `n` denied calls, each by its own session of `role` (as an EC2 fleet or
/// a Lambda function's invocations make them); `issuer`: whether the
/// records carry `sessionContext.sessionIssuer`.
fn denied_sessions(role: &str, n: u32, issuer: bool) -> Vec<Value> {
    let mut records = denied("placeholder", n);
    for (i, record) in records.iter_mut().enumerate() {
        let session = format!("i-{i:017x}");
        record["userIdentity"] = json!({
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLE:{session}"),
            "arn": format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}"),
            "accountId": "123456789012",
        });
        if issuer {
            record["userIdentity"]["sessionContext"] = json!({"sessionIssuer": {
                "type": "Role", "principalId": "AROAEXAMPLE",
                "arn": format!("arn:aws:iam::123456789012:role/service/{role}"),
                "accountId": "123456789012", "userName": role}});
        }
        record["eventID"] = json!(format!("{role}-{i}"));
    }
    records
}

#[tokio::test]
async fn sessions_of_one_role_are_one_alert_that_names_them() {
    let sink = Arc::new(Recorded::default());
    let mut records = denied_sessions("fleet-worker", 1000, true);
    // Sessions without an issuer in the record fold by their ARN's role.
    records.extend(denied_sessions("batch-job", 30, false));
    records.extend(denied(ALICE, 2));
    let handler = handler(&[("a", records)], &sink, Some(3));
    let summary = handler
        .handle(&notification(&["a"]))
        .await
        .expect("invocation")
        .summary;
    // Three actors: under the cap, so nothing is held back.
    assert_eq!((summary.findings, summary.alerts), (1032, 3));
    let alerts = sink.delivered();
    assert!(alerts.iter().all(|a| a.held_back.is_none()));

    let fleet = &alerts[0];
    let seen = fleet.occurrences.as_ref().expect("grouped");
    assert_eq!(seen.count, 1000);
    let sessions = seen.sessions.as_ref().expect("sessions named");
    assert_eq!(
        sessions.actor,
        "arn:aws:iam::123456789012:role/service/fleet-worker"
    );
    assert_eq!((sessions.count, sessions.more), (1000, false));
    assert_eq!(
        sessions.names,
        (0..5).map(|i| format!("i-{i:017x}")).collect::<Vec<_>>()
    );
    assert_eq!(
        fleet.subject(),
        format!("[LOW] {DENIED} \u{2014} role/service/fleet-worker (1000 sessions)")
    );
    let email = fleet.text();
    assert!(
        email.contains("in 1000 sessions of arn:aws:iam::123456789012:role/service/fleet-worker.")
            && email.contains("Role:        arn:aws:iam::123456789012:role/service/fleet-worker\n")
            && email.contains("Sessions:    i-00000000000000000\n")
            && email.contains("(the first 5 of 1000)"),
        "{email}"
    );
    let document: Value = serde_json::from_str(&fleet.json()).expect("json");
    assert_eq!(document["occurrences"]["sessions"]["count"], 1000);

    let batch = alerts[1].occurrences.as_ref().expect("grouped");
    let sessions = batch.sessions.as_ref().expect("sessions named");
    assert_eq!(
        (sessions.actor.as_str(), sessions.count, batch.count),
        ("arn:aws:sts::123456789012:assumed-role/batch-job", 30, 30)
    );
    // A user is not a session: as before.
    assert_eq!(alerts[2].principal.as_deref(), Some(ALICE));
    assert!(alerts[2]
        .occurrences
        .as_ref()
        .expect("2")
        .sessions
        .is_none());
    assert!(alerts[2].subject().ends_with("\u{2014} user/alice"));
}

#[tokio::test]
async fn federated_users_fold_under_the_user_who_issued_them_and_roles_stay_apart() {
    let sink = Arc::new(Recorded::default());
    let mut records = Vec::new();
    for (i, name) in ["ops-ann", "ops-ben", "ops-ann"].iter().enumerate() {
        let mut record = denied("placeholder", 1).remove(0);
        record["eventID"] = json!(format!("fed-{i}"));
        record["userIdentity"] = json!({
            "type": "FederatedUser",
            "arn": format!("arn:aws:sts::123456789012:federated-user/{name}"),
            "sessionContext": {"sessionIssuer": {"type": "IAMUser",
                "arn": "arn:aws:iam::123456789012:user/broker", "userName": "broker"}},
        });
        records.push(record);
    }
    records.extend(denied_sessions("role-a", 3, true));
    records.extend(denied_sessions("role-b", 1, true));
    let handler = handler(&[("a", records)], &sink, None);
    handler
        .handle(&notification(&["a"]))
        .await
        .expect("invocation");
    let alerts = sink.delivered();
    assert_eq!(alerts.len(), 3, "{:?}", shown(&alerts));
    let federated = alerts[0].occurrences.as_ref().expect("grouped");
    let sessions = federated.sessions.as_ref().expect("two sessions");
    assert_eq!(
        (sessions.actor.as_str(), sessions.count, federated.count),
        ("arn:aws:iam::123456789012:user/broker", 2, 3)
    );
    assert_eq!(sessions.names, ["ops-ann", "ops-ben"]);
    assert_eq!(
        alerts[1].occurrences.as_ref().expect("3").count,
        3,
        "role-a's three sessions"
    );
    // One session of role-b: an alert of its own, no count, no sessions.
    assert!(alerts[2].occurrences.is_none());
    assert!(alerts[2].subject().ends_with("/role-b/i-00000000000000000"));
}
