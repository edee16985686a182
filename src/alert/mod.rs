//! An alert: one rule matched one record. Built from the rule's metadata and
//! the record, rendered as an email a person reads top to bottom, as a
//! subject line, and as JSON for machines.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, OnceLock};

use memchr::memmem::Finder;
use serde::Serialize;
use serde_json::Value;

use crate::json::{self, BorrowedValue};
use crate::record::{borrowed_text_at, text_at, Brief, HeadReader, IdentityRead, PRINCIPAL_FIELDS};

pub mod accounts;
pub mod attack;
pub mod chat;
pub mod digest;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod group;
pub mod message;
mod render;
pub mod row;
pub(crate) mod safe_text;
use crate::rules::{CorrelationHit, RuleMeta};
pub use accounts::AccountNames;
pub use attack::Attack;
pub use render::RuleTexts;

/// SNS subjects must be under 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// The facts of one finding, with the rule that raised it.
///
/// The JSON document (`render.rs`, `write_document_of`) is written field by
/// field in this order, as this `Serialize` writes them: a field added here
/// must be added there too (`tests/documents.rs` compares the two).
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
    /// For a role session: the role (`sessionContext.sessionIssuer.arn`).
    pub session_issuer: Option<String>,
    pub access_key_id: Option<String>,
    pub account: Option<String>,
    /// The account's name, when the deployment names its accounts
    /// ([`AccountNames`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
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
    /// The MITRE ATT&CK tactics and techniques the rule is tagged with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<Attack>,
    /// For threshold (correlation) rules: what was counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// When several findings of this rule for this principal were grouped
    /// into this alert: how many, when, and which events. The other fields
    /// describe the first finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<Occurrences>,
    /// For the summary alert sent when the per-invocation cap is reached:
    /// what was held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_back: Option<HeldBack>,
    /// Top-level fields of the record that could not be parsed (a number
    /// beyond f64, nesting past the limit, a duplicate key), and why: they
    /// are missing from `event`, and `event_text` holds the record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unparsed: Vec<Unparsed>,
    /// The record as CloudTrail wrote it (for a threshold, the record that
    /// reached it), shared by the alerts on the same record; when some of
    /// it could not be parsed, the fields that could.
    #[serde(serialize_with = "shared_value")]
    pub event: Arc<Value>,
    /// The record's text as the log has it, when `event` is not all of it
    /// (`unparsed` is not empty).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "shared_text"
    )]
    pub event_text: Option<Arc<str>>,
    #[serde(skip)]
    rule: Arc<RuleMeta>,
}

/// A record that matched, as CloudTrail wrote it, and the log it came
/// from: shared by every finding and alert on it, never copied. The scan
/// keeps its text and the fields findings are grouped by; the whole record
/// is parsed only for the alerts built from it.
#[derive(Debug)]
pub struct Record {
    /// What grouping reads (principal, time, event id) until `event` is
    /// parsed.
    brief: Brief,
    text: Option<Arc<str>>,
    event: OnceLock<Parsed>,
    source: Arc<str>,
}

/// A top-level field of a record that could not be parsed, and why: the
/// alert shows the rest of the record and says what it left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unparsed {
    /// The field's key; `None` when the record itself could not be read
    /// field by field.
    pub field: Option<String>,
    pub reason: String,
}

/// A record as alerts show it: whole, or every top-level field that parses
/// and what did not.
#[derive(Debug)]
struct Parsed {
    value: Arc<Value>,
    /// Empty when the record parsed whole.
    unparsed: Vec<Unparsed>,
}

impl Parsed {
    fn whole(value: Value) -> Parsed {
        Parsed {
            value: Arc::new(value),
            unparsed: Vec::new(),
        }
    }

