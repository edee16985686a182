//! Identity and key management noise: STS role assumptions, KMS calls that
//! services make for their callers, IAM reads and console sign-ins with
//! MFA. No IAM write, no sign-in without MFA by a user: those are what the
//! built-in rules look for, and only `planted` writes them.

use super::record::{Call, Gen, Kind, RequestId, Resource};
use super::world::{
    civil_from_days, role_arn, user, Role, Who, ACCOUNT, APP_ROLE, BUCKETS, CI_ROLE,
    CONSOLE_AGENTS, ETL_ROLE, HUMAN_ROLES, KMS_KEYS, LAMBDA_ROLE, PARTNER_ACCOUNT, SDK_AGENTS,
    SSO_READONLY, TERRAFORM_AGENT, TOOL_AGENTS, USERS, WORKLOAD_ROLES,
};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// STS writes credential expirations in this US style, not ISO 8601:
/// `Mar 3, 2025, 9:00:00 AM`.
pub(crate) fn sts_time(seconds: u64) -> String {
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let secs = seconds % 86_400;
    let hour = secs / 3600;
    let (h12, half) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    let month = MONTHS[(month as usize + 11) % 12];
    format!(
        "{month} {day}, {year}, {h12}:{:02}:{:02} {half}",
        secs / 60 % 60,
        secs % 60
    )
}

/// A role assumed by a service for a workload, by CI or from the partner
/// account.
pub(crate) fn sts_assume_role(g: &mut Gen) {
    let region = g.region();
    let (who, ip, agent, role): (Who, String, &str, &'static Role) = match g.rng.below(10) {
        0..=4 => {
            let service = g.rng.pick(&["lambda.amazonaws.com", "ec2.amazonaws.com"]);
            let role = if service == "ec2.amazonaws.com" {
                &APP_ROLE
            } else {
                &LAMBDA_ROLE
            };
            (Who::Service(service), service.to_string(), service, role)
        }
        5..=7 => {
            let user = &USERS[3];
            (Who::User(user), g.public_ip(), TERRAFORM_AGENT, &CI_ROLE)
        }
        _ => {
            let who = Who::role(&mut g.rng, &ETL_ROLE);
            (who, g.private_ip(), SDK_AGENTS[1], &ETL_ROLE)
        }
    };
    let session = g.rng.pick(role.sessions);
    let arn = role_arn(role);
    let resources = [Resource {
        kind: "AWS::IAM::Role",
        arn: &arn,
    }];
    let host = format!("sts.{region}.amazonaws.com");
    let mut call = Call::new("sts.amazonaws.com", "AssumeRole", who, region, &ip, agent);
    call.version = "1.08";
    call.read_only = true;
    call.resources = &resources;
    let by_service = matches!(who, Who::Service(_));
    call.shared_event = by_service;
    call.tls_host = (!by_service).then_some(host.as_str());
    let expires = sts_time(g.now() + 3600);
    g.emit(&call, |o, rng| {
        o.obj("requestParameters", |o| {
            o.str("roleArn", &arn).str("roleSessionName", session);
            o.num("durationSeconds", 3600);
            if !by_service {
                o.str("externalId", PARTNER_ACCOUNT);
            }
        });
        o.obj("responseElements", |o| {
            o.obj("credentials", |o| {
                o.str("accessKeyId", &rng.access_key("ASIA"));
                o.str("sessionToken", &rng.base64(360));
                o.str("expiration", &expires);
            });
            o.obj("assumedRoleUser", |o| {
                o.str("assumedRoleId", &format!("{}:{session}", role.id));
                let user = format!(
                    "arn:aws:sts::{ACCOUNT}:assumed-role/{}/{session}",
                    role.name
                );
                o.str("arn", &user);
            });
        });
    });
}

