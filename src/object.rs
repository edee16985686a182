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
/// The content check (gzip, `Records`) happens while reading; this only
/// decides what is worth reading.
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
}

impl ObjectKind {
    pub fn of(key: &str, size: Option<u64>) -> ObjectKind {
        if key.ends_with('/') {
            ObjectKind::Folder
        } else if size == Some(0) {
            ObjectKind::Empty
        } else if key.contains("/CloudTrail-Digest/") || key.starts_with("CloudTrail-Digest/") {
            ObjectKind::Digest
        } else if key.contains("/CloudTrail-Insight/") || key.starts_with("CloudTrail-Insight/") {
            ObjectKind::Insight
        } else {
            ObjectKind::Log
        }
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_cloudtrail_key_layout() {
        let log = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0815Z_x.json.gz";
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
        ];
        for (key, size, want) in cases {
            assert_eq!(ObjectKind::of(key, size), want, "{key} {size:?}");
        }
    }
}
