//! Configuration from the environment (Lambda) and the command line (CLI),
//! validated once at cold start.

use std::path::PathBuf;

use crate::pipeline::Limits;
use crate::rules::RuleConfig;
use crate::source::account_names::NamesAt;
use crate::source::rules_s3::S3Prefix;

/// A setting is missing or malformed. Names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

/// Everything the Lambda function needs to know.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub topic_arn: String,
    /// `RULES_S3_URI`: user rules to read from S3 at cold start.
    pub rules_s3: Option<S3Prefix>,
    pub rules: RuleConfig,
    pub limits: Limits,
    /// `DEADLINE_MARGIN_SECS`: stop reading this long before the Lambda
    /// deadline (default 5 s), to publish and answer in time.
    pub deadline_margin: std::time::Duration,
    /// `MAX_ALERTS_PER_INVOCATION`: alerts sent per invocation before the
    /// rest become one summary (default 50; 0: no limit).
    pub max_alerts: Option<usize>,
    /// `DEDUP_TABLE`: the DynamoDB table that remembers sent alerts, so a
    /// retried invocation does not send them again; `None`: no dedup.
    pub dedup_table: Option<String>,
    /// `DEDUP_TTL_HOURS`: how long a sent alert is remembered (default 7
    /// days).
    pub dedup_ttl: std::time::Duration,
    /// `VERIFY_DIGESTS`: verify CloudTrail's digest files as they arrive
    /// (default true); false skips them.
    pub verify_digests: bool,
    /// `ACCOUNT_NAMES`: a JSON or YAML map of account ids to names (a path
    /// in the package or `s3://bucket/key`), read at cold start; alerts
    /// name the accounts it names. A file that cannot be read is logged
    /// and alerts show ids only.
    pub account_names: Option<NamesAt>,
    /// `ACCOUNT_NAMES_FROM_ORGANIZATIONS`: also name every account of the
    /// organization (`organizations:ListAccounts`, at cold start; default
    /// false). `ACCOUNT_NAMES` wins where both name an account.
    pub account_names_from_organizations: bool,
}

/// Alerts one invocation sends before holding the rest back.
pub const DEFAULT_MAX_ALERTS: usize = 50;

/// Splits a comma-separated list, dropping blanks.
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl LambdaConfig {
    /// Reads the function's environment through `get` (so tests need not
    /// touch the process environment).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let topic_arn = get("ALERT_TOPIC_ARN")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError {
                name: "ALERT_TOPIC_ARN",
                message: "must be set to the ARN of the SNS topic that receives alerts".into(),
            })?;
        if !topic_arn.starts_with("arn:") {
            return Err(ConfigError {
                name: "ALERT_TOPIC_ARN",
                message: format!("{topic_arn:?} is not an ARN"),
            });
        }
        // The function never runs the built-in pack's examples.
        let mut rules = RuleConfig {
            examples: false,
            ..RuleConfig::default()
        };
        if let Some(invokers) = get("ALLOWED_INVOKERS") {
            rules.allowed_invokers = list(&invokers);
        }
        if let Some(disabled) = get("DISABLED_RULES") {
            rules.disabled = list(&disabled);
        }
        if let Some(level) = get("MIN_LEVEL").filter(|v| !v.trim().is_empty()) {
            rules.min_level = Some(level.parse().map_err(|message| ConfigError {
                name: "MIN_LEVEL",
                message,
            })?);
        }
        if let Some(dir) = get("RULES_DIR").filter(|d| !d.trim().is_empty()) {
            rules.dirs.push(PathBuf::from(dir));
        }
        let rules_s3 = match get("RULES_S3_URI").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(uri) => Some(S3Prefix::parse(&uri).ok_or(ConfigError {
                name: "RULES_S3_URI",
                message: format!("{uri:?} is not of the form s3://bucket/prefix"),
            })?),
        };
        let mut limits = Limits::default();
        if let Some(value) = get("MAX_RECORD_BYTES") {
            limits.max_record_bytes = number("MAX_RECORD_BYTES", &value)?;
        }
        if let Some(value) = get("MAX_DECOMPRESSED_BYTES") {
            limits.max_decompressed_bytes = number("MAX_DECOMPRESSED_BYTES", &value)?;
        }
        // Set by Lambda itself: not the user's to get wrong, so a value
        // that does not parse leaves the threads to the CPUs.
        if let Some(mb) = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|v| v.trim().parse().ok())
        {
            limits.threads = threads_for_memory(mb);
        }
        let deadline_margin = match get("DEADLINE_MARGIN_SECS") {
            Some(value) => number("DEADLINE_MARGIN_SECS", &value)?,
            None => 5,
        };
        let max_alerts = match get("MAX_ALERTS_PER_INVOCATION") {
            Some(value) => number("MAX_ALERTS_PER_INVOCATION", &value)?,
            None => DEFAULT_MAX_ALERTS,
        };
        let dedup_table = get("DEDUP_TABLE")
            .map(|table| table.trim().to_string())
            .filter(|table| !table.is_empty());
        let dedup_ttl = match get("DEDUP_TTL_HOURS") {
            Some(value) => match number::<u64>("DEDUP_TTL_HOURS", &value)? {
                0 => {
                    return Err(ConfigError {
                        name: "DEDUP_TTL_HOURS",
                        message: "must be at least 1 (unset DEDUP_TABLE to turn dedup off)".into(),
                    })
                }
                hours => std::time::Duration::from_secs(hours.saturating_mul(3600)),
            },
            None => crate::dedup::DEFAULT_TTL,
        };
        let verify_digests = match get("VERIFY_DIGESTS") {
            Some(value) => boolean("VERIFY_DIGESTS", &value)?,
            None => true,
        };
        let account_names = match get("ACCOUNT_NAMES").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => Some(NamesAt::parse(&value).ok_or(ConfigError {
                name: "ACCOUNT_NAMES",
                message: format!("{value:?} is not a file path or s3://bucket/key"),
            })?),
        };
        let account_names_from_organizations = match get("ACCOUNT_NAMES_FROM_ORGANIZATIONS") {
            Some(value) => boolean("ACCOUNT_NAMES_FROM_ORGANIZATIONS", &value)?,
            None => false,
        };
        Ok(LambdaConfig {
            account_names,
            account_names_from_organizations,
            verify_digests,
            dedup_table,
            dedup_ttl,
            max_alerts: (max_alerts > 0).then_some(max_alerts),
            topic_arn,
            rules_s3,
            rules,
            limits,
            deadline_margin: std::time::Duration::from_secs(deadline_margin),
        })
    }
}

