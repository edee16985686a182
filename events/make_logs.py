#!/usr/bin/env python3
"""Regenerate the sample CloudTrail log objects and S3 notifications in events/.

Run from anywhere (standard library only):

    python3 events/make_logs.py

It writes, relative to this file's folder:

  logs/*.json.gz           CloudTrail log objects as CloudTrail writes them:
                           gzip of one compact JSON object {"Records":[...]}.
                           gzip mtime is fixed to 0 and no file name is stored,
                           so the bytes are reproducible.
  objects.tsv              local_path <TAB> s3_key (bucket trailwatch-test-logs)
  s3-one-object.json       S3 -> Lambda notification, one record
  s3-several-objects.json  S3 -> Lambda notification, several records
  s3-encoded-key.json      S3 -> Lambda notification, key with space and '='

The notifications carry the real byte size and MD5 eTag of each .json.gz, so
regenerate everything together (this script) whenever a record changes.

Records are modelled on the AWS documentation examples (Lambda developer guide
"Using AWS Lambda with AWS CloudTrail" / "Logging Lambda API calls with
CloudTrail", API Gateway and Lex V2 CloudTrail pages), rewritten as valid JSON
with account 123456789012, region us-east-1 and dates in November 2026.
"""

import copy
import gzip
import hashlib
import json
import os
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
LOG_DIR = os.path.join(HERE, "logs")
REPO_PREFIX = "events/logs/"  # local paths in objects.tsv are relative to the repo root

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "trailwatch-test-logs"
KEY_PREFIX = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/11/23/"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:trailwatch"


# --------------------------------------------------------------------------
# Deterministic identifiers (stable across runs, unique per label)
# --------------------------------------------------------------------------

