//! The built-in pack: every rule proves itself with its own examples, and
//! the behaviours the pack promises (configurable invokers, normalised
//! eventNames, disabling by id) hold through the real scan path.

use std::io::Cursor;

use serde_json::{json, Value};
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

fn pack(config: &RuleConfig) -> RuleSet {
    RuleSet::load(config).expect("the built-in pack loads")
}

/// Titles of the alerts one record raises, through the same path as a log.
fn titles(rules: &RuleSet, record: Value) -> Vec<String> {
    let log = json!({ "Records": [record] }).to_string();
    let mut titles = Vec::new();
    let report = scan(
        Cursor::new(log.into_bytes()),
        "test",
        rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |a| {
            titles.push(a.rule.title.clone());
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    titles
}

#[test]
fn every_builtin_rule_has_true_positive_and_true_negative_examples_that_pass() {
    let rules = pack(&RuleConfig::default());
    assert_eq!(rules.len(), 47);
    for rule in rules.rules() {
        let positives = rule.examples.iter().filter(|e| e.expect_match).count();
        let negatives = rule.examples.len() - positives;
        assert!(
            positives >= 1 && negatives >= 1,
            "{} needs both kinds",
            rule.meta.origin
        );
        let failures = rule.check_examples();
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(!rule.meta.description.is_empty(), "{}", rule.meta.origin);
        // The quick yes/no the scan asks and the full evaluation (with the
        // match's details, for thresholds) agree.
        for example in &rule.examples {
            assert_eq!(
                rule.matches(&example.event),
                rule.evaluate(&example.event).is_some(),
                "{} {}",
                rule.meta.origin,
                example.name
            );
        }
    }
    for threshold in rules.correlations().thresholds() {
        let positives = threshold.examples.iter().filter(|e| e.expect_match).count();
        assert!(
            positives >= 1 && threshold.examples.len() > positives,
            "{} needs both kinds",
            threshold.meta.origin
        );
    }
    let failures = rules.check_threshold_examples();
    assert!(failures.is_empty(), "{failures:#?}");
}

fn invoke(invoked_by: Option<&str>) -> Value {
    let mut identity = json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"});
    if let Some(service) = invoked_by {
        identity = json!({"type": "AWSService", "invokedBy": service});
    }
    json!({"eventID": "1", "eventSource": "lambda.amazonaws.com", "eventName": "Invoke",
           "eventCategory": "Data", "userIdentity": identity})
}

const INVOKE: &str = "Lambda Function Invoked By A Caller Other Than The Allowed Services";

#[test]
fn allowed_invokers_are_configurable() {
    let default = pack(&RuleConfig::default());
    assert_eq!(titles(&default, invoke(None)), [INVOKE]);
    assert!(titles(&default, invoke(Some("s3.amazonaws.com"))).is_empty());
    assert_eq!(
        titles(&default, invoke(Some("events.amazonaws.com"))),
        [INVOKE]
    );

    let widened = pack(&RuleConfig {
        allowed_invokers: vec!["s3.amazonaws.com".into(), "events.amazonaws.com".into()],
        ..RuleConfig::default()
    });
    assert!(titles(&widened, invoke(Some("events.amazonaws.com"))).is_empty());
    assert!(titles(&widened, invoke(Some("s3.amazonaws.com"))).is_empty());
    assert_eq!(
        titles(&widened, invoke(Some("sns.amazonaws.com"))),
        [INVOKE]
    );
    assert_eq!(titles(&widened, invoke(None)), [INVOKE]);
}

#[test]
fn the_required_detections_fire_on_versioned_and_plain_event_names() {
    let rules = pack(&RuleConfig::default());
    let user = json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bob"});
    let lambda_change = "Lambda Function Created, Modified, Deleted Or Its Permissions Changed";
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            None,
            lambda_change,
        ),
        (
            "lambda.amazonaws.com",
            "DeleteFunction",
            None,
            lambda_change,
        ),
        (
            "lambda.amazonaws.com",
            "UpdateFunctionCode20150331v2",
            None,
            lambda_change,
        ),
        (
            "lambda.amazonaws.com",
            "UpdateFunctionConfiguration20150331v2",
            None,
            lambda_change,
        ),
        (
            "lambda.amazonaws.com",
            "AddPermission20150331v2",
            None,
            lambda_change,
        ),
        (
            "lambda.amazonaws.com",
            "RemovePermission20150331v2",
            None,
            lambda_change,
        ),
        (
            "sns.amazonaws.com",
            "CreateTopic",
            None,
            "SNS Topic Created",
        ),
        (
            "cloudtrail.amazonaws.com",
            "StopLogging",
            None,
            "CloudTrail Logging Stopped, Deleted Or Reconfigured",
        ),
        (
            "cloudtrail.amazonaws.com",
            "PutEventSelectors",
            None,
            "CloudTrail Logging Stopped, Deleted Or Reconfigured",
        ),
        (
            "apigateway.amazonaws.com",
            "CreateDeployment",
            None,
            "API Gateway API, Stage, Deployment, Authorizer Or Integration Changed",
        ),
        (
            "apigateway.amazonaws.com",
            "DeleteAuthorizer",
            None,
            "API Gateway API, Stage, Deployment, Authorizer Or Integration Changed",
        ),
        (
            "lex.amazonaws.com",
            "CreateBotAlias",
            None,
            "Amazon Lex Bot, Alias Or Version Created, Updated Or Deleted",
        ),
        (
            "lex.amazonaws.com",
            "DeleteBotVersion",
            None,
            "Amazon Lex Bot, Alias Or Version Created, Updated Or Deleted",
        ),
        (
            "lambda.amazonaws.com",
            "GetFunction20150331",
            Some("AccessDeniedException"),
            "AWS API Call Denied By Authorization",
        ),
        (
            "s3.amazonaws.com",
            "GetObject",
            Some("AccessDenied"),
            "AWS API Call Denied By Authorization",
        ),
        (
            "ec2.amazonaws.com",
            "RunInstances",
            Some("Client.UnauthorizedOperation"),
            "AWS API Call Denied By Authorization",
        ),
    ];
    for (source, name, error, title) in cases {
        let mut record = json!({"eventID": name, "eventSource": source, "eventName": name, "userIdentity": user});
        if let Some(code) = error {
            record["errorCode"] = json!(code);
        }
        assert_eq!(
            titles(&rules, record),
            [*title],
            "{source} {name} {error:?}"
        );
    }
    for (source, name) in [
        ("lambda.amazonaws.com", "GetFunction20150331"),
        ("lambda.amazonaws.com", "ListFunctions20150331"),
        ("sns.amazonaws.com", "GetTopicAttributes"),
        ("apigateway.amazonaws.com", "GetResource"),
        ("lex.amazonaws.com", "DescribeBot"),
        ("cloudtrail.amazonaws.com", "DescribeTrails"),
    ] {
        let record = json!({"eventID": name, "eventSource": source, "eventName": name, "userIdentity": user});
        assert!(
            titles(&rules, record).is_empty(),
            "{source} {name} must not alert"
        );
    }
}

