//! A rule's verdict on a record, without what rsigma's evaluator collects
//! for a match's details: the name of each selection that matched (a
//! `String` each) and, for `1 of selection*`, the names it looked at (a
//! `Vec`). A rule that matches most records (SigmaHQ's AssumeRole misuse
//! fires on every role session) paid for both on each. The selections are
//! still rsigma's to match, and the condition is read as rsigma reads it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use rsigma_eval::{CompiledDetection, CompiledRule, Event};
use rsigma_parser::{ConditionExpr, Quantifier};

/// A selection on its own, in a map of one under the empty name: rsigma
/// notes the name of a selection that matched, and cloning an empty
/// `String` allocates nothing.
type Alone = HashMap<String, CompiledDetection>;

/// The empty name, its buffer allocated: looking a name up compares it
/// with `memcmp`, which on the AMD host of BENCHMARKS.md took far longer
/// on the dangling pointer of `String::new()` (4% of a scan's time).
fn empty_name() -> String {
    String::with_capacity(1)
}

/// The one name of every [`Alone`].
static ALONE: LazyLock<ConditionExpr> = LazyLock::new(|| ConditionExpr::Identifier(empty_name()));

/// A rule's conditions, any of which matching is a match.
pub(crate) struct Verdict {
    conditions: Vec<Condition>,
}

enum Condition {
    Selection(Alone),
    /// A name the rule has no selection for: no match, as in rsigma.
    Missing,
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// `N of pattern`: the selections the pattern names, every one
    /// evaluated (as rsigma does: each reads its fields, and a field that
    /// cannot be read makes the record invalid, whatever the count).
    Quantified {
        quantifier: Quantifier,
        selections: Vec<Alone>,
    },
}

