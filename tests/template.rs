//! The deployment files: the IAM policies in deploy/ and template.yaml.
//!
//! The template is read as CloudFormation reads it (short-form tags such as
//! `!Ref` become `{"Ref": ...}`) by cfn-lint's loader, from the Python in
//! .venv-test/ that scripts/test installs, and then rendered the way
//! CloudFormation would for each `LogSource`: conditions evaluated, resources
//! whose condition is false dropped, `Fn::If` resolved, `AWS::NoValue`
//! removed. The checks are on what a stack would hold.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};

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

/// Actions that take no resource but `*`, and why: IAM's Service
/// Authorization Reference lists no resource type for them. A statement
/// may have Resource `*` only when all its actions are here.
const ONLY_STAR_RESOURCE: &[(&str, &str)] = &[
    (
        "cloudtrail:ListPublicKeys",
        "the keys that sign digest files are CloudTrail's, not a resource of the account",
    ),
    (
        "organizations:ListAccounts",
        "it lists the accounts of the caller's organization, named by no ARN",
    ),
];

/// The problems with one statement's Action and Resource: a `*` resource
/// (but for [`ONLY_STAR_RESOURCE`] actions), a `*` action, or none at all.
fn wildcard_problems(statement: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
    let resources = one_or_many(&statement["Resource"]);
    if resources.is_empty() {
        problems.push(format!("{sid}: no Resource"));
    }
    let actions = one_or_many(&statement["Action"]);
    let only_star = !actions.is_empty()
        && actions.iter().all(|action| {
            ONLY_STAR_RESOURCE
                .iter()
                .any(|(allowed, _)| action.as_str() == Some(allowed))
        });
    for resource in resources {
        if resource.as_str() == Some("*") && !only_star {
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
    readme_section("## Deploying")
}

/// The README's section under `heading` (`## Name`), to the next `## `.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has {heading}"));
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

/// Prints template.yaml as JSON, read by cfn-lint's loader; exits 3 when
/// cfn-lint is not importable (a missing tool, not a broken template).
const LOAD_TEMPLATE: &str = r#"import json, sys
try:
    from cfnlint.decode import cfn_yaml
except ImportError as error:
    print(f"cfn-lint is not importable by {sys.executable} ({error})", file=sys.stderr)
    sys.exit(3)
json.dump(cfn_yaml.load(sys.argv[1]), sys.stdout)
"#;

/// What the tests that read template.yaml need.
const NEEDS: &str = "tests/template.rs needs cfn-lint to read template.yaml: run scripts/test \
     once, which installs .venv-test/ (or: python3 -m venv .venv-test && \
     .venv-test/bin/pip install -r scripts/requirements-test.txt)";

/// The Python with cfn-lint: the venv scripts/test builds, else whatever
/// `python3` is on PATH (where scripts/test puts the venv's), as in
/// tests/differential_pysigma.rs.
fn python() -> PathBuf {
    let venv = repo().join(".venv-test/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Whether a missing cfn-lint fails the tests rather than skipping them:
/// under scripts/test, which exports TRAILWATCH_TEST_RUN_ID to everything
/// it runs, and in CI (`CI` set, as .ci/run is run).
fn cfn_lint_required() -> bool {
    let set =
        |name| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    set("TRAILWATCH_TEST_RUN_ID") || set("CI")
}

enum Loaded {
    Template(Value),
    /// No Python, or no cfn-lint in it: why.
    Missing(String),
    /// The loader ran and failed: what it said.
    Failed(String),
}

/// The template, loaded once (starting Python with cfn-lint takes most of
/// a second); `None` when cfn-lint cannot be run outside scripts/test and
/// CI, after saying so once. Under scripts/test or in CI a missing cfn-lint
/// fails the test, and so does, anywhere, a template the loader refuses.
/// Tests take it through [`template_or_skip!`].
fn template() -> Option<Value> {
    static TEMPLATE: OnceLock<Loaded> = OnceLock::new();
    static SAID: Once = Once::new();
    match TEMPLATE.get_or_init(load_template) {
        Loaded::Template(template) => Some(template.clone()),
        Loaded::Failed(why) => panic!("{why}"),
        Loaded::Missing(why) if cfn_lint_required() => {
            panic!("{why}\n{NEEDS} (required under scripts/test and in CI)")
        }
        Loaded::Missing(why) => {
            SAID.call_once(|| {
                // Straight to stderr: libtest keeps what a passing test
                // prints with eprintln!, and this must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n\
                     ==== tests/template.rs: the template.yaml tests are SKIPPED (they pass \
                     without checking anything) ====\n\
                     {why}\n\
                     {NEEDS}.\n\
                     Under scripts/test or in CI a missing cfn-lint fails these tests instead.\n"
                );
            });
            None
        }
    }
}

/// The template, or the end of the test when it is skipped ([`template`]).
macro_rules! template_or_skip {
    () => {
        match template() {
            Some(template) => template,
            None => return,
        }
    };
}

fn load_template() -> Loaded {
    let python = python();
    let output = match Command::new(&python)
        .arg("-c")
        .arg(LOAD_TEMPLATE)
        .arg(repo().join("template.yaml"))
        .output()
    {
        Ok(output) => output,
        Err(e) => return Loaded::Missing(format!("cannot run {}: {e}", python.display())),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        return Loaded::Missing(stderr.trim().to_string());
    }
    if !output.status.success() {
        return Loaded::Failed(format!(
            "loading template.yaml with cfn-lint ({}) failed ({}): {stderr}",
            python.display(),
            output.status
        ));
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(template) => Loaded::Template(template),
        Err(e) => Loaded::Failed(format!("the loader printed no JSON ({e})")),
    }
}

/// The template as CloudFormation would deploy it with these parameters
/// (the others at their defaults).
struct Stack {
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
    template: Value,
    parameters: BTreeMap<String, String>,
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
        parameters,
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

    /// The text a string-valued property would have: `Ref`s to parameters,
    /// `Fn::Sub` (its variables and the parameters it names), `Fn::Select`
    /// of `Fn::Split`, evaluated; pseudo parameters (`${AWS::Partition}`)
    /// and attributes left as written.
    fn text(&self, value: &Value) -> String {
        self.text_with(value, &BTreeMap::new())
    }

    fn text_with(&self, value: &Value, vars: &BTreeMap<String, String>) -> String {
        let Some(object) = value.as_object() else {
            return value
                .as_str()
                .unwrap_or_else(|| panic!("not text: {value}"))
                .to_owned();
        };
        if let Some(name) = object.get("Ref").and_then(Value::as_str) {
            return self
                .parameters
                .get(name)
                .cloned()
                .unwrap_or_else(|| format!("${{{name}}}"));
        }
        if let Some(args) = object.get("Fn::Select").and_then(Value::as_array) {
            let index = args[0].as_u64().expect("Fn::Select index") as usize;
            let split = args[1]["Fn::Split"]
                .as_array()
                .expect("Fn::Select of Fn::Split");
            let delimiter = split[0].as_str().expect("Fn::Split delimiter");
            let whole = self.text_with(&split[1], vars);
            return whole
                .split(delimiter)
                .nth(index)
                .unwrap_or_else(|| panic!("no item {index} in {whole:?}"))
                .to_owned();
        }
        let sub = object
            .get("Fn::Sub")
            .unwrap_or_else(|| panic!("cannot evaluate {value}"));
        let (pattern, mut vars) = match sub {
            Value::String(pattern) => (pattern.as_str(), vars.clone()),
            Value::Array(args) => {
                let mut own = vars.clone();
                for (name, v) in args[1].as_object().expect("Fn::Sub variables") {
                    own.insert(name.clone(), self.text_with(v, vars));
                }
                (args[0].as_str().expect("Fn::Sub pattern"), own)
            }
            other => panic!("Fn::Sub {other}"),
        };
        for (name, value) in &self.parameters {
            vars.entry(name.clone()).or_insert_with(|| value.clone());
        }
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing }") + start;
            let name = &rest[start + 2..end];
            match vars.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[start..=end]),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The statements of the resource policy `name` (an SNS topic policy,
    /// an SQS queue policy or a KMS key policy).
    fn policy_statements(&self, name: &str) -> Vec<&Value> {
        let properties = self.properties(name);
        let document = properties
            .get("PolicyDocument")
            .or_else(|| properties.get("KeyPolicy"))
            .unwrap_or_else(|| panic!("{name} has no policy"));
        statements(document)
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

/// The name the template gives the bucket it creates.
const NEW_BUCKET: &str = "${AWS::StackName}-logs-${AWS::AccountId}-${AWS::Region}";

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
    let template = template_or_skip!();
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
            &["ObjectCreatedRule", "ObjectCreatedInvokePermission"],
        ),
        (
            "ExistingTrailSns",
            &[
                "LogQueue",
                "LogDeadLetterQueue",
                "LogQueuePolicy",
                "LogDeadLetterQueuePolicy",
                "LogQueueSubscription",
                "LogQueueEventSource",
                "LogDeadLetterQueueAlarm",
                "MessagesDroppedAlarm",
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
            "FailureQueuePolicy",
            "SilenceAlarm",
        ] {
            assert!(stack.has(common), "{source}: {common}");
        }
    }
}

#[test]
fn new_bucket_gets_a_validated_multi_region_trail_and_notifies_the_function() {
    let stack = render(&template_or_skip!(), &[]);
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
    let template = template_or_skip!();
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
        &template_or_skip!(),
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
        &template_or_skip!(),
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
    let template = template_or_skip!();
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
            let bucket = if source == "NewBucket" {
                NEW_BUCKET
            } else {
                "my-trail-logs"
            };
            assert_eq!(
                stack.text(&read["Resource"]),
                format!("arn:${{AWS::Partition}}:s3:::{bucket}/AWSLogs/*")
            );
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
    let template = template_or_skip!();
    let stack = render(
        &template,
        &[("LogSource", "ExistingTrailSns"), BUCKET, TOPIC],
    );
    let function = stack.properties("TrailwatchFunction");
    let invoke = &function["EventInvokeConfig"];
    // Both on purpose (see the template's comment): two retries, and an
    // event kept as long as Lambda allows rather than dropped.
    assert_eq!(invoke["MaximumRetryAttempts"], 2);
    assert_eq!(invoke["MaximumEventAgeInSeconds"], 21600);
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
        "Objects/TrailwatchFunction",
        "MessagesDropped/TrailwatchFunction",
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
    let template = template_or_skip!();
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
    let template = template_or_skip!();
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

/// Issue 21: digest verification is on by default and grants exactly what
/// it needs, ListPublicKeys (on "*", the only resource it takes) and
/// ListBucket on the log bucket (a deleted object is 404, not 403); off,
/// neither.
#[test]
fn digest_verification_is_a_setting_with_its_own_permissions() {
    let template = template_or_skip!();
    for (source, overrides) in log_sources() {
        for verify in ["true", "false"] {
            let mut overrides = overrides.clone();
            overrides.push(("VerifyDigests", verify));
            let stack = render(&template, &overrides);
            assert_eq!(
                stack.properties("TrailwatchFunction")["Environment"]["Variables"]
                    ["VERIFY_DIGESTS"],
                json!({"Ref": "VerifyDigests"})
            );
            let statements = stack.iam_statements();
            let sid = |sid: &str| {
                statements
                    .iter()
                    .find(|(_, s)| s["Sid"] == sid)
                    .map(|(_, s)| *s)
            };
            let on = verify == "true";
            let keys = sid("ReadDigestSigningKeys");
            assert_eq!(keys.is_some(), on, "{source} {verify}");
            let list = sid("TellDeletedObjects");
            assert_eq!(list.is_some(), on, "{source} {verify}");
            if let (Some(keys), Some(list)) = (keys, list) {
                assert_eq!(keys["Action"], "cloudtrail:ListPublicKeys");
                assert_eq!(keys["Resource"], "*");
                assert_eq!(list["Action"], "s3:ListBucket");
                let bucket = if source == "NewBucket" {
                    NEW_BUCKET
                } else {
                    "my-trail-logs"
                };
                assert_eq!(
                    stack.text(&list["Resource"]),
                    format!("arn:${{AWS::Partition}}:s3:::{bucket}")
                );
            }
        }
    }
    let parameter = &template["Parameters"]["VerifyDigests"];
    assert_eq!(parameter["Default"], "true");
    assert_eq!(parameter["AllowedValues"], json!(["true", "false"]));
}

/// Issue 23: names from AWS Organizations only when asked for, with
/// ListAccounts (on "*", the only resource it takes) then.
#[test]
fn account_names_from_organizations_are_off_unless_asked_for() {
    let template = template_or_skip!();
    let parameter = &template["Parameters"]["AccountNamesFromOrganizations"];
    assert_eq!(parameter["Default"], "false");
    assert_eq!(parameter["AllowedValues"], json!(["true", "false"]));
    for (source, overrides) in log_sources() {
        for on in ["true", "false"] {
            let mut overrides = overrides.clone();
            overrides.push(("AccountNamesFromOrganizations", on));
            let stack = render(&template, &overrides);
            assert_eq!(
                stack.properties("TrailwatchFunction")["Environment"]["Variables"]
                    ["ACCOUNT_NAMES_FROM_ORGANIZATIONS"],
                json!({"Ref": "AccountNamesFromOrganizations"})
            );
            let statements = stack.iam_statements();
            let list: Vec<_> = statements
                .iter()
                .filter(|(_, s)| {
                    one_or_many(&s["Action"])
                        .iter()
                        .any(|a| a.as_str().is_some_and(|a| a.starts_with("organizations:")))
                })
                .collect();
            assert_eq!(list.len(), usize::from(on == "true"), "{source} {on}");
            if let Some((_, list)) = list.first() {
                assert_eq!(list["Sid"], "ListAccountNames");
                assert_eq!(list["Action"], "organizations:ListAccounts");
                assert_eq!(list["Resource"], "*");
                assert!(wildcard_problems(list).is_empty());
            }
        }
    }
}

/// Issue 23: account names from one S3 object, which the function may
/// read (and nothing else of its bucket); none by default.
#[test]
fn account_names_are_one_s3_object_the_function_may_read() {
    let template = template_or_skip!();
    let parameter = &template["Parameters"]["AccountNames"];
    assert_eq!(parameter["Default"], "");
    let pattern = parameter["AllowedPattern"].as_str().expect("a pattern");
    let pattern = regex::Regex::new(pattern).expect("the pattern is a regex");
    for good in [
        "",
        "s3://config/accounts.yaml",
        "s3://config/trailwatch/names.json",
    ] {
        assert!(pattern.is_match(good), "{good:?}");
        if !good.is_empty() {
            let at = trailwatch::source::account_names::NamesAt::parse(good);
            assert!(at.is_some(), "the function reads {good:?}");
        }
    }
    for bad in [
        "s3://config",
        "s3://config/",
        "s3://config/dir/",
        "accounts.yaml",
    ] {
        assert!(!pattern.is_match(bad), "{bad:?}");
    }
    for (source, overrides) in log_sources() {
        for names in ["", "s3://config/trailwatch/accounts.yaml"] {
            let mut overrides = overrides.clone();
            overrides.push(("AccountNames", names));
            let stack = render(&template, &overrides);
            assert_eq!(
                stack.properties("TrailwatchFunction")["Environment"]["Variables"]["ACCOUNT_NAMES"],
                json!({"Ref": "AccountNames"})
            );
            let statements = stack.iam_statements();
            let read = statements
                .iter()
                .find(|(_, s)| s["Sid"] == "ReadAccountNames")
                .map(|(_, s)| *s);
            assert_eq!(read.is_some(), !names.is_empty(), "{source} {names:?}");
            if let Some(read) = read {
                assert_eq!(read["Action"], "s3:GetObject");
                assert_eq!(
                    stack.text(&read["Resource"]),
                    "arn:${AWS::Partition}:s3:::config/trailwatch/accounts.yaml"
                );
            }
        }
    }
}

// --- issue 19: silence, dropped messages, key prefixes, encryption ---------

/// The metric names and dimension keys the function writes for `summary`.
fn metrics_written(
    summary: &trailwatch::lambda::InvocationSummary,
) -> BTreeSet<(String, Vec<String>)> {
    use trailwatch::lambda::metrics::{documents, MetricsConfig, DEFAULT_NAMESPACE};
    let config = MetricsConfig {
        namespace: DEFAULT_NAMESPACE.to_owned(),
        function_name: Some("trailwatch".to_owned()),
    };
    let mut out = BTreeSet::new();
    for document in documents(&config, summary, std::time::SystemTime::now()) {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], DEFAULT_NAMESPACE);
        let dimensions: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .expect("dimensions")
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        for metric in directive["Metrics"].as_array().expect("metrics") {
            out.insert((
                metric["Name"].as_str().unwrap().to_owned(),
                dimensions.clone(),
            ));
        }
    }
    out
}

/// An alarm on one of the function's own metrics: the namespace and
/// dimension it writes, the metric a summary like this one produces.
fn assert_alarm_on_function_metric(
    stack: &Stack,
    alarm: &str,
    summary: &trailwatch::lambda::InvocationSummary,
) {
    let properties = stack.properties(alarm);
    // The function writes under METRICS_NAMESPACE, whose default the
    // template leaves alone.
    assert_eq!(
        properties["Namespace"],
        trailwatch::lambda::metrics::DEFAULT_NAMESPACE,
        "{alarm}"
    );
    let env = &stack.properties("TrailwatchFunction")["Environment"]["Variables"];
    assert!(env.get("METRICS_NAMESPACE").is_none(), "{env}");
    assert_eq!(
        properties["Dimensions"],
        json!([{"Name": "FunctionName", "Value": {"Ref": "TrailwatchFunction"}}]),
        "{alarm}"
    );
    let name = properties["MetricName"].as_str().unwrap().to_owned();
    assert!(
        metrics_written(summary).contains(&(name.clone(), vec!["FunctionName".to_owned()])),
        "{alarm}: the function writes no {name} by FunctionName"
    );
    assert_eq!(
        properties["AlarmActions"],
        json!([{"Ref": "AlertTopic"}]),
        "{alarm}"
    );
}

#[test]
fn an_alarm_fires_when_no_log_object_is_read_for_hours() {
    let template = template_or_skip!();
    let parameter = &template["Parameters"]["SilenceAlarmHours"];
    assert_eq!(parameter["Type"], "Number");
    assert_eq!(parameter["Default"], 4);
    assert_eq!(
        (&parameter["MinValue"], &parameter["MaxValue"]),
        (&json!(0), &json!(24))
    );
    for (source, overrides) in log_sources() {
        let stack = render(&template, &overrides);
        // A quiet invocation still writes Objects (0): an hour with none
        // at all means nothing invoked the function.
        assert_alarm_on_function_metric(
            &stack,
            "SilenceAlarm",
            &trailwatch::lambda::InvocationSummary::default(),
        );
        let alarm = stack.properties("SilenceAlarm");
        assert_eq!(alarm["MetricName"], "Objects", "{source}");
        assert_eq!(alarm["Statistic"], "Sum");
        assert_eq!(alarm["Period"], 3600);
        assert_eq!(
            alarm["EvaluationPeriods"],
            json!({"Ref": "SilenceAlarmHours"})
        );
        assert_eq!(
            alarm["DatapointsToAlarm"],
            json!({"Ref": "SilenceAlarmHours"})
        );
        assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
        assert_eq!(alarm["Threshold"], 1);
        // No data at all (the function never invoked) is silence too.
        assert_eq!(alarm["TreatMissingData"], "breaching", "{source}");
        assert_eq!(alarm["OKActions"], json!([{"Ref": "AlertTopic"}]));
    }
    let off = render(&template, &[("SilenceAlarmHours", "0")]);
    assert!(!off.has("SilenceAlarm"));
    let readme = readme_deploying();
    assert!(readme.contains("`SilenceAlarmHours`"), "README's Deploying");
    let metrics = readme_section("## Logs and metrics");
    for needed in ["`SilenceAlarm`", "--treat-missing-data breaching"] {
        assert!(
            metrics.contains(needed),
            "README's Logs and metrics lacks {needed}"
        );
    }
}

#[test]
fn dropped_queue_messages_are_counted_and_alarmed() {
    let template = template_or_skip!();
    let stack = render(
        &template,
        &[("LogSource", "ExistingTrailSns"), BUCKET, TOPIC],
    );
    let dropped = trailwatch::lambda::InvocationSummary {
        messages_dropped: 1,
        ..Default::default()
    };
    assert_alarm_on_function_metric(&stack, "MessagesDroppedAlarm", &dropped);
    let alarm = stack.properties("MessagesDroppedAlarm");
    assert_eq!(alarm["MetricName"], "MessagesDropped");
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(alarm["Threshold"], 1);
    assert_eq!(alarm["TreatMissingData"], "notBreaching");
    // Only the queue's messages can be dropped.
    assert!(!render(&template, &[]).has("MessagesDroppedAlarm"));
    assert!(readme_section("## Logs and metrics").contains("| `MessagesDropped` |"));
}

const PREFIX: (&str, &str) = ("TrailKeyPrefix", "logs/prod");

#[test]
fn a_trail_key_prefix_reaches_every_filter_and_resource_in_every_mode() {
    let template = template_or_skip!();
    for (prefix, keys) in [(None, "AWSLogs/"), (Some(PREFIX), "logs/prod/AWSLogs/")] {
        for (source, mut overrides) in log_sources() {
            overrides.extend(prefix);
            overrides.push(KMS);
            let stack = render(&template, &overrides);
            let bucket = if source == "NewBucket" {
                NEW_BUCKET
            } else {
                "my-trail-logs"
            };
            let statements = stack.iam_statements();
            let sid = |sid: &str| {
                statements
                    .iter()
                    .find(|(_, s)| s["Sid"] == sid)
                    .map(|(_, s)| *s)
                    .unwrap_or_else(|| panic!("{source}: no {sid}"))
            };
            assert_eq!(
                stack.text(&sid("ReadCloudTrailLogs")["Resource"]),
                format!("arn:${{AWS::Partition}}:s3:::{bucket}/{keys}*"),
                "{source}"
            );
            let context = &sid("DecryptCloudTrailLogs")["Condition"]["StringLike"]
                ["kms:EncryptionContext:aws:s3:arn"];
            assert_eq!(
                stack.text(&context[0]),
                format!("arn:${{AWS::Partition}}:s3:::{bucket}/{keys}*"),
                "{source}"
            );
            match source {
                "NewBucket" => {
                    let rules = &stack.properties("LogBucket")["NotificationConfiguration"]
                        ["LambdaConfigurations"][0]["Filter"]["S3Key"]["Rules"];
                    assert_eq!(rules[0]["Name"], "prefix");
                    assert_eq!(stack.text(&rules[0]["Value"]), keys);
                    let trail = stack.properties("Trail");
                    match prefix {
                        Some(_) => assert_eq!(stack.text(&trail["S3KeyPrefix"]), "logs/prod"),
                        None => assert!(trail.get("S3KeyPrefix").is_none(), "{trail}"),
                    }
                    let write = stack
                        .policy_statements("LogBucketPolicy")
                        .into_iter()
                        .find(|s| s["Sid"] == "AWSCloudTrailWrite")
                        .expect("AWSCloudTrailWrite");
                    assert_eq!(
                        stack.text(&write["Resource"]),
                        format!("${{LogBucket.Arn}}/{keys}${{AWS::AccountId}}/*")
                    );
                }
                "ExistingBucketEventBridge" => {
                    let key = &stack.properties("ObjectCreatedRule")["EventPattern"]["detail"]
                        ["object"]["key"][0]["wildcard"];
                    assert_eq!(stack.text(key), format!("{keys}*.json.gz"));
                }
                // The trail's message names the keys; the role's resource
                // is what holds the function to the prefix.
                _ => {}
            }
        }
    }
}

#[test]
fn a_malformed_trail_key_prefix_is_refused_before_deployment() {
    let parameter = &template_or_skip!()["Parameters"]["TrailKeyPrefix"];
    assert_eq!(parameter["Default"], "");
    // CloudTrail's limit for S3KeyPrefix.
    assert_eq!(parameter["MaxLength"], 200);
    let pattern = regex::Regex::new(parameter["AllowedPattern"].as_str().expect("a pattern"))
        .expect("the pattern is a regex");
    for good in ["", "logs", "logs/prod", "o-abc123/trail_1.x", "(a)-b!c'd"] {
        assert!(pattern.is_match(good), "{good:?} refused");
    }
    for bad in [
        "/logs",
        "logs/",
        "logs//prod",
        "logs/*",
        "log s",
        "logs/prod/\n",
        "é",
    ] {
        assert!(!pattern.is_match(bad), "{bad:?} accepted");
    }
    let description = parameter["Description"].as_str().unwrap();
    assert!(description.contains("without AWSLogs"), "{description}");
    assert!(parameter["ConstraintDescription"].is_string());
    let readme = readme_deploying();
    for needed in [
        "TrailKeyPrefix=logs/prod",
        "access denied",
        "Trail.S3KeyPrefix",
    ] {
        assert!(
            readme.contains(needed),
            "README's Deploying lacks {needed:?}"
        );
    }
}

#[test]
fn log_key_decryption_is_pinned_to_s3_of_its_region_and_to_the_log_objects() {
    let template = template_or_skip!();
    for (source, mut overrides) in log_sources() {
        overrides.push(KMS);
        let stack = render(&template, &overrides);
        let statements = stack.iam_statements();
        let decrypt = statements
            .iter()
            .find(|(_, s)| s["Sid"] == "DecryptCloudTrailLogs")
            .map(|(_, s)| *s)
            .expect("DecryptCloudTrailLogs");
        assert_eq!(decrypt["Action"], "kms:Decrypt");
        let condition = &decrypt["Condition"];
        // KMS's key (like the bucket, whose region SSE-KMS keys share) is
        // in us-east-1.
        assert_eq!(
            stack.text(&condition["StringEquals"]["kms:ViaService"]),
            "s3.us-east-1.amazonaws.com",
            "{source}"
        );
        let contexts: Vec<String> =
            one_or_many(&condition["StringLike"]["kms:EncryptionContext:aws:s3:arn"])
                .into_iter()
                .map(|c| stack.text(c))
                .collect();
        let bucket = if source == "NewBucket" {
            NEW_BUCKET
        } else {
            "my-trail-logs"
        };
        // The objects' ARN, and the bucket's (the context with S3 Bucket Keys).
        assert_eq!(
            contexts,
            [
                format!("arn:${{AWS::Partition}}:s3:::{bucket}/AWSLogs/*"),
                format!("arn:${{AWS::Partition}}:s3:::{bucket}"),
            ],
            "{source}"
        );
    }
    let kms = read_json(&repo().join("deploy/iam-policy-kms.json"));
    let statement = statements(&kms)[0];
    assert_eq!(
        statement["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.REGION.amazonaws.com"
    );
    assert_eq!(
        statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"],
        json!([
            "arn:aws:s3:::LOG_BUCKET/AWSLogs/*",
            "arn:aws:s3:::LOG_BUCKET"
        ])
    );
}

const CREATE_KEY: (&str, &str) = ("AlertTopicKmsKey", "Create");
const ALERT_KEY: (&str, &str) = (
    "AlertTopicKmsKey",
    "arn:aws:kms:us-east-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab",
);

#[test]
fn the_alert_topic_can_be_encrypted_with_a_key_the_alarms_may_use() {
    let template = template_or_skip!();
    let plain = render(&template, &[]);
    assert!(plain
        .properties("AlertTopic")
        .get("KmsMasterKeyId")
        .is_none());
    assert!(!plain.has("AlertTopicKey"));
    assert!(!plain.role_actions().contains("kms:GenerateDataKey*"));

    let created = render(&template, &[CREATE_KEY]);
    assert_eq!(
        created.properties("AlertTopic")["KmsMasterKeyId"],
        json!({"Fn::GetAtt": ["AlertTopicKey", "Arn"]})
    );
    let key_statements = created.policy_statements("AlertTopicKey");
    let cloudwatch = key_statements
        .iter()
        .find(|s| s["Principal"] == json!({"Service": "cloudwatch.amazonaws.com"}))
        .expect("the key policy lets CloudWatch alarms use the key");
    assert_eq!(cloudwatch["Effect"], "Allow");
    let actions: BTreeSet<&str> = one_or_many(&cloudwatch["Action"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from(["kms:Decrypt", "kms:GenerateDataKey*"])
    );
    assert_eq!(
        created.text(&cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]),
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    );
    // The account's statement, without which IAM policies (the function's
    // role) could not grant the key's use.
    assert!(key_statements.iter().any(|s| {
        created.text(&s["Principal"]["AWS"]) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    }));
    assert_eq!(
        created.properties("AlertTopicKey")["EnableKeyRotation"],
        true
    );
    // The role refers to the key: the key must not refer to the role.
    assert!(!dependencies(&created, "AlertTopicKey").contains("FunctionRole"));

    for (stack, key) in [
        (&created, json!({"Fn::GetAtt": ["AlertTopicKey", "Arn"]})),
        (
            &render(&template, &[ALERT_KEY]),
            json!({"Ref": "AlertTopicKmsKey"}),
        ),
    ] {
        let statements = stack.iam_statements();
        let encrypt = statements
            .iter()
            .find(|(_, s)| s["Sid"] == "EncryptAlerts")
            .map(|(_, s)| *s)
            .expect("the function may use the topic's key");
        assert_eq!(encrypt["Resource"], key);
        assert_eq!(
            stack.text(&encrypt["Condition"]["StringEquals"]["kms:ViaService"]),
            "sns.${AWS::Region}.amazonaws.com"
        );
        let problems = wildcard_problems(encrypt);
        assert!(problems.is_empty(), "{problems:?}");
    }
    let given = render(&template, &[ALERT_KEY]);
    assert_eq!(
        given.properties("AlertTopic")["KmsMasterKeyId"],
        json!({"Ref": "AlertTopicKmsKey"})
    );
    assert!(!given.has("AlertTopicKey"));
    // What an existing key's policy needs, for the alarms.
    let readme = readme_deploying();
    assert!(readme.contains(r#""Principal": {"Service": "cloudwatch.amazonaws.com"}"#));
    assert!(readme.contains(r#""Action": ["kms:Decrypt", "kms:GenerateDataKey*"]"#));
}

/// A Deny on requests without TLS for every principal and every action the
/// resource takes.
fn denies_insecure_transport(statements: &[&Value], action: &str) -> bool {
    statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && s["Principal"] == "*"
            && one_or_many(&s["Action"]).contains(&&json!(action))
            && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    })
}

#[test]
fn the_topic_and_every_queue_refuse_requests_without_tls() {
    let template = template_or_skip!();
    for (source, overrides) in log_sources() {
        let stack = render(&template, &overrides);
        let topic = stack.policy_statements("AlertTopicPolicy");
        assert!(denies_insecure_transport(&topic, "sns:Publish"), "{source}");
        let queues: Vec<&String> = stack
            .of_type("AWS::SQS::Queue")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(!queues.is_empty());
        for queue in queues {
            let policies: Vec<&String> = stack
                .of_type("AWS::SQS::QueuePolicy")
                .into_iter()
                .filter(|(_, p)| p["Properties"]["Queues"] == json!([{"Ref": queue}]))
                .map(|(name, _)| name)
                .collect();
            let [policy] = policies[..] else {
                panic!("{source}: {queue} has policies {policies:?}");
            };
            let statements = stack.policy_statements(policy);
            assert!(
                denies_insecure_transport(&statements, "sqs:*"),
                "{source}: {queue}"
            );
        }
    }
    // EventBridge still delivers its dead letters.
    let stack = render(
        &template,
        &[("LogSource", "ExistingBucketEventBridge"), BUCKET],
    );
    let allow = stack
        .policy_statements("FailureQueuePolicy")
        .into_iter()
        .find(|s| s["Effect"] == "Allow")
        .expect("EventBridge may send");
    assert_eq!(
        allow["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    let default = render(&template, &[]);
    assert!(default
        .policy_statements("FailureQueuePolicy")
        .iter()
        .all(|s| s["Effect"] == "Deny"));
}

#[test]
fn the_function_s_own_reads_are_not_logged_into_what_it_reads() {
    // NewBucket: no S3 data events at all, and no KMS Decrypt per object
    // (SSE-S3, not SSE-KMS).
    let stack = render(&template_or_skip!(), &[]);
    for selector in trail_selectors(&stack) {
        let logs_s3 = selector.iter().any(|f| {
            f["Field"] == "resources.type"
                && one_or_many(&f["Equals"])
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| t.starts_with("AWS::S3::")))
        });
        assert!(!logs_s3, "{selector:?}");
    }
    let encryption = &stack.properties("LogBucket")["BucketEncryption"]
        ["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
    assert_eq!(encryption["SSEAlgorithm"], "AES256");
    // An existing trail: the README's exact setting.
    let readme = readme_deploying();
    for needed in [
        r#"{"Field":"resources.type","Equals":["AWS::S3::Object"]}"#,
        r#"{"Field":"resources.ARN","NotStartsWith":["arn:aws:s3:::LOG_BUCKET/"]}"#,
        "KMS `Decrypt`",
    ] {
        assert!(
            readme.contains(needed),
            "README's Deploying lacks {needed:?}"
        );
    }
}
