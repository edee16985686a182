//! How an alert reads: the subject line, the email a person reads top to
//! bottom, and the JSON document for machines.

use std::fmt::Write as _;

use super::{Alert, Threshold, MAX_SUBJECT_CHARS};

impl Alert {
    /// `[HIGH] title - principal`, printable ASCII, at most 99 characters.
    pub fn subject(&self) -> String {
        let mut subject = format!("[{}] {}", self.severity.to_uppercase(), self.title);
        if let Some(principal) = &self.principal {
            subject.push_str(" - ");
            subject.push_str(short_principal(principal));
        }
        printable_ascii(&subject, MAX_SUBJECT_CHARS)
    }

    /// The plain-text body of the email, whole.
    pub fn text(&self) -> String {
        self.email(usize::MAX)
    }

    /// The JSON document, whole (no newline).
    pub fn json(&self) -> String {
        self.document(usize::MAX)
    }

    /// The plain-text body of the email, its raw event cut to about
    /// `raw_limit` bytes with a note saying so.
    pub fn email(&self, raw_limit: usize) -> String {
        let _ = raw_limit; // TODO(render): truncation
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

    /// One JSON document (no newline): the same facts as fields, the raw
    /// event cut to about `raw_limit` bytes.
    pub fn document(&self, raw_limit: usize) -> String {
        let _ = raw_limit; // TODO(render): truncation
                           // Serialising a struct of strings and a Value cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
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
    use crate::rules::{Level, RuleMeta};
    use serde_json::{json, Value};
    use std::sync::Arc;

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