#[test]
fn root_identity_alerts_unless_a_service_acts() {
    let rules = pack(&RuleConfig::default());
    let root = |invoked_by: Option<&str>| {
        let mut identity = json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root"});
        if let Some(service) = invoked_by {
            identity["invokedBy"] = json!(service);
        }
        json!({"eventID": "r", "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": identity})
    };
    assert_eq!(
        titles(&rules, root(None)),
        ["AWS Account Root User Activity"]
    );
    assert!(titles(&rules, root(Some("cloudtrail.amazonaws.com"))).is_empty());
    // Reading as root is the lesser, read-only rule, however readOnly is spelt.
    for read_only in [json!(true), json!("true")] {
        let mut record = root(None);
        record["readOnly"] = read_only;
        assert_eq!(
            titles(&rules, record),
            ["AWS Account Root User Read-Only Activity"]
        );
    }
}

#[test]
fn a_change_that_failed_raises_no_change_alert() {
    let rules = pack(&RuleConfig::default());
    let user = json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/mallory"});
    let stop = |error: Option<&str>| {
        let mut record = json!({"eventID": "s", "eventSource": "cloudtrail.amazonaws.com",
                                "eventName": "StopLogging", "userIdentity": user,
                                "sourceIPAddress": "198.51.100.7"});
        if let Some(code) = error {
            record["errorCode"] = json!(code);
        }
        record
    };
    assert_eq!(
        titles(&rules, stop(None)),
        ["CloudTrail Logging Stopped, Deleted Or Reconfigured"]
    );
    let mut denied = titles(&rules, stop(Some("AccessDenied")));
    denied.sort();
    assert_eq!(
        denied,
        [
            "AWS API Call Denied By Authorization",
            "Denied Attempt To Stop Or Delete Security Logging Or Monitoring"
        ]
    );
    assert!(titles(&rules, stop(Some("TrailNotFoundException"))).is_empty());
}

#[test]
fn disabled_rules_are_left_out() {
    let rules = pack(&RuleConfig {
        disabled: vec!["3cbec818-8cf6-44d0-84fa-4b1b7f8d6246".into()],
        ..RuleConfig::default()
    });
    assert_eq!(rules.len(), 46);
    let record = json!({"eventSource": "sns.amazonaws.com", "eventName": "CreateTopic"});
    assert!(titles(&rules, record).is_empty());
}
