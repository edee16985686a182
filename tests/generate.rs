//! The log generator: its logs are valid CloudTrail logs of realistic size,
//! the same seed gives the same bytes, and the records planted to match the
//! built-in rules are exactly the ones that raise findings when the real
//! scan path reads the log. Also `trailwatch generate` feeding `trailwatch
//! scan`, as a load test uses them.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::process::{Command, Output};

use serde_json::Value;
use trailwatch::generate::{write_gzip_log, write_log, write_log_by, Callers, Spec, Stats};
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{RuleConfig, RuleSet};

fn generate(spec: &Spec) -> (Vec<u8>, Stats) {
    let mut log = Vec::new();
    let stats = write_log(spec, &mut log).expect("generating into memory");
    (log, stats)
}

fn spec(records: u64, seed: u64) -> Spec {
    Spec {
        records,
        seed,
        ..Spec::default()
    }
}

fn records(log: &[u8]) -> Vec<Value> {
    let mut parsed: Value = serde_json::from_slice(log).expect("the log is JSON");
    let object = parsed.as_object_mut().expect("the log is an object");
    assert_eq!(object.len(), 1, "only Records");
    match object.remove("Records") {
        Some(Value::Array(records)) => records,
        other => panic!("Records is not an array: {other:?}"),
    }
}

/// What scanning a log with the built-in rules found.
struct Scanned {
    findings: u64,
    rules: BTreeSet<String>,
    /// eventIDs of the records that raised at least one finding.
    records: BTreeSet<String>,
    /// Who the findings are about (sessions folded into their role).
    actors: BTreeSet<String>,
}

