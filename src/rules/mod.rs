//! Detection rules: Sigma YAML, loaded from the built-in pack and from user
//! directories, compiled once, evaluated on each record.

mod builtin;
mod correlation;
mod derived;
mod event;
mod examples;
mod filters;
mod index;
mod lint;
mod null_lists;
mod verdict;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsigma_eval::{CompiledRule, EvaluationResult, Pipeline};
use rsigma_parser::{CorrelationRule, SigmaRule};
use serde_json::Value;

use crate::record::IdentityPaths;

pub use correlation::{CorrelationHit, Correlations, Correlator, Threshold};
pub use event::RecordEvent;
pub use examples::{Example, ExampleFailure, SequenceExample};
pub use filters::{Filter, FilterMeta};
use index::RuleIndex;
pub use index::{IndexKey, KeyValues, EVENT_NAME};
pub use lint::{LintFinding, Problem};
use verdict::Verdict;

/// Sigma placeholder that built-in rules use for the principals allowed to
/// invoke Lambda functions (`invokedBy|expand: '%allowed_invokers%'`).
pub const ALLOWED_INVOKERS_VAR: &str = "allowed_invokers";

/// How to build a rule set.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// Directories of user rules (`*.yml`, `*.yaml`, searched recursively).
    pub dirs: Vec<PathBuf>,
    /// Rules already read from elsewhere (S3): (origin, YAML text).
    pub texts: Vec<(String, String)>,
    /// Values of `%allowed_invokers%`.
    pub allowed_invokers: Vec<String>,
    /// Rule ids to leave out.
    pub disabled: Vec<String>,
    /// Rules below this level do not alert (they still feed thresholds);
    /// `None`: every level.
    pub min_level: Option<Level>,
    /// Read the built-in pack's examples (what `rules test` runs). A scan
    /// does without: they are most of the pack's YAML, and parsing them was
    /// most of the start-up.
    pub examples: bool,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            dirs: Vec::new(),
            texts: Vec::new(),
            allowed_invokers: vec!["s3.amazonaws.com".to_string()],
            disabled: Vec::new(),
            min_level: None,
            examples: true,
        }
    }
}

/// A rule could not be loaded. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{origin}: cannot read rule file: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    #[error("{origin}: not a valid Sigma rule: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: rule {title:?} cannot be compiled: {message}")]
    Compile {
        origin: String,
        title: String,
        message: String,
    },
    #[error("{origin}: {message}")]
    Unsupported { origin: String, message: String },
    #[error("{origin}: rule id {id} is already used by {other}")]
    DuplicateId {
        origin: String,
        id: String,
        other: String,
    },
    #[error("{path}: rules directory cannot be read: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// Sigma severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl std::str::FromStr for Level {
    type Err = String;

    /// A Sigma level name, any case.
    fn from_str(text: &str) -> Result<Level, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => {
                return Err(format!(
                    "{text:?} is not a Sigma level (informational, low, medium, high, critical)"
                ))
            }
        })
    }
}

