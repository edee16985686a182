//! How an alert reads: the subject line, the email a person reads top to
//! bottom, and the JSON document for machines (SNS sends the email to email
//! subscribers and the document to every other protocol).
//!
//! Every value shown in the subject or the email goes through
//! [`super::safe_text`], so attacker-chosen fields cannot forge lines,
//! headers, text direction or terminal escapes. The document is faithful:
//! serde's JSON escaping only.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::safe_text::{cut_bytes, cut_chars, json_text, lines, one_line, subject_line};
use super::{
    Alert, HeldBack, Occurrences, Sessions, Threshold, Unparsed, INTEGRITY_RULE_ID,
    MAX_SUBJECT_CHARS,
};

/// Width of the email's field labels, so values line up.
const LABEL_WIDTH: usize = 12;
/// Request parameters shown in the email; the rest are in the raw event.
const MAX_PARAMETER_LINES: usize = 12;
/// Characters of one parameter's value (and of its path) shown.
const MAX_PARAMETER_CHARS: usize = 200;
const MAX_PARAMETER_PATH_CHARS: usize = 100;

impl Alert {
    /// `[HIGH] title — user/alice`: printable, on one line, at most 99
    /// characters (SNS wants fewer than 100), cut on a character boundary.
    pub fn subject(&self) -> String {
        let mut subject = format!("[{}] {}", self.severity.to_uppercase(), self.title);
        let sessions = self.occurrences.as_ref().and_then(|o| o.sessions.as_ref());
        if let Some(sessions) = sessions {
            // Several sessions of one role: the role, not one of them.
            let _ = write!(
                subject,
                " \u{2014} {} ({} sessions)",
                short_principal(&sessions.actor),
                session_count(sessions)
            );
        } else if let Some(principal) = &self.principal {
            subject.push_str(" \u{2014} ");
            subject.push_str(short_principal(principal));
        }
        subject_line(&subject, MAX_SUBJECT_CHARS)
    }

    /// The plain-text body of the email, whole.
    pub fn text(&self) -> String {
        self.email(usize::MAX)
    }

    /// The JSON document, whole (no newline).
    pub fn json(&self) -> String {
        self.document(usize::MAX)
    }

    /// What happened, in one sentence, as the record says it (not made
    /// safe: the email shows it through the sanitizer, the document as is).
    pub fn summary(&self) -> String {
        if let Some(held) = &self.held_back {
            return held_back_summary(held);
        }
        if self.rule_id == INTEGRITY_RULE_ID {
            return self.integrity_summary();
        }
        if self.rule_id == super::digest::DIGEST_RULE_ID {
            // The verifier's sentence names the digest, its hour and the
            // object at fault; control characters in keys are escaped.
            let problem = self.event.get("problem").and_then(Value::as_str);
            return format!("Verifying {}.", problem.unwrap_or("a digest file"));
        }
        let mut sentence = format!("{} called {}", self.caller(), self.action());
        self.push_context(&mut sentence);
        if let Some(code) = &self.error_code {
            let _ = write!(sentence, "; it failed with {code}");
        }
        if let Some(threshold) = &self.threshold {
            let _ = write!(sentence, "; the rule counted {}", threshold.describe());
        }
        if let Some(seen) = &self.occurrences {
            let _ = write!(sentence, "; seen {}", seen_times(seen));
            if let Some(sessions) = &seen.sessions {
                let _ = write!(
                    sentence,
                    " in {} sessions of {}",
                    session_count(sessions),
                    sessions.actor
                );
            }
        }
        push_unparsed(&mut sentence, &self.unparsed);
        sentence.push('.');
        sentence
    }

    /// The plain-text body of the email. If the pretty-printed raw event is
    /// longer than `raw_limit` bytes it is cut on a character boundary to at
    /// most `raw_limit` bytes and followed by a line starting with
    /// `[raw event truncated:` naming its size and the log object; nothing
    /// else is ever cut.
    pub fn email(&self, raw_limit: usize) -> String {
        let mut email = Email::default();
        email.heading(self);
        if let Some(held) = &self.held_back {
            email.held_back(held);
        }
        email.who(self);
        email.what(self);
        email.where_(self);
        email.when(self);
        email.objects(self);
        email.unparsed(self);
        email.rule_texts(self);
        email.raw_event(self, raw_limit);
        email.record_text(self, raw_limit);
        email.out
    }

