//! The second half of a scan: the records some rule may match are
//! evaluated, thresholds counted and findings handed on, in log order
//! (the heads the first half left unread read here first, the members of
//! `userIdentity` the rules read found on the way, or the whole of it
//! built where the rules read more of it on most records:
//! [`IdentityMode`]).

use std::borrow::Cow;
use std::sync::Arc;

use super::batch::{self, Batch, Entry};
use super::{EventWindow, ScanReport};
use crate::alert::{Finding, Record};
use crate::json::find::Found;
use crate::json::{BorrowedValue, Tokens};
use crate::record::{HeadReader, IdentityRead, LazyRecord, SlotBuffer};
use crate::rules::{Correlator, RecordEvent, RuleSet};

const IDENTITY: &str = "userIdentity";

/// What evaluating records needs besides the records.
pub struct Evaluation<'a> {
    pub label: Arc<str>,
    pub rules: &'a RuleSet,
    pub correlator: &'a mut Correlator,
    pub report: ScanReport,
    /// The first invalid record: its index and why.
    pub first_invalid: Option<(u64, String)>,
    /// For the heads read here ([`Entry::Unread`]); the rules that may
    /// match one, a list used again.
    heads: HeadReader,
    candidates: Vec<usize>,
    /// The rules that alerted on the record being evaluated, by place: a
    /// list used again (most records of a noisy log have one).
    hits: Vec<usize>,
    identities: IdentityReading,
    /// The memory of the last record's fields, for the next.
    slots: SlotBuffer,
    /// Matches per rule, by its place in the rule set, until
    /// [`Evaluation::finish`] names them in the report.
    matched: Vec<u64>,
    /// Records outside it are not evaluated ([`super::Limits::event_window`]).
    window: EventWindow,
    /// Shown every valid record's head ([`super::scan_observed`]).
    pub observer: Option<super::Observer<'a>>,
}

/// How the heads read here read `userIdentity` for the rules: its `type`
/// and `arn` only, where few records have a rule reading more (the
/// built-in rules read it of a few events); the members the rules name
/// found on the way ([`IdentityRead::Find`]), where most do (SigmaHQ's
/// rules: nearly every record); or the whole of it built
/// ([`crate::record::RecordHead::identity`]), where most records have a
/// rule that reads more of it than those members (a keyword, the whole
/// value, a path with brackets), which would otherwise parse it again
/// from its text. Finding and building check the whole identity, which
/// costs a little more than reading two members. Decided again after
/// every [`IDENTITY_WINDOW`] records from what the rules read of them.
/// Whichever way, the rules see the same values.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdentityMode {
    #[default]
    TypeAndArn,
    Find,
    Build,
}

/// The [`IdentityMode`] and the window it is decided from.
#[derive(Debug, Default, Clone, Copy)]
struct IdentityReading {
    mode: IdentityMode,
    seen: u32,
    /// Records with a rule reading their identity.
    read: u32,
    /// Records whose identity's members were found.
    found: u32,
    /// Of those, the records with a rule reading more of it.
    more: u32,
}

/// What the rules read of one record's identity.
#[derive(Debug, Default, Clone, Copy)]
struct IdentitySeen {
    /// A member or the whole of it.
    read: bool,
    /// Its members were found by the head read.
    found: bool,
    /// More than those members (parsed from its text).
    parsed: bool,
}

const IDENTITY_WINDOW: u32 = 256;

thread_local! {
    /// Where the last object evaluated on this thread left the decision
    /// and its window: the next object goes on from there. Most log
    /// objects hold fewer records than [`IDENTITY_WINDOW`], and each would
    /// otherwise start with the first mode and never decide.
    static LAST_READING: std::cell::Cell<IdentityReading> =
        const { std::cell::Cell::new(IdentityReading {
            mode: IdentityMode::TypeAndArn, seen: 0, read: 0, found: 0, more: 0,
        }) };
}

impl IdentityReading {
    /// Where the last object evaluated on this thread left off.
    fn as_last_left() -> IdentityReading {
        LAST_READING.with(|last| last.get())
    }

