#!/usr/bin/env python3
"""Verdicts of an independent Sigma evaluator: pySigma's SQLite backend.

Converts every detection rule of the built-in pack (src/rules/builtin/) and
of rules/sigmahq/ to SQLite queries with pySigma, loads CloudTrail records
(tests/data/corpus-records.jsonl, then the hand-made variants of
tests/data/differential/edge-records.jsonl) into SQLite and prints, as JSON
on stdout, the indexes (0-based over the non-empty lines of the files in
order) of the records each rule matches. tests/differential_pysigma.rs
compares them with trailwatch's.

    python3 tests/differential/pysigma_verdicts.py [--records FILE]... [RULE_DIR...]

The table is what the backend's queries expect (Zircolite's layout): one
TEXT COLLATE NOCASE column per field a rule names, the dotted path as the
column name. A record becomes one or more rows: a path that crosses arrays
(at any depth) reaches every member, and each value it reaches is a row of
its own, so a record matches when any of its rows does. trailwatch's own
design is mirrored, as the README ("Writing rules") documents it:

* eventName is normalised first (a trailing 20YYMMDD and optional vN
  stripped: GetFunction20150331 -> GetFunction);
* %allowed_invokers% is s3.amazonaws.com (pySigma's placeholder
  transformation);
* values compare case-insensitively (NOCASE columns; LIKE);
* a field holding a JSON object also reads as its compact JSON text and as
  each string nested in it (src/rules/event.rs);
* eventID is replaced by "line-N", as the Rust test does to tell records
  apart in trailwatch's alerts.

Sigma filters (documents with a `filter:` section, such as
rules/sigmahq/trailwatch-filters/) are read from every directory first and
applied to the rules they name wherever those are, as trailwatch applies
them: pySigma applies a filter only to rules of the collection it is built
with, and this script builds one collection per file. They are listed under
"filters".

Correlation rules (thresholds) are out of scope: listed under "excluded".
Rules naming trailwatch's derived fields (trailwatch.public_grant and the
like, computed by trailwatch from the record) are listed under
"unconverted".
Exit status 3 (with a message) when pySigma is not importable.
"""

import argparse
import itertools
import json
import re
import sqlite3
import sys
from pathlib import Path

try:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.filters import SigmaFilter
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import ValueListPlaceholderTransformation
    from sigma.rule import SigmaRule
    import yaml
except ImportError as error:
    print(
        f"pySigma is not importable by {sys.executable} ({error}): run scripts/test, or "
        "`python3 -m venv .venv-test && .venv-test/bin/pip install -r "
        "scripts/requirements-test.txt`",
        file=sys.stderr,
    )
    sys.exit(3)

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_INVOKERS = ["s3.amazonaws.com"]
# A record whose rows for one rule would pass this is refused, not truncated.
MAX_ROWS_PER_RECORD = 200_000
# Fields trailwatch computes from a record (src/rules/derived.rs), not in it.
DERIVED_PREFIX = "trailwatch."


def normalize_event_name(name):
    """src/record.rs normalize_event_name: strip a trailing 20YYMMDD[vN]."""
    end = len(name)
    m = re.search(r"v([0-9]+)$", name)
    if m and m.start() > 0:
        end = m.start()
    digits = len(name[:end]) - len(name[:end].rstrip("0123456789"))
    if digits != 8 or end == 8 or not name[end - 8 : end].startswith("20"):
        return name
    return name[: end - 8]


def scalar_text(value):
    """A JSON scalar as the text rsigma compares it as (None: SQL NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # Rust prints 1.0 as "1"
    return str(value)


def nested_strings(value, out):
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            nested_strings(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            nested_strings(item, out)


def reached(value, keys, through_array, out):
    """Every value at `keys` below `value`, crossing arrays at any depth.

    Appends (value, through_array) pairs."""
    if not keys:
        out.append((value, through_array))
        return
    if isinstance(value, dict):
        if keys[0] in value:
            reached(value[keys[0]], keys[1:], through_array, out)
    elif isinstance(value, list):
        for item in value:
            reached(item, keys, True, out)


def column_values(record, path):
    """The cell values of one field of a record (empty: the field is absent)."""
    if path in record:  # a key with dots in it, read whole first
        found = [(record[path], False)]
    else:
        found = []
        reached(record, path.split("."), False, found)
    cells = []
    for value, through_array in found:
        if isinstance(value, dict):
            # An object reached without crossing an array reads as its JSON
            # text and its strings (src/rules/event.rs); a member object of
            # an array is compared as nothing.
            if not through_array:
                cells.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
                nested_strings(value, cells)
        elif isinstance(value, list):
            flat = []
            flatten_list(value, flat)
            cells.extend(flat)
        else:
            cells.append(scalar_text(value))
    return cells


def flatten_list(items, out):
    for item in items:
        if isinstance(item, list):
            flatten_list(item, out)
        elif isinstance(item, dict):
            continue  # an object inside an array: no string to compare
        else:
            out.append(scalar_text(item))


def load_records(paths):
    """The records of every file, in order; a record's index runs on across files."""
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")  # as Rust's str::lines, not splitlines()
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            record["eventID"] = f"line-{len(records)}"
            if isinstance(record.get("eventName"), str):
                record["eventName"] = normalize_event_name(record["eventName"])
            records.append(record)
    return records


def quote(name):
    return "`" + name.replace("`", "``") + "`"


def regexp(pattern, value):
    return value is not None and re.search(pattern, str(value)) is not None


def rule_files(dirs):
    for d in dirs:
        for path in sorted(Path(d).rglob("*")):
            if path.suffix in (".yml", ".yaml") and path.is_file():
                yield path


def is_filter(doc):
    return isinstance(doc, dict) and "filter" in doc


