//! The imaginary account the generated logs come from: its principals,
//! buckets, functions and keys, the user agents its callers send, and how
//! CloudTrail writes each kind of principal in `userIdentity`. Constant
//! tables (never a HashMap) so that iteration and picking are deterministic.

use super::json::Out;
use super::rng::Rng;

pub(crate) const ACCOUNT: &str = "123456789012";
/// A second account of the organisation: cross-account role assumptions.
pub(crate) const PARTNER_ACCOUNT: &str = "210987654321";

/// Regions weighted by how much happens in them.
pub(crate) const REGIONS: &[(u32, &str)] = &[
    (60, "us-east-1"),
    (22, "eu-west-1"),
    (12, "us-west-2"),
    (6, "ap-northeast-1"),
];

pub(crate) struct User {
    pub name: &'static str,
    pub id: &'static str,
    pub key: &'static str,
}

pub(crate) const USERS: &[User] = &[
    User {
        name: "alice",
        id: "AIDAQ3EGRYZ5ALICE7B2K",
        key: "AKIAQ3EGRYZ5ALICE7B2",
    },
    User {
        name: "bob",
        id: "AIDAQ3EGRYZ5BOB4MN8PQ",
        key: "AKIAQ3EGRYZ5BOB4MN8P",
    },
    User {
        name: "carol.ops",
        id: "AIDAQ3EGRYZ5CAROL2X9D",
        key: "AKIAQ3EGRYZ5CAROL2X9",
    },
    User {
        name: "ci-deployer",
        id: "AIDAQ3EGRYZ5CIDEP6T3W",
        key: "AKIAQ3EGRYZ5CIDEP6T3",
    },
    User {
        name: "backup-agent",
        id: "AIDAQ3EGRYZ5BACKUP5ZR",
        key: "AKIAQ3EGRYZ5BACKUP5Z",
    },
    User {
        name: "marketing-uploader",
        id: "AIDAQ3EGRYZ5MKTG8HJ4S",
        key: "AKIAQ3EGRYZ5MKTG8HJ4",
    },
];

/// One of `among` (a non-empty table).
pub(crate) fn user(rng: &mut Rng, among: &'static [User]) -> &'static User {
    &among[rng.below(among.len() as u64) as usize]
}

pub(crate) struct Role {
    pub name: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    /// Role session names (AWS allows only `[\w+=,.@-]` in them).
    pub sessions: &'static [&'static str],
}

pub(crate) const APP_ROLE: Role = Role {
    name: "orders-api-prod",
    path: "/",
    id: "AROAQ3EGRYZ5ORDERS1X4",
    sessions: &[
        "i-0a1b2c3d4e5f60718",
        "i-0fedcba9876543210",
        "i-03c9e2b8a71d4f562",
    ],
};
pub(crate) const LAMBDA_ROLE: Role = Role {
    name: "thumbnailer-lambda-role",
    path: "/service-role/",
    id: "AROAQ3EGRYZ5THUMB8L2V",
    sessions: &["thumbnailer-prod"],
};
pub(crate) const ETL_ROLE: Role = Role {
    name: "data-lake-etl",
    path: "/",
    id: "AROAQ3EGRYZ5ETLJOB3QF",
    sessions: &[
        "glue-job-orders-daily",
        "emr-j-2AXXXXXXGAPLF",
        "botocore-session-1709452800",
    ],
};
pub(crate) const SSO_ADMIN: Role = Role {
    name: "AWSReservedSSO_AdministratorAccess_5c1d7e9f0a2b4c6d",
    path: "/aws-reserved/sso.amazonaws.com/eu-west-1/",
    id: "AROAQ3EGRYZ5SSOADM7N1",
    sessions: &["marie.dupont@example.com", "kenji.tanaka@example.com"],
};
pub(crate) const SSO_READONLY: Role = Role {
    name: "AWSReservedSSO_ReadOnlyAccess_9e8d7c6b5a4f3e2d",
    path: "/aws-reserved/sso.amazonaws.com/eu-west-1/",
    id: "AROAQ3EGRYZ5SSORO4C8H",
    sessions: &[
        "priya.natarajan@example.com",
        "joao.silva@example.com",
        "auditor",
    ],
};
pub(crate) const CI_ROLE: Role = Role {
    name: "terraform-ci",
    path: "/",
    id: "AROAQ3EGRYZ5TFCI9W6E",
    sessions: &["GitHubActions", "atlantis-plan-4411"],
};
pub(crate) const SSM_ROLE: Role = Role {
    name: "AmazonSSMRoleForInstancesQuickSetup",
    path: "/",
    id: "AROAQ3EGRYZ5SSMQS5P0A",
    sessions: &[
        "i-0a1b2c3d4e5f60718",
        "i-0fedcba9876543210",
        "i-0b7e3f9a2c4d6e801",
    ],
};
pub(crate) const AUTOSCALING_ROLE: Role = Role {
    name: "AWSServiceRoleForAutoScaling",
    path: "/aws-service-role/autoscaling.amazonaws.com/",
    id: "AROAQ3EGRYZ5ASG2D7K3M",
    sessions: &["AutoScaling"],
};

