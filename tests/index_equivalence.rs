//! The rule index never changes a verdict: a property test.
//!
//! Records are generated from the real corpus records with random JSON in
//! the fields the index reads (`eventName`, `eventSource`,
//! `userIdentity.type`, `userIdentity.arn`, `errorCode`, `userAgent`):
//! strings the rules name in any case (Unicode's too), with version
//! suffixes, escaped in the log text (keys too), and numbers, booleans,
//! nulls, arrays and objects in their place, `userIdentity` itself an
//! array now and then. For every rule of both packs, the findings of the
//! real scan (index, head read, lazy fields; one thread and two) must be
//! exactly those of evaluating every rule on every fully parsed record.
//!
//! Deterministic: `TRAILWATCH_PROPERTY_SEED` and
//! `TRAILWATCH_PROPERTY_RECORDS` explore further.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

use serde_json::{Map, Value};
use trailwatch::pipeline::scan;
use trailwatch::pipeline::Limits;
use trailwatch::rules::{IndexKey, RuleConfig, RuleSet};

/// splitmix64: small, deterministic, good enough to pick test values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'v, T>(&mut self, items: &'v [T]) -> &'v T {
        &items[self.below(items.len())]
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rules() -> RuleSet {
    RuleSet::load(&RuleConfig {
        dirs: vec![root().join("rules/sigmahq")],
        ..RuleConfig::default()
    })
    .expect("both packs load")
}

fn corpus() -> Vec<Map<String, Value>> {
    let text =
        std::fs::read_to_string(root().join("tests/data/corpus-records.jsonl")).expect("corpus");
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|value| match value {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .collect()
}

/// Per indexed field, the strings worth trying: what the rules file under
/// it, and what the corpus records hold.
struct Pools {
    fields: Vec<(&'static str, Vec<String>)>,
}

impl Pools {
    fn new(rules: &RuleSet, corpus: &[Map<String, Value>]) -> Pools {
        let names = [
            "eventName",
            "eventSource",
            "userIdentity.type",
            "errorCode",
            "userAgent",
            "userIdentity.arn",
        ];
        let mut fields = Vec::new();
        for name in names {
            let mut pool = BTreeSet::new();
            for rule in rules.rules() {
                if let IndexKey::Field { field, values, .. } = &rule.index_key {
                    if *field == name {
                        pool.extend(values.iter().cloned());
                    }
                }
            }
            for record in corpus {
                let value = match name.split_once('.') {
                    Some((outer, inner)) => record.get(outer).and_then(|v| v.get(inner)),
                    None => record.get(name),
                };
                if let Some(Value::String(text)) = value {
                    pool.insert(text.clone());
                }
            }
            // What the rules' patterns look for, inside longer values.
            pool.extend(
                [
                    "TruffleHog/3.63",
                    "python-requests/2.31 TruffleHog",
                    "S3 Browser 11.5",
                    "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc",
                    "Client.UnauthorizedOperation",
                    "AccessDenied",
                    "Root",
                    "AssumedRole",
                ]
                .map(String::from),
            );
            fields.push((name, pool.into_iter().collect()));
        }
        Pools { fields }
    }
}

/// A string as a rule might see it: its case changed, Unicode look-alikes
/// that fold to the same letters, a version suffix on an API name.
fn vary(rng: &mut Rng, text: &str, field: &str) -> String {
    let mut out: String = match rng.below(6) {
        0 => text.to_uppercase(),
        1 => text.to_lowercase(),
        2 => text
            .chars()
            .map(|c| {
                if rng.chance(50) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        // The Kelvin sign is lower-cased to `k`; the long s is not an `s`.
        3 => text.replace(['k', 'K'], "\u{212A}").replace('s', "\u{17F}"),
        _ => text.to_string(),
    };
    if field == "eventName" && rng.chance(20) {
        let suffix = *rng.pick(&["20150331", "20150331v2", "20141111", "v2"]);
        out.push_str(suffix);
    }
    if rng.chance(5) {
        out.push(' ');
    }
    out
}

fn scalar(rng: &mut Rng, pool: &[String], field: &str) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => Value::from(rng.below(1000) as i64 - 10),
        3 => serde_json::json!(rng.below(1000) as f64 / 8.0),
        _ => {
            let text = rng_pick(rng, pool);
            Value::String(vary(rng, text, field))
        }
    }
}

fn rng_pick<'p>(rng: &mut Rng, pool: &'p [String]) -> &'p str {
    pool.get(rng.below(pool.len())).map_or("", String::as_str)
}

/// A random JSON value for an indexed field; `None`: leave it out.
fn field_value(rng: &mut Rng, pool: &[String], field: &str) -> Option<Value> {
    Some(match rng.below(10) {
        0 => return None,
        1 => Value::Array(
            (0..rng.below(3) + 1)
                .map(|_| scalar(rng, pool, field))
                .collect(),
        ),
        2 => {
            let mut object = Map::new();
            object.insert("value".to_string(), scalar(rng, pool, field));
            Value::Object(object)
        }
        _ => scalar(rng, pool, field),
    })
}

