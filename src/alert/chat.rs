//! An alert as a chat message: the "custom notification" JSON that AWS
//! Chatbot (Amazon Q Developer in chat applications) renders in Slack and
//! Microsoft Teams when it arrives as the plain `Message` of an SNS
//! notification on a topic mapped to a channel.
//!
//! Schema: <https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>
//! (read 2026-12-07): `version` must be `1.0`, `source` must be `custom`,
//! `content.textType` only `client-markdown`; `title`, `description`,
//! `nextSteps`, `keywords`, and `metadata` (`threadId`, `summary`,
//! `eventType`, `relatedResources`, `additionalContext`) are optional.
//! `tests/data/chatbot-custom-notification.schema.json` holds it as a JSON
//! Schema, and every message built here is checked against it.
//!
//! The page gives no length limits for the fields; the caps below are
//! trailwatch's own, set so that a message reads at a glance in a chat
//! window and stays far under the SNS limit (256 KiB) whatever the record
//! holds. Every cut ends in `…`.
//!
//! Record fields are attacker-controlled (user agents, ARNs, error
//! messages). Each one is shown inside an inline code span, after
//! [`code`] made it safe: no line breaks or invisible characters
//! (safe_text's escapes), no backtick to close the span, and none of
//! `<`, `>`, `@` that Slack reads as links and mentions (`<!here>`,
//! `<@U1>`, `<https://x|click>`) even inside code, nor brackets of a
//! markdown link (`[text](url)`). Text outside code spans (the summary
//! sentence, rule texts) goes through [`prose`], the same and `*`, `~`.

use std::fmt::Write as _;

use serde::Serialize;

use super::safe_text::{cut_chars, one_line, subject_line};
use super::{Alert, INTEGRITY_RULE_ID};
use crate::alert::message::{SnsMessage, MESSAGE_BUDGET};

/// `version` the schema requires.
pub const VERSION: &str = "1.0";
/// `source` the schema requires.
pub const SOURCE: &str = "custom";
/// The only `textType` Chatbot supports.
pub const TEXT_TYPE: &str = "client-markdown";
/// `metadata.eventType`: letters, digits and `-`, as custom actions'
/// `NotificationType` must be, so a custom action button can target it.
pub const EVENT_TYPE: &str = "trailwatch-alert";

/// Characters of the title (level marker, level, rule title).
pub const MAX_TITLE_CHARS: usize = 150;
/// Characters of the description; past it whole lines are left out and a
/// last line says so.
pub const MAX_DESCRIPTION_CHARS: usize = 3_000;
/// Characters of one record value shown in the description.
pub const MAX_VALUE_CHARS: usize = 200;
/// Characters of the rule's description shown.
pub const MAX_RULE_TEXT_CHARS: usize = 600;
/// Next steps listed, and characters of each.
pub const MAX_NEXT_STEPS: usize = 5;
pub const MAX_STEP_CHARS: usize = 300;
/// Keywords, and characters of each.
pub const MAX_KEYWORDS: usize = 6;
pub const MAX_KEYWORD_CHARS: usize = 64;
/// Related resources (ARNs) listed, and characters of each.
pub const MAX_RELATED: usize = 10;
pub const MAX_RELATED_CHARS: usize = 256;
/// Characters of each `additionalContext` value.
pub const MAX_CONTEXT_CHARS: usize = 256;

/// The custom notification.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    pub version: &'static str,
    pub source: &'static str,
    /// The alert id: the same finding, the same id (dedup's).
    pub id: String,
    pub content: Content,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub text_type: &'static str,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Same rule, same actor, same account: one thread, across invocations.
    pub thread_id: String,
    /// The email's subject line.
    pub summary: String,
    pub event_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_resources: Vec<String>,
    /// Ids a responder looks the alert up by, in the email or the logs.
    pub additional_context: serde_json::Map<String, serde_json::Value>,
}

