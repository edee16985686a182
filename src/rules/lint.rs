//! Finds rules that cannot match a CloudTrail record: fields CloudTrail
//! never writes (usually a typo or a rule written for other logs), values a
//! field never takes, and rules whose logsource is not CloudTrail.
//!
//! A rule with such a problem loads and runs — Sigma allows it — but it is
//! a detector that is silently off, which is what `trailwatch rules lint`
//! and the function's start-up warnings are for.

use std::fmt;

use rsigma_parser::{Detection, DetectionItem, Modifier, SigmaRule, SigmaString, SigmaValue};
use rsigma_parser::{SpecialChar, StringPart};

use super::derived;
use super::RuleMeta;

/// One problem in one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct LintFinding {
    pub origin: String,
    pub rule_id: String,
    pub title: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The field is not part of a CloudTrail record.
    UnknownField {
        selection: String,
        field: String,
        /// What was probably meant.
        hint: Option<String>,
    },
    /// The field never takes this value.
    ImpossibleValue {
        selection: String,
        field: String,
        value: String,
        expected: &'static str,
    },
    /// The rule's logsource names other logs.
    NotCloudTrail { logsource: String },
    /// A Sigma filter that narrows no rule in force.
    FilterNamesNoRule { targets: Vec<String> },
}

/// A filter none of whose targets is a rule in force: it silences nothing,
/// which its author should know (a typo in an id, a rule disabled).
pub fn filter_names_no_rule(filter: &super::FilterMeta) -> LintFinding {
    LintFinding {
        origin: filter.origin.clone(),
        rule_id: filter.id.clone(),
        title: filter.title.clone(),
        problem: Problem::FilterNamesNoRule {
            targets: filter.targets.clone(),
        },
    }
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {:?}: {}",
            self.origin, self.rule_id, self.title, self.problem
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownField {
                selection,
                field,
                hint,
            } => {
                write!(
                    f,
                    "field {field:?} is not in CloudTrail records, so {selection:?} never matches"
                )?;
                if let Some(hint) = hint {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            Problem::ImpossibleValue {
                selection,
                field,
                value,
                expected,
            } => write!(
                f,
                "{field} is never {value:?} ({expected}), so {selection:?} never matches that value"
            ),
            Problem::NotCloudTrail { logsource } => write!(
                f,
                "logsource {logsource} is not CloudTrail (product: aws, service: cloudtrail)"
            ),
            Problem::FilterNamesNoRule { targets } if targets.is_empty() => {
                write!(f, "filter applies to every rule, and no rule is in force")
            }
            Problem::FilterNamesNoRule { targets } => write!(
                f,
                "filter names no rule in force ({}), so it silences nothing",
                targets.join(", ")
            ),
        }
    }
}

/// The shape of a CloudTrail record, as far as rules can rely on it.
enum Shape {
    /// A value with no fields below it.
    Leaf,
    /// Service-specific content (request parameters and the like): any
    /// path below it may exist.
    Open,
    /// An object (or an array of objects) with these fields.
    Object(&'static [(&'static str, Shape)]),
}

use Shape::{Leaf, Object, Open};

const SESSION_ISSUER: &[(&str, Shape)] = &[
    ("type", Leaf),
    ("principalId", Leaf),
    ("arn", Leaf),
    ("accountId", Leaf),
    ("userName", Leaf),
];

const SESSION_CONTEXT: &[(&str, Shape)] = &[
    (
        "attributes",
        Object(&[("creationDate", Leaf), ("mfaAuthenticated", Leaf)]),
    ),
    ("sessionIssuer", Object(SESSION_ISSUER)),
    ("webIdFederationData", Open),
    ("sourceIdentity", Leaf),
    ("ec2RoleDelivery", Leaf),
    ("assumedRoot", Leaf),
];

