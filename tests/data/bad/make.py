#!/usr/bin/env python3
"""Regenerate the malformed log objects in tests/data/bad/.

Run from anywhere (standard library only, deterministic):

    python3 tests/data/bad/make.py

Every file here is something trailwatch may be handed instead of a CloudTrail
log object; tests/bad_objects.rs says what must happen to each, and README.md
(next to this script) says what is wrong with each and how it was made.

Most gzip files are written by hand with *stored* (uncompressed) deflate
blocks, so their bytes do not depend on the zlib version. The few that need
real compression (the 20 MiB string, the whitespace bomb, the truncated log)
use zlib level 9: their bytes may differ between zlib versions, their content
does not. The truncated log is flushed (Z_FULL_FLUSH) after every record and
cut inside the third record's compressed bytes, so exactly two records can be
read from it whatever zlib wrote.
"""

import hashlib
import json
import os
import struct
import uuid
import zipfile
import io
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "123456789012"


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------

def uid(label):
    """A version-4-shaped UUID derived from a label (reproducible)."""
    digest = hashlib.sha256(("trailwatch-bad/" + label).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def record(n, source="ec2.amazonaws.com", name="DescribeInstances", **fields):
    """A plausible CloudTrail management event; n makes it unique."""
    rec = {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEALICE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAEXAMPLEALICE",
            "userName": "alice",
        },
        "eventTime": f"2026-11-23T10:{n % 60:02d}:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
        "requestParameters": None,
        "responseElements": None,
        "requestID": uid(f"req/{n}"),
        "eventID": uid(f"event/{n}"),
        "readOnly": name.startswith("Describe"),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    rec.update(fields)
    return rec


def stop_logging(n):
    """A record the built-in pack alerts on (cloudtrail_tampering)."""
    return record(
        n,
        source="cloudtrail.amazonaws.com",
        name="StopLogging",
        requestParameters={
            "name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management"
        },
    )


def js(value):
    """Compact JSON, as CloudTrail writes it."""
    return json.dumps(value, separators=(",", ":"))


def log(*records):
    """A CloudTrail log object's text."""
    return js({"Records": list(records)}).encode()


def log_text(*record_texts):
    """A log object from record texts that json.dumps cannot write."""
    return b'{"Records":[' + b",".join(record_texts) + b"]}"


def rec_bytes(rec):
    return js(rec).encode()


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, mtime 0, OS unknown


def trailer(data, crc=None):
    return struct.pack("<II", zlib.crc32(data) if crc is None else crc, len(data) & 0xFFFFFFFF)


def stored_deflate(data):
    """Raw deflate made of stored blocks: no compression, no zlib involved."""
    out = bytearray()
    chunks = [data[i:i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, chunk in enumerate(chunks):
        final = 1 if i == len(chunks) - 1 else 0
        out += bytes([final]) + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk
    return bytes(out)


def gz(data, crc=None):
    """One gzip member with stored blocks (reproducible bytes)."""
    return GZIP_HEADER + stored_deflate(data) + trailer(data, crc)


def gz9(data):
    """One gzip member compressed by zlib at level 9."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return GZIP_HEADER + comp.compress(data) + comp.flush() + trailer(data)


# --------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------

def truncated():
    """Four records, zlib-compressed with a full flush after each piece,
    cut in the middle of the third record's compressed bytes."""
    recs = [rec_bytes(stop_logging(1)), rec_bytes(record(2)), rec_bytes(record(3)),
            rec_bytes(record(4))]
    pieces = [b'{"Records":[' + recs[0], b"," + recs[1], b"," + recs[2],
              b"," + recs[3] + b"]}"]
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = bytearray(GZIP_HEADER)
    for i, piece in enumerate(pieces):
        start = len(out)
        out += comp.compress(piece) + comp.flush(zlib.Z_FULL_FLUSH)
        if i == 2:
            return bytes(out[: start + (len(out) - start) // 2])
    raise AssertionError("unreachable")


def random_bytes(n):
    out = bytearray()
    block = b"trailwatch random bytes"
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    out = out[:n]
    out[0] = 0x9C  # not gzip magic, not '{', '[', whitespace or a BOM
    return bytes(out)


def zip_archive():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("log.json", date_time=(2026, 11, 23, 10, 0, 0))
        info.create_system = 3
        info.external_attr = 0o644 << 16
        z.writestr(info, log(record(1)))
    return buf.getvalue()


def deep(levels):
    return b"[" * levels + b"]" * levels


def files():
    two = log(stop_logging(1), record(2))
    s3_error = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Access Denied</Message><RequestId>EXAMPLE0REQUEST0</RequestId>"
        b"<HostId>EXAMPLEHOSTID</HostId></Error>"
    )
    csv = (
        b"eventTime,eventSource,eventName,sourceIPAddress\n"
        b"2026-11-23T10:01:00Z,cloudtrail.amazonaws.com,StopLogging,198.51.100.7\n"
        b"2026-11-23T10:02:00Z,ec2.amazonaws.com,DescribeInstances,198.51.100.7\n"
    )
    digest = {
        "awsAccountId": ACCOUNT,
        "digestStartTime": "2026-11-23T09:00:00Z",
        "digestEndTime": "2026-11-23T10:00:00Z",
        "digestS3Bucket": "trail-bucket",
        "digestS3Object": f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/23/x.json.gz",
        "newestEventTime": "2026-11-23T09:59:00Z",
        "logFiles": [],
    }
    bomb_head = b'{"Records":[' + rec_bytes(stop_logging(1)) + b","
    bomb_tail = rec_bytes(record(2)) + b"]}"
    huge = record(2, userAgent="A" * (20 << 20))
    with_utf8 = rec_bytes(record(4, userAgent="ZZZZ")).replace(b"ZZZZ", b"bad \xff\xfe bytes")
    with_nul = rec_bytes(record(2, userAgent="ZZZZ")).replace(b"ZZZZ", b"nul \x00 inside")
    surrogate = rec_bytes(record(2, userAgent="ZZZZ")).replace(b"ZZZZ", b"lone \\ud800 surrogate")
    out_of_range = rec_bytes(record(2, requestParameters={"maxResults": 0})).replace(
        b'"maxResults":0', b'"maxResults":1e400')
    dup_name = rec_bytes(record(2, eventName="ZZZZ")).replace(
        b'"eventName":"ZZZZ"', b'"eventName":"DescribeInstances","eventName":"StopLogging"')
    # (record() puts eventName once; the replace above makes it appear twice.)
    dup_nested = rec_bytes(record(2)).replace(
        b'"userName":"alice"', b'"userName":"alice","userName":"mallory"')
    deep_rec = rec_bytes(record(2, requestParameters="ZZZZ")).replace(b'"ZZZZ"', deep(10_000))
    mid = len(two) // 2
    return {
        "empty-0-byte.json.gz": b"",
        "empty-gzip.json.gz": gz(b""),
        "whitespace-only.json.gz": gz(b" \n\t\r\n  \n"),
        "not-gzip-text.json.gz": b"This object is not a CloudTrail log.\n",
        "random-bytes.json.gz": random_bytes(2048),
        "nul-bytes.json.gz": b"\x00" * 4096,
        "zip-archive.json.gz": zip_archive(),
        "gzip-of-xml-error.json.gz": gz(s3_error),
        "gzip-of-csv.json.gz": gz(csv),
        "gzip-of-gzip.json.gz": gz(gz(two)),
        "gzip-bad-header.json.gz": b"\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\xff" + stored_deflate(two) + trailer(two),
        "gzip-corrupt-deflate.json.gz": GZIP_HEADER + b"\x07" + b"\x00" * 32,
        "gzip-crc-mismatch.json.gz": gz(two, crc=zlib.crc32(two) ^ 0xFFFFFFFF),
        "gzip-trailing-garbage.json.gz": gz(two) + b"TRAILING GARBAGE\n",
        "truncated.json.gz": truncated(),
        "truncated-plain.json": two[: two.index(b',{"eventVersion"') + 200],
        "trailing-garbage.json.gz": gz(two + b"\n<html>garbage</html>\n"),
        "concatenated-logs.json.gz": gz(two) + gz(log(stop_logging(3), record(4))),
        "split-gzip-members.json.gz": gz(two[:mid]) + gz(two[mid:]),
        "plain-uncompressed.json": two,
        "utf8-bom.json.gz": gz(b"\xef\xbb\xbf" + two),
        "utf16le-bom.json.gz": gz(b"\xff\xfe" + two.decode().encode("utf-16-le")),
        "utf16le-no-bom.json.gz": gz(two.decode().encode("utf-16-le")),
        "json-array-top-level.json.gz": gz(js([stop_logging(1), record(2)]).encode()),
        "json-string-top-level.json.gz": gz(js(two.decode()).encode()),
        "json-lines.json.gz": gz(rec_bytes(stop_logging(1)) + b"\n" + rec_bytes(record(2)) + b"\n"),
        "no-records-key-digest.json.gz": gz(js(digest).encode()),
        "records-is-object.json.gz": gz(js({"Records": stop_logging(1)}).encode()),
        "records-is-null.json.gz": gz(b'{"Records":null}'),
        "records-trailing-comma.json.gz": gz(log_text(rec_bytes(stop_logging(1)), b"")),
        "records-of-non-objects.json.gz": gz(log_text(
            b"1", b'"a"', b"null", b"[]", rec_bytes(stop_logging(5)))),
        "record-not-json.json.gz": gz(log_text(
            rec_bytes(record(1)), b'{"eventName":tru}', rec_bytes(stop_logging(3)))),
        "invalid-utf8.json.gz": gz(log_text(
            rec_bytes(record(1)), rec_bytes(record(2)), rec_bytes(stop_logging(3)), with_utf8)),
        "nul-in-string.json.gz": gz(log_text(rec_bytes(stop_logging(1)), with_nul)),
        "lone-surrogate.json.gz": gz(log_text(rec_bytes(stop_logging(1)), surrogate)),
        "number-out-of-range.json.gz": gz(log_text(rec_bytes(stop_logging(1)), out_of_range)),
        "deep-nesting.json.gz": gz9(log_text(
            rec_bytes(record(1)), deep_rec, rec_bytes(stop_logging(3)))),
        "duplicate-event-name.json.gz": gz(log_text(rec_bytes(record(1)), dup_name)),
        "duplicate-nested-key.json.gz": gz(log_text(rec_bytes(stop_logging(1)), dup_nested)),
        "duplicate-records-key.json.gz": gz(
            b'{"Records":[' + rec_bytes(record(1)) + b'],"Records":['
            + rec_bytes(stop_logging(2)) + b"]}"),
        "event-name-is-number.json.gz": gz(log(record(1, eventName=42))),
        "huge-string-20mib.json.gz": gz9(log(stop_logging(1), huge)),
        "gzip-bomb-whitespace.json.gz": gz9(bomb_head + b" " * (32 << 20) + bomb_tail),
    }


def main():
    made = files()
    for name, data in sorted(made.items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    # Anything else here that is not ours is stale.
    keep = set(made) | {"README.md", "make.py"}
    for name in os.listdir(HERE):
        if name not in keep:
            print(f"note: {name} is not made by this script")
    print(f"wrote {len(made)} files to {HERE}")


if __name__ == "__main__":
    main()
