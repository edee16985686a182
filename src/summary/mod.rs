//! `trailwatch summary`: per principal, what a responder asks first. Each
//! record's head is seen once, in the scan that runs the rules on it
//! ([`crate::pipeline::scan_observed`]); principals are folded as alerts
//! fold them ([`crate::alert::Record::actor`]: an assumed-role session is
//! its role, a federated user the user who issued it), so the rows line up
//! with the alerts' principals.
//!
//! Memory is bounded whatever the logs hold: at most `max_principals` rows
//! (the principals met after that are counted together in one "other
//! principals" row), each with its sets of values capped ([`Values`]) and
//! its sensitive APIs capped ([`MAX_APIS`]).

mod output;
mod read;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::alert::group::Distinct;
use crate::alert::safe_text::cut_bytes;
use crate::alert::{fold_session, Finding};
use crate::json::BorrowedValue;
use crate::record::{normalize_event_name, Brief, Lenient, RecordHead};

pub use output::{csv_cell, row_json, write_csv, write_json, write_table, Format};
pub use read::{summarize_paths, Shared, Totals};

/// Rows kept by default (`--max-principals`).
pub const MAX_PRINCIPALS: usize = 10_000;
/// Distinct values counted per set of a row; past it the count reads "N+".
pub const MAX_COUNTED: usize = 100;
/// Values of a set kept to show (the first ones met).
pub const MAX_KEPT: usize = 5;
/// Bytes of a value kept to show (a user agent can be kilobytes);
/// distinct values are counted by the whole value.
pub const MAX_VALUE_BYTES: usize = 512;
/// Bytes of a principal's name a row is known by: an IAM ARN is at most
/// 2,048 characters, and a crafted record's longer name must not make a
/// row as large as the record.
pub const MAX_PRINCIPAL_BYTES: usize = 2048;
/// Bytes kept of the short fields (times, identity type, API names).
const MAX_SHORT_BYTES: usize = 128;
/// Sensitive APIs counted one by one per row; calls to others past it are
/// counted together.
pub const MAX_APIS: usize = 50;
/// Principals beyond the cap counted distinctly (8 bytes each).
const MAX_OTHERS_COUNTED: usize = 100_000;

/// Reads that matter as much as a write: secrets, keys and credentials
/// handed out. Anything CloudTrail marks `readOnly: false` is sensitive
/// too ([`is_sensitive`]).
pub const SENSITIVE_READS: [&str; 16] = [
    "GetSecretValue",
    "BatchGetSecretValue",
    "Decrypt",
    "GenerateDataKey",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "GetPasswordData",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetCallerIdentity",
    "ListAccessKeys",
    "GetAccountAuthorizationDetails",
];

/// Verbs of calls that change something, for records without `readOnly`
/// (some services leave it out).
const WRITE_VERBS: [&str; 17] = [
    "Create",
    "Delete",
    "Put",
    "Attach",
    "Detach",
    "Update",
    "Stop",
    "Disable",
    "Remove",
    "Modify",
    "Set",
    "Add",
    "Authorize",
    "Revoke",
    "Terminate",
    "Deactivate",
    "Reset",
];

/// Whether a call is sensitive: CloudTrail says it is not read-only
/// (`readOnly: false`), or, where the record does not say, its name starts
/// with a verb that changes something; or it is one of the
/// [`SENSITIVE_READS`]. `ConsoleLogin` is `readOnly: false`.
pub fn is_sensitive(event_name: &str, read_only: Option<bool>) -> bool {
    if SENSITIVE_READS.contains(&event_name) {
        return true;
    }
    match read_only {
        Some(read_only) => !read_only,
        None => WRITE_VERBS.iter().any(|verb| {
            event_name
                .strip_prefix(verb)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_uppercase))
        }),
    }
}

/// A set of values, bounded as an alert's sessions are ([`Distinct`]):
/// the distinct ones counted up to [`MAX_COUNTED`] (by a hash of each), the
/// first [`MAX_KEPT`] kept, each cut to [`MAX_VALUE_BYTES`].
#[derive(Debug, Default, Clone)]
pub struct Values(Distinct);

impl Values {
    pub fn add(&mut self, value: &str) {
        if !value.is_empty() {
            self.0
                .add_cut(value, MAX_COUNTED, MAX_KEPT, MAX_VALUE_BYTES);
        }
    }

    /// The first values met, each cut to [`MAX_VALUE_BYTES`].
    pub fn kept(&self) -> &[String] {
        &self.0.names
    }

    /// More than [`MAX_COUNTED`] were seen.
    pub fn more(&self) -> bool {
        self.0.more
    }

    /// Distinct values counted (at most [`MAX_COUNTED`]; see `more`).
    pub fn count(&self) -> usize {
        self.0.count()
    }

    /// The count as shown: `100+` past the bound.
    pub fn shown_count(&self) -> String {
        match self.more() {
            true => format!("{}+", self.count()),
            false => self.count().to_string(),
        }
    }
}