def load_filters(dirs, out):
    """Every Sigma filter of the directories; a filter pySigma refuses is
    reported under "unconverted" (and would fail the Rust test)."""
    filters = []
    for path in rule_files(dirs):
        origin = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        for doc in filter(is_filter, docs):
            sigma_filter = SigmaFilter.from_dict(doc, collect_errors=True)
            name = str(sigma_filter.id or origin)
            if sigma_filter.errors:
                out["unconverted"][name] = f"{origin}: filter: " + "; ".join(
                    f"{type(e).__name__}: {e}" for e in sigma_filter.errors
                )
                continue
            filters.append(sigma_filter)
            out["filters"][name] = {
                "origin": origin,
                "rules": [r.reference for r in sigma_filter.filter.rules]
                if isinstance(sigma_filter.filter.rules, list)
                else sigma_filter.filter.rules,
            }
    return filters


def rule_fields(detection):
    """The field names a rule's detection items name."""
    names = set()
    for item in detection.detections.values():
        stack = [item]
        while stack:
            node = stack.pop()
            if getattr(node, "field", None):
                names.add(node.field)
            stack.extend(getattr(node, "detection_items", []) or [])
    return names


def verdicts(query, fields, records):
    """Indexes of the records the query matches."""
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, regexp, deterministic=True)
    lowered = {}
    for field in fields:
        clash = lowered.setdefault(field.lower(), field)
        if clash != field:
            raise ValueError(f"fields {clash!r} and {field!r} are one SQLite column")
    columns = ", ".join(f"{quote(f)} TEXT COLLATE NOCASE" for f in fields)
    db.execute(f"CREATE TABLE logs (record_index INTEGER NOT NULL{', ' if fields else ''}{columns})")
    insert = f"INSERT INTO logs VALUES ({', '.join('?' * (len(fields) + 1))})"
    for index, record in enumerate(records):
        per_field = [column_values(record, f) or [None] for f in fields]
        rows = 1
        for cells in per_field:
            rows *= len(cells)
        if rows > MAX_ROWS_PER_RECORD:
            raise ValueError(f"record {index} would be {rows} rows for fields {fields}")
        db.executemany(insert, ([index, *row] for row in itertools.product(*per_field)))
    # The backend's query is `SELECT * FROM logs WHERE ...`.
    where = query.split(" WHERE ", 1)
    if len(where) != 2 or not query.startswith("SELECT * FROM logs"):
        raise ValueError(f"unexpected query shape: {query}")
    sql = f"SELECT DISTINCT record_index FROM logs WHERE {where[1]} ORDER BY record_index"
    matched = [row[0] for row in db.execute(sql)]
    db.close()
    return matched


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records",
        action="append",
        help="a JSON Lines file of records (repeatable; default: the corpus, then "
        "tests/data/differential/edge-records.jsonl)",
    )
    parser.add_argument(
        "dirs", nargs="*", default=[str(ROOT / "src/rules/builtin"), str(ROOT / "rules/sigmahq")]
    )
    args = parser.parse_args()

    records = load_records(
        args.records
        or [
            ROOT / "tests/data/corpus-records.jsonl",
            ROOT / "tests/data/differential/edge-records.jsonl",
        ]
    )
    pipeline = ProcessingPipeline(
        name="trailwatch placeholders",
        items=[ProcessingItem(ValueListPlaceholderTransformation(), identifier="placeholders")],
        vars={"allowed_invokers": ALLOWED_INVOKERS},
    )
    backend = sqliteBackend(pipeline)
    out = {"records": len(records), "rules": {}, "unconverted": {}, "excluded": {}, "filters": {}}
    filters = load_filters(args.dirs, out)
    for path in rule_files(args.dirs):
        origin = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
            # A correlation names rules of other files, which pySigma would
            # have to resolve: set aside before the collection is built.
            for doc in docs:
                if isinstance(doc, dict) and "correlation" in doc:
                    name = str(doc.get("id") or origin)
                    out["excluded"][name] = f"{origin}: correlation rule (threshold), out of scope"
            docs = [
                d
                for d in docs
                if not (isinstance(d, dict) and "correlation" in d) and not is_filter(d)
            ]
            collection = SigmaCollection.from_dicts(docs, collect_errors=True)
            # The filters of every directory, on the rules of this file they name.
            collection.apply_filters(filters)
        except Exception as error:  # a file pySigma cannot read at all
            out["unconverted"][origin] = f"{type(error).__name__}: {error}"
            continue
        for rule in collection.rules:
            rule_id = str(rule.id) if rule.id else origin
            if not isinstance(rule, SigmaRule):
                out["unconverted"][rule_id] = f"{origin}: {type(rule).__name__} is not a detection rule"
                continue
            if rule.errors:
                out["unconverted"][rule_id] = f"{origin}: " + "; ".join(
                    f"{type(e).__name__}: {e}" for e in rule.errors
                )
                continue
            derived = sorted(
                f for f in rule_fields(rule.detection) if f.lower().startswith(DERIVED_PREFIX)
            )
            if derived:
                out["unconverted"][rule_id] = (
                    f"{origin}: names trailwatch's derived fields ({', '.join(derived)}), "
                    "which only trailwatch computes (README, Writing rules)"
                )
                continue
            try:
                queries = backend.convert_rule(rule)
                fields = backend.required_fields(rule)
            except Exception as error:
                out["unconverted"][rule_id] = f"{origin}: {type(error).__name__}: {error}"
                continue
            if len(queries) != 1:
                out["unconverted"][rule_id] = f"{origin}: {len(queries)} queries"
                continue
            out["rules"][rule_id] = {
                "origin": origin,
                "query": queries[0],
                "matches": verdicts(queries[0], fields, records),
            }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