    /// One JSON document on one line: the alert's fields and `summary`. If
    /// the compact JSON of the event is longer than `raw_limit` bytes,
    /// `event` is `null` and `event_truncated` holds its size (`bytes`) and
    /// its first `raw_limit` bytes cut on a character boundary (`excerpt`).
    /// Likewise the record's text (`event_text`, there when part of the
    /// record could not be parsed): `event_text_truncated` in its place.
    pub fn document(&self, raw_limit: usize) -> String {
        let event = serde_json::to_string(self.event.as_ref()).unwrap_or_default();
        let truncated = event.len() > raw_limit;
        let text = self.event_text.as_deref().unwrap_or_default();
        let text_truncated = text.len() > raw_limit;
        // A cut event is left out before the alert becomes a Value, so a
        // large record is not copied only to be dropped. Serialising
        // strings, numbers and a Value cannot fail; should it, the document
        // is still JSON.
        let fields = if truncated || text_truncated {
            let shell = Alert {
                event: if truncated {
                    Arc::new(Value::Null)
                } else {
                    Arc::clone(&self.event)
                },
                event_text: if text_truncated {
                    None
                } else {
                    self.event_text.clone()
                },
                ..self.clone()
            };
            serde_json::to_value(&shell)
        } else {
            serde_json::to_value(self)
        };
        let Ok(Value::Object(fields)) = fields else {
            return "{}".to_string();
        };
        let mut doc = Map::with_capacity(fields.len() + 2);
        for (key, value) in fields {
            let after_severity = key == "severity";
            let after_event = key == "event";
            doc.insert(key, value);
            if after_severity {
                doc.insert("summary".to_string(), Value::String(self.summary()));
            }
            if after_event && truncated {
                let excerpt = cut_bytes(&event, raw_limit);
                let cut = json!({ "bytes": event.len(), "excerpt": excerpt });
                doc.insert("event_truncated".to_string(), cut);
            }
            if after_event && text_truncated {
                let excerpt = cut_bytes(text, raw_limit);
                let cut = json!({ "bytes": text.len(), "excerpt": excerpt });
                doc.insert("event_text_truncated".to_string(), cut);
            }
        }
        serde_json::to_string(&doc).unwrap_or_else(|_| "{}".to_string())
    }

    /// `arn (type)`, or a stand-in when the record names no one.
    fn caller(&self) -> String {
        match (&self.principal, &self.principal_type) {
            (Some(principal), Some(kind)) => format!("{principal} ({kind})"),
            (Some(principal), None) => principal.clone(),
            (None, Some(kind)) => format!("An unnamed {kind} caller"),
            (None, None) => "An unknown caller".to_string(),
        }
    }

    /// `lambda:Invoke`: the service's short name and the API.
    fn action(&self) -> String {
        let service = self
            .event_source
            .as_deref()
            .map(|s| s.strip_suffix(".amazonaws.com").unwrap_or(s));
        match (service, &self.event_name) {
            (Some(service), Some(name)) => format!("{service}:{name}"),
            (None, Some(name)) => name.clone(),
            (Some(service), None) => format!("an API of {service}"),
            (None, None) => "an API".to_string(),
        }
    }

    /// ` on RESOURCE in REGION from IP at TIME through SERVICE`, each part
    /// only when the record has it.
    fn push_context(&self, sentence: &mut String) {
        if let Some(first) = self.resources.first() {
            let _ = write!(sentence, " on {first}");
            match self.resources.len().saturating_sub(1) {
                0 => {}
                1 => sentence.push_str(" and 1 more resource"),
                more => {
                    let _ = write!(sentence, " and {more} more resources");
                }
            }
        }
        let parts = [
            (" in ", &self.region),
            (" from ", &self.source_ip),
            (" at ", &self.event_time),
        ];
        for (word, value) in parts {
            if let Some(value) = value {
                let _ = write!(sentence, "{word}{value}");
            }
        }
        if let Some(service) = &self.invoked_by {
            if self.principal.as_ref() != Some(service) {
                let _ = write!(sentence, " through {service}");
            }
        }
    }

    fn integrity_summary(&self) -> String {
        let class = self.event.get("class").and_then(Value::as_str);
        let class = class.map(|c| format!(" ({c})")).unwrap_or_default();
        let cause = self.error_message.as_deref().unwrap_or("unknown cause");
        if class == " (unverifiable)" {
            return format!(
                "The digest file {} could not be verified, so the logs it lists were not checked: {cause}.",
                self.source
            );
        }
        format!(
            "The log object {}{class} cannot be read, so none of its records were checked: {cause}.",
            self.source
        )
    }
}

