//! Facts about a record that Sigma cannot express, computed in Rust and
//! read by rules as fields of the `trailwatch.` namespace.
//!
//! Whether a call made a resource public depends on the grant itself: a
//! policy document that often arrives as JSON text inside a string, whose
//! statements must be read one by one (Effect, Principal or NotPrincipal,
//! Condition), or an ACL whose grantee is a group URI. A rule matching the
//! record's text fires on a bucket named `public-read-assets` and on a
//! `Principal: "*"` that a condition limits to one organisation; these
//! fields read the grant instead. They are computed when a rule first asks
//! for one, from `eventSource`, `eventName`, `errorCode` and
//! `requestParameters`, once per record.
//!
//! | field | value |
//! |---|---|
//! | `trailwatch.public_grant` | `true` when the call succeeded and grants access to anyone (anonymous or any AWS account); `false` otherwise, also for every call this module does not know |
//! | `trailwatch.public_via` | how, when public: a list of [`VIAS`] |
//! | `trailwatch.grant_resource` | the kind of resource whose access the call sets, one of [`RESOURCES`], for the calls this module knows (whether or not they succeeded) |
//! | `trailwatch.shared_with_accounts` | the AWS account ids a successful call shared an EBS snapshot, AMI or RDS snapshot with (not `all`) |

use std::borrow::Cow;

use rsigma_eval::event::EventValue;
use serde_json::Value;

/// What every derived field's name starts with.
pub const PREFIX: &str = "trailwatch.";

/// The ways a call can grant public access (`trailwatch.public_via`).
pub const VIAS: &[&str] = &[
    POLICY_PRINCIPAL,
    POLICY_NOT_PRINCIPAL,
    ACL_ALL_USERS,
    ACL_AUTHENTICATED_USERS,
    CANNED_ACL,
    LAMBDA_PERMISSION,
    FUNCTION_URL,
    SHARED_WITH_ALL,
];

const POLICY_PRINCIPAL: &str = "policy-principal";
const POLICY_NOT_PRINCIPAL: &str = "policy-not-principal";
const ACL_ALL_USERS: &str = "acl-all-users";
const ACL_AUTHENTICATED_USERS: &str = "acl-authenticated-users";
const CANNED_ACL: &str = "canned-acl";
const LAMBDA_PERMISSION: &str = "lambda-permission";
const FUNCTION_URL: &str = "function-url-auth-none";
const SHARED_WITH_ALL: &str = "shared-with-all";

/// The kinds of resource `trailwatch.grant_resource` names.
pub const RESOURCES: &[&str] = &[
    "s3-bucket",
    "s3-object",
    "sqs-queue",
    "sns-topic",
    "kms-key",
    "ecr-repository",
    "ecr-registry",
    "secretsmanager-secret",
    "opensearch-domain",
    "glacier-vault",
    "efs-file-system",
    "iam-role",
    "lambda-function",
    "lambda-layer",
    "ebs-snapshot",
    "ami",
    "rds-snapshot",
    "rds-cluster-snapshot",
];

/// The derived fields, by name after [`PREFIX`].
pub const FIELDS: &[&str] = &[
    "public_grant",
    "public_via",
    "grant_resource",
    "shared_with_accounts",
];

/// How a call's request sets access.
#[derive(Clone, Copy)]
enum Grant {
    /// A policy document at this path of requestParameters (an object, or
    /// its JSON text).
    Policy(&'static [&'static str]),
    /// SNS SetTopicAttributes: a policy when attributeName is Policy.
    SnsAttribute,
    /// S3 ACL: grants, x-amz-grant-* headers, canned ACL.
    S3Acl,
    /// Lambda AddPermission / AddLayerVersionPermission.
    LambdaPermission,
    /// Lambda function URL config.
    FunctionUrl,
    /// EC2 ModifySnapshotAttribute / ModifyImageAttribute: the attribute.
    Ec2Share(&'static str),
    /// RDS Modify(DB|DBCluster)SnapshotAttribute.
    RdsShare,
}

use Grant::{Ec2Share, FunctionUrl, LambdaPermission, Policy, RdsShare, S3Acl, SnsAttribute};

