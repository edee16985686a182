//! Management events of the compute side: EC2 (Describe* and the odd
//! RunInstances with its nested item sets), SSM agents checking in and
//! parameters read, CloudWatch Logs streams, and Lambda reads under the
//! version-suffixed names CloudTrail gives them (GetFunction20150331v2).

use super::json::Out;
use super::record::{Call, Gen, Resource};
use super::rng::Rng;
use super::world::{
    Who, ACCOUNT, APP_ROLE, AUTOSCALING_ROLE, CI_ROLE, CONSOLE_AGENTS, FUNCTIONS, HUMAN_ROLES,
    LAMBDA_ROLE, SDK_AGENTS, SSM_ROLE, SSO_READONLY, TERRAFORM_AGENT,
};

/// A person in the console or CI: who reads the infrastructure.
fn reader(g: &mut Gen) -> (Who, String, &'static str) {
    if g.rng.per_mille(500) {
        (
            Who::role(&mut g.rng, &CI_ROLE),
            g.private_ip(),
            TERRAFORM_AGENT,
        )
    } else {
        let role = g.rng.pick(HUMAN_ROLES);
        (
            Who::role(&mut g.rng, role),
            g.public_ip(),
            CONSOLE_AGENTS[0],
        )
    }
}

/// EC2's `{"name":..,"valueSet":{"items":[{"value":..}]}}` filter.
fn filter(o: &mut Out, name: &str, values: &[&str]) {
    o.elem_obj(|o| {
        o.str("name", name);
        o.items("valueSet", |o| {
            for value in values {
                o.elem_obj(|o| {
                    o.str("value", value);
                });
            }
        });
    });
}

pub(crate) fn ec2_describe(g: &mut Gen) {
    let names = [
        (40, "DescribeInstances"),
        (20, "DescribeSecurityGroups"),
        (15, "DescribeVolumes"),
        (15, "DescribeSubnets"),
        (10, "DescribeInstanceStatus"),
    ];
    let name = g.rng.weighted(&names);
    let region = g.region();
    let (who, ip, agent) = reader(g);
    let host = format!("ec2.{region}.amazonaws.com");
    let mut call = Call::new("ec2.amazonaws.com", name, who, region, &ip, agent);
    call.version = "1.08";
    call.read_only = true;
    call.tls_host = Some(&host);
    if g.rng.per_mille(15) {
        call.error("Client.RequestLimitExceeded", "Request limit exceeded.");
    }
    let instance = format!("i-0{}", g.rng.hex(16));
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| match name {
            "DescribeInstances" | "DescribeInstanceStatus" => {
                o.obj("instancesSet", |_| {});
                o.items("filterSet", |o| {
                    filter(o, "tag:Environment", &["prod", "staging"]);
                    filter(o, "instance-state-name", &["running", "pending"]);
                });
                o.num("maxResults", 1000);
            }
            "DescribeSecurityGroups" => {
                o.obj("securityGroupSet", |_| {});
                o.items("securityGroupIdSet", |o| {
                    o.elem_obj(|o| {
                        o.str("groupId", "sg-0c1d2e3f4a5b6c7d8");
                    });
                });
                o.obj("filterSet", |_| {});
            }
            "DescribeVolumes" => {
                o.obj("volumeSet", |_| {});
                o.items("filterSet", |o| {
                    filter(o, "attachment.instance-id", &[&instance])
                });
            }
            _ => {
                o.obj("subnetSet", |_| {});
                o.items("filterSet", |o| {
                    filter(o, "vpc-id", &["vpc-0a1b2c3d4e5f60718"])
                });
            }
        });
        o.null("responseElements");
    });
}

