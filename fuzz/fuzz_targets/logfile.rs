//! The log object decoder and the pipeline over it: any bytes (gzip or
//! plain) go through `pipeline::scan` with the built-in rules, which must
//! not panic and must account for every record it finds: records read =
//! records evaluated + records invalid, the same with the records split on
//! a thread of their own as on one thread.

#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trailwatch::pipeline::{Limits, LogError};
use trailwatch::pipeline::{scan, ScanError, ScanReport};
use trailwatch::rules::{RuleConfig, RuleSet};

/// Loading the rules takes far longer than one input: do it once.
fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| RuleSet::load(&RuleConfig::default()).expect("built-in rules load"))
}

fuzz_target!(|data: &[u8]| {
    let one = scan_with(data, 1);
    assert_eq!(
        one.records,
        one.evaluated + one.invalid,
        "records read != evaluated + invalid: {one:?}"
    );
    // Split on a thread of its own (gzip inflated on it with 2 threads, on
    // another with 3), the same records give the same counts and the same
    // first error. Except in a corrupt gzip stream: zlib drops what it
    // inflated in the read that meets the corruption, and the inflate
    // thread reads in other sizes, so where the stream ends differs; both
    // must still call it permanent.
    for threads in [2, 3] {
        let other = scan_with(data, threads);
        if corrupt_gzip(&one) || corrupt_gzip(&other) {
            for report in [&one, &other] {
                let error = report.error.as_ref();
                assert!(
                    error.is_some_and(|e| !e.is_transient()),
                    "a corrupt gzip stream is a permanent error: {report:?}"
                );
            }
            continue;
        }
        assert_eq!(
            (one.records, one.evaluated, one.invalid, one.alerts),
            (other.records, other.evaluated, other.invalid, other.alerts),
            "1 thread: {one:?}\n{threads} threads: {other:?}"
        );
        assert_eq!(
            one.error.as_ref().map(ToString::to_string),
            other.error.as_ref().map(ToString::to_string),
            "{threads} threads"
        );
    }
});

fn corrupt_gzip(report: &ScanReport) -> bool {
    matches!(report.error, Some(ScanError::Log(LogError::Gzip(_))))
}

fn scan_with(data: &[u8], threads: usize) -> ScanReport {
    let rules = rules();
    // A fresh correlator per input, so each run depends on its input only
    // (a crash reproduces from the artifact alone).
    let mut correlator = rules.correlations().correlator();
    let limits = Limits {
        max_record_bytes: 1 << 20,
        max_decompressed_bytes: 64 << 20,
        threads,
        // Threads from the first byte: inputs are small, and the ways of
        // reading are what is compared.
        one_thread_first: 0,
        ..Limits::default()
    };
    scan(
        Cursor::new(data.to_vec()),
        "fuzz",
        rules,
        &mut correlator,
        limits,
        |_| true,
    )
}
