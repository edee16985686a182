//! Findings become alerts a person can read: the findings of one rule for
//! one principal are one alert with a count, and past a cap the rest are
//! one summary alert. A burst of 2,000 denied calls is one email, not 2,000.
//!
//! Each finding comes with the work unit it belongs to (the SQS message or
//! Batch Operations task it was read for), so that when an alert cannot be
//! delivered exactly the units behind it are retried.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde_json::json;

use super::safe_text::cut_bytes;
use super::{
    alert_id, fnv1a, Alert, Finding, HeldBack, HeldBackRule, Occurrences, Sessions,
    MAX_COUNTED_OBJECTS, MAX_COUNTED_SESSIONS, MAX_GROUPED_EVENT_IDS, MAX_HELD_BACK_OBJECTS,
    MAX_SESSION_NAMES,
};
use crate::rules::{Level, RuleMeta};

/// Grouping looks a key up for every finding: foldhash (hashbrown's own
/// hasher, already built) costs a fraction of SipHash. The keys are the
/// log's, so its seeds are random and its quality variant is used.
type KeyHash = foldhash::quality::RandomState;

/// The id summary alerts carry in place of a rule id.
pub const HELD_BACK_RULE_ID: &str = "trailwatch-alerts-held-back";

/// A work unit: the index of the SQS message or task in the event (0 for
/// a plain notification).
pub type Unit = usize;

/// An alert ready to send, and the units whose findings it reports.
#[derive(Debug)]
pub struct Grouped {
    pub alert: Alert,
    pub units: BTreeSet<Unit>,
}

/// A group as it closed: its one finding (whose alert is the finding's
/// own, to be built or written only when it is printed or sent), or the
/// alert of several.
pub enum Closed {
    One {
        finding: Finding,
        units: BTreeSet<Unit>,
    },
    Several(Box<Grouped>),
}

/// Rule id and actor (the principal with its session folded into its role;
/// with none, the log object), in one string: the rule id's length, `:`,
/// the rule id, the actor. One string can be looked up without a new
/// allocation per finding ([`key_into`]).
type Key = String;

/// The findings of one invocation (or one CLI run), grouped.
#[derive(Debug)]
pub struct Grouper {
    /// At most this many alerts, plus one summary; `None`: no cap.
    cap: Option<usize>,
    groups: HashMap<Key, Group, KeyHash>,
    /// The key of the finding being added, its buffer used again.
    scratch: String,
    arrivals: u64,
    held: Held,
    /// At most this many groups are kept open; `None`: no bound (the
    /// Lambda function's groups are bounded by `cap`).
    open_limit: Option<usize>,
    /// Findings added so far: when each group was last added to.
    touches: u64,
    /// Groups closed early to keep within `open_limit`, for the caller
    /// to send now ([`Grouper::take_closed`]).
    closed: Vec<Group>,
    /// Groups whose newest finding is this much event time older than the
    /// newest event added are closed ([`Grouper::with_idle_window`]).
    idle_window: Option<chrono::TimeDelta>,
    /// The newest eventTime added, as CloudTrail writes it.
    newest: Option<String>,
}

/// Findings added between two looks for idle groups.
const IDLE_CHECK_EVERY: u64 = 4096;

#[derive(Debug)]
struct Group {
    first: Finding,
    arrival: u64,
    /// When a finding was last added ([`Grouper::touches`]).
    touched: u64,
    count: u64,
    first_time: Option<String>,
    last_time: Option<String>,
    event_ids: Vec<String>,
    /// Sessions folded into this group: counted up to
    /// [`MAX_COUNTED_SESSIONS`], the first [`MAX_SESSION_NAMES`] named.
    sessions: Distinct,
    units: BTreeSet<Unit>,
    /// Log objects other than the first finding's, should the group be
    /// held back and have to name them: at most [`MAX_HELD_BACK_OBJECTS`],
    /// and whether there were more. Empty (no allocation) for the usual
    /// group of one object.
    other_sources: Vec<Arc<str>>,
    more_sources: bool,
    /// The object of the finding added last: findings come object by
    /// object, each object's sharing its name.
    last_source: Option<Arc<str>>,
}

