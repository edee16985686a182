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
//! Values are filed in Unicode's lower case, as rsigma folds them:
//! `userIdentity.type: Root` is filed under `root`. A record's field that
//! is not a string (a number, a boolean, an array such as
//! `userAgent: ["TruffleHog"]`, an object, or `userIdentity` itself an
//! array) can still match, as rsigma reads those too: such a record is a
//! candidate for every rule filed under the field. `null` is absent.

use std::collections::{BTreeSet, HashMap};

/// The index is looked up for every record: foldhash (hashbrown's own
/// hasher, already built) costs a fraction of SipHash on short names. The
/// keys are the rules' values, not the log's, so flooding is no concern.
type FastHash = foldhash::fast::RandomState;

use rsigma_parser::{ConditionExpr, Detection, Modifier, Quantifier, SelectorPattern, SigmaRule};
use rsigma_parser::{SigmaString, SigmaValue, SpecialChar, StringPart};

use crate::record::{normalize_event_name, RecordHead};

pub const EVENT_SOURCE: &str = "eventSource";
pub const EVENT_NAME: &str = "eventName";

/// The fields rules are filed under, most selective first.
pub const KEY_FIELDS: [&str; 6] = [
    EVENT_NAME,
    EVENT_SOURCE,
    "userIdentity.type",
    "errorCode",
    "userAgent",
    "userIdentity.arn",
];

/// How a rule is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKey {
    /// Candidates for records whose field (one of [`KEY_FIELDS`]) has one
    /// of these values (lower-cased) or matches one of these patterns.
    Field {
        field: &'static str,
        values: BTreeSet<String>,
        patterns: BTreeSet<Pattern>,
    },
    /// Evaluated on every record.
    Always,
}

/// A value a rule requires that is not a literal: a wildcard, `contains`,
/// `startswith`, `endswith` or `re` as a regular expression, or any string
/// at all (the field must be there, as for `cidr` or `base64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    Any,
    Regex(String),
}

/// What a rule requires of one field: one of the values or patterns.
#[derive(Debug, Default)]
struct Need {
    values: BTreeSet<String>,
    patterns: BTreeSet<Pattern>,
}

impl Need {
    /// Literals only, then patterns, then mere presence.
    fn tier(&self) -> u8 {
        if self.patterns.contains(&Pattern::Any) {
            2
        } else {
            u8::from(!self.patterns.is_empty())
        }
    }

    /// Hash lookups before regular expressions before mere presence.
    fn cost(&self) -> (bool, usize, usize) {
        (
            self.patterns.contains(&Pattern::Any),
            self.patterns.len(),
            self.values.len(),
        )
    }
}

