//! The second half of a scan: the records some rule may match are
//! evaluated, thresholds counted and findings handed on, in log order.

use std::borrow::Cow;
use std::sync::Arc;

use super::batch::{Batch, Candidate, Entry, Text};
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
}

impl Evaluation<'_> {
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
            ..
        } = batch;
        for entry in entries.drain(..) {
            match entry {
                Entry::Plain(count) => {
                    self.report.records += count;
                    self.report.evaluated += count;
                }
                Entry::Invalid(index, message) => self.invalid(index, message),
                Entry::Candidate(candidate) => {
                    let fields = fields.get(candidate.fields.clone()).unwrap_or_default();
                    let rules = rules.get(candidate.rules.clone()).unwrap_or_default();
                    match self.evaluate(text, &candidate, fields, rules, on_finding) {
                        Ok(go_on) => {
                            self.report.records += 1;
                            self.report.evaluated += 1;
                            if !go_on {
                                self.report.stopped = true;
                                return false;
                            }
                        }
                        Err(problem) => self.invalid(candidate.index, problem),
                    }
                }
            }
        }
        true
    }

    fn invalid(&mut self, index: u64, message: String) {
        self.report.records += 1;
        self.report.invalid += 1;
        self.first_invalid.get_or_insert((index, message));
    }

    /// Evaluates one record; returns whether to go on, or why the record
    /// is invalid.
    fn evaluate(
        &mut self,
        text: &str,
        candidate: &Candidate,
        fields: &[(Text, Text)],
        positions: &[usize],
        on_finding: &mut impl FnMut(Finding) -> bool,
    ) -> Result<bool, String> {
        let text = text.get(candidate.span.clone()).unwrap_or_default();
        let fields = fields
            .iter()
            .map(|(key, value)| (Cow::Borrowed(key.in_record(text)), value.in_record(text)));
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
