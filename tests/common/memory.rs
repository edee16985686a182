//! The handler's seams in memory, for tests that are about what the
//! handler decides rather than about S3 or SNS: objects from a map, alerts
//! into a list (or refused, to see what is retried).

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Mutex;

use async_trait::async_trait;
use trailwatch::alert::Alert;
use trailwatch::object::ObjectRef;
use trailwatch::sink::{AlertSink, SinkError};
use trailwatch::source::s3::{FetchError, ObjectBody, ObjectStore};

/// Objects in memory, by key.
pub struct Objects(pub HashMap<String, Vec<u8>>);

#[async_trait]
impl ObjectStore for Objects {
    /// No size, as a notification without one: these tests are not about
    /// the deadline.
    async fn open_sized(
        &self,
        object: &ObjectRef,
    ) -> Result<(ObjectBody, Option<u64>), FetchError> {
        let bytes = self
            .0
            .get(&object.key)
            .cloned()
            .ok_or(FetchError::NotFound {
                object: object.to_string(),
            })?;
        Ok((Box::new(Cursor::new(bytes)), None))
    }
}

/// Records the alerts it delivers; refuses those `refuse` picks.
#[derive(Default)]
pub struct Recorded {
    pub alerts: Mutex<Vec<Alert>>,
    pub refuse: Option<fn(&Alert) -> bool>,
}

impl Recorded {
    pub fn refusing(refuse: fn(&Alert) -> bool) -> Recorded {
        Recorded {
            alerts: Mutex::default(),
            refuse: Some(refuse),
        }
    }

    pub fn delivered(&self) -> Vec<Alert> {
        self.alerts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl AlertSink for Recorded {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let refuse = self.refuse.unwrap_or(|_| false);
        let (refused, delivered): (Vec<&Alert>, Vec<&Alert>) =
            alerts.iter().partition(|a| refuse(a));
        if let Ok(mut list) = self.alerts.lock() {
            list.extend(delivered.into_iter().cloned());
        }
        if refused.is_empty() {
            return Ok(());
        }
        Err(SinkError {
            failed: refused.iter().map(|a| a.alert_id.clone()).collect(),
            message: "refused by the test".to_string(),
        })
    }
}
