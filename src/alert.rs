//! An alert: one rule matched one record. Built from the rule's metadata and
//! the record, rendered as an email a person reads top to bottom, as a
//! subject line, and as JSON for machines.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::record::text_at;
use crate::rules::{CorrelationHit, RuleMeta};

/// SNS subjects must be under 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// The facts of one finding, with the rule that raised it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Stable id of (rule, event): the same finding always has the same id,
    /// so a retried invocation's duplicates can be recognised downstream.
    pub alert_id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: &'static str,
    pub description: String,
    pub event_id: Option<String>,
    pub event_source: Option<String>,
    /// The API as CloudTrail logged it (with any version suffix).
    pub event_name: Option<String>,
    pub event_time: Option<String>,
    pub principal: Option<String>,
    pub principal_type: Option<String>,
    pub invoked_by: Option<String>,
    pub access_key_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub resources: Vec<String>,
    /// The log the record came from: `s3://bucket/key` or a file path.
    pub source: String,
    pub falsepositives: Vec<String>,
    pub references: Vec<String>,
    pub rule_author: Option<String>,
    /// For threshold (correlation) rules: what was counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// The record as CloudTrail wrote it (for a threshold, the record that
    /// reached it), shared by the alerts on the same record.
    #[serde(serialize_with = "shared_value")]
    pub event: Arc<Value>,
    #[serde(skip)]
    rule: Arc<RuleMeta>,
}

/// A record that matched, as CloudTrail wrote it, and the log it came
/// from: shared by every finding and alert on it, never copied.
#[derive(Debug)]
pub struct Record {
    event: Arc<Value>,
    source: Arc<str>,
}

impl Record {
    pub fn new(event: Value, source: Arc<str>) -> Record {
        Record {
            event: Arc::new(event),
            source,
        }
    }

    fn text(&self, pointer: &str) -> Option<Cow<'_, str>> {
        text_at(&self.event, pointer)
    }

    fn owned(&self, pointer: &str) -> Option<String> {
        self.text(pointer).map(Cow::into_owned)
    }

    /// The principal alerts name: the caller's ARN, or failing that the
    /// invoking service, principal id or user name.
    pub fn principal(&self) -> Option<Cow<'_, str>> {
        self.text("/userIdentity/arn")
            .or_else(|| self.text("/userIdentity/invokedBy"))
            .or_else(|| self.text("/userIdentity/principalId"))
            .or_else(|| self.text("/userIdentity/userName"))
    }

    pub fn event_id(&self) -> Option<Cow<'_, str>> {
        self.text("/eventID")
    }

    pub fn event_time(&self) -> Option<Cow<'_, str>> {
        self.text("/eventTime")
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// One rule matched one record. Cheap to make and to keep (shared
/// pointers to the rule and the record): the scan hands out findings, and
/// the alert a person reads is built only for the findings that are sent.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<RuleMeta>,
    pub record: Arc<Record>,
    /// For a threshold (correlation) rule: what was counted.
    pub threshold: Option<Threshold>,
}

impl Finding {
    pub fn new(rule: &Arc<RuleMeta>, record: &Arc<Record>) -> Finding {
        Finding {
            rule: Arc::clone(rule),
            record: Arc::clone(record),
            threshold: None,
        }
    }

    /// A threshold `hit` reached by `record`.
    pub fn threshold(hit: CorrelationHit, record: &Arc<Record>) -> Finding {
        Finding {
            threshold: Some(Threshold {
                // Counts are whole numbers of records.
                count: hit.count.max(0.0) as u64,
                window_secs: hit.timespan_secs,
                group: hit.group,
            }),
            rule: hit.rule,
            record: Arc::clone(record),
        }
    }

