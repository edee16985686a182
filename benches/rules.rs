//! Rule engine throughput: how much extra rules cost.
//!
//! Requirement: throughput with the built-in pack plus the 57 SigmaHQ rules
//! (`rules/sigmahq/`) is within 15% of throughput with the built-in pack
//! alone, and 500 synthetic indexed rules cost under 15% more than 10.
//!
//! ```sh
//! cargo bench --bench rules
//! TRAILWATCH_BENCH_MB=100 TRAILWATCH_BENCH_RUNS=5 cargo bench --bench rules
//! TRAILWATCH_BENCH_SETS=a,b cargo bench --bench rules   # only those sets
//! ```
//!
//! The input is a CloudTrail log built in memory the way
//! `scripts/make-big-log` builds one: the real records of
//! `tests/data/corpus-records.jsonl`, cycled with a fresh eventID per copy,
//! as one `{"Records":[...]}` object of about TRAILWATCH_BENCH_MB megabytes.
//! It is scanned uncompressed (`pipeline::open_log` detects plain JSON), so the
//! figures are record splitting + parsing + rules, without the gunzip that a
//! real object adds and that would dilute the differences being measured.
//!
//! Rule sets:
//! - (a) the built-in pack;
//! - (b) (a) + the SigmaHQ rules in `rules/sigmahq/`;
//! - (b1) (b) without the SigmaHQ rules the index cannot file (they run on
//!   every record), and (b2) (b) without "AWS STS AssumeRole Misuse" (which
//!   alerts on every role-session call): information, to show where the
//!   extra cost of (b) comes from;
//! - (c) (a) + 10 synthetic rules on the 10 most frequent eventNames of the log;
//! - (d) (c) + 490 synthetic rules on real-looking API names absent from the log;
//! - (e) (a) + 500 synthetic rules on eventNames present in the log (every
//!   present name in turn, most frequent first): the worst case, reported
//!   for information only.
//!
//! A synthetic rule requires an eventSource, an eventName and a
//! `userIdentity.arn` that ends in a user name no record has: it is filed
//! under its eventName by the rule index and never matches, so (a), (c), (d)
//! and (e) raise the same alerts.
//!
//! Each set is scanned once to warm up, then TRAILWATCH_BENCH_RUNS times
//! (default 5); the sets take turns within each round so that a noisy
//! neighbour slows all of them alike. The median is reported.
//!
//! `cargo test --all-targets` builds and runs this file without `--bench`;
//! it then returns at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::record::{normalize_event_name, HeadReader, IdentityRead};
use trailwatch::rules::{KeyValues, RuleConfig, RuleSet, EVENT_NAME};

/// Largest acceptable extra cost, for (b) vs (a) and (d) vs (c).
const TARGET: f64 = 0.15;

