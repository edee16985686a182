//! Command-line interface: parses arguments and prints. The work is done by
//! the library.

mod print;
mod view;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::NaiveDateTime;
use clap::{Parser, Subcommand, ValueEnum};
use print::{Console, Printer};
use trailwatch::alert::{AccountNames, Attack};
use trailwatch::backfill::dates::{parse_bound, Window};
use trailwatch::backfill::digests::{verify_digests, verify_local, Keys};
use trailwatch::backfill::progress::{Progress, Style, Unit};
use trailwatch::backfill::{Backfill, Counts, Output};
use trailwatch::digest::keys_file::FileKeys;
use trailwatch::generate::{write_path_by, Callers, Spec};
use trailwatch::pipeline::scan;
use trailwatch::pipeline::{EventWindow, Limits};
use trailwatch::rules::{Level, RuleConfig, RuleSet};
use trailwatch::source::account_names::NamesAt;
use trailwatch::source::digests::CloudTrailKeys;
use trailwatch::source::fs::{expand, prepare, read_ahead, Ahead, Input};
use trailwatch::source::organizations;
use trailwatch::source::rules_s3::S3Prefix;
use trailwatch::summary;
use view::{ColorChoice, Tally};

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
    /// Scan CloudTrail log files (gzip or not; {"Records":[...]}, an array
    /// of records or JSON lines), directories (recursively, each file
    /// once), `-` for stdin, or every log object under S3 prefixes
    /// (s3://bucket/prefix), and print the alerts they raise.
    Scan {
        /// Files, directories or `-`; or s3://bucket/prefix URIs.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        grouping: GroupingArgs,
        /// Threads per log object: 1 does all on one thread; 2 or more
        /// inflate gzip, split the records and evaluate them side by side.
        /// Default: 1 on a machine with one CPU, else side by side.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        s3: S3Args,
        /// Name accounts in the alerts (`prod-payments (111122223333)`):
        /// a JSON or YAML map of account ids to names, a file or
        /// s3://bucket/key. A file that cannot be used stops the scan.
        #[arg(long, value_name = "FILE|S3_URI")]
        account_names: Option<String>,
        /// Name every account of the organization (AWS Organizations
        /// ListAccounts, from its management account or a delegated
        /// administrator); --account-names wins where both name one. A
        /// listing that fails stops the scan.
        #[arg(long)]
        account_names_from_organizations: bool,
    },
    /// Summarise what each principal did, for incident response: events,
    /// first and last time, regions, source IPs, user agents, access keys,
    /// sessions, sensitive calls failed and succeeded, and the alerts its
    /// records raised. Principals are folded as alerts fold them (an
    /// assumed-role session is its role). Reads what `scan` reads.
    Summary {
        /// Files, directories or `-`; or s3://bucket/prefix URIs.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
        /// Output: an aligned table, one JSON object per principal per
        /// line, or CSV. Default: table on a terminal, else JSON.
        #[arg(long, value_enum)]
        format: Option<SummaryFormat>,
        /// Print only the first N principals (most findings, then most
        /// events). Default: 50 in a table on a terminal, else all.
        #[arg(long, value_name = "N")]
        top: Option<usize>,
        /// Principals given a row of their own; those met after are
        /// counted together in one "other principals" row.
        #[arg(long, value_name = "N", default_value_t = trailwatch::summary::MAX_PRINCIPALS,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
        max_principals: usize,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Verify CloudTrail's digest files under S3 prefixes, like `aws
    /// cloudtrail validate-logs` but several at a time: each digest's
    /// signature and chain, and every log it lists (present, same SHA-256).
    /// Each problem prints as an alert, as `scan` prints them; a summary
    /// follows on stderr. --since/--until select digests by the time in
    /// their file name (the end of the hour they cover).
    ///
    /// Or verify a local copy of the bucket (`aws s3 sync`): the copy has
    /// no object metadata, so each digest is checked against the signature
    /// the next digest repeats; the newest of each chain needs its
    /// `aws s3api head-object` output saved beside it as NAME.metadata.json.
    ///
    /// Exit status: 0 when every digest listed was verified and nothing was
    /// wrong; 1 when a problem was found (an alert printed) or something
    /// could not be verified or listed; 2 for a usage error.
    Verify {
        /// s3://bucket/prefix URIs (a trail's bucket and key prefix, an
        /// account's or an organization's AWSLogs/ folder, ...), or
        /// directories of a local copy (not both).
        #[arg(required = true, value_name = "S3_URI|DIR")]
        uris: Vec<String>,
        #[command(flatten)]
        output: OutputArgs,
        /// Read CloudTrail's public keys from this file (what `aws
        /// cloudtrail list-public-keys` prints) instead of asking
        /// CloudTrail ListPublicKeys in each digest's region.
        #[arg(long, value_name = "FILE")]
        public_keys: Option<PathBuf>,
        /// The AWS region of the S3 client (and of CloudTrail where a
        /// digest's key does not name one). Default: as the AWS SDK finds it.
        #[arg(long, value_name = "R")]
        region: Option<String>,
        #[command(flatten)]
        s3: VerifyArgs,
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
        /// Records in a thousand planted to match a built-in rule.
        #[arg(long, value_name = "P", default_value_t = Spec::default().match_per_mille,
              value_parser = clap::value_parser!(u32).range(0..=1000))]
        planted_per_mille: u32,
        /// The planted records made by this many users and roles
        /// (`load-user-N`, sessions of `load-role-N`) instead of the
        /// account's few: a findings-heavy log with many alert groups.
        #[arg(long, value_name = "C", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        principals: Option<u32>,
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
    /// Alert only on rules of this level or above (informational, low,
    /// medium, high, critical); the others still feed thresholds.
    #[arg(long = "min-level", value_name = "LEVEL")]
    min_level: Option<Level>,
}

