//! Command-line interface: parses arguments and prints. The work is done by
//! the library.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use trailwatch::alert::group::Grouper;
use trailwatch::alert::{Alert, Finding};
use trailwatch::generate::{write_path, Spec};
use trailwatch::logfile::Limits;
use trailwatch::pipeline::scan;
use trailwatch::rules::{RuleConfig, RuleSet};
use trailwatch::source::fs::{expand, Input};

#[derive(Parser)]
#[command(
    name = "trailwatch",
    version,
    about = "CloudTrail alerting with Sigma rules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan CloudTrail log files (.json.gz or .json), directories
    /// (recursively) or `-` for stdin, and print the alerts they raise.
    Scan {
        /// Files, directories or `-`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
        /// Output: the readable alert an email carries, or the JSON
        /// document other subscribers get, one per line.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        grouping: GroupingArgs,
        /// Threads per log object: 1 inflates and parses on one thread, 2
        /// inflates on a second one. Default: the CPUs available, at most 2.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
    },
    /// Write a synthetic CloudTrail log for load tests: realistic records,
    /// the same bytes for the same seed, about 2% planted to match the
    /// built-in rules. Gzip when OUT ends in .gz; `-` writes JSON to stdout.
    Generate {
        /// The file to write, or `-`.
        out: PathBuf,
        /// Records in the log.
        #[arg(long, value_name = "N", default_value_t = Spec::default().records)]
        records: u64,
        /// Seed: the same seed writes the same log.
        #[arg(long, value_name = "S", default_value_t = Spec::default().seed)]
        seed: u64,
    },
    /// Work with the rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the rules in force: id, level, whether indexed, title, origin.
    List {
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Check every rule's examples (true positives and true negatives).
    Test {
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Report rules that cannot match CloudTrail records: fields CloudTrail
    /// never writes, values a field never takes, logsources of other logs.
    Lint {
        #[command(flatten)]
        rules: RuleArgs,
    },
}

#[derive(clap::Args)]
struct RuleArgs {
    /// A directory of Sigma rules to add to the built-in pack (repeatable).
    #[arg(long = "rules", value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Principals allowed to invoke Lambda functions (repeatable; default
    /// s3.amazonaws.com).
    #[arg(long = "allowed-invoker", value_name = "PRINCIPAL")]
    allowed_invokers: Vec<String>,
    /// Turn off a rule by id (repeatable).
    #[arg(long = "disable", value_name = "RULE_ID")]
    disabled: Vec<String>,
}

impl RuleArgs {
    fn load(&self) -> Result<RuleSet, ExitCode> {
        let mut config = RuleConfig {
            dirs: self.dirs.clone(),
            disabled: self.disabled.clone(),
            ..RuleConfig::default()
        };
        if !self.allowed_invokers.is_empty() {
            config.allowed_invokers = self.allowed_invokers.clone();
        }
        RuleSet::load(&config).map_err(|err| {
            eprintln!("trailwatch: {err}");
            ExitCode::from(2)
        })
    }
}

/// How findings become alerts; by default as in the Lambda function: the
/// findings of one rule for one principal are one alert, printed at the end.
#[derive(clap::Args)]
struct GroupingArgs {
    /// Print every finding as its own alert, as soon as it is found.
    #[arg(long, conflicts_with = "max_alerts")]
    every_finding: bool,
    /// Print at most N alerts (the most severe), then a summary of the rest,
    /// like MAX_ALERTS_PER_INVOCATION in Lambda. Default: no limit.
    #[arg(long, value_name = "N")]
    max_alerts: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan {
            paths,
            rules,
            format,
            grouping,
            threads,
        } => {
            let limits = Limits {
                threads: threads.map_or(0, usize::from),
                ..Limits::default()
            };
            rules
                .load()
                .map(|set| scan_paths(&paths, &set, format, &grouping, limits))
        }
        Command::Generate { out, records, seed } => Ok(generate(&out, records, seed)),
        Command::Rules { command } => match command {
            RulesCommand::List { rules } => rules.load().map(|set| list_rules(&set)),
            RulesCommand::Test { rules } => rules.load().map(|set| test_rules(&set)),
            RulesCommand::Lint { rules } => rules.load().map(|set| lint_rules(&set)),
        },
    };
    result.unwrap_or_else(|code| code)
}