impl IndexKey {
    /// Files a rule under the first field it pins to literals; failing
    /// that, the first it pins to patterns; failing that, the first it
    /// needs at all.
    pub fn of(rule: &SigmaRule) -> IndexKey {
        KEY_FIELDS
            .iter()
            .enumerate()
            .filter_map(|(order, field)| Some((required_values(rule, field)?, order, field)))
            .min_by_key(|(need, order, _)| (need.tier(), *order))
            .map_or(IndexKey::Always, |(need, _, field)| IndexKey::Field {
                field,
                values: need.values,
                patterns: need.patterns,
            })
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
pub struct KeyValues<'a> {
    /// Each field's text, when it is a string.
    pub text: [Option<&'a str>; KEY_FIELDS.len()],
    /// Bit `i` set: field `i` holds a number, a boolean, an array or an
    /// object. rsigma matches those too (as their text, by their elements),
    /// so every rule filed under the field is a candidate.
    pub other: u8,
}

impl<'a> KeyValues<'a> {
    /// Fields that are strings or absent.
    pub fn strings(text: [Option<&'a str>; KEY_FIELDS.len()]) -> KeyValues<'a> {
        KeyValues { text, other: 0 }
    }

    pub fn of_head(head: &'a RecordHead<'_>) -> KeyValues<'a> {
        let fields = [
            &head.event_name,
            &head.event_source,
            &head.identity_type,
            &head.error_code,
            &head.user_agent,
            &head.identity_arn,
        ];
        let mut other = 0;
        for (slot, field) in fields.iter().enumerate() {
            if field.is_other() {
                other |= 1 << slot;
            }
        }
        KeyValues {
            text: fields.map(|field| field.as_deref()),
            other,
        }
        .normalized()
    }

    /// The same values from a parsed record.
    pub fn of_value(record: &'a serde_json::Value) -> KeyValues<'a> {
        use serde_json::Value;
        let identity = record.get("userIdentity");
        let fields = [
            record.get(EVENT_NAME),
            record.get(EVENT_SOURCE),
            identity.and_then(|identity| identity.get("type")),
            record.get("errorCode"),
            record.get("userAgent"),
            identity.and_then(|identity| identity.get("arn")),
        ];
        let mut other = 0;
        for (slot, field) in fields.iter().enumerate() {
            if !matches!(field, None | Some(Value::Null | Value::String(_))) {
                other |= 1 << slot;
            }
        }
        // A dotted path crosses an array: `userIdentity.type` may be in it.
        if identity.is_some_and(Value::is_array) {
            other |= 1 << IDENTITY_TYPE | 1 << IDENTITY_ARN;
        }
        KeyValues {
            text: fields.map(|field| field.and_then(Value::as_str)),
            other,
        }
        .normalized()
    }

    fn normalized(mut self) -> Self {
        self.text[0] = self.text[0].map(normalize_event_name);
        self
    }
}

/// Slots of [`KEY_FIELDS`] read from `userIdentity`.
const IDENTITY_TYPE: usize = 2;
const IDENTITY_ARN: usize = 5;

/// Rule positions by the literal values they require.
#[derive(Debug, Default)]
pub struct RuleIndex {
    /// Keyed by the value's bytes: a value lowered on the stack is looked
    /// up without checking it as UTF-8 again.
    by_field: [HashMap<Vec<u8>, Vec<usize>, FastHash>; KEY_FIELDS.len()],
    /// Per field: rules filed under patterns, tried on the record's value.
    matching: [Vec<(Matcher, usize)>; KEY_FIELDS.len()],
    /// Per field: every rule filed under it, in load order, for a record
    /// whose field is not a string.
    filed: [Vec<usize>; KEY_FIELDS.len()],
    always: Vec<usize>,
}

/// A rule's patterns for one field, compiled.
#[derive(Debug)]
enum Matcher {
    Any,
    Regex {
        set: regex::RegexSet,
        /// Text every match of some pattern holds, one per pattern, when
        /// each has one: a value with none of them cannot match, and is
        /// told so without running the patterns (SigmaHQ's
        /// `userIdentity.arn|re: '.+:assumed-role/aws:.+'` was tried on
        /// every record's arn).
        needles: Option<Vec<memchr::memmem::Finder<'static>>>,
    },
}

impl Matcher {
    /// Patterns that do not compile here (the rule engine may still accept
    /// them) only require the field to be there: never a missed candidate.
    fn of(patterns: &BTreeSet<Pattern>) -> Matcher {
        let mut sources = Vec::new();
        for pattern in patterns {
            match pattern {
                Pattern::Any => return Matcher::Any,
                Pattern::Regex(source) => sources.push(source.as_str()),
            }
        }
        let needles = sources
            .iter()
            .map(|source| {
                required_text(source).map(|text| memchr::memmem::Finder::new(&text).into_owned())
            })
            .collect();
        regex::RegexSet::new(sources).map_or(Matcher::Any, |set| Matcher::Regex { set, needles })
    }

    /// Whether the value, or its lower case form (rsigma compares that
    /// with a case-insensitive value), can match.
    fn matches(&self, value: &str) -> bool {
        self.matches_text(value) || (!value.is_ascii() && self.matches_text(&value.to_lowercase()))
    }

    fn matches_text(&self, value: &str) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Regex { set, needles } => {
                needles.as_ref().is_none_or(|needles| {
                    needles
                        .iter()
                        .any(|needle| needle.find(value.as_bytes()).is_some())
                }) && set.is_match(value)
            }
        }
    }
}

/// The longest run of plain text that every match of the regular
/// expression `source` holds, if it has one: a literal among the parts the
/// whole expression is made of, one after the other. (Case-insensitive
/// text is a class per letter, not a literal: none then.)
fn required_text(source: &str) -> Option<Vec<u8>> {
    use regex_syntax::hir::{Hir, HirKind};
    let literal = |hir: &Hir| match hir.kind() {
        HirKind::Literal(literal) => Some(literal.0.to_vec()),
        _ => None,
    };
    let hir = regex_syntax::Parser::new().parse(source).ok()?;
    let text = match hir.kind() {
        HirKind::Concat(parts) => parts.iter().filter_map(literal).max_by_key(Vec::len),
        _ => literal(&hir),
    }?;
    (!text.is_empty()).then_some(text)
}

impl RuleIndex {
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k IndexKey>) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (position, key) in keys.into_iter().enumerate() {
            let IndexKey::Field {
                field,
                values,
                patterns,
            } = key
            else {
                index.always.push(position);
                continue;
            };
            let Some(slot) = KEY_FIELDS.iter().position(|f| f == field) else {
                index.always.push(position);
                continue;
            };
            index.filed[slot].push(position);
            for value in values {
                index.by_field[slot]
                    .entry(value.clone().into_bytes())
                    .or_default()
                    .push(position);
            }
            if !patterns.is_empty() {
                index.matching[slot].push((Matcher::of(patterns), position));
            }
        }
        index
    }

