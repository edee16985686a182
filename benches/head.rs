//! The per-record reads, alone: the head read and the parse of
//! `userIdentity` into a `BorrowedValue` (what most candidate records
//! need), against serde_json's `Value`, which they stand in for.
//!
//! ```sh
//! cargo bench --bench head
//! TRAILWATCH_BENCH_RECORDS=50000 TRAILWATCH_BENCH_RUNS=9 cargo bench --bench head
//! ```
//!
//! The records are a generated log's (`trailwatch generate`, seed 1), held
//! in memory one string each, so the figures are the reads alone: no
//! inflate, no splitting, no rules. Each read runs over every record
//! TRAILWATCH_BENCH_RUNS times (default 7); the median pass is reported,
//! in MB/s of record text and ns per record.
//!
//! `cargo test --all-targets` builds and runs this file without `--bench`;
//! it then returns at once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::Value;
use trailwatch::generate::{write_log, Spec};
use trailwatch::json::BorrowedValue;
use trailwatch::record::{HeadReader, IdentityRead};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("run with cargo bench --bench head");
        return;
    }
    let records: u64 = env_number("TRAILWATCH_BENCH_RECORDS", 30_000);
    let runs: usize = env_number("TRAILWATCH_BENCH_RUNS", 7).max(1);
    let mut log = Vec::new();
    if let Err(err) = write_log(
        &Spec {
            records,
            ..Spec::default()
        },
        &mut log,
    ) {
        eprintln!("could not generate the log: {err}");
        std::process::exit(2);
    }
    let texts = match record_texts(&log) {
        Ok(texts) => texts,
        Err(err) => {
            eprintln!("the generated log does not parse: {err}");
            std::process::exit(2);
        }
    };
    let identities: Vec<&str> = texts.iter().filter_map(|t| identity_of(t)).collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let identity_bytes: usize = identities.iter().map(|t| t.len()).sum();
    println!(
        "input: {} generated records, {:.1} MB; {} userIdentity values, {:.1} MB; median of {runs} passes",
        texts.len(),
        bytes as f64 / 1e6,
        identities.len(),
        identity_bytes as f64 / 1e6
    );

    let mut heads = HeadReader::default();
    report("head, HeadReader::read", bytes, texts.len(), runs, || {
        for text in &texts {
            let head = heads.read(text.as_bytes(), None, IdentityRead::TypeAndArn);
            if let Ok(head) = black_box(head) {
                heads.recycle(head.fields);
            }
        }
    });
    report("record, serde_json Value", bytes, texts.len(), runs, || {
        for text in &texts {
            let _ = black_box(serde_json::from_str::<Value>(text));
        }
    });
    report(
        "userIdentity, BorrowedValue",
        identity_bytes,
        identities.len(),
        runs,
        || {
            for text in &identities {
                let _ = black_box(BorrowedValue::parse(text));
            }
        },
    );
    report(
        "userIdentity, serde_json Value",
        identity_bytes,
        identities.len(),
        runs,
        || {
            for text in &identities {
                let _ = black_box(serde_json::from_str::<Value>(text));
            }
        },
    );
}

/// The records of a `{"Records":[...]}` log, one string each.
fn record_texts(log: &[u8]) -> Result<Vec<&str>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Log<'a> {
        #[serde(borrow, rename = "Records")]
        records: Vec<&'a RawValue>,
    }
    let log: Log = serde_json::from_slice(log)?;
    Ok(log.records.into_iter().map(RawValue::get).collect())
}

/// The text of a record's `userIdentity`.
fn identity_of(text: &str) -> Option<&str> {
    let head = HeadReader::default()
        .read(text.as_bytes(), None, IdentityRead::TypeAndArn)
        .ok()?;
    head.fields
        .iter()
        .find(|(key, _)| key == "userIdentity")
        .map(|(_, value)| *value)
}

fn report(what: &str, bytes: usize, count: usize, runs: usize, mut pass: impl FnMut()) {
    pass();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[runs / 2].as_secs_f64();
    println!(
        "{what:<30} {:>8.0} MB/s {:>8.0} ns/record",
        bytes as f64 / median / 1e6,
        median * 1e9 / count.max(1) as f64
    );
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