/// `; its field F could not be parsed`, naming the fields the record's
/// parse left out.
fn push_unparsed(sentence: &mut String, unparsed: &[Unparsed]) {
    let fields: Vec<&str> = unparsed.iter().filter_map(|u| u.field.as_deref()).collect();
    match fields.as_slice() {
        [] if unparsed.is_empty() => {}
        [] => sentence.push_str("; the record could not be parsed whole"),
        [field] => {
            let _ = write!(sentence, "; its field {field} could not be parsed");
        }
        fields => {
            let _ = write!(
                sentence,
                "; its fields {} could not be parsed",
                fields.join(", ")
            );
        }
    }
}

fn held_back_summary(held: &HeldBack) -> String {
    let from = match held.object_count {
        0 => String::new(),
        n => format!(
            " in {} log object{}",
            counted(n, held.more_objects),
            if n == 1 { "" } else { "s" }
        ),
    };
    format!(
        "{} alerts ({} findings) of {} rules{from} were not sent: the invocation reached its cap of {} alerts.",
        held.alerts,
        held.findings,
        held.rules.len(),
        held.cap
    )
}

/// `3`, or `10000+` past what is counted.
fn counted(count: u64, more: bool) -> String {
    if more {
        format!("{count}+")
    } else {
        count.to_string()
    }
}

/// `37 times between FIRST and LAST`.
/// `12`, or `10000+` past what is counted.
fn session_count(sessions: &Sessions) -> String {
    if sessions.more {
        format!("{}+", sessions.count)
    } else {
        sessions.count.to_string()
    }
}

fn seen_times(seen: &Occurrences) -> String {
    match (&seen.first_time, &seen.last_time) {
        (Some(first), Some(last)) => format!("{} times between {first} and {last}", seen.count),
        _ => format!("{} times", seen.count),
    }
}

/// The email being written: labelled fields in groups separated by one
/// blank line, then the rule's texts and the raw event.
#[derive(Default)]
struct Email {
    out: String,
    /// A new group started: the next field is preceded by a blank line
    /// (so an empty group leaves no double gap).
    gap: bool,
}