def uid(label):
    """A version-4-shaped UUID derived from a label, so output is reproducible."""
    digest = hashlib.sha256(("trailwatch-events/" + label).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def s3_request_id(label):
    """S3-style request id: 16 upper-case alphanumerics."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    digest = hashlib.sha256(("s3req/" + label).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:16])


def s3_host_id(label):
    """x-amz-id-2 style value (base64-looking, 76 chars)."""
    import base64
    digest = hashlib.sha512(("s3id2/" + label).encode()).digest()
    return base64.b64encode(digest)[:76].decode()


# --------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------

ALICE = {  # IAM user with long-term access keys (CLI)
    "type": "IAMUser",
    "principalId": "AIDAR7EXAMPLEALICE001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAR7EXAMPLEALICE01",
    "userName": "alice",
}

ALICE_CONSOLE = {  # same user, temporary console session credentials
    "type": "IAMUser",
    "principalId": "AIDAR7EXAMPLEALICE001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAR7EXAMPLECONSOLE1",
    "userName": "alice",
    "sessionContext": {
        "sessionIssuer": {},
        "webIdFederationData": {},
        "attributes": {
            "creationDate": "2026-11-23T08:30:12Z",
            "mfaAuthenticated": "true",
        },
    },
}

ALICE_SIGNIN = {  # ConsoleLogin records carry no access key
    "type": "IAMUser",
    "principalId": "AIDAR7EXAMPLEALICE001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "userName": "alice",
}

BOB = {  # IAM user used for Lambda and SNS administration
    "type": "IAMUser",
    "principalId": "AIDAR7EXAMPLEBOB00002",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/bob",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAR7EXAMPLEBOB0002",
    "userName": "bob",
}

CAROL = {  # IAM user working on API Gateway and Lex
    "type": "IAMUser",
    "principalId": "AIDAR7EXAMPLECAROL003",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/carol",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAR7EXAMPLECAROL03",
    "userName": "carol",
}

ROOT = {  # root user signed in to the console
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAR7EXAMPLEROOT0001",
    "sessionContext": {
        "attributes": {
            "creationDate": "2026-11-23T08:31:55Z",
            "mfaAuthenticated": "true",
        },
    },
}

S3_SERVICE = {  # Amazon S3 invoking a function on a bucket notification
    "type": "AWSService",
    "invokedBy": "s3.amazonaws.com",
}

CLI_UA = ("aws-cli/2.22.5 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-48-generic "
          "md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard "
          "md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#{}")
BOTO_UA = ("Boto3/1.35.64 md/Botocore#1.35.64 ua/2.0 os/linux#6.8.0-48-generic "
           "md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#legacy "
           "Botocore/1.35.64")
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")


def tls(service):
    return {
        "tlsVersion": "TLSv1.3",
        "cipherSuite": "TLS_AES_128_GCM_SHA256",
        "clientProvidedHostHeader": f"{service}.{REGION}.amazonaws.com",
    }


# --------------------------------------------------------------------------
# lambda-management.json.gz
#   Based on the GetFunction / DeleteFunction example of "Logging Lambda API
#   calls with CloudTrail" (eventName with the API version suffix, as the page
#   notes CloudTrail logs it), plus harmless read-only calls.
# --------------------------------------------------------------------------

LAMBDA_MANAGEMENT = [
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:11:04Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": "ListFunctions20150331",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("lambda.list-functions"),
        "requestParameters": None,
        "responseElements": None,
        "requestID": uid("lambda-management/ListFunctions/request"),
        "eventID": uid("lambda-management/ListFunctions/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("lambda"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:11:39Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("ec2.describe-instances"),
        "requestParameters": {
            "instancesSet": {},
            "filterSet": {
                "items": [
                    {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}
                ]
            },
        },
        "responseElements": None,
        "requestID": uid("lambda-management/DescribeInstances/request"),
        "eventID": uid("lambda-management/DescribeInstances/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("ec2"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:12:10Z",
        "eventSource": "logs.amazonaws.com",
        "eventName": "DescribeLogGroups",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("logs.describe-log-groups"),
        "requestParameters": {"logGroupNamePrefix": "/aws/lambda/trailwatch"},
        "responseElements": None,
        "requestID": uid("lambda-management/DescribeLogGroups/request"),
        "eventID": uid("lambda-management/DescribeLogGroups/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("logs"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:13:36Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": "GetFunction20150331",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("lambda.get-function"),
        "errorCode": "AccessDeniedException",
        "errorMessage": (f"User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: "
                         f"lambda:GetFunction on resource: {FUNCTION_ARN} because no "
                         "identity-based policy allows the lambda:GetFunction action"),
        "requestParameters": {"functionName": "trailwatch"},
        "responseElements": None,
        "requestID": uid("lambda-management/GetFunction/request"),
        "eventID": uid("lambda-management/GetFunction/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("lambda"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:14:42Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": "DeleteFunction20150331",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("lambda.delete-function"),
        "requestParameters": {"functionName": "basic-node-task"},
        "responseElements": None,
        "requestID": uid("lambda-management/DeleteFunction/request"),
        "eventID": uid("lambda-management/DeleteFunction/event"),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("lambda"),
    },
]


# --------------------------------------------------------------------------
# lambda-invoke-data-events.json.gz
#   Lambda data events (trail with data events enabled for the function).
#   1. alice invokes the trailwatch function directly  -> must alert
#   2. S3 invokes it for a bucket notification           -> must not alert
# --------------------------------------------------------------------------

LAMBDA_INVOKE = [
    {
        "eventVersion": "1.09",
        "userIdentity": ALICE,
        "eventTime": "2026-11-23T08:16:21Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.45",
        "userAgent": CLI_UA.format("lambda.invoke"),
        "requestParameters": {
            "functionName": FUNCTION_ARN,
            "invocationType": "RequestResponse",
        },
        "responseElements": None,
        "additionalEventData": {"functionVersion": FUNCTION_ARN + ":$LATEST"},
        "requestID": uid("lambda-invoke/alice/request"),
        "eventID": uid("lambda-invoke/alice/event"),
        "readOnly": False,
        "resources": [
            {"accountId": ACCOUNT, "type": "AWS::Lambda::Function", "ARN": FUNCTION_ARN}
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
        "tlsDetails": tls("lambda"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": S3_SERVICE,
        "eventTime": "2026-11-23T08:17:03Z",
        "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke",
        "awsRegion": REGION,
        "sourceIPAddress": "s3.amazonaws.com",
        "userAgent": "s3.amazonaws.com",
        "requestParameters": {
            "functionName": FUNCTION_ARN,
            "invocationType": "Event",
        },
        "responseElements": None,
        "additionalEventData": {"functionVersion": FUNCTION_ARN + ":$LATEST"},
        "requestID": uid("lambda-invoke/s3/request"),
        "eventID": uid("lambda-invoke/s3/event"),
        "readOnly": False,
        "resources": [
            {"accountId": ACCOUNT, "type": "AWS::Lambda::Function", "ARN": FUNCTION_ARN}
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
    },
]


def with_new_ids(records, label):
    """Same records, fresh requestID/eventID (used for the backfill copy)."""
    out = copy.deepcopy(records)
    for i, r in enumerate(out):
        r["requestID"] = uid(f"{label}/{i}/request")
        r["eventID"] = uid(f"{label}/{i}/event")
    return out


BACKFILL = with_new_ids(LAMBDA_INVOKE, "backfill-run-1")


# --------------------------------------------------------------------------
# sns-api.json.gz
#   Based on the example log of "Using AWS Lambda with AWS CloudTrail"
#   (CreateTopic + GetTopicAttributes), here by an IAM user.
# --------------------------------------------------------------------------

TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:trailwatch-alerts"

SNS_API = [
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:21:50Z",
        "eventSource": "sns.amazonaws.com",
        "eventName": "CreateTopic",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("sns.create-topic"),
        "requestParameters": {"name": "trailwatch-alerts"},
        "responseElements": {"topicArn": TOPIC_ARN},
        "requestID": uid("sns-api/CreateTopic/request"),
        "eventID": uid("sns-api/CreateTopic/event"),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("sns"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": BOB,
        "eventTime": "2026-11-23T08:22:02Z",
        "eventSource": "sns.amazonaws.com",
        "eventName": "GetTopicAttributes",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": CLI_UA.format("sns.get-topic-attributes"),
        "requestParameters": {"topicArn": TOPIC_ARN},
        "responseElements": None,
        "requestID": uid("sns-api/GetTopicAttributes/request"),
        "eventID": uid("sns-api/GetTopicAttributes/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("sns"),
    },
]


# --------------------------------------------------------------------------
# apigateway-lex.json.gz
#   API Gateway GetResource (API Gateway developer guide CloudTrail example)
#   and Lex V2 CreateBotAlias (Lex V2 developer guide CloudTrail example).
#   Lex V2 logs eventSource "lex.amazonaws.com" (Lex V1 "models.lex" is only the
#   V1 API endpoint host name, not a CloudTrail eventSource).
# --------------------------------------------------------------------------

APIGATEWAY_LEX = [
    {
        "eventVersion": "1.09",
        "userIdentity": CAROL,
        "eventTime": "2026-11-23T08:26:14Z",
        "eventSource": "apigateway.amazonaws.com",
        "eventName": "GetResource",
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.77",
        "userAgent": BOTO_UA,
        "requestParameters": {
            "restApiId": "3rbexample",
            "resourceId": "5tfexample",
            "template": False,
        },
        "responseElements": None,
        "requestID": uid("apigateway-lex/GetResource/request"),
        "eventID": uid("apigateway-lex/GetResource/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("apigateway"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": CAROL,
        "eventTime": "2026-11-23T08:27:41Z",
        "eventSource": "lex.amazonaws.com",
        "eventName": "CreateBotAlias",
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.77",
        "userAgent": BOTO_UA,
        "requestParameters": {
            "botAliasLocaleSettings": {"en_US": {"enabled": True}},
            "botId": "TWBOT12345",
            "botAliasName": "prod",
            "botVersion": "1",
        },
        "responseElements": {
            "botAliasLocaleSettings": {"en_US": {"enabled": True}},
            "botAliasId": "TWALIAS001",
            "botAliasName": "prod",
            "botVersion": "1",
            "botAliasStatus": "Creating",
            "botId": "TWBOT12345",
            "creationDateTime": 1795422461.318,
        },
        "requestID": uid("apigateway-lex/CreateBotAlias/request"),
        "eventID": uid("apigateway-lex/CreateBotAlias/event"),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("models-v2-lex"),
    },
]


# --------------------------------------------------------------------------
# console-and-root.json.gz
#   A console sign-in with MFA, two ordinary calls, and one root call
#   (root user listing buckets from the S3 console).
# --------------------------------------------------------------------------

CONSOLE_AND_ROOT = [
    {
        "eventVersion": "1.09",
        "userIdentity": ALICE_SIGNIN,
        "eventTime": "2026-11-23T08:30:12Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.45",
        "userAgent": BROWSER_UA,
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAIdentifier": f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone",
            "MFAUsed": "Yes",
        },
        "eventID": uid("console-and-root/ConsoleLogin/event"),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "signin.aws.amazon.com",
        },
    },
    {
        "eventVersion": "1.09",
        "userIdentity": ALICE_CONSOLE,
        "eventTime": "2026-11-23T08:30:58Z",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "DescribeTrails",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.45",
        "userAgent": "AWS Internal",
        "requestParameters": {"trailNameList": [], "includeShadowTrails": False},
        "responseElements": None,
        "requestID": uid("console-and-root/DescribeTrails/request"),
        "eventID": uid("console-and-root/DescribeTrails/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "sessionCredentialFromConsole": "true",
    },
    {
        "eventVersion": "1.09",
        "userIdentity": ALICE,
        "eventTime": "2026-11-23T08:31:20Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.45",
        "userAgent": CLI_UA.format("sts.get-caller-identity"),
        "requestParameters": None,
        "responseElements": None,
        "requestID": uid("console-and-root/GetCallerIdentity/request"),
        "eventID": uid("console-and-root/GetCallerIdentity/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": tls("sts"),
    },
    {
        "eventVersion": "1.09",
        "userIdentity": ROOT,
        "eventTime": "2026-11-23T08:32:41Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.150",
        "userAgent": "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.770]",
        "requestParameters": {"Host": f"s3.{REGION}.amazonaws.com"},
        "responseElements": None,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": s3_host_id("console-and-root/ListBuckets"),
            "bytesTransferredOut": 1254,
        },
        "requestID": s3_request_id("console-and-root/ListBuckets"),
        "eventID": uid("console-and-root/ListBuckets/event"),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"s3.{REGION}.amazonaws.com",
        },
        "sessionCredentialFromConsole": "true",
    },
]


# --------------------------------------------------------------------------
# Log objects: local file name, S3 key, records, notification time
# --------------------------------------------------------------------------

LOGS = [
    ("lambda-management.json.gz",
     KEY_PREFIX + f"{ACCOUNT}_CloudTrail_{REGION}_20261123T0815Z_Ab12Cd34Ef56Gh78.json.gz",
     LAMBDA_MANAGEMENT, "2026-11-23T08:15:07.214Z"),
    ("lambda-invoke-data-events.json.gz",
     KEY_PREFIX + f"{ACCOUNT}_CloudTrail_{REGION}_20261123T0820Z_Lm34No56Pq78Rs90.json.gz",
     LAMBDA_INVOKE, "2026-11-23T08:20:05.871Z"),
    ("sns-api.json.gz",
     KEY_PREFIX + f"{ACCOUNT}_CloudTrail_{REGION}_20261123T0825Z_Tu12Vw34Xy56Za78.json.gz",
     SNS_API, "2026-11-23T08:25:04.093Z"),
    ("apigateway-lex.json.gz",
     KEY_PREFIX + f"{ACCOUNT}_CloudTrail_{REGION}_20261123T0830Z_Bc98De76Fg54Hi32.json.gz",
     APIGATEWAY_LEX, "2026-11-23T08:30:06.440Z"),
    ("console-and-root.json.gz",
     KEY_PREFIX + f"{ACCOUNT}_CloudTrail_{REGION}_20261123T0835Z_Jk13Lm57No91Pq24.json.gz",
     CONSOLE_AND_ROOT, "2026-11-23T08:35:03.659Z"),
    ("backfill run=1.json.gz",
     KEY_PREFIX + f"backfill run=1/{ACCOUNT}_CloudTrail_{REGION}_20261123T0820Z_Zz99Yy88Xx77Ww66.json.gz",
     BACKFILL, "2026-11-23T09:02:44.127Z"),
]


def write_log(name, records):
    body = json.dumps({"Records": records}, separators=(",", ":"), ensure_ascii=False)
    json.loads(body)  # sanity: valid JSON
    data = gzip.compress(body.encode("utf-8"), compresslevel=9, mtime=0)
    with open(os.path.join(LOG_DIR, name), "wb") as f:
        f.write(data)
    return {"size": len(data), "eTag": hashlib.md5(data).hexdigest()}


# --------------------------------------------------------------------------
# S3 event notifications (the shape S3 sends to Lambda)
# --------------------------------------------------------------------------

def encode_key(key):
    """S3 notifications carry the key form-URL-encoded: space -> '+', '=' -> %3D."""
    return urllib.parse.quote_plus(key, safe="/")


_sequencer = [0x00673F8D2E1A9C4B50]


def notification_record(key, size, etag, event_time):
    _sequencer[0] += 0x1B3
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": event_time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAR7EXAMPLECTDELIV:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "52.94.133.131"},
        "responseElements": {
            "x-amz-request-id": s3_request_id("put/" + key),
            "x-amz-id-2": s3_host_id("put/" + key),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "trailwatch-object-created",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A2R7EXAMPLEOWNER"},
                "arn": f"arn:aws:s3:::{BUCKET}",
            },
            "object": {
                "key": encode_key(key),
                "size": size,
                "eTag": etag,
                "sequencer": "%018X" % _sequencer[0],
            },
        },
    }


def write_json(name, obj):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main():
    os.makedirs(LOG_DIR, exist_ok=True)

    all_ids = [r["eventID"] for _, _, recs, _ in LOGS for r in recs]
    assert len(all_ids) == len(set(all_ids)), "eventIDs must be unique"

    meta = {}
    for name, key, records, when in LOGS:
        meta[name] = dict(write_log(name, records), key=key, time=when)

    with open(os.path.join(HERE, "objects.tsv"), "w", encoding="utf-8") as f:
        f.write(f"# bucket: {BUCKET}\n")
        f.write("# local_path\ts3_key\n")
        for name, key, _, _ in LOGS:
            f.write(f"{REPO_PREFIX}{name}\t{key}\n")

    def rec(name):
        m = meta[name]
        return notification_record(m["key"], m["size"], m["eTag"], m["time"])

    write_json("s3-one-object.json", {"Records": [rec("lambda-invoke-data-events.json.gz")]})

    digest_key = (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/11/23/"
                  f"{ACCOUNT}_CloudTrail-Digest_{REGION}_trailwatch-trail_{REGION}_20261123T083512Z.json.gz")
    folder_key = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/11/24/"
    write_json("s3-several-objects.json", {"Records": [
        rec("lambda-management.json.gz"),
        rec("sns-api.json.gz"),
        rec("apigateway-lex.json.gz"),
        # digest file: must be skipped by the handler (not a log of events)
        notification_record(digest_key, 741, hashlib.md5(b"digest").hexdigest(),
                            "2026-11-23T08:35:14.302Z"),
        # "folder" placeholder created in the console: size 0, empty-body MD5
        notification_record(folder_key, 0, hashlib.md5(b"").hexdigest(),
                            "2026-11-23T08:36:27.918Z"),
    ]})

    write_json("s3-encoded-key.json", {"Records": [rec("backfill run=1.json.gz")]})

    for name, key, records, _ in LOGS:
        m = meta[name]
        print(f"{m['size']:6d}  {m['eTag']}  {REPO_PREFIX}{name}  ({len(records)} records)")


if __name__ == "__main__":
    main()
