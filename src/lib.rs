//! trailwatch: CloudTrail alerting.
//!
//! A CloudTrail log object (from S3 or a file) is streamed, decompressed and
//! split into records one at a time ([`logfile`]); each record is evaluated
//! against Sigma rules ([`rules`]) with its eventName normalised
//! ([`record`]); matches become [`alert::Alert`]s, published to SNS
//! ([`sink`]) by the Lambda function ([`lambda`]) or printed by the CLI.
//! The core ([`pipeline`]) has no AWS dependency; the SDK appears only in
//! [`source::s3`], [`sink::sns`] and [`aws`].

pub mod alert;
pub mod aws;
pub mod backfill;
pub mod config;
pub mod dedup;
pub mod generate;
pub mod json;
pub mod lambda;
pub mod object;
pub mod pipeline;
pub mod record;
pub mod rules;
pub mod sink;
pub mod source;
pub mod trigger;
