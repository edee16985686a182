//! Examples a rule carries to prove it works: true positives and true
//! negatives, under the rule's `rsigma.exemplars` attribute (the format
//! rsigma defines: `name`, `expect: match | no-match`, and `event` for a
//! detection rule or `events` — each with an `offset` — for a threshold).

use rsigma_parser::exemplar::{
    correlation_exemplars, exemplars, filter_exemplars, parse_exemplars, Exemplar, ExemplarPayload,
    ExemplarRuleKind, Expect,
};
use rsigma_parser::{CorrelationRule, FilterRule, SigmaRule};
use std::sync::Arc;

use serde_json::Value;

use super::{KeyValues, RecordEvent, Rule, RuleSet, Threshold};
use crate::record::normalize_event_name_in;

/// The time of an example sequence's offset 0 (each event's `eventTime` is
/// this plus its offset): a fixed instant, so examples give the same
/// answer on every run.
const SEQUENCE_START: i64 = 1_700_000_000;

/// One example event and what the rule must do with it.
#[derive(Debug, Clone)]
pub struct Example {
    pub name: String,
    pub expect_match: bool,
    pub event: Value,
}

/// An example the rule got wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleFailure {
    pub rule_id: String,
    pub origin: String,
    pub example: String,
    pub expected_match: bool,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (want, got) = if self.expected_match {
            ("match", "did not")
        } else {
            ("not match", "did")
        };
        write!(
            f,
            "{} ({}): example {:?} should {want} but {got}",
            self.origin, self.rule_id, self.example
        )
    }
}

/// A sequence of events, each at its offset in seconds from the start,
/// and whether they must reach a threshold.
#[derive(Debug, Clone)]
pub struct SequenceExample {
    pub name: String,
    pub expect_match: bool,
    pub events: Vec<(u64, Value)>,
}

fn shape_errors(errors: Vec<rsigma_parser::exemplar::ExemplarShapeError>) -> String {
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("bad rsigma.exemplars: {}", messages.join("; "))
}

fn to_json(name: &str, yaml: &impl serde::Serialize) -> Result<Value, String> {
    serde_json::to_value(yaml).map_err(|e| format!("example {name:?} is not JSON-like: {e}"))
}

/// Reads a threshold's examples.
pub(super) fn of_correlation(rule: &CorrelationRule) -> Result<Vec<SequenceExample>, String> {
    let found: Vec<Exemplar> = correlation_exemplars(rule).map_err(shape_errors)?;
    found
        .into_iter()
        .map(|exemplar| {
            let ExemplarPayload::Sequence(timed) = exemplar.payload else {
                return Err(format!(
                    "example {:?} of a threshold needs `events`, a sequence with offsets",
                    exemplar.name
                ));
            };
            let events = timed
                .iter()
                .map(|t| Ok((t.offset.seconds, to_json(&exemplar.name, &t.event)?)))
                .collect::<Result<_, String>>()?;
            Ok(SequenceExample {
                name: exemplar.name,
                expect_match: exemplar.expect == Expect::Match,
                events,
            })
        })
        .collect()
}

/// Reads a rule's examples.
pub(super) fn of(rule: &SigmaRule) -> Result<Vec<Example>, String> {
    events(exemplars(rule).map_err(shape_errors)?)
}

/// Where a filter keeps its examples. rsigma refuses `rsigma.exemplars` on
/// a filter, so trailwatch reads the same list under a name of its own.
pub const FILTER_EXEMPLARS: &str = "trailwatch.exemplars";

/// Reads a filter's examples: what each rule it applies to must do with
/// the event once filtered (`no-match`: silenced; `match`: still alerts).
pub(super) fn of_filter(filter: &FilterRule) -> Result<Vec<Example>, String> {
    // A filter's `rsigma.exemplars` is an error rsigma names.
    filter_exemplars(filter).map_err(shape_errors)?;
    let Some(value) = filter.custom_attributes.get(FILTER_EXEMPLARS) else {
        return Ok(Vec::new());
    };
    let path = format!("/custom_attributes/{FILTER_EXEMPLARS}");
    events(parse_exemplars(value, ExemplarRuleKind::Detection, path).map_err(shape_errors)?)
}