/// SigmaHQ's "AWS STS AssumeRole Misuse": `userIdentity.type: AssumedRole`
/// and a Role issuer, no eventName: filed under `userIdentity.type`, it is a
/// candidate for, and matches, every call made with a role session.
const NOISY_SIGMAHQ_RULE: &str = "905d389b-b853-46d0-9d3d-dea0d3a3cd49";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("run with cargo bench --bench rules");
        return;
    }
    let megabytes: usize = env_number("TRAILWATCH_BENCH_MB", 100);
    let runs: usize = env_number("TRAILWATCH_BENCH_RUNS", 5).max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let corpus = read_corpus(&root.join("tests/data/corpus-records.jsonl"));
    let log = build_log(&corpus, megabytes * 1_000_000);
    let names = NamesInCorpus::of(&corpus);
    println!(
        "input: {} records ({} distinct real records cycled), {:.1} MB uncompressed JSON, \
         scanned uncompressed (no gunzip: this measures splitting, parsing and rules)",
        log.records,
        corpus.len(),
        log.bytes.len() as f64 / 1e6,
    );
    println!("runs: 1 warm-up + {runs} timed per set, sets interleaved; median reported\n");

    let frequent = names.most_frequent(10);
    let absent = absent_names(&names.lower, 490);
    let mut worst = Vec::new();
    while worst.len() < 500 {
        worst.extend(names.by_frequency.iter().take(500 - worst.len()).cloned());
    }
    let sigmahq = RuleConfig {
        dirs: vec![root.join("rules/sigmahq")],
        ..RuleConfig::default()
    };
    let b = RuleSetUnderTest::load("b", "built-in + SigmaHQ", sigmahq.clone(), 0);
    // For the diagnosis: (b) without the SigmaHQ rules that run on every
    // record, and (b) without its one rule that alerts on a fifth of records.
    let unindexed_sigmahq: Vec<String> = b
        .rules
        .rules()
        .iter()
        .filter(|rule| !rule.meta.origin.starts_with("builtin/") && !rule.index_key.is_indexed())
        .map(|rule| rule.meta.id.clone())
        .collect();
    assert!(
        b.rules
            .rules()
            .iter()
            .any(|rule| rule.meta.id == NOISY_SIGMAHQ_RULE),
        "rule {NOISY_SIGMAHQ_RULE} (AWS STS AssumeRole Misuse) is no longer in rules/sigmahq"
    );
    let b1 = RuleSetUnderTest::load(
        "b1",
        &format!(
            "(b) minus {} unindexed SigmaHQ (info)",
            unindexed_sigmahq.len()
        ),
        RuleConfig {
            disabled: unindexed_sigmahq,
            ..sigmahq.clone()
        },
        0,
    );
    let b2 = RuleSetUnderTest::load(
        "b2",
        "(b) minus STS AssumeRole Misuse (info)",
        RuleConfig {
            disabled: vec![NOISY_SIGMAHQ_RULE.to_string()],
            ..sigmahq
        },
        0,
    );
    let mut sets = vec![
        RuleSetUnderTest::load("a", "built-in", RuleConfig::default(), 0),
        b,
        b1,
        b2,
        synthetic_set("c", "built-in + 10 synthetic", &frequent),
        synthetic_set(
            "d",
            "built-in + 500 synthetic",
            &[frequent.clone(), absent].concat(),
        ),
        synthetic_set("e", "built-in + 500 synth, all present (info)", &worst),
    ];
    // TRAILWATCH_BENCH_SETS=a,b runs only those sets (for profiling one).
    if let Ok(only) = std::env::var("TRAILWATCH_BENCH_SETS") {
        let only: HashSet<&str> = only.split(',').map(str::trim).collect();
        sets.retain(|set| only.contains(set.key));
        assert!(!sets.is_empty(), "TRAILWATCH_BENCH_SETS selects no set");
    }
    let at = |key: &str| sets.iter().position(|set| set.key == key);

    println!("rule sets (indexed = filed under a key field; unindexed = run on every record):");
    println!(
        "{:<3} {:<44} {:>6} {:>8} {:>10} {:>8} {:>13} {:>9}",
        "set", "rules", "total", "indexed", "unindexed", "load ms", "fully parsed", "cand/rec"
    );
    for set in &sets {
        let (parsed, candidates) = set.candidate_stats(&corpus);
        println!(
            "{:<3} {:<44} {:>6} {:>8} {:>10} {:>8.1} {:>12.1}% {:>9.2}",
            set.key,
            set.label,
            set.rules.len(),
            set.indexed,
            set.rules.len() - set.indexed,
            set.load_time.as_secs_f64() * 1e3,
            parsed * 100.0,
            candidates,
        );
    }
    println!("(fully parsed: records with at least one candidate rule; cand/rec: mean candidate rules per record)\n");

    // Warm-up, which also gives the alert counts (the same on every run).
    let mut results: Vec<SetResult> = sets
        .iter()
        .map(|set| {
            let run = set.scan(&log);
            SetResult {
                alerts: run.alerts,
                synthetic_matches: run.synthetic_matches,
                matches: run.matches,
                times: Vec::with_capacity(runs),
            }
        })
        .collect();
    for round in 0..runs {
        for (set, result) in sets.iter().zip(&mut results) {
            let run = set.scan(&log);
            assert_eq!(
                run.alerts, result.alerts,
                "alert count changed between runs"
            );
            result.times.push(run.elapsed);
        }
        eprintln!("round {}/{runs} done", round + 1);
    }

    println!(
        "\n{:<3} {:<44} {:>8} {:>9} {:>8} {:>11} {:>17}",
        "set", "rules", "alerts", "median s", "MB/s", "records/s", "min-max s"
    );
    let mb = log.bytes.len() as f64 / 1e6;
    for (set, result) in sets.iter().zip(&results) {
        let median = result.median();
        let (min, max) = result.range();
        println!(
            "{:<3} {:<44} {:>8} {:>9.3} {:>8.1} {:>11.0} {:>8.3}-{:<8.3}",
            set.key,
            set.label,
            result.alerts,
            median,
            mb / median,
            log.records as f64 / median,
            min,
            max,
        );
    }
    let synthetic_matches: u64 = results.iter().map(|r| r.synthetic_matches).sum();
    println!("synthetic rule matches: {synthetic_matches} (must be 0)");
    assert_eq!(synthetic_matches, 0, "a synthetic rule matched");
    let alerts_of = |key| at(key).map(|i| results[i].alerts);
    for key in ["c", "d", "e"] {
        if let (Some(base), Some(alerts)) = (alerts_of("a"), alerts_of(key)) {
            assert_eq!(
                base, alerts,
                "set {key}: the synthetic rules changed the alerts"
            );
        }
    }

    if let Some(b) = at("b") {
        let mut top: Vec<(&String, &u64)> = results[b].matches.iter().collect();
        top.sort_by(|x, y| y.1.cmp(x.1).then_with(|| x.0.cmp(y.0)));
        println!(
            "\nrules of (b) with the most matches (per {} records):",
            log.records
        );
        for (id, count) in top.into_iter().take(6) {
            let rule = sets[b]
                .rules
                .rules()
                .iter()
                .find(|rule| &rule.meta.id == id);
            let (title, indexed) = rule.map_or(("(threshold)", true), |rule| {
                (rule.meta.title.as_str(), rule.index_key.is_indexed())
            });
            println!(
                "  {count:>8} {:>5.1}%  {title}{}",
                *count as f64 * 100.0 / log.records as f64,
                if indexed { "" } else { "  [unindexed]" }
            );
        }
    }

    println!("\nextra cost (median time ratio - 1; paired = median of per-round ratios):");
    let mut failed = false;
    for (what, slow, base, target) in [
        ("(b) SigmaHQ vs (a) built-in", "b", "a", true),
        ("(d) 500 synthetic vs (c) 10 synthetic", "d", "c", true),
        ("(c) 10 synthetic vs (a) built-in", "c", "a", false),
        ("(e) 500 present vs (c) 10 synthetic", "e", "c", false),
        ("(b1) SigmaHQ indexed only vs (a)", "b1", "a", false),
        ("(b2) SigmaHQ minus AssumeRole vs (a)", "b2", "a", false),
    ] {
        let (Some(slow), Some(base)) = (at(slow), at(base)) else {
            continue;
        };
        let (slow, base) = (&results[slow], &results[base]);
        let extra = slow.median() / base.median() - 1.0;
        let paired = paired_ratio(slow, base) - 1.0;
        let verdict = if !target {
            "(information)".to_string()
        } else if extra < TARGET {
            format!("PASS (< {:.0}%)", TARGET * 100.0)
        } else {
            failed = true;
            format!("FAIL (>= {:.0}%)", TARGET * 100.0)
        };
        println!(
            "  {what:<40} {:>+7.1}%  paired {:>+7.1}%  {verdict}",
            extra * 100.0,
            paired * 100.0
        );
    }
    if failed {
        println!("\nat least one target was missed");
    }
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// The corpus records, parsed (field order kept).
fn read_corpus(path: &Path) -> Vec<serde_json::Map<String, Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(record)) => record,
            other => panic!("corpus line is not a JSON object: {other:?}"),
        })
        .collect()
}

