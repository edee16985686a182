//! The log object decoder and the pipeline over it: any bytes (gzip or
//! plain) go through `pipeline::scan` with the built-in rules, which must
//! not panic and must account for every record it finds: records read =
//! records evaluated + records invalid.

#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trailwatch::logfile::Limits;
use trailwatch::pipeline::scan;
use trailwatch::rules::{RuleConfig, RuleSet};

/// Loading the rules takes far longer than one input: do it once.
fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| RuleSet::load(&RuleConfig::default()).expect("built-in rules load"))
}

fuzz_target!(|data: &[u8]| {
    let rules = rules();
    // A fresh correlator per input, so each run depends on its input only
    // (a crash reproduces from the artifact alone).
    let mut correlator = rules.correlations().correlator();
    let limits = Limits {
        max_record_bytes: 1 << 20,
        max_decompressed_bytes: 64 << 20,
    };
    let report = scan(
        Cursor::new(data.to_vec()),
        "fuzz",
        rules,
        &mut correlator,
        limits,
        |_| true,
    );
    assert_eq!(
        report.records,
        report.evaluated + report.invalid,
        "records read != evaluated + invalid: {report:?}"
    );
});