/// What the cap kept out, counted per rule.
#[derive(Debug, Default)]
struct Held {
    /// The held groups' keys, by hash: eight bytes each, however many
    /// principals an invocation meets.
    keys: HashSet<u64, KeyHash>,
    rules: HashMap<String, HeldBackRule>,
    units: BTreeSet<Unit>,
    findings: u64,
    /// The held alerts' ids, combined in any order: the summary's own id,
    /// the same for the same findings and different for different ones
    /// (dedup must not take one storm's summary for another's).
    ids: u64,
    /// The log objects to rescan: counted up to [`MAX_COUNTED_OBJECTS`],
    /// the first [`MAX_HELD_BACK_OBJECTS`] named.
    objects: Distinct,
}

/// Distinct names, counted by a hash of each (eight bytes, up to a bound)
/// and the first few kept: what an alert lists and how many (and what a
/// row of `trailwatch summary` does, [`crate::summary::Values`]). The
/// hash is foldhash's (a session's name is hashed for every finding, and
/// FNV-1a's multiply per byte cost several times more); two names of one
/// hash would count once, as with any hash of eight bytes.
#[derive(Debug, Default, Clone)]
pub struct Distinct {
    hashes: HashSet<u64, KeyHash>,
    /// More than the bound were seen.
    pub more: bool,
    /// The first names met.
    pub names: Vec<String>,
}

impl Distinct {
    /// Counts `name` (up to `max_counted` distinct names), kept whole
    /// while fewer than `max_names` are.
    pub fn add(&mut self, name: &str, max_counted: usize, max_names: usize) {
        self.add_cut(name, max_counted, max_names, usize::MAX);
    }

    /// [`Distinct::add`], a name kept cut to at most `max_bytes` (on a
    /// character boundary); names are told apart whole.
    pub fn add_cut(&mut self, name: &str, max_counted: usize, max_names: usize, max_bytes: usize) {
        use std::hash::BuildHasher;
        const NAME_HASH: foldhash::quality::FixedState =
            foldhash::quality::FixedState::with_seed(0x7472_6169_6c77_6174);
        let hash = NAME_HASH.hash_one(name);
        if self.hashes.contains(&hash) {
            return;
        }
        if self.hashes.len() >= max_counted {
            self.more = true;
            return;
        }
        self.hashes.insert(hash);
        if self.names.len() < max_names {
            self.names.push(cut_bytes(name, max_bytes).to_string());
        }
    }

    /// Distinct names counted (at most the bound; see `more`).
    pub fn count(&self) -> usize {
        self.hashes.len()
    }
}

impl Grouper {
    pub fn new(cap: Option<usize>) -> Grouper {
        Grouper {
            cap,
            groups: HashMap::default(),
            scratch: String::new(),
            arrivals: 0,
            held: Held::default(),
            open_limit: None,
            touches: 0,
            closed: Vec::new(),
            idle_window: None,
            newest: None,
        }
    }

    /// Closes a group once the newest event added is `window` of event time
    /// past its own newest finding: a backfill over months prints each
    /// actor's alerts as it goes, a day's logs group as a whole.
    pub fn with_idle_window(mut self, window: chrono::TimeDelta) -> Grouper {
        self.idle_window = Some(window);
        self
    }

    /// Keeps at most `limit` groups open: past it, the least recently
    /// added-to tenth are closed, their alerts ready for
    /// [`Grouper::take_closed`], and a later finding of the same rule and
    /// actor opens a new group. Memory then stays flat however many
    /// principals a scan meets.
    pub fn with_open_limit(mut self, limit: usize) -> Grouper {
        self.open_limit = Some(limit.max(1));
        self
    }

    /// The alerts of the groups closed early, in the order they were
    /// closed, each built as it is taken.
    pub fn take_closed(&mut self) -> impl Iterator<Item = Grouped> {
        std::mem::take(&mut self.closed)
            .into_iter()
            .map(Group::into_alert)
    }

    /// [`Grouper::take_closed`], a group of one finding handed over as it
    /// is ([`Closed::One`]).
    pub fn take_closed_lean(&mut self) -> impl Iterator<Item = Closed> {
        std::mem::take(&mut self.closed)
            .into_iter()
            .map(Group::into_closed)
    }

    /// Findings taken so far, sent or held back.
    pub fn findings(&self) -> u64 {
        self.groups.values().map(|g| g.count).sum::<u64>() + self.held.findings
    }

