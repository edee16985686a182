//! Differential test: trailwatch's verdicts against an independent Sigma
//! evaluator, pySigma with its SQLite backend (pinned in
//! scripts/requirements-test.txt).
//!
//! tests/differential/pysigma_verdicts.py converts every rule of the
//! built-in pack, of rules/sigmahq/ and the probe rules of
//! tests/data/differential/rules/ to SQL and runs it over `RECORDS`:
//! the corpus of real records, then hand-made variants that give the fields
//! the rule index reads other JSON types, cases and escapes. This test scans
//! the same records through trailwatch's real scan path with the same rules and
//! requires the same (rule, record) verdicts, except for the pySigma
//! limitations listed in `KNOWN_GAPS` (each asserted to still differ, so an
//! entry whose gap is gone fails the test until it is removed) and the rules
//! pySigma cannot convert (`UNCONVERTED`, asserted the same way).
//! Correlation rules (thresholds) are out of scope.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

/// A (rule, record) pair where pySigma's verdict differs from trailwatch's
/// because of pySigma or of what a SQL table can hold.
struct KnownGap {
    rule: &'static str,
    /// Indexes of the records (0-based, non-empty lines of `RECORDS` in order).
    records: &'static [usize],
    /// Which side matches: true when trailwatch alerts and pySigma does not.
    trailwatch_matches: bool,
    why: &'static str,
}

const KNOWN_GAPS: &[KnownGap] = &[];

/// Rules pySigma cannot convert, with the reason.
const UNCONVERTED: &[(&str, &str)] = &[
    (
        "70d66c8d-b85b-4767-a21e-192d982c2c79",
        "lambda_layer_from_other_account.yml: an rsigma `field[any]:` block (a selection over \
         each member of an array, with its own condition) is not in the Sigma specification",
    ),
    // The rules that read grants name trailwatch's derived fields
    // (src/rules/derived.rs), which no other evaluator computes; their
    // corpus verdicts are pinned in tests/corpus.rs instead.
    (
        "334bcf24-b445-48aa-80ba-7013425342fb",
        "s3_bucket_made_public.yml: trailwatch.public_grant",
    ),
    (
        "488722b5-a224-4c29-9cd2-675f01627931",
        "resource_policy_made_public.yml: trailwatch.public_grant",
    ),
    (
        "082c7a63-bae1-4339-a501-f6723add0e29",
        "lambda_permission_public.yml: trailwatch.public_via",
    ),
    (
        "e450fd38-5802-48ba-bd35-e7dbb2bb75c2",
        "snapshot_or_ami_made_public.yml: trailwatch.public_via",
    ),
    (
        "c5fd3fa6-2493-47bc-a7e4-aadfefea6bc6",
        "snapshot_or_ami_shared_with_account.yml: trailwatch.shared_with_accounts",
    ),
];

/// Rule directories besides the built-in pack (which trailwatch compiles in
/// from src/rules/builtin/): SigmaHQ's rules and probe rules for Sigma
/// constructs the packs do not use.
const RULE_DIRS: &[&str] = &["rules/sigmahq", "tests/data/differential/rules"];

