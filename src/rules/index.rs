//! Which rules can match a record, decided from a few cheap fields.
//!
//! Most records match no rule. Each rule is filed under the literal values
//! it requires for one of the [`KEY_FIELDS`] (the first it pins, in that
//! order: `eventName` normalised, `eventSource`, `userIdentity.type`,
//! `errorCode`, `userAgent`); a record is evaluated only against the rules
//! filed under its own values plus the rules that pin none. The analysis is
//! conservative: a rule is filed under a set of values only when its
//! condition cannot be true without the field taking one of them.
//!
//! The fields are read as CloudTrail writes them, as strings (a field of
//! another type reads as absent): `userIdentity.type: Root` is filed under
//! `root`, and a record whose `userIdentity` is an array is not a candidate
//! for it.

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{ConditionExpr, Detection, Modifier, Quantifier, SelectorPattern, SigmaRule};
use rsigma_parser::{SigmaString, SigmaValue};

use crate::record::{normalize_event_name, RecordHead};

pub const EVENT_SOURCE: &str = "eventSource";
pub const EVENT_NAME: &str = "eventName";

/// The fields rules are filed under, most selective first.
pub const KEY_FIELDS: [&str; 5] = [
    EVENT_NAME,
    EVENT_SOURCE,
    "userIdentity.type",
    "errorCode",
    "userAgent",
];

/// How a rule is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKey {
    /// Candidates for records whose field (one of [`KEY_FIELDS`]) has one
    /// of these values (lower-cased).
    Field {
        field: &'static str,
        values: BTreeSet<String>,
    },
    /// Evaluated on every record.
    Always,
}

impl IndexKey {
    pub fn of(rule: &SigmaRule) -> IndexKey {
        KEY_FIELDS
            .iter()
            .find_map(|field| {
                required_values(rule, field).map(|values| IndexKey::Field { field, values })
            })
            .unwrap_or(IndexKey::Always)
    }

    pub fn is_indexed(&self) -> bool {
        !matches!(self, IndexKey::Always)
    }

    /// The field the rule is filed under, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            IndexKey::Field { field, .. } => Some(field),
            IndexKey::Always => None,
        }
    }
}

/// A record's values of the [`KEY_FIELDS`], in that order, `eventName`
/// normalised.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyValues<'a>(pub [Option<&'a str>; KEY_FIELDS.len()]);

impl<'a> KeyValues<'a> {
    pub fn of_head(head: &'a RecordHead<'_>) -> KeyValues<'a> {
        KeyValues([
            head.event_name.as_deref().map(normalize_event_name),
            head.event_source.as_deref(),
            head.identity_type.as_deref(),
            head.error_code.as_deref(),
            head.user_agent.as_deref(),
        ])
    }

    /// The same values from a parsed record.
    pub fn of_value(record: &'a serde_json::Value) -> KeyValues<'a> {
        let text = |pointer: &str| record.pointer(pointer).and_then(serde_json::Value::as_str);
        KeyValues([
            text("/eventName").map(normalize_event_name),
            text("/eventSource"),
            text("/userIdentity/type"),
            text("/errorCode"),
            text("/userAgent"),
        ])
    }
}

/// Rule positions by the literal values they require.
#[derive(Debug, Default)]
pub struct RuleIndex {
    by_field: [HashMap<String, Vec<usize>>; KEY_FIELDS.len()],
    always: Vec<usize>,
}