/// The marker that leads the title: what a person scanning a channel sees
/// first, so each level has its own colour.
pub fn level_marker(severity: &str) -> &'static str {
    match severity {
        "critical" => "\u{1f6a8}", // rotating light
        "high" => "\u{1f534}",     // red circle
        "medium" => "\u{1f7e0}",   // orange circle
        "low" => "\u{1f7e1}",      // yellow circle
        _ => "\u{1f535}",          // blue circle: informational
    }
}

/// A record value for an inline code span: on one line (safe_text's
/// escapes), cut to `max` characters, [`defused`].
pub(crate) fn code(value: &str, max: usize) -> String {
    let safe = one_line(value);
    let mut out = String::with_capacity(safe.len().min(4 * max) + 2);
    out.push('`');
    out.extend(cut_chars(&safe, max).chars().map(|c| defused(c, true)));
    out.push('`');
    out
}

/// Text outside code spans (rule texts, the summary sentence): as
/// [`code`] makes a value, with `*` and `~` defused too.
pub(crate) fn prose(text: &str, max: usize) -> String {
    let safe = one_line(text);
    cut_chars(&safe, max)
        .chars()
        .map(|c| defused(c, false))
        .collect()
}

/// A look-alike for a character chat markdown acts on: the backtick that
/// would close a code span; `<`, `>` and `@` that Slack reads as links and
/// mentions even inside code; brackets, so no `[text](url)` link forms
/// should a client read one inside code; outside code, `*` and `~`, so
/// record text cannot restyle the message (`_` is kept: role and user
/// names have it).
fn defused(c: char, in_code: bool) -> char {
    match c {
        '`' => '\u{2cb}', // modifier letter grave accent
        '<' => '\u{2039}',
        '>' => '\u{203a}',
        '@' => '\u{ff20}', // fullwidth commercial at
        '[' => '\u{ff3b}', // fullwidth brackets
        ']' => '\u{ff3d}',
        '*' if !in_code => '\u{2217}', // asterisk operator
        '~' if !in_code => '\u{223c}', // tilde operator
        c => c,
    }
}

impl Alert {
    /// The chat form of this alert ([`ChatMessage`]).
    pub fn chat(&self) -> ChatMessage {
        ChatMessage {
            version: VERSION,
            source: SOURCE,
            id: self.alert_id.clone(),
            content: Content {
                text_type: TEXT_TYPE,
                title: self.chat_title(),
                description: self.chat_description(),
                next_steps: self.next_steps(),
                keywords: self.keywords(),
            },
            metadata: Metadata {
                thread_id: self.thread_id(),
                summary: self.subject(),
                event_type: EVENT_TYPE,
                related_resources: self
                    .resources
                    .iter()
                    .take(MAX_RELATED)
                    .map(|arn| subject_line(arn, MAX_RELATED_CHARS))
                    .filter(|arn| !arn.is_empty())
                    .collect(),
                additional_context: self.context(),
            },
        }
    }

    /// The chat message as JSON (compact, one line).
    pub fn chat_json(&self) -> String {
        // Strings, lists and maps of strings always serialise.
        serde_json::to_string(&self.chat()).unwrap_or_default()
    }

    /// `🔴 HIGH · rule title`
    fn chat_title(&self) -> String {
        let title = format!(
            "{} {} \u{b7} {}",
            level_marker(self.severity),
            self.severity.to_uppercase(),
            subject_line(&self.title, MAX_TITLE_CHARS)
        );
        prose(&title, MAX_TITLE_CHARS)
    }