    /// The record `text` (already checked as JSON by the scan), whole if
    /// it parses, else field by field: a value no rule read may be out of
    /// range, nested too deep or hold a duplicate key, and only that field
    /// is left out.
    fn of(text: &str) -> Parsed {
        let whole = json::check(text.as_bytes()).and_then(|()| serde_json::from_str(text));
        let err = match whole {
            Ok(value) => return Parsed::whole(value),
            Err(err) => err,
        };
        let head = match HeadReader::default().read(text.as_bytes(), None, IdentityRead::TypeAndArn)
        {
            Ok(head) => head,
            Err(err) => {
                return Parsed {
                    value: Arc::new(Value::Object(serde_json::Map::new())),
                    unparsed: vec![Unparsed {
                        field: None,
                        reason: err.to_string(),
                    }],
                }
            }
        };
        let mut fields = serde_json::Map::with_capacity(head.fields.len());
        let mut unparsed = Vec::new();
        // Each value checked as the rules check it (at level 2 of the record).
        for (key, raw) in head.fields {
            match BorrowedValue::parse(raw) {
                Ok(value) => {
                    fields.insert(key.into_owned(), value.to_value());
                }
                Err(err) => unparsed.push(Unparsed {
                    field: Some(key.into_owned()),
                    reason: json::without_position(&err),
                }),
            }
        }
        if unparsed.is_empty() {
            // Every field parses alone, the record not whole: say why.
            unparsed.push(Unparsed {
                field: None,
                reason: err.to_string(),
            });
        }
        Parsed {
            value: Arc::new(Value::Object(fields)),
            unparsed,
        }
    }
}

impl Record {
    pub fn new(event: Value, source: Arc<str>) -> Record {
        Record {
            brief: Brief::default(),
            text: None,
            event: OnceLock::from(Parsed::whole(event)),
            source,
        }
    }

    /// A record known by its `text` (already checked as JSON) and `brief`,
    /// its fields that grouping reads.
    pub fn from_text(text: &str, brief: Brief, source: Arc<str>) -> Record {
        Record {
            brief,
            text: Some(text.into()),
            event: OnceLock::new(),
            source,
        }
    }

    /// The record: whole, or (should the text not parse as a whole: a
    /// value no rule read out of range, nested too deep, a duplicate key)
    /// every top-level field that parses ([`Record::unparsed`] says which
    /// did not).
    pub fn event(&self) -> &Arc<Value> {
        &self.parsed().value
    }

    /// The top-level fields [`Record::event`] left out, and why; empty
    /// when the record parsed whole.
    pub fn unparsed(&self) -> &[Unparsed] {
        &self.parsed().unparsed
    }

    /// The record's text as the log has it, when [`Record::event`] is not
    /// all of it.
    pub fn partial_text(&self) -> Option<&Arc<str>> {
        self.text.as_ref().filter(|_| !self.unparsed().is_empty())
    }

    fn parsed(&self) -> &Parsed {
        self.event.get_or_init(|| match self.text.as_deref() {
            Some(text) => Parsed::of(text),
            None => Parsed::whole(Value::Null),
        })
    }