    /// One more record.
    fn saw(&mut self, record: IdentitySeen) {
        self.seen += 1;
        self.read += u32::from(record.read);
        self.found += u32::from(record.found);
        self.more += u32::from(record.found && record.parsed);
        if self.seen == IDENTITY_WINDOW {
            self.mode = match self.mode {
                _ if self.read * 2 <= IDENTITY_WINDOW => IdentityMode::TypeAndArn,
                // What the rules read beyond the members is told only
                // where the members were found.
                IdentityMode::Find if self.more * 2 > self.found => IdentityMode::Build,
                IdentityMode::Find | IdentityMode::TypeAndArn => IdentityMode::Find,
                IdentityMode::Build => IdentityMode::Build,
            };
            *self = IdentityReading {
                mode: self.mode,
                ..IdentityReading::default()
            };
        }
    }

    /// Leaves the decision and its window to the next object on this
    /// thread.
    fn leave(&self) {
        LAST_READING.with(|last| last.set(*self));
    }
}

impl<'a> Evaluation<'a> {
    pub fn new(
        label: &str,
        rules: &'a RuleSet,
        correlator: &'a mut Correlator,
        window: EventWindow,
    ) -> Self {
        Evaluation {
            window,
            label: Arc::from(label),
            rules,
            correlator,
            report: ScanReport::default(),
            first_invalid: None,
            heads: HeadReader::default(),
            candidates: Vec::new(),
            hits: Vec::new(),
            identities: IdentityReading::as_last_left(),
            slots: SlotBuffer::default(),
            matched: vec![0; rules.rules().len()],
            observer: None,
        }
    }

    /// The object is read: the matches per rule go into the report, and
    /// the next object on this thread starts reading identities as this
    /// one ended ([`IdentityMode`]).
    pub fn finish(&mut self) {
        let rules = self.rules.rules();
        for (rule, count) in rules.iter().zip(std::mem::take(&mut self.matched)) {
            if count > 0 {
                *self.report.matches.entry(rule.meta.id.clone()).or_default() += count;
            }
        }
        self.identities.leave();
    }

    /// Whether the heads read here find the members of identities now
    /// (where they build them, the splitter, which cannot, finds them).
    pub fn finds_identity(&self) -> bool {
        self.identities.mode != IdentityMode::TypeAndArn
    }