struct Log {
    bytes: Arc<[u8]>,
    records: u64,
}

/// `{"Records":[...]}` of at least `target` bytes of records, cycling the
/// corpus with a fresh eventID per copy, as scripts/make-big-log does.
fn build_log(corpus: &[serde_json::Map<String, Value>], target: usize) -> Log {
    let mut bytes = Vec::with_capacity(target + (1 << 20));
    bytes.extend_from_slice(br#"{"Records":["#);
    let mut written = 0;
    let mut count: u64 = 0;
    while written < target {
        let mut record = corpus[(count % corpus.len() as u64) as usize].clone();
        record.insert("eventID".to_string(), Value::from(uuid_from(count)));
        let before = bytes.len();
        if count > 0 {
            bytes.push(b',');
        }
        serde_json::to_writer(&mut bytes, &record).expect("serialises");
        written += bytes.len() - before;
        count += 1;
    }
    bytes.extend_from_slice(b"]}");
    Log {
        bytes: bytes.into(),
        records: count,
    }
}

/// Python's `str(uuid.UUID(int=n))`.
fn uuid_from(n: u64) -> String {
    let n = u128::from(n);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (n >> 96) as u32,
        (n >> 80) as u16,
        (n >> 64) as u16,
        (n >> 48) as u16,
        n & 0xffff_ffff_ffff
    )
}