/// An Auto Scaling group (or CI) launching an instance: large nested
/// request and response.
pub(crate) fn ec2_run_instances(g: &mut Gen) {
    let region = g.region();
    let autoscaling = g.rng.per_mille(700);
    let (who, ip, agent, host) = if autoscaling {
        let service = "autoscaling.amazonaws.com";
        let session = AUTOSCALING_ROLE.sessions[0];
        let who = Who::Role {
            role: &AUTOSCALING_ROLE,
            session,
            via: Some(service),
        };
        (who, service.to_string(), service, None)
    } else {
        let who = Who::role(&mut g.rng, &CI_ROLE);
        (
            who,
            g.private_ip(),
            TERRAFORM_AGENT,
            Some(format!("ec2.{region}.amazonaws.com")),
        )
    };
    let instance = format!("i-0{}", g.rng.hex(16));
    let instance_arn = format!("arn:aws:ec2:{region}:{ACCOUNT}:instance/{instance}");
    let resources = [Resource {
        kind: "AWS::EC2::Instance",
        arn: &instance_arn,
    }];
    let mut call = Call::new("ec2.amazonaws.com", "RunInstances", who, region, &ip, agent);
    call.resources = &resources;
    call.tls_host = host.as_deref();
    if g.rng.per_mille(40) {
        call.error(
            "Server.InsufficientInstanceCapacity",
            "We currently do not have sufficient m6i.large capacity in the Availability Zone you requested (us-east-1a).",
        );
    }
    let failed = call.failed();
    let launched = g.now() * 1000;
    g.emit(&call, |o, rng| {
        o.obj("requestParameters", |o| {
            o.items("instancesSet", |o| {
                o.elem_obj(|o| {
                    o.num("minCount", 1).num("maxCount", 1);
                });
            });
            o.obj("launchTemplate", |o| {
                o.str("launchTemplateId", "lt-0a9b8c7d6e5f40312")
                    .str("version", "17");
            });
            o.str("instanceType", "m6i.large");
            o.str("subnetId", "subnet-0d4c3b2a1f0e9d8c7");
            o.str("clientToken", &rng.uuid());
            o.items("tagSpecificationSet", |o| {
                o.elem_obj(|o| {
                    o.str("resourceType", "instance");
                    o.arr("tags", |o| {
                        o.elem_obj(|o| {
                            o.str("key", "aws:autoscaling:groupName")
                                .str("value", "orders-api-prod");
                        });
                    });
                });
            });
        });
        if failed {
            o.null("responseElements");
        } else {
            o.obj("responseElements", |o| {
                run_response(o, rng, &instance, launched)
            });
        }
    });
}

fn run_response(o: &mut Out, rng: &mut Rng, instance: &str, launched: u64) {
    o.str("requestId", &rng.uuid());
    o.str("reservationId", &format!("r-0{}", rng.hex(16)));
    o.str("ownerId", ACCOUNT).str("requesterId", "940372691376");
    o.obj("groupSet", |_| {});
    o.items("instancesSet", |o| {
        o.elem_obj(|o| {
            o.str("instanceId", instance)
                .str("imageId", "ami-0c101f26f147fa7fd");
            o.obj("instanceState", |o| {
                o.num("code", 0).str("name", "pending");
            });
            o.str(
                "privateDnsName",
                &format!(
                    "ip-10-0-{}-{}.ec2.internal",
                    rng.below(4),
                    rng.range(4, 254)
                ),
            );
            o.num("amiLaunchIndex", 0).obj("productCodes", |_| {});
            o.str("instanceType", "m6i.large")
                .num("launchTime", launched);
            o.obj("placement", |o| {
                o.str("availabilityZone", "us-east-1a")
                    .str("tenancy", "default");
            });
            o.obj("monitoring", |o| {
                o.str("state", "disabled");
            });
            o.str("subnetId", "subnet-0d4c3b2a1f0e9d8c7")
                .str("vpcId", "vpc-0a1b2c3d4e5f60718");
            o.obj("stateReason", |o| {
                o.str("code", "pending").str("message", "pending");
            });
            o.str("architecture", "x86_64").str("rootDeviceType", "ebs");
            o.str("rootDeviceName", "/dev/xvda")
                .obj("blockDeviceMapping", |_| {});
            o.str("virtualizationType", "hvm").str("hypervisor", "xen");
            o.obj("iamInstanceProfile", |o| {
                let arn = format!("arn:aws:iam::{ACCOUNT}:instance-profile/{}", APP_ROLE.name);
                o.str("arn", &arn).str("id", "AIPAQ3EGRYZ5ORDERSIP1");
            });
            o.bool("ebsOptimized", true).bool("enaSupport", true);
            o.obj("metadataOptions", |o| {
                o.str("state", "pending").str("httpTokens", "required");
                o.num("httpPutResponseHopLimit", 2)
                    .str("httpEndpoint", "enabled");
            });
        });
    });
}

