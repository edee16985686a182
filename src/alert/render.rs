//! How an alert reads: the subject line, the email a person reads top to
//! bottom, and the JSON document for machines (SNS sends the email to email
//! subscribers and the document to every other protocol).
//!
//! Every value shown in the subject or the email goes through
//! [`super::safe_text`], so attacker-chosen fields cannot forge lines,
//! headers, text direction or terminal escapes. The document is faithful:
//! serde's JSON escaping only.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use serde_json::Value;

use crate::json::{self, BorrowedValue};

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
        // A named account, with its id when both fit; the name alone when
        // only it does; else cut like any subject.
        if let (Some(id), Some(name)) = (&self.account, &self.account_name) {
            for account in [format!("{name} ({id})"), name.clone()] {
                // One character over the limit tells a subject that fits
                // from one that was cut.
                let named = subject_line(&format!("{subject} in {account}"), MAX_SUBJECT_CHARS + 1);
                if named.chars().count() <= MAX_SUBJECT_CHARS {
                    return named;
                }
            }
        }
        subject_line(&subject, MAX_SUBJECT_CHARS)
    }

    /// `prod-payments (111122223333)` when the account is named, else the
    /// id.
    pub fn account_text(&self) -> Option<String> {
        let id = self.account.as_deref()?;
        Some(match &self.account_name {
            Some(name) => format!("{name} ({id})"),
            None => id.to_string(),
        })
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
        email.attack(self);
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
        let mut out = Vec::with_capacity(4096);
        self.write_document(&mut out, raw_limit, None);
        // Written from strings and serde_json's output: UTF-8.
        String::from_utf8(out).unwrap_or_else(|_| "{}".to_string())
    }

    /// [`Alert::document`] appended to `out`, with the rule's texts taken
    /// from `texts` when it holds them for this alert's rule (the same
    /// bytes either way). Written field by field in the order of
    /// [`Alert`]'s fields, each as serde_json writes it: the event is
    /// serialised once and nothing is copied into a `Value` first.
    pub fn write_document(
        &self,
        out: &mut Vec<u8>,
        raw_limit: usize,
        texts: Option<&mut RuleTexts>,
    ) {
        self.write_document_of(out, raw_limit, texts, Event::Value(&self.event));
    }

    /// [`Alert::write_document`] with `event` in place of the alert's own.
    pub(super) fn write_document_of(
        &self,
        out: &mut Vec<u8>,
        raw_limit: usize,
        texts: Option<&mut RuleTexts>,
        event: Event<'_>,
    ) {
        let mut doc = Document { out };
        doc.string("{\"alert_id\":", &self.alert_id);
        doc.string(",\"rule_id\":", &self.rule_id);
        doc.string(",\"title\":", &self.title);
        doc.string(",\"severity\":", self.severity);
        doc.string(",\"summary\":", &self.summary());
        let cached = texts.and_then(|texts| texts.of(self));
        match cached {
            Some(texts) => doc.out.extend_from_slice(&texts.description),
            None => doc.string(",\"description\":", &self.description),
        }
        doc.optional(",\"event_id\":", &self.event_id);
        doc.optional(",\"event_source\":", &self.event_source);
        doc.optional(",\"event_name\":", &self.event_name);
        doc.optional(",\"event_time\":", &self.event_time);
        doc.optional(",\"principal\":", &self.principal);
        doc.optional(",\"principal_type\":", &self.principal_type);
        doc.optional(",\"invoked_by\":", &self.invoked_by);
        doc.optional(",\"session_issuer\":", &self.session_issuer);
        doc.optional(",\"access_key_id\":", &self.access_key_id);
        doc.optional(",\"account\":", &self.account);
        if let Some(name) = &self.account_name {
            doc.string(",\"account_name\":", name);
        }
        doc.optional(",\"region\":", &self.region);
        doc.optional(",\"source_ip\":", &self.source_ip);
        doc.optional(",\"user_agent\":", &self.user_agent);
        doc.optional(",\"error_code\":", &self.error_code);
        doc.optional(",\"error_message\":", &self.error_message);
        doc.strings(",\"resources\":", &self.resources);
        doc.string(",\"source\":", &self.source);
        match cached {
            Some(texts) => doc.out.extend_from_slice(&texts.rest),
            None => rule_rest(&mut doc, self),
        }
        if let Some(attack) = &self.attack {
            doc.value(",\"attack\":", attack);
        }
        if let Some(threshold) = &self.threshold {
            doc.value(",\"threshold\":", threshold);
        }
        if let Some(occurrences) = &self.occurrences {
            doc.value(",\"occurrences\":", occurrences);
        }
        if let Some(held_back) = &self.held_back {
            doc.value(",\"held_back\":", held_back);
        }
        if !self.unparsed.is_empty() {
            doc.value(",\"unparsed\":", &self.unparsed);
        }
        // The event is written in place, then taken back out when it is
        // longer than the limit: a large record is serialised once.
        doc.out.extend_from_slice(b",\"event\":");
        let at = doc.out.len();
        match event {
            Event::Value(value) => doc.value("", value),
            // The record's text is the document's `event` as it is when
            // serde_json would write it the same; else written from its parts.
            Event::Borrowed(value, text) if value.compact_len() == Some(text.len()) => {
                doc.out.extend_from_slice(text.as_bytes());
            }
            Event::Borrowed(value, _) => value.write_compact(doc.out),
        }
        let event_len = doc.out.len() - at;
        if event_len > raw_limit {
            let event = doc.out.split_off(at);
            doc.out.extend_from_slice(b"null");
            // serde_json writes UTF-8; should it not, the excerpt is empty.
            let event = std::str::from_utf8(&event).unwrap_or_default();
            doc.truncated(",\"event_truncated\":", event, raw_limit);
        }
        if let Some(text) = self.event_text.as_deref() {
            if text.len() > raw_limit {
                doc.truncated(",\"event_text_truncated\":", text, raw_limit);
            } else {
                doc.string(",\"event_text\":", text);
            }
        }
        doc.out.push(b'}');
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
pub(super) fn session_count(sessions: &Sessions) -> String {
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
        self.field("Account:", alert.account_text().as_deref());
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

    /// The rule's ATT&CK techniques, one a line, and its tactics.
    fn attack(&mut self, alert: &Alert) {
        let Some(attack) = &alert.attack else {
            return;
        };
        self.group();
        self.list("ATT&CK:", &attack.technique_lines());
        self.field("Tactics:", attack.tactic_line().as_deref());
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
pub(super) fn short_principal(principal: &str) -> &str {
    match principal.strip_prefix("arn:") {
        Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(principal),
        None => principal,
    }
}

/// The record a document shows: the alert's `Value`, or the record read
/// borrowed from its text (the same bytes written).
pub(super) enum Event<'a> {
    Value(&'a Value),
    /// The record parsed from its text, and the text.
    Borrowed(&'a BorrowedValue<'a>, &'a str),
}

/// A JSON document being written: a key (with the comma before it, or
/// the opening brace) and a value, as serde_json writes them.
struct Document<'o> {
    out: &'o mut Vec<u8>,
}

impl Document<'_> {
    fn value(&mut self, key: &str, value: &(impl serde::Serialize + ?Sized)) {
        self.out.extend_from_slice(key.as_bytes());
        // Strings, numbers, a Value and structs of them into memory:
        // serde_json cannot fail here.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn string(&mut self, key: &str, value: &str) {
        self.out.extend_from_slice(key.as_bytes());
        json::write_str(self.out, value);
    }

    fn optional(&mut self, key: &str, value: &Option<String>) {
        match value {
            Some(value) => self.string(key, value),
            None => {
                self.out.extend_from_slice(key.as_bytes());
                self.out.extend_from_slice(b"null");
            }
        }
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            json::write_str(self.out, value);
        }
        self.out.push(b']');
    }

    /// `{"bytes":N,"excerpt":"..."}`: the size of `text` and its first
    /// `limit` bytes cut on a character boundary.
    fn truncated(&mut self, key: &str, text: &str, limit: usize) {
        self.out.extend_from_slice(key.as_bytes());
        let _ = write!(self.out, "{{\"bytes\":{}", text.len());
        self.string(",\"excerpt\":", cut_bytes(text, limit));
        self.out.push(b'}');
    }
}

/// `,"falsepositives":[...],"references":[...],"rule_author":...`: the
/// rule's texts after `source`.
fn rule_rest(doc: &mut Document<'_>, alert: &Alert) {
    doc.strings(",\"falsepositives\":", &alert.falsepositives);
    doc.strings(",\"references\":", &alert.references);
    doc.optional(",\"rule_author\":", &alert.rule_author);
}

/// The parts of the document that come from the rule alone, written once
/// per rule: a findings-heavy scan prints the same description and
/// references with every alert. Used only where the alert's texts are
/// still the rule's (an alert cut to fit an SNS message has its own).
#[derive(Default)]
pub struct RuleTexts {
    rules: Vec<(Arc<crate::rules::RuleMeta>, CachedTexts)>,
}

/// Rules whose texts are kept; past it, the oldest is written again.
const CACHED_RULES: usize = 256;

struct CachedTexts {
    /// `,"description":"..."`
    description: Vec<u8>,
    /// `,"falsepositives":[...],"references":[...],"rule_author":...`
    rest: Vec<u8>,
}

impl RuleTexts {
    /// The texts of `alert`'s rule, when they are the alert's own.
    fn of(&mut self, alert: &Alert) -> Option<&CachedTexts> {
        let rule = &alert.rule;
        let same = rule.description == alert.description
            && rule.falsepositives == alert.falsepositives
            && rule.references == alert.references
            && rule.author == alert.rule_author;
        if !same {
            return None;
        }
        // The Arc kept here keeps its address from being reused by another
        // rule while the entry lives.
        let at = match self.rules.iter().position(|(r, _)| Arc::ptr_eq(r, rule)) {
            Some(at) => at,
            None => {
                if self.rules.len() >= CACHED_RULES {
                    self.rules.remove(0);
                }
                let mut description = Vec::new();
                Document {
                    out: &mut description,
                }
                .string(",\"description\":", &alert.description);
                let mut rest = Vec::new();
                rule_rest(&mut Document { out: &mut rest }, alert);
                self.rules
                    .push((Arc::clone(rule), CachedTexts { description, rest }));
                self.rules.len() - 1
            }
        };
        Some(&self.rules[at].1)
    }
}

#[cfg(test)]
mod tests;
