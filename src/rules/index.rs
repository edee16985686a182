//! Which rules can match a record, decided from two cheap fields.
//!
//! Most records match no rule. Each rule is filed under the literal values
//! it requires for `eventName` (normalised) or, failing that, for
//! `eventSource`; a record is evaluated only against the rules filed under
//! its own values plus the rules that require neither. The analysis is
//! conservative: a rule is filed under a set of values only when its
//! condition cannot be true without the field taking one of them.

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{ConditionExpr, Detection, Modifier, Quantifier, SelectorPattern, SigmaRule};
use rsigma_parser::{SigmaString, SigmaValue};

use crate::record::normalize_event_name;

pub const EVENT_SOURCE: &str = "eventSource";
pub const EVENT_NAME: &str = "eventName";

/// How a rule is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKey {
    /// Candidates for records with one of these eventNames (lower-cased).
    EventName(BTreeSet<String>),
    /// Candidates for records with one of these eventSources (lower-cased).
    EventSource(BTreeSet<String>),
    /// Evaluated on every record.
    Always,
}

impl IndexKey {
    pub fn of(rule: &SigmaRule) -> IndexKey {
        if let Some(names) = required_values(rule, EVENT_NAME) {
            IndexKey::EventName(names)
        } else if let Some(sources) = required_values(rule, EVENT_SOURCE) {
            IndexKey::EventSource(sources)
        } else {
            IndexKey::Always
        }
    }

    pub fn is_indexed(&self) -> bool {
        !matches!(self, IndexKey::Always)
    }
}

/// Rule positions by the literal values they require.
#[derive(Debug, Default)]
pub struct RuleIndex {
    by_name: HashMap<String, Vec<usize>>,
    by_source: HashMap<String, Vec<usize>>,
    always: Vec<usize>,
}

impl RuleIndex {
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k IndexKey>) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (position, key) in keys.into_iter().enumerate() {
            match key {
                IndexKey::EventName(names) => {
                    for name in names {
                        index
                            .by_name
                            .entry(name.clone())
                            .or_default()
                            .push(position);
                    }
                }
                IndexKey::EventSource(sources) => {
                    for source in sources {
                        index
                            .by_source
                            .entry(source.clone())
                            .or_default()
                            .push(position);
                    }
                }
                IndexKey::Always => index.always.push(position),
            }
        }
        index
    }

    /// Positions of the rules a record can match, in load order, each once.
    /// `event_name` is already normalised.
    pub fn candidates(&self, event_source: Option<&str>, event_name: Option<&str>) -> Vec<usize> {
        let by_name = lookup(&self.by_name, event_name);
        let by_source = lookup(&self.by_source, event_source);
        let mut out: Vec<usize> =
            Vec::with_capacity(by_name.len() + by_source.len() + self.always.len());
        out.extend_from_slice(by_name);
        out.extend_from_slice(by_source);
        out.extend_from_slice(&self.always);
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Sigma compares plain values case-insensitively, so keys are lower case.
fn lookup<'m>(map: &'m HashMap<String, Vec<usize>>, value: Option<&str>) -> &'m [usize] {
    value
        .and_then(|v| map.get(&v.to_ascii_lowercase()))
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The lower-cased literal values `field` must take for the rule to match,
/// or `None` when the rule can match without it. Conditions listed
/// separately are alternatives.
fn required_values(rule: &SigmaRule, field: &str) -> Option<BTreeSet<String>> {
    let conditions = &rule.detection.conditions;
    if conditions.is_empty() {
        return None;
    }
    union(conditions.iter().map(|c| condition_values(rule, c, field)))
}

fn condition_values(
    rule: &SigmaRule,
    condition: &ConditionExpr,
    field: &str,
) -> Option<BTreeSet<String>> {
    let detection = |name: &str| {
        rule.detection
            .named
            .get(name)
            .and_then(|d| detection_values(d, field))
    };
    match condition {
        ConditionExpr::Identifier(name) => detection(name),
        ConditionExpr::And(parts) => {
            narrowest(parts.iter().map(|p| condition_values(rule, p, field)))
        }
        ConditionExpr::Or(parts) => union(parts.iter().map(|p| condition_values(rule, p, field))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut names: Vec<&String> = rule
                .detection
                .named
                .keys()
                .filter(|name| match pattern {
                    // Sigma's `them` leaves out identifiers starting with `_`.
                    SelectorPattern::Them => !name.starts_with('_'),
                    SelectorPattern::Pattern(p) => rsigma_parser::detection_name_matches(p, name),
                })
                .collect();
            names.sort();
            if names.is_empty() {
                return None;
            }
            let each = names.into_iter().map(|name| detection(name));
            match quantifier {
                Quantifier::All => narrowest(each),
                Quantifier::Any | Quantifier::Count(_) => union(each),
            }
        }
    }
}

fn detection_values(detection: &Detection, field: &str) -> Option<BTreeSet<String>> {
    match detection {
        Detection::AllOf(items) => narrowest(
            items
                .iter()
                .filter(|item| item.field.name.as_deref() == Some(field))
                .map(|item| {
                    let exact = item.field.modifiers.iter().all(|m| *m == Modifier::Cased);
                    if !exact {
                        return None;
                    }
                    item.values
                        .iter()
                        .map(|value| match value {
                            SigmaValue::String(s) if s.is_plain() => {
                                s.as_plain().map(|p| p.to_ascii_lowercase())
                            }
                            _ => None,
                        })
                        .collect::<Option<BTreeSet<String>>>()
                        .filter(|set| !set.is_empty())
                }),
        ),
        Detection::AnyOf(parts) => union(parts.iter().map(|d| detection_values(d, field))),
        _ => None,
    }
}

