//! `trailwatch rules lint`: rules that cannot match CloudTrail records are
//! reported with the file, the rule and the reason; rules that can are not.

use std::process::Command;

use trailwatch::rules::{RuleConfig, RuleSet};

/// A rule file around one detection section.
fn rule(detection: &str) -> String {
    format!(
        "title: Linted
id: 0e4bd0a0-0000-4000-8000-000000000001
logsource: {{product: aws, service: cloudtrail}}
detection:
{detection}
"
    )
}

/// What lint says of a rule: one line per problem.
fn lint(text: &str) -> Vec<String> {
    let rules = RuleSet::load(&RuleConfig {
        texts: vec![("user/linted.yml".to_string(), text.to_string())],
        ..RuleConfig::default()
    })
    .expect("a rule that cannot match still loads");
    rules.lint().iter().map(ToString::to_string).collect()
}

const PREFIX: &str = "user/linted.yml (0e4bd0a0-0000-4000-8000-000000000001) \"Linted\": ";

#[test]
fn problems_are_named_with_file_rule_field_and_reason() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "a field CloudTrail never writes",
            "  sel:\n    status: success\n  condition: sel",
            Some("field \"status\" is not in CloudTrail records, so \"sel\" never matches"),
        ),
        (
            "a field in the wrong case",
            "  sel:\n    EventName: CreateUser\n  condition: sel",
            Some("field \"EventName\" is not in CloudTrail records, so \"sel\" never matches (did you mean \"eventName\"?)"),
        ),
        (
            "a path below a plain value",
            "  sel:\n    userIdentity.arn.name: x\n  condition: sel",
            Some("field \"userIdentity.arn.name\" is not in CloudTrail records"),
        ),
        (
            "an IAM action where the API name belongs",
            "  sel:\n    eventName: 'iam:CreateUser'\n  condition: sel",
            Some("eventName is never \"iam:CreateUser\" (event names are bare API names"),
        ),
        (
            "a service name without its hostname",
            "  sel:\n    eventSource: iam\n  condition: sel",
            Some("eventSource is never \"iam\" (event sources are service hostnames"),
        ),
        (
            "an identity type CloudTrail does not use",
            "  sel:\n    userIdentity.type|startswith: Admin\n  condition: sel",
            Some("userIdentity.type is never \"Admin\" (CloudTrail's identity types)"),
        ),
        (
            "a boolean compared with a word",
            "  sel:\n    readOnly: 'no'\n  condition: sel",
            Some("readOnly is never \"no\" (true or false)"),
        ),
        (
            "a region without its number",
            "  sel:\n    awsRegion: us-east\n  condition: sel",
            Some("awsRegion is never \"us-east\" (regions look like us-east-1)"),
        ),
        (
            "an account id of the wrong length",
            "  sel:\n    recipientAccountId: '12345'\n  condition: sel",
            Some("recipientAccountId is never \"12345\" (account ids are 12 digits)"),
        ),
        (
            "a field reference to a missing field",
            "  sel:\n    userIdentity.userName|fieldref: username\n  condition: sel",
            Some("field \"username\" is not in CloudTrail records"),
        ),
        (
            "service-specific parameters may be anything",
            "  sel:\n    requestParameters.bucketPolicy.Statement.Principal: '*'\n    eventType: 'AwsApi*'\n    readOnly: 'false'\n  condition: sel",
            None,
        ),
        (
            "an absent field (null) is not a problem",
            "  sel:\n    eventName: CreateUser\n    status: null\n  condition: sel",
            None,
        ),
        (
            "a value list holding null matches an absent field: not \"never matches\"",
            "  sel:\n    eventName: CreateUser\n    status: ['x', null]\n    errorCode: ['Success', null]\n  condition: sel",
            None,
        ),
        (
            "array members are checked against their own fields",
            "  sel:\n    resources[any]:\n      ARN|endswith: ':key/1'\n      type: AWS::KMS::Key\n  condition: sel\nsigma-version: 3",
            None,
        ),
        (
            "a mistyped field inside an array block",
            "  sel:\n    resources[any]:\n      arn: x\n  condition: sel\nsigma-version: 3",
            Some("field \"resources.arn\" is not in CloudTrail records, so \"sel\" never matches (did you mean \"resources.ARN\"?)"),
        ),
        (
            "trailwatch's derived fields are known",
            "  sel:\n    eventName: PutBucketPolicy\n    trailwatch.public_grant: true\n    trailwatch.public_via: [policy-principal, canned-acl]\n    trailwatch.grant_resource: s3-*\n    trailwatch.shared_with_accounts|exists: true\n  condition: sel",
            None,
        ),
        (
            "a mistyped derived field",
            "  sel:\n    trailwatch.public_grants: true\n  condition: sel",
            Some("field \"trailwatch.public_grants\" is not in CloudTrail records, so \"sel\" never matches (trailwatch's derived fields are trailwatch.public_grant, trailwatch.public_via, trailwatch.grant_resource, trailwatch.shared_with_accounts)"),
        ),
        (
            "a way of granting trailwatch does not name",
            "  sel:\n    trailwatch.public_via: bucket-policy\n  condition: sel",
            Some("trailwatch.public_via is never \"bucket-policy\" (the ways trailwatch tells a public grant"),
        ),
        (
            "a resource kind trailwatch does not name",
            "  sel:\n    trailwatch.grant_resource: s3\n  condition: sel",
            Some("trailwatch.grant_resource is never \"s3\" (the resource kinds trailwatch names"),
        ),
        (
            "an array block in a rule without sigma-version 3",
            "  sel:\n    resources[any]:\n      ARN: x\n  condition: sel",
            Some("field \"resources[any]\" is not in CloudTrail records, so \"sel\" never matches ([any] and [all] select array members only in rules with `sigma-version: 3`)"),
        ),
    ];
    for (what, detection, want) in cases {
        let found = lint(&rule(detection));
        match want {
            None => assert!(found.is_empty(), "{what}: {found:#?}"),
            Some(want) => {
                assert_eq!(found.len(), 1, "{what}: {found:#?}");
                assert!(
                    found[0].starts_with(PREFIX) && found[0].contains(want),
                    "{what}: {}",
                    found[0]
                );
            }
        }
    }
}