/// (eventSource, eventName as normalised, resource kind, how it grants).
const CALLS: &[(&str, &str, &str, Grant)] = &[
    (
        "s3.amazonaws.com",
        "PutBucketPolicy",
        "s3-bucket",
        Policy(&["bucketPolicy"]),
    ),
    ("s3.amazonaws.com", "PutBucketAcl", "s3-bucket", S3Acl),
    ("s3.amazonaws.com", "CreateBucket", "s3-bucket", S3Acl),
    ("s3.amazonaws.com", "PutObjectAcl", "s3-object", S3Acl),
    ("s3.amazonaws.com", "PutObject", "s3-object", S3Acl),
    ("s3.amazonaws.com", "CopyObject", "s3-object", S3Acl),
    (
        "s3.amazonaws.com",
        "CreateMultipartUpload",
        "s3-object",
        S3Acl,
    ),
    (
        "sqs.amazonaws.com",
        "SetQueueAttributes",
        "sqs-queue",
        Policy(&["attributes", "Policy"]),
    ),
    (
        "sqs.amazonaws.com",
        "CreateQueue",
        "sqs-queue",
        Policy(&["attributes", "Policy"]),
    ),
    (
        "sns.amazonaws.com",
        "SetTopicAttributes",
        "sns-topic",
        SnsAttribute,
    ),
    (
        "sns.amazonaws.com",
        "CreateTopic",
        "sns-topic",
        Policy(&["attributes", "Policy"]),
    ),
    (
        "kms.amazonaws.com",
        "PutKeyPolicy",
        "kms-key",
        Policy(&["policy"]),
    ),
    (
        "kms.amazonaws.com",
        "CreateKey",
        "kms-key",
        Policy(&["policy"]),
    ),
    (
        "ecr.amazonaws.com",
        "SetRepositoryPolicy",
        "ecr-repository",
        Policy(&["policyText"]),
    ),
    (
        "ecr.amazonaws.com",
        "PutRegistryPolicy",
        "ecr-registry",
        Policy(&["policyText"]),
    ),
    (
        "secretsmanager.amazonaws.com",
        "PutResourcePolicy",
        "secretsmanager-secret",
        Policy(&["resourcePolicy"]),
    ),
    (
        "es.amazonaws.com",
        "CreateElasticsearchDomain",
        "opensearch-domain",
        Policy(&["accessPolicies"]),
    ),
    (
        "es.amazonaws.com",
        "UpdateElasticsearchDomainConfig",
        "opensearch-domain",
        Policy(&["accessPolicies"]),
    ),
    (
        "es.amazonaws.com",
        "CreateDomain",
        "opensearch-domain",
        Policy(&["accessPolicies"]),
    ),
    (
        "es.amazonaws.com",
        "UpdateDomainConfig",
        "opensearch-domain",
        Policy(&["accessPolicies"]),
    ),
    (
        "glacier.amazonaws.com",
        "SetVaultAccessPolicy",
        "glacier-vault",
        Policy(&["policy", "policy"]),
    ),
    (
        "elasticfilesystem.amazonaws.com",
        "PutFileSystemPolicy",
        "efs-file-system",
        Policy(&["policy"]),
    ),
    (
        "iam.amazonaws.com",
        "CreateRole",
        "iam-role",
        Policy(&["assumeRolePolicyDocument"]),
    ),
    (
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        "iam-role",
        Policy(&["policyDocument"]),
    ),
    (
        "lambda.amazonaws.com",
        "AddPermission",
        "lambda-function",
        LambdaPermission,
    ),
    (
        "lambda.amazonaws.com",
        "AddLayerVersionPermission",
        "lambda-layer",
        LambdaPermission,
    ),
    (
        "lambda.amazonaws.com",
        "CreateFunctionUrlConfig",
        "lambda-function",
        FunctionUrl,
    ),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionUrlConfig",
        "lambda-function",
        FunctionUrl,
    ),
    (
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        "ebs-snapshot",
        Ec2Share("createVolumePermission"),
    ),
    (
        "ec2.amazonaws.com",
        "ModifyImageAttribute",
        "ami",
        Ec2Share("launchPermission"),
    ),
    (
        "rds.amazonaws.com",
        "ModifyDBSnapshotAttribute",
        "rds-snapshot",
        RdsShare,
    ),
    (
        "rds.amazonaws.com",
        "ModifyDBClusterSnapshotAttribute",
        "rds-cluster-snapshot",
        RdsShare,
    ),
];

/// The derived facts of one record.
#[derive(Debug, Default, PartialEq)]
pub struct Derived {
    pub public_via: Vec<&'static str>,
    pub grant_resource: Option<&'static str>,
    pub shared_with_accounts: Vec<String>,
}

