//! User rules kept in S3 (`RULES_S3_URI=s3://bucket/prefix`), read once per
//! cold start. Any rule that cannot be read stops the start: a detector must
//! not run silently without a rule its owner believes is on.

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::Client;

/// Where the rules are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Prefix {
    pub bucket: String,
    pub prefix: String,
}

impl S3Prefix {
    /// Parses `s3://bucket` or `s3://bucket/prefix`.
    pub fn parse(uri: &str) -> Option<S3Prefix> {
        let rest = uri.trim().strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Prefix {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{location}: cannot read rules: {message}")]
pub struct RulesFetchError {
    pub location: String,
    pub message: String,
}

/// Every `.yml`/`.yaml` object under the prefix, as (`s3://` origin, text),
/// in key order.
pub async fn fetch(
    client: &Client,
    at: &S3Prefix,
) -> Result<Vec<(String, String)>, RulesFetchError> {
    let listing = format!("s3://{}/{}", at.bucket, at.prefix);
    let fail = |location: &str, message: String| RulesFetchError {
        location: location.to_string(),
        message,
    };
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&at.prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| fail(&listing, DisplayErrorContext(&e).to_string()))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|object| object.key())
                .filter(|key| key.ends_with(".yml") || key.ends_with(".yaml"))
                .map(str::to_string),
        );
    }
    keys.sort();
    let mut rules = Vec::with_capacity(keys.len());
    for key in keys {
        let origin = format!("s3://{}/{key}", at.bucket);
        let text = get_text(client, &at.bucket, &key, usize::MAX)
            .await
            .map_err(|message| fail(&origin, message))?;
        rules.push((origin, text));
    }
    Ok(rules)
}

/// The UTF-8 text of one object of at most `max_bytes`; `Err` says what
/// went wrong (the caller names the object).
pub async fn get_text(
    client: &Client,
    bucket: &str,
    key: &str,
    max_bytes: usize,
) -> Result<String, String> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    let length = object.content_length().unwrap_or(0);
    if usize::try_from(length).map_or(true, |length| length > max_bytes) {
        return Err(format!("{length} bytes, more than the {max_bytes} read"));
    }
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .into_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let cases = [
            ("s3://rules", Some(("rules", ""))),
            ("s3://rules/", Some(("rules", ""))),
            ("s3://rules/team/aws", Some(("rules", "team/aws"))),
            ("rules/aws", None),
            ("s3://", None),
            ("s3:///x", None),
        ];
        for (uri, want) in cases {
            let got = S3Prefix::parse(uri);
            let got = got.as_ref().map(|p| (p.bucket.as_str(), p.prefix.as_str()));
            assert_eq!(got, want, "{uri}");
        }
    }
}
