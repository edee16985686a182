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

/// The object's `s3://` URI, for people: a key may hold control
/// characters (S3 allows any UTF-8), which are shown escaped (`\u{1}`)
/// so that a key cannot move the cursor, ring a bell or fake a line in a
/// terminal or a log; a backslash is doubled so the escapes are not
/// ambiguous.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/", self.bucket)?;
        for c in self.key.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                c if shown_escaped(c) => write!(f, "{}", c.escape_unicode())?,
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

/// Control characters, and the invisible ones that reorder or hide text
/// (bidirectional overrides and isolates, zero-width characters).
fn shown_escaped(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
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
    fn keys_with_control_characters_are_shown_escaped() {
        let object = |key: &str| ObjectRef {
            bucket: "b".into(),
            key: key.into(),
            size: None,
        };
        let cases = [
            (
                "a\u{1}b\u{b}\n.json.gz",
                "s3://b/a\\u{1}b\\u{b}\\u{a}.json.gz",
            ),
            (
                "back\\slash \u{202E}fdp.gz",
                "s3://b/back\\\\slash \\u{202e}fdp.gz",
            ),
            ("été/run 1+2.json.gz", "s3://b/été/run 1+2.json.gz"),
        ];
        for (key, shown) in cases {
            assert_eq!(object(key).to_string(), shown, "{key:?}");
        }
    }

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