    /// Who the finding is about: for a threshold grouped by an identity
    /// field, the group's value; otherwise the record's principal.
    pub fn principal(&self) -> Option<Cow<'_, str>> {
        let grouped = self.threshold.as_ref().and_then(|t| {
            t.group
                .iter()
                .find(|(field, _)| field.starts_with("userIdentity."))
                .map(|(_, value)| Cow::Borrowed(value.as_str()))
        });
        grouped.or_else(|| self.record.principal())
    }

    /// Stable id of (rule, event): the same finding always has the same id,
    /// so a retried invocation's duplicates can be recognised downstream.
    /// A threshold's id is its group and the record that reached it.
    pub fn alert_id(&self) -> String {
        let event_id = self.record.event_id();
        match &self.threshold {
            None => alert_id(
                &self.rule.id,
                event_id.as_deref().unwrap_or(self.record.source()),
            ),
            Some(threshold) => {
                let group: Vec<&str> = threshold.group.iter().map(|(_, v)| v.as_str()).collect();
                let window_end = event_id.unwrap_or_default();
                alert_id(
                    &self.rule.id,
                    &format!("{}\u{1f}{window_end}", group.join("\u{1f}")),
                )
            }
        }
    }

    /// The alert a person reads.
    pub fn alert(&self) -> Alert {
        let rule = &self.rule;
        let record = &self.record;
        let text = |pointer: &str| record.owned(pointer);
        Alert {
            alert_id: self.alert_id(),
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.level.as_str(),
            description: rule.description.clone(),
            event_id: text("/eventID"),
            event_source: text("/eventSource"),
            event_name: text("/eventName"),
            event_time: text("/eventTime"),
            principal: self.principal().map(Cow::into_owned),
            principal_type: text("/userIdentity/type"),
            invoked_by: text("/userIdentity/invokedBy"),
            access_key_id: text("/userIdentity/accessKeyId"),
            account: text("/recipientAccountId").or_else(|| text("/userIdentity/accountId")),
            region: text("/awsRegion"),
            source_ip: text("/sourceIPAddress"),
            user_agent: text("/userAgent"),
            error_code: text("/errorCode"),
            error_message: text("/errorMessage"),
            resources: resources_of(&record.event),
            source: record.source().to_string(),
            falsepositives: rule.falsepositives.clone(),
            references: rule.references.clone(),
            rule_author: rule.author.clone(),
            threshold: self.threshold.clone(),
            event: Arc::clone(&record.event),
            rule: Arc::clone(rule),
        }
    }
}

impl Alert {
    /// Builds an alert from a rule and the record as CloudTrail wrote it.
    pub fn new(rule: &Arc<RuleMeta>, event: Value, source: &str) -> Alert {
        Finding::new(rule, &Arc::new(Record::new(event, Arc::from(source)))).alert()
    }

    /// An alert about a log object that cannot be read: a CloudTrail log
    /// that is corrupt, gone or locked away may be tampering, and its
    /// records were not checked by any rule.
    pub fn integrity(object: &str, class: &str, cause: &str) -> Alert {
        let event = serde_json::json!({ "object": object, "class": class, "cause": cause });
        let mut alert = Alert::new(integrity_rule(), event, object);
        alert.error_message = Some(cause.to_string());
        alert
    }

    /// `[HIGH] title - principal`, printable ASCII, at most 99 characters.
    pub fn subject(&self) -> String {
        let mut subject = format!("[{}] {}", self.severity.to_uppercase(), self.title);
        if let Some(principal) = &self.principal {
            subject.push_str(" - ");
            subject.push_str(short_principal(principal));
        }
        printable_ascii(&subject, MAX_SUBJECT_CHARS)
    }

