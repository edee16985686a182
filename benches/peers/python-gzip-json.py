#!/usr/bin/env python3
"""Peer for scripts/bench-throughput: Python's gzip + json, the whole log at once.

    python3 benches/peers/python-gzip-json.py LOG.json.gz

`gzip.open` + `json.load` (which reads the whole text, then parses it), then
the filter of trailwatch's first rule: a Lambda Invoke not made by S3.
Prints `matches=<n> records=<n>`; when the approach cannot handle the log
(out of memory, ...) prints `failed: <reason>` and exits with status 3.
Standard library only.
"""
import gzip
import json
import sys

EVENT_SOURCE = "lambda.amazonaws.com"
EVENT_NAME = "Invoke"
ALLOWED_INVOKER = "s3.amazonaws.com"


def main(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = json.load(f)["Records"]
    matches = sum(
        1
        for record in records
        if record.get("eventSource") == EVENT_SOURCE
        and record.get("eventName") == EVENT_NAME
        and (record.get("userIdentity") or {}).get("invokedBy") != ALLOWED_INVOKER
    )
    return matches, len(records)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        matches, count = main(sys.argv[1])
    except (MemoryError, OSError, EOFError, ValueError, KeyError, TypeError) as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        print(f"failed: {reason}")
        sys.exit(3)
    print(f"matches={matches} records={count}")
