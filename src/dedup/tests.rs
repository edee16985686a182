//! `publish_once` with a ledger in memory that follows the DynamoDB
//! ledger's rules (those rules themselves are tested against moto's
//! DynamoDB in tests/dedup_moto.rs).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::alert::fixtures;

#[derive(Default)]
struct MemoryLedger {
    /// alert id -> (sent, lease_until)
    items: Mutex<HashMap<String, (bool, SystemTime)>>,
    broken: bool,
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn claim(
        &self,
        id: &str,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Claim, LedgerError> {
        if self.broken {
            return Err(LedgerError {
                table: "t".into(),
                message: "ResourceNotFoundException".into(),
            });
        }
        let mut items = self.items.lock().expect("lock");
        match items.get(id) {
            Some((true, _)) => Ok(Claim::Sent),
            Some((false, lease)) if *lease >= now => Ok(Claim::InFlight),
            _ => {
                items.insert(id.to_string(), (false, lease_until));
                Ok(Claim::Granted)
            }
        }
    }

    async fn sent(&self, id: &str, now: SystemTime) -> Result<(), LedgerError> {
        self.items
            .lock()
            .expect("lock")
            .insert(id.to_string(), (true, now));
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), LedgerError> {
        self.items.lock().expect("lock").remove(id);
        Ok(())
    }
}

/// Records what it delivers; refuses the alert ids in `refuse`.
#[derive(Default)]
struct Sink {
    delivered: Mutex<Vec<String>>,
    refuse: Mutex<Vec<String>>,
}

#[async_trait]
impl AlertSink for Sink {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let refuse = self.refuse.lock().expect("lock").clone();
        let (failed, ok): (Vec<&Alert>, Vec<&Alert>) =
            alerts.iter().partition(|a| refuse.contains(&a.alert_id));
        self.delivered
            .lock()
            .expect("lock")
            .extend(ok.iter().map(|a| a.alert_id.clone()));
        if failed.is_empty() {
            return Ok(());
        }
        Err(SinkError {
            failed: failed.iter().map(|a| a.alert_id.clone()).collect(),
            message: "refused".into(),
        })
    }
}

fn alerts(event_ids: &[&str]) -> Vec<Alert> {
    event_ids
        .iter()
        .map(|id| {
            let mut event = fixtures::event();
            event["eventID"] = json!(id);
            Alert::new(&fixtures::rule(), event, "s3://b/k")
        })
        .collect()
}

fn lease() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn counts(delivery: &Delivery) -> (u64, u64, u64, usize) {
    let failed = delivery.failed.as_ref().map_or(0, |e| e.failed.len());
    (
        delivery.sent,
        delivery.suppressed,
        delivery.unchecked,
        failed,
    )
}

#[tokio::test]
async fn without_a_ledger_every_alert_is_sent_every_time() {
    let sink = Sink::default();
    let batch = alerts(&["a", "b"]);
    for _ in 0..2 {
        let delivery = publish_once(&sink, None, &batch, lease()).await;
        assert_eq!(counts(&delivery), (2, 0, 0, 0));
    }
    assert_eq!(sink.delivered.lock().expect("lock").len(), 4);
}

#[tokio::test]
async fn an_alert_sent_once_is_not_sent_again() {
    let sink = Sink::default();
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let first = publish_once(&sink, Some(&ledger), &alerts(&["a", "b"]), lease()).await;
    assert_eq!(counts(&first), (2, 0, 0, 0));
    // The retry carries the same two and one new finding.
    let retry = publish_once(&sink, Some(&ledger), &alerts(&["a", "b", "c"]), lease()).await;
    assert_eq!(counts(&retry), (1, 2, 0, 0));
    let expected: Vec<String> = alerts(&["a", "b", "c"])
        .into_iter()
        .map(|a| a.alert_id)
        .collect();
    assert_eq!(*sink.delivered.lock().expect("lock"), expected);
}

#[tokio::test]
async fn an_alert_that_failed_is_released_and_sent_by_the_retry() {
    let sink = Sink::default();
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let batch = alerts(&["a", "b"]);
    *sink.refuse.lock().expect("lock") = vec![batch[1].alert_id.clone()];
    let first = publish_once(&sink, Some(&ledger), &batch, lease()).await;
    assert_eq!(counts(&first), (1, 0, 0, 1));
    sink.refuse.lock().expect("lock").clear();
    let retry = publish_once(&sink, Some(&ledger), &batch, lease()).await;
    assert_eq!(counts(&retry), (1, 1, 0, 0));
    assert_eq!(
        *sink.delivered.lock().expect("lock"),
        [batch[0].alert_id.clone(), batch[1].alert_id.clone()]
    );
}

#[tokio::test]
async fn a_live_claim_is_left_to_its_holder_and_a_dead_one_is_taken_over() {
    let sink = Sink::default();
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let batch = alerts(&["a"]);
    let now = SystemTime::now();
    // Another invocation claimed it and is still running.
    ledger
        .claim(&batch[0].alert_id, now, now + Duration::from_secs(60))
        .await
        .expect("claim");
    let concurrent = publish_once(&sink, Some(&ledger), &batch, lease()).await;
    assert_eq!(counts(&concurrent), (0, 1, 0, 0));
    // It died: its lease ended before the retry.
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    ledger
        .claim(&batch[0].alert_id, now, now - Duration::from_secs(1))
        .await
        .expect("claim");
    let retry = publish_once(&sink, Some(&ledger), &batch, lease()).await;
    assert_eq!(counts(&retry), (1, 0, 0, 0));
}

#[tokio::test]
async fn an_unreachable_ledger_never_stops_an_alert() {
    let sink = Sink::default();
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger {
        broken: true,
        ..MemoryLedger::default()
    });
    let delivery = publish_once(&sink, Some(&ledger), &alerts(&["a", "b"]), lease()).await;
    assert_eq!(counts(&delivery), (2, 0, 2, 0));
    assert_eq!(sink.delivered.lock().expect("lock").len(), 2);
}