    /// Positions of the rules a record can match, in load order, each once.
    pub fn candidates(&self, record: &KeyValues<'_>) -> Vec<usize> {
        let mut out = Vec::new();
        self.candidates_into(record, &mut out);
        out
    }

    /// [`RuleIndex::candidates`] appended to `out` (what is there already
    /// is left as it is).
    pub fn candidates_into(&self, record: &KeyValues<'_>, out: &mut Vec<usize>) {
        let start = out.len();
        out.extend_from_slice(&self.always);
        for (slot, ((map, matching), value)) in self
            .by_field
            .iter()
            .zip(&self.matching)
            .zip(record.text)
            .enumerate()
        {
            if record.other & (1 << slot) != 0 {
                out.extend_from_slice(&self.filed[slot]);
                continue;
            }
            if !map.is_empty() {
                out.extend_from_slice(lookup(map, value));
            }
            if let Some(value) = value {
                out.extend(
                    matching
                        .iter()
                        .filter(|(matcher, _)| matcher.matches(value))
                        .map(|(_, position)| *position),
                );
            }
        }
        let added = out.get_mut(start..).unwrap_or_default();
        added.sort_unstable();
        // Dedup only what was added.
        let mut kept = start;
        for at in start..out.len() {
            if kept == start || out[at] != out[kept - 1] {
                out[kept] = out[at];
                kept += 1;
            }
        }
        out.truncate(kept);
    }
}

/// Sigma compares plain values case-insensitively, so keys are lower case
/// (Unicode's lower case, as rsigma's).
fn lookup<'m>(map: &'m HashMap<Vec<u8>, Vec<usize>, FastHash>, value: Option<&str>) -> &'m [usize] {
    let Some(value) = value else {
        return &[];
    };
    // Most values are lower case already: no copy for them. The others
    // (every eventName) are lowered on the stack when short, as they are.
    let mut buf = [0u8; 128];
    let found = if !value.is_ascii() {
        // rsigma folds case with Unicode's rules (the Kelvin sign is a `k`).
        map.get(value.to_lowercase().as_bytes())
    } else if !value.bytes().any(|b| b.is_ascii_uppercase()) {
        map.get(value.as_bytes())
    } else if let Some(buf) = buf.get_mut(..value.len()) {
        buf.copy_from_slice(value.as_bytes());
        buf.make_ascii_lowercase();
        map.get(&buf[..])
    } else {
        map.get(value.to_ascii_lowercase().as_bytes())
    };
    found.map(Vec::as_slice).unwrap_or_default()
}