const USER_IDENTITY: &[(&str, Shape)] = &[
    ("type", Leaf),
    ("principalId", Leaf),
    ("arn", Leaf),
    ("accountId", Leaf),
    ("accessKeyId", Leaf),
    ("userName", Leaf),
    ("sessionContext", Object(SESSION_CONTEXT)),
    ("invokedBy", Leaf),
    ("identityProvider", Leaf),
    ("credentialId", Leaf),
    ("onBehalfOf", Open),
    ("inScopeOf", Open),
];

/// The fields of a CloudTrail record (the CloudTrail record contents
/// reference, management, data, Insight and network activity events).
const RECORD: &[(&str, Shape)] = &[
    ("eventVersion", Leaf),
    ("eventTime", Leaf),
    ("eventSource", Leaf),
    ("eventName", Leaf),
    ("eventType", Leaf),
    ("eventCategory", Leaf),
    ("eventID", Leaf),
    ("awsRegion", Leaf),
    ("sourceIPAddress", Leaf),
    ("userAgent", Leaf),
    ("errorCode", Leaf),
    ("errorMessage", Leaf),
    ("userIdentity", Object(USER_IDENTITY)),
    ("requestParameters", Open),
    ("responseElements", Open),
    ("additionalEventData", Open),
    ("serviceEventDetails", Open),
    ("insightDetails", Open),
    ("edgeDeviceDetails", Open),
    ("addendum", Open),
    ("requestID", Leaf),
    ("apiVersion", Leaf),
    ("readOnly", Leaf),
    ("managementEvent", Leaf),
    (
        "resources",
        Object(&[("ARN", Leaf), ("accountId", Leaf), ("type", Leaf)]),
    ),
    ("recipientAccountId", Leaf),
    ("sharedEventID", Leaf),
    ("vpcEndpointId", Leaf),
    ("vpcEndpointAccountId", Leaf),
    ("sessionCredentialFromConsole", Leaf),
    (
        "tlsDetails",
        Object(&[
            ("tlsVersion", Leaf),
            ("cipherSuite", Leaf),
            ("clientProvidedHostHeader", Leaf),
            ("keyExchange", Leaf),
        ]),
    ),
];