impl Email {
    /// `Label:      value`, the value made safe; nothing when absent.
    fn field(&mut self, label: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.separate();
            let _ = writeln!(self.out, "{label:<LABEL_WIDTH$} {}", one_line(value));
        }
    }

    /// A value continuing the field above, aligned with it.
    fn continued(&mut self, value: &str) {
        let _ = writeln!(self.out, "{:LABEL_WIDTH$} {}", "", one_line(value));
    }

    /// A field with one value per line.
    fn list(&mut self, label: &str, values: &[String]) {
        if let Some((first, rest)) = values.split_first() {
            self.field(label, Some(first));
            rest.iter().for_each(|value| self.continued(value));
        }
    }

    fn group(&mut self) {
        self.gap = true;
    }

    fn separate(&mut self) {
        if std::mem::take(&mut self.gap) && !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    /// `[HIGH] title` and the one-sentence summary.
    fn heading(&mut self, alert: &Alert) {
        let level = alert.severity.to_uppercase();
        let _ = writeln!(self.out, "[{level}] {}", one_line(&alert.title));
        self.group();
        self.separate();
        let _ = writeln!(self.out, "{}", one_line(&alert.summary()));
    }

    /// The summary alert of the per-invocation cap: per rule, what was not
    /// sent, and what to do about it.
    fn held_back(&mut self, held: &HeldBack) {
        self.group();
        let total = format!(
            "{} alerts ({} findings); the cap is {} alerts per invocation",
            held.alerts, held.findings, held.cap
        );
        self.field("Held back:", Some(&total));
        let _ = writeln!(
            self.out,
            "  {:>8}  {:>8}  {:<13}  rule",
            "alerts", "findings", "level"
        );
        for rule in &held.rules {
            let name = format!("{} ({})", rule.title, rule.rule_id);
            let _ = writeln!(
                self.out,
                "  {:>8}  {:>8}  {:<13}  {}",
                rule.alerts,
                rule.findings,
                rule.severity,
                one_line(&name)
            );
        }
        self.field(
            "What to do:",
            Some("raise MAX_ALERTS_PER_INVOCATION, or read the log objects of this invocation"),
        );
        self.continued("with `trailwatch scan` to see every finding.");
        // The objects to rescan, by name: the first ones, then how many more.
        let mut objects = held.objects.clone();
        let total = usize::try_from(held.object_count).unwrap_or(usize::MAX);
        if held.more_objects || total > held.objects.len() {
            let rest = held.object_count.saturating_sub(held.objects.len() as u64);
            objects.push(format!(
                "... and {} more ({} in all)",
                counted(rest, held.more_objects),
                counted(held.object_count, held.more_objects)
            ));
        }
        self.list("Log objects:", &objects);
    }

    fn who(&mut self, alert: &Alert) {
        self.group();
        let who = alert.principal.as_ref().map(|_| alert.caller());
        self.field("Who:", who.as_deref());
        self.field("Account:", alert.account.as_deref());
        self.field("Access key:", alert.access_key_id.as_deref());
        self.field("Session of:", alert.session_issuer.as_deref());
        self.field("Invoked by:", alert.invoked_by.as_deref());
    }

    fn what(&mut self, alert: &Alert) {
        self.group();
        let what = match (&alert.event_source, &alert.event_name) {
            (Some(source), Some(name)) => Some(format!("{name} on {source}")),
            (None, Some(name)) => Some(name.clone()),
            (Some(source), None) => Some(source.clone()),
            (None, None) => None,
        };
        self.field("What:", what.as_deref());
        if let Some(params) = alert.event.get("requestParameters") {
            self.list("Parameters:", &parameter_lines(params));
        }
        let error = match (&alert.error_code, &alert.error_message) {
            (Some(code), Some(message)) => Some(format!("{code}: {message}")),
            (Some(code), None) => Some(code.clone()),
            (None, Some(message)) => Some(message.clone()),
            (None, None) => None,
        };
        self.field("Error:", error.as_deref());
        let threshold = alert.threshold.as_ref().map(Threshold::describe);
        self.field("Threshold:", threshold.as_deref());
    }

    fn where_(&mut self, alert: &Alert) {
        self.group();
        self.field("Where:", alert.region.as_deref());
        self.field("Source IP:", alert.source_ip.as_deref());
        self.field("User agent:", alert.user_agent.as_deref());
    }

    /// The time, and for grouped findings how many, over what span, and
    /// which events.
    fn when(&mut self, alert: &Alert) {
        self.group();
        self.field("When (UTC):", alert.event_time.as_deref());
        let Some(seen) = &alert.occurrences else {
            return;
        };
        self.field("Seen:", Some(&seen_times(seen)));
        self.list("Event IDs:", &seen.event_ids);
        let listed = seen.event_ids.len();
        if listed > 0 && seen.count > listed as u64 {
            self.continued(&format!("(the first {listed} of {})", seen.count));
        }
        if let Some(sessions) = &seen.sessions {
            let count = session_count(sessions);
            self.field("Role:", Some(&sessions.actor));
            self.list("Sessions:", &sessions.names);
            if sessions.names.len() < sessions.count as usize || sessions.more {
                self.continued(&format!("(the first {} of {count})", sessions.names.len()));
            }
        }
    }

    fn objects(&mut self, alert: &Alert) {
        self.group();
        let label = if alert.resources.len() > 1 {
            "Resources:"
        } else {
            "Resource:"
        };
        self.list(label, &alert.resources);
        self.field("Event ID:", alert.event_id.as_deref());
        self.field("Log object:", Some(&alert.source));
    }

    /// The record's fields that could not be parsed, and why.
    fn unparsed(&mut self, alert: &Alert) {
        self.group();
        let lines: Vec<String> = alert
            .unparsed
            .iter()
            .map(|u| match &u.field {
                Some(field) => format!("{field}: {}", u.reason),
                None => format!("the record: {}", u.reason),
            })
            .collect();
        self.list("Not parsed:", &lines);
        if !lines.is_empty() {
            self.continued("(left out of the raw event; the record's text is below it)");
        }
    }

    /// Why it matters, what to check, references and the rule itself: from
    /// the rule, trusted but possibly multi-line, so each line is made safe.
    fn rule_texts(&mut self, alert: &Alert) {
        if !alert.description.trim().is_empty() {
            let _ = writeln!(self.out, "\nWhy it matters:\n{}", lines(&alert.description));
        }
        self.bullets(
            "What to check (known false positives):",
            &alert.falsepositives,
        );
        self.bullets("References:", &alert.references);
        // `Rule: id (origin) by author`, a footer line like the headings
        // above rather than an aligned field.
        let mut rule = format!("{} ({})", alert.rule_id, alert.rule.origin);
        if let Some(author) = &alert.rule_author {
            let _ = write!(rule, " by {author}");
        }
        let _ = writeln!(self.out, "\nRule: {}", one_line(&rule));
    }

    fn bullets(&mut self, heading: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(self.out, "\n{heading}");
        for item in items {
            let _ = writeln!(self.out, "  - {}", lines(item).replace('\n', "\n    "));
        }
    }

    /// The record pretty-printed, with the characters serde leaves as they
    /// are escaped too, cut to `raw_limit` bytes with a note when longer.
    fn raw_event(&mut self, alert: &Alert, raw_limit: usize) {
        let pretty = serde_json::to_string_pretty(alert.event.as_ref()).unwrap_or_default();
        let raw = json_text(&pretty);
        let shown = cut_bytes(&raw, raw_limit);
        let _ = writeln!(self.out, "\nRaw event:\n{shown}");
        if shown.len() < raw.len() {
            let _ = writeln!(
                self.out,
                "[raw event truncated: {} of its {} bytes are shown; read the whole record in the log object {}]",
                shown.len(),
                raw.len(),
                one_line(&alert.source)
            );
        }
    }
}