    /// Who, what, where, when, how many; then the rule. Lines past
    /// [`MAX_DESCRIPTION_CHARS`] are left out, with a last line saying so.
    fn chat_description(&self) -> String {
        let v = |value: &Option<String>| value.as_deref().map(|v| code(v, MAX_VALUE_CHARS));
        let mut lines = vec![prose(&self.summary(), MAX_RULE_TEXT_CHARS)];
        let mut who = String::new();
        if let Some(principal) = v(&self.principal) {
            who = format!("*Who:* {principal}");
            if let Some(kind) = v(&self.principal_type) {
                let _ = write!(who, " ({kind})");
            }
        }
        lines.push(who);
        if let Some(sessions) = self.occurrences.as_ref().and_then(|o| o.sessions.as_ref()) {
            lines.push(format!(
                "*Sessions:* {} of {}",
                sessions.count,
                code(&sessions.actor, MAX_VALUE_CHARS)
            ));
        }
        let place: Vec<String> = [("Account", &self.account), ("Region", &self.region)]
            .into_iter()
            .filter_map(|(label, value)| v(value).map(|value| format!("*{label}:* {value}")))
            .collect();
        lines.push(place.join("  "));
        if let Some(name) = v(&self.event_name) {
            let mut what = format!("*Event:* {name}");
            if let Some(source) = v(&self.event_source) {
                let _ = write!(what, " on {source}");
            }
            if let Some(code) = v(&self.error_code) {
                let _ = write!(what, " \u{2014} *failed:* {code}");
            }
            lines.push(what);
        }
        if let Some(message) = v(&self.error_message) {
            lines.push(format!("*Error message:* {message}"));
        }
        if let Some(time) = v(&self.event_time) {
            lines.push(format!("*When:* {time}"));
        }
        if let Some(seen) = &self.occurrences {
            let mut times = format!("*Occurrences:* {}", seen.count);
            if let (Some(first), Some(last)) = (v(&seen.first_time), v(&seen.last_time)) {
                let _ = write!(times, " from {first} to {last}");
            }
            lines.push(times);
        }
        if let Some(threshold) = &self.threshold {
            lines.push(format!(
                "*Threshold:* {} matching records within {} s",
                threshold.count, threshold.window_secs
            ));
        }
        let from: Vec<String> = [
            ("Source IP", &self.source_ip),
            ("User agent", &self.user_agent),
        ]
        .into_iter()
        .filter_map(|(label, value)| v(value).map(|value| format!("*{label}:* {value}")))
        .collect();
        lines.push(from.join("  "));
        if let Some(link) = self.console_link() {
            lines.push(format!("*CloudTrail:* {link}"));
        }
        lines.push(format!(
            "*Rule:* {} ({})",
            prose(&self.title, MAX_VALUE_CHARS),
            code(&self.rule_id, MAX_VALUE_CHARS)
        ));
        if !self.description.trim().is_empty() {
            lines.push(format!(
                "> {}",
                prose(&self.description.replace('\n', " "), MAX_RULE_TEXT_CHARS)
            ));
        }
        lines.push(format!(
            "*Alert id:* {}  *Log object:* {}",
            code(&self.alert_id, MAX_VALUE_CHARS),
            code(&self.source, MAX_VALUE_CHARS)
        ));
        fit_lines(lines, MAX_DESCRIPTION_CHARS)
    }

    /// The rule's false positives (what to rule out first) and references.
    fn next_steps(&self) -> Vec<String> {
        let mut steps: Vec<String> = self
            .falsepositives
            .iter()
            .filter(|fp| !fp.trim().is_empty())
            .map(|fp| format!("Rule out: {}", prose(fp, MAX_STEP_CHARS)))
            .collect();
        if self.held_back.is_some() {
            steps.insert(
                0,
                "Raise MAX_ALERTS_PER_INVOCATION, or rescan the log objects with trailwatch scan"
                    .to_string(),
            );
        }
        steps.extend(
            self.references
                .iter()
                .filter(|r| !r.trim().is_empty())
                .map(|r| format!("Reference: {}", prose(r, MAX_STEP_CHARS))),
        );
        steps.truncate(MAX_NEXT_STEPS);
        steps
            .into_iter()
            .map(|step| cut_chars(&step, MAX_STEP_CHARS).into_owned())
            .collect()
    }

