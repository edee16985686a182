//! Sigma correlation rules (thresholds such as "20 denied calls by one
//! principal within 5 minutes"), evaluated with rsigma's correlation engine
//! over the detections trailwatch's own evaluation produces.
//!
//! State lives in a [`Correlator`], made per Lambda invocation (or per CLI
//! run) and fed every object of it, so a threshold counts across the
//! objects of one invocation. Time is the record's `eventTime`, not the
//! clock: replaying old logs gives the same answer.

use std::collections::HashMap;
use std::sync::Arc;

use rsigma_eval::{
    CorrelationAction, CorrelationConfig, CorrelationEngine, EvaluationResult, TimestampFallback,
};
use rsigma_parser::{CorrelationRule, SigmaRule};

use super::examples::SequenceExample;
use super::{Level, RecordEvent, RuleError, RuleMeta};

/// One correlation rule as the rest of trailwatch sees it.
pub struct Threshold {
    pub meta: Arc<RuleMeta>,
    /// Event sequences that must (or must not) reach the threshold.
    pub examples: Vec<SequenceExample>,
}

/// The correlation rules of a rule set, ready to build per-invocation state.
#[derive(Default)]
pub struct Correlations {
    rules: Vec<CorrelationRule>,
    /// Parallel to `rules`.
    thresholds: Vec<Threshold>,
    /// The detection rules the correlations refer to (compiled again inside
    /// each correlator, which needs their ids and names).
    referenced: Vec<SigmaRule>,
    /// Thresholds below this level are counted but do not alert.
    min_level: Option<Level>,
}

impl Correlations {
    pub(super) fn new(
        rules: Vec<(String, CorrelationRule)>,
        detections: &[SigmaRule],
        min_level: Option<Level>,
    ) -> Result<Correlations, RuleError> {
        let mut out = Correlations {
            min_level,
            ..Correlations::default()
        };
        for (origin, rule) in rules {
            let mut own = Vec::new();
            for reference in &rule.rules {
                let sigma = detections
                    .iter()
                    .find(|sigma| identities(sigma).any(|name| name == reference))
                    .ok_or_else(|| RuleError::Unsupported {
                        origin: origin.clone(),
                        message: format!(
                            "correlation {:?} refers to rule {reference:?}, which is not loaded",
                            rule.title
                        ),
                    })?;
                own.push(sigma.clone());
            }
            // Compile each correlation with its own rules now, so a broken
            // one stops the start with its file named instead of leaving a
            // correlator inert later.
            build(&own, std::slice::from_ref(&rule)).map_err(|e| RuleError::Compile {
                origin: origin.clone(),
                title: rule.title.clone(),
                message: e.to_string(),
            })?;
            let examples =
                super::examples::of_correlation(&rule).map_err(|message| RuleError::Parse {
                    origin: origin.clone(),
                    message,
                })?;
            for sigma in own {
                if !out
                    .referenced
                    .iter()
                    .any(|r| r.id == sigma.id && r.title == sigma.title)
                {
                    out.referenced.push(sigma);
                }
            }
            out.thresholds.push(Threshold {
                meta: Arc::new(meta_of(&rule, &origin)),
                examples,
            });
            out.rules.push(rule);
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Ids and names of the detection rules that feed a correlation, and
    /// whether each should still alert on its own (`generate: true`).
    pub(super) fn feeding(&self) -> HashMap<String, bool> {
        let mut feeding = HashMap::new();
        for rule in &self.rules {
            for reference in &rule.rules {
                let generate = feeding.entry(reference.clone()).or_insert(false);
                *generate |= rule.generate;
            }
        }
        feeding
    }

    pub fn thresholds(&self) -> &[Threshold] {
        &self.thresholds
    }

    /// Fresh state for one invocation.
    pub fn correlator(&self) -> Correlator {
        self.correlator_at(self.min_level)
    }

    /// A correlator whose thresholds below `min_level` do not alert
    /// (`None`: all do, as example sequences need).
    pub(super) fn correlator_at(&self, min_level: Option<Level>) -> Correlator {
        // Every correlation compiled on its own in `new`, so together they
        // compile too; were it to fail, the correlator stays inert rather
        // than stop detection.
        let engine = if self.rules.is_empty() {
            None
        } else {
            build(&self.referenced, &self.rules).ok()
        };
        // A hit of a threshold without its meta is dropped (Correlator::feed).
        let metas = self
            .thresholds
            .iter()
            .filter(|threshold| min_level.is_none_or(|min| threshold.meta.level >= min))
            .map(|threshold| (threshold.meta.id.clone(), threshold.meta.clone()))
            .collect();
        Correlator { engine, metas }
    }
}

fn build(
    referenced: &[SigmaRule],
    correlations: &[CorrelationRule],
) -> rsigma_eval::Result<CorrelationEngine> {
    let config = CorrelationConfig {
        timestamp_fields: vec!["eventTime".to_string()],
        // A record without a time cannot be placed in a window.
        timestamp_fallback: TimestampFallback::Skip,
        // One alert per threshold reached, not one per record past it.
        action_on_match: CorrelationAction::Reset,
        ..CorrelationConfig::default()
    };
    let mut engine = CorrelationEngine::new(config);
    for rule in referenced {
        engine.add_rule(rule)?;
    }
    for rule in correlations {
        engine.add_correlation(rule)?;
    }
    Ok(engine)
}

fn meta_of(rule: &CorrelationRule, origin: &str) -> RuleMeta {
    RuleMeta {
        id: rule.id.clone().unwrap_or_else(|| rule.title.clone()),
        title: rule.title.clone(),
        level: Level::from_sigma(rule.level),
        description: rule.description.clone().unwrap_or_default(),
        falsepositives: rule.falsepositives.clone(),
        references: rule.references.clone(),
        tags: rule.tags.clone(),
        author: rule.author.clone(),
        origin: origin.to_string(),
    }
}

/// A threshold reached.
#[derive(Debug, Clone)]
pub struct CorrelationHit {
    pub rule: Arc<RuleMeta>,
    /// The group-by fields and their values, e.g. `userIdentity.arn=...`.
    pub group: Vec<(String, String)>,
    /// How many records reached it (for event_count).
    pub count: f64,
    pub timespan_secs: u64,
}

/// Correlation state for one invocation.
pub struct Correlator {
    engine: Option<CorrelationEngine>,
    metas: HashMap<String, Arc<RuleMeta>>,
}

impl Correlator {
    /// Feeds one record's detections; returns the thresholds it completes.
    pub fn feed(
        &mut self,
        event: &RecordEvent<'_>,
        detections: Vec<EvaluationResult>,
    ) -> Vec<CorrelationHit> {
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let results = engine.correlate_detections(event, detections);
        results
            .into_iter()
            .filter_map(|result| {
                let body = result.as_correlation()?;
                let key = result
                    .header
                    .rule_id
                    .clone()
                    .unwrap_or_else(|| result.header.rule_title.clone());
                let rule = self.metas.get(&key)?.clone();
                Some(CorrelationHit {
                    rule,
                    group: body.group_key.clone(),
                    count: body.aggregated_value,
                    timespan_secs: body.timespan_secs,
                })
            })
            .collect()
    }
}

/// The ids and names a detection rule answers to.
pub(super) fn identities(rule: &SigmaRule) -> impl Iterator<Item = &String> {
    rule.id.iter().chain(rule.name.iter())
}