#[test]
fn a_rule_for_other_logs_is_reported() {
    let text = rule("  sel:\n    eventName: CreateUser\n  condition: sel").replace(
        "{product: aws, service: cloudtrail}",
        "{product: windows, category: process_creation}",
    );
    assert_eq!(
        lint(&text),
        [format!("{PREFIX}logsource product: windows, service: - is not CloudTrail (product: aws, service: cloudtrail)")]
    );
}

#[test]
fn the_builtin_pack_is_clean_and_sigmahq_has_one_rule_that_cannot_match() {
    let builtin = RuleSet::load(&RuleConfig::default()).expect("built-in pack");
    assert!(builtin.lint().is_empty(), "{:#?}", builtin.lint());

    let sigmahq = RuleSet::load(&RuleConfig {
        dirs: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigmahq").into()],
        ..RuleConfig::default()
    })
    .expect("SigmaHQ rules load");
    let found: Vec<(&str, String)> = sigmahq
        .lint()
        .iter()
        .map(|f| (f.rule_id.as_str(), f.problem.to_string()))
        .collect();
    // SigmaHQ's SAML provider deletion rule requires `status: success`, a
    // field CloudTrail records do not have: as written it never fires.
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, "ccd6a6c8-bb4e-4a91-9d2a-07e632819374");
}

#[test]
fn disabled_rules_are_not_reported() {
    let rules = RuleSet::load(&RuleConfig {
        texts: vec![(
            "user/linted.yml".to_string(),
            rule("  sel:\n    status: success\n  condition: sel"),
        )],
        disabled: vec!["0e4bd0a0-0000-4000-8000-000000000001".to_string()],
        ..RuleConfig::default()
    })
    .expect("rules load");
    assert!(rules.lint().is_empty());
}

#[test]
fn the_command_prints_each_problem_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yml"),
        rule("  sel:\n    status: success\n  condition: sel"),
    )
    .expect("write rule");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trailwatch"))
            .args(args)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .expect("run trailwatch")
    };
    let dir_arg = dir.path().to_str().expect("utf-8 path");
    let bad = run(&["rules", "lint", "--rules", dir_arg]);
    assert_eq!(bad.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.contains("bad.yml (0e4bd0a0-0000-4000-8000-000000000001) \"Linted\": field \"status\" is not in CloudTrail records"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 cannot match CloudTrail as written"));

    let clean = run(&["rules", "lint"]);
    assert_eq!(clean.status.code(), Some(0), "{:?}", clean);
}