/// The threads a scan reads with in a function of `mb` megabytes
/// ([`Limits::threads`]). Lambda gives a function CPU time in proportion
/// to its memory, one vCPU's worth at 1,769 MB, but is reported to show it
/// two CPUs up to about 3 GB: counting CPUs would put two threads on less
/// than one CPU's time. Two threads spend about 1.2x the CPU time of one
/// (BENCHMARKS.md), so they pay off past about 1.25 vCPUs' worth; past
/// 2.5, as many as there are CPUs (up to 3).
fn threads_for_memory(mb: u64) -> usize {
    const ONE_VCPU_MB: u64 = 1769;
    // In quarters of a vCPU's worth; saturating, as the value is read from
    // the environment.
    let quarters = mb.saturating_mul(4) / ONE_VCPU_MB;
    if quarters < 5 {
        1
    } else if quarters < 10 {
        2
    } else {
        0
    }
}

/// `true` or `false` in any case; blank is the default's business, not
/// a guess: it is refused like any other word.
fn boolean(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError {
            name,
            message: format!("{value:?} is not true or false"),
        }),
    }
}

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError {
        name,
        message: format!("{value:?} is not a whole number"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_settings_and_defaults() {
        let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
        let config = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", topic),
            (
                "ALLOWED_INVOKERS",
                "s3.amazonaws.com, events.amazonaws.com,",
            ),
            ("MAX_RECORD_BYTES", "1024"),
        ]))
        .expect("valid");
        assert_eq!(config.topic_arn, topic);
        assert_eq!(
            config.rules.allowed_invokers,
            ["s3.amazonaws.com", "events.amazonaws.com"]
        );
        assert_eq!(config.limits.max_record_bytes, 1024);
        let defaults = LambdaConfig::from_env(env(&[("ALERT_TOPIC_ARN", topic)])).expect("valid");
        assert_eq!(defaults.rules.allowed_invokers, ["s3.amazonaws.com"]);
        assert_eq!(defaults.max_alerts, Some(DEFAULT_MAX_ALERTS));
        let unlimited = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", topic),
            ("MAX_ALERTS_PER_INVOCATION", "0"),
        ]))
        .expect("valid");
        assert_eq!(unlimited.max_alerts, None);
        assert_eq!(defaults.dedup_table, None);
        let dedup = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", topic),
            ("DEDUP_TABLE", " trailwatch-sent "),
            ("DEDUP_TTL_HOURS", "24"),
        ]))
        .expect("valid");
        assert_eq!(dedup.dedup_table.as_deref(), Some("trailwatch-sent"));
        assert_eq!(dedup.dedup_ttl.as_secs(), 24 * 3600);
    }

    /// One thread below about 1.25 vCPUs' worth of memory, two below
    /// 2.5, then as many as there are CPUs; outside Lambda (no memory
    /// size), or with one that does not parse, as many as there are CPUs.
    #[test]
    fn threads_follow_the_function_memory() {
        let topic = ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t");
        for (memory, threads) in [
            (Some("128"), 1),
            (Some("1769"), 1),
            (Some("2211"), 1),
            (Some("2212"), 2),
            (Some("3008"), 2),
            (Some("4422"), 2),
            (Some("4423"), 0),
            (Some("10240"), 0),
            (Some("18446744073709551615"), 0),
            (Some(" 512 "), 1),
            (Some("lots"), 0),
            (None, 0),
        ] {
            let mut pairs = vec![topic];
            pairs.extend(memory.map(|mb| ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb)));
            let config = LambdaConfig::from_env(env(&pairs)).expect("valid");
            assert_eq!(config.limits.threads, threads, "{memory:?}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let err = LambdaConfig::from_env(env(&[])).expect_err("missing");
        assert!(err
            .to_string()
            .starts_with("configuration: ALERT_TOPIC_ARN: must be set"));
        let err = LambdaConfig::from_env(env(&[("ALERT_TOPIC_ARN", "alerts")])).expect_err("bad");
        assert!(err.to_string().contains("is not an ARN"), "{err}");
        let err = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("MAX_RECORD_BYTES", "lots"),
        ]))
        .expect_err("bad number");
        assert!(err.to_string().contains("MAX_RECORD_BYTES"), "{err}");
        let err = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("RULES_S3_URI", "my-bucket/rules"),
        ]))
        .expect_err("bad uri");
        assert!(
            err.to_string().starts_with("configuration: RULES_S3_URI:"),
            "{err}"
        );
        let err = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("DEDUP_TABLE", "t"),
            ("DEDUP_TTL_HOURS", "0"),
        ]))
        .expect_err("zero ttl");
        assert!(
            err.to_string()
                .starts_with("configuration: DEDUP_TTL_HOURS:"),
            "{err}"
        );
        let err = LambdaConfig::from_env(env(&[
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("MIN_LEVEL", "severe"),
        ]))
        .expect_err("bad level");
        assert!(
            err.to_string().starts_with("configuration: MIN_LEVEL:"),
            "{err}"
        );
    }

    #[test]
    fn account_names_are_a_path_or_an_s3_object() {
        let topic = ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t");
        let config = |pairs: &[(&str, &str)]| LambdaConfig::from_env(env(pairs));
        assert_eq!(config(&[topic]).expect("valid").account_names, None);
        assert_eq!(
            config(&[topic, ("ACCOUNT_NAMES", " ")])
                .expect("valid")
                .account_names,
            None
        );
        let file = config(&[topic, ("ACCOUNT_NAMES", "accounts.yaml")]).expect("valid");
        assert_eq!(
            file.account_names,
            Some(NamesAt::File(PathBuf::from("accounts.yaml")))
        );
        let s3 = config(&[topic, ("ACCOUNT_NAMES", "s3://config/accounts.json")]).expect("valid");
        assert_eq!(
            s3.account_names.map(|at| at.to_string()).as_deref(),
            Some("s3://config/accounts.json")
        );
        assert!(!s3.account_names_from_organizations);
        let organizations = config(&[topic, ("ACCOUNT_NAMES_FROM_ORGANIZATIONS", "TRUE")]);
        assert!(
            organizations
                .expect("valid")
                .account_names_from_organizations
        );
        let err = config(&[topic, ("ACCOUNT_NAMES_FROM_ORGANIZATIONS", "yes")]).expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("configuration: ACCOUNT_NAMES_FROM_ORGANIZATIONS:"),
            "{err}"
        );
        let err = config(&[topic, ("ACCOUNT_NAMES", "s3://config/")]).expect_err("no key");
        assert_eq!(
            err.to_string(),
            "configuration: ACCOUNT_NAMES: \"s3://config/\" is not a file path or s3://bucket/key"
        );
    }

    #[test]
    fn digests_are_verified_unless_turned_off() {
        let topic = ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t");
        let config = |pairs: &[(&str, &str)]| LambdaConfig::from_env(env(pairs));
        assert!(config(&[topic]).expect("valid").verify_digests);
        for (value, want) in [("false", false), (" FALSE ", false), ("True", true)] {
            let got = config(&[topic, ("VERIFY_DIGESTS", value)]).expect("valid");
            assert_eq!(got.verify_digests, want, "{value:?}");
        }
        for bad in ["no", "0", ""] {
            let err = config(&[topic, ("VERIFY_DIGESTS", bad)]).expect_err("bad");
            assert_eq!(
                err.to_string(),
                format!("configuration: VERIFY_DIGESTS: {bad:?} is not true or false")
            );
        }
    }

    #[test]
    fn min_level_is_read_in_any_case() {
        use crate::rules::Level;
        for (value, want) in [
            ("high", Some(Level::High)),
            (" Medium ", Some(Level::Medium)),
            ("CRITICAL", Some(Level::Critical)),
            ("", None),
        ] {
            let config = LambdaConfig::from_env(env(&[
                ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
                ("MIN_LEVEL", value),
            ]))
            .expect("valid");
            assert_eq!(config.rules.min_level, want, "{value:?}");
        }
    }
}