    pub fn add(&mut self, finding: Finding, unit: Unit) {
        let mut key = std::mem::take(&mut self.scratch);
        let session = key_into(&finding, &mut key);
        self.touches += 1;
        if self.idle_window.is_some() {
            self.note_time(&finding);
        }
        if let Some(group) = self.groups.get_mut(&key) {
            group.add(&finding, unit, session);
            group.touched = self.touches;
            self.scratch = key;
            return;
        }
        if self.held.keys.contains(&fnv1a(key.as_bytes())) {
            self.held.add(key, &finding, unit, false);
            return;
        }
        if self.cap.is_some_and(|cap| self.groups.len() >= cap) {
            // Full: a more severe finding takes the place of the least
            // severe, most recent alert; otherwise it is held back.
            match self.least_severe_below(finding.rule.level) {
                Some(evicted) => self.evict(evicted),
                None => {
                    self.held.add(key, &finding, unit, true);
                    return;
                }
            }
        }
        self.arrivals += 1;
        let mut group = Group::new(&finding, self.arrivals, unit, session);
        group.touched = self.touches;
        self.groups.insert(key, group);
        if self
            .open_limit
            .is_some_and(|limit| self.groups.len() > limit)
        {
            self.close_least_recent();
        }
    }

    /// Keeps the newest eventTime; every [`IDLE_CHECK_EVERY`] findings,
    /// closes the groups idle for the window.
    fn note_time(&mut self, finding: &Finding) {
        if let Some(time) = finding.record.event_time() {
            // CloudTrail's eventTime is ISO 8601 UTC: text order is time order.
            if self.newest.as_deref().is_none_or(|newest| *time > *newest) {
                self.newest = Some(time.into_owned());
            }
        }
        if self.touches.is_multiple_of(IDLE_CHECK_EVERY) {
            self.close_idle();
        }
    }

    fn close_idle(&mut self) {
        let (Some(window), Some(newest)) = (self.idle_window, self.newest.as_deref()) else {
            return;
        };
        let Ok(newest) = chrono::DateTime::parse_from_rfc3339(newest) else {
            return;
        };
        let Some(cutoff) = newest.to_utc().checked_sub_signed(window) else {
            return;
        };
        let cutoff = cutoff.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        // A group without a time, or with another format, is left open.
        let mut idle: Vec<(u64, Key)> = self
            .groups
            .iter()
            .filter(|(_, group)| {
                group.last_time.as_deref().is_some_and(|last| {
                    last.len() == cutoff.len() && last.ends_with('Z') && *last < *cutoff
                })
            })
            .map(|(key, group)| (group.touched, key.clone()))
            .collect();
        idle.sort_unstable();
        for (_, key) in idle {
            if let Some(group) = self.groups.remove(&key) {
                self.closed.push(group);
            }
        }
    }

    /// Closes the least recently added-to tenth of the open groups (at
    /// least one): a sort per tenth, not a search per new group.
    fn close_least_recent(&mut self) {
        let count = (self.groups.len() / 10).max(1);
        let mut by_touch: Vec<(u64, &Key)> = self
            .groups
            .iter()
            .map(|(key, group)| (group.touched, key))
            .collect();
        by_touch.sort_unstable();
        let keys: Vec<Key> = by_touch
            .into_iter()
            .take(count)
            .map(|(_, key)| key.clone())
            .collect();
        for key in keys {
            if let Some(group) = self.groups.remove(&key) {
                self.closed.push(group);
            }
        }
    }

    fn least_severe_below(&self, level: Level) -> Option<Key> {
        self.groups
            .iter()
            .filter(|(_, g)| g.first.rule.level < level)
            .min_by_key(|(_, g)| (g.first.rule.level, std::cmp::Reverse(g.arrival)))
            .map(|(key, _)| key.clone())
    }

    fn evict(&mut self, key: Key) {
        if let Some(group) = self.groups.remove(&key) {
            self.held.add_group(key, group);
        }
    }

    /// The alerts to send, in the order their first finding arrived, then
    /// the summary of what was held back, if anything was.
    pub fn finish(self) -> Vec<Grouped> {
        self.into_alerts().collect()
    }

    /// [`Grouper::finish`] one alert at a time: each is built (its record
    /// parsed, the rule's texts copied) only when it is taken, and dropped
    /// before the next, so printing tens of thousands of groups does not
    /// hold them all as alerts at once.
    pub fn into_alerts(self) -> impl Iterator<Item = Grouped> {
        self.into_closed().map(|closed| match closed {
            Closed::One { finding, units } => Grouped {
                alert: finding.alert(),
                units,
            },
            Closed::Several(grouped) => *grouped,
        })
    }