/// SSM: agents checking in (most of it) and applications reading
/// parameters.
pub(crate) fn ssm(g: &mut Gen) {
    let region = g.region();
    let host = format!("ssm.{region}.amazonaws.com");
    if g.rng.per_mille(600) {
        let session = g.rng.pick(SSM_ROLE.sessions);
        let who = Who::Role {
            role: &SSM_ROLE,
            session,
            via: None,
        };
        let ip = g.private_ip();
        let agent = "aws-sdk-go/1.50.8 (go1.21.6; linux; amd64) amazon-ssm-agent/3.3.131.0";
        let mut call = Call::new(
            "ssm.amazonaws.com",
            "UpdateInstanceInformation",
            who,
            region,
            &ip,
            agent,
        );
        call.tls_host = Some(&host);
        g.emit(&call, |o, _| {
            o.obj("requestParameters", |o| {
                o.str("instanceId", session)
                    .str("agentVersion", "3.3.131.0");
                o.str("agentStatus", "Active").str("platformType", "Linux");
                o.str("platformName", "Amazon Linux")
                    .str("platformVersion", "2023");
                o.str("iPAddress", &ip)
                    .str("computerName", "ip-10-0-1-23.ec2.internal");
                o.str("agentName", "amazon-ssm-agent")
                    .str("availabilityZone", "us-east-1a");
                o.str("availabilityZoneId", "use1-az4")
                    .str("sSMConnectionChannel", "ssmmessages");
            });
            o.null("responseElements");
        });
        return;
    }
    let who = Who::role(&mut g.rng, &APP_ROLE);
    let ip = g.private_ip();
    let agent = g.rng.pick(SDK_AGENTS);
    let name = g.rng.pick(&[
        "/prod/orders/db-url",
        "/prod/orders/feature-flags",
        "/prod/shared/datadog-api-key",
    ]);
    let mut call = Call::new("ssm.amazonaws.com", "GetParameter", who, region, &ip, agent);
    call.read_only = true;
    call.tls_host = Some(&host);
    if g.rng.per_mille(20) {
        call.error("ThrottlingException", "Rate exceeded");
    }
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| {
            o.str("name", name).bool("withDecryption", true);
        });
        o.null("responseElements");
    });
}

/// CloudWatch Logs: functions opening log streams, people searching logs.
pub(crate) fn logs(g: &mut Gen) {
    let region = g.region();
    let host = format!("logs.{region}.amazonaws.com");
    let function = g.rng.pick(FUNCTIONS);
    let group = format!("/aws/lambda/{function}");
    if g.rng.per_mille(700) {
        let who = Who::Role {
            role: &LAMBDA_ROLE,
            session: function,
            via: None,
        };
        let ip = g.private_ip();
        let agent = "awslambda-worker/1.0 rusoto/0.48.0 rust/1.75.0 linux";
        let stream = format!("2025/03/03/[$LATEST]{}", g.rng.hex(32));
        let mut call = Call::new(
            "logs.amazonaws.com",
            "CreateLogStream",
            who,
            region,
            &ip,
            agent,
        );
        call.tls_host = Some(&host);
        if g.rng.per_mille(10) {
            call.error(
                "ResourceAlreadyExistsException",
                "The specified log stream already exists",
            );
        }
        g.emit(&call, |o, _| {
            o.obj("requestParameters", |o| {
                o.str("logGroupName", &group).str("logStreamName", &stream);
            });
            o.null("responseElements");
        });
        return;
    }
    let who = Who::role(&mut g.rng, &SSO_READONLY);
    let ip = g.public_ip();
    let mut call = Call::new(
        "logs.amazonaws.com",
        "FilterLogEvents",
        who,
        region,
        &ip,
        CONSOLE_AGENTS[0],
    );
    call.read_only = true;
    call.tls_host = Some(&host);
    let end = g.now() * 1000;
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| {
            o.str("logGroupName", &group)
                .num("startTime", end - 3_600_000)
                .num("endTime", end);
            // Quotes inside a value: escaped in the JSON text.
            o.str("filterPattern", "\"ERROR\" -\"HealthCheck\"")
                .bool("interleaved", true);
        });
        o.null("responseElements");
    });
}

/// Lambda reads, named as CloudTrail names them: with the API version.
pub(crate) fn lambda_read(g: &mut Gen) {
    let names = [
        "GetFunction20150331v2",
        "ListFunctions20150331",
        "GetPolicy20150331v2",
        "ListVersionsByFunction20150331",
        "GetFunctionConfiguration20150331v2",
        "ListEventSourceMappings20150331",
    ];
    let name = g.rng.pick(&names);
    let region = g.region();
    let (who, ip, agent) = reader(g);
    let function = g.rng.pick(FUNCTIONS);
    let host = format!("lambda.{region}.amazonaws.com");
    let mut call = Call::new("lambda.amazonaws.com", name, who, region, &ip, agent);
    call.version = "1.08";
    call.read_only = true;
    call.tls_host = Some(&host);
    if name.starts_with("GetPolicy") && g.rng.per_mille(300) {
        call.error(
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        );
    }
    g.emit(&call, |o, _| {
        if name.starts_with("ListFunctions") {
            o.null("requestParameters");
        } else {
            o.obj("requestParameters", |o| {
                o.str("functionName", function);
            });
        }
        o.null("responseElements");
    });
}
