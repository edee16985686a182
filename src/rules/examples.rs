//! Examples a rule carries to prove it works: true positives and true
//! negatives, under the rule's `rsigma.exemplars` attribute (the format
//! rsigma defines: `name`, `expect: match | no-match`, `event`).

use rsigma_parser::exemplar::{exemplars, ExemplarPayload, Expect};
use rsigma_parser::SigmaRule;
use serde_json::Value;

use super::Rule;
use crate::record::normalize_event_name_in;

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

/// Reads a rule's examples.
pub(super) fn of(rule: &SigmaRule) -> Result<Vec<Example>, String> {
    let found = exemplars(rule).map_err(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("bad rsigma.exemplars: {}", messages.join("; "))
    })?;
    found
        .into_iter()
        .map(|exemplar| {
            let ExemplarPayload::Event(yaml) = exemplar.payload else {
                return Err(format!(
                    "example {:?} is an event sequence, which only correlation rules use",
                    exemplar.name
                ));
            };
            let event = serde_json::to_value(&yaml)
                .map_err(|e| format!("example {:?} is not JSON-like: {e}", exemplar.name))?;
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