/// The record files, in order; a record's index runs on across them.
const RECORDS: &[&str] = &[
    "tests/data/corpus-records.jsonl",
    "tests/data/differential/edge-records.jsonl",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv scripts/test builds, else whatever `python3` is on PATH (where
/// scripts/test puts the venv's).
fn python() -> PathBuf {
    let venv = root().join(".venv-test/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn pysigma_verdicts() -> Value {
    let python = python();
    let script = root().join("tests/differential/pysigma_verdicts.py");
    let mut command = Command::new(&python);
    command.arg(&script).arg(root().join("src/rules/builtin"));
    for dir in RULE_DIRS {
        command.arg(root().join(dir));
    }
    for file in RECORDS {
        command.arg("--records").arg(root().join(file));
    }
    let output = command.current_dir(root()).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} {}: {e}; run scripts/test, or create the venv: \
                 python3 -m venv .venv-test && .venv-test/bin/pip install -r \
                 scripts/requirements-test.txt",
            python.display(),
            script.display()
        )
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(3),
        "pySigma is missing, so the differential test cannot run: {stderr}"
    );
    assert!(
        output.status.success(),
        "{} {} failed ({}): {stderr}",
        python.display(),
        script.display(),
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}): {}",
            script.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The raw text of every record, its eventID replaced by `line-N` (alerts
/// name their record by eventID; the script does the same). The text is
/// kept as written, escapes and all, since the rule index reads it raw.
fn records() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for file in RECORDS {
        let text =
            std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for record in text.lines().filter(|l| !l.trim().is_empty()) {
            let index = out.len();
            let event: Value = serde_json::from_str(record)
                .unwrap_or_else(|e| panic!("{file}: record {index} is not JSON: {e}"));
            let id = format!("line-{index}");
            let record = match event.get("eventID") {
                Some(old) => {
                    let old = format!("\"eventID\":{old}");
                    assert_eq!(
                        record.matches(&old).count(),
                        1,
                        "{file}: record {index}: {old}"
                    );
                    record.replacen(&old, &format!("\"eventID\":\"{id}\""), 1)
                }
                None => record.replacen('{', &format!("{{\"eventID\":\"{id}\","), 1),
            };
            out.push((record, event));
        }
    }
    out
}

/// (rule id, record index) of every per-record alert, through the scan path.
fn trailwatch_verdicts(rules: &RuleSet, records: &[(String, Value)]) -> BTreeSet<(String, usize)> {
    let texts: Vec<&str> = records.iter().map(|(text, _)| text.as_str()).collect();
    let log = format!("{{\"Records\":[{}]}}", texts.join(","));
    let mut hits = BTreeSet::new();
    let mut unnamed = Vec::new();
    let report = scan(
        Cursor::new(log.into_bytes()),
        "corpus",
        rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            let alert = finding.alert();
            if alert.threshold.is_none() {
                let index = alert
                    .event_id
                    .as_deref()
                    .and_then(|id| id.strip_prefix("line-"))
                    .and_then(|n| n.parse::<usize>().ok());
                match index {
                    Some(index) => {
                        hits.insert((alert.rule_id, index));
                    }
                    None => unnamed.push(alert.rule_id),
                }
            }
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.records as usize, records.len());
    assert!(
        unnamed.is_empty(),
        "alerts without a line-N eventID: {unnamed:?}"
    );
    hits
}

fn short(record: &Value) -> String {
    format!(
        "{} {}",
        record["eventSource"].as_str().unwrap_or("-"),
        record["eventName"].as_str().unwrap_or("-")
    )
}