/// KMS calls services make for their callers (SSE-KMS on S3, Secrets
/// Manager), or for themselves.
pub(crate) fn kms(g: &mut Gen) {
    let name = g.rng.weighted(&[(70, "Decrypt"), (30, "GenerateDataKey")]);
    let (bucket, region) = g.rng.pick(BUCKETS);
    let service = g.rng.weighted(&[
        (60, "s3.amazonaws.com"),
        (25, "secretsmanager.amazonaws.com"),
        (15, "cloudtrail.amazonaws.com"),
    ]);
    let who = match service {
        "cloudtrail.amazonaws.com" => Who::Service(service),
        _ => {
            let role = g.rng.pick(WORKLOAD_ROLES);
            let session = g.rng.pick(role.sessions);
            Who::Role {
                role,
                session,
                via: Some(service),
            }
        }
    };
    let key_arn = format!(
        "arn:aws:kms:{region}:{ACCOUNT}:key/{}",
        g.rng.pick(KMS_KEYS)
    );
    let resources = [Resource {
        kind: "AWS::KMS::Key",
        arn: &key_arn,
    }];
    let mut call = Call::new("kms.amazonaws.com", name, who, region, service, service);
    call.version = "1.08";
    call.read_only = true;
    call.resources = &resources;
    if g.rng.per_mille(8) {
        call.error(
            "ThrottlingException",
            "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        );
    }
    let object = format!(
        "arn:aws:s3:::{bucket}/events/part-{:05}.parquet",
        g.rng.below(200)
    );
    let secret = format!("arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:prod/orders/db-Xb3kQp");
    g.emit(&call, |o, rng| {
        o.obj("requestParameters", |o| {
            if name == "GenerateDataKey" {
                o.str("keyId", &key_arn);
            }
            o.obj("encryptionContext", |o| match service {
                "s3.amazonaws.com" => {
                    o.str("aws:s3:arn", &object);
                }
                "secretsmanager.amazonaws.com" => {
                    o.str("SecretARN", &secret)
                        .str("SecretVersionId", &rng.uuid());
                }
                _ => {
                    let trail = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail");
                    o.str("aws:cloudtrail:arn", &trail);
                }
            });
            if name == "GenerateDataKey" {
                o.str("keySpec", "AES_256");
            } else {
                o.str("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
            }
        });
        o.null("responseElements");
    });
}

/// IAM reads from the console, CI and auditors.
pub(crate) fn iam_read(g: &mut Gen) {
    let names = [
        "ListRoles",
        "GetRole",
        "ListAttachedRolePolicies",
        "GetPolicyVersion",
    ];
    let name = g.rng.pick(&names);
    let (who, ip, agent) = match g.rng.below(3) {
        0 => (
            Who::role(&mut g.rng, &CI_ROLE),
            g.private_ip(),
            TERRAFORM_AGENT,
        ),
        1 => (
            Who::role(&mut g.rng, &SSO_READONLY),
            g.public_ip(),
            CONSOLE_AGENTS[0],
        ),
        _ => (Who::User(&USERS[0]), g.public_ip(), TOOL_AGENTS[0]),
    };
    let role = g.rng.pick(WORKLOAD_ROLES);
    let mut call = Call::new("iam.amazonaws.com", name, who, "us-east-1", &ip, agent);
    call.version = "1.08";
    call.read_only = true;
    call.tls_host = Some("iam.amazonaws.com");
    if name == "GetRole" && g.rng.per_mille(50) {
        call.error(
            "NoSuchEntity",
            "The role with name legacy-batch cannot be found.",
        );
    }
    g.emit(&call, |o, _| {
        match name {
            "ListRoles" => o.obj("requestParameters", |o| {
                o.num("maxItems", 1000);
            }),
            "GetPolicyVersion" => o.obj("requestParameters", |o| {
                o.str("policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess");
                o.str("versionId", "v112");
            }),
            _ => o.obj("requestParameters", |o| {
                o.str("roleName", role.name);
            }),
        };
        o.null("responseElements");
    });
}

/// A console sign-in that no rule minds: a user with MFA, or an IAM
/// Identity Center user (MFA is the identity provider's business).
pub(crate) fn console_login(g: &mut Gen) {
    let who = if g.rng.per_mille(500) {
        Who::User(user(&mut g.rng, &USERS[..3]))
    } else {
        let role = g.rng.pick(HUMAN_ROLES);
        Who::role(&mut g.rng, role)
    };
    let mfa = matches!(who, Who::User(_));
    let sign_in = SignIn {
        mfa,
        failure: None,
        login_to: "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_5c1d7e9f0a2b4c6d",
        tls_host: Some("us-east-1.signin.aws.amazon.com"),
        mfa_device: mfa,
    };
    sign_in.emit(g, who);
}

/// How one console sign-in reads: with MFA or not (and the MFA device of
/// an IAM user), failed with this errorMessage, the page it led to.
pub(crate) struct SignIn<'a> {
    pub mfa: bool,
    pub failure: Option<&'a str>,
    pub login_to: &'a str,
    pub tls_host: Option<&'a str>,
    pub mfa_device: bool,
}

impl SignIn<'_> {
    pub(crate) fn emit(&self, g: &mut Gen, who: Who) {
        let ip = g.public_ip();
        let agent = g.rng.pick(&CONSOLE_AGENTS[1..3]);
        let mut call = Call::new(
            "signin.amazonaws.com",
            "ConsoleLogin",
            who,
            "us-east-1",
            &ip,
            agent,
        );
        call.version = "1.08";
        call.kind = Kind::SignIn;
        call.request_id = RequestId::Absent;
        call.tls_host = self.tls_host;
        call.error_message = self.failure;
        g.emit(&call, |o, _| {
            o.null("requestParameters");
            o.obj("responseElements", |o| {
                let outcome = if self.failure.is_some() {
                    "Failure"
                } else {
                    "Success"
                };
                o.str("ConsoleLogin", outcome);
            });
            o.obj("additionalEventData", |o| {
                o.str("LoginTo", self.login_to);
                o.str("MobileVersion", "No")
                    .str("MFAUsed", if self.mfa { "Yes" } else { "No" });
                if let (true, Who::User(user)) = (self.mfa_device, who) {
                    o.str(
                        "MFAIdentifier",
                        &format!("arn:aws:iam::{ACCOUNT}:mfa/{}", user.name),
                    );
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_times_use_a_twelve_hour_clock() {
        assert_eq!(sts_time(1_740_988_800 + 3600), "Mar 3, 2025, 9:00:00 AM");
        assert_eq!(sts_time(1_740_960_000), "Mar 3, 2025, 12:00:00 AM");
        assert_eq!(
            sts_time(1_740_960_000 + 13 * 3600 + 5),
            "Mar 3, 2025, 1:00:05 PM"
        );
    }
}
