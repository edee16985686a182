//! Records planted to match the built-in rules (src/rules/builtin): each one
//! raises at least one finding, so a scan of a generated log has alerts to
//! deliver and the count of planted records says how many records should
//! raise them. They are spread over many rules and principals, weighted
//! towards what a real trail shows most (denials, Lambda invocations by
//! callers other than S3, function deployments).

use super::access::SignIn;
use super::changes::{
    bucket_made_public, change, cloudtrail_tamper, config_stopped, flow_logs_deleted,
    guardduty_deleted, iam_credentials, iam_policy, kms_key_disabled, security_group_open,
    sns_topic,
};
use super::record::{Call, Gen, Kind, RequestId, Resource};
use super::world::{
    user, Who, ACCOUNT, APP_ROLE, BUCKETS, CI_ROLE, CONSOLE_AGENTS, FUNCTIONS, SDK_AGENTS,
    SSO_READONLY, TERRAFORM_AGENT, TOOL_AGENTS, USERS,
};

type Plant = fn(&mut Gen);

/// Which records are planted, by weight. Each names the rule(s) it raises.
const PLANTS: &[(u32, Plant)] = &[
    (25, access_denied),      // access_denied (and, in bursts, denied_calls_burst)
    (22, lambda_invoke),      // lambda_invoked_not_by_s3
    (10, lambda_changed),     // lambda_function_changed
    (8, login_without_mfa),   // console_login_without_mfa
    (6, login_failed),        // console_login_failed
    (6, iam_policy),          // iam_policy_attached (+ iam_admin_policy_attached)
    (4, iam_credentials),     // iam_user_or_credentials_created
    (3, cloudtrail_tamper),   // cloudtrail_tampering
    (3, root_login),          // root_identity_used
    (3, security_group_open), // security_group_ingress_open_to_internet
    (3, sns_topic),           // sns_topic_created
    (2, kms_key_disabled),    // kms_key_disabled_or_deletion_scheduled
    (2, flow_logs_deleted),   // vpc_flow_logs_deleted
    (1, guardduty_deleted),   // guardduty_disabled
    (1, config_stopped),      // config_recording_stopped
    (1, bucket_made_public),  // s3_bucket_made_public
];

/// Writes one planted record.
pub(crate) fn one(g: &mut Gen) {
    let plant = g.rng.weighted(PLANTS);
    g.planting = true;
    plant(g);
    g.planting = false;
}

/// APIs probed with credentials that lack the permission, and how each
/// service spells the denial.
const DENIED: &[(&str, &str, &str, &str)] = &[
    (
        "s3.amazonaws.com",
        "GetObject",
        "AccessDenied",
        "s3:GetObject",
    ),
    (
        "ec2.amazonaws.com",
        "DescribeInstances",
        "Client.UnauthorizedOperation",
        "ec2:DescribeInstances",
    ),
    (
        "iam.amazonaws.com",
        "ListUsers",
        "AccessDenied",
        "iam:ListUsers",
    ),
    (
        "lambda.amazonaws.com",
        "ListFunctions20150331",
        "AccessDeniedException",
        "lambda:ListFunctions",
    ),
    (
        "ssm.amazonaws.com",
        "GetParameter",
        "AccessDeniedException",
        "ssm:GetParameter",
    ),
    (
        "sts.amazonaws.com",
        "AssumeRole",
        "AccessDenied",
        "sts:AssumeRole",
    ),
    (
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        "AccessDeniedException",
        "secretsmanager:GetSecretValue",
    ),
];

