//! Verdicts written by others: StreamAlert's CloudTrail rule tests.
//!
//! airbnb/streamalert ships, for each of its CloudTrail rules, test cases:
//! a record and the rules it must trigger (`trigger_rules`, empty for a
//! case that must stay quiet). tests/data/streamalert/ holds the files (see
//! tests/data/README.md). For each StreamAlert rule whose intent the
//! built-in pack shares, `SHARED` names the trailwatch rules of that intent;
//! every case of the rule's file is scanned through the real scan path and
//! trailwatch must alert with one of those rules exactly when StreamAlert
//! expects its rule to trigger. Rules whose intent the pack does not share
//! are in `NOT_SHARED`, with the reason; a case trailwatch decides
//! otherwise, on purpose, is in `DISAGREE`, asserted to still disagree.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;

use serde_json::Value;
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

/// StreamAlert rule -> the built-in rules of the same intent.
const SHARED: &[(&str, &[&str])] = &[
    (
        "cloudtrail_critical_api_calls",
        &[
            "05d49e8a-cef6-454b-b913-7d87b1414f69", // CloudTrail Logging Stopped, Deleted Or Reconfigured
            "b0a0c808-4fb6-44fc-8c6a-f7343a222aa4", // AWS Config Recording Stopped Or Deleted
            "8e901043-a0e3-46a1-a850-a3c4fd467e8e", // VPC Flow Logs Deleted
            "76292bd1-15de-4e7e-ba1d-03dafb7bc9bc", // GuardDuty Detector Deleted, Disabled...
            "f6ef3abb-c212-473d-922c-993c4d69c0a0", // S3 Block Public Access Removed Or Weakened
            "8f0f618c-a6fc-45bd-96cc-02bde204da68", // RDS Database Cluster Or Instance Deleted
        ],
    ),
    (
        "cloudtrail_root_account_usage",
        &[
            "3bbc2b3c-8c77-4516-900a-3088aea7cbe8", // AWS Account Root User Activity
            "94a0cc45-7b7d-4c44-a136-8d80d6a58bcf", // ... Read-Only Activity
        ],
    ),
    (
        "public_ami",
        &["e450fd38-5802-48ba-bd35-e7dbb2bb75c2"], // EBS Snapshot, AMI Or RDS Snapshot Made Public
    ),
    (
        "cloudtrail_snapshot_or_ami_made_public",
        &["e450fd38-5802-48ba-bd35-e7dbb2bb75c2"],
    ),
    (
        "cloudtrail_mfa_policy_abuse_attempt",
        &[
            "b5e27c76-ceba-4579-a203-e79ecb7bdf1a", // IAM MFA Device Deactivated Or Deleted From A Session Without MFA
            "720f833e-5c37-4523-bdb2-159eb04d0b50", // MFA Device Change Failed From A Session Without MFA
        ],
    ),
    (
        "cloudtrail_network_acl_ingress_anywhere",
        &["18ca009c-141c-4134-a3d5-2ec887667c17"], // Network ACL Entry Allows Ingress From The Internet
    ),
    (
        "cloudtrail_public_resources",
        &[
            "488722b5-a224-4c29-9cd2-675f01627931", // Resource Policy Grants Public Access
            "334bcf24-b445-48aa-80ba-7013425342fb", // S3 Bucket Policy Or ACL Grants Public Access
        ],
    ),
    (
        "cloudtrail_put_bucket_acl",
        &["334bcf24-b445-48aa-80ba-7013425342fb"],
    ),
    (
        "cloudtrail_put_object_acl_public",
        &["334bcf24-b445-48aa-80ba-7013425342fb"],
    ),
    (
        "cloudtrail_put_object_acl_public_publisher_example",
        &["334bcf24-b445-48aa-80ba-7013425342fb"],
    ),
    (
        "cloudtrail_security_group_ingress_anywhere",
        &["9e761749-962f-4cee-be80-100c34612928"], // Security Group Ingress Opened To The Internet
    ),
];

/// StreamAlert rules whose intent the pack does not share, and why.
const NOT_SHARED: &[(&str, &str)] = &[
    (
        "unencrypted_ami_volume",
        "an AMI created with an unencrypted volume is a configuration finding (AWS Config's \
         encrypted-volumes rule, a CSPM), not an attack; the pack alerts on AMIs made public",
    ),
    (
        "config_compliance",
        "AWS Config evaluations (PutEvaluations) reporting NON_COMPLIANT resources: compliance \
         posture, which Config and Security Hub report themselves",
    ),
    (
        "config_auto_remediation",
        "AWS Config running its own remediation (an SSM automation started by config.amazonaws.com): \
         AWS acting on the account's own configuration, not a person",
    ),
];

/// Cases trailwatch decides otherwise, on purpose: (file, description, why).
const DISAGREE: &[(&str, &str, &str)] = &[
    (
        "cloudtrail_critical_api_calls.json",
        "Deleting an AWS subnet (DeleteSubnet) will create an alert.",
        "AWS refuses DeleteSubnet while anything still runs in the subnet (DependencyViolation), so \
         a success removes an empty network; what mattered (instances terminated, databases \
         deleted, flow logs removed) raised its own alerts before it",
    ),
    (
        "cloudtrail_critical_api_calls.json",
        "Deleting an AWS VPC (DeleteVpc) will create an alert.",
        "the same: DeleteVpc succeeds only once the VPC has no subnets, gateways or interfaces left",
    ),
    (
        "cloudtrail_put_object_acl_public.json",
        "A PutObjectAcl call from the AWS Console with AllUsers or AuthenticatedUsers should create an alert.",
        "the anonymised record's eventSource is the placeholder \"...\"; trailwatch reads a grant \
         from the service that logged the call (s3.amazonaws.com in every real record), and with \
         that eventSource it alerts",
    ),
    (
        "cloudtrail_put_object_acl_public.json",
        "A PutObjectAcl call via the S3 API with AllUsers or AuthenticatedUsers should create an alert.",
        "the same placeholder eventSource",
    ),
    (
        "cloudtrail_put_object_acl_public_publisher_example.json",
        "A PutObjectAcl alert to demonstrate the testing of publishers",
        "the same placeholder eventSource",
    ),
];