/// The lower-cased literal values `field` must take for the rule to match,
/// or `None` when the rule can match without it. Conditions listed
/// separately are alternatives.
fn required_values(rule: &SigmaRule, field: &str) -> Option<Need> {
    let conditions = &rule.detection.conditions;
    if conditions.is_empty() {
        return None;
    }
    union(conditions.iter().map(|c| condition_values(rule, c, field)))
}

fn condition_values(rule: &SigmaRule, condition: &ConditionExpr, field: &str) -> Option<Need> {
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

fn detection_values(detection: &Detection, field: &str) -> Option<Need> {
    match detection {
        Detection::AllOf(items) => narrowest(
            items
                .iter()
                .filter(|item| item.field.name.as_deref() == Some(field))
                .map(|item| item_need(&item.field.modifiers, &item.values)),
        ),
        Detection::AnyOf(parts) => union(parts.iter().map(|d| detection_values(d, field))),
        Detection::And(parts) => narrowest(parts.iter().map(|d| detection_values(d, field))),
        _ => None,
    }
}

/// What one detection item requires of its field, or `None` when it can
/// match without the field holding a string (`exists`, `neq`, numbers,
/// field references, `null`).
fn item_need(modifiers: &[Modifier], values: &[SigmaValue]) -> Option<Need> {
    use Modifier::*;
    let strings: Vec<&SigmaString> = values
        .iter()
        .map(|value| match value {
            SigmaValue::String(s) => Some(s),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if strings.is_empty() {
        return None;
    }
    let cased = modifiers.contains(&Cased);
    let mut need = Need::default();
    let mut re_flags = String::new();
    let mut shape = Shape::Exact;
    for modifier in modifiers {
        match modifier {
            Cased => {}
            Contains => shape = Shape::Contains,
            StartsWith => shape = Shape::StartsWith,
            EndsWith => shape = Shape::EndsWith,
            Re => shape = Shape::Regex,
            IgnoreCase => re_flags.push('i'),
            Multiline => re_flags.push('m'),
            DotAll => re_flags.push('s'),
            Exists | Neq | FieldRef | Gt | Gte | Lt | Lte | Expand => return None,
            // Encodings, `cidr`, `all`, times: the field must be there.
            _ => {
                need.patterns.insert(Pattern::Any);
                return Some(need);
            }
        }
    }
    for s in strings {
        match shape {
            Shape::Exact if s.is_plain() => {
                // As rsigma folds an exact value and the record's.
                need.values.insert(s.as_plain()?.to_lowercase());
            }
            Shape::Regex => {
                let flags = if re_flags.is_empty() {
                    String::new()
                } else {
                    format!("(?{re_flags})")
                };
                need.patterns
                    .insert(Pattern::Regex(format!("{flags}{}", s.original)));
            }
            _ => {
                need.patterns
                    .insert(Pattern::Regex(wildcard_regex(s, shape, cased)));
            }
        }
    }
    Some(need)
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
}

/// A Sigma string with wildcards (and a `contains`, `startswith` or
/// `endswith`) as an anchored regular expression over the whole value.
fn wildcard_regex(s: &SigmaString, shape: Shape, cased: bool) -> String {
    let mut body = String::new();
    for part in &s.parts {
        match part {
            StringPart::Plain(text) => body.push_str(&regex::escape(text)),
            StringPart::Special(SpecialChar::WildcardMulti) => body.push_str(".*"),
            StringPart::Special(SpecialChar::WildcardSingle) => body.push('.'),
        }
    }
    let (before, after) = match shape {
        Shape::Contains => (".*", ".*"),
        Shape::StartsWith => ("", ".*"),
        Shape::EndsWith => (".*", ""),
        _ => ("", ""),
    };
    let flags = if cased { "(?s)" } else { "(?si)" };
    format!("{flags}^{before}{body}{after}$")
}

/// All alternatives constrain the field: any of their values or patterns.
fn union(needs: impl Iterator<Item = Option<Need>>) -> Option<Need> {
    let mut all = Need::default();
    let mut any = false;
    for need in needs {
        let need = need?;
        all.values.extend(need.values);
        all.patterns.extend(need.patterns);
        any = true;
    }
    any.then_some(all)
}

/// Every part must hold: the most selective constraint among them.
fn narrowest(needs: impl Iterator<Item = Option<Need>>) -> Option<Need> {
    needs
        .flatten()
        .filter(|need| !need.values.is_empty() || !need.patterns.is_empty())
        .min_by_key(Need::cost)
}

/// Rewrites plain `eventName` literals to their normalised form, so a rule
/// written against `UpdateFunctionCode20150331v2` still matches once records
/// are normalised.
pub fn normalize_event_name_literals(rule: &mut SigmaRule) {
    for detection in rule.detection.named.values_mut() {
        normalize_detection(detection);
    }
}

/// [`normalize_event_name_literals`] for one detection (a filter's).
pub(super) fn normalize_detection(detection: &mut Detection) {
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
        Detection::AnyOf(parts) | Detection::And(parts) => {
            parts.iter_mut().for_each(normalize_detection)
        }
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
        matching(field, values, &[])
    }

    fn matching(field: &'static str, values: &[&str], patterns: &[&str]) -> IndexKey {
        IndexKey::Field {
            field,
            values: values.iter().map(|v| v.to_string()).collect(),
            patterns: patterns
                .iter()
                .map(|p| match *p {
                    "" => Pattern::Any,
                    p => Pattern::Regex(p.to_string()),
                })
                .collect(),
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
            (
                "  sel:\n    eventName|startswith: Put\n  condition: sel\n",
                matching(EVENT_NAME, &[], &["(?si)^Put.*$"]),
            ),
            (
                "  sel:\n    eventName: 'Put*'\n  condition: sel\n",
                matching(EVENT_NAME, &[], &["(?si)^Put.*$"]),
            ),
            // A literal is preferred to a pattern, any field to mere presence.
            (
                "  sel:\n    eventName|contains: Put\n    eventSource: s3.amazonaws.com\n  condition: sel\n",
                sources(&["s3.amazonaws.com"]),
            ),
            (
                "  sel:\n    eventName|base64: x\n    errorCode|endswith: Denied\n  condition: sel\n",
                matching("errorCode", &[], &["(?si)^.*Denied$"]),
            ),
            ("  sel:\n    eventName|base64: x\n  condition: sel\n", matching(EVENT_NAME, &[], &[""])),
            ("  sel:\n    errorCode|exists: true\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    errorCode|neq: x\n  condition: sel\n", IndexKey::Always),
            ("  sel:\n    errorCode: null\n  condition: sel\n", IndexKey::Always),
            (
                "  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel\n",
                matching("userIdentity.arn", &[], &[".+:assumed-role/aws:.+"]),
            ),
            (
                "  sel:\n    userIdentity.arn|re|i: 'a.b'\n  condition: sel\n",
                matching("userIdentity.arn", &[], &["(?i)a.b"]),
            ),
            ("  sel:\n    eventName: A\n  condition: not sel\n", IndexKey::Always),
            (
                "  sel:\n    errorCode: AccessDenied\n  condition: sel\n",
                filed("errorCode", &["accessdenied"]),
            ),
            (
                "  sel:\n    errorCode: ['AccessDenied', '*Unauthorized']\n  condition: sel\n",
                matching("errorCode", &["accessdenied"], &["(?si)^.*Unauthorized$"]),
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
            (
                "  sel:\n    userAgent|contains: Truffle.Hog\n  condition: sel\n",
                matching("userAgent", &[], &["(?si)^.*Truffle\\.Hog.*$"]),
            ),
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
        KeyValues::strings([name, source, None, None, None, None])
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
        let root = KeyValues::strings([Some("DeleteTopic"), None, Some("ROOT"), None, None, None]);
        assert_eq!(index.candidates(&root), [1, 3, 4]);
    }

    #[test]
    fn patterns_pick_the_records_whose_value_matches() {
        let keys = [
            key("  sel:\n    errorCode: ['AccessDenied', '*UnauthorizedOperation']\n  condition: sel\n"),
            key("  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel\n"),
            key("  sel:\n    userAgent|cidr: 10.0.0.0/8\n  condition: sel\n"),
            // Not a valid regular expression here: presence only.
            key("  sel:\n    userAgent|re: '(?<=x)y'\n  condition: sel\n"),
        ];
        let index = RuleIndex::new(&keys);
        let record = |error: Option<&'static str>, agent, arn| {
            KeyValues::strings([Some("GetObject"), None, None, error, agent, arn])
        };
        let none: &[usize] = &[];
        assert_eq!(index.candidates(&record(None, None, None)), none);
        assert_eq!(
            index.candidates(&record(Some("ACCESSDENIED"), None, None)),
            [0]
        );
        assert_eq!(
            index.candidates(&record(Some("Client.UnauthorizedOperation"), None, None)),
            [0]
        );
        assert_eq!(
            index.candidates(&record(Some("NoSuchKey"), None, None)),
            none
        );
        let role = Some("arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1");
        assert_eq!(index.candidates(&record(None, None, role)), [1]);
        let user = Some("arn:aws:iam::1:user/alice");
        assert_eq!(index.candidates(&record(None, None, user)), none);
        assert_eq!(
            index.candidates(&record(None, Some("aws-cli"), None)),
            [2, 3]
        );
    }

    #[test]
    fn the_text_a_pattern_requires() {
        for (source, want) in [
            (".+:assumed-role/aws:.+", Some(":assumed-role/aws:")),
            ("^arn:aws:iam::.*:root$", Some("arn:aws:iam::")),
            ("Jersey", Some("Jersey")),
            ("(?i)jersey", None),
            ("a|b", None),
            (".*", None),
            ("[", None),
        ] {
            let got = required_text(source);
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{source}");
        }
    }

    /// The patterns' required text only spares running them: a matcher
    /// says what its patterns say, with or without it.
    #[test]
    fn required_text_changes_no_answer() {
        let patterns: BTreeSet<Pattern> = [".+:assumed-role/aws:.+", "^x.*yz$"]
            .into_iter()
            .map(|p| Pattern::Regex(p.to_string()))
            .collect();
        let matcher = Matcher::of(&patterns);
        assert!(matches!(&matcher, Matcher::Regex { needles: Some(n), .. } if n.len() == 2));
        let set = regex::RegexSet::new([".+:assumed-role/aws:.+", "^x.*yz$"]).expect("valid");
        for value in [
            "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1",
            "arn:aws:sts::1:assumed-role/admin/bob",
            ":assumed-role/aws:",
            "x--yz",
            "xyz",
            "yz",
            "",
        ] {
            assert_eq!(matcher.matches(value), set.is_match(value), "{value}");
        }
    }

    #[test]
    fn a_record_reads_the_same_keys_from_its_head_and_its_value() {
        let bytes = br#"{"eventName":"GetFunction20150331","eventSource":"lambda.amazonaws.com","userIdentity":{"type":"Root","arn":"a"},"errorCode":"E","userAgent":"u"}"#;
        let quick = RecordHead::read(bytes).expect("valid");
        let value: serde_json::Value = serde_json::from_slice(bytes).expect("valid");
        let want = [
            Some("GetFunction"),
            Some("lambda.amazonaws.com"),
            Some("Root"),
            Some("E"),
            Some("u"),
            Some("a"),
        ];
        assert_eq!(KeyValues::of_head(&quick).text, want);
        assert_eq!(KeyValues::of_value(&value).text, want);
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
