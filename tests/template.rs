//! The deployment files: the IAM policies in deploy/ and template.yaml.
//!
//! The template is read as CloudFormation reads it (short-form tags such as
//! `!Ref` become `{"Ref": ...}`) by cfn-lint's loader, from the Python in
//! .venv-test/ that scripts/test installs, and then rendered the way
//! CloudFormation would for each `LogSource`: conditions evaluated, resources
//! whose condition is false dropped, `Fn::If` resolved, `AWS::NoValue`
//! removed. The checks are on what a stack would hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A value or an array of values, as IAM allows for Action and Resource.
fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn statements(document: &Value) -> Vec<&Value> {
    one_or_many(&document["Statement"])
}

/// The problems with one statement's Action and Resource: a `*` resource,
/// a `*` action, or none at all.
fn wildcard_problems(statement: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
    let resources = one_or_many(&statement["Resource"]);
    if resources.is_empty() {
        problems.push(format!("{sid}: no Resource"));
    }
    for resource in resources {
        if resource.as_str() == Some("*") {
            problems.push(format!("{sid}: Resource \"*\""));
        }
    }
    for action in one_or_many(&statement["Action"]) {
        let action = action.as_str().unwrap_or_default();
        if action == "*" || action.ends_with(":*") {
            problems.push(format!("{sid}: Action {action:?}"));
        }
    }
    problems
}

fn actions(document: &Value) -> BTreeSet<String> {
    statements(document)
        .into_iter()
        .flat_map(|s| one_or_many(&s["Action"]))
        .map(|a| a.as_str().expect("action is a string").to_owned())
        .collect()
}

/// Words in CAPITALS (and `_`) a reader replaces before using the file.
fn placeholders(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() >= 4 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

fn deploy_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy"))
        .expect("deploy/")
        .map(|e| e.expect("deploy/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn readme_deploying() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find("\n## Deploying\n")
        .expect("README has ## Deploying");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

#[test]
fn deploy_policies_are_iam_json_without_wildcards_and_documented() {
    let files = deploy_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "trust-policy.json",
        "iam-policy.json",
        "iam-policy-dedup.json",
        "iam-policy-kms.json",
        "backfill-trust-policy.json",
        "backfill-policy.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "deploy/{expected} is missing: {names:?}"
        );
    }
    let readme = readme_deploying();
    let known: BTreeSet<String> = [
        "ACCOUNT",
        "REGION",
        "LOG_BUCKET",
        "KMS_KEY_ARN",
        "FUNCTION_ARN",
        "REPORT_BUCKET",
    ]
    .map(str::to_owned)
    .into();
    for (path, name) in files.iter().zip(&names) {
        let text = std::fs::read_to_string(path).unwrap();
        let policy = read_json(path);
        assert_eq!(policy["Version"], "2012-10-17", "{name}: Version");
        let statements = statements(&policy);
        assert!(!statements.is_empty(), "{name}: no Statement");
        let trust = name.contains("trust");
        for statement in &statements {
            assert_eq!(statement["Effect"], "Allow", "{name}: {statement}");
            if trust {
                assert_eq!(statement["Action"], "sts:AssumeRole", "{name}");
                assert!(
                    statement["Principal"]["Service"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(".amazonaws.com")),
                    "{name}: a trust policy names one service: {statement}"
                );
            } else {
                assert!(
                    statement.get("Principal").is_none(),
                    "{name}: a role policy names no principal"
                );
                let problems = wildcard_problems(statement);
                assert!(problems.is_empty(), "{name}: {problems:?}");
            }
        }
        let unknown: Vec<_> = placeholders(&text).difference(&known).cloned().collect();
        assert!(
            unknown.is_empty(),
            "{name}: placeholders the README does not fill: {unknown:?}"
        );
        assert!(
            readme.contains(&format!("deploy/{name}")),
            "README's Deploying does not use deploy/{name}"
        );
    }
}

#[test]
fn function_policy_is_least_privilege() {
    let policy = read_json(&repo().join("deploy/iam-policy.json"));
    let by_action: BTreeMap<String, Vec<String>> = statements(&policy)
        .into_iter()
        .flat_map(|s| {
            let resources: Vec<String> = one_or_many(&s["Resource"])
                .into_iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            one_or_many(&s["Action"])
                .into_iter()
                .map(move |a| (a.as_str().unwrap().to_owned(), resources.clone()))
        })
        .collect();
    assert_eq!(
        by_action["s3:GetObject"],
        ["arn:aws:s3:::LOG_BUCKET/AWSLogs/*"]
    );
    assert_eq!(
        by_action["sns:Publish"],
        ["arn:aws:sns:REGION:ACCOUNT:trailwatch-alerts"]
    );
    assert_eq!(
        by_action["logs:PutLogEvents"],
        ["arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/trailwatch:*"]
    );
    assert!(
        !by_action.contains_key("logs:CreateLogGroup"),
        "the README creates the group"
    );
    let kms = read_json(&repo().join("deploy/iam-policy-kms.json"));
    assert_eq!(statements(&kms)[0]["Resource"], "KMS_KEY_ARN");
}

// --- template.yaml -------------------------------------------------------

const LOAD_TEMPLATE: &str = "import json, sys\n\
from cfnlint.decode import cfn_yaml\n\
json.dump(cfn_yaml.load(sys.argv[1]), sys.stdout)\n";

/// Loaded once: starting Python with cfn-lint takes most of a second.
fn template() -> Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(load_template).clone()
}