/// The (eventSource, eventName) pairs of the corpus.
struct NamesInCorpus {
    /// Pairs with a real eventSource, most frequent first (ties by name).
    by_frequency: Vec<(String, String)>,
    /// Every normalised, lower-cased eventName in the corpus.
    lower: HashSet<String>,
}

impl NamesInCorpus {
    fn of(corpus: &[serde_json::Map<String, Value>]) -> NamesInCorpus {
        let mut counts: HashMap<(String, String), usize> = HashMap::new();
        let mut lower = HashSet::new();
        for record in corpus {
            let Some(name) = record.get("eventName").and_then(Value::as_str) else {
                continue;
            };
            let name = normalize_event_name(name);
            lower.insert(name.to_ascii_lowercase());
            let Some(source) = record.get("eventSource").and_then(Value::as_str) else {
                continue;
            };
            if source.ends_with(".amazonaws.com") {
                *counts
                    .entry((source.to_string(), name.to_string()))
                    .or_default() += 1;
            }
        }
        let mut by_frequency: Vec<((String, String), usize)> = counts.into_iter().collect();
        by_frequency.sort_by(|(a, m), (b, n)| n.cmp(m).then_with(|| a.cmp(b)));
        NamesInCorpus {
            by_frequency: by_frequency.into_iter().map(|(pair, _)| pair).collect(),
            lower,
        }
    }

    fn most_frequent(&self, n: usize) -> Vec<(String, String)> {
        assert!(self.by_frequency.len() >= n, "corpus has too few names");
        self.by_frequency[..n].to_vec()
    }
}

/// `count` real-looking API names (verb + resource) that no corpus record has.
fn absent_names(present: &HashSet<String>, count: usize) -> Vec<(String, String)> {
    const VERBS: &[&str] = &[
        "Create", "Delete", "Update", "Describe", "List", "Get", "Put", "Modify", "Attach",
        "Detach", "Enable", "Disable", "Start", "Stop", "Tag", "Untag", "Restore", "Export",
        "Import", "Reset",
    ];
    const RESOURCES: &[(&str, &str)] = &[
        ("Cluster", "eks"),
        ("Nodegroup", "eks"),
        ("Snapshot", "ec2"),
        ("Volume", "ec2"),
        ("Image", "ec2"),
        ("Subnet", "ec2"),
        ("RouteTable", "ec2"),
        ("NatGateway", "ec2"),
        ("TransitGateway", "ec2"),
        ("LoadBalancer", "elasticloadbalancing"),
        ("TargetGroup", "elasticloadbalancing"),
        ("Distribution", "cloudfront"),
        ("HostedZone", "route53"),
        ("Stack", "cloudformation"),
        ("ChangeSet", "cloudformation"),
        ("Repository", "ecr"),
        ("Table", "dynamodb"),
        ("Stream", "kinesis"),
        ("Queue", "sqs"),
        ("Certificate", "acm"),
        ("WorkGroup", "athena"),
        ("Crawler", "glue"),
        ("Job", "glue"),
        ("DBInstance", "rds"),
        ("DBSnapshot", "rds"),
        ("FileSystem", "elasticfilesystem"),
        ("StateMachine", "states"),
        ("EventBus", "events"),
        ("Dashboard", "monitoring"),
        ("LogGroup", "logs"),
    ];
    let names: Vec<(String, String)> = RESOURCES
        .iter()
        .flat_map(|(resource, service)| {
            VERBS.iter().map(move |verb| {
                (
                    format!("{service}.amazonaws.com"),
                    format!("{verb}{resource}"),
                )
            })
        })
        .filter(|(_, name)| !present.contains(&name.to_ascii_lowercase()))
        .take(count)
        .collect();
    assert_eq!(names.len(), count, "not enough absent API names");
    names
}

/// A Sigma rule filed under `name` that never matches.
fn synthetic_rule(i: usize, source: &str, name: &str) -> (String, String) {
    let yaml = format!(
        "title: Synthetic benchmark rule {i} ({name})
id: 00000000-0000-4000-8000-{i:012}
status: test
description: Benchmark rule; never matches any record.
author: benches/rules.rs
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: '{source}'
        eventName: '{name}'
        userIdentity.arn|endswith: ':user/synthetic-never-{i}'
    condition: selection
level: low
"
    );
    (format!("synthetic/rule-{i:03}.yml"), yaml)
}