    /// What a chat user filters on: level, rule, account, region, event.
    fn keywords(&self) -> Vec<String> {
        let candidates = [
            Some(self.severity.to_string()),
            Some(self.rule_id.clone()),
            self.account.clone(),
            self.region.clone(),
            self.event_name.clone(),
        ];
        let mut keywords: Vec<String> = Vec::new();
        for keyword in candidates.into_iter().flatten() {
            let keyword = prose(
                &subject_line(&keyword, MAX_KEYWORD_CHARS),
                MAX_KEYWORD_CHARS,
            );
            if !keyword.is_empty() && !keywords.contains(&keyword) {
                keywords.push(keyword);
            }
        }
        keywords.truncate(MAX_KEYWORDS);
        keywords
    }

    /// One thread per rule, actor (a role for its sessions) and account:
    /// a repeat in a later invocation joins the thread of the first.
    fn thread_id(&self) -> String {
        let actor = self
            .occurrences
            .as_ref()
            .and_then(|o| o.sessions.as_ref())
            .map(|s| s.actor.as_str())
            .or(self.principal.as_deref())
            .unwrap_or_default();
        let account = self.account.as_deref().unwrap_or_default();
        format!(
            "trailwatch-{}",
            super::alert_id(&self.rule_id, &format!("{actor}\u{1f}{account}"))
        )
    }

    fn context(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut context = serde_json::Map::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                context.insert(
                    key.to_string(),
                    subject_line(value, MAX_CONTEXT_CHARS).into(),
                );
            }
        };
        put("alertId", Some(&self.alert_id));
        put("ruleId", Some(&self.rule_id));
        put("severity", Some(self.severity));
        put("eventId", self.event_id.as_deref());
        put("logObject", Some(&self.source));
        context
    }

    /// The event in the CloudTrail console's event history, when the
    /// record's region and event id are what AWS writes (letters, digits,
    /// `-`): a value that is not cannot shape the link.
    fn console_link(&self) -> Option<String> {
        if self.rule_id == INTEGRITY_RULE_ID || self.held_back.is_some() {
            return None;
        }
        let plain = |v: &Option<String>| {
            v.as_deref()
                .filter(|v| {
                    !v.is_empty()
                        && v.len() <= 64
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .map(str::to_string)
        };
        let region = plain(&self.region)?;
        let event_id = plain(&self.event_id)?;
        Some(format!(
            "https://{region}.console.aws.amazon.com/cloudtrail/home?region={region}#/events/{event_id}"
        ))
    }

    /// The SNS message for the chat topic: the chat JSON as the plain
    /// `Message` (Chatbot reads it so, not a per-protocol structure), the
    /// subject and attributes of the alert topic's message.
    pub fn chat_sns_message(&self) -> SnsMessage {
        let mut message = super::message::frame_of(self);
        message.message = self.chat_json();
        if message.size() > MESSAGE_BUDGET {
            // Not reached with the caps above; SNS would refuse it and the
            // chat sink reports it.
            tracing::error!(alert_id = %self.alert_id, bytes = message.size(), "chat message over the SNS limit");
        }
        message
    }
}

/// `lines` joined, blank ones dropped, at most `max` characters: lines
/// that do not fit are left out and a last line says how many.
fn fit_lines(lines: Vec<String>, max: usize) -> String {
    let lines: Vec<String> = lines.into_iter().filter(|l| !l.is_empty()).collect();
    let total = lines.len();
    let mut out = String::new();
    let mut chars = 0;
    for (shown, line) in lines.into_iter().enumerate() {
        let len = line.chars().count() + 1;
        // Room kept for the note.
        if chars + len > max.saturating_sub(80) {
            let _ = write!(
                out,
                "_… {} more line(s) left out; the email and the JSON alert have them._",
                total - shown
            );
            return out;
        }
        out.push_str(&line);
        out.push('\n');
        chars += len;
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests;