fn scan_builtin(log: Vec<u8>, expected_records: u64) -> Scanned {
    let rules = RuleSet::load(&RuleConfig::default()).expect("the built-in pack loads");
    let mut scanned = Scanned {
        findings: 0,
        rules: BTreeSet::new(),
        records: BTreeSet::new(),
        actors: BTreeSet::new(),
    };
    let report = scan(
        Cursor::new(log),
        "generated.json",
        &rules,
        &mut rules.correlations().correlator(),
        Limits::default(),
        |finding| {
            scanned.findings += 1;
            scanned.rules.insert(finding.rule.id.clone());
            let id = finding
                .record
                .event_id()
                .expect("every record has an eventID");
            scanned.records.insert(id.into_owned());
            if let Some((actor, _)) = finding.record.actor() {
                scanned.actors.insert(actor.into_owned());
            }
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.records, expected_records);
    assert_eq!(report.evaluated, expected_records);
    assert_eq!(report.invalid, 0);
    assert_eq!(report.alerts, scanned.findings);
    scanned
}

/// The planted records are exactly the records that raise findings: each
/// planted record matches at least one built-in rule and no other record
/// matches any. A record may raise more than one finding (an
/// AdministratorAccess attachment is also a policy attachment; a denial can
/// complete a burst of denials), so findings >= planted records.
#[test]
fn planted_records_and_only_they_raise_findings() {
    let (log, stats) = generate(&spec(20_000, 1));
    let scanned = scan_builtin(log, stats.records);
    assert_eq!(stats.records, 20_000);
    assert_eq!(scanned.records.len() as u64, stats.matching);
    assert!(scanned.findings >= stats.matching);
    let share = scanned.findings as f64 / stats.records as f64;
    assert!(
        (0.01..=0.05).contains(&share),
        "findings: {share:.4} of records"
    );
    assert!(scanned.rules.len() >= 5, "rules hit: {:?}", scanned.rules);
}

#[test]
fn without_planted_records_nothing_matches() {
    let spec = Spec {
        match_per_mille: 0,
        ..spec(5_000, 4)
    };
    let (log, stats) = generate(&spec);
    assert_eq!(stats.matching, 0);
    let scanned = scan_builtin(log, 5_000);
    assert_eq!(scanned.findings, 0, "rules hit: {:?}", scanned.rules);
}

/// A findings-heavy log: most records planted, by a crowd of principals.
/// Still exactly the planted records raise findings, now about many
/// actors (users and roles of the crowd), so a scan keeps many groups.
#[test]
fn a_crowd_plants_most_records_by_many_principals() {
    let spec = Spec {
        match_per_mille: 800,
        ..spec(20_000, 2)
    };
    let mut log = Vec::new();
    let stats = write_log_by(&spec, Callers::Crowd(5_000), &mut log).expect("generating");
    let share = stats.matching as f64 / stats.records as f64;
    assert!((0.78..=0.82).contains(&share), "planted: {share:.4}");
    let text = String::from_utf8(log.clone()).expect("UTF-8");
    assert!(text.contains(":user/load-user-00"), "crowd users");
    assert!(text.contains(":assumed-role/load-role-00"), "crowd roles");
    let scanned = scan_builtin(log, stats.records);
    assert_eq!(scanned.records.len() as u64, stats.matching);
    assert!(scanned.findings >= stats.matching);
    assert!(scanned.rules.len() >= 10, "rules hit: {:?}", scanned.rules);
    let crowd = scanned
        .actors
        .iter()
        .filter(|a| a.contains("/load-user-") || a.contains("/load-role-"))
        .count();
    assert!(crowd >= 4_000, "{crowd} actors of the crowd");
}

/// The crowd changes the planted records only: a log without any is the
/// same with or without it, and without a crowd `write_log_by` is
/// `write_log` (the default log, which the bench caches by its bytes).
#[test]
fn a_crowd_changes_only_the_planted_records() {
    let quiet = Spec {
        match_per_mille: 0,
        ..spec(2_000, 6)
    };
    let (plain, _) = generate(&quiet);
    let mut crowded = Vec::new();
    write_log_by(&quiet, Callers::Crowd(100), &mut crowded).expect("generating");
    assert!(plain == crowded, "a crowd changed unplanted records");
    let (default, _) = generate(&spec(2_000, 6));
    let mut by_account = Vec::new();
    write_log_by(&spec(2_000, 6), Callers::Account, &mut by_account).expect("generating");
    assert!(default == by_account);
    let mut with_crowd = Vec::new();
    write_log_by(&spec(2_000, 6), Callers::Crowd(100), &mut with_crowd).expect("generating");
    assert!(default != with_crowd, "the crowd planted nothing");
}

#[test]
fn the_same_spec_gives_the_same_bytes_and_another_seed_other_bytes() {
    let (first, first_stats) = generate(&spec(3_000, 42));
    let (again, again_stats) = generate(&spec(3_000, 42));
    assert!(first == again, "same seed, different logs");
    assert_eq!(first_stats, again_stats);
    let (other, _) = generate(&spec(3_000, 43));
    assert!(first != other, "different seeds, same log");
    // A shorter log is the start of a longer one with the same seed.
    let (short, _) = generate(&spec(1_000, 42));
    let cut = short.len() - 2; // without "]}"
    assert_eq!(first[..cut], short[..cut]);

    let mut gz_first = Vec::new();
    let mut gz_again = Vec::new();
    write_gzip_log(&spec(1_000, 42), &mut gz_first).expect("gzip");
    write_gzip_log(&spec(1_000, 42), &mut gz_again).expect("gzip");
    assert!(gz_first == gz_again, "same seed, different gzip bytes");
}

#[test]
fn records_average_between_1_3_and_1_8_kb() {
    let (log, stats) = generate(&spec(20_000, 7));
    assert_eq!(stats.bytes, log.len() as u64);
    let average = stats.bytes / stats.records;
    assert!(
        (1300..=1800).contains(&average),
        "{average} bytes per record"
    );
}

#[test]
fn the_log_is_a_cloudtrail_log_with_realistic_records() {
    let (log, stats) = generate(&spec(5_000, 3));
    let records = records(&log);
    assert_eq!(records.len() as u64, stats.records);
    let mut times = Vec::new();
    let mut names = BTreeSet::new();
    for record in &records {
        let version = record["eventVersion"].as_str().expect("eventVersion");
        assert!(["1.08", "1.09"].contains(&version), "{version}");
        for field in [
            "eventID",
            "eventSource",
            "eventName",
            "awsRegion",
            "recipientAccountId",
        ] {
            assert!(record[field].is_string(), "{field} missing in {record}");
        }
        assert!(record["userIdentity"]["type"].is_string(), "{record}");
        times.push(record["eventTime"].as_str().expect("eventTime").to_string());
        names.insert(record["eventName"].as_str().unwrap_or_default().to_string());
    }
    // ISO 8601 strings of one format sort as the times they name.
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "eventTime goes back"
    );
    assert!(times[0].starts_with("2025-03-03T08:00:") && times[0].ends_with('Z'));
    let suffixed: Vec<_> = names
        .iter()
        .filter(|n| n.ends_with("20150331") || n.ends_with("20150331v2"))
        .collect();
    assert!(suffixed.len() >= 3, "{suffixed:?}");
    let kinds: BTreeSet<_> = records
        .iter()
        .filter_map(|r| r["userIdentity"]["type"].as_str())
        .collect();
    for kind in ["IAMUser", "AssumedRole", "AWSService", "FederatedUser"] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    let data = records
        .iter()
        .filter(|r| r["eventCategory"] == "Data")
        .count();
    assert!(data * 3 > records.len(), "data events: {data}");
}

