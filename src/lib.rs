//! trailwatch: CloudTrail alerting.
//!
//! A CloudTrail log object (from S3 or a file) is streamed, decompressed and
//! split into records one at a time ([`pipeline`]); each record's head is
//! read ([`record`], over the generic JSON of [`json`]) to pick the Sigma
//! rules ([`rules`]) that may match it, which are evaluated on it; matches
//! become [`alert::Alert`]s, published to SNS ([`sink`]) by the Lambda
//! function ([`lambda`]) or printed by the CLI. The core (`json`, `record`,
//! `rules`, `alert`, `pipeline`) has no AWS dependency; the SDK appears
//! only in the adapters ([`source`], [`sink`], [`dedup`], [`backfill`], [`aws`]). [`digest`]
//! verifies CloudTrail's signed hourly digest files, a layer of its own; the
//! function verifies each digest as it arrives through S3 and CloudTrail
//! adapters ([`source::digests`]); the CLI does not yet. The README's "Layout"
//! draws the layers.

pub mod alert;
pub mod aws;
pub mod backfill;
pub mod config;
pub mod dedup;
pub mod digest;
pub mod generate;
pub mod json;
pub mod lambda;
pub mod object;
pub mod pipeline;
pub mod record;
pub mod rules;
pub mod sink;
pub mod source;
pub mod summary;
pub mod trigger;