    /// [`Grouper::into_alerts`], a group of one finding handed over as it
    /// is ([`Closed::One`]).
    pub fn into_closed(self) -> impl Iterator<Item = Closed> {
        let mut groups: Vec<Group> = self.groups.into_values().collect();
        groups.sort_by_key(|g| g.arrival);
        let cap = self.cap.unwrap_or_default();
        let held = self.held;
        // Groups closed early and not yet taken came first.
        self.closed
            .into_iter()
            .chain(groups)
            .map(Group::into_closed)
            .chain(
                std::iter::once_with(move || {
                    held.into_alert(cap).map(|g| Closed::Several(Box::new(g)))
                })
                .flatten(),
            )
    }
}

/// The group key of `finding` into `key`; the name of the session folded
/// into its actor, if one was (folding is done once per finding).
fn key_into<'f>(finding: &'f Finding, key: &mut String) -> Option<&'f str> {
    use std::fmt::Write;
    key.clear();
    let rule = &finding.rule.id;
    // Writing to a String cannot fail.
    let _ = write!(key, "{}:{rule}", rule.len());
    // A threshold is grouped by what it counted; a record by its actor.
    let (who, session) = match &finding.threshold {
        Some(_) => (finding.principal(), None),
        None => match finding.record.actor() {
            Some((actor, session)) => (Some(actor), session),
            None => (None, None),
        },
    };
    match who {
        Some(who) => key.push_str(&who),
        None => key.push_str(finding.record.source()),
    }
    session
}

impl Group {
    fn new(finding: &Finding, arrival: u64, unit: Unit, session: Option<&str>) -> Group {
        let mut group = Group {
            first: finding.clone(),
            arrival,
            touched: 0,
            count: 0,
            first_time: None,
            last_time: None,
            event_ids: Vec::new(),
            sessions: Distinct::default(),
            units: BTreeSet::new(),
            other_sources: Vec::new(),
            more_sources: false,
            last_source: None,
        };
        group.add(finding, unit, session);
        group
    }

    /// `session`: the session folded into the finding's actor
    /// ([`key_into`]).
    fn add(&mut self, finding: &Finding, unit: Unit, session: Option<&str>) {
        self.count += 1;
        self.units.insert(unit);
        self.add_source(&finding.record.source);
        if let Some(time) = finding.record.event_time() {
            // CloudTrail's eventTime is ISO 8601 UTC: text order is time order.
            if self.first_time.as_deref().is_none_or(|t| *time < *t) {
                self.first_time = Some(time.to_string());
            }
            // Times mostly grow: the last one's buffer is used again.
            match self.last_time.as_mut() {
                Some(last) if *time > **last => {
                    last.clear();
                    last.push_str(&time);
                }
                Some(_) => {}
                None => self.last_time = Some(time.into_owned()),
            }
        }
        if self.event_ids.len() < MAX_GROUPED_EVENT_IDS {
            if let Some(id) = finding.record.event_id() {
                self.event_ids.push(id.into_owned());
            }
        }
        if let Some(session) = session {
            self.sessions
                .add(session, MAX_COUNTED_SESSIONS, MAX_SESSION_NAMES);
        }
    }

    fn add_source(&mut self, source: &Arc<str>) {
        // The same object as the last finding's, by pointer: a scan of
        // many small objects compared every finding's name with every
        // source kept.
        if self
            .last_source
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, source))
        {
            return;
        }
        self.last_source = Some(source.clone());
        let same = |known: &Arc<str>| Arc::ptr_eq(known, source) || **known == **source;
        if same(&self.first.record.source) || self.other_sources.iter().rev().any(same) {
            return;
        }
        if self.other_sources.len() + 1 < MAX_HELD_BACK_OBJECTS {
            self.other_sources.push(source.clone());
        } else {
            self.more_sources = true;
        }
    }

    /// A group of one finding is that finding: its alert is the finding's.
    fn into_closed(self) -> Closed {
        if self.count == 1 {
            return Closed::One {
                finding: self.first,
                units: self.units,
            };
        }
        Closed::Several(Box::new(self.into_alert()))
    }

    fn into_alert(self) -> Grouped {
        let mut alert = self.first.alert();
        if self.count > 1 {
            // Only sessions folded together are worth naming.
            let actor = self
                .first
                .record
                .actor()
                .map(|(actor, _)| actor.into_owned());
            let sessions = actor
                .filter(|_| self.sessions.count() > 1)
                .map(|actor| Sessions {
                    actor,
                    count: self.sessions.count() as u64,
                    more: self.sessions.more,
                    names: self.sessions.names,
                });
            alert.occurrences = Some(Occurrences {
                count: self.count,
                first_time: self.first_time,
                last_time: self.last_time,
                event_ids: self.event_ids,
                sessions,
            });
        }
        Grouped {
            alert,
            units: self.units,
        }
    }
}