/// Roles that do the bulk of the data-plane work.
pub(crate) const WORKLOAD_ROLES: &[&Role] = &[&APP_ROLE, &LAMBDA_ROLE, &ETL_ROLE];
/// Roles people use.
pub(crate) const HUMAN_ROLES: &[&Role] = &[&SSO_ADMIN, &SSO_READONLY, &SSO_READONLY];

/// Buckets and the region they are in.
pub(crate) const BUCKETS: &[(&str, &str)] = &[
    ("acme-data-lake-raw", "us-east-1"),
    ("acme-prod-assets", "us-east-1"),
    ("acme-user-uploads-eu", "eu-west-1"),
    ("acme-backups-us-west-2", "us-west-2"),
];

pub(crate) const FUNCTIONS: &[&str] = &["thumbnailer", "orders-ingest", "invoice-pdf"];

/// Ids of customer managed KMS keys.
pub(crate) const KMS_KEYS: &[&str] = &[
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "0987dcba-09fe-87dc-65ba-ab0987654321",
    "4b9f2e1c-7d3a-4e8b-9c5f-2a6d8e0b1c3f",
];

/// SDKs of the applications.
pub(crate) const SDK_AGENTS: &[&str] = &[
    "aws-sdk-java/2.25.16 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0",
    "aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.213-225.858.amzn2.x86_64 lang/js md/nodejs#20.11.1 api/dynamodb#3.540.0 exec-env/AWS_Lambda_nodejs20.x",
];

/// Terraform, as CI runs it.
pub(crate) const TERRAFORM_AGENT: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.152.0";

/// People's tools: the CLI, desktop clients, scripts. Some carry
/// non-ASCII text or characters JSON must escape, as real ones do.
pub(crate) const TOOL_AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/ec2.describe-instances",
    "Transmit/5.10.4 (macOS 14.4; de_DE; Büro-iMac von Jürgen)",
    "PhotoSync/4.3 (iOS 17.4; ja_JP; 写真アップロード) 📷",
    "python-requests/2.31.0 (script \"nightly-sync.py\")",
    "AWSPowerShell.Common/4.1.550.0 .NET_Runtime/8.0 OS/Microsoft_Windows_10.0.22631 (C:\\Users\\svc-sync\\sync.ps1)",
];

/// Browsers and the console's own agents.
pub(crate) const CONSOLE_AGENTS: &[&str] = &[
    "AWS Internal",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.658 Linux/5.10.213-180.869.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
];