impl RuleArgs {
    /// The rules, without the built-in pack's examples (only `rules test`
    /// runs them).
    fn load(&self) -> Result<RuleSet, ExitCode> {
        self.load_as(false)
    }

    fn load_with_examples(&self) -> Result<RuleSet, ExitCode> {
        self.load_as(true)
    }

    fn load_as(&self, examples: bool) -> Result<RuleSet, ExitCode> {
        let mut config = RuleConfig {
            dirs: self.dirs.clone(),
            disabled: self.disabled.clone(),
            min_level: self.min_level,
            examples,
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

/// How alerts are printed.
#[derive(clap::Args)]
struct OutputArgs {
    /// Output: one line per alert, aligned (event time, level, title,
    /// principal, account, region, count); the readable alert an email
    /// carries (`email`, or `text`); the JSON document other subscribers
    /// get, one per line; or CSV, a header and a record per alert.
    /// Default: `line` for scan; `email` for verify, whose alerts say in
    /// their text which object is at fault.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Colour the level of each line (and the summary's bars): `auto`
    /// when printing to a terminal and NO_COLOR is not set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
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

/// Limits on one log object, as the Lambda function has them
/// (`MAX_RECORD_BYTES`, `MAX_DECOMPRESSED_BYTES`, its deadline).
#[derive(clap::Args)]
struct LimitArgs {
    /// A larger record makes the file unreadable (not CloudTrail).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_record_bytes)]
    max_record_bytes: usize,
    /// Stop a file that decompresses to more than this (a gzip bomb).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_decompressed_bytes)]
    max_decompressed_bytes: u64,
    /// Stop reading a file after this many seconds: it is reported as not
    /// finished (an error) and the scan goes on. Default: no limit.
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    timeout: Option<Duration>,
    /// Evaluate only records whose eventTime is at or after this
    /// YYYY-MM-DD (UTC) or RFC 3339 time; the others are read, never
    /// evaluated: no alert, and no threshold counts them. (--since and
    /// --until pick S3 objects by the time in their keys.)
    #[arg(long, value_name = "TIME", value_parser = parse_bound)]
    from: Option<NaiveDateTime>,
    /// Evaluate only records whose eventTime is before this YYYY-MM-DD
    /// (UTC) or RFC 3339 time (exclusive).
    #[arg(long, value_name = "TIME", value_parser = parse_bound)]
    to: Option<NaiveDateTime>,
}

impl LimitArgs {
    fn limits(&self, threads: Option<u16>) -> Limits {
        Limits {
            threads: threads.map_or(0, usize::from),
            max_record_bytes: self.max_record_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            time_per_object: self.timeout,
            event_window: EventWindow::new(self.from, self.to),
            ..Limits::default()
        }
    }
}

/// How S3 prefixes are scanned (ignored for local paths).
#[derive(clap::Args)]
struct S3Args {
    /// s3:// only: objects read at a time. Their downloads overlap; with
    /// threshold rules loaded their scans take turns.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
    /// s3:// only: scan objects whose key is dated at or after this
    /// YYYY-MM-DD (UTC) or RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_bound)]
    since: Option<NaiveDateTime>,
    /// s3:// only: scan objects whose key is dated before this YYYY-MM-DD
    /// (UTC) or RFC 3339 time (exclusive).
    #[arg(long, value_name = "DATE", value_parser = parse_bound)]
    until: Option<NaiveDateTime>,
    /// Show no progress and no results summary (problems and the last
    /// line still print).
    #[arg(long, short)]
    quiet: bool,
    /// s3:// only: seconds between progress lines when stderr is not a
    /// terminal (on a terminal a bar is redrawn in place).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_interval)]
    progress_every: Duration,
}

/// How `verify` lists and verifies digests.
#[derive(clap::Args)]
struct VerifyArgs {
    /// Digests verified at a time (each hashes its logs one after another).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
    /// Verify the digests whose file name's time (the end of the hour each
    /// covers) is at or after this YYYY-MM-DD (UTC) or RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_bound)]
    since: Option<NaiveDateTime>,
    /// Verify the digests whose file name's time is before this
    /// YYYY-MM-DD (UTC) or RFC 3339 time (exclusive).
    #[arg(long, value_name = "DATE", value_parser = parse_bound)]
    until: Option<NaiveDateTime>,
    /// Show no progress (problems and the summary still print).
    #[arg(long, short)]
    quiet: bool,
    /// Seconds between progress lines when stderr is not a terminal (on a
    /// terminal a bar is redrawn in place).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_interval)]
    progress_every: Duration,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|every| !every.is_zero())
        .ok_or_else(|| format!("{text:?} is not a number of seconds above 0"))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Line,
    #[value(alias = "text")]
    Email,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Table,
    Json,
    Csv,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan {
            paths,
            rules,
            output,
            grouping,
            threads,
            limits,
            s3,
            account_names,
            account_names_from_organizations,
        } => {
            if let (Some(from), Some(to)) = (limits.from, limits.to) {
                if from >= to {
                    eprintln!("trailwatch: --from {from} is not before --to {to}");
                    return ExitCode::from(2);
                }
            }
            let limits = limits.limits(threads);
            let names = match load_account_names(
                account_names.as_deref(),
                account_names_from_organizations,
            ) {
                Ok(names) => names,
                Err(code) => return code,
            };
            let mut printer = Printer::new(&output, &grouping).with_account_names(names);
            if !s3.quiet {
                printer.tally = Some(Tally::default());
            }
            match s3_roots(&paths, &s3) {
                Ok(None) => rules
                    .load()
                    .map(|set| scan_paths(&paths, &set, printer, limits)),
                Ok(Some((roots, window))) => rules.load().map(|set| {
                    let backfill = Backfill {
                        rules: Arc::new(set),
                        window,
                        concurrency: usize::from(s3.concurrency),
                        limits,
                    };
                    scan_s3(&roots, &backfill, printer, &s3)
                }),
                Err(code) => Err(code),
            }
        }
        Command::Summary {
            paths,
            rules,
            format,
            top,
            max_principals,
            limits,
            s3,
        } => s3_roots(&paths, &s3).and_then(|roots| {
            let set = rules.load()?;
            let format = match format {
                Some(SummaryFormat::Table) => summary::Format::Table,
                Some(SummaryFormat::Json) => summary::Format::Json,
                Some(SummaryFormat::Csv) => summary::Format::Csv,
                None if io::stdout().is_terminal() => summary::Format::Table,
                None => summary::Format::Json,
            };
            let top = top.or(
                (format == summary::Format::Table && io::stdout().is_terminal())
                    .then_some(SUMMARY_TOP),
            );
            let summary = summary::Summary::new(max_principals);
            let limits = limits.limits(Some(1));
            Ok(summarize(
                &paths,
                roots,
                set,
                summary,
                limits,
                &s3,
                (format, top),
            ))
        }),
        Command::Verify {
            uris,
            output,
            public_keys,
            region,
            s3,
        } => verify_roots(&uris, &s3).and_then(|(roots, window)| {
            let output = OutputArgs {
                format: output.format.or(Some(Format::Email)),
                ..output
            };
            let keys = match &public_keys {
                Some(path) => Some(read_keys(path)?),
                None => None,
            };
            Ok(verify_run(&roots, window, keys, region, &output, &s3))
        }),
        Command::Generate {
            out,
            records,
            seed,
            planted_per_mille,
            principals,
        } => {
            let spec = Spec {
                records,
                seed,
                match_per_mille: planted_per_mille,
            };
            let callers = principals.map_or(Callers::Account, Callers::Crowd);
            Ok(generate(&out, &spec, callers))
        }
        Command::Rules { command } => match command {
            RulesCommand::List { rules } => rules.load().map(|set| list_rules(&set)),
            RulesCommand::Test { rules } => rules.load_with_examples().map(|set| test_rules(&set)),
            RulesCommand::Lint { rules } => rules.load().map(|set| lint_rules(&set)),
        },
    };
    result.unwrap_or_else(|code| code)
}

/// The names `--account-names` points to and, with
/// `--account-names-from-organizations`, those of the organization (none
/// without either). Asked for on purpose, names that cannot be had are an
/// error naming where they were looked for.
fn load_account_names(
    at: Option<&str>,
    from_organizations: bool,
) -> Result<AccountNames, ExitCode> {
    if at.is_none() && !from_organizations {
        return Ok(AccountNames::default());
    }
    let fail = |flag: &str, message: String| {
        eprintln!("trailwatch: {flag}: {message}");
        ExitCode::from(2)
    };
    let at = match at {
        Some(text) => Some(NamesAt::parse(text).ok_or_else(|| {
            fail(
                "--account-names",
                format!("{text:?} is not a file path or s3://bucket/key"),
            )
        })?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            fail(
                "--account-names",
                format!("cannot start the async runtime: {err}"),
            )
        })?;
    runtime.block_on(async {
        let mut names = AccountNames::default();
        let needs_sdk = from_organizations || matches!(at, Some(NamesAt::S3 { .. }));
        let sdk = match needs_sdk {
            true => Some(trailwatch::aws::sdk_config().await),
            false => None,
        };
        if let (true, Some(sdk)) = (from_organizations, &sdk) {
            let client = trailwatch::aws::organizations_client(sdk);
            // No hurry on the command line: the SDK's own timeouts.
            let listed = organizations::account_names(&client, Duration::from_secs(300))
                .await
                .map_err(|err| fail("--account-names-from-organizations", err))?;
            names.extend(listed);
        }
        if let Some(at) = &at {
            let s3 = sdk.as_ref().map(trailwatch::aws::s3_client);
            let file = at
                .load(s3.as_ref())
                .await
                .map_err(|err| fail("--account-names", err.to_string()))?;
            names.extend(file);
        }
        Ok(names)
    })
}

fn scan_paths(
    paths: &[PathBuf],
    rules: &RuleSet,
    mut printer: Printer,
    limits: Limits,
) -> ExitCode {
    let expanded = expand(paths);
    let mut failed = expanded.errors.len();
    for (path, err) in &expanded.errors {
        eprintln!("trailwatch: {}: {err}", path.display());
    }
    for (path, why) in &expanded.skipped {
        eprintln!("trailwatch: {}: skipped ({why})", path.display());
    }
    if let Some((path, first)) = expanded.duplicates.first() {
        // Once: a symlink loop may name the same files many times.
        eprintln!(
            "trailwatch: {} path(s) not read again: each names a file or directory \
             already taken (through a symlink or overlapping arguments), such as {} (the same as {})",
            expanded.duplicates.len(),
            path.display(),
            first.display()
        );
    }
    let nothing_to_read = |skipped: usize, failed: usize| {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "trailwatch: nothing to read: no CloudTrail log found in {} ({skipped} skipped, {failed} error(s))",
            names.join(" "),
        );
        ExitCode::FAILURE
    };
    if expanded.inputs.is_empty() {
        return nothing_to_read(expanded.skipped.len(), failed);
    }
    let (mut records, mut findings, mut outside) = (0u64, 0u64, 0u64);
    // Files read, and skipped (those found not to be logs where they are
    // read, [`prepare`], counted with those the walk skipped).
    let (mut files, mut skipped) = (0usize, expanded.skipped.len());
    // Thresholds and groups span all the files of one scan.
    let mut correlator = rules.correlations().correlator();
    // With more than one thread, small files are read and inflated (and
    // files that may not be logs looked at) ahead on one while the one
    // before is scanned on this one.
    let ahead = match limits.parallel() && expanded.inputs.len() > 1 {
        true => read_ahead(expanded.inputs.clone(), limits).ok(),
        false => None,
    };
    let mut inputs = expanded.inputs.iter().cloned();
    let mut next = || match &ahead {
        Some(ready) => ready.recv().ok(),
        None => inputs.next().map(|input| {
            let ahead = prepare(&input, &limits, false);
            (input, ahead)
        }),
    };
    while let Some((input, ahead)) = next() {
        let label = input.to_string();
        if let Ahead::Skip(why) = &ahead {
            eprintln!("trailwatch: {label}: skipped ({why})");
            skipped += 1;
            continue;
        }
        files += 1;
        let print = |finding| printer.take(finding);
        let report = match (&input, ahead) {
            (_, Ahead::Content(content)) => {
                let one = Limits {
                    threads: 1,
                    ..limits
                };
                scan(
                    io::Cursor::new(content),
                    &label,
                    rules,
                    &mut correlator,
                    one,
                    print,
                )
            }
            (Input::Stdin, _) => scan(io::stdin(), &label, rules, &mut correlator, limits, print),
            (Input::File(path) | Input::Unsure(path), _) => match std::fs::File::open(path) {
                Ok(file) => scan(file, &label, rules, &mut correlator, limits, print),
                Err(err) => {
                    eprintln!("trailwatch: {label}: {err}");
                    failed += 1;
                    continue;
                }
            },
        };
        records += report.records;
        outside += report.outside_window;
        findings += report.alerts;
        if report.stopped {
            return ExitCode::SUCCESS;
        }
        if let Some(err) = report.error {
            eprintln!("trailwatch: {label}: {err}");
            failed += 1;
        }
    }
    if files == 0 {
        return nothing_to_read(skipped, failed);
    }
    if !printer.finish() {
        return ExitCode::SUCCESS;
    }
    printer.summarise();
    let skipped = match skipped {
        0 => String::new(),
        n => format!(", {n} skipped"),
    };
    let outside = match limits.event_window.is_bounded() {
        true => format!(" ({outside} outside --from/--to)"),
        false => String::new(),
    };
    eprintln!(
        "trailwatch: {files} file(s), {records} record(s){outside}, {findings} finding(s), {} alert(s), {failed} error(s){skipped}",
        printer.alerts
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The S3 prefixes to scan and the window, or `None` for local paths.
/// Mixing the two, or dates with local paths, is a usage error.
fn s3_roots(paths: &[PathBuf], s3: &S3Args) -> Result<Option<(Vec<S3Prefix>, Window)>, ExitCode> {
    let usage = |message: String| {
        eprintln!("trailwatch: {message}");
        ExitCode::from(2)
    };
    let uris: Vec<&str> = paths
        .iter()
        .filter_map(|path| path.to_str().filter(|p| p.starts_with("s3://")))
        .collect();
    if uris.is_empty() {
        if s3.since.is_some() || s3.until.is_some() {
            return Err(usage(
                "--since and --until select S3 objects by their keys; they apply to s3:// prefixes only".to_string(),
            ));
        }
        return Ok(None);
    }
    if uris.len() != paths.len() {
        return Err(usage(
            "scan either s3:// prefixes or local paths, not both".to_string(),
        ));
    }
    let roots = uris
        .iter()
        .map(|uri| {
            S3Prefix::parse(uri)
                .ok_or_else(|| usage(format!("{uri}: not an s3://bucket/prefix URI")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let window = Window::new(s3.since, s3.until).map_err(usage)?;
    Ok(Some((roots, window)))
}

/// A backfill over S3 prefixes: alerts on stdout as for files, problems
/// and progress on stderr, a summary that adds up at the end.
fn scan_s3(roots: &[S3Prefix], backfill: &Backfill, printer: Printer, s3: &S3Args) -> ExitCode {
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let counts = Arc::new(Counts::default());
    let console = Arc::new(Console {
        printer: Mutex::new(printer),
        progress: Progress::start(
            Arc::clone(&counts),
            progress_style(s3.quiet, s3.progress_every),
        ),
    });
    let output: Arc<dyn Output> = console.clone();
    let summary = runtime.block_on(async {
        let sdk = trailwatch::aws::sdk_config().await;
        let client = trailwatch::aws::s3_client(&sdk);
        backfill.run(&client, roots, &counts, output).await
    });
    console.progress.finish();
    let mut printer = console
        .printer
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if summary.stopped || !printer.finish() {
        return ExitCode::SUCCESS;
    }
    printer.summarise();
    let uris: Vec<String> = roots
        .iter()
        .map(|root| format!("s3://{}/{}", root.bucket, root.prefix))
        .collect();
    let missing = if summary.listing_failed {
        "; the listing failed, so objects may be missing"
    } else {
        ""
    };
    eprintln!(
        "trailwatch: {}: {summary}, {} alert(s){missing}",
        uris.join(" "),
        printer.alerts
    );
    if summary.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Rows `summary` prints in a table on a terminal unless `--top` says.
const SUMMARY_TOP: usize = 50;

/// `summary`: reads the local paths or the S3 prefixes into `summary`,
/// then prints the first `top` rows as `format` says; problems and the
/// totals on stderr. Exit status as `scan`'s.
fn summarize(
    paths: &[PathBuf],
    roots: Option<(Vec<S3Prefix>, Window)>,
    rules: RuleSet,
    mut summary: summary::Summary,
    limits: Limits,
    s3: &S3Args,
    (format, top): (summary::Format, Option<usize>),
) -> ExitCode {
    let (read, complete) = match roots {
        None => {
            let mut problem = |line: String| eprintln!("trailwatch: {line}");
            match summary::summarize_paths(paths, &rules, limits, &mut summary, &mut problem) {
                None => return ExitCode::FAILURE,
                Some(t) => (
                    format!(
                        "{} file(s), {} record(s), {} finding(s), {} error(s)",
                        t.files, t.records, t.findings, t.failed
                    ),
                    t.failed == 0,
                ),
            }
        }
        Some((roots, window)) => {
            let runtime = match async_runtime() {
                Ok(runtime) => runtime,
                Err(code) => return code,
            };
            let backfill = Backfill {
                rules: Arc::new(rules),
                window,
                concurrency: usize::from(s3.concurrency),
                limits,
            };
            let counts = Arc::new(Counts::default());
            let progress = Arc::new(Progress::start(
                Arc::clone(&counts),
                progress_style(s3.quiet, s3.progress_every),
            ));
            let printing = Arc::clone(&progress);
            let shared = Arc::new(summary::Shared::new(summary, move |line| {
                printing.println(&format!("trailwatch: {line}"))
            }));
            let output: Arc<dyn Output> = shared.clone();
            let done = runtime.block_on(async {
                let sdk = trailwatch::aws::sdk_config().await;
                backfill
                    .run(&trailwatch::aws::s3_client(&sdk), &roots, &counts, output)
                    .await
            });
            progress.finish();
            let Some(shared) = Arc::into_inner(shared) else {
                eprintln!("trailwatch: the summary is still in use");
                return ExitCode::FAILURE;
            };
            summary = shared.into_summary();
            let failed = if done.listing_failed {
                "; the listing failed, so objects may be missing"
            } else {
                ""
            };
            (format!("{done}{failed}"), done.is_complete())
        }
    };
    let principals = summary.principals();
    let mut rows = summary.into_rows();
    let all = rows.len();
    rows.truncate(top.unwrap_or(usize::MAX));
    let mut out = io::stdout().lock();
    let printed = match format {
        summary::Format::Table => summary::write_table(&mut out, &rows),
        summary::Format::Json => summary::write_json(&mut out, &rows),
        summary::Format::Csv => summary::write_csv(&mut out, &rows),
    };
    // A closed stdout (piped into `head`) is not a failure of the logs.
    if printed.and_then(|()| out.flush()).is_err() {
        return ExitCode::SUCCESS;
    }
    let shown = match rows.len() < all {
        true => format!(", the first {} of {all} row(s) shown (--top)", rows.len()),
        false => String::new(),
    };
    eprintln!("trailwatch: {read}, {principals} principal(s){shown}");
    if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What `verify` reads: S3 prefixes or directories of a local copy.
enum VerifyRoots {
    S3(Vec<S3Prefix>),
    Local(Vec<PathBuf>),
}

impl VerifyRoots {
    fn shown(&self) -> String {
        let shown: Vec<String> = match self {
            VerifyRoots::S3(roots) => roots
                .iter()
                .map(|root| format!("s3://{}/{}", root.bucket, root.prefix))
                .collect(),
            VerifyRoots::Local(paths) => paths.iter().map(|p| p.display().to_string()).collect(),
        };
        shown.join(" ")
    }
}

/// `verify`'s prefixes or directories, and window; usage errors exit 2.
fn verify_roots(uris: &[String], s3: &VerifyArgs) -> Result<(VerifyRoots, Window), ExitCode> {
    let usage = |message: String| {
        eprintln!("trailwatch: {message}");
        ExitCode::from(2)
    };
    let window = Window::new(s3.since, s3.until).map_err(usage)?;
    let remote = uris.iter().filter(|uri| uri.starts_with("s3://")).count();
    if remote == 0 {
        let paths: Vec<PathBuf> = uris.iter().map(PathBuf::from).collect();
        if let Some(path) = paths.iter().find(|path| !path.exists()) {
            return Err(usage(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
        return Ok((VerifyRoots::Local(paths), window));
    }
    if remote < uris.len() {
        return Err(usage(
            "verify reads S3 prefixes or local directories, not both in one run".to_string(),
        ));
    }
    let roots = uris
        .iter()
        .map(|uri| {
            S3Prefix::parse(uri)
                .ok_or_else(|| usage(format!("{uri}: not an s3://bucket/prefix URI")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((VerifyRoots::S3(roots), window))
}

/// The keys of a `list-public-keys` file; a file that cannot be read or
/// is not one is a usage error (2).
fn read_keys(path: &Path) -> Result<FileKeys, ExitCode> {
    let fail = |why: String| {
        eprintln!("trailwatch: {}: {why}", path.display());
        ExitCode::from(2)
    };
    let text = std::fs::read_to_string(path).map_err(|err| fail(err.to_string()))?;
    let keys = FileKeys::parse(&text).map_err(fail)?;
    if keys.is_empty() {
        return Err(fail("no public key in PublicKeyList".to_string()));
    }
    Ok(keys)
}

/// Verifies the digests under the prefixes or in the copy: alerts on
/// stdout, problems and progress on stderr, then the summary; 0 only when
/// all is clean.
fn verify_run(
    roots: &VerifyRoots,
    window: Window,
    keys: Option<FileKeys>,
    region: Option<String>,
    output: &OutputArgs,
    s3: &VerifyArgs,
) -> ExitCode {
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let counts = Arc::new(Counts::default());
    let every = GroupingArgs {
        every_finding: true,
        max_alerts: None,
    };
    let console = Arc::new(Console {
        printer: Mutex::new(Printer::new(output, &every)),
        progress: Progress::start_for(
            Arc::clone(&counts),
            progress_style(s3.quiet, s3.progress_every),
            Unit::Digests,
        ),
    });
    let output: Arc<dyn Output> = console.clone();
    let summary = runtime.block_on(async {
        let mut sdk = trailwatch::aws::sdk_config().await;
        if let Some(region) = region {
            sdk = sdk
                .to_builder()
                .region(aws_config::Region::new(region))
                .build();
        }
        let keys = match keys {
            Some(keys) => Keys::File(Arc::new(keys)),
            None => Keys::CloudTrail(Arc::new(CloudTrailKeys::new(
                trailwatch::aws::cloudtrail_client(&sdk),
                tokio::runtime::Handle::current(),
            ))),
        };
        let concurrency = usize::from(s3.concurrency);
        match roots {
            VerifyRoots::S3(roots) => {
                let client = trailwatch::aws::s3_client(&sdk);
                verify_digests(&client, keys, roots, window, concurrency, &counts, output).await
            }
            VerifyRoots::Local(paths) => {
                verify_local(paths, keys, window, concurrency, &counts, output).await
            }
        }
    });
    console.progress.finish();
    if summary.stopped {
        return ExitCode::SUCCESS;
    }
    let missing = if summary.listing_failed {
        "; the listing failed, so digests may be missing"
    } else {
        ""
    };
    eprintln!("trailwatch: {}: {summary}{missing}", roots.shown());
    if summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The runtime the S3 commands run on; one that cannot start is said and
/// fails the command.
fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("trailwatch: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })
}

fn progress_style(quiet: bool, every: Duration) -> Style {
    if quiet {
        Style::Off
    } else if io::stderr().is_terminal() {
        Style::Bar
    } else {
        Style::Lines(every)
    }
}

fn generate(out: &Path, spec: &Spec, callers: Callers) -> ExitCode {
    match write_path_by(spec, callers, out) {
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

fn list_rules(rules: &RuleSet) -> ExitCode {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{:<36}  {:<13} {:<17} TITLE  [ORIGIN]  ATT&CK",
        "ID", "LEVEL", "INDEXED BY"
    );
    for rule in rules.rules() {
        let meta = &rule.meta;
        let indexed = rule.index_key.field().unwrap_or("-");
        let silent = if rule.alerts || rule.feeds_correlation {
            ""
        } else {
            " (below --min-level: does not alert)"
        };
        let _ = writeln!(
            stdout,
            "{:<36}  {:<13} {:<17} {}  [{}]{}{silent}",
            meta.id,
            meta.level,
            indexed,
            meta.title,
            meta.origin,
            techniques(&meta.tags)
        );
        for filter in &rule.filters {
            let _ = writeln!(
                stdout,
                "{:<36}  filtered by {} {:?}  [{}]",
                "", filter.id, filter.title, filter.origin
            );
        }
    }
    for threshold in rules.correlations().thresholds() {
        let meta = &threshold.meta;
        let _ = writeln!(
            stdout,
            "{:<36}  {:<13} {:<17} {}  [{}]{}",
            meta.id,
            meta.level,
            "threshold",
            meta.title,
            meta.origin,
            techniques(&meta.tags)
        );
    }
    ExitCode::SUCCESS
}

/// `  T1078.004 T1098`: the ATT&CK techniques a rule's tags name, by id
/// (the alerts name them); empty without.
fn techniques(tags: &[String]) -> String {
    let ids: Vec<String> = Attack::of_tags(tags)
        .map(|attack| attack.techniques.into_iter().map(|t| t.id).collect())
        .unwrap_or_default();
    match ids.is_empty() {
        true => String::new(),
        false => format!("  {}", ids.join(" ")),
    }
}

fn test_rules(rules: &RuleSet) -> ExitCode {
    let thresholds = rules.correlations().thresholds();
    let examples = rules
        .rules()
        .iter()
        .map(|r| r.examples.len())
        .sum::<usize>()
        + thresholds.iter().map(|t| t.examples.len()).sum::<usize>()
        + rules
            .filters()
            .iter()
            .map(|filter| {
                let narrowed = rules
                    .rules()
                    .iter()
                    .filter(|rule| rule.filters.iter().any(|f| Arc::ptr_eq(f, &filter.meta)))
                    .count();
                filter.examples.len() * narrowed
            })
            .sum::<usize>();
    let failures: Vec<_> = rules
        .rules()
        .iter()
        .flat_map(|rule| rule.check_examples())
        .chain(rules.check_threshold_examples())
        .chain(rules.check_filter_examples())
        .collect();
    for failure in &failures {
        eprintln!("FAIL {failure}");
    }
    let filters = match rules.filters().len() {
        0 => String::new(),
        n => format!(", {n} filter(s)"),
    };
    println!(
        "{} rule(s){filters}, {examples} example(s): {} passed, {} failed",
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