/// StreamAlert's allowlist for its PutObjectAcl rule is its site
/// configuration; trailwatch's is a team's filter file, as here.
const ALLOWLIST_FILTER: &str = r#"
title: StreamAlert's allow-listed public bucket
logsource: {product: aws, service: cloudtrail}
filter:
    rules: [334bcf24-b445-48aa-80ba-7013425342fb]
    allowed_bucket:
        requestParameters.bucketName: example-bucket-to-ignore
    condition: not allowed_bucket
"#;

struct Case {
    file: String,
    description: String,
    triggers: Vec<String>,
    records: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/streamalert");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for case in doc
            .as_array()
            .unwrap_or_else(|| panic!("{name}: not a list"))
        {
            let description = case["description"].as_str().unwrap_or("-").to_string();
            let triggers = case["trigger_rules"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} / {description}: no trigger_rules"))
                .iter()
                .map(|r| r.as_str().expect("rule name").to_string())
                .collect();
            // cloudtrail:events cases carry a log object; cloudwatch:events
            // cases the EventBridge event, whose `detail` is the record.
            let records = match case["log"].as_str() {
                Some("cloudtrail:events") => case["data"]["Records"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name} / {description}: no Records"))
                    .clone(),
                Some("cloudwatch:events") => vec![case["data"]["detail"].clone()],
                other => panic!("{name} / {description}: log {other:?}"),
            };
            out.push(Case {
                file: name.clone(),
                description,
                triggers,
                records,
            });
        }
    }
    out
}

/// The rules each alert came from, for one case through the scan path.
fn alerts(rules: &RuleSet, records: &[Value]) -> BTreeSet<String> {
    let log = serde_json::json!({ "Records": records }).to_string();
    let mut hits = BTreeSet::new();
    let report = scan(
        Cursor::new(log.into_bytes()),
        "streamalert",
        rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            hits.insert(finding.alert().rule_id);
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.records as usize, records.len());
    hits
}

/// The StreamAlert rules a file tests: those its cases trigger, else the
/// rule named like the file.
fn rules_of_file(cases: &[Case], file: &str) -> BTreeSet<String> {
    let mut named: BTreeSet<String> = cases
        .iter()
        .filter(|c| c.file == file)
        .flat_map(|c| c.triggers.iter().cloned())
        .collect();
    if named.is_empty() {
        named.insert(file.trim_end_matches(".json").to_string());
    }
    named
}

#[test]
fn trailwatch_alerts_where_streamalert_expects_its_rules_to_trigger() {
    let rules = RuleSet::load(&RuleConfig {
        texts: vec![(
            "streamalert-allowlist.yml".to_string(),
            ALLOWLIST_FILTER.to_string(),
        )],
        ..RuleConfig::default()
    })
    .expect("the built-in pack and the allowlist filter load");
    let loaded: BTreeSet<&str> = rules.rules().iter().map(|r| r.meta.id.as_str()).collect();
    for (rule, ids) in SHARED {
        for id in *ids {
            assert!(loaded.contains(id), "{rule}: {id} is not a built-in rule");
        }
    }

    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut compared = 0;
    let mut agreeing = 0;
    let mut wrong = Vec::new();
    let mut still_disagreeing = BTreeSet::new();
    let mut unaccounted = BTreeSet::new();
    for case in &cases {
        let hits = alerts(&rules, &case.records);
        for rule in rules_of_file(&cases, &case.file) {
            let Some((_, ids)) = SHARED.iter().find(|(name, _)| *name == rule) else {
                if !NOT_SHARED.iter().any(|(name, _)| *name == rule) {
                    unaccounted.insert(rule);
                }
                continue;
            };
            compared += 1;
            let expected = case.triggers.contains(&rule);
            let fired: Vec<&String> = hits
                .iter()
                .filter(|id| ids.contains(&id.as_str()))
                .collect();
            let alerted = !fired.is_empty();
            let agrees = expected == alerted;
            let known = DISAGREE.iter().any(|(file, description, _)| {
                *file == case.file && *description == case.description
            });
            if agrees {
                agreeing += 1;
            }
            match (agrees, known) {
                (true, true) => {}
                (false, true) => {
                    still_disagreeing.insert((case.file.clone(), case.description.clone()));
                }
                (false, false) => wrong.push(format!(
                    "{} / {:?}: StreamAlert expects {rule} {}, trailwatch alerted with {fired:?} (all alerts: {hits:?})",
                    case.file,
                    case.description,
                    if expected { "to trigger" } else { "to stay quiet" },
                )),
                (true, false) => {}
            }
        }
    }
    eprintln!("StreamAlert agreement: {agreeing} of {compared} cases compared");
    assert!(
        unaccounted.is_empty(),
        "StreamAlert rules neither shared nor listed: {unaccounted:?}"
    );
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // A listed disagreement that went away is removed from the list.
    for (file, description, _) in DISAGREE {
        assert!(
            still_disagreeing.contains(&(file.to_string(), description.to_string())),
            "{file} / {description:?} is listed in DISAGREE but trailwatch now agrees"
        );
    }
    assert_eq!(agreeing + DISAGREE.len(), compared);
}