fn hash_of(value: &str) -> u64 {
    // SipHash with fixed keys: the same counts run after run.
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Calls to one sensitive API.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub succeeded: u64,
    /// Calls whose record has an `errorCode`.
    pub failed: u64,
}

impl Calls {
    fn add(&mut self, failed: bool) {
        match failed {
            true => self.failed += 1,
            false => self.succeeded += 1,
        }
    }
}

/// The findings of one rule on a principal's records.
#[derive(Debug, Clone)]
pub struct RuleCount {
    pub title: String,
    pub level: String,
    pub findings: u64,
}

/// What one principal did.
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// The folded principal (an ARN mostly); `None` for records naming
    /// none, and for the other principals' row.
    pub principal: Option<String>,
    /// The principals counted in this row past the cap (0 for a
    /// principal's own row); `others_more` when past its own bound.
    pub others: usize,
    pub others_more: bool,
    /// `userIdentity.type` of the first record.
    pub principal_type: Option<String>,
    pub events: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// Sessions folded into the principal (assumed-role session names,
    /// federated user names).
    pub sessions: Values,
    pub regions: Values,
    pub source_ips: Values,
    pub user_agents: Values,
    pub access_keys: Values,
    /// Sensitive calls ([`is_sensitive`]), all of them.
    pub sensitive: Calls,
    /// Per API (`iam:CreateUser`), the first [`MAX_APIS`] met.
    pub apis: BTreeMap<String, Calls>,
    /// Calls to sensitive APIs past [`MAX_APIS`].
    pub apis_more: Calls,
    /// Findings per rule id: every finding of a rule on one of the
    /// principal's records (a threshold, once each time it is reached),
    /// whether or not grouping would make one alert of them.
    pub alerts: BTreeMap<String, RuleCount>,
}

impl Row {
    /// All findings on the principal's records.
    pub fn findings(&self) -> u64 {
        self.alerts.values().map(|rule| rule.findings).sum()
    }

    fn is_other(&self) -> bool {
        self.others > 0
    }
}

/// What a record says that a row counts, read from its head.
struct Seen<'h> {
    principal: Option<String>,
    issuer: Option<String>,
    identity_type: Option<String>,
    access_key: Option<String>,
    event_time: Option<&'h str>,
    region: Option<Cow<'h, str>>,
    source_ip: Option<Cow<'h, str>>,
    user_agent: Option<&'h str>,
    api: Option<String>,
    failed: bool,
}

fn field<'h>(head: &RecordHead<'h>, key: &str) -> Option<&'h str> {
    head.fields
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| *value)
}

/// A top-level string value's text (`None` for anything else).
fn string_field<'h>(head: &RecordHead<'h>, key: &str) -> Option<Cow<'h, str>> {
    match BorrowedValue::parse(field(head, key)?).ok()? {
        BorrowedValue::Str(text) if !text.is_empty() => Some(text),
        _ => None,
    }
}

fn str_of(value: Option<&BorrowedValue<'_>>) -> Option<String> {
    match value? {
        BorrowedValue::Str(text) if !text.is_empty() => Some(text.to_string()),
        _ => None,
    }
}

impl<'h> Seen<'h> {
    fn of(head: &'h RecordHead<'h>) -> Seen<'h> {
        let identity = field(head, "userIdentity").and_then(|raw| BorrowedValue::parse(raw).ok());
        let (principal, issuer, identity_type, access_key) = match &identity {
            Some(identity) => (
                Brief::principal_of(identity).map(Cow::into_owned),
                Brief::issuer_of(identity).map(Cow::into_owned),
                str_of(identity.get("type")),
                str_of(identity.get("accessKeyId")),
            ),
            None => (None, None, None, None),
        };
        let read_only = field(head, "readOnly").and_then(|raw| match raw.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        let api = head.event_name.as_deref().and_then(|name| {
            let name = normalize_event_name(name);
            is_sensitive(name, read_only).then(|| {
                let service = head
                    .event_source
                    .as_deref()
                    .map(|source| source.trim_end_matches(".amazonaws.com"))
                    .unwrap_or("?");
                cut_bytes(&format!("{service}:{name}"), MAX_SHORT_BYTES).to_string()
            })
        });
        Seen {
            principal,
            issuer,
            identity_type: identity_type.map(|t| cut_bytes(&t, MAX_SHORT_BYTES).to_string()),
            access_key,
            event_time: head
                .event_time
                .as_deref()
                .map(|t| cut_bytes(t, MAX_SHORT_BYTES)),
            region: string_field(head, "awsRegion"),
            source_ip: string_field(head, "sourceIPAddress"),
            user_agent: head.user_agent.as_deref(),
            api,
            failed: !matches!(head.error_code, Lenient::Absent),
        }
    }
}

/// The rows being counted.
#[derive(Debug)]
pub struct Summary {
    max_principals: usize,
    rows: HashMap<String, Row>,
    /// Records naming no principal.
    nameless: Option<Row>,
    /// Principals met once `rows` was full, counted together.
    other: Option<Row>,
    others: HashSet<u64>,
    /// Findings whose record's principal was never seen by
    /// [`Summary::record`] (cannot happen in a scan; counted to be sure).
    pub unplaced_findings: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new(MAX_PRINCIPALS)
    }
}