impl Level {
    fn from_sigma(level: Option<rsigma_parser::Level>) -> Level {
        use rsigma_parser::Level as L;
        match level {
            Some(L::Informational) => Level::Informational,
            Some(L::Low) => Level::Low,
            Some(L::Medium) | None => Level::Medium,
            Some(L::High) => Level::High,
            Some(L::Critical) => Level::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What an alert says about the rule that raised it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub level: Level,
    pub description: String,
    pub falsepositives: Vec<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    /// The rule's author; shown in alerts (the SigmaHQ licence asks for it).
    pub author: Option<String>,
    /// Where the rule came from: `builtin/NAME.yml` or a file path.
    pub origin: String,
}

/// A compiled rule with its metadata and examples.
pub struct Rule {
    pub meta: Arc<RuleMeta>,
    compiled: CompiledRule,
    /// `compiled`'s conditions, for the verdict alone.
    verdict: Verdict,
    pub examples: Vec<Example>,
    /// The record values the rule is filed under.
    pub index_key: IndexKey,
    /// A correlation counts this rule's matches.
    pub feeds_correlation: bool,
    /// Whether a match alerts on its own (false for rules that only feed a
    /// correlation with Sigma's default `generate: false`, and for rules
    /// below the minimum level).
    pub alerts: bool,
    /// The Sigma filters that narrow this rule, in load order.
    pub filters: Vec<Arc<FilterMeta>>,
}

impl Rule {
    /// Whether the rule matches a record whose eventName is already normalised.
    pub fn matches(&self, event: &Value) -> bool {
        self.matches_event(&RecordEvent::new(event))
    }

    /// The match, for rules whose matches feed a correlation.
    pub fn evaluate(&self, event: &Value) -> Option<EvaluationResult> {
        self.evaluate_event(&RecordEvent::new(event))
    }

    /// [`Rule::evaluate`] on a record read field by field.
    pub fn evaluate_event(&self, event: &RecordEvent<'_>) -> Option<EvaluationResult> {
        rsigma_eval::evaluate_rule(&self.compiled, event)
    }

    /// Whether the rule matches, without the match's details: what a rule
    /// that feeds no threshold needs. (A match's details copy the rule's
    /// metadata and the values matched; a rule that matches most records
    /// would pay that on each.)
    pub fn matches_event(&self, event: &RecordEvent<'_>) -> bool {
        self.verdict.matches(event)
    }
}

/// The rules in force, in load order (built-in first), and their index.
pub struct RuleSet {
    rules: Vec<Rule>,
    filters: Vec<Filter>,
    index: RuleIndex,
    /// The members of `userIdentity` the head read finds for the rules.
    identity_paths: IdentityPaths,
    correlations: Correlations,
    findings: Vec<LintFinding>,
}

impl RuleSet {
    /// Loads the built-in pack and every user directory. Any rule that fails
    /// to load is an error: a detector must not run silently without a rule
    /// its owner believes is on.
    pub fn load(config: &RuleConfig) -> Result<RuleSet, RuleError> {
        let mut loader = Loader {
            pipeline: placeholder_pipeline(config)?,
            rules: Vec::new(),
            sigmas: Vec::new(),
            correlations: Vec::new(),
            filters: Vec::new(),
            findings: Vec::new(),
        };
        for (name, text) in builtin::FILES {
            let text = match config.examples {
                true => std::borrow::Cow::Borrowed(*text),
                false => builtin::without_examples(text),
            };
            loader.load_text(&format!("builtin/{name}"), &text)?;
        }
        for dir in &config.dirs {
            for path in rule_files(dir)? {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|source| RuleError::Read {
                    origin: origin.clone(),
                    source,
                })?;
                loader.load_text(&origin, &text)?;
            }
        }
        for (origin, text) in &config.texts {
            loader.load_text(origin, text)?;
        }
        let Loader {
            mut rules,
            sigmas,
            correlations,
            filters,
            mut findings,
            ..
        } = loader;
        check_unique_ids(&rules)?;
        let disabled: HashSet<&str> = config.disabled.iter().map(String::as_str).collect();
        for (number, filter) in filters.iter().enumerate() {
            let mut narrowed = 0;
            for (rule, sigma) in rules.iter_mut().zip(&sigmas) {
                if filter.applies_to(sigma) {
                    filter.apply(number, &mut rule.compiled)?;
                    rule.verdict = Verdict::of(&rule.compiled);
                    rule.filters.push(Arc::clone(&filter.meta));
                    narrowed += usize::from(!disabled.contains(rule.meta.id.as_str()));
                }
            }
            if narrowed == 0 {
                findings.push(lint::filter_names_no_rule(&filter.meta));
            }
        }
        let correlations = correlations
            .into_iter()
            .filter(|(_, rule)| !rule.id.as_deref().is_some_and(|id| disabled.contains(id)))
            .collect();
        let read: Vec<String> = sigmas.iter().flat_map(lint::fields_read).collect();
        let identity_paths = IdentityPaths::new(read.iter().map(String::as_str));
        let correlations = Correlations::new(correlations, &sigmas, config.min_level)?;
        let feeding = correlations.feeding();
        for (rule, sigma) in rules.iter_mut().zip(&sigmas) {
            for name in correlation::identities(sigma) {
                if let Some(generate) = feeding.get(name) {
                    rule.feeds_correlation = true;
                    rule.alerts &= *generate;
                }
            }
        }
        rules.retain(|rule| !disabled.contains(rule.meta.id.as_str()));
        if let Some(min) = config.min_level {
            for rule in &mut rules {
                rule.alerts &= rule.meta.level >= min;
            }
        }
        findings.retain(|finding| !disabled.contains(finding.rule_id.as_str()));
        let index = RuleIndex::new(rules.iter().map(|rule| &rule.index_key));
        Ok(RuleSet {
            rules,
            filters,
            index,
            identity_paths,
            correlations,
            findings,
        })
    }

    /// The members of `userIdentity` the head read finds
    /// ([`crate::record::IdentityRead::Find`]).
    pub fn identity_paths(&self) -> &IdentityPaths {
        &self.identity_paths
    }

    /// The rules in force that cannot match CloudTrail records, and why.
    pub fn lint(&self) -> &[LintFinding] {
        &self.findings
    }

    /// The correlation rules (thresholds); make a [`Correlator`] from them
    /// per invocation.
    pub fn correlations(&self) -> &Correlations {
        &self.correlations
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The Sigma filters loaded, in load order.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules a record with these key values can match, in load order.
    /// Empty for most records: then the record need not be parsed further.
    pub fn candidates(&self, record: &KeyValues<'_>) -> Vec<&Rule> {
        self.index
            .candidates(record)
            .into_iter()
            .filter_map(|position| self.rules.get(position))
            .collect()
    }

    /// [`RuleSet::candidates`] as positions in [`RuleSet::rules`], to hand
    /// to another thread: appended to `out`, what is there left as it is.
    pub fn candidate_positions_into(&self, record: &KeyValues<'_>, out: &mut Vec<usize>) {
        self.index.candidates_into(record, out);
    }
}

/// The pipeline that fills Sigma placeholders (`%name%` with `|expand`)
/// from configuration.
fn placeholder_pipeline(config: &RuleConfig) -> Result<Pipeline, RuleError> {
    let mut pipeline = rsigma_eval::parse_pipeline(
        "name: trailwatch placeholders\ntransformations:\n  - type: value_placeholders\n",
    )
    .map_err(|e| RuleError::Compile {
        origin: "placeholder pipeline".to_string(),
        title: ALLOWED_INVOKERS_VAR.to_string(),
        message: e.to_string(),
    })?;
    pipeline.vars.insert(
        ALLOWED_INVOKERS_VAR.to_string(),
        config.allowed_invokers.clone(),
    );
    Ok(pipeline)
}

/// Rules as they are read, before the set is assembled.
struct Loader {
    pipeline: Pipeline,
    rules: Vec<Rule>,
    /// Each rule's Sigma form after the pipeline, parallel to `rules`
    /// (correlations refer to rules by id or name).
    sigmas: Vec<SigmaRule>,
    correlations: Vec<(String, CorrelationRule)>,
    filters: Vec<Filter>,
    findings: Vec<LintFinding>,
}

impl Loader {
    fn load_text(&mut self, origin: &str, text: &str) -> Result<(), RuleError> {
        let parse_error = |message: String| RuleError::Parse {
            origin: origin.to_string(),
            message,
        };
        let collection =
            rsigma_parser::parse_sigma_yaml(text).map_err(|e| parse_error(e.to_string()))?;
        if let Some(first) = collection.errors.first() {
            return Err(parse_error(first.clone()));
        }
        if collection.rules.is_empty()
            && collection.correlations.is_empty()
            && collection.filters.is_empty()
        {
            return Err(parse_error("the file holds no rule".to_string()));
        }
        for sigma in collection.rules {
            self.load_rule(origin, sigma)?;
        }
        for filter in collection.filters {
            self.filters.push(Filter::of(origin, filter)?);
        }
        self.correlations.extend(
            collection
                .correlations
                .into_iter()
                .map(|rule| (origin.to_string(), rule)),
        );
        Ok(())
    }

    fn load_rule(&mut self, origin: &str, mut sigma: SigmaRule) -> Result<(), RuleError> {
        let compile_error = |sigma: &SigmaRule, message: String| RuleError::Compile {
            origin: origin.to_string(),
            title: sigma.title.clone(),
            message,
        };
        let examples = examples::of(&sigma).map_err(|message| RuleError::Parse {
            origin: origin.to_string(),
            message,
        })?;
        let meta = meta_of(&sigma, origin);
        self.findings.extend(lint::lint(&sigma, &meta));
        index::normalize_event_name_literals(&mut sigma);
        rsigma_eval::apply_pipelines(std::slice::from_ref(&self.pipeline), &mut sigma)
            .map_err(|e| compile_error(&sigma, e.to_string()))?;
        null_lists::rewrite(&mut sigma);
        let compiled =
            rsigma_eval::compile_rule(&sigma).map_err(|e| compile_error(&sigma, e.to_string()))?;
        self.rules.push(Rule {
            meta: Arc::new(meta),
            verdict: Verdict::of(&compiled),
            compiled,
            examples,
            index_key: IndexKey::of(&sigma),
            feeds_correlation: false,
            alerts: true,
            filters: Vec::new(),
        });
        self.sigmas.push(sigma);
        Ok(())
    }
}

fn meta_of(sigma: &SigmaRule, origin: &str) -> RuleMeta {
    RuleMeta {
        // A rule without an id still needs a stable name in alerts.
        id: sigma.id.clone().unwrap_or_else(|| origin.to_string()),
        title: sigma.title.clone(),
        level: Level::from_sigma(sigma.level),
        description: sigma.description.clone().unwrap_or_default(),
        falsepositives: sigma.falsepositives.clone(),
        references: sigma.references.clone(),
        tags: sigma.tags.clone(),
        author: sigma.author.clone(),
        origin: origin.to_string(),
    }
}

fn check_unique_ids(rules: &[Rule]) -> Result<(), RuleError> {
    let mut seen: std::collections::HashMap<&str, &str> = Default::default();
    for rule in rules {
        if let Some(other) = seen.insert(&rule.meta.id, &rule.meta.origin) {
            return Err(RuleError::DuplicateId {
                origin: rule.meta.origin.clone(),
                id: rule.meta.id.clone(),
                other: other.to_string(),
            });
        }
    }
    Ok(())
}

/// Every `.yml`/`.yaml` file under `dir`, recursively, in a stable order.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let dir_error = |source| RuleError::Dir {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).map_err(dir_error)? {
            let path = entry.map_err(dir_error)?.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
