//! Data events, the bulk of a busy trail: S3 object calls, Lambda Invoke by
//! S3 notifications and DynamoDB item calls. None of these match a built-in
//! rule: every Invoke here is made by s3.amazonaws.com and no error is an
//! access denial.

use super::record::{Call, Gen, Kind, RequestId, Resource};
use super::rng::Rng;
use super::world::{
    user, Who, ACCOUNT, BUCKETS, CONSOLE_AGENTS, FUNCTIONS, HUMAN_ROLES, KMS_KEYS, SDK_AGENTS,
    TOOL_AGENTS, USERS, WORKLOAD_ROLES,
};

/// The VPC endpoint the workloads reach S3 and DynamoDB through.
const VPC_ENDPOINT: &str = "vpce-0a1b2c3d4e5f67890";

/// Object names people give files: accents, CJK, emoji, right-to-left.
const NAMED_FILES: &[&str] = &[
    "Résumé – Chloé Dubois.pdf",
    "共有/議事録/2025年3月 会議メモ.docx",
    "photos/🎉 anniversaire/IMG_0042.HEIC",
    "Präsentation Q1 (Entwurf).pptx",
    "отчёт-продаж-2025.xlsx",
    "عقد الإيجار.pdf",
];

/// Keys with characters JSON must escape: quotes, backslashes, control
/// characters. Rare in real buckets, but they exist and parsers must cope.
const ODD_KEYS: &[&str] = &[
    "exports/\"Q1\" revenue\\draft (final).csv",
    "imports/C:\\Users\\svc-sync\\orders.csv",
    "tmp/tab\tseparated name.txt",
    "tmp/bell\u{7}and\u{1}controls.bin",
];

/// Customer names in DynamoDB keys.
const CUSTOMERS: &[&str] = &[
    "José García",
    "Zoë Müller",
    "山田太郎",
    "Nguyễn Văn An",
    "Siobhán O'Brien",
    "Ana Lima",
];

fn object_key(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=44 => format!(
            "events/dt=2025-03-03/part-{:05}-{}.parquet",
            rng.below(200),
            rng.hex(8)
        ),
        45..=69 => format!(
            "uploads/u-{}/IMG_{:04}.jpg",
            rng.range(1000, 99_999),
            rng.below(10_000)
        ),
        70..=84 => format!(
            "assets/static/js/chunk-{}.{}.js",
            rng.below(400),
            rng.hex(8)
        ),
        85..=93 => format!(
            "backups/postgres/orders/2025-03-0{}/orders-{:03}.dump.gz",
            rng.range(1, 3),
            rng.below(64)
        ),
        94..=98 => format!(
            "uploads/u-{}/{}",
            rng.range(1000, 99_999),
            rng.pick(NAMED_FILES)
        ),
        _ => rng.pick(ODD_KEYS).to_string(),
    }
}

/// Who calls S3: mostly workloads inside the VPC, then people.
fn s3_caller(g: &mut Gen) -> (Who, String, &'static str, bool) {
    match g.rng.below(100) {
        0..=74 => {
            let role = g.rng.pick(WORKLOAD_ROLES);
            let who = Who::role(&mut g.rng, role);
            (who, g.private_ip(), g.rng.pick(SDK_AGENTS), true)
        }
        75..=86 => {
            let who = Who::User(user(&mut g.rng, USERS));
            (who, g.public_ip(), g.rng.pick(TOOL_AGENTS), false)
        }
        // A partner's upload tool with GetFederationToken credentials.
        87..=89 => {
            let who = Who::Federated(g.rng.pick(&["partner-upload-7731", "partner-upload-0422"]));
            (who, g.public_ip(), TOOL_AGENTS[2], false)
        }
        _ => {
            let role = g.rng.pick(HUMAN_ROLES);
            let who = Who::role(&mut g.rng, role);
            (who, g.public_ip(), CONSOLE_AGENTS[3], false)
        }
    }
}

