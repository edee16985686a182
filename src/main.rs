//! The one binary: under the Lambda runtime (no arguments and
//! `AWS_LAMBDA_RUNTIME_API` set) it serves Lambda events; otherwise it is the
//! command-line tool.

mod cli;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;
use trailwatch::alert::AccountNames;
use trailwatch::config::LambdaConfig;
use trailwatch::dedup::dynamodb::DynamoLedger;
use trailwatch::dedup::Ledger;
use trailwatch::lambda::metrics::{EmfWriter, MetricsConfig, MetricsSink, NoMetrics};
use trailwatch::lambda::{DigestCheck, Handler};
use trailwatch::rules::RuleSet;
use trailwatch::sink::sns::SnsSink;
use trailwatch::source::digests::{CloudTrailKeys, S3Digests};
use trailwatch::source::organizations;
use trailwatch::source::s3::S3Store;

fn main() -> ExitCode {
    let under_lambda =
        std::env::args_os().len() == 1 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if under_lambda {
        lambda_main()
    } else {
        cli::run()
    }
}

fn lambda_main() -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A function that cannot load its configuration or rules must
            // not run without them: fail the init, loudly.
            tracing::error!("trailwatch stopped: {err}");
            ExitCode::FAILURE
        }
    }
}

/// JSON lines as Lambda's JSON log format expects them: `timestamp`
/// (RFC 3339), `level`, `message` and the event's fields at the top level,
/// and the invocation's `requestId` under `span`.
fn init_logging() {
    let env = |name| std::env::var(name).ok();
    let (filter, problem) = log_filter(
        env("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        env("RUST_LOG").as_deref(),
    );
    if let Err(err) = json_logs(filter, std::io::stdout).try_init() {
        eprintln!("trailwatch: logging could not be set up: {err}");
    }
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
}

fn json_logs<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// Lambda's application log level (`AWS_LAMBDA_LOG_LEVEL`, from the
/// function's logging configuration) comes first: Lambda drops the lines
/// below it anyway. Without it, `RUST_LOG` (directives such as
/// `trailwatch=debug,info`); without either, info. A value that cannot be
/// used is reported, and info used instead.
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let info = || EnvFilter::new("info");
    if let Some(level) = lambda_level.map(str::trim).filter(|l| !l.is_empty()) {
        return match lambda_directive(level) {
            Some(directive) => (EnvFilter::new(directive), None),
            None => (
                info(),
                Some(format!(
                    "AWS_LAMBDA_LOG_LEVEL {level:?} is not TRACE, DEBUG, INFO, WARN, ERROR or FATAL; logging at INFO"
                )),
            ),
        };
    }
    match rust_log.map(str::trim).filter(|l| !l.is_empty()) {
        None => (info(), None),
        Some(directives) => match EnvFilter::try_new(directives) {
            Ok(filter) => (filter, None),
            Err(err) => (
                info(),
                Some(format!(
                    "RUST_LOG {directives:?} cannot be used ({err}); logging at INFO"
                )),
            ),
        },
    }
}

/// Lambda's levels as `tracing` directives; FATAL has no `tracing` level
/// of its own, ERROR is the closest.
fn lambda_directive(level: &str) -> Option<&'static str> {
    let directive = match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => return None,
    };
    Some(directive)
}

