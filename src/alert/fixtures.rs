//! The alert and record the alert module's tests start from.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::rules::{Level, RuleMeta};

pub fn rule() -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: "rule-1".into(),
        title: "Lambda function invoked by a principal other than S3".into(),
        level: Level::High,
        description: "Why.\nSecond line of why.".into(),
        falsepositives: vec!["Tests".into()],
        references: vec!["https://example.com".into()],
        tags: vec![],
        author: Some("Jane Doe".into()),
        origin: "builtin/x.yml".into(),
    })
}

pub fn event() -> Value {
    json!({
        "eventID": "e-1", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
        "eventTime": "2026-11-23T08:15:02Z", "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.22.5", "userIdentity": {"type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/alice", "accessKeyId": "AKIAEXAMPLE"},
        "requestParameters": {"functionName": "f", "invocationType": "RequestResponse"},
        "errorCode": "AccessDenied", "errorMessage": "not allowed",
        "resources": [{"type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:123456789012:function:f"}]
    })
}