    /// The text at `pointer` in the parsed record; `None` before it is
    /// parsed (and for records known by their text, what grouping reads
    /// comes from the brief until then).
    fn text(&self, pointer: &str) -> Option<Cow<'_, str>> {
        text_at(&self.event.get()?.value, pointer)
    }

    fn owned(&self, pointer: &str) -> Option<String> {
        self.text(pointer).map(Cow::into_owned)
    }

    /// The principal alerts name: the first of `userIdentity`'s
    /// [`PRINCIPAL_FIELDS`] the record has.
    pub fn principal(&self) -> Option<Cow<'_, str>> {
        let Some(parsed) = self.event.get() else {
            return self.brief.principal().map(Cow::Borrowed);
        };
        let identity = parsed.value.get("userIdentity")?;
        PRINCIPAL_FIELDS
            .iter()
            .find_map(|key| text_at(identity.get(*key)?, ""))
    }

    /// Who alerts are grouped by, sessions folded: an assumed-role
    /// session (`assumed-role/ROLE/SESSION`) is its role, a federated user
    /// (`federated-user/NAME`) the user who issued it, each named by the
    /// session issuer's ARN, or the ARN without the session where the
    /// record gives no issuer. Anyone else is their [`Record::principal`].
    /// With the session's name when one was folded.
    pub fn actor(&self) -> Option<(Cow<'_, str>, Option<&str>)> {
        let principal = match self.principal()? {
            Cow::Borrowed(principal) => principal,
            // Read from the parsed record: read it again as a borrow.
            Cow::Owned(_) => return self.parsed_actor(),
        };
        Some(fold_session(principal, self.issuer()))
    }

    fn parsed_actor(&self) -> Option<(Cow<'_, str>, Option<&str>)> {
        let event = &self.event.get()?.value;
        let principal = PRINCIPAL_FIELDS
            .iter()
            .find_map(|key| event.get("userIdentity")?.get(key)?.as_str())
            .filter(|text| !text.is_empty());
        match principal {
            Some(principal) => Some(fold_session(principal, self.issuer())),
            // Not a string (an odd record): the principal as grouping read it.
            None => self.principal().map(|p| (Cow::Owned(p.into_owned()), None)),
        }
    }

    fn issuer(&self) -> Option<Cow<'_, str>> {
        self.grouped(
            self.brief.issuer(),
            &["/userIdentity/sessionContext/sessionIssuer/arn"],
        )
    }

    pub fn event_id(&self) -> Option<Cow<'_, str>> {
        self.grouped(self.brief.event_id(), &["/eventID"])
    }

    pub fn event_time(&self) -> Option<Cow<'_, str>> {
        self.grouped(self.brief.event_time(), &["/eventTime"])
    }

    /// A field grouping reads: from the brief until the record is parsed,
    /// then the first of `pointers` the parsed record has.
    fn grouped<'r>(&'r self, brief: Option<&'r str>, pointers: &[&str]) -> Option<Cow<'r, str>> {
        match self.event.get() {
            None => brief.map(Cow::Borrowed),
            Some(_) => pointers.iter().find_map(|pointer| self.text(pointer)),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// `principal` with its session folded ([`Record::actor`]).
pub(crate) fn fold_session<'r>(
    principal: &'r str,
    issuer: Option<Cow<'r, str>>,
) -> (Cow<'r, str>, Option<&'r str>) {
    // Searchers made once: one set up per call cost more than the rest of
    // grouping a finding (a scan folds every finding's principal).
    static ASSUMED_ROLE: LazyLock<Finder<'static>> =
        LazyLock::new(|| Finder::new(":assumed-role/"));
    static FEDERATED_USER: LazyLock<Finder<'static>> =
        LazyLock::new(|| Finder::new(":federated-user/"));
    let session = |marker: &Finder<'static>, role: bool| {
        let at = marker.find(principal.as_bytes())? + marker.needle().len();
        let rest = principal.get(at..)?;
        Some(if role {
            // assumed-role/ROLE/SESSION: the role and the session.
            let slash = rest.find('/')?;
            (principal.get(..at + slash)?, rest.get(slash + 1..)?)
        } else {
            // federated-user/NAME: the name is the session.
            (principal.get(..at)?, rest)
        })
    };
    match session(&ASSUMED_ROLE, true).or_else(|| session(&FEDERATED_USER, false)) {
        Some((role, name)) if !name.is_empty() => (
            issuer
                .filter(|issuer| !issuer.is_empty())
                .unwrap_or(Cow::Borrowed(role)),
            Some(name),
        ),
        _ => (Cow::Borrowed(principal), None),
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
        self.alert_id_of(self.record.event_id())
    }

    /// [`Finding::alert_id`] with the record's `event_id`.
    fn alert_id_of(&self, event_id: Option<Cow<'_, str>>) -> String {
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
        let record = &self.record;
        let event = record.event();
        let text = |pointer: &str| record.owned(pointer);
        Alert {
            alert_id: self.alert_id(),
            principal: self.principal().map(Cow::into_owned),
            resources: resources_of(event),
            unparsed: record.unparsed().to_vec(),
            event: Arc::clone(event),
            event_text: record.partial_text().cloned(),
            ..self.alert_with(text)
        }
    }

    /// The alert's fields that come from the rule, the finding and the
    /// record's fields at `text` (a JSON pointer); the rest left empty.
    fn alert_with(&self, text: impl Fn(&str) -> Option<String>) -> Alert {
        let rule = &self.rule;
        Alert {
            alert_id: String::new(),
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.level.as_str(),
            description: rule.description.clone(),
            event_id: text("/eventID"),
            event_source: text("/eventSource"),
            event_name: text("/eventName"),
            event_time: text("/eventTime"),
            principal: None,
            principal_type: text("/userIdentity/type"),
            invoked_by: text("/userIdentity/invokedBy"),
            session_issuer: text("/userIdentity/sessionContext/sessionIssuer/arn"),
            access_key_id: text("/userIdentity/accessKeyId"),
            account: text("/recipientAccountId").or_else(|| text("/userIdentity/accountId")),
            account_name: None,
            region: text("/awsRegion"),
            source_ip: text("/sourceIPAddress"),
            user_agent: text("/userAgent"),
            error_code: text("/errorCode"),
            error_message: text("/errorMessage"),
            resources: Vec::new(),
            source: self.record.source().to_string(),
            falsepositives: rule.falsepositives.clone(),
            references: rule.references.clone(),
            rule_author: rule.author.clone(),
            attack: Attack::of_tags(&rule.tags),
            threshold: self.threshold.clone(),
            occurrences: None,
            held_back: None,
            unparsed: Vec::new(),
            event: null_event(),
            event_text: None,
            rule: Arc::clone(rule),
        }
    }

    /// The JSON document of [`Finding::alert`] (`alert().document(..)`,
    /// the same bytes), appended to `out`; the rule's texts from `texts`
    /// where it holds them. A record known by its text and not parsed yet
    /// is read borrowed from its text, not into a `Value`: a scan printing
    /// every finding of a findings-heavy log spends its time here.
    pub fn write_document(
        &self,
        out: &mut Vec<u8>,
        raw_limit: usize,
        texts: Option<&mut RuleTexts>,
    ) {
        self.write_named_document(out, raw_limit, texts, &AccountNames::default());
    }

    /// [`Finding::write_document`] with the account named from `names`
    /// (the document of `names.named(&finding.alert())`).
    pub fn write_named_document(
        &self,
        out: &mut Vec<u8>,
        raw_limit: usize,
        texts: Option<&mut RuleTexts>,
        names: &AccountNames,
    ) {
        let record = &self.record;
        // The alerts whose summary reads the event itself are never made
        // from a scanned record; should a rule take their id, as before.
        let special = [INTEGRITY_RULE_ID, digest::DIGEST_RULE_ID].contains(&self.rule.id.as_str());
        if let (Some(text), None, false) = (record.text.as_deref(), record.event.get(), special) {
            // Should the record not parse whole, `alert` says what did not.
            if let Ok(event) = BorrowedValue::parse_record(text) {
                let mut alert = self.borrowed_alert(&event);
                names.name_in(&mut alert);
                alert.write_document_of(
                    out,
                    raw_limit,
                    texts,
                    render::Event::Borrowed(&event, text),
                );
                return;
            }
        }
        let mut alert = self.alert();
        names.name_in(&mut alert);
        alert.write_document(out, raw_limit, texts);
    }

    /// [`Finding::alert`] of the record `event`, read from its text, but
    /// for `event` itself (a placeholder).
    fn borrowed_alert(&self, event: &BorrowedValue<'_>) -> Alert {
        let text = |pointer: &str| borrowed_text_at(event, pointer).map(Cow::into_owned);
        let grouped = self.threshold.as_ref().and_then(|t| {
            t.group
                .iter()
                .find(|(field, _)| field.starts_with("userIdentity."))
                .map(|(_, value)| value.clone())
        });
        // As `Record::principal` reads the parsed record.
        let principal = grouped.or_else(|| {
            let identity = event.get("userIdentity")?;
            PRINCIPAL_FIELDS
                .iter()
                .find_map(|key| borrowed_text_at(identity.get(key)?, ""))
                .map(Cow::into_owned)
        });
        Alert {
            alert_id: self.alert_id_of(borrowed_text_at(event, "/eventID")),
            principal,
            resources: borrowed_resources_of(event),
            ..self.alert_with(text)
        }
    }
}