impl Derived {
    /// The facts of a record whose top-level field `key` is `field(key)`.
    pub fn of<'v>(field: &dyn Fn(&str) -> Option<Cow<'v, Value>>) -> Derived {
        let text = |key: &str| match field(key)?.into_owned() {
            Value::String(text) => Some(text),
            _ => None,
        };
        let (Some(source), Some(name)) = (text("eventSource"), text("eventName")) else {
            return Derived::default();
        };
        let name = crate::record::normalize_event_name(&name);
        let Some((_, _, resource, grant)) = CALLS
            .iter()
            .find(|(s, n, _, _)| *n == name && s.eq_ignore_ascii_case(&source))
        else {
            return Derived::default();
        };
        let mut derived = Derived {
            grant_resource: Some(resource),
            ..Derived::default()
        };
        if failed(field("errorCode").as_deref()) {
            return derived;
        }
        let Some(request) = field("requestParameters") else {
            return derived;
        };
        read_grant(*grant, &request, &mut derived);
        derived.public_via.sort_unstable();
        derived.public_via.dedup();
        derived
    }

    pub fn public_grant(&self) -> bool {
        !self.public_via.is_empty()
    }

    /// The derived field `name` (without [`PREFIX`]) as rules read it:
    /// the lists are absent when empty.
    pub fn get(&self, name: &str) -> Option<EventValue<'_>> {
        match name {
            "public_grant" => Some(EventValue::Bool(self.public_grant())),
            "public_via" => list(
                self.public_via
                    .iter()
                    .map(|via| EventValue::Str(Cow::Borrowed(via)))
                    .collect(),
            ),
            "grant_resource" => self
                .grant_resource
                .map(|resource| EventValue::Str(Cow::Borrowed(resource))),
            "shared_with_accounts" => list(
                self.shared_with_accounts
                    .iter()
                    .map(|account| EventValue::Str(Cow::Borrowed(account.as_str())))
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// A list as rules read it: absent when empty.
fn list(items: Vec<EventValue<'_>>) -> Option<EventValue<'_>> {
    (!items.is_empty()).then_some(EventValue::Array(items))
}

/// A call with an error code changed nothing.
fn failed(error_code: Option<&Value>) -> bool {
    match error_code {
        None | Some(Value::Null) => false,
        Some(Value::String(code)) => !code.trim().is_empty(),
        Some(_) => true,
    }
}

fn read_grant(grant: Grant, request: &Value, out: &mut Derived) {
    match grant {
        Policy(path) => {
            let mut at = Some(request);
            for key in path {
                at = at.and_then(|value| member(value, key));
            }
            if let Some(policy) = at {
                policy_vias(policy, &mut out.public_via);
            }
        }
        SnsAttribute => {
            let is_policy = member(request, "attributeName")
                .and_then(Value::as_str)
                .is_some_and(|name| name.eq_ignore_ascii_case("Policy"));
            if let Some(policy) = member(request, "attributeValue").filter(|_| is_policy) {
                policy_vias(policy, &mut out.public_via);
            }
        }
        S3Acl => s3_acl_vias(request, &mut out.public_via),
        LambdaPermission => {
            let everyone = member(request, "principal")
                .and_then(Value::as_str)
                .is_some_and(|principal| principal.trim() == "*");
            // Each of these limits the permission to one account, source or
            // organisation (AddPermission; organizationId for layers).
            let limited = [
                "sourceArn",
                "sourceAccount",
                "principalOrgID",
                "organizationId",
            ]
            .iter()
            .any(|key| member(request, key).is_some_and(|v| !blank(v)));
            if everyone && !limited {
                out.public_via.push(LAMBDA_PERMISSION);
            }
        }
        FunctionUrl => {
            let none = member(request, "authType")
                .and_then(Value::as_str)
                .is_some_and(|auth| auth.eq_ignore_ascii_case("NONE"));
            if none {
                out.public_via.push(FUNCTION_URL);
            }
        }
        Ec2Share(attribute) => {
            let items = member(request, attribute)
                .and_then(|permission| member(permission, "add"))
                .and_then(|add| member(add, "items"));
            for item in each(items) {
                let group = member(item, "group").and_then(Value::as_str);
                if group.is_some_and(|group| group.trim().eq_ignore_ascii_case("all")) {
                    out.public_via.push(SHARED_WITH_ALL);
                }
                if let Some(account) = member(item, "userId").and_then(scalar_text) {
                    out.shared_with_accounts.push(account);
                }
            }
        }
        RdsShare => {
            let restore = member(request, "attributeName")
                .and_then(Value::as_str)
                .is_some_and(|name| name.eq_ignore_ascii_case("restore"));
            if !restore {
                return;
            }
            for value in each(member(request, "valuesToAdd")).filter_map(scalar_text) {
                if value.trim().eq_ignore_ascii_case("all") {
                    out.public_via.push(SHARED_WITH_ALL);
                } else {
                    out.shared_with_accounts.push(value);
                }
            }
        }
    }
}

/// The member `key` of an object: exactly, else in any case (CloudTrail
/// and the policy language are not consistent about case).
fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// An array's members, or a lone value as one.
fn each(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    let items: &[Value] = match value {
        Some(Value::Array(items)) => items,
        Some(other) => std::slice::from_ref(other),
        None => &[],
    };
    items.iter()
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        _ => false,
    }
}

// ---- policy documents ----

/// The ways the policy (an object, or its JSON text) grants public access.
/// Text that is not a JSON policy grants nothing that can be told.
fn policy_vias(policy: &Value, out: &mut Vec<&'static str>) {
    let parsed;
    let policy = match policy {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                parsed = value;
                &parsed
            }
            Err(_) => return,
        },
        other => other,
    };
    for statement in each(member(policy, "Statement")) {
        if let Some(via) = public_statement(statement) {
            out.push(via);
        }
    }
}

