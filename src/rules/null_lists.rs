//! A Sigma value list holding `null` matches a record without the field.
//!
//! `errorCode: ['Success', null]` means "Success, or no errorCode at all",
//! as in pySigma. rsigma-eval 0.23 matches an absent field only with a
//! bare `null` matcher, not with a list containing one, so such a list
//! missed the ordinary successful call. Rules are rewritten at load, before
//! they are compiled: the item becomes "one of the other values, or
//! `null`", two alternatives rsigma evaluates as Sigma means them.

use rsigma_parser::{Detection, DetectionItem, Modifier, SigmaRule, SigmaValue};

/// Rewrites every plain value list with a `null` among other values.
pub fn rewrite(rule: &mut SigmaRule) {
    for detection in rule.detection.named.values_mut() {
        rewrite_detection(detection);
    }
}

/// [`rewrite`] for one detection (a filter's).
pub(super) fn rewrite_detection(detection: &mut Detection) {
    match detection {
        Detection::AllOf(items) => {
            if items.iter().any(needs_split) {
                *detection = split(std::mem::take(items));
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            parts.iter_mut().for_each(rewrite_detection)
        }
        Detection::ArrayMatch { body, .. } => rewrite_detection(body),
        Detection::Conditional { named, .. } => named.values_mut().for_each(rewrite_detection),
        Detection::Keywords(_) => {}
    }
}

/// A field item comparing plainly (no modifier but `cased`) against a list
/// that holds `null` and something else. Under a modifier `null` has no
/// meaning rsigma accepts, and a bare `null` already works.
fn needs_split(item: &DetectionItem) -> bool {
    item.field.name.is_some()
        && item.field.modifiers.iter().all(|m| *m == Modifier::Cased)
        && item.values.len() > 1
        && item.values.iter().any(|v| matches!(v, SigmaValue::Null))
}

/// The items, AND-linked as before, with each list holding `null` turned
/// into "the other values, or null".
fn split(items: Vec<DetectionItem>) -> Detection {
    let mut plain = Vec::new();
    let mut parts = Vec::new();
    for item in items {
        if !needs_split(&item) {
            plain.push(item);
            continue;
        }
        let (nulls, values): (Vec<SigmaValue>, Vec<SigmaValue>) = item
            .values
            .into_iter()
            .partition(|v| matches!(v, SigmaValue::Null));
        let null_item = DetectionItem {
            field: item.field.clone(),
            values: nulls.into_iter().take(1).collect(),
        };
        let value_item = DetectionItem {
            field: item.field,
            values,
        };
        parts.push(Detection::AnyOf(vec![
            Detection::AllOf(vec![value_item]),
            Detection::AllOf(vec![null_item]),
        ]));
    }
    if !plain.is_empty() {
        parts.insert(0, Detection::AllOf(plain));
    }
    if parts.len() == 1 {
        if let Some(only) = parts.pop() {
            return only;
        }
    }
    Detection::And(parts)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::rules::{RuleConfig, RuleSet};

    fn rule_set(detection: &str) -> RuleSet {
        let yaml = format!(
            "title: nulls\nid: 6e0d7f0e-0000-4000-8000-00000000a001\nlevel: low\n\
             logsource: {{product: aws, service: cloudtrail}}\ndetection:\n{detection}"
        );
        RuleSet::load(&RuleConfig {
            texts: vec![("nulls.yml".to_string(), yaml)],
            ..RuleConfig::default()
        })
        .expect("loads")
    }

    fn matches(set: &RuleSet, record: &serde_json::Value) -> bool {
        let rule = set
            .rules()
            .iter()
            .find(|r| r.meta.origin == "nulls.yml")
            .expect("the rule");
        rule.matches(record)
    }

    #[test]
    fn a_list_with_null_matches_absent_null_and_the_other_values() {
        // (detection, record, expected)
        let succeeded = json!({"eventName": "StopLogging"});
        let null_code = json!({"eventName": "StopLogging", "errorCode": null});
        let success = json!({"eventName": "StopLogging", "errorCode": "Success"});
        let denied = json!({"eventName": "StopLogging", "errorCode": "AccessDenied"});
        let other_api = json!({"eventName": "StartLogging"});
        let list = "  sel:\n    eventName: StopLogging\n    errorCode: ['Success', null]\n  condition: sel\n";
        let null_first = "  sel:\n    errorCode: [null, 'Success']\n    eventName: StopLogging\n  condition: sel\n";
        let bare = "  sel:\n    eventName: StopLogging\n    errorCode: null\n  condition: sel\n";
        let negated = "  sel:\n    eventName: StopLogging\n  failed:\n    errorCode: ['Success', null]\n  condition: sel and not failed\n";
        let two_lists = "  sel:\n    eventName: [StopLogging, null]\n    errorCode: ['Success', null]\n  condition: sel\n";
        let cases: &[(&str, &serde_json::Value, bool)] = &[
            (list, &succeeded, true),
            (list, &null_code, true),
            (list, &success, true),
            (list, &denied, false),
            (list, &other_api, false),
            (null_first, &succeeded, true),
            (null_first, &denied, false),
            (bare, &succeeded, true),
            (bare, &success, false),
            (negated, &succeeded, false),
            (negated, &denied, true),
            (two_lists, &json!({}), true),
            (two_lists, &json!({"errorCode": "AccessDenied"}), false),
            (two_lists, &other_api, false),
        ];
        for (detection, record, want) in cases {
            let set = rule_set(detection);
            assert_eq!(matches(&set, record), *want, "{detection}\n{record}");
        }
    }

    #[test]
    fn only_plain_lists_with_null_and_more_are_split() {
        let item = |detection: &str| {
            let yaml = format!(
                "title: t\nlogsource: {{product: aws}}\ndetection:\n  sel:\n    {detection}\n  condition: sel\n"
            );
            let rule = rsigma_parser::parse_sigma_yaml(&yaml)
                .expect("parses")
                .rules
                .remove(0);
            match rule.detection.named.get("sel") {
                Some(super::Detection::AllOf(items)) => items[0].clone(),
                other => panic!("{other:?}"),
            }
        };
        for (detection, want) in [
            ("errorCode: ['Success', null]", true),
            ("errorCode|cased: ['Success', null]", true),
            ("errorCode: null", false),
            ("errorCode: [null]", false),
            ("errorCode: ['Success', 'Other']", false),
            // Under a string modifier `null` has no Sigma meaning to keep.
            ("errorCode|contains: ['Denied', null]", false),
            ("errorCode|startswith: ['Denied', null]", false),
        ] {
            assert_eq!(super::needs_split(&item(detection)), want, "{detection}");
        }
    }
}