/// Whether `path` (dotted) can exist in a record; if not, what was
/// probably meant, when that can be told.
fn check_path(path: &str) -> Result<(), Option<String>> {
    if path.contains("\\[any\\]") || path.contains("\\[all\\]") {
        return Err(Some(
            "[any] and [all] select array members only in rules with `sigma-version: 3`"
                .to_string(),
        ));
    }
    if let Some(name) = path.strip_prefix(derived::PREFIX) {
        return match derived::FIELDS.contains(&name) {
            true => Ok(()),
            false => Err(Some(format!(
                "trailwatch's derived fields are {}",
                derived::FIELDS
                    .iter()
                    .map(|known| format!("{}{known}", derived::PREFIX))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    let mut fields = RECORD;
    let mut resolved = Vec::new();
    let mut segments = path.split('.').map(without_position);
    while let Some(segment) = segments.next() {
        let Some((name, shape)) = fields.iter().find(|(name, _)| *name == segment) else {
            let suggestion = fields
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(segment))
                .map(|(name, _)| {
                    resolved.push(*name);
                    resolved.extend(segments);
                    format!("did you mean {:?}?", resolved.join("."))
                });
            return Err(suggestion);
        };
        resolved.push(name);
        match shape {
            Open => return Ok(()),
            Object(inner) => fields = inner,
            Leaf => {
                return match segments.next() {
                    None => Ok(()),
                    Some(_) => Err(None),
                }
            }
        }
    }
    Ok(())
}

/// The values a field is documented to take, lower-cased (Sigma compares
/// case-insensitively).
fn allowed_values(field: &str) -> Option<(&'static [&'static str], &'static str)> {
    const BOOLEAN: &[&str] = &["true", "false"];
    Some(match field {
        "eventType" => (
            &[
                "awsapicall",
                "awsserviceevent",
                "awsconsoleaction",
                "awsconsolesignin",
                "awscloudtrailinsight",
                "awsvpceevent",
            ],
            "CloudTrail's event types",
        ),
        "eventCategory" => (
            &["management", "data", "insight", "networkactivity"],
            "Management, Data, Insight or NetworkActivity",
        ),
        "userIdentity.type" => (
            &[
                "root",
                "iamuser",
                "assumedrole",
                "role",
                "federateduser",
                "directory",
                "awsaccount",
                "awsservice",
                "unknown",
                "identitycenteruser",
                "samluser",
                "webidentityuser",
            ],
            "CloudTrail's identity types",
        ),
        "userIdentity.sessionContext.sessionIssuer.type" => {
            (&["root", "iamuser", "role"], "Root, IAMUser or Role")
        }
        "readOnly" | "managementEvent" | "sessionCredentialFromConsole" => {
            (BOOLEAN, "true or false")
        }
        "trailwatch.public_grant" => (BOOLEAN, "true or false"),
        "trailwatch.public_via" => (
            derived::VIAS,
            "the ways trailwatch tells a public grant, README \"Writing rules\"",
        ),
        "trailwatch.grant_resource" => (
            derived::RESOURCES,
            "the resource kinds trailwatch names, README \"Writing rules\"",
        ),
        _ => return None,
    })
}

/// Checks a literal value's form for fields with a known format.
fn check_format(field: &str, value: &str) -> Option<&'static str> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match field {
        "eventSource" if !value.to_ascii_lowercase().ends_with(".amazonaws.com") => {
            Some("event sources are service hostnames such as iam.amazonaws.com")
        }
        "eventName" if value.contains([':', ' ', '.', '/']) => {
            Some("event names are bare API names such as CreateUser, without a service prefix")
        }
        "awsRegion" if !is_region(value) => Some("regions look like us-east-1"),
        "recipientAccountId"
        | "userIdentity.accountId"
        | "userIdentity.sessionContext.sessionIssuer.accountId"
        | "resources.accountId"
            if !digits(value, 12) =>
        {
            Some("account ids are 12 digits")
        }
        _ => None,
    }
}

/// A path segment without a positional index (`args[0]` is `args`).
fn without_position(segment: &str) -> &str {
    match segment.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
        Some((name, index))
            if index
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => segment,
    }
}

fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let letters = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(letters)
        && parts
            .last()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// Lints one rule.
pub(super) fn lint(sigma: &SigmaRule, meta: &RuleMeta) -> Vec<LintFinding> {
    let mut problems = Vec::new();
    let logsource = &sigma.logsource;
    let product_ok = logsource
        .product
        .as_deref()
        .is_none_or(|p| p.eq_ignore_ascii_case("aws"));
    let service_ok = logsource
        .service
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("cloudtrail"));
    if !product_ok || !service_ok {
        problems.push(Problem::NotCloudTrail {
            logsource: format!(
                "product: {}, service: {}",
                logsource.product.as_deref().unwrap_or("-"),
                logsource.service.as_deref().unwrap_or("-")
            ),
        });
    }
    let mut names: Vec<&String> = sigma.detection.named.keys().collect();
    names.sort();
    for name in names {
        if let Some(detection) = sigma.detection.named.get(name) {
            walk(detection, "", name, &mut problems);
        }
    }
    problems
        .into_iter()
        .map(|problem| LintFinding {
            origin: meta.origin.clone(),
            rule_id: meta.id.clone(),
            title: meta.title.clone(),
            problem,
        })
        .collect()
}