/// How one statement grants access to anyone, if it does: it allows, names
/// everyone as its principal (or excepts some with NotPrincipal), and no
/// condition pins the caller down.
fn public_statement(statement: &Value) -> Option<&'static str> {
    let allows = member(statement, "Effect")
        .and_then(Value::as_str)
        .is_some_and(|effect| effect.trim().eq_ignore_ascii_case("Allow"));
    if !allows {
        return None;
    }
    let via = match (
        member(statement, "Principal"),
        member(statement, "NotPrincipal"),
    ) {
        (Some(principal), _) if everyone(principal) => POLICY_PRINCIPAL,
        (None, Some(_)) => POLICY_NOT_PRINCIPAL,
        _ => return None,
    };
    match member(statement, "Condition") {
        Some(condition) if narrows(condition) => None,
        _ => Some(via),
    }
}

/// `"*"`, or a principal map with `"*"` for some type (`{"AWS": "*"}`,
/// `{"AWS": ["arn:...", "*"]}`, `{"CanonicalUser": "*"}`).
fn everyone(principal: &Value) -> bool {
    let star = |value: &Value| value.as_str().is_some_and(|text| text.trim() == "*");
    match principal {
        Value::Object(types) => types.values().any(|ids| each(Some(ids)).any(star)),
        other => star(other),
    }
}

/// Condition keys that, compared to fixed values, limit who can make the
/// request to less than the world: the caller's account, organisation,
/// ARN or user id, the network it comes from, or the resource or account
/// a service acts for. Keys such as aws:SecureTransport, aws:UserAgent,
/// aws:CurrentTime or aws:Referer limit how, not who, and are not here.
const CALLER_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:vpcsourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:principalisawsservice",
    "aws:userid",
    "aws:username",
    "kms:calleraccount",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

/// Condition operators that require the request's value to equal or match
/// the policy's. Negated operators (StringNotEquals, NotIpAddress) let in
/// everyone but the values named; `...IfExists` and `ForAllValues:` are
/// true when the request lacks the key, as an anonymous request does.
const REQUIRING_OPERATORS: &[&str] = &[
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "ipaddress",
    "bool",
];

/// Whether a statement's Condition pins the caller down.
fn narrows(condition: &Value) -> bool {
    let Some(operators) = condition.as_object() else {
        return false;
    };
    operators.iter().any(|(operator, block)| {
        let operator = operator.trim().to_ascii_lowercase();
        if operator.starts_with("forallvalues:") || operator.ends_with("ifexists") {
            return false;
        }
        let operator = operator.strip_prefix("foranyvalue:").unwrap_or(&operator);
        if !REQUIRING_OPERATORS.contains(&operator) {
            return false;
        }
        let Some(keys) = block.as_object() else {
            return false;
        };
        keys.iter().any(|(key, values)| {
            let key = key.trim().to_ascii_lowercase();
            if !CALLER_KEYS.contains(&key.as_str()) {
                return false;
            }
            let values: Vec<String> = each(Some(values)).filter_map(scalar_text).collect();
            if values.is_empty() {
                return false;
            }
            if operator == "bool" {
                // Only "the caller is an AWS service" narrows.
                return key == "aws:principalisawsservice"
                    && values.iter().all(|v| v.eq_ignore_ascii_case("true"));
            }
            values.iter().all(|value| pins(&key, value))
        })
    })
}

/// Whether `value` of caller key `key` lets in less than the world.
fn pins(key: &str, value: &str) -> bool {
    let wild = |text: &str| text.contains(['*', '?']);
    match key {
        "aws:sourceip" | "aws:vpcsourceip" => cidr_pins(value),
        "aws:principalarn" | "aws:sourcearn" | "s3:dataaccesspointarn" => {
            // A wildcard may stand for a name, not for the account.
            !wild(value)
                || value.split(':').nth(4).is_some_and(|account| {
                    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
                })
        }
        "aws:principalorgpaths" | "aws:sourceorgpaths" => value
            .split('/')
            .next()
            .is_some_and(|org| org.starts_with("o-") && org.len() > 2 && !wild(org)),
        // A role's id with any session name ("AROA...:*") is that role.
        "aws:userid" => value
            .split(':')
            .next()
            .is_some_and(|id| !id.is_empty() && !wild(id)),
        _ => !wild(value),
    }
}