pub(crate) fn s3_object(g: &mut Gen) {
    let names = [
        (55, "GetObject"),
        (20, "PutObject"),
        (20, "HeadObject"),
        (5, "DeleteObject"),
    ];
    let name = g.rng.weighted(&names);
    let (bucket, region) = g.rng.pick(BUCKETS);
    let key = object_key(&mut g.rng);
    let (who, ip, agent, in_vpc) = s3_caller(g);
    let host = format!("{bucket}.s3.{region}.amazonaws.com");
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let resources = [
        Resource {
            kind: "AWS::S3::Object",
            arn: &object_arn,
        },
        Resource {
            kind: "AWS::S3::Bucket",
            arn: &bucket_arn,
        },
    ];
    let reads = matches!(name, "GetObject" | "HeadObject");
    let mut call = Call::new("s3.amazonaws.com", name, who, region, &ip, agent);
    call.version = "1.09";
    call.kind = Kind::Data;
    call.read_only = reads;
    call.request_id = RequestId::S3;
    call.resources = &resources;
    call.tls_host = Some(&host);
    call.vpc_endpoint = in_vpc.then_some(VPC_ENDPOINT);
    if reads && g.rng.per_mille(25) {
        call.error("NoSuchKey", "The specified key does not exist.");
    } else if g.rng.per_mille(4) {
        call.error("SlowDown", "Please reduce your request rate.");
    }
    let put = name == "PutObject" && !call.failed();
    let kms_key = format!(
        "arn:aws:kms:{region}:{ACCOUNT}:key/{}",
        g.rng.pick(KMS_KEYS)
    );
    let size = g.rng.range(200, 64 << 20);
    g.emit(&call, |o, rng| {
        o.obj("requestParameters", |o| {
            o.str("bucketName", bucket)
                .str("Host", &host)
                .str("key", &key);
            if name == "GetObject" && rng.per_mille(200) {
                o.str("range", &format!("bytes=0-{}", size.min(8 << 20) - 1));
            }
        });
        if put {
            o.obj("responseElements", |o| {
                o.str("x-amz-server-side-encryption", "aws:kms");
                o.str("x-amz-server-side-encryption-aws-kms-key-id", &kms_key);
                o.str("x-amz-version-id", &rng.base64(32));
                o.str("x-amz-server-side-encryption-bucket-key-enabled", "true");
            });
        } else {
            o.null("responseElements");
        }
        o.obj("additionalEventData", |o| {
            o.str("SignatureVersion", "SigV4");
            o.str("CipherSuite", "TLS_AES_128_GCM_SHA256");
            o.num("bytesTransferredIn", if put { size } else { 0 });
            if put {
                o.str("SSEApplied", "SSE_KMS");
            }
            o.str("AuthenticationMethod", "AuthHeader");
            o.str("x-amz-id-2", &rng.base64(76));
            o.num(
                "bytesTransferredOut",
                if name == "GetObject" { size } else { 0 },
            );
        });
    });
}

/// An S3 notification running a function: the invocations the built-in
/// rule allows.
pub(crate) fn lambda_invoke_by_s3(g: &mut Gen) {
    let function = g.rng.pick(FUNCTIONS);
    let (bucket, region) = g.rng.pick(BUCKETS);
    let function_arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}");
    let resources = [Resource {
        kind: "AWS::Lambda::Function",
        arn: &function_arn,
    }];
    let mut call = Call::by_service("lambda.amazonaws.com", "Invoke", "s3.amazonaws.com", region);
    call.kind = Kind::Data;
    call.resources = &resources;
    call.shared_event = true;
    if g.rng.per_mille(10) {
        call.error("TooManyRequestsException", "Rate Exceeded.");
    }
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| {
            o.str("functionName", &function_arn);
            o.str("sourceArn", &format!("arn:aws:s3:::{bucket}"));
            o.str("sourceAccount", ACCOUNT);
        });
        o.null("responseElements");
        o.obj("additionalEventData", |o| {
            o.str("functionVersion", &format!("{function_arn}:$LATEST"));
        });
    });
}

/// DynamoDB item reads and writes by the order service.
pub(crate) fn dynamodb_item(g: &mut Gen) {
    let names = [
        (45, "GetItem"),
        (25, "Query"),
        (20, "PutItem"),
        (10, "UpdateItem"),
    ];
    let name = g.rng.weighted(&names);
    let region = g.region();
    let role = g
        .rng
        .pick(&[&super::world::APP_ROLE, &super::world::LAMBDA_ROLE]);
    let who = Who::role(&mut g.rng, role);
    let ip = g.private_ip();
    let agent = g.rng.pick(SDK_AGENTS);
    let table_arn = format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/orders");
    let resources = [Resource {
        kind: "AWS::DynamoDB::Table",
        arn: &table_arn,
    }];
    let host = format!("dynamodb.{region}.amazonaws.com");
    let mut call = Call::new("dynamodb.amazonaws.com", name, who, region, &ip, agent);
    call.version = "1.08";
    call.kind = Kind::Data;
    call.read_only = matches!(name, "GetItem" | "Query");
    call.resources = &resources;
    call.tls_host = Some(&host);
    call.vpc_endpoint = Some("vpce-0f9e8d7c6b5a43210");
    if !call.read_only && g.rng.per_mille(30) {
        call.error(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        );
    } else if g.rng.per_mille(5) {
        call.error(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        );
    }
    let order = format!("ORDER#{}", g.rng.range(100_000, 999_999));
    let customer = format!("CUSTOMER#{}", g.rng.pick(CUSTOMERS));
    g.emit(&call, |o, _| {
        o.obj("requestParameters", |o| {
            o.str("tableName", "orders");
            if name == "Query" {
                o.str("indexName", "by-customer");
                o.str("keyConditionExpression", "#c = :c AND begins_with(#pk, :p)");
                o.obj("expressionAttributeNames", |o| {
                    o.str("#c", "customer").str("#pk", "pk");
                });
                o.num("limit", 50);
            } else {
                o.obj("key", |o| {
                    o.str("pk", &order).str("sk", &customer);
                });
            }
            o.str("returnConsumedCapacity", "NONE");
        });
        o.null("responseElements");
    });
}
