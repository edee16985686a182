//! Planted configuration changes that the built-in rules flag: IAM policy
//! attachments and new credentials, and the defence-evasion calls
//! (CloudTrail, GuardDuty, Config, flow logs, KMS keys, security groups,
//! public buckets). Each is one call by an operator, so they share
//! [`change`].

use super::access::sts_time;
use super::json::Out;
use super::record::{Call, Gen};
use super::world::{
    user, Who, ACCOUNT, BUCKETS, CI_ROLE, CONSOLE_AGENTS, KMS_KEYS, SSO_ADMIN, TERRAFORM_AGENT,
    TOOL_AGENTS, USERS, WORKLOAD_ROLES,
};

/// Someone changing the account: a user with the CLI, an administrator in
/// the console, or CI.
pub(crate) fn operator(g: &mut Gen) -> (Who, String, &'static str) {
    match g.rng.below(3) {
        0 => {
            let who = Who::User(user(&mut g.rng, USERS));
            (who, g.public_ip(), g.rng.pick(TOOL_AGENTS))
        }
        1 => (
            Who::role(&mut g.rng, &SSO_ADMIN),
            g.public_ip(),
            CONSOLE_AGENTS[0],
        ),
        _ => (
            Who::role(&mut g.rng, &CI_ROLE),
            g.private_ip(),
            TERRAFORM_AGENT,
        ),
    }
}

/// A management call by an operator with small request parameters.
pub(crate) fn change(
    g: &mut Gen,
    source: &'static str,
    name: &'static str,
    region: &str,
    body: impl FnOnce(&mut Out),
) {
    let (who, ip, agent) = operator(g);
    // IAM has one global endpoint; the other services one per region.
    let host = match source {
        "iam.amazonaws.com" => source.to_string(),
        _ => source.replace(".amazonaws.com", &format!(".{region}.amazonaws.com")),
    };
    let mut call = Call::new(source, name, who, region, &ip, agent);
    call.tls_host = Some(&host);
    g.emit(&call, |o, _| {
        o.obj("requestParameters", body);
        o.null("responseElements");
    });
}

pub(crate) fn iam_policy(g: &mut Gen) {
    let role = g.rng.pick(WORKLOAD_ROLES);
    match g.rng.below(3) {
        0 => change(
            g,
            "iam.amazonaws.com",
            "AttachRolePolicy",
            "us-east-1",
            |o| {
                o.str("roleName", role.name)
                    .str("policyArn", "arn:aws:iam::aws:policy/AdministratorAccess");
            },
        ),
        1 => change(
            g,
            "iam.amazonaws.com",
            "AttachUserPolicy",
            "us-east-1",
            |o| {
                o.str("userName", USERS[4].name);
                o.str(
                    "policyArn",
                    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                );
            },
        ),
        // The policy document is JSON inside a string: escaped quotes.
        _ => change(g, "iam.amazonaws.com", "PutRolePolicy", "us-east-1", |o| {
            o.str("roleName", role.name)
                .str("policyName", "inline-s3-export");
            o.str(
                "policyDocument",
                "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]\n}",
            );
        }),
    }
}

pub(crate) fn iam_credentials(g: &mut Gen) {
    let created = sts_time(g.now());
    let key = g.rng.access_key("AKIA");
    let (who, ip, agent) = operator(g);
    let name = if g.rng.per_mille(600) {
        "CreateAccessKey"
    } else {
        "CreateUser"
    };
    let user = "temp-contractor-7";
    let mut call = Call::new("iam.amazonaws.com", name, who, "us-east-1", &ip, agent);
    call.tls_host = Some("iam.amazonaws.com");
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| {
            o.str("userName", user);
        });
        o.obj("responseElements", |o| {
            if name == "CreateAccessKey" {
                o.obj("accessKey", |o| {
                    o.str("userName", user).str("accessKeyId", &key);
                    o.str("status", "Active").str("createDate", &created);
                });
            } else {
                o.obj("user", |o| {
                    o.str("path", "/")
                        .str("userName", user)
                        .str("userId", "AIDAQ3EGRYZ5TEMPC7X2M");
                    o.str("arn", &format!("arn:aws:iam::{ACCOUNT}:user/{user}"));
                    o.str("createDate", &created);
                });
            }
        });
    });
}

