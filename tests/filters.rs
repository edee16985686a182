//! Tuning without forking: Sigma filter rules and a minimum level, as a
//! user meets them on the command line (`scan`, `rules list|test|lint`)
//! and as the function loads them (rule texts from S3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use trailwatch::rules::{Level, RuleConfig, RuleSet};

/// The built-in "Lambda Function Created, Modified, Deleted..." rule.
const LAMBDA_CHANGED: &str = "84bc4a4a-6456-42b1-95a8-b10beab515eb";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example_filter() -> PathBuf {
    root().join("examples/filters/ci-deploy-role.yml")
}

fn trailwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .current_dir(root())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run trailwatch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory holding `files` (name, YAML).
fn rules_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).expect("write rule");
    }
    dir
}

fn update_code(id: &str, identity: Value) -> Value {
    json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": "2026-12-01T10:00:00Z",
        "eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionCode20150331v2",
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.22",
        "recipientAccountId": "111122223333", "userIdentity": identity,
        "requestParameters": {"functionName": "payments"},
        "responseElements": {"functionName": "payments"}
    })
}

fn ci_role() -> Value {
    json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/ci-deploy/job-4411",
           "sessionContext": {"sessionIssuer": {"type": "Role",
               "arn": "arn:aws:iam::111122223333:role/ci-deploy", "userName": "ci-deploy"}}})
}

fn alice() -> Value {
    json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice"})
}

/// A log of the pipeline's deploy and a person's change to the same function.
fn deploy_log() -> tempfile::NamedTempFile {
    let log =
        json!({"Records": [update_code("deploy-1", ci_role()), update_code("by-hand-1", alice())]});
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), log.to_string()).expect("write log");
    file
}

fn alerts_of(output: &Output, rule_id: &str) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|alert| alert["rule_id"] == rule_id)
        .collect()
}

#[test]
fn a_filter_silences_the_ci_role_and_not_a_person() {
    let log = deploy_log();
    let log = log.path().to_str().expect("utf-8 path");
    let filter = example_filter();
    let dir = filter.parent().and_then(Path::to_str).expect("dir");

    let unfiltered = trailwatch(&["scan", "--format", "json", "--every-finding", log]);
    assert!(unfiltered.status.success(), "{}", text(&unfiltered.stderr));
    let events: Vec<Value> = alerts_of(&unfiltered, LAMBDA_CHANGED)
        .iter()
        .map(|a| a["event_id"].clone())
        .collect();
    assert_eq!(events, [json!("deploy-1"), json!("by-hand-1")]);

    let filtered = trailwatch(&[
        "scan",
        "--format",
        "json",
        "--every-finding",
        "--rules",
        dir,
        log,
    ]);
    assert!(filtered.status.success(), "{}", text(&filtered.stderr));
    let events: Vec<Value> = alerts_of(&filtered, LAMBDA_CHANGED)
        .iter()
        .map(|a| a["event_id"].clone())
        .collect();
    assert_eq!(events, [json!("by-hand-1")]);
}

