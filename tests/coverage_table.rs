//! The README's attack coverage table is backed by the pack: every row that
//! names a built-in rule names an example of it that `rules test` checks,
//! a true positive, and the rule's own level.

use std::collections::BTreeMap;
use std::path::Path;

use trailwatch::rules::{RuleConfig, RuleSet};

/// The rows of the table under `#### Attack coverage`: its cells.
fn coverage_rows() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("#### Attack coverage")
        .nth(1)
        .expect("the README has an attack coverage section");
    section
        .lines()
        .skip_while(|line| !line.starts_with("| technique"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The built-in rule files a cell names (`name.yml`).
fn files(cell: &str) -> Vec<String> {
    cell.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|word| word.ends_with(".yml"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_row_naming_a_builtin_rule_names_one_of_its_true_positives() {
    let rules = RuleSet::load(&RuleConfig::default()).expect("built-in pack");
    // Per file: its level and the names of its true-positive examples.
    let mut pack: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for rule in rules.rules() {
        let names = rule
            .examples
            .iter()
            .filter(|example| example.expect_match)
            .map(|example| example.name.clone())
            .collect();
        pack.insert(
            rule.meta.origin.trim_start_matches("builtin/").to_string(),
            (rule.meta.level.to_string(), names),
        );
    }
    for threshold in rules.correlations().thresholds() {
        let names = threshold
            .examples
            .iter()
            .filter(|example| example.expect_match)
            .map(|example| example.name.clone())
            .collect();
        pack.insert(
            threshold
                .meta
                .origin
                .trim_start_matches("builtin/")
                .to_string(),
            (threshold.meta.level.to_string(), names),
        );
    }

    let rows = coverage_rows();
    assert!(rows.len() >= 30, "{} rows", rows.len());
    let mut previous: Vec<String> = Vec::new();
    let mut backed = 0;
    for row in &rows {
        let [technique, rule, level, exemplar] = row.as_slice() else {
            continue; // a technique not covered: the reason in one cell
        };
        let mut named = files(rule);
        if rule == "the same rule" {
            named = previous.clone();
        }
        previous = named.clone();
        let Some(first) = named.first() else {
            continue; // a SigmaHQ rule: named by id, no example of ours
        };
        for file in &named {
            assert!(pack.contains_key(file), "{technique}: no built-in {file}");
        }
        assert_eq!(
            &pack[first].0, level,
            "{technique}: the table's level is not {first}'s"
        );
        for name in exemplar.split("; ") {
            assert!(
                named
                    .iter()
                    .any(|file| pack[file].1.iter().any(|n| n == name)),
                "{technique}: no true positive {name:?} in {named:?}"
            );
            backed += 1;
        }
    }
    assert!(backed >= 30, "{backed} exemplars backed");
}