/// All alternatives constrain the field: any of their values.
fn union(sets: impl Iterator<Item = Option<BTreeSet<String>>>) -> Option<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    let mut any = false;
    for set in sets {
        all.extend(set?);
        any = true;
    }
    any.then_some(all)
}

/// Every part must hold: the smallest constraint among them is required.
fn narrowest(sets: impl Iterator<Item = Option<BTreeSet<String>>>) -> Option<BTreeSet<String>> {
    sets.flatten().min_by_key(BTreeSet::len)
}

/// Rewrites plain `eventName` literals to their normalised form, so a rule
/// written against `UpdateFunctionCode20150331v2` still matches once records
/// are normalised.
pub fn normalize_event_name_literals(rule: &mut SigmaRule) {
    for detection in rule.detection.named.values_mut() {
        normalize_in(detection);
    }
}

fn normalize_in(detection: &mut Detection) {
    match detection {
        Detection::AllOf(items) => {
            for item in items
                .iter_mut()
                .filter(|i| i.field.name.as_deref() == Some(EVENT_NAME))
            {
                for value in &mut item.values {
                    if let SigmaValue::String(s) = value {
                        let normalized = normalize_event_name(&s.original);
                        if normalized.len() != s.original.len() {
                            *s = SigmaString::new(normalized);
                        }
                    }
                }
            }
        }
        Detection::AnyOf(parts) => parts.iter_mut().for_each(normalize_in),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(detection: &str) -> IndexKey {
        let yaml = format!(
            "title: t\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n{detection}"
        );
        let collection = rsigma_parser::parse_sigma_yaml(&yaml).expect("parses");
        let rule = collection.rules.first().expect("one rule");
        IndexKey::of(rule)
    }

    fn names(values: &[&str]) -> IndexKey {
        IndexKey::EventName(values.iter().map(|v| v.to_string()).collect())
    }

    fn sources(values: &[&str]) -> IndexKey {
        IndexKey::EventSource(values.iter().map(|v| v.to_string()).collect())
    }

    #[test]
    fn rules_are_filed_under_the_values_they_require() {
        let cases: &[(&str, IndexKey)] = &[
            (
                "  sel:\n    eventSource: sns.amazonaws.com\n    eventName: CreateTopic\n  condition: sel\n",
                names(&["createtopic"]),
            ),
            (
                "  sel:\n    eventSource: s3.amazonaws.com\n  condition: sel\n",
                sources(&["s3.amazonaws.com"]),
            ),
            (
                "  sel:\n    eventName: [A, B]\n  filter:\n    userIdentity.type: Root\n  condition: sel and not filter\n",
                names(&["a", "b"]),
            ),
            (
                "  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: a or b\n",
                names(&["a", "b"]),
            ),
            (
                "  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  condition: 1 of sel_*\n",
                names(&["a", "b"]),
            ),
            (
                "  sel:\n    - eventName: A\n    - eventName: B\n  condition: sel\n",
                names(&["a", "b"]),
            ),
            // An alternative without the field: cannot be filed by name.
            (
                "  a:\n    eventName: A\n    eventSource: x\n  b:\n    eventSource: y\n  condition: a or b\n",
                sources(&["x", "y"]),
            ),
            ("  a:\n    eventName: A\n  b:\n    errorCode: E\n  condition: a or b\n", IndexKey::Always),
            ("  sel:\n    eventName|startswith: Put\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    eventName: 'Put*'\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    eventName: A\n  condition: not sel\n", IndexKey::Always),
            ("  sel:\n    errorCode: AccessDenied\n  condition: sel\n", IndexKey::Always),
            (
                "  sel:\n    eventName|cased: CreateTopic\n  condition: sel\n",
                names(&["createtopic"]),
            ),
        ];
        for (detection, want) in cases {
            assert_eq!(&key(detection), want, "{detection}");
        }
    }

    #[test]
    fn candidates_come_in_load_order_once() {
        let keys = [
            names(&["createtopic"]),
            IndexKey::Always,
            sources(&["sns.amazonaws.com"]),
            names(&["createtopic", "deletetopic"]),
        ];
        let index = RuleIndex::new(&keys);
        assert_eq!(
            index.candidates(Some("sns.amazonaws.com"), Some("CreateTopic")),
            [0, 1, 2, 3]
        );
        assert_eq!(
            index.candidates(Some("s3.amazonaws.com"), Some("DeleteTopic")),
            [1, 3]
        );
        assert_eq!(index.candidates(None, None), [1]);
    }

    #[test]
    fn versioned_event_name_literals_are_normalised() {
        let yaml = "title: t\nlogsource: {product: aws}\ndetection:\n  sel:\n    eventName: UpdateFunctionCode20150331v2\n  condition: sel\n";
        let mut rule = rsigma_parser::parse_sigma_yaml(yaml)
            .expect("parses")
            .rules
            .remove(0);
        normalize_event_name_literals(&mut rule);
        assert_eq!(IndexKey::of(&rule), names(&["updatefunctioncode"]));
    }
}