/// A shared `null`: the event of an alert made only to be written with a
/// borrowed record ([`Finding::write_document`]).
fn null_event() -> Arc<Value> {
    static NULL: OnceLock<Arc<Value>> = OnceLock::new();
    Arc::clone(NULL.get_or_init(|| Arc::new(Value::Null)))
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
}

/// Findings of one rule for one principal, grouped into one alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Occurrences {
    /// Findings grouped (at least 2; the alert's own record is the first).
    pub count: u64,
    /// Earliest and latest eventTime among them, as CloudTrail wrote it.
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The eventIDs of the first findings, at most [`MAX_GROUPED_EVENT_IDS`].
    pub event_ids: Vec<String>,
    /// When the findings came from several sessions of one role (or
    /// federated users of one issuer), folded into one alert: which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Sessions>,
}

/// The sessions an alert's findings came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sessions {
    /// The role or issuer they share (its ARN).
    pub actor: String,
    /// Distinct sessions (counted up to [`MAX_COUNTED_SESSIONS`]).
    pub count: u64,
    /// More sessions than were counted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// The first session names, at most [`MAX_SESSION_NAMES`].
    pub names: Vec<String>,
}

/// Session names an alert lists.
pub const MAX_SESSION_NAMES: usize = 5;
/// Distinct sessions counted per alert: memory stays bounded however many
/// sessions a role has.
pub const MAX_COUNTED_SESSIONS: usize = 10_000;

