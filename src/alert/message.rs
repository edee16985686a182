//! One alert as one SNS message: `MessageStructure=json`, an `email` part
//! in plain text for email subscribers and a `default` JSON document for
//! every other protocol (SQS, Lambda, HTTPS), message attributes for
//! subscription filter policies, and never over the SNS size limit.
//!
//! What SNS counts against its 256 KiB (262,144 bytes) limit is the whole
//! message: the `Message` parameter as sent (here the JSON object that holds
//! both parts, with its quoting and escapes), plus each message attribute's
//! name, data type and value. The subject is counted here too, to be safe.
//! A `PublishBatch` call is held to the same limit for the sum of its
//! entries. An alert that does not fit is cut, never dropped: first the raw
//! event (in both parts, with a note saying so), then, for absurdly large
//! fields, the fields themselves (with a note in the description).

use std::sync::Arc;

use serde::Serialize;

use super::Alert;
use crate::rules::RuleMeta;

/// The most SNS accepts in one message, and in one `PublishBatch` call.
pub const SNS_MAX_BYTES: usize = 262_144;

/// What one message may take: the SNS limit less 1 KiB of margin.
pub const MESSAGE_BUDGET: usize = SNS_MAX_BYTES - 1024;

/// `PublishBatch` entry ids: at most 80 characters.
const MAX_ENTRY_ID_CHARS: usize = 80;

/// Attribute values are short facts (severity, rule id, account, region,
/// event source); a longer one is cut so it cannot crowd out the alert.
const MAX_ATTRIBUTE_BYTES: usize = 256;

/// Rounds of shrinking the raw event before giving it up altogether.
const RAW_ROUNDS: usize = 4;

/// The data type of every attribute sent.
pub const ATTRIBUTE_TYPE: &str = "String";

/// One alert ready for `Publish` or a `PublishBatch` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    /// A valid batch entry id (letters, digits, `-`, `_`; at most 80): the
    /// alert id unless that has other characters. Equal alerts have equal
    /// ids, so a batch must not hold two of them.
    pub id: String,
    /// Printable (safe_text's allow-list), one line, under 100 characters.
    pub subject: String,
    /// The `MessageStructure=json` body: `{"default": document, "email": text}`.
    pub message: String,
    /// Name and (non-empty) value of each `String` message attribute.
    pub attributes: Vec<(&'static str, String)>,
}

impl SnsMessage {
    /// The bytes SNS counts for this message (see the module comment).
    pub fn size(&self) -> usize {
        let attributes: usize = self
            .attributes
            .iter()
            .map(|(name, value)| name.len() + ATTRIBUTE_TYPE.len() + value.len())
            .sum();
        self.message.len() + self.subject.len() + attributes
    }
}

/// The body SNS fans out: `default` for SQS, Lambda, HTTPS and the rest,
/// `email` for email subscriptions.
#[derive(Serialize)]
struct Body<'a> {
    default: &'a str,
    email: &'a str,
}

/// The SNS message for `alert`, at most [`MESSAGE_BUDGET`] bytes as SNS
/// counts them: whole if it fits, else with the raw event cut, else (for
/// fields of absurd size) with every long field cut too.
pub fn sns_message(alert: &Alert) -> SnsMessage {
    let frame = Frame {
        id: entry_id(&alert.alert_id),
        subject: alert.subject(),
        attributes: attributes(alert),
    };
    let raw = RawSize::of(alert);
    let mut last = None;
    if fields_len(alert) <= MESSAGE_BUDGET {
        match fit(alert, &frame, raw) {
            Ok(message) => return message,
            Err(floor) => last = Some(floor),
        }
    }
    for caps in CUTS {
        let cut = cut_fields(alert, caps);
        if fields_len(&cut) > MESSAGE_BUDGET {
            continue;
        }
        match fit(&cut, &frame, raw) {
            Ok(message) => return message,
            Err(floor) => last = Some(floor),
        }
    }
    // Not reached: the last cuts leave a few kilobytes. Sent anyway, SNS
    // refuses it and the sink reports the alert as undelivered.
    let last = last.unwrap_or_else(|| frame.render(&cut_fields(alert, CUTS[CUTS.len() - 1]), 0));
    tracing::error!(
        alert_id = %alert.alert_id,
        rule_id = %alert.rule_id,
        bytes = last.size(),
        "alert does not fit in an SNS message even when cut"
    );
    last
}