pub(crate) fn cloudtrail_tamper(g: &mut Gen) {
    let name = g.rng.pick(&[
        "StopLogging",
        "PutEventSelectors",
        "UpdateTrail",
        "DeleteTrail",
    ]);
    let trail = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail");
    change(
        g,
        "cloudtrail.amazonaws.com",
        name,
        "us-east-1",
        |o| match name {
            "PutEventSelectors" => {
                o.str("trailName", &trail);
                o.arr("eventSelectors", |o| {
                    o.elem_obj(|o| {
                        o.str("readWriteType", "WriteOnly")
                            .bool("includeManagementEvents", false);
                        o.arr("dataResources", |_| {});
                    });
                });
            }
            "UpdateTrail" => {
                o.str("name", &trail)
                    .str("s3BucketName", "acme-ct-archive-tmp");
                o.bool("isMultiRegionTrail", false);
            }
            _ => {
                o.str("name", &trail);
            }
        },
    );
}

pub(crate) fn security_group_open(g: &mut Gen) {
    let region = g.region();
    change(
        g,
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        region,
        |o| {
            o.str("groupId", "sg-0c1d2e3f4a5b6c7d8");
            o.items("ipPermissions", |o| {
                o.elem_obj(|o| {
                    o.str("ipProtocol", "tcp")
                        .num("fromPort", 22)
                        .num("toPort", 22);
                    o.obj("groups", |_| {});
                    o.items("ipRanges", |o| {
                        o.elem_obj(|o| {
                            o.str("cidrIp", "0.0.0.0/0")
                                .str("description", "temporary SSH — Jürgen");
                        });
                    });
                    o.obj("ipv6Ranges", |_| {}).obj("prefixListIds", |_| {});
                });
            });
        },
    );
}

pub(crate) fn sns_topic(g: &mut Gen) {
    let region = g.region();
    change(g, "sns.amazonaws.com", "CreateTopic", region, |o| {
        o.str("name", "deploy-notifications");
    });
}

pub(crate) fn kms_key_disabled(g: &mut Gen) {
    let region = g.region();
    let key = format!(
        "arn:aws:kms:{region}:{ACCOUNT}:key/{}",
        g.rng.pick(KMS_KEYS)
    );
    let name = g.rng.pick(&["ScheduleKeyDeletion", "DisableKey"]);
    change(g, "kms.amazonaws.com", name, region, |o| {
        o.str("keyId", &key);
        if name == "ScheduleKeyDeletion" {
            o.num("pendingWindowInDays", 7);
        }
    });
}

pub(crate) fn flow_logs_deleted(g: &mut Gen) {
    let region = g.region();
    let id = format!("fl-0{}", g.rng.hex(16));
    change(g, "ec2.amazonaws.com", "DeleteFlowLogs", region, |o| {
        o.obj("DeleteFlowLogsRequest", |o| {
            o.obj("FlowLogId", |o| {
                o.str("content", &id).num("tag", 1);
            });
        });
    });
}

pub(crate) fn guardduty_deleted(g: &mut Gen) {
    let region = g.region();
    let detector = g.rng.hex(32);
    change(
        g,
        "guardduty.amazonaws.com",
        "DeleteDetector",
        region,
        |o| {
            o.str("detectorId", &detector);
        },
    );
}

pub(crate) fn config_stopped(g: &mut Gen) {
    let region = g.region();
    change(
        g,
        "config.amazonaws.com",
        "StopConfigurationRecorder",
        region,
        |o| {
            o.str("configurationRecorderName", "default");
        },
    );
}

pub(crate) fn bucket_made_public(g: &mut Gen) {
    let (bucket, region) = BUCKETS[1];
    change(g, "s3.amazonaws.com", "PutBucketPolicy", region, |o| {
        o.obj("bucketPolicy", |o| {
            o.str("Version", "2012-10-17");
            o.arr("Statement", |o| {
                o.elem_obj(|o| {
                    o.str("Sid", "PublicRead")
                        .str("Effect", "Allow")
                        .str("Principal", "*");
                    o.str("Action", "s3:GetObject")
                        .str("Resource", &format!("arn:aws:s3:::{bucket}/*"));
                });
            });
        });
        o.str("bucketName", bucket)
            .str("Host", &format!("{bucket}.s3.amazonaws.com"));
        o.arr("policy", |o| {
            o.elem_str("");
        });
    });
}