    /// Takes a batch, leaving it empty for the splitter to fill again;
    /// false once `on_finding` asked to stop.
    pub fn take(
        &mut self,
        batch: &mut Batch,
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> bool {
        if let Some(time) = batch.newest_event_time.take() {
            self.report.note_event_time(&time);
        }
        self.report.outside_window += std::mem::take(&mut batch.outside);
        let go_on = self.take_entries(batch, on_finding);
        batch.text.clear();
        batch.entries.clear();
        batch.fields.clear();
        batch.rules.clear();
        batch.unread.clear();
        batch.tokens.clear();
        batch.found.clear();
        batch.find_identity = Some(self.finds_identity());
        go_on
    }

    fn take_entries(
        &mut self,
        batch: &mut Batch,
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> bool {
        let Batch {
            text,
            entries,
            fields,
            rules,
            unread,
            tokens,
            found,
            ..
        } = batch;
        for entry in entries.drain(..) {
            let go_on = match entry {
                Entry::Plain(count) => {
                    self.report.records += count;
                    self.report.evaluated += count;
                    true
                }
                Entry::Invalid(index, message) => {
                    self.invalid(index, message);
                    true
                }
                Entry::Candidate(candidate) => {
                    let text = text.get(candidate.span.clone()).unwrap_or_default();
                    let fields = fields.get(candidate.fields).unwrap_or_default();
                    let fields = fields.iter().map(|(key, value)| {
                        (Cow::Borrowed(key.in_record(text)), value.in_record(text))
                    });
                    let rules = rules.get(candidate.rules).unwrap_or_default();
                    let identity = match candidate.found.and_then(|at| found.get(at)) {
                        Some(found) => Identity::Found(*found),
                        None => Identity::Unread,
                    };
                    let outcome = self.evaluate(text, fields, identity, rules, on_finding);
                    self.settle(candidate.index, outcome)
                }
                Entry::Unread(record) => {
                    let (bytes, tokens) = record.in_batch(unread, tokens);
                    self.read_and_evaluate(record.index, bytes, tokens, on_finding)
                }
            };
            if !go_on {
                self.report.stopped = true;
                return false;
            }
        }
        true
    }

    /// Counts an evaluated record, or an invalid one; whether to go on.
    fn settle(&mut self, index: u64, outcome: Result<bool, String>) -> bool {
        match outcome {
            Ok(go_on) => {
                self.report.records += 1;
                self.report.evaluated += 1;
                go_on
            }
            Err(problem) => {
                self.invalid(index, problem);
                true
            }
        }
    }

    /// Takes one record where the log's reader holds it (one thread: no
    /// batch to copy it into); false once `on_finding` asked to stop.
    pub fn take_record(
        &mut self,
        index: u64,
        bytes: &[u8],
        tokens: Option<Tokens<'_>>,
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> bool {
        let go_on = self.read_and_evaluate(index, bytes, tokens, on_finding);
        if !go_on {
            self.report.stopped = true;
        }
        go_on
    }

    /// Reads the head of a record the splitter left unread, as the
    /// splitter would have, and evaluates it if some rule may match it;
    /// whether to go on.
    fn read_and_evaluate(
        &mut self,
        index: u64,
        bytes: &[u8],
        tokens: Option<Tokens<'_>>,
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> bool {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        let identity = match self.identities.mode {
            IdentityMode::TypeAndArn => IdentityRead::TypeAndArn,
            IdentityMode::Find => IdentityRead::Find(self.rules.identity_paths()),
            IdentityMode::Build => IdentityRead::Build,
        };
        let read = batch::read_head(
            &mut self.heads,
            bytes,
            tokens,
            self.rules,
            &mut candidates,
            identity,
            &self.window,
        );
        let go_on = match read {
            Err(err) => {
                self.invalid(index, err.to_string());
                true
            }
            Ok((mut head, placed)) => {
                self.report.outside_window += u64::from(placed == batch::Placed::Outside);
                batch::keep_newest_event_time(&mut self.report.newest_event_time, &head);
                // A record outside the window is not the summary's either.
                if let Some(observer) = self.observer.as_mut() {
                    if placed == batch::Placed::Inside {
                        observer(&head);
                    }
                }
                let go_on = if candidates.is_empty() {
                    self.identities.saw(IdentitySeen::default());
                    self.settle(index, Ok(true))
                } else {
                    let identity = match (head.identity.take(), self.heads.found()) {
                        (Some(built), _) => Identity::Built(built),
                        (None, Some(found)) => Identity::Found(*found),
                        (None, None) => Identity::Unread,
                    };
                    let fields = head.fields.drain(..);
                    let outcome =
                        self.evaluate(head.text, fields, identity, &candidates, on_finding);
                    self.settle(index, outcome)
                };
                self.heads.recycle(std::mem::take(&mut head.fields));
                go_on
            }
        };
        self.candidates = candidates;
        go_on
    }

    fn invalid(&mut self, index: u64, message: String) {
        self.report.records += 1;
        self.report.invalid += 1;
        self.first_invalid.get_or_insert((index, message));
    }

    /// Evaluates one record; returns whether to go on, or why the record
    /// is invalid.
    fn evaluate<'t>(
        &mut self,
        text: &'t str,
        fields: impl IntoIterator<Item = (Cow<'t, str>, &'t str)>,
        identity: Identity<'t>,
        positions: &[usize],
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> Result<bool, String>
    where
        'a: 't,
    {
        let mut record = LazyRecord::new_in(text, fields, std::mem::take(&mut self.slots));
        let found = match identity {
            Identity::Built(built) => {
                record.preset(IDENTITY, built);
                None
            }
            Identity::Found(found) => Some(found),
            Identity::Unread => None,
        };
        record.set_identity(self.rules.identity_paths(), found);
        let outcome = self.evaluate_record(&record, positions, on_finding);
        self.slots = record.into_buffer();
        outcome
    }

    /// [`Evaluation::evaluate`] of the record made.
    fn evaluate_record(
        &mut self,
        record: &LazyRecord<'_>,
        positions: &[usize],
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> Result<bool, String> {
        let event = RecordEvent::lazy(record);
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        let mut detections = Vec::new();
        let rules = self.rules.rules();
        for (&at, rule) in positions
            .iter()
            .filter_map(|at| Some((at, rules.get(*at)?)))
        {
            if rule.feeds_correlation {
                let Some(detection) = rule.evaluate_event(&event) else {
                    continue;
                };
                detections.push(detection);
            } else if !rule.matches_event(&event) {
                continue;
            }
            // Counted by position, named once the object is read
            // ([`Evaluation::finish`]): a map keyed by id compared ids on
            // every match.
            if let Some(count) = self.matched.get_mut(at) {
                *count += 1;
            }
            if rule.alerts {
                hits.push(at);
            }
        }
        self.identities.saw(IdentitySeen {
            read: record.member_read() || record.asked(IDENTITY),
            found: record.has_found(),
            parsed: record.asked(IDENTITY),
        });
        // A value some rule read could not be read: what the rules said of
        // the record means nothing, and no threshold may count it.
        invalid_if(record.problem())?;
        let thresholds = if detections.is_empty() {
            Vec::new()
        } else {
            self.correlator.feed(&event, detections)
        };
        invalid_if(record.problem())?;
        if hits.is_empty() && thresholds.is_empty() {
            self.hits = hits;
            return Ok(true);
        }
        drop(event);
        let record = Arc::new(Record::from_text(
            record.text(),
            record.brief(),
            Arc::clone(&self.label),
        ));
        let findings = hits
            .iter()
            .filter_map(|at| rules.get(*at))
            .map(|rule| Finding::new(&rule.meta, &record))
            .chain(
                thresholds
                    .into_iter()
                    .map(|hit| Finding::threshold(hit, &record)),
            );
        let mut going = true;
        for finding in findings {
            self.report.alerts += 1;
            if !on_finding(finding) {
                going = false;
                break;
            }
        }
        self.hits = hits;
        Ok(going)
    }
}

/// What the head read left of a record's `userIdentity` for the rules.
enum Identity<'t> {
    /// Built whole ([`IdentityRead::Build`]).
    Built(BorrowedValue<'t>),
    /// The places of the members the rules read ([`IdentityRead::Find`]).
    Found(Found),
    /// Nothing: the rules parse it if they read it.
    Unread,
}

fn invalid_if(problem: Option<String>) -> Result<(), String> {
    problem.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mode follows the last window of records: each record read as
    /// `(a rule read its identity, its members were found, a rule read
    /// more than them)`, the window of 256 made of runs of such records.
    #[test]
    fn the_identity_mode_follows_what_the_rules_read() {
        use IdentityMode::{Build, Find, TypeAndArn};
        let none = IdentitySeen::default();
        let members = IdentitySeen {
            read: true,
            found: true,
            parsed: false,
        };
        let more = IdentitySeen {
            read: true,
            found: true,
            parsed: true,
        };
        // Read, its members not found (read as type and arn, or an
        // identity with an escape): nothing told of the rest.
        let unfound = IdentitySeen {
            read: true,
            found: false,
            parsed: true,
        };
        let half = IDENTITY_WINDOW / 2;
        for (from, windows, after) in [
            (TypeAndArn, vec![vec![(none, IDENTITY_WINDOW)]], TypeAndArn),
            (
                TypeAndArn,
                vec![vec![(members, half), (none, half)]],
                TypeAndArn,
            ),
            (
                TypeAndArn,
                vec![vec![(members, half + 1), (none, half - 1)]],
                Find,
            ),
            (TypeAndArn, vec![vec![(unfound, IDENTITY_WINDOW)]], Find),
            (Find, vec![vec![(members, IDENTITY_WINDOW)]], Find),
            (Find, vec![vec![(more, half), (members, half)]], Find),
            (
                Find,
                vec![vec![(more, half + 1), (members, half - 1)]],
                Build,
            ),
            (Find, vec![vec![(unfound, IDENTITY_WINDOW)]], Find),
            (
                Find,
                vec![
                    vec![(more, IDENTITY_WINDOW)],
                    vec![(unfound, IDENTITY_WINDOW)],
                ],
                Build,
            ),
            (Build, vec![vec![(unfound, IDENTITY_WINDOW)]], Build),
            (Build, vec![vec![(none, IDENTITY_WINDOW)]], TypeAndArn),
            (TypeAndArn, vec![vec![(more, IDENTITY_WINDOW)]; 2], Build),
        ] {
            let mut reading = IdentityReading {
                mode: from,
                ..IdentityReading::default()
            };
            for window in &windows {
                let before = reading.mode;
                let mut left: u32 = window.iter().map(|(_, count)| count).sum();
                for &(record, count) in window {
                    for _ in 0..count {
                        reading.saw(record);
                        left -= 1;
                        if left > 0 {
                            assert_eq!(reading.mode, before, "decided only once a window ends");
                        }
                    }
                }
                assert_eq!(reading.seen, 0, "a whole window");
            }
            assert_eq!(reading.mode, after, "{from:?} then {windows:?}");
        }
    }

    /// Evaluates a generated log of 600 records with `rules`, record by
    /// record as one thread does.
    fn evaluate_generated<'r>(
        rules: &'r RuleSet,
        correlator: &'r mut Correlator,
    ) -> Evaluation<'r> {
        let log = super::super::tests::generated(600);
        let records = crate::pipeline::open_log(std::io::Cursor::new(log), Default::default());
        let mut evaluation =
            Evaluation::new("generated", rules, correlator, EventWindow::default());
        let ended = batch::Splitter::new(records, rules)
            .each_record_within(u64::MAX, |index, bytes, tokens| {
                evaluation.take_record(index, bytes, tokens, &mut |_| true)
            });
        assert!(matches!(ended, batch::Within::Ended(None)));
        assert_eq!(evaluation.report.evaluated, 600);
        evaluation
    }

    /// SigmaHQ's rules read plain members of the identity, which the head
    /// read finds: nothing turns building on, and the rules match as
    /// where it is built (`every_way_finds_the_same_where_the_identity_is_built`).
    #[test]
    fn members_found_keep_building_off() {
        let rules = super::super::tests::sigmahq_rules();
        let mut correlator = rules.correlations().correlator();
        let evaluation = evaluate_generated(&rules, &mut correlator);
        assert_eq!(evaluation.identities.mode, IdentityMode::Find);
        assert!(evaluation.matched.iter().sum::<u64>() > 0);
    }

    /// A rule that reads the identity whole, on a generated log: the
    /// records read here come to be read with their identity built.
    #[test]
    fn a_rule_reading_the_whole_identity_turns_building_on() {
        let rule = "title: Identity mentions a role\nid: 5f0c6a3e-9d0e-4c55-8a59-1f3b7f1f0d11\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    userIdentity|contains: 'role'\n  condition: selection\nlevel: low\n";
        let rules = RuleSet::load(&crate::rules::RuleConfig {
            texts: vec![("whole.yml".into(), rule.into())],
            ..crate::rules::RuleConfig::default()
        })
        .expect("the rule loads");
        let mut correlator = rules.correlations().correlator();
        let mut evaluation = evaluate_generated(&rules, &mut correlator);
        assert_eq!(evaluation.identities.mode, IdentityMode::Build);
        // The next object on this thread starts building: small objects
        // (most logs) never see a window of their own.
        evaluation.finish();
        drop(evaluation);
        let mut next = Evaluation::new("next", &rules, &mut correlator, EventWindow::default());
        assert_eq!(next.identities.mode, IdentityMode::Build);
        // Objects too small for a window of their own decide together.
        let seen = next.identities.seen;
        next.identities.saw(IdentitySeen::default());
        next.finish();
        let mut small = Evaluation::new("small", &rules, &mut correlator, EventWindow::default());
        assert_eq!(small.identities.seen, seen + 1);
        for _ in 0..IDENTITY_WINDOW {
            small.identities.saw(IdentitySeen::default());
        }
        small.finish();
        assert_eq!(
            IdentityReading::as_last_left().mode,
            IdentityMode::TypeAndArn
        );
    }
}