#[test]
fn text_includes_non_ascii_and_escaped_characters() {
    let (log, _) = generate(&spec(5_000, 5));
    let text = String::from_utf8(log).expect("the log is UTF-8");
    // Written as UTF-8, not as \u escapes.
    for fragment in ["é", "山田太郎", "議事録", "🎉", "📷", "Jürgen"] {
        assert!(text.contains(fragment), "no {fragment}");
    }
    // Quotes, backslashes and control characters, escaped.
    for escaped in [r#"\"Q1\""#, r"C:\\Users", r"\t", r"\u0007"] {
        assert!(text.contains(escaped), "no {escaped}");
    }
    let records = records(text.as_bytes());
    assert!(records.iter().any(|r| r["requestParameters"]["key"]
        .as_str()
        .is_some_and(|k| k.contains('\t'))));
}

fn trailwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run trailwatch")
}

#[test]
fn generate_then_scan_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("load.json.gz");
    let file = path.to_str().expect("UTF-8 path");
    let generated = trailwatch(&["generate", file, "--records", "4000", "--seed", "11"]);
    let stderr = String::from_utf8_lossy(&generated.stderr);
    assert!(generated.status.success(), "{stderr}");
    let summary = format!("{file}: 4000 records, ");
    assert!(stderr.starts_with(&summary), "{stderr}");
    assert!(stderr.contains(" MB uncompressed, ") && stderr.contains(" MB written, "));
    assert!(
        stderr
            .trim_end()
            .ends_with("% planted to match built-in rules"),
        "{stderr}"
    );
    let gz = std::fs::read(&path).expect("the log was written");
    assert_eq!(gz[..2], [0x1f, 0x8b], "gzip");
    let mut expected = Vec::new();
    write_gzip_log(&spec(4000, 11), &mut expected).expect("gzip");
    assert!(gz == expected, "the CLI writes what the library writes");

    // Alerts found: scan still exits 0 (its status is about reading files).
    let scanned = trailwatch(&["scan", "--format", "json", file]);
    let scan_err = String::from_utf8_lossy(&scanned.stderr);
    assert!(scanned.status.success(), "{scan_err}");
    let alerts: Vec<Value> = String::from_utf8_lossy(&scanned.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON alert per line"))
        .collect();
    assert!(alerts.len() >= 5, "{} alerts", alerts.len());
    assert!(scan_err.contains("4000 record(s)"), "{scan_err}");
    assert!(scan_err.contains(" 0 error(s)"), "{scan_err}");
}

#[test]
fn generate_to_stdout_writes_plain_json() {
    let output = trailwatch(&["generate", "-", "--records", "50"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(records(&output.stdout).len(), 50);
    let (expected, _) = generate(&spec(50, 1));
    assert!(output.stdout == expected, "stdout is the library's log");
}

/// `trailwatch generate --planted-per-mille P --principals C` writes what
/// the library writes for that spec and crowd; out-of-range values are
/// usage errors.
#[test]
fn the_command_line_writes_a_findings_heavy_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("heavy.json");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
            .args([
                "generate",
                out.to_str().expect("UTF-8"),
                "--records",
                "2000",
                "--seed",
                "7",
            ])
            .args(extra)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .expect("run trailwatch")
    };
    let done = run(&["--planted-per-mille", "700", "--principals", "300"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let spec = Spec {
        records: 2000,
        seed: 7,
        match_per_mille: 700,
    };
    let mut expected = Vec::new();
    write_log_by(&spec, Callers::Crowd(300), &mut expected).expect("generated");
    assert_eq!(std::fs::read(&out).expect("written"), expected);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("2000 records"), "{stderr}");
    for bad in [
        ["--planted-per-mille", "1001"],
        ["--principals", "0"],
        ["--principals", "1000001"],
    ] {
        let refused = run(&bad);
        assert_eq!(refused.status.code(), Some(2), "{bad:?}");
    }
}