fn load_template() -> Value {
    let python = repo().join(".venv-test/bin/python");
    let output = Command::new(&python)
        .arg("-c")
        .arg(LOAD_TEMPLATE)
        .arg(repo().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "run {} ({e}): this test reads template.yaml with cfn-lint's loader \
                 from .venv-test/, which scripts/test installs (run scripts/test)",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "loading template.yaml failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the loader prints JSON")
}

/// The template as CloudFormation would deploy it with these parameters
/// (the others at their defaults).
struct Stack {
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
    template: Value,
}

fn parameter_values(template: &Value, overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (name, parameter) in template["Parameters"].as_object().expect("Parameters") {
        let value = match &parameter["Default"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("parameter {name} has no usable default: {other}"),
        };
        values.insert(name.clone(), value);
    }
    for (name, value) in overrides {
        assert!(values.contains_key(*name), "no parameter {name}");
        let allowed = &template["Parameters"][*name]["AllowedValues"];
        if let Some(allowed) = allowed.as_array() {
            let allowed: Vec<String> = allowed
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            assert!(
                allowed.iter().any(|a| a == value),
                "{name}={value} is not in {allowed:?}"
            );
        }
        values.insert((*name).to_owned(), (*value).to_owned());
    }
    values
}

fn scalar(value: &Value, parameters: &BTreeMap<String, String>) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(o) if o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            parameters
                .get(name)
                .unwrap_or_else(|| panic!("a condition refers to {name}, not a parameter"))
                .clone()
        }
        other => panic!("cannot evaluate {other} in a condition"),
    }
}

fn condition(
    value: &Value,
    conditions: &Map<String, Value>,
    parameters: &BTreeMap<String, String>,
) -> bool {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("condition {value}"));
    let (function, args) = object.iter().next().expect("a condition function");
    let args = args.as_array();
    let each = || args.expect("condition arguments").iter();
    match function.as_str() {
        "Fn::Equals" => {
            let args = args.expect("Fn::Equals arguments");
            scalar(&args[0], parameters) == scalar(&args[1], parameters)
        }
        "Fn::Not" => !condition(&args.expect("Fn::Not argument")[0], conditions, parameters),
        "Fn::And" => each().all(|c| condition(c, conditions, parameters)),
        "Fn::Or" => each().any(|c| condition(c, conditions, parameters)),
        "Condition" => {
            let name = object["Condition"].as_str().unwrap();
            condition(&conditions[name], conditions, parameters)
        }
        other => panic!("condition function {other}"),
    }
}