fn events(found: Vec<Exemplar>) -> Result<Vec<Example>, String> {
    found
        .into_iter()
        .map(|exemplar| {
            let ExemplarPayload::Event(yaml) = exemplar.payload else {
                return Err(format!(
                    "example {:?} is an event sequence, which only correlation rules use",
                    exemplar.name
                ));
            };
            let event = to_json(&exemplar.name, &yaml)?;
            Ok(Example {
                name: exemplar.name,
                expect_match: exemplar.expect == Expect::Match,
                event,
            })
        })
        .collect()
}

impl Rule {
    /// Runs the rule's examples the way records are evaluated (eventName
    /// normalised first) and returns those it got wrong.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        self.examples
            .iter()
            .filter_map(|example| {
                let mut event = example.event.clone();
                normalize_event_name_in(&mut event);
                (self.matches(&event) != example.expect_match).then(|| ExampleFailure {
                    rule_id: self.meta.id.clone(),
                    origin: self.meta.origin.clone(),
                    example: example.name.clone(),
                    expected_match: example.expect_match,
                })
            })
            .collect()
    }
}

impl RuleSet {
    /// Runs every threshold's example sequences through the rules in force
    /// (candidate rules, then the correlator, as a scan does) with a fresh
    /// correlator each, and returns those it got wrong.
    pub fn check_threshold_examples(&self) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        for threshold in self.correlations().thresholds() {
            for example in &threshold.examples {
                if self.reaches(threshold, example) != example.expect_match {
                    failures.push(ExampleFailure {
                        rule_id: threshold.meta.id.clone(),
                        origin: threshold.meta.origin.clone(),
                        example: example.name.clone(),
                        expected_match: example.expect_match,
                    });
                }
            }
        }
        failures
    }

    /// Runs every filter's examples on each rule in force it narrows: a
    /// `no-match` example must be silenced, a `match` example must still
    /// alert. A failure names the filter and the rule.
    pub fn check_filter_examples(&self) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        for filter in self.filters() {
            let narrowed = self
                .rules()
                .iter()
                .filter(|rule| rule.filters.iter().any(|f| Arc::ptr_eq(f, &filter.meta)));
            for rule in narrowed {
                for example in &filter.examples {
                    let mut event = example.event.clone();
                    normalize_event_name_in(&mut event);
                    if rule.matches(&event) != example.expect_match {
                        failures.push(ExampleFailure {
                            rule_id: format!("filter {} on rule {}", filter.meta.id, rule.meta.id),
                            origin: filter.meta.origin.clone(),
                            example: example.name.clone(),
                            expected_match: example.expect_match,
                        });
                    }
                }
            }
        }
        failures
    }

    fn reaches(&self, threshold: &Threshold, example: &SequenceExample) -> bool {
        // Every threshold, whatever the minimum level: the example is about the rule.
        let mut correlator = self.correlations().correlator_at(None);
        let mut reached = false;
        for (offset, event) in &example.events {
            let mut event = event.clone();
            normalize_event_name_in(&mut event);
            let time = i64::try_from(*offset)
                .ok()
                .and_then(|offset| SEQUENCE_START.checked_add(offset))
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0));
            if let (Some(time), Some(map)) = (time, event.as_object_mut()) {
                let text = time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                map.insert("eventTime".to_string(), Value::from(text));
            }
            let detections = self
                .candidates(&KeyValues::of_value(&event))
                .into_iter()
                .filter(|rule| rule.feeds_correlation)
                .filter_map(|rule| rule.evaluate(&event))
                .collect();
            reached |= correlator
                .feed(&RecordEvent::new(&event), detections)
                .iter()
                .any(|hit| hit.rule.id == threshold.meta.id);
        }
        reached
    }
}