fn access_denied(g: &mut Gen) {
    let (source, name, code, action) = g.rng.pick(DENIED);
    // Mostly one user's key being tried against service after service.
    let (who, ip, agent) = match g.rng.below(4) {
        0 | 1 => (
            Who::User(&USERS[5]),
            "198.51.100.77".to_string(),
            TOOL_AGENTS[4],
        ),
        2 => (
            Who::role(&mut g.rng, &SSO_READONLY),
            g.public_ip(),
            CONSOLE_AGENTS[0],
        ),
        _ => (
            Who::role(&mut g.rng, &APP_ROLE),
            g.private_ip(),
            SDK_AGENTS[0],
        ),
    };
    let region = if source == "iam.amazonaws.com" {
        "us-east-1"
    } else {
        g.region()
    };
    // By one of a crowd, if there is one: the message names the caller.
    let who = g.caller(who);
    let arn = who.arn();
    let message = match code {
        "AccessDenied" if source == "s3.amazonaws.com" => "Access Denied".to_string(),
        "Client.UnauthorizedOperation" => format!(
            "You are not authorized to perform this operation. User: {arn} is not authorized to perform: {action} because no identity-based policy allows the {action} action"
        ),
        _ => format!("User: {arn} is not authorized to perform: {action} because no identity-based policy allows the {action} action"),
    };
    let (bucket, _) = BUCKETS[1];
    let mut call = Call::new(source, name, who, region, &ip, agent);
    call.error(code, &message);
    call.read_only = name != "AssumeRole";
    if source == "s3.amazonaws.com" {
        call.kind = Kind::Data;
        call.request_id = RequestId::S3;
    }
    g.emit(&call, |o, _| {
        match name {
            "GetObject" => o.obj("requestParameters", |o| {
                o.str("bucketName", bucket)
                    .str("key", "config/prod/secrets.env");
            }),
            "GetParameter" => o.obj("requestParameters", |o| {
                o.str("name", "/prod/shared/datadog-api-key")
                    .bool("withDecryption", true);
            }),
            "GetSecretValue" => o.obj("requestParameters", |o| {
                o.str("secretId", "prod/orders/db");
            }),
            "AssumeRole" => o.obj("requestParameters", |o| {
                o.str(
                    "roleArn",
                    &format!("arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"),
                );
                o.str("roleSessionName", "probe");
            }),
            _ => o.null("requestParameters"),
        };
        o.null("responseElements");
    });
}

/// Invoke by someone other than S3: a user, CI, or another service.
fn lambda_invoke(g: &mut Gen) {
    let function = g.rng.pick(FUNCTIONS);
    let region = g.region();
    let function_arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}");
    let resources = [Resource {
        kind: "AWS::Lambda::Function",
        arn: &function_arn,
    }];
    let (who, ip, agent) = match g.rng.below(3) {
        0 => (
            Who::User(user(&mut g.rng, &USERS[..3])),
            g.public_ip(),
            TOOL_AGENTS[0],
        ),
        1 => (
            Who::role(&mut g.rng, &CI_ROLE),
            g.private_ip(),
            TERRAFORM_AGENT,
        ),
        _ => {
            let service = g
                .rng
                .pick(&["events.amazonaws.com", "apigateway.amazonaws.com"]);
            (Who::Service(service), service.to_string(), service)
        }
    };
    let mut call = Call::new("lambda.amazonaws.com", "Invoke", who, region, &ip, agent);
    call.kind = Kind::Data;
    call.resources = &resources;
    call.shared_event = matches!(who, Who::Service(_));
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| {
            o.str("functionName", &function_arn)
                .str("invocationType", "RequestResponse");
        });
        o.null("responseElements");
        o.obj("additionalEventData", |o| {
            o.str("functionVersion", &format!("{function_arn}:$LATEST"));
        });
    });
}

fn lambda_changed(g: &mut Gen) {
    let names = [
        "UpdateFunctionCode20150331v2",
        "UpdateFunctionConfiguration20150331v2",
        "AddPermission20150331v2",
    ];
    let name = g.rng.pick(&names);
    let function = g.rng.pick(FUNCTIONS);
    let region = g.region();
    let (bucket, _) = BUCKETS[1];
    change(g, "lambda.amazonaws.com", name, region, |o| {
        o.str("functionName", function);
        match name {
            "UpdateFunctionCode20150331v2" => {
                o.str("s3Bucket", bucket)
                    .str("s3Key", &format!("lambda/{function}-1.4.2.zip"));
                o.bool("publish", false).bool("dryRun", false);
            }
            "UpdateFunctionConfiguration20150331v2" => {
                o.num("memorySize", 1024).num("timeout", 30);
            }
            _ => {
                o.str("statementId", "s3-invoke")
                    .str("action", "lambda:InvokeFunction");
                o.str("principal", "s3.amazonaws.com")
                    .str("sourceArn", &format!("arn:aws:s3:::{bucket}"));
            }
        }
    });
}

/// A console sign-in; `failure` is the errorMessage of a failed one.
fn sign_in(g: &mut Gen, who: Who, mfa: bool, failure: Option<&str>) {
    let sign_in = SignIn {
        mfa,
        failure,
        login_to: "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true",
        tls_host: None,
        mfa_device: false,
    };
    sign_in.emit(g, who);
}

fn login_without_mfa(g: &mut Gen) {
    let who = Who::User(user(&mut g.rng, USERS));
    sign_in(g, who, false, None);
}

fn login_failed(g: &mut Gen) {
    if g.rng.per_mille(300) {
        sign_in(
            g,
            Who::Hidden,
            false,
            Some("No username found in supplied account"),
        );
    } else {
        let who = Who::User(user(&mut g.rng, &USERS[..3]));
        sign_in(g, who, true, Some("Failed authentication"));
    }
}

fn root_login(g: &mut Gen) {
    sign_in(g, Who::Root, true, None);
}