#[test]
fn rules_list_shows_which_filters_apply_and_rules_test_runs_their_examples() {
    let filter = example_filter();
    let dir = filter.parent().and_then(Path::to_str).expect("dir");
    let list = trailwatch(&["rules", "list", "--rules", dir]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listing = text(&list.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.starts_with(LAMBDA_CHANGED))
        .expect("the Lambda rule is listed");
    assert!(
        lines[at + 1].contains("filtered by 3f6d2c1e-7a4b-4c55-9e0f-2b8d1a6c9e41")
            && lines[at + 1].contains("ci-deploy-role.yml"),
        "{listing}"
    );
    assert_eq!(listing.matches("filtered by").count(), 1, "{listing}");

    let test = trailwatch(&["rules", "test", "--rules", dir]);
    assert!(test.status.success(), "{}", text(&test.stderr));
    assert!(
        text(&test.stdout).contains("1 filter(s)") && text(&test.stdout).contains(" 0 failed"),
        "{}",
        text(&test.stdout)
    );

    // An example the filter gets wrong is named, with the rule, and fails the run.
    let wrong = std::fs::read_to_string(&filter)
        .expect("filter")
        .replace("expect: no-match", "expect: match");
    let dir = rules_dir(&[("wrong.yml", &wrong)]);
    let test = trailwatch(&[
        "rules",
        "test",
        "--rules",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(test.status.code(), Some(1), "{}", text(&test.stdout));
    let stderr = text(&test.stderr);
    assert!(
        stderr.contains("FAIL")
            && stderr.contains("wrong.yml")
            && stderr.contains(&format!(
                "filter 3f6d2c1e-7a4b-4c55-9e0f-2b8d1a6c9e41 on rule {LAMBDA_CHANGED}"
            ))
            && stderr.contains("\"the pipeline deploys new code\" should match but did not"),
        "{stderr}"
    );
}

#[test]
fn lint_flags_a_filter_that_names_no_rule_in_force() {
    let typo = "title: Silence a rule that is not there\nid: 0c0c0c0c-1111-4222-8333-444455556666\n\
                logsource: {product: aws, service: cloudtrail}\nfilter:\n  rules: [no-such-rule]\n  \
                sel:\n    userIdentity.type: AWSService\n  condition: not sel\n";
    let dir = rules_dir(&[("typo.yml", typo)]);
    let lint = trailwatch(&[
        "rules",
        "lint",
        "--rules",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(lint.status.code(), Some(1));
    let stdout = text(&lint.stdout);
    assert!(
        stdout.contains("typo.yml")
            && stdout
                .contains("filter names no rule in force (no-such-rule), so it silences nothing"),
        "{stdout}"
    );

    // A filter whose rule is disabled silences nothing either.
    let filter = example_filter();
    let dir = filter.parent().and_then(Path::to_str).expect("dir");
    let lint = trailwatch(&["rules", "lint", "--rules", dir, "--disable", LAMBDA_CHANGED]);
    assert_eq!(lint.status.code(), Some(1));
    assert!(
        text(&lint.stdout).contains("filter names no rule in force"),
        "{}",
        text(&lint.stdout)
    );
    // Named correctly and in force: nothing to say.
    let lint = trailwatch(&["rules", "lint", "--rules", dir]);
    assert!(lint.status.success(), "{}", text(&lint.stdout));
}

#[test]
fn filters_load_from_rule_texts_as_the_function_reads_them_from_s3() {
    let filter = std::fs::read_to_string(example_filter()).expect("filter");
    let rules = RuleSet::load(&RuleConfig {
        texts: vec![("s3://rules/ci.yml".to_string(), filter)],
        ..RuleConfig::default()
    })
    .expect("loads");
    let rule = rules
        .rules()
        .iter()
        .find(|rule| rule.meta.id == LAMBDA_CHANGED)
        .expect("the Lambda rule");
    let mut deploy = update_code("d", ci_role());
    trailwatch::record::normalize_event_name_in(&mut deploy);
    let mut by_hand = update_code("h", alice());
    trailwatch::record::normalize_event_name_in(&mut by_hand);
    assert!(!rule.matches(&deploy));
    assert!(rule.matches(&by_hand));
    assert_eq!(rule.filters.len(), 1);
    assert_eq!(rule.filters[0].origin, "s3://rules/ci.yml");
    assert!(rules.lint().is_empty(), "{:?}", rules.lint());
}

#[test]
fn a_filter_with_conditions_of_its_own_and_several_targets() {
    // `1 of` counts only the filter's detections, not the rule's; a filter
    // may name rules by id or title.
    let filter = format!(
        "title: Known automation\nid: 7d1e0c52-5b7a-4e0e-9a6d-0f3c2b1a9e77\n\
         logsource: {{product: aws, service: cloudtrail}}\nfilter:\n  rules:\n    - {LAMBDA_CHANGED}\n    \
         - 'SNS Topic Created'\n  auto_ci:\n    userIdentity.sessionContext.sessionIssuer.userName: ci-deploy\n  \
         auto_tf:\n    userAgent|contains: Terraform\n  condition: not 1 of auto_*\n"
    );
    let rules = RuleSet::load(&RuleConfig {
        texts: vec![("automation.yml".to_string(), filter)],
        ..RuleConfig::default()
    })
    .expect("loads");
    let narrowed: Vec<&str> = rules
        .rules()
        .iter()
        .filter(|rule| !rule.filters.is_empty())
        .map(|rule| rule.meta.title.as_str())
        .collect();
    assert_eq!(narrowed.len(), 2, "{narrowed:?}");
    let rule = rules
        .rules()
        .iter()
        .find(|rule| rule.meta.id == LAMBDA_CHANGED)
        .expect("rule");
    let mut terraform = update_code("t", alice());
    terraform["userAgent"] = json!("APN/1.0 HashiCorp/1.0 Terraform/1.9.5");
    trailwatch::record::normalize_event_name_in(&mut terraform);
    let mut by_hand = update_code("h", alice());
    trailwatch::record::normalize_event_name_in(&mut by_hand);
    assert!(!rule.matches(&terraform));
    assert!(rule.matches(&by_hand));
}

#[test]
fn min_level_keeps_the_alerts_at_or_above_it() {
    let all = trailwatch(&["scan", "--format", "json", "events/"]);
    let high = trailwatch(&["scan", "--format", "json", "--min-level", "high", "events/"]);
    assert!(all.status.success() && high.status.success());
    let levels = |output: &Output| -> Vec<String> {
        text(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|alert| alert["severity"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (all, high) = (levels(&all), levels(&high));
    assert!(all.iter().any(|l| l == "medium" || l == "low"), "{all:?}");
    let kept: Vec<&String> = all
        .iter()
        .filter(|l| *l == "high" || *l == "critical")
        .collect();
    assert!(!kept.is_empty());
    assert_eq!(high.iter().collect::<Vec<_>>(), kept);

    let bad = trailwatch(&["scan", "--min-level", "severe", "events/"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("not a Sigma level"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn a_threshold_below_the_minimum_level_still_counts_but_does_not_alert() {
    // The built-in denied-calls burst (high) counts the low access-denied
    // rule: above `high`, the burst still alerts though its rule does not.
    let load = |min_level| {
        RuleSet::load(&RuleConfig {
            min_level,
            ..RuleConfig::default()
        })
        .expect("loads")
    };
    let rules = load(Some(Level::High));
    let denied = rules
        .rules()
        .iter()
        .find(|rule| rule.meta.title == "AWS API Call Denied By Authorization")
        .expect("access denied rule");
    assert!(!denied.alerts && denied.meta.level < Level::High);
    assert!(rules.check_threshold_examples().is_empty());
    let log = json!({"Records": (0..25).map(|i| json!({
        "eventID": format!("d{i}"), "eventTime": format!("2026-12-01T10:00:{i:02}Z"),
        "eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "errorCode": "AccessDenied",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/probe"}
    })).collect::<Vec<_>>()});
    let titles = |rules: &RuleSet| {
        let mut titles = Vec::new();
        trailwatch::pipeline::scan(
            std::io::Cursor::new(log.to_string().into_bytes()),
            "burst",
            rules,
            &mut rules.correlations().correlator(),
            trailwatch::pipeline::Limits::default(),
            |finding| {
                titles.push(finding.alert().title);
                true
            },
        );
        titles
    };
    let high = titles(&rules);
    assert_eq!(high, ["Many Denied AWS API Calls From One Principal"]);
    assert!(titles(&load(Some(Level::Critical))).is_empty());
    assert_eq!(titles(&load(None)).len(), 26);
}
