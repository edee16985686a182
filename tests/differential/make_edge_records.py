#!/usr/bin/env python3
"""Writes tests/data/differential/edge-records.jsonl (run from the repo root).

Variants of one ordinary record that give the five fields the rule index
reads (eventName, eventSource, userIdentity.type, errorCode, userAgent)
other JSON types (array, nested array, object, number, bool, null, empty
array), other cases and JSON escapes (\\u0048), for the rules that are filed
under them. Each value is written as raw JSON text, so the escapes reach the
file as written. Append new variants at the end: a record's index is its
position, and tests/differential_pysigma.rs names records by index.
"""
import json
base = {
 "eventVersion":"1.09",
 "userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEEXAMPLE01","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEEXAMPLE01","userName":"alice"},
 "eventTime":"2026-11-20T09:14:03Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity",
 "awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.30",
 "requestParameters":None,"responseElements":None,"requestID":"req","eventID":"x","readOnly":True,
 "eventType":"AwsApiCall","managementEvent":True,"recipientAccountId":"111122223333","eventCategory":"Management"}
lines = []


def rec(over=None, raw=None, drop=()):
    """Appends the base record with `over` set, `drop` removed and `raw`
    (field, JSON text) written verbatim as one field's value."""
    r=dict(base); r["userIdentity"]=dict(base["userIdentity"])
    for k,v in (over or {}).items():
        if k=="userIdentity.type": r["userIdentity"]["type"]=v
        else: r[k]=v
    for k in drop:
        r.pop(k,None)
    text=json.dumps(r,separators=(",",":"))
    if raw:
        field, value = raw
        if field=="userIdentity.type":
            old='"type":'+json.dumps(r["userIdentity"]["type"])
            assert text.count(old)==1; text=text.replace(old,'"type":'+value)
        else:
            old='"%s":%s'%(field,json.dumps(r[field],separators=(",",":")))
            assert text.count(old)==1, old; text=text.replace(old,'"%s":%s'%(field,value))
    json.loads(text); lines.append(text)
# userAgent: SigmaHQ's TruffleHog rules
for v in ['["TruffleHog"]','["curl/8.5","TruffleHog"]','[["TruffleHog"]]','"trufflehog"','"TRUFFLEHOG"','"Truffle\\u0048og"','"\\u0054ruffleHog"','{"name":"TruffleHog"}','42','true','null','[]']:
    rec(raw=("userAgent",v))
rec(over={"eventName":"ListBuckets","eventSource":"s3.amazonaws.com"},raw=("userAgent",'["TruffleHog"]'))
rec(drop=("userAgent",))
# eventName and eventSource: the SNS CreateTopic rule (eventName versions too)
sns={"eventSource":"sns.amazonaws.com","eventName":"CreateTopic"}
for v in ['["CreateTopic"]','"createtopic"','"Create\\u0054opic"','"CreateTopic20100331"','"CreateTopic20100331v2"','"CreateTopic2010033"','["CreateTopic20100331"]','{"n":"CreateTopic"}','7','false','null']:
    rec(over=sns,raw=("eventName",v))
for v in ['["sns.amazonaws.com"]','"SNS.amazonaws.com"','"sns.amazonaws\\u002ecom"','null']:
    rec(over=sns,raw=("eventSource",v))
# userIdentity.type: the root rules
for v in ['["Root"]','"root"','"R\\u006fot"','{"t":"Root"}','1','null']:
    rec(over={"eventSource":"iam.amazonaws.com","eventName":"ListUsers"},raw=("userIdentity.type",v))
# errorCode: the access-denied rule; DeleteBucket with errorCode Success, null, absent
for v in ['["AccessDenied"]','"accessdenied"','"Access\\u0044enied"','"Client.UnauthorizedOperation"','["Client.UnauthorizedOperation"]','403','null']:
    rec(over={"eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"x"},raw=("errorCode",v))
for v in ['"Success"','null','["Success"]','"NoSuchBucket"']:
    rec(over={"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","errorCode":"x"},raw=("errorCode",v))
rec(over={"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket"})
open("tests/data/differential/edge-records.jsonl","w").write("\n".join(lines)+"\n")
print(len(lines))