impl Held {
    fn add(&mut self, key: Key, finding: &Finding, unit: Unit, new_alert: bool) {
        let rule = self.rule(&finding.rule);
        rule.findings += 1;
        rule.alerts += u64::from(new_alert);
        if new_alert {
            self.ids = self.ids.wrapping_add(fnv1a(finding.alert_id().as_bytes()));
        }
        self.findings += 1;
        self.units.insert(unit);
        self.keys.insert(fnv1a(key.as_bytes()));
        self.add_object(finding.record.source());
    }

    fn add_object(&mut self, object: &str) {
        self.objects
            .add(object, MAX_COUNTED_OBJECTS, MAX_HELD_BACK_OBJECTS);
    }

    fn add_group(&mut self, key: Key, group: Group) {
        let rule = self.rule(&group.first.rule);
        rule.findings += group.count;
        rule.alerts += 1;
        self.ids = self
            .ids
            .wrapping_add(fnv1a(group.first.alert_id().as_bytes()));
        self.findings += group.count;
        self.units.extend(group.units);
        self.keys.insert(fnv1a(key.as_bytes()));
        self.add_object(group.first.record.source());
        for source in &group.other_sources {
            self.add_object(source);
        }
        self.objects.more |= group.more_sources;
    }

    fn rule(&mut self, meta: &RuleMeta) -> &mut HeldBackRule {
        self.rules
            .entry(meta.id.clone())
            .or_insert_with(|| HeldBackRule {
                rule_id: meta.id.clone(),
                title: meta.title.clone(),
                severity: meta.level.as_str(),
                alerts: 0,
                findings: 0,
            })
    }

    fn into_alert(self, cap: usize) -> Option<Grouped> {
        if self.rules.is_empty() {
            return None;
        }
        let mut rules: Vec<HeldBackRule> = self.rules.into_values().collect();
        rules.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(a.rule_id.cmp(&b.rule_id)));
        let held_back = HeldBack {
            alerts: rules.iter().map(|r| r.alerts).sum(),
            findings: self.findings,
            cap,
            rules,
            object_count: self.objects.count() as u64,
            more_objects: self.objects.more,
            objects: self.objects.names,
        };
        let event = json!({ "held_back": &held_back });
        let mut alert = Alert::new(held_back_rule(), event, "this invocation");
        alert.alert_id = alert_id(HELD_BACK_RULE_ID, &format!("{:016x}", self.ids));
        alert.title = format!(
            "{} More Alerts Held Back: The Limit Of {cap} Alerts Per Invocation Was Reached",
            held_back.alerts
        );
        alert.held_back = Some(held_back);
        Some(Grouped {
            alert,
            units: self.units,
        })
    }
}

fn held_back_rule() -> &'static Arc<RuleMeta> {
    static RULE: OnceLock<Arc<RuleMeta>> = OnceLock::new();
    RULE.get_or_init(|| {
        Arc::new(RuleMeta {
            id: HELD_BACK_RULE_ID.to_string(),
            title: "Alerts Held Back".to_string(),
            level: Level::High,
            description: "More distinct alerts (rule and principal) were found in one \
                invocation than MAX_ALERTS_PER_INVOCATION allows. The most severe were sent; \
                the rest are counted here, by rule. Many alerts at once can be an attack in \
                progress or a noisy rule: read the log objects this summary names with \
                `trailwatch scan`, tune or disable the noisy rule, or raise the limit."
                .to_string(),
            falsepositives: vec!["A rule that matches routine activity".to_string()],
            references: Vec::new(),
            tags: Vec::new(),
            author: Some("trailwatch".to_string()),
            origin: "trailwatch".to_string(),
        })
    })
}

#[cfg(test)]
mod tests;
