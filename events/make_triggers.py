#!/usr/bin/env python3
"""Write the trigger samples in events/: every way an event can reach the
function, all naming the sample logs of objects.tsv in bucket
trailwatch-test-logs. Deterministic; standard library only.

Usage: python3 events/make_triggers.py
"""
import json
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUCKET = "trailwatch-test-logs"
TOPIC = "arn:aws:sns:us-east-1:123456789012:trailwatch-log-delivery"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:trailwatch-log-delivery"


def keys():
    out = []
    for line in (HERE / "objects.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        path, key = line.split("\t")
        out.append((Path(path).name, key))
    return dict(out)


KEYS = keys()
INVOKE = KEYS["lambda-invoke-data-events.json.gz"]
CONSOLE = KEYS["console-and-root.json.gz"]
SPACED = KEYS["backfill run=1.json.gz"]
MISSING = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0840Z_NotThere00000000.json.gz"


def s3_notification(key):
    one = json.loads((HERE / "s3-one-object.json").read_text())
    one["Records"][0]["s3"]["object"]["key"] = urllib.parse.quote_plus(key, safe="/")
    one["Records"][0]["s3"]["object"].pop("size", None)
    return one


def sns_envelope(message, n):
    return {
        "Type": "Notification",
        "MessageId": f"00000000-0000-4000-8000-00000000000{n}",
        "TopicArn": TOPIC,
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2026-11-23T08:20:06.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def sns_event(message, n=1):
    envelope = sns_envelope(message, n)
    envelope["SigningCertUrl"] = envelope.pop("SigningCertURL")
    envelope["UnsubscribeUrl"] = envelope.pop("UnsubscribeURL")
    envelope["MessageAttributes"] = {}
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": TOPIC + ":0f6f1b2c-0000-4000-8000-000000000001",
        "Sns": envelope,
    }]}


def sqs_event(bodies):
    records = []
    for n, (message_id, body) in enumerate(bodies, 1):
        records.append({
            "messageId": message_id,
            "receiptHandle": f"AQEBexample{n}",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795421206000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795421206001"},
            "messageAttributes": {},
            "md5OfBody": "00000000000000000000000000000000",
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE,
            "awsRegion": "us-east-1",
        })
    return {"Records": records}


def cloudtrail_message(*object_keys):
    return json.dumps({"s3Bucket": BUCKET, "s3ObjectKey": list(object_keys)})


TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T08:00:00.000Z",
              "Bucket": BUCKET, "RequestId": "5582815E1AEA5ADF", "HostId": "EXAMPLE"}


def eventbridge(key):
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-23T08:20:05Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "etag": "cf0be378b6267313a945c505bb4c6d75",
                       "sequencer": "00673F8D2E1A9C4D03"},
            "request-id": "R8HK9DW7W6NRVYI6",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def batch(version, object_keys):
    tasks = []
    for n, key in enumerate(object_keys, 1):
        task = {"taskId": f"task-{n}", "s3Key": urllib.parse.quote(key, safe="/"), "s3VersionId": None}
        if version == "1.0":
            task["s3BucketArn"] = f"arn:aws:s3:::{BUCKET}"
        else:
            task["s3Bucket"] = BUCKET
        tasks.append(task)
    job = {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"}
    if version == "2.0":
        job["userArguments"] = {}
    return {"invocationSchemaVersion": version, "invocationId": f"invocation-{version}", "job": job, "tasks": tasks}


SAMPLES = {
    "s3-test-event.json": TEST_EVENT,
    "sns-s3.json": sns_event(json.dumps(s3_notification(INVOKE))),
    "sns-s3-test-event.json": sns_event(json.dumps(TEST_EVENT)),
    "sqs-s3.json": sqs_event([
        ("11111111-0000-4000-8000-000000000001", json.dumps(s3_notification(INVOKE))),
        ("11111111-0000-4000-8000-000000000002", "this is not a notification"),
        ("11111111-0000-4000-8000-000000000003", json.dumps(s3_notification(CONSOLE))),
    ]),
    "sqs-sns-s3.json": sqs_event([
        ("22222222-0000-4000-8000-000000000001",
         json.dumps(sns_envelope(json.dumps(s3_notification(INVOKE)), 1))),
    ]),
    "eventbridge-object-created.json": eventbridge(SPACED),
    "cloudtrail-sns.json": sns_event(cloudtrail_message(INVOKE, CONSOLE)),
    "cloudtrail-sns-validation.json": sns_event("CloudTrail validation message."),
    "sqs-cloudtrail-sns.json": sqs_event([
        ("33333333-0000-4000-8000-000000000001", cloudtrail_message(INVOKE)),
        ("33333333-0000-4000-8000-000000000002", json.dumps(sns_envelope(cloudtrail_message(CONSOLE), 2))),
        ("33333333-0000-4000-8000-000000000003", "CloudTrail validation message."),
    ]),
    "batch-operations-1.0.json": batch("1.0", [INVOKE, SPACED, MISSING]),
    "batch-operations-2.0.json": batch("2.0", [INVOKE, CONSOLE]),
    "unknown-event.json": {"Records": [{"eventSource": "aws:dynamodb", "eventName": "INSERT",
                                        "dynamodb": {"Keys": {"id": {"S": "1"}}}}]},
}


def main():
    for name, event in SAMPLES.items():
        (HERE / name).write_text(json.dumps(event, indent=2) + "\n")
        print(f"events/{name}")


if __name__ == "__main__":
    main()
