//! Local logs read into a [`Summary`]: the files `scan` reads, found the
//! same way ([`expand`]), each read once with the rules run on it.

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::Summary;
use crate::alert::Finding;
use crate::backfill::Output;
use crate::pipeline::{scan_observed, Limits};
use crate::record::RecordHead;
use crate::rules::RuleSet;
use crate::source::fs::{expand, prepare, Ahead, Input};

/// What reading the paths came to.
#[derive(Debug, Default)]
pub struct Totals {
    /// Log files read (or tried).
    pub files: usize,
    pub records: u64,
    pub findings: u64,
    /// Paths and files that could not be read completely.
    pub failed: usize,
    pub skipped: usize,
}

/// Reads every log under `paths` into `summary`, running `rules` on each
/// record (thresholds across all files, as one scan). Each problem (a path
/// that cannot be read, a file skipped and why, a log damaged) is passed
/// to `problem` as a line naming it; `None` when no log was found at all
/// (`problem` was told what was skipped).
pub fn summarize_paths(
    paths: &[PathBuf],
    rules: &RuleSet,
    limits: Limits,
    summary: &mut Summary,
    problem: &mut dyn FnMut(String),
) -> Option<Totals> {
    let expanded = expand(paths);
    let mut totals = Totals {
        failed: expanded.errors.len(),
        skipped: expanded.skipped.len(),
        ..Totals::default()
    };
    for (path, err) in &expanded.errors {
        problem(format!("{}: {err}", path.display()));
    }
    for (path, why) in &expanded.skipped {
        problem(format!("{}: skipped ({why})", path.display()));
    }
    if let Some((path, first)) = expanded.duplicates.first() {
        problem(format!(
            "{} path(s) not read again: each names a file or directory already taken, such as {} (the same as {})",
            expanded.duplicates.len(),
            path.display(),
            first.display()
        ));
    }
    let nothing_to_read = |totals: &Totals, problem: &mut dyn FnMut(String)| {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        problem(format!(
            "nothing to read: no CloudTrail log found in {} ({} skipped, {} error(s))",
            names.join(" "),
            totals.skipped,
            totals.failed
        ));
    };
    if expanded.inputs.is_empty() {
        nothing_to_read(&totals, problem);
        return None;
    }
    let mut correlator = rules.correlations().correlator();
    for input in &expanded.inputs {
        let label = input.to_string();
        // A file that may not be a log is looked at from the content
        // read for the scan (read once).
        let source: Box<dyn io::Read + Send> = match (input, prepare(input, &limits, false)) {
            (_, Ahead::Skip(why)) => {
                problem(format!("{label}: skipped ({why})"));
                totals.skipped += 1;
                continue;
            }
            (_, Ahead::Content(content)) => Box::new(io::Cursor::new(content)),
            (Input::Stdin, _) => Box::new(io::stdin()),
            (Input::File(path) | Input::Unsure(path), _) => match std::fs::File::open(path) {
                Ok(file) => Box::new(file),
                Err(err) => {
                    problem(format!("{label}: {err}"));
                    totals.failed += 1;
                    continue;
                }
            },
        };
        totals.files += 1;
        // Both closures count into the summary, one after the other:
        // the observer sees a record before its findings are handed on.
        let summary_cell = std::cell::RefCell::new(&mut *summary);
        let report = scan_observed(
            source,
            &label,
            rules,
            &mut correlator,
            limits,
            &mut |head| summary_cell.borrow_mut().record(head),
            |finding| {
                summary_cell.borrow_mut().finding(&finding);
                true
            },
        );
        totals.records += report.records;
        totals.findings += report.alerts;
        if let Some(err) = report.error {
            problem(format!("{label}: {err}"));
            totals.failed += 1;
        }
    }
    if totals.files == 0 && totals.failed == expanded.errors.len() {
        nothing_to_read(&totals, problem);
        return None;
    }
    Some(totals)
}

/// A summary filled from a backfill's scanning threads
/// ([`crate::backfill::Backfill::run`]): records and findings counted under
/// one lock, problems passed on as lines.
pub struct Shared {
    pub summary: Mutex<Summary>,
    problem: Box<dyn Fn(&str) + Send + Sync>,
}

impl Shared {
    pub fn new(summary: Summary, problem: impl Fn(&str) + Send + Sync + 'static) -> Shared {
        Shared {
            summary: Mutex::new(summary),
            problem: Box::new(problem),
        }
    }

    fn summary(&self) -> std::sync::MutexGuard<'_, Summary> {
        // A panic elsewhere leaves the counts as they were: still worth printing.
        self.summary.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The summary, once the backfill is over.
    pub fn into_summary(self) -> Summary {
        self.summary
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Output for Shared {
    fn finding(&self, finding: Finding) -> bool {
        self.summary().finding(&finding);
        true
    }

    fn problem(&self, line: &str) {
        (self.problem)(line);
    }

    fn observes_records(&self) -> bool {
        true
    }

    fn record(&self, head: &RecordHead<'_>) {
        self.summary().record(head);
    }
}