fn identity(rng: &mut Rng, pools: &Pools, base: Option<&Value>) -> Option<Value> {
    let mut object = match base {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    for (name, key) in [("userIdentity.type", "type"), ("userIdentity.arn", "arn")] {
        let pool = &pools
            .fields
            .iter()
            .find(|(field, _)| *field == name)
            .expect("pool")
            .1;
        if rng.chance(70) {
            match field_value(rng, pool, name) {
                Some(value) => object.insert(key.to_string(), value),
                None => object.remove(key),
            };
        }
    }
    Some(match rng.below(20) {
        0 => return None,
        1 => Value::Null,
        2 => Value::String("AWS Internal".to_string()),
        3 => Value::Array(vec![Value::Object(object)]),
        _ => Value::Object(object),
    })
}

fn record(rng: &mut Rng, pools: &Pools, corpus: &[Map<String, Value>], id: usize) -> Value {
    let mut record = rng.pick(corpus).clone();
    for (name, pool) in &pools.fields {
        if name.starts_with("userIdentity.") || rng.chance(30) {
            continue;
        }
        match field_value(rng, pool, name) {
            Some(value) => record.insert(name.to_string(), value),
            None => record.remove(*name),
        };
    }
    if rng.chance(70) {
        let base = record.get("userIdentity").cloned();
        match identity(rng, pools, base.as_ref()) {
            Some(value) => record.insert("userIdentity".to_string(), value),
            None => record.remove("userIdentity"),
        };
    }
    record.insert("eventID".to_string(), Value::String(format!("rec-{id}")));
    Value::Object(record)
}

/// JSON text with some characters of strings and keys written as `\u`
/// escapes: the scan must read through any escape.
fn write_escaped(rng: &mut Rng, value: &Value, out: &mut String) {
    match value {
        Value::String(text) => write_string(rng, text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_escaped(rng, item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(rng, key, out);
                out.push(':');
                write_escaped(rng, item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(rng: &mut Rng, text: &str, out: &mut String) {
    let escape_some = rng.chance(15);
    out.push('"');
    for c in text.chars() {
        if escape_some && rng.chance(30) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

type Verdicts = BTreeSet<(String, String)>;

/// Every alerting rule on every record, each record parsed whole.
fn unindexed(rules: &RuleSet, records: &[Value]) -> Verdicts {
    let mut out = Verdicts::new();
    for record in records {
        let mut event = record.clone();
        trailwatch::record::normalize_event_name_in(&mut event);
        let id = record["eventID"].as_str().unwrap_or_default().to_string();
        for rule in rules.rules().iter().filter(|rule| rule.alerts) {
            if rule.matches(&event) {
                out.insert((rule.meta.id.clone(), id.clone()));
            }
        }
    }
    out
}

/// The findings of the real scan.
fn indexed(rules: &RuleSet, log: &str, threads: usize) -> Verdicts {
    let mut out = Verdicts::new();
    let report = scan(
        Cursor::new(log.as_bytes().to_vec()),
        "property",
        rules,
        &mut rules.correlations().correlator(),
        Limits {
            threads,
            ..Limits::default()
        },
        |finding| {
            let alert = finding.alert();
            if alert.threshold.is_none() {
                out.insert((alert.rule_id, alert.event_id.unwrap_or_default()));
            }
            true
        },
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    out
}

#[test]
fn the_index_never_changes_a_verdict() {
    let seed = std::env::var("TRAILWATCH_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(18);
    let count = std::env::var("TRAILWATCH_PROPERTY_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let rules = rules();
    let corpus = corpus();
    let pools = Pools::new(&rules, &corpus);
    let mut rng = Rng(seed);
    let records: Vec<Value> = (0..count)
        .map(|id| record(&mut rng, &pools, &corpus, id))
        .collect();
    let mut log = String::from("{\"Records\":[");
    let mut texts = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            log.push(',');
        }
        let mut text = String::new();
        write_escaped(&mut rng, record, &mut text);
        log.push_str(&text);
        texts.push(text);
    }
    log.push_str("]}");
    let want = unindexed(&rules, &records);
    // The generated records must reach many rules, or this proves little.
    let rules_hit: BTreeSet<&String> = want.iter().map(|(rule, _)| rule).collect();
    assert!(
        rules_hit.len() >= 20 && want.len() >= count / 10,
        "only {} findings of {} rules",
        want.len(),
        rules_hit.len()
    );
    for threads in [1, 2] {
        let got = indexed(&rules, &log, threads);
        let text_of = |id: &str| {
            id.strip_prefix("rec-")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| texts.get(n))
                .cloned()
                .unwrap_or_default()
        };
        let missed: Vec<String> = want
            .difference(&got)
            .take(5)
            .map(|(rule, id)| format!("{rule} on {}", text_of(id)))
            .collect();
        let extra: Vec<String> = got
            .difference(&want)
            .take(5)
            .map(|(rule, id)| format!("{rule} on {}", text_of(id)))
            .collect();
        assert!(
            missed.is_empty() && extra.is_empty(),
            "seed {seed}, {threads} thread(s): {} finding(s) missed by the scan, {} extra\n\
             missed: {missed:#?}\nextra: {extra:#?}",
            want.difference(&got).count(),
            got.difference(&want).count(),
        );
    }
}