#[test]
fn trailwatch_agrees_with_pysigma() {
    let doc = pysigma_verdicts();
    let records = records();
    assert_eq!(doc["records"].as_u64(), Some(records.len() as u64));
    let converted = doc["rules"].as_object().expect("script output: rules");
    let unconverted = doc["unconverted"]
        .as_object()
        .expect("script output: unconverted");
    let excluded = doc["excluded"]
        .as_object()
        .expect("script output: excluded");
    // The thresholds pySigma leaves out are left out here too: the rules
    // they count (which alone do not alert) then alert, and are compared.
    let rules = RuleSet::load(&RuleConfig {
        dirs: RULE_DIRS.iter().map(|dir| root().join(dir)).collect(),
        disabled: excluded.keys().cloned().collect(),
        ..RuleConfig::default()
    })
    .unwrap_or_else(|e| panic!("the built-in pack and {RULE_DIRS:?} do not load: {e}"));

    // Every rule trailwatch loaded is compared or accounted for.
    let loaded: BTreeSet<&str> = rules.rules().iter().map(|r| r.meta.id.as_str()).collect();
    let unaccounted: Vec<_> = loaded
        .iter()
        .filter(|id| !converted.contains_key(**id) && !unconverted.contains_key(**id))
        .collect();
    assert!(
        unaccounted.is_empty(),
        "rules pySigma did not see: {unaccounted:?}"
    );
    let unknown: Vec<_> = converted
        .keys()
        .filter(|id| !loaded.contains(id.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "rules trailwatch did not load: {unknown:?}"
    );

    let expected_unconverted: BTreeSet<&str> = UNCONVERTED.iter().map(|(id, _)| *id).collect();
    let actual_unconverted: BTreeSet<&str> = unconverted.keys().map(String::as_str).collect();
    assert_eq!(
        actual_unconverted, expected_unconverted,
        "rules pySigma cannot convert (the script's reasons: {unconverted:#?}); UNCONVERTED must \
         list exactly these (it says: {UNCONVERTED:#?})"
    );

    let trailwatch = trailwatch_verdicts(&rules, &records);
    let mut pysigma = BTreeSet::new();
    for (id, rule) in converted {
        for index in rule["matches"].as_array().expect("matches") {
            let index = index.as_u64().expect("a record index") as usize;
            assert!(index < records.len(), "{id}: record {index}");
            pysigma.insert((id.clone(), index));
        }
    }

    let mut pairs = 0usize;
    let mut agreements = 0usize;
    let mut gaps_confirmed = 0usize;
    let mut failures = Vec::new();
    let mut gap_pairs: BTreeMap<(&str, usize), &KnownGap> = BTreeMap::new();
    for gap in KNOWN_GAPS {
        for &record in gap.records {
            gap_pairs.insert((gap.rule, record), gap);
        }
    }
    for (id, rule) in converted {
        for (index, (_, record)) in records.iter().enumerate() {
            pairs += 1;
            let key = (id.clone(), index);
            let ours = trailwatch.contains(&key);
            let theirs = pysigma.contains(&key);
            let gap = gap_pairs.get(&(id.as_str(), index));
            match (gap, ours == theirs) {
                (None, true) => agreements += 1,
                (None, false) => failures.push(format!(
                    "{id} ({}) on record {index} ({}): trailwatch {}, pySigma {}\n    pySigma's query: {}",
                    rule["origin"].as_str().unwrap_or("?"),
                    short(record),
                    if ours { "alerts" } else { "does not alert" },
                    if theirs { "matches" } else { "does not match" },
                    rule["query"].as_str().unwrap_or("?"),
                )),
                (Some(gap), false) if ours == gap.trailwatch_matches => gaps_confirmed += 1,
                (Some(gap), _) => failures.push(format!(
                    "{id} on record {index} ({}): KNOWN_GAPS says trailwatch {} and pySigma \
                     not, but now trailwatch {} and pySigma {}: remove or fix the entry (the \
                     gap was: {})",
                    short(record),
                    if gap.trailwatch_matches { "matches" } else { "does not match" },
                    if ours { "matches" } else { "does not" },
                    if theirs { "matches" } else { "does not" },
                    gap.why
                )),
            }
        }
    }
    // No gap may name a rule that is not compared.
    for gap in KNOWN_GAPS {
        assert!(
            converted.contains_key(gap.rule),
            "KNOWN_GAPS names {}, which pySigma did not convert",
            gap.rule
        );
    }
    println!(
        "pySigma converted {} rules ({} not convertible, {} correlation rules excluded); {} \
         records; {} verdict pairs: {} agree, {} documented gaps; {} matches by trailwatch, {} by \
         pySigma",
        converted.len(),
        unconverted.len(),
        excluded.len(),
        records.len(),
        pairs,
        agreements,
        gaps_confirmed,
        trailwatch.len(),
        pysigma.len()
    );
    assert!(
        failures.is_empty(),
        "{} disagreement(s) between trailwatch and pySigma:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(gaps_confirmed, gap_pairs.len());
    // Not a comparison of two empty sets.
    assert!(
        pysigma.len() > 100,
        "pySigma matched only {} pairs",
        pysigma.len()
    );
}