/// EMF lines on stdout, unless `METRICS_NAMESPACE` is empty.
fn metrics_sink() -> Result<Arc<dyn MetricsSink>, String> {
    let sink: Arc<dyn MetricsSink> = match MetricsConfig::from_env(|name| std::env::var(name).ok())?
    {
        Some(config) => {
            tracing::info!(namespace = %config.namespace, "metrics in the embedded metric format");
            Arc::new(EmfWriter::new(config, Box::new(std::io::stdout())))
        }
        None => {
            tracing::info!("METRICS_NAMESPACE is empty: no metrics");
            Arc::new(NoMetrics)
        }
    };
    Ok(sink)
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    let mut config = LambdaConfig::from_env(|name| std::env::var(name).ok())?;
    let metrics = metrics_sink()?;
    let sdk = trailwatch::aws::sdk_config().await;
    let s3 = trailwatch::aws::s3_client(&sdk);
    if let Some(at) = &config.rules_s3 {
        config.rules.texts = trailwatch::source::rules_s3::fetch(&s3, at).await?;
    }
    let rules = RuleSet::load(&config.rules)?;
    // Rules that cannot match still load (Sigma allows them), but their
    // owner should hear that they are off.
    for finding in rules.lint() {
        tracing::warn!(rule_id = %finding.rule_id, origin = %finding.origin, "rule cannot match CloudTrail: {}", finding.problem);
    }
    let names = Arc::new(account_names(&config, &sdk, &s3).await);
    let handler = Arc::new(Handler {
        store: Arc::new(S3Store::new(s3.clone())),
        sink: Arc::new(
            SnsSink::new(trailwatch::aws::sns_client(&sdk), config.topic_arn.clone())
                .with_account_names(Arc::clone(&names)),
        ),
        rules: Arc::new(rules),
        limits: config.limits,
        deadline_margin: config.deadline_margin,
        max_alerts: config.max_alerts,
        ledger: config.dedup_table.clone().map(|table| {
            let client = trailwatch::aws::dynamodb_client(&sdk);
            Arc::new(DynamoLedger::new(client, table, config.dedup_ttl)) as Arc<dyn Ledger>
        }),
        digests: config.verify_digests.then(|| {
            // The seams call the SDK from the verifier's blocking thread,
            // on this runtime.
            let runtime = tokio::runtime::Handle::current();
            DigestCheck {
                store: Arc::new(S3Digests::new(s3.clone(), runtime.clone())),
                keys: Arc::new(CloudTrailKeys::new(
                    trailwatch::aws::cloudtrail_client(&sdk),
                    runtime,
                )),
            }
        }),
    });
    tracing::info!(rules = handler.rules.len(), account_names = names.len(), topic = %config.topic_arn, dedup_table = config.dedup_table.as_deref().unwrap_or("none"), verify_digests = config.verify_digests, "ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        let metrics = Arc::clone(&metrics);
        async move {
            let deadline = instant_of(event.context.deadline);
            handler
                .handle_with_metrics(&event.payload, deadline, metrics.as_ref())
                .await
                .map(|response| response.to_json())
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

/// The account names of AWS Organizations (when asked for) and of
/// `ACCOUNT_NAMES`, which wins where both name an account. They only make
/// alerts easier to read: a source that cannot be read is logged, and the
/// function runs without its names.
async fn account_names(
    config: &LambdaConfig,
    sdk: &aws_config::SdkConfig,
    s3: &aws_sdk_s3::Client,
) -> AccountNames {
    let mut names = AccountNames::default();
    if config.account_names_from_organizations {
        let client = trailwatch::aws::organizations_client(sdk);
        match organizations::account_names(&client, organizations::LIST_TIMEOUT).await {
            Ok(listed) => names.extend(listed),
            Err(err) => tracing::warn!("account names not loaded (AWS Organizations): {err}"),
        }
    }
    if let Some(at) = &config.account_names {
        match at.load(Some(s3)).await {
            Ok(file) => names.extend(file),
            Err(err) => tracing::warn!("account names not loaded (ACCOUNT_NAMES): {err}"),
        }
    }
    names
}

/// Lambda's deadline (milliseconds since the epoch) as an `Instant`. A
/// deadline already past when the invocation starts says more about the
/// clock (a local emulator, a clock that jumped) than about the time left:
/// then the invocation runs without one, and says so.
fn instant_of(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if deadline_ms <= now_ms {
        tracing::warn!(
            deadline_ms,
            now_ms,
            "the runtime's deadline is already past; reading without one"
        );
        return None;
    }
    Some(Instant::now() + Duration::from_millis(deadline_ms - now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;
    use trailwatch::lambda::metrics::MemoryWriter;

    #[test]
    fn lambda_s_log_level_comes_first() {
        let cases: [(Option<&str>, Option<&str>, LevelFilter, bool); 9] = [
            (None, None, LevelFilter::INFO, false),
            (Some("DEBUG"), Some("error"), LevelFilter::DEBUG, false),
            (Some("warn"), None, LevelFilter::WARN, false),
            (Some("FATAL"), None, LevelFilter::ERROR, false),
            (Some("TRACE"), None, LevelFilter::TRACE, false),
            (Some("LOUD"), Some("debug"), LevelFilter::INFO, true),
            (Some(" "), Some("warn"), LevelFilter::WARN, false),
            (
                None,
                Some("trailwatch=debug,error"),
                LevelFilter::DEBUG,
                false,
            ),
            (None, Some("trailwatch=[{"), LevelFilter::INFO, true),
        ];
        for (lambda, rust_log, want, reported) in cases {
            let (filter, problem) = log_filter(lambda, rust_log);
            assert_eq!(
                filter.max_level_hint(),
                Some(want),
                "{lambda:?} {rust_log:?}"
            );
            assert_eq!(
                problem.is_some(),
                reported,
                "{lambda:?} {rust_log:?}: {problem:?}"
            );
        }
    }

    #[test]
    fn a_log_line_is_one_flat_json_object() {
        let buffer = MemoryWriter::default();
        let writer = buffer.clone();
        let subscriber = json_logs(EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "req-1");
            let _entered = span.enter();
            tracing::info!(bucket = "logs", records = 3u64, "object read");
            tracing::debug!("not at info");
        });
        let text = buffer.text();
        let lines: Vec<&str> = text.lines().collect();
        let [line] = lines.as_slice() else {
            panic!("one line: {text}");
        };
        let line: Value = serde_json::from_str(line).unwrap_or_default();
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "object read", "{line}");
        assert_eq!(line["bucket"], "logs", "{line}");
        assert_eq!(line["records"], 3, "{line}");
        assert_eq!(line["span"]["requestId"], "req-1", "{line}");
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "RFC 3339: {line}"
        );
        assert!(
            line.get("fields").is_none() && line.get("target").is_none(),
            "{line}"
        );
    }
}