/// Event ids an alert lists for the findings it groups.
pub const MAX_GROUPED_EVENT_IDS: usize = 10;

/// What the per-invocation cap held back, per rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeldBack {
    /// Alerts not sent.
    pub alerts: u64,
    /// Findings in them.
    pub findings: u64,
    /// The cap that was reached.
    pub cap: usize,
    /// Per rule: id, title, level, alerts held back, findings in them;
    /// most alerts first.
    pub rules: Vec<HeldBackRule>,
    /// The log objects the held-back findings were read from, in the order
    /// they came, at most [`MAX_HELD_BACK_OBJECTS`]: what to rescan with
    /// `trailwatch scan` to see every finding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// Distinct log objects in all (counted up to [`MAX_COUNTED_OBJECTS`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub object_count: u64,
    /// More objects than were counted: `object_count` is a lower bound.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_objects: bool,
}

/// Log objects a held-back summary names; the rest are counted.
pub const MAX_HELD_BACK_OBJECTS: usize = 20;
/// Distinct log objects a held-back summary counts: memory stays bounded
/// in a backfill of many objects.
pub const MAX_COUNTED_OBJECTS: usize = 10_000;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldBackRule {
    pub rule_id: String,
    pub title: String,
    pub severity: &'static str,
    pub alerts: u64,
    pub findings: u64,
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

fn shared_text<S: serde::Serializer>(
    text: &Option<Arc<str>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    text.as_deref().serialize(serializer)
}

/// FNV-1a 64 of rule id and event id: stable across runs and versions.
fn alert_id(rule_id: &str, event_id: &str) -> String {
    let bytes: Vec<u8> = rule_id
        .bytes()
        .chain([0u8])
        .chain(event_id.bytes())
        .collect();
    format!("{:016x}", fnv1a(&bytes))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [`resources_of`] on a record borrowed from its text.
fn borrowed_resources_of(event: &BorrowedValue<'_>) -> Vec<String> {
    let Some(BorrowedValue::Array(items)) = event.get("resources") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| match r.get("ARN").or_else(|| r.get("arn")) {
            Some(BorrowedValue::Str(arn)) => Some(arn.to_string()),
            _ => None,
        })
        .collect()
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