/// Resolves Fn::If and drops AWS::NoValue; None when the value is NoValue.
fn resolve(value: &Value, truth: &BTreeMap<String, bool>) -> Option<Value> {
    match value {
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::If") => {
            let args = o["Fn::If"].as_array().expect("Fn::If arguments");
            let name = args[0].as_str().expect("Fn::If condition name");
            let chosen = if *truth
                .get(name)
                .unwrap_or_else(|| panic!("no condition {name}"))
            {
                &args[1]
            } else {
                &args[2]
            };
            resolve(chosen, truth)
        }
        Value::Object(o) if o.len() == 1 && o.get("Ref") == Some(&json!("AWS::NoValue")) => None,
        Value::Object(o) => Some(Value::Object(
            o.iter()
                .filter_map(|(k, v)| resolve(v, truth).map(|v| (k.clone(), v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| resolve(v, truth)).collect(),
        )),
        other => Some(other.clone()),
    }
}

fn render(template: &Value, overrides: &[(&str, &str)]) -> Stack {
    let parameters = parameter_values(template, overrides);
    let conditions = template["Conditions"].as_object().expect("Conditions");
    let truth: BTreeMap<String, bool> = conditions
        .iter()
        .map(|(name, c)| (name.clone(), condition(c, conditions, &parameters)))
        .collect();
    let keep = |entry: &Value| entry["Condition"].as_str().is_none_or(|c| truth[c]);
    let section = |name: &str| -> Map<String, Value> {
        template[name]
            .as_object()
            .expect("section")
            .iter()
            .filter(|(_, v)| keep(v))
            .map(|(k, v)| {
                (
                    k.clone(),
                    resolve(v, &truth).expect("a resource is not NoValue"),
                )
            })
            .collect()
    };
    Stack {
        resources: section("Resources"),
        outputs: section("Outputs"),
        template: template.clone(),
    }
}

impl Stack {
    fn resource(&self, name: &str) -> &Value {
        self.resources.get(name).unwrap_or_else(|| {
            panic!(
                "no resource {name}; the stack has {:?}",
                self.resources.keys()
            )
        })
    }

    fn properties(&self, name: &str) -> &Value {
        &self.resource(name)["Properties"]
    }

    fn of_type(&self, kind: &str) -> Vec<(&String, &Value)> {
        self.resources
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        self.resources.contains_key(name)
    }

    /// Every statement of every IAM role and policy, with where it is.
    fn iam_statements(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (name, resource) in &self.resources {
            let documents: Vec<&Value> = match resource["Type"].as_str().unwrap() {
                "AWS::IAM::Role" => one_or_many(&resource["Properties"]["Policies"])
                    .into_iter()
                    .map(|p| &p["PolicyDocument"])
                    .collect(),
                "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                    vec![&resource["Properties"]["PolicyDocument"]]
                }
                _ => Vec::new(),
            };
            for document in documents {
                out.extend(statements(document).into_iter().map(|s| (name.clone(), s)));
            }
        }
        out
    }

    fn role_actions(&self) -> BTreeSet<String> {
        self.iam_statements()
            .into_iter()
            .flat_map(|(_, s)| one_or_many(&s["Action"]))
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    fn function_timeout(&self) -> u64 {
        self.properties("TrailwatchFunction")["Timeout"]
            .as_u64()
            .expect("a fixed Timeout")
    }
}

const BUCKET: (&str, &str) = ("ExistingBucketName", "my-trail-logs");
const TOPIC: (&str, &str) = (
    "ExistingTrailTopicArn",
    "arn:aws:sns:eu-west-1:123456789012:trail-topic",
);
const KMS: (&str, &str) = (
    "LogKmsKeyArn",
    "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
);

fn log_sources() -> [(&'static str, Vec<(&'static str, &'static str)>); 3] {
    [
        ("NewBucket", vec![("LogSource", "NewBucket")]),
        (
            "ExistingBucketEventBridge",
            vec![("LogSource", "ExistingBucketEventBridge"), BUCKET],
        ),
        (
            "ExistingTrailSns",
            vec![("LogSource", "ExistingTrailSns"), BUCKET, TOPIC],
        ),
    ]
}

#[test]
fn log_source_offers_three_ways_and_defaults_to_a_new_bucket() {
    let template = template();
    let parameter = &template["Parameters"]["LogSource"];
    assert_eq!(
        parameter["AllowedValues"],
        json!(["NewBucket", "ExistingBucketEventBridge", "ExistingTrailSns"])
    );
    assert_eq!(parameter["Default"], "NewBucket");
    // The log-source resources of each option, and of no other.
    let own: [(&str, &[&str]); 3] = [
        (
            "NewBucket",
            &[
                "LogBucket",
                "LogBucketPolicy",
                "LogBucketInvokePermission",
                "Trail",
            ],
        ),
        (
            "ExistingBucketEventBridge",
            &[
                "ObjectCreatedRule",
                "ObjectCreatedInvokePermission",
                "FailureQueuePolicy",
            ],
        ),
        (
            "ExistingTrailSns",
            &[
                "LogQueue",
                "LogDeadLetterQueue",
                "LogQueuePolicy",
                "LogQueueSubscription",
                "LogQueueEventSource",
                "LogDeadLetterQueueAlarm",
            ],
        ),
    ];
    for (source, overrides) in log_sources() {
        let stack = render(&template, &overrides);
        for (owner, names) in &own {
            for name in *names {
                assert_eq!(stack.has(name), *owner == source, "{source}: {name}");
            }
        }
        for common in [
            "TrailwatchFunction",
            "FunctionRole",
            "FunctionLogGroup",
            "AlertTopic",
            "FailureQueue",
        ] {
            assert!(stack.has(common), "{source}: {common}");
        }
    }
}

#[test]
fn new_bucket_gets_a_validated_multi_region_trail_and_notifies_the_function() {
    let stack = render(&template(), &[]);
    let trail = stack.resource("Trail");
    let properties = &trail["Properties"];
    assert_eq!(properties["IsMultiRegionTrail"], true);
    assert_eq!(properties["IsLogging"], true);
    assert_eq!(properties["EnableLogFileValidation"], true);
    assert_eq!(properties["S3BucketName"], json!({"Ref": "LogBucket"}));
    assert!(
        one_or_many(&trail["DependsOn"]).contains(&&json!("LogBucketPolicy")),
        "the trail must wait for the bucket policy: {trail}"
    );
    let notification =
        &stack.properties("LogBucket")["NotificationConfiguration"]["LambdaConfigurations"][0];
    assert_eq!(
        notification["Function"],
        json!({"Fn::GetAtt": ["TrailwatchFunction", "Arn"]})
    );
    assert_eq!(
        notification["Filter"]["S3Key"]["Rules"],
        json!([{"Name": "prefix", "Value": "AWSLogs/"}, {"Name": "suffix", "Value": ".json.gz"}])
    );
    // S3 tests its permission to invoke when the notification is set.
    assert!(one_or_many(&stack.resource("LogBucket")["DependsOn"])
        .contains(&&json!("LogBucketInvokePermission")));
    // The pattern, not a Ref: see the comment in the template.
    let bucket_name = stack.properties("LogBucket")["BucketName"]["Fn::Sub"]
        .as_str()
        .unwrap();
    let source_arn = stack.properties("LogBucketInvokePermission")["SourceArn"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert_eq!(
        source_arn,
        format!("arn:${{AWS::Partition}}:s3:::{bucket_name}")
    );
    assert!(stack.outputs.contains_key("TrailArn"));
    assert!(!stack.outputs.contains_key("LogQueueUrl"));
}

/// The resources `name` refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn),
/// and theirs, in this stack.
fn dependencies(stack: &Stack, name: &str) -> BTreeSet<String> {
    fn refs(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(o) => {
                if let Some(Value::String(target)) = o.get("Ref") {
                    out.insert(target.clone());
                }
                if let Some(target) = o.get("Fn::GetAtt").and_then(|a| a[0].as_str()) {
                    out.insert(target.to_owned());
                }
                let sub = o.get("Fn::Sub").map(|s| s.as_str().or(s[0].as_str()));
                if let Some(Some(text)) = sub {
                    for part in text.split("${").skip(1) {
                        let name = part.split(['}', '.']).next().unwrap_or_default();
                        out.insert(name.to_owned());
                    }
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_owned()];
    while let Some(next) = todo.pop() {
        let Some(resource) = stack.resources.get(&next) else {
            continue; // a parameter or a pseudo parameter
        };
        let mut direct = BTreeSet::new();
        refs(&resource["Properties"], &mut direct);
        for target in one_or_many(&resource["DependsOn"]) {
            direct.insert(target.as_str().unwrap().to_owned());
        }
        for target in direct {
            if stack.resources.contains_key(&target) && seen.insert(target.clone()) {
                todo.push(target);
            }
        }
    }
    seen
}

/// The trail's advanced event selectors, each as its field selectors
/// sorted by field.
fn trail_selectors(stack: &Stack) -> Vec<Vec<Value>> {
    let properties = stack.properties("Trail");
    assert!(
        properties.get("EventSelectors").is_none(),
        "a trail cannot have both EventSelectors and AdvancedEventSelectors"
    );
    properties["AdvancedEventSelectors"]
        .as_array()
        .expect("AdvancedEventSelectors")
        .iter()
        .map(|selector| {
            let mut fields = selector["FieldSelectors"]
                .as_array()
                .expect("FieldSelectors")
                .clone();
            fields.sort_by_key(|f| f["Field"].as_str().unwrap().to_owned());
            fields
        })
        .collect()
}

#[test]
fn new_trail_logs_lambda_invokes_except_the_functions_own_unless_turned_off() {
    let template = template();
    let parameter = &template["Parameters"]["LambdaDataEvents"];
    assert_eq!(parameter["AllowedValues"], json!(["true", "false"]));
    assert_eq!(parameter["Default"], "true");
    let description = parameter["Description"].as_str().unwrap();
    assert!(description.contains("per 100,000"), "{description}");
    let management = vec![json!({"Field": "eventCategory", "Equals": ["Management"]})];
    let lambda_invokes = vec![
        json!({"Field": "eventCategory", "Equals": ["Data"]}),
        // Not its own invocations: each log delivery invokes it.
        json!({
            "Field": "resources.ARN",
            "NotEquals": [{"Fn::GetAtt": ["TrailwatchFunction", "Arn"]}]
        }),
        json!({"Field": "resources.type", "Equals": ["AWS::Lambda::Function"]}),
    ];
    for overrides in [vec![], vec![("LambdaDataEvents", "true")]] {
        let stack = render(&template, &overrides);
        assert_eq!(
            trail_selectors(&stack),
            [management.clone(), lambda_invokes.clone()]
        );
        // The trail refers to the function: the function must not refer to
        // the trail, or CloudFormation refuses the circular dependency.
        assert!(dependencies(&stack, "Trail").contains("TrailwatchFunction"));
        let function = dependencies(&stack, "TrailwatchFunction");
        assert!(!function.contains("Trail"), "{function:?}");
        assert!(!function.contains("TrailwatchFunction"), "{function:?}");
    }
    let off = render(&template, &[("LambdaDataEvents", "false")]);
    assert_eq!(trail_selectors(&off), [management]);
    let readme = readme_deploying();
    for needed in [
        "LambdaDataEvents",
        "per 100,000",
        "aws cloudtrail put-event-selectors --trail-name TRAIL",
        "--advanced-event-selectors",
    ] {
        assert!(
            readme.contains(needed),
            "README's Deploying lacks {needed:?}"
        );
    }
}

#[test]
fn existing_bucket_through_eventbridge_matches_created_log_objects_of_that_bucket() {
    let stack = render(
        &template(),
        &[("LogSource", "ExistingBucketEventBridge"), BUCKET],
    );
    let pattern = &stack.properties("ObjectCreatedRule")["EventPattern"];
    assert_eq!(pattern["source"], json!(["aws.s3"]));
    assert_eq!(pattern["detail-type"], json!(["Object Created"]));
    assert_eq!(
        pattern["detail"]["bucket"]["name"],
        json!([{"Ref": "ExistingBucketName"}])
    );
    assert_eq!(
        pattern["detail"]["object"]["key"],
        json!([{"wildcard": "AWSLogs/*.json.gz"}])
    );
    assert_eq!(
        stack.properties("ObjectCreatedRule")["Targets"][0]["Arn"],
        json!({"Fn::GetAtt": ["TrailwatchFunction", "Arn"]})
    );
    assert_eq!(
        stack.properties("ObjectCreatedInvokePermission")["Principal"],
        "events.amazonaws.com"
    );
    let description = stack.template["Parameters"]["LogSource"]["Description"]
        .as_str()
        .unwrap();
    assert!(
        description.contains("EventBridge notifications must be on"),
        "{description}"
    );
    assert!(readme_deploying().contains(r#"'{"EventBridgeConfiguration":{}}'"#));
}

#[test]
fn existing_trail_topic_feeds_a_queue_with_partial_batch_responses_and_a_dead_letter_queue() {
    let stack = render(
        &template(),
        &[("LogSource", "ExistingTrailSns"), BUCKET, TOPIC],
    );
    let mapping = stack.properties("LogQueueEventSource");
    assert_eq!(
        mapping["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        mapping["EventSourceArn"],
        json!({"Fn::GetAtt": ["LogQueue", "Arn"]})
    );
    let queue = stack.properties("LogQueue");
    let visibility = queue["VisibilityTimeout"]
        .as_u64()
        .expect("a fixed VisibilityTimeout");
    assert!(
        visibility >= 6 * stack.function_timeout(),
        "visibility timeout {visibility} < 6 x function timeout {}",
        stack.function_timeout()
    );
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["LogDeadLetterQueue", "Arn"]})
    );
    assert!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 5);
    let subscription = stack.properties("LogQueueSubscription");
    assert_eq!(
        subscription["TopicArn"],
        json!({"Ref": "ExistingTrailTopicArn"})
    );
    assert_eq!(subscription["Protocol"], "sqs");
    let allow = &stack.properties("LogQueuePolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(allow["Principal"], json!({"Service": "sns.amazonaws.com"}));
    assert_eq!(
        allow["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"Ref": "ExistingTrailTopicArn"})
    );
    for output in ["LogQueueUrl", "LogDeadLetterQueueUrl", "FailureQueueUrl"] {
        assert!(stack.outputs.contains_key(output), "{output}");
    }
    assert!(!stack.outputs.contains_key("TrailArn"));
}

#[test]
fn the_role_names_every_resource_and_allows_only_what_the_function_does() {
    let template = template();
    let function = &template["Resources"]["TrailwatchFunction"]["Properties"];
    // With Policies, SAM would attach its managed policies (logs and SQS on "*").
    assert_eq!(
        function["Role"],
        json!({"Fn::GetAtt": ["FunctionRole", "Arn"]})
    );
    assert!(function.get("Policies").is_none());
    assert!(
        function.get("Events").is_none(),
        "SAM events would be unconditional"
    );
    for (source, mut overrides) in log_sources() {
        for kms in [false, true] {
            if kms {
                overrides.push(KMS);
            }
            let stack = render(&template, &overrides);
            let statements = stack.iam_statements();
            assert!(!statements.is_empty());
            let roles: Vec<_> = stack.of_type("AWS::IAM::Role");
            assert_eq!(roles.len(), 1, "{source}: one role");
            for (resource, statement) in &statements {
                let problems = wildcard_problems(statement);
                assert!(problems.is_empty(), "{source}: {resource}: {problems:?}");
            }
            let sid = |sid: &str| {
                statements
                    .iter()
                    .find(|(_, s)| s["Sid"] == sid)
                    .map(|(_, s)| *s)
            };
            let read = sid("ReadCloudTrailLogs").expect("ReadCloudTrailLogs");
            assert_eq!(read["Action"], "s3:GetObject");
            let arn = read["Resource"]["Fn::Sub"][0].as_str().unwrap();
            assert!(arn.ends_with(":s3:::${Bucket}/AWSLogs/*"), "{arn}");
            assert_eq!(
                sid("PublishAlerts").unwrap()["Resource"],
                json!({"Ref": "AlertTopic"})
            );
            assert_eq!(
                sid("WriteOwnLogs").unwrap()["Resource"],
                json!({"Fn::GetAtt": ["FunctionLogGroup", "Arn"]})
            );
            assert_eq!(
                sid("DecryptCloudTrailLogs").is_some(),
                kms,
                "{source} kms={kms}"
            );
            if kms {
                assert_eq!(
                    sid("DecryptCloudTrailLogs").unwrap()["Resource"],
                    json!({"Ref": "LogKmsKeyArn"})
                );
            }
            assert_eq!(
                sid("PollLogQueue").is_some(),
                source == "ExistingTrailSns",
                "{source}"
            );
        }
    }
    // What a cargo lambda deployment grants is what the stack grants, less
    // the log queue it does not have.
    let stack = render(
        &template,
        &[("LogSource", "ExistingBucketEventBridge"), BUCKET, KMS],
    );
    let mut deployed = BTreeSet::new();
    for file in [
        "iam-policy.json",
        "iam-policy-dedup.json",
        "iam-policy-kms.json",
    ] {
        deployed.extend(actions(&read_json(&repo().join("deploy").join(file))));
    }
    assert_eq!(stack.role_actions(), deployed);
    let without_dedup = render(&template, &[("DedupHours", "0")]);
    assert!(!without_dedup.has("DedupTable"));
    assert!(!without_dedup.role_actions().contains("dynamodb:PutItem"));
}

#[test]
fn failures_go_to_queues_with_alarms_on_the_alert_topic() {
    let template = template();
    let stack = render(
        &template,
        &[("LogSource", "ExistingTrailSns"), BUCKET, TOPIC],
    );
    let function = stack.properties("TrailwatchFunction");
    let invoke = &function["EventInvokeConfig"];
    assert_eq!(invoke["MaximumRetryAttempts"], 2);
    assert_eq!(invoke["DestinationConfig"]["OnFailure"]["Type"], "SQS");
    assert_eq!(
        invoke["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": ["FailureQueue", "Arn"]})
    );
    let mut alarmed = BTreeSet::new();
    for (name, alarm) in stack.of_type("AWS::CloudWatch::Alarm") {
        let properties = &alarm["Properties"];
        assert_eq!(
            properties["AlarmActions"],
            json!([{"Ref": "AlertTopic"}]),
            "{name}"
        );
        let dimension = &properties["Dimensions"][0]["Value"];
        let target = dimension["Ref"]
            .as_str()
            .or_else(|| dimension["Fn::GetAtt"][0].as_str())
            .unwrap_or_else(|| panic!("{name}: {dimension}"));
        alarmed.insert(format!(
            "{}/{target}",
            properties["MetricName"].as_str().unwrap()
        ));
    }
    let expected: BTreeSet<String> = [
        "Errors/TrailwatchFunction",
        "Throttles/TrailwatchFunction",
        "ApproximateNumberOfMessagesVisible/FailureQueue",
        "ApproximateNumberOfMessagesVisible/LogDeadLetterQueue",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(alarmed, expected);
    let topic_policy = &stack.properties("AlertTopicPolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(
        topic_policy["Principal"],
        json!({"Service": "cloudwatch.amazonaws.com"})
    );
    assert_eq!(topic_policy["Action"], "sns:Publish");
    let default = render(&template, &[]);
    assert!(!default.has("LogDeadLetterQueueAlarm"));
}

#[test]
fn logs_are_json_in_a_group_with_retention_and_concurrency_is_optional() {
    let template = template();
    let stack = render(&template, &[]);
    let function = stack.properties("TrailwatchFunction");
    assert_eq!(
        function["LoggingConfig"],
        json!({"LogFormat": "JSON", "LogGroup": {"Ref": "FunctionLogGroup"}})
    );
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(
        stack.template["Parameters"]["Architecture"]["Default"],
        "arm64"
    );
    assert_eq!(
        stack.template["Resources"]["TrailwatchFunction"]["Metadata"]["BuildMethod"],
        "rust-cargolambda"
    );
    assert_eq!(
        stack.properties("FunctionLogGroup")["RetentionInDays"],
        json!({"Ref": "LogRetentionDays"})
    );
    assert_eq!(
        stack.template["Parameters"]["LogRetentionDays"]["Default"],
        90
    );
    for unreserved in ["", "0"] {
        let stack = render(&template, &[("ReservedConcurrency", unreserved)]);
        let function = stack.properties("TrailwatchFunction");
        assert!(
            function.get("ReservedConcurrentExecutions").is_none(),
            "{unreserved:?}"
        );
    }
    let reserved = render(&template, &[("ReservedConcurrency", "5")]);
    assert_eq!(
        reserved.properties("TrailwatchFunction")["ReservedConcurrentExecutions"],
        json!({"Ref": "ReservedConcurrency"})
    );
}

#[test]
fn the_minimum_level_is_a_parameter_every_level_by_default() {
    let template = template();
    let stack = render(&template, &[]);
    let parameter = &stack.template["Parameters"]["MinLevel"];
    assert_eq!(parameter["Default"], "informational");
    let allowed: Vec<&str> = parameter["AllowedValues"]
        .as_array()
        .expect("allowed values")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Each value is one the function accepts, lowest first.
    assert_eq!(
        allowed,
        ["informational", "low", "medium", "high", "critical"]
    );
    for level in &allowed {
        assert!(level.parse::<trailwatch::rules::Level>().is_ok(), "{level}");
    }
    assert_eq!(
        stack.properties("TrailwatchFunction")["Environment"]["Variables"]["MIN_LEVEL"],
        json!({"Ref": "MinLevel"})
    );
}