    /// The plain-text body of the email.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, label: &str, value: Option<&str>| {
            if let Some(value) = value {
                let _ = writeln!(out, "{label:<12} {}", one_line(value));
            }
        };
        let _ = writeln!(out, "[{}] {}", self.severity.to_uppercase(), self.title);
        let _ = writeln!(out);
        let what = match (&self.event_source, &self.event_name) {
            (Some(source), Some(name)) => Some(format!("{name} on {source}")),
            (None, Some(name)) => Some(name.clone()),
            (Some(source), None) => Some(source.clone()),
            (None, None) => None,
        };
        line(&mut out, "What:", what.as_deref());
        let threshold = self.threshold.as_ref().map(Threshold::describe);
        line(&mut out, "Threshold:", threshold.as_deref());
        let who = self.principal.as_ref().map(|p| match &self.principal_type {
            Some(kind) => format!("{p} ({kind})"),
            None => p.clone(),
        });
        line(&mut out, "Who:", who.as_deref());
        line(&mut out, "Invoked by:", self.invoked_by.as_deref());
        line(&mut out, "Access key:", self.access_key_id.as_deref());
        line(&mut out, "Account:", self.account.as_deref());
        line(&mut out, "Region:", self.region.as_deref());
        line(&mut out, "When (UTC):", self.event_time.as_deref());
        line(&mut out, "Source IP:", self.source_ip.as_deref());
        line(&mut out, "User agent:", self.user_agent.as_deref());
        let error = match (&self.error_code, &self.error_message) {
            (Some(code), Some(message)) => Some(format!("{code}: {message}")),
            (Some(code), None) => Some(code.clone()),
            _ => None,
        };
        line(&mut out, "Error:", error.as_deref());
        for resource in &self.resources {
            line(&mut out, "Resource:", Some(resource));
        }
        line(&mut out, "Event ID:", self.event_id.as_deref());
        line(&mut out, "Log object:", Some(&self.source));
        if !self.description.is_empty() {
            let _ = writeln!(out, "\nWhy it matters:\n{}", self.description.trim_end());
        }
        if !self.falsepositives.is_empty() {
            let _ = writeln!(out, "\nKnown false positives:");
            for fp in &self.falsepositives {
                let _ = writeln!(out, "  - {fp}");
            }
        }
        if !self.references.is_empty() {
            let _ = writeln!(out, "\nReferences:");
            for reference in &self.references {
                let _ = writeln!(out, "  - {reference}");
            }
        }
        let _ = write!(out, "\nRule: {} ({})", self.rule_id, self.rule.origin);
        match &self.rule_author {
            Some(author) => {
                let _ = writeln!(out, " by {}", one_line(author));
            }
            None => out.push('\n'),
        }
        let raw = serde_json::to_string_pretty(self.event.as_ref()).unwrap_or_default();
        let _ = writeln!(out, "\nRaw event:\n{raw}");
        out
    }

    /// One JSON document (no newline): the same facts as fields.
    pub fn json(&self) -> String {
        // Serialising a struct of strings and a Value cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a threshold rule counted.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    /// Matching records counted in the window.
    pub count: u64,
    pub window_secs: u64,
    /// The group-by fields and the values this group has.
    pub group: Vec<(String, String)>,
}

impl Threshold {
    fn describe(&self) -> String {
        let group: Vec<String> = self.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let by = if group.is_empty() {
            String::new()
        } else {
            format!(" for {}", group.join(", "))
        };
        format!(
            "{} matching records within {} s{by}",
            self.count, self.window_secs
        )
    }
}

/// The id integrity alerts carry in place of a rule id.
pub const INTEGRITY_RULE_ID: &str = "trailwatch-log-object-unreadable";

fn integrity_rule() -> &'static Arc<RuleMeta> {
    static RULE: std::sync::OnceLock<Arc<RuleMeta>> = std::sync::OnceLock::new();
    RULE.get_or_init(|| {
        Arc::new(RuleMeta {
            id: INTEGRITY_RULE_ID.to_string(),
            title: "CloudTrail Log Object Cannot Be Read".to_string(),
            level: crate::rules::Level::High,
            description: "trailwatch could not read this log object, so none of its records \
                were checked by any rule. CloudTrail writes valid gzip JSON; an object that is \
                corrupt, truncated, not a log, deleted before it was read, or that the function \
                may not read (bucket policy, KMS key policy) can be an accident of configuration \
                or someone covering their tracks. Check who wrote or deleted the object \
                (S3 data events, the bucket's access logs), whether the trail's log file \
                validation (digest files) still verifies, and the function's permissions."
                .to_string(),
            falsepositives: vec![
                "Objects that are not CloudTrail logs written under the trail's prefix".to_string(),
                "A missing kms:Decrypt permission after the trail's KMS key changed".to_string(),
            ],
            references: vec![
                "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html".to_string(),
            ],
            tags: Vec::new(),
            author: Some("trailwatch".to_string()),
            origin: "trailwatch".to_string(),
        })
    })
}

fn shared_value<S: serde::Serializer>(
    value: &Arc<Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().serialize(serializer)
}