/// What does not change while an alert is cut to size.
struct Frame {
    id: String,
    subject: String,
    attributes: Vec<(&'static str, String)>,
}

impl Frame {
    fn render(&self, alert: &Alert, raw_limit: usize) -> SnsMessage {
        let email = alert.email(raw_limit);
        let document = alert.document(raw_limit);
        let body = Body {
            default: &document,
            email: &email,
        };
        SnsMessage {
            id: self.id.clone(),
            subject: self.subject.clone(),
            // Serialising two strings cannot fail.
            message: serde_json::to_string(&body).unwrap_or_default(),
            attributes: self.attributes.clone(),
        }
    }
}

/// The raw event's length pretty-printed (as in the email) and compact (as
/// in the document), each with the record's text when the alert carries it
/// (in both parts, cut to the same limit as the raw event).
#[derive(Clone, Copy)]
struct RawSize {
    pretty: usize,
    compact: usize,
}

impl RawSize {
    fn of(alert: &Alert) -> RawSize {
        let event = alert.event.as_ref();
        let len = |text: serde_json::Result<String>| text.map(|t| t.len()).unwrap_or(usize::MAX);
        let text = alert.event_text.as_deref().map_or(0, str::len);
        RawSize {
            pretty: len(serde_json::to_string_pretty(event)).saturating_add(text),
            compact: len(serde_json::to_string(event)).saturating_add(text),
        }
    }
}

/// `alert` whole, or with its raw event cut as little as needed; `Err`
/// with the raw event left out when even that is too big.
///
/// The raw event appears twice (pretty in the email, compact in the
/// document) and JSON escaping inside the body can grow it, by how much
/// depends on the event: each try measures what the event's bytes cost
/// and scales the limit to the room left, with a tenth spare.
fn fit(alert: &Alert, frame: &Frame, raw: RawSize) -> Result<SnsMessage, SnsMessage> {
    // Both copies whole cannot fit if their bytes alone do not.
    let mut tried = None;
    if raw.pretty.saturating_add(raw.compact) <= MESSAGE_BUDGET {
        let whole = frame.render(alert, usize::MAX);
        if whole.size() <= MESSAGE_BUDGET {
            return Ok(whole);
        }
        tried = Some((raw.pretty, whole));
    }
    let floor = frame.render(alert, 0);
    if floor.size() > MESSAGE_BUDGET {
        return Err(floor);
    }
    let room = MESSAGE_BUDGET - floor.size();
    let (mut limit, mut current) = match tried {
        Some(tried) => tried,
        // At least a byte per copy per byte of the limit.
        None => {
            let limit = (room / 2).min(raw.pretty);
            (limit, frame.render(alert, limit))
        }
    };
    for _ in 0..RAW_ROUNDS {
        if current.size() <= MESSAGE_BUDGET {
            return Ok(current);
        }
        let cost = current.size().saturating_sub(floor.size()).max(1);
        let scaled = (limit as u128 * room as u128 / cost as u128) * 9 / 10;
        limit = usize::try_from(scaled)
            .unwrap_or(0)
            .min(limit.saturating_sub(1));
        if limit == 0 {
            break;
        }
        current = frame.render(alert, limit);
    }
    if current.size() <= MESSAGE_BUDGET {
        return Ok(current);
    }
    Ok(floor)
}

/// Bytes of the alert's text fields, the raw event aside: the document
/// holds each at least once, so more than the budget cannot fit.
fn fields_len(alert: &Alert) -> usize {
    let optional = |value: &Option<String>| value.as_ref().map_or(0, String::len);
    let list = |values: &[String]| values.iter().map(String::len).sum::<usize>();
    let mut len = alert.alert_id.len()
        + alert.rule_id.len()
        + alert.title.len()
        + alert.description.len()
        + alert.source.len()
        + alert.rule.origin.len()
        + list(&alert.resources)
        + list(&alert.falsepositives)
        + list(&alert.references)
        + alert
            .unparsed
            .iter()
            .map(|u| u.field.as_ref().map_or(0, String::len) + u.reason.len())
            .sum::<usize>();
    for value in [
        &alert.event_id,
        &alert.event_source,
        &alert.event_name,
        &alert.event_time,
        &alert.principal,
        &alert.principal_type,
        &alert.invoked_by,
        &alert.session_issuer,
        &alert.access_key_id,
        &alert.account,
        &alert.account_name,
        &alert.region,
        &alert.source_ip,
        &alert.user_agent,
        &alert.error_code,
        &alert.error_message,
        &alert.rule_author,
    ] {
        len += optional(value);
    }
    if let Some(attack) = &alert.attack {
        len += attack
            .techniques
            .iter()
            .map(|t| t.id.len() + t.name.map_or(0, str::len))
            .sum::<usize>();
    }
    if let Some(threshold) = &alert.threshold {
        len += threshold
            .group
            .iter()
            .map(|(field, value)| field.len() + value.len())
            .sum::<usize>();
    }
    if let Some(occurrences) = &alert.occurrences {
        len += list(&occurrences.event_ids);
        if let Some(sessions) = &occurrences.sessions {
            len += sessions.actor.len() + list(&sessions.names);
        }
    }
    if let Some(held_back) = &alert.held_back {
        len += held_back
            .rules
            .iter()
            .map(|rule| rule.rule_id.len() + rule.title.len())
            .sum::<usize>()
            + list(&held_back.objects);
    }
    len
}

/// How far to cut the fields of an alert too big even without its raw
/// event: each text to `text` bytes, the description to `description`,
/// each list to `items` entries. Applied in order until one fits; the last
/// leaves a few kilobytes whatever the alert holds.
#[derive(Clone, Copy)]
struct Caps {
    text: usize,
    description: usize,
    items: usize,
}

const CUTS: [Caps; 3] = [
    Caps {
        text: 4096,
        description: 16 * 1024,
        items: 50,
    },
    Caps {
        text: 256,
        description: 1024,
        items: 10,
    },
    Caps {
        text: 64,
        description: 256,
        items: 0,
    },
];

/// Marks the end of a cut field.
const CUT_MARK: &str = " [cut]";

/// Ends the description of an alert whose fields were cut.
const CUT_NOTE: &str = "[This alert was too large for one SNS message (256 KB): long fields \
    were cut and end with \"[cut]\". The log object holds the full record.]";

/// A copy of `alert` with every long field cut to `caps`, and a note at
/// the end of the description saying so.
fn cut_fields(alert: &Alert, caps: Caps) -> Alert {
    let mut cut = alert.clone();
    let text = |value: &mut String| cut_text(value, caps.text);
    let optional = |value: &mut Option<String>| {
        if let Some(value) = value {
            cut_text(value, caps.text);
        }
    };
    let list = |values: &mut Vec<String>| {
        values.truncate(caps.items);
        for value in values.iter_mut() {
            cut_text(value, caps.text);
        }
    };
    text(&mut cut.alert_id);
    text(&mut cut.rule_id);
    text(&mut cut.title);
    text(&mut cut.source);
    for value in [
        &mut cut.event_id,
        &mut cut.event_source,
        &mut cut.event_name,
        &mut cut.event_time,
        &mut cut.principal,
        &mut cut.principal_type,
        &mut cut.invoked_by,
        &mut cut.session_issuer,
        &mut cut.access_key_id,
        &mut cut.account,
        &mut cut.account_name,
        &mut cut.region,
        &mut cut.source_ip,
        &mut cut.user_agent,
        &mut cut.error_code,
        &mut cut.error_message,
        &mut cut.rule_author,
    ] {
        optional(value);
    }
    list(&mut cut.resources);
    list(&mut cut.falsepositives);
    list(&mut cut.references);
    // Keys of an attacker's record can be long; the note says what was cut.
    cut.unparsed.truncate(caps.items.max(1));
    for unparsed in &mut cut.unparsed {
        optional(&mut unparsed.field);
        text(&mut unparsed.reason);
    }
    // A rule's tags are the deployer's, but a rule may carry many.
    if let Some(attack) = &mut cut.attack {
        attack.techniques.truncate(caps.items.max(1));
    }
    if let Some(threshold) = &mut cut.threshold {
        threshold.group.truncate(caps.items);
        for (field, value) in &mut threshold.group {
            text(field);
            text(value);
        }
    }
    if let Some(occurrences) = &mut cut.occurrences {
        optional(&mut occurrences.first_time);
        optional(&mut occurrences.last_time);
        list(&mut occurrences.event_ids);
        if let Some(sessions) = &mut occurrences.sessions {
            text(&mut sessions.actor);
            list(&mut sessions.names);
        }
    }
    if let Some(held_back) = &mut cut.held_back {
        held_back.rules.truncate(caps.items);
        for rule in &mut held_back.rules {
            text(&mut rule.rule_id);
            text(&mut rule.title);
        }
        // object_count still says how many there were.
        list(&mut held_back.objects);
    }
    let mut origin = alert.rule.origin.clone();
    if cut_text(&mut origin, caps.text) {
        cut.rule = Arc::new(RuleMeta {
            origin,
            ..(*alert.rule).clone()
        });
    }
    cut_text(&mut cut.description, caps.description);
    if !cut.description.is_empty() {
        cut.description.push_str("\n\n");
    }
    cut.description.push_str(CUT_NOTE);
    cut
}

/// Cuts `value` to at most `max` bytes (on a character boundary) and marks
/// it; says whether it did.
fn cut_text(value: &mut String, max: usize) -> bool {
    if value.len() <= max {
        return false;
    }
    value.truncate(floor_char_boundary(value, max));
    value.push_str(CUT_MARK);
    true
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A valid `PublishBatch` entry id for this alert id: other characters
/// become `_`, at most 80 characters, never empty.
fn entry_id(alert_id: &str) -> String {
    let id: String = alert_id
        .chars()
        .take(MAX_ENTRY_ID_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "alert".to_string()
    } else {
        id
    }
}

/// The routing attributes subscription filter policies match on. SNS
/// refuses empty values, and SQS (which receives them with raw delivery)
/// refuses most control characters: those become spaces, values are
/// trimmed and cut to a sane length, and empty ones are left out.
fn attributes(alert: &Alert) -> Vec<(&'static str, String)> {
    [
        ("severity", Some(alert.severity)),
        ("rule_id", Some(alert.rule_id.as_str())),
        ("account", alert.account.as_deref()),
        ("region", alert.region.as_deref()),
        ("event_source", alert.event_source.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let clean: String = value?
            .chars()
            .map(|c| {
                if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let clean = clean.trim();
        let clean = &clean[..floor_char_boundary(clean, MAX_ATTRIBUTE_BYTES)];
        let clean = clean.trim_end();
        (!clean.is_empty()).then(|| (name, clean.to_string()))
    })
    .collect()
}

#[cfg(test)]
mod tests;