impl Summary {
    /// At most `max_principals` rows of their own (at least 1).
    pub fn new(max_principals: usize) -> Summary {
        Summary {
            max_principals: max_principals.max(1),
            rows: HashMap::new(),
            nameless: None,
            other: None,
            others: HashSet::new(),
            unplaced_findings: 0,
        }
    }

    /// Counts one record, from its head.
    pub fn record(&mut self, head: &RecordHead<'_>) {
        let seen = Seen::of(head);
        let (actor, session) = match seen.principal.as_deref() {
            Some(principal) => {
                let (actor, session) =
                    fold_session(principal, seen.issuer.as_deref().map(Cow::Borrowed));
                (Some(actor), session)
            }
            None => (None, None),
        };
        let actor = actor.as_deref().map(|a| cut_bytes(a, MAX_PRINCIPAL_BYTES));
        let row = self.row_for(actor, true);
        let Some(row) = row else { return };
        if row.principal_type.is_none() && !row.is_other() {
            row.principal_type = seen.identity_type.clone();
        }
        row.events += 1;
        if let Some(time) = seen.event_time {
            // ISO 8601 UTC: text order is time order.
            if row.first_time.as_deref().is_none_or(|first| time < first) {
                row.first_time = Some(time.to_string());
            }
            if row.last_time.as_deref().is_none_or(|last| time > last) {
                row.last_time = Some(time.to_string());
            }
        }
        if let Some(session) = session {
            row.sessions.add(session);
        }
        if let Some(region) = &seen.region {
            row.regions.add(region);
        }
        if let Some(ip) = &seen.source_ip {
            row.source_ips.add(ip);
        }
        if let Some(agent) = seen.user_agent {
            row.user_agents.add(agent);
        }
        if let Some(key) = &seen.access_key {
            row.access_keys.add(key);
        }
        if let Some(api) = seen.api {
            row.sensitive.add(seen.failed);
            let room = row.apis.len() < MAX_APIS;
            match row.apis.get_mut(&api) {
                Some(calls) => calls.add(seen.failed),
                None if room => row.apis.entry(api).or_default().add(seen.failed),
                None => row.apis_more.add(seen.failed),
            }
        }
    }

    /// The row of `actor`: its own, a new one while there is room, else
    /// the other principals' (`None` only when `create` is false and the
    /// actor was never seen).
    fn row_for(&mut self, actor: Option<&str>, create: bool) -> Option<&mut Row> {
        let Some(actor) = actor else {
            return Some(self.nameless.get_or_insert_with(Row::default));
        };
        if self.rows.contains_key(actor) {
            return self.rows.get_mut(actor);
        }
        if self.rows.len() < self.max_principals {
            if !create {
                return None;
            }
            return Some(self.rows.entry(actor.to_string()).or_insert_with(|| Row {
                principal: Some(actor.to_string()),
                ..Row::default()
            }));
        }
        let hash = hash_of(actor);
        let known = self.others.contains(&hash);
        if !known && !create {
            return None;
        }
        let other = self.other.get_or_insert_with(Row::default);
        if !known {
            if self.others.len() < MAX_OTHERS_COUNTED {
                self.others.insert(hash);
                other.others = self.others.len();
            } else {
                other.others_more = true;
            }
        }
        Some(other)
    }

    /// Counts a finding against the principal of the record it is on
    /// (folded as alerts fold it; a threshold's too, under the record that
    /// reached it).
    pub fn finding(&mut self, finding: &Finding) {
        let actor = finding.record.actor().map(|(actor, _)| actor);
        let actor = actor.as_deref().map(|a| cut_bytes(a, MAX_PRINCIPAL_BYTES));
        let rule = &finding.rule;
        match self.row_for(actor, false) {
            Some(row) => match row.alerts.get_mut(&rule.id) {
                Some(count) => count.findings += 1,
                None => {
                    row.alerts.insert(
                        rule.id.clone(),
                        RuleCount {
                            title: rule.title.clone(),
                            level: rule.level.to_string(),
                            findings: 1,
                        },
                    );
                }
            },
            None => self.unplaced_findings += 1,
        }
    }

    /// Principals with a row of their own.
    pub fn principals(&self) -> usize {
        self.rows.len()
    }

    /// The rows, most findings first, then most events, then by
    /// principal; the records naming no principal and the other
    /// principals come last.
    pub fn into_rows(self) -> Vec<Row> {
        let mut rows: Vec<Row> = self.rows.into_values().collect();
        rows.sort_by(|a, b| {
            b.findings()
                .cmp(&a.findings())
                .then(b.events.cmp(&a.events))
                .then_with(|| a.principal.cmp(&b.principal))
        });
        rows.extend(self.nameless);
        rows.extend(self.other);
        rows
    }
}

#[cfg(test)]
mod tests;