impl Email {
    /// The record's text as the log has it, when part of it could not be
    /// parsed: made safe as the raw event is, cut to `raw_limit` bytes
    /// with a note when longer.
    fn record_text(&mut self, alert: &Alert, raw_limit: usize) {
        let Some(text) = alert.event_text.as_deref() else {
            return;
        };
        let safe = json_text(text);
        let shown = cut_bytes(&safe, raw_limit);
        let _ = writeln!(
            self.out,
            "\nRecord text (as the log object has it; not all of it could be parsed):\n{shown}"
        );
        if shown.len() < safe.len() {
            let _ = writeln!(
                self.out,
                "[record text truncated: {} of its {} bytes are shown; read the whole record in the log object {}]",
                shown.len(),
                safe.len(),
                one_line(&alert.source)
            );
        }
    }
}

/// `requestParameters` as `path: value` lines (dotted paths, `[i]` for
/// array items), at most [`MAX_PARAMETER_LINES`] with a last line counting
/// the rest, each value cut with an ellipsis. None when absent or null.
fn parameter_lines(params: &Value) -> Vec<String> {
    let mut flat = Flattened::default();
    if !params.is_null() {
        flat.walk(&mut String::new(), params);
    }
    if flat.more > 0 {
        flat.lines
            .push(format!("({} more in the raw event)", flat.more));
    }
    flat.lines
}

#[derive(Default)]
struct Flattened {
    lines: Vec<String>,
    /// Leaves past the last line shown.
    more: usize,
}

impl Flattened {
    /// Depth is bounded: records deeper than `record::MAX_DEPTH` are
    /// rejected before any rule sees them.
    fn walk(&mut self, path: &mut String, value: &Value) {
        let start = path.len();
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, item) in map {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    self.walk(path, item);
                    path.truncate(start);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (index, item) in items.iter().enumerate() {
                    let _ = write!(path, "[{index}]");
                    self.walk(path, item);
                    path.truncate(start);
                }
            }
            leaf => self.leaf(path, leaf),
        }
    }

    fn leaf(&mut self, path: &str, value: &Value) {
        if self.lines.len() >= MAX_PARAMETER_LINES {
            self.more += 1;
            return;
        }
        let text = match value {
            Value::String(text) => cut_chars(text, MAX_PARAMETER_CHARS).into_owned(),
            other => cut_chars(&other.to_string(), MAX_PARAMETER_CHARS).into_owned(),
        };
        self.lines.push(match path {
            "" => text,
            path => format!("{}: {text}", cut_chars(path, MAX_PARAMETER_PATH_CHARS)),
        });
    }
}

/// The readable end of an ARN: `user/alice` rather than the whole ARN.
fn short_principal(principal: &str) -> &str {
    match principal.strip_prefix("arn:") {
        Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(principal),
        None => principal,
    }
}

#[cfg(test)]
mod tests;
