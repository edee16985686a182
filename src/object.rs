//! A log object to read, and what kind of object its key says it is.

use std::fmt;

/// One object named by a trigger, with its key already URL-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    /// Size from the notification, when it gave one.
    pub size: Option<u64>,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// What a key holds, decided from the key layout CloudTrail uses:
/// `[prefix/]AWSLogs/[o-org/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/...`.
///
/// The key decides what is worth reading, because it is known before the
/// object is fetched and CloudTrail's layout is fixed: under `AWSLogs/` the
/// service folder says what the object is (other services — Config,
/// flow logs — share log buckets). Outside that layout, a `.json.gz` or
/// `.json` key is read and its content decides (gzip, `Records`; anything
/// else is a permanent error with an integrity alert); other keys are
/// skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A CloudTrail log file: read it.
    Log,
    /// A CloudTrail Insights file: read it (its records have no eventSource).
    Insight,
    /// A digest file for log file validation: no `Records`, skip.
    Digest,
    /// A `folder/` placeholder: skip.
    Folder,
    /// An empty object: skip.
    Empty,
    /// Not a CloudTrail object (another service's logs, other files): skip.
    Other,
}

impl ObjectKind {
    pub fn of(key: &str, size: Option<u64>) -> ObjectKind {
        if key.ends_with('/') {
            ObjectKind::Folder
        } else if size == Some(0) {
            ObjectKind::Empty
        } else {
            match service_folder(key) {
                Some("CloudTrail") => ObjectKind::Log,
                Some("CloudTrail-Digest") => ObjectKind::Digest,
                Some("CloudTrail-Insight") => ObjectKind::Insight,
                Some(_) => ObjectKind::Other,
                None if key.ends_with(".json.gz") || key.ends_with(".json") => ObjectKind::Log,
                None => ObjectKind::Other,
            }
        }
    }

    /// Whether the key is in CloudTrail's `AWSLogs/` layout, where the key
    /// alone says what the object is.
    pub fn by_layout(key: &str) -> bool {
        service_folder(key).is_some()
    }

    /// Whether the object holds records to evaluate.
    pub fn is_readable(self) -> bool {
        matches!(self, ObjectKind::Log | ObjectKind::Insight)
    }

    /// Stable name for logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Log => "log",
            ObjectKind::Insight => "insight",
            ObjectKind::Digest => "digest",
            ObjectKind::Folder => "folder",
            ObjectKind::Empty => "empty",
            ObjectKind::Other => "other",
        }
    }
}

/// The service folder of a key in the `AWSLogs/[o-org/]ACCOUNT/SERVICE/`
/// layout, if the key has that layout.
fn service_folder(key: &str) -> Option<&str> {
    let rest = match key.find("/AWSLogs/") {
        Some(at) => &key[at + "/AWSLogs/".len()..],
        None => key.strip_prefix("AWSLogs/")?,
    };
    let mut parts = rest.split('/');
    let account = parts.next()?;
    if account.starts_with("o-") {
        parts.next()?;
    }
    // The service folder is followed by more path (region, date, file).
    let service = parts.next()?;
    parts.next().map(|_| service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_cloudtrail_key_layout() {
        let log = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0815Z_x.json.gz";
        let config = "AWSLogs/123456789012/Config/us-east-1/2026/11/23/ConfigSnapshot/x.json.gz";
        let writability = "AWSLogs/123456789012/Config/ConfigWritabilityCheckFile";
        let flow = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/23/x.log.gz";
        let org = "AWSLogs/o-abc123/123456789012/CloudTrail/us-east-1/2026/11/23/f.json.gz";
        let digest = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/23/f.json.gz";
        let insight =
            "prefix/AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2026/11/23/f.json.gz";
        let cases = [
            (log, Some(2048), ObjectKind::Log),
            (org, None, ObjectKind::Log),
            (digest, Some(900), ObjectKind::Digest),
            (insight, Some(900), ObjectKind::Insight),
            (
                "AWSLogs/123456789012/CloudTrail/",
                Some(0),
                ObjectKind::Folder,
            ),
            ("AWSLogs/folder/", None, ObjectKind::Folder),
            (log, Some(0), ObjectKind::Empty),
            (config, Some(10), ObjectKind::Other),
            (writability, Some(10), ObjectKind::Other),
            (flow, Some(10), ObjectKind::Other),
            ("uploads/backfill/log.json.gz", Some(10), ObjectKind::Log),
            ("uploads/notes.txt", Some(10), ObjectKind::Other),
            ("AWSLogs/readme.txt", Some(10), ObjectKind::Other),
        ];
        for (key, size, want) in cases {
            assert_eq!(ObjectKind::of(key, size), want, "{key} {size:?}");
        }
    }
}
