//! The one binary: under the Lambda runtime (no arguments and
//! `AWS_LAMBDA_RUNTIME_API` set) it serves Lambda events; otherwise it is the
//! command-line tool.

mod cli;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use trailwatch::config::LambdaConfig;
use trailwatch::dedup::dynamodb::DynamoLedger;
use trailwatch::dedup::Ledger;
use trailwatch::lambda::Handler;
use trailwatch::rules::RuleSet;
use trailwatch::sink::sns::SnsSink;
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
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_current_span(false)
        .init();
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

async fn serve() -> Result<(), lambda_runtime::Error> {
    let mut config = LambdaConfig::from_env(|name| std::env::var(name).ok())?;
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
    let handler = Arc::new(Handler {
        store: Arc::new(S3Store::new(s3)),
        sink: Arc::new(SnsSink::new(
            trailwatch::aws::sns_client(&sdk),
            config.topic_arn.clone(),
        )),
        rules: Arc::new(rules),
        limits: config.limits,
        deadline_margin: config.deadline_margin,
        max_alerts: config.max_alerts,
        ledger: config.dedup_table.clone().map(|table| {
            let client = trailwatch::aws::dynamodb_client(&sdk);
            Arc::new(DynamoLedger::new(client, table, config.dedup_ttl)) as Arc<dyn Ledger>
        }),
    });
    tracing::info!(rules = handler.rules.len(), topic = %config.topic_arn, dedup_table = config.dedup_table.as_deref().unwrap_or("none"), "ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move {
            let deadline = instant_of(event.context.deadline);
            handler
                .handle_until(&event.payload, deadline)
                .await
                .map(|response| response.to_json())
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
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