thread_local! {
    /// The names rsigma notes, emptied after each selection.
    static NOTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl Verdict {
    pub(crate) fn of(rule: &CompiledRule) -> Verdict {
        Verdict {
            conditions: rule
                .conditions
                .iter()
                .map(|condition| Condition::of(condition, &rule.detections))
                .collect(),
        }
    }

    pub(crate) fn matches(&self, event: &impl Event) -> bool {
        NOTED.with(|noted| {
            let mut own = Vec::new();
            let mut shared = noted.try_borrow_mut();
            let noted = match shared.as_deref_mut() {
                Ok(noted) => noted,
                Err(_) => &mut own,
            };
            self.conditions
                .iter()
                .any(|condition| condition.matches(event, noted))
        })
    }
}

impl Condition {
    fn of(expr: &ConditionExpr, detections: &HashMap<String, CompiledDetection>) -> Condition {
        let alone =
            |detection: &CompiledDetection| HashMap::from([(empty_name(), detection.clone())]);
        let all = |exprs: &[ConditionExpr]| {
            exprs
                .iter()
                .map(|expr| Condition::of(expr, detections))
                .collect()
        };
        match expr {
            ConditionExpr::Identifier(name) => match detections.get(name) {
                Some(detection) => Condition::Selection(alone(detection)),
                None => Condition::Missing,
            },
            ConditionExpr::And(exprs) => Condition::And(all(exprs)),
            ConditionExpr::Or(exprs) => Condition::Or(all(exprs)),
            ConditionExpr::Not(inner) => Condition::Not(Box::new(Condition::of(inner, detections))),
            ConditionExpr::Selector {
                quantifier,
                pattern,
            } => Condition::Quantified {
                quantifier: quantifier.clone(),
                selections: detections
                    .iter()
                    .filter(|(name, _)| pattern.matches_detection_name(name))
                    .map(|(_, detection)| alone(detection))
                    .collect(),
            },
        }
    }

    fn matches(&self, event: &impl Event, noted: &mut Vec<String>) -> bool {
        let selection = |alone: &Alone, noted: &mut Vec<String>| {
            let matched = rsigma_eval::compiler::eval_condition(&ALONE, alone, event, noted);
            noted.clear();
            matched
        };
        match self {
            Condition::Selection(alone) => selection(alone, noted),
            Condition::Missing => false,
            Condition::And(all) => all.iter().all(|c| c.matches(event, noted)),
            Condition::Or(any) => any.iter().any(|c| c.matches(event, noted)),
            Condition::Not(inner) => !inner.matches(event, noted),
            Condition::Quantified {
                quantifier,
                selections,
            } => {
                let matched = selections
                    .iter()
                    .filter(|alone| selection(alone, noted))
                    .count() as u64;
                match quantifier {
                    Quantifier::Any => matched >= 1,
                    Quantifier::All => matched == selections.len() as u64,
                    Quantifier::Count(n) => matched >= *n,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsigma_eval::JsonEvent;
    use serde_json::Value;

    /// rsigma's own verdict: any condition true.
    fn rsigma(rule: &CompiledRule, event: &JsonEvent) -> bool {
        rule.conditions.iter().any(|condition| {
            rsigma_eval::compiler::eval_condition(
                condition,
                &rule.detections,
                event,
                &mut Vec::new(),
            )
        })
    }

    fn compiled(text: &str) -> Vec<CompiledRule> {
        let collection = rsigma_parser::parse_sigma_yaml(text).expect("the rule parses");
        assert!(collection.errors.is_empty(), "{:?}", collection.errors);
        collection
            .rules
            .iter()
            .map(|rule| rsigma_eval::compile_rule(rule).expect("the rule compiles"))
            .collect()
    }

    /// Quantified selectors, negations and nesting, over records that
    /// match none, some or all of their selections.
    const SHAPES: &str = r#"
title: one of
logsource: {product: aws, service: cloudtrail}
detection:
  sel_a: {eventName: CreateUser}
  sel_b: {eventSource: iam.amazonaws.com}
  filter_x: {userIdentity.type: Root}
  condition: 1 of sel_* and not 1 of filter_*
---
title: all of them
logsource: {product: aws, service: cloudtrail}
detection:
  sel_a: {eventName: CreateUser}
  sel_b: {eventSource: iam.amazonaws.com}
  condition: all of them
---
title: two of
logsource: {product: aws, service: cloudtrail}
detection:
  sel_a: {eventName|startswith: Create}
  sel_b: {eventSource|endswith: amazonaws.com}
  sel_c: {userIdentity.type: AssumedRole}
  condition: 2 of sel_*
---
title: nested
logsource: {product: aws, service: cloudtrail}
detection:
  a: {eventName|contains: Delete}
  b: {errorCode: AccessDenied}
  c: {readOnly: true}
  condition: (a or b) and not (c or not a)
---
title: all of nothing
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: X}
  condition: sel or all of nothing_*
"#;

    #[test]
    fn verdicts_are_rsigmas_on_every_rule_and_record() {
        let mut rules = compiled(SHAPES);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/sigmahq");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("rules/sigmahq")
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
            .collect();
        files.sort();
        for file in &files {
            rules.extend(compiled(&std::fs::read_to_string(file).expect("readable")));
        }
        assert!(rules.len() > 50, "{} rules", rules.len());
        let corpus = include_str!("../../tests/data/corpus-records.jsonl");
        let records: Vec<Value> = corpus
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("a corpus record"))
            .chain([
                serde_json::json!({"eventName": "CreateUser", "eventSource": "iam.amazonaws.com"}),
                serde_json::json!({"eventName": "CreateUser", "eventSource": "iam.amazonaws.com",
                    "userIdentity": {"type": "Root"}}),
                serde_json::json!({"eventName": "DeleteBucket", "readOnly": false}),
                serde_json::json!({"eventName": "DeleteBucket", "readOnly": true, "errorCode": "AccessDenied"}),
            ])
            .collect();
        let mut matched = 0;
        for rule in &rules {
            let verdict = Verdict::of(rule);
            for record in &records {
                let event = JsonEvent::borrow(record);
                let expected = rsigma(rule, &event);
                assert_eq!(
                    verdict.matches(&event),
                    expected,
                    "{} on {record}",
                    rule.title
                );
                matched += usize::from(expected);
            }
        }
        assert!(
            matched > 100,
            "only {matched} matches: the test shows little"
        );
    }
}