/// Who made a call, as CloudTrail's `userIdentity` says it.
#[derive(Clone, Copy)]
pub(crate) enum Who {
    User(&'static User),
    /// A role session; `via` is the service that called on its behalf.
    Role {
        role: &'static Role,
        session: &'static str,
        via: Option<&'static str>,
    },
    /// A service principal acting on its own (`invokedBy`).
    Service(&'static str),
    Root,
    /// A GetFederationToken session of the broker user.
    Federated(&'static str),
    /// A failed console sign-in with a user name that does not exist.
    Hidden,
    /// One of the many IAM users of a crowd ([`crowd_user`]).
    CrowdUser(u32),
    /// A session of one of the many roles of a crowd ([`crowd_role`]).
    CrowdRole {
        role: u32,
        session: u32,
    },
}

/// `load-user-000042`: the name of a crowd's IAM user.
fn crowd_user(index: u32) -> String {
    format!("load-user-{index:06}")
}

/// `load-role-000042`: the name of a crowd's role.
fn crowd_role(index: u32) -> String {
    format!("load-role-{index:06}")
}

/// An id of `len` characters after `prefix` made of `index` (IAM ids are
/// upper-case letters and digits): the same principal, the same id.
fn crowd_id(prefix: &str, index: u32, len: usize) -> String {
    format!("{prefix}{index:0>len$}", len = len)
}

impl Who {
    pub(crate) fn role(rng: &mut Rng, role: &'static Role) -> Who {
        Who::Role {
            role,
            session: rng.pick(role.sessions),
            via: None,
        }
    }

    /// `userIdentity.arn`.
    pub(crate) fn arn(&self) -> String {
        match self {
            Who::User(user) => format!("arn:aws:iam::{ACCOUNT}:user/{}", user.name),
            Who::Role { role, session, .. } => {
                format!(
                    "arn:aws:sts::{ACCOUNT}:assumed-role/{}/{session}",
                    role.name
                )
            }
            Who::Root => format!("arn:aws:iam::{ACCOUNT}:root"),
            Who::Federated(name) => format!("arn:aws:sts::{ACCOUNT}:federated-user/{name}"),
            Who::Service(service) => (*service).to_string(),
            Who::Hidden => String::new(),
            Who::CrowdUser(index) => {
                format!("arn:aws:iam::{ACCOUNT}:user/{}", crowd_user(*index))
            }
            Who::CrowdRole { role, session } => format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/{}/i-{session:017x}",
                crowd_role(*role)
            ),
        }
    }

    /// Writes the members of `userIdentity`; `created` is the session's
    /// creation time.
    pub(crate) fn write(&self, o: &mut Out, rng: &mut Rng, created: &str) {
        match *self {
            Who::User(user) => {
                o.str("type", "IAMUser").str("principalId", user.id);
                o.str("arn", &self.arn()).str("accountId", ACCOUNT);
                o.str("accessKeyId", user.key).str("userName", user.name);
            }
            Who::Role { role, session, via } => {
                o.str("type", "AssumedRole");
                o.str("principalId", &format!("{}:{session}", role.id));
                o.str("arn", &self.arn()).str("accountId", ACCOUNT);
                o.str("accessKeyId", &rng.access_key("ASIA"));
                o.obj("sessionContext", |o| {
                    issuer(o, "Role", role.id, &role_arn(role), role.name);
                    session_attributes(o, created, false);
                    if session.starts_with("i-") {
                        o.str("ec2RoleDelivery", "2.0");
                    }
                });
                if let Some(service) = via {
                    o.str("invokedBy", service);
                }
            }
            Who::Service(service) => {
                o.str("type", "AWSService").str("invokedBy", service);
            }
            Who::Root => {
                o.str("type", "Root").str("principalId", ACCOUNT);
                o.str("arn", &self.arn()).str("accountId", ACCOUNT);
                o.str("accessKeyId", "");
            }
            Who::Federated(name) => {
                o.str("type", "FederatedUser");
                o.str("principalId", &format!("{ACCOUNT}:{name}"));
                o.str("arn", &self.arn()).str("accountId", ACCOUNT);
                o.str("accessKeyId", &rng.access_key("ASIA"));
                o.obj("sessionContext", |o| {
                    let broker = format!("arn:aws:iam::{ACCOUNT}:user/federation-broker");
                    issuer(
                        o,
                        "IAMUser",
                        "AIDAQ3EGRYZ5FEDBRK1G7",
                        &broker,
                        "federation-broker",
                    );
                    session_attributes(o, created, false);
                });
            }
            Who::Hidden => {
                o.str("type", "IAMUser").str("accountId", ACCOUNT);
                o.str("accessKeyId", "")
                    .str("userName", "HIDDEN_DUE_TO_SECURITY_REASONS");
            }
            Who::CrowdUser(index) => {
                let name = crowd_user(index);
                o.str("type", "IAMUser")
                    .str("principalId", &crowd_id("AIDAQ3EGRYZ5", index, 9));
                o.str("arn", &self.arn()).str("accountId", ACCOUNT);
                o.str("accessKeyId", &crowd_id("AKIAQ3EGRYZ5", index, 8))
                    .str("userName", &name);
            }
            Who::CrowdRole { role, session } => {
                let id = crowd_id("AROAQ3EGRYZ5", role, 9);
                let name = crowd_role(role);
                o.str("type", "AssumedRole");
                o.str("principalId", &format!("{id}:i-{session:017x}"));
                o.str("arn", &self.arn()).str("accountId", ACCOUNT);
                o.str("accessKeyId", &rng.access_key("ASIA"));
                o.obj("sessionContext", |o| {
                    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
                    issuer(o, "Role", &id, &arn, &name);
                    session_attributes(o, created, false);
                    o.str("ec2RoleDelivery", "2.0");
                });
            }
        }
    }
}

pub(crate) fn role_arn(role: &Role) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role{}{}", role.path, role.name)
}

fn issuer(o: &mut Out, kind: &str, id: &str, arn: &str, name: &str) {
    o.obj("sessionIssuer", |o| {
        o.str("type", kind).str("principalId", id).str("arn", arn);
        o.str("accountId", ACCOUNT).str("userName", name);
    });
    o.obj("webIdFederationData", |_| {});
}

fn session_attributes(o: &mut Out, created: &str, mfa: bool) {
    o.obj("attributes", |o| {
        o.str("creationDate", created);
        o.str("mfaAuthenticated", if mfa { "true" } else { "false" });
    });
}

/// `seconds` since the Unix epoch as CloudTrail writes times:
/// `2025-03-03T08:00:00Z`.
pub(crate) fn iso_time(seconds: u64) -> String {
    let (days, secs) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm, for dates after the epoch).
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            iso_time(1_740_960_000 + 8 * 3600 + 61),
            "2025-03-03T08:01:01Z"
        );
        assert_eq!(iso_time(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