/// A CIDR narrower than an eighth of the IPv4 (or IPv6) space, or one
/// address.
fn cidr_pins(value: &str) -> bool {
    let (address, prefix) = match value.trim().split_once('/') {
        Some((address, prefix)) => match prefix.parse::<u8>() {
            Ok(prefix) => (address, prefix),
            Err(_) => return false,
        },
        None => return value.parse::<std::net::IpAddr>().is_ok(),
    };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix >= 8,
        Ok(std::net::IpAddr::V6(_)) => prefix >= 16,
        Err(_) => false,
    }
}

// ---- S3 ACLs ----

const ALL_USERS: &str = "acs.amazonaws.com/groups/global/allusers";
const AUTHENTICATED_USERS: &str = "acs.amazonaws.com/groups/global/authenticatedusers";
const PUBLIC_CANNED: &[&str] = &["public-read", "public-read-write", "authenticated-read"];
const GRANT_HEADERS: &[&str] = &[
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
];

/// The public grants of an S3 request's ACL: explicit grants
/// (AccessControlPolicy.AccessControlList.Grant[].Grantee.URI), grant
/// headers, and a canned ACL. Names (bucket, key) are never read.
fn s3_acl_vias(request: &Value, out: &mut Vec<&'static str>) {
    let grants = member(request, "AccessControlPolicy")
        .and_then(|policy| member(policy, "AccessControlList"))
        .and_then(|list| member(list, "Grant"));
    for grant in each(grants) {
        let uri = member(grant, "Grantee")
            .and_then(|grantee| member(grantee, "URI"))
            .and_then(Value::as_str);
        if let Some(via) = uri.and_then(group_via) {
            out.push(via);
        }
    }
    // Headers at the top of requestParameters, or (as some records have
    // them) inside AccessControlList, with - or _.
    let places = [Some(request), member(request, "AccessControlList")];
    for place in places.into_iter().flatten() {
        let Some(object) = place.as_object() else {
            continue;
        };
        for (key, value) in object {
            let key = key.to_ascii_lowercase().replace('_', "-");
            if GRANT_HEADERS.contains(&key.as_str()) {
                for header in each(Some(value)).filter_map(Value::as_str) {
                    header_vias(header, out);
                }
            } else if key == "x-amz-acl" || key == "acl" {
                let canned = each(Some(value))
                    .filter_map(Value::as_str)
                    .any(|acl| PUBLIC_CANNED.contains(&acl.trim().to_ascii_lowercase().as_str()));
                if canned {
                    out.push(CANNED_ACL);
                }
            }
        }
    }
}

/// The public group a grantee URI names.
fn group_via(uri: &str) -> Option<&'static str> {
    let uri = uri.trim().trim_matches('"').to_ascii_lowercase();
    let uri = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
        .unwrap_or(&uri);
    match uri {
        ALL_USERS => Some(ACL_ALL_USERS),
        AUTHENTICATED_USERS => Some(ACL_AUTHENTICATED_USERS),
        _ => None,
    }
}