/// FNV-1a 64 of rule id and event id: stable across runs and versions.
fn alert_id(rule_id: &str, event_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in rule_id.bytes().chain([0u8]).chain(event_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn resources_of(event: &Value) -> Vec<String> {
    let Some(items) = event.get("resources").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            r.get("ARN")
                .or_else(|| r.get("arn"))
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect()
}

/// The readable end of an ARN: `user/alice` rather than the whole ARN.
fn short_principal(principal: &str) -> &str {
    match principal.strip_prefix("arn:") {
        Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(principal),
        None => principal,
    }
}

/// Keeps a value on one line: control characters (newlines, escapes) become
/// spaces so an attacker-chosen field cannot forge lines of the email.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Printable ASCII only (SNS rewrites subjects with anything else), cut to
/// `max` characters.
fn printable_ascii(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            '\u{2013}' | '\u{2014}' => '-',
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Level;
    use serde_json::json;

    fn rule() -> Arc<RuleMeta> {
        Arc::new(RuleMeta {
            id: "rule-1".into(),
            title: "Lambda function invoked by a principal other than S3".into(),
            level: Level::High,
            description: "Why.".into(),
            falsepositives: vec!["Tests".into()],
            references: vec!["https://example.com".into()],
            tags: vec![],
            author: Some("Jane Doe".into()),
            origin: "builtin/x.yml".into(),
        })
    }

    fn event() -> Value {
        json!({
            "eventID": "e-1", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
            "eventTime": "2026-11-23T08:15:02Z", "awsRegion": "us-east-1",
            "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.7",
            "userAgent": "evil\r\nBcc: x", "userIdentity": {"type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/alice", "accessKeyId": "AKIAEXAMPLE"},
            "resources": [{"type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:123456789012:function:f"}]
        })
    }

    #[test]
    fn subject_names_level_title_and_principal() {
        let alert = Alert::new(&rule(), event(), "s3://b/k");
        assert_eq!(
            alert.subject(),
            "[HIGH] Lambda function invoked by a principal other than S3 - user/alice"
        );
    }

    #[test]
    fn subject_is_short_printable_ascii() {
        let mut meta = (*rule()).clone();
        meta.title = format!("Tab\there — é {}", "x".repeat(200));
        let alert = Alert::new(&Arc::new(meta), event(), "s");
        let subject = alert.subject();
        assert_eq!(subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(subject.starts_with("[HIGH] Tab here - ? xx"), "{subject}");
        assert!(subject.chars().all(|c| (' '..='~').contains(&c)));
    }

    #[test]
    fn body_reads_top_to_bottom_and_keeps_fields_on_one_line() {
        let text = Alert::new(&rule(), event(), "s3://b/k").text();
        let order = [
            "[HIGH] Lambda function invoked",
            "What:        Invoke on lambda.amazonaws.com",
            "Who:         arn:aws:iam::123456789012:user/alice (IAMUser)",
            "Account:     123456789012",
            "When (UTC):  2026-11-23T08:15:02Z",
            "User agent:  evil  Bcc: x",
            "Resource:    arn:aws:lambda:us-east-1:123456789012:function:f",
            "Log object:  s3://b/k",
            "Why it matters:\nWhy.",
            "Rule: rule-1 (builtin/x.yml) by Jane Doe\n",
            "Raw event:",
        ];
        let mut at = 0;
        for want in order {
            let found = text[at..]
                .find(want)
                .unwrap_or_else(|| panic!("{want:?} in\n{text}"));
            at += found + want.len();
        }
        assert!(!text.contains("\nBcc: x"));
    }

    #[test]
    fn alert_ids_are_stable_per_rule_and_event() {
        let a = Alert::new(&rule(), event(), "s3://b/k");
        let b = Alert::new(&rule(), event(), "elsewhere");
        assert_eq!(a.alert_id, b.alert_id);
        let mut other = (*rule()).clone();
        other.id = "rule-2".into();
        assert_ne!(
            a.alert_id,
            Alert::new(&Arc::new(other), event(), "s").alert_id
        );
    }

    #[test]
    fn json_has_the_documented_fields() {
        let doc: Value = serde_json::from_str(&Alert::new(&rule(), event(), "s3://b/k").json())
            .expect("valid JSON");
        for field in [
            "rule_id",
            "title",
            "severity",
            "event_id",
            "event_source",
            "event_name",
            "event_time",
            "principal",
            "account",
            "region",
            "source",
        ] {
            assert!(
                doc.get(field).is_some_and(|v| !v.is_null()),
                "{field} in {doc}"
            );
        }
        assert_eq!(doc["userAgent"], Value::Null);
        assert_eq!(doc["event"]["userAgent"], "evil\r\nBcc: x");
    }
}
