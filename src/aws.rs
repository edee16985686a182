//! AWS clients, built once per cold start. They honour `AWS_ENDPOINT_URL`
//! (and `AWS_ENDPOINT_URL_S3`), which is how tests and local runs reach a
//! moto server instead of AWS.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// An S3 client; path-style addressing when a custom endpoint is set, since
/// local servers do not resolve `bucket.host` names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

pub fn sns_client(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// CloudTrail, for `ListPublicKeys` (the keys that sign digest files).
pub fn cloudtrail_client(config: &SdkConfig) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(config)
}

/// AWS Organizations, for `ListAccounts` (account names).
pub fn organizations_client(config: &SdkConfig) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(config)
}
