//! Sigma filter rules: a team tunes out its own routine without forking a
//! rule.
//!
//! A filter (the Sigma specification's `filter:` section) names the rules
//! it applies to, by id, name or title, and carries its own detections and
//! condition; each rule it names matches only where the rule's condition
//! and the filter's both hold, so `condition: not ci_role` silences what
//! `ci_role` selects. A filter only narrows a rule: the index still finds
//! every record the filtered rule can match.

use std::sync::Arc;

use rsigma_eval::compiler::compile_detection;
use rsigma_eval::CompiledRule;
use rsigma_parser::{ConditionExpr, Detection, FilterRule, FilterRuleTarget, LogSource, SigmaRule};

use super::examples::{self, Example};
use super::{index, null_lists, RuleError};

/// What `rules list` and lint say about a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterMeta {
    pub id: String,
    pub title: String,
    /// Where the filter came from: a file path or an `s3://` key.
    pub origin: String,
    /// The rule ids, names or titles it names; empty: every rule.
    pub targets: Vec<String>,
}

/// A filter ready to apply to the rules it names.
pub struct Filter {
    pub meta: Arc<FilterMeta>,
    detections: Vec<(String, Detection)>,
    condition: Option<ConditionExpr>,
    logsource: Option<LogSource>,
    /// Events with what each rule the filter applies to must then do.
    pub examples: Vec<Example>,
}

impl Filter {
    pub(super) fn of(origin: &str, filter: FilterRule) -> Result<Filter, RuleError> {
        let examples = examples::of_filter(&filter).map_err(|message| RuleError::Parse {
            origin: origin.to_string(),
            message,
        })?;
        let targets = match filter.rules {
            FilterRuleTarget::Any => Vec::new(),
            FilterRuleTarget::Specific(targets) => targets,
        };
        let mut detections: Vec<(String, Detection)> = filter.detection.named.into_iter().collect();
        // Sorted: the injected names, and so any error, are the same each run.
        detections.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, detection) in &mut detections {
            // Values as the rules' own are read: eventName normalised, a
            // list holding null matching an absent field.
            index::normalize_detection(detection);
            null_lists::rewrite_detection(detection);
        }
        if detections.is_empty() {
            return Err(RuleError::Parse {
                origin: origin.to_string(),
                message: format!("filter {:?} has no detection", filter.title),
            });
        }
        Ok(Filter {
            meta: Arc::new(FilterMeta {
                id: filter.id.unwrap_or_else(|| origin.to_string()),
                title: filter.title,
                origin: origin.to_string(),
                targets,
            }),
            detections,
            condition: filter.detection.conditions.into_iter().next(),
            logsource: filter.logsource,
            examples,
        })
    }

    /// Whether the filter names this rule (by id, name or title) and its
    /// logsource, if it gives one, is the rule's.
    pub(super) fn applies_to(&self, rule: &SigmaRule) -> bool {
        let named = self.meta.targets.is_empty()
            || self.meta.targets.iter().any(|target| {
                rule.id.as_deref() == Some(target.as_str())
                    || rule.name.as_deref() == Some(target.as_str())
                    || rule.title == *target
            });
        named
            && self
                .logsource
                .as_ref()
                .is_none_or(|filter| logsource_contains(filter, &rule.logsource))
    }

    /// Narrows `rule` by the filter: its detections added under names of
    /// their own (`__filter_N_name`), each condition ANDed with the
    /// filter's.
    pub(super) fn apply(&self, number: usize, rule: &mut CompiledRule) -> Result<(), RuleError> {
        let name = |detection: &str| format!("__filter_{number}_{detection}");
        for (detection_name, detection) in &self.detections {
            let compiled = compile_detection(detection).map_err(|e| RuleError::Compile {
                origin: self.meta.origin.clone(),
                title: self.meta.title.clone(),
                message: e.to_string(),
            })?;
            rule.detections.insert(name(detection_name), compiled);
        }
        let condition = match &self.condition {
            Some(condition) => renamed(condition, &name),
            // No condition: every detection must hold, as rsigma reads it.
            None => ConditionExpr::And(
                self.detections
                    .iter()
                    .map(|(detection, _)| ConditionExpr::Identifier(name(detection)))
                    .collect(),
            ),
        };
        for rule_condition in &mut rule.conditions {
            let own = std::mem::replace(rule_condition, ConditionExpr::And(Vec::new()));
            *rule_condition = ConditionExpr::And(vec![own, condition.clone()]);
        }
        Ok(())
    }
}

/// The filter's condition over the names its detections are added under.
fn renamed(condition: &ConditionExpr, name: &dyn Fn(&str) -> String) -> ConditionExpr {
    match condition {
        ConditionExpr::Identifier(id) => ConditionExpr::Identifier(name(id)),
        ConditionExpr::And(parts) => {
            ConditionExpr::And(parts.iter().map(|p| renamed(p, name)).collect())
        }
        ConditionExpr::Or(parts) => {
            ConditionExpr::Or(parts.iter().map(|p| renamed(p, name)).collect())
        }
        ConditionExpr::Not(part) => ConditionExpr::Not(Box::new(renamed(part, name))),
        // `1 of sel*` would otherwise count the rule's own detections.
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => ConditionExpr::Selector {
            quantifier: quantifier.clone(),
            pattern: match pattern {
                rsigma_parser::SelectorPattern::Them => {
                    rsigma_parser::SelectorPattern::Pattern(name("*"))
                }
                rsigma_parser::SelectorPattern::Pattern(p) => {
                    rsigma_parser::SelectorPattern::Pattern(name(p))
                }
            },
        },
    }
}

/// Every logsource field the filter gives is the rule's (case aside).
fn logsource_contains(filter: &LogSource, rule: &LogSource) -> bool {
    let same = |want: &Option<String>, have: &Option<String>| match (want, have) {
        (None, _) => true,
        (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
        (Some(_), None) => false,
    };
    same(&filter.product, &rule.product)
        && same(&filter.service, &rule.service)
        && same(&filter.category, &rule.category)
}