fn scan_paths(
    paths: &[PathBuf],
    rules: &RuleSet,
    format: Format,
    grouping: &GroupingArgs,
    limits: Limits,
) -> ExitCode {
    let expanded = expand(paths);
    let mut failed = expanded.errors.len();
    for (path, err) in &expanded.errors {
        eprintln!("trailwatch: {}: {err}", path.display());
    }
    for (path, kind) in &expanded.skipped {
        eprintln!(
            "trailwatch: {}: skipped ({} file)",
            path.display(),
            kind.as_str()
        );
    }
    let mut stdout = io::stdout().lock();
    let (mut records, mut findings, mut alerts) = (0u64, 0u64, 0u64);
    // Thresholds and groups span all the files of one scan.
    let mut correlator = rules.correlations().correlator();
    let mut grouper =
        (!grouping.every_finding).then(|| Grouper::new(grouping.max_alerts.map(|n| n.max(1))));
    let mut print = |finding: Finding| match grouper.as_mut() {
        Some(grouper) => {
            grouper.add(finding, 0);
            true
        }
        None => {
            alerts += 1;
            // stdout closed (e.g. piped into `head`): stop reading.
            print_alert(&mut stdout, format, &finding.alert())
        }
    };
    for input in &expanded.inputs {
        let label = input.to_string();
        let report = match input {
            Input::Stdin => scan(
                io::stdin(),
                &label,
                rules,
                &mut correlator,
                limits,
                &mut print,
            ),
            Input::File(path) => match std::fs::File::open(path) {
                Ok(file) => scan(file, &label, rules, &mut correlator, limits, &mut print),
                Err(err) => {
                    eprintln!("trailwatch: {label}: {err}");
                    failed += 1;
                    continue;
                }
            },
        };
        records += report.records;
        findings += report.alerts;
        if report.stopped {
            return ExitCode::SUCCESS;
        }
        if let Some(err) = report.error {
            eprintln!("trailwatch: {label}: {err}");
            failed += 1;
        }
    }
    for grouped in grouper.map(Grouper::finish).unwrap_or_default() {
        if !print_alert(&mut stdout, format, &grouped.alert) {
            return ExitCode::SUCCESS;
        }
        alerts += 1;
    }
    eprintln!(
        "trailwatch: {} file(s), {records} record(s), {findings} finding(s), {alerts} alert(s), {failed} error(s)",
        expanded.inputs.len()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn generate(out: &Path, records: u64, seed: u64) -> ExitCode {
    let spec = Spec {
        records,
        seed,
        ..Spec::default()
    };
    match write_path(&spec, out) {
        Ok(stats) => {
            let mb = |bytes: u64| bytes as f64 / 1e6;
            let planted = 100.0 * stats.matching as f64 / stats.records.max(1) as f64;
            eprintln!(
                "{}: {} records, {:.1} MB uncompressed, {:.1} MB written, {planted:.2}% planted to match built-in rules",
                out.display(),
                stats.records,
                mb(stats.bytes),
                mb(stats.written)
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("trailwatch: {}: {err}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// Prints one alert; false when stdout is closed.
fn print_alert(out: &mut impl Write, format: Format, alert: &Alert) -> bool {
    let written = match format {
        Format::Text => writeln!(out, "{}\n{}", alert.text(), "-".repeat(72)),
        Format::Json => writeln!(out, "{}", alert.json()),
    };
    written.is_ok()
}

fn list_rules(rules: &RuleSet) -> ExitCode {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{:<36}  {:<13} {:<17} TITLE  [ORIGIN]",
        "ID", "LEVEL", "INDEXED BY"
    );
    for rule in rules.rules() {
        let meta = &rule.meta;
        let indexed = rule.index_key.field().unwrap_or("-");
        let _ = writeln!(
            stdout,
            "{:<36}  {:<13} {:<17} {}  [{}]",
            meta.id, meta.level, indexed, meta.title, meta.origin
        );
    }
    for threshold in rules.correlations().thresholds() {
        let meta = &threshold.meta;
        let _ = writeln!(
            stdout,
            "{:<36}  {:<13} {:<17} {}  [{}]",
            meta.id, meta.level, "threshold", meta.title, meta.origin
        );
    }
    ExitCode::SUCCESS
}

fn test_rules(rules: &RuleSet) -> ExitCode {
    let thresholds = rules.correlations().thresholds();
    let examples = rules
        .rules()
        .iter()
        .map(|r| r.examples.len())
        .sum::<usize>()
        + thresholds.iter().map(|t| t.examples.len()).sum::<usize>();
    let failures: Vec<_> = rules
        .rules()
        .iter()
        .flat_map(|rule| rule.check_examples())
        .chain(rules.check_threshold_examples())
        .collect();
    for failure in &failures {
        eprintln!("FAIL {failure}");
    }
    println!(
        "{} rule(s), {examples} example(s): {} passed, {} failed",
        rules.len() + thresholds.len(),
        examples - failures.len(),
        failures.len()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn lint_rules(rules: &RuleSet) -> ExitCode {
    let findings = rules.lint();
    for finding in findings {
        println!("{finding}");
    }
    let affected: std::collections::HashSet<&str> =
        findings.iter().map(|f| f.rule_id.as_str()).collect();
    eprintln!(
        "{} rule(s) checked: {} cannot match CloudTrail as written ({} problem(s))",
        rules.len(),
        affected.len(),
        findings.len()
    );
    if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
