//! The second half of a scan: the records some rule may match are
//! evaluated, thresholds counted and findings handed on, in log order
//! (the heads the first half left unread read here first).

use std::borrow::Cow;
use std::sync::Arc;

use super::batch::{self, Batch, Entry, HeadFields, Unread};
use super::ScanReport;
use crate::alert::{Finding, Record};
use crate::rules::{Correlator, LazyRecord, RecordEvent, RuleSet};

/// What evaluating records needs besides the records.
pub struct Evaluation<'a> {
    pub label: Arc<str>,
    pub rules: &'a RuleSet,
    pub correlator: &'a mut Correlator,
    pub report: ScanReport,
    /// The first invalid record: its index and why.
    pub first_invalid: Option<(u64, String)>,
    /// For the heads read here ([`Entry::Unread`]): a field list and a
    /// rule list, emptied, used again.
    spare_fields: HeadFields<'static>,
    candidates: Vec<usize>,
}

impl<'a> Evaluation<'a> {
    pub fn new(label: &str, rules: &'a RuleSet, correlator: &'a mut Correlator) -> Self {
        Evaluation {
            label: Arc::from(label),
            rules,
            correlator,
            report: ScanReport::default(),
            first_invalid: None,
            spare_fields: Vec::new(),
            candidates: Vec::new(),
        }
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
        let go_on = self.take_entries(batch, on_finding);
        batch.text.clear();
        batch.entries.clear();
        batch.fields.clear();
        batch.rules.clear();
        batch.unread.clear();
        batch.tokens.clear();
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
                    let outcome = self.evaluate(text, fields, rules, on_finding);
                    self.settle(candidate.index, outcome)
                }
                Entry::Unread(record) => {
                    self.read_and_evaluate(&record, unread, tokens, on_finding)
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

    /// Reads the head of a record the splitter left unread, as the
    /// splitter would have, and evaluates it if some rule may match it;
    /// whether to go on.
    fn read_and_evaluate(
        &mut self,
        record: &Unread,
        unread: &[u8],
        tokens: &[u64],
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> bool {
        let (bytes, tokens) = record.in_batch(unread, tokens);
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        let spare = std::mem::take(&mut self.spare_fields);
        let go_on = match batch::read_head(bytes, tokens, self.rules, &mut candidates, spare) {
            Err(err) => {
                self.invalid(record.index, err.to_string());
                true
            }
            Ok(mut head) => {
                batch::keep_newest_event_time(&mut self.report.newest_event_time, &head);
                let go_on = if candidates.is_empty() {
                    self.settle(record.index, Ok(true))
                } else {
                    let fields = head.fields.drain(..);
                    let outcome = self.evaluate(head.text, fields, &candidates, on_finding);
                    self.settle(record.index, outcome)
                };
                self.spare_fields = batch::recycle(std::mem::take(&mut head.fields));
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
        positions: &[usize],
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> Result<bool, String> {
        let record = LazyRecord::new(text, fields);
        let event = RecordEvent::lazy(&record);
        let mut hits = Vec::new();
        let mut detections = Vec::new();
        let rules = self.rules.rules();
        for rule in positions.iter().filter_map(|at| rules.get(*at)) {
            if rule.feeds_correlation {
                let Some(detection) = rule.evaluate_event(&event) else {
                    continue;
                };
                detections.push(detection);
            } else if !rule.matches_event(&event) {
                continue;
            }
            // Counted without a copy of the id but for its first match.
            match self.report.matches.get_mut(&rule.meta.id) {
                Some(count) => *count += 1,
                None => {
                    self.report.matches.insert(rule.meta.id.clone(), 1);
                }
            }
            if rule.alerts {
                hits.push(&rule.meta);
            }
        }
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
            text,
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

fn invalid_if(problem: Option<String>) -> Result<(), String> {
    problem.map_or(Ok(()), Err)
}