/// A grant header's grantees: `uri="http://...", id="..."`.
fn header_vias(header: &str, out: &mut Vec<&'static str>) {
    for grantee in header.split(',') {
        if let Some((kind, value)) = grantee.split_once('=') {
            if kind.trim().eq_ignore_ascii_case("uri") {
                if let Some(via) = group_via(value) {
                    out.push(via);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn derive(record: &Value) -> Derived {
        Derived::of(&|key| record.get(key).map(Cow::Borrowed))
    }

    fn call(source: &str, name: &str, request: Value) -> Value {
        json!({"eventSource": source, "eventName": name, "requestParameters": request})
    }

    fn vias(record: &Value) -> Vec<&'static str> {
        derive(record).public_via
    }

    fn bucket_policy(statement: Value) -> Value {
        call(
            "s3.amazonaws.com",
            "PutBucketPolicy",
            json!({"bucketName": "b", "bucketPolicy": {"Version": "2012-10-17", "Statement": statement}}),
        )
    }

    #[test]
    fn a_statement_is_public_when_it_allows_everyone_without_a_caller_condition() {
        let public = [
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}),
            json!([{"Effect": "Allow", "Principal": {"AWS": "*"}}]),
            json!([{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}}]),
            json!([{"Effect": "Allow", "Principal": {"CanonicalUser": "*"}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringLike": {"aws:UserAgent": "curl*"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::/0"]}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"ForAllValues:StringEquals": {"aws:PrincipalOrgPaths": "o-abc123/r-ab12/*"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringLike": {"aws:PrincipalOrgID": "*"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deploy"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"Bool": {"aws:PrincipalIsAWSService": "false"}}}]),
        ];
        for statement in public {
            assert_eq!(
                vias(&bucket_policy(statement.clone())),
                [POLICY_PRINCIPAL],
                "{statement}"
            );
        }
        let not_principal = json!([{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:*"}]);
        assert_eq!(vias(&bucket_policy(not_principal)), [POLICY_NOT_PRINCIPAL]);
    }

    #[test]
    fn deny_named_principals_and_caller_conditions_are_not_public() {
        let private = [
            json!([{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
            json!([{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}}]),
            json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}}]),
            json!([{"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}}]),
            json!({"Effect": "Allow", "Principal": {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}}),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-111bbb22"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.7"]}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc123/r-ab12/ou-ab12-11111111/*"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::logs-bucket"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abc123"}}}]),
            json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789123"}}}]),
            json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}}}]),
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"Bool": {"aws:PrincipalIsAWSService": "true"}}}]),
            // Two operators: one caller key is enough (conditions are ANDed).
            json!([{"Effect": "Allow", "Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]),
        ];
        for statement in private {
            assert_eq!(
                vias(&bucket_policy(statement.clone())),
                Vec::<&str>::new(),
                "{statement}"
            );
        }
    }

    #[test]
    fn each_statement_is_read_on_its_own() {
        // The Deny's "*" and the Allow's named role make nothing public.
        let mixed = json!([
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}, "Action": "s3:GetObject"}
        ]);
        assert!(!derive(&bucket_policy(mixed)).public_grant());
        let second_public = json!([
            {"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
        ]);
        assert_eq!(vias(&bucket_policy(second_public)), [POLICY_PRINCIPAL]);
    }

    #[test]
    fn a_failed_call_grants_nothing() {
        let mut record = bucket_policy(json!([{"Effect": "Allow", "Principal": "*"}]));
        assert!(derive(&record).public_grant());
        record["errorCode"] = json!("AccessDenied");
        let derived = derive(&record);
        assert!(!derived.public_grant());
        assert_eq!(derived.grant_resource, Some("s3-bucket"));
        assert_eq!(derived.get("public_grant"), Some(EventValue::Bool(false)));
        assert_eq!(derived.get("public_via"), None);
        record["errorCode"] = Value::Null;
        assert!(derive(&record).public_grant());
    }

    #[test]
    fn policies_in_json_text_are_read_for_each_service() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"*"}]}"#;
        let cases = [
            (
                "sqs.amazonaws.com",
                "SetQueueAttributes",
                json!({"attributes": {"Policy": text}}),
                "sqs-queue",
            ),
            (
                "sqs.amazonaws.com",
                "CreateQueue",
                json!({"queueName": "q", "attributes": {"Policy": text}}),
                "sqs-queue",
            ),
            (
                "sns.amazonaws.com",
                "SetTopicAttributes",
                json!({"attributeName": "Policy", "attributeValue": text}),
                "sns-topic",
            ),
            (
                "sns.amazonaws.com",
                "CreateTopic",
                json!({"attributes": {"Policy": text}}),
                "sns-topic",
            ),
            (
                "kms.amazonaws.com",
                "PutKeyPolicy",
                json!({"policy": text}),
                "kms-key",
            ),
            (
                "kms.amazonaws.com",
                "CreateKey",
                json!({"policy": text}),
                "kms-key",
            ),
            (
                "ecr.amazonaws.com",
                "SetRepositoryPolicy",
                json!({"policyText": text}),
                "ecr-repository",
            ),
            (
                "ecr.amazonaws.com",
                "PutRegistryPolicy",
                json!({"policyText": text}),
                "ecr-registry",
            ),
            (
                "secretsmanager.amazonaws.com",
                "PutResourcePolicy",
                json!({"resourcePolicy": text}),
                "secretsmanager-secret",
            ),
            (
                "es.amazonaws.com",
                "UpdateElasticsearchDomainConfig",
                json!({"accessPolicies": text}),
                "opensearch-domain",
            ),
            (
                "es.amazonaws.com",
                "CreateDomain",
                json!({"accessPolicies": text}),
                "opensearch-domain",
            ),
            (
                "glacier.amazonaws.com",
                "SetVaultAccessPolicy",
                json!({"policy": {"policy": text}}),
                "glacier-vault",
            ),
            (
                "elasticfilesystem.amazonaws.com",
                "PutFileSystemPolicy",
                json!({"policy": text}),
                "efs-file-system",
            ),
            (
                "iam.amazonaws.com",
                "CreateRole",
                json!({"assumeRolePolicyDocument": text}),
                "iam-role",
            ),
            (
                "iam.amazonaws.com",
                "UpdateAssumeRolePolicy",
                json!({"policyDocument": text}),
                "iam-role",
            ),
            (
                "s3.amazonaws.com",
                "PutBucketPolicy",
                json!({"bucketPolicy": text}),
                "s3-bucket",
            ),
        ];
        for (source, name, request, resource) in cases {
            let derived = derive(&call(source, name, request));
            assert_eq!(derived.public_via, [POLICY_PRINCIPAL], "{name}");
            assert_eq!(derived.grant_resource, Some(resource), "{name}");
        }
        // Another SNS attribute, text that is no policy, another service's
        // API of the same name: nothing public.
        let display = call(
            "sns.amazonaws.com",
            "SetTopicAttributes",
            json!({"attributeName": "DisplayName", "attributeValue": text}),
        );
        assert!(!derive(&display).public_grant());
        let garbage = call(
            "kms.amazonaws.com",
            "PutKeyPolicy",
            json!({"policy": "{not json"}),
        );
        assert!(!derive(&garbage).public_grant());
        let other = call(
            "payment-cryptography.amazonaws.com",
            "CreateKey",
            json!({"policy": text}),
        );
        assert_eq!(derive(&other), Derived::default());
    }

    #[test]
    fn s3_acls_are_read_from_the_grants_never_from_names() {
        let grant = |uri: &str| {
            json!({"bucketName": "b", "AccessControlPolicy": {"AccessControlList": {"Grant": [
                {"Grantee": {"xsi:type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"xsi:type": "Group", "URI": uri}, "Permission": "READ"}
            ]}}})
        };
        let acl = |request: Value| vias(&call("s3.amazonaws.com", "PutBucketAcl", request));
        assert_eq!(
            acl(grant("http://acs.amazonaws.com/groups/global/AllUsers")),
            [ACL_ALL_USERS]
        );
        assert_eq!(
            acl(grant(
                "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
            )),
            [ACL_AUTHENTICATED_USERS]
        );
        assert!(acl(grant("http://acs.amazonaws.com/groups/s3/LogDelivery")).is_empty());
        // A single grant as an object.
        let single = json!({"AccessControlPolicy": {"AccessControlList": {"Grant":
            {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "permission": "READ"}}}});
        assert_eq!(acl(single), [ACL_ALL_USERS]);
        // Grant headers, as strings or arrays, with - or _.
        let header = json!({"x-amz-grant-read": ["uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"abc\""]});
        assert_eq!(acl(header), [ACL_ALL_USERS]);
        let nested = json!({"AccessControlList": {"x_amz_grant_full_control": "uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}});
        assert_eq!(acl(nested), [ACL_AUTHENTICATED_USERS]);
        let private_header = json!({"x-amz-grant-read": "id=\"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be\""});
        assert!(acl(private_header).is_empty());
        // Canned ACLs.
        for canned in ["public-read", "public-read-write", "authenticated-read"] {
            assert_eq!(
                acl(json!({"x-amz-acl": [canned]})),
                [CANNED_ACL],
                "{canned}"
            );
            assert_eq!(acl(json!({"acl": canned})), [CANNED_ACL], "{canned}");
        }
        for canned in [
            "private",
            "bucket-owner-full-control",
            "log-delivery-write",
            "",
        ] {
            assert!(
                acl(json!({"x-amz-acl": canned, "acl": [canned]})).is_empty(),
                "{canned}"
            );
        }
        // Names that read as public grant nothing.
        let named = json!({"bucketName": "acme-public-read-assets", "key": "public-read/AllUsers.txt",
            "Host": "acme-public-read-assets.s3.amazonaws.com", "acl": [""], "x-amz-acl": ["private"]});
        assert!(acl(named.clone()).is_empty());
        assert!(vias(&call("s3.amazonaws.com", "PutObjectAcl", named)).is_empty());
        let object = derive(&call(
            "s3.amazonaws.com",
            "PutObject",
            json!({"x-amz-acl": "public-read"}),
        ));
        assert_eq!(
            (object.public_via, object.grant_resource),
            (vec![CANNED_ACL], Some("s3-object"))
        );
    }

    #[test]
    fn lambda_permissions_are_public_for_everyone_unless_limited() {
        let permission = |request: Value| {
            vias(&call(
                "lambda.amazonaws.com",
                "AddPermission20150331v2",
                request,
            ))
        };
        assert_eq!(
            permission(
                json!({"action": "lambda:InvokeFunction", "functionName": "f", "principal": "*", "statementId": "backdoor"})
            ),
            [LAMBDA_PERMISSION]
        );
        for limited in [
            json!({"principal": "*", "sourceArn": "arn:aws:s3:::bucket"}),
            json!({"principal": "*", "sourceAccount": "111122223333"}),
            json!({"principal": "*", "principalOrgID": "o-abc123"}),
            json!({"principal": "s3.amazonaws.com"}),
            json!({"principal": "111122223333"}),
        ] {
            assert!(permission(limited.clone()).is_empty(), "{limited}");
        }
        let layer = |request: Value| {
            vias(&call(
                "lambda.amazonaws.com",
                "AddLayerVersionPermission20181031",
                request,
            ))
        };
        assert_eq!(
            layer(json!({"principal": "*", "action": "lambda:GetLayerVersion"})),
            [LAMBDA_PERMISSION]
        );
        assert!(layer(json!({"principal": "*", "organizationId": "o-abc123"})).is_empty());
        let url = |auth: &str| {
            vias(&call(
                "lambda.amazonaws.com",
                "CreateFunctionUrlConfig20211031",
                json!({"functionName": "f", "authType": auth}),
            ))
        };
        assert_eq!(url("NONE"), [FUNCTION_URL]);
        assert!(url("AWS_IAM").is_empty());
        // SQS's AddPermission is another API.
        let sqs = call(
            "sqs.amazonaws.com",
            "AddPermission",
            json!({"principal": "*"}),
        );
        assert_eq!(derive(&sqs), Derived::default());
    }

    #[test]
    fn snapshots_and_images_shared_with_all_or_with_accounts() {
        let ec2 = |name: &str, attribute: &str, operation: &str, items: Value| {
            derive(&call(
                "ec2.amazonaws.com",
                name,
                json!({attribute: {operation: {"items": items}}, "attributeType": attribute}),
            ))
        };
        let public = ec2(
            "ModifySnapshotAttribute",
            "createVolumePermission",
            "add",
            json!([{"group": "all"}]),
        );
        assert_eq!(public.public_via, [SHARED_WITH_ALL]);
        assert_eq!(public.grant_resource, Some("ebs-snapshot"));
        let image = ec2(
            "ModifyImageAttribute",
            "launchPermission",
            "add",
            json!([{"group": "all"}]),
        );
        assert_eq!(
            (image.public_via, image.grant_resource),
            (vec![SHARED_WITH_ALL], Some("ami"))
        );
        let removed = ec2(
            "ModifyImageAttribute",
            "launchPermission",
            "remove",
            json!([{"group": "all"}]),
        );
        assert!(!removed.public_grant());
        let account = ec2(
            "ModifyImageAttribute",
            "launchPermission",
            "add",
            json!([{"userId": "846424999548"}]),
        );
        assert!(!account.public_grant());
        assert_eq!(account.shared_with_accounts, ["846424999548"]);
        let rds = |name: &str, attribute: &str, values: Value| {
            derive(&call(
                "rds.amazonaws.com",
                name,
                json!({"attributeName": attribute, "valuesToAdd": values}),
            ))
        };
        let all = rds(
            "ModifyDBClusterSnapshotAttribute",
            "restore",
            json!(["all"]),
        );
        assert_eq!(
            (all.public_via, all.grant_resource),
            (vec![SHARED_WITH_ALL], Some("rds-cluster-snapshot"))
        );
        let one = rds(
            "ModifyDBSnapshotAttribute",
            "restore",
            json!(["503161813013"]),
        );
        assert!(!one.public_grant());
        assert_eq!(one.shared_with_accounts, ["503161813013"]);
        assert_eq!(
            one.get("shared_with_accounts"),
            Some(EventValue::Array(vec![EventValue::Str(Cow::Borrowed(
                "503161813013"
            ))]))
        );
        assert!(!rds("ModifyDBSnapshotAttribute", "other", json!(["all"])).public_grant());
        let mut failed = call(
            "rds.amazonaws.com",
            "ModifyDBSnapshotAttribute",
            json!({"attributeName": "restore", "valuesToAdd": ["all", "111122223333"]}),
        );
        failed["errorCode"] = json!("DBSnapshotNotFound");
        let failed = derive(&failed);
        assert!(!failed.public_grant() && failed.shared_with_accounts.is_empty());
    }

    #[test]
    fn cidrs_and_pinned_values() {
        for (cidr, pinned) in [
            ("0.0.0.0/0", false),
            ("0.0.0.0/1", false),
            ("10.0.0.0/8", true),
            ("203.0.113.7", true),
            ("::/0", false),
            ("2001:db8::/32", true),
            ("nonsense", false),
            ("10.0.0.0/x", false),
        ] {
            assert_eq!(cidr_pins(cidr), pinned, "{cidr}");
        }
        assert!(!pins("aws:principalorgpaths", "o-*/r-ab12/*"));
        assert!(!pins("aws:sourceaccount", "1111*"));
        assert!(pins(
            "aws:sourcearn",
            "arn:aws:sns:us-east-1:111122223333:*"
        ));
        assert!(!pins("aws:sourcearn", "arn:aws:s3:::*"));
        assert!(!pins("aws:userid", "*:session"));
    }
}
