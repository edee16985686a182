//! The second half of a scan: the records some rule may match are
//! evaluated, thresholds counted and findings handed on, in log order
//! (the heads the first half left unread read here first, the members of
//! `userIdentity` the rules read found on the way, or the whole of it
//! built where the rules read more of it on most records:
//! [`IdentityBuilding`]).

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
    identities: IdentityBuilding,
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

/// Whether the heads read here build `userIdentity` for the rules as they
/// go ([`crate::record::RecordHead::identity`]) instead of finding the
/// members the rules name ([`IdentityRead::Find`]): that spares parsing it
/// from its text where most records have a rule that reads more of it than
/// those members (a keyword, the whole value, a path with brackets), and
/// is wasted where few do (SigmaHQ's rules and the built-in ones read
/// plain members). Decided again after every [`IDENTITY_WINDOW`] records
/// from how many of them had a rule parse it. Either way the rules see the
/// same values.
#[derive(Debug, Default, Clone, Copy)]
struct IdentityBuilding {
    on: bool,
    seen: u32,
    asked: u32,
}

const IDENTITY_WINDOW: u32 = 256;

thread_local! {
    /// Where the last object evaluated on this thread left the decision
    /// and its window: the next object goes on from there. Most log
    /// objects hold fewer records than [`IDENTITY_WINDOW`], and each would
    /// otherwise start with building off and never decide.
    static LAST_BUILDING: std::cell::Cell<IdentityBuilding> =
        const { std::cell::Cell::new(IdentityBuilding { on: false, seen: 0, asked: 0 }) };
}

impl IdentityBuilding {
    /// Where the last object evaluated on this thread left off.
    fn as_last_left() -> IdentityBuilding {
        LAST_BUILDING.with(|last| last.get())
    }

    /// One more record; `asked`, a rule asked for its `userIdentity`.
    fn saw(&mut self, asked: bool) {
        self.seen += 1;
        self.asked += u32::from(asked);
        if self.seen == IDENTITY_WINDOW {
            self.on = self.asked * 2 > IDENTITY_WINDOW;
            self.seen = 0;
            self.asked = 0;
        }
    }

    /// Leaves the decision and its window to the next object on this
    /// thread.
    fn leave(&self) {
        LAST_BUILDING.with(|last| last.set(*self));
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
            identities: IdentityBuilding::as_last_left(),
            slots: SlotBuffer::default(),
            matched: vec![0; rules.rules().len()],
            observer: None,
        }
    }

    /// The object is read: the matches per rule go into the report, and
    /// the next object on this thread starts building identities, or not,
    /// where this one ended ([`IdentityBuilding`]).
    pub fn finish(&mut self) {
        let rules = self.rules.rules();
        for (rule, count) in rules.iter().zip(std::mem::take(&mut self.matched)) {
            if count > 0 {
                *self.report.matches.entry(rule.meta.id.clone()).or_default() += count;
            }
        }
        self.identities.leave();
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
        let identity = match self.identities.on {
            true => IdentityRead::Build,
            false => IdentityRead::Find(self.rules.identity_paths()),
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
                    self.identities.saw(false);
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
        match identity {
            Identity::Built(built) => record.preset(IDENTITY, built),
            Identity::Found(found) => record.set_found(self.rules.identity_paths(), found),
            Identity::Unread => {}
        }
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
        let mut hits = Vec::new();
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
                hits.push(&rule.meta);
            }
        }
        self.identities.saw(record.asked(IDENTITY));
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
            return Ok(true);
        }
        drop(event);
        let record = Arc::new(Record::from_text(
            record.text(),
            record.brief(),
            Arc::clone(&self.label),
        ));
        let findings = hits
            .into_iter()
            .map(|meta| Finding::new(meta, &record))
            .chain(
                thresholds
                    .into_iter()
                    .map(|hit| Finding::threshold(hit, &record)),
            );
        for finding in findings {
            self.report.alerts += 1;
            if !on_finding(finding) {
                return Ok(false);
            }
        }
        Ok(true)
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

    /// Building follows the last window of records: on once more than
    /// half had a rule asking for the identity, off again once half or
    /// fewer did.
    #[test]
    fn identities_are_built_where_most_records_need_one() {
        let window = IDENTITY_WINDOW as usize;
        for (asked_per_window, on_after) in [
            (vec![0], false),
            (vec![window], true),
            (vec![window / 2], false),
            (vec![window / 2 + 1], true),
            (vec![window, 0], false),
            (vec![0, window], true),
        ] {
            let mut building = IdentityBuilding::default();
            for (n, &asked) in asked_per_window.iter().enumerate() {
                for i in 0..window {
                    building.saw(i < asked);
                    if i + 1 < window {
                        // Decided only at the end of a window.
                        assert_eq!(building.on, n > 0 && asked_per_window[n - 1] * 2 > window);
                    }
                }
            }
            assert_eq!(building.on, on_after, "{asked_per_window:?}");
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
        assert!(!evaluation.identities.on);
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
        assert!(evaluation.identities.on);
        // The next object on this thread starts building: small objects
        // (most logs) never see a window of their own.
        evaluation.finish();
        drop(evaluation);
        let mut next = Evaluation::new("next", &rules, &mut correlator, EventWindow::default());
        assert!(next.identities.on);
        // Objects too small for a window of their own decide together.
        let seen = next.identities.seen;
        next.identities.saw(false);
        next.finish();
        let mut small = Evaluation::new("small", &rules, &mut correlator, EventWindow::default());
        assert_eq!(small.identities.seen, seen + 1);
        for _ in 0..IDENTITY_WINDOW {
            small.identities.saw(false);
        }
        small.finish();
        assert!(!IdentityBuilding::as_last_left().on);
    }
}