fn synthetic_set(key: &'static str, label: &str, names: &[(String, String)]) -> RuleSetUnderTest {
    let texts = names
        .iter()
        .enumerate()
        .map(|(i, (source, name))| synthetic_rule(i, source, name))
        .collect();
    let set = RuleSetUnderTest::load(
        key,
        label,
        RuleConfig {
            texts,
            ..RuleConfig::default()
        },
        names.len(),
    );
    let synthetic_indexed = set
        .rules
        .rules()
        .iter()
        .filter(|rule| rule.meta.origin.starts_with("synthetic/"))
        .filter(|rule| rule.index_key.field() == Some(EVENT_NAME))
        .count();
    assert_eq!(
        synthetic_indexed,
        names.len(),
        "every synthetic rule must be filed under its eventName"
    );
    set
}

struct RuleSetUnderTest {
    key: &'static str,
    label: String,
    rules: RuleSet,
    indexed: usize,
    load_time: Duration,
    synthetic_ids: HashSet<String>,
}

struct Run {
    elapsed: Duration,
    alerts: u64,
    synthetic_matches: u64,
    matches: BTreeMap<String, u64>,
}

impl RuleSetUnderTest {
    fn load(key: &'static str, label: &str, config: RuleConfig, synthetic: usize) -> Self {
        let start = Instant::now();
        let rules = RuleSet::load(&config).unwrap_or_else(|e| panic!("set {key}: {e}"));
        let load_time = start.elapsed();
        let indexed = rules
            .rules()
            .iter()
            .filter(|rule| rule.index_key.is_indexed())
            .count();
        let synthetic_ids: HashSet<String> = rules
            .rules()
            .iter()
            .filter(|rule| rule.meta.origin.starts_with("synthetic/"))
            .map(|rule| rule.meta.id.clone())
            .collect();
        assert_eq!(synthetic_ids.len(), synthetic, "set {key}: synthetic rules");
        RuleSetUnderTest {
            key,
            label: label.to_string(),
            rules,
            indexed,
            load_time,
            synthetic_ids,
        }
    }

    fn scan(&self, log: &Log) -> Run {
        let mut correlator = self.rules.correlations().correlator();
        let mut alerts = 0u64;
        let start = Instant::now();
        let report = scan(
            Cursor::new(Arc::clone(&log.bytes)),
            "bench.json",
            &self.rules,
            &mut correlator,
            Limits::default(),
            |finding| {
                std::hint::black_box(&finding);
                alerts += 1;
                true
            },
        );
        let elapsed = start.elapsed();
        assert!(
            report.error.is_none(),
            "set {}: {:?}",
            self.key,
            report.error
        );
        assert_eq!(report.records, log.records, "set {}: records", self.key);
        assert_eq!(report.alerts, alerts);
        let synthetic_matches = report
            .matches
            .iter()
            .filter(|(id, _)| self.synthetic_ids.contains(*id))
            .map(|(_, n)| *n)
            .sum();
        Run {
            elapsed,
            alerts,
            synthetic_matches,
            matches: report.matches,
        }
    }

    /// Over the corpus: the share of records with at least one candidate
    /// rule (those are parsed into a full JSON value) and the mean number of
    /// candidates per record.
    fn candidate_stats(&self, corpus: &[serde_json::Map<String, Value>]) -> (f64, f64) {
        let mut parsed = 0usize;
        let mut candidates = 0usize;
        let mut heads = HeadReader::default();
        for record in corpus {
            let bytes = serde_json::to_vec(record).expect("serialises");
            let head = heads
                .read(&bytes, None, IdentityRead::TypeAndArn)
                .expect("record head");
            let n = self.rules.candidates(&KeyValues::of_head(&head)).len();
            parsed += usize::from(n > 0);
            candidates += n;
        }
        let total = corpus.len() as f64;
        (parsed as f64 / total, candidates as f64 / total)
    }
}

struct SetResult {
    alerts: u64,
    synthetic_matches: u64,
    /// Matches per rule id, from the warm-up run.
    matches: BTreeMap<String, u64>,
    times: Vec<Duration>,
}

impl SetResult {
    fn seconds(&self) -> Vec<f64> {
        let mut s: Vec<f64> = self.times.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        s
    }

    fn median(&self) -> f64 {
        median(&self.seconds())
    }

    fn range(&self) -> (f64, f64) {
        let s = self.seconds();
        (s[0], s[s.len() - 1])
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Median over rounds of slow/base, each from the same round.
fn paired_ratio(slow: &SetResult, base: &SetResult) -> f64 {
    let mut ratios: Vec<f64> = slow
        .times
        .iter()
        .zip(&base.times)
        .map(|(s, b)| s.as_secs_f64() / b.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    median(&ratios)
}