impl RuleIndex {
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k IndexKey>) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (position, key) in keys.into_iter().enumerate() {
            match key {
                IndexKey::Field { field, values } => {
                    let Some(slot) = KEY_FIELDS.iter().position(|f| f == field) else {
                        index.always.push(position);
                        continue;
                    };
                    for value in values {
                        index.by_field[slot]
                            .entry(value.clone())
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
    pub fn candidates(&self, record: &KeyValues<'_>) -> Vec<usize> {
        let mut out: Vec<usize> = self.always.clone();
        for (map, value) in self.by_field.iter().zip(record.0) {
            if !map.is_empty() {
                out.extend_from_slice(lookup(map, value));
            }
        }
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

    fn filed(field: &'static str, values: &[&str]) -> IndexKey {
        IndexKey::Field {
            field,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn names(values: &[&str]) -> IndexKey {
        filed(EVENT_NAME, values)
    }

    fn sources(values: &[&str]) -> IndexKey {
        filed(EVENT_SOURCE, values)
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
            (
                "  a:\n    eventName: A\n    errorCode: E\n  b:\n    errorCode: F\n  condition: a or b\n",
                filed("errorCode", &["e", "f"]),
            ),
            ("  sel:\n    eventName|startswith: Put\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    eventName: 'Put*'\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    eventName: A\n  condition: not sel\n", IndexKey::Always),
            (
                "  sel:\n    errorCode: AccessDenied\n  condition: sel\n",
                filed("errorCode", &["accessdenied"]),
            ),
            (
                "  sel:\n    errorCode: ['AccessDenied', '*Unauthorized']\n  condition: sel\n",
                IndexKey::Always,
            ),
            (
                "  sel:\n    userIdentity.type: Root\n  filter:\n    eventType: AwsServiceEvent\n  condition: sel and not filter\n",
                filed("userIdentity.type", &["root"]),
            ),
            (
                "  sel:\n    userIdentity.type: AssumedRole\n    userAgent: x\n  condition: sel\n",
                filed("userIdentity.type", &["assumedrole"]),
            ),
            ("  sel:\n    userAgent: TruffleHog\n  condition: sel\n", filed("userAgent", &["trufflehog"])),
            ("  sel:\n    userAgent|contains: TruffleHog\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    userIdentity.type: Root\n  condition: not sel\n", IndexKey::Always),
            (
                "  sel:\n    eventName|cased: CreateTopic\n  condition: sel\n",
                names(&["createtopic"]),
            ),
        ];
        for (detection, want) in cases {
            assert_eq!(&key(detection), want, "{detection}");
        }
    }

    fn record(source: Option<&'static str>, name: Option<&'static str>) -> KeyValues<'static> {
        KeyValues([name, source, None, None, None])
    }

    #[test]
    fn candidates_come_in_load_order_once() {
        let keys = [
            names(&["createtopic"]),
            IndexKey::Always,
            sources(&["sns.amazonaws.com"]),
            names(&["createtopic", "deletetopic"]),
            filed("userIdentity.type", &["root"]),
        ];
        let index = RuleIndex::new(&keys);
        assert_eq!(
            index.candidates(&record(Some("sns.amazonaws.com"), Some("createtopic"))),
            [0, 1, 2, 3]
        );
        assert_eq!(
            index.candidates(&record(Some("s3.amazonaws.com"), Some("DeleteTopic"))),
            [1, 3]
        );
        assert_eq!(index.candidates(&record(None, None)), [1]);
        let root = KeyValues([Some("DeleteTopic"), None, Some("ROOT"), None, None]);
        assert_eq!(index.candidates(&root), [1, 3, 4]);
    }

    #[test]
    fn a_record_reads_the_same_keys_from_its_head_and_its_value() {
        let bytes = br#"{"eventName":"GetFunction20150331","eventSource":"lambda.amazonaws.com","userIdentity":{"type":"Root"},"errorCode":"E","userAgent":"u"}"#;
        let head: RecordHead = serde_json::from_slice(bytes).expect("valid");
        let value: serde_json::Value = serde_json::from_slice(bytes).expect("valid");
        let want = [
            Some("GetFunction"),
            Some("lambda.amazonaws.com"),
            Some("Root"),
            Some("E"),
            Some("u"),
        ];
        assert_eq!(KeyValues::of_head(&head).0, want);
        assert_eq!(KeyValues::of_value(&value).0, want);
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
