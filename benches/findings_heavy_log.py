#!/usr/bin/env python3
"""A findings-heavy CloudTrail log for memory benchmarks (BENCHMARKS.md).

    python3 benches/findings_heavy_log.py RECORDS PRINCIPALS SHARE OUT.json.gz

RECORDS S3 GetObject data events by PRINCIPALS distinct IAM users, a SHARE of
them (0..1) denied (errorCode AccessDenied), so the built-in access-denied
rule fires on that share, across as many alert groups as principals. The same
arguments always write the same log.
"""
import gzip, json, random, sys
random.seed(7)
n = int(sys.argv[1]); principals = int(sys.argv[2]); share = float(sys.argv[3])
with gzip.open(sys.argv[4], 'wt', compresslevel=6) as out:
    out.write('{"Records":[')
    for i in range(n):
        p = random.randrange(principals)
        rec = {"eventVersion": "1.09", "eventID": f"ev-{i:08d}", "eventTime": f"2026-12-01T{(i//60000)%24:02d}:{(i//1000)%60:02d}:{(i//17)%60:02d}Z",
               "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
               "sourceIPAddress": f"198.51.100.{p%250}", "userAgent": "aws-sdk-java/1.12.500 Linux/5.10",
               "recipientAccountId": "111122223333",
               "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{p:016d}", "arn": f"arn:aws:iam::111122223333:user/user-{p}", "accountId": "111122223333", "userName": f"user-{p}"},
               "requestParameters": {"bucketName": "data-bucket", "key": f"reports/{i}.csv"}, "responseElements": None,
               "readOnly": True, "eventType": "AwsApiCall", "managementEvent": False}
        if random.random() < share:
            rec["errorCode"] = "AccessDenied"; rec["errorMessage"] = "Access Denied"
        if i: out.write(',')
        out.write(json.dumps(rec, separators=(',', ':')))
    out.write(']}')