fn walk(detection: &Detection, prefix: &str, selection: &str, out: &mut Vec<Problem>) {
    match detection {
        Detection::AllOf(items) => {
            for item in items {
                check_item(item, prefix, selection, out);
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            for part in parts {
                walk(part, prefix, selection, out);
            }
        }
        Detection::Keywords(_) => {}
        Detection::ArrayMatch { field, body, .. } => {
            let path = join(prefix, field);
            match check_path(&path) {
                Ok(()) => walk(body, &path, selection, out),
                Err(suggestion) => out.push(Problem::UnknownField {
                    selection: selection.to_string(),
                    field: path,
                    hint: suggestion,
                }),
            }
        }
        Detection::Conditional { named, .. } => {
            for part in named.values() {
                walk(part, prefix, selection, out);
            }
        }
    }
}

/// The dotted fields the detections of `sigma` read, the fields their
/// `fieldref` values name too.
pub(super) fn fields_read(sigma: &SigmaRule) -> Vec<String> {
    fn read(detection: &Detection, prefix: &str, out: &mut Vec<String>) {
        match detection {
            Detection::AllOf(items) => {
                for item in items {
                    if let Some(field) = item.field.name.as_deref() {
                        out.push(join(prefix, field));
                    }
                    if item.field.has_modifier(Modifier::FieldRef) {
                        out.extend(item.values.iter().filter_map(|value| match value {
                            SigmaValue::String(other) => Some(other.original.clone()),
                            _ => None,
                        }));
                    }
                }
            }
            Detection::AnyOf(parts) | Detection::And(parts) => {
                parts.iter().for_each(|part| read(part, prefix, out));
            }
            Detection::Keywords(_) => {}
            Detection::ArrayMatch { field, body, .. } => read(body, &join(prefix, field), out),
            Detection::Conditional { named, .. } => {
                named.values().for_each(|part| read(part, prefix, out));
            }
        }
    }
    let mut out = Vec::new();
    for detection in sigma.detection.named.values() {
        read(detection, "", &mut out);
    }
    out
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

fn check_item(item: &DetectionItem, prefix: &str, selection: &str, out: &mut Vec<Problem>) {
    let Some(field) = item.field.name.as_deref() else {
        return;
    };
    let path = join(prefix, field);
    // `field: null`, alone or in a list, matches records without the
    // field: true here, not "never".
    let any_null = item.values.iter().any(|v| matches!(v, SigmaValue::Null));
    if !any_null {
        if let Err(suggestion) = check_path(&path) {
            out.push(Problem::UnknownField {
                selection: selection.to_string(),
                // As the rule's author wrote it, without Sigma's escapes.
                field: path.replace("\\[", "[").replace("\\]", "]"),
                hint: suggestion,
            });
            return;
        }
    }
    if item.field.has_modifier(Modifier::FieldRef) {
        for value in &item.values {
            if let SigmaValue::String(other) = value {
                if let Err(suggestion) = check_path(&other.original) {
                    out.push(Problem::UnknownField {
                        selection: selection.to_string(),
                        field: other.original.clone(),
                        hint: suggestion,
                    });
                }
            }
        }
        return;
    }
    for value in &item.values {
        if let Some((value, expected)) = impossible(&path, &item.field.modifiers, value) {
            out.push(Problem::ImpossibleValue {
                selection: selection.to_string(),
                field: path.clone(),
                value,
                expected,
            });
        }
    }
}

/// Whether `value`, under `modifiers`, can never equal what CloudTrail
/// writes in `field`. Only plain comparisons (with wildcards, contains,
/// startswith, endswith) are judged; anything else is given the benefit of
/// the doubt.
fn impossible(
    field: &str,
    modifiers: &[Modifier],
    value: &SigmaValue,
) -> Option<(String, &'static str)> {
    let SigmaValue::String(text) = value else {
        return match (value, allowed_values(field)) {
            (SigmaValue::Bool(_) | SigmaValue::Null, _) | (_, None) => None,
            (other, Some((_, expected))) => Some((format!("{other:?}"), expected)),
        };
    };
    let (pattern, exact) = pattern_of(text, modifiers)?;
    if let Some((allowed, expected)) = allowed_values(field) {
        if !allowed.iter().any(|candidate| glob(&pattern, candidate)) {
            return Some((text.original.clone(), expected));
        }
        return None;
    }
    if exact {
        let expected = check_format(field, &text.original)?;
        return Some((text.original.clone(), expected));
    }
    None
}

/// A value as a lower-case glob, and whether it is a plain literal.
fn pattern_of(text: &SigmaString, modifiers: &[Modifier]) -> Option<(Vec<Glob>, bool)> {
    let (mut before, mut after) = (false, false);
    for modifier in modifiers {
        match modifier {
            Modifier::Contains => (before, after) = (true, true),
            Modifier::StartsWith => after = true,
            Modifier::EndsWith => before = true,
            Modifier::Cased => {}
            _ => return None,
        }
    }
    let mut pattern = Vec::new();
    let mut exact = !(before || after);
    if before {
        pattern.push(Glob::Any);
    }
    for part in &text.parts {
        match part {
            StringPart::Plain(plain) => {
                pattern.extend(plain.to_lowercase().chars().map(Glob::Char))
            }
            StringPart::Special(SpecialChar::WildcardMulti) => {
                exact = false;
                pattern.push(Glob::Any);
            }
            StringPart::Special(SpecialChar::WildcardSingle) => {
                exact = false;
                pattern.push(Glob::One);
            }
        }
    }
    if after {
        pattern.push(Glob::Any);
    }
    Some((pattern, exact))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Glob {
    Char(char),
    One,
    Any,
}

fn glob(pattern: &[Glob], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    // reachable[j]: the pattern so far can consume exactly chars[..j].
    let mut reachable = vec![false; chars.len() + 1];
    reachable[0] = true;
    for token in pattern {
        let mut next = vec![false; chars.len() + 1];
        for j in 0..=chars.len() {
            if !reachable[j] {
                continue;
            }
            match token {
                Glob::Any => next[j..].iter_mut().for_each(|n| *n = true),
                Glob::One if j < chars.len() => next[j + 1] = true,
                Glob::Char(c) if chars.get(j) == Some(c) => next[j + 1] = true,
                _ => {}
            }
        }
        reachable = next;
    }
    reachable[chars.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_against_the_record_shape() {
        let cases: &[(&str, Result<(), Option<&str>>)] = &[
            ("eventName", Ok(())),
            ("userIdentity.sessionContext.sessionIssuer.arn", Ok(())),
            ("requestParameters.anything.below", Ok(())),
            ("resources.ARN", Ok(())),
            ("status", Err(None)),
            ("EventName", Err(Some("did you mean \"eventName\"?"))),
            (
                "useridentity.Type",
                Err(Some("did you mean \"userIdentity.Type\"?")),
            ),
            ("resources[0].ARN", Ok(())),
            ("userIdentity.arn.extra", Err(None)),
            ("CommandLine", Err(None)),
        ];
        for (path, want) in cases {
            let got = check_path(path).map_err(|s| s.map(|s| s.to_string()));
            let want = (*want).map_err(|s| s.map(str::to_string));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn globs_match_case_folded_values() {
        let pattern = |s: &str, modifiers: &[Modifier]| {
            pattern_of(&SigmaString::new(s), modifiers)
                .expect("plain")
                .0
        };
        assert!(glob(&pattern("awsapi*", &[]), "awsapicall"));
        assert!(glob(
            &pattern("ApiCall", &[Modifier::EndsWith]),
            "awsapicall"
        ));
        assert!(glob(&pattern("a?s", &[]), "aws"));
        assert!(!glob(&pattern("awsapicall", &[]), "awsapicallx"));
        assert!(!glob(&pattern("Root", &[Modifier::StartsWith]), "iamuser"));
    }

    #[test]
    fn regions_and_formats() {
        assert!(is_region("us-east-1") && is_region("us-gov-west-1"));
        assert!(!is_region("us-east") && !is_region("useast1") && !is_region("US East"));
        assert!(check_format("eventName", "iam:CreateUser").is_some());
        assert!(check_format("eventSource", "iam").is_some());
        assert!(check_format("eventSource", "iam.amazonaws.com").is_none());
        assert!(check_format("recipientAccountId", "12345").is_some());
    }
}
